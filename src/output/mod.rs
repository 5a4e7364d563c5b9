//! Result writers, one per format behind one trait, and the dispatcher the engine feeds.
//!
//! Streaming formats (List, Json, Csv) write a line per shown result as it is recorded.
//! Grouped formats (Normal, Grepable, Xml) need every port of a host together, so the
//! dispatcher keeps one compact per-host table ([`hosts::HostTable`]) and they write at finish.

use crate::model::{PortResult, PortState};
use crate::targets::PortSet;
use std::collections::HashMap;
use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod csv;
pub mod grepable;
pub mod hosts;
pub mod json;
pub mod list;
pub mod normal;
pub mod services;
pub mod xml;

#[cfg(test)]
mod tests;

use hosts::{HostReport, HostTable};
use services::Services;

/// Version printed in headers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// nmap normal text (-oN, and stdout by default).
    Normal,
    /// nmap grepable (-oG).
    Grepable,
    /// nmap XML (-oX).
    Xml,
    /// NDJSON, one result a line (-oJ).
    Json,
    /// masscan list (-oL).
    List,
    /// CSV (--output-format csv).
    Csv,
}

/// One requested output: a format and a path, "-" meaning stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// The format.
    pub format: Format,
    /// File path or "-".
    pub path: String,
}

/// What the outputs show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// --show closed.
    pub show_closed: bool,
    /// --show filtered.
    pub show_filtered: bool,
    /// --open: only open ports anywhere.
    pub open_only: bool,
    /// --reason.
    pub reason: bool,
    /// -v: a line per port as it is found.
    pub verbose: bool,
    /// Append to files instead of truncating (resume).
    pub append: bool,
    /// --services-file.
    pub services_file: Option<PathBuf>,
    /// --policy: open ports that break it are annotated (-oJ fields, -oX script elements).
    pub policy: Option<Arc<crate::watch::policy::Policy>>,
}

/// Facts about the scan known before it starts.
#[derive(Clone, Debug)]
pub struct ScanInfo {
    /// Start time.
    pub start: SystemTime,
    /// The command line as typed.
    pub command_line: String,
    /// Ports scanned.
    pub ports: PortSet,
    /// Number of target addresses.
    pub hosts: u64,
    /// Number of probes in this run (this shard).
    pub probes: u64,
    /// Seed of the permutation and cookie.
    pub seed: u64,
    /// "syn" or "connect".
    pub scan_type: &'static str,
}

/// Facts about the scan known when it ends.
#[derive(Clone, Debug, Default)]
pub struct ScanSummary {
    /// End time.
    pub end: Option<SystemTime>,
    /// Wall time.
    pub elapsed: Duration,
    /// Probes sent, retries included.
    pub packets_sent: u64,
    /// Replies that arrived only on a retry.
    pub replies_only_on_retry: u64,
    /// Replies in all.
    pub replies: u64,
    /// Frames the kernel dropped because the capture buffer was full.
    pub capture_drops: u64,
    /// True when the scan was interrupted.
    pub interrupted: bool,
}

impl ScanSummary {
    /// True when a notable share of answers came only on a retry, or the capture dropped
    /// replies: probes or their answers are being lost and the rate should come down.
    pub fn losing_probes(&self) -> bool {
        self.capture_drops > 0
            || (self.replies >= 20 && self.replies_only_on_retry * 100 > self.replies)
    }
}

/// A bad output request; Display is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError(pub String);

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutputError {}

/// One output format's writer; the dispatcher calls begin once, record per result, finish once.
pub trait ResultWriter: Send {
    /// Writes the header.
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()>;
    /// Sees one decided result (streaming formats write it now; grouped ones ignore it).
    fn record(&mut self, r: &PortResult) -> io::Result<()>;
    /// Writes the per-host report (grouped formats) and the trailer, then flushes.
    fn finish(
        &mut self,
        info: &ScanInfo,
        summary: &ScanSummary,
        hosts: &HostReport,
    ) -> io::Result<()>;
    /// Flushes buffered lines.
    fn flush(&mut self) -> io::Result<()>;
    /// True for formats that need the per-host table.
    fn grouped(&self) -> bool;
    /// Extra NDJSON records (baseline changes, policy findings) before the trailer; only
    /// the -oJ writer writes them.
    fn extra_json(&mut self, _lines: &[String]) -> io::Result<()> {
        Ok(())
    }
}

/// A byte sink for one writer.
pub type Sink = Box<dyn Write + Send>;

/// Ports scanned, as nmap's scaninfo shows them: a count and a range list like "1-79,83-100".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortsInfo {
    /// Number of distinct ports.
    pub count: u64,
    /// Comma-separated ascending ranges.
    pub spec: String,
}

impl PortsInfo {
    /// Summarises a port set through its iterator (sorted and deduplicated here).
    pub fn from_set(ports: &PortSet) -> PortsInfo {
        PortsInfo::from_ports(ports.iter().collect())
    }

    /// Summarises a list of ports in any order, duplicates allowed.
    pub fn from_ports(mut ports: Vec<u16>) -> PortsInfo {
        ports.sort_unstable();
        ports.dedup();
        let mut spec = String::new();
        let mut i = 0;
        while i < ports.len() {
            let first = ports[i];
            let mut last = first;
            while i + 1 < ports.len() && ports[i + 1] == last.wrapping_add(1) && last != u16::MAX {
                i += 1;
                last = ports[i];
            }
            if !spec.is_empty() {
                spec.push(',');
            }
            if first == last {
                spec.push_str(&first.to_string());
            } else {
                spec.push_str(&format!("{first}-{last}"));
            }
            i += 1;
        }
        PortsInfo {
            count: ports.len() as u64,
            spec,
        }
    }
}

/// What every writer shares: options, service names, ports scanned.
#[derive(Debug)]
pub struct Ctx {
    /// Visibility options.
    pub opts: OutputOptions,
    /// Service names.
    pub services: Services,
    /// Ports scanned.
    pub ports: PortsInfo,
}

impl Ctx {
    /// The policy rule an open result breaks, when a policy is given.
    pub fn policy_breach(&self, r: &PortResult) -> Option<&str> {
        if r.state != PortState::Open {
            return None;
        }
        self.opts
            .policy
            .as_deref()?
            .judge(std::net::IpAddr::V4(r.ip), r.port)
    }

    /// Whether a streaming (machine) format writes a result in this state.
    pub fn stream_shows(&self, state: PortState) -> bool {
        match state {
            PortState::Open => true,
            PortState::Closed => self.opts.show_closed && !self.opts.open_only,
            PortState::Filtered => self.opts.show_filtered && !self.opts.open_only,
        }
    }
}

/// Seconds since the epoch (0 before it).
pub fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian (Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// ctime(3) text in UTC without the newline, as nmap prints it: "Mon Nov 23 12:00:00 2026".
pub fn ctime(t: SystemTime) -> String {
    let secs = epoch_secs(t);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

/// nmap's interactive start date in UTC: "2026-11-23 12:42 UTC".
pub fn short_date(t: SystemTime) -> String {
    let secs = epoch_secs(t);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The end time: the summary's, else start plus elapsed.
pub fn end_time(info: &ScanInfo, s: &ScanSummary) -> SystemTime {
    s.end.unwrap_or(info.start + s.elapsed)
}

/// "1 IP address (1 host up)" / "3 IP addresses (2 hosts up)", as nmap words it.
pub fn hosts_phrase(total: u64, up: u64) -> String {
    format!(
        "{total} IP address{} ({up} host{} up)",
        if total == 1 { "" } else { "es" },
        if up == 1 { "" } else { "s" }
    )
}

/// Result state and reason as "syn-ack ttl 64" (no ttl when nothing or a local refusal answered).
pub fn reason_text(r: crate::model::Reason, ttl: u8) -> String {
    if ttl == 0 || r == crate::model::Reason::NoResponse {
        r.as_str().to_string()
    } else {
        format!("{} ttl {ttl}", r.as_str())
    }
}

/// All outputs of a run; the engine feeds every decided result here.
pub struct Outputs {
    writers: Vec<Box<dyn ResultWriter>>,
    table: Option<HostTable>,
    info: ScanInfo,
    hostnames: HashMap<Ipv4Addr, String>,
    finished: bool,
}

/// Opens a file sink: truncate, or append when resuming; "-" is stdout.
fn open_sink(path: &str, append: bool) -> Result<Sink, OutputError> {
    if path == "-" {
        return Ok(Box::new(BufWriter::new(io::stdout())));
    }
    let mut o = OpenOptions::new();
    o.create(true);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    let f = o.open(path).map_err(|e| {
        OutputError(format!(
            "cannot open output file {path}: {e}; check that the directory exists and is writable"
        ))
    })?;
    Ok(Box::new(BufWriter::with_capacity(64 * 1024, f)))
}

/// Builds the writer for a format over a sink.
pub fn make_writer(
    format: Format,
    sink: Sink,
    stdout: bool,
    ctx: Arc<Ctx>,
) -> Box<dyn ResultWriter> {
    match format {
        Format::Normal => Box::new(normal::NormalWriter::new(sink, stdout, ctx)),
        Format::Grepable => Box::new(grepable::GrepableWriter::new(sink, ctx)),
        Format::Xml => Box::new(xml::XmlWriter::new(sink, ctx)),
        Format::Json => Box::new(json::JsonWriter::new(sink, ctx)),
        Format::List => Box::new(list::ListWriter::new(sink, ctx)),
        Format::Csv => Box::new(csv::CsvWriter::new(sink, ctx)),
    }
}

impl Outputs {
    /// Opens every output; adds Normal on stdout when no output writes to "-".
    pub fn open(
        specs: &[OutputSpec],
        opts: &OutputOptions,
        info: &ScanInfo,
    ) -> Result<Outputs, OutputError> {
        let stdout_count = specs.iter().filter(|s| s.path == "-").count();
        if stdout_count > 1 {
            return Err(OutputError(
                "more than one output writes to stdout (-); give all but one a file path".into(),
            ));
        }
        for (i, a) in specs.iter().enumerate() {
            if a.path != "-" && specs[..i].iter().any(|b| b.path == a.path) {
                return Err(OutputError(format!(
                    "output file {} is named twice; give each output its own file",
                    a.path
                )));
            }
        }
        let services = match &opts.services_file {
            Some(p) => Services::from_nmap_services(p)?,
            None => Services::system(),
        };
        let ctx = Arc::new(Ctx {
            opts: opts.clone(),
            services,
            ports: PortsInfo::from_set(&info.ports),
        });
        let mut sinks = Vec::new();
        for s in specs {
            sinks.push((s.format, s.path == "-", open_sink(&s.path, opts.append)?));
        }
        if stdout_count == 0 {
            sinks.push((Format::Normal, true, open_sink("-", false)?));
        }
        Outputs::with_sinks(sinks, ctx, info).map_err(|e| {
            OutputError(format!(
                "cannot write output headers: {e}; check free disk space"
            ))
        })
    }

    /// Builds outputs over given sinks (format, is-stdout, sink) and writes headers.
    pub fn with_sinks(
        sinks: Vec<(Format, bool, Sink)>,
        ctx: Arc<Ctx>,
        info: &ScanInfo,
    ) -> io::Result<Outputs> {
        let mut writers: Vec<Box<dyn ResultWriter>> = sinks
            .into_iter()
            .map(|(f, stdout, sink)| make_writer(f, sink, stdout, ctx.clone()))
            .collect();
        let table = if writers.iter().any(|w| w.grouped()) {
            Some(HostTable::new(&ctx.opts))
        } else {
            None
        };
        for w in writers.iter_mut() {
            w.begin(info)?;
        }
        Ok(Outputs {
            writers,
            table,
            info: info.clone(),
            hostnames: HashMap::new(),
            finished: false,
        })
    }

    /// Names the user gave for target addresses (e.g. `scanme.example` for the address it
    /// resolved to). Grouped formats show them as nmap does for names typed on the command
    /// line: `report for NAME (IP)` in -oN, `Host: IP (NAME)` in -oG and
    /// `<hostname name="NAME" type="user"/>` in -oX. The first name given for an address wins.
    /// Call before [`Outputs::finish`]; the map holds one entry per name typed, so it is small.
    pub fn set_hostnames<I>(&mut self, names: I)
    where
        I: IntoIterator<Item = (Ipv4Addr, String)>,
    {
        for (ip, name) in names {
            self.hostnames.entry(ip).or_insert(name);
        }
    }

    /// Records one decided result.
    pub fn record(&mut self, r: &PortResult) -> io::Result<()> {
        if let Some(t) = self.table.as_mut() {
            t.record(r);
        }
        let mut first_err = None;
        for w in self.writers.iter_mut() {
            if let Err(e) = w.record(r) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Hands extra NDJSON records to the -oJ outputs; call before [`Outputs::finish`].
    pub fn extra_json(&mut self, lines: &[String]) -> io::Result<()> {
        let mut first_err = None;
        for w in self.writers.iter_mut() {
            if let Err(e) = w.extra_json(lines) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Flushes every stream.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut first_err = None;
        for w in self.writers.iter_mut() {
            if let Err(e) = w.flush() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Writes trailers and flushes; a second call does nothing.
    pub fn finish(&mut self, summary: &ScanSummary) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let mut report = match self.table.take() {
            Some(t) => t.into_report(self.info.hosts),
            None => HostReport::default(),
        };
        if !self.hostnames.is_empty() {
            for h in report.hosts.iter_mut() {
                h.hostname = self.hostnames.get(&h.ip).cloned();
            }
        }
        let mut first_err = None;
        for w in self.writers.iter_mut() {
            if let Err(e) = w.finish(&self.info, summary, &report) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
