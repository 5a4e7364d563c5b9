//! Accuracy of the built synscan binary over the lab's emulated wire (a middle namespace that
//! delays, drops, duplicates and reorders frames: this kernel has no netem), and with ICMP
//! unreachables from nftables. Every reported state is compared with the lab's random truth.
//! Root is needed (skipped otherwise). Run with `--test-threads=1`: each case scans at
//! synscan's default 10k pps and timing matters.

use crate::common::{netns_list, read_ndjson, synscan_bin, with_state, Lab, Pair, Report};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// Every report of the -oJ output: pair, state, reason, in output order.
type Reports = Vec<Report>;

/// Pairs reported more than once, with all their reports.
fn repeated(r: &Reports) -> BTreeMap<Pair, Vec<(String, String)>> {
    let mut by_pair: BTreeMap<Pair, Vec<(String, String)>> = BTreeMap::new();
    for (p, s, why) in r {
        by_pair
            .entry(*p)
            .or_default()
            .push((s.clone(), why.clone()));
    }
    by_pair.retain(|_, v| v.len() > 1);
    by_pair
}

/// Every (address, port) of the lab's prefix and port list.
fn all_pairs(lab: &Lab) -> BTreeSet<Pair> {
    let (net, len) = lab.truth.prefix.split_once('/').expect("prefix/len");
    let base = u32::from(net.parse::<Ipv4Addr>().expect("prefix address"));
    let hosts = 1u32 << (32 - len.parse::<u32>().expect("prefix length"));
    (0..hosts)
        .flat_map(|i| {
            lab.truth
                .ports
                .iter()
                .map(move |p| (Ipv4Addr::from(base + i), *p))
        })
        .collect()
}

/// Scans the lab's prefix with synscan's defaults plus `extra`; returns stderr and results.
fn scan(lab: &Lab, extra: &[&str]) -> (String, Reports) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("out.json");
    let json_s = json.to_string_lossy().to_string();
    let ports = lab.truth.ports_arg();
    let mut args = vec![
        lab.truth.prefix.as_str(),
        "-p",
        ports.as_str(),
        "-oJ",
        json_s.as_str(),
        "--show",
        "closed,filtered",
    ];
    args.extend_from_slice(extra);
    let started = std::time::Instant::now();
    let out = lab.run_in_scanner(synscan_bin(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "synscan failed: {stderr}");
    eprintln!(
        "synscan {args:?} took {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        stderr.trim().replace('\n', " | ")
    );
    let reports = read_ndjson(&json);
    let twice = repeated(&reports);
    if !twice.is_empty() {
        eprintln!(
            "NOTE {} pairs reported more than once, e.g. {:?}",
            twice.len(),
            twice.iter().take(3).collect::<Vec<_>>()
        );
    }
    (stderr, reports)
}

/// Asserts the wire lost nothing of its own (kernel drops, failed sends, truncation) and
/// holds nothing past its release time; returns its counters, printed for the record.
fn wire_is_clean(lab: &Lab) -> serde_json::Value {
    let stats = lab.wire_stats().expect("the lab has a wire");
    eprintln!("wire counters: {stats}");
    for d in stats["directions"].as_array().expect("directions") {
        for k in ["kernel_drops", "send_failed", "truncated"] {
            assert_eq!(d[k], 0, "the wire itself lost frames ({k}): {d}");
        }
        let n = |k: &str| d[k].as_u64().unwrap_or_else(|| panic!("no {k} in {d}"));
        assert!(
            n("sent") <= n("received") - n("lost") + n("duplicated"),
            "the wire sent more than it passed: {d}"
        );
        assert!(
            n("overdue_us") < 1_000_000,
            "a frame is stuck in the wire past its release: {d}"
        );
    }
    stats
}

/// How far behind its schedule the wire fell (the machine stalling it), for failure messages:
/// replies more than ~200 ms late make synscan's default tries run out on a short wire.
fn wire_lateness(stats: &serde_json::Value) -> String {
    let late: Vec<String> = stats["directions"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|d| format!("{} -> {}: {} us", d["from"], d["to"], d["max_late_us"]))
                .collect()
        })
        .unwrap_or_default();
    let worst = stats["directions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|d| d["max_late_us"].as_u64())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    if worst > 50_000 {
        eprintln!("WARNING: the wire fell up to {worst} us behind its schedule (CPU stalls)");
    }
    format!("wire max lateness {}", late.join(", "))
}

/// Every pair decided, and every report of it exactly what the truth says; unreachable
/// pairs filtered with `unreach_reason`. (A pair reported twice alike passes here; see
/// `assert_each_once`.)
fn assert_exact(lab: &Lab, r: &Reports, unreach_reason: &str, wire: &serde_json::Value) {
    let context = wire_lateness(wire);
    let t = &lab.truth;
    let all = all_pairs(lab);
    let decided: BTreeSet<Pair> = r.iter().map(|(p, _, _)| *p).collect();
    let undecided: Vec<_> = all.difference(&decided).take(10).collect();
    assert!(
        undecided.is_empty(),
        "pairs never reported: {undecided:?} ({context})"
    );
    let stray: Vec<_> = decided.difference(&all).take(10).collect();
    assert!(stray.is_empty(), "pairs never scanned reported: {stray:?}");
    let mut wrong = Vec::new();
    for (p, state, reason) in r {
        let want = if t.open.contains(p) {
            ("open", "syn-ack")
        } else if t.filtered.contains(p) {
            ("filtered", "no-response")
        } else if t.unreachable.contains(p) {
            ("filtered", unreach_reason)
        } else {
            ("closed", "reset")
        };
        if (state.as_str(), reason.as_str()) != want {
            wrong.push(format!(
                "{p:?}: got {state}/{reason}, want {}/{}",
                want.0, want.1
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} reports wrong, first: {:?} ({context})",
        wrong.len(),
        r.len(),
        &wrong[..wrong.len().min(10)]
    );
}

/// No pair reported more than once.
fn assert_each_once(r: &Reports) {
    let twice = repeated(r);
    assert!(
        twice.is_empty(),
        "{} pairs reported more than once, e.g. {:?}",
        twice.len(),
        twice.iter().take(5).collect::<Vec<_>>()
    );
}

/// Recall of open pairs (found, truth), with the guarantees that must hold whatever the
/// loss: no false open, no false closed, every filtered truth pair reported filtered, every
/// pair decided.
fn lossy_checks(lab: &Lab, r: &Reports) -> (usize, usize) {
    let t = &lab.truth;
    let open = with_state(r, "open");
    let false_open: Vec<_> = open.difference(&t.open).collect();
    assert!(false_open.is_empty(), "false open ports: {false_open:?}");
    let closed = with_state(r, "closed");
    let false_closed: Vec<_> = closed
        .iter()
        .filter(|p| t.open.contains(p) || t.filtered.contains(p) || t.unreachable.contains(p))
        .collect();
    assert!(false_closed.is_empty(), "false closed: {false_closed:?}");
    let filtered = with_state(r, "filtered");
    let missed_filtered: Vec<_> = t.filtered.difference(&filtered).collect();
    assert!(
        missed_filtered.is_empty(),
        "filtered truth pairs not reported filtered: {missed_filtered:?}"
    );
    let decided: BTreeSet<Pair> = r.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(decided, all_pairs(lab), "every probe decided");
    (open.len(), t.open.len())
}

/// A lab with 10% loss each way and 50 +- 20 ms one-way delay on the wire; 1002 open pairs
/// (recall >= 99.9% allows one miss) among 4096 hosts x 23 ports.
fn lossy_lab(prefix: &str) -> Lab {
    Lab::start(&[
        "--prefix",
        prefix,
        "--open-hosts",
        "334",
        "--open-per-host",
        "3",
        "--filtered",
        "40",
        "--delay-ms",
        "50",
        "--jitter-ms",
        "20",
        "--wire-loss",
        "10",
    ])
}

/// Scans a lossy lab with default flags: checks the wire dropped ~10% each way and nothing
/// of its own, and the guarantees that hold whatever the loss; returns (found, open).
fn lossy_scan(lab: &Lab) -> (usize, usize) {
    let (_, r) = scan(lab, &[]);
    let stats = wire_is_clean(lab);
    for d in stats["directions"].as_array().unwrap() {
        let share = d["lost"].as_f64().unwrap() / d["received"].as_f64().unwrap().max(1.0);
        assert!(
            (0.08..0.12).contains(&share),
            "the wire dropped {share} instead of ~10%: {d}"
        );
    }
    let (found, open) = lossy_checks(lab, &r);
    eprintln!(
        "RECALL 10% loss + 50+-20 ms, default flags: {found}/{open} = {:.2}% (seed {}; {})",
        found as f64 * 100.0 / open as f64,
        lab.truth.seed,
        wire_lateness(&stats)
    );
    (found, open)
}

/// 10% loss each way and 50 +- 20 ms delay, DEFAULT flags: no false open (nor closed), every
/// filtered truth pair reported filtered, every pair decided. Recall is printed; the issue's
/// recall bar is the next test.
#[test]
#[ignore = "needs root: network namespaces"]
fn loss_10pct_delay_50ms_jitter_20ms_default_flags() {
    let lab = lossy_lab("198.19.16.0/20");
    lossy_scan(&lab);
}

/// The recall bar: 10% loss each way, 50 +- 20 ms delay, default flags, recall of
/// open pairs >= 99.9%. A try succeeds only when neither the SYN nor the SYN/ACK is lost
/// (0.81), so this needs the adaptive retries (about 6 tries at this loss) spaced out by
/// backoff past Linux's 500 ms limit on answering a repeated SYN.
#[test]
#[ignore = "needs root: network namespaces"]
fn loss_10pct_delay_50ms_jitter_20ms_default_flags_recall() {
    let lab = lossy_lab("198.19.32.0/20");
    let (found, open) = lossy_scan(&lab);
    assert!(
        found * 1000 >= open * 999,
        "recall {found}/{open} = {:.2}% is below 99.9%",
        found as f64 * 100.0 / open as f64
    );
}

/// A lab behind 200 ms of one-way delay (400 ms RTT) without loss.
fn far_lab(prefix: &str) -> Lab {
    Lab::start(&[
        "--prefix",
        prefix,
        "--open-hosts",
        "100",
        "--open-per-host",
        "3",
        "--filtered",
        "30",
        "--delay-ms",
        "200",
    ])
}

/// 200 ms one-way delay (400 ms RTT), no loss, default flags: recall 100% and every report
/// exactly the truth.
#[test]
#[ignore = "needs root: network namespaces"]
fn delay_200ms_default_flags_exact() {
    let lab = far_lab("198.19.64.0/22");
    let (_, r) = scan(&lab, &[]);
    let wire = wire_is_clean(&lab);
    let found = with_state(&r, "open").intersection(&lab.truth.open).count();
    eprintln!(
        "RECALL 200 ms delay, default flags: {found}/{} (seed {})",
        lab.truth.open.len(),
        lab.truth.seed
    );
    assert_eq!(
        found,
        lab.truth.open.len(),
        "recall below 100% ({})",
        wire_lateness(&wire)
    );
    assert_exact(&lab, &r, "", &wire);
}

/// 200 ms delay, default flags: each pair must be reported once (a retry that leaves after
/// the reply must not reopen the probe).
#[test]
#[ignore = "needs root: network namespaces"]
fn delay_200ms_each_pair_reported_once() {
    let lab = far_lab("198.19.88.0/22");
    let (_, r) = scan(&lab, &[]);
    let wire = wire_is_clean(&lab);
    assert_exact(&lab, &r, "", &wire);
    assert_each_once(&r);
}

/// 200 ms delay and no loss: a single try must suffice when the timeout follows the RTT
/// (replies are stamped when handled, so the RTT estimate is not biased low).
#[test]
#[ignore = "needs root: network namespaces"]
fn delay_200ms_one_try_suffices() {
    let lab = far_lab("198.19.92.0/22");
    let (_, r) = scan(&lab, &["--retries", "0"]);
    let wire = wire_is_clean(&lab);
    assert_exact(&lab, &r, "", &wire);
}

/// Duplicated and reordered frames on a jittery wire: each pair still decided once, exactly.
#[test]
#[ignore = "needs root: network namespaces"]
fn duplicates_and_reordering_default_flags_exact() {
    let lab = Lab::start(&[
        "--prefix",
        "198.19.68.0/22",
        "--open-hosts",
        "100",
        "--open-per-host",
        "3",
        "--filtered",
        "30",
        "--unreachable",
        "30",
        "--delay-ms",
        "20",
        "--jitter-ms",
        "15",
        "--duplicate",
        "20",
        "--reorder",
        "20",
    ]);
    let (_, r) = scan(&lab, &[]);
    let stats = wire_is_clean(&lab);
    for d in stats["directions"].as_array().unwrap() {
        assert!(
            d["duplicated"].as_u64().unwrap() > 0,
            "nothing duplicated: {d}"
        );
        assert!(
            d["reordered"].as_u64().unwrap() > 0,
            "nothing reordered: {d}"
        );
        assert_eq!(d["lost"], 0, "{d}");
    }
    assert_exact(&lab, &r, "host-unreach", &stats);
}

fn icmp_case(kind: &str, reason: &str, prefix: &str) {
    // Through a short wire, so ICMP errors cross the relay too.
    let lab = Lab::start(&[
        "--prefix",
        prefix,
        "--open-hosts",
        "60",
        "--open-per-host",
        "3",
        "--filtered",
        "30",
        "--unreachable",
        "150",
        "--unreach-kind",
        kind,
        "--delay-ms",
        "5",
    ]);
    assert_eq!(lab.truth.unreachable.len(), 150);
    let (_, r) = scan(&lab, &[]);
    let wire = wire_is_clean(&lab);
    let unreach: BTreeSet<Pair> = r
        .iter()
        .filter(|(_, s, why)| s == "filtered" && why == reason)
        .map(|(p, _, _)| *p)
        .collect();
    eprintln!(
        "ICMP {kind}: {} of {} unreachable pairs reported filtered/{reason}",
        unreach.intersection(&lab.truth.unreachable).count(),
        lab.truth.unreachable.len()
    );
    assert_exact(&lab, &r, reason, &wire);
}

/// nftables `reject with icmp type host-unreachable`: filtered, reason host-unreach.
#[test]
#[ignore = "needs root: network namespaces"]
fn icmp_host_unreachable_exact() {
    icmp_case("host", "host-unreach", "198.19.72.0/22");
}

/// nftables `reject with icmp type admin-prohibited`: filtered, reason admin-prohibited.
#[test]
#[ignore = "needs root: network namespaces"]
fn icmp_admin_prohibited_exact() {
    icmp_case("admin", "admin-prohibited", "198.19.76.0/22");
}

/// The wire's lab has three namespaces, all gone after drop, also when a test panics.
#[test]
#[ignore = "needs root: network namespaces"]
fn wired_lab_tears_down_all_three_namespaces() {
    let lab = Lab::start(&[
        "--prefix",
        "198.19.80.0/28",
        "--open-hosts",
        "2",
        "--filtered",
        "1",
        "--delay-ms",
        "1",
    ]);
    let names = lab.truth.namespaces();
    assert_eq!(names.len(), 3, "{names:?}");
    let stats = lab
        .truth
        .wire_stats()
        .expect("stats file named")
        .to_path_buf();
    let listed = netns_list();
    for n in &names {
        assert!(listed.contains(n), "{n} missing from {listed:?}");
    }
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _lab = lab;
        panic!("deliberate panic: teardown must still run");
    }));
    assert!(panicked.is_err());
    let listed = netns_list();
    for n in &names {
        assert!(!listed.contains(n), "{n} left behind after a panic");
    }
    assert!(!stats.exists(), "{} left behind", stats.display());
}

/// A wired lab whose middle namespace name is taken fails before creating anything, and
/// leaves the namespace it did not create alone.
#[test]
#[ignore = "needs root: network namespaces"]
fn wired_lab_refuses_a_taken_middle_namespace() {
    let name = crate::common::unique_name();
    let (s_ns, m_ns, t_ns) = (format!("{name}s"), format!("{name}m"), format!("{name}t"));
    let add = std::process::Command::new("ip")
        .args(["netns", "add", &m_ns])
        .status()
        .expect("ip netns add");
    assert!(add.success());
    // Removed also when the test fails before the end (a stale lab binary panics).
    struct Planted<'a>(&'a str);
    impl Drop for Planted<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", self.0])
                .status();
        }
    }
    let planted = Planted(&m_ns);
    let out = std::process::Command::new(crate::common::lab_bin())
        .args(["serve", "--name", &name, "--prefix", "198.19.84.0/28"])
        .args(["--open-hosts", "1", "--filtered", "0", "--delay-ms", "1"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run serve");
    let list = netns_list();
    drop(planted);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        list.contains(&m_ns),
        "a namespace the lab did not create must survive"
    );
    assert!(!list.contains(&s_ns) && !list.contains(&t_ns), "{list:?}");
}
