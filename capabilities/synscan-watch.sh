#!/bin/sh
# One turn of the watch loop (run by synscan-watch.service, or by hand with
# STATE_DIRECTORY set): scan, keep a timestamped history with `latest` links, compare with
# the previous run (--baseline), check the policy, write Prometheus metrics.
#
# Exit 0: nothing changed and the policy holds. Exit 1: a port opened or stopped being
# open, or a port breaks the policy: systemd marks the unit failed and OnFailure= alerts.
# Any other code is synscan's own (2 bad input, 3 privilege, 4 runtime, 130 stopped).
#
# Settings (environment):
#   SYNSCAN_TARGETS   ranges you are authorised to scan (required)
#   SYNSCAN_PORTS     ports, default 22,80,443
#   SYNSCAN_POLICY    policy file, used when it exists (default /etc/synscan/policy.toml)
#   SYNSCAN_METRICS   metrics file (default $STATE_DIRECTORY/textfile/synscan.prom)
#   SYNSCAN_KEEP      runs kept in history/ (default 60)
#   SYNSCAN_ARGS      more synscan flags (e.g. "--rate 5000")
#   SYNSCAN           the binary (default: synscan on PATH)
set -eu
state=${STATE_DIRECTORY:?set STATE_DIRECTORY (systemd does, from StateDirectory=)}
targets=${SYNSCAN_TARGETS:?set SYNSCAN_TARGETS to the ranges you are authorised to scan}
ports=${SYNSCAN_PORTS:-22,80,443}
policy=${SYNSCAN_POLICY:-/etc/synscan/policy.toml}
metrics=${SYNSCAN_METRICS:-$state/textfile/synscan.prom}
keep=${SYNSCAN_KEEP:-60}
synscan=${SYNSCAN:-synscan}

cd "$state"
mkdir -p history "$(dirname "$metrics")"
now=$(date -u +%Y%m%dT%H%M%SZ)
# Word splitting of $targets and $SYNSCAN_ARGS is wanted: they are lists of arguments.
# shellcheck disable=SC2086
set -- $targets -p "$ports" --show closed,filtered \
    -oJ "history/$now.ndjson" -oX "history/$now.xml" \
    --metrics-file "$metrics" --resume-file "$state/scan.resume" ${SYNSCAN_ARGS:-}
if [ -e latest.ndjson ]; then
    set -- "$@" --baseline latest.ndjson
fi
if [ -e "$policy" ]; then
    set -- "$@" --policy "$policy"
fi
rc=0
"$synscan" "$@" || rc=$?
# A complete run (checks passed or failed) is the baseline of the next one, so a change
# alerts once.
if [ "$rc" -le 1 ]; then
    ln -sfn "history/$now.ndjson" latest.ndjson
    ln -sfn "history/$now.xml" latest.xml
fi
# Keep the newest $keep runs (names sort by time).
ls -1 history | sed -n 's/\.ndjson$//p' | sort -r | tail -n +"$((keep + 1))" |
    while read -r old; do
        rm -f "history/$old.ndjson" "history/$old.xml"
    done
exit "$rc"
