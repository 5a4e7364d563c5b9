#!/bin/sh
# Grant synscan the capabilities it needs to run without root.
# Usage: setcap.sh [--with-net-admin] [PATH]
#   PATH defaults to $CARGO_TARGET_DIR/release/synscan (target/release/synscan without it);
#   after `make install`, pass the installed binary (e.g. /usr/local/bin/synscan).
#   CAP_NET_RAW   always: raw IPv4 send socket + AF_PACKET capture.
#   CAP_NET_ADMIN only with --with-net-admin (e.g. setting socket buffer sizes past the limits).
set -eu

caps="cap_net_raw"
if [ "${1:-}" = "--with-net-admin" ]; then
    caps="cap_net_raw,cap_net_admin"
    shift
fi
bin="${1:-${CARGO_TARGET_DIR:-target}/release/synscan}"

if ! command -v setcap >/dev/null 2>&1; then
    echo "setcap.sh: setcap not found; install libcap2-bin (Debian/Ubuntu) or libcap (Fedora/Arch)" >&2
    exit 1
fi
if [ ! -f "$bin" ]; then
    echo "setcap.sh: $bin does not exist; build it with 'cargo build --release' or pass its path" >&2
    exit 1
fi

# File capabilities are dropped whenever the file is rewritten (e.g. by cargo build): rerun then.
setcap "${caps}+ep" "$bin"
getcap "$bin"
