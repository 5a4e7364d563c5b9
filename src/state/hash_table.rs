//! The probe table as a hash map keyed by address and port: the table the scan used before
//! the window of positions ([`super::window`]). It stays as the reference model that the
//! window table's differential test checks against, so it is compiled for tests only.

use super::rtt::RttEstimator;
use super::{
    backoff_step, no_response, ReplyEvent, ReplyOutcome, RetryPolicy, TableStats, BACKOFF_STEPS,
    MAX_RTT_SAMPLE_US,
};
use crate::model::{PortResult, PortState, Reason};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

/// A probe in flight, in 8 bytes: the window can hold a second of probes at 1M pps.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Microseconds since the table's epoch of the last send, wrapping (only differences
    /// of seconds are ever taken).
    last_sent_us: u32,
    tries: u8,
    /// A retry was asked of the sender and has not been sent yet.
    resend_pending: bool,
    /// Release epoch of the first send (see [`epochs`]); it fits in the padding.
    epoch: u8,
}

/// A result decided without a reply (timed out), with its probe's release epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// The result.
    pub result: PortResult,
    /// The release epoch of its probe.
    pub epoch: u8,
}

/// When a try falls due, in 16 bytes: the key (48 bits) with the try number on top.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    key_try: u64,
    /// Microseconds since the table's epoch.
    sent_us: u64,
}

impl Deadline {
    fn new(key: u64, try_no: u8, sent_us: u64) -> Deadline {
        Deadline {
            key_try: key | (u64::from(try_no) << 56),
            sent_us,
        }
    }

    fn key(&self) -> u64 {
        self.key_try & ((1 << 48) - 1)
    }

    fn try_no(&self) -> u8 {
        (self.key_try >> 56) as u8
    }
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

/// The in-flight window of a scan.
pub struct ProbeTable {
    entries: HashMap<u64, Entry, BuildHasherDefault<KeyHasher>>,
    /// One queue per try number: within a queue the timeout is the same, so deadlines
    /// fall in send order and only the fronts need looking at.
    deadlines: Vec<VecDeque<Deadline>>,
    policy: RetryPolicy,
    /// Highest try number that has drawn an answer (nmap's max_successful_tryno).
    max_successful_try: u8,
    /// Time zero of the compact stamps: the first send.
    epoch: Option<Instant>,
    rtt: RttEstimator,
    stats: TableStats,
}

impl ProbeTable {
    /// A table allowing exactly `retries` retransmissions per probe.
    pub fn new(retries: u32, rtt: RttEstimator) -> Self {
        Self::with_policy(RetryPolicy::Fixed(retries), rtt)
    }

    /// A table whose retransmissions follow `policy`.
    pub fn with_policy(policy: RetryPolicy, rtt: RttEstimator) -> Self {
        ProbeTable {
            entries: HashMap::default(),
            deadlines: (0..BACKOFF_STEPS).map(|_| VecDeque::new()).collect(),
            policy,
            max_successful_try: 0,
            epoch: None,
            rtt,
            stats: TableStats::default(),
        }
    }

    /// Records that a probe of release epoch `epoch` left for the first time at `at`.
    pub fn on_sent(&mut self, ip: Ipv4Addr, port: u16, at: Instant, epoch: u8) {
        self.record_send(key(ip, port), at, Some(epoch));
    }

    /// Records that a retry left at `at`; a probe decided since the retry was asked for
    /// stays decided.
    pub fn on_resent(&mut self, ip: Ipv4Addr, port: u16, at: Instant) {
        self.record_send(key(ip, port), at, None);
    }

    /// Microseconds from the epoch (set by the first send) to `at`.
    fn micros(&mut self, at: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(at);
        u64::try_from(at.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// `first` holds the epoch of a first send, None for a retry.
    fn record_send(&mut self, k: u64, at: Instant, first: Option<u8>) {
        let sent_us = self.micros(at);
        let entry = match self.entries.entry(k) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => match first {
                Some(epoch) => v.insert(Entry {
                    last_sent_us: 0,
                    tries: 0,
                    resend_pending: false,
                    epoch,
                }),
                None => return,
            },
        };
        entry.tries = entry.tries.saturating_add(1);
        entry.last_sent_us = sent_us as u32;
        entry.resend_pending = false;
        let try_no = entry.tries;
        self.deadlines[backoff_step(try_no)].push_back(Deadline::new(k, try_no, sent_us));
    }

    fn timeout_of_step(&self, step: usize) -> Duration {
        (self.rtt.rto() * (1u32 << step)).min(self.rtt.max_rto())
    }

    /// Decides a probe from a verified reply; duplicates and late replies are ignored.
    pub fn on_reply(&mut self, ev: &ReplyEvent, now: SystemTime) -> ReplyOutcome {
        let Some(entry) = self
            .entries
            .remove(&key(crate::targets::ipv4_only(ev.ip), ev.service.port))
        else {
            self.stats.ignored_replies += 1;
            return ReplyOutcome::Ignored;
        };
        if entry.tries == 1 {
            let rtt_us = (self.micros(ev.at) as u32).wrapping_sub(entry.last_sent_us);
            if rtt_us < MAX_RTT_SAMPLE_US {
                self.rtt.sample(Duration::from_micros(u64::from(rtt_us)));
            }
        }
        let on_retry = entry.tries > 1;
        self.max_successful_try = self.max_successful_try.max(entry.tries);
        self.stats.decided_by_reply += 1;
        if on_retry {
            self.stats.decided_on_retry += 1;
        }
        ReplyOutcome::Decided {
            result: PortResult {
                ip: ev.ip,
                port: ev.service.port,
                protocol: ev.service.protocol,
                state: ev.state,
                reason: ev.reason,
                ttl: ev.ttl,
                timestamp: now,
            },
            on_retry,
            epoch: entry.epoch,
        }
    }

    /// Expires probes whose timeout has passed: asks for retries while tries remain,
    /// otherwise decides them filtered (no-response).
    pub fn expire(
        &mut self,
        now: Instant,
        wall: SystemTime,
        retries: &mut Vec<(Ipv4Addr, u16)>,
        filtered: &mut Vec<Tagged>,
    ) {
        let max_tries = self.tries_allowed();
        let now_us = self.micros(now);
        for step in 0..BACKOFF_STEPS {
            let timeout_us = self.timeout_of_step(step).as_micros() as u64;
            while let Some(d) = self.deadlines[step].front().copied() {
                if d.sent_us + timeout_us > now_us {
                    break;
                }
                self.deadlines[step].pop_front();
                let Some(entry) = self.entries.get_mut(&d.key()) else {
                    continue; // answered already
                };
                if entry.tries != d.try_no() || entry.resend_pending {
                    continue; // a later try owns the deadline
                }
                let (ip, port) = unkey(d.key());
                if entry.tries < max_tries {
                    entry.resend_pending = true;
                    self.stats.retries_requested += 1;
                    retries.push((ip, port));
                } else {
                    let epoch = entry.epoch;
                    self.entries.remove(&d.key());
                    self.stats.timed_out += 1;
                    filtered.push(Tagged {
                        result: silent(ip, port, wall),
                        epoch,
                    });
                }
            }
        }
    }

    /// Sends a probe may get now. Adaptive: one more than the highest try that ever drew
    /// an answer (as nmap does), and enough that a path losing the measured share of tries
    /// hides fewer than TARGET_MISS of the open ports.
    pub fn tries_allowed(&self) -> u8 {
        self.policy
            .tries_allowed(&self.stats, self.max_successful_try)
    }

    /// Decides every probe still in the window filtered (end of the listening time).
    pub fn expire_all(&mut self, wall: SystemTime, filtered: &mut Vec<Tagged>) {
        self.deadlines.iter_mut().for_each(VecDeque::clear);
        for (k, e) in self.entries.drain() {
            let (ip, port) = unkey(k);
            self.stats.timed_out += 1;
            filtered.push(Tagged {
                result: silent(ip, port, wall),
                epoch: e.epoch,
            });
        }
        filtered.sort_by_key(|t| (t.result.ip, t.result.port));
    }

    /// When the oldest deadline falls, if any probe is waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        let epoch = self.epoch?;
        (0..BACKOFF_STEPS)
            .filter_map(|step| {
                self.deadlines[step]
                    .front()
                    .map(|d| epoch + Duration::from_micros(d.sent_us) + self.timeout_of_step(step))
            })
            .min()
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

/// The no-response result of a silent SYN probe of (ip, port): filtered.
fn silent(ip: std::net::Ipv4Addr, port: u16, wall: SystemTime) -> PortResult {
    no_response(
        ip,
        crate::model::Service::tcp(port),
        crate::model::PortState::Filtered,
        wall,
    )
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
            ip: A.into(),
            service: crate::model::Service::tcp(port),
            state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
            reason,
            ttl: 64,
            at,
        }
    }

    #[test]
    fn first_reply_decides_and_duplicates_are_ignored() {
        let t0 = Instant::now();
        let mut t = table(1);
        t.on_sent(A, 80, t0, 0);
        t.on_sent(A, 81, t0, 0);
        let out = t.on_reply(&reply(80, Reason::SynAck, t0), SystemTime::UNIX_EPOCH);
        match out {
            ReplyOutcome::Decided {
                result, on_retry, ..
            } => {
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
        t.on_sent(A, 22, t0, 0);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(99), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert!(re.is_empty() && filt.is_empty());
        t.expire(t0 + ms(100), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re, vec![(A, 22)]);
        // Until the retry is sent, expiring again asks for nothing more.
        t.expire(t0 + ms(500), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re.len(), 1);
        t.on_resent(A, 22, t0 + ms(500));
        // The second try waits twice the timeout (backoff).
        t.expire(t0 + ms(699), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re.len(), 1);
        t.expire(t0 + ms(700), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re.len(), 2);
        t.on_resent(A, 22, t0 + ms(700));
        assert_eq!(t.next_deadline(), Some(t0 + ms(1100)));
        t.expire(t0 + ms(1099), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert!(filt.is_empty());
        t.expire(t0 + ms(1100), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re.len(), 2);
        assert_eq!(filt.len(), 1);
        assert_eq!(
            (filt[0].result.port, filt[0].result.reason),
            (22, Reason::NoResponse)
        );
        assert!(t.is_empty());
        assert_eq!(t.stats().timed_out, 1);
    }

    #[test]
    fn a_retry_sent_after_the_reply_does_not_reopen_the_probe() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = table(1);
        t.on_sent(A, 80, t0, 0);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(100), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert_eq!(re, vec![(A, 80)]);
        // The reply wins the race with the retry the sender has queued.
        t.on_reply(
            &reply(80, Reason::Reset, t0 + ms(101)),
            SystemTime::UNIX_EPOCH,
        );
        t.on_resent(A, 80, t0 + ms(102));
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
        t.expire(t0 + ms(10_000), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        assert!(filt.is_empty(), "decided once, never filtered after");
    }

    #[test]
    fn reply_after_retry_counts_as_retry_yield() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = table(1);
        t.on_sent(A, 443, t0, 0);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(100), SystemTime::UNIX_EPOCH, &mut re, &mut filt);
        t.on_resent(A, 443, t0 + ms(100));
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

    #[test]
    fn expire_all_flushes_window() {
        let t0 = Instant::now();
        let mut t = table(0);
        t.on_sent(A, 2, t0, 0);
        t.on_sent(A, 1, t0, 0);
        let mut filt = Vec::new();
        t.expire_all(SystemTime::UNIX_EPOCH, &mut filt);
        let ports: Vec<u16> = filt.iter().map(|t| t.result.port).collect();
        assert_eq!(ports, vec![1, 2]);
        assert!(t.is_empty() && t.next_deadline().is_none());
    }

    fn adaptive() -> ProbeTable {
        let ms = Duration::from_millis;
        ProbeTable::with_policy(
            RetryPolicy::Adaptive { min: 1, max: 10 },
            RttEstimator::new(ms(100), ms(100), ms(1000)),
        )
    }

    /// Sends `n` probes on ports from `first`; answers each on try `answer_try` (the
    /// probe is sent that many times first).
    fn answered(t: &mut ProbeTable, first: u16, n: u16, answer_try: u8) {
        let t0 = Instant::now();
        for port in first..first + n {
            for _ in 0..answer_try {
                t.on_sent(A, port, t0, 0);
            }
            t.on_reply(&reply(port, Reason::Reset, t0), SystemTime::UNIX_EPOCH);
        }
    }

    #[test]
    fn adaptive_policy_starts_at_its_minimum() {
        assert_eq!(adaptive().tries_allowed(), 2);
        let mut t = adaptive();
        answered(&mut t, 1, 1000, 1);
        assert_eq!(t.tries_allowed(), 2, "a lossless path keeps one retry");
    }

    #[test]
    fn adaptive_policy_allows_one_more_than_the_latest_successful_try() {
        let mut t = adaptive();
        answered(&mut t, 1, 10, 1);
        answered(&mut t, 100, 1, 3);
        // Too few answers to trust the loss share; the try-3 answer alone allows 4.
        assert_eq!(t.tries_allowed(), 4);
    }

    #[test]
    fn adaptive_policy_grows_with_measured_loss_and_stops_at_its_maximum() {
        // 19% of tries unanswered (10% loss each way): ln(1e-4)/ln(0.19) = 5.5 -> 6 tries.
        let mut t = adaptive();
        answered(&mut t, 1, 810, 1);
        answered(&mut t, 1000, 190, 2);
        assert_eq!(t.tries_allowed(), 6);
        // 80% lost: 41 tries by the formula, capped at 1 + 10.
        let mut t = adaptive();
        answered(&mut t, 1, 20, 1);
        answered(&mut t, 1000, 80, 2);
        assert_eq!(t.tries_allowed(), 11);
        // A fixed policy ignores all of it.
        let mut t = table(1);
        answered(&mut t, 1, 20, 1);
        answered(&mut t, 1000, 80, 3);
        assert_eq!(t.tries_allowed(), 2);
    }

    #[test]
    fn late_reply_after_timeout_is_ignored() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let wall = SystemTime::UNIX_EPOCH;
        let mut t = table(0);
        t.on_sent(A, 25, t0, 0);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(100), wall, &mut re, &mut filt);
        assert_eq!(filt.len(), 1);
        assert_eq!(filt[0].result.state, PortState::Filtered);
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
        t.on_sent(A, 80, t0, 0);
        let stranger = ReplyEvent {
            ip: Ipv4Addr::new(198, 19, 0, 2).into(),
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
        t.on_sent(A, 443, t0, 0);
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
    fn decisions_carry_the_epoch_of_the_first_send() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let wall = SystemTime::UNIX_EPOCH;
        let mut t = table(1);
        t.on_sent(A, 1, t0, 7);
        t.on_sent(A, 2, t0, 200);
        let (mut re, mut filt) = (Vec::new(), Vec::new());
        t.expire(t0 + ms(100), wall, &mut re, &mut filt);
        // A retry keeps the first send's epoch.
        t.on_resent(A, 1, t0 + ms(100));
        t.on_resent(A, 2, t0 + ms(100));
        assert!(matches!(
            t.on_reply(&reply(1, Reason::Reset, t0 + ms(150)), wall),
            ReplyOutcome::Decided { epoch: 7, .. }
        ));
        t.expire(t0 + ms(300), wall, &mut re, &mut filt);
        assert_eq!(filt.len(), 1);
        assert_eq!((filt[0].result.port, filt[0].epoch), (2, 200));
    }

    #[test]
    fn entries_stay_compact_and_rtt_samples_are_exact() {
        assert_eq!(std::mem::size_of::<Entry>(), 8);
        assert_eq!(std::mem::size_of::<Deadline>(), 16);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = table(1);
        t.on_sent(A, 1, t0, 0);
        t.on_sent(A, 2, t0 + ms(5), 0);
        t.on_reply(
            &reply(2, Reason::Reset, t0 + ms(35)),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(t.srtt(), Some(ms(30)));
        // A reply stamped before its send gives no sample.
        t.on_sent(A, 3, t0 + ms(50), 0);
        t.on_reply(
            &reply(3, Reason::Reset, t0 + ms(40)),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(t.srtt(), Some(ms(30)));
        assert_eq!(t.next_deadline(), Some(t0 + ms(100)));
    }
}
