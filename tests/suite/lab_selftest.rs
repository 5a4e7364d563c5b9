//! Self-test of the namespace lab: nmap inside the scanner namespace must see exactly the truth.

use crate::common::{netns_list, Lab};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

type Pair = (Ipv4Addr, u16);

/// What nmap's XML says: per-host listed port states and the states of collapsed "extraports".
struct NmapResult {
    hosts: BTreeSet<Ipv4Addr>,
    states: BTreeMap<Pair, String>,
    extra_states: BTreeSet<String>,
}

/// The value of `attr="..."` in `s`, searching from the start.
fn attr<'a>(s: &'a str, attr: &str) -> Option<&'a str> {
    let key = format!("{attr}=\"");
    let start = s.find(&key)? + key.len();
    let end = s[start..].find('"')? + start;
    Some(&s[start..end])
}

/// Crude string-search parse of `nmap -oX -`.
fn parse_nmap_xml(xml: &str) -> NmapResult {
    let mut r = NmapResult {
        hosts: BTreeSet::new(),
        states: BTreeMap::new(),
        extra_states: BTreeSet::new(),
    };
    for block in xml.split("<host ").skip(1) {
        let block = block.split("</host>").next().unwrap_or("");
        let Some(addr_tag) = block.split("<address ").nth(1) else {
            continue;
        };
        let ip: Ipv4Addr = attr(addr_tag, "addr")
            .and_then(|a| a.parse().ok())
            .expect("host address");
        r.hosts.insert(ip);
        for port_tag in block.split("<port ").skip(1) {
            let port: u16 = attr(port_tag, "portid")
                .and_then(|p| p.parse().ok())
                .expect("portid");
            let state_tag = port_tag.split("<state ").nth(1).expect("port state");
            let state = attr(state_tag, "state").expect("state attr").to_string();
            r.states.insert((ip, port), state);
        }
        for extra in block.split("<extraports ").skip(1) {
            if attr(extra, "count") != Some("0") {
                r.extra_states
                    .insert(attr(extra, "state").unwrap_or("?").to_string());
            }
        }
    }
    r
}

fn with_state(r: &NmapResult, s: &str) -> BTreeSet<Pair> {
    r.states
        .iter()
        .filter(|(_, st)| st.as_str() == s)
        .map(|(p, _)| *p)
        .collect()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn nmap_sees_exactly_the_truth_and_teardown_is_clean() {
    let lab = Lab::start(&[
        "--prefix",
        "198.19.0.0/24",
        "--open-hosts",
        "8",
        "--open-per-host",
        "2",
        "--filtered",
        "5",
        "--unreachable",
        "3",
        "--unreach-kind",
        "admin",
        "--seed",
        "20261123",
    ]);
    let t = lab.truth.clone();
    assert_eq!(t.open.len(), 16);
    assert_eq!(t.filtered.len(), 5);
    assert_eq!(t.unreachable.len(), 3);
    let ports = t.ports_arg();
    let out = lab.run_in_scanner(
        "nmap",
        &[
            "-n",
            "-Pn",
            "-sS",
            "-p",
            &ports,
            "--max-retries",
            "3",
            "-T4",
            &t.prefix,
            "-oX",
            "-",
        ],
    );
    assert!(
        out.status.success(),
        "nmap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = parse_nmap_xml(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(r.hosts.len(), 256, "nmap must report every host of the /24");
    assert_eq!(with_state(&r, "open"), t.open, "open set");
    let want_filtered: BTreeSet<Pair> = t.filtered.union(&t.unreachable).copied().collect();
    assert_eq!(with_state(&r, "filtered"), want_filtered, "filtered set");
    let odd: Vec<_> = r
        .states
        .iter()
        .filter(|(_, s)| !["open", "filtered", "closed"].contains(&s.as_str()))
        .collect();
    assert!(odd.is_empty(), "unexpected states: {odd:?}");
    assert!(
        r.extra_states.iter().all(|s| s == "closed"),
        "collapsed ports must all be closed: {:?}",
        r.extra_states
    );
    let (s_ns, t_ns) = (t.scanner_ns.clone(), t.target_ns.clone());
    assert!(netns_list().contains(&s_ns) && netns_list().contains(&t_ns));
    drop(lab);
    let after = netns_list();
    assert!(
        !after.contains(&s_ns) && !after.contains(&t_ns),
        "namespaces left behind: {after:?}"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn drop_all_counts_but_never_answers() {
    let lab = Lab::start(&[
        "--prefix",
        "198.19.0.0/28",
        "--open-hosts",
        "2",
        "--open-per-host",
        "1",
        "--filtered",
        "0",
        "--drop-all",
    ]);
    let before = lab.rx_packets();
    let t = &lab.truth;
    let (host, port) = *t.open.iter().next().expect("an open pair");
    let out = lab.run_in_scanner(
        "nmap",
        &[
            "-n",
            "-Pn",
            "-sS",
            "-p",
            &port.to_string(),
            "--max-retries",
            "1",
            "-T5",
            &host.to_string(),
            "-oX",
            "-",
        ],
    );
    assert!(
        out.status.success(),
        "nmap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = parse_nmap_xml(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        r.states.get(&(host, port)).map(String::as_str),
        Some("filtered")
    );
    let after = lab.rx_packets();
    assert!(
        after >= before + 2,
        "SYNs must be counted at the veth: {before} -> {after}"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn down_is_idempotent() {
    for _ in 0..2 {
        let st = std::process::Command::new(crate::common::lab_bin())
            .args(["down", "--name", "tnolab"])
            .status()
            .expect("run down");
        assert!(st.success());
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn setup_failure_leaves_nothing_behind() {
    let name = crate::common::unique_name();
    // Port list too short for 5 open ports per host: rejected before anything is made.
    let out = std::process::Command::new(crate::common::lab_bin())
        .args([
            "serve",
            "--name",
            &name,
            "--ports",
            "22,80",
            "--open-per-host",
            "5",
        ])
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    // A pre-existing scanner namespace makes setup fail halfway; ours must stay, no target left.
    let s_ns = format!("{name}s");
    let t_ns = format!("{name}t");
    assert!(std::process::Command::new("ip")
        .args(["netns", "add", &s_ns])
        .status()
        .unwrap()
        .success());
    let out = std::process::Command::new(crate::common::lab_bin())
        .args([
            "serve",
            "--name",
            &name,
            "--prefix",
            "198.19.0.0/28",
            "--open-hosts",
            "1",
            "--filtered",
            "0",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run serve");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = netns_list();
    assert!(
        list.contains(&s_ns),
        "a namespace the lab did not create must survive"
    );
    assert!(!list.contains(&t_ns));
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &s_ns])
        .status();
}

fn read(path: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn assert_has(text: &str, file: &str, keys: &[&str]) {
    for k in keys {
        assert!(text.contains(k), "{file} must contain {k:?}");
    }
}

#[test]
fn capability_files_have_required_keys() {
    let unit = read("capabilities/synscan.service");
    assert_has(
        &unit,
        "synscan.service",
        &[
            "[Service]",
            "AmbientCapabilities=CAP_NET_RAW",
            "CapabilityBoundingSet=CAP_NET_RAW",
            "NoNewPrivileges=yes",
            "DynamicUser=yes",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "StateDirectory=",
            "ExecStart=",
            "-oJ",
            "198.18.",
        ],
    );
    let job = read("capabilities/k8s-job.yaml");
    assert_has(
        &job,
        "k8s-job.yaml",
        &[
            "kind: Job",
            "completionMode: Indexed",
            "completions: 4",
            "parallelism: 4",
            "runAsNonRoot: true",
            "allowPrivilegeEscalation: false",
            "readOnlyRootFilesystem: true",
            "add: [\"NET_RAW\"]",
            "drop: [\"ALL\"]",
            "$((JOB_COMPLETION_INDEX+1))/4",
            "--seed 42",
            "exec synscan",
        ],
    );
    let sh = read("capabilities/setcap.sh");
    assert_has(
        &sh,
        "setcap.sh",
        &[
            "cap_net_raw",
            "cap_net_admin",
            "getcap",
            "command -v setcap",
        ],
    );
    let readme = read("capabilities/README.md");
    assert_has(
        &readme,
        "README.md",
        &["setcap.sh", "synscan.service", "k8s-job.yaml"],
    );
}
