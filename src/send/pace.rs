//! The pacer: how fast probes leave, in one type for the fixed, unlimited and adaptive
//! cases (masscan's throttler). The scan side owns a [`Pacer`] (it decides the rate and,
//! when adaptive, steers it from the scan's counters); each sender thread owns a
//! [`ThreadPacer`] that hands out its share of the rate as batch budgets.

use super::auto_rate::{AutoRate, Bounds, Totals};
use super::rate::RateLimiter;
use crate::model::ScanStats;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sending speed as the user asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// At most this many packets per second.
    Pps(u64),
    /// As fast as the send path allows.
    Max,
    /// Adaptive within the bounds (the default): grows while answers keep up, comes down
    /// on congestion.
    Auto(Bounds),
}

/// Rates a single sender thread meets easily; above, or at max, a second one (on a
/// machine with more than one core) overlaps the kernel's per-packet work.
const ONE_SENDER_MAX_PPS: u64 = 250_000;

/// Stands for "no limit" in the shared rate.
const UNLIMITED: u64 = u64::MAX;

/// The scan's rate: decided once from [`Rate`], steered when adaptive, shared with the
/// sender threads.
#[derive(Debug)]
pub struct Pacer {
    rate: Rate,
    controller: Option<AutoRate>,
    /// Packets per second all threads together may send ([`UNLIMITED`] for max).
    current: Arc<AtomicU64>,
}

impl Pacer {
    /// The pacer for `rate`, starting at `now`.
    pub fn new(rate: Rate, now: Instant) -> Pacer {
        let controller = match rate {
            Rate::Auto(bounds) => Some(AutoRate::new(now, bounds)),
            _ => None,
        };
        let start = match (rate, &controller) {
            (Rate::Pps(p), _) => p.max(1),
            (_, Some(c)) => c.pps(),
            _ => UNLIMITED,
        };
        Pacer {
            rate,
            controller,
            current: Arc::new(AtomicU64::new(start)),
        }
    }

    /// How many sender threads (each with its own socket) the rate calls for on a machine
    /// with `cores` cores.
    pub fn sender_threads(&self, cores: usize) -> usize {
        let fast = match self.rate {
            Rate::Max => true,
            Rate::Pps(p) => p > ONE_SENDER_MAX_PPS,
            Rate::Auto(bounds) => bounds.max > ONE_SENDER_MAX_PPS,
        };
        if fast && cores > 1 {
            2
        } else {
            1
        }
    }

    /// The pacer of one of `threads` sender threads, each sending `max_batch` packets at a
    /// time at most.
    pub fn thread_share(&self, threads: usize, max_batch: u32) -> ThreadPacer {
        ThreadPacer {
            current: Arc::clone(&self.current),
            threads: u64::try_from(threads.max(1)).unwrap_or(u64::MAX),
            seen: None,
            limiter: None,
            max_batch,
        }
    }

    /// Steers an adaptive rate from the scan's counters at `now`.
    pub fn observe(&mut self, now: Instant, stats: &ScanStats) {
        if let Some(c) = self.controller.as_mut() {
            let totals = Totals {
                packets: stats.packets_sent,
                new_probes: stats.new_probes,
                first_try_answers: stats.replies.saturating_sub(stats.replies_only_on_retry),
                capture_drops: stats.capture_drops,
                path_errors: stats.path_errors,
                srtt: stats.srtt,
                local_drops: stats.send_stalls + stats.tx_dropped,
                pilots_sent: stats.pilots_sent,
                pilot_answers: stats.pilot_answers,
            };
            if let Some(pps) = c.update(now, &totals) {
                self.current.store(pps, Ordering::Relaxed);
            }
        }
    }

    /// The rate in force (None: unlimited).
    pub fn pps(&self) -> Option<u64> {
        match self.current.load(Ordering::Relaxed) {
            UNLIMITED => None,
            p => Some(p),
        }
    }

    /// The rate the adaptive rate settled on while there were probes to send (None when
    /// the rate is fixed or unlimited).
    pub fn settled_pps(&self) -> Option<u64> {
        self.controller.as_ref().map(AutoRate::settled_pps)
    }

    /// What the adaptive rate settled on judging by (None when the rate is fixed or
    /// unlimited).
    pub fn rate_signal(&self) -> Option<crate::model::RateSignal> {
        self.controller.as_ref().map(AutoRate::signal)
    }

    /// How fast pilot probes should go out now (0 unless the rate is adaptive and the
    /// sweep draws too few answers to judge by).
    pub fn pilot_pps(&self) -> f64 {
        self.controller.as_ref().map_or(0.0, AutoRate::pilot_pps)
    }

    /// The generation new pilot probes belong to.
    pub fn pilot_generation(&self) -> u8 {
        self.controller
            .as_ref()
            .map_or(0, AutoRate::pilot_generation)
    }

    /// True when the rate follows the scan's counters.
    pub fn adaptive(&self) -> bool {
        self.controller.is_some()
    }
}

/// One sender thread's share of the scan's rate.
#[derive(Debug)]
pub struct ThreadPacer {
    current: Arc<AtomicU64>,
    threads: u64,
    /// The total rate the limiter was set for.
    seen: Option<u64>,
    limiter: Option<RateLimiter>,
    max_batch: u32,
}

impl ThreadPacer {
    /// Takes up to `want` packets of budget at `now`; 0 means wait ([`Self::wait`]).
    pub fn grant(&mut self, now: Instant, want: u32) -> u32 {
        let total = self.current.load(Ordering::Relaxed);
        if self.seen != Some(total) {
            self.seen = Some(total);
            if total == UNLIMITED {
                self.limiter = None;
            } else {
                let share = (total / self.threads).max(1);
                match self.limiter.as_mut() {
                    Some(l) => l.set_rate(share, self.max_batch),
                    None => {
                        self.limiter = Some(RateLimiter::new(
                            share,
                            RateLimiter::burst_for(share, self.max_batch),
                            now,
                        ))
                    }
                }
            }
        }
        match self.limiter.as_mut() {
            Some(l) => l.grant(now, want),
            None => want,
        }
    }

    /// Gives back budget that was granted but not used.
    pub fn refund(&mut self, n: u32) {
        if let Some(l) = self.limiter.as_mut() {
            l.refund(n);
        }
    }

    /// How long to sleep when a grant came back empty.
    pub fn wait(&self) -> Duration {
        self.limiter
            .as_ref()
            .map_or(Duration::ZERO, |l| l.wait_for(1))
            .max(Duration::from_micros(20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_in(p: &mut ThreadPacer, t0: Instant, ms: u64) -> u64 {
        (1..=ms)
            .map(|i| u64::from(p.grant(t0 + Duration::from_millis(i), 1000)))
            .sum()
    }

    #[test]
    fn a_fixed_rate_is_split_between_threads() {
        let t0 = Instant::now();
        let pacer = Pacer::new(Rate::Pps(10_000), t0);
        assert_eq!(pacer.pps(), Some(10_000));
        let mut a = pacer.thread_share(2, 256);
        let mut b = pacer.thread_share(2, 256);
        assert_eq!(a.grant(t0, 256), 0);
        assert_eq!(b.grant(t0, 256), 0);
        assert_eq!(
            (sent_in(&mut a, t0, 1000), sent_in(&mut b, t0, 1000)),
            (5000, 5000)
        );
    }

    #[test]
    fn max_grants_everything_and_uses_two_threads() {
        let t0 = Instant::now();
        let pacer = Pacer::new(Rate::Max, t0);
        assert_eq!(pacer.pps(), None);
        assert_eq!(pacer.thread_share(2, 256).grant(t0, 256), 256);
        assert_eq!((pacer.sender_threads(4), pacer.sender_threads(1)), (2, 1));
        let slow = Pacer::new(Rate::Pps(ONE_SENDER_MAX_PPS), t0);
        let fast = Pacer::new(Rate::Pps(ONE_SENDER_MAX_PPS + 1), t0);
        assert_eq!((slow.sender_threads(4), fast.sender_threads(4)), (1, 2));
    }

    #[test]
    fn an_adaptive_rate_reaches_the_threads() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(Rate::Auto(Bounds::default()), t0);
        assert!(pacer.adaptive());
        assert_eq!(pacer.pps(), Some(super::super::auto_rate::START_PPS));
        assert_eq!((pacer.sender_threads(2), pacer.sender_threads(1)), (2, 1));
        let mut share = pacer.thread_share(1, 256);
        share.grant(t0, 1);
        // 100 ms of 10k pps, every probe answered on its first try a millisecond later.
        let ms = Duration::from_millis;
        for i in 1..=100u64 {
            let stats = ScanStats {
                packets_sent: i * 10,
                new_probes: i * 10,
                replies: (i - 1) * 10,
                srtt: Some(ms(1)),
                ..ScanStats::default()
            };
            pacer.observe(t0 + ms(i), &stats);
        }
        assert_eq!(pacer.pps(), Some(20_000));
        // 20k pps: a bucket of 40, 20 a millisecond.
        assert_eq!(sent_in(&mut share, t0, 1000), 20_000);
    }
}
