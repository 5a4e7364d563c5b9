//! nmap's XML (-oX, as nmap and synscan write it): `<host>` elements with an `<address>`
//! and `<port protocol portid><state state reason/></port>` elements, read with quick-xml
//! (CDATA, comments, processing instructions and DOCTYPEs are what XML says they are).
//! No entity is ever expanded: attribute values decode the five predefined entities and
//! character references, any other `&name;` stays as written, and a DOCTYPE's declarations
//! are skipped unread (no external entities, no "billion laughs"). The input is already
//! bounded by the caller (`read_file`'s size limit).

use super::services::{self, Identity};
use super::{PortState, Protocol, Record};
use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::net::IpAddr;

/// One element's start: its name, attributes (values decoded), and whether it is empty
/// (`<x/>`).
struct Tag<'a> {
    name: &'a str,
    attrs: Vec<(String, String)>,
    empty: bool,
}

impl<'a> Tag<'a> {
    /// Reads an element's start; an attribute quick-xml cannot read is an error.
    fn read(e: &'a BytesStart<'a>, empty: bool) -> Result<Tag<'a>, String> {
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| format!("<{}>: {err}", e.name().0))?;
            attrs.push((a.key.0.to_string(), unescape(&a.value)));
        }
        Ok(Tag {
            name: e.name().0,
            attrs,
            empty,
        })
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes the five predefined entities and numeric character references; anything else
/// (an entity a DOCTYPE may declare, a bare `&`) stays as written: nothing is expanded.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let decoded = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether quick-xml's error means the input ended inside some markup (the file was cut),
/// rather than markup that is wrong. `rest` is the input from the error's position.
fn ends_inside_markup(e: &XmlError, rest: &str) -> bool {
    match e {
        // `<!` with nothing after it that says what it opens.
        XmlError::Syntax(SyntaxError::InvalidBangMarkup) => rest.trim_end() == "<!",
        XmlError::Syntax(_) => true,
        _ => false,
    }
}

/// Counts lines up to byte offsets that only move forward.
struct Lines<'a> {
    text: &'a str,
    at: usize,
    line: usize,
}

impl Lines<'_> {
    /// The 1-based line of byte `offset` (clamped to the text).
    fn of(&mut self, offset: u64) -> usize {
        let to = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        if to > self.at {
            self.line += self.text.as_bytes()[self.at..to]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.at = to;
        }
        self.line
    }
}

/// A port element being read.
struct OpenPort {
    proto: Protocol,
    port: u16,
    state: Option<(PortState, String)>,
    /// A probed `<service>`'s name, product and version.
    service: Option<[Option<String>; 3]>,
    /// The ssl-cert script's SHA-1 and end of validity.
    cert: Option<String>,
    not_after: Option<i64>,
}

/// What an -oX file holds: its port records, the identifications of its probed services,
/// and, when it ends before `</nmaprun>`, the last line's number.
pub type Parsed = (Vec<Record>, Vec<Identity>, Option<usize>);

/// Parses the whole document.
pub fn parse(text: &str) -> Result<Parsed, (usize, String)> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    // Text is never read (nmap keeps everything in attributes): leave it as it is.
    config.trim_text(false);
    config.check_end_names = true;
    config.allow_dangling_amp = true;
    let mut lines = Lines {
        text,
        at: 0,
        line: 1,
    };
    let mut ctx = Ctx::default();
    let last_line = text.lines().count().max(1);
    loop {
        let start = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
                if ends_inside_markup(&e, text.get(at..).unwrap_or("")) {
                    break;
                }
                return Err((
                    lines.of(reader.error_position()),
                    format!("not well-formed XML: {e}"),
                ));
            }
        };
        let tag = match &event {
            Event::Start(e) => Some((e, false)),
            Event::Empty(e) => Some((e, true)),
            Event::End(e) => {
                ctx.close(e.name().0)
                    .map_err(|what| (lines.of(start), what))?;
                None
            }
            Event::Eof => break,
            // Text, CDATA, comments, entity references in text, processing instructions,
            // the XML declaration and the DOCTYPE carry nothing this reader uses.
            _ => None,
        };
        if let Some((e, empty)) = tag {
            Tag::read(e, empty)
                .and_then(|t| ctx.open(&t))
                .map_err(|what| (lines.of(start), what))?;
        }
    }
    if !ctx.seen_root {
        return Err((
            1,
            "XML without an <nmaprun> element: not nmap or synscan -oX output".to_string(),
        ));
    }
    Ok((
        ctx.records,
        ctx.services,
        (!ctx.finished).then_some(last_line),
    ))
}

/// The parser's state.
#[derive(Default)]
struct Ctx {
    records: Vec<Record>,
    services: Vec<Identity>,
    seen_root: bool,
    finished: bool,
    run_time: Option<u64>,
    host_addr: Option<IpAddr>,
    host_time: Option<u64>,
    port: Option<OpenPort>,
}

impl Ctx {
    /// An element starts (or is empty).
    fn open(&mut self, t: &Tag) -> Result<(), String> {
        let time = |k: &str| t.attr(k).and_then(|v| v.parse::<u64>().ok());
        match t.name {
            "nmaprun" => {
                self.seen_root = true;
                self.run_time = time("start");
            }
            "host" => {
                self.host_addr = None;
                self.host_time = time("endtime").or(time("starttime")).or(self.run_time);
            }
            "address" => {
                if matches!(t.attr("addrtype"), Some("ipv4") | Some("ipv6")) {
                    let a = t.attr("addr").unwrap_or("");
                    self.host_addr = Some(
                        a.parse()
                            .map_err(|_| format!("address {a:?} is not an IP address"))?,
                    );
                }
            }
            "port" => {
                let p = t.attr("protocol").unwrap_or("");
                let id = t.attr("portid").unwrap_or("");
                self.port = Some(OpenPort {
                    proto: Protocol::parse(p)
                        .ok_or_else(|| format!("port protocol {p:?} is not tcp, udp or sctp"))?,
                    port: id
                        .parse()
                        .map_err(|_| format!("portid {id:?} is not a port number"))?,
                    state: None,
                    service: None,
                    cert: None,
                    not_after: None,
                });
                if t.empty {
                    self.port = None;
                }
            }
            "state" => {
                if let Some(p) = self.port.as_mut() {
                    let s = t.attr("state").unwrap_or("");
                    p.state = Some((
                        PortState::parse(s)
                            .ok_or_else(|| format!("state {s:?} is not a port state"))?,
                        t.attr("reason").unwrap_or("").to_string(),
                    ));
                }
            }
            "service" if t.attr("method") == Some("probed") => {
                if let Some(p) = self.port.as_mut() {
                    let f = |k: &str| t.attr(k).and_then(services::field);
                    p.service = Some([f("name"), f("product"), f("version")]);
                }
            }
            "script" if t.attr("id") == Some("ssl-cert") => {
                if let Some(p) = self.port.as_mut() {
                    let output = t.attr("output").unwrap_or("");
                    p.cert = services::ssl_cert_sha1(output);
                    p.not_after = services::ssl_cert_not_after(output);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An element ends (`</name>`; quick-xml has checked it closes the open one).
    fn close(&mut self, name: &str) -> Result<(), String> {
        match name {
            "nmaprun" => self.finished = true,
            "host" => self.host_addr = None,
            "port" => {
                let Some(p) = self.port.take() else {
                    return Ok(());
                };
                if p.state.is_none() && p.service.is_none() && p.cert.is_none() {
                    return Ok(());
                }
                let ip = self
                    .host_addr
                    .ok_or("a <port> in a <host> without an IPv4 or IPv6 <address>")?;
                if let Some((state, reason)) = p.state {
                    self.records.push(Record {
                        ip,
                        port: p.port,
                        proto: p.proto,
                        state,
                        reason,
                        time: self.host_time,
                    });
                }
                if p.service.is_some() || p.cert.is_some() {
                    let [name, product, version] = p.service.unwrap_or_default();
                    self.services.push(Identity {
                        ip,
                        proto: p.proto,
                        port: p.port,
                        name,
                        product,
                        version,
                        cert: p.cert,
                        not_after: p.not_after,
                        tls_version: None,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }
}
