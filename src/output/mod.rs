//! Result writers, one per format behind one trait, and the dispatcher the engine feeds.
//! INTERFACE STUB: the output helper replaces the bodies.

use crate::model::PortResult;
use crate::targets::PortSet;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub mod services;

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
    /// True when the scan was interrupted.
    pub interrupted: bool,
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

/// All outputs of a run; the engine feeds every decided result here.
pub struct Outputs {}

impl Outputs {
    /// Opens every output; adds Normal on stdout when no output writes to "-".
    pub fn open(
        _specs: &[OutputSpec],
        _opts: &OutputOptions,
        _info: &ScanInfo,
    ) -> Result<Outputs, OutputError> {
        todo!()
    }
    /// Records one decided result.
    pub fn record(&mut self, _r: &PortResult) -> io::Result<()> {
        todo!()
    }
    /// Flushes every stream.
    pub fn flush(&mut self) -> io::Result<()> {
        todo!()
    }
    /// Writes trailers and flushes.
    pub fn finish(&mut self, _summary: &ScanSummary) -> io::Result<()> {
        todo!()
    }
}
