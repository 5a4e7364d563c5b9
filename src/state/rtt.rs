//! Round-trip estimation from verified replies (RFC 6298) and the retry timeout it gives.

use std::time::Duration;

/// Smoothed RTT and variance, and the bounded retransmission timeout derived from them.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    min_rto: Duration,
    max_rto: Duration,
    initial_rto: Duration,
}

impl RttEstimator {
    /// An estimator whose timeout stays within [min_rto, max_rto], starting at `initial_rto`.
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            min_rto,
            max_rto,
            initial_rto,
        }
    }

    /// Feeds one RTT sample (only from replies to first tries: Karn's rule).
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// The smoothed RTT, once a sample arrived.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The highest timeout this estimator gives.
    pub fn max_rto(&self) -> Duration {
        self.max_rto
    }

    /// The current retry timeout.
    pub fn rto(&self) -> Duration {
        let raw = match self.srtt {
            None => self.initial_rto,
            Some(srtt) => srtt + (self.rttvar * 4).max(Duration::from_millis(10)),
        };
        raw.clamp(self.min_rto, self.max_rto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn starts_at_initial_and_follows_rfc6298() {
        let mut e = RttEstimator::new(ms(1000), ms(100), ms(3000));
        assert_eq!(e.rto(), ms(1000));
        e.sample(ms(200));
        // srtt 200, rttvar 100 -> 200 + 400
        assert_eq!(e.rto(), ms(600));
        e.sample(ms(200));
        // rttvar = (300 + 0)/4 = 75, srtt = 200 -> 200 + 300
        assert_eq!(e.rto(), ms(500));
    }

    #[test]
    fn clamps_to_bounds() {
        let mut lan = RttEstimator::new(ms(1000), ms(100), ms(3000));
        for _ in 0..50 {
            lan.sample(Duration::from_micros(50));
        }
        assert_eq!(lan.rto(), ms(100));
        let mut far = RttEstimator::new(ms(1000), ms(100), ms(3000));
        far.sample(ms(5000));
        assert_eq!(far.rto(), ms(3000));
    }
}
