//! The checks a scan runs on its own results: `--baseline FILE`, `--policy FILE`,
//! `--expect open|closed` and `--metrics-file PATH`.
//!
//! Memory: nothing here holds every result. The baseline's pairs are kept (bounded by the
//! baseline file) with the new state of each; beyond them only open pairs are kept, and
//! only when a check needs them.

use crate::error::ScanError;
use crate::model::{PortResult, PortState};
use crate::output::ScanSummary;
use crate::watch::diff::{self, Change, Pair};
use crate::watch::metrics::{self, MetricsFile, ScanMetrics};
use crate::watch::policy::{Findings, Policy};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The latest state of each pair of a result file.
pub type PairStates = HashMap<Pair, PortState>;

/// The validated watch flags of a scan (files already read).
#[derive(Clone, Debug, Default)]
pub struct WatchConfig {
    /// --baseline: the file, the latest state of each of its pairs, and its scan time.
    pub baseline: Option<(PathBuf, Arc<PairStates>, Option<u64>)>,
    /// --policy: the file and the policy.
    pub policy: Option<(PathBuf, Arc<Policy>)>,
    /// --expect.
    pub expect: Option<PortState>,
    /// --metrics-file.
    pub metrics_file: Option<PathBuf>,
}

impl WatchConfig {
    /// Reads and checks the files the flags name; errors are usage errors (exit 2).
    pub fn build(
        baseline: Option<&str>,
        policy: Option<&str>,
        expect: Option<&str>,
        metrics_file: Option<&str>,
        claims: &mut crate::sys::fs::Claims,
    ) -> Result<WatchConfig, ScanError> {
        let baseline = match baseline {
            None => None,
            Some(p) => {
                let path = PathBuf::from(p);
                let (results, id) = crate::watch::cli::load(&path, crate::sys::fs::Trust::Strict)?;
                claims
                    .input(id, format!("--baseline {p}"))
                    .map_err(ScanError::usage)?;
                let time = diff::scan_time(&results.records);
                Some((path, Arc::new(diff::latest(&results.records)), time))
            }
        };
        let policy = match policy {
            None => None,
            Some(p) => {
                let path = PathBuf::from(p);
                let (policy, id) = Policy::read(&path)?;
                claims
                    .input(id, format!("--policy {p}"))
                    .map_err(ScanError::usage)?;
                Some((path, Arc::new(policy)))
            }
        };
        let expect = match expect {
            None => None,
            Some("open") => Some(PortState::Open),
            Some("closed") => Some(PortState::Closed),
            Some("filtered") => Some(PortState::Filtered),
            Some(other) => {
                return Err(ScanError::usage(format!(
                    "bad --expect \"{other}\": use open, closed or filtered"
                )))
            }
        };
        let metrics_file = metrics_file.map(PathBuf::from);
        if let Some(m) = &metrics_file {
            // The file is replaced by rename, so the path must end in its name.
            let bytes = std::os::unix::ffi::OsStrExt::as_bytes(m.as_os_str());
            let last = bytes.rsplit(|&b| b == b'/').next().unwrap_or_default();
            if matches!(last, b"" | b"." | b"..") {
                return Err(ScanError::usage(format!(
                    "bad --metrics-file \"{}\": it names a directory; give a file path such as /var/lib/node_exporter/textfile/synscan.prom",
                    m.display()
                )));
            }
        }
        Ok(WatchConfig {
            baseline,
            policy,
            expect,
            metrics_file,
        })
    }

    /// True when no watch flag was given.
    pub fn is_empty(&self) -> bool {
        self.baseline.is_none()
            && self.policy.is_none()
            && self.expect.is_none()
            && self.metrics_file.is_none()
    }

    /// The policy, for the writers to annotate open ports with.
    pub fn policy(&self) -> Option<Arc<dyn crate::output::PortRules>> {
        self.policy
            .as_ref()
            .map(|(_, p)| Arc::clone(p) as Arc<dyn crate::output::PortRules>)
    }
}

/// What the scan found for `--expect`.
#[derive(Clone, Debug, Default)]
struct Expectation {
    want: Option<PortState>,
    matched: u64,
    seen: u64,
    first_miss: Option<(IpAddr, crate::model::Service, PortState)>,
}

/// Watches the results of a running scan.
#[derive(Debug, Default)]
pub struct Watch {
    /// The flags (the baseline map is shared with the config, not copied).
    cfg: WatchConfig,
    /// The new state of each baseline pair scanned.
    now: HashMap<Pair, PortState>,
    /// Open pairs that are not in the baseline (all open pairs when no baseline).
    new_open: Vec<Pair>,
    keep_open: bool,
    counts: [u64; PortState::ALL.len()],
    expect: Expectation,
}

/// What the checks concluded at the end of a scan.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Changes against the baseline, sorted.
    pub changes: Vec<Change>,
    /// Policy violations.
    pub findings: Findings,
    /// The --expect line and whether it held.
    pub expect: Option<(String, bool)>,
}

impl Verdict {
    /// True when a check failed.
    pub fn failed(&self) -> bool {
        !self.changes.is_empty()
            || self.findings.count() > 0
            || self.expect.as_ref().is_some_and(|(_, ok)| !ok)
    }
}

impl Watch {
    /// A watch over the flags' files.
    pub fn new(cfg: &WatchConfig) -> Watch {
        Watch {
            keep_open: cfg.policy.is_some() || cfg.metrics_file.is_some(),
            expect: Expectation {
                want: cfg.expect,
                ..Expectation::default()
            },
            cfg: cfg.clone(),
            ..Watch::default()
        }
    }

    /// Sees one decided result; true when the checks keep something of this very result
    /// (a baseline pair's state, an open pair, the first --expect miss), so a resumed run
    /// must see it again. A result that only counts can be replayed by
    /// [`Watch::observe_silent`].
    pub fn observe(&mut self, r: &PortResult) -> bool {
        self.counts[r.state as usize] += 1;
        let mut kept = false;
        if let Some(want) = self.expect.want {
            self.expect.seen += 1;
            if r.state == want {
                self.expect.matched += 1;
            } else if self.expect.first_miss.is_none() {
                self.expect.first_miss = Some((r.ip, r.service(), r.state));
                kept = true;
            }
        }
        let pair = Pair {
            ip: r.ip,
            proto: r.protocol,
            port: r.port,
        };
        let state = r.state;
        if let Some((_, base, _)) = &self.cfg.baseline {
            if base.contains_key(&pair) {
                self.now.insert(pair, state);
                return true;
            }
        }
        if state == PortState::Open && (self.cfg.baseline.is_some() || self.keep_open) {
            self.new_open.push(pair);
            kept = true;
        }
        kept
    }

    /// Sees `n` no-response results for which [`Watch::observe`] kept nothing but counts:
    /// probes of `kind`, whose silence decides their state.
    pub fn observe_silent(&mut self, n: u64, kind: crate::probe::ProbeKind) {
        let state = kind.silence();
        self.counts[state as usize] += n;
        if let Some(want) = self.expect.want {
            self.expect.seen += n;
            if state == want {
                self.expect.matched += n;
            }
        }
    }

    /// Every open pair seen (baseline pairs found open and the rest).
    fn open_pairs(&self) -> Vec<Pair> {
        let mut open: Vec<Pair> = self
            .now
            .iter()
            .filter(|(_, now)| **now == PortState::Open)
            .map(|(p, _)| *p)
            .chain(self.new_open.iter().copied())
            .collect();
        open.sort();
        open.dedup();
        open
    }

    /// The checks' conclusions once the scan is over.
    pub fn conclude(&self) -> Verdict {
        let mut v = Verdict::default();
        if let Some((_, base, _)) = &self.cfg.baseline {
            v.changes = base
                .iter()
                .map(|(pair, was)| (pair, *was, self.now.get(pair).copied()))
                .filter(|(_, was, now)| diff::differs(Some(*was), *now))
                .map(|(pair, was, now)| Change {
                    pair: *pair,
                    was: Some(was),
                    now,
                })
                .chain(self.new_open.iter().map(|p| Change {
                    pair: *p,
                    was: None,
                    now: Some(PortState::Open),
                }))
                .collect();
            v.changes.sort_by_key(|c| c.pair);
        }
        if let Some((_, policy)) = &self.cfg.policy {
            v.findings = policy.evaluate(self.open_pairs().iter());
        }
        if let Some(want) = self.expect.want {
            let e = &self.expect;
            let ok = e.seen > 0 && e.matched == e.seen;
            let line = match (e.first_miss, e.seen) {
                (_, 0) => format!("expected {}: no port was scanned", want.as_str()),
                (None, 1) => format!("expected {}: the port is {}", want.as_str(), want.as_str()),
                (None, n) => format!(
                    "expected {}: all {n} ports are {}",
                    want.as_str(),
                    want.as_str()
                ),
                (Some((ip, service, got)), n) => format!(
                    "expected {}: {ip} port {service} is {} ({} of {n} scanned ports are {})",
                    want.as_str(),
                    got.as_str(),
                    e.matched,
                    want.as_str()
                ),
            };
            v.expect = Some((line, ok));
        }
        v
    }

    /// NDJSON lines for the -oJ output: changes (with was/now) and hosts over the open-port
    /// limit (open pairs that break a rule carry it on their own record).
    pub fn json_lines(&self, v: &Verdict, scan_time: u64) -> Vec<String> {
        let was_time = self.cfg.baseline.as_ref().and_then(|(_, _, t)| *t);
        let mut lines: Vec<String> = v
            .changes
            .iter()
            .map(|c| diff::json_line(c, was_time, Some(scan_time)))
            .collect();
        let hosts_only = Findings {
            pairs: Vec::new(),
            hosts: v.findings.hosts.clone(),
        };
        lines.extend(hosts_only.json_lines());
        lines
    }

    /// Prints the verdict on stdout and writes the metrics file; returns the exit code the
    /// scan ends with: a clean scan whose check failed exits 1, and a failed metrics write
    /// (one line on stderr) turns only a clean 0 into 4.
    pub fn report(
        &self,
        v: &Verdict,
        summary: &ScanSummary,
        code: i32,
        metrics: Option<&mut MetricsFile>,
    ) -> i32 {
        if let Some((path, _, _)) = &self.cfg.baseline {
            if v.changes.is_empty() {
                println!("synscan: no change against the baseline {}", path.display());
            } else {
                println!(
                    "synscan: {} change(s) against the baseline {}:",
                    v.changes.len(),
                    path.display()
                );
                print!("{}", diff::render_text(&v.changes));
            }
        }
        if let Some((path, _)) = &self.cfg.policy {
            if v.findings.count() == 0 {
                println!("synscan: no open port breaks the policy {}", path.display());
            } else {
                print!("{}", v.findings.render_text());
                println!(
                    "synscan: {} policy violation(s) against {}",
                    v.findings.count(),
                    path.display()
                );
            }
        }
        if let Some((line, _)) = &v.expect {
            println!("synscan: {line}");
        }
        let mut code = if code == crate::error::EXIT_OK && v.failed() {
            crate::error::EXIT_CHECK_FAILED
        } else {
            code
        };
        if let Some(file) = metrics {
            if let Err(e) = self.write_metrics(file, v, summary) {
                eprintln!("synscan: {e}");
                if code == crate::error::EXIT_OK {
                    code = e.exit_code();
                }
            }
        }
        code
    }

    fn write_metrics(
        &self,
        file: &mut MetricsFile,
        v: &Verdict,
        s: &ScanSummary,
    ) -> Result<(), ScanError> {
        let end = s.end.map(crate::output::epoch_secs).unwrap_or(0);
        let m = ScanMetrics {
            open: self.open_pairs(),
            open_count: self.counts[PortState::Open as usize],
            closed_count: self.counts[PortState::Closed as usize],
            filtered_count: self.counts[PortState::Filtered as usize],
            packets_sent: s.stats.packets_sent,
            replies: s.stats.replies,
            replies_only_on_retry: s.stats.replies_only_on_retry,
            capture_drops: s.stats.capture_drops,
            duration_seconds: s.elapsed.as_secs_f64(),
            baseline_changes: self.cfg.baseline.as_ref().map(|_| v.changes.len() as u64),
            policy_violations: self.cfg.policy.as_ref().map(|_| v.findings.count() as u64),
            complete: !s.interrupted,
            end_time: end,
        };
        file.write(&metrics::render(&m, file.previous_complete()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;
    use std::net::Ipv4Addr;
    use std::time::SystemTime;

    fn res(last: u8, port: u16, reason: Reason) -> PortResult {
        PortResult {
            protocol: crate::model::Protocol::Tcp,
            ip: Ipv4Addr::new(198, 19, 0, last).into(),
            port,
            state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
            reason,
            ttl: 64,
            timestamp: SystemTime::UNIX_EPOCH,
        }
    }

    fn pair(last: u8, port: u16) -> Pair {
        Pair {
            ip: IpAddr::V4(Ipv4Addr::new(198, 19, 0, last)),
            proto: crate::model::Protocol::Tcp,
            port,
        }
    }

    #[test]
    fn baseline_changes_are_exactly_the_openness_changes() {
        let mut base = HashMap::new();
        base.insert(pair(1, 80), PortState::Open);
        base.insert(pair(1, 443), PortState::Open);
        base.insert(pair(1, 22), PortState::Closed);
        base.insert(pair(1, 25), PortState::Open);
        base.insert(pair(9, 25), PortState::Open);
        let cfg = WatchConfig {
            baseline: Some((PathBuf::from("b"), Arc::new(base), None)),
            ..WatchConfig::default()
        };
        let mut w = Watch::new(&cfg);
        for r in [
            res(1, 80, Reason::Reset),
            res(1, 443, Reason::NoResponse),
            res(1, 22, Reason::SynAck),
            res(1, 25, Reason::SynAck),
            res(2, 8080, Reason::SynAck),
            res(2, 8081, Reason::Reset),
        ] {
            w.observe(&r);
        }
        // Only baseline pairs and new open pairs are held.
        assert_eq!(w.new_open, vec![pair(2, 8080)]);
        let v = w.conclude();
        let got: Vec<(Pair, &str, &str)> = v
            .changes
            .iter()
            .map(|c| (c.pair, diff::state_name(c.was), diff::state_name(c.now)))
            .collect();
        assert_eq!(
            got,
            vec![
                (pair(1, 22), "closed", "open"),
                (pair(1, 80), "open", "closed"),
                (pair(1, 443), "open", "filtered"),
                (pair(2, 8080), "unscanned", "open"),
                (pair(9, 25), "open", "unscanned"),
            ]
        );
        assert!(v.failed());
        assert_eq!(w.report(&v, &ScanSummary::default(), 0, None), 1);
        assert_eq!(w.report(&v, &ScanSummary::default(), 130, None), 130);
    }

    #[test]
    fn expect_names_what_was_found() {
        let cfg =
            WatchConfig::build(None, None, Some("open"), None, &mut Default::default()).unwrap();
        let mut w = Watch::new(&cfg);
        w.observe(&res(1, 80, Reason::SynAck));
        let v = w.conclude();
        assert_eq!(
            v.expect,
            Some(("expected open: the port is open".to_string(), true))
        );
        w.observe(&res(1, 81, Reason::Reset));
        let v = w.conclude();
        assert_eq!(
            v.expect,
            Some((
                "expected open: 198.19.0.1 port 81/tcp is closed (1 of 2 scanned ports are open)"
                    .to_string(),
                false
            ))
        );
        assert_eq!(w.report(&v, &ScanSummary::default(), 0, None), 1);
        assert!(
            WatchConfig::build(None, None, Some("shut"), None, &mut Default::default()).is_err()
        );
    }

    /// A failed check keeps exit 1 when the metrics write fails too; a clean scan whose
    /// metrics write fails exits 4; an interrupted one stays 130.
    #[test]
    fn a_failed_metrics_write_never_hides_a_failed_check() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("textfile");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("synscan.prom");
        let cfg = WatchConfig::build(
            None,
            None,
            Some("open"),
            path.to_str(),
            &mut Default::default(),
        )
        .unwrap();
        let mut file = MetricsFile::open(&path, false).unwrap();
        let mut w = Watch::new(&cfg);
        w.observe(&res(1, 80, Reason::Reset));
        let v = w.conclude();
        assert!(v.failed());
        // Written when it can be.
        assert_eq!(w.report(&v, &ScanSummary::default(), 0, Some(&mut file)), 1);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\nsynscan_ports{state=\"closed\"} 1\n"));
        // The directory checked at the start is gone by the end.
        std::fs::remove_dir_all(&sub).unwrap();
        assert_eq!(w.report(&v, &ScanSummary::default(), 0, Some(&mut file)), 1);
        assert_eq!(
            w.report(&v, &ScanSummary::default(), 130, Some(&mut file)),
            130
        );
        let mut ok = Watch::new(&cfg);
        ok.observe(&res(1, 80, Reason::SynAck));
        let v = ok.conclude();
        assert!(!v.failed());
        assert_eq!(
            ok.report(&v, &ScanSummary::default(), 0, Some(&mut file)),
            4
        );
        assert!(
            WatchConfig::build(None, None, None, Some("textfile/"), &mut Default::default())
                .is_err()
        );
    }

    #[test]
    fn without_checks_nothing_is_kept() {
        let mut w = Watch::new(&WatchConfig::default());
        w.observe(&res(1, 80, Reason::SynAck));
        assert!(w.new_open.is_empty());
        assert!(!w.conclude().failed());
    }

    /// A resumed run sees only the answered results and those `observe` kept, plus a count
    /// of the others: its
    /// verdict, counts and --expect line are the uninterrupted run's.
    #[test]
    fn kept_results_and_a_silent_count_conclude_like_every_result() {
        let mut base = HashMap::new();
        base.insert(pair(3, 22), PortState::Open);
        base.insert(pair(4, 80), PortState::Filtered);
        let results: Vec<PortResult> = (1..=6u8)
            .flat_map(|h| {
                [22, 80, 443].map(move |p| {
                    let reason = match (h, p) {
                        (1, 80) | (5, 443) => Reason::SynAck,
                        (2, 22) => Reason::Reset,
                        _ => Reason::NoResponse,
                    };
                    res(h, p, reason)
                })
            })
            .collect();
        for expect in [None, Some("open"), Some("filtered"), Some("closed")] {
            let cfg = WatchConfig {
                baseline: Some((PathBuf::from("b"), Arc::new(base.clone()), None)),
                ..WatchConfig::build(None, None, expect, None, &mut Default::default()).unwrap()
            };
            let mut all = Watch::new(&cfg);
            let mut kept = Vec::new();
            let mut silent = 0;
            for r in &results {
                // The journal keeps every answered result and what observe keeps.
                if all.observe(r) || r.reason != Reason::NoResponse {
                    kept.push(*r);
                } else {
                    silent += 1;
                }
            }
            assert!(silent >= 10, "{expect:?}: {silent}");
            let mut replayed = Watch::new(&cfg);
            for r in &kept {
                replayed.observe(r);
            }
            replayed.observe_silent(silent, crate::probe::ProbeKind::TcpSyn);
            let (a, b) = (all.conclude(), replayed.conclude());
            assert_eq!(format!("{:?}", a.changes), format!("{:?}", b.changes));
            assert_eq!(a.expect, b.expect, "{expect:?}");
            assert_eq!(all.counts, replayed.counts);
            assert_eq!(all.open_pairs(), replayed.open_pairs());
        }
    }
}
