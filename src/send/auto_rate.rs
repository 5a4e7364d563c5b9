//! The adaptive rate (the default): slow start clocked by answers, like TCP's. The rate
//! doubles every round trip while the share of probes answered on their first try holds,
//! and comes down when that share falls below the best seen (a queue overrun somewhere)
//! or the capture drops frames. Random path loss keeps the share steady whatever the
//! rate, so it does not pull the rate down; congestion makes the share fall as the rate
//! rises, so it does. ICMP errors from a hop on the path (a router) are not answers from
//! the targets: a router that turns the excess into unreachables makes the share fall
//! like a router that drops it, while a steady share of them (an unrouted block) does not
//! move the rate. A sparse sweep draws too few answers to judge by: then pilot probes
//! (re-probes of pairs that answered before, at a small share of the rate, see
//! [`super::pilots`]) are judged instead, whose answered share falls with the path's
//! drops just the same. A sweep in which nothing answered has no pilots either, and holds.
//! This machine's own drops (capture, interface, a full send queue) always back off. With
//! few new probes left to send (the scan's tail), the rate is not judged at all. The rate
//! reported at the end is the one it settled on while there were probes to send, with the
//! signal it judged by.
//! Pure: the caller passes time and the scan's running totals.

use crate::model::{RateSignal, PILOT_GENERATIONS};
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
/// Pilots a window needs to be judged by their share, in slow start...
const MIN_PILOTS: u64 = 16;
/// ...and after it, where a finer share holds the rate nearer a bottleneck.
const MIN_PILOTS_AVOIDANCE: u64 = 48;
/// Weight of a calm window's pilot share in the pilots' baseline when it is above the
/// baseline, and when below: the baseline follows a path's loss, while the falling share
/// of a path filling up does not drag it down before it counts as congestion.
const PILOT_BASELINE_UP: f64 = 0.5;
const PILOT_BASELINE_DOWN: f64 = 0.05;
/// A pilot share this far below the baseline means congestion: pilots are nearly all
/// answered on a clean path, so a smaller fall than the sweep's shows.
const PILOT_MARGIN: f64 = 0.05;
/// Pilots see congestion a window late (their answers are judged a window after they
/// left): the back-off goes this much further below what the path carried.
const PILOT_BACK_OFF: f64 = 0.9;
/// Pilots go out at this share of the rate while the sweep draws too few answers...
const PILOT_SHARE: f64 = 0.04;
/// ...and never faster than this.
pub const PILOT_MAX_PPS: f64 = 400.0;
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
    /// Frames this machine's own send path dropped or refused (interface drops, send
    /// stalls).
    pub local_drops: u64,
    /// Pilot probes sent, by generation.
    pub pilots_sent: [u64; PILOT_GENERATIONS],
    /// Answers to pilot probes, by the generation they answer.
    pub pilot_answers: [u64; PILOT_GENERATIONS],
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
    /// The pilots' usual share: the mean over windows that showed no congestion (pilots
    /// and the sweep are answered at other shares).
    pilot_baseline: Option<f64>,
    /// The generation this window's pilots belong to; each window's are judged, once
    /// their answers are back, at the end of the next.
    generation: u8,
    /// Pilots sent and answered of each generation when it last became current.
    pilot_base: [(u64, u64); PILOT_GENERATIONS],
    /// False once a window was judged by the sweep's own answers (pilots then stop),
    /// true again when a window lacks them.
    wants_pilots: bool,
    /// Windows to sit out after a change: its effect shows a round trip later.
    cool_down: u32,
    /// What the rate settled on, from the windows with probes to send.
    settled: Settled,
}

/// The rate a scan settled on: the time-weighted mean of the rate it held (what was sent,
/// when the senders fell short of the limit) after slow start, or the highest it held
/// when slow start never ended. Windows of the tail do not count. Its signal is the one
/// that judged most of those windows' time.
#[derive(Clone, Copy, Debug, Default)]
struct Settled {
    /// Rate x seconds summed over the windows after slow start.
    pps_secs: f64,
    secs: f64,
    /// Highest rate held in a slow-start window.
    peak: f64,
    /// Seconds of busy windows judged by the sweep's answers, and by the pilots'.
    by_answers: f64,
    by_pilots: f64,
}

impl Settled {
    fn note(&mut self, pps: f64, secs: f64, slow_start: bool, signal: Option<RateSignal>) {
        if slow_start {
            self.peak = self.peak.max(pps);
        } else {
            self.pps_secs += pps * secs;
            self.secs += secs;
        }
        match signal {
            Some(RateSignal::Answers) => self.by_answers += secs,
            Some(RateSignal::Pilots) => self.by_pilots += secs,
            _ => {}
        }
    }

    fn signal(&self) -> RateSignal {
        if self.by_answers == 0.0 && self.by_pilots == 0.0 {
            RateSignal::LocalDrops
        } else if self.by_answers >= self.by_pilots {
            RateSignal::Answers
        } else {
            RateSignal::Pilots
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
            pilot_baseline: None,
            generation: 0,
            pilot_base: [(0, 0); PILOT_GENERATIONS],
            wants_pilots: true,
            cool_down: 0,
            settled: Settled::default(),
        }
    }

    /// The rate settled on so far (the current rate before any window was judged).
    pub fn settled_pps(&self) -> u64 {
        self.settled.rate().map_or(self.pps(), |r| r.round() as u64)
    }

    /// The signal the settled rate was judged by.
    pub fn signal(&self) -> RateSignal {
        self.settled.signal()
    }

    /// The current rate.
    pub fn pps(&self) -> u64 {
        self.pps.round() as u64
    }

    /// How fast pilot probes should go out now: a small share of the rate while the sweep
    /// draws too few answers to judge by, else none.
    pub fn pilot_pps(&self) -> f64 {
        if self.wants_pilots {
            (self.pps * PILOT_SHARE).min(PILOT_MAX_PPS)
        } else {
            0.0
        }
    }

    /// The generation new pilots belong to.
    pub fn pilot_generation(&self) -> u8 {
        self.generation
    }

    /// New probes sent by `t` (as far as the history tells).
    fn sent_by(&self, t: Instant) -> u64 {
        let i = self.sends.partition_point(|&(at, _)| at <= t);
        match i {
            0 => self.sends.front().map_or(0, |s| s.1),
            _ => self.sends[i - 1].1,
        }
    }

    /// Pilots sent and answered of generation `g` since it became current.
    fn pilots_of(&self, t: &Totals, g: usize) -> (u64, u64) {
        let (sent, answered) = self.pilot_base[g];
        (
            t.pilots_sent[g].saturating_sub(sent),
            t.pilot_answers[g].saturating_sub(answered),
        )
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
        let local = t.capture_drops > self.at_start.capture_drops
            || t.local_drops > self.at_start.local_drops;
        if local {
            // This machine cannot take the replies, or send the probes: no need to wait
            // for the window.
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
        let g = usize::from(self.generation) % PILOT_GENERATIONS;
        let min_pilots = if self.slow_start {
            MIN_PILOTS
        } else {
            MIN_PILOTS_AVOIDANCE
        };
        // A window long enough for its own pilots to be judged at the end of the next.
        let enough = answers >= MIN_ANSWERS || self.pilots_of(t, g).0 >= min_pilots;
        if elapsed < rtt.clamp(MIN_WINDOW, MAX_WINDOW) || (!enough && elapsed < MAX_WINDOW) {
            return None;
        }
        // The answers of this window were sent one round trip earlier.
        let sent = self
            .sent_by(now.checked_sub(rtt).unwrap_or(now))
            .saturating_sub(self.sent_by(self.window_start.checked_sub(rtt).unwrap_or(now)));
        // The previous window's pilots, all sent a window ago: their answers are back.
        let (pilots, pilot_answers) =
            self.pilots_of(t, (g + PILOT_GENERATIONS - 1) % PILOT_GENERATIONS);
        let secs = elapsed.as_secs_f64();
        let actual = t.packets.saturating_sub(self.at_start.packets) as f64 / secs;
        let new_probes = t.new_probes.saturating_sub(self.at_start.new_probes) as f64;
        // New probes flowing: the sweep's first-try share means something. Probes flowing,
        // retries included: the pilots' share does (a tail of retries can overrun a path).
        let sweeping = new_probes >= TAIL_SHARE * self.pps * secs;
        let busy = actual >= TAIL_SHARE * self.pps;
        self.close_window(now, t);
        // The sweep's own answers judge when there are enough of them; else the pilots'.
        let judged = if sweeping && answers >= MIN_ANSWERS && sent > 0 {
            self.wants_pilots = false;
            let share = answers as f64 / sent as f64;
            Some((RateSignal::Answers, share, sent))
        } else {
            self.wants_pilots = true;
            (pilots >= MIN_PILOTS).then(|| {
                (
                    RateSignal::Pilots,
                    pilot_answers as f64 / pilots as f64,
                    pilots,
                )
            })
        };
        if sweeping {
            let signal = judged.map(|j| j.0);
            self.settled
                .note(self.pps.min(actual), secs, self.slow_start, signal);
        }
        if self.cool_down > 0 {
            self.cool_down -= 1;
            return None;
        }
        if !busy {
            return None; // the tail: nothing to judge the rate by
        }
        let Some((signal, share, n)) = judged else {
            return None; // too little to clock on: hold
        };
        // Answers counted late can make one window look better than every probe answered.
        let share = share.min(1.0);
        let congested = match signal {
            RateSignal::Pilots => self.pilots_congested(share, n),
            _ => self.answers_congested(share, n),
        };
        if let Some(carried) = congested {
            // What the path carried is about the share's fall times what was sent.
            self.back_off(actual, carried);
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

    /// Whether the sweep's first-try share `share` (of `n` probes) fell below the best seen
    /// by the margin and by more than counting noise (3 sigma); the share of the best the
    /// path carried, if so.
    fn answers_congested(&mut self, share: f64, n: u64) -> Option<f64> {
        let best = self
            .best_share
            .map_or(share, |b| (b * BEST_DECAY).max(share));
        self.best_share = Some(best);
        let sigma = (share * (1.0 - share).max(0.0) / n as f64).sqrt();
        (share < best * (1.0 - CONGESTION_MARGIN) - 3.0 * sigma).then(|| share / best)
    }

    /// Whether the pilots' share `share` (of `n` pilots) fell below their baseline by the
    /// margin and by more than the baseline's own counting noise (3 sigma and one pilot):
    /// pilots are nearly all answered on a clean path, so a few lost mean the path drops.
    /// A calm window moves the baseline; the share of it the path carried, if congested.
    fn pilots_congested(&mut self, share: f64, n: u64) -> Option<f64> {
        let base = *self.pilot_baseline.get_or_insert(share);
        let sigma = (base * (1.0 - base).max(0.0) / n as f64).sqrt();
        let floor = base * (1.0 - PILOT_MARGIN) - 3.0 * sigma - 1.0 / n as f64;
        if share < floor {
            return Some(PILOT_BACK_OFF * share / base.max(1e-9));
        }
        let weight = if share > base {
            PILOT_BASELINE_UP
        } else {
            PILOT_BASELINE_DOWN
        };
        self.pilot_baseline = Some(base + weight * (share - base));
        None
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
        // The next window's pilots are a generation of their own.
        let g = (usize::from(self.generation) + 1) % PILOT_GENERATIONS;
        self.generation = g as u8;
        self.pilot_base[g] = (t.pilots_sent[g], t.pilot_answers[g]);
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
            let none = (0, 0, [0u64; PILOT_GENERATIONS]);
            let mut in_flight: VecDeque<(u64, u64, [u64; PILOT_GENERATIONS])> =
                VecDeque::from(vec![none; lag]);
            let (mut carry, mut pilot_carry) = (0.0, 0.0);
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
                // Pilots re-probe pairs that answered: none before the first answer.
                if t.first_try_answers > 0 {
                    pilot_carry += c.pilot_pps() / 1000.0;
                }
                let pilots = pilot_carry.floor();
                pilot_carry -= pilots;
                let g = usize::from(c.pilot_generation());
                // The path carries what fits in its capacity, probes and pilots alike.
                let total = sent + pilots;
                let carried_share = (self.capacity / 1000.0 / total.max(1.0)).min(1.0);
                let (mut answers, mut errors) = (0, 0);
                let mut pilot_answers = [0u64; PILOT_GENERATIONS];
                for k in 0..total as u64 {
                    let pilot = k < pilots as u64;
                    if self.rand() >= carried_share {
                        if self.router_answers_excess && !pilot {
                            errors += 1;
                        }
                        continue;
                    }
                    if !pilot && self.rand() < self.path_errors {
                        errors += 1;
                        continue;
                    }
                    let lost = self.rand() < self.loss || self.rand() < self.loss;
                    if lost {
                        continue;
                    }
                    if pilot {
                        pilot_answers[g] += 1;
                    } else if self.rand() < self.answered {
                        answers += 1;
                    }
                }
                t.packets += total as u64;
                t.new_probes += sent as u64;
                t.pilots_sent[g] += pilots as u64;
                in_flight.push_back((answers, errors, pilot_answers));
                let (a, e, pa) = in_flight.pop_front().unwrap_or(none);
                // A router's unreachable decides its probe on the first try too.
                t.first_try_answers += a + e;
                t.path_errors += e;
                for (n, x) in t.pilot_answers.iter_mut().zip(pa) {
                    *n += x;
                }
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
    fn a_sweep_where_nothing_answers_holds_its_starting_rate() {
        // Nothing answers: no pilot has a pair to re-probe, nothing to clock on.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(f64::INFINITY, 0.0, 0.0, 1).run(&mut c, t0, 3);
        assert!(rates.iter().all(|&r| r == START_PPS));
        assert_eq!(c.signal(), RateSignal::LocalDrops);
        assert_eq!(c.settled_pps(), START_PPS);
    }

    #[test]
    fn a_sparse_sweep_on_a_clean_path_ramps_up_on_the_pilots() {
        // 1 probe in 1000 answered (10 answers a second at 10k pps): the sweep alone gives
        // too little to clock on, the pilots do; slow start doubles as on a dense sweep.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(f64::INFINITY, 0.0, 0.001, 1).run(&mut c, t0, 2);
        assert!(rates[999] >= 320_000, "{}", rates[999]);
        assert!(rates.iter().all(|&r| r <= 640_000));
        assert_eq!(c.signal(), RateSignal::Pilots);
        assert!(c.settled_pps() >= 320_000, "{}", c.settled_pps());
    }

    #[test]
    fn a_sparse_sweep_through_a_bottleneck_backs_off_on_the_pilots() {
        // 1% answered behind a 50k pps path: the pilots' share falls past it.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(50_000.0, 0.0, 0.01, 2).run(&mut c, t0, 8);
        let held = mean(&rates[3000..]);
        assert!((25_000.0..=52_000.0).contains(&held), "held {held}");
        assert!(rates[3000..].iter().all(|&r| r < 100_000), "runs away");
        let settled = c.settled_pps();
        assert!((25_000..=52_000).contains(&settled), "settled at {settled}");
        assert_eq!(c.signal(), RateSignal::Pilots);
    }

    #[test]
    fn random_loss_does_not_drag_a_sparse_sweep_down() {
        // 10% each way: a fifth of the pilots go unanswered at any rate.
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0, Bounds::default());
        let rates = path(f64::INFINITY, 0.10, 0.001, 20).run(&mut c, t0, 5);
        let held = mean(&rates[3000..]);
        assert!(held >= 200_000.0, "held {held}");
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
            ..Totals::default()
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
