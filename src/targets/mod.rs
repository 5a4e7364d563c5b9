//! Target addresses and ports: interval sets, parsing, excludes, the keyed permutation and shards.
//! INTERFACE STUB: the targets helper replaces the bodies.

use std::fmt;
use std::net::Ipv4Addr;

/// A bad target, port list, shard or file; Display is one line naming the bad part and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

/// Sorted, disjoint, merged set of IPv4 addresses stored as intervals; no per-address memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ipv4Set {}

impl Ipv4Set {
    /// An empty set.
    pub fn new() -> Self {
        todo!()
    }
    /// Adds every address from `first` to `last` inclusive.
    pub fn insert_range(&mut self, _first: Ipv4Addr, _last: Ipv4Addr) {
        todo!()
    }
    /// Removes every address that `other` holds.
    pub fn subtract(&mut self, _other: &Ipv4Set) {
        todo!()
    }
    /// Number of addresses.
    pub fn len(&self) -> u64 {
        todo!()
    }
    /// True when the set holds no address.
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    /// The i-th address in ascending order, in O(log intervals).
    pub fn nth(&self, _i: u64) -> Option<Ipv4Addr> {
        todo!()
    }
    /// True when `ip` is in the set.
    pub fn contains(&self, _ip: Ipv4Addr) -> bool {
        todo!()
    }
    /// The intervals, ascending, inclusive.
    pub fn ranges(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        todo!()
    }
}

/// Sorted set of TCP ports stored as intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {}

impl PortSet {
    /// Number of ports.
    pub fn len(&self) -> u64 {
        todo!()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    /// The i-th port in ascending order.
    pub fn nth(&self, _i: u64) -> Option<u16> {
        todo!()
    }
    /// True when `port` is in the set.
    pub fn contains(&self, _port: u16) -> bool {
        todo!()
    }
    /// Every port, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        std::iter::empty()
    }
    /// nmap's compact form: "22,80,8000-8100".
    pub fn to_spec(&self) -> String {
        todo!()
    }
}

/// Parses `-p`: "22,80,8000-8100", "-" (all), "1-", "-1024", optional "T:" prefixes.
pub fn parse_ports(_spec: &str) -> Result<PortSet, TargetError> {
    todo!()
}

/// The project's own `n` most commonly exposed TCP ports (1 <= n <= list length).
pub fn top_ports(_n: usize) -> Result<PortSet, TargetError> {
    todo!()
}

/// Resolves a hostname to IPv4 addresses (injected so tests need no DNS).
pub type Resolver<'a> = &'a dyn Fn(&str) -> Result<Vec<Ipv4Addr>, String>;

/// The resolver that asks the system (getaddrinfo through std).
pub fn system_resolver(_name: &str) -> Result<Vec<Ipv4Addr>, String> {
    todo!()
}

/// Parses one target spec (address, CIDR, a-b range, nmap octet range, hostname) into intervals.
pub fn parse_target(
    _spec: &str,
    _resolve: Resolver,
) -> Result<Vec<(Ipv4Addr, Ipv4Addr)>, TargetError> {
    todo!()
}

/// Reads whitespace/comma separated specs from a file, `-` meaning stdin; `#` starts a comment.
pub fn read_spec_file(_path: &str) -> Result<Vec<String>, TargetError> {
    todo!()
}

/// The reserved blocks refused without --allow-reserved: 0/8, 224/4, 240/4, 255.255.255.255.
pub fn reserved_blocks() -> Ipv4Set {
    todo!()
}

/// Builds the target set: includes minus excludes; refuses reserved addresses unless allowed.
pub fn build_target_set(
    _includes: &[String],
    _excludes: &[String],
    _allow_reserved: bool,
    _resolve: Resolver,
) -> Result<Ipv4Set, TargetError> {
    todo!()
}

/// A keyed bijection over [0, range): every index maps to exactly one index.
#[derive(Debug, Clone)]
pub struct Permutation {}

impl Permutation {
    /// A permutation of [0, range) keyed by `seed`.
    pub fn new(_range: u64, _seed: u64) -> Self {
        todo!()
    }
    /// The size of the domain.
    pub fn range(&self) -> u64 {
        todo!()
    }
    /// The image of `i` (< range).
    pub fn permute(&self, _i: u64) -> u64 {
        todo!()
    }
}

/// One part of `count` of a scan; `index` is 1-based as in masscan's --shard 1/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based shard number.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

impl Shard {
    /// The whole scan.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };
    /// Parses "i/n" with 1 <= i <= n.
    pub fn parse(_s: &str) -> Result<Shard, TargetError> {
        todo!()
    }
}

/// Every (address, port) pair of a scan, indexed in [0, hosts x ports).
#[derive(Debug, Clone)]
pub struct ProbeSpace {}

impl ProbeSpace {
    /// The space of `targets` x `ports`.
    pub fn new(_targets: Ipv4Set, _ports: PortSet) -> Self {
        todo!()
    }
    /// hosts x ports.
    pub fn len(&self) -> u64 {
        todo!()
    }
    /// True when there is nothing to probe.
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    /// The pair at index `i`.
    pub fn get(&self, _i: u64) -> Option<(Ipv4Addr, u16)> {
        todo!()
    }
    /// The target set.
    pub fn targets(&self) -> &Ipv4Set {
        todo!()
    }
    /// The port set.
    pub fn ports(&self) -> &PortSet {
        todo!()
    }
}

/// The send order of one shard: positions 0..len map through the permutation to probes.
#[derive(Debug, Clone)]
pub struct ProbeOrder {}

impl ProbeOrder {
    /// The order for `shard` of `space` under `seed`.
    pub fn new(_space: ProbeSpace, _seed: u64, _shard: Shard) -> Self {
        todo!()
    }
    /// Number of probes in this shard.
    pub fn len(&self) -> u64 {
        todo!()
    }
    /// True when this shard has nothing to send.
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    /// The probe at `position` (< len).
    pub fn get(&self, _position: u64) -> (Ipv4Addr, u16) {
        todo!()
    }
    /// The space this order walks.
    pub fn space(&self) -> &ProbeSpace {
        todo!()
    }
}
