//! Test-side helpers: raise a synscan-lab namespace lab, read its truth, run in its scanner.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A raised lab's names, addresses and ground truth, and its (address, port) pairs: the
/// lab crate's own types, read from the line `synscan-lab serve` prints.
pub use synscan_lab::truth::{Pair, Truth};

/// One result line of synscan's -oJ output: pair, state, reason.
pub type Report = (Pair, String, String);

/// Every result line of an -oJ (NDJSON) file, in output order; summary lines are skipped.
pub fn read_ndjson(path: &std::path::Path) -> Vec<Report> {
    let text = std::fs::read_to_string(path).expect("read -oJ output");
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        let (Some(port), Some(ip)) = (v.get("port").and_then(|p| p.as_u64()), v.get("ip")) else {
            continue;
        };
        let ip: Ipv4Addr = ip.as_str().and_then(|s| s.parse().ok()).expect("ip");
        let port = u16::try_from(port).expect("port");
        out.push((
            (ip, port),
            v["state"].as_str().unwrap_or("").to_string(),
            v["reason"].as_str().unwrap_or("").to_string(),
        ));
    }
    out
}

/// Pairs with at least one report of `state`.
pub fn with_state(reports: &[Report], state: &str) -> BTreeSet<Pair> {
    reports
        .iter()
        .filter(|(_, s, _)| s == state)
        .map(|(p, _, _)| *p)
        .collect()
}

/// `setpriv` arguments that run the command after them as nobody with no capability.
pub const AS_NOBODY: [&str; 5] = [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
];

/// Checks the reason of every result: SYN/ACK for open, `closed_reason` for closed,
/// no-response for filtered.
pub fn assert_reasons(reports: &[Report], closed_reason: &str) {
    for (p, state, reason) in reports {
        let expected = match state.as_str() {
            "open" => "syn-ack",
            "closed" => closed_reason,
            _ => "no-response",
        };
        assert_eq!(reason, expected, "reason of {p:?}");
    }
}

/// Path of the lab binary: the lab is its own workspace crate, so cargo gives its path only
/// to the lab's own tests; it is built next to synscan (`cargo build --release --bins`, or
/// any `cargo test --release` of the whole workspace).
pub fn lab_bin() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::path::Path::new(synscan_bin())
            .parent()
            .expect("synscan's binary has a directory");
        let lab = dir.join("synscan-lab");
        let built = std::fs::metadata(&lab)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| {
                panic!(
                    "{} is missing: build it with `cargo build --release --bins`",
                    lab.display()
                )
            });
        // `cargo test --test tests` rebuilds synscan but not the lab's binary: refuse a
        // binary older than its sources (the lab's and the synscan library it links).
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let newest = [root.join("lab").join("src"), root.join("src")]
            .iter()
            .filter_map(|d| newest_source(d))
            .max();
        if let Some((when, path)) = newest {
            assert!(
                when <= built,
                "{} is older than {}: rebuild it with `cargo build --release --bins`",
                lab.display(),
                path.display()
            );
        }
        lab.to_string_lossy().into_owned()
    })
}

/// The most recently modified .rs file under `dir`.
fn newest_source(dir: &std::path::Path) -> Option<(std::time::SystemTime, std::path::PathBuf)> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        let found = if meta.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            meta.modified().ok().map(|m| (m, path))
        } else {
            None
        };
        newest = newest.max(found);
    }
    newest
}

/// Path of the synscan binary built alongside the tests.
pub fn synscan_bin() -> &'static str {
    env!("CARGO_BIN_EXE_synscan")
}

/// Whether we run as root (real uid 0), read from /proc/self/status.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A running `synscan-lab serve`; dropping it tears the lab down.
pub struct Lab {
    pub truth: Truth,
    pub name: String,
    child: Option<Child>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A lab name unique per process and call: "t" + pid hex + 2 hex digits (<= 10 chars).
pub fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) % 256;
    format!("t{:x}{:02x}", std::process::id(), n)
}

impl Lab {
    /// Start `synscan-lab serve --name <unique> ARGS...` and wait for its truth line.
    pub fn start(args: &[&str]) -> Lab {
        let name = unique_name();
        // A stale lab with our name can only be a crashed earlier run of this pid.
        let _ = Command::new(lab_bin())
            .args(["down", "--name", &name])
            .status();
        let mut child = Command::new(lab_bin())
            .args(["serve", "--name", &name])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn synscan-lab serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("serve stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim().is_empty() {
            let status = child.wait();
            let _ = Command::new(lab_bin())
                .args(["down", "--name", &name])
                .status();
            panic!(
                "synscan-lab serve {args:?} printed no truth (exit {status:?}); see stderr above"
            );
        }
        let truth = Truth::parse(&line).unwrap_or_else(|e| panic!("{e}"));
        Lab {
            truth,
            name,
            child: Some(child),
        }
    }

    /// Run `exe args` inside the scanner namespace and collect its output.
    pub fn run_in_scanner(&self, exe: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.truth.scanner_ns, exe])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {exe} in {}: {e}", self.truth.scanner_ns))
    }

    /// A `Command` for `exe` inside the scanner namespace (for custom stdio or env).
    pub fn scanner_command(&self, exe: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.truth.scanner_ns, exe]);
        c
    }

    /// The wire's counters (None without a wire): `{"final":..,"directions":[{"from",
    /// "to","received","lost","duplicated","reordered","sent","send_retries","send_failed",
    /// "overflow","kernel_drops","truncated","max_held","max_late_us","held","overdue_us"}, ...]}`; the
    /// first direction runs scanner -> target. Waits for a fresh copy (the file is rewritten
    /// every 100 ms).
    pub fn wire_stats(&self) -> Option<serde_json::Value> {
        let path = self.truth.wire_stats()?;
        std::thread::sleep(Duration::from_millis(250));
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read wire stats {}: {e}", path.display()));
        Some(serde_json::from_str(&text).expect("wire stats are JSON"))
    }

    /// A `Command` for `exe` inside the target namespace (e.g. `synscan-lab inject`).
    pub fn target_command(&self, exe: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.truth.target_ns, exe]);
        c
    }

    /// Plain kernel connects from the scanner namespace (`synscan-lab connect`), IPv4 or
    /// IPv6: each pair's outcome ("open", "refused", "timeout", "net-unreachable",
    /// "host-unreachable", "access-denied"). `timeout_ms` must pass 1000 for ICMP errors to
    /// show (see `synscan-lab connect --help`).
    pub fn connect(
        &self,
        pairs: &[(IpAddr, u16)],
        timeout_ms: u64,
    ) -> BTreeMap<(IpAddr, u16), String> {
        let mut child = self
            .scanner_command(lab_bin())
            .args(["connect", "--timeout-ms", &timeout_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn synscan-lab connect");
        let input: String = pairs.iter().map(|(a, p)| format!("{a} {p}\n")).collect();
        child
            .stdin
            .take()
            .expect("connect stdin")
            .write_all(input.as_bytes())
            .expect("write pairs to connect");
        let out = child.wait_with_output().expect("wait for connect");
        assert!(out.status.success(), "synscan-lab connect failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 3, "bad connect line {l:?}");
                let a: IpAddr = f[0].parse().expect("address");
                let p: u16 = f[1].parse().expect("port");
                ((a, p), f[2].to_string())
            })
            .collect()
    }

    /// The target veth's rx_packets counter.
    pub fn rx_packets(&self) -> u64 {
        let out = Command::new(lab_bin())
            .args(["counter", "--name", &self.name])
            .output()
            .expect("run synscan-lab counter");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!(
                    "bad counter output: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(25))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        let _ = Command::new(lab_bin())
            .args(["down", "--name", &self.name])
            .status();
    }
}

/// Names listed by `ip netns list`.
pub fn netns_list() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}
