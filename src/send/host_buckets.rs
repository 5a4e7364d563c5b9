//! Hosts that ration their answers: each one's answer bucket (a rate and a burst, like
//! FreeBSD's RST limit or Linux's ICMP limit per peer) learned from the answers it returns
//! against the probes it was sent, and the pace that follows from it. Protocol-neutral:
//! TCP counts a host's SYN/ACKs and RSTs, UDP its ICMP port unreachables.
//!
//! A host is suspected when, over its latest history (at least 300 ms and 50 probes, at
//! most a second), it answers fewer than half the probes it was sent: its bucket is then
//! taken as the answers it gave (the rate from its typical tenth of a second, the burst
//! from its busiest), and it is paced to it. Judged that soon, a host is found out before
//! the tries of its first probes run out. Paced, a host that rations its answers answers
//! nearly every probe (confirmed; the rate then creeps up while it answers all, so a low
//! first guess does not stick, and steps back when a few go unanswered); a host that does
//! not (its ports are filtered, or the path drops) still answers few, and is let go for
//! good. The scan's rate is capped so that each paced host gets its pace (see
//! [`HostBuckets::scan_cap`]); a silent probe of a paced host is no evidence yet (the
//! probe table retries it, see `Expired::held`).
//! Pure: the caller passes time. Memory: only hosts that answered, at most [`MAX_HOSTS`].

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Hosts tracked at most; a host beyond them is never paced.
pub const MAX_HOSTS: usize = 4096;
/// One slot of a host's history.
const SLOT: Duration = Duration::from_millis(100);
/// Slots kept: a second.
const SLOTS: usize = 10;
/// Complete slots a judgement needs at least, and the time between two.
const JUDGE_SLOTS: usize = 3;
/// Sends a second needs before its answered share means anything.
const MIN_SENT: u64 = 50;
/// Answers a second needs (fewer: the host is silent, not rationing).
const MIN_ANSWERED: u64 = 5;
/// Below this answered share over a second, a host is suspected of rationing.
const SUSPECT_SHARE: f64 = 0.5;
/// Paced, at or above this share a host is confirmed...
const CONFIRM_SHARE: f64 = 0.8;
/// ...at or above this one (every probe answered) its rate creeps up until the first probes
/// go unanswered, and then steps back when some do.
const CREEP_SHARE: f64 = 0.99;
/// Growth per judgement (about 10% a second) of a confirmed host's rate while it answers
/// every probe...
const CREEP: f64 = 1.03;
/// ...and the step back when a few go unanswered: the pace is at the host's edge.
const EASE: f64 = 0.97;
/// Pace this share of the learned rate: a little under the host's, so its bucket never
/// runs dry from our estimate's error.
const MARGIN: f64 = 0.95;

/// A host's answer bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Answers a second, steady.
    pub rate: f64,
    /// Answers at once from a full bucket.
    pub burst: f64,
}

/// Where a host stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Answers as sent (or not yet judged).
    Plain,
    /// Paced to its learned bucket, not yet shown to answer nearly all at that pace.
    Suspected,
    /// Paced, and answers nearly all: it rations its answers.
    Rationed,
    /// Suspected once and still answered few when paced: never paced again.
    Cleared,
}

#[derive(Debug)]
struct Host {
    /// (sent, answered) per slot, the newest last.
    slots: VecDeque<(u64, u64)>,
    slot_start: Instant,
    standing: Standing,
    bucket: Bucket,
    /// Probes sent to the host since it was first tracked...
    sent_total: u64,
    /// ...and the scan's total when it was: the host's share of the scan's probes is the
    /// first over the scan's since.
    scan_sent_from: u64,
    /// When the standing was last judged.
    judged: Instant,
    /// The pace found the host's edge: it creeps no more.
    settled: bool,
}

impl Host {
    fn new(now: Instant, scan_sent_from: u64) -> Host {
        Host {
            slots: VecDeque::from([(0, 0)]),
            slot_start: now,
            standing: Standing::Plain,
            bucket: Bucket {
                rate: 0.0,
                burst: 0.0,
            },
            sent_total: 0,
            scan_sent_from,
            judged: now,
            settled: false,
        }
    }

    /// Moves the history to the slot of `now`.
    fn roll(&mut self, now: Instant) {
        while now.saturating_duration_since(self.slot_start) >= SLOT {
            self.slot_start += SLOT;
            self.slots.push_back((0, 0));
            if self.slots.len() > SLOTS + 1 {
                self.slots.pop_front();
            }
            if now.saturating_duration_since(self.slot_start) > SLOT * SLOTS as u32 {
                // A long quiet: skip the empty slots at once.
                self.slots.clear();
                self.slots.push_back((0, 0));
                self.slot_start = now;
            }
        }
    }

    /// The complete slots (the current one is not): (sent, answered, the busiest slot's
    /// answers), once there are [`JUDGE_SLOTS`] of them.
    fn history(&self) -> Option<(u64, u64, u64)> {
        let complete = self.slots.len().saturating_sub(1);
        if complete < JUDGE_SLOTS {
            return None;
        }
        let done = self.slots.iter().take(complete);
        let (sent, answered) = done.clone().fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
        let busiest = done.map(|s| s.1).max().unwrap_or(0);
        Some((sent, answered, busiest))
    }

    /// Answers a second in the host's typical recent slot (the median of the newer half of
    /// the complete slots: a burst from a full bucket comes first, and is not the rate).
    fn typical_rate(&self) -> f64 {
        let complete = self.slots.len().saturating_sub(1);
        let newer = complete.div_ceil(2);
        let mut answered: Vec<u64> = self
            .slots
            .iter()
            .take(complete)
            .skip(complete - newer)
            .map(|s| s.1)
            .collect();
        answered.sort_unstable();
        let median = answered
            .get(answered.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0);
        median as f64 / SLOT.as_secs_f64()
    }

    /// Judges the host on its history, at most once every [`JUDGE_SLOTS`] slots.
    fn judge(&mut self, now: Instant) {
        if now.saturating_duration_since(self.judged) < SLOT * JUDGE_SLOTS as u32 {
            return;
        }
        let Some((sent, answered, busiest)) = self.history() else {
            return;
        };
        if sent < MIN_SENT {
            return;
        }
        self.judged = now;
        let share = answered as f64 / sent as f64;
        match self.standing {
            Standing::Plain if answered >= MIN_ANSWERED && share < SUSPECT_SHARE => {
                let rate = self.typical_rate().max(1.0);
                let burst = (busiest as f64 - rate * SLOT.as_secs_f64()).max(1.0);
                self.bucket = Bucket { rate, burst };
                self.standing = Standing::Suspected;
                self.restart_history(now);
            }
            Standing::Suspected | Standing::Rationed if share < SUSPECT_SHARE => {
                if self.standing == Standing::Suspected {
                    // Paced and still answering few: not its answers that are rationed.
                    self.standing = Standing::Cleared;
                } else {
                    // The host's rate fell: follow it down.
                    self.bucket.rate = self.typical_rate().max(1.0);
                }
            }
            Standing::Suspected | Standing::Rationed if share >= CONFIRM_SHARE => {
                self.standing = Standing::Rationed;
                match (share >= CREEP_SHARE, self.settled) {
                    (true, false) => self.bucket.rate *= CREEP,
                    (true, true) => return,
                    // The first probes unanswered: the last pace that had none is the
                    // host's, and the rate creeps no more.
                    (false, false) => {
                        self.bucket.rate /= CREEP;
                        self.settled = true;
                    }
                    (false, true) => self.bucket.rate *= EASE,
                }
                self.restart_history(now);
            }
            Standing::Suspected | Standing::Rationed => {
                // Paced too fast for it: pace what it answered.
                self.bucket.rate = self.typical_rate().max(1.0);
                self.restart_history(now);
            }
            _ => {}
        }
    }

    /// Forgets the history: the next judgement is of the pace from `now` on only.
    fn restart_history(&mut self, now: Instant) {
        self.slots.clear();
        self.slots.push_back((0, 0));
        self.slot_start = now;
    }

    fn paced(&self) -> bool {
        matches!(self.standing, Standing::Suspected | Standing::Rationed)
    }
}

/// Every tracked host's answers and pace.
#[derive(Debug, Default)]
pub struct HostBuckets {
    hosts: HashMap<IpAddr, Host>,
    /// Probes the scan sent to any host.
    sent_total: u64,
    /// Hosts paced now.
    paced: usize,
}

impl HostBuckets {
    /// `n` probes left for `ip` at `now` (every probe of the scan comes through here; a
    /// host that never answered is not tracked).
    pub fn sent(&mut self, ip: IpAddr, now: Instant, n: u64) {
        self.sent_total += n;
        if let Some(h) = self.hosts.get_mut(&ip) {
            h.sent_total += n;
            h.roll(now);
            if let Some(s) = h.slots.back_mut() {
                s.0 += n;
            }
            let was = h.paced();
            h.judge(now);
            self.paced = self.paced + usize::from(h.paced()) - usize::from(was);
        }
    }

    /// `n` probes left for hosts none of which is tracked (as many [`HostBuckets::sent`]
    /// calls, without naming each probe's host).
    pub fn sent_untracked(&mut self, n: u64) {
        self.sent_total += n;
    }

    /// True while no host is tracked (none answered).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// `ip` answered at `now` (an answer of its own, not a router's on its behalf).
    pub fn answered(&mut self, ip: IpAddr, now: Instant) {
        if !self.hosts.contains_key(&ip) && self.hosts.len() >= MAX_HOSTS {
            return;
        }
        let from = self.sent_total;
        let h = self.hosts.entry(ip).or_insert_with(|| Host::new(now, from));
        h.roll(now);
        if let Some(s) = h.slots.back_mut() {
            s.1 += 1;
        }
        let was = h.paced();
        h.judge(now);
        self.paced = self.paced + usize::from(h.paced()) - usize::from(was);
    }

    /// The scan's rate at which every paced host gets a little under its learned rate
    /// (None: no host is paced). A host's probes are spread evenly over the scan's order,
    /// so it gets its share of the scan's rate; the others are not held back in the end,
    /// since the scan lasts at least as long as the paced host's probes take anyway.
    pub fn scan_cap(&self) -> Option<f64> {
        if self.paced == 0 {
            return None;
        }
        self.hosts
            .values()
            .filter(|h| h.paced())
            .map(|h| {
                let scan = self.sent_total.saturating_sub(h.scan_sent_from).max(1);
                let share = (h.sent_total as f64 / scan as f64).clamp(1e-6, 1.0);
                h.bucket.rate * MARGIN / share
            })
            .min_by(f64::total_cmp)
    }

    /// Whether `ip` is paced: its silent probes are not yet evidence of anything.
    pub fn is_paced(&self, ip: IpAddr) -> bool {
        self.hosts.get(&ip).is_some_and(Host::paced)
    }

    /// The learned bucket of `ip`, when it is paced.
    #[cfg(test)]
    pub fn bucket(&self, ip: IpAddr) -> Option<Bucket> {
        self.hosts.get(&ip).filter(|h| h.paced()).map(|h| h.bucket)
    }

    /// Hosts shown to ration their answers, with their buckets (for the report), by address.
    pub fn rationed(&self) -> Vec<(IpAddr, Bucket)> {
        let mut out: Vec<_> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.standing == Standing::Rationed)
            .map(|(ip, h)| (*ip, h.bucket))
            .collect();
        out.sort_by_key(|r| r.0);
        out
    }

    /// Whether any host is paced.
    pub fn any_paced(&self) -> bool {
        self.paced > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::net::Ipv4Addr;

    /// A host that answers from a token bucket (rate a second, burst), the excess dropped.
    struct RationingHost {
        rate: f64,
        burst: f64,
        tokens: f64,
        at: Option<Instant>,
        /// Ports whose probes are dropped on the way (filtered): never answered.
        filtered: BTreeSet<u16>,
    }

    impl RationingHost {
        fn new(rate: f64, burst: f64) -> RationingHost {
            RationingHost {
                rate,
                burst,
                tokens: burst,
                at: None,
                filtered: BTreeSet::new(),
            }
        }

        fn answers(&mut self, now: Instant, port: u16) -> bool {
            if self.filtered.contains(&port) {
                return false;
            }
            if let Some(at) = self.at {
                let dt = now.saturating_duration_since(at).as_secs_f64();
                self.tokens = (self.tokens + dt * self.rate).min(self.burst);
            }
            self.at = Some(now);
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    /// What a scripted scan of one host's ports ended with.
    struct Outcome {
        /// Ports with an answer.
        answered: BTreeSet<u16>,
        /// Ports called filtered.
        filtered: BTreeSet<u16>,
        secs: f64,
        sent: u64,
    }

    /// A scan of ports 1..=n of `host` at `pps`, the engine's way: new probes in order at
    /// the scan's rate capped by [`HostBuckets::scan_cap`], a silent one retried once its
    /// try's timeout (`rto`) passed, called filtered after `tries` tries. Once the host is
    /// paced, only tries that left paced are evidence: those sent before it was found out
    /// met an empty bucket.
    fn scan(host: &mut RationingHost, n: u16, pps: f64, tries: u8, rto: Duration) -> Outcome {
        let t0 = Instant::now();
        let ip = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 5));
        let mut b = HostBuckets::default();
        let tick = Duration::from_millis(1);
        let mut next_new = 1u16;
        // (due, port, (tries so far, of them paced))
        let mut retries: VecDeque<(Instant, u16, (u8, u8))> = VecDeque::new();
        let mut waiting: VecDeque<(Instant, u16, (u8, u8))> = VecDeque::new();
        let (mut answered, mut filtered) = (BTreeSet::new(), BTreeSet::new());
        let mut sent = 0u64;
        let mut credit = 0.0;
        let mut now = t0;
        while answered.len() + filtered.len() < usize::from(n) {
            now += tick;
            assert!(now - t0 < Duration::from_secs(600), "the scan never ends");
            // Silent probes whose timeout passed wait for the bucket to refill.
            while let Some(&(due, port, k)) = waiting.front() {
                if due > now {
                    break;
                }
                waiting.pop_front();
                let evidence = if b.bucket(ip).is_some() { k.1 } else { k.0 };
                if evidence >= tries {
                    filtered.insert(port);
                } else {
                    retries.push_back((now, port, k));
                }
            }
            let rate = b.scan_cap().map_or(pps, |cap| cap.min(pps));
            credit = (credit + rate * tick.as_secs_f64()).min(rate * 0.01 + 1.0);
            while credit >= 1.0 {
                // Retries first (those due), then new probes.
                let (port, k) = match retries.front() {
                    Some(&(due, port, k)) if due <= now => {
                        retries.pop_front();
                        (port, k)
                    }
                    _ if next_new <= n => {
                        next_new += 1;
                        (next_new - 1, (0, 0))
                    }
                    _ => break,
                };
                credit -= 1.0;
                sent += 1;
                let paced = u8::from(b.bucket(ip).is_some());
                b.sent(ip, now, 1);
                if host.answers(now, port) {
                    b.answered(ip, now);
                    answered.insert(port);
                } else {
                    waiting.push_back((now + rto, port, (k.0 + 1, k.1 + paced)));
                }
            }
        }
        Outcome {
            answered,
            filtered,
            secs: (now - t0).as_secs_f64(),
            sent,
        }
    }

    #[test]
    fn a_host_with_a_200_per_second_bucket_is_paced_to_it_and_no_port_is_filtered() {
        let mut host = RationingHost::new(200.0, 200.0);
        let out = scan(&mut host, 10_000, 20_000.0, 3, Duration::from_millis(200));
        assert!(out.filtered.is_empty(), "{} filtered", out.filtered.len());
        assert_eq!(out.answered.len(), 10_000);
        // The floor: what the bucket holds, then 200 a second.
        let floor = (10_000.0 - 200.0) / 200.0;
        assert!(
            out.secs <= 1.1 * floor + 2.0,
            "{} s, floor {floor} s",
            out.secs
        );
        // Paced, not flooded: what left at full rate before the host was found out (0.3 s
        // and a turn), then a little over one probe a port.
        assert!(out.sent < 10_000 + 8_000 + 1_000, "sent {}", out.sent);
    }

    #[test]
    fn the_learned_bucket_is_the_hosts() {
        let mut host = RationingHost::new(200.0, 200.0);
        let t0 = Instant::now();
        let ip = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 5));
        let mut b = HostBuckets::default();
        // 10k pps at the host for 0.35 s: judged once, at 0.3 s.
        for i in 0..3_500u32 {
            let now = t0 + Duration::from_micros(100 * u64::from(i));
            b.sent(ip, now, 1);
            if host.answers(now, 1) {
                b.answered(ip, now);
            }
        }
        let bucket = b.bucket(ip).expect("a suspected host is paced");
        assert!((180.0..=220.0).contains(&bucket.rate), "{bucket:?}");
        assert!((150.0..=250.0).contains(&bucket.burst), "{bucket:?}");
        assert_eq!(b.rationed().len(), 0, "not yet shown at the pace");
        assert!(b.any_paced());
    }

    #[test]
    fn a_host_whose_ports_are_mostly_filtered_is_let_go() {
        // 98% of the host's ports dropped by a firewall, the rest answered at once: few
        // answers at any rate, so pacing it does not make it answer more.
        let mut host = RationingHost::new(1e9, 1e9);
        host.filtered = (1..=10_000).filter(|p| p % 50 != 0).collect();
        let t0 = Instant::now();
        let ip = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 6));
        let mut b = HostBuckets::default();
        let mut port = 0u16;
        let mut paced_once = false;
        let mut credit = 0.0;
        for i in 0..60_000u32 {
            let now = t0 + Duration::from_micros(100 * u64::from(i));
            // 10k a second, or the cap.
            credit += b.scan_cap().map_or(10_000.0, |c| c.min(10_000.0)) * 1e-4;
            if credit < 1.0 {
                continue;
            }
            credit -= 1.0;
            port = port % 10_000 + 1;
            b.sent(ip, now, 1);
            if host.answers(now, port) {
                b.answered(ip, now);
            }
            paced_once |= b.bucket(ip).is_some();
        }
        assert!(paced_once, "a low share is suspected first");
        assert_eq!(b.bucket(ip), None, "and let go when pacing changes nothing");
        assert_eq!(b.rationed().len(), 0);
        assert!(!b.any_paced());
    }

    #[test]
    fn hosts_that_answer_all_are_never_paced_and_the_map_is_bounded() {
        let t0 = Instant::now();
        let mut b = HostBuckets::default();
        for i in 0..(MAX_HOSTS as u32 + 100) {
            let ip = IpAddr::V4(Ipv4Addr::from(0xc613_0000 + i));
            for k in 0..100u32 {
                let now = t0 + Duration::from_millis(u64::from(k) * 20);
                b.sent(ip, now, 1);
                b.answered(ip, now);
            }
        }
        assert_eq!(b.hosts.len(), MAX_HOSTS);
        assert!(!b.any_paced());
        let ip = IpAddr::V4(Ipv4Addr::from(0xc613_0000));
        assert!(!b.is_paced(ip));
        assert_eq!(b.scan_cap(), None);
    }

    #[test]
    fn the_scan_is_capped_so_that_a_paced_host_gets_its_rate_over_its_share() {
        // Four hosts in turn at 8k a second; one answers 200 a second at most.
        let mut host = RationingHost::new(200.0, 200.0);
        let t0 = Instant::now();
        let ip = |i: u32| IpAddr::V4(Ipv4Addr::from(0xc613_0000 + i));
        let mut b = HostBuckets::default();
        for i in 0..2_800u32 {
            let now = t0 + Duration::from_micros(125 * u64::from(i));
            let to = ip(i % 4);
            b.sent(to, now, 1);
            if i % 4 != 0 || host.answers(now, 1) {
                b.answered(to, now);
            }
        }
        assert!(b.is_paced(ip(0)));
        assert!(!b.is_paced(ip(1)));
        // A quarter of the scan's probes go to it: 4 x 0.95 x its rate.
        let cap = b.scan_cap().expect("capped");
        assert!(
            (700.0..=830.0).contains(&cap),
            "{cap} {:?}",
            b.bucket(ip(0))
        );
    }
}
