#!/usr/bin/env bash
# Rate accuracy: synscan --rate R against a send-only lab (the target drops everything at
# ingress), for R from 1k pps to the machine's ceiling. Prints requested rate, packets the
# target's veth counted, synscan's elapsed time and the achieved rate. About 3 s of probes
# per rate (SECS). Root; everything stays inside the lab's namespaces (198.19.0.0/16).
#
#   make bench-rate        (or: sudo bash benches/rate.sh)
#   RATES="1000 10000 100000 300000 600000"   the rates tried
#   SECS=3                                   seconds of probes per rate (start-up and
#                                            shutdown, ~0.1 s, count in the elapsed time)
set -euo pipefail
cd "$(dirname "$0")/.."
RELEASE=${RELEASE:-${CARGO_TARGET_DIR:-target}/release}   # the Makefile passes it
LAB=$RELEASE/synscan-lab
SYN=$RELEASE/synscan
RATES=${RATES:-"1000 10000 100000 300000 600000"}
SECS=${SECS:-3}
name=rate$$
coproc SERVE { "$LAB" serve --name "$name" --drop-all; }
serve_pid=$SERVE_PID
trap 'kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; "$LAB" down --name "$name" >/dev/null 2>&1 || true' EXIT INT TERM
read -r truth <&"${SERVE[0]}"
ns=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["scanner_ns"])' "$truth")
echo "| requested pps | packets at target | elapsed s | achieved pps | error |"
echo "|---:|---:|---:|---:|---:|"
for rate in $RATES; do
    n=$((rate * SECS))
    ports=$(((n + 65535) / 65536))
    hosts=$((n / ports))
    last=$((hosts - 1))
    before=$("$LAB" counter --name "$name")
    line=$(ip netns exec "$ns" "$SYN" "198.19.0.0-198.19.$((last / 256)).$((last % 256))" \
        -p "1-$ports" --rate "$rate" --retries 0 --wait 0 -oL /dev/null 2>&1 | grep ' sent ')
    after=$("$LAB" counter --name "$name")
    secs=$(sed -E 's/.* in ([0-9.]+) s .*/\1/' <<<"$line")
    python3 - "$rate" "$((after - before - 1))" "$secs" <<'PY'
import sys
rate, pkts, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
got = pkts / secs
print(f"| {rate:,} | {pkts:,} | {secs:.2f} | {got:,.0f} | {100 * (got - rate) / rate:+.1f}% |")
PY
done
