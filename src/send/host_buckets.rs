//! Hosts that ration their answers: each one's answer bucket (a rate and a burst, like
//! FreeBSD's RST limit or Linux's ICMP limit per peer) learned from the answers it returns
//! against the probes it was sent, and the pace that follows from it. Protocol-neutral:
//! TCP counts a host's SYN/ACKs and RSTs, UDP its ICMP port unreachables.
//!
//! A host is suspected when, over a second, it answers fewer than half the probes it was
//! sent: its bucket is then taken as the answers it gave (the rate from its latest half
//! second, the burst from its busiest tenth), and it is paced to it. Paced, a host that
//! rations its answers answers nearly every probe (confirmed; the rate then creeps up 10%
//! a second while it does, so a low first guess does not stick); a host that does not
//! (its ports are filtered, or the path drops) still answers few, and is let go for good.
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
/// Sends a second needs before its answered share means anything.
const MIN_SENT: u64 = 50;
/// Answers a second needs (fewer: the host is silent, not rationing).
const MIN_ANSWERED: u64 = 5;
/// Below this answered share over a second, a host is suspected of rationing.
const SUSPECT_SHARE: f64 = 0.5;
/// Paced, at or above this share a host is confirmed...
const CONFIRM_SHARE: f64 = 0.8;
/// ...and at or above this one its rate creeps up.
const CREEP_SHARE: f64 = 0.95;
/// Growth a second of a confirmed host's rate while it answers nearly every probe.
const CREEP: f64 = 1.10;
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
    /// Our model of the host's bucket: probes that may leave now.
    tokens: f64,
    refilled: Instant,
    /// When the standing was last judged.
    judged: Instant,
}

impl Host {
    fn new(now: Instant) -> Host {
        Host {
            slots: VecDeque::from([(0, 0)]),
            slot_start: now,
            standing: Standing::Plain,
            bucket: Bucket {
                rate: 0.0,
                burst: 0.0,
            },
            tokens: 0.0,
            refilled: now,
            judged: now,
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

    /// Tops the modelled bucket up to `now`.
    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + dt * self.bucket.rate * MARGIN).min(self.bucket.burst);
    }

    /// The complete slots of the last second: (sent, answered, the busiest slot's answers).
    fn second(&self) -> Option<(u64, u64, u64)> {
        if self.slots.len() <= SLOTS {
            return None;
        }
        let done = self.slots.iter().take(SLOTS);
        let (sent, answered) = done.clone().fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
        let busiest = done.map(|s| s.1).max().unwrap_or(0);
        Some((sent, answered, busiest))
    }

    /// Answers a second over the latest complete half second.
    fn recent_rate(&self) -> f64 {
        let n = SLOTS / 2;
        let answered: u64 = self.slots.iter().rev().skip(1).take(n).map(|s| s.1).sum();
        answered as f64 / (SLOT.as_secs_f64() * n as f64)
    }

    /// Judges the host on its last second, at most once a second.
    fn judge(&mut self, now: Instant) {
        if now.saturating_duration_since(self.judged) < SLOT * SLOTS as u32 {
            return;
        }
        let Some((sent, answered, busiest)) = self.second() else {
            return;
        };
        if sent < MIN_SENT {
            return;
        }
        self.judged = now;
        let share = answered as f64 / sent as f64;
        match self.standing {
            Standing::Plain if answered >= MIN_ANSWERED && share < SUSPECT_SHARE => {
                let rate = self.recent_rate().max(1.0);
                let burst = (busiest as f64 - rate * SLOT.as_secs_f64()).max(1.0);
                self.bucket = Bucket { rate, burst };
                self.standing = Standing::Suspected;
                // The host's bucket was just emptied by what we sent.
                self.tokens = 0.0;
                self.refilled = now;
                // Judged next on a second of paced sends only.
                self.slots.clear();
                self.slots.push_back((0, 0));
                self.slot_start = now;
            }
            Standing::Suspected | Standing::Rationed if share < SUSPECT_SHARE => {
                if self.standing == Standing::Suspected {
                    // Paced and still answering few: not its answers that are rationed.
                    self.standing = Standing::Cleared;
                } else {
                    // The host's rate fell: follow it down.
                    self.bucket.rate = self.recent_rate().max(1.0);
                }
            }
            Standing::Suspected | Standing::Rationed if share >= CONFIRM_SHARE => {
                self.standing = Standing::Rationed;
                if share >= CREEP_SHARE {
                    self.bucket.rate *= CREEP;
                }
            }
            _ => {}
        }
    }

    fn paced(&self) -> bool {
        matches!(self.standing, Standing::Suspected | Standing::Rationed)
    }
}

/// Every tracked host's answers and pace.
#[derive(Debug, Default)]
pub struct HostBuckets {
    hosts: HashMap<IpAddr, Host>,
}

impl HostBuckets {
    /// `n` probes left for `ip` at `now`. A host that never answered is not tracked.
    pub fn sent(&mut self, ip: IpAddr, now: Instant, n: u64) {
        if let Some(h) = self.hosts.get_mut(&ip) {
            h.roll(now);
            if let Some(s) = h.slots.back_mut() {
                s.0 += n;
            }
            h.judge(now);
        }
    }

    /// `ip` answered at `now` (an answer of its own, not a router's on its behalf).
    pub fn answered(&mut self, ip: IpAddr, now: Instant) {
        if !self.hosts.contains_key(&ip) && self.hosts.len() >= MAX_HOSTS {
            return;
        }
        let h = self.hosts.entry(ip).or_insert_with(|| Host::new(now));
        h.roll(now);
        if let Some(s) = h.slots.back_mut() {
            s.1 += 1;
        }
        h.judge(now);
    }

    /// Whether a probe to `ip` may leave at `now`; takes its token if so. Hosts not paced
    /// always may.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(h) = self.hosts.get_mut(&ip).filter(|h| h.paced()) else {
            return true;
        };
        h.refill(now);
        if h.tokens >= 1.0 {
            h.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When `ip`'s bucket is full again as of `now` (`now` for a host not paced): its
    /// silent probes are retried only then, so their silence is not the bucket's.
    pub fn refilled_at(&mut self, ip: IpAddr, now: Instant) -> Instant {
        let Some(h) = self.hosts.get_mut(&ip).filter(|h| h.paced()) else {
            return now;
        };
        h.refill(now);
        let missing = (h.bucket.burst - h.tokens).max(0.0);
        now + Duration::from_secs_f64(missing / (h.bucket.rate * MARGIN).max(1e-3))
    }

    /// The learned bucket of `ip`, when it is paced.
    pub fn bucket(&self, ip: IpAddr) -> Option<Bucket> {
        self.hosts.get(&ip).filter(|h| h.paced()).map(|h| h.bucket)
    }

    /// Hosts shown to ration their answers, with their buckets (for the report).
    pub fn rationed(&self) -> impl Iterator<Item = (IpAddr, Bucket)> + '_ {
        self.hosts
            .iter()
            .filter(|(_, h)| h.standing == Standing::Rationed)
            .map(|(ip, h)| (*ip, h.bucket))
    }

    /// Whether any host is paced (the sender then looks up each probe's host).
    pub fn any_paced(&self) -> bool {
        self.hosts.values().any(Host::paced)
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

    /// A scan of ports 1..=n of `host` at `pps`, the engine's way: new probes in order,
    /// each through the host's pace, a silent one retried once its try's timeout (`rto`)
    /// passed and the host's bucket refilled, called filtered after `tries` tries. Once the
    /// host is paced, only tries that left paced are evidence: those sent before it was
    /// found out met an empty bucket.
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
                    retries.push_back((b.refilled_at(ip, now).max(now), port, k));
                }
            }
            credit += pps * tick.as_secs_f64();
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
                if !b.admit(ip, now) {
                    // Held back: the same try waits for the next token, costing no rate.
                    retries.push_front((now + tick, port, k));
                    break;
                }
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
            credit = credit.min(pps * 0.01);
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
        // Paced, not flooded: a little over one probe a port.
        assert!(out.sent < 12_000, "sent {}", out.sent);
    }

    #[test]
    fn the_learned_bucket_is_the_hosts() {
        let mut host = RationingHost::new(200.0, 200.0);
        let t0 = Instant::now();
        let ip = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 5));
        let mut b = HostBuckets::default();
        // 10k pps at the host for 1.2 s, nothing paced yet.
        for i in 0..12_000u32 {
            let now = t0 + Duration::from_micros(100 * u64::from(i));
            b.sent(ip, now, 1);
            if host.answers(now, 1) {
                b.answered(ip, now);
            }
        }
        let bucket = b.bucket(ip).expect("a suspected host is paced");
        assert!((180.0..=220.0).contains(&bucket.rate), "{bucket:?}");
        assert!((150.0..=250.0).contains(&bucket.burst), "{bucket:?}");
        assert_eq!(b.rationed().count(), 0, "not yet shown at the pace");
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
        for i in 0..60_000u32 {
            let now = t0 + Duration::from_micros(100 * u64::from(i));
            if !b.admit(ip, now) {
                continue;
            }
            port = port % 10_000 + 1;
            b.sent(ip, now, 1);
            if host.answers(now, port) {
                b.answered(ip, now);
            }
            paced_once |= b.bucket(ip).is_some();
        }
        assert!(paced_once, "a low share is suspected first");
        assert_eq!(b.bucket(ip), None, "and let go when pacing changes nothing");
        assert_eq!(b.rationed().count(), 0);
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
        assert!(b.admit(ip, t0));
        assert_eq!(b.refilled_at(ip, t0), t0);
    }
}
