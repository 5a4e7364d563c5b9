//! Probe state: the in-flight window of positions ([`window`]), replies and outcomes, the
//! retry policy and the transitions to open, closed and filtered.
//!
//! Memory is bounded by rate x timeout, never by the size of the scan: a probe costs a bit
//! from its first send until its epoch is released.

pub mod compact;
pub(crate) mod epochs;
#[cfg(test)]
pub(crate) mod hash_table;
pub(crate) mod rtt;
pub(crate) mod window;
#[cfg(test)]
pub(crate) use hash_table::ProbeTable;

use crate::model::{PortResult, PortState, Protocol, Reason, Service};
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

/// A verified reply to one of our probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyEvent {
    /// The target address.
    pub ip: IpAddr,
    /// The service probed.
    pub service: Service,
    /// The state the reply puts the port in (the probe kind's verdict).
    pub state: PortState,
    /// Why.
    pub reason: Reason,
    /// TTL of the reply.
    pub ttl: u8,
    /// When it was captured.
    pub at: Instant,
}

/// Probes the table wants sent again: consecutive positions of one run, all on the same
/// try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resend {
    /// The positions in the order.
    pub positions: std::ops::Range<u64>,
    /// The try they go out as (0 is the first send, 1 the first retry).
    pub try_index: u8,
}

/// What the table decided about a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// A first answer: the probe's result, and whether it came only after a retry.
    Decided {
        /// The result.
        result: PortResult,
        /// True when the probe had been sent more than once.
        on_retry: bool,
        /// The release epoch the probe was tagged with at its first send.
        epoch: u8,
    },
    /// A reply for a probe already decided (duplicate or late), or never sent.
    Ignored,
}

/// Replies whose computed round trip exceeds this are stamped before their send (or
/// wrapped): no RTT sample.
pub(crate) const MAX_RTT_SAMPLE_US: u32 = 1 << 31;

/// Counters the table keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Replies that decided a probe.
    pub decided_by_reply: u64,
    /// Of those, how many came only after a retry.
    pub decided_on_retry: u64,
    /// Replies for probes already decided or never sent.
    pub ignored_replies: u64,
    /// Probes that used every try without an answer.
    pub timed_out: u64,
    /// Retries asked of the sender.
    pub retries_requested: u64,
}

/// How many times an unanswered probe is sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Exactly this many retransmissions (--retries N).
    Fixed(u32),
    /// From `min` up to `max` retransmissions, as many as the observed loss calls for.
    Adaptive {
        /// Retransmissions on a path that loses nothing.
        min: u32,
        /// Upper bound.
        max: u32,
    },
}

impl RetryPolicy {
    /// Sends a probe may get now, given the table's counters and the highest try that
    /// drew an answer (see [`ProbeTable::tries_allowed`]).
    pub(crate) fn tries_allowed(&self, stats: &TableStats, max_successful_try: u8) -> u8 {
        let (min, max) = match *self {
            RetryPolicy::Fixed(n) => return tries_of(n),
            RetryPolicy::Adaptive { min, max } => (tries_of(min), tries_of(max)),
        };
        let answered = stats.decided_by_reply;
        let from_loss = if answered >= MIN_ANSWERS_FOR_LOSS {
            // Of the answered probes, the share that needed a retry estimates the chance
            // that one try goes unanswered.
            let lost = (stats.decided_on_retry as f64 / answered as f64).min(0.9);
            if lost > 0.0 {
                (TARGET_MISS.ln() / lost.ln()).ceil().min(255.0) as u8
            } else {
                0
            }
        } else {
            0
        };
        max_successful_try
            .saturating_add(1)
            .max(from_loss)
            .clamp(min, max)
    }
}

/// Share of open ports a lossy path may hide at most under the adaptive policy.
const TARGET_MISS: f64 = 1e-4;
/// Answers needed before the measured loss share is trusted.
const MIN_ANSWERS_FOR_LOSS: u64 = 50;

/// Try numbers with their own timeout: try k waits rto x 2^(k-1), doubling stops after this
/// many steps (like TCP's retransmission backoff). Spacing retries out also gets past
/// targets that answer a repeated SYN at most every half second.
pub(crate) const BACKOFF_STEPS: usize = 4;

fn tries_of(retries: u32) -> u8 {
    u8::try_from(retries.saturating_add(1)).unwrap_or(u8::MAX)
}

pub(crate) fn backoff_step(try_no: u8) -> usize {
    usize::from(try_no.max(1) - 1).min(BACKOFF_STEPS - 1)
}

/// What a probe that used every try without an answer decides, per protocol: each
/// protocol's probe kind says (filtered for a SYN, open|filtered for UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Silence([PortState; Protocol::ALL.len()]);

impl Silence {
    /// The states `of` gives each protocol.
    pub fn new(of: impl Fn(Protocol) -> PortState) -> Silence {
        Silence(Protocol::ALL.map(of))
    }

    /// The outcomes for silence of a scan's probe kinds, one per protocol (a protocol no
    /// kind probes: filtered, never used).
    pub fn of_kinds(kinds: &[crate::probe::ProbeKind]) -> Silence {
        Silence::new(|p| {
            kinds
                .iter()
                .find(|k| k.protocol() == p)
                .map_or(PortState::Filtered, |k| k.silence())
        })
    }

    /// The state a silent probe of `protocol` gets.
    #[inline]
    pub fn of(&self, protocol: Protocol) -> PortState {
        self.0[usize::from(protocol.code())]
    }

    /// The no-response result of a silent probe of `service` on `ip`.
    pub fn result(&self, ip: impl Into<IpAddr>, service: Service, wall: SystemTime) -> PortResult {
        no_response(ip, service, self.of(service.protocol), wall)
    }
}

/// The result of a probe of `service` that used every try without an answer: `state` is
/// its probe kind's outcome for silence.
pub(crate) fn no_response(
    ip: impl Into<IpAddr>,
    service: Service,
    state: PortState,
    wall: SystemTime,
) -> PortResult {
    PortResult {
        ip: ip.into(),
        port: service.port,
        protocol: service.protocol,
        state,
        reason: Reason::NoResponse,
        ttl: 0,
        timestamp: wall,
    }
}
