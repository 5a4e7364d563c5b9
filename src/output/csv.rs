//! CSV: header `ip,port,proto,state,reason,ttl,timestamp,service`, RFC 4180 quoting, LF line ends.

use super::stream::{StreamFormat, StreamWriter};
use super::{epoch_secs, Ctx, Sink};
use crate::model::PortResult;
use std::io::{self, Write};

/// The CSV lines: one row per shown result.
pub struct Csv;

/// Writes one CSV row per shown result as results arrive.
pub type CsvWriter = StreamWriter<Csv>;

impl CsvWriter {
    /// A writer over a sink.
    pub fn new(out: Sink, ctx: std::sync::Arc<Ctx>) -> CsvWriter {
        StreamWriter::with_format(out, ctx, Csv)
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

impl StreamFormat for Csv {
    fn header(&self, out: &mut Sink) -> io::Result<()> {
        writeln!(out, "ip,port,proto,state,reason,ttl,timestamp,service")
    }

    fn line(&self, out: &mut Sink, ctx: &Ctx, r: &PortResult) -> io::Result<()> {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            r.ip,
            r.port,
            r.protocol.as_str(),
            r.state.as_str(),
            r.reason.as_str(),
            r.ttl,
            epoch_secs(r.timestamp),
            field(ctx.services.name(r.service()).unwrap_or(""))
        )
    }
}
