//! The probe table: the in-flight window only (sent, not answered, not expired), with
//! deadlines, retries and the transitions to open, closed and filtered.
//!
//! Memory is bounded by rate x timeout, never by the size of the scan: an entry lives from
//! its first send until it is answered or has used every try.

pub mod rtt;

use crate::model::{PortResult, PortState, Reason};
use rtt::RttEstimator;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

/// A verified reply to one of our probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyEvent {
    /// The target address.
    pub ip: Ipv4Addr,
    /// The target port.
    pub port: u16,
    /// What the reply says.
    pub reason: Reason,
    /// TTL of the reply.
    pub ttl: u8,
    /// When it was captured.
    pub at: Instant,
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
    },
    /// A reply for a probe already decided (duplicate or late), or never sent.
    Ignored,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    tries: u8,
    last_sent: Instant,
    /// A retry was asked of the sender and has not been sent yet.
    resend_pending: bool,
}

#[derive(Clone, Copy, Debug)]
struct Deadline {
    key: u64,
    sent: Instant,
    try_no: u8,
}

/// Multiply-shift hashing: the keys are already well spread (address and port).
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 ^= self.0 >> 32;
    }
}

fn key(ip: Ipv4Addr, port: u16) -> u64 {
    (u64::from(u32::from(ip)) << 16) | u64::from(port)
}

fn unkey(k: u64) -> (Ipv4Addr, u16) {
    (Ipv4Addr::from((k >> 16) as u32), k as u16)
}

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

/// The in-flight window of a scan.
pub struct ProbeTable {
    entries: HashMap<u64, Entry, BuildHasherDefault<KeyHasher>>,
    /// Probes answered while a retry asked of the sender had not left yet: when that retry
    /// is reported sent it must not open the probe again (it would be decided twice).
    answered_before_resend: HashSet<u64, BuildHasherDefault<KeyHasher>>,
    deadlines: VecDeque<Deadline>,
    max_tries: u8,
    rtt: RttEstimator,
    stats: TableStats,
}

impl ProbeTable {
    /// A table allowing `retries` retransmissions per probe.
    pub fn new(retries: u32, rtt: RttEstimator) -> Self {
        ProbeTable {
            entries: HashMap::default(),
            answered_before_resend: HashSet::default(),
            deadlines: VecDeque::new(),
            max_tries: u8::try_from(retries.saturating_add(1)).unwrap_or(u8::MAX),
            rtt,
            stats: TableStats::default(),
        }
    }

    /// Records that a probe (first try or retry) left at `at`.
    pub fn on_sent(&mut self, ip: Ipv4Addr, port: u16, at: Instant) {
        let k = key(ip, port);
        if self.answered_before_resend.remove(&k) {
            return; // the retry of a probe already decided
        }
        let entry = self.entries.entry(k).or_insert(Entry {
            tries: 0,
            last_sent: at,
            resend_pending: false,
        });
        entry.tries = entry.tries.saturating_add(1);
        entry.last_sent = at;
        entry.resend_pending = false;
        self.deadlines.push_back(Deadline {
            key: k,
            sent: at,
            try_no: entry.tries,
        });
    }

    /// Decides a probe from a verified reply; duplicates and late replies are ignored.
    pub fn on_reply(&mut self, ev: &ReplyEvent, now: SystemTime) -> ReplyOutcome {
        let k = key(ev.ip, ev.port);
        let Some(entry) = self.entries.remove(&k) else {
            self.stats.ignored_replies += 1;
            return ReplyOutcome::Ignored;
        };
        if entry.resend_pending {
            self.answered_before_resend.insert(k);
        }
        if entry.tries == 1 {
            if let Some(rtt) = ev.at.checked_duration_since(entry.last_sent) {
                self.rtt.sample(rtt);
            }
        }
        let on_retry = entry.tries > 1;
        self.stats.decided_by_reply += 1;
        if on_retry {
            self.stats.decided_on_retry += 1;
        }
        ReplyOutcome::Decided {
            result: PortResult {
                ip: ev.ip,
                port: ev.port,
                state: ev.reason.state(),
                reason: ev.reason,
                ttl: ev.ttl,
                timestamp: now,
            },
            on_retry,
        }
    }

    /// Expires probes whose timeout has passed: asks for retries while tries remain,
    /// otherwise decides them filtered (no-response).
    pub fn expire(
        &mut self,
        now: Instant,
        wall: SystemTime,
        retries: &mut Vec<(Ipv4Addr, u16)>,
        filtered: &mut Vec<PortResult>,
    ) {
        let rto = self.rtt.rto();
        while let Some(d) = self.deadlines.front().copied() {
            if d.sent + rto > now {
                break;
            }
            self.deadlines.pop_front();
            let Some(entry) = self.entries.get_mut(&d.key) else {
                continue; // answered already
            };
            if entry.tries != d.try_no || entry.resend_pending {
                continue; // a later try owns the deadline
            }
            let (ip, port) = unkey(d.key);
            if entry.tries < self.max_tries {
                entry.resend_pending = true;
                self.stats.retries_requested += 1;
                retries.push((ip, port));
            } else {
                self.entries.remove(&d.key);
                self.stats.timed_out += 1;
                filtered.push(no_response(ip, port, wall));
            }
        }
    }

    /// Decides every probe still in the window filtered (end of the listening time).
    pub fn expire_all(&mut self, wall: SystemTime, filtered: &mut Vec<PortResult>) {
        self.deadlines.clear();
        for (k, _) in self.entries.drain() {
            let (ip, port) = unkey(k);
            self.stats.timed_out += 1;
            filtered.push(no_response(ip, port, wall));
        }
        filtered.sort_by_key(|r| (r.ip, r.port));
    }

    /// When the oldest deadline falls, if any probe is waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|d| d.sent + self.rtt.rto())
    }

    /// Probes in the window.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no probe is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The current retry timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Counters so far.
    pub fn stats(&self) -> TableStats {
        self.stats
    }
}

fn no_response(ip: Ipv4Addr, port: u16, wall: SystemTime) -> PortResult {
    PortResult {
        ip,
        port,
        state: PortState::Filtered,
        reason: Reason::NoResponse,
        ttl: 0,
        timestamp: wall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);

    fn table(retries: u32) -> ProbeTable {
        let ms = Duration::from_millis;
        ProbeTable::new(retries, RttEstimator::new(ms(100), ms(100), ms(1000)))
    }

    fn reply(port: u16, reason: Reason, at: Instant) -> ReplyEvent {
        ReplyEvent {
            ip: A,
            port,
            reason,
            ttl: 64,
            at,
        }
    }

    #[test]
    fn first_reply_decides_and_duplicates_are_ignored() {
        let t0 = Instant::now();
        let mut t = table(1);
        t.on_sent(A, 80, t0);
        t.on_sent(A, 81, t0);
        let out = t.on_reply(&reply(80, Reason::SynAck, t0), SystemTime::UNIX_EPOCH);
        match out {
            ReplyOutcome::Decided { result, on_retry } => {
                assert_eq!(
                    (result.port, result.state, on_retry),
                    (80, PortState::Open, false)
                );
            }
            ReplyOutcome::Ignored => panic!("first reply must decide"),
        }
        assert_eq!(
            t.on_reply(&reply(80, Reason::SynAck, t0), SystemTime::UNIX_EPOCH),
            ReplyOutcome::Ignored
        );
        assert_eq!(
            t.on_reply(&reply(9999, Reason::Reset, t0), SystemTime::UNIX_EPOCH),
            ReplyOutcome::Ignored
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t.stats().ignored_replies, 2);
    }

    #[test]
    fn retries_then_filtered() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = table(2);
        t.on_sent(A, 22, t0);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(99), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert!(re.is_empty() && filt.is_empty());
        t.expire(t0 + ms(100), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re, vec![(A, 22)]);
        // Until the retry is sent, expiring again asks for nothing more.
        t.expire(t0 + ms(500), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re.len(), 1);
        t.on_sent(A, 22, t0 + ms(500));
        t.expire(t0 + ms(600), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re.len(), 2);
        t.on_sent(A, 22, t0 + ms(600));
        t.expire(t0 + ms(700), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re.len(), 2);
        assert_eq!(filt.len(), 1);
        assert_eq!((filt[0].port, filt[0].reason), (22, Reason::NoResponse));
        assert!(t.is_empty());
        assert_eq!(t.stats().timed_out, 1);
    }

    #[test]
    fn reply_after_retry_counts_as_retry_yield() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = table(1);
        t.on_sent(A, 443, t0);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(100), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        t.on_sent(A, 443, t0 + ms(100));
        let out = t.on_reply(
            &reply(443, Reason::Reset, t0 + ms(101)),
            SystemTime::UNIX_EPOCH,
        );
        assert!(matches!(out, ReplyOutcome::Decided { on_retry: true, .. }));
        assert_eq!(t.stats().decided_on_retry, 1);
        // The stale deadline of the answered probe is skipped.
        t.expire(t0 + ms(1000), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert!(filt.is_empty());
    }

    /// The reply decides the probe while the retry it asked for is still queued at the
    /// sender: that retry's send must not reopen the probe (it used to, and the pair was
    /// then reported a second time, open and then filtered).
    #[test]
    fn retry_sent_after_the_answer_does_not_reopen_the_probe() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let wall = SystemTime::UNIX_EPOCH;
        let mut t = table(1);
        t.on_sent(A, 80, t0);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(100), wall, &mut re, &mut filt);
        assert_eq!(re, vec![(A, 80)]);
        // The first try's SYN/ACK arrives before the retry leaves.
        let out = t.on_reply(&reply(80, Reason::SynAck, t0 + ms(101)), wall);
        assert!(matches!(
            out,
            ReplyOutcome::Decided {
                on_retry: false,
                ..
            }
        ));
        assert!(t.is_empty());
        // Now the retry leaves, and is answered.
        t.on_sent(A, 80, t0 + ms(102));
        assert!(t.is_empty(), "an answered probe came back to the window");
        assert_eq!(
            t.on_reply(&reply(80, Reason::SynAck, t0 + ms(103)), wall),
            ReplyOutcome::Ignored
        );
        // Nor does it time out into a second, filtered result.
        t.expire(t0 + ms(5000), wall, &mut re, &mut filt);
        t.expire_all(wall, &mut filt);
        assert!(filt.is_empty(), "{filt:?}");
        assert_eq!(re.len(), 1);
        assert_eq!(t.stats().decided_by_reply, 1);
        assert_eq!(t.stats().ignored_replies, 1);
        assert_eq!(t.next_deadline(), None);
        // A later, independent probe of the same pair (a new scan position) works as usual.
        t.on_sent(A, 80, t0 + ms(6000));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn late_reply_after_timeout_is_ignored() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let wall = SystemTime::UNIX_EPOCH;
        let mut t = table(0);
        t.on_sent(A, 25, t0);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(100), wall, &mut re, &mut filt);
        assert_eq!(filt.len(), 1);
        assert_eq!(filt[0].state, PortState::Filtered);
        // The SYN/ACK comes after the probe was given up: not a second result.
        for reason in [Reason::SynAck, Reason::Reset, Reason::AdminProhibited] {
            assert_eq!(
                t.on_reply(&reply(25, reason, t0 + ms(150)), wall),
                ReplyOutcome::Ignored
            );
        }
        assert_eq!(t.stats().ignored_replies, 3);
        assert_eq!(t.stats().decided_by_reply, 0);
    }

    #[test]
    fn replies_from_never_probed_addresses_are_ignored() {
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let mut t = table(1);
        t.on_sent(A, 80, t0);
        let stranger = ReplyEvent {
            ip: Ipv4Addr::new(198, 19, 0, 2),
            ..reply(80, Reason::SynAck, t0)
        };
        assert_eq!(t.on_reply(&stranger, wall), ReplyOutcome::Ignored);
        assert_eq!(t.len(), 1);
        assert_eq!(t.stats().ignored_replies, 1);
    }

    #[test]
    fn duplicates_of_every_kind_decide_once() {
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let mut t = table(2);
        t.on_sent(A, 443, t0);
        let mut decided = Vec::new();
        // A SYN/ACK, its retransmission, then an RST and an ICMP error for the same pair.
        for reason in [
            Reason::SynAck,
            Reason::SynAck,
            Reason::Reset,
            Reason::HostUnreach,
        ] {
            if let ReplyOutcome::Decided { result, .. } = t.on_reply(&reply(443, reason, t0), wall)
            {
                decided.push((result.port, result.state, result.reason));
            }
        }
        assert_eq!(decided, vec![(443, PortState::Open, Reason::SynAck)]);
        assert_eq!(t.stats().ignored_replies, 3);
    }

    #[test]
    fn expire_all_flushes_window() {
        let t0 = Instant::now();
        let mut t = table(0);
        t.on_sent(A, 2, t0);
        t.on_sent(A, 1, t0);
        let mut filt = Vec::new();
        t.expire_all(SystemTime::UNIX_EPOCH, &mut filt);
        let ports: Vec<u16> = filt.iter().map(|r| r.port).collect();
        assert_eq!(ports, vec![1, 2]);
        assert!(t.is_empty() && t.next_deadline().is_none());
    }
}
