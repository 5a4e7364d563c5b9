//! Token-bucket rate limiter; pure, with the clock passed in so tests control time.

use std::time::{Duration, Instant};

/// Grants packet budgets at a steady rate, refilled from elapsed time (never per packet).
#[derive(Clone, Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A limiter of `pps` packets per second whose bucket holds at most `burst` packets.
    pub fn new(pps: u64, burst: u32, now: Instant) -> Self {
        RateLimiter {
            per_sec: pps.max(1) as f64,
            burst: f64::from(burst.max(1)),
            tokens: 0.0,
            last: now,
        }
    }

    /// Changes the rate (and the bucket to match) from now on.
    pub fn set_rate(&mut self, pps: u64, max_batch: u32) {
        self.per_sec = pps.max(1) as f64;
        self.burst = f64::from(Self::burst_for(pps, max_batch).max(1));
        self.tokens = self.tokens.min(self.burst);
    }

    /// A bucket size that keeps batches large at high rates and sends smoothly at low ones:
    /// about 2 ms of packets, between 1 and `max_batch`.
    pub fn burst_for(pps: u64, max_batch: u32) -> u32 {
        let two_ms = (pps / 500).max(1);
        u32::try_from(two_ms).unwrap_or(u32::MAX).min(max_batch)
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.per_sec).min(self.burst);
    }

    /// Takes up to `want` packets of budget at `now`; returns how many were granted.
    pub fn grant(&mut self, now: Instant, want: u32) -> u32 {
        self.refill(now);
        let n = (self.tokens.floor() as u32).min(want);
        self.tokens -= f64::from(n);
        n
    }

    /// Gives back budget that was granted but not used.
    pub fn refund(&mut self, n: u32) {
        self.tokens = (self.tokens + f64::from(n)).min(self.burst);
    }

    /// How long until `n` packets of budget are available.
    pub fn wait_for(&self, n: u32) -> Duration {
        let missing = (f64::from(n) - self.tokens).max(0.0);
        Duration::from_secs_f64(missing / self.per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_elapsed_time() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1000, 100, t0);
        assert_eq!(r.grant(t0, 64), 0);
        assert_eq!(r.grant(t0 + Duration::from_millis(10), 64), 10);
        assert_eq!(r.grant(t0 + Duration::from_millis(10), 64), 0);
        // The bucket caps a long idle time at `burst`.
        assert_eq!(r.grant(t0 + Duration::from_secs(5), 1000), 100);
    }

    #[test]
    fn long_run_rate_is_exact_with_fine_steps() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(100_000, 256, t0);
        let mut sent = 0u64;
        // one simulated second in 37 us steps
        let mut t = t0;
        while t < t0 + Duration::from_secs(1) {
            t += Duration::from_micros(37);
            sent += u64::from(r.grant(t, 64));
        }
        // 27028 steps of 37 us = 1.000036 s at 100k pps: 100003.6 packets of budget.
        assert_eq!(sent, 100_003);
    }

    #[test]
    fn refund_and_wait() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1000, 10, t0);
        assert_eq!(r.wait_for(1), Duration::from_millis(1));
        assert_eq!(r.grant(t0 + Duration::from_millis(5), 5), 5);
        r.refund(2);
        assert_eq!(r.grant(t0 + Duration::from_millis(5), 5), 2);
        assert_eq!(RateLimiter::burst_for(1000, 256), 2);
        assert_eq!(RateLimiter::burst_for(10_000_000, 256), 256);
        assert_eq!(RateLimiter::burst_for(100, 256), 1);
    }
}
