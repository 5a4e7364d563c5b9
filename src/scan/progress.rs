//! Progress on stderr (only when stderr is a terminal): rate, percent done, ETA, found.

use crate::send::SendCounters;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A one-line progress display refreshed in place.
pub struct Progress {
    total: u64,
    began: Instant,
    last: Instant,
    last_packets: u64,
}

impl Progress {
    /// A display for `total` new probes.
    pub fn new(total: u64) -> Self {
        let now = Instant::now();
        Progress {
            total,
            began: now,
            last: now,
            last_packets: 0,
        }
    }

    /// Redraws the line at most once a second.
    pub fn tick(&mut self, counters: &SendCounters, found: u64) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        if dt < 1.0 {
            return;
        }
        let packets = counters.packets.load(Ordering::Relaxed);
        let done = counters.new_probes.load(Ordering::Relaxed);
        let rate = (packets - self.last_packets) as f64 / dt;
        self.last = now;
        self.last_packets = packets;
        let line = format_line(
            rate,
            done,
            self.total,
            self.began.elapsed().as_secs_f64(),
            found,
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
}

/// The progress text: rate, percent, ETA and open ports found.
pub fn format_line(rate_pps: f64, done: u64, total: u64, elapsed_s: f64, found: u64) -> String {
    let pct = if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    };
    let eta = if done == 0 || done >= total {
        0
    } else {
        (elapsed_s * (total - done) as f64 / done as f64).round() as u64
    };
    format!(
        "rate: {:>7.1} kpps, {:5.1}% done, {}:{:02} left, found={}",
        rate_pps / 1000.0,
        pct,
        eta / 60,
        eta % 60,
        found
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_format() {
        assert_eq!(
            super::format_line(123_456.0, 250, 1000, 10.0, 7),
            "rate:   123.5 kpps,  25.0% done, 0:30 left, found=7"
        );
    }
}
