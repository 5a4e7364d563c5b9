//! Progress on stderr: a line redrawn in place when stderr is a terminal, and status lines
//! every --stats-every seconds: rate, percent done, ETA, found.

use crate::model::ScanStats;
use std::io::Write;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressStyle {
    /// Time between updates.
    pub every: Duration,
    /// Redraw one line in place (terminal) instead of printing a line each time.
    pub in_place: bool,
}

impl ProgressStyle {
    /// The style for a run: --stats-every lines win over the terminal display.
    pub fn choose(stats_every: Option<Duration>, terminal: bool) -> Option<ProgressStyle> {
        match (stats_every, terminal) {
            (Some(every), _) => Some(ProgressStyle {
                every,
                in_place: false,
            }),
            (None, true) => Some(ProgressStyle {
                every: Duration::from_secs(1),
                in_place: true,
            }),
            (None, false) => None,
        }
    }
}

/// A progress display.
pub struct Progress {
    style: ProgressStyle,
    total: u64,
    began: Instant,
    last: Instant,
    last_packets: u64,
}

impl Progress {
    /// A display for `total` new probes.
    pub fn new(total: u64, style: ProgressStyle) -> Self {
        let now = Instant::now();
        Progress {
            style,
            total,
            began: now,
            last: now,
            last_packets: 0,
        }
    }

    /// Shows the state when the interval has passed.
    pub fn tick(&mut self, stats: &ScanStats) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        if dt < self.style.every.as_secs_f64() {
            return;
        }
        let packets = stats.packets_sent;
        let rate = packets.saturating_sub(self.last_packets) as f64 / dt;
        self.last = now;
        self.last_packets = packets;
        let mut line = format_line(
            rate,
            stats.new_probes,
            self.total,
            self.began.elapsed().as_secs_f64(),
            stats.found_open,
        );
        if let Some(pps) = stats.rate_pps {
            line.push_str(&format!(" (limit {:.1})", pps as f64 / 1000.0));
        }
        if stats.capture_drops > 0 {
            line.push_str(&format!(", capture drops={}", stats.capture_drops));
        }
        let mut err = std::io::stderr().lock();
        if self.style.in_place {
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "synscan: {line}");
        }
        let _ = err.flush();
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if !self.style.in_place {
            return;
        }
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
