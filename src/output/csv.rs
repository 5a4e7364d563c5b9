//! CSV: header `ip,port,proto,state,reason,ttl,timestamp,service`, RFC 4180 quoting, LF line ends.

use super::hosts::HostReport;
use super::{epoch_secs, Ctx, ResultWriter, ScanInfo, ScanSummary, Sink};
use crate::model::PortResult;
use std::io::{self, Write};
use std::sync::Arc;

/// Writes one CSV row per shown result as results arrive.
pub struct CsvWriter {
    out: Sink,
    ctx: Arc<Ctx>,
}

impl CsvWriter {
    /// A writer over a sink.
    pub fn new(out: Sink, ctx: Arc<Ctx>) -> CsvWriter {
        CsvWriter { out, ctx }
    }
}

/// One CSV field, quoted (quotes doubled) when it holds a comma, quote or line break.
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl ResultWriter for CsvWriter {
    fn begin(&mut self, _info: &ScanInfo) -> io::Result<()> {
        writeln!(self.out, "ip,port,proto,state,reason,ttl,timestamp,service")?;
        self.out.flush()
    }

    fn record(&mut self, r: &PortResult) -> io::Result<()> {
        if !self.ctx.stream_shows(r.state) {
            return Ok(());
        }
        writeln!(
            self.out,
            "{},{},tcp,{},{},{},{},{}",
            r.ip,
            r.port,
            r.state.as_str(),
            r.reason.as_str(),
            r.ttl,
            epoch_secs(r.timestamp),
            field(self.ctx.services.name(r.port).unwrap_or(""))
        )
    }

    fn finish(
        &mut self,
        _info: &ScanInfo,
        _s: &ScanSummary,
        _hosts: &HostReport,
    ) -> io::Result<()> {
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn grouped(&self) -> bool {
        false
    }
}
