//! masscan list format (-oL): "#masscan", then "open tcp 80 198.19.0.5 1732372800" lines, "# end".

use super::hosts::HostReport;
use super::{epoch_secs, Ctx, ResultWriter, ScanInfo, ScanSummary, Sink};
use crate::model::PortResult;
use std::io::{self, Write};
use std::sync::Arc;

/// Writes masscan's -oL format as results arrive.
pub struct ListWriter {
    out: Sink,
    ctx: Arc<Ctx>,
}

impl ListWriter {
    /// A writer over a sink.
    pub fn new(out: Sink, ctx: Arc<Ctx>) -> ListWriter {
        ListWriter { out, ctx }
    }
}

impl ResultWriter for ListWriter {
    fn begin(&mut self, _info: &ScanInfo) -> io::Result<()> {
        writeln!(self.out, "#masscan")?;
        self.out.flush()
    }

    fn record(&mut self, r: &PortResult) -> io::Result<()> {
        if !self.ctx.stream_shows(r.state) {
            return Ok(());
        }
        writeln!(
            self.out,
            "{} tcp {} {} {}",
            r.state.as_str(),
            r.port,
            r.ip,
            epoch_secs(r.timestamp)
        )
    }

    fn finish(
        &mut self,
        _info: &ScanInfo,
        _s: &ScanSummary,
        _hosts: &HostReport,
    ) -> io::Result<()> {
        writeln!(self.out, "# end")?;
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn grouped(&self) -> bool {
        false
    }
}
