//! Interrupt a scan at a random moment, resume it, and check that together the two runs
//! decided every probe of the full scan exactly once, sent none twice, and appended to
//! the same output file.

mod common;

use common::{skip_unless_root, synscan_bin, Lab, Pair};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

/// (results as (pair, state), summaries' packets_sent) from an NDJSON file that may hold
/// several runs.
fn read_json(path: &std::path::Path) -> (Vec<(Pair, String)>, Vec<u64>) {
    let results = common::read_ndjson(path)
        .into_iter()
        .map(|(pair, state, _)| (pair, state))
        .collect();
    let text = std::fs::read_to_string(path).expect("read -oJ output");
    let sent = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "summary")
        .map(|v| v["packets_sent"].as_u64().expect("packets_sent"))
        .collect();
    (results, sent)
}

#[test]
fn interrupt_then_resume_covers_the_scan_exactly_once() {
    if skip_unless_root("interrupt_then_resume_covers_the_scan_exactly_once") {
        return;
    }
    // No filtered pairs and no loss: every probe is answered on its first try, so the
    // packets sent count the probes sent.
    let lab = Lab::start(&[
        "--prefix",
        "198.19.8.0/22",
        "--open-hosts",
        "40",
        "--open-per-host",
        "3",
        "--filtered",
        "0",
    ]);
    let ports = lab.truth.ports_arg();
    let seed = rand::random::<u64>().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("out.json");
    let resume = dir.path().join("scan.resume");
    let (json_s, resume_s) = (
        json.to_string_lossy().to_string(),
        resume.to_string_lossy().to_string(),
    );
    let scan_args = [
        lab.truth.prefix.as_str(),
        "-p",
        ports.as_str(),
        "--seed",
        seed.as_str(),
        "--rate",
        "3000",
        "-oJ",
        json_s.as_str(),
        "--show",
        "closed,filtered",
    ];

    // The whole scan's probes, in order.
    let dry = lab.run_in_scanner(
        synscan_bin(),
        &[&scan_args[..5], &["--dry-run"][..]].concat(),
    );
    assert_eq!(dry.status.code(), Some(0));
    let full: Vec<Pair> = String::from_utf8_lossy(&dry.stdout)
        .lines()
        .map(|l| {
            let (ip, port) = l.split_once(' ').expect("ip port");
            (ip.parse().expect("ip"), port.parse().expect("port"))
        })
        .collect();
    assert_eq!(full.len(), 1024 * lab.truth.ports.len());

    // 1024 x 23 probes at 3000 pps take ~8 s: stop somewhere inside.
    let child = lab
        .scanner_command(synscan_bin())
        .args(scan_args)
        .args(["--resume-file", resume_s.as_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synscan");
    let after = Duration::from_millis(500 + rand::random::<u64>() % 5000);
    std::thread::sleep(after);
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let first = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(130), "after {after:?}: {err}");
    assert!(err.contains("--resume"), "{err}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&resume).expect("resume file written"))
            .expect("resume file is JSON");
    let position = saved["position"].as_u64().expect("position") as usize;
    assert!(
        position > 0 && position < full.len(),
        "stopped at {position}"
    );

    let (part1, sent1) = read_json(&json);
    let got1: BTreeSet<Pair> = part1.iter().map(|(p, _)| *p).collect();
    assert_eq!(got1.len(), part1.len(), "a probe decided twice in run 1");
    let want1: BTreeSet<Pair> = full[..position].iter().copied().collect();
    assert_eq!(
        got1, want1,
        "run 1 decided exactly the probes before {position}"
    );

    let second = lab.run_in_scanner(synscan_bin(), &["--resume", resume_s.as_str()]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(!resume.exists(), "a finished resume removes its file");

    let (all, sent) = read_json(&json);
    assert_eq!(sent.len(), 2, "both runs appended their summary");
    assert_eq!(sent[0], sent1[0]);
    assert_eq!(
        sent.iter().sum::<u64>(),
        full.len() as u64,
        "no probe sent twice, none left out"
    );
    let pairs: BTreeSet<Pair> = all.iter().map(|(p, _)| *p).collect();
    assert_eq!(pairs.len(), all.len(), "a probe decided twice across runs");
    assert_eq!(pairs, full.iter().copied().collect::<BTreeSet<Pair>>());
    let open: BTreeSet<Pair> = all
        .iter()
        .filter(|(_, s)| s == "open")
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(open, lab.truth.open);
    assert!(all
        .iter()
        .all(|(p, s)| s == "open" || (s == "closed" && !open.contains(p))));
}
