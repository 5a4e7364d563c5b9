//! The line formats: NDJSON, masscan list, CSV and grepable.

use super::{Format, PortState, Protocol, Record};
use std::net::IpAddr;

/// What one line held: nothing to keep (comment, summary, host status) or records.
type LineResult = Result<Vec<Record>, String>;

/// Parses every line; returns the records and, when the file ends in a line that does not
/// parse and has no line end (a cut file), that line's number. Other bad lines are errors.
pub fn parse(format: Format, text: &str) -> Result<(Vec<Record>, Option<usize>), (usize, String)> {
    let mut records = Vec::new();
    let mut csv_columns: Option<CsvColumns> = None;
    let ends_complete = text.ends_with('\n');
    let all: Vec<&str> = text.lines().collect();
    let last = all.len();
    for (i, raw) in all.iter().enumerate() {
        let n = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let parsed = match format {
            Format::Json => json_line(line),
            Format::List => list_line(line),
            Format::Grepable => grepable_line(line),
            Format::Csv => match &csv_columns {
                None => CsvColumns::from_header(line).map(|c| {
                    csv_columns = Some(c);
                    Vec::new()
                }),
                Some(c) => c.row(line),
            },
            Format::Xml => Err("internal: XML is not a line format".to_string()),
        };
        match parsed {
            Ok(v) => records.extend(v),
            Err(_) if n == last && !ends_complete => return Ok((records, Some(n))),
            Err(e) => return Err((n, e)),
        }
    }
    Ok((records, None))
}

fn ip(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address"))
}

fn port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a port number (0-65535)"))
}

fn state(s: &str) -> Result<PortState, String> {
    PortState::parse(s.trim()).ok_or_else(|| format!("{s:?} is not a port state"))
}

fn proto(s: &str) -> Result<Protocol, String> {
    Protocol::parse(s.trim()).ok_or_else(|| format!("{s:?} is not tcp, udp or sctp"))
}

/// `{"ip":..,"port":..,"proto":..,"state":..,"reason":..,"ts":..}`; `{"type":..}` lines
/// (the summary) hold no result.
fn json_line(line: &str) -> LineResult {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    if obj.contains_key("type") {
        return Ok(Vec::new());
    }
    let text = |k: &str| obj.get(k).and_then(|x| x.as_str());
    let ipv = text("ip").ok_or("no \"ip\" string")?;
    let portv = obj
        .get("port")
        .and_then(|x| x.as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("no \"port\" number (0-65535)")?;
    Ok(vec![Record {
        ip: ip(ipv)?,
        port: portv,
        proto: match text("proto") {
            Some(p) => proto(p)?,
            None => Protocol::Tcp,
        },
        state: state(text("state").ok_or("no \"state\" string")?)?,
        reason: text("reason").unwrap_or("").to_string(),
        time: obj.get("ts").and_then(|x| x.as_u64()),
    }])
}

/// `open tcp 80 198.19.0.5 1732372800`; `#` comments; masscan's banner lines hold no state.
fn list_line(line: &str) -> LineResult {
    if line.starts_with('#') {
        return Ok(Vec::new());
    }
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.first() == Some(&"banner") {
        return Ok(Vec::new());
    }
    if f.len() < 4 {
        return Err("expected \"STATE PROTO PORT IP [TIME]\"".to_string());
    }
    let time = match f.get(4) {
        Some(t) => Some(t.parse().map_err(|_| format!("{t:?} is not a Unix time"))?),
        None => None,
    };
    Ok(vec![Record {
        ip: ip(f[3])?,
        port: port(f[2])?,
        proto: proto(f[1])?,
        state: state(f[0])?,
        reason: String::new(),
        time,
    }])
}

/// nmap grepable: `Host: IP (name)<TAB>Ports: 22/open/tcp//ssh///, ...<TAB>...`.
fn grepable_line(line: &str) -> LineResult {
    if line.starts_with('#') {
        return Ok(Vec::new());
    }
    let Some(rest) = line.strip_prefix("Host: ") else {
        return Err("expected a \"Host: \" line or a # comment".to_string());
    };
    let mut fields = rest.split('\t');
    let host = fields.next().unwrap_or("");
    let addr = ip(host.split_whitespace().next().unwrap_or(""))?;
    let Some(ports) = fields.find_map(|f| f.strip_prefix("Ports: ")) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in ports.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let f: Vec<&str> = entry.split('/').collect();
        if f.len() < 7 {
            return Err(format!(
                "port entry {entry:?} is not \"PORT/STATE/PROTO/OWNER/SERVICE/RPC/VERSION/\""
            ));
        }
        out.push(Record {
            ip: addr,
            port: port(f[0])?,
            proto: proto(f[2])?,
            state: state(f[1])?,
            reason: String::new(),
            time: None,
        });
    }
    Ok(out)
}

/// Where the columns are in a CSV file, from its header.
struct CsvColumns {
    ip: usize,
    port: usize,
    proto: usize,
    state: usize,
    reason: Option<usize>,
    time: Option<usize>,
    width: usize,
}

impl CsvColumns {
    fn from_header(line: &str) -> Result<CsvColumns, String> {
        let names = csv_fields(line)?;
        let at = |n: &str| names.iter().position(|x| x.trim() == n);
        let need = |n: &str| at(n).ok_or_else(|| format!("the CSV header lacks a {n:?} column"));
        Ok(CsvColumns {
            ip: need("ip")?,
            port: need("port")?,
            proto: need("proto")?,
            state: need("state")?,
            reason: at("reason"),
            time: at("timestamp"),
            width: names.len(),
        })
    }

    fn row(&self, line: &str) -> LineResult {
        let f = csv_fields(line)?;
        if f.len() != self.width {
            return Err(format!(
                "{} fields where the header has {}",
                f.len(),
                self.width
            ));
        }
        let time = match self.time.map(|i| f[i].trim()).filter(|t| !t.is_empty()) {
            Some(t) => Some(t.parse().map_err(|_| format!("{t:?} is not a Unix time"))?),
            None => None,
        };
        Ok(vec![Record {
            ip: ip(&f[self.ip])?,
            port: port(&f[self.port])?,
            proto: proto(&f[self.proto])?,
            state: state(&f[self.state])?,
            reason: self.reason.map(|i| f[i].clone()).unwrap_or_default(),
            time,
        }])
    }
}

/// Splits one RFC 4180 line (quoted fields with doubled quotes; no line breaks inside).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            (_, c) => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("a quoted CSV field is not closed".to_string());
    }
    out.push(cur);
    Ok(out)
}
