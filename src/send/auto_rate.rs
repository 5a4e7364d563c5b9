//! The adaptive rate (the default): slow start clocked by answers, like TCP's. The rate
//! doubles every round trip while the share of probes answered on their first try holds,
//! and comes down when that share falls below the best seen (a queue overrun somewhere)
//! or the capture drops frames. Random path loss keeps the share steady whatever the
//! rate, so it does not pull the rate down; congestion makes the share fall as the rate
//! rises, so it does. ICMP errors from a hop on the path (a router) are not answers from
//! the targets: a router that turns the excess into unreachables makes the share fall
//! like a router that drops it, while a steady share of them (an unrouted block) does not
//! move the rate. With too few answers to judge (a sparse sweep), the rate holds; with few
//! new probes left to send (the scan's tail), it is not judged at all. The rate reported
//! at the end is the one it settled on while there were probes to send.
//! Pure: the caller passes time and the scan's running totals.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Starting rate (packets per second), unless the bounds say otherwise.
pub const START_PPS: u64 = 10_000;
/// Lowest adaptive rate by default (--min-rate changes it).
pub const MIN_PPS: u64 = 1_000;
/// Highest adaptive rate by default (--max-rate changes it).
pub const MAX_PPS: u64 = 10_000_000;
/// Shortest judging window: below it a window holds too few answers to count, and the
/// receive batching and the table loop's turn (which delay an answer's counting beyond the
/// measured round trip) would skew the share while the rate doubles.
const MIN_WINDOW: Duration = Duration::from_millis(50);
/// Delay between an answer's capture and its counting by the table loop (receive batches,
/// the loop's turn), added to the round trip when matching answers to what was sent.
const COUNTING_LAG: Duration = Duration::from_millis(5);
/// Window while no round trip is measured yet.
const DEFAULT_WINDOW: Duration = Duration::from_millis(100);
/// Longest window: judged after this even with few answers (then the rate holds).
const MAX_WINDOW: Duration = Duration::from_secs(1);
/// First-try answers a window needs before its share means anything.
const MIN_ANSWERS: u64 = 100;
/// A window whose answered share is this far below the best seen means congestion.
const CONGESTION_MARGIN: f64 = 0.10;
/// The best share seen forgets this much per window, so a drifting mix of targets does
/// not leave a stale mark.
const BEST_DECAY: f64 = 0.998;
/// Back-off below the estimated carried rate on congestion.
const BACK_OFF: f64 = 0.9;
/// Back-off factor when the drop is slight (a tenth at least).
const MIN_BACK_OFF: f64 = 0.9;
/// Deepest single back-off (to a third).
const MAX_BACK_OFF: f64 = 0.33;
/// Back-off factor on capture drops.
const DROPS_BACK_OFF: f64 = 0.7;
/// Growth per window after the first congestion (before it, the rate doubles).
const AVOIDANCE_GROWTH: f64 = 1.1;
/// The rate grows only when the senders reached this share of it (else it is not the
/// rate that limits).
const BINDING_SHARE: f64 = 0.8;
/// Send history kept to find what was sent one round trip before a window.
const HISTORY: Duration = Duration::from_secs(4);
/// A window in which fewer new probes than this share of the rate went out is the tail
/// (few probes left) or a pause: what comes back then says nothing about the rate.
const TAIL_SHARE: f64 = 0.25;

/// Bounds of the adaptive rate (--min-rate, --max-rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Lowest rate.
    pub min: u64,
    /// Highest rate.
    pub max: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            min: MIN_PPS,
            max: MAX_PPS,
        }
    }
}

/// The scan's running totals the controller reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Frames sent, retries included.
    pub packets: u64,
    /// New probes sent.
    pub new_probes: u64,
    /// Answers that decided a probe on its first try.
    pub first_try_answers: u64,
    /// Frames the capture dropped.
    pub capture_drops: u64,
    /// ICMP errors sent by a hop on the path rather than the probed target.
    pub path_errors: u64,
    /// The smoothed round trip, once measured.
    pub srtt: Option<Duration>,
}

/// The controller's state.
#[derive(Clone, Debug)]
pub struct AutoRate {
    pps: f64,
    bounds: Bounds,
    slow_start: bool,
    window_start: Instant,
    at_start: Totals,
    /// (time, new probes sent by then), oldest first.
    sends: VecDeque<(Instant, u64)>,
    best_share: Option<f64>,
    /// Windows to sit out after a change: its effect shows a round trip later.
    cool_down: u32,
    /// What the rate settled on, from the windows with probes to send.
    settled: Settled,
}

/// The rate a scan settled on: the time-weighted mean of the rate it held (what was sent,
/// when the senders fell short of the limit) after slow start, or the highest it held
/// when slow start never ended. Windows of the tail do not count.
#[derive(Clone, Copy, Debug, Default)]
struct Settled {
    /// Rate x seconds summed over the windows after slow start.
    pps_secs: f64,
    secs: f64,
    /// Highest rate held in a slow-start window.
    peak: f64,
}

impl Settled {
    fn note(&mut self, pps: f64, secs: f64, slow_start: bool) {
        if slow_start {
            self.peak = self.peak.max(pps);
        } else {
            self.pps_secs += pps * secs;
            self.secs += secs;
        }
    }

    fn rate(&self) -> Option<f64> {
        if self.secs > 0.0 {
            Some(self.pps_secs / self.secs)
        } else {
            (self.peak > 0.0).then_some(self.peak)
        }
    }
}

impl AutoRate {
    /// A controller within `bounds`, starting at `now`.
    pub fn new(now: Instant, bounds: Bounds) -> AutoRate {
        let max = bounds.max.max(1);
        let min = bounds.min.clamp(1, max);
        AutoRate {
            pps: START_PPS.clamp(min, max) as f64,
            bounds: Bounds { min, max },
            slow_start: true,
            window_start: now,
            at_start: Totals::default(),
            sends: VecDeque::from([(now, 0)]),
            best_share: None,
            cool_down: 0,
            settled: Settled::default(),
        }
    }

    /// The rate settled on so far (the current rate before any window was judged).
    pub fn settled_pps(&self) -> u64 {
        self.settled.rate().map_or(self.pps(), |r| r.round() as u64)
    }

    /// The current rate.
    pub fn pps(&self) -> u64 {
        self.pps.round() as u64
    }

    /// New probes sent by `t` (as far as the history tells).
    fn sent_by(&self, t: Instant) -> u64 {
        let i = self.sends.partition_point(|&(at, _)| at <= t);
        match i {
            0 => self.sends.front().map_or(0, |s| s.1),
            _ => self.sends[i - 1].1,
        }
    }

    fn set(&mut self, pps: f64) {
        self.pps = pps.clamp(self.bounds.min as f64, self.bounds.max as f64);
    }

    /// Feeds the running totals at `now` (call it often: every loop turn); returns the new
    /// rate when it changes.
    pub fn update(&mut self, now: Instant, t: &Totals) -> Option<u64> {
        let old = self.pps();
        if self.sends.back().is_some_and(|&(at, _)| now > at) {
            self.sends.push_back((now, t.new_probes));
        }
        while self.sends.len() > 2
            && self.sends[1].0 + HISTORY < now
            && self.sends[1].0 < self.window_start
        {
            self.sends.pop_front();
        }
        let elapsed = now.saturating_duration_since(self.window_start);
        if t.capture_drops > self.at_start.capture_drops {
            // This machine cannot take the replies: no need to wait for the window.
            let actual = t.packets.saturating_sub(self.at_start.packets) as f64
                / elapsed.as_secs_f64().max(1e-3);
            if self.cool_down > 0 {
                self.cool_down -= 1;
            } else {
                self.back_off(actual, DROPS_BACK_OFF / BACK_OFF);
            }
            self.close_window(now, t);
            return (self.pps() != old).then_some(self.pps());
        }
        let rtt = t.srtt.map_or(DEFAULT_WINDOW, |r| r + COUNTING_LAG);
        // A router's unreachables decide probes but are not the targets' answers.
        let answers = t
            .first_try_answers
            .saturating_sub(self.at_start.first_try_answers)
            .saturating_sub(t.path_errors.saturating_sub(self.at_start.path_errors));
        if elapsed < rtt.clamp(MIN_WINDOW, MAX_WINDOW)
            || (answers < MIN_ANSWERS && elapsed < MAX_WINDOW)
        {
            return None;
        }
        // The answers of this window were sent one round trip earlier.
        let sent = self
            .sent_by(now.checked_sub(rtt).unwrap_or(now))
            .saturating_sub(self.sent_by(self.window_start.checked_sub(rtt).unwrap_or(now)));
        let secs = elapsed.as_secs_f64();
        let actual = t.packets.saturating_sub(self.at_start.packets) as f64 / secs;
        let new_probes = t.new_probes.saturating_sub(self.at_start.new_probes) as f64;
        let busy = new_probes >= TAIL_SHARE * self.pps * secs;
        self.close_window(now, t);
        if busy {
            self.settled
                .note(self.pps.min(actual), secs, self.slow_start);
        }
        if self.cool_down > 0 {
            self.cool_down -= 1;
            return None;
        }
        if !busy {
            return None; // the tail: nothing to judge the rate by
        }
        if answers < MIN_ANSWERS || sent == 0 {
            return None; // too little to clock on: hold
        }
        // Answers counted late can make one window look better than every probe answered.
        let share = (answers as f64 / sent as f64).min(1.0);
        let best = self
            .best_share
            .map_or(share, |b| (b * BEST_DECAY).max(share));
        self.best_share = Some(best);
        // Below the best by the margin and by more than counting noise (3 sigma).
        let sigma = (share * (1.0 - share).max(0.0) / sent as f64).sqrt();
        if share < best * (1.0 - CONGESTION_MARGIN) - 3.0 * sigma {
            // What the path carried is about the share's fall times what was sent.
            self.back_off(actual, share / best);
        } else if actual >= self.pps * BINDING_SHARE {
            let factor = if self.slow_start {
                2.0
            } else {
                AVOIDANCE_GROWTH
            };
            self.set(self.pps * factor);
        }
        (self.pps() != old).then_some(self.pps())
    }

    /// Comes down from what was actually sent (when the senders fell short of the rate),
    /// scaled by `carried` (the share of it the path seems to carry), by at least a tenth
    /// and at most to a third.
    fn back_off(&mut self, actual: f64, carried: f64) {
        let from = self.pps.min(actual.max(self.pps / 2.0));
        self.set(from * (carried * BACK_OFF).clamp(MAX_BACK_OFF, MIN_BACK_OFF));
        self.slow_start = false;
        self.cool_down = 1;
    }

    fn close_window(&mut self, now: Instant, t: &Totals) {
        self.window_start = now;
        self.at_start = *t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated path, stepped every millisecond: the senders manage at most
    /// `sender_max` pps, the path carries `capacity` pps (the excess is lost, or answered
    /// by the router with unreachables when `router_answers_excess`), every probe is
    /// answered unless lost (`loss` each way), after `rtt`; `path_errors` of the carried
    /// probes are answered by a router's unreachable whatever the rate.
    struct Path {
        sender_max: f64,
        capacity: f64,
        loss: f64,
        answered: f64,
        rtt: Duration,
        seed: u64,
        router_answers_excess: bool,
        path_errors: f64,
        /// New probes a second from the given millisecond of a run on (the tail of a scan).
        tail: Option<(u64, f64)>,
    }

    impl Path {
        fn rand(&mut self) -> f64 {
            // xorshift64*
            self.seed ^= self.seed >> 12;
            self.seed ^= self.seed << 25;
            self.seed ^= self.seed >> 27;
            (self.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Runs `secs` seconds; returns the rate at each millisecond.
        fn run(&mut self, c: &mut AutoRate, t0: Instant, secs: u64) -> Vec<u64> {
            let ms = Duration::from_millis(1);
            // Answers are counted the counting lag after they arrive, as in the table loop.
            let lag = ((self.rtt + COUNTING_LAG).as_millis() as usize).max(1);
            let mut t = Totals {
                srtt: Some(self.rtt),
                ..Totals::default()
            };
            let mut in_flight: VecDeque<(u64, u64)> = VecDeque::from(vec![(0, 0); lag]);
            let mut carry = 0.0;
            let mut rates = Vec::new();
            for i in 1..=secs * 1000 {
                let now = t0 + ms * i as u32;
                let mut pps = c.pps().min(self.sender_max as u64) as f64;
                if let Some((from, left)) = self.tail {
                    if i >= from {
                        pps = pps.min(left);
                    }
                }
                carry += pps / 1000.0;
                let sent = carry.floor();
                carry -= sent;
                let carried = sent.min(self.capacity / 1000.0);
                let (mut answers, mut errors) = (0, 0);
                if self.router_answers_excess {
                    errors += (sent - carried) as u64;
                }
                for _ in 0..carried as u64 {
                    if self.rand() < self.path_errors {
                        errors += 1;
                        continue;
                    }
                    let lost = self.rand() < self.loss || self.rand() < self.loss;
                    if !lost && self.rand() < self.answered {
                        answers += 1;
                    }
                }
                t.packets += sent as u64;
                t.new_probes += sent as u64;
                in_flight.push_back((answers, errors));
                let (a, e) = in_flight.pop_front().unwrap_or((0, 0));
                // A router's unreachable decides its probe on the first try too.
                t.first_try_answers += a + e;
                t.path_errors += e;
                c.update(now, &t);
                rates.push(c.pps());
            }
            rates
        }
    }

    fn path(capacity: f64, loss: f64, answered: f64, rtt_ms: u64) -> Path {
        Path {
            sender_max: 400_000.0,
            capacity,
            loss,
            answered,
            rtt: Duration::from_millis(rtt_ms),
            seed: 0x9e37_79b9_7f4a_7c15,
            router_answers_excess: false,
            path_errors: 0.0,
            tail: None,
        }
    }

    fn mean(v: &[u64]) -> f64 {
        v.iter().sum::<u64>() as f64 / v.len() as f64
    }

    #[test]
    fn a_clean_path_grows_to_what_the_senders_manage_within_a_third_of_a_second() {
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(f64::INFINITY, 0.0, 1.0, 1).run(&mut c, t0, 1);
        // 10k doubles every 50 ms window while the senders keep up: 320k by 250 ms, then
        // it stops growing at 640k since the senders manage 400k.
        assert!(rates[299] >= 320_000, "{}", rates[299]);
        assert!(
            rates.iter().all(|&r| r <= 640_000),
            "{:?}",
            rates.iter().max()
        );
        assert!(rates[999] >= 320_000);
    }

    #[test]
    fn a_path_with_a_capacity_settles_near_it() {
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(50_000.0, 0.0, 1.0, 2).run(&mut c, t0, 5);
        let settled = mean(&rates[2000..]);
        assert!(
            (35_000.0..=65_000.0).contains(&settled),
            "settled at {settled}"
        );
        assert!(rates[2000..].iter().all(|&r| r < 150_000), "runs away");
    }

    #[test]
    fn random_loss_does_not_drag_the_rate_down() {
        // 10% each way (19% of tries unanswered), 50 ms round trip, 30% of probes answered.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(f64::INFINITY, 0.10, 0.3, 50).run(&mut c, t0, 5);
        let settled = mean(&rates[3000..]);
        assert!(settled >= 200_000.0, "settled at {settled}");
    }

    #[test]
    fn random_loss_and_a_capacity_settle_near_the_capacity() {
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(80_000.0, 0.10, 1.0, 20).run(&mut c, t0, 6);
        let settled = mean(&rates[3000..]);
        assert!(
            (50_000.0..=110_000.0).contains(&settled),
            "settled at {settled}"
        );
    }

    #[test]
    fn a_router_that_answers_the_excess_with_unreachables_settles_near_its_capacity() {
        // Every probe above 50k pps comes back as a router's host unreachable: the probes
        // are all decided on their first try, but the targets' share falls.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let mut p = path(50_000.0, 0.0, 1.0, 2);
        p.router_answers_excess = true;
        let rates = p.run(&mut c, t0, 5);
        let settled = mean(&rates[2000..]);
        assert!(
            (35_000.0..=65_000.0).contains(&settled),
            "settled at {settled}"
        );
        assert!(rates[2000..].iter().all(|&r| r < 150_000), "runs away");
    }

    #[test]
    fn a_steady_share_of_router_unreachables_does_not_hold_the_rate_back() {
        // 30% of probes go to an unrouted block whose router answers each, at any rate.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let mut p = path(f64::INFINITY, 0.0, 1.0, 1);
        p.path_errors = 0.3;
        let rates = p.run(&mut c, t0, 1);
        assert!(rates[299] >= 320_000, "{}", rates[299]);
        assert!(rates[999] >= 320_000, "{}", rates[999]);
    }

    #[test]
    fn the_settled_rate_is_held_through_the_tail() {
        // A 50k path for 3 s, then the last probes trickle out at 2k pps to targets that
        // answer half as often: the tail is not judged, and the settled rate is the mean
        // held after slow start.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let mut p = path(50_000.0, 0.0, 1.0, 2);
        let rates = p.run(&mut c, t0, 3);
        let held = mean(&rates[1500..]);
        let before_tail = c.pps();
        p.tail = Some((1, 2_000.0));
        p.answered = 0.5;
        let tail = p.run(&mut c, t0 + Duration::from_secs(3), 1);
        assert!(tail.iter().all(|&r| r == before_tail), "judged the tail");
        let settled = c.settled_pps() as f64;
        assert!(
            (35_000.0..=55_000.0).contains(&settled),
            "settled at {settled}"
        );
        assert!((settled - held).abs() < held * 0.15, "{settled} vs {held}");
    }

    #[test]
    fn the_settled_rate_of_a_scan_that_never_left_slow_start_is_its_peak() {
        // A clean path with senders that manage 400k: the rate doubles to 640k, but what
        // left was 400k at most.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        assert_eq!(c.settled_pps(), START_PPS, "before any window");
        path(f64::INFINITY, 0.0, 1.0, 1).run(&mut c, t0, 1);
        let settled = c.settled_pps();
        assert!((320_000..=400_000).contains(&settled), "{settled}");
    }

    #[test]
    fn a_sparse_sweep_holds_the_starting_rate() {
        // 1 probe in 10 000 answered: 1 answer a second at 10k pps, nothing to clock on.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(f64::INFINITY, 0.0, 0.0001, 1).run(&mut c, t0, 3);
        assert!(rates.iter().all(|&r| r == START_PPS));
    }

    #[test]
    fn bounds_hold_and_capture_drops_back_off_at_once() {
        let t0 = Instant::now();
        let bounds = Bounds {
            min: 20_000,
            max: 100_000,
        };
        let mut c = AutoRate::new(t0, bounds);
        assert_eq!(
            c.pps(),
            20_000,
            "starts at the floor when above the default start"
        );
        let rates = path(f64::INFINITY, 0.0, 1.0, 1).run(&mut c, t0, 1);
        assert_eq!(*rates.iter().max().unwrap_or(&0), 100_000);
        let ms = Duration::from_millis;
        let t = Totals {
            packets: 1_000_000,
            new_probes: 1_000_000,
            first_try_answers: 1_000_000,
            capture_drops: 5,
            path_errors: 0,
            srtt: Some(ms(1)),
        };
        assert_eq!(c.update(t0 + ms(1001), &t), Some(70_000));
        let mut low = AutoRate::new(t0, Bounds { min: 1, max: 5_000 });
        assert_eq!(low.pps(), 5_000);
        low.update(t0 + ms(1), &t);
        assert_eq!(low.pps(), 3_500);
        // Drops every millisecond: one back-off, then a window of cool-down (the window
        // then closes at each drop and the cool-down ends at the next one), and so on.
        for i in 2..100 {
            let t = Totals {
                capture_drops: 5 + i,
                ..t
            };
            low.update(t0 + ms(i), &t);
        }
        assert_eq!(low.pps(), 1, "never below --min-rate, never 0");
    }
}
