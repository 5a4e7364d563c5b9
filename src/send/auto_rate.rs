//! `--rate auto`: raises the send rate while answers come on the first try and backs off
//! when the share of answers that needed a retry rises, as TCP's congestion control does
//! with its window. Pure: the caller passes time and the probe table's counters.

use std::time::{Duration, Instant};

/// Starting rate of an automatic run (packets per second).
pub const START_PPS: u64 = 10_000;
/// Lowest automatic rate.
pub const MIN_PPS: u64 = 1_000;
/// Highest automatic rate.
pub const MAX_PPS: u64 = 10_000_000;
/// Length of one judging window.
pub const WINDOW: Duration = Duration::from_millis(500);
/// Answers a window needs before its retry share means anything.
const MIN_ANSWERS: u64 = 30;
/// Retry share above which the rate comes down.
const BACK_OFF_ABOVE: f64 = 0.02;
/// Retry share below which the rate goes up.
const GROW_BELOW: f64 = 0.005;

/// The controller's state.
#[derive(Clone, Debug)]
pub struct AutoRate {
    pps: u64,
    window_start: Instant,
    answered: u64,
    on_retry: u64,
    /// Windows to sit out after a back-off: its effect shows only a timeout later.
    cool_down: u32,
}

impl AutoRate {
    /// A controller starting at `START_PPS` at `now`.
    pub fn new(now: Instant) -> AutoRate {
        AutoRate {
            pps: START_PPS,
            window_start: now,
            answered: 0,
            on_retry: 0,
            cool_down: 0,
        }
    }

    /// The current rate.
    pub fn pps(&self) -> u64 {
        self.pps
    }

    /// Feeds the table's running totals of answers and answers that needed a retry;
    /// returns the new rate when it changes.
    pub fn update(&mut self, now: Instant, answered: u64, on_retry: u64) -> Option<u64> {
        if now.saturating_duration_since(self.window_start) < WINDOW {
            return None;
        }
        let d_answered = answered.saturating_sub(self.answered);
        let d_retry = on_retry.saturating_sub(self.on_retry);
        if d_answered < MIN_ANSWERS {
            return None; // too little signal: keep collecting
        }
        self.window_start = now;
        self.answered = answered;
        self.on_retry = on_retry;
        if self.cool_down > 0 {
            self.cool_down -= 1;
            return None;
        }
        let share = d_retry as f64 / d_answered as f64;
        let old = self.pps;
        if share > BACK_OFF_ABOVE {
            self.pps = (self.pps * 7 / 10).max(MIN_PPS);
            self.cool_down = 1;
        } else if share < GROW_BELOW {
            self.pps = (self.pps + self.pps / 4).min(MAX_PPS);
        }
        (self.pps != old).then_some(self.pps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_while_clean_and_backs_off_on_retries() {
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0);
        let w = |i: u32| t0 + WINDOW * i;
        assert_eq!(c.update(w(0), 1000, 0), None, "a window must pass first");
        assert_eq!(c.update(w(1), 1000, 0), Some(12_500));
        assert_eq!(
            c.update(w(2), 2000, 2),
            Some(15_625),
            "0.2% retries still grows"
        );
        assert_eq!(
            c.update(w(3), 3000, 52),
            Some(10_937),
            "5% retries backs off"
        );
        assert_eq!(c.update(w(4), 4000, 152), None, "one window of cool-down");
        assert_eq!(c.update(w(5), 5000, 162), None, "1% retries holds the rate");
        assert_eq!(c.pps(), 10_937);
    }

    #[test]
    fn waits_for_enough_answers_and_stays_in_bounds() {
        let t0 = Instant::now();
        let mut c = AutoRate::new(t0);
        assert_eq!(
            c.update(t0 + WINDOW, 10, 0),
            None,
            "10 answers decide nothing"
        );
        let mut answered = 0;
        let mut retried = 0;
        for i in 1..200 {
            answered += 100;
            retried += 50;
            c.update(t0 + WINDOW * i, answered, retried);
        }
        assert_eq!(c.pps(), MIN_PPS);
        for i in 200..400 {
            answered += 100;
            c.update(t0 + WINDOW * i, answered, retried);
        }
        assert_eq!(c.pps(), MAX_PPS);
    }
}
