//! The one skeleton of the streaming formats (-oJ, -oL, CSV): a header, a line per shown
//! result as soon as it is decided, a trailer. Each format supplies only its lines.

use super::hosts::HostReport;
use super::{Ctx, ResultWriter, ScanInfo, ScanSummary, Sink};
use crate::model::PortResult;
use std::io::{self, Write};
use std::sync::Arc;

/// What one streaming format writes.
pub trait StreamFormat: Send {
    /// Written once before any result.
    fn header(&self, _out: &mut Sink) -> io::Result<()> {
        Ok(())
    }
    /// One result the options show.
    fn line(&self, out: &mut Sink, ctx: &Ctx, r: &PortResult) -> io::Result<()>;
    /// One port's identification by the follow-up stage (-oJ only).
    fn version_line(
        &self,
        _out: &mut Sink,
        _ip: std::net::IpAddr,
        _protocol: crate::model::Protocol,
        _port: u16,
        _v: &super::versions::PortVersion,
    ) -> io::Result<()> {
        Ok(())
    }
    /// Written once at the end.
    fn trailer(&self, _out: &mut Sink, _info: &ScanInfo, _s: &ScanSummary) -> io::Result<()> {
        Ok(())
    }
    /// True for the format that carries the watch checks' extra NDJSON records.
    fn takes_extra_json(&self) -> bool {
        false
    }
}

/// A streaming format's writer over a sink.
pub struct StreamWriter<F> {
    out: Sink,
    ctx: Arc<Ctx>,
    format: F,
}

impl<F: StreamFormat> StreamWriter<F> {
    /// A writer of `format` over a sink.
    pub fn with_format(out: Sink, ctx: Arc<Ctx>, format: F) -> StreamWriter<F> {
        StreamWriter { out, ctx, format }
    }
}

impl<F: StreamFormat> ResultWriter for StreamWriter<F> {
    fn begin(&mut self, _info: &ScanInfo) -> io::Result<()> {
        self.format.header(&mut self.out)?;
        self.out.flush()
    }

    fn record(&mut self, r: &PortResult) -> io::Result<()> {
        if !self.ctx.stream_shows(r.state) {
            return Ok(());
        }
        self.format.line(&mut self.out, &self.ctx, r)
    }

    fn finish(&mut self, info: &ScanInfo, s: &ScanSummary, _hosts: &HostReport) -> io::Result<()> {
        self.format.trailer(&mut self.out, info, s)?;
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn grouped(&self) -> bool {
        false
    }

    fn version(
        &mut self,
        ip: std::net::IpAddr,
        protocol: crate::model::Protocol,
        port: u16,
        v: &super::versions::PortVersion,
    ) -> io::Result<()> {
        self.format
            .version_line(&mut self.out, ip, protocol, port, v)
    }

    fn extra_json(&mut self, lines: &[String]) -> io::Result<()> {
        if self.format.takes_extra_json() {
            for l in lines {
                writeln!(self.out, "{l}")?;
            }
        }
        Ok(())
    }
}
