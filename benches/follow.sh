#!/usr/bin/env bash
# Follow-up benchmark: synscan's follow-up library alone (`synscan-lab follow`: service,
# TLS and HTTP) against `nmap -sV -T4` on the same targets, inside a fresh synscan-lab
# namespace lab (198.19.0.0/16 only; nothing leaves the namespaces). The scan does not run
# here: the targets are known open ports. The integration turns these rows into V1-V3 of
# benches/e2e.sh.
#
#   make bench-follow          (or: sudo bash benches/follow.sh)
#
# Scenarios
#   s  the lab's real daemons (sshd, nginx HTTP and HTTPS, vsftpd, exim, redis, a TLS 1.0-only
#      openssl s_server): 7 ports on 6 addresses.
#   c  the banner corpus (lab/corpus/banners.txt) replayed by lab listeners, one address each;
#      nmap gets every address and the union of the corpus's ports in one run (the extra
#      ports are closed: a RST each).
#   q  quiet ports: FOLLOW_SILENT listeners that accept and never send, and FOLLOW_SLOW that
#      send an SMTP banner 4 s after the connection (port 7777).
#
# Each row: wall time and peak RSS (/usr/bin/time) of each tool, the ratio, and for s and c
# how many ports both tools named and on how many of them product and version agree.
#
# Knobs (environment):
#   FOLLOW_SCENARIOS="s c q"   which scenarios
#   FOLLOW_SILENT=20           scenario q: silent listeners
#   FOLLOW_SLOW=20             scenario q: slow listeners
#   FOLLOW_OUT=DIR             keep logs and outputs there (default: a new /tmp dir)
#   E2E_NO_BUILD=1             skip `cargo build --release`
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RELEASE=${RELEASE:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
LAB=$RELEASE/synscan-lab
CORPUS=$ROOT/lab/corpus/banners.txt
SCENARIOS=${FOLLOW_SCENARIOS:-"s c q"}
SILENT=${FOLLOW_SILENT:-20}
SLOW=${FOLLOW_SLOW:-20}
RUN_LIMIT=900

say() { printf 'follow-bench: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces): run with sudo"
for c in ip jq nmap openssl /usr/bin/time /usr/sbin/sshd nginx vsftpd exim4 redis-server; do
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || die "missing $c (.ci/run lists the packages)"
done
if [ "${E2E_NO_BUILD:-0}" != 1 ] && command -v cargo >/dev/null 2>&1; then
    say "building release binaries"
    (cd "$ROOT" && cargo build --release --bins --quiet) || die "cargo build --release failed"
fi
[ -x "$LAB" ] || die "missing $LAB: run cargo build --release"

OUT=${FOLLOW_OUT:-$(mktemp -d /tmp/synscan-follow.XXXXXX)}
mkdir -p "$OUT"
ROWS=$OUT/rows.tsv
: >"$ROWS"
say "logs and outputs in $OUT"

# Cleanup: the lab and every helper this script started go, whatever happens.
NAME=$(printf 'f%x' $$)
PIDS=()
stop_pid() { # stop_pid PID: TERM, wait up to 10 s, then KILL (only processes we started)
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    set +e
    # Helpers first (they hold the namespace's sockets), the lab's serve last.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
    "$LAB" down --name "$NAME" >/dev/null 2>&1
    [ "$rc" -ne 0 ] && say "failed (exit $rc); logs in $OUT"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# start NAME CMD...: runs CMD with stdin on a FIFO it holds itself (so it serves until
# TERM), waits for its "ready" (or truth) line in $OUT/NAME.out.
start() {
    local name=$1 fifo=$OUT/$1.stdin i
    shift
    rm -f "$fifo"
    mkfifo "$fifo"
    "$@" <>"$fifo" >"$OUT/$name.out" 2>"$OUT/$name.log" &
    PIDS+=($!)
    for i in $(seq 600); do
        [ -s "$OUT/$name.out" ] && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || die "$name failed: $(cat "$OUT/$name.log")"
        sleep 0.1
    done
    die "$name not ready within 60 s"
}

"$LAB" down --name "$NAME" >/dev/null 2>&1 || true
start lab "$LAB" serve --name "$NAME" --open-hosts 0 --filtered 0 --prefix 198.19.0.0/16
SNS=$(jq -r .scanner_ns "$OUT/lab.out")
TNS=$(jq -r .target_ns "$OUT/lab.out")

# timed TAG CMD...: runs CMD in the scanner namespace; output in $OUT/TAG.out, "wall rss_kib"
# in $OUT/TAG.time.
timed() {
    local tag=$1
    shift
    ip netns exec "$SNS" /usr/bin/time -f '%e %M' -o "$OUT/$tag.time" \
        timeout "$RUN_LIMIT" "$@" >"$OUT/$tag.out" 2>"$OUT/$tag.log" ||
        die "$tag failed: $(tail -3 "$OUT/$tag.log")"
}

# ours TAG TARGET...: the follow-up library; nmap TAG PORTS ADDRESS...: nmap -sV -T4.
ours() {
    local tag=$1
    shift
    timed "$tag" "$LAB" follow "$@"
}
nmap_sv() {
    local tag=$1 ports=$2
    shift 2
    timed "$tag" nmap -sV -T4 -Pn -n -p "$ports" -oX - "$@"
}

# agreement OURS NMAP: "named agree" over the ports nmap named by probing: product and
# version equal (nmap's XML read with a few lines of awk: one <port> a line).
agreement() {
    local ours=$1 xml=$2
    jq -r '[.ip, .port, (.service.product // ""), (.service.version // "")] | @tsv' "$ours" |
        sort >"$ours.tsv"
    tr '\n' ' ' <"$xml" | sed 's/<host /\n<host /g' | awk '
        /^<host / {
            if (!match($0, /<address addr="[^"]*"/)) next
            addr = substr($0, RSTART + 15, RLENGTH - 16)
            n = split($0, ports, "<port ")
            for (i = 2; i <= n; i++) {
                p = ports[i]
                if (p !~ /state="open"/ || p !~ /method="probed"/) continue
                match(p, /portid="[0-9]+"/); id = substr(p, RSTART + 8, RLENGTH - 9)
                prod = ""; ver = ""
                if (match(p, / product="[^"]*"/)) prod = substr(p, RSTART + 10, RLENGTH - 11)
                if (match(p, / version="[^"]*"/)) ver = substr(p, RSTART + 10, RLENGTH - 11)
                printf "%s\t%s\t%s\t%s\n", addr, id, prod, ver
            }
        }' | sed 's/&amp;/\&/g; s/&quot;/"/g; s/&lt;/</g; s/&gt;/>/g; s/&apos;/'"'"'/g' |
        sort >"$xml.tsv"
    local named agree
    named=$(wc -l <"$xml.tsv")
    agree=$(comm -12 "$ours.tsv" "$xml.tsv" | wc -l)
    printf '%s %s' "$named" "$agree"
}

row() { # row SCENARIO PORTS OURS_TAG NMAP_TAG [agreement]
    local s=$1 n=$2 ot=$3 nt=$4 agree=${5:-"- -"} ow orss nw nrss
    read -r ow orss <"$OUT/$ot.time"
    read -r nw nrss <"$OUT/$nt.time"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$n" "$ow" "$((orss / 1024))" "$nw" \
        "$((nrss / 1024))" "$agree" >>"$ROWS"
    say "$s: $n ports: follow ${ow} s, nmap -sV -T4 ${nw} s (named/agree: $agree)"
}

for s in $SCENARIOS; do
    case $s in
    s)
        start services "$LAB" services --ns "$TNS" --dir "$OUT/services"
        targets=(198.19.0.2:22 198.19.0.3:80 198.19.0.3:443 198.19.0.4:21 198.19.0.5:25
            198.19.0.6:6379 198.19.0.7:443)
        ours s.ours "${targets[@]}"
        nmap_sv s.nmap 21,22,25,80,443,6379 198.19.0.2 198.19.0.3 198.19.0.4 198.19.0.5 \
            198.19.0.6 198.19.0.7
        row s "${#targets[@]}" s.ours s.nmap "$(agreement "$OUT/s.ours.out" "$OUT/s.nmap.out")"
        ;;
    c)
        start replay ip netns exec "$TNS" "$LAB" replay "$CORPUS"
        mapfile -t entries < <(grep -v '^#' "$CORPUS" | grep -v '^[[:space:]]*$' | cut -d' ' -f2)
        targets=()
        addrs=()
        for i in "${!entries[@]}"; do
            a=198.19.$((1 + i / 250)).$((i % 250 + 1))
            addrs+=("$a")
            targets+=("$a:${entries[i]}")
        done
        ports=$(printf '%s\n' "${entries[@]}" | sort -nu | paste -sd,)
        ours c.ours "${targets[@]}"
        nmap_sv c.nmap "$ports" "${addrs[@]}"
        row c "${#targets[@]}" c.ours c.nmap "$(agreement "$OUT/c.ours.out" "$OUT/c.nmap.out")"
        ;;
    q)
        start hostile ip netns exec "$TNS" "$LAB" hostile --silent "$SILENT" --slow "$SLOW"
        targets=()
        addrs=()
        for ((i = 0; i < SILENT; i++)); do addrs+=("198.19.$((4 + i / 250)).$((i % 250 + 1))"); done
        for ((i = 0; i < SLOW; i++)); do addrs+=("198.19.$((8 + i / 250)).$((i % 250 + 1))"); done
        for a in "${addrs[@]}"; do targets+=("$a:7777"); done
        ours q.ours "${targets[@]}"
        nmap_sv q.nmap 7777 "${addrs[@]}"
        row q "${#targets[@]}" q.ours q.nmap
        ;;
    *) die "unknown scenario $s" ;;
    esac
done

{
    printf '\nscenario\tports\tfollow_s\tfollow_MiB\tnmap_sV_T4_s\tnmap_MiB\tnmap_named agree\n'
    cat "$ROWS"
} >&2
say "nmap $(nmap --version | head -1 | cut -d' ' -f3); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
