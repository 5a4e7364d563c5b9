//! Reader of the UDP payloads in nmap's `nmap-service-probes` (nmap 7.94 on, where the UDP
//! `Probe` entries replaced nmap-payloads), read at run time, never shipped.
//!
//! What counts, as nmap's payload loader has it: every `Probe UDP NAME q|...|` line whose
//! flags after the string do not say `no-payload`, sent to the ports of the `ports` line that
//! follows it (a probe without one sends no payload). The string's delimiter is the byte
//! after `q`; `source=N` asks for a source port. Match lines, TCP probes and the other
//! directives are not read here (the service scan reads them).

use super::text::{port_list, unescape};
use super::{Origin, Payload, PayloadDb, PayloadError, Source};
use crate::targets::PortSet;
use std::path::Path;

/// A UDP probe being read.
struct Probe {
    line: usize,
    name: String,
    data: Vec<u8>,
    source_port: Option<u16>,
    for_payload: bool,
    ports: PortSet,
}

/// The parts of a `Probe` line after "Probe ": its protocol, name, string and flags.
fn probe_line(rest: &str, line: usize) -> Result<Option<Probe>, String> {
    let (protocol, rest) = rest
        .split_once(' ')
        .ok_or("a Probe line needs a protocol, a name and q|string|")?;
    if protocol != "UDP" {
        if protocol == "TCP" {
            return Ok(None);
        }
        return Err(format!("unknown probe protocol \"{protocol}\""));
    }
    let (name, rest) = rest.split_once(' ').ok_or("nothing after the probe name")?;
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("bad probe name \"{name}\""));
    }
    let rest = rest
        .strip_prefix('q')
        .ok_or("the probe string must begin with q")?;
    let delim = rest.chars().next().ok_or("no delimiter after q")?;
    let body = &rest[delim.len_utf8()..];
    let end = body
        .find(delim)
        .ok_or("no ending delimiter for the probe string")?;
    let data = unescape(&body[..end])?;
    let mut probe = Probe {
        line,
        name: name.to_string(),
        data,
        source_port: None,
        for_payload: true,
        ports: PortSet::new(),
    };
    for flag in body[end + delim.len_utf8()..].split_whitespace() {
        if flag == "no-payload" {
            probe.for_payload = false;
        } else if let Some(p) = flag.strip_prefix("source=") {
            probe.source_port = Some(p.parse().map_err(|_| format!("bad source port \"{p}\""))?);
        }
    }
    Ok(Some(probe))
}

/// Parses the text of an nmap-service-probes file named `path` (for messages).
pub fn parse(text: &str, path: &Path) -> Result<Vec<Payload>, PayloadError> {
    let err = |line: usize, what: &str| {
        PayloadError(format!(
            "{} line {line}: {what}; fix the line or remove the file to use synscan's built-in payloads",
            path.display()
        ))
    };
    let mut probes: Vec<Probe> = Vec::new();
    // Whether the lines being read belong to a UDP probe (the last in `probes`).
    let mut in_udp = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("Probe ") {
            match probe_line(rest, i + 1).map_err(|e| err(i + 1, &e))? {
                Some(p) => {
                    probes.push(p);
                    in_udp = true;
                }
                None => in_udp = false,
            }
        } else if let Some(list) = line.strip_prefix("ports ") {
            if let (true, Some(p)) = (in_udp, probes.last_mut()) {
                let list: String = list.chars().filter(|c| !c.is_whitespace()).collect();
                p.ports = port_list(&list).map_err(|e| err(i + 1, &e))?;
            }
        }
    }
    Ok(probes
        .into_iter()
        .filter(|p| p.for_payload && !p.ports.is_empty())
        .map(|p| {
            let origin = Origin::File {
                path: path.to_path_buf(),
                line: p.line,
            };
            let mut payload = Payload::new(p.ports, p.data, p.name, origin);
            payload.source_port = p.source_port;
            payload
        })
        .collect())
}

/// Reads the UDP payloads of nmap-service-probes at `path`.
pub fn read(path: &Path) -> Result<PayloadDb, PayloadError> {
    let text = super::read_strict(
        path,
        "service probes file",
        crate::follow::probes::MAX_PROBES_BYTES,
        "make it root's and readable, or remove it to use synscan's built-in payloads",
    )?;
    let payloads = parse(&String::from_utf8_lossy(&text), path)?;
    Ok(PayloadDb::new(
        Source::ServiceProbes(path.to_path_buf()),
        payloads,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::field::Protocol;

    /// A fixture in the 7.94 syntax, written for these tests (not nmap's own probes).
    const FIXTURE: &str = include_str!("../../tests/data/payloads/service-probes-7.94");

    fn path() -> &'static Path {
        Path::new("tests/data/payloads/service-probes-7.94")
    }

    #[test]
    fn udp_probes_with_ports_are_payloads() {
        let p = parse(FIXTURE, path()).unwrap();
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        // TCP probes, the no-payload probe and the probe without ports are left out.
        assert_eq!(
            names,
            ["DNSQuery", "NTPClient", "RPCNull", "IKEMain", "Hello"]
        );
        assert_eq!(p[0].ports.to_spec(), "53,5353");
        assert_eq!(p[0].field.map(|f| f.protocol()), Some(Protocol::Dns));
        assert_eq!(p[1].data.len(), 48);
        assert_eq!(p[1].field.map(|f| f.protocol()), Some(Protocol::Ntp));
        assert_eq!(p[2].ports.to_spec(), "111,2049,32768-65535");
        assert_eq!(p[2].field.map(|f| f.protocol()), Some(Protocol::Rpc));
        assert_eq!(p[3].source_port, Some(500));
        assert_eq!(p[3].field.map(|f| f.protocol()), Some(Protocol::Ike));
        assert_eq!(&*p[4].data, b"hello\r\n");
        assert_eq!(p[4].field, None);
        let line = |i: usize| match &p[i].origin {
            Origin::File { line, .. } => *line,
            o => panic!("{o:?}"),
        };
        assert_eq!(
            FIXTURE.lines().nth(line(4) - 1).unwrap(),
            "Probe UDP Hello q/hello\\r\\n/"
        );
    }

    #[test]
    fn malformed_probe_lines_are_named() {
        let e = |t: &str| parse(t, path()).unwrap_err().to_string();
        assert_eq!(
            e("# x\nProbe UDP Bad q|\\x4|\nports 53"),
            "tests/data/payloads/service-probes-7.94 line 2: \\x needs two hex digits; fix the line or remove the file to use synscan's built-in payloads"
        );
        assert!(e("Probe UDP Bad q|abc").contains("line 1: no ending delimiter"));
        assert!(e("Probe UDP Bad x|abc|").contains("must begin with q"));
        assert!(e("Probe SCTP X q||").contains("unknown probe protocol \"SCTP\""));
        assert!(e("Probe UDP X q|a|\nports 53,x").contains("line 2: bad port list \"53,x\""));
        assert!(e("Probe UDP X q|a| source=70000\nports 1").contains("bad source port"));
        // A ports line under a TCP probe is not ours to check.
        assert_eq!(parse("Probe TCP X q||\nports 1,x", path()).unwrap(), vec![]);
    }
}
