#!/usr/bin/env bash
# UDP benchmark, rows U1 and U2 of issue #19: the reference tools on the UDP lab (`synscan-lab
# serve --udp`: real daemons, every other port closed and answered under Linux's ICMP limit
# per (lab address, scanner address), 1/s after a burst of 6). Each tool runs in a fresh lab of
# the same seed (198.18.0.0/15 only; nothing leaves the namespaces) and is scored against the
# lab's truth (`synscan-lab udp-expect`: nmap's state and reason for every pair).
#   U1  198.19.0.0/24 x nmap's top 20 UDP ports (read from nmap-services at run time), dnsmasq,
#       chronyd and snmpd (and a silent socket on 514) on 8 hosts, 64 pairs dropped and 64
#       rejected (host-unreachable, host-prohibited, admin-prohibited in turn), the rest
#       closed. nmap -sU: wall time, states right, closed ports it calls open|filtered;
#       masscan -pU: recall of the open pairs.
#   U2  one address x nmap's top 200 UDP ports, all closed: nmap -sU's wall time.
# The floor of a row is what the limit forces on any scanner that gets every closed port
# right: the most unreachables one host owes, less the burst, at 1/s (the truth's
# udp.max_errors_per_host).
#
#   make bench-udp      (or: sudo bash benches/udp.sh)
#
# Knobs (environment):
#   U_ROWS="U1 U2"          which rows
#   U_TOOLS="nmap masscan"  which tools (masscan only in U1: it reports open ports only)
#   U_NMAP_FLAGS="-T4"      nmap's timing flags
#   U_RATE=10000            masscan --rate
#   U_WAIT=5                masscan --wait (seconds)
#   U_LIMIT=1800            hard cap per tool run (seconds)
#   U_SEED=42               truth seed
#   U_OUT=DIR               keep logs and outputs there (default: a new /tmp dir)
#   RELEASE=DIR             where synscan-lab is (default target/release)
set -euo pipefail
export LC_ALL=C

U_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The discovery bench's helpers: raising a lab of D1_MODE, running a tool in it (d1_exec),
# cleanup and the masscan nudger.
D1_SOURCED=1
# shellcheck source=benches/discovery.sh
. "$U_ROOT/benches/discovery.sh"
D1_MODE=(--udp)
D1_WHO=udp
U_LAB=$D1_LAB
U_ROWS=${U_ROWS:-"U1 U2"}
U_TOOLS=${U_TOOLS:-"nmap masscan"}
U_NMAP_FLAGS=${U_NMAP_FLAGS:-"-T4"}
U_RATE=${U_RATE:-10000}
U_WAIT=${U_WAIT:-5}
U_LIMIT=${U_LIMIT:-1800}
U_SEED=${U_SEED:-42}
U_SERVICES=/usr/share/nmap/nmap-services
D1_SEED=$U_SEED
D1_LIMIT=$U_LIMIT

u_say() { d1_say "$@"; }

# u_top_ports N: nmap's N most frequent UDP ports (nmap-services sorted by open frequency,
# ties by ascending port), comma-separated in that order.
u_top_ports() {
    awk '!/^#/ && $2 ~ /\/udp$/ { split($2, a, "/"); print $3, a[1] }' "$U_SERVICES" |
        sort -k1,1gr -k2,2n | awk -v n="$1" 'NR <= n { print $2 }' | paste -sd, -
}

# "ADDRESS PORT STATE REASON" lines of nmap -oX (listed ports, and the ports its extraports
# lines name), sorted.
u_nmap_states() {
    awk '
        /<address / && /addrtype="ipv4"/ { match($0, /addr="[^"]*"/); a = substr($0, RSTART + 6, RLENGTH - 7) }
        /<extraports / { match($0, /state="[^"]*"/); xs = substr($0, RSTART + 7, RLENGTH - 8) }
        /<extrareasons / {
            match($0, /reason="[^"]*"/); r = substr($0, RSTART + 8, RLENGTH - 9)
            if (!match($0, /ports="[^"]*"/)) next
            n = split(substr($0, RSTART + 7, RLENGTH - 8), items, ",")
            for (i = 1; i <= n; i++) {
                lo = items[i]; hi = items[i]
                if (index(items[i], "-")) { split(items[i], b, "-"); lo = b[1]; hi = b[2] }
                for (p = lo + 0; p <= hi + 0; p++) print a, p, xs, r
            }
        }
        /<port protocol="udp"/ {
            match($0, /portid="[^"]*"/); p = substr($0, RSTART + 8, RLENGTH - 9)
            match($0, /<state state="[^"]*"/); s = substr($0, RSTART + 14, RLENGTH - 15)
            match($0, /reason="[^"]*"/); r = substr($0, RSTART + 8, RLENGTH - 9)
            print a, p, s, r
        }' "$1" | sort -u
}

# u_run_tool ROWS ROW TOOL SETTINGS SERVE_ARGS... -- ARGV... (see d1_exec in discovery.sh)
u_run_tool() {
    local rows=$1 row=$2 tool=$3 settings=$4
    shift 4
    d1_exec "$row" "$tool" "$settings" "$@" || return 1
    local base=$D1_BASE wall=$D1_WALL floor
    floor=$(jq -r '.udp | (.max_errors_per_host - .limit.burst) / .limit.per_second' "$D1_TRUTH")
    "$U_LAB" udp-expect <"$D1_TRUTH" | grep -v : | sort -u >"$base.truth"
    awk '$3 == "open" { print $1, $2 }' "$base.truth" >"$base.truth.open"
    local total closed open right reasons oflt found extra
    total=$(wc -l <"$base.truth")
    closed=$(awk '$3 == "closed"' "$base.truth" | wc -l)
    open=$(wc -l <"$base.truth.open")
    case $tool in
    nmap)
        u_nmap_states "$base.xml" >"$base.found"
        # States right, reasons right, closed ports called open|filtered.
        right=$(join <(awk '{ print $1 ":" $2, $3 }' "$base.truth" | sort) \
            <(awk '{ print $1 ":" $2, $3 }' "$base.found" | sort) | awk '$2 == $3' | wc -l)
        reasons=$(comm -12 "$base.truth" "$base.found" | wc -l)
        oflt=$(join <(awk '$3 == "closed" { print $1 ":" $2 }' "$base.truth" | sort) \
            <(awk '$3 == "open|filtered" { print $1 ":" $2 }' "$base.found" | sort) | wc -l)
        awk '$3 == "open" { print $1, $2 }' "$base.found" | sort >"$base.found.open"
        local listed
        listed=$(grep -m 1 -o ' services="[^"]*"' "$base.xml" || true)
        printf '%s\n' "$listed" >"$base.services"
        ;;
    masscan)
        awk '$1 == "open" && $2 == "udp" { print $4, $3 }' "$base.list" | sort -u >"$base.found.open"
        right=n/a reasons=n/a oflt=n/a
        ;;
    esac
    found=$(comm -12 "$base.found.open" <(sort "$base.truth.open") | wc -l)
    extra=$(comm -23 "$base.found.open" <(sort "$base.truth.open") | wc -l)
    # "n/a" for what the tool does not report (masscan: states other than open).
    local of="/$total" oc="/$closed"
    if [ "$right" = n/a ]; then of="" oc=""; fi
    printf '%s\t%s\t%s\t%s\t%s\t%s%s\t%s%s\t%s%s\t%s/%s\t%s\n' "$row" "$tool" "$settings" "$wall" \
        "$floor" "$right" "$of" "$reasons" "$of" "$oflt" "$oc" "$found" "$open" "$extra" >>"$rows"
    u_say "  wall ${wall}s (floor ${floor}s), states right $right/$total, reasons right $reasons/$total, closed called open|filtered $oflt/$closed, open found $found/$open, extra $extra"
}

# u1_run ROWS: row U1 for every tool of U_TOOLS.
u1_run() {
    local rows=$1 t ports lab
    ports=$(u_top_ports 20)
    lab=(--prefix 198.19.0.0/24 --udp-ports "$ports" --udp-hosts 8 --udp-dropped 64
        --udp-rejected 64 --udp-reject-codes 1,10,13 --)
    for t in $U_TOOLS; do
        case $t in
        nmap)
            # shellcheck disable=SC2086
            u_run_tool "$rows" U1 nmap "-sU $U_NMAP_FLAGS -Pn" "${lab[@]}" \
                nmap -n -Pn -sU $U_NMAP_FLAGS --reason -p "$ports" 198.19.0.0/24 -oX @OUT@.xml
            ;;
        masscan)
            u_run_tool "$rows" U1 masscan "-pU --rate $U_RATE --wait $U_WAIT" "${lab[@]}" \
                masscan -p "$(printf '%s' "$ports" | sed 's/[0-9][0-9]*/U:&/g')" 198.19.0.0/24 \
                --rate "$U_RATE" --wait "$U_WAIT" --seed "$U_SEED" --interface @SIF@ \
                --adapter-ip "$D1_SCANNER_IP" --router-mac @MAC@ -oL @OUT@.list
            ;;
        *) u_say "unknown tool $t (nmap masscan)" ;;
        esac
    done
}

# u2_run ROWS: row U2 (one address x 200 closed ports) for nmap.
u2_run() {
    local rows=$1 ports
    ports=$(u_top_ports 200)
    case " $U_TOOLS " in
    *" nmap "*)
        # shellcheck disable=SC2086
        u_run_tool "$rows" U2 nmap "-sU $U_NMAP_FLAGS -Pn" --prefix 198.19.0.7/32 \
            --udp-ports "$ports" --udp-hosts 0 --udp-dropped 0 --udp-rejected 0 -- \
            nmap -n -Pn -sU $U_NMAP_FLAGS --reason -p "$ports" 198.19.0.7 -oX @OUT@.xml
        ;;
    esac
}

[ "$(id -u)" -eq 0 ] || { u_say "needs root (network namespaces, raw sockets): run with sudo"; exit 1; }
for c in ip nft jq /usr/bin/time timeout; do
    command -v "$c" >/dev/null 2>&1 || { u_say "missing $c"; exit 1; }
done
for t in $U_TOOLS; do
    command -v "$t" >/dev/null 2>&1 || { u_say "missing $t: apt-get install $t (or drop it from U_TOOLS)"; exit 1; }
done
[ -r "$U_SERVICES" ] || { u_say "missing $U_SERVICES (nmap's top ports): apt-get install nmap-common"; exit 1; }
[ -x "$U_LAB" ] || { u_say "missing $U_LAB: run cargo build --release --bins"; exit 1; }
D1_OUT=${U_OUT:-$(mktemp -d /tmp/synscan-udp.XXXXXX)}
mkdir -p "$D1_OUT"
trap d1_cleanup EXIT
trap 'u_say "interrupted"; exit 130' INT
trap 'u_say "terminated"; exit 143' TERM
u_say "logs and outputs in $D1_OUT"
ROWS=$D1_OUT/rows.tsv
: >"$ROWS"
for r in $U_ROWS; do
    case $r in
    U1) u1_run "$ROWS" ;;
    U2) u2_run "$ROWS" ;;
    *) u_say "unknown row $r (U1 U2)" ;;
    esac
done
printf '\n| row | tool, flags | wall s | floor s | states right | reasons right | closed called open\\|filtered | open found | extra |\n|---|---|---:|---:|---|---|---|---|---:|\n'
awk -F'\t' '{ printf "| %s | %s `%s` | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$ROWS"
