//! Result writers, one per format behind one trait, and the dispatcher the engine feeds.
//!
//! Streaming formats (List, Json, Csv) write a line per shown result as it is recorded and
//! keep nothing. Grouped formats (Normal, Grepable, Xml) need every port of a host together,
//! so the dispatcher keeps one compact per-host table ([`hosts::HostTable`]) of the hosts
//! that replied, and they write at finish; silent hosts' results are only counted.

use crate::model::{PortResult, PortState, Protocol, ScanStats};
use crate::targets::{PortSet, ServiceSet};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) mod csv;
pub(crate) mod files;
pub mod follow;
pub(crate) mod grepable;
pub(crate) mod hosts;
pub(crate) mod journal;
pub(crate) mod json;
pub(crate) mod list;
pub(crate) mod normal;
pub(crate) mod services;
pub(crate) mod stream;
pub mod versions;
pub(crate) mod xml;

#[cfg(test)]
mod ipv6_tests;
#[cfg(test)]
mod resume_tests;
#[cfg(test)]
pub(crate) mod tests;

use hosts::{HostReport, HostTable};
use services::Services;
use versions::{PortVersion, Versions};

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

impl Format {
    /// True for the formats that print every host at the end (rewritten on resume).
    pub fn grouped(self) -> bool {
        matches!(self, Format::Normal | Format::Grepable | Format::Xml)
    }
}

/// One requested output: a format and a path, "-" meaning stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// The format.
    pub format: Format,
    /// File path or "-".
    pub path: String,
}

/// Exposure rules the writers annotate open ports with (`--policy`, implemented by
/// `watch::policy::Policy`): the writers only ask, so they need not know the rules.
pub trait PortRules: Send + Sync + std::fmt::Debug {
    /// The rule an open (ip, port) breaks, if any.
    fn judge(&self, ip: std::net::IpAddr, port: u16) -> Option<&str>;
    /// The most ports a host may have open, and the rule that says so.
    fn max_open(&self) -> Option<(u64, &str)>;
}

/// What the outputs show.
#[derive(Clone, Debug, Default)]
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
    /// A resumed run: each file output of the interrupted scan at its checkpoint, in order.
    pub continued: Vec<Continued>,
    /// --services-file.
    pub services_file: Option<PathBuf>,
    /// --policy: open ports that break it are annotated (-oJ fields, -oX script elements).
    pub policy: Option<Arc<dyn PortRules>>,
}

/// A file output of the interrupted scan a resumed run continues: the file it must still
/// be and its length at the checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Continued {
    /// (device, inode); None for an inherited descriptor (/dev/stdout).
    pub file: Option<(u64, u64)>,
    /// Bytes that belong to the results before the checkpoint.
    pub length: u64,
}

/// Facts about the scan known before it starts.
#[derive(Clone, Debug)]
pub struct ScanInfo {
    /// Start time.
    pub start: SystemTime,
    /// The command line as typed.
    pub command_line: String,
    /// Services scanned.
    pub services: ServiceSet,
    /// Number of target addresses.
    pub hosts: u64,
    /// Number of probes in this run (this shard).
    pub probes: u64,
    /// Seed of the permutation and cookie.
    pub seed: u64,
    /// nmap's scan type for each protocol probed ("syn", "connect"), in the order of
    /// `services`.
    pub scan_types: Vec<(Protocol, &'static str)>,
    /// The order of a shard (a run that probes only its part of targets x services), so the
    /// per-host table knows which pairs it probes; None for a whole scan.
    pub shard: Option<Arc<crate::targets::ProbeOrder>>,
}

impl ScanInfo {
    /// What nmap's `<scaninfo>` and "# Ports scanned" say of each protocol probed.
    pub fn scanned(&self) -> Vec<Scanned> {
        self.scan_types
            .iter()
            .map(|&(protocol, scan_type)| Scanned {
                protocol,
                scan_type,
                ports: PortsInfo::from_set(self.services.ports(protocol)),
            })
            .collect()
    }
}

/// One protocol a scan probes, as nmap's `<scaninfo>` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// The protocol.
    pub protocol: Protocol,
    /// nmap's scan type ("syn", "connect").
    pub scan_type: &'static str,
    /// Its ports.
    pub ports: PortsInfo,
}

/// Facts about the scan known when it ends.
#[derive(Clone, Debug, Default)]
pub struct ScanSummary {
    /// End time.
    pub end: Option<SystemTime>,
    /// Wall time.
    pub elapsed: Duration,
    /// The scan's counters at its end.
    pub stats: ScanStats,
    /// True when the scan was interrupted.
    pub interrupted: bool,
}

impl ScanSummary {
    /// True when a notable share of answers came only on a retry, or the capture dropped
    /// replies: probes or their answers are being lost and the rate should come down.
    pub fn losing_probes(&self) -> bool {
        let s = &self.stats;
        s.capture_drops > 0 || (s.replies >= 20 && s.replies_only_on_retry * 100 > s.replies)
    }
}

/// Parses --show: which of closed and filtered the outputs show.
pub fn parse_show(values: &[String]) -> Result<(bool, bool), crate::error::ScanError> {
    let (mut closed, mut filtered) = (false, false);
    for v in values.iter().flat_map(|v| v.split(',')) {
        match v.trim() {
            "closed" => closed = true,
            "filtered" => filtered = true,
            "open" | "" => {}
            other => {
                return Err(crate::error::ScanError::usage(format!(
                    "bad --show \"{other}\": use closed, filtered or closed,filtered"
                )))
            }
        }
    }
    Ok((closed, filtered))
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

impl From<OutputError> for crate::error::ScanError {
    fn from(e: OutputError) -> Self {
        crate::error::ScanError::usage(e.0)
    }
}

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
    /// Sees one port's identification by the follow-up stage (-oJ writes it now; grouped
    /// formats find it in the report at finish).
    fn version(
        &mut self,
        _ip: IpAddr,
        _protocol: Protocol,
        _port: u16,
        _v: &PortVersion,
    ) -> io::Result<()> {
        Ok(())
    }
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
    /// Summarises a port set.
    pub fn from_set(ports: &PortSet) -> PortsInfo {
        PortsInfo {
            count: ports.len(),
            spec: ports.to_spec(),
        }
    }

    /// Summarises a list of ports in any order, duplicates allowed.
    pub fn from_ports(ports: Vec<u16>) -> PortsInfo {
        PortsInfo::from_set(&PortSet::from_ranges(ports.into_iter().map(|p| (p, p))))
    }
}

/// Refuses more than one output on stdout ("-"): their lines would mix.
pub fn check_one_stdout(specs: &[OutputSpec]) -> Result<(), OutputError> {
    if specs.iter().filter(|s| s.path == "-").count() > 1 {
        return Err(OutputError(
            "more than one output writes to stdout (-); give all but one a file path".into(),
        ));
    }
    Ok(())
}

/// What every writer shares: options, service names, ports scanned.
#[derive(Debug)]
pub struct Ctx {
    /// Visibility options.
    pub opts: OutputOptions,
    /// Service names.
    pub services: Services,
    /// What was scanned, per protocol.
    pub scanned: Vec<Scanned>,
}

impl Ctx {
    /// The policy rule an open result breaks, when a policy is given.
    pub fn policy_breach(&self, r: &PortResult) -> Option<&str> {
        if r.state != PortState::Open {
            return None;
        }
        self.opts.policy.as_deref()?.judge(r.ip, r.port)
    }

    /// Whether a streaming (machine) format writes a result in this state.
    pub fn stream_shows(&self, state: PortState) -> bool {
        match state {
            PortState::Open => true,
            PortState::Closed | PortState::ClosedFiltered => {
                self.opts.show_closed && !self.opts.open_only
            }
            _ => self.opts.show_filtered && !self.opts.open_only,
        }
    }
}

/// Seconds since the epoch (0 before it).
pub fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub use crate::model::civil_from_days;

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

/// One writer and what happened to it: a writer whose file failed is left alone from then
/// on, so the others still complete, and the failure is reported at the end.
struct Slot {
    writer: Box<dyn ResultWriter>,
    /// "output file PATH" or "stdout", for the error line.
    name: String,
    failed: Option<io::Error>,
}

impl Slot {
    fn guard(&mut self, op: impl FnOnce(&mut dyn ResultWriter) -> io::Result<()>) {
        if self.failed.is_none() {
            if let Err(e) = op(self.writer.as_mut()) {
                self.failed = Some(e);
            }
        }
    }
}

/// All outputs of a run; the engine feeds every decided result here.
pub struct Outputs {
    slots: Vec<Slot>,
    table: Option<HostTable>,
    info: ScanInfo,
    hostnames: HashMap<IpAddr, String>,
    finished: bool,
    /// The file outputs, in the order given, to fsync and measure at checkpoints.
    files: Vec<std::fs::File>,
    /// The file each of `files` is (device, inode; None for an inherited descriptor).
    ids: Vec<Option<(u64, u64)>>,
    /// The journal of released results for a resumed run's grouped outputs.
    journal: Option<journal::Journal>,
    /// The follow-up stage's identifications, for the grouped outputs.
    versions: Versions,
}

/// The per-host table for a run: one that stores nothing for silent hosts when it knows
/// which pairs the run probes (every port of every target, or a shard's part), else one
/// that keeps their no-response results, bounded.
fn host_table(opts: &OutputOptions, info: &ScanInfo) -> HostTable {
    let every_port = info.hosts.checked_mul(info.services.len()) == Some(info.probes);
    let table = match &info.shard {
        _ if every_port && !info.services.is_empty() => HostTable::covering(opts, &info.services),
        Some(order) if order.len() == info.probes && !order.is_empty() => {
            HostTable::covering_shard(opts, Arc::clone(order))
        }
        _ => HostTable::new(opts),
    };
    // What the scan's probe kinds make of silence, known before the first silent probe.
    info.scan_types.iter().fold(table, |t, &(protocol, name)| {
        match crate::probe::ProbeKind::from_nmap_type(name) {
            Some(kind) if kind.protocol() == protocol => t.with_silence(protocol, kind.silence()),
            _ => t,
        }
    })
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
    /// Opens every output (see [`files::open_outputs`]: all opened before any is truncated,
    /// one file never named twice, no planted symlink followed) and writes the headers; adds
    /// Normal on stdout when no output writes there. A header that cannot be written is a
    /// failed output reported by [`Outputs::finish`], not an error here.
    /// `claims` holds the run's other files (inputs, files written later): an output that
    /// is one of them is refused before anything is truncated.
    pub fn open(
        specs: &[OutputSpec],
        opts: &OutputOptions,
        info: &ScanInfo,
        claims: &mut crate::sys::fs::Claims,
    ) -> Result<Outputs, OutputError> {
        check_one_stdout(specs)?;
        // Read before any file is opened: a bad services file leaves every output alone.
        let services = match &opts.services_file {
            Some(p) => {
                let (services, id) = Services::from_nmap_services(p)?;
                claims
                    .input(id, format!("--services-file {}", p.display()))
                    .map_err(OutputError)?;
                services
            }
            None => Services::default_table(),
        };
        let ctx = Arc::new(Ctx {
            opts: opts.clone(),
            services,
            scanned: info.scanned(),
        });
        // A resumed run appends to streaming outputs; grouped ones are written anew from
        // the journal and this run's results.
        let opened = files::open_outputs(specs, opts.append, &opts.continued, claims)?;
        let files = opened.handles;
        let ids = opened.files;
        let mut named = opened.outputs;
        if opened.stdout_free {
            named.push(NamedSink {
                format: Format::Normal,
                stdout: true,
                name: "stdout".to_string(),
                sink: Box::new(BufWriter::new(io::stdout())),
            });
        }
        let mut outputs = Outputs::with_named_sinks(named, ctx, info);
        outputs.files = files;
        outputs.ids = ids;
        Ok(outputs)
    }

    /// Builds outputs over given sinks (format, is-stdout, sink) and writes headers.
    pub fn with_sinks(
        sinks: Vec<(Format, bool, Sink)>,
        ctx: Arc<Ctx>,
        info: &ScanInfo,
    ) -> io::Result<Outputs> {
        let named = sinks
            .into_iter()
            .enumerate()
            .map(|(i, (format, stdout, sink))| NamedSink {
                format,
                stdout,
                name: if stdout {
                    "stdout".to_string()
                } else {
                    format!("output {}", i + 1)
                },
                sink,
            })
            .collect();
        Ok(Outputs::with_named_sinks(named, ctx, info))
    }

    /// Builds outputs over named sinks and writes the headers.
    pub fn with_named_sinks(sinks: Vec<NamedSink>, ctx: Arc<Ctx>, info: &ScanInfo) -> Outputs {
        let mut slots: Vec<Slot> = sinks
            .into_iter()
            .map(|s| Slot {
                writer: make_writer(s.format, s.sink, s.stdout, ctx.clone()),
                name: s.name,
                failed: None,
            })
            .collect();
        let table = slots
            .iter()
            .any(|s| s.writer.grouped())
            .then(|| host_table(&ctx.opts, info));
        for s in slots.iter_mut() {
            s.guard(|w| w.begin(info));
        }
        Outputs {
            slots,
            table,
            info: info.clone(),
            hostnames: HashMap::new(),
            finished: false,
            files: Vec::new(),
            ids: Vec::new(),
            journal: None,
            versions: Versions::default(),
        }
    }

    /// The outputs that failed so far, as "NAME: error" texts.
    pub fn failures(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter_map(|s| s.failed.as_ref().map(|e| format!("{}: {e}", s.name)))
            .collect()
    }

    /// The file each file output is (device, inode; None for an inherited descriptor), in
    /// the order given: what a resume file saves.
    pub fn file_ids(&self) -> &[Option<(u64, u64)>] {
        &self.ids
    }

    /// Keeps a journal of every released result (for a later resume's grouped outputs);
    /// a resumed run first replays the journal it continues into the per-host table.
    pub fn attach_journal(&mut self, journal: journal::Journal) {
        self.journal = Some(journal);
    }

    /// Feeds what an earlier run journaled to the per-host table only (journal replay).
    pub fn replay(&mut self, entry: journal::Entry) {
        let Some(t) = self.table.as_mut() else {
            return;
        };
        match entry {
            journal::Entry::Result(r) => {
                t.record(&r);
            }
            journal::Entry::Silent(n) => t.record_silent(n),
        }
    }

    /// Flushes and fsyncs every file output and the journal; returns the files' lengths
    /// (in the order given) and the journal's.
    pub fn checkpoint(&mut self) -> io::Result<(Vec<u64>, Option<u64>)> {
        self.flush()?;
        let mut lengths = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let meta = f.metadata()?;
            if meta.is_file() {
                f.sync_data()?;
            }
            lengths.push(meta.len());
        }
        let journal = match self.journal.as_mut() {
            Some(j) => Some(j.sync()?),
            None => None,
        };
        Ok((lengths, journal))
    }

    /// Names the user gave for target addresses (e.g. `scanme.example` for the address it
    /// resolved to). Grouped formats show them as nmap does for names typed on the command
    /// line: `report for NAME (IP)` in -oN, `Host: IP (NAME)` in -oG and
    /// `<hostname name="NAME" type="user"/>` in -oX. The first name given for an address wins.
    /// Call before [`Outputs::finish`]; the map holds one entry per name typed, so it is small.
    pub fn set_hostnames<I, A>(&mut self, names: I)
    where
        I: IntoIterator<Item = (A, String)>,
        A: Into<IpAddr>,
    {
        for (ip, name) in names {
            self.hostnames.entry(ip.into()).or_insert(name);
        }
    }

    /// Records one decided result. A failing output is set aside (reported at finish) and
    /// the others go on, so this fails only when the journal cannot be written.
    pub fn record(&mut self, r: &PortResult) -> io::Result<()> {
        self.record_kept(r, false)
    }

    /// [`Outputs::record`], told whether something beside the outputs (a check) needs
    /// this result itself after a resume: the journal keeps a result whole when it was
    /// answered or anyone keeps it, and only counts the rest.
    pub fn record_kept(&mut self, r: &PortResult, needed: bool) -> io::Result<()> {
        let kept = match self.table.as_mut() {
            Some(t) => t.record(r),
            None => false,
        };
        // The journal is what a resume rebuilds grouped outputs from: losing it is an error.
        if let Some(j) = self.journal.as_mut() {
            if needed || kept || r.reason != crate::model::Reason::NoResponse {
                j.append(r)?;
            } else {
                j.count_silent();
            }
        }
        for s in self.slots.iter_mut() {
            s.guard(|w| w.record(r));
        }
        Ok(())
    }

    /// Records one port's identification by the follow-up stage: -oJ writes it at once,
    /// grouped formats show it at finish. Failures are kept for [`Outputs::finish`].
    pub fn record_version(&mut self, ip: IpAddr, protocol: Protocol, port: u16, v: PortVersion) {
        for s in self.slots.iter_mut() {
            s.guard(|w| w.version(ip, protocol, port, &v));
        }
        if self.table.is_some() {
            // The grouped formats print the fields, never the -oJ record.
            let kept = PortVersion {
                json: String::new(),
                ..v
            };
            self.versions.insert(ip, protocol, port, kept);
        }
    }

    /// Hands extra NDJSON records (watch checks) to the -oJ outputs; call before
    /// [`Outputs::finish`]. Failures are kept for [`Outputs::finish`].
    pub fn extra_json(&mut self, lines: &[String]) -> io::Result<()> {
        for s in self.slots.iter_mut() {
            s.guard(|w| w.extra_json(lines));
        }
        Ok(())
    }

    /// Flushes every stream; failures are kept for [`Outputs::finish`].
    pub fn flush(&mut self) -> io::Result<()> {
        for s in self.slots.iter_mut() {
            s.guard(|w| w.flush());
        }
        Ok(())
    }

    /// Writes trailers and flushes every output that has not failed; then fails, naming
    /// every output that could not be written, if any. A second call does nothing.
    pub fn finish(&mut self, summary: &ScanSummary) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let mut report = match self.table.take() {
            Some(t) => t.into_report(self.info.hosts),
            None => HostReport::default(),
        };
        report.versions = std::mem::take(&mut self.versions);
        if !self.hostnames.is_empty() {
            for h in report.hosts.iter_mut() {
                h.hostname = self.hostnames.get(&h.ip).cloned();
            }
        }
        let info = &self.info;
        for s in self.slots.iter_mut() {
            s.guard(|w| w.finish(info, summary, &report));
        }
        let failed = self.failures();
        if failed.is_empty() {
            return Ok(());
        }
        let others = if failed.len() < self.slots.len() {
            " (the other outputs are complete)"
        } else {
            ""
        };
        Err(io::Error::other(format!(
            "{}; check free disk space and permissions{others}",
            failed.join("; ")
        )))
    }
}

/// A sink with the format it gets and the name messages use for it.
pub struct NamedSink {
    /// The format.
    pub format: Format,
    /// True for "-".
    pub stdout: bool,
    /// "output file PATH" or "stdout".
    pub name: String,
    /// The bytes' destination.
    pub sink: Sink,
}
