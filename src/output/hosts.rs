//! Per-host grouping for the grouped formats, kept compact: listed ports and counts only.
//!
//! nmap's rule (PortList::isIgnoredState): a host's ports of one state are listed one by one
//! while the host has at most [`MAX_LISTED_PER_STATE`] of them, and folded into a count
//! ("Not shown", `<extraports>`, "Ignored State") past that; open ports are always listed,
//! and --open folds every other state. `--show closed` / `--show filtered` list that state
//! whatever the count. Past the limit a state's listed ports are dropped as they arrive, so
//! memory stays bounded per host.
//!
//! Most hosts of a large scan never reply, and a host's no-response results often come
//! before its first reply. When the table knows which pairs the run probes (every port of
//! every target, or a shard's part of them), those results are only counted: at the end the
//! no-response ports of a host that replied are the probed ports it has no other result
//! for, so nothing is stored for silent hosts. Otherwise (results fed by hand) they wait in
//! a packed vector (8 bytes each for IPv4, 18 for IPv6), bounded.
//!
//! Hosts are kept in one map per family, so an IPv4 host's key stays 4 bytes.

use super::OutputOptions;
use crate::model::{PortResult, PortState, Protocol, Reason, Service};
use crate::targets::{ProbeOrder, ServiceSet};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Most no-response results kept for hosts that had not replied when they were recorded,
/// in a run that does not probe every port of every target.
pub const PENDING_LIMIT: usize = 4_000_000;

/// A host's ports of one non-open state are folded into a count past this many, as nmap does
/// (`max_per_state` in nmap's portlist.cc; -v does not raise it in nmap 7.9x).
pub const MAX_LISTED_PER_STATE: u32 = 25;

/// One listed port of a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// Its state.
    pub state: PortState,
    /// Its reason.
    pub reason: Reason,
    /// Reply TTL (0 for none).
    pub ttl: u8,
}

impl Listed {
    /// The (protocol, port) listed.
    pub fn service(&self) -> Service {
        Service {
            protocol: self.protocol,
            port: self.port,
        }
    }
}

/// Ports of one protocol, state and reason that a host report counts but does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hidden {
    /// The ports' protocol.
    pub protocol: Protocol,
    /// The state.
    pub state: PortState,
    /// The reason.
    pub reason: Reason,
    /// How many ports.
    pub count: u64,
}

/// What a grouped writer prints for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostView {
    /// The address.
    pub ip: IpAddr,
    /// Why the host counts as up (its best reply).
    pub reason: Reason,
    /// TTL of that reply.
    pub ttl: u8,
    /// Epoch seconds of its first recorded result.
    pub start: u64,
    /// Epoch seconds of its last recorded result.
    pub end: u64,
    /// The name the user gave for this address, if any (nmap's hostname type "user").
    pub hostname: Option<String>,
    /// Listed ports, ascending.
    pub ports: Vec<Listed>,
    /// Counted ports in nmap's order: states by total count, larger first (closed before
    /// filtered on a tie); within a state, reasons by count, larger first.
    pub hidden: Vec<Hidden>,
}

impl HostView {
    /// Ports decided for this host (listed plus hidden).
    pub fn scanned(&self) -> u64 {
        self.ports.len() as u64 + self.hidden.iter().map(|h| h.count).sum::<u64>()
    }

    /// Total hidden ports of one state (nmap pluralises "port" by this count).
    pub fn hidden_total(&self, state: PortState) -> u64 {
        self.hidden
            .iter()
            .filter(|h| h.state == state)
            .map(|h| h.count)
            .sum()
    }

    /// Number of distinct hidden states (nmap's grepable "Ignored State" needs exactly one).
    pub fn hidden_states(&self) -> usize {
        let mut n = 0;
        for (i, h) in self.hidden.iter().enumerate() {
            if !self.hidden[..i].iter().any(|x| x.state == h.state) {
                n += 1;
            }
        }
        n
    }
}

/// The grouped result at the end of a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostReport {
    /// Hosts to print, ascending by address.
    pub hosts: Vec<HostView>,
    /// Hosts that replied at all.
    pub up: u64,
    /// Target addresses.
    pub total: u64,
    /// No-response results dropped by the memory bound.
    pub not_kept: u64,
    /// The follow-up stage's identifications (-sV), empty without it.
    pub versions: super::versions::Versions,
}

impl HostReport {
    /// Hosts that never replied.
    pub fn down(&self) -> u64 {
        self.total.saturating_sub(self.up)
    }
}

/// What a protocol's silent probes decided in a scan.
#[derive(Clone, Copy, Debug)]
struct Silence {
    protocol: Protocol,
    state: PortState,
}

/// How many of a host's results have one protocol, state and reason.
#[derive(Clone, Copy, Debug)]
struct Count {
    protocol: Protocol,
    state: PortState,
    reason: Reason,
    n: u32,
}

#[derive(Debug)]
struct Entry {
    reason: Reason,
    ttl: u8,
    start: u64,
    end: u64,
    listed: Vec<Listed>,
    counts: Vec<Count>,
    /// Per non-open state (see [`fold_index`]): that state's ports stopped being listed
    /// (too many to show).
    folded: [bool; FOLDED_STATES],
    /// Which of the scan's ports this host has a result for (bit per port rank), kept only
    /// while its closed ports are folded and its filtered ones not: then `listed` no
    /// longer names every recorded port, and the end may need to name the others.
    seen: Option<Vec<u64>>,
}

/// The states a host's listing folds into a count: every one but open.
const FOLDED_STATES: usize = PortState::ALL.len() - 1;

/// Index of a foldable state in [`Entry::folded`]; None for open (always listed).
fn fold_index(state: PortState) -> Option<usize> {
    match state {
        PortState::Open => None,
        s => Some(usize::from(s.code()) - 1),
    }
}

/// Whether a state is shown as closed is (by --show-closed and its keeping); the others
/// but open go as filtered does.
fn closed_like(state: PortState) -> bool {
    matches!(state, PortState::Closed | PortState::ClosedFiltered)
}

/// Ranks host-up reasons: a SYN/ACK says most about a host, then a reset, then ICMP.
fn rank(r: Reason) -> u8 {
    match r {
        Reason::SynAck => 3,
        Reason::Reset | Reason::ConnRefused => 2,
        Reason::NoResponse => 0,
        _ => 1,
    }
}

/// The scan's services with their ranks (a bit per service in [`Entry::seen`]).
#[derive(Debug)]
struct ServiceIndex {
    /// (first, last, rank of first), ascending.
    ranges: Vec<(Service, u16, usize)>,
    len: usize,
}

impl ServiceIndex {
    fn new(services: &ServiceSet) -> ServiceIndex {
        let mut ranges = Vec::new();
        let mut len = 0;
        for (protocol, ports) in services.by_protocol() {
            for (a, b) in ports.ranges() {
                ranges.push((Service { protocol, port: a }, b, len));
                len += usize::from(b - a) + 1;
            }
        }
        ServiceIndex { ranges, len }
    }

    fn rank(&self, s: Service) -> Option<usize> {
        let i = self
            .ranges
            .partition_point(|r| (r.0.protocol, r.1) < (s.protocol, s.port));
        let &(a, _, first) = self.ranges.get(i)?;
        (a.protocol == s.protocol && s.port >= a.port).then(|| first + usize::from(s.port - a.port))
    }

    fn iter(&self) -> impl Iterator<Item = Service> + '_ {
        self.ranges.iter().flat_map(|&(a, b, _)| {
            (a.port..=b).map(move |port| Service {
                protocol: a.protocol,
                port,
            })
        })
    }

    /// How many services of `protocol`.
    fn len_of(&self, protocol: Protocol) -> u64 {
        self.ranges
            .iter()
            .filter(|r| r.0.protocol == protocol)
            .map(|r| u64::from(r.1 - r.0.port) + 1)
            .sum()
    }
}

fn set_bit(bits: &mut [u64], i: usize) {
    if let Some(w) = bits.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

impl Entry {
    fn new(reason: Reason, ttl: u8, secs: u64) -> Entry {
        Entry {
            reason,
            ttl,
            start: secs,
            end: secs,
            listed: Vec::new(),
            counts: Vec::new(),
            folded: [false; FOLDED_STATES],
            seen: None,
        }
    }

    fn count(&mut self, protocol: Protocol, state: PortState, reason: Reason, n: u32) {
        match self
            .counts
            .iter_mut()
            .find(|c| c.protocol == protocol && c.state == state && c.reason == reason)
        {
            Some(c) => c.n = c.n.saturating_add(n),
            None => self.counts.push(Count {
                protocol,
                state,
                reason,
                n,
            }),
        }
    }

    fn state_count(&self, state: PortState) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.state == state)
            .map(|c| u64::from(c.n))
            .sum()
    }

    fn recorded_of(&self, protocol: Protocol) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.protocol == protocol)
            .map(|c| u64::from(c.n))
            .sum()
    }

    /// Lists a port unless its state has too many on this host to show; past the limit the
    /// state's listed ports are dropped (they would be folded into a count at the end anyway).
    /// With `index` (a run over every port), the ports of a host whose answered ports
    /// (closed to a SYN, unfiltered to an ACK) fold while those of `silence` (the state its
    /// protocol's silent probes get) are still listed are kept as bits instead.
    fn list(
        &mut self,
        l: Listed,
        show_all: bool,
        index: Option<&ServiceIndex>,
        silence: PortState,
    ) {
        let Some(i) = fold_index(l.state) else {
            self.listed.push(l);
            return;
        };
        if self.folded[i] {
            return;
        }
        if !show_all && self.state_count(l.state) > u64::from(MAX_LISTED_PER_STATE) {
            let silence_folded = fold_index(silence).is_some_and(|i| self.folded[i]);
            match index {
                // No silent port will be listed: nothing needs the recorded ports.
                _ if l.state == silence => self.seen = None,
                Some(index) if self.seen.is_none() && !silence_folded => {
                    let mut bits = vec![0u64; index.len.div_ceil(64)];
                    for p in self.listed.iter().map(Listed::service).chain([l.service()]) {
                        if let Some(r) = index.rank(p) {
                            set_bit(&mut bits, r);
                        }
                    }
                    self.seen = Some(bits);
                }
                _ => {}
            }
            self.listed.retain(|x| x.state != l.state);
            // Most hosts of a large scan fold; give the room back.
            self.listed.shrink_to_fit();
            self.folded[i] = true;
            return;
        }
        self.listed.push(l);
    }

    /// Records that the host has a result for `service` (only while [`Entry::seen`] is kept).
    fn see(&mut self, service: Service, index: Option<&ServiceIndex>) {
        if let (Some(bits), Some(r)) = (self.seen.as_mut(), index.and_then(|x| x.rank(service))) {
            set_bit(bits, r);
        }
    }

    /// Lists the first `n` of the services of `silence`'s protocol probed on this host
    /// (`probed`) that it has no result for, as its no-response results: in a complete run
    /// those are its results from before its first reply.
    fn list_unrecorded(
        &mut self,
        index: &ServiceIndex,
        silence: Silence,
        probed: impl Fn(Service) -> bool,
        n: u64,
    ) {
        let listed: Vec<Service> = {
            let mut v: Vec<Service> = self.listed.iter().map(Listed::service).collect();
            v.sort_unstable();
            v
        };
        let recorded = |s: Service| match (&self.seen, index.rank(s)) {
            (Some(bits), Some(r)) => bit(bits, r),
            _ => listed.binary_search(&s).is_ok(),
        };
        let missing: Vec<Listed> = index
            .iter()
            .filter(|s| s.protocol == silence.protocol && probed(*s) && !recorded(*s))
            .take(usize::try_from(n).unwrap_or(usize::MAX))
            .map(|s| Listed {
                port: s.port,
                protocol: s.protocol,
                state: silence.state,
                reason: Reason::NoResponse,
                ttl: 0,
            })
            .collect();
        self.listed.extend(missing);
    }
}

/// Hosts that replied, one map per family (an IPv4 key stays 4 bytes).
#[derive(Debug, Default)]
struct Hosts {
    v4: HashMap<Ipv4Addr, Entry>,
    v6: HashMap<Ipv6Addr, Entry>,
}

impl Hosts {
    fn get_mut(&mut self, ip: IpAddr) -> Option<&mut Entry> {
        match ip {
            IpAddr::V4(a) => self.v4.get_mut(&a),
            IpAddr::V6(a) => self.v6.get_mut(&a),
        }
    }

    #[cfg(test)]
    fn get(&self, ip: IpAddr) -> Option<&Entry> {
        match ip {
            IpAddr::V4(a) => self.v4.get(&a),
            IpAddr::V6(a) => self.v6.get(&a),
        }
    }

    fn entry(&mut self, ip: IpAddr, make: impl FnOnce() -> Entry) -> &mut Entry {
        match ip {
            IpAddr::V4(a) => self.v4.entry(a).or_insert_with(make),
            IpAddr::V6(a) => self.v6.entry(a).or_insert_with(make),
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (IpAddr, &mut Entry)> {
        let v4 = self.v4.iter_mut().map(|(a, e)| (IpAddr::V4(*a), e));
        v4.chain(self.v6.iter_mut().map(|(a, e)| (IpAddr::V6(*a), e)))
    }

    /// Every host, ascending by address: IPv4 before IPv6 (`IpAddr`'s order).
    fn into_sorted(self) -> Vec<(IpAddr, Entry)> {
        let mut v4: Vec<(Ipv4Addr, Entry)> = self.v4.into_iter().collect();
        v4.sort_unstable_by_key(|h| h.0);
        let mut v6: Vec<(Ipv6Addr, Entry)> = self.v6.into_iter().collect();
        v6.sort_unstable_by_key(|h| h.0);
        let v4 = v4.into_iter().map(|(a, e)| (IpAddr::V4(a), e));
        v4.chain(v6.into_iter().map(|(a, e)| (IpAddr::V6(a), e)))
            .collect()
    }
}

/// Per-host state kept while the scan runs.
#[derive(Debug)]
pub struct HostTable {
    hosts: Hosts,
    /// The scan's ports, when the table knows which pairs the run probes: then no-response
    /// results of hosts that have not replied are only counted (see the module notes).
    index: Option<ServiceIndex>,
    /// With `index`, the order of a shard: it probes only the pairs this order holds.
    shard: Option<Arc<ProbeOrder>>,
    /// The state each protocol's silent probes got, learned from the first one recorded
    /// (it is one state per protocol in a scan: the probe kind's outcome for silence).
    silence: [Option<PortState>; Protocol::ALL.len()],
    /// Results recorded, of every host.
    recorded: u64,
    /// (ip << 24 | protocol code << 16 | port) of IPv4 no-response results for hosts not
    /// yet replied (without `index`).
    pending: Vec<u64>,
    /// The same for IPv6 hosts; `limit` bounds both together.
    pending6: Vec<(Ipv6Addr, Service)>,
    limit: usize,
    not_kept: u64,
    keep_closed: bool,
    keep_filtered: bool,
    open_only: bool,
    show_closed: bool,
    show_filtered: bool,
}

impl HostTable {
    /// An empty table for these options, for results of any ports (they wait in a bounded
    /// vector when their host has not replied yet).
    pub fn new(opts: &OutputOptions) -> HostTable {
        HostTable::with_limit(opts, PENDING_LIMIT)
    }

    /// An empty table for a run that probes every one of `services` on every target:
    /// nothing is stored for hosts that have not replied.
    pub fn covering(opts: &OutputOptions, services: &ServiceSet) -> HostTable {
        let mut t = HostTable::with_limit(opts, 0);
        t.index = Some(ServiceIndex::new(services));
        t
    }

    /// An empty table for a run that probes exactly the pairs of `shard` (one part of
    /// targets x ports): nothing is stored for hosts that have not replied.
    pub fn covering_shard(opts: &OutputOptions, shard: Arc<ProbeOrder>) -> HostTable {
        let mut t = HostTable::covering(opts, shard.space().services());
        t.shard = Some(shard);
        t
    }

    /// The same table told that silent probes of `protocol` get `state` (their probe
    /// kind's outcome for silence), before any is recorded.
    pub fn with_silence(mut self, protocol: Protocol, state: PortState) -> HostTable {
        self.silence[usize::from(protocol.code())] = Some(state);
        self
    }

    /// An empty table with a custom bound on pending no-response results.
    pub fn with_limit(opts: &OutputOptions, limit: usize) -> HostTable {
        HostTable {
            hosts: Hosts::default(),
            index: None,
            shard: None,
            silence: [None; Protocol::ALL.len()],
            recorded: 0,
            pending: Vec::new(),
            pending6: Vec::new(),
            limit,
            not_kept: 0,
            keep_closed: !opts.open_only,
            keep_filtered: !opts.open_only,
            open_only: opts.open_only,
            show_closed: opts.show_closed,
            show_filtered: opts.show_filtered,
        }
    }

    /// Hosts kept so far (each has replied at least once).
    #[cfg(test)]
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// No-response results kept so far for hosts that had not replied.
    #[cfg(test)]
    pub fn pending_count(&self) -> usize {
        self.pending.len() + self.pending6.len()
    }

    /// Records one decided result; false when it was only counted (a no-response result
    /// of a host that has not replied, in a table that knows the probed pairs, or one past
    /// the bound), so [`HostTable::record_silent`] stands for it as well.
    pub fn record(&mut self, r: &PortResult) -> bool {
        self.recorded += 1;
        let secs = super::epoch_secs(r.timestamp);
        let index = self.index.as_ref();
        if rank(r.reason) == 0 {
            self.silence[usize::from(r.protocol.code())].get_or_insert(r.state);
            if let Some(e) = self.hosts.get_mut(r.ip) {
                e.count(r.protocol, r.state, r.reason, 1);
                e.see(r.service(), index);
                if self.keep_filtered {
                    let l = Listed {
                        port: r.port,
                        protocol: r.protocol,
                        state: r.state,
                        reason: r.reason,
                        ttl: 0,
                    };
                    e.list(l, self.show_filtered, index, r.state);
                }
                return true;
            }
            if index.is_some() {
                // Counted in `recorded`; named at the end if the host replies later.
                return false;
            }
            if self.pending.len() + self.pending6.len() < self.limit {
                match r.ip {
                    IpAddr::V4(a) => self.pending.push(
                        u64::from(u32::from(a)) << 24
                            | u64::from(r.protocol.code()) << 16
                            | u64::from(r.port),
                    ),
                    IpAddr::V6(a) => self.pending6.push((a, r.service())),
                }
                return true;
            }
            self.not_kept += 1;
            return false;
        }
        let (keeps, show_all) = (self.keeps(r.state), self.shows_all(r.state));
        let silence = self.silence_of(r.protocol).state;
        let e = self.hosts.entry(r.ip, || Entry::new(r.reason, r.ttl, secs));
        if rank(r.reason) > rank(e.reason) {
            e.reason = r.reason;
            e.ttl = r.ttl;
        }
        e.start = e.start.min(secs);
        e.end = e.end.max(secs);
        e.count(r.protocol, r.state, r.reason, 1);
        e.see(r.service(), index);
        if keeps {
            let l = Listed {
                port: r.port,
                protocol: r.protocol,
                state: r.state,
                reason: r.reason,
                ttl: r.ttl,
            };
            e.list(l, show_all, index, silence);
        }
        true
    }

    /// Records `n` no-response results that [`HostTable::record`] would only have counted
    /// (a resumed run replaying its journal's counts).
    pub fn record_silent(&mut self, n: u64) {
        self.recorded += n;
        if self.index.is_none() {
            self.not_kept += n;
        }
    }

    /// Whether ports of `state` are kept for listing at all.
    fn keeps(&self, state: PortState) -> bool {
        match state {
            PortState::Open => true,
            s if closed_like(s) => self.keep_closed,
            _ => self.keep_filtered,
        }
    }

    /// Whether every port of `state` is listed, however many (--show-closed/-filtered).
    fn shows_all(&self, state: PortState) -> bool {
        if closed_like(state) {
            self.show_closed
        } else {
            self.show_filtered
        }
    }

    /// What a silent probe of `protocol` decided (no-response filtered, the SYN scan's,
    /// until one was recorded).
    fn silence_of(&self, protocol: Protocol) -> Silence {
        Silence {
            protocol,
            state: self.silence[usize::from(protocol.code())].unwrap_or(PortState::Filtered),
        }
    }

    /// Gives each host that replied its no-response results from before its first reply:
    /// the probed services it has no result for, when every probe of the run was decided.
    fn attach_unrecorded(&mut self, total: u64) {
        let Some(index) = self.index.as_ref() else {
            return;
        };
        let probes = match &self.shard {
            Some(order) => order.len(),
            None => total.saturating_mul(index.len as u64),
        };
        if self.recorded != probes {
            // Stopped early: a service without a result may never have been decided.
            return;
        }
        let max = u64::from(MAX_LISTED_PER_STATE);
        let silences: Vec<(Silence, u64)> = Protocol::ALL
            .into_iter()
            .map(|p| (self.silence_of(p), index.len_of(p)))
            .filter(|&(_, n)| n > 0)
            .collect();
        let shard = self.shard.as_deref();
        for (ip, e) in self.hosts.iter_mut() {
            let probed = |s: Service| shard.is_none_or(|o| o.position_of(ip, s).is_some());
            for &(silence, services) in &silences {
                let on_host = match shard {
                    // One lookup per scanned service of each host that replied.
                    Some(_) => index
                        .iter()
                        .filter(|s| s.protocol == silence.protocol && probed(*s))
                        .count() as u64,
                    None => services,
                };
                let missing = on_host.saturating_sub(e.recorded_of(silence.protocol));
                if missing == 0 {
                    continue;
                }
                e.count(
                    silence.protocol,
                    silence.state,
                    Reason::NoResponse,
                    u32::try_from(missing).unwrap_or(u32::MAX),
                );
                let shown = e.state_count(silence.state);
                if self.keep_filtered && (self.show_filtered || shown <= max) {
                    e.list_unrecorded(index, silence, probed, missing);
                }
            }
        }
    }

    /// Gives a host that replied the no-response results that waited for it (`services`,
    /// one run of the sorted pending vectors).
    fn attach_pending(&mut self, ip: IpAddr, services: impl Iterator<Item = Service>) {
        let (keep, show) = (self.keep_filtered, self.show_filtered);
        let silence: Vec<Silence> = Protocol::ALL.map(|p| self.silence_of(p)).to_vec();
        let Some(e) = self.hosts.get_mut(ip) else {
            return;
        };
        for s in services {
            let silence = silence[usize::from(s.protocol.code())];
            e.count(s.protocol, silence.state, Reason::NoResponse, 1);
            if keep {
                let l = Listed {
                    port: s.port,
                    protocol: s.protocol,
                    state: silence.state,
                    reason: Reason::NoResponse,
                    ttl: 0,
                };
                e.list(l, show, None, silence.state);
            }
        }
    }

    /// Groups everything for printing; `total` is the number of target addresses.
    pub fn into_report(mut self, total: u64) -> HostReport {
        self.attach_unrecorded(total);
        // Attach pending no-response results to hosts that replied later; drop the rest.
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_unstable();
        for run in pending.chunk_by(|a, b| a >> 24 == b >> 24) {
            let ip = IpAddr::V4(Ipv4Addr::from((run[0] >> 24) as u32));
            let service = |p: &u64| Service {
                protocol: Protocol::from_code((p >> 16) as u8).unwrap_or_default(),
                port: (p & 0xffff) as u16,
            };
            self.attach_pending(ip, run.iter().map(service));
        }
        drop(pending);
        let mut pending6 = std::mem::take(&mut self.pending6);
        pending6.sort_unstable();
        for run in pending6.chunk_by(|a, b| a.0 == b.0) {
            self.attach_pending(IpAddr::V6(run[0].0), run.iter().map(|p| p.1));
        }
        drop(pending6);
        let up = self.hosts.len() as u64;
        let hosts = std::mem::take(&mut self.hosts).into_sorted();
        let mut views = Vec::new();
        for (ip, mut e) in hosts {
            let n = |st: PortState| e.state_count(st);
            if self.open_only && n(PortState::Open) == 0 {
                continue;
            }
            let max = u64::from(MAX_LISTED_PER_STATE);
            let lists = |st: PortState| {
                st == PortState::Open || self.keeps(st) && (self.shows_all(st) || n(st) <= max)
            };
            let listed_states: Vec<PortState> =
                PortState::ALL.into_iter().filter(|&st| lists(st)).collect();
            e.listed.retain(|l| listed_states.contains(&l.state));
            // Ord on state puts open first, so a duplicate service keeps its best state;
            // TCP ports are listed before UDP ones, as nmap lists them.
            e.listed.sort_unstable_by_key(|l| (l.service(), l.state));
            e.listed.dedup_by_key(|l| l.service());
            let mut hidden: Vec<Hidden> = e
                .counts
                .iter()
                .filter(|c| !listed_states.contains(&c.state))
                .map(|c| Hidden {
                    protocol: c.protocol,
                    state: c.state,
                    reason: c.reason,
                    count: u64::from(c.n),
                })
                .collect();
            // nmap's order: the state with more ports first (closed before filtered on a tie),
            // then that state's reasons, more ports first.
            let state_total = |st: PortState| -> u64 {
                hidden
                    .iter()
                    .filter(|h| h.state == st)
                    .map(|h| h.count)
                    .sum()
            };
            let totals: Vec<(PortState, u64)> = PortState::ALL
                .iter()
                .map(|&st| (st, state_total(st)))
                .collect();
            let total_of = |st: PortState| totals.iter().find(|t| t.0 == st).map_or(0, |t| t.1);
            hidden.sort_by(|a, b| {
                total_of(b.state)
                    .cmp(&total_of(a.state))
                    .then(a.state.cmp(&b.state))
                    .then(a.protocol.cmp(&b.protocol))
                    .then(b.count.cmp(&a.count))
                    .then(a.reason.as_str().cmp(b.reason.as_str()))
            });
            views.push(HostView {
                ip,
                hostname: None,
                reason: e.reason,
                ttl: e.ttl,
                start: e.start,
                end: e.end,
                ports: e.listed,
                hidden,
            });
        }
        HostReport {
            hosts: views,
            up,
            total: total.max(up),
            not_kept: self.not_kept,
            versions: super::versions::Versions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn res(ip: [u8; 4], port: u16, reason: Reason, ttl: u8, t: u64) -> PortResult {
        PortResult {
            protocol: crate::model::Protocol::Tcp,
            ip: IpAddr::from(ip),
            port,
            state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
            reason,
            ttl,
            timestamp: UNIX_EPOCH + Duration::from_secs(t),
        }
    }

    fn res6(last: u16, port: u16, reason: Reason, t: u64) -> PortResult {
        PortResult {
            ip: Ipv6Addr::new(0x2001, 2, 0, 0x19, 0, 0, 0, last).into(),
            ..res(
                [0, 0, 0, 0],
                port,
                reason,
                if reason == Reason::NoResponse { 0 } else { 64 },
                t,
            )
        }
    }

    #[test]
    fn ipv6_and_mixed_hosts_group_by_family_ipv4_first() {
        let mut t = HostTable::new(&OutputOptions::default());
        // Pending no-response results of both families, attached when their host replies.
        t.record(&res6(0xa, 81, Reason::NoResponse, 100));
        t.record(&res6(0xb, 81, Reason::NoResponse, 100));
        t.record(&res([198, 19, 0, 200], 81, Reason::NoResponse, 0, 100));
        assert_eq!(t.pending_count(), 3);
        t.record(&res6(0xa, 80, Reason::SynAck, 101));
        t.record(&res6(2, 22, Reason::NoRoute, 102));
        t.record(&res([198, 19, 0, 200], 22, Reason::Reset, 64, 103));
        t.record(&res([198, 19, 0, 3], 443, Reason::SynAck, 64, 104));
        assert_eq!((t.hosts.v4.len(), t.hosts.v6.len()), (2, 2));
        let r = t.into_report(6);
        assert_eq!((r.up, r.down()), (4, 2));
        type Ports = Vec<(u16, PortState, Reason)>;
        let got: Vec<(String, Ports)> = r
            .hosts
            .iter()
            .map(|h| {
                let ports = h
                    .ports
                    .iter()
                    .map(|l| (l.port, l.state, l.reason))
                    .collect();
                (h.ip.to_string(), ports)
            })
            .collect();
        use PortState::*;
        assert_eq!(
            got,
            vec![
                ("198.19.0.3".into(), vec![(443, Open, Reason::SynAck)]),
                (
                    "198.19.0.200".into(),
                    vec![
                        (22, Closed, Reason::Reset),
                        (81, Filtered, Reason::NoResponse)
                    ]
                ),
                (
                    "2001:2:0:19::2".into(),
                    vec![(22, Filtered, Reason::NoRoute)]
                ),
                (
                    "2001:2:0:19::a".into(),
                    vec![
                        (80, Open, Reason::SynAck),
                        (81, Filtered, Reason::NoResponse)
                    ]
                ),
            ]
        );
    }

    #[test]
    fn a_covering_run_stores_nothing_for_silent_ipv6_hosts() {
        let ports = crate::targets::parse_ports("22,80").expect("ports");
        let mut t = HostTable::covering(&OutputOptions::default(), &ports.into());
        for last in 0..100u16 {
            for p in [22, 80] {
                t.record(&res6(last, p, Reason::NoResponse, 100));
            }
        }
        assert_eq!((t.host_count(), t.pending_count()), (0, 0));
        t.record(&res6(7, 443, Reason::SynAck, 101));
        assert_eq!((t.host_count(), t.pending_count()), (1, 0));
    }

    /// An ACK scan over every port: a host's resets (unfiltered) fold past the limit while
    /// its few silent ports (filtered), only counted before it replied, are named at the
    /// end as the ports it has no other result for.
    #[test]
    fn a_kinds_answered_state_folds_and_its_silent_ports_are_still_named() {
        use crate::probe::ProbeKind;
        let ports = crate::targets::parse_ports("1-40").expect("ports");
        let opts = OutputOptions::default();
        for kind in [ProbeKind::TcpSyn, ProbeKind::TcpAck] {
            let mut t = HostTable::covering(&opts, &ports.clone().into())
                .with_silence(Protocol::Tcp, kind.silence());
            let ip = [198, 19, 0, 9];
            let result = |port: u16, reason: Reason| PortResult {
                state: kind.verdict(reason),
                ..res(ip, port, reason, 64, 100)
            };
            // Silent first (only counted: the host has not replied), then 38 resets.
            for p in [39, 40] {
                assert!(!t.record(&PortResult {
                    state: kind.silence(),
                    ttl: 0,
                    ..result(p, Reason::NoResponse)
                }));
            }
            for p in 1..=38 {
                t.record(&result(p, Reason::Reset));
            }
            let h = t.into_report(1).hosts.remove(0);
            let listed: Vec<(u16, PortState)> = h.ports.iter().map(|l| (l.port, l.state)).collect();
            assert_eq!(
                listed,
                [(39, kind.silence()), (40, kind.silence())],
                "{kind:?}"
            );
            assert_eq!(h.hidden_total(kind.verdict(Reason::Reset)), 38, "{kind:?}");
        }
    }

    #[test]
    fn late_reply_picks_up_pending_no_response_and_silent_hosts_vanish() {
        let mut t = HostTable::new(&OutputOptions::default());
        t.record(&res([198, 19, 0, 5], 81, Reason::NoResponse, 0, 100));
        t.record(&res([198, 19, 0, 9], 81, Reason::NoResponse, 0, 100));
        t.record(&res([198, 19, 0, 5], 80, Reason::SynAck, 64, 101));
        t.record(&res([198, 19, 0, 5], 82, Reason::NoResponse, 0, 102));
        t.record(&res([198, 19, 0, 5], 22, Reason::Reset, 64, 103));
        let r = t.into_report(2);
        assert_eq!(r.up, 1);
        assert_eq!(r.down(), 1);
        assert_eq!(r.hosts.len(), 1);
        let h = &r.hosts[0];
        assert_eq!(
            (h.reason, h.ttl, h.start, h.end),
            (Reason::SynAck, 64, 101, 103)
        );
        let ports: Vec<(u16, PortState)> = h.ports.iter().map(|l| (l.port, l.state)).collect();
        assert_eq!(
            ports,
            vec![
                (22, PortState::Closed),
                (80, PortState::Open),
                (81, PortState::Filtered),
                (82, PortState::Filtered)
            ]
        );
        assert_eq!(h.hidden, vec![]);
        assert_eq!(h.scanned(), 4);
    }

    #[test]
    fn bound_counts_dropped_results() {
        let mut t = HostTable::with_limit(&OutputOptions::default(), 2);
        for p in 1..=5 {
            t.record(&res([198, 19, 0, 1], p, Reason::NoResponse, 0, 1));
        }
        t.record(&res([198, 19, 0, 1], 80, Reason::SynAck, 64, 1));
        let r = t.into_report(1);
        assert_eq!(r.not_kept, 3);
        assert_eq!(r.hosts[0].ports.len(), 3);
    }

    #[test]
    fn many_filtered_collapse_unless_shown_and_open_only_hides_hosts() {
        let mut opts = OutputOptions::default();
        let feed = |t: &mut HostTable| {
            t.record(&res([198, 19, 0, 1], 80, Reason::SynAck, 64, 1));
            for p in 1000..1030 {
                t.record(&res([198, 19, 0, 1], p, Reason::NoResponse, 0, 1));
            }
            t.record(&res([198, 19, 0, 1], 2000, Reason::AdminProhibited, 60, 1));
            t.record(&res([198, 19, 0, 2], 22, Reason::Reset, 64, 1));
        };
        let mut t = HostTable::new(&opts);
        feed(&mut t);
        let r = t.into_report(2);
        assert_eq!(r.hosts.len(), 2);
        assert_eq!(r.hosts[0].ports.len(), 1);
        assert_eq!(
            r.hosts[0].hidden,
            vec![
                Hidden {
                    protocol: crate::model::Protocol::Tcp,
                    state: PortState::Filtered,
                    reason: Reason::NoResponse,
                    count: 30
                },
                Hidden {
                    protocol: crate::model::Protocol::Tcp,
                    state: PortState::Filtered,
                    reason: Reason::AdminProhibited,
                    count: 1
                },
            ]
        );
        opts.show_filtered = true;
        let mut t = HostTable::new(&opts);
        feed(&mut t);
        assert_eq!(t.into_report(2).hosts[0].ports.len(), 32);
        opts.open_only = true;
        let mut t = HostTable::new(&opts);
        feed(&mut t);
        let r = t.into_report(2);
        assert_eq!(r.up, 2);
        assert_eq!(r.hosts.len(), 1);
        assert_eq!(r.hosts[0].ports.len(), 1);
        assert_eq!(r.hosts[0].hidden.len(), 2);
    }

    #[test]
    fn filtered_lists_stay_bounded_per_host() {
        let ip = [198, 19, 0, 1];
        for show in [false, true] {
            let opts = OutputOptions {
                show_filtered: show,
                ..Default::default()
            };
            let mut t = HostTable::new(&opts);
            for p in 1..=10 {
                t.record(&res(ip, p, Reason::NoResponse, 0, 1));
            }
            t.record(&res(ip, 80, Reason::SynAck, 64, 1));
            for p in 1000..1500 {
                let reason = if p % 2 == 0 {
                    Reason::NoResponse
                } else {
                    Reason::HostUnreach
                };
                t.record(&res(ip, p, reason, 64, 1));
            }
            let listed = t.hosts.get(IpAddr::from(ip)).map_or(0, |e| e.listed.len());
            if show {
                assert_eq!(listed, 501);
            } else {
                assert!(listed <= 1 + MAX_LISTED_PER_STATE as usize, "{listed}");
            }
            let r = t.into_report(1);
            let h = &r.hosts[0];
            assert_eq!(h.scanned(), 511);
            if !show {
                assert_eq!(h.ports.len(), 1);
                assert_eq!(h.hidden_total(PortState::Filtered), 510);
                assert_eq!(h.hidden_states(), 1);
                assert_eq!(
                    h.hidden,
                    vec![
                        Hidden {
                            protocol: crate::model::Protocol::Tcp,
                            state: PortState::Filtered,
                            reason: Reason::NoResponse,
                            count: 260
                        },
                        Hidden {
                            protocol: crate::model::Protocol::Tcp,
                            state: PortState::Filtered,
                            reason: Reason::HostUnreach,
                            count: 250
                        },
                    ]
                );
            }
        }
    }

    #[test]
    fn each_state_listed_up_to_nmaps_limit_then_folded() {
        let ip = [198, 19, 0, 1];
        // (closed ports, filtered ports) around the limit of 25 per state.
        for (closed, filtered) in [(25u16, 25u16), (26, 25), (25, 26), (26, 26), (300, 3)] {
            for show_closed in [false, true] {
                let opts = OutputOptions {
                    show_closed,
                    ..Default::default()
                };
                let mut t = HostTable::new(&opts);
                t.record(&res(ip, 80, Reason::SynAck, 64, 1));
                for p in 0..closed {
                    t.record(&res(ip, 1000 + p, Reason::Reset, 64, 1));
                }
                for p in 0..filtered {
                    t.record(&res(ip, 5000 + p, Reason::NoResponse, 0, 1));
                }
                let kept = t.hosts.get(IpAddr::from(ip)).map_or(0, |e| e.listed.len());
                let h = t.into_report(1).hosts.remove(0);
                let listed = |st: PortState| h.ports.iter().filter(|l| l.state == st).count();
                let want_closed = if show_closed || closed <= 25 {
                    closed
                } else {
                    0
                };
                let want_filtered = if filtered <= 25 { filtered } else { 0 };
                let case = format!("{closed} closed, {filtered} filtered, show {show_closed}");
                assert_eq!(listed(PortState::Open), 1, "{case}");
                assert_eq!(
                    listed(PortState::Closed),
                    usize::from(want_closed),
                    "{case}"
                );
                assert_eq!(
                    listed(PortState::Filtered),
                    usize::from(want_filtered),
                    "{case}"
                );
                assert_eq!(
                    h.hidden_total(PortState::Closed),
                    u64::from(closed - want_closed),
                    "{case}"
                );
                assert_eq!(
                    h.hidden_total(PortState::Filtered),
                    u64::from(filtered - want_filtered),
                    "{case}"
                );
                // Memory per host stays bounded unless every port was asked for.
                if !show_closed {
                    assert!(kept <= 1 + 2 * 26, "{case}: {kept}");
                }
            }
        }
    }

    #[test]
    fn hidden_states_in_nmap_order() {
        // More closed than filtered: closed first; then more filtered: filtered first.
        for (closed, filtered, first) in [
            (30u16, 27u16, PortState::Closed),
            (27, 30, PortState::Filtered),
            (28, 28, PortState::Closed),
        ] {
            let mut t = HostTable::new(&OutputOptions::default());
            t.record(&res([198, 19, 0, 1], 80, Reason::SynAck, 64, 1));
            for p in 0..closed {
                t.record(&res([198, 19, 0, 1], 100 + p, Reason::Reset, 64, 1));
            }
            for p in 0..filtered {
                t.record(&res([198, 19, 0, 1], 200 + p, Reason::NoResponse, 0, 1));
            }
            let r = t.into_report(1);
            assert_eq!(r.hosts[0].hidden[0].state, first, "{closed} {filtered}");
            assert_eq!(r.hosts[0].hidden_states(), 2);
        }
    }
}
