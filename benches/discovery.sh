#!/usr/bin/env bash
# Host discovery benchmark, rows D1 and D2 of issue #21. Each tool runs in a fresh lab of the
# same seed (198.18.0.0/15 only; nothing leaves the namespaces) and is scored against the lab's
# truth: hosts found (recall), hosts reported that are not up (extra), and, where the tool gives
# one, the reason (nmap's words).
#   D1  a /16 with 1 % of its addresses alive in three kinds (ICMP echo only, TCP resets only,
#       ICMP timestamp only; `synscan-lab serve --discovery`), the rest silent.
#   D2  an ARP sweep of the scanner's own /24 (198.18.0.0/24): the lab's router 198.18.0.2
#       and 200 addresses that answer ARP only (`--on-link 200`), the rest held by nobody.
#
#   make bench-discovery      (or: sudo bash benches/discovery.sh)
#
# Tools (D1_TOOLS): D1 `nmap -sn -T4` (echo, SYN 443, ACK 80, timestamp), `masscan --ping` and
# zmap's icmp_echoscan (echo only: they cannot find the reset and timestamp hosts); D2 `nmap
# -sn` (ARP on its own link) and `masscan --arpscan`. synscan's column comes when -sn exists.
# e2e.sh can run the same rows: `source benches/discovery.sh` with D1_SOURCED=1 (and D1_OUT
# set) defines d1_run and d2_run ROWS_FILE without running anything.
#
# Knobs (environment):
#   D1_ROWS="D1 D2"                which rows
#   D1_TOOLS="nmap masscan zmap"   which tools
#   D1_PREFIX=198.19.0.0/16        the swept block
#   D1_ALIVE=655                   live addresses (1 % of a /16), kinds in turn
#   D1_RATE=100000                 masscan and zmap --rate (packets a second)
#   D1_WAIT=2                      masscan --wait / zmap --cooldown-time (seconds)
#   D1_NMAP_FLAGS="-T4"            nmap's timing flags
#   D1_LIMIT=1200                  hard cap per tool run (seconds)
#   D1_SEED=42                     truth seed
#   D1_OUT=DIR                     keep logs and outputs there (default: a new /tmp dir)
#   RELEASE=DIR                    where synscan-lab is (default target/release)
set -euo pipefail
export LC_ALL=C

D1_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
D1_LAB=${RELEASE:-${CARGO_TARGET_DIR:-$D1_ROOT/target}/release}/synscan-lab
D1_ROWS=${D1_ROWS:-"D1 D2"}
D1_TOOLS=${D1_TOOLS:-"nmap masscan zmap"}
D1_PREFIX=${D1_PREFIX:-198.19.0.0/16}
D1_ALIVE=${D1_ALIVE:-655}
D1_RATE=${D1_RATE:-100000}
D1_WAIT=${D1_WAIT:-2}
D1_NMAP_FLAGS=${D1_NMAP_FLAGS:-"-T4"}
D1_LIMIT=${D1_LIMIT:-1200}
D1_SEED=${D1_SEED:-42}
D1_SCANNER_IP=198.18.0.1

# What makes a lab of this bench's kind, and how it signs its messages (benches/udp.sh sets
# its own).
D1_MODE=(--discovery)
D1_WHO=discovery

d1_say() { printf '%s: %s\n' "$D1_WHO" "$*" >&2; }

# Labs, helper processes: every one this script made goes, whatever happens.
D1_LABS=()
D1_L_PID=""
D1_N_PID=""
D1_SEQ=0
D1_TAG=$(printf 'd%x' $$)

d1_stop_pid() { # TERM, wait up to 20 s, then KILL (only processes we started)
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

d1_cleanup() {
    local n
    [ -n "$D1_N_PID" ] && kill -TERM "$D1_N_PID" 2>/dev/null
    [ -n "$D1_L_PID" ] && d1_stop_pid "$D1_L_PID"
    for n in "${D1_LABS[@]}"; do "$D1_LAB" down --name "$n" >/dev/null 2>&1 || true; done
    D1_N_PID=""
    D1_L_PID=""
}

# d1_lab_up SERVE_ARGS...: raises a lab of D1_MODE; sets D1_NAME D1_SNS D1_TNS D1_SIF D1_MAC D1_TRUTH D1_L_PID
d1_lab_up() {
    D1_SEQ=$((D1_SEQ + 1))
    D1_NAME=$D1_TAG$D1_SEQ
    local fifo=$D1_OUT/$D1_NAME.stdin i
    D1_TRUTH=$D1_OUT/$D1_NAME.truth.json
    "$D1_LAB" down --name "$D1_NAME" >/dev/null 2>&1 || true
    rm -f "$fifo"
    mkfifo "$fifo"
    D1_LABS+=("$D1_NAME")
    # serve holds its FIFO stdin open read-write: it serves until SIGTERM.
    "$D1_LAB" serve --name "$D1_NAME" --seed "$D1_SEED" --open-hosts 0 --filtered 0 \
        "${D1_MODE[@]}" "$@" <>"$fifo" >"$D1_TRUTH" 2>"$D1_OUT/$D1_NAME.serve.log" &
    D1_L_PID=$!
    for i in $(seq 600); do
        [ -s "$D1_TRUTH" ] && break
        kill -0 "$D1_L_PID" 2>/dev/null || { d1_say "serve failed: $(cat "$D1_OUT/$D1_NAME.serve.log")"; return 1; }
        sleep 0.1
    done
    [ -s "$D1_TRUTH" ] || { d1_say "serve printed no truth within 60 s"; return 1; }
    D1_SNS=$(jq -r .scanner_ns "$D1_TRUTH")
    D1_TNS=$(jq -r .target_ns "$D1_TRUTH")
    D1_SIF=$(jq -r .scanner_if "$D1_TRUTH")
    D1_MAC=$(ip -n "$D1_TNS" -j link show dev "$(jq -r .target_if "$D1_TRUTH")" | jq -r '.[0].address')
}

d1_lab_down() {
    d1_stop_pid "$D1_L_PID"
    D1_L_PID=""
    "$D1_LAB" down --name "$D1_NAME" >/dev/null 2>&1 || true
}

# masscan 1.3.2 notices the end of its scan only when a packet arrives (see e2e.sh): one UDP
# datagram a second from the target namespace wakes it.
d1_nudger_start() {
    ip netns exec "$D1_TNS" bash -c '
        exec {z}<>"$1"
        while :; do
            echo x 2>/dev/null >/dev/udp/'"$D1_SCANNER_IP"'/9 || true
            read -r -t 1 -u "$z" _ || true
        done' _ "$D1_OUT/$D1_NAME.stdin" >/dev/null 2>&1 &
    D1_N_PID=$!
}
d1_nudger_stop() {
    kill -TERM "$D1_N_PID" 2>/dev/null || true
    wait "$D1_N_PID" 2>/dev/null || true
    D1_N_PID=""
}

# "ADDRESS REASON" lines of the truth's up hosts in the swept block (D1: 198.19.0.0/16; D2: the
# on-link hosts and the lab's router) / of nmap's -oX up hosts but the scanner's own address.
d1_truth_up() {
    case $1 in
    D1) jq -r '.discovery.up[] | select(.addr | startswith("198.19.")) | "\(.addr) \(.reason)"' "$2" ;;
    D2) jq -r '(.discovery.up[] | select(.addr | startswith("198.18.0.")) | "\(.addr) \(.reason)"),
            "\(.target_ip) arp-response"' "$2" ;;
    esac | sort
}
d1_nmap_up() {
    awk '/<status state="up"/ { match($0, /reason="[^"]*"/); r = substr($0, RSTART + 8, RLENGTH - 9); up = 1; next }
        up && /<address / && /addrtype="ipv4"/ { match($0, /addr="[^"]*"/); a = substr($0, RSTART + 6, RLENGTH - 7)
            if (a != "'"$D1_SCANNER_IP"'") print a, r; up = 0 }
        /<\/host>/ { up = 0 }' "$1" | sort
}

# d1_exec ROW TOOL SETTINGS SERVE_ARGS... -- ARGV...: raises a lab, runs ARGV in its scanner
# namespace (ARGV may use @SIF@ @MAC@ @OUT@), tears the lab down; sets D1_BASE (where the
# tool's outputs are) and D1_WALL (its wall time, seconds).
d1_exec() {
    local row=$1 tool=$2 settings=$3
    shift 3
    local serve_args=()
    while [ "$1" != -- ]; do
        serve_args+=("$1")
        shift
    done
    shift
    d1_lab_up "${serve_args[@]}" || return 1
    D1_BASE=$D1_OUT/$D1_NAME.$tool
    local base=$D1_BASE argv=() a rc=0 rss
    for a in "$@"; do
        a=${a//@SIF@/$D1_SIF}
        a=${a//@MAC@/$D1_MAC}
        a=${a//@OUT@/$base}
        argv+=("$a")
    done
    printf '%q ' "${argv[@]}" >"$base.cmd"
    d1_say "$row: $tool $settings (lab $D1_NAME)"
    if [ "$tool" = masscan ]; then d1_nudger_start; fi
    ip netns exec "$D1_SNS" /usr/bin/time -f '%e %M' -o "$base.time" \
        timeout -k 5 "$D1_LIMIT" "${argv[@]}" >"$base.stdout" 2>"$base.stderr" || rc=$?
    if [ "$tool" = masscan ]; then d1_nudger_stop; fi
    d1_lab_down
    [ "$rc" -eq 0 ] || d1_say "warning: $tool exited with status $rc (see $base.stderr)"
    read -r D1_WALL rss < <(tail -n 1 "$base.time")
}

# d1_run_tool ROWS ROW TOOL SETTINGS SERVE_ARGS... -- ARGV... (see d1_exec)
d1_run_tool() {
    local rows=$1 row=$2 tool=$3 settings=$4
    shift 4
    d1_exec "$row" "$tool" "$settings" "$@" || return 1
    local base=$D1_BASE wall=$D1_WALL
    d1_truth_up "$row" "$D1_TRUTH" >"$base.truth"
    cut -d' ' -f1 "$base.truth" >"$base.truth.addrs"
    case $tool in
    nmap) d1_nmap_up "$base.xml" >"$base.found" ;;
    masscan) awk '($1 == "open" || $1 == "up") && ($2 == "icmp" || $2 == "arp") && $4 != "'"$D1_SCANNER_IP"'" { print $4, "-" }' "$base.list" | sort -u >"$base.found" ;;
    zmap) awk 'NF { print $1, "-" }' "$base.txt" | sort -u >"$base.found" ;;
    esac
    cut -d' ' -f1 "$base.found" >"$base.found.addrs"
    local total hits extra reasons=n/a
    total=$(wc -l <"$base.truth")
    hits=$(comm -12 "$base.found.addrs" "$base.truth.addrs" | wc -l)
    extra=$(comm -23 "$base.found.addrs" "$base.truth.addrs" | wc -l)
    if [ "$tool" = nmap ]; then reasons=$(comm -12 "$base.found" "$base.truth" | wc -l)/$total; fi
    # Recall per kind: which kinds the tool can see at all.
    local kinds
    kinds=$(join "$base.found.addrs" "$base.truth" | cut -d' ' -f2 | sort | uniq -c | awk '{ printf "%s=%d ", $2, $1 }')
    printf '%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n' "$row" "$tool" "$settings" "$wall" "$hits" "$total" \
        "$extra" "$reasons" "${kinds% }" >>"$rows"
    d1_say "  wall ${wall}s, found $hits/$total, extra $extra, right reasons $reasons, kinds found: $kinds"
}

# d1_run ROWS: row D1 for every tool of D1_TOOLS, one lab each; rows: scenario, tool,
# settings, wall s, found/truth, extra, right reasons/truth, found per kind.
d1_run() {
    local rows=$1 t lab=(--prefix "$D1_PREFIX" --alive "$D1_ALIVE" --on-link 0 --)
    for t in $D1_TOOLS; do
        case $t in
        nmap)
            # shellcheck disable=SC2086
            d1_run_tool "$rows" D1 nmap "-sn $D1_NMAP_FLAGS" "${lab[@]}" \
                nmap -n -sn $D1_NMAP_FLAGS "$D1_PREFIX" -oX @OUT@.xml
            ;;
        masscan)
            d1_run_tool "$rows" D1 masscan "--ping --rate $D1_RATE --wait $D1_WAIT" "${lab[@]}" \
                masscan --ping "$D1_PREFIX" --rate "$D1_RATE" --wait "$D1_WAIT" --seed "$D1_SEED" \
                --interface @SIF@ --adapter-ip "$D1_SCANNER_IP" --router-mac @MAC@ -oL @OUT@.list
            ;;
        zmap)
            : >"$D1_OUT/empty.blocklist"
            d1_run_tool "$rows" D1 zmap "-M icmp_echoscan -r $D1_RATE -c $D1_WAIT" "${lab[@]}" \
                zmap -M icmp_echoscan "$D1_PREFIX" -r "$D1_RATE" -c "$D1_WAIT" --seed "$D1_SEED" \
                -i @SIF@ -S "$D1_SCANNER_IP" -G @MAC@ -b "$D1_OUT/empty.blocklist" -o @OUT@.txt
            ;;
        *) d1_say "unknown tool $t (nmap masscan zmap)" ;;
        esac
    done
}

# d2_run ROWS: row D2 (the ARP sweep of the scanner's /24) for nmap and masscan of D1_TOOLS.
d2_run() {
    local rows=$1 t lab=(--prefix 198.19.0.0/30 --on-link 200 --)
    for t in $D1_TOOLS; do
        case $t in
        nmap)
            d1_run_tool "$rows" D2 nmap "-sn" "${lab[@]}" nmap -n -sn 198.18.0.0/24 -oX @OUT@.xml
            ;;
        masscan)
            d1_run_tool "$rows" D2 masscan "--arpscan --rate $D1_RATE --wait $D1_WAIT" "${lab[@]}" \
                masscan --arpscan 198.18.0.0/24 --rate "$D1_RATE" --wait "$D1_WAIT" --seed "$D1_SEED" \
                --interface @SIF@ --adapter-ip "$D1_SCANNER_IP" --router-mac @MAC@ -oL @OUT@.list
            ;;
        esac
    done
}

if [ "${D1_SOURCED:-0}" != 1 ]; then
    [ "$(id -u)" -eq 0 ] || { d1_say "needs root (network namespaces, raw sockets): run with sudo"; exit 1; }
    for c in ip nft jq /usr/bin/time timeout; do
        command -v "$c" >/dev/null 2>&1 || { d1_say "missing $c"; exit 1; }
    done
    for t in $D1_TOOLS; do
        command -v "$t" >/dev/null 2>&1 || { d1_say "missing $t: apt-get install $t (or drop it from D1_TOOLS)"; exit 1; }
    done
    [ -x "$D1_LAB" ] || { d1_say "missing $D1_LAB: run cargo build --release --bins"; exit 1; }
    D1_OUT=${D1_OUT:-$(mktemp -d /tmp/synscan-discovery.XXXXXX)}
    mkdir -p "$D1_OUT"
    trap d1_cleanup EXIT
    trap 'd1_say "interrupted"; exit 130' INT
    trap 'd1_say "terminated"; exit 143' TERM
    d1_say "logs and outputs in $D1_OUT"
    ROWS=$D1_OUT/rows.tsv
    : >"$ROWS"
    for r in $D1_ROWS; do
        case $r in
        D1) d1_run "$ROWS" ;;
        D2) d2_run "$ROWS" ;;
        *) d1_say "unknown row $r (D1 D2)" ;;
        esac
    done
    printf '\n| row | tool, flags | wall s | found | extra | right reasons | found per kind |\n|---|---|---:|---|---:|---|---|\n'
    awk -F'\t' '{ printf "| %s | %s `%s` | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$ROWS"
fi
