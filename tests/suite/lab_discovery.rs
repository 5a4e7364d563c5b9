//! Self-test of the host discovery lab (`serve --discovery`): the real `nmap -sn` inside the
//! scanner namespace must find exactly the truth's hosts up, each with the truth's reason, over
//! IPv4 and IPv6. Its answers are the reference synscan's -sn must equal.

use super::lab_selftest::attr;
use crate::common::{netns_list, Lab};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use synscan_lab::discovery::{DiscoveryTruth, Reason};

/// One host's `<status>` as nmap writes it: state, reason, reason_ttl, reason_ip.
type Status = (String, String, String, Option<String>);

/// The `<status>` of every host of `nmap -oX` output, by its IP address (MAC addresses and
/// hosts without a status are left out).
fn statuses(xml: &str) -> BTreeMap<IpAddr, Status> {
    let mut out = BTreeMap::new();
    for block in xml.split("<host>").skip(1) {
        let block = block.split("</host>").next().unwrap_or("");
        let status = block.split("<status ").nth(1).expect("host status");
        let ip: IpAddr = block
            .split("<address ")
            .skip(1)
            .filter(|a| attr(a, "addrtype") != Some("mac"))
            .find_map(|a| attr(a, "addr")?.parse().ok())
            .expect("host address");
        let get = |k| attr(status, k).unwrap_or("?").to_string();
        // reason_ip is the last attribute when present; `attr` would read past the tag.
        let tag = status.split("/>").next().unwrap_or("");
        let reason_ip = attr(tag, "reason_ip").map(str::to_string);
        out.insert(
            ip,
            (get("state"), get("reason"), get("reason_ttl"), reason_ip),
        );
    }
    out
}

/// What the truth says nmap -sn writes for `addr`, in the form [`statuses`] reads.
fn nmap_status(t: &DiscoveryTruth, addr: IpAddr) -> Status {
    let s = t.nmap_status(addr);
    (
        s.state.into(),
        s.reason.into(),
        s.reason_ttl.to_string(),
        None,
    )
}

/// `nmap ARGS -oX - -oG FILE` in the lab's scanner namespace: its XML and grepable output.
fn nmap(lab: &Lab, args: &[&str]) -> (String, String) {
    let gnmap = std::env::temp_dir().join(format!("{}.gnmap", lab.name));
    let gpath = gnmap.to_string_lossy().into_owned();
    let mut argv = vec!["-n", "-vv", "-oX", "-", "-oG", &gpath];
    argv.extend_from_slice(args);
    let out = lab.run_in_scanner("nmap", &argv);
    assert!(
        out.status.success(),
        "nmap {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = std::fs::read_to_string(&gnmap).expect("read nmap -oG");
    let _ = std::fs::remove_file(&gnmap);
    (String::from_utf8_lossy(&out.stdout).into_owned(), g)
}

/// The `Host: ADDR ()\tStatus: Up|Down` lines of nmap -oG, by address.
fn grepable_statuses(g: &str) -> BTreeMap<IpAddr, String> {
    g.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Host: ")?;
            let (addr, status) = rest.split_once(" ()\tStatus: ")?;
            Some((addr.parse().ok()?, status.to_string()))
        })
        .collect()
}

/// Every host kind of the lab over one family: nmap -sn's host states and reasons, -oX and
/// -oG, equal the truth for every address asked about.
fn check_family(lab: &Lab, t: &DiscoveryTruth, v6: bool, targets: &[IpAddr]) {
    let list: Vec<String> = targets.iter().map(IpAddr::to_string).collect();
    let mut args: Vec<&str> = vec!["-sn"];
    if v6 {
        args.push("-6");
    }
    args.extend(list.iter().map(String::as_str));
    let (xml, g) = nmap(lab, &args);
    let got = statuses(&xml);
    let want: BTreeMap<IpAddr, Status> = targets.iter().map(|&a| (a, nmap_status(t, a))).collect();
    assert_eq!(got, want, "nmap -sn against the truth (IPv6: {v6})\n{xml}");
    let want_g: BTreeMap<IpAddr, String> = want
        .iter()
        .map(|(a, s)| (*a, if s.0 == "up" { "Up" } else { "Down" }.to_string()))
        .collect();
    assert_eq!(grepable_statuses(&g), want_g, "nmap -oG\n{g}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn nmap_sn_finds_every_host_kind_with_the_truths_reason_v4_and_v6() {
    let lab = Lab::start(&[
        "--family",
        "mixed",
        "--prefix",
        "198.19.0.0/29",
        "--prefix6",
        "2001:2:0:19::/125",
        "--open-hosts",
        "0",
        "--filtered",
        "0",
        "--alive",
        "3",
        "--discovery",
        "--alive6",
        "2",
        "--on-link",
        "1",
        "--router-block",
        "198.19.255.0/30",
        "--router-block6",
        "2001:2:0:19:ff::/126",
        "--seed",
        "2112",
    ]);
    let t = lab.truth.discovery.clone().expect("a discovery truth");
    // One host of each kind, in each family.
    for r in [Reason::EchoReply, Reason::Reset, Reason::TimestampReply] {
        assert_eq!(
            t.with_reason(r).iter().filter(|a| a.is_ipv4()).count(),
            1,
            "{r:?}"
        );
    }
    for r in [Reason::EchoReply, Reason::Reset] {
        assert_eq!(
            t.with_reason(r).iter().filter(|a| a.is_ipv6()).count(),
            1,
            "{r:?}"
        );
    }
    let on_link = |a: &str| a.parse::<IpAddr>().unwrap();
    assert_eq!(t.with_reason(Reason::ArpResponse), [on_link("198.18.0.10")]);
    assert_eq!(
        t.with_reason(Reason::NdResponse),
        [on_link("2001:2:0:18::10")]
    );
    assert_eq!(
        t.silent,
        [on_link("198.18.0.11"), on_link("2001:2:0:18::11")]
    );

    // IPv4: the whole /29 (3 up, 5 silent), two addresses behind the router, both on-link.
    let mut v4: Vec<IpAddr> = (0..8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(198, 19, 0, i)))
        .collect();
    v4.extend(["198.19.255.1", "198.19.255.2", "198.18.0.10", "198.18.0.11"].map(on_link));
    check_family(&lab, &t, false, &v4);

    // IPv6: the /125 (2 up), two addresses behind the router, both on-link.
    let mut v6: Vec<IpAddr> = (1..8)
        .map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0x19, 0, 0, 0, i)))
        .collect();
    v6.extend(
        [
            "2001:2:0:19:ff::1",
            "2001:2:0:19:ff::2",
            "2001:2:0:18::10",
            "2001:2:0:18::11",
        ]
        .map(on_link),
    );
    check_family(&lab, &t, true, &v6);

    // The router block's errors come from the router: nmap's port scan names it.
    for (target, v6) in [("198.19.255.1", false), ("2001:2:0:19:ff::1", true)] {
        let block = t.router_for(on_link(target)).expect("a router block");
        let mut args = vec!["-sS", "-Pn", "-p", "80", target];
        if v6 {
            args.push("-6");
        }
        let (xml, _) = nmap(&lab, &args);
        let want = format!(
            "<state state=\"filtered\" reason=\"host-unreach\" reason_ttl=\"64\" reason_ip=\"{}\"/>",
            block.via
        );
        assert!(xml.contains(&want), "want {want} in\n{xml}");
    }

    let names = lab.truth.namespaces();
    drop(lab);
    let left = netns_list();
    assert!(
        names.iter().all(|n| !left.contains(n)),
        "namespaces left behind: {left:?}"
    );
}

/// Linux never answers ICMP address mask requests: `nmap -sn -PM` finds nothing at the lab's
/// router, which answers echo and timestamp requests (`--send-ip`: IP probes on its link).
#[test]
#[ignore = "needs root: network namespaces"]
fn nmap_sn_pm_is_silent_on_linux() {
    let lab = Lab::start(&[
        "--prefix",
        "198.19.0.0/30",
        "--open-hosts",
        "0",
        "--filtered",
        "0",
        "--discovery",
    ]);
    let router = lab.truth.target_ip.to_string();
    let status = |probe: &str| {
        let (xml, _) = nmap(&lab, &["-sn", probe, "--send-ip", &router]);
        statuses(&xml)
            .remove(&IpAddr::V4(lab.truth.target_ip))
            .expect("the router's status")
    };
    let st = |s: &str, r: &str, ttl: &str| (s.into(), r.into(), ttl.into(), None);
    assert_eq!(status("-PE"), st("up", "echo-reply", "64"));
    assert_eq!(status("-PP"), st("up", "timestamp-reply", "64"));
    assert_eq!(status("-PM"), st("down", "no-response", "0"));
}
