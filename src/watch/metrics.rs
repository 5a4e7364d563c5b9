//! Prometheus text exposition of a scan for node_exporter's textfile collector, written
//! atomically (a temporary file in the same directory, then rename) so a scrape never
//! reads half a file. Every metric describes the last scan, so all are gauges.

use crate::error::ScanError;
use crate::watch::diff::Pair;
use std::fmt::Write as _;
use std::path::Path;

/// The facts of one scan the metrics show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanMetrics {
    /// Open pairs.
    pub open: Vec<Pair>,
    /// Ports found open, closed and filtered.
    pub open_count: u64,
    /// Ports found closed.
    pub closed_count: u64,
    /// Ports found filtered.
    pub filtered_count: u64,
    /// Probes sent, retries included.
    pub packets_sent: u64,
    /// Replies.
    pub replies: u64,
    /// Answers that came only on a retry.
    pub replies_only_on_retry: u64,
    /// Frames the capture dropped.
    pub capture_drops: u64,
    /// Wall time of the scan, seconds.
    pub duration_seconds: f64,
    /// Changes against the baseline (None: no baseline given).
    pub baseline_changes: Option<u64>,
    /// Policy violations (None: no policy given).
    pub policy_violations: Option<u64>,
    /// True when the scan ran to its end.
    pub complete: bool,
    /// When it ended (Unix seconds).
    pub end_time: u64,
}

/// Name of the completion-time metric; an interrupted scan carries the previous value over.
const LAST_COMPLETE: &str = "synscan_last_complete_scan_timestamp_seconds";

/// Escapes a label value as the exposition format requires.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// The exposition text. `previous_complete` is the completion time of an earlier complete
/// scan, shown when this one did not complete.
pub fn render(m: &ScanMetrics, previous_complete: Option<u64>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# HELP synscan_port_open 1 for each (ip, port, proto) found open by the last scan.\n# TYPE synscan_port_open gauge"
    );
    let mut open = m.open.clone();
    open.sort();
    open.dedup();
    for p in &open {
        let _ = writeln!(
            s,
            "synscan_port_open{{ip=\"{}\",port=\"{}\",proto=\"{}\"}} 1",
            label(&p.ip.to_string()),
            p.port,
            p.proto.as_str()
        );
    }
    let _ = writeln!(
        s,
        "# HELP synscan_ports Ports of the last scan by state.\n# TYPE synscan_ports gauge"
    );
    for (state, n) in [
        ("closed", m.closed_count),
        ("filtered", m.filtered_count),
        ("open", m.open_count),
    ] {
        let _ = writeln!(s, "synscan_ports{{state=\"{state}\"}} {n}");
    }
    gauge(
        &mut s,
        "synscan_last_scan_packets_sent",
        "Probes the last scan sent, retries included.",
        m.packets_sent,
    );
    gauge(
        &mut s,
        "synscan_last_scan_replies",
        "Replies that decided a port in the last scan.",
        m.replies,
    );
    gauge(
        &mut s,
        "synscan_last_scan_replies_only_on_retry",
        "Answers of the last scan that came only on a retry.",
        m.replies_only_on_retry,
    );
    gauge(
        &mut s,
        "synscan_last_scan_capture_drops",
        "Frames the kernel dropped from the capture in the last scan.",
        m.capture_drops,
    );
    gauge(
        &mut s,
        "synscan_last_scan_duration_seconds",
        "Wall time of the last scan.",
        format!("{:.3}", m.duration_seconds),
    );
    if let Some(n) = m.baseline_changes {
        gauge(
            &mut s,
            "synscan_last_scan_baseline_changes",
            "Pairs whose openness changed against the baseline.",
            n,
        );
    }
    if let Some(n) = m.policy_violations {
        gauge(
            &mut s,
            "synscan_last_scan_policy_violations",
            "Policy violations found by the last scan.",
            n,
        );
    }
    gauge(
        &mut s,
        "synscan_last_scan_complete",
        "1 when the last scan ran to its end, 0 when interrupted.",
        u8::from(m.complete),
    );
    gauge(
        &mut s,
        "synscan_last_scan_end_timestamp_seconds",
        "When the last scan ended (Unix time).",
        m.end_time,
    );
    let last_complete = if m.complete {
        Some(m.end_time)
    } else {
        previous_complete
    };
    if let Some(t) = last_complete {
        gauge(
            &mut s,
            LAST_COMPLETE,
            "When the last complete scan ended (Unix time).",
            t,
        );
    }
    s
}

/// The completion time an earlier metrics file at `path` shows, if any.
pub fn previous_complete(path: &Path) -> Option<u64> {
    let trust = crate::sys::fs::Trust::Data;
    let bytes = crate::watch::input::read(path, "metrics file", trust, 64 << 20)
        .ok()?
        .bytes;
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .filter_map(|l| l.strip_prefix(LAST_COMPLETE))
        .filter_map(|rest| rest.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

/// Writes `text` to `path` atomically: a temporary file beside it, synced, then renamed
/// over it (readable by the node_exporter user: mode 0644).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ScanError> {
    let name = path.display();
    if path.file_name().is_none() {
        return Err(ScanError::usage(format!(
            "--metrics-file {name}: not a file path"
        )));
    }
    crate::sys::fs::DirFile::new(path)
        .and_then(|f| f.write_atomic_mode(text.as_bytes(), 0o644))
        .map_err(|e| {
            ScanError::runtime(format!("cannot write the metrics file {name}: {e}; the directory must be writable by the user the scan runs as"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Transport;

    fn sample() -> ScanMetrics {
        ScanMetrics {
            open: vec![Pair {
                ip: "198.19.0.1".parse().unwrap(),
                proto: Transport::Tcp,
                port: 80,
            }],
            open_count: 1,
            closed_count: 2,
            filtered_count: 3,
            packets_sent: 7,
            replies: 3,
            replies_only_on_retry: 1,
            capture_drops: 0,
            duration_seconds: 1.5,
            baseline_changes: Some(2),
            policy_violations: None,
            complete: true,
            end_time: 1_700_000_000,
        }
    }

    #[test]
    fn exposition_has_every_metric() {
        let text = render(&sample(), None);
        for line in [
            "synscan_port_open{ip=\"198.19.0.1\",port=\"80\",proto=\"tcp\"} 1",
            "synscan_ports{state=\"filtered\"} 3",
            "synscan_last_scan_packets_sent 7",
            "synscan_last_scan_replies_only_on_retry 1",
            "synscan_last_scan_duration_seconds 1.500",
            "synscan_last_scan_baseline_changes 2",
            "synscan_last_complete_scan_timestamp_seconds 1700000000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("policy_violations"));
    }

    #[test]
    fn an_interrupted_scan_keeps_the_previous_completion_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synscan.prom");
        write_atomic(&path, &render(&sample(), None)).unwrap();
        let prev = previous_complete(&path);
        assert_eq!(prev, Some(1_700_000_000));
        let mut m = sample();
        m.complete = false;
        m.end_time = 1_800_000_000;
        let text = render(&m, prev);
        assert!(text.contains("\nsynscan_last_complete_scan_timestamp_seconds 1700000000\n"));
        assert!(text.contains("\nsynscan_last_scan_complete 0\n"));
        write_atomic(&path, &text).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // Only the target is left in the directory: no temporary file stays behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
