//! Target addresses and ports: interval sets, parsing, excludes, the keyed permutation and shards.
//!
//! - [`Ipv4Set`] / [`Ipv6Set`] / [`PortSet`]: sorted merged intervals with prefix counts (`nth`
//!   is a binary search; memory is per interval, never per address); [`TargetSet`] holds one
//!   of each address family, indexed IPv4 first.
//! - [`parse_ports`], [`top_ports`]: `-p` and `--top-ports` (the project's own ranked list);
//!   [`ServiceSet`]: the (protocol, port) pairs of a scan, a port set per protocol.
//!   [`parse_service_ports`] and [`top_udp_ports`]: nmap's `-p U:53,T:22` and the UDP list.
//! - [`parse_target`], [`read_spec_file`], [`build_target_set`]: nmap-style target specs,
//!   `-iL` files, excludes and the reserved-block guard.
//! - [`Permutation`], [`ProbeSpace`], [`ProbeOrder`], [`Shard`]: the keyed, shardable send order
//!   over every (address, service) pair, one permutation over both families and every protocol.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

mod ipset;
mod order;
mod parse;
mod permutation;
mod ports;
mod service_ports;
mod services;
mod target_set;
mod top_ports;
mod top_udp_ports;

pub use ipset::{IpSet, Ipv4Set, Ipv6Set, Point, SetAddr};
pub use order::{ProbeOrder, ProbeSpace, Shard};
pub use parse::{
    build_target_set, parse_target, read_spec_file, reserved_blocks, reserved_blocks6,
    split_spec_lines, split_specs, system_resolver, NameFamily, Resolver, Spec, SpecRanges,
    MAX_SPEC_INTERVALS,
};
pub use permutation::Permutation;
pub use ports::{parse_ports, PortSet};
pub use service_ports::{parse_service_ports, Scanned, ServicePorts};
pub use services::ServiceSet;
pub use target_set::TargetSet;
pub use top_ports::{top_ports, TOP_PORTS};
pub use top_udp_ports::{top_udp_ports, TOP_UDP_PORTS};

/// The IPv4 address of a probe, for the stages that are IPv4-only until IPv6 reaches them
/// (the SYN sender, results). Config refuses IPv6 targets before such a stage runs, so an
/// IPv6 address never gets here; if one did, it maps to 0.0.0.0 rather than panicking.
/// Transitional: remove each use as its stage takes `IpAddr`.
pub fn ipv4_only(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

/// A bad target, port list, shard or file; Display is one line naming the bad part and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

impl From<TargetError> for crate::error::ScanError {
    fn from(e: TargetError) -> Self {
        crate::error::ScanError::usage(e.0)
    }
}
