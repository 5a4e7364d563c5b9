//! The identification database in nmap-service-probes format: probes (what to send, on which
//! ports, how rare, how long to wait) and their match lines. nmap's own file is read at run
//! time when nmap is installed, never shipped; our own small table ([`super::builtin`]) is
//! written in the same format and read by the same reader.
//!
//! A line nmap would refuse (a bad directive, a regex that does not compile) does not stop
//! the reader: it is skipped and counted in [`ProbeDb::failures`], which must be empty for
//! nmap's file.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::pattern::{Captures, Pattern};
use super::template::{self, INFO_LEN, PRODUCT_LEN, TYPE_LEN};

/// Where nmap's packages install the probe file, searched in this order.
pub const NMAP_SERVICE_PROBES: [&str; 2] = [
    "/usr/local/share/nmap/nmap-service-probes",
    "/usr/share/nmap/nmap-service-probes",
];

/// The transport a probe is sent over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A TCP connection.
    Tcp,
    /// UDP datagrams.
    Udp,
}

/// A probe's index in its [`ProbeDb`].
pub type ProbeId = usize;

/// What to send and how to read the answer.
#[derive(Debug)]
pub struct Probe {
    /// The probe's name (NULL, GetRequest, ...).
    pub name: String,
    /// TCP or UDP.
    pub transport: Transport,
    /// The bytes sent (empty for the NULL probe).
    pub payload: Vec<u8>,
    /// Ports this probe is likely to identify, sorted.
    pub ports: Vec<u16>,
    /// Ports where it is likely to identify a service behind TLS, sorted.
    pub ssl_ports: Vec<u16>,
    /// 1 (common) to 9 (rare); a probe is sent when rarity <= intensity or the port is likely.
    pub rarity: u8,
    /// How long to wait for the whole answer.
    pub total_wait: Duration,
    /// A close within this time of connecting, with nothing read, means tcpwrapped (NULL probe).
    pub tcpwrapped: Duration,
    /// The match lines, in file order.
    pub matches: Vec<MatchLine>,
    /// Probes whose match lines also apply to this probe's answers: itself first, then its
    /// `fallback` names, then the NULL probe (TCP only).
    pub fallbacks: Vec<ProbeId>,
    /// Service names its match lines can name (nmap's serviceIsPossible).
    pub services: Vec<String>,
}

impl Probe {
    /// True for the probe that sends nothing and reads the banner.
    pub fn is_null(&self) -> bool {
        self.payload.is_empty() && self.transport == Transport::Tcp
    }

    /// True when `port` is on the probe's `ports` (or `sslports` when `tls`) list.
    pub fn likely_on(&self, port: u16, tls: bool) -> bool {
        let list = if tls { &self.ssl_ports } else { &self.ports };
        list.binary_search(&port).is_ok()
    }

    /// True when one of its match lines names `service`.
    pub fn can_name(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }
}

/// One `match` or `softmatch` line.
#[derive(Debug)]
pub struct MatchLine {
    /// The service it names.
    pub service: String,
    /// A softmatch names the service only; probing goes on for a hard match.
    pub soft: bool,
    pattern: Pattern,
    templates: Templates,
    /// Line number in the file, for reports.
    pub line: usize,
}

#[derive(Debug, Default)]
struct Templates {
    product: Option<Vec<u8>>,
    version: Option<Vec<u8>>,
    info: Option<Vec<u8>>,
    hostname: Option<Vec<u8>>,
    ostype: Option<Vec<u8>>,
    devicetype: Option<Vec<u8>>,
    /// At most one per CPE part, in the order a, h, o (a later one of a part replaces).
    cpe: [Option<Vec<u8>>; 3],
}

/// What a match line says about an answer: nmap's MatchDetails, fields as nmap finally
/// stores them (printable ASCII, nmap's lengths).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatchDetails {
    /// The service named (ssh, http, ssl, ...).
    pub service: String,
    /// True for a softmatch.
    pub soft: bool,
    /// Product (`p/`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub product: Option<String>,
    /// Version (`v/`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// Extra information (`i/`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub info: Option<String>,
    /// Host name (`h/`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hostname: Option<String>,
    /// Operating system (`o/`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ostype: Option<String>,
    /// Device type (`d/`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub devicetype: Option<String>,
    /// CPE names, application then hardware then OS.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cpe: Vec<String>,
    /// The match line's number in its file.
    pub line: usize,
}

impl MatchLine {
    /// The line's regular expression.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The details when this line matches `answer`, None otherwise.
    pub fn test(&self, answer: &[u8]) -> Option<MatchDetails> {
        let caps = self.pattern.captures(answer)?;
        let t = &self.templates;
        let fill = |tmpl: &Option<Vec<u8>>, len: usize| -> Option<String> {
            let v = template::substitute(tmpl.as_ref()?, answer, &caps, len, false)?;
            (!v.is_empty()).then(|| template::sanitize(&v, len - 1))
        };
        Some(MatchDetails {
            service: self.service.clone(),
            soft: self.soft,
            product: fill(&t.product, PRODUCT_LEN),
            version: fill(&t.version, PRODUCT_LEN),
            info: fill(&t.info, INFO_LEN),
            hostname: fill(&t.hostname, PRODUCT_LEN),
            ostype: fill(&t.ostype, TYPE_LEN),
            devicetype: fill(&t.devicetype, TYPE_LEN),
            cpe: t
                .cpe
                .iter()
                .flatten()
                .filter_map(|c| cpe_value(c, answer, &caps))
                .collect(),
            line: self.line,
        })
    }
}

fn cpe_value(tmpl: &[u8], answer: &[u8], caps: &Captures) -> Option<String> {
    let v = template::substitute(tmpl, answer, caps, PRODUCT_LEN, true)?;
    (!v.is_empty()).then(|| template::sanitize(&v, PRODUCT_LEN - 1))
}

/// A line the reader skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFailure {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for LineFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A probe file that cannot be used at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbError(pub String);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

/// A whole probe database.
#[derive(Debug)]
pub struct ProbeDb {
    probes: Vec<Probe>,
    null: Option<ProbeId>,
    excluded_tcp: Vec<u16>,
    excluded_udp: Vec<u16>,
    failures: Vec<LineFailure>,
    match_lines: usize,
    source: String,
}

/// Largest probe file read (nmap 7.93's is about 2.5 MB).
pub const MAX_PROBES_BYTES: u64 = 64 << 20;

impl ProbeDb {
    /// nmap's file from the first place nmap installs it; None when nmap is not installed.
    pub fn from_nmap() -> Option<Result<ProbeDb, DbError>> {
        NMAP_SERVICE_PROBES
            .iter()
            .find(|p| Path::new(p).is_file())
            .map(ProbeDb::load)
    }

    /// nmap's file when installed and usable, else our own table.
    pub fn nmap_or_builtin() -> ProbeDb {
        match ProbeDb::from_nmap() {
            Some(Ok(db)) => db,
            _ => super::builtin::table(),
        }
    }

    /// Reads a probe file: it decides what is sent, so it is trusted as strictly as a
    /// policy (`sys::fs::Trust::Strict`: root's or the user's, in directories no one else
    /// may write), and at most [`MAX_PROBES_BYTES`].
    pub fn load(path: impl AsRef<Path>) -> Result<ProbeDb, DbError> {
        use crate::sys::fs::{read_input, Trust};
        let path = path.as_ref();
        let contents = read_input(path, Trust::Strict, MAX_PROBES_BYTES)
            .map_err(|e| DbError(e.line("service probes file", path)))?;
        ProbeDb::parse(&contents.bytes, &path.display().to_string())
    }

    /// Parses probe-file text; `source` names it in reports.
    pub fn parse(text: &[u8], source: &str) -> Result<ProbeDb, DbError> {
        let mut db = ProbeDb {
            probes: Vec::new(),
            null: None,
            excluded_tcp: Vec::new(),
            excluded_udp: Vec::new(),
            failures: Vec::new(),
            match_lines: 0,
            source: source.to_string(),
        };
        let mut fallback_names: Vec<Vec<String>> = Vec::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line_no = i + 1;
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fail = |db: &mut ProbeDb, reason: String| {
                db.failures.push(LineFailure {
                    line: line_no,
                    reason,
                })
            };
            if let Some(rest) = line.strip_prefix(b"Probe ") {
                match parse_probe_line(rest) {
                    Ok(p) => {
                        db.probes.push(p);
                        fallback_names.push(Vec::new());
                    }
                    Err(e) => fail(&mut db, e),
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix(b"Exclude ") {
                parse_exclude(rest, &mut db.excluded_tcp, &mut db.excluded_udp);
                continue;
            }
            let is_match = line.starts_with(b"match ") || line.starts_with(b"softmatch ");
            if is_match {
                db.match_lines += 1;
            }
            let Some(probe) = db.probes.last_mut() else {
                fail(&mut db, "directive before the first Probe line".into());
                continue;
            };
            let result = if is_match {
                parse_match_line(line, line_no).map(|m| {
                    if !probe.can_name(&m.service) {
                        probe.services.push(m.service.clone());
                    }
                    probe.matches.push(m);
                })
            } else if let Some(v) = line.strip_prefix(b"ports ") {
                parse_ports(v).map(|p| probe.ports = p)
            } else if let Some(v) = line.strip_prefix(b"sslports ") {
                parse_ports(v).map(|p| probe.ssl_ports = p)
            } else if let Some(v) = line.strip_prefix(b"rarity ") {
                match leading_int(v) {
                    Some(r @ 1..=9) => {
                        probe.rarity = r as u8;
                        Ok(())
                    }
                    _ => Err("rarity must be between 1 and 9".into()),
                }
            } else if let Some(v) = line.strip_prefix(b"totalwaitms ") {
                wait_ms(v).map(|d| probe.total_wait = d)
            } else if let Some(v) = line.strip_prefix(b"tcpwrappedms ") {
                wait_ms(v).map(|d| probe.tcpwrapped = d)
            } else if let Some(v) = line.strip_prefix(b"fallback ") {
                let names = String::from_utf8_lossy(v);
                if let Some(f) = fallback_names.last_mut() {
                    f.extend(
                        names
                            .split([',', ' ', '\t', '\r'])
                            .filter(|n| !n.is_empty())
                            .map(str::to_string),
                    );
                }
                Ok(())
            } else {
                Err("unknown directive".into())
            };
            if let Err(e) = result {
                fail(&mut db, e);
            }
        }
        if db.probes.is_empty() {
            return Err(DbError(format!("{source}: no Probe lines")));
        }
        db.excluded_tcp.sort_unstable();
        db.excluded_tcp.dedup();
        db.excluded_udp.sort_unstable();
        db.excluded_udp.dedup();
        db.null = db.probes.iter().position(Probe::is_null);
        db.link_fallbacks(&fallback_names);
        Ok(db)
    }

    /// Resolves fallback names as nmap does: same transport first, then any.
    fn link_fallbacks(&mut self, names: &[Vec<String>]) {
        for (id, named) in names.iter().enumerate() {
            let transport = self.probes[id].transport;
            let mut chain = vec![id];
            if Some(id) != self.null {
                for n in named {
                    let found = self
                        .probes
                        .iter()
                        .position(|p| p.transport == transport && &p.name == n)
                        .or_else(|| self.probes.iter().position(|p| &p.name == n));
                    match found {
                        Some(f) => chain.push(f),
                        None => self.failures.push(LineFailure {
                            line: 0,
                            reason: format!(
                                "probe {}: unknown fallback '{n}'",
                                self.probes[id].name
                            ),
                        }),
                    }
                }
                if transport == Transport::Tcp {
                    chain.extend(self.null);
                }
            }
            self.probes[id].fallbacks = chain;
        }
    }

    /// All probes in file order.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// One probe.
    pub fn probe(&self, id: ProbeId) -> &Probe {
        &self.probes[id]
    }

    /// The NULL probe, when the file has one.
    pub fn null_probe(&self) -> Option<ProbeId> {
        self.null
    }

    /// Lines skipped as nmap would refuse them (0 for a good file).
    pub fn failures(&self) -> &[LineFailure] {
        &self.failures
    }

    /// match and softmatch lines read (compiled or not).
    pub fn match_lines(&self) -> usize {
        self.match_lines
    }

    /// The file the database came from ("built-in" for our own table).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the file's Exclude directive leaves this port out of version detection.
    pub fn excluded(&self, transport: Transport, port: u16) -> bool {
        let list = match transport {
            Transport::Tcp => &self.excluded_tcp,
            Transport::Udp => &self.excluded_udp,
        };
        list.binary_search(&port).is_ok()
    }

    /// nmap's match of an answer to `probe`: the first line that matches among the probe's
    /// own, then each fallback's in turn (a softmatch there ends the search too).
    pub fn match_answer(&self, probe: ProbeId, answer: &[u8]) -> Option<MatchDetails> {
        self.probes[probe]
            .fallbacks
            .iter()
            .find_map(|&f| self.probes[f].matches.iter().find_map(|m| m.test(answer)))
    }
}

fn parse_probe_line(rest: &[u8]) -> Result<Probe, String> {
    let (transport, rest) = if let Some(r) = rest.strip_prefix(b"TCP ") {
        (Transport::Tcp, r)
    } else if let Some(r) = rest.strip_prefix(b"UDP ") {
        (Transport::Udp, r)
    } else {
        return Err("invalid protocol".into());
    };
    if !rest.first().is_some_and(u8::is_ascii_alphanumeric) {
        return Err("bad probe name".into());
    }
    let sp = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or("nothing after probe name")?;
    let name = String::from_utf8_lossy(&rest[..sp]).into_owned();
    let rest = rest[sp + 1..]
        .strip_prefix(b"q")
        .ok_or("probe string must begin with 'q'")?;
    let (&delim, body) = rest.split_first().ok_or("no probe string")?;
    let end = body
        .iter()
        .position(|&b| b == delim)
        .ok_or("no ending delimiter for probe string")?;
    let payload = template::unescape(&body[..end]).ok_or("bad probe string escaping")?;
    Ok(Probe {
        name,
        transport,
        payload,
        ports: Vec::new(),
        ssl_ports: Vec::new(),
        rarity: 5,
        total_wait: Duration::from_millis(5000),
        tcpwrapped: Duration::from_millis(2000),
        matches: Vec::new(),
        fallbacks: Vec::new(),
        services: Vec::new(),
    })
}

/// One `x/.../` (or `cpe:/.../`) part: its mode word, body and flags, and the rest.
struct Part<'a> {
    mode: &'a [u8],
    body: Vec<u8>,
    flags: &'a [u8],
    rest: &'a [u8],
}

/// nmap 7.93's next_template: a mode of letters and colons, any delimiter, the body up to
/// the next delimiter (no escapes), then letters as flags. `cpe:` bodies get their `cpe:/`
/// prefix back. None at the end of the line.
fn next_part(text: &[u8]) -> Result<Option<Part<'_>>, String> {
    let text = trim_start(text);
    if text.is_empty() {
        return Ok(None);
    }
    let mode_len = text
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || **b == b':')
        .count();
    let mode = &text[..mode_len];
    let delim = match text.get(mode_len) {
        Some(&d) if !d.is_ascii_whitespace() => d,
        _ => return Err("bare word".into()),
    };
    let body_start = mode_len + 1;
    let end = text[body_start..]
        .iter()
        .position(|&b| b == delim)
        .map(|p| p + body_start)
        .ok_or("missing end delimiter")?;
    let mut body = text[body_start..end].to_vec();
    if mode == b"cpe:" && !body.starts_with(b"cpe:/") {
        body.splice(0..0, b"cpe:/".iter().copied());
    }
    let after = &text[end + 1..];
    let flag_len = after.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    Ok(Some(Part {
        mode,
        body,
        flags: &after[..flag_len],
        rest: &after[flag_len..],
    }))
}

fn parse_match_line(line: &[u8], line_no: usize) -> Result<MatchLine, String> {
    let (soft, rest) = match line.strip_prefix(b"softmatch ") {
        Some(r) => (true, r),
        None => (
            false,
            line.strip_prefix(b"match ").ok_or("not a match line")?,
        ),
    };
    let rest = trim_start(rest);
    let sp = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or("could not find service name")?;
    let service = String::from_utf8_lossy(&rest[..sp]).into_owned();
    let re = next_part(&rest[sp..])?.ok_or("no pattern")?;
    if re.mode != b"m" {
        return Err("matchtext must begin with 'm'".into());
    }
    let source = std::str::from_utf8(&re.body).map_err(|_| "pattern is not UTF-8".to_string())?;
    let flags = std::str::from_utf8(re.flags).map_err(|_| "bad flags".to_string())?;
    let pattern =
        Pattern::compile(source, flags).map_err(|e| format!("regex does not compile: {}", e.0))?;
    let mut templates = Templates::default();
    let mut rest = re.rest;
    while let Some(part) = next_part(rest)? {
        let part_char = part.body.get(5).copied();
        let body = Some(part.body);
        match part.mode {
            b"p" => templates.product = body,
            b"v" => templates.version = body,
            b"i" => templates.info = body,
            b"h" => templates.hostname = body,
            b"o" => templates.ostype = body,
            b"d" => templates.devicetype = body,
            b"cpe:" => match part_char {
                Some(b'a') => templates.cpe[0] = body,
                Some(b'h') => templates.cpe[1] = body,
                Some(b'o') => templates.cpe[2] = body,
                // nmap warns and ignores a CPE of another part.
                _ => {}
            },
            other => {
                return Err(format!(
                    "unknown template specifier '{}'",
                    String::from_utf8_lossy(other)
                ))
            }
        }
        rest = part.rest;
    }
    Ok(MatchLine {
        service,
        soft,
        pattern,
        templates,
        line: line_no,
    })
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let Some((b, r)) = s.split_first() {
        if !b.is_ascii_whitespace() {
            break;
        }
        s = r;
    }
    s
}

/// The leading decimal integer (atoi/strtol style), None when there is none.
fn leading_int(v: &[u8]) -> Option<u32> {
    let v = trim_start(v);
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&v[..digits]).ok()?.parse().ok()
}

fn wait_ms(v: &[u8]) -> Result<Duration, String> {
    match leading_int(v) {
        Some(ms @ 100..=300_000) => Ok(Duration::from_millis(u64::from(ms))),
        _ => Err("wait must be between 100 and 300000 milliseconds".into()),
    }
}

/// "21-25,53,80" as a sorted list of ports.
fn parse_ports(v: &[u8]) -> Result<Vec<u16>, String> {
    let text = std::str::from_utf8(v).map_err(|_| "bad port list".to_string())?;
    let mut out = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        let (a, b) = item.split_once('-').unwrap_or((item, item));
        let parse = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| format!("bad port '{item}'"))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if b < a {
            return Err(format!("bad range '{item}'"));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// "T:9100-9107,U:30000" (bare ports apply to TCP and UDP).
fn parse_exclude(v: &[u8], tcp: &mut Vec<u16>, udp: &mut Vec<u16>) {
    let text = String::from_utf8_lossy(v);
    let (mut t, mut u) = (true, true);
    for item in text.split(',') {
        let mut item = item.trim();
        if let Some(r) = item.strip_prefix("T:") {
            (t, u, item) = (true, false, r);
        } else if let Some(r) = item.strip_prefix("U:") {
            (t, u, item) = (false, true, r);
        }
        if let Ok(ports) = parse_ports(item.as_bytes()) {
            if t {
                tcp.extend(&ports);
            }
            if u {
                udp.extend(&ports);
            }
        }
    }
}

#[cfg(test)]
#[path = "probes_tests.rs"]
mod tests;
