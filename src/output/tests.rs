//! Exact-content tests for every format and compatibility tests against nmap's own tools.

use super::*;
use crate::model::Reason;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Mutex;

const T0: u64 = 1_795_437_759; // Mon Nov 23 12:42:39 2026 UTC

/// An in-memory sink whose bytes stay readable after the writer has taken a clone.
#[derive(Clone, Default)]
pub(crate) struct Buf(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn info() -> ScanInfo {
    ScanInfo {
        start: at(T0),
        command_line: "synscan -p 22,80,443 198.19.0.5-7 -oX \"a&b\".xml".into(),
        services: crate::targets::ServiceSet::default(),
        hosts: 3,
        probes: 9,
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
            packets_sent: 12,
            replies_only_on_retry: 1,
            replies: 3,
            capture_drops: 0,
            rate_pps: Some(12_000),
            ..ScanStats::default()
        },
        interrupted: false,
    }
}

fn res(ip: [u8; 4], port: u16, reason: Reason, ttl: u8, t: u64) -> PortResult {
    PortResult {
        protocol: crate::model::Protocol::Tcp,
        ip: IpAddr::from(ip),
        port,
        state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
        reason,
        ttl,
        timestamp: at(T0 + t),
    }
}

/// An open, a closed, a no-response filtered (recorded before its host replied), an ICMP
/// admin-prohibited one on another host, and a silent host.
fn results() -> Vec<PortResult> {
    vec![
        res([198, 19, 0, 5], 443, Reason::NoResponse, 0, 1),
        res([198, 19, 0, 7], 22, Reason::NoResponse, 0, 1),
        res([198, 19, 0, 5], 80, Reason::SynAck, 64, 2),
        res([198, 19, 0, 5], 22, Reason::Reset, 64, 3),
        res([198, 19, 0, 6], 80, Reason::AdminProhibited, 250, 4),
    ]
}

fn ctx(opts: OutputOptions, ports: &[u16]) -> Arc<Ctx> {
    Arc::new(Ctx {
        opts,
        services: Services::parse("ssh 22/tcp\nhttp 80/tcp\nhttps 443/tcp\n", true).unwrap(),
        scanned: vec![crate::output::Scanned {
            protocol: crate::model::Protocol::Tcp,
            scan_type: "syn",
            ports: PortsInfo::from_ports(ports.to_vec()),
        }],
    })
}

fn run_with(
    format: Format,
    stdout: bool,
    opts: OutputOptions,
    rs: &[PortResult],
    ports: &[u16],
) -> String {
    let buf = Buf::default();
    let sinks: Vec<(Format, bool, Sink)> = vec![(format, stdout, Box::new(buf.clone()))];
    let mut o = Outputs::with_sinks(sinks, ctx(opts, ports), &info()).unwrap();
    for r in rs {
        o.record(r).unwrap();
    }
    o.flush().unwrap();
    o.finish(&summary()).unwrap();
    o.finish(&summary()).unwrap();
    buf.text()
}

fn run(format: Format, stdout: bool, opts: OutputOptions) -> String {
    run_with(format, stdout, opts, &results(), &[22, 80, 443])
}

#[test]
fn dates_match_independent_values() {
    // Values from `date -u -d @N`.
    assert_eq!(ctime(at(0)), "Thu Jan  1 00:00:00 1970");
    assert_eq!(ctime(at(T0)), "Mon Nov 23 12:42:39 2026");
    assert_eq!(ctime(at(951_782_400)), "Tue Feb 29 00:00:00 2000");
    assert_eq!(ctime(at(4_107_542_399)), "Sun Feb 28 23:59:59 2100");
    assert_eq!(short_date(at(T0)), "2026-11-23 12:42 UTC");
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
}

#[test]
fn ports_info_compresses_ranges() {
    let p = PortsInfo::from_ports(vec![83, 1, 2, 3, 100, 2, 65535, 65534, 99, 84]);
    assert_eq!(p.spec, "1-3,83-84,99-100,65534-65535");
    assert_eq!(p.count, 9);
    assert_eq!(PortsInfo::from_ports(vec![]), PortsInfo::default());
    assert_eq!(PortsInfo::from_set(&PortSet::default()).count, 0);
}

#[test]
fn hosts_phrase_pluralises_like_nmap() {
    assert_eq!(hosts_phrase(1, 1), "1 IP address (1 host up)");
    assert_eq!(hosts_phrase(3, 0), "3 IP addresses (0 hosts up)");
}

const HEAD: &str = "# synscan 0.1.0 scan initiated Mon Nov 23 12:42:39 2026 as: synscan -p 22,80,443 198.19.0.5-7 -oX \"a&b\".xml\n";
const DONE: &str = "# synscan done at Mon Nov 23 12:42:44 2026 -- 3 IP addresses (2 hosts up) scanned in 4.35 seconds\n";

#[test]
fn normal_file_exact() {
    let want = String::from(HEAD)
        + "synscan scan report for 198.19.0.5\n\
           Host is up.\n\
           \n\
           PORT    STATE    SERVICE\n\
           22/tcp  closed   ssh\n\
           80/tcp  open     http\n\
           443/tcp filtered https\n\
           \n\
           synscan scan report for 198.19.0.6\n\
           Host is up.\n\
           \n\
           PORT   STATE    SERVICE\n\
           80/tcp filtered http\n\
           \n"
        + DONE;
    assert_eq!(run(Format::Normal, false, OutputOptions::default()), want);
}

#[test]
fn normal_stdout_with_reason_and_verbose_exact() {
    let o = OutputOptions {
        reason: true,
        verbose: true,
        ..Default::default()
    };
    let want = "Starting synscan 0.1.0 at 2026-11-23 12:42 UTC\n\
                Discovered open port 80/tcp on 198.19.0.5\n\
                synscan scan report for 198.19.0.5\n\
                Host is up, received syn-ack ttl 64.\n\
                \n\
                PORT    STATE    SERVICE REASON\n\
                22/tcp  closed   ssh     reset ttl 64\n\
                80/tcp  open     http    syn-ack ttl 64\n\
                443/tcp filtered https   no-response\n\
                \n\
                synscan scan report for 198.19.0.6\n\
                Host is up, received admin-prohibited ttl 250.\n\
                \n\
                PORT   STATE    SERVICE REASON\n\
                80/tcp filtered http    admin-prohibited ttl 250\n\
                \n\
                synscan done: 3 IP addresses (2 hosts up) scanned in 4.35 seconds\n";
    assert_eq!(run(Format::Normal, true, o), want);
    // Verbose lines go to stdout only, never into a file.
    let o = OutputOptions {
        verbose: true,
        ..Default::default()
    };
    assert!(!run(Format::Normal, false, o).contains("Discovered"));
}

#[test]
fn normal_all_ignored_and_open_only_exact() {
    // 26 closed ports: one more than nmap lists (max_per_state 25), so all are folded.
    let rs: Vec<PortResult> = (1..=26)
        .map(|p| res([198, 19, 0, 9], p, Reason::Reset, 64, 1))
        .collect();
    let ports: Vec<u16> = (1..=26).collect();
    let want = String::from(HEAD)
        + "synscan scan report for 198.19.0.9\n\
           Host is up.\n\
           All 26 scanned ports on 198.19.0.9 are in ignored states.\n\
           Not shown: 26 closed tcp ports (reset)\n\
           \n"
        + "# synscan done at Mon Nov 23 12:42:44 2026 -- 3 IP addresses (1 host up) scanned in 4.35 seconds\n";
    assert_eq!(
        run_with(Format::Normal, false, OutputOptions::default(), &rs, &ports),
        want
    );
    // 25 are listed one by one, as nmap does.
    let listed = run_with(
        Format::Normal,
        false,
        OutputOptions::default(),
        &rs[..25],
        &ports[..25],
    );
    assert!(
        listed.contains("Host is up.\n\nPORT   STATE  SERVICE\n1/tcp  closed unknown\n"),
        "{listed}"
    );
    assert_eq!(listed.matches(" closed ").count(), 25, "{listed}");
    assert!(!listed.contains("Not shown"), "{listed}");
    let o = OutputOptions {
        show_closed: true,
        show_filtered: true,
        open_only: true,
        ..Default::default()
    };
    let want = String::from(HEAD)
        + "synscan scan report for 198.19.0.5\n\
           Host is up.\n\
           Not shown: 1 closed tcp port (reset), 1 filtered tcp port (no-response)\n\
           PORT   STATE SERVICE\n\
           80/tcp open  http\n\
           \n"
        + DONE;
    assert_eq!(run(Format::Normal, false, o), want);
}

#[test]
fn grepable_exact() {
    let want = String::from(HEAD)
        + "Host: 198.19.0.5 ()\tStatus: Up\n\
           Host: 198.19.0.5 ()\tPorts: 22/closed/tcp//ssh///, 80/open/tcp//http///, 443/filtered/tcp//https///\n\
           Host: 198.19.0.6 ()\tStatus: Up\n\
           Host: 198.19.0.6 ()\tPorts: 80/filtered/tcp//http///\n"
        + DONE;
    assert_eq!(run(Format::Grepable, false, OutputOptions::default()), want);
    let o = OutputOptions {
        show_closed: true,
        ..Default::default()
    };
    assert!(run(Format::Grepable, false, o).contains(
        "Ports: 22/closed/tcp//ssh///, 80/open/tcp//http///, 443/filtered/tcp//https///\n"
    ));
    let o = OutputOptions {
        open_only: true,
        ..Default::default()
    };
    let want = String::from(HEAD)
        + "Host: 198.19.0.5 ()\tStatus: Up\n\
           Host: 198.19.0.5 ()\tPorts: 80/open/tcp//http///\n"
        + DONE;
    assert_eq!(run(Format::Grepable, false, o), want);
    // -v adds nmap's "Ports scanned" comment (nmap 7.93: `nmap -v -p 8000,8001 -oG`).
    let o = OutputOptions {
        verbose: true,
        ..Default::default()
    };
    assert!(run(Format::Grepable, false, o).starts_with(&format!(
        "{HEAD}# Ports scanned: TCP(3;22,80,443) UDP(0;) SCTP(0;) PROTOCOLS(0;)\nHost: "
    )));
    // No service name: an empty field, as nmap writes it.
    let rs = [res([198, 19, 0, 5], 40004, Reason::SynAck, 64, 1)];
    assert!(run_with(
        Format::Grepable,
        false,
        OutputOptions::default(),
        &rs,
        &[40004]
    )
    .contains("\tPorts: 40004/open/tcp/////\n"));
}

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE nmaprun>\n\
<?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n\
<!-- synscan 0.1.0 scan initiated Mon Nov 23 12:42:39 2026 as: synscan -p 22,80,443 198.19.0.5-7 -oX &quot;a&amp;b&quot;.xml -->\n\
<nmaprun scanner=\"synscan\" args=\"synscan -p 22,80,443 198.19.0.5-7 -oX &quot;a&amp;b&quot;.xml\" start=\"1795437759\" startstr=\"Mon Nov 23 12:42:39 2026\" version=\"0.1.0\" xmloutputversion=\"1.05\">\n\
<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"3\" services=\"22,80,443\"/>\n\
<verbose level=\"0\"/>\n\
<debugging level=\"0\"/>\n";

const XML_TAIL: &str = "<runstats><finished time=\"1795437764\" timestr=\"Mon Nov 23 12:42:44 2026\" summary=\"synscan done at Mon Nov 23 12:42:44 2026; 3 IP addresses (2 hosts up) scanned in 4.35 seconds\" elapsed=\"4.35\" exit=\"success\"/><hosts up=\"2\" down=\"1\" total=\"3\"/>\n\
</runstats>\n\
</nmaprun>\n";

#[test]
fn xml_exact() {
    let want = String::from(XML_HEAD)
        + "<host starttime=\"1795437761\" endtime=\"1795437762\"><status state=\"up\" reason=\"syn-ack\" reason_ttl=\"64\"/>\n\
<address addr=\"198.19.0.5\" addrtype=\"ipv4\"/>\n\
<hostnames>\n\
</hostnames>\n\
<ports><port protocol=\"tcp\" portid=\"22\"><state state=\"closed\" reason=\"reset\" reason_ttl=\"64\"/><service name=\"ssh\" method=\"table\" conf=\"3\"/></port>\n\
<port protocol=\"tcp\" portid=\"80\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/><service name=\"http\" method=\"table\" conf=\"3\"/></port>\n\
<port protocol=\"tcp\" portid=\"443\"><state state=\"filtered\" reason=\"no-response\" reason_ttl=\"0\"/><service name=\"https\" method=\"table\" conf=\"3\"/></port>\n\
</ports>\n\
</host>\n\
<host starttime=\"1795437763\" endtime=\"1795437763\"><status state=\"up\" reason=\"admin-prohibited\" reason_ttl=\"250\"/>\n\
<address addr=\"198.19.0.6\" addrtype=\"ipv4\"/>\n\
<hostnames>\n\
</hostnames>\n\
<ports><port protocol=\"tcp\" portid=\"80\"><state state=\"filtered\" reason=\"admin-prohibited\" reason_ttl=\"250\"/><service name=\"http\" method=\"table\" conf=\"3\"/></port>\n\
</ports>\n\
</host>\n"
        + XML_TAIL;
    assert_eq!(run(Format::Xml, false, OutputOptions::default()), want);
}

#[test]
fn xml_open_only_exact() {
    let o = OutputOptions {
        open_only: true,
        ..Default::default()
    };
    let want = String::from(XML_HEAD)
        + "<host starttime=\"1795437761\" endtime=\"1795437762\"><status state=\"up\" reason=\"syn-ack\" reason_ttl=\"64\"/>\n\
<address addr=\"198.19.0.5\" addrtype=\"ipv4\"/>\n\
<hostnames>\n\
</hostnames>\n\
<ports><extraports state=\"closed\" count=\"1\">\n\
<extrareasons reason=\"reset\" count=\"1\" proto=\"tcp\"/>\n\
</extraports>\n\
<extraports state=\"filtered\" count=\"1\">\n\
<extrareasons reason=\"no-response\" count=\"1\" proto=\"tcp\"/>\n\
</extraports>\n\
<port protocol=\"tcp\" portid=\"80\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/><service name=\"http\" method=\"table\" conf=\"3\"/></port>\n\
</ports>\n\
</host>\n"
        + XML_TAIL;
    assert_eq!(run(Format::Xml, false, o), want);
}

#[test]
fn xml_escapes_attributes() {
    assert_eq!(
        xml::escape("a&b<c>\"d'--e\n"),
        "a&amp;b&lt;c&gt;&quot;d&apos;--e&#10;"
    );
    assert_eq!(xml::escape("x\u{1}y"), "xy");
}

const SUMMARY_JSON: &str = "{\"type\":\"summary\",\"start\":1795437759,\"end\":1795437764,\"elapsed\":4.350,\"hosts\":3,\"probes\":9,\"packets_sent\":12,\"replies\":3,\"replies_only_on_retry\":1,\"capture_drops\":0,\"rate_pps\":12000,\"rate_signal\":null,\"lower_rate_advised\":false,\"interrupted\":false}\n";

#[test]
fn json_exact() {
    let want = String::from(
        "{\"ip\":\"198.19.0.5\",\"port\":80,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":64,\"ts\":1795437761,\"service\":\"http\"}\n",
    ) + SUMMARY_JSON;
    let got = run(Format::Json, false, OutputOptions::default());
    assert_eq!(got, want);
    for line in got.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.is_object());
    }
    let o = OutputOptions {
        show_closed: true,
        show_filtered: true,
        ..Default::default()
    };
    let want = String::from(
        "{\"ip\":\"198.19.0.5\",\"port\":443,\"proto\":\"tcp\",\"state\":\"filtered\",\"reason\":\"no-response\",\"ttl\":0,\"ts\":1795437760,\"service\":\"https\"}\n\
         {\"ip\":\"198.19.0.7\",\"port\":22,\"proto\":\"tcp\",\"state\":\"filtered\",\"reason\":\"no-response\",\"ttl\":0,\"ts\":1795437760,\"service\":\"ssh\"}\n\
         {\"ip\":\"198.19.0.5\",\"port\":80,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":64,\"ts\":1795437761,\"service\":\"http\"}\n\
         {\"ip\":\"198.19.0.5\",\"port\":22,\"proto\":\"tcp\",\"state\":\"closed\",\"reason\":\"reset\",\"ttl\":64,\"ts\":1795437762,\"service\":\"ssh\"}\n\
         {\"ip\":\"198.19.0.6\",\"port\":80,\"proto\":\"tcp\",\"state\":\"filtered\",\"reason\":\"admin-prohibited\",\"ttl\":250,\"ts\":1795437763,\"service\":\"http\"}\n",
    ) + SUMMARY_JSON;
    assert_eq!(run(Format::Json, false, o), want);
    // Unknown service: no key.
    let rs = [res([198, 19, 0, 5], 40004, Reason::SynAck, 64, 1)];
    assert!(run_with(Format::Json, false, OutputOptions::default(), &rs, &[40004])
        .starts_with("{\"ip\":\"198.19.0.5\",\"port\":40004,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":64,\"ts\":1795437760}\n"));
}

#[test]
fn list_exact() {
    assert_eq!(
        run(Format::List, false, OutputOptions::default()),
        "#masscan\nopen tcp 80 198.19.0.5 1795437761\n# end\n"
    );
    let o = OutputOptions {
        show_closed: true,
        show_filtered: true,
        ..Default::default()
    };
    assert_eq!(
        run(Format::List, false, o),
        "#masscan\n\
         filtered tcp 443 198.19.0.5 1795437760\n\
         filtered tcp 22 198.19.0.7 1795437760\n\
         open tcp 80 198.19.0.5 1795437761\n\
         closed tcp 22 198.19.0.5 1795437762\n\
         filtered tcp 80 198.19.0.6 1795437763\n\
         # end\n"
    );
    let o = OutputOptions {
        show_closed: true,
        show_filtered: true,
        open_only: true,
        ..Default::default()
    };
    assert_eq!(
        run(Format::List, false, o),
        "#masscan\nopen tcp 80 198.19.0.5 1795437761\n# end\n"
    );
}

#[test]
fn csv_exact() {
    assert_eq!(
        run(Format::Csv, false, OutputOptions::default()),
        "ip,port,proto,state,reason,ttl,timestamp,service\n198.19.0.5,80,tcp,open,syn-ack,64,1795437761,http\n"
    );
    let o = OutputOptions {
        show_closed: true,
        ..Default::default()
    };
    assert_eq!(
        run(Format::Csv, false, o),
        "ip,port,proto,state,reason,ttl,timestamp,service\n\
         198.19.0.5,80,tcp,open,syn-ack,64,1795437761,http\n\
         198.19.0.5,22,tcp,closed,reset,64,1795437762,ssh\n"
    );
    assert_eq!(csv::field("a,b"), "\"a,b\"");
    assert_eq!(csv::field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv::field("plain"), "plain");
}

/// Open (ip, port) pairs each format reports, parsed back from its text.
fn open_pairs(f: Format, text: &str) -> Vec<(String, u16)> {
    let mut v: Vec<(String, u16)> = Vec::new();
    match f {
        Format::List => {
            for l in text.lines().filter(|l| l.starts_with("open ")) {
                let w: Vec<&str> = l.split(' ').collect();
                v.push((w[3].to_string(), w[2].parse().unwrap()));
            }
        }
        Format::Csv => {
            for l in text.lines().skip(1) {
                let w: Vec<&str> = l.split(',').collect();
                if w[3] == "open" {
                    v.push((w[0].to_string(), w[1].parse().unwrap()));
                }
            }
        }
        Format::Json => {
            for l in text.lines() {
                let j: serde_json::Value = serde_json::from_str(l).unwrap();
                if j["state"] == "open" {
                    v.push((
                        j["ip"].as_str().unwrap().to_string(),
                        j["port"].as_u64().unwrap() as u16,
                    ));
                }
            }
        }
        Format::Grepable => {
            for l in text.lines().filter(|l| l.contains("\tPorts: ")) {
                let ip = l.split(' ').nth(1).unwrap().to_string();
                let ports = l
                    .split("\tPorts: ")
                    .nth(1)
                    .unwrap()
                    .split('\t')
                    .next()
                    .unwrap();
                for p in ports.split(", ").filter(|p| p.contains("/open/")) {
                    v.push((ip.clone(), p.split('/').next().unwrap().parse().unwrap()));
                }
            }
        }
        Format::Normal => {
            let mut ip = String::new();
            for l in text.lines() {
                if let Some(rest) = l.strip_prefix("synscan scan report for ") {
                    ip = rest.to_string();
                } else if l.contains("/tcp ") && l.split_whitespace().nth(1) == Some("open") {
                    v.push((ip.clone(), l.split('/').next().unwrap().parse().unwrap()));
                }
            }
        }
        Format::Xml => {
            let mut ip = String::new();
            for l in text.lines() {
                if let Some(rest) = l.strip_prefix("<address addr=\"") {
                    ip = rest.split('"').next().unwrap().to_string();
                }
                for part in l.split("<port protocol=\"tcp\" portid=\"").skip(1) {
                    if part.contains("<state state=\"open\"") {
                        v.push((ip.clone(), part.split('"').next().unwrap().parse().unwrap()));
                    }
                }
            }
        }
    }
    v.sort();
    v
}

fn big_results() -> Vec<PortResult> {
    let mut rs = Vec::new();
    for h in 1..=4u8 {
        for p in [21u16, 22, 80, 443, 8080, 40004] {
            let reason = match (u16::from(h) * 7 + p) % 5 {
                0 | 1 => Reason::SynAck,
                2 => Reason::Reset,
                3 => Reason::NoResponse,
                _ => Reason::HostUnreach,
            };
            rs.push(res([198, 19, 1, h], p, reason, 60 + h, u64::from(p % 3)));
        }
    }
    rs.reverse();
    rs
}

#[test]
fn every_format_reports_the_same_open_ports() {
    let rs = big_results();
    let mut want: Vec<(String, u16)> = rs
        .iter()
        .filter(|r| r.state == PortState::Open)
        .map(|r| (r.ip.to_string(), r.port))
        .collect();
    want.sort();
    assert!(want.len() >= 5);
    for opts in [
        OutputOptions::default(),
        OutputOptions {
            show_closed: true,
            show_filtered: true,
            reason: true,
            ..Default::default()
        },
        OutputOptions {
            open_only: true,
            ..Default::default()
        },
    ] {
        for f in [
            Format::Normal,
            Format::Grepable,
            Format::Xml,
            Format::Json,
            Format::List,
            Format::Csv,
        ] {
            let text = run_with(f, false, opts.clone(), &rs, &[21, 22, 80, 443, 8080, 40004]);
            assert_eq!(open_pairs(f, &text), want, "{f:?} {opts:?}\n{text}");
        }
    }
}

#[test]
fn open_writes_files_and_rejects_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let specs = vec![
        OutputSpec {
            format: Format::List,
            path: path("a.lst"),
        },
        OutputSpec {
            format: Format::Csv,
            path: "-".into(),
        },
    ];
    let mut opts = OutputOptions {
        services_file: Some(dir.path().join("svc")),
        ..Default::default()
    };
    std::fs::write(dir.path().join("svc"), "http 80/tcp 0.5\n").unwrap();
    std::fs::write(path("a.lst"), "old junk\n").unwrap();
    let mut o = Outputs::open(&specs, &opts, &info(), &mut crate::sys::fs::Claims::new()).unwrap();
    o.record(&res([198, 19, 0, 5], 80, Reason::SynAck, 64, 2))
        .unwrap();
    o.finish(&summary()).unwrap();
    drop(o);
    let want = "#masscan\nopen tcp 80 198.19.0.5 1795437761\n# end\n";
    assert_eq!(std::fs::read_to_string(path("a.lst")).unwrap(), want);
    opts.append = true;
    let specs = &specs[..1];
    let mut o = Outputs::open(specs, &opts, &info(), &mut crate::sys::fs::Claims::new()).unwrap();
    o.finish(&summary()).unwrap();
    drop(o);
    assert_eq!(
        std::fs::read_to_string(path("a.lst")).unwrap(),
        format!("{want}#masscan\n# end\n")
    );

    let two_stdout = [
        OutputSpec {
            format: Format::Xml,
            path: "-".into(),
        },
        OutputSpec {
            format: Format::Json,
            path: "-".into(),
        },
    ];
    let e = Outputs::open(
        &two_stdout,
        &OutputOptions::default(),
        &info(),
        &mut crate::sys::fs::Claims::new(),
    )
    .err()
    .unwrap();
    assert_eq!(
        e.0,
        "more than one output writes to stdout (-); give all but one a file path"
    );
    let twice = [
        OutputSpec {
            format: Format::Xml,
            path: path("x"),
        },
        OutputSpec {
            format: Format::Json,
            path: path("x"),
        },
    ];
    assert!(Outputs::open(
        &twice,
        &OutputOptions::default(),
        &info(),
        &mut crate::sys::fs::Claims::new()
    )
    .is_err());
    let bad = [OutputSpec {
        format: Format::Xml,
        path: path("no/such/dir/x.xml"),
    }];
    let e = Outputs::open(
        &bad,
        &OutputOptions::default(),
        &info(),
        &mut crate::sys::fs::Claims::new(),
    )
    .err()
    .unwrap();
    assert!(
        e.0.starts_with("cannot open output file ") && !e.0.contains('\n'),
        "{e}"
    );
    let opts = OutputOptions {
        services_file: Some(dir.path().join("missing")),
        ..Default::default()
    };
    assert!(Outputs::open(specs, &opts, &info(), &mut crate::sys::fs::Claims::new()).is_err());
}

#[test]
fn outputs_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Outputs>();
}

/// Runs a tool, or None (with a printed note) when it is not installed.
fn tool(name: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(name).args(args).output() {
        Ok(o) => Some(o),
        Err(_) => {
            eprintln!("note: {name} not installed; skipping (apt-get install libxml2-utils xsltproc ndiff)");
            None
        }
    }
}

/// Our XML with the scanner name nmap's DTD and tools require.
fn xml_as_nmap(rs: &[PortResult], opts: OutputOptions) -> String {
    run_with(
        Format::Xml,
        false,
        opts,
        rs,
        &[21, 22, 80, 443, 8080, 40004],
    )
    .replace("scanner=\"synscan\"", "scanner=\"nmap\"")
}

#[test]
fn xml_validates_against_nmap_dtd() {
    let dtd = "/usr/share/nmap/nmap.dtd";
    if !std::path::Path::new(dtd).exists() {
        eprintln!("note: {dtd} missing (install nmap); skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (i, opts) in [
        OutputOptions::default(),
        OutputOptions {
            show_closed: true,
            show_filtered: true,
            ..Default::default()
        },
        OutputOptions {
            open_only: true,
            ..Default::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let mut rs = big_results();
        rs.extend(results());
        let f = dir.path().join(format!("s{i}.xml"));
        std::fs::write(&f, xml_as_nmap(&rs, opts)).unwrap();
        let Some(out) = tool(
            "xmllint",
            &["--noout", "--dtdvalid", dtd, f.to_str().unwrap()],
        ) else {
            return;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.is_empty(), "xmllint: {err}");
    }
}

#[test]
fn xml_renders_with_nmap_xsl() {
    let xsl = "/usr/share/nmap/nmap.xsl";
    if !std::path::Path::new(xsl).exists() {
        eprintln!("note: {xsl} missing (install nmap); skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.xml");
    std::fs::write(&f, xml_as_nmap(&big_results(), OutputOptions::default())).unwrap();
    let Some(out) = tool("xsltproc", &[xsl, f.to_str().unwrap()]) else {
        return;
    };
    assert!(
        out.status.success(),
        "xsltproc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        html.contains("<html") && html.contains("198.19.1.1"),
        "{html}"
    );
}

#[test]
fn ndiff_sees_order_independence_and_new_ports() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.xml");
    let b = dir.path().join("b.xml");
    let c = dir.path().join("c.xml");
    let rs = big_results();
    let mut shuffled = rs.clone();
    shuffled.reverse();
    shuffled.rotate_left(7);
    std::fs::write(&a, xml_as_nmap(&rs, OutputOptions::default())).unwrap();
    std::fs::write(&b, xml_as_nmap(&shuffled, OutputOptions::default())).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let Some(out) = tool("ndiff", &[a, b]) else {
        return;
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "ndiff: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The same scan with one more open port differs, and says which.
    let extra: Vec<PortResult> = rs
        .iter()
        .map(|r| {
            if r.ip == Ipv4Addr::new(198, 19, 1, 2) && r.port == 8080 {
                res([198, 19, 1, 2], 8080, Reason::SynAck, 62, 1)
            } else {
                *r
            }
        })
        .collect();
    assert!(rs.iter().any(|r| r.ip == Ipv4Addr::new(198, 19, 1, 2)
        && r.port == 8080
        && r.state != PortState::Open));
    std::fs::write(&c, xml_as_nmap(&extra, OutputOptions::default())).unwrap();
    let Some(out) = tool("ndiff", &[a, c.to_str().unwrap()]) else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "ndiff: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("8080/tcp") && text.contains("198.19.1.2"),
        "{text}"
    );
}

/// Expands nmap's compressed port lists ("2,4,6-10").
fn expand(spec: &str) -> Vec<u16> {
    let mut v = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => v.extend(a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap()),
            None => v.push(part.parse().unwrap()),
        }
    }
    v
}

/// The results nmap 7.93 found in a lab (198.19.78.0/31, ports 1-60, some dropped, some
/// answered with ICMP host-unreachable); the port lists are nmap's own `extrareasons ports`.
fn nmap_lab_results() -> Vec<PortResult> {
    let mut rs = Vec::new();
    let mut add = |host: u8, spec: &str, reason: Reason, ttl: u8| {
        for p in expand(spec) {
            rs.push(res([198, 19, 78, host], p, reason, ttl, 1));
        }
    };
    add(
        0,
        "2,4,6-10,15-16,19,21,23-25,28,30-31,34-35,37,40-44,49,52,54-57,60",
        Reason::Reset,
        64,
    );
    add(
        0,
        "1,3,5,11-14,18,22,26-27,32-33,36,39,45-46,48,50-51,53,58-59",
        Reason::NoResponse,
        0,
    );
    add(0, "17,20,29,38,47", Reason::HostUnreach, 64);
    add(
        1,
        "1-2,6,8-11,14,17,19-21,28-29,31,33,35,38-39,42,44,48,50-51,53,55-56,59",
        Reason::Reset,
        64,
    );
    add(
        1,
        "4,7,12-13,15-16,18,22-24,26-27,30,32,34,37,40-41,43,45,47,49,52,54,57-58,60",
        Reason::NoResponse,
        0,
    );
    add(1, "5,25,36", Reason::HostUnreach, 64);
    add(1, "3,46", Reason::SynAck, 64);
    // Any arrival order: no-response results are decided last, as in a real scan.
    rs.sort_by_key(|r| (r.reason == Reason::NoResponse, r.port % 7, r.port));
    rs
}

/// What nmap 7.93 wrote for those results with --reason (-oN, -oG, -oX), apart from the
/// header, footer, "Host is up" lines, `<times>` and `<status>`.
const NMAP_NORMAL: &str = "Nmap scan report for 198.19.78.0
Host is up, received user-set (0.0000050s latency).
All 60 scanned ports on 198.19.78.0 are in ignored states.
Not shown: 32 closed tcp ports (reset), 23 filtered tcp ports (no-response), 5 filtered tcp ports (host-unreach)

Nmap scan report for 198.19.78.1
Host is up, received user-set (0.0000050s latency).
Not shown: 27 filtered tcp ports (no-response), 3 filtered tcp ports (host-unreach), 28 closed tcp ports (reset)
PORT   STATE SERVICE     REASON
3/tcp  open  compressnet syn-ack ttl 64
46/tcp open  mpm-snd     syn-ack ttl 64

";
const NMAP_GREPABLE: &str = "Host: 198.19.78.0 ()\tStatus: Up
Host: 198.19.78.0 ()\tPorts: 
Host: 198.19.78.1 ()\tStatus: Up
Host: 198.19.78.1 ()\tPorts: 3/open/tcp//compressnet///, 46/open/tcp//mpm-snd///
";
const NMAP_XML_PORTS: &str = r#"<ports><extraports state="closed" count="32">
<extrareasons reason="reset" count="32" proto="tcp" ports="2,4,6-10,15-16,19,21,23-25,28,30-31,34-35,37,40-44,49,52,54-57,60"/>
</extraports>
<extraports state="filtered" count="28">
<extrareasons reason="no-response" count="23" proto="tcp" ports="1,3,5,11-14,18,22,26-27,32-33,36,39,45-46,48,50-51,53,58-59"/>
<extrareasons reason="host-unreach" count="5" proto="tcp" ports="17,20,29,38,47"/>
</extraports>
</ports>
<ports><extraports state="filtered" count="30">
<extrareasons reason="no-response" count="27" proto="tcp" ports="4,7,12-13,15-16,18,22-24,26-27,30,32,34,37,40-41,43,45,47,49,52,54,57-58,60"/>
<extrareasons reason="host-unreach" count="3" proto="tcp" ports="5,25,36"/>
</extraports>
<extraports state="closed" count="28">
<extrareasons reason="reset" count="28" proto="tcp" ports="1-2,6,8-11,14,17,19-21,28-29,31,33,35,38-39,42,44,48,50-51,53,55-56,59"/>
</extraports>
<port protocol="tcp" portid="3"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="compressnet" method="table" conf="3"/></port>
<port protocol="tcp" portid="46"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="mpm-snd" method="table" conf="3"/></port>
</ports>
"#;

/// Runs one format over `rs` with the two service names nmap printed.
fn run_nmap_lab(format: Format, opts: OutputOptions, rs: &[PortResult]) -> String {
    let buf = Buf::default();
    let sinks: Vec<(Format, bool, Sink)> = vec![(format, false, Box::new(buf.clone()))];
    let ctx = Arc::new(Ctx {
        opts,
        services: Services::parse(
            "compressnet 3/tcp\nmpm-snd 46/tcp\nhttp 80/tcp\nhttps 443/tcp\nssh 22/tcp\n",
            true,
        )
        .unwrap(),
        scanned: vec![crate::output::Scanned {
            protocol: crate::model::Protocol::Tcp,
            scan_type: "syn",
            ports: PortsInfo::from_ports((1..=60).collect()),
        }],
    });
    let mut o = Outputs::with_sinks(sinks, ctx, &info()).unwrap();
    for r in rs {
        o.record(r).unwrap();
    }
    o.finish(&summary()).unwrap();
    buf.text()
}

/// Lines that are not comments (headers and footers).
fn body(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn same_results_as_nmap_793_give_nmaps_text() {
    let rs = nmap_lab_results();
    let reason = OutputOptions {
        reason: true,
        ..Default::default()
    };
    let normal = run_nmap_lab(Format::Normal, reason.clone(), &rs);
    let without_up = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.starts_with("Host is up"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert_eq!(
        without_up(&body(&normal)),
        without_up(&NMAP_NORMAL.replace("Nmap scan report", "synscan scan report")),
        "{normal}"
    );
    let up: Vec<&str> = normal
        .lines()
        .filter(|l| l.starts_with("Host is up"))
        .collect();
    assert_eq!(
        up,
        [
            "Host is up, received reset ttl 64.",
            "Host is up, received syn-ack ttl 64."
        ]
    );
    let grepable = run_nmap_lab(Format::Grepable, reason.clone(), &rs);
    assert_eq!(body(&grepable), NMAP_GREPABLE);
    let xml = run_nmap_lab(Format::Xml, reason, &rs);
    let ports: String = xml
        .lines()
        .skip_while(|l| !l.starts_with("<ports>"))
        .filter(|l| {
            !l.starts_with("<host ")
                && !l.starts_with("<address")
                && !l.contains("hostnames>")
                && !l.starts_with("<runstats")
                && !l.starts_with("</runstats")
                && !l.starts_with("</nmaprun")
                && *l != "</host>"
        })
        .map(|l| format!("{l}\n"))
        .collect();
    // synscan leaves out the optional `ports` attribute of <extrareasons>.
    let nmap_ports: String = NMAP_XML_PORTS
        .lines()
        .map(|l| match l.find(" ports=\"") {
            Some(i) => format!("{}/>\n", &l[..i]),
            None => format!("{l}\n"),
        })
        .collect();
    assert_eq!(ports, nmap_ports, "{xml}");
}

#[test]
fn open_only_matches_nmap_793() {
    // nmap 7.93, `--open -p 22,80,443 198.19.77.0-3` on a lab where .1 has 80 and 443 open:
    // hosts without open ports vanish; one ignored state is named in -oG, in the singular
    // in -oN when it holds one port.
    let mut rs = Vec::new();
    for h in 0..=3u8 {
        for p in [22u16, 80, 443] {
            let reason = if h == 1 && p != 22 {
                Reason::SynAck
            } else {
                Reason::Reset
            };
            rs.push(res([198, 19, 77, h], p, reason, 64, 1));
        }
    }
    let o = OutputOptions {
        open_only: true,
        ..Default::default()
    };
    assert_eq!(
        body(&run_nmap_lab(Format::Grepable, o.clone(), &rs)),
        "Host: 198.19.77.1 ()\tStatus: Up\n\
         Host: 198.19.77.1 ()\tPorts: 80/open/tcp//http///, 443/open/tcp//https///\tIgnored State: closed (1)\n"
    );
    assert_eq!(
        body(&run_nmap_lab(Format::Normal, o, &rs)),
        "synscan scan report for 198.19.77.1\n\
         Host is up.\n\
         Not shown: 1 closed tcp port (reset)\n\
         PORT    STATE SERVICE\n\
         80/tcp  open  http\n\
         443/tcp open  https\n\
         \n"
    );
}

#[test]
fn user_hostnames_as_nmap_writes_them() {
    // nmap 7.93 for `nmap -Pn -p 80 webhost.lab` (webhost.lab = 198.19.77.1 in /etc/hosts):
    //   "Nmap scan report for webhost.lab (198.19.77.1)", "Host: 198.19.77.1 (webhost.lab)",
    //   <hostname name="webhost.lab" type="user"/>.
    let rs = [res([198, 19, 77, 1], 80, Reason::SynAck, 64, 1)];
    let run = |format: Format| {
        let buf = Buf::default();
        let sinks: Vec<(Format, bool, Sink)> = vec![(format, false, Box::new(buf.clone()))];
        let mut o =
            Outputs::with_sinks(sinks, ctx(OutputOptions::default(), &[80]), &info()).unwrap();
        o.set_hostnames([
            (Ipv4Addr::new(198, 19, 77, 1), "webhost.lab".to_string()),
            (Ipv4Addr::new(198, 19, 77, 1), "second.name".to_string()),
            (Ipv4Addr::new(198, 19, 77, 9), "other.lab".to_string()),
        ]);
        for r in &rs {
            o.record(r).unwrap();
        }
        o.finish(&summary()).unwrap();
        buf.text()
    };
    assert_eq!(
        body(&run(Format::Normal)),
        "synscan scan report for webhost.lab (198.19.77.1)\n\
         Host is up.\n\
         \n\
         PORT   STATE SERVICE\n\
         80/tcp open  http\n\
         \n"
    );
    assert_eq!(
        body(&run(Format::Grepable)),
        "Host: 198.19.77.1 (webhost.lab)\tStatus: Up\n\
         Host: 198.19.77.1 (webhost.lab)\tPorts: 80/open/tcp//http///\n"
    );
    let xml = run(Format::Xml);
    assert!(
        xml.contains("<hostnames>\n<hostname name=\"webhost.lab\" type=\"user\"/>\n</hostnames>\n"),
        "{xml}"
    );
    let dtd = "/usr/share/nmap/nmap.dtd";
    if std::path::Path::new(dtd).exists() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("h.xml");
        std::fs::write(&f, xml.replace("scanner=\"synscan\"", "scanner=\"nmap\"")).unwrap();
        if let Some(out) = tool(
            "xmllint",
            &["--noout", "--dtdvalid", dtd, f.to_str().unwrap()],
        ) {
            assert!(
                out.status.success(),
                "xmllint: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn xml_comment_never_holds_a_double_dash() {
    assert_eq!(
        xml::comment_text("synscan --open -oX a--b.xml ---"),
        "synscan -&#45;open -oX a-&#45;b.xml -&#45;-"
    );
    assert_eq!(xml::comment_text("a<b"), "a&lt;b");
}

/// A sink that accepts `room` bytes, then fails like a full disk.
struct Full {
    room: usize,
}

impl Write for Full {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::from_raw_os_error(28));
        }
        let n = b.len().min(self.room);
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_output_is_named_and_the_others_complete() {
    // Failing at the header, at a record and at the trailer: each is reported once, by
    // name, and the good outputs are exactly what they are alone.
    for (format, room) in [
        (Format::Xml, 0),
        (Format::Normal, 0),
        (Format::Json, 10),
        (Format::List, 12),
        (Format::Grepable, 70),
    ] {
        let json = Buf::default();
        let xml = Buf::default();
        let named = vec![
            NamedSink {
                format: Format::Json,
                stdout: false,
                name: "output file good.json".into(),
                sink: Box::new(json.clone()),
            },
            NamedSink {
                format,
                stdout: false,
                name: "output file /dev/full".into(),
                sink: Box::new(Full { room }),
            },
            NamedSink {
                format: Format::Xml,
                stdout: false,
                name: "output file good.xml".into(),
                sink: Box::new(xml.clone()),
            },
        ];
        let mut o = Outputs::with_named_sinks(
            named,
            ctx(OutputOptions::default(), &[22, 80, 443]),
            &info(),
        );
        for r in results() {
            o.record(&r).unwrap();
        }
        o.flush().unwrap();
        let e = o.finish(&summary()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "output file /dev/full: No space left on device (os error 28); check free disk space and permissions (the other outputs are complete)",
            "{format:?}"
        );
        assert_eq!(
            json.text(),
            run(Format::Json, false, OutputOptions::default())
        );
        assert_eq!(
            xml.text(),
            run(Format::Xml, false, OutputOptions::default())
        );
        assert!(o.finish(&summary()).is_ok(), "second finish does nothing");
    }
}

/// The facts of a run that probes every one of `ports` on `hosts` targets (no shard).
fn covering_info(hosts: u64, ports: &[u16]) -> ScanInfo {
    let set = PortSet::from_ranges(ports.iter().map(|&p| (p, p)));
    ScanInfo {
        probes: hosts * set.len(),
        hosts,
        services: set.into(),
        ..info()
    }
}

/// Writes `rs` in `format` for a run described by `info`; also returns (hosts, pending
/// no-response results) held by the per-host table once every result is recorded.
fn run_info(
    format: Format,
    opts: OutputOptions,
    rs: &[PortResult],
    info: &ScanInfo,
) -> (String, (usize, usize)) {
    let buf = Buf::default();
    let sinks: Vec<(Format, bool, Sink)> = vec![(format, false, Box::new(buf.clone()))];
    let mut o = Outputs::with_sinks(sinks, ctx(opts, &[22, 80, 443]), info).unwrap();
    for r in rs {
        o.record(r).unwrap();
    }
    let held = o
        .table
        .as_ref()
        .map_or((0, 0), |t| (t.host_count(), t.pending_count()));
    o.finish(&summary()).unwrap();
    (buf.text(), held)
}

/// A complete scan of 40 hosts x 42 ports in a shuffled order: silent hosts, hosts with
/// more than 25 closed and a few filtered ports, mostly filtered hosts, mixed ones.
fn complete_shuffled_scan(ports: &[u16]) -> Vec<PortResult> {
    let mut rs = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for h in 0..40u8 {
        for (i, &p) in ports.iter().enumerate() {
            let reason = match (h % 5, i) {
                (0, _) => Reason::NoResponse,
                (1, 0) => Reason::SynAck,
                (1, 1..=3) => Reason::NoResponse,
                (1, 4) => Reason::HostUnreach,
                (1, _) => Reason::Reset,
                (2, _) => {
                    [Reason::SynAck, Reason::Reset, Reason::NoResponse][(next() % 3) as usize]
                }
                (3, 0 | 1) => Reason::SynAck,
                (3, _) => Reason::NoResponse,
                (_, 0..=9) => Reason::NoResponse,
                (_, 10) => Reason::AdminProhibited,
                (_, _) => Reason::Reset,
            };
            rs.push(res([198, 19, 9, h], p, reason, 64, u64::from(h)));
        }
    }
    // Fisher-Yates: no-response results land before and after their host's first reply.
    for i in (1..rs.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        rs.swap(i, j);
    }
    rs
}

#[test]
fn a_run_over_every_port_stores_nothing_for_silent_hosts_and_writes_the_same_text() {
    let ports: Vec<u16> = (1..=40).chain([80, 443]).collect();
    let rs = complete_shuffled_scan(&ports);
    let covering = covering_info(40, &ports);
    // One probe short of every port: the table that keeps no-response results, bounded.
    let partial = ScanInfo {
        probes: covering.probes - 1,
        ..covering.clone()
    };
    let show = |closed, filtered| OutputOptions {
        show_closed: closed,
        show_filtered: filtered,
        ..Default::default()
    };
    let options = [
        OutputOptions::default(),
        OutputOptions {
            reason: true,
            ..Default::default()
        },
        OutputOptions {
            open_only: true,
            ..Default::default()
        },
        show(true, false),
        show(false, true),
        show(true, true),
    ];
    for opts in options {
        for format in [Format::Normal, Format::Grepable, Format::Xml] {
            let case = format!("{format:?} {opts:?}");
            // The bounded vector (a run that does not cover every port) keeps them all here.
            let (kept, (kept_hosts, pending)) = run_info(format, opts.clone(), &rs, &partial);
            let (counted, (hosts, none)) = run_info(format, opts.clone(), &rs, &covering);
            assert_eq!(kept_hosts, 32, "{case}");
            assert!(pending > 100, "{case}: {pending}");
            // Only the 32 hosts that replied are held, and no result of a silent moment.
            assert_eq!((hosts, none), (32, 0), "{case}");
            assert_eq!(counted, kept, "{case}");
            assert!(!counted.contains("not kept"), "{case}");
        }
    }
}

#[test]
fn many_silent_hosts_are_counted_and_a_late_reply_still_gets_its_filtered_ports() {
    // 5000 silent hosts x 30 ports, and one host whose port 80 answers after 20 of its 29
    // no-response results.
    let ports: Vec<u16> = (1..=29).chain([80]).collect();
    let late = [198, 19, 200, 1];
    let mut rs = Vec::new();
    for (i, &p) in ports.iter().enumerate().filter(|&(_, &p)| p != 80) {
        if i == 20 {
            rs.push(res(late, 80, Reason::SynAck, 64, 2));
        }
        rs.push(res(late, p, Reason::NoResponse, 0, 3));
    }
    for h in 0..5000u32 {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 0)) + h);
        for &p in &ports {
            rs.push(PortResult {
                ip: ip.into(),
                ..res([0; 4], p, Reason::NoResponse, 0, 1)
            });
        }
    }
    let info = covering_info(5001, &ports);
    let opts = OutputOptions::default;
    let (normal, held) = run_info(Format::Normal, opts(), &rs, &info);
    assert_eq!(held, (1, 0));
    assert!(
        normal.ends_with(
            "synscan scan report for 198.19.200.1\n\
             Host is up.\n\
             Not shown: 29 filtered tcp ports (no-response)\n\
             PORT   STATE SERVICE\n\
             80/tcp open  http\n\
             \n\
             # synscan done at Mon Nov 23 12:42:44 2026 -- 5001 IP addresses (1 host up) scanned in 4.35 seconds\n"
        ),
        "{normal}"
    );
    let (grepable, held) = run_info(Format::Grepable, opts(), &rs, &info);
    assert_eq!(held, (1, 0));
    assert!(
        grepable.contains(
            "Host: 198.19.200.1 ()\tPorts: 80/open/tcp//http///\tIgnored State: filtered (29)\n\
             # synscan done at Mon Nov 23 12:42:44 2026 -- 5001 IP addresses (1 host up) scanned in 4.35 seconds\n"
        ),
        "{grepable}"
    );
    let (xml, _) = run_info(Format::Xml, opts(), &rs, &info);
    assert_eq!(xml.matches("<host ").count(), 1);
    assert!(xml.contains(
        "<ports><extraports state=\"filtered\" count=\"29\">\n<extrareasons reason=\"no-response\" count=\"29\" proto=\"tcp\"/>\n</extraports>\n"
    ), "{xml}");
    assert!(
        xml.contains("<hosts up=\"1\" down=\"5000\" total=\"5001\"/>"),
        "{xml}"
    );
    let (json, held) = run_info(Format::Json, opts(), &rs, &info);
    assert_eq!(held, (0, 0), "no grouped output: no table");
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 2, "{json}");
    assert!(lines[0]
        .starts_with("{\"ip\":\"198.19.200.1\",\"port\":80,\"proto\":\"tcp\",\"state\":\"open\""));
    assert!(
        lines[1].contains("\"hosts\":5001,\"probes\":150030,"),
        "{}",
        lines[1]
    );
    // Stopped before the last results: ports without a result are not taken for filtered;
    // those recorded after the reply are listed.
    let (partial, held) = run_info(Format::Normal, opts(), &rs[..25], &info);
    assert_eq!(held, (1, 0));
    assert!(
        partial.ends_with(
            "synscan scan report for 198.19.200.1\n\
             Host is up.\n\
             \n\
             PORT   STATE    SERVICE\n\
             21/tcp filtered unknown\n\
             22/tcp filtered ssh\n\
             23/tcp filtered unknown\n\
             24/tcp filtered unknown\n\
             80/tcp open     http\n\
             \n\
             # synscan done at Mon Nov 23 12:42:44 2026 -- 5001 IP addresses (1 host up) scanned in 4.35 seconds\n"
        ),
        "{partial}"
    );
}

/// -sV: one host with ssh on 22, 80 closed and nginx over TLS on 443, identified as the
/// follow-up stage reports them; the lines expected are nmap 7.93's (-sV --script ssl-cert
/// against the lab's real sshd and nginx).
fn run_sv(format: Format) -> String {
    use versions::{Method, PortVersion, Script};
    let ip = IpAddr::from([198, 19, 0, 5]);
    let rs = vec![
        res([198, 19, 0, 5], 22, Reason::SynAck, 64, 1),
        res([198, 19, 0, 5], 80, Reason::Reset, 64, 1),
        res([198, 19, 0, 5], 443, Reason::SynAck, 64, 2),
    ];
    let ssh = PortVersion {
        name: Some("ssh".into()),
        method: Some(Method::Probed),
        conf: 10,
        product: Some("OpenSSH".into()),
        version: Some("9.2p1 Debian 2+deb12u10".into()),
        extrainfo: Some("protocol 2.0".into()),
        ostype: Some("Linux".into()),
        cpe: vec![
            "cpe:/a:openbsd:openssh:9.2p1".into(),
            "cpe:/o:linux:linux_kernel".into(),
        ],
        json: r#""service":{"status":"matched"}"#.into(),
        ..PortVersion::default()
    };
    let https = PortVersion {
        name: Some("http".into()),
        tunnel: Some("ssl".into()),
        method: Some(Method::Probed),
        conf: 10,
        product: Some("nginx".into()),
        version: Some("1.22.1".into()),
        cpe: vec!["cpe:/a:igor_sysoev:nginx:1.22.1".into()],
        scripts: vec![
            Script {
                id: "http-server-header".into(),
                output: "nginx/1.22.1".into(),
                xml: "<elem>nginx/1.22.1</elem>".into(),
            },
            Script {
                id: "ssl-cert".into(),
                output: "Subject: commonName=lab.example/organizationName=synscan lab/countryName=US\nNot valid after:  2027-01-06T17:28:35".into(),
                xml: String::new(),
            },
        ],
        ..PortVersion::default()
    };
    let buf = Buf::default();
    let sinks: Vec<(Format, bool, Sink)> = vec![(format, false, Box::new(buf.clone()))];
    let mut o = Outputs::with_sinks(
        sinks,
        ctx(OutputOptions::default(), &[22, 80, 443]),
        &info(),
    )
    .unwrap();
    for r in &rs {
        o.record(r).unwrap();
    }
    o.record_version(ip, crate::model::Protocol::Tcp, 22, ssh);
    o.record_version(ip, crate::model::Protocol::Tcp, 443, https);
    o.finish(&summary()).unwrap();
    buf.text()
}

#[test]
fn sv_normal_has_nmaps_version_column_scripts_and_service_info() {
    let want = String::from(HEAD)
        + "synscan scan report for 198.19.0.5\n\
           Host is up.\n\
           \n\
           PORT    STATE  SERVICE  VERSION\n\
           22/tcp  open   ssh      OpenSSH 9.2p1 Debian 2+deb12u10 (protocol 2.0)\n\
           80/tcp  closed http\n\
           443/tcp open   ssl/http nginx 1.22.1\n\
           |_http-server-header: nginx/1.22.1\n\
           | ssl-cert: Subject: commonName=lab.example/organizationName=synscan lab/countryName=US\n\
           |_Not valid after:  2027-01-06T17:28:35\n\
           Service Info: OS: Linux; CPE: cpe:/o:linux:linux_kernel\n\
           \n\
           # synscan done at Mon Nov 23 12:42:44 2026 -- 3 IP addresses (1 host up) scanned in 4.35 seconds\n";
    assert_eq!(run_sv(Format::Normal), want);
}

#[test]
fn sv_grepable_has_nmaps_version_field() {
    let text = run_sv(Format::Grepable);
    let ports: Vec<&str> = text.lines().filter(|l| l.contains("\tPorts: ")).collect();
    assert_eq!(
        ports,
        ["Host: 198.19.0.5 ()\tPorts: 22/open/tcp//ssh//OpenSSH 9.2p1 Debian 2+deb12u10 (protocol 2.0)/, 80/closed/tcp//http///, 443/open/tcp//ssl|http//nginx 1.22.1/"]
    );
}

#[test]
fn sv_xml_has_nmaps_service_cpe_and_script_elements() {
    let text = run_sv(Format::Xml);
    for want in [
        "<port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/><service name=\"ssh\" product=\"OpenSSH\" version=\"9.2p1 Debian 2+deb12u10\" extrainfo=\"protocol 2.0\" ostype=\"Linux\" method=\"probed\" conf=\"10\"><cpe>cpe:/a:openbsd:openssh:9.2p1</cpe><cpe>cpe:/o:linux:linux_kernel</cpe></service></port>",
        "<port protocol=\"tcp\" portid=\"80\"><state state=\"closed\" reason=\"reset\" reason_ttl=\"64\"/><service name=\"http\" method=\"table\" conf=\"3\"/></port>",
        "<port protocol=\"tcp\" portid=\"443\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/><service name=\"http\" product=\"nginx\" version=\"1.22.1\" tunnel=\"ssl\" method=\"probed\" conf=\"10\"><cpe>cpe:/a:igor_sysoev:nginx:1.22.1</cpe></service><script id=\"http-server-header\" output=\"nginx/1.22.1\"><elem>nginx/1.22.1</elem></script><script id=\"ssl-cert\" output=\"Subject: commonName=lab.example/organizationName=synscan lab/countryName=US&#10;Not valid after:  2027-01-06T17:28:35\"></script></port>",
    ] {
        assert!(text.contains(want), "{want}\nnot in\n{text}");
    }
}

#[test]
fn sv_json_has_one_service_line_per_identified_port() {
    let text = run_sv(Format::Json);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"type\":\"service\""))
        .collect();
    assert_eq!(
        lines,
        [
            r#"{"type":"service","ip":"198.19.0.5","port":22,"proto":"tcp","service":{"status":"matched"}}"#,
            r#"{"type":"service","ip":"198.19.0.5","port":443,"proto":"tcp"}"#,
        ]
    );
}
