//! Every format over IPv6 and over a mixed IPv4 + IPv6 run (exact bytes), and the grouped
//! formats against what nmap 7.93 -6 wrote for the same results on the IPv6 lab.

use super::tests::Buf;
use super::*;
use crate::model::Reason;
use std::net::IpAddr;

const T0: u64 = 1_795_437_759; // Mon Nov 23 12:42:39 2026 UTC

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn info(hosts: u64) -> ScanInfo {
    ScanInfo {
        start: at(T0),
        command_line: "synscan -p 22,80,443 198.19.0.4-5 2001:2:0:19::5-7".into(),
        services: crate::targets::ServiceSet::default(),
        hosts,
        probes: 3 * hosts,
        seed: 7,
        scan_types: vec![(crate::model::Protocol::Tcp, "syn")],
        shard: None,
    }
}

fn summary() -> ScanSummary {
    ScanSummary {
        end: Some(at(T0 + 5)),
        elapsed: Duration::from_millis(4350),
        stats: ScanStats {
            packets_sent: 17,
            replies: 5,
            ..ScanStats::default()
        },
        interrupted: false,
    }
}

fn res(ip: &str, port: u16, reason: Reason, ttl: u8, t: u64) -> PortResult {
    PortResult {
        protocol: crate::model::Protocol::Tcp,
        ip: ip.parse::<IpAddr>().expect("address"),
        port,
        state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
        reason,
        ttl,
        timestamp: at(T0 + t),
    }
}

/// Two IPv4 hosts and three IPv6 ones (one silent), results arriving interleaved: an
/// ICMPv6 no-route, a no-response before its host's first reply, opens and closeds.
fn mixed() -> Vec<PortResult> {
    vec![
        res("2001:2:0:19::5", 443, Reason::NoResponse, 0, 1),
        res("2001:2:0:19::7", 22, Reason::NoResponse, 0, 1),
        res("198.19.0.5", 80, Reason::SynAck, 64, 1),
        res("2001:2:0:19::5", 80, Reason::SynAck, 64, 2),
        res("2001:2:0:19::6", 22, Reason::NoRoute, 64, 2),
        res("198.19.0.4", 22, Reason::Reset, 63, 3),
        res("2001:2:0:19::5", 22, Reason::Reset, 64, 3),
    ]
}

fn run_with(format: Format, opts: OutputOptions, rs: &[PortResult], hosts: u64) -> String {
    let buf = Buf::default();
    let sinks: Vec<(Format, bool, Sink)> = vec![(format, false, Box::new(buf.clone()))];
    let ctx = Arc::new(Ctx {
        opts,
        services: Services::parse("ssh 22/tcp\nhttp 80/tcp\nhttps 443/tcp\n", true)
            .expect("services"),
        scanned: vec![crate::output::Scanned {
            protocol: crate::model::Protocol::Tcp,
            scan_type: "syn",
            ports: PortsInfo::from_ports(vec![22, 80, 443]),
        }],
    });
    let mut o = Outputs::with_sinks(sinks, ctx, &info(hosts)).expect("outputs");
    for r in rs {
        o.record(r).expect("record");
    }
    o.finish(&summary()).expect("finish");
    buf.text()
}

fn run(format: Format, opts: OutputOptions) -> String {
    run_with(format, opts, &mixed(), 5)
}

fn all_states() -> OutputOptions {
    OutputOptions {
        show_closed: true,
        show_filtered: true,
        ..Default::default()
    }
}

const HEAD: &str = "# synscan 0.1.0 scan initiated Mon Nov 23 12:42:39 2026 as: synscan -p 22,80,443 198.19.0.4-5 2001:2:0:19::5-7\n";
const DONE: &str = "# synscan done at Mon Nov 23 12:42:44 2026 -- 5 IP addresses (4 hosts up) scanned in 4.35 seconds\n";

#[test]
fn normal_orders_ipv4_before_ipv6_and_writes_addresses_as_nmap_6() {
    let o = OutputOptions {
        reason: true,
        ..Default::default()
    };
    let want = String::from(HEAD)
        + "synscan scan report for 198.19.0.4\n\
           Host is up, received reset ttl 63.\n\
           \n\
           PORT   STATE  SERVICE REASON\n\
           22/tcp closed ssh     reset ttl 63\n\
           \n\
           synscan scan report for 198.19.0.5\n\
           Host is up, received syn-ack ttl 64.\n\
           \n\
           PORT   STATE SERVICE REASON\n\
           80/tcp open  http    syn-ack ttl 64\n\
           \n\
           synscan scan report for 2001:2:0:19::5\n\
           Host is up, received syn-ack ttl 64.\n\
           \n\
           PORT    STATE    SERVICE REASON\n\
           22/tcp  closed   ssh     reset ttl 64\n\
           80/tcp  open     http    syn-ack ttl 64\n\
           443/tcp filtered https   no-response\n\
           \n\
           synscan scan report for 2001:2:0:19::6\n\
           Host is up, received no-route ttl 64.\n\
           \n\
           PORT   STATE    SERVICE REASON\n\
           22/tcp filtered ssh     no-route ttl 64\n\
           \n"
        + DONE;
    assert_eq!(run(Format::Normal, o), want);
}

#[test]
fn grepable_over_a_mixed_run() {
    let want = String::from(HEAD)
        + "Host: 198.19.0.4 ()\tStatus: Up\n\
           Host: 198.19.0.4 ()\tPorts: 22/closed/tcp//ssh///\n\
           Host: 198.19.0.5 ()\tStatus: Up\n\
           Host: 198.19.0.5 ()\tPorts: 80/open/tcp//http///\n\
           Host: 2001:2:0:19::5 ()\tStatus: Up\n\
           Host: 2001:2:0:19::5 ()\tPorts: 22/closed/tcp//ssh///, 80/open/tcp//http///, 443/filtered/tcp//https///\n\
           Host: 2001:2:0:19::6 ()\tStatus: Up\n\
           Host: 2001:2:0:19::6 ()\tPorts: 22/filtered/tcp//ssh///\n"
        + DONE;
    assert_eq!(run(Format::Grepable, OutputOptions::default()), want);
}

#[test]
fn xml_names_each_address_family() {
    let xml = run(Format::Xml, OutputOptions::default());
    let hosts: Vec<&str> = xml.lines().filter(|l| l.starts_with("<address")).collect();
    assert_eq!(
        hosts,
        [
            "<address addr=\"198.19.0.4\" addrtype=\"ipv4\"/>",
            "<address addr=\"198.19.0.5\" addrtype=\"ipv4\"/>",
            "<address addr=\"2001:2:0:19::5\" addrtype=\"ipv6\"/>",
            "<address addr=\"2001:2:0:19::6\" addrtype=\"ipv6\"/>",
        ]
    );
    let v6: String = xml
        .lines()
        .skip_while(|l| !l.contains("2001:2:0:19::6"))
        .take_while(|l| *l != "</host>")
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        v6,
        "<address addr=\"2001:2:0:19::6\" addrtype=\"ipv6\"/>\n\
         <hostnames>\n\
         </hostnames>\n\
         <ports><port protocol=\"tcp\" portid=\"22\"><state state=\"filtered\" reason=\"no-route\" reason_ttl=\"64\"/><service name=\"ssh\" method=\"table\" conf=\"3\"/></port>\n\
         </ports>\n"
    );
    assert!(xml.contains(
        "<host starttime=\"1795437761\" endtime=\"1795437762\"><status state=\"up\" reason=\"syn-ack\" reason_ttl=\"64\"/>\n<address addr=\"2001:2:0:19::5\" addrtype=\"ipv6\"/>\n"
    ), "{xml}");
    assert!(
        xml.contains("<hosts up=\"4\" down=\"1\" total=\"5\"/>"),
        "{xml}"
    );
}

#[test]
fn json_list_and_csv_write_ipv6_addresses_in_arrival_order() {
    assert_eq!(
        run(Format::List, all_states()),
        "#masscan\n\
         filtered tcp 443 2001:2:0:19::5 1795437760\n\
         filtered tcp 22 2001:2:0:19::7 1795437760\n\
         open tcp 80 198.19.0.5 1795437760\n\
         open tcp 80 2001:2:0:19::5 1795437761\n\
         filtered tcp 22 2001:2:0:19::6 1795437761\n\
         closed tcp 22 198.19.0.4 1795437762\n\
         closed tcp 22 2001:2:0:19::5 1795437762\n\
         # end\n"
    );
    assert_eq!(
        run(Format::Csv, OutputOptions::default()),
        "ip,port,proto,state,reason,ttl,timestamp,service\n\
         198.19.0.5,80,tcp,open,syn-ack,64,1795437760,http\n\
         2001:2:0:19::5,80,tcp,open,syn-ack,64,1795437761,http\n"
    );
    let json = run(Format::Json, all_states());
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 8, "{json}");
    assert_eq!(
        lines[4],
        "{\"ip\":\"2001:2:0:19::6\",\"port\":22,\"proto\":\"tcp\",\"state\":\"filtered\",\"reason\":\"no-route\",\"ttl\":64,\"ts\":1795437761,\"service\":\"ssh\"}"
    );
    assert_eq!(
        lines[3],
        "{\"ip\":\"2001:2:0:19::5\",\"port\":80,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":64,\"ts\":1795437761,\"service\":\"http\"}"
    );
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
        assert!(v.is_object());
    }
}

#[test]
fn ipv6_text_forms_are_nmaps() {
    // nmap -6 prints inet_ntop's RFC 5952 form: lower case, longest zero run as "::".
    let rs = [
        res(
            "2001:0DB8:0000:0000:0001:0000:0000:0001",
            80,
            Reason::SynAck,
            64,
            1,
        ),
        res("2001:2:0:19:0:0:0:ff", 80, Reason::SynAck, 64, 1),
    ];
    let g = run_with(Format::Grepable, OutputOptions::default(), &rs, 2);
    let hosts: Vec<&str> = g.lines().filter(|l| l.ends_with("Status: Up")).collect();
    assert_eq!(
        hosts,
        [
            "Host: 2001:2:0:19::ff ()\tStatus: Up",
            "Host: 2001:db8::1:0:0:1 ()\tStatus: Up",
        ]
    );
}

/// What nmap 7.93 found with `nmap -6 -n -Pn -sS -p 22,80,443 --reason` on the IPv6 lab
/// (`synscan-lab serve --family 6 --unreach6-kind no-route`), three of its hosts: every
/// port listed (none folds at three), ICMPv6 no-route from the lab's target (TTL 64).
fn nmap6_lab_results() -> Vec<PortResult> {
    vec![
        res("2001:2:0:19::45", 443, Reason::NoResponse, 0, 2),
        res("2001:2:0:19::40", 22, Reason::Reset, 64, 1),
        res("2001:2:0:19::41", 443, Reason::SynAck, 64, 1),
        res("2001:2:0:19::40", 443, Reason::NoRoute, 64, 1),
        res("2001:2:0:19::41", 22, Reason::SynAck, 64, 1),
        res("2001:2:0:19::45", 22, Reason::Reset, 64, 1),
        res("2001:2:0:19::40", 80, Reason::Reset, 64, 1),
        res("2001:2:0:19::41", 80, Reason::Reset, 64, 1),
        res("2001:2:0:19::45", 80, Reason::Reset, 64, 1),
    ]
}

/// nmap 7.93's -oN for those hosts, "Host is up" lines left out (nmap says user-set).
const NMAP6_NORMAL: &str = "Nmap scan report for 2001:2:0:19::40

PORT    STATE    SERVICE REASON
22/tcp  closed   ssh     reset ttl 64
80/tcp  closed   http    reset ttl 64
443/tcp filtered https   no-route from 2001:2:0:18::2 ttl 64

Nmap scan report for 2001:2:0:19::41

PORT    STATE  SERVICE REASON
22/tcp  open   ssh     syn-ack ttl 64
80/tcp  closed http    reset ttl 64
443/tcp open   https   syn-ack ttl 64

Nmap scan report for 2001:2:0:19::45

PORT    STATE    SERVICE REASON
22/tcp  closed   ssh     reset ttl 64
80/tcp  closed   http    reset ttl 64
443/tcp filtered https   no-response

";

const NMAP6_GREPABLE: &str = "Host: 2001:2:0:19::40 ()\tStatus: Up
Host: 2001:2:0:19::40 ()\tPorts: 22/closed/tcp//ssh///, 80/closed/tcp//http///, 443/filtered/tcp//https///
Host: 2001:2:0:19::41 ()\tStatus: Up
Host: 2001:2:0:19::41 ()\tPorts: 22/open/tcp//ssh///, 80/closed/tcp//http///, 443/open/tcp//https///
Host: 2001:2:0:19::45 ()\tStatus: Up
Host: 2001:2:0:19::45 ()\tPorts: 22/closed/tcp//ssh///, 80/closed/tcp//http///, 443/filtered/tcp//https///
";

/// nmap 7.93's -oX for those hosts: `<address>` and `<ports>` (its `<status>`, `<times>`
/// and `<hostnames>` left out).
const NMAP6_XML: &str = r#"<address addr="2001:2:0:19::40" addrtype="ipv6"/>
<ports><port protocol="tcp" portid="22"><state state="closed" reason="reset" reason_ttl="64"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="closed" reason="reset" reason_ttl="64"/><service name="http" method="table" conf="3"/></port>
<port protocol="tcp" portid="443"><state state="filtered" reason="no-route" reason_ttl="64" reason_ip="2001:2:0:18::2"/><service name="https" method="table" conf="3"/></port>
</ports>
<address addr="2001:2:0:19::41" addrtype="ipv6"/>
<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="closed" reason="reset" reason_ttl="64"/><service name="http" method="table" conf="3"/></port>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="https" method="table" conf="3"/></port>
</ports>
<address addr="2001:2:0:19::45" addrtype="ipv6"/>
<ports><port protocol="tcp" portid="22"><state state="closed" reason="reset" reason_ttl="64"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="closed" reason="reset" reason_ttl="64"/><service name="http" method="table" conf="3"/></port>
<port protocol="tcp" portid="443"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="https" method="table" conf="3"/></port>
</ports>
"#;

fn body(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("Host is up"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn same_results_as_nmap_6_give_nmaps_text() {
    let rs = nmap6_lab_results();
    let reason = OutputOptions {
        reason: true,
        ..Default::default()
    };
    // synscan does not keep an ICMP error's sender, so it writes no " from ADDR" (-oN) and
    // no reason_ip (-oX); the rest is nmap's, byte for byte.
    let normal = run_with(Format::Normal, reason.clone(), &rs, 3);
    assert_eq!(
        body(&normal),
        NMAP6_NORMAL
            .replace("Nmap scan report", "synscan scan report")
            .replace(" from 2001:2:0:18::2", ""),
        "{normal}"
    );
    let grepable = run_with(Format::Grepable, reason.clone(), &rs, 3);
    assert_eq!(body(&grepable), NMAP6_GREPABLE);
    let xml = run_with(Format::Xml, reason, &rs, 3);
    let kept: String = xml
        .lines()
        .filter(|l| {
            l.starts_with("<address")
                || l.starts_with("<ports>")
                || l.starts_with("<port ")
                || *l == "</ports>"
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        kept,
        NMAP6_XML.replace(" reason_ip=\"2001:2:0:18::2\"", ""),
        "{xml}"
    );
}

#[test]
fn ndiff_finds_no_difference_from_nmap_6s_own_xml() {
    // The results nmap -6 wrote in tests/data/nmap6_lab.xml (hosts ::40 and ::41).
    let rs: Vec<PortResult> = nmap6_lab_results()
        .into_iter()
        .filter(|r| r.ip != "2001:2:0:19::45".parse::<IpAddr>().expect("addr"))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = dir.path().join("ours.xml");
    let nmap = dir.path().join("nmap.xml");
    std::fs::write(
        &ours,
        run_with(Format::Xml, OutputOptions::default(), &rs, 2),
    )
    .expect("write");
    std::fs::write(&nmap, include_str!("../../tests/data/nmap6_lab.xml")).expect("write");
    let out = match std::process::Command::new("ndiff")
        .arg(&nmap)
        .arg(&ours)
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            eprintln!("note: ndiff not installed; skipping");
            return;
        }
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "ndiff: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // One port changed is seen, on the IPv6 host.
    let changed: Vec<PortResult> = rs
        .iter()
        .map(|r| match r.port {
            80 if r.ip == "2001:2:0:19::41".parse::<IpAddr>().expect("addr") => {
                res("2001:2:0:19::41", 80, Reason::SynAck, 64, 1)
            }
            _ => *r,
        })
        .collect();
    std::fs::write(
        &ours,
        run_with(Format::Xml, OutputOptions::default(), &changed, 2),
    )
    .expect("write");
    let out = std::process::Command::new("ndiff")
        .arg(&nmap)
        .arg(&ours)
        .output()
        .expect("ndiff");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("2001:2:0:19::41") && text.contains("+80/tcp open"),
        "{text}"
    );
}
