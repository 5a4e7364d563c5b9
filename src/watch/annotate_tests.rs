//! The writers' policy hooks: -oJ fields, -oX script elements, extra -oJ records.

use crate::model::{PortResult, Reason};
use crate::output::services::Services;
use crate::output::{Ctx, Format, OutputOptions, Outputs, PortsInfo, ScanInfo, ScanSummary, Sink};
use crate::watch::policy::Policy;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::output::tests::Buf;

fn res(last: u8, port: u16, reason: Reason) -> PortResult {
    PortResult {
        protocol: crate::model::Protocol::Tcp,
        ip: Ipv4Addr::new(198, 19, 0, last).into(),
        port,
        state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
        reason,
        ttl: 64,
        timestamp: UNIX_EPOCH + Duration::from_secs(1000),
    }
}

const POLICY: &str = "[[allow]]\nname = \"WEB-1\"\nhosts = [\"198.19.0.0/24\"]\nports = [80]\n\n[max_open_per_host]\nname = \"MAX-1\"\nlimit = 1\n";

fn write(format: Format, policy: Option<&str>) -> String {
    let opts = OutputOptions {
        policy: policy.map(|p| {
            Arc::new(Policy::parse("p.toml", p).unwrap()) as Arc<dyn crate::output::PortRules>
        }),
        ..OutputOptions::default()
    };
    let ctx = Arc::new(Ctx {
        opts,
        services: Services::parse("", true).unwrap(),
        scanned: vec![crate::output::Scanned {
            protocol: crate::model::Protocol::Tcp,
            scan_type: "syn",
            ports: PortsInfo::from_ports(vec![22, 80, 443]),
        }],
    });
    let info = ScanInfo {
        start: UNIX_EPOCH + Duration::from_secs(1000),
        command_line: "synscan".into(),
        services: crate::targets::ServiceSet::default(),
        hosts: 1,
        probes: 3,
        seed: 1,
        scan_types: vec![(crate::model::Protocol::Tcp, "syn")],
        shard: None,
    };
    let buf = Buf::default();
    let sinks: Vec<(Format, bool, Sink)> = vec![(format, false, Box::new(buf.clone()))];
    let mut o = Outputs::with_sinks(sinks, ctx, &info).unwrap();
    for r in [
        res(5, 22, Reason::SynAck),
        res(5, 80, Reason::SynAck),
        res(5, 443, Reason::Reset),
    ] {
        o.record(&r).unwrap();
    }
    o.extra_json(&["{\"type\":\"change\"}".to_string()])
        .unwrap();
    o.finish(&ScanSummary::default()).unwrap();
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    text
}

#[test]
fn json_records_name_the_rule_an_open_port_breaks() {
    let lines: Vec<String> = write(Format::Json, Some(POLICY))
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        lines[0],
        format!("{{\"ip\":\"198.19.0.5\",\"port\":22,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":64,\"ts\":1000,\"policy\":\"violation\",\"rule\":\"{}\"}}", crate::watch::policy::DEFAULT_RULE)
    );
    assert_eq!(
        lines[1],
        "{\"ip\":\"198.19.0.5\",\"port\":80,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":64,\"ts\":1000}"
    );
    assert_eq!(lines[2], "{\"type\":\"change\"}");
    assert!(lines[3].starts_with("{\"type\":\"summary\""));
    // Without a policy nothing is added.
    assert!(!write(Format::Json, None).contains("policy"));
}

#[test]
fn xml_carries_violations_as_nmap_script_elements() {
    let xml = write(Format::Xml, Some(POLICY));
    assert!(xml.contains(&format!(
        "<port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/><script id=\"synscan-policy\" output=\"violation: breaks {}\"/></port>",
        crate::watch::policy::DEFAULT_RULE
    )), "{xml}");
    assert!(xml.contains("<port protocol=\"tcp\" portid=\"80\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/></port>"), "{xml}");
    assert!(xml.contains("</ports>\n<hostscript><script id=\"synscan-policy\" output=\"violation: 2 open ports, more than 1; breaks MAX-1\"/></hostscript>\n</host>"), "{xml}");
    assert_eq!(xml.matches("synscan-policy").count(), 2);
    // The extra NDJSON records never reach other formats.
    assert!(!xml.contains("change"));
    assert!(!write(Format::Xml, None).contains("script"));
}

#[test]
fn annotated_xml_still_validates_against_nmaps_dtd() {
    let dtd = "/usr/share/nmap/nmap.dtd";
    if !std::path::Path::new(dtd).exists() {
        eprintln!("note: {dtd} missing (apt-get install nmap); skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.xml");
    let xml =
        write(Format::Xml, Some(POLICY)).replacen("scanner=\"synscan\"", "scanner=\"nmap\"", 1);
    std::fs::write(&file, xml).unwrap();
    let Ok(out) = std::process::Command::new("xmllint")
        .args(["--noout", "--dtdvalid", dtd])
        .arg(&file)
        .output()
    else {
        eprintln!("note: xmllint not installed (apt-get install libxml2-utils); skipping");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
