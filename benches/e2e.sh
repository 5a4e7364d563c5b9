#!/usr/bin/env bash
# End-to-end benchmark: synscan against masscan and nmap, each run inside a fresh
# synscan-lab namespace lab (198.18.0.0/15 only; nothing leaves the namespaces).
#
#   make bench-e2e            (or: sudo bash benches/e2e.sh)
#
# Scenarios
#   a  full scan of 198.19.0.0/16 x the lab's 23 ports (1,507,328 probes); the target answers
#      every probe (SYN/ACK for the open truth, RST otherwise) except the filtered truth.
#   b  send-only: `serve --drop-all` drops everything but ARP at the target veth's ingress
#      (after the veth counted it), so only the sender is measured.
#   m  memory, send-only (as b): peak RSS of synscan against masscan's in the same run as the
#      scan's size, its timeout and its rate grow, one at a time from /16 x 23 at --rate max:
#      size: /16 x the lab's 23 ports and /16 x ports 1-300 (19.7M probes), both tools;
#      timeout: --retries 0, default, 3 (a silent probe stays 1 s, 3 s, 9 s in flight);
#      rate: --rate 100000 and 300000 besides max (masscan at the same rates);
#      all three at once: /16 x ports 1-300, --rate max, --retries 3 (against the smallest
#      row, /16 x 23 at --rate 100000: size x13, timeout x9, rate x30 or more).
#      `make bench-memory` runs only this scenario (and the dry run).
#   6  IPv6 send-only against IPv4 on one mixed lab (`serve --family mixed --drop-all`):
#      synscan and masscan over 198.19.0.0/16 and 2001:2:0:19::/112 (65,536 hosts each) x the
#      lab's 23 ports, and nmap -sS / nmap -6 -sS over a /20 and a /116 (4,096 hosts each);
#      the summary prints IPv6 send pps over IPv4's (bar: within 10 %).
#   The adaptive default rate (issue #11), each against nmap or a fixed rate in the same run
#   (`make bench-rate-e2e` runs h d l r; each row has its own lab of the same seed):
#   h  one host, all 65535 ports, 8 open and 1 filtered: synscan with no rate flag against
#      `nmap -sS -T4 -p-`, `synscan --connect` against `nmap -sT -T4 -p-`, and `--rate max`
#      for reference. Open and filtered must be exact; the ratios are the wall times.
#   d  the /16 x 23 lab of scenario a: no rate flag against `--rate max` (bar: <= 1.5x), exact.
#   l  a /20 x 23 behind the lab's wire with 10 % loss each way and 50 +- 20 ms delay: no
#      rate flag against `--rate 10000` (the old fixed default): recall >= 99.9 %, and the
#      default no slower.
#   r  a /20 x 23 behind a wire of finite capacity (`serve --wire-pps $E2E_WIRE_PPS`, 0 %
#      loss, tail drop beyond a small queue): no rate flag, exact; the rate it settled on
#      (the end line) over the capacity.
#   D1 D2 host discovery (issue #21; benches/discovery.sh, `make bench-discovery`): a /16 with 1 %
#      alive in three kinds (nmap -sn -T4, masscan --ping, zmap icmp_echoscan; D1_TOOLS), and an
#      ARP sweep of the scanner's /24; their own table at the end.
#   The adaptive rate where answers are scarce (issue #22; `make bench-sparse` runs s1 s2 s3):
#   s1 a /16 x 3 ports with 1 % of the addresses alive (655, 100 with an open port), the
#      rest silent: no rate flag against `--rate max` (bar: <= 1.5x), exact (open ports only
#      are listed: the silent addresses are rightly filtered).
#   s2 the s1 lab behind the finite-capacity wire (`serve --wire-pps $E2E_WIRE_PPS`): no rate
#      flag, exact; the rate it settled on over the capacity (bar: 0.5-1).
#   s3 one host x ports 1-10000 (8 open) whose RSTs are limited to 200/s, burst 200
#      (`serve --rst-limit 200/200`): no rate flag, and `nmap -sS -T4` beside it; every closed
#      port closed, none filtered (the extra column counts false filtered), against the
#      floor (closed - 200) / 200 s (bar: <= 1.1x the floor + 2 s).
#   t  retries under loss (issue #18 item 17): E2E_TRIES_RUNS runs over a /20 x 23 (1,002 open
#      pairs) behind a wire losing 5 % each way, --retries 2 --rate 50000, each run with its
#      own truth and loss draws; the open and closed pairs missed, summed over the runs,
#      against three independent tries' arithmetic, runs x pairs x (1 - 0.95^2)^3 (bar: the
#      open pairs' ratio near 1; a retry that repeats a pending request's SYN made it ~3.2).
#      `make bench-tries` runs only this scenario.
#
# Every tool run gets its own lab (same truth seed, so the same truth) and is measured the same
# way: wall time and peak RSS from /usr/bin/time, packets from the target veth's rx_packets
# counter (before/after), and a 20 ms sampler of that counter for the send window.
#   pps       = rx delta / wall time
#   send pps  = packets between the 1 % and 99 % marks of the rx delta / time between the marks
#               (interpolated between samples): the steady send rate, without start-up, waits,
#               retries and stray packets.
#
# Knobs (environment):
#   E2E_SCENARIOS="a b"               which scenarios
#   E2E_TOOLS="synscan masscan nmap"  which tools
#   E2E_SYNSCAN_RATES="max 300000"    synscan --rate values tried in scenario a
#   E2E_MASSCAN_RATE=1000000          masscan --rate in scenario a
#   E2E_MASSCAN_RATE_B=100000000      masscan --rate in scenario b (effectively unlimited)
#   E2E_MASSCAN_WAIT=2                masscan --wait in scenario a (its default is 10)
#   E2E_NMAP_PREFIX_B=198.19.0.0/20   nmap's targets in scenario b (every probe times out, so
#                                     the full /16 would take minutes; its pps is what counts)
#   E2E_MEM_PORTS="@PORTS@ 1-300"     scenario m: port lists for the size rows (@PORTS@: the lab's)
#   E2E_MEM_RETRIES="0 default 3"     scenario m: synscan --retries values (/16 x 23, rate max)
#   E2E_MEM_RATES="100000 300000"     scenario m: rates besides max (/16 x 23, both tools)
#   E2E_MEM_SCALED="1-300 3"          scenario m: ports and --retries of the row that scales
#                                     size, timeout and rate together ("" to skip it)
#   E2E_DRYRUN_SECS=20                cap on the RSS dry run (10.0.0.0/8 x 100 ports is 1.68e9
#                                     probes, ~3 min in full; 0 = run it to the end)
#   E2E_WIRE_PPS=50000                scenario r: the wire's capacity (frames/s each way)
#   E2E_TRIES_RUNS=10                 scenario t: runs
#   E2E_SEED=42                       truth seed and scan seeds
#   E2E_OUT=DIR                       keep logs and outputs there (default: a new /tmp dir)
#   E2E_NO_BUILD=1                    skip `cargo build --release`
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# RELEASE: where cargo put the release binaries (the Makefile passes it; it honours
# CARGO_TARGET_DIR).
RELEASE=${RELEASE:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
SYNSCAN=$RELEASE/synscan
LAB=$RELEASE/synscan-lab

SCENARIOS=${E2E_SCENARIOS:-"a b"}
TOOLS=${E2E_TOOLS:-"synscan masscan nmap"}
SYNSCAN_RATES=${E2E_SYNSCAN_RATES:-"max 300000"}
MASSCAN_RATE=${E2E_MASSCAN_RATE:-1000000}
MASSCAN_RATE_B=${E2E_MASSCAN_RATE_B:-100000000}
MASSCAN_WAIT=${E2E_MASSCAN_WAIT:-2}
NMAP_PREFIX_B=${E2E_NMAP_PREFIX_B:-198.19.0.0/20}
MEM_PORTS=${E2E_MEM_PORTS:-"@PORTS@ 1-300"}
MEM_RETRIES=${E2E_MEM_RETRIES:-"0 default 3"}
MEM_RATES=${E2E_MEM_RATES:-"100000 300000"}
MEM_SCALED=${E2E_MEM_SCALED-"1-300 3"}
DRYRUN_SECS=${E2E_DRYRUN_SECS:-20}
WIRE_PPS=${E2E_WIRE_PPS:-50000}
TRIES_RUNS=${E2E_TRIES_RUNS:-10}
# Scenarios s1 s2 (a sparse /16) and s3 (a host whose RSTs are rationed).
SPARSE_SERVE=(--prefix 198.19.0.0/16 --ports 22,80,443 --open-hosts 100 --open-per-host 1
    --filtered 0 --alive 655)
RST_SERVE=(--prefix 198.19.0.1/32 --ports 1-10000 --open-hosts 1 --open-per-host 8 --filtered 0
    --rst-limit 200/200)
# Scenarios h, l and r: one host, and the /20 behind the wire.
HOST=198.19.0.1/32
HOST_SERVE=(--prefix "$HOST" --ports 1-65535 --open-hosts 1 --open-per-host 8 --filtered 1)
WIRE_PREFIX=198.19.16.0/20
SEED=${E2E_SEED:-42}
PREFIX=198.19.0.0/16
SCANNER_IP=198.18.0.1
# Scenario 6: the IPv6 twins of PREFIX and NMAP_PREFIX_B, and the scanner's IPv6 address.
PREFIX6=2001:2:0:19::/112
NMAP_PREFIX6=2001:2:0:19::/116
SCANNER_IP6=2001:2:0:18::1
# Hard cap per tool run (seconds); nmap's scenario a takes 50-80 s on a 2-core box.
RUN_LIMIT=600

say() { printf 'e2e: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, nftables, raw sockets): run with sudo"

need_pkgs=()
need() { # need COMMAND PACKAGE
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        need_pkgs+=("$2")
    fi
}
need ip iproute2
need nft nftables
need jq jq
need /usr/bin/time time
need timeout coreutils
case " $TOOLS " in *" masscan "*) need masscan masscan ;; esac
case " $TOOLS " in *" nmap "*) need nmap nmap ;; esac
if [ ${#need_pkgs[@]} -gt 0 ]; then
    say "installing missing packages: ${need_pkgs[*]}"
    command -v apt-get >/dev/null || die "apt-get not found: install ${need_pkgs[*]} by hand"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if [ "${E2E_NO_BUILD:-0}" = 1 ]; then
    :
elif command -v cargo >/dev/null 2>&1; then
    say "building release binaries"
    (cd "$ROOT" && cargo build --release --bins --quiet) || die "cargo build --release failed"
elif [ -x "$SYNSCAN" ] && [ -x "$LAB" ]; then
    say "cargo not in PATH (sudo?): using the binaries already in $RELEASE"
else
    die "cargo not in PATH and no release binaries: run cargo build --release first"
fi
[ -x "$SYNSCAN" ] && [ -x "$LAB" ] || die "missing $SYNSCAN or $LAB: run cargo build --release"

OUT=${E2E_OUT:-$(mktemp -d /tmp/synscan-e2e.XXXXXX)}
mkdir -p "$OUT"
ROWS=$OUT/rows.tsv
: >"$ROWS"
# scenario, settings, the adaptive rate's settled value (synscan's end line), per run
SETTLED=$OUT/settled.tsv
: >"$SETTLED"
# scenario t: run, open truth, open missed, closed pairs, closed missed
TRIES=$OUT/tries.tsv
: >"$TRIES"
say "logs and outputs in $OUT"

# ---------------------------------------------------------------------------------------------
# Cleanup: every lab, helper process and namespace this script made goes, whatever happens.
# ---------------------------------------------------------------------------------------------
LABS=()  # lab names raised (`synscan-lab down` by name is idempotent)
NETNS=() # bare namespaces (dry run)
L_PID="" # the running serve, sampler and nudger (empty when none: pids are never reused here)
S_PID=""
N_PID=""
SEQNO=0
TAG=$(printf 'e%x' $$)

stop_pid() { # stop_pid PID: TERM, wait up to 20 s, then KILL (only processes we started)
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? p n
    trap - EXIT INT TERM
    set +e
    for p in "$S_PID" "$N_PID"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
    [ -n "$L_PID" ] && stop_pid "$L_PID"
    for n in "${LABS[@]}"; do "$LAB" down --name "$n" >/dev/null 2>&1 || true; done
    for n in "${NETNS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    if declare -F d1_cleanup >/dev/null; then d1_cleanup; fi
    if [ "$rc" -ne 0 ]; then say "failed (exit $rc); logs in $OUT"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Labs
# ---------------------------------------------------------------------------------------------
# lab_up ARGS...: raises a lab; sets L_NAME L_SNS L_TNS L_SIF L_TIF L_MAC L_PORTS L_TRUTH L_PID
lab_up() {
    SEQNO=$((SEQNO + 1))
    L_NAME=$TAG$SEQNO
    local fifo=$OUT/$L_NAME.stdin i
    L_TRUTH=$OUT/$L_NAME.truth.json
    "$LAB" down --name "$L_NAME" >/dev/null 2>&1 || true
    rm -f "$fifo"
    mkfifo "$fifo"
    LABS+=("$L_NAME")
    # stdin is a FIFO serve holds open read-write itself: it never sees EOF, so it serves until
    # SIGTERM, and no tool we start inherits a descriptor that keeps the lab alive.
    "$LAB" serve --name "$L_NAME" --seed "${LAB_SEED:-$SEED}" "$@" <>"$fifo" >"$L_TRUTH" 2>"$OUT/$L_NAME.serve.log" &
    L_PID=$!
    for i in $(seq 600); do
        [ -s "$L_TRUTH" ] && break
        kill -0 "$L_PID" 2>/dev/null || die "synscan-lab serve failed: $(cat "$OUT/$L_NAME.serve.log")"
        sleep 0.1
    done
    [ -s "$L_TRUTH" ] || die "synscan-lab serve printed no truth within 60 s"
    L_SNS=$(jq -r .scanner_ns "$L_TRUTH")
    L_TNS=$(jq -r .target_ns "$L_TRUTH")
    L_SIF=$(jq -r .scanner_if "$L_TRUTH")
    L_TIF=$(jq -r .target_if "$L_TRUTH")
    L_PORTS=$(jq -r '.ports | map(tostring) | join(",")' "$L_TRUTH")
    L_MAC=$(ip -n "$L_TNS" -j link show dev "$L_TIF" | jq -r '.[0].address')
    [ -n "$L_MAC" ] && [ "$L_MAC" != null ] || die "cannot read the MAC of $L_TIF in $L_TNS"
}

lab_down() {
    stop_pid "$L_PID"
    L_PID=""
    "$LAB" down --name "$L_NAME" >/dev/null 2>&1 || true
}

rx_counter() { "$LAB" counter --name "$L_NAME"; }

# The sampler prints "EPOCHREALTIME rx_packets" every 20 ms from inside the target namespace
# (bash builtins only: `read -t` on a FIFO nobody writes is the sleep, so no fork per sample).
sampler_start() { # sampler_start FILE
    local fifo=$OUT/$L_NAME.tick
    mkfifo "$fifo"
    ip netns exec "$L_TNS" bash -c '
        exec {z}<>"$1"
        f=/sys/class/net/$2/statistics/rx_packets
        while :; do
            read -r x <"$f"
            echo "$EPOCHREALTIME $x"
            read -r -t 0.02 -u "$z" _ || true
        done' _ "$fifo" "$L_TIF" >"$1" 2>/dev/null &
    S_PID=$!
    sleep 0.1
}
sampler_stop() {
    sleep 0.1
    kill -TERM "$S_PID" 2>/dev/null || true
    wait "$S_PID" 2>/dev/null || true
    S_PID=""
}

# masscan 1.3.2's receive thread only notices the end of the scan when a packet arrives
# (libpcap's timeout never fires on an idle TPACKET_V3 socket), and an isolated lab is idle
# once the replies stop: it would wait forever. The nudger sends one UDP datagram a second from
# the target namespace to the scanner address, which wakes it (and costs nothing else).
nudger_start() {
    ip netns exec "$L_TNS" bash -c '
        exec {z}<>"$1"
        while :; do
            echo x 2>/dev/null >/dev/udp/'"$SCANNER_IP"'/9 || true
            read -r -t 1 -u "$z" _ || true
        done' _ "$OUT/$L_NAME.tick" >/dev/null 2>&1 &
    N_PID=$!
}
nudger_stop() {
    kill -TERM "$N_PID" 2>/dev/null || true
    wait "$N_PID" 2>/dev/null || true
    N_PID=""
}

# send_pps SAMPLES: rate between the 1 % and 99 % marks of the counter's rise.
send_pps() {
    awk 'NR == 1 { x0 = $2 } { t[NR] = $1; x[NR] = $2; n = NR }
    function at(target,   i, f) { # interpolated time at which the counter reached target
        for (i = 2; i <= n; i++) if (x[i] >= target) {
            f = (x[i] == x[i-1]) ? 0 : (target - x[i-1]) / (x[i] - x[i-1])
            return t[i-1] + f * (t[i] - t[i-1])
        }
        return t[n]
    }
    END {
        d = x[n] - x0
        if (n < 3 || d < 1000) { print "-"; exit }
        lo = x0 + 0.01 * d; hi = x0 + 0.99 * d
        dt = at(hi) - at(lo)
        if (dt <= 0) { print "-"; exit }
        printf "%.0f\n", (hi - lo) / dt
    }' "$1"
}

# pairs_of_json FILE STATE / pairs_of_list FILE / pairs_of_gnmap FILE STATE: "ip port" lines
pairs_of_json() { jq -r --arg s "$2" 'select(.state == $s) | "\(.ip) \(.port)"' "$1" | sort -u; }
pairs_of_list() { awk '$1 == "open" && $2 == "tcp" { print $4, $3 }' "$1" | sort -u; }
pairs_of_gnmap() {
    awk -F'\t' -v want="$2" '/\tPorts: / {
        split($1, h, " "); ip = h[2]
        for (i = 1; i <= NF; i++) if ($i ~ /^Ports: /) {
            n = split(substr($i, 8), p, ", ")
            for (j = 1; j <= n; j++) { split(p[j], f, "/"); if (f[2] == want) print ip, f[1] }
        }
    }' "$1" | sort -u
}
truth_pairs() { jq -r --arg k "$1" '.[$k][] | "\(.[0]) \(.[1])"' "$L_TRUTH" | sort -u; }

# score FOUND_FILE TRUTH_KEY: prints "hits/truth extra"
score() {
    local t=$OUT/$L_NAME.truth.$2
    truth_pairs "$2" >"$t"
    local total hits extra
    total=$(wc -l <"$t")
    hits=$(comm -12 "$1" "$t" | wc -l)
    extra=$(comm -23 "$1" "$t" | wc -l)
    echo "$hits/$total $extra"
}

# row SCENARIO TOOL SETTINGS PROBES RX_DELTA WALL PPS SEND_PPS CPU OPEN FILTERED EXTRA RSS_KB
row() {
    local IFS=$'\t'
    echo "$*" >>"$ROWS"
}

# probes_of CIDR: hosts x the lab's ports
probes_of() {
    local len=${1#*/} nports
    nports=$(awk -F, '{ print NF }' <<<"$L_PORTS")
    echo $(((1 << (32 - len)) * nports))
}

# port_count LIST: ports in a -p list of ports and ranges ("21,22,100-300")
port_count() {
    awk -F, '{ n = 0; for (i = 1; i <= NF; i++) { if (split($i, r, "-") == 2) n += r[2] - r[1] + 1; else n++ }
        print n }' <<<"$1"
}

# ---------------------------------------------------------------------------------------------
# One measured run: lab up, counters, the tool under /usr/bin/time, lab down, score.
# ---------------------------------------------------------------------------------------------
# run_tool SCENARIO TOOL SETTINGS TARGETS -- SERVE_ARGS... -- TOOL_ARGV... (TOOL_ARGV may use
# the placeholders @PORTS@ @MAC@ @SIF@ @OUT@, filled in once the lab is up)
run_tool() {
    local scen=$1 tool=$2 settings=$3 targets=$4
    shift 4
    [ "$1" = -- ] || die "internal: run_tool usage"
    shift
    local serve_args=()
    while [ "$1" != -- ]; do
        serve_args+=("$1")
        shift
    done
    shift
    lab_up "${serve_args[@]}"
    local base=$OUT/$L_NAME.$tool
    local argv=() a
    for a in "$@"; do
        a=${a//@PORTS@/$L_PORTS}
        a=${a//@MAC@/$L_MAC}
        a=${a//@SIF@/$L_SIF}
        a=${a//@OUT@/$base}
        argv+=("$a")
    done
    printf '%q ' "${argv[@]}" >"$base.cmd"
    echo >>"$base.cmd"
    say "scenario $scen: $tool $settings (lab $L_NAME)"
    local c0 c1 rc=0
    sampler_start "$base.samples"
    if [ "$tool" = masscan ]; then nudger_start; fi
    c0=$(rx_counter)
    ip netns exec "$L_SNS" /usr/bin/time -f '%e %M %U %S' -o "$base.time" \
        timeout -k 5 "$RUN_LIMIT" "${argv[@]}" >/dev/null 2>"$base.stderr" || rc=$?
    # Ctrl-C reaches the tool and the lab's serve too; bash itself then does not run its INT
    # trap when the tool handled the signal, so notice it here: a vanished lab or a tool
    # stopped by a signal (or synscan's 130) ends the benchmark.
    kill -0 "$L_PID" 2>/dev/null || die "lab $L_NAME went away during the $tool run (interrupted?)"
    if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ] || [ "$rc" -eq 137 ]; then
        die "$tool was interrupted (exit status $rc)"
    fi
    c1=$(rx_counter)
    if [ "$tool" = masscan ]; then nudger_stop; fi
    sampler_stop
    if [ "$rc" -eq 124 ]; then
        say "warning: $tool hit the ${RUN_LIMIT}s limit and was stopped; its numbers are partial"
    elif [ "$rc" -ne 0 ]; then
        say "warning: $tool exited with status $rc (see $base.stderr)"
    fi
    [ -s "$base.time" ] || die "no timing for the $tool run ($base.time)"
    local wall rss usr sys cpu delta pps spps probes
    read -r wall rss usr sys < <(tail -n 1 "$base.time")
    cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
    delta=$((c1 - c0))
    probes=$(probes_of "$targets")
    if [ -n "${RUN_PORTS:-}" ]; then
        probes=$(((1 << (32 - ${targets#*/})) * $(port_count "${RUN_PORTS//@PORTS@/$L_PORTS}")))
    fi
    # IPv6 targets: their host count comes from 128 bits.
    if [[ $targets == *:* ]]; then
        probes=$(((1 << (128 - ${targets#*/})) * $(awk -F, '{ print NF }' <<<"$L_PORTS")))
    fi
    pps=$(awk -v d="$delta" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? d / w : 0) }')
    spps=$(send_pps "$base.samples")
    local open=- filtered=- extra=0 o f settled
    settled=$(sed -n 's/^synscan: the adaptive rate settled at \([0-9]*\) pps.*/\1/p' "$base.stderr" | tail -n 1)
    if [ -n "$settled" ]; then printf '%s\t%s\t%s\n' "$scen" "$settings" "$settled" >>"$SETTLED"; fi
    if [ "$scen" != b ] && [ "$scen" != m ] && [ "$scen" != 6 ]; then
        case $tool in
        synscan)
            pairs_of_json "$base.json" open >"$base.open"
            pairs_of_json "$base.json" filtered >"$base.filtered"
            ;;
        masscan)
            pairs_of_list "$base.list" >"$base.open"
            : >"$base.filtered"
            ;;
        nmap)
            pairs_of_gnmap "$base.gnmap" open >"$base.open"
            pairs_of_gnmap "$base.gnmap" filtered >"$base.filtered"
            ;;
        esac
        read -r open o < <(score "$base.open" open)
        read -r filtered f < <(score "$base.filtered" filtered)
        extra=$((o + f))
        # masscan has no notion of filtered (it keeps no per-probe state).
        if [ "$tool" = masscan ]; then filtered="n/a"; fi
    fi
    lab_down
    row "$scen" "$tool" "$settings" "$probes" "$delta" "$wall" "$pps" "$spps" "$cpu" \
        "$open" "$filtered" "$extra" "$rss"
    say "  wall ${wall}s, rx $delta, ${pps} pps, send ${spps} pps, CPU ${cpu}s," \
        "open $open, filtered $filtered, extra $extra, RSS ${rss} KiB"
}

# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------
has_tool() { case " $TOOLS " in *" $1 "*) return 0 ;; esac; return 1; }

for scen in $SCENARIOS; do
    case $scen in
    a)
        if has_tool synscan; then
            for rate in $SYNSCAN_RATES; do
                run_tool a synscan "--rate $rate" "$PREFIX" -- -- \
                    "$SYNSCAN" "$PREFIX" -p @PORTS@ --rate "$rate" --seed "$SEED" \
                    --router-mac @MAC@ -oJ @OUT@.json --show filtered
            done
        fi
        if has_tool masscan; then
            run_tool a masscan "--rate $MASSCAN_RATE --wait $MASSCAN_WAIT" "$PREFIX" -- -- \
                masscan "$PREFIX" -p @PORTS@ --rate "$MASSCAN_RATE" --seed "$SEED" \
                --interface @SIF@ --adapter-ip "$SCANNER_IP" --router-mac @MAC@ \
                --wait "$MASSCAN_WAIT" -oL @OUT@.list
        fi
        if has_tool nmap; then
            run_tool a nmap "-T5 --min-rate 100000 --max-retries 1" "$PREFIX" -- -- \
                nmap -sS -n -Pn -T5 --min-rate 100000 --max-retries 1 -p @PORTS@ "$PREFIX" \
                -oG @OUT@.gnmap
        fi
        ;;
    b)
        if has_tool synscan; then
            run_tool b synscan "--rate max --retries 0 --wait 0" "$PREFIX" -- --drop-all -- \
                "$SYNSCAN" "$PREFIX" -p @PORTS@ --rate max --retries 0 --wait 0 \
                --seed "$SEED" --router-mac @MAC@ -oJ @OUT@.json
        fi
        if has_tool masscan; then
            run_tool b masscan "--rate $MASSCAN_RATE_B --wait 0" "$PREFIX" -- --drop-all -- \
                masscan "$PREFIX" -p @PORTS@ --rate "$MASSCAN_RATE_B" --seed "$SEED" \
                --interface @SIF@ --adapter-ip "$SCANNER_IP" --router-mac @MAC@ \
                --wait 0 -oL @OUT@.list
        fi
        if has_tool nmap; then
            run_tool b nmap "$NMAP_PREFIX_B -T5 --min-rate 100000 --max-retries 0" \
                "$NMAP_PREFIX_B" -- --drop-all -- \
                nmap -sS -n -Pn -T5 --min-rate 100000 --max-retries 0 -p @PORTS@ \
                "$NMAP_PREFIX_B" -oG @OUT@.gnmap
        fi
        ;;
    m)
        # Size: both tools, rate max, default retries.
        for ports in $MEM_PORTS; do
            RUN_PORTS=$ports
            plabel=${ports//@PORTS@/lab}
            if has_tool synscan; then
                run_tool m synscan "-p $plabel --rate max" "$PREFIX" -- --drop-all -- \
                    "$SYNSCAN" "$PREFIX" -p "$ports" --rate max --wait 0 \
                    --seed "$SEED" --router-mac @MAC@ -oJ @OUT@.json
            fi
            if has_tool masscan; then
                run_tool m masscan "-p $plabel --rate $MASSCAN_RATE_B" "$PREFIX" -- --drop-all -- \
                    masscan "$PREFIX" -p "$ports" --rate "$MASSCAN_RATE_B" --seed "$SEED" \
                    --interface @SIF@ --adapter-ip "$SCANNER_IP" --router-mac @MAC@ \
                    --wait 0 -oL @OUT@.list
            fi
        done
        RUN_PORTS=""
        # Timeout: how long a silent probe stays in flight grows with the retries.
        if has_tool synscan; then
            for retries in $MEM_RETRIES; do
                [ "$retries" = default ] && continue # the size row above
                run_tool m synscan "--rate max --retries $retries" "$PREFIX" -- --drop-all -- \
                    "$SYNSCAN" "$PREFIX" -p @PORTS@ --rate max --retries "$retries" --wait 0 \
                    --seed "$SEED" --router-mac @MAC@ -oJ @OUT@.json
            done
        fi
        # Rate.
        for rate in $MEM_RATES; do
            if has_tool synscan; then
                run_tool m synscan "--rate $rate" "$PREFIX" -- --drop-all -- \
                    "$SYNSCAN" "$PREFIX" -p @PORTS@ --rate "$rate" --wait 0 \
                    --seed "$SEED" --router-mac @MAC@ -oJ @OUT@.json
            fi
            if has_tool masscan; then
                run_tool m masscan "--rate $rate" "$PREFIX" -- --drop-all -- \
                    masscan "$PREFIX" -p @PORTS@ --rate "$rate" --seed "$SEED" \
                    --interface @SIF@ --adapter-ip "$SCANNER_IP" --router-mac @MAC@ \
                    --wait 0 -oL @OUT@.list
            fi
        done
        # Size, timeout and rate together: peak RSS must stay where the small rows are.
        if has_tool synscan && [ -n "$MEM_SCALED" ]; then
            read -r sports sretries <<<"$MEM_SCALED"
            RUN_PORTS=$sports
            run_tool m synscan "-p $sports --rate max --retries $sretries" "$PREFIX" -- --drop-all -- \
                "$SYNSCAN" "$PREFIX" -p "$sports" --rate max --retries "$sretries" --wait 0 \
                --seed "$SEED" --router-mac @MAC@ -oJ @OUT@.json
            RUN_PORTS=""
        fi
        ;;
    h)
        RUN_PORTS=1-65535
        if has_tool synscan; then
            for flags in "" "--connect" "--rate max"; do
                # shellcheck disable=SC2086 # the flags are words
                run_tool h synscan "${flags:-no rate flag}" "$HOST" -- "${HOST_SERVE[@]}" -- \
                    "$SYNSCAN" "${HOST%/*}" -p- $flags --seed "$SEED" -oJ @OUT@.json \
                    --show filtered
            done
        fi
        if has_tool nmap; then
            for t in -sS -sT; do
                run_tool h nmap "$t -T4 -p-" "$HOST" -- "${HOST_SERVE[@]}" -- \
                    nmap "$t" -n -Pn -T4 -p- "${HOST%/*}" -oG @OUT@.gnmap
            done
        fi
        RUN_PORTS=""
        ;;
    d)
        for flags in "" "--rate max"; do
            # shellcheck disable=SC2086
            run_tool d synscan "${flags:-no rate flag}" "$PREFIX" -- -- \
                "$SYNSCAN" "$PREFIX" -p @PORTS@ $flags --seed "$SEED" --router-mac @MAC@ \
                -oJ @OUT@.json --show filtered
        done
        ;;
    l)
        for flags in "" "--rate 10000"; do
            # shellcheck disable=SC2086
            run_tool l synscan "${flags:-no rate flag}" "$WIRE_PREFIX" -- \
                --prefix "$WIRE_PREFIX" --wire-loss 10 --delay-ms 50 --jitter-ms 20 -- \
                "$SYNSCAN" "$WIRE_PREFIX" -p @PORTS@ $flags --seed "$SEED" \
                -oJ @OUT@.json --show filtered
        done
        ;;
    r)
        run_tool r synscan "no rate flag, wire $WIRE_PPS pps" "$WIRE_PREFIX" -- \
            --prefix "$WIRE_PREFIX" --wire-pps "$WIRE_PPS" -- \
            "$SYNSCAN" "$WIRE_PREFIX" -p @PORTS@ --seed "$SEED" -oJ @OUT@.json --show filtered
        ;;
    s1)
        for flags in "" "--rate max"; do
            # shellcheck disable=SC2086
            run_tool s1 synscan "${flags:-no rate flag}" "$PREFIX" -- "${SPARSE_SERVE[@]}" -- \
                "$SYNSCAN" "$PREFIX" -p @PORTS@ $flags --seed "$SEED" -oJ @OUT@.json
        done
        ;;
    s2)
        run_tool s2 synscan "no rate flag, wire $WIRE_PPS pps" "$PREFIX" -- "${SPARSE_SERVE[@]}" \
            --wire-pps "$WIRE_PPS" -- \
            "$SYNSCAN" "$PREFIX" -p @PORTS@ --seed "$SEED" -oJ @OUT@.json
        ;;
    s3)
        RUN_PORTS=1-10000
        if has_tool synscan; then
            run_tool s3 synscan "no rate flag" 198.19.0.1/32 -- "${RST_SERVE[@]}" -- \
                "$SYNSCAN" 198.19.0.1 -p 1-10000 --seed "$SEED" -oJ @OUT@.json --show filtered
        fi
        if has_tool nmap; then
            run_tool s3 nmap "-sS -T4" 198.19.0.1/32 -- "${RST_SERVE[@]}" -- \
                nmap -sS -n -Pn -T4 -p 1-10000 198.19.0.1 -oG @OUT@.gnmap
        fi
        RUN_PORTS=""
        ;;
    t)
        for i in $(seq "$TRIES_RUNS"); do
            # Each run its own truth and wire draws (the wire's seed follows the lab's).
            LAB_SEED=$((SEED + i))
            run_tool t synscan "run $i: 5% loss each way, --retries 2 --rate 50000" "$WIRE_PREFIX" -- \
                --prefix "$WIRE_PREFIX" --open-hosts 334 --open-per-host 3 --wire-loss 5 -- \
                "$SYNSCAN" "$WIRE_PREFIX" -p @PORTS@ --retries 2 --rate 50000 --seed "$LAB_SEED" \
                -oJ @OUT@.json --show closed,filtered
            LAB_SEED=""
            base=$OUT/$L_NAME.synscan
            truth_pairs filtered >"$base.truth.filtered"
            truth_pairs open >"$base.truth.open"
            open_truth=$(wc -l <"$base.truth.open")
            open_missed=$(comm -23 "$base.truth.open" "$base.open" | wc -l)
            # Closed pairs reported filtered: not in the filtered or the open truth.
            closed_missed=$(sort -u "$base.truth.filtered" "$base.truth.open" | comm -13 - "$base.filtered" | wc -l)
            closed=$(($(pairs_of_json "$base.json" closed | wc -l) + closed_missed))
            printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$open_truth" "$open_missed" "$closed" "$closed_missed" >>"$TRIES"
        done
        ;;
    6)
        for fam in 4 6; do
            if [ "$fam" = 4 ]; then
                t=$PREFIX nt=$NMAP_PREFIX_B ip=$SCANNER_IP six=()
            else
                t=$PREFIX6 nt=$NMAP_PREFIX6 ip=$SCANNER_IP6 six=(-6)
            fi
            if has_tool synscan; then
                run_tool 6 synscan "IPv$fam --rate max --retries 0 --wait 0" "$t" -- \
                    --family mixed --drop-all -- \
                    "$SYNSCAN" "$t" -p @PORTS@ --rate max --retries 0 --wait 0 \
                    --seed "$SEED" --router-mac @MAC@ -oJ @OUT@.json
            fi
            if has_tool masscan; then
                run_tool 6 masscan "IPv$fam --rate $MASSCAN_RATE_B --wait 0" "$t" -- \
                    --family mixed --drop-all -- \
                    masscan "$t" -p @PORTS@ --rate "$MASSCAN_RATE_B" --seed "$SEED" \
                    --interface @SIF@ --adapter-ip "$ip" --router-mac @MAC@ --wait 0 \
                    -oL @OUT@.list
            fi
            if has_tool nmap; then
                run_tool 6 nmap "IPv$fam $nt -T5 --min-rate 100000 --max-retries 0" "$nt" -- \
                    --family mixed --drop-all -- \
                    nmap "${six[@]}" -sS -n -Pn -T5 --min-rate 100000 --max-retries 0 \
                    -p @PORTS@ "$nt" -oG @OUT@.gnmap
            fi
        done
        ;;
    D1 | D2)
        # Host discovery (issue #21): benches/discovery.sh's rows, each tool in a lab of its own.
        if ! declare -F d1_run >/dev/null; then
            # shellcheck source=benches/discovery.sh
            D1_SOURCED=1 source "$ROOT/benches/discovery.sh"
        fi
        D1_OUT=$OUT
        if [ "$scen" = D1 ]; then d1_run "$OUT/discovery.tsv"; else d2_run "$OUT/discovery.tsv"; fi
        ;;
    *) die "unknown scenario $scen (use a, b, m, h, d, l, r, t, s1, s2, s3, 6, D1 and/or D2)" ;;
    esac
done

# ---------------------------------------------------------------------------------------------
# Peak RSS of a dry run over 10.0.0.0/8 x 100 ports, in an empty namespace (it sends nothing,
# but nothing may run outside a namespace made for it).
# ---------------------------------------------------------------------------------------------
DRY_NS=${TAG}dry
NETNS+=("$DRY_NS")
ip netns add "$DRY_NS"
say "dry run: synscan --dry-run 10.0.0.0/8 -p 1-100 (empty namespace $DRY_NS, cap ${DRYRUN_SECS}s)"
dry_cap=()
if [ "$DRYRUN_SECS" != 0 ]; then dry_cap=(timeout -s KILL "$DRYRUN_SECS"); fi
lines=$(ip netns exec "$DRY_NS" /usr/bin/time -f '%e %M %U %S' -o "$OUT/dryrun.time" \
    "${dry_cap[@]}" "$SYNSCAN" --dry-run 10.0.0.0/8 -p 1-100 --seed "$SEED" | wc -l) || true
ip netns del "$DRY_NS"
read -r dry_wall dry_rss _ < <(tail -n 1 "$OUT/dryrun.time")
dry_rate=$(awk -v n="$lines" -v w="$dry_wall" 'BEGIN { printf "%.0f", (w > 0 ? n / w : 0) }')

# ---------------------------------------------------------------------------------------------
# The table (markdown, ready for README.md)
# ---------------------------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
fmt_int() { awk -v n="$1" 'BEGIN { if (n == "-") { print "-"; exit } s = sprintf("%.0f", n); o = ""
    while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
    print s o }'; }
{
    echo
    echo "| scenario | tool | settings | probes | packets at target | wall s | probes/s | pps | send pps | CPU s | open found/truth | filtered found/truth | false pos. | peak RSS MiB |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    while IFS=$'\t' read -r scen tool settings probes delta wall pps spps cpu open filtered extra rss; do
        case $scen in
        a) label="a: replies" ;;
        b) label="b: send-only" ;;
        h) label="h: one host -p-" ;;
        d) label="d: /16 x 23 default" ;;
        l) label="l: 10% loss, 50+-20 ms" ;;
        r) label="r: ${WIRE_PPS} pps wire" ;;
        t) label="t: retries, 5% loss" ;;
        6) label="6: IPv6 vs IPv4 send-only" ;;
        s1) label="s1: sparse /16, 1% alive" ;;
        s2) label="s2: s1 behind a ${WIRE_PPS} pps wire" ;;
        s3) label="s3: RSTs limited to 200/s" ;;
        *) label="m: memory" ;;
        esac
        prate=$(awk -v n="$probes" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? n / w : 0) }')
        echo "| $label | $tool | \`$settings\` | $(fmt_int "$probes") | $(fmt_int "$delta") | $wall |" \
            "$(fmt_int "$prate") | $(fmt_int "$pps") | $(fmt_int "$spps") | $cpu | $open | $filtered |" \
            "$extra | $(mib "$rss") |"
    done <"$ROWS"
    echo
    # synscan/masscan send-rate ratio in scenario b
    awk -F'\t' '$1 == "b" && $2 == "synscan" { s = $8 } $1 == "b" && $2 == "masscan" { m = $8 }
        END { if (s > 0 && m > 0) printf "Send-only (b): synscan/masscan send pps = %.2f\n\n", s / m }' "$ROWS"
    # Scenario 6: each tool's IPv6 send pps over its IPv4 send pps, and synscan over masscan.
    awk -F'\t' '$1 == "6" { split($3, f, " "); p[$2 " " f[1]] = $8 }
        END { for (t in p) if (t ~ / IPv6$/) { u = t; sub(/IPv6$/, "IPv4", u)
                if ((u in p) && p[u] > 0) printf "IPv6 (6): %s send pps / IPv4 = %.2f\n", t, p[t] / p[u] }
            if (p["masscan IPv6"] > 0) printf "IPv6 (6): synscan/masscan send pps = %.2f\n", p["synscan IPv6"] / p["masscan IPv6"] }' "$ROWS" | sort
    # Scenario m: synscan's peak RSS over masscan's, per row pair with the same settings.
    awk -F'\t' -v b="$MASSCAN_RATE_B" '$1 == "m" { k = $3; sub(" --rate " b "$", " --rate max", k)
            if ($2 == "synscan") s[k] = $13; else m[k] = $13 }
        END { for (k in s) if (k in m && m[k] > 0) printf "Memory (m), `%s`: synscan/masscan peak RSS = %.2f\n", k, s[k] / m[k] }' "$ROWS" | sort
    # The adaptive default (h d l r): wall-time ratios and the settled rate.
    awk -F'\t' '$1 ~ /^([hdl]|s[13])$/ { w[$1 " " $3] = $6 }
        function ratio(label, a, b) { if ((a in w) && (b in w) && w[b] > 0)
            printf "%s: %.2fx (%s s / %s s)\n", label, w[a] / w[b], w[a], w[b] }
        END {
            ratio("One host -p- (h): default / nmap -sS -T4", "h no rate flag", "h -sS -T4 -p-")
            ratio("One host -p- (h): --connect / nmap -sT -T4", "h --connect", "h -sT -T4 -p-")
            ratio("One host -p- (h): default / --rate max", "h no rate flag", "h --rate max")
            ratio("/16 x 23 (d): default / --rate max (bar <= 1.5)", "d no rate flag", "d --rate max")
            ratio("10% loss wire (l): default / --rate 10000 (bar <= 1)", "l no rate flag", "l --rate 10000")
            ratio("Sparse /16 (s1): default / --rate max (bar <= 1.5)", "s1 no rate flag", "s1 --rate max")
            ratio("Rationed RSTs (s3): default / nmap -sS -T4", "s3 no rate flag", "s3 -sS -T4")
            # (10000 - 8 open - 200 burst) / 200 per second
            if ("s3 no rate flag" in w) printf "Rationed RSTs (s3): default / the floor %.1f s = %.2fx (bar <= 1.1x + 2 s)\n", 9792 / 200, w["s3 no rate flag"] / (9792 / 200)
        }' "$ROWS"
    awk -F'\t' '$1 == "l" { split($10, o, "/"); if (o[2] > 0)
            printf "10%% loss wire (l), `%s`: recall %.2f%% (bar >= 99.9%%)\n", $3, 100 * o[1] / o[2] }' "$ROWS"
    # Scenario t: misses over the runs against three independent tries' arithmetic.
    awk -F'\t' 'BEGIN { p = (1 - 0.95 * 0.95) ^ 3 }
        { runs++; ot += $2; om += $3; ct += $4; cm += $5 }
        END { if (runs > 0) {
            printf "Retries under 5%% loss (t), %d runs: open pairs missed %d of %d, predicted %.1f (ratio %.2f, bar near 1);", runs, om, ot, ot * p, om / (ot * p)
            printf " closed pairs missed %d of %d, predicted %.1f (ratio %.2f)\n", cm, ct, ct * p, cm / (ct * p) } }' "$TRIES"
    awk -F'\t' -v cap="$WIRE_PPS" '{ printf "Adaptive rate settled at (%s, `%s`): %s pps%s\n", $1, $2, $3,
            ($1 == "r" || $1 == "s2" ? sprintf(", %.2f of the wire'"'"'s %d pps", $3 / cap, cap) : "") }' "$SETTLED"
    echo
    echo "Dry run \`synscan --dry-run 10.0.0.0/8 -p 1-100\` (empty namespace$([ "$DRYRUN_SECS" != 0 ] && echo ", stopped after ${DRYRUN_SECS} s")):" \
        "peak RSS $(mib "$dry_rss") MiB, $(fmt_int "$lines") probes in ${dry_wall} s ($(fmt_int "$dry_rate") probes/s, printed)."
    if [ -s "$OUT/discovery.tsv" ]; then
        echo
        echo "| row | tool, flags | wall s | found | extra | right reasons | found per kind |"
        echo "|---|---|---:|---|---:|---|---|"
        awk -F'\t' '{ printf "| %s | %s `%s` | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$OUT/discovery.tsv"
    fi
    echo
    echo "Host: $(nproc) CPUs, $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} | tee "$OUT/table.md"
say "done; table in $OUT/table.md"
