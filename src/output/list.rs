//! masscan list format (-oL): "#masscan", then "open tcp 80 198.19.0.5 1732372800" lines, "# end".

use super::stream::{StreamFormat, StreamWriter};
use super::{epoch_secs, Ctx, ScanInfo, ScanSummary, Sink};
use crate::model::PortResult;
use std::io::{self, Write};

/// The masscan list lines.
pub struct List;

/// Writes masscan's -oL format as results arrive.
pub type ListWriter = StreamWriter<List>;

impl ListWriter {
    /// A writer over a sink.
    pub fn new(out: Sink, ctx: std::sync::Arc<Ctx>) -> ListWriter {
        StreamWriter::with_format(out, ctx, List)
    }
}

impl StreamFormat for List {
    fn header(&self, out: &mut Sink) -> io::Result<()> {
        writeln!(out, "#masscan")
    }

    fn line(&self, out: &mut Sink, _ctx: &Ctx, r: &PortResult) -> io::Result<()> {
        writeln!(
            out,
            "{} {} {} {} {}",
            r.state.as_str(),
            r.protocol.as_str(),
            r.port,
            r.ip,
            epoch_secs(r.timestamp)
        )
    }

    fn trailer(&self, out: &mut Sink, _info: &ScanInfo, _s: &ScanSummary) -> io::Result<()> {
        writeln!(out, "# end")
    }
}
