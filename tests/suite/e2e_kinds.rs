//! nmap's other TCP scan types (-sA, -sF, -sN, -sX) end to end: the built binary scans a lab
//! whose firewall passes (open and closed ports), drops and rejects with an ICMP
//! unreachable; every port's state and reason must be nmap's rule applied to the lab's
//! truth, and, when nmap is installed, nmap's own scan of the same lab (run inside the lab's
//! scanner namespace) must give no difference under ndiff and the same -oN lines.

use crate::common::{read_ndjson, synscan_bin, Lab, Report};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

/// The lab: 8 hosts x 23 ports, open ports on 3 hosts, 4 dropped and 4 rejected pairs
/// (ICMP host-unreachable), the rest closed (a reset): every state at most 25 a host, so
/// nmap lists them all.
fn firewall_lab(prefix: &str, seed: &str) -> Lab {
    let lab = Lab::start(&[
        "--prefix",
        prefix,
        "--open-hosts",
        "3",
        "--open-per-host",
        "2",
        "--filtered",
        "4",
        "--unreachable",
        "4",
        "--seed",
        seed,
    ]);
    assert_eq!(lab.truth.ports.len(), 23);
    assert_eq!(
        (lab.truth.filtered.len(), lab.truth.unreachable.len()),
        (4, 4)
    );
    lab
}

/// What a scan type makes of each kind of port: (open, closed, dropped) as (state, reason);
/// a rejected port is filtered with the ICMP code's name whatever the type.
struct Rule {
    flag: &'static str,
    open: (&'static str, &'static str),
    closed: (&'static str, &'static str),
    dropped: (&'static str, &'static str),
}

const ACK: Rule = Rule {
    flag: "-sA",
    open: ("unfiltered", "reset"),
    closed: ("unfiltered", "reset"),
    dropped: ("filtered", "no-response"),
};

/// FIN, NULL and Xmas decide alike.
const fn fin_like(flag: &'static str) -> Rule {
    Rule {
        flag,
        open: ("open|filtered", "no-response"),
        closed: ("closed", "reset"),
        dropped: ("open|filtered", "no-response"),
    }
}

/// Every (pair, state, reason) the rule gives the lab's truth, over the /29.
fn expected(lab: &Lab, rule: &Rule) -> BTreeSet<Report> {
    let t = &lab.truth;
    let base: Ipv4Addr = t.prefix.split('/').next().unwrap().parse().unwrap();
    let mut want = BTreeSet::new();
    for i in 0..8u32 {
        let ip = Ipv4Addr::from(u32::from(base) + i);
        for &port in &t.ports {
            let p = (ip, port);
            let (state, reason) = if t.unreachable.contains(&p) {
                ("filtered", "host-unreach")
            } else if t.filtered.contains(&p) {
                rule.dropped
            } else if t.open.contains(&p) {
                rule.open
            } else {
                rule.closed
            };
            want.insert((p, state.to_string(), reason.to_string()));
        }
    }
    want
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether an executable of this name is on PATH.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
}

/// Scans the lab with `rule`'s flag: every state exactly the rule's, then (with nmap
/// installed) ndiff against nmap's scan with the same flag finds no difference.
fn scan_equals_rule_and_nmap(lab: &Lab, rule: &Rule, dir: &Path) {
    let p = |n: &str| {
        dir.join(format!("{}-{n}", &rule.flag[1..]))
            .to_string_lossy()
            .into_owned()
    };
    let ports = lab.truth.ports_arg();
    let out = lab.run_in_scanner(
        synscan_bin(),
        &[
            rule.flag,
            &lab.truth.prefix,
            "-p",
            &ports,
            "--show",
            "closed,filtered",
            "-oJ",
            &p("s.json"),
            "-oX",
            &p("s.xml"),
            "-oN",
            &p("s.nmap"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "synscan {}: {}{}",
        rule.flag,
        text(&out.stdout),
        text(&out.stderr)
    );
    let got: BTreeSet<Report> = read_ndjson(Path::new(&p("s.json"))).into_iter().collect();
    let want = expected(lab, rule);
    assert_eq!(
        got.difference(&want).collect::<Vec<_>>(),
        Vec::<&Report>::new(),
        "{}: reported beyond the truth",
        rule.flag
    );
    assert_eq!(
        want.difference(&got).collect::<Vec<_>>(),
        Vec::<&Report>::new(),
        "{}: truth not reported",
        rule.flag
    );
    let xml = std::fs::read_to_string(p("s.xml")).unwrap();
    let nmap_type = match rule.flag {
        "-sA" => "ack",
        "-sF" => "fin",
        "-sN" => "null",
        _ => "xmas",
    };
    assert!(
        xml.contains(&format!("<scaninfo type=\"{nmap_type}\" protocol=\"tcp\"")),
        "{xml}"
    );
    if !on_path("nmap") || !on_path("ndiff") {
        eprintln!("note: nmap or ndiff not installed; skipping (apt-get install nmap ndiff)");
        return;
    }
    let nmap = lab.run_in_scanner(
        "nmap",
        &[
            "-n",
            "-Pn",
            rule.flag,
            "-T4",
            "-p",
            &ports,
            &lab.truth.prefix,
            "-oX",
            &p("n.xml"),
            "-oN",
            &p("n.nmap"),
        ],
    );
    assert!(
        nmap.status.success(),
        "nmap: {}{}",
        text(&nmap.stdout),
        text(&nmap.stderr)
    );
    // -oN is nmap's line for line, apart from comments, the product name and nmap's
    // latency on "Host is up".
    let body = |f: &str| -> String {
        std::fs::read_to_string(p(f))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("Host is up"))
            .map(|l| l.replacen("Nmap scan report", "synscan scan report", 1) + "\n")
            .collect()
    };
    assert_eq!(body("s.nmap"), body("n.nmap"), "-oN {} differs", rule.flag);
    let diff = Command::new("ndiff")
        .args([p("n.xml"), p("s.xml")])
        .output()
        .expect("run ndiff");
    assert_eq!(
        diff.status.code(),
        Some(0),
        "ndiff nmap {} vs synscan:\n{}{}",
        rule.flag,
        text(&diff.stdout),
        text(&diff.stderr)
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn fin_null_and_xmas_scans_decide_as_nmap_does() {
    let dir = tempfile::tempdir().unwrap();
    let lab = firewall_lab("198.19.53.0/29", "53");
    for flag in ["-sF", "-sN", "-sX"] {
        scan_equals_rule_and_nmap(&lab, &fin_like(flag), dir.path());
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn ack_scan_maps_the_firewall_as_nmap_does() {
    let dir = tempfile::tempdir().unwrap();
    let lab = firewall_lab("198.19.52.0/29", "52");
    scan_equals_rule_and_nmap(&lab, &ACK, dir.path());
}
