//! Pilot probes: re-probes of pairs this scan has already seen answer (a SYN/ACK or a RST
//! from the target itself), sent at a small share of the rate while the sweep is too
//! sparse to clock the adaptive rate. Their answered share falls with the path's drops as
//! the sweep's would. They carry a cookie of their own, so their answers are counted for
//! the rate and never reach the probe table or the results.
//!
//! The pool is a fixed ring of the latest answered pairs: memory never grows with the scan.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

/// Answered pairs the pool keeps (the latest).
pub const POOL: usize = 256;
/// Pilots one pair gets a second at most: a few pairs early in a sweep are not flooded.
pub const PER_PAIR_PPS: f64 = 50.0;

/// A pair to re-probe, with the generation its pilot belongs to.
pub type Pilot = (IpAddr, u16, u8);

/// A pair that answered.
pub type Pair = (IpAddr, u16);

/// The answered pairs pilots are drawn from, and the pilots' pace.
#[derive(Debug, Default)]
pub struct PilotPool {
    pairs: VecDeque<Pair>,
    /// Next pair to re-probe (round robin).
    next: usize,
    /// Pilots owed but not yet handed out (fractions carry over).
    credit: f64,
    last: Option<Instant>,
}

impl PilotPool {
    /// Adds a pair that answered, forgetting the oldest when full.
    pub fn offer(&mut self, pair: Pair) {
        if self.pairs.len() >= POOL {
            self.pairs.pop_front();
            self.next = self.next.saturating_sub(1);
        }
        self.pairs.push_back(pair);
    }

    /// Pairs in the pool.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.pairs.len()
    }

    /// The pilots due at `now` at `pps` (capped at [`PER_PAIR_PPS`] a pair), round robin
    /// over the pool, of `generation`; none while the pool is empty.
    pub fn due(&mut self, now: Instant, pps: f64, generation: u8) -> Vec<Pilot> {
        let last = self.last.replace(now);
        let pps = pps.min(PER_PAIR_PPS * self.pairs.len() as f64);
        if pps <= 0.0 {
            self.credit = 0.0;
            return Vec::new();
        }
        let dt = last.map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
        // A stall (a slow turn) does not turn into a burst: at most a tenth of a second.
        self.credit = (self.credit + pps * dt.min(0.1)).min(pps * 0.1 + 1.0);
        let n = self.credit.floor() as usize;
        self.credit -= n as f64;
        (0..n)
            .map(|_| {
                self.next %= self.pairs.len();
                let (ip, port) = self.pairs[self.next];
                self.next += 1;
                (ip, port, generation)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn pair(i: u8) -> Pair {
        (IpAddr::V4(Ipv4Addr::new(198, 19, 0, i)), 80)
    }

    #[test]
    fn pilots_follow_the_pace_round_robin_and_wait_for_answers() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = PilotPool::default();
        assert!(p.due(t0, 400.0, 0).is_empty(), "nothing answered yet");
        assert!(p.due(t0 + ms(50), 400.0, 0).is_empty());
        p.offer(pair(1));
        // One pair: at most 50 a second.
        let n: usize = (1..=100)
            .map(|i| p.due(t0 + ms(50 + 10 * i), 400.0, 0).len())
            .sum();
        assert!((49..=51).contains(&n), "{n}");
        for i in 2..=10 {
            p.offer(pair(i));
        }
        // Ten pairs: 400 a second, each pair in turn.
        let got: Vec<Pilot> = (1..=100)
            .flat_map(|i| p.due(t0 + ms(1050 + 10 * i), 400.0, 3))
            .collect();
        assert!((399..=401).contains(&got.len()), "{}", got.len());
        for i in 1..=10u8 {
            let c = got.iter().filter(|&&x| x == (pair(i).0, 80, 3)).count();
            assert!((39..=41).contains(&c), "pair {i}: {c}");
        }
        // A long pause owes no burst.
        assert!(p.due(t0 + ms(10_000), 400.0, 0).len() <= 41);
        assert!(p.due(t0 + ms(10_010), 0.0, 0).is_empty());
    }

    #[test]
    fn the_pool_keeps_the_latest_pairs() {
        let mut p = PilotPool::default();
        for i in 0..POOL + 10 {
            p.offer((IpAddr::V4(Ipv4Addr::from(i as u32)), 1));
        }
        assert_eq!(p.len(), POOL);
        assert_eq!(p.pairs.front(), Some(&(IpAddr::V4(Ipv4Addr::from(10)), 1)));
        p.offer(pair(7));
        assert_eq!(p.len(), POOL);
        assert_eq!(p.pairs.back(), Some(&pair(7)));
        assert_eq!(p.pairs.front(), Some(&(IpAddr::V4(Ipv4Addr::from(11)), 1)));
    }
}
