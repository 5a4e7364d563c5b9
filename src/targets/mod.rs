//! Target addresses and ports: interval sets, parsing, excludes, the keyed permutation and shards.
//!
//! - [`Ipv4Set`] / [`PortSet`]: sorted merged intervals with prefix counts (`nth` is a binary
//!   search; memory is per interval, never per address).
//! - [`parse_ports`], [`top_ports`]: `-p` and `--top-ports` (the project's own ranked list).
//! - [`parse_target`], [`read_spec_file`], [`build_target_set`]: nmap-style target specs,
//!   `-iL` files, excludes and the reserved-block guard.
//! - [`Permutation`], [`ProbeSpace`], [`ProbeOrder`], [`Shard`]: the keyed, shardable send order
//!   over every (address, port) pair.

use std::fmt;

mod ipset;
mod order;
mod parse;
mod permutation;
mod ports;
mod top_ports;

pub use ipset::Ipv4Set;
pub use order::{ProbeOrder, ProbeSpace, Shard};
pub use parse::{
    build_target_set, parse_target, read_spec_file, reserved_blocks, split_spec_lines, split_specs,
    system_resolver, Resolver, Spec, MAX_SPEC_INTERVALS,
};
pub use permutation::Permutation;
pub use ports::{parse_ports, PortSet};
pub use top_ports::{top_ports, TOP_PORTS};

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
