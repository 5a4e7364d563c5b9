//! --dry-run: lists the probes in send order and sends nothing.
//!
//! Like nmap's list scan (-sL), which writes its target list to every output, a dry run
//! writes its probe list: "ip port" lines on stdout, and one JSON object a probe to -oJ
//! (`{"ip":..,"port":..,"proto":"tcp","probe":POSITION}`, then a `{"type":"dry-run"}` line).
//! The other formats report results (a state per port) and a dry run decides none, so they
//! are refused rather than ignored or filled with made-up states.

use crate::error::{self, ScanError};
use crate::output::files::{self, flag};
use crate::output::{Format, OutputSpec};
use crate::sys::fs::Claims;
use crate::targets::ProbeOrder;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

/// How one dry-run output lists probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// "ip port" lines (stdout by default).
    Plain,
    /// One JSON object per probe (-oJ).
    Json,
}

struct Target {
    style: Style,
    name: String,
    sink: Box<dyn Write + Send>,
    /// Closed by its reader (`| head`): the reader's choice, not a failure.
    closed: bool,
    failed: Option<io::Error>,
}

impl Target {
    fn live(&self) -> bool {
        !self.closed && self.failed.is_none()
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.live() {
            let r = self.sink.write_all(bytes);
            self.note(r);
        }
    }

    fn flush(&mut self) {
        if self.live() {
            let r = self.sink.flush();
            self.note(r);
        }
    }

    fn note(&mut self, r: io::Result<()>) {
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
            Err(e) => self.failed = Some(e),
        }
    }
}

/// Refuses outputs that cannot describe probes, with the one line the user sees.
pub fn check_outputs(specs: &[OutputSpec]) -> Result<(), ScanError> {
    match specs.iter().find(|s| s.format != Format::Json) {
        Some(s) => Err(ScanError::usage(format!(
            "--dry-run lists probes, not results, and {} {} can only hold results (a state per port): drop it, or use -oJ FILE for the probe list as JSON",
            flag(s.format),
            s.path
        ))),
        None => Ok(()),
    }
}

/// Runs the dry run: every probe of `order` from `start` to stdout and to each -oJ output
/// (opened with the same care as a scan's outputs, none of them one of the `inputs`), until
/// `stop` is set (Ctrl-C: what was listed is flushed, exit 130). Returns the exit code.
pub fn run(
    order: &ProbeOrder,
    start: u64,
    seed: u64,
    specs: &[OutputSpec],
    inputs: &Claims,
    stop: &AtomicBool,
) -> Result<i32, ScanError> {
    check_outputs(specs)?;
    let opened = files::open_outputs(specs, false, &[], &mut inputs.clone())?;
    let mut targets: Vec<Target> = opened
        .outputs
        .into_iter()
        .map(|o| Target {
            style: Style::Json,
            name: o.name,
            sink: o.sink,
            closed: false,
            failed: None,
        })
        .collect();
    if opened.stdout_free {
        targets.push(Target {
            style: Style::Plain,
            name: "stdout".to_string(),
            sink: Box::new(io::BufWriter::with_capacity(1 << 16, io::stdout())),
            closed: false,
            failed: None,
        });
    }
    let complete = write_all(order, start, seed, &mut targets, stop);
    let failed: Vec<String> = targets
        .iter()
        .filter_map(|t| t.failed.as_ref().map(|e| format!("{}: {e}", t.name)))
        .collect();
    if failed.is_empty() && !complete {
        eprintln!("synscan: dry run interrupted; the probes listed so far are written");
        Ok(error::EXIT_INTERRUPTED)
    } else if failed.is_empty() {
        Ok(error::EXIT_OK)
    } else {
        Err(ScanError::runtime(format!(
            "writing the dry run failed: {}; check free disk space and permissions",
            failed.join("; ")
        )))
    }
}

/// Writes every probe to every target still open; stops early when none is, and when
/// `stop` is set (then flushes what was written, without the trailer that would say the
/// list is whole). False when stopped.
fn write_all(
    order: &ProbeOrder,
    start: u64,
    seed: u64,
    targets: &mut [Target],
    stop: &AtomicBool,
) -> bool {
    let want_json = targets.iter().any(|t| t.style == Style::Json);
    let mut plain = Vec::with_capacity(24);
    let mut json = Vec::with_capacity(80);
    for pos in start..order.len() {
        if !targets.iter().any(Target::live) {
            return true;
        }
        if stop.load(Ordering::Relaxed) {
            for t in targets.iter_mut() {
                t.flush();
            }
            return false;
        }
        let (ip, service) = order.get(pos);
        plain.clear();
        let mut ip_text = [0u8; IP_TEXT_MAX];
        let ip_len = push_ip(&mut ip_text, ip);
        plain.extend_from_slice(&ip_text[..ip_len]);
        plain.push(b' ');
        push_dec(&mut plain, u64::from(service.port));
        plain.push(b'\n');
        if want_json {
            json.clear();
            json.extend_from_slice(b"{\"ip\":\"");
            json.extend_from_slice(&ip_text[..ip_len]);
            json.extend_from_slice(b"\",\"port\":");
            push_dec(&mut json, u64::from(service.port));
            json.extend_from_slice(b",\"proto\":\"");
            json.extend_from_slice(service.protocol.as_str().as_bytes());
            json.extend_from_slice(b"\",\"probe\":");
            push_dec(&mut json, pos);
            json.extend_from_slice(b"}\n");
        }
        for t in targets.iter_mut() {
            match t.style {
                Style::Plain => t.put(&plain),
                Style::Json => t.put(&json),
            }
        }
    }
    let trailer = format!(
        "{{\"type\":\"dry-run\",\"probes\":{},\"seed\":{seed}}}\n",
        order.len().saturating_sub(start)
    );
    for t in targets.iter_mut() {
        if t.style == Style::Json {
            t.put(trailer.as_bytes());
        }
        t.flush();
    }
    true
}

/// Longest text of an address: an IPv6 one with an embedded dotted quad.
const IP_TEXT_MAX: usize = 45;

/// Writes `ip` as nmap prints it (dotted quad, RFC 5952 IPv6) into `out` without
/// allocating; returns its length.
fn push_ip(out: &mut [u8; IP_TEXT_MAX], ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(a) => push_ipv4(out, a.octets()),
        IpAddr::V6(a) => {
            let mut cursor = io::Cursor::new(&mut out[..]);
            // 45 bytes hold any IPv6 text, so the write cannot fail; an empty text if it did.
            match write!(cursor, "{a}") {
                Ok(()) => cursor.position() as usize,
                Err(_) => 0,
            }
        }
    }
}

/// Writes the dotted quad into `out`; returns its length. By hand: a /8 dry run prints
/// over a billion lines.
fn push_ipv4(out: &mut [u8; IP_TEXT_MAX], octets: [u8; 4]) -> usize {
    let mut n = 0;
    for (i, b) in octets.iter().enumerate() {
        if i > 0 {
            out[n] = b'.';
            n += 1;
        }
        if *b >= 100 {
            out[n] = b'0' + b / 100;
            n += 1;
        }
        if *b >= 10 {
            out[n] = b'0' + b / 10 % 10;
            n += 1;
        }
        out[n] = b'0' + b % 10;
        n += 1;
    }
    n
}

fn push_dec(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(digits[..n].iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{Ipv4Set, PortSet, ProbeSpace, Shard};
    use std::net::Ipv4Addr;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A reader that went away (`| head`), or a full disk.
    struct Failing(i32);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(self.0))
        }
    }

    fn target(style: Style, name: &str, sink: Box<dyn Write + Send>) -> Target {
        Target {
            style,
            name: name.to_string(),
            sink,
            closed: false,
            failed: None,
        }
    }

    #[test]
    fn a_stop_ends_the_list_without_its_trailer() {
        let ips =
            Ipv4Set::from_ranges([(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 1))]);
        let order = ProbeOrder::new(
            ProbeSpace::new(ips.into(), PortSet::from_ranges([(80, 81)])),
            5,
            Shard::WHOLE,
        );
        let json = Buf::default();
        let mut ts = vec![target(Style::Json, "j", Box::new(json.clone()))];
        assert!(!write_all(&order, 0, 5, &mut ts, &AtomicBool::new(true)));
        assert!(json.0.lock().unwrap().is_empty());
    }

    #[test]
    fn plain_and_json_list_the_same_probes_in_order() {
        let ips =
            Ipv4Set::from_ranges([(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2))]);
        let ports = PortSet::from_ranges([(80, 80), (443, 443)]);
        let order = ProbeOrder::new(ProbeSpace::new(ips.into(), ports), 5, Shard::WHOLE);
        let (plain, json) = (Buf::default(), Buf::default());
        let mut ts = vec![
            target(Style::Plain, "stdout", Box::new(plain.clone())),
            target(Style::Json, "output file p.json", Box::new(json.clone())),
            target(Style::Json, "output file /dev/full", Box::new(Failing(28))),
            target(Style::Plain, "stdout", Box::new(Failing(32))),
        ];
        assert!(write_all(&order, 1, 5, &mut ts, &AtomicBool::new(false)));
        let text = |b: &Buf| String::from_utf8(b.0.lock().unwrap().clone()).unwrap();
        let mut want_plain = String::new();
        let mut want_json = String::new();
        for pos in 1..4 {
            let (ip, service) = order.get(pos);
            let port = service.port;
            want_plain.push_str(&format!("{ip} {port}\n"));
            want_json.push_str(&format!(
                "{{\"ip\":\"{ip}\",\"port\":{port},\"proto\":\"tcp\",\"probe\":{pos}}}\n"
            ));
        }
        want_json.push_str("{\"type\":\"dry-run\",\"probes\":3,\"seed\":5}\n");
        assert_eq!(text(&plain), want_plain);
        assert_eq!(text(&json), want_json);
        for line in text(&json).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v.is_object());
        }
        assert_eq!(
            ts[2].failed.as_ref().and_then(|e| e.raw_os_error()),
            Some(28)
        );
        assert!(
            ts[3].closed && ts[3].failed.is_none(),
            "a closed pipe is no failure"
        );
    }

    #[test]
    fn decimal() {
        let mut v = Vec::new();
        for n in [0u64, 7, 10, 255, 65535, u64::MAX] {
            push_dec(&mut v, n);
            v.push(b',');
        }
        assert_eq!(
            String::from_utf8_lossy(&v),
            "0,7,10,255,65535,18446744073709551615,"
        );
    }

    #[test]
    fn dotted_quads() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "198.18.10.7",
            "10.100.9.99",
            "2001:2:0:19::1",
            "2001:2:0:19:0:ff:0:1",
            "::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:255.255.255.255",
        ] {
            let a: IpAddr = ip.parse().unwrap();
            let mut buf = [0u8; IP_TEXT_MAX];
            let n = push_ip(&mut buf, a);
            assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), ip);
        }
    }

    #[test]
    fn refuses_result_formats_naming_the_flag() {
        let spec = |format, path: &str| OutputSpec {
            format,
            path: path.to_string(),
        };
        assert!(check_outputs(&[spec(Format::Json, "p.json")]).is_ok());
        let e = check_outputs(&[spec(Format::Json, "-"), spec(Format::Xml, "a.xml")]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "--dry-run lists probes, not results, and -oX a.xml can only hold results (a state per port): drop it, or use -oJ FILE for the probe list as JSON"
        );
    }
}
