//! nmap's XML (-oX, as nmap and synscan write it): `<host>` elements with an `<address>`
//! and `<port protocol portid><state state reason/></port>` elements. A small tag scanner,
//! not a general XML parser: it reads the elements named here and skips the rest.

use super::{PortState, Protocol, Record};
use std::net::IpAddr;

/// One tag: its name, attributes, and whether it closes (`</x>`) or is empty (`<x/>`).
struct Tag<'a> {
    name: &'a str,
    attrs: Vec<(&'a str, String)>,
    closing: bool,
    empty: bool,
}

impl Tag<'_> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes the five named entities and numeric character references.
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

/// Parses the inside of `<...>` (without the brackets).
fn tag(inner: &str) -> Tag<'_> {
    let closing = inner.starts_with('/');
    let body = inner.trim_start_matches('/');
    let empty = body.ends_with('/');
    let body = body.trim_end_matches('/');
    let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
    let name = &body[..name_end];
    let mut attrs = Vec::new();
    let mut rest = &body[name_end..];
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim();
        let after = rest[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            break;
        };
        let Some(close) = after[1..].find(q) else {
            break;
        };
        attrs.push((key, unescape(&after[1..1 + close])));
        rest = &after[1 + close + 1..];
    }
    Tag {
        name,
        attrs,
        closing,
        empty,
    }
}

/// The end of a tag starting at `from` (the index of its '>'), skipping quoted values.
fn tag_end(text: &str, from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in text.as_bytes()[from..].iter().enumerate() {
        match (quote, b) {
            (None, b'"') | (None, b'\'') => quote = Some(b),
            (Some(q), b) if b == q => quote = None,
            (None, b'>') => return Some(from + i),
            _ => {}
        }
    }
    None
}

/// A port element being read.
struct OpenPort {
    proto: Protocol,
    port: u16,
    state: Option<(PortState, String)>,
}

/// Parses the whole document; returns the records and, when it ends before
/// `</nmaprun>`, the last line's number.
pub fn parse(text: &str) -> Result<(Vec<Record>, Option<usize>), (usize, String)> {
    let mut records = Vec::new();
    let mut line = 1usize;
    let mut counted = 0usize;
    let mut at = 0usize;
    let mut seen_root = false;
    let mut finished = false;
    let mut run_time: Option<u64> = None;
    let mut host_addr: Option<IpAddr> = None;
    let mut host_time: Option<u64> = None;
    let mut port: Option<OpenPort> = None;
    let last_line = text.lines().count().max(1);
    while let Some(lt) = text[at..].find('<').map(|i| at + i) {
        line += text.as_bytes()[counted..lt]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = lt;
        let rest = &text[lt..];
        let skip_to = |end: &str| rest.find(end).map(|i| lt + i + end.len());
        let next = if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<?") {
            skip_to("?>")
        } else if rest.starts_with("<!") {
            skip_to(">")
        } else {
            match tag_end(text, lt + 1) {
                Some(gt) => {
                    let t = tag(&text[lt + 1..gt]);
                    handle(
                        &t,
                        &mut Ctx {
                            records: &mut records,
                            seen_root: &mut seen_root,
                            finished: &mut finished,
                            run_time: &mut run_time,
                            host_addr: &mut host_addr,
                            host_time: &mut host_time,
                            port: &mut port,
                        },
                    )
                    .map_err(|e| (line, e))?;
                    Some(gt + 1)
                }
                None => None,
            }
        };
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    if !seen_root {
        return Err((
            1,
            "XML without an <nmaprun> element: not nmap or synscan -oX output".to_string(),
        ));
    }
    Ok((records, (!finished).then_some(last_line)))
}

/// The parser's state, borrowed for one tag.
struct Ctx<'a> {
    records: &'a mut Vec<Record>,
    seen_root: &'a mut bool,
    finished: &'a mut bool,
    run_time: &'a mut Option<u64>,
    host_addr: &'a mut Option<IpAddr>,
    host_time: &'a mut Option<u64>,
    port: &'a mut Option<OpenPort>,
}

fn handle(t: &Tag, c: &mut Ctx) -> Result<(), String> {
    let time = |k: &str| t.attr(k).and_then(|v| v.parse::<u64>().ok());
    match (t.name, t.closing) {
        ("nmaprun", false) => {
            *c.seen_root = true;
            *c.run_time = time("start");
        }
        ("nmaprun", true) => *c.finished = true,
        ("host", false) => {
            *c.host_addr = None;
            *c.host_time = time("endtime").or(time("starttime")).or(*c.run_time);
        }
        ("host", true) => *c.host_addr = None,
        ("address", false) => {
            if matches!(t.attr("addrtype"), Some("ipv4") | Some("ipv6")) {
                let a = t.attr("addr").unwrap_or("");
                *c.host_addr = Some(
                    a.parse()
                        .map_err(|_| format!("address {a:?} is not an IP address"))?,
                );
            }
        }
        ("port", false) => {
            let p = t.attr("protocol").unwrap_or("");
            let id = t.attr("portid").unwrap_or("");
            *c.port = Some(OpenPort {
                proto: Protocol::parse(p)
                    .ok_or_else(|| format!("port protocol {p:?} is not tcp, udp or sctp"))?,
                port: id
                    .parse()
                    .map_err(|_| format!("portid {id:?} is not a port number"))?,
                state: None,
            });
            if t.empty {
                *c.port = None;
            }
        }
        ("state", false) => {
            if let Some(p) = c.port.as_mut() {
                let s = t.attr("state").unwrap_or("");
                p.state = Some((
                    PortState::parse(s)
                        .ok_or_else(|| format!("state {s:?} is not a port state"))?,
                    t.attr("reason").unwrap_or("").to_string(),
                ));
            }
        }
        ("port", true) => {
            if let Some(OpenPort {
                proto,
                port,
                state: Some((state, reason)),
            }) = c.port.take()
            {
                let ip = c
                    .host_addr
                    .ok_or("a <port> in a <host> without an IPv4 or IPv6 <address>")?;
                c.records.push(Record {
                    ip,
                    port,
                    proto,
                    state,
                    reason,
                    time: *c.host_time,
                });
            }
        }
        _ => {}
    }
    Ok(())
}
