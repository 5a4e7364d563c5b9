//! End-to-end tests of the binary that need no lab: dry runs, shards, bad input, missing
//! privilege, and a loopback scan. Each runs inside a fresh empty network namespace, so a bug
//! that sends can reach nothing.

use crate::common::{synscan_bin, AS_NOBODY};
use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace with only loopback, removed on drop.
struct EmptyNs {
    name: String,
}

impl EmptyNs {
    fn new() -> EmptyNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "e{:x}c{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip netns add {name} failed");
        let ns = EmptyNs { name };
        let _ = Command::new("ip")
            .args(["-n", &ns.name, "link", "set", "lo", "up"])
            .status();
        ns
    }

    /// `synscan-lab listen` on `port` in this namespace; kill and wait for it when done.
    fn listen(&self, port: u16) -> std::process::Child {
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                crate::common::lab_bin(),
                "listen",
            ])
            .args(["--ports", &port.to_string()])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("start listener");
        std::thread::sleep(std::time::Duration::from_millis(300));
        child
    }

    fn run(&self, prog: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, prog])
            .args(args)
            .output()
            .expect("run in namespace")
    }

    fn synscan(&self, args: &[&str]) -> Output {
        self.run(synscan_bin(), args)
    }
}

impl Drop for EmptyNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn dry_run_is_a_bijection_and_reproducible() {
    let ns = EmptyNs::new();
    let args = [
        "198.19.1.0/24",
        "198.19.2.7-198.19.2.9",
        "-p",
        "1-5,80,443",
        "--seed",
        "7",
        "--dry-run",
    ];
    let a = ns.synscan(&args);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let order = lines(&a);
    let mut expected = BTreeSet::new();
    for host in (0..256)
        .map(|h| format!("198.19.1.{h}"))
        .chain((7..=9).map(|h| format!("198.19.2.{h}")))
    {
        for port in [1, 2, 3, 4, 5, 80, 443] {
            expected.insert(format!("{host} {port}"));
        }
    }
    assert_eq!(order.len(), 259 * 7);
    let seen: BTreeSet<String> = order.iter().cloned().collect();
    assert_eq!(seen, expected, "dry run must list every probe exactly once");
    assert_eq!(lines(&ns.synscan(&args)), order, "same seed, same order");
    let other = ns.synscan(&[
        "198.19.1.0/24",
        "198.19.2.7-198.19.2.9",
        "-p",
        "1-5,80,443",
        "--seed",
        "8",
        "--dry-run",
    ]);
    assert_ne!(lines(&other), order, "another seed, another order");
    // Random order: the first 20 probes do not all hit one host.
    let first_hosts: BTreeSet<&str> = order
        .iter()
        .take(20)
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(
        first_hosts.len() > 10,
        "probes are not spread: {first_hosts:?}"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn shards_are_disjoint_and_cover_the_scan() {
    let ns = EmptyNs::new();
    let base = [
        "198.19.0.0/23",
        "-p",
        "22,80,443,8080,3389",
        "--seed",
        "99",
        "--dry-run",
    ];
    let full: Vec<String> = lines(&ns.synscan(&base));
    assert_eq!(full.len(), 512 * 5);
    for n in [2u32, 3, 7] {
        let mut union = Vec::new();
        for i in 1..=n {
            let shard = format!("{i}/{n}");
            let mut args = base.to_vec();
            args.extend_from_slice(&["--shard", &shard]);
            let out = ns.synscan(&args);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            union.extend(lines(&out));
        }
        assert_eq!(
            union.len(),
            full.len(),
            "shards of {n} overlap or miss probes"
        );
        let a: BTreeSet<&String> = union.iter().collect();
        let b: BTreeSet<&String> = full.iter().collect();
        assert_eq!(a, b, "union of {n} shards differs from the whole scan");
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn bad_input_gets_exit_2_and_one_line() {
    let ns = EmptyNs::new();
    let cases: &[(&[&str], &str)] = &[
        (&["198.19.0.1", "-p", "70000"], "70000"),
        (&["198.19.0.1", "-p", "0"], "\"0\""),
        (&["198.19.0.1", "-p", "80-20"], "80-20"),
        (&["198.19.0.300", "-p", "80"], "198.19.0.300"),
        (&["198.19.0.0/33", "-p", "80"], "198.19.0.0/33"),
        (
            &["198.19.0.9-198.19.0.1", "-p", "80"],
            "198.19.0.9-198.19.0.1",
        ),
        (&["198.19.0.1", "--rate", "fast"], "--rate"),
        (&["198.19.0.1", "--retries", "-1"], "--retries"),
        (&["198.19.0.1", "--shard", "3/2"], "3/2"),
        (&["198.19.0.1", "--seed", "x"], "--seed"),
        (&["198.19.0.1", "--source-port", "99999"], "--source-port"),
        (&["198.19.0.1", "--router-mac", "zz"], "--router-mac"),
        (&["198.19.0.1", "--top-ports", "0"], "top"),
        (&["224.0.0.1", "-p", "80"], "--allow-reserved"),
        (
            &["-iL", "/nonexistent/targets.txt"],
            "/nonexistent/targets.txt",
        ),
        (&["198.19.0.1", "--bogus-flag"], "--bogus-flag"),
        (&["198.19.0.1", "--output-format", "yaml"], "yaml"),
        (&["198.19.0.1", "-oL", "-", "-oJ", "-"], "stdout"),
        (&["198.19.0.1", "--exclude", "198.19.0.1"], "no targets"),
        (&[], "no targets"),
        (&["2001:2:0:19::/64", "-p", "80"], "hitlist"),
        (
            &["2001:2:0:19::1", "-p", "80", "--nmap=-sV"],
            "--nmap hands IPv4 hosts to nmap only",
        ),
        (&["16.0.0.0/7", "-p", "80"], "--allow-large"),
        (
            &["198.19.0.1", "--user", "no-such-user-xyz"],
            "no-such-user-xyz",
        ),
        (
            &["--resume", "/nonexistent/scan.resume"],
            "/nonexistent/scan.resume",
        ),
        (&["--resume", "/dev/null", "-p", "80"], "--resume"),
        (&["198.19.0.1", "--stats-every", "soon"], "--stats-every"),
    ];
    for (args, needle) in cases {
        let out = ns.synscan(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} -> {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line expected, got {err}"
        );
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should name {needle}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked");
    }
}

/// Issue #12 item 1: bad IPv6 targets are refused with exit 2 and one line naming the
/// part and the fix.
#[test]
#[ignore = "needs root: network namespaces"]
fn bad_ipv6_targets_get_exit_2_and_one_line() {
    let ns = EmptyNs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("hitlist.txt");
    std::fs::write(
        &list,
        "2001:2:0:19::1\n# a comment\n2001:2:0:19::5-2001:2:0:19::1\n",
    )
    .expect("write hitlist");
    let list = list.to_str().expect("utf-8 path");
    let cases: &[(&[&str], &str)] = &[
        (&["2001:2:0:19::/64", "-p", "80"], "cannot be swept at any rate; list the addresses you want in a hitlist file and pass it with -iL"),
        (&["2001:2::/48", "-p", "80", "--allow-large"], "covers 2^80 addresses"),
        (&["2001:2::/129", "-p", "80"], "use /0 to /128"),
        (&["2001:2::ff-2001:2::1", "-p", "80"], "the first address must not exceed the last"),
        (&["2001:2::g", "-p", "80"], "bad target \"2001:2::g\""),
        (&["2001:2::1-fffff", "-p", "80"], "2001:2::1-fffff"),
        (&["fe80::1%lo", "-p", "80"], "zone (%lo)"),
        (&["ff02::1", "-p", "80"], "(ff00::/8, multicast): exclude them or pass --allow-reserved"),
        (&["2001:db8::1", "-p", "80"], "2001:db8::/32, documentation"),
        (&["3fff::1", "-p", "80"], "3fff::/20, documentation"),
        (&["::", "-p", "80"], "::/128, unspecified"),
        (&["::ffff:198.19.0.1", "-p", "80"], "IPv4-mapped"),
        (&["2001:2::/103", "-p", "80"], "--allow-large"),
        (&["2001:2::/72", "-p-", "--allow-large", "--dry-run"], "2^64 probes or more"),
        (&["2001:2::/65", "2001:2:0:0:8000::/65", "-p", "80", "--allow-large", "--dry-run"], "2^64 probes or more"),
        (&["-iL", list, "-p", "80"], "line 3: bad range"),
        (&["198.19.0.1", "--exclude", "2001:2::/200"], "2001:2::/200"),
        (&["2001:2:0:19::1", "--exclude", "2001:2::/48"], "no targets left"),
    ];
    for (args, needle) in cases {
        let out = ns.synscan(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} -> {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line expected, got {err}"
        );
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should name {needle}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
    }
    // --allow-reserved lets a reserved block through, as for IPv4.
    let out = ns.synscan(&["ff02::1", "-p", "80", "--allow-reserved", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(&out), vec!["ff02::1 80"]);
}

/// Issue #12 item 1: IPv4 and IPv6 targets from the command line, a hitlist and excludes
/// make one probe list, printed as nmap prints addresses; the IPv4-only order is unchanged.
#[test]
#[ignore = "needs root: network namespaces"]
fn dry_run_lists_mixed_ipv4_and_ipv6_targets() {
    let ns = EmptyNs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("hitlist.txt");
    std::fs::write(
        &list,
        "# hitlist\n2001:2:0:19::10\n[2001:2:0:19::a:1]  2001:2:0:19:0:0:0:1\n198.19.0.9\n",
    )
    .expect("write hitlist");
    let excludes = dir.path().join("ex.txt");
    std::fs::write(&excludes, "2001:2:0:19::3\n").expect("write excludes");
    let args = [
        "198.19.0.1-2",
        "2001:2:0:19::1-4",
        "-iL",
        list.to_str().expect("utf-8"),
        "--exclude",
        "2001:2:0:19::2,198.19.0.2",
        "--excludefile",
        excludes.to_str().expect("utf-8"),
        "-p",
        "80,443",
        "--seed",
        "11",
        "--dry-run",
    ];
    let out = ns.synscan(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = lines(&out);
    let mut want: Vec<String> = Vec::new();
    for ip in [
        "198.19.0.1",
        "198.19.0.9",
        "2001:2:0:19::1",
        "2001:2:0:19::4",
        "2001:2:0:19::10",
        "2001:2:0:19::a:1",
    ] {
        for port in [80, 443] {
            want.push(format!("{ip} {port}"));
        }
    }
    let sorted = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(got.len(), want.len(), "{got:?}");
    assert_eq!(sorted(&got), sorted(&want));
    // Same seed, same order; the families are interleaved by the one permutation.
    assert_eq!(lines(&ns.synscan(&args)), got);
    let first_v6 = got.iter().position(|l| l.contains(':'));
    let last_v4 = got.iter().rposition(|l| !l.contains(':'));
    assert!(first_v6 < last_v4, "not one permutation over both: {got:?}");
    // -oJ lists the same probes with the address in JSON.
    let json = dir.path().join("probes.json");
    let mut json_args = args.to_vec();
    json_args.extend(["-oJ", json.to_str().expect("utf-8")]);
    let out = ns.synscan(&json_args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&json).expect("read -oJ");
    let from_json: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("port").is_some())
        .map(|v| format!("{} {}", v["ip"].as_str().unwrap_or("?"), v["port"]))
        .collect();
    assert_eq!(from_json, got);
    // Shards of a mixed list are disjoint and cover it.
    let mut union: Vec<String> = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let mut shard_args = args.to_vec();
        shard_args.extend(["--shard", shard]);
        let out = ns.synscan(&shard_args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        union.extend(lines(&out));
    }
    assert_eq!(union.len(), got.len());
    assert_eq!(sorted(&union), sorted(&got));
    // IPv6 targets are scanned: in this empty namespace the scan stops at the missing route.
    let out = ns.synscan(&["2001:2:0:19::1", "-p", "80"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("synscan: no route to 2001:2:0:19::1: "),
        "{}",
        stderr(&out)
    );
}

/// Issue #8 items 3, 8 and 9: each case is refused with exit 2 and one line that contains
/// the first needle and not the second.
#[test]
#[ignore = "needs root: network namespaces"]
fn refusals_are_usage_errors_naming_the_flag_file_and_line() {
    let ns = EmptyNs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("targets.txt");
    std::fs::write(&list, "# scope\n198.19.0.1\n198.19.0.2 198.19.0.999\n").expect("write");
    let list = list.to_string_lossy().into_owned();
    let at_line_3 = format!("\"{list}\" line 3: bad octet \"999\"");
    let cases: &[(&[&str], &str, &str)] = &[
        (&["198.19.0.1", "--user", "root"], "uid 0", ""),
        (
            &["16.0.0.0/7", "-p", "80", "--exclude", "198.19.0.1"],
            "--allow-large",
            "",
        ),
        (
            &["198.19.0.1", "-p", "80", "-e", "nosuchif0"],
            "nosuchif0",
            "",
        ),
        (
            &["198.19.0.1", "--excludefile", "/nonexistent/ex.txt"],
            "--excludefile path",
            "-iL",
        ),
        (&["-iL", &list, "-p", "80"], &at_line_3, ""),
        (
            &["198.19.0.0/24", "-p", "80", "--excludefile", &list],
            &at_line_3,
            "",
        ),
        (
            &[
                "198.19.0.1",
                "--connect",
                "--router-mac",
                "02:00:5e:10:00:01",
            ],
            "--connect does not use --router-mac",
            "",
        ),
        (
            &["198.19.0.1", "-sT", "--send-path", "raw"],
            "--connect does not use --send-path",
            "",
        ),
        (
            &["198.19.0.1", "--connect", "--source-port", "40000"],
            "--connect does not use --source-port",
            "",
        ),
        (
            &["198.19.0.1", "--stats-every", "0"],
            "--stats-every \"0\"",
            "",
        ),
        (
            &["198.19.0.0/24", "-p", "80", "--shard", "1/2", "--dry-run"],
            "needs --seed",
            "",
        ),
    ];
    for (args, needle, absent) in cases {
        let out = ns.synscan(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} -> {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should name {needle}"
        );
        assert!(
            absent.is_empty() || !err.contains(absent),
            "{args:?}: {err:?} should not name {absent}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed probes");
    }
    // The -iL file's addresses with the bad one fixed scan as usual (nothing else wrong).
    std::fs::write(&list, "# scope\n198.19.0.1\n198.19.0.2\n").expect("write");
    let out = ns.synscan(&["-iL", &list, "-p", "80", "--dry-run", "--seed", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(&out).len(), 2);
}

/// Issue #18 item 15: flags that would do nothing, scan types synscan does not do yet, and
/// bad paths and ports of the subcommands are each refused with exit 2 and one line that
/// names the flag.
#[test]
#[ignore = "needs root: network namespaces"]
fn idle_flags_unsupported_scan_types_and_bad_outputs_get_exit_2_and_one_line() {
    let ns = EmptyNs::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old.lst");
    let new = dir.path().join("new.lst");
    std::fs::write(&old, "#masscan\nopen tcp 22 198.19.0.5 1700000000\n").expect("write");
    std::fs::write(&new, "#masscan\nopen tcp 80 198.19.0.5 1700000100\n").expect("write");
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[allow]]\nname = \"web\"\nhosts = [\"198.19.0.0/16\"]\nports = [80]\n",
    )
    .expect("write");
    let (old, new) = (old.to_str().expect("utf-8"), new.to_str().expect("utf-8"));
    let policy = policy.to_str().expect("utf-8");
    let dry = |flag: &'static str, value: &'static str| -> (Vec<&'static str>, String) {
        (
            vec!["198.19.0.1", "-p", "80", "--dry-run", flag, value],
            format!(
                "--dry-run sends nothing, so {flag} would do nothing: drop {flag} (or --dry-run)"
            ),
        )
    };
    let not_yet = |args: &[&'static str], flag: &str, what: &str| -> (Vec<&'static str>, String) {
        (
            args.to_vec(),
            format!("{flag} ({what}) is not supported yet: "),
        )
    };
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["local", "--port", "0"],
            "--port 0 names no port: give a port from 1 to 65535".into(),
        ),
        (
            vec!["diff", old, new, "-oJ", "/nonexistent/x"],
            "cannot open output file /nonexistent/x: No such file or directory".into(),
        ),
        (
            vec!["check", old, "--policy", policy, "-oJ", "/nonexistent/x"],
            "cannot open output file /nonexistent/x: No such file or directory".into(),
        ),
        dry("--rate", "1000"),
        dry("--wait", "1"),
        dry("--retries", "2"),
        dry("--min-rate", "10"),
        dry("--max-rate", "10k"),
        dry("--user", "nobody"),
        not_yet(&["-sU", "198.19.0.1"], "-sU", "UDP scan"),
        (
            vec!["198.19.0.1", "--version-all"],
            "--version-intensity, --version-light, --version-all and --max-connections set up -sV: add -sV".into(),
        ),
        (
            vec!["198.19.0.1", "-sV", "--version-intensity", "10"],
            "bad --version-intensity \"10\": use a number from 0 to 9".into(),
        ),
        not_yet(
            &["198.19.0.1", "-sn"],
            "-sn",
            "host discovery without a port scan (ping scan)",
        ),
        not_yet(&["198.19.0.1", "-sSU"], "-sU", "UDP scan"),
        (
            vec!["198.19.0.1", "-sA", "-sS"],
            "-sS and -sA both given: choose one scan type".into(),
        ),
        (
            vec!["198.19.0.1", "--scan-type", "maimon"],
            "bad --scan-type \"maimon\": use one of syn, connect, ack, fin, null, xmas".into(),
        ),
        not_yet(&["198.19.0.1", "-sW"], "-sW", "Window scan"),
        not_yet(&["198.19.0.1", "-PE"], "-PE", "ICMP echo host discovery"),
        not_yet(&["198.19.0.1", "-PS22,80"], "-PS", "TCP SYN host discovery"),
        not_yet(&["198.19.0.1", "-O"], "-O", "OS detection"),
    ];
    for (args, needle) in &cases {
        let out = ns.synscan(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} -> {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(needle.as_str()),
            "{args:?}: {err:?} should say {needle:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
    }
    // The scan types' values are left alone where they are another flag's value.
    let out = ns.synscan(&["198.19.0.1", "-p", "80", "--dry-run", "--exclude", "-sU"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        !stderr(&out).contains("not supported yet"),
        "{}",
        stderr(&out)
    );
    // --user when not started as root: refused, since it would do nothing.
    let out = ns.run(
        "setpriv",
        &[
            &AS_NOBODY[..],
            &[
                synscan_bin(),
                "127.0.0.1",
                "-p",
                "80",
                "--connect",
                "--user",
                "nobody",
            ],
        ]
        .concat(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim_end(),
        "synscan: --user nobody only applies to a scan started as root (it switches to that user once its sockets are open); this one already runs as you: drop --user"
    );
}

/// Issue #18 item 15: a --source-ip this machine does not own gets one warning line (its
/// replies never come back here); one it owns, an interface's or a local route's, none.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_source_ip_that_is_not_local_is_warned_of() {
    let ns = EmptyNs::new();
    let scan = |source: &str| -> Output {
        ns.synscan(&[
            "127.0.0.1",
            "-p",
            "9",
            "-e",
            "lo",
            "--source-ip",
            source,
            "--retries",
            "0",
            "--wait",
            "0.2",
            "-oL",
            "/dev/null",
        ])
    };
    let out = scan("198.18.7.7");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(
        warnings,
        ["synscan: warning: --source-ip 198.18.7.7 is not an address of this machine: replies to it come back only if the network routes them here (add it to an interface, e.g. `ip addr add 198.18.7.7/32 dev IFACE`, or drop --source-ip)"],
        "{err}"
    );
    for local in ["127.0.0.1", "127.0.0.5"] {
        let out = scan(local);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{local}: {err}");
        assert!(!err.contains("warning"), "{local}: {err}");
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn missing_privilege_exits_3_with_the_fix() {
    let ns = EmptyNs::new();
    let out = ns.run(
        "setpriv",
        &[&AS_NOBODY[..], &[synscan_bin(), "198.19.0.1", "-p", "80"]].concat(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("CAP_NET_RAW"), "{err}");
    assert!(err.contains("setcap cap_net_raw+ep"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn scans_loopback_listener() {
    let ns = EmptyNs::new();
    let mut listener = ns.listen(8080);
    let out = ns.synscan(&[
        "127.0.0.1",
        "-p",
        "8080,8081",
        "-oL",
        "-",
        "--show",
        "closed",
    ]);
    let _ = listener.kill();
    let _ = listener.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut body: Vec<String> = lines(&out)
        .into_iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(' ').take(4).collect::<Vec<_>>().join(" "))
        .collect();
    body.sort();
    assert_eq!(
        body,
        vec!["closed tcp 8081 127.0.0.1", "open tcp 8080 127.0.0.1"]
    );
}

/// A slow root-started scan into `ns`'s loopback, run with `passwd` bound over /etc/passwd
/// in a mount namespace of its own (the machine's file is untouched): the running scan's
/// /proc status once it has given up root, and its output after an interrupt.
fn root_scan_status(ns: &EmptyNs, passwd: &str) -> (String, Output) {
    let dir = tempfile::tempdir().expect("tempdir");
    let passwd_file = dir.path().join("passwd");
    std::fs::write(&passwd_file, passwd).expect("write passwd");
    let resume = dir.path().join("r.resume");
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" /etc/passwd && exec ip netns exec \"$2\" \"$3\" 127.0.0.1 -p 1-20000 --rate 2000 -oL /dev/null --resume-file \"$4\"")
        .arg("sh")
        .arg(&passwd_file)
        .arg(&ns.name)
        .arg(synscan_bin())
        .arg(&resume)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start synscan");
    // unshare, sh and ip netns exec each exec the next: the child is the scan itself.
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let mut status = String::new();
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let gave_up = status
            .lines()
            .any(|l| l.starts_with("Uid:") && !l.ends_with("\t0"));
        if gave_up && status.contains("NoNewPrivs:\t1") {
            break;
        }
    }
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    // The unprivileged scanner still saved its resume file in root's private directory.
    let saved = std::fs::read_to_string(&resume).expect("resume file");
    assert!(saved.contains("\"position\""), "{saved}");
    (status, out)
}

/// One field of a /proc status text, its values joined by single spaces.
fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Issue #18 item 7: a root-started scan runs as the dedicated system user synscan when it
/// exists, and as nobody (with a one-line note) when it does not; either way without any
/// capability, with no_new_privs.
#[test]
#[ignore = "needs root: network namespaces"]
fn root_start_runs_as_the_synscan_user_or_nobody_without_capabilities() {
    let ns = EmptyNs::new();
    let machine: String = std::fs::read_to_string("/etc/passwd")
        .expect("read /etc/passwd")
        .lines()
        .filter(|l| !l.starts_with("synscan:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let with_user = format!("{machine}synscan:x:64123:64124::/nonexistent:/usr/sbin/nologin\n");
    let note = "synscan: note: running as nobody, which other daemons share: create the synscan system user (`useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin synscan`; make install does) or pass --user";
    for (passwd, uid, gid, noted) in [
        (&with_user, "64123", "64124", false),
        (&machine, "65534", "65534", true),
    ] {
        let (status, out) = root_scan_status(&ns, passwd);
        let four = |id: &str| [id; 4].join(" ");
        assert_eq!(status_field(&status, "Uid:"), four(uid), "{status}");
        assert_eq!(status_field(&status, "Gid:"), four(gid), "{status}");
        assert_eq!(status_field(&status, "Groups:"), "", "{status}");
        for caps in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
            assert_eq!(
                status_field(&status, caps),
                "0000000000000000",
                "{caps} {status}"
            );
        }
        assert_eq!(status_field(&status, "NoNewPrivs:"), "1");
        let err = stderr(&out);
        assert_eq!(err.lines().any(|l| l == note), noted, "{err}");
    }
}

/// Issue #8 item 10: `--nmap "-oX svc.xml -sV"` reaches nmap as typed (the argv rewriting
/// used to turn it into "--output-xml= svc.xml -sV"), and a scan started as root, which runs
/// as nobody once its sockets are open, still hands off to an nmap that runs as root in the
/// invoking (root-only) directory, so its -oX file can be written there.
#[test]
#[ignore = "needs root: network namespaces"]
fn nmap_hand_off_gets_its_arguments_as_typed_and_root_rights() {
    let ns = EmptyNs::new();
    let bin = tempfile::tempdir().expect("tempdir");
    // A stand-in nmap that records who ran it, where, and with what.
    let fake = bin.path().join("nmap");
    std::fs::write(
        &fake,
        "#!/bin/sh\n{ id -u; pwd; printf '%s\\n' \"$@\"; } > nmap-run.txt\n",
    )
    .expect("write fake nmap");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let mut listener = ns.listen(8080);
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.path().display());
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, synscan_bin()])
        .args(["127.0.0.1", "-p", "8080,8081", "--nmap", "-oX svc.xml -sV"])
        .arg("--resume-file")
        .arg(work.path().join("r.resume"))
        .current_dir(work.path())
        .env("PATH", &path)
        .output()
        .expect("run synscan");
    let _ = listener.kill();
    let _ = listener.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("handing the open ports to nmap: nmap -oX svc.xml -sV -p 8080 127.0.0.1"),
        "{}",
        stderr(&out)
    );
    let run = std::fs::read_to_string(work.path().join("nmap-run.txt")).unwrap_or_else(|e| {
        panic!(
            "nmap did not run in the working directory: {e}; {}",
            stderr(&out)
        )
    });
    let work_dir = work.path().canonicalize().expect("canonicalize");
    assert_eq!(
        run.lines().collect::<Vec<_>>(),
        [
            "0",
            work_dir.to_str().expect("utf-8 path"),
            "-oX",
            "svc.xml",
            "-sV",
            "-p",
            "8080",
            "127.0.0.1"
        ]
    );
}

/// With the real nmap: a root-started scan's hand-off runs nmap with root's rights (a SYN
/// scan, not the connect() fallback) and its -oX lands in the root-only working directory.
#[test]
#[ignore = "needs root: network namespaces"]
fn nmap_hand_off_from_root_runs_a_privileged_nmap() {
    if !std::path::Path::new("/usr/bin/nmap").exists() {
        eprintln!("SKIP nmap_hand_off_from_root_runs_a_privileged_nmap: apt install nmap");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let ns = EmptyNs::new();
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let mut listener = ns.listen(8080);
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, synscan_bin()])
        .args([
            "127.0.0.1",
            "-p",
            "8080,8081",
            "--nmap",
            "-n -Pn -oX svc.xml",
        ])
        .arg("--resume-file")
        .arg(work.path().join("r.resume"))
        .current_dir(work.path())
        .output()
        .expect("run synscan");
    let _ = listener.kill();
    let _ = listener.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = std::fs::read_to_string(work.path().join("svc.xml")).expect("nmap's -oX");
    assert!(xml.contains("<scaninfo type=\"syn\""), "{xml}");
    assert!(
        xml.contains("<port protocol=\"tcp\" portid=\"8080\"><state state=\"open\""),
        "{xml}"
    );
}

/// Issue #18 item 6: the root hand-off's nmap scans only the hosts and ports the scan found
/// open. Every way of naming another target or other ports in ARGS (a bare address, a
/// single-dash long option, `--opt=value`, a glued short option, a target file) is refused
/// with exit 2 before anything is sent, and nmap never starts; an allowed run, with the
/// real nmap and a listener answering on every 127/8 address, reports 127.0.0.1 alone.
#[test]
#[ignore = "needs root: network namespaces"]
fn nmap_hand_off_scans_only_the_hosts_the_scan_found() {
    use std::os::unix::fs::PermissionsExt;
    let ns = EmptyNs::new();
    let bin = tempfile::tempdir().expect("tempdir");
    let record = bin.path().join("ran.txt");
    std::fs::write(
        bin.path().join("nmap"),
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", record.display()),
    )
    .expect("write fake nmap");
    std::fs::set_permissions(
        bin.path().join("nmap"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("more.txt"), "127.0.0.2\n").expect("write target list");
    let fake_path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.path().display());
    // 0.0.0.0:8080: 127.0.0.2 and every other loopback address answer too.
    let mut listener = ns.listen(8080);
    let scan = |nmap_args: &str, path: &str| -> Output {
        Command::new("ip")
            .args(["netns", "exec", &ns.name, synscan_bin()])
            .args(["127.0.0.1", "-p", "8080,8081", "--nmap", nmap_args])
            .arg("--resume-file")
            .arg(work.path().join("r.resume"))
            .current_dir(work.path())
            .env("PATH", path)
            .output()
            .expect("run synscan")
    };
    for (args, word) in [
        ("-sT -Pn -n 127.0.0.2", "127.0.0.2"),
        ("-sT 127.0.0.0/24", "127.0.0.0/24"),
        ("-top-ports 3", "-top-ports"),
        ("--top-ports=3", "--top-ports=3"),
        ("--iR 3", "--iR"),
        ("-iR=3", "-iR=3"),
        ("-iL more.txt", "-iL"),
        ("-iLmore.txt", "-iLmore.txt"),
        ("-p 8081", "-p"),
        ("-p-", "-p-"),
        ("-port-ratio=0.5", "-port-ratio=0.5"),
        ("--exclude-ports 22", "--exclude-ports"),
        ("-F", "-F"),
        ("-6", "-6"),
        ("-sn", "-sn"),
        ("-sV -- 127.0.0.2", "--"),
        ("--script-args newtargets", "newtargets"),
    ] {
        let out = scan(args, &fake_path);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args}: {err}");
        assert!(err.starts_with("synscan: --nmap: "), "{args}: {err}");
        assert!(err.contains(word), "{args}: {err} should name {word}");
        assert!(!record.exists(), "{args}: nmap ran");
    }
    // Allowed: the fake nmap is handed 127.0.0.1 and its open port, nothing else.
    let out = scan("-sT -Pn -n --reason -oX svc.xml", &fake_path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&record).expect("nmap ran"),
        "-sT\n-Pn\n-n\n--reason\n-oX\nsvc.xml\n-p\n8080\n127.0.0.1\n"
    );
    // And the real nmap, run as root by the helper, scans exactly that.
    assert!(
        std::path::Path::new("/usr/bin/nmap").exists(),
        "needs nmap (apt install nmap, as .ci/run does)"
    );
    {
        let out = scan(
            "-sT -Pn -n --reason -oX svc.xml",
            "/usr/sbin:/usr/bin:/sbin:/bin",
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let xml = std::fs::read_to_string(work.path().join("svc.xml")).expect("nmap's -oX");
        let addresses: Vec<&str> = xml
            .split("<address addr=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        assert_eq!(addresses, ["127.0.0.1"], "{xml}");
        let ports: Vec<&str> = xml
            .split("<port protocol=\"tcp\" portid=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        assert_eq!(ports, ["8080"], "{xml}");
    }
    let _ = listener.kill();
    let _ = listener.wait();
}

/// The root hand-off helper plays against a compromised scanner: open ports outside the
/// scope it was given while the scan was still root are refused, and nmap never starts.
#[test]
#[ignore = "needs root: network namespaces"]
fn nmap_hand_off_helper_refuses_ports_outside_the_scan() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let ns = EmptyNs::new();
    let bin = tempfile::tempdir().expect("tempdir");
    let fake = bin.path().join("nmap");
    let record = bin.path().join("ran.txt");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", record.display()),
    )
    .expect("write fake nmap");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.path().display());
    // 198.19.0.0/24 is 3323133952-3323134207.
    let scope = "host 3323133952 3323134207\nport 80 80\nscanning\n";
    let helper = |lines: &str| -> Output {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, synscan_bin()])
            .args(["--internal-nmap-hand-off", "-sV"])
            .env("PATH", &path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start helper");
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(format!("{scope}{lines}").as_bytes())
            .expect("write");
        drop(pipe);
        child.wait_with_output().expect("wait")
    };
    for (lines, why) in [
        (
            "open 10.0.0.1 80\nrun\n",
            "10.0.0.1 port 80, outside the scan",
        ),
        (
            "open 198.19.0.5 22\nrun\n",
            "198.19.0.5 port 22, outside the scan",
        ),
        ("host 0 4294967295\nrun\n", "unexpected line"),
    ] {
        let out = helper(lines);
        assert_eq!(out.status.code(), Some(4), "{lines}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{lines}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim_end().lines().count(), 1);
        assert!(!record.exists(), "{lines}: nmap ran");
    }
    // Cut short (the scan did not complete): nothing runs, no error.
    let out = helper("open 198.19.0.5 80\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!record.exists(), "nmap ran for an incomplete scan");
    // In scope: nmap runs on exactly what was reported.
    let out = helper("open 198.19.0.5 80\nrun\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&record).expect("nmap ran"),
        "-sV\n-p\n80\n198.19.0.5\n"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn stats_every_prints_status_lines_and_firewall_rule_names_the_ports() {
    let ns = EmptyNs::new();
    // 6000 probes at 3000 pps: about 2 s of sending, a status line every 0.5 s.
    let out = ns.synscan(&[
        "127.0.0.1",
        "-p",
        "1-6000",
        "--rate",
        "3000",
        "--stats-every",
        "0.5",
        "-oL",
        "/dev/null",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("% done")).collect();
    assert!(lines.len() >= 3, "status lines: {lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("synscan: rate:")));

    let out = ns.synscan(&["--firewall-rule", "--source-port", "40000-40099"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("nft add rule inet synscan out tcp sport 40000-40099 tcp flags rst drop"));
    assert!(
        text.contains("iptables -A OUTPUT -p tcp --sport 40000:40099 --tcp-flags RST RST -j DROP")
    );
    // IPv6: the inet table's rule covers it; ip6tables needs its own.
    assert!(text.contains("# nftables (an inet table: one rule for IPv4 and IPv6):\n"));
    assert!(text.contains(
        "\nip6tables -A OUTPUT -p tcp --sport 40000:40099 --tcp-flags RST RST -j DROP\n"
    ));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_hostname_target_labels_its_address_in_the_reports() {
    let ns = EmptyNs::new();
    let out = ns.synscan(&["localhost", "-p", "9", "--show", "closed", "-oX", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("<hostname name=\"localhost\" type=\"user\"/>"),
        "{xml}"
    );
    assert!(
        xml.contains("<address addr=\"127.0.0.1\" addrtype=\"ipv4\"/>"),
        "{xml}"
    );
}

/// Runs the binary for something that sends nothing (help, generated files).
fn synscan_offline(args: &[&str]) -> Output {
    Command::new(synscan_bin())
        .args(args)
        .output()
        .expect("run synscan")
}

/// The repository's own files (README, Makefile, .ci/run).
fn repo_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn help_groups_the_flags_and_states_rates_retries_and_exit_codes() {
    let out = synscan_offline(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    let headings: Vec<&str> = help
        .lines()
        .filter(|l| !l.starts_with(' ') && l.ends_with(':') && l.to_uppercase() == *l)
        .collect();
    assert_eq!(
        headings,
        [
            "TARGET SPECIFICATION:",
            "PORTS:",
            "SCAN TECHNIQUE AND ORDER:",
            "TIMING AND PERFORMANCE:",
            "NETWORK:",
            "OUTPUT:",
            "NMAP HAND-OFF:",
            "SERVICE AND VERSION DETECTION:",
            "PRIVILEGES:",
            "WATCHING A SURFACE:",
            "MISC:",
            "EXAMPLES:",
            "CAPABILITIES:",
            "EXIT CODES:"
        ]
    );
    for needle in [
        "1 to 100000000; 10k, 1.5M",
        "max (as fast as the send path goes)",
        "[default: auto: starts at 10000, doubles every round trip",
        "Lowest rate the adaptive default may fall to [default: 1000]",
        "Highest rate the adaptive default may grow to [default: 10000000]",
        "0 to 20 [default: adaptive, 1 growing to 10",
        "0 scan done; 1 scan done and a check failed; 2 bad usage or input; 3 missing privilege;",
        "4 runtime or network error",
        "130 interrupted",
        "needs the same --seed on every part",
        "setcap cap_net_raw+ep",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    // The README states the same rate forms, retries range and exit codes.
    let readme = repo_file("README.md");
    for needle in [
        "`--rate PPS` (1 to 100000000, or `10k`, `1.5M`; `max`",
        "default: adaptive (`auto`): starts at 10000",
        "`--min-rate PPS`, `--max-rate PPS`",
        "`--retries N` (0 to 20; default: adaptive, 1 growing to 10)",
        "Exit codes: 0 scan done, 1 scan done and a check failed, 2 bad usage or input, 3 missing\nprivilege, 4 runtime or network error",
        "130\ninterrupted",
    ] {
        assert!(readme.contains(needle), "README lacks {needle:?}");
    }
}

#[test]
fn help_and_readme_name_the_same_flags() {
    let help = String::from_utf8_lossy(&synscan_offline(&["-h"]).stdout).to_string();
    let readme = repo_file("README.md");
    let table: String = readme
        .lines()
        .skip_while(|l| !l.starts_with("| what | flags |"))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(table.lines().count() > 5, "README flag table not found");
    let long_flags = |text: &str| -> BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| {
                w.strip_prefix("--")
                    .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_lowercase()))
            })
            .map(str::to_string)
            .collect()
    };
    // Every flag of the README table is a flag of --help.
    let help_flags = long_flags(&help);
    for flag in long_flags(&table) {
        assert!(
            help_flags.contains(&flag),
            "README's {flag} is not in --help"
        );
    }
    // Every flag --help lists (by long name or its nmap short form) is in the README table.
    // An entry starts at a flag in the first columns; wrapped description lines follow it.
    let mut entries: Vec<String> = Vec::new();
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        if indent <= 6 && line.trim_start().starts_with('-') {
            entries.push(line.to_string());
        } else if let Some(last) = entries.last_mut() {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    assert!(entries.len() > 30, "too few flags found in -h: {entries:?}");
    for line in &entries {
        let t = line.trim_start();
        let (letter, t) = match t.split_once(", ") {
            Some((l, rest)) if l.len() == 2 => (Some(format!("`{l} ")), rest),
            _ => (None, t),
        };
        let Some(flag) = t.split_whitespace().next().filter(|f| f.starts_with("--")) else {
            continue;
        };
        if ["--help", "--version"].contains(&flag) {
            continue;
        }
        let short = line
            .rsplit_once(" [-")
            .and_then(|(_, s)| s.split(']').next())
            .map(|s| format!("-{s}"));
        let listed = table.contains(&format!("`{flag}"))
            || table.contains(&format!(" {flag}"))
            || short.is_some_and(|s| table.contains(&s))
            || letter.is_some_and(|l| table.contains(&l));
        assert!(listed, "--help's {flag} is not in the README table");
    }
}

#[test]
fn man_page_and_completions_come_from_the_clap_definition() {
    let man = synscan_offline(&["--generate", "man"]);
    assert_eq!(man.status.code(), Some(0));
    let man = String::from_utf8_lossy(&man.stdout).to_string();
    assert!(man.contains(".TH synscan 1"), "{man}");
    for needle in [
        ".SH \"TARGET SPECIFICATION\"",
        ".SH \"EXIT CODES\"",
        "\\fB\\-\\-rate\\fR",
        "\\fB\\-\\-retries\\fR",
        "130 interrupted",
    ] {
        assert!(man.contains(needle), "man page lacks {needle:?}");
    }
    for (shell, needle) in [
        ("bash", "complete -F _synscan"),
        ("zsh", "#compdef synscan"),
        ("fish", "complete -c synscan"),
    ] {
        let out = synscan_offline(&["--generate", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(needle), "{shell}: {text}");
        assert!(text.contains("top-ports"), "{shell}: {text}");
    }
    let bad = synscan_offline(&["--generate", "yaml"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim_end(),
        "synscan: bad --generate \"yaml\": use man, bash, zsh, fish or elvish"
    );
}

#[test]
fn make_honours_cargo_target_dir_prefix_and_destdir() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let make = |args: &[&str], target_dir: Option<&str>| -> String {
        let mut cmd = Command::new("make");
        cmd.arg("-n").arg("-C").arg(dir).args(args);
        cmd.env_remove("CARGO_TARGET_DIR");
        if let Some(t) = target_dir {
            cmd.env("CARGO_TARGET_DIR", t);
        }
        let out = cmd.output().expect("make");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let demo = make(&["demo"], Some("/tmp/synscan-elsewhere"));
    assert!(
        demo.contains("/tmp/synscan-elsewhere/release/synscan-lab demo --synscan /tmp/synscan-elsewhere/release/synscan"),
        "{demo}"
    );
    let demo = make(&["demo"], None);
    assert!(
        demo.contains(&format!("{dir}/target/release/synscan-lab demo")),
        "{demo}"
    );
    let install = make(
        &["install", "PREFIX=/usr", "DESTDIR=/tmp/stage"],
        Some("/tmp/synscan-elsewhere"),
    );
    for needle in [
        "install -m 0755 /tmp/synscan-elsewhere/release/synscan /tmp/stage/usr/bin/synscan",
        "--generate man > /tmp/stage/usr/share/man/man1/synscan.1",
        "--generate bash > /tmp/stage/usr/share/bash-completion/completions/synscan",
        "--generate zsh > /tmp/stage/usr/share/zsh/site-functions/_synscan",
        "--generate fish > /tmp/stage/usr/share/fish/vendor_completions.d/synscan.fish",
    ] {
        assert!(
            install.contains(needle),
            "make install lacks {needle:?}:\n{install}"
        );
    }
    // CI runs exactly the README's test command, after making sure the linters exist.
    let ci = repo_file(".ci/run");
    assert_eq!(ci.trim_end().lines().last(), Some("make test"));
    assert!(ci.contains("rustup component add rustfmt clippy"));
    assert!(repo_file("README.md").contains("    make test "));
}
