//! Reads result files back: synscan's -oJ (NDJSON), -oL (masscan list), CSV, -oG and -oX,
//! and nmap's own -oG and -oX. The format is told from the content, not the name.
//!
//! One entry point, [`read_file`] (or [`parse`] for bytes in memory), returns
//! (ip, port, proto, state, reason, time) records. A file cut short is read up to its last
//! complete record, with a warning; any other damage is an error naming the file and line.
//! No input makes it panic (see the property tests).

mod lines;
pub mod services;
mod xml;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

pub use crate::model::{PortState, Protocol};

/// One result read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Target address.
    pub ip: IpAddr,
    /// Target port.
    pub port: u16,
    /// Protocol.
    pub proto: Protocol,
    /// State.
    pub state: PortState,
    /// Reason ("syn-ack", ...); empty when the format has none.
    pub reason: String,
    /// When it was found (Unix seconds), when the format says.
    pub time: Option<u64>,
}

/// The formats the reader knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// NDJSON (synscan -oJ).
    Json,
    /// masscan list (synscan -oL, masscan -oL).
    List,
    /// CSV (synscan --output-format csv).
    Csv,
    /// nmap grepable (synscan or nmap -oG).
    Grepable,
    /// nmap XML (synscan or nmap -oX).
    Xml,
}

/// A file read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Results {
    /// Its format.
    pub format: Format,
    /// Its records, in file order.
    pub records: Vec<Record>,
    /// What it says runs behind its ports (-sV), in file order.
    pub services: Vec<services::Identity>,
    /// Warnings (a file cut short), each naming the file.
    pub warnings: Vec<String>,
}

/// Why a file could not be read; Display names the file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsError {
    /// The file.
    pub file: String,
    /// The 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for ResultsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{} line {n}: {}", self.file, self.what),
            None => write!(f, "{}: {}", self.file, self.what),
        }
    }
}

impl std::error::Error for ResultsError {}

impl From<ResultsError> for crate::error::ScanError {
    fn from(e: ResultsError) -> Self {
        crate::error::ScanError::usage(e.to_string())
    }
}

/// Reads (by `sys::fs::read_input`: a regular file, at most
/// `watch::input::MAX_RESULTS_BYTES`) and parses a result file.
pub fn read_file(path: &Path) -> Result<Results, ResultsError> {
    use crate::sys::fs::{read_input, Trust};
    let name = path.display().to_string();
    let limit = crate::watch::input::MAX_RESULTS_BYTES;
    let contents = read_input(path, Trust::Data, limit).map_err(|e| ResultsError {
        file: name.clone(),
        line: None,
        what: format!("cannot read it: {e}"),
    })?;
    parse_contents(&name, &contents)
}

/// Parses a file read by `sys::fs::read_input`: an error quotes nothing of a file that is
/// not the user's own (a planted link may lead to any file root can read).
pub fn parse_contents(name: &str, c: &crate::sys::fs::Contents) -> Result<Results, ResultsError> {
    parse(name, &c.bytes).map_err(|mut e| {
        if !c.own {
            e.what = format!("not a record synscan reads; {}", crate::sys::fs::NOT_QUOTED);
        }
        e
    })
}

/// Parses the bytes of a result file called `name` (used in messages).
pub fn parse(name: &str, bytes: &[u8]) -> Result<Results, ResultsError> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let err = |line: Option<usize>, what: String| ResultsError {
        file: name.to_string(),
        line,
        what,
    };
    if text.lines().any(|l| {
        l.starts_with("Nmap scan report for ") || l.starts_with("synscan scan report for ")
    }) {
        return Err(err(
            None,
            "normal text output (-oN) is for people, not read back: use the scan's -oX, -oG, -oJ, -oL or CSV output".to_string(),
        ));
    }
    let Some(format) = detect(text) else {
        return Err(err(
            None,
            "not a result file synscan reads (expected -oJ, -oL, CSV, -oG or -oX output of synscan, masscan's -oL, or nmap's -oG/-oX)".to_string(),
        ));
    };
    let (records, services, cut) = match format {
        Format::Xml => xml::parse(text),
        _ => lines::parse(format, text).map(|(records, cut)| {
            let services = match format {
                Format::Json => json_services(text),
                _ => Vec::new(),
            };
            (records, services, cut)
        }),
    }
    .map_err(|(line, what)| err(Some(line), what))?;
    let warnings = cut
        .map(|line| {
            format!(
                "{name}: the file ends in the middle of a record at line {line} (cut short?); read the {} complete record(s) before it",
                records.len()
            )
        })
        .into_iter()
        .collect();
    Ok(Results {
        format,
        records,
        services,
        warnings,
    })
}

/// The identifications of an -oJ file's service lines (lines that do not parse were
/// reported by the record reader).
fn json_services(text: &str) -> Vec<services::Identity> {
    text.lines()
        .filter(|l| l.contains("\"service\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Map<_, _>>(l).ok())
        .filter_map(|o| services::from_json(&o))
        .collect()
}

/// Tells the format from the first meaningful line.
fn detect(text: &str) -> Option<Format> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        return Some(Format::Xml);
    }
    let mut masscan_header = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('{') {
            return Some(Format::Json);
        }
        if line.starts_with("ip,port,proto,state") {
            return Some(Format::Csv);
        }
        if line.starts_with("Host: ") {
            return Some(Format::Grepable);
        }
        if line == "#masscan" {
            masscan_header = true;
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let c = c.trim_start();
            if !masscan_header && (c.starts_with("Nmap ") || c.starts_with("synscan ")) {
                return Some(Format::Grepable);
            }
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 4
            && PortState::parse(words[0]).is_some()
            && Protocol::parse(words[1]).is_some()
        {
            return Some(Format::List);
        }
        return None;
    }
    // Only comments: an empty scan in list or grepable form.
    if masscan_header {
        Some(Format::List)
    } else if text.lines().any(|l| l.starts_with("# ")) {
        Some(Format::Grepable)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
