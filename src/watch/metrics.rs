//! Prometheus text exposition of a scan for node_exporter's textfile collector. The file's
//! place is checked before the first probe ([`MetricsFile::open`]); the text is bounded
//! ([`MAX_BYTES`]), checked as the format ([`exposition::check`]) and written atomically (a
//! temporary file in the same directory, then rename) so a scrape never reads half a
//! file. Started as root, a keeper forked before the scan gives up root writes it, so the
//! file stays root's (mode 0644) and the user the scan runs as cannot rewrite it. Every
//! metric describes the last scan, so all are gauges.

use crate::error::ScanError;
use crate::sys::fs::{DirFile, OpenError};
use crate::sys::keeper::{self, TextKeeper};
use crate::watch::diff::Pair;
use crate::watch::exposition::{self, escape_label};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Most bytes a metrics file may hold (about 900,000 open ports): the text the scan hands
/// the keeper and an old file read for its completion time are bounded by it.
pub const MAX_BYTES: u64 = 64 << 20;

/// Mode of the metrics file: node_exporter, another user, reads it.
const MODE: u32 = 0o644;

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
            escape_label(&p.ip.to_string()),
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

/// The completion time an earlier metrics file shows, if any.
fn previous_complete(bytes: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|l| l.strip_prefix(LAST_COMPLETE))
        .filter_map(|rest| rest.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

/// Who writes the metrics file.
#[derive(Debug)]
enum Writer {
    /// The scan itself (it keeps its rights).
    InProcess(DirFile),
    /// A keeper forked while the scan was root.
    Kept(TextKeeper),
}

/// The metrics file of a scan: its place, checked before the first probe, and its writer.
#[derive(Debug)]
pub struct MetricsFile {
    path: PathBuf,
    writer: Writer,
    previous_complete: Option<u64>,
}

impl MetricsFile {
    /// Checks the place of `path` (see `DirFile::replaceable`: its directory walked by the
    /// rules for every file, nothing planted at the name, a file creatable there) and
    /// reads the completion time of the file there now. With `keep` (started as root), a
    /// keeper forked now writes it later: call while the process runs one thread, before
    /// sockets open. Errors are one line, exit 2.
    pub fn open(path: &Path, keep: bool) -> Result<MetricsFile, ScanError> {
        let file = DirFile::replaceable(path).map_err(|e| {
            ScanError::usage(match e {
                OpenError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
                    "cannot use --metrics-file {}: its directory does not exist; create it or name another",
                    path.display()
                ),
                e => e.line("--metrics-file", path),
            })
        })?;
        let previous_complete = file
            .read_regular(MAX_BYTES)
            .ok()
            .flatten()
            .and_then(|b| previous_complete(&b));
        let writer = if keep {
            let check: keeper::Check = Box::new(exposition::check_bytes);
            let k = keeper::spawn_text(file, MAX_BYTES, MODE, check).map_err(|e| {
                ScanError::runtime(format!("cannot start the keeper of the metrics file: {e}"))
            })?;
            Writer::Kept(k)
        } else {
            Writer::InProcess(file)
        };
        Ok(MetricsFile {
            path: path.to_path_buf(),
            writer,
            previous_complete,
        })
    }

    /// The completion time the file showed when the scan started.
    pub fn previous_complete(&self) -> Option<u64> {
        self.previous_complete
    }

    /// Replaces the file by `text` once it is checked and within the bound; Err is the one
    /// line to print (exit 4 unless a check already failed).
    pub fn write(&mut self, text: &str) -> Result<(), ScanError> {
        let name = self.path.display();
        let fail = |why: String| {
            ScanError::runtime(format!("cannot write the metrics file {name}: {why}"))
        };
        if text.len() as u64 > MAX_BYTES {
            return Err(fail(format!(
                "its text would hold {} bytes, more than the {MAX_BYTES} a metrics file may; scan fewer hosts or ports",
                text.len()
            )));
        }
        exposition::check(text).map_err(|e| {
            fail(format!(
                "the text is not Prometheus text ({e}); please report this"
            ))
        })?;
        match &mut self.writer {
            Writer::InProcess(f) => f.write_atomic_mode(text.as_bytes(), MODE),
            Writer::Kept(k) => k.write(text.as_bytes()),
        }
        .map_err(|e| fail(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Protocol;

    fn sample() -> ScanMetrics {
        ScanMetrics {
            open: vec![Pair {
                ip: "198.19.0.1".parse().unwrap(),
                proto: Protocol::Tcp,
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
        MetricsFile::open(&path, false)
            .unwrap()
            .write(&render(&sample(), None))
            .unwrap();
        let mut file = MetricsFile::open(&path, false).unwrap();
        let prev = file.previous_complete();
        assert_eq!(prev, Some(1_700_000_000));
        let mut m = sample();
        m.complete = false;
        m.end_time = 1_800_000_000;
        let text = render(&m, prev);
        assert!(text.contains("\nsynscan_last_complete_scan_timestamp_seconds 1700000000\n"));
        assert!(text.contains("\nsynscan_last_scan_complete 0\n"));
        file.write(&text).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // Only the target is left in the directory: no temporary file stays behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_rendered_text_is_prometheus_text() {
        let mut m = sample();
        m.open.push(Pair {
            ip: "2001:2::1".parse().unwrap(),
            proto: Protocol::Tcp,
            port: 443,
        });
        m.policy_violations = Some(1);
        assert_eq!(exposition::check(&render(&m, None)), Ok(()));
        m.complete = false;
        assert_eq!(exposition::check(&render(&m, Some(5))), Ok(()));
        assert_eq!(
            exposition::check(&render(&ScanMetrics::default(), None)),
            Ok(())
        );
    }

    #[test]
    fn a_bad_place_is_refused_at_open_and_bad_text_at_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = |s: &str| dir.path().join(s);
        for (path, why) in [
            (format!("{}/", dir.path().display()), "it names no file"),
            (format!("{}/.", dir.path().display()), "it names no file"),
            (
                format!("{}/missing/m.prom", dir.path().display()),
                "its directory does not exist",
            ),
        ] {
            let e = MetricsFile::open(Path::new(&path), false).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
            assert!(e.message().contains(why), "{path}: {}", e.message());
            assert!(e.message().contains("--metrics-file"), "{}", e.message());
        }
        std::fs::create_dir(p("sub")).unwrap();
        let e = MetricsFile::open(&p("sub"), false).unwrap_err();
        assert!(e.message().contains("it is a directory"), "{}", e.message());
        let mut f = MetricsFile::open(&p("m.prom"), false).unwrap();
        // The check left nothing behind, and no file yet.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = f.write("synscan_x{ip=\"1} 1\n").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::EXIT_RUNTIME);
        assert!(
            e.message().contains("not Prometheus text"),
            "{}",
            e.message()
        );
        assert!(!p("m.prom").exists());
    }
}
