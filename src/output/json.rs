//! NDJSON (-oJ): one object per shown result, then one {"type":"summary"} line.

use super::hosts::HostReport;
use super::{end_time, epoch_secs, Ctx, ResultWriter, ScanInfo, ScanSummary, Sink};
use crate::model::PortResult;
use std::io::{self, Write};
use std::sync::Arc;

/// Writes one JSON object per line as results arrive.
pub struct JsonWriter {
    out: Sink,
    ctx: Arc<Ctx>,
}

impl JsonWriter {
    /// A writer over a sink.
    pub fn new(out: Sink, ctx: Arc<Ctx>) -> JsonWriter {
        JsonWriter { out, ctx }
    }
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

impl ResultWriter for JsonWriter {
    fn begin(&mut self, _info: &ScanInfo) -> io::Result<()> {
        Ok(())
    }

    fn record(&mut self, r: &PortResult) -> io::Result<()> {
        if !self.ctx.stream_shows(r.state) {
            return Ok(());
        }
        write!(
            self.out,
            "{{\"ip\":\"{}\",\"port\":{},\"proto\":\"tcp\",\"state\":\"{}\",\"reason\":\"{}\",\"ttl\":{},\"ts\":{}",
            r.ip,
            r.port,
            r.state.as_str(),
            r.reason.as_str(),
            r.ttl,
            epoch_secs(r.timestamp)
        )?;
        if let Some(name) = self.ctx.services.name(r.port) {
            write!(self.out, ",\"service\":{}", quote(name))?;
        }
        if let Some(rule) = self.ctx.policy_breach(r) {
            write!(
                self.out,
                ",\"policy\":\"violation\",\"rule\":{}",
                quote(rule)
            )?;
        }
        writeln!(self.out, "}}")
    }

    fn finish(&mut self, info: &ScanInfo, s: &ScanSummary, _hosts: &HostReport) -> io::Result<()> {
        writeln!(
            self.out,
            "{{\"type\":\"summary\",\"start\":{},\"end\":{},\"elapsed\":{:.3},\"hosts\":{},\"probes\":{},\"packets_sent\":{},\"replies\":{},\"replies_only_on_retry\":{},\"capture_drops\":{},\"rate_pps\":{},\"lower_rate_advised\":{},\"interrupted\":{}}}",
            epoch_secs(info.start),
            epoch_secs(end_time(info, s)),
            s.elapsed.as_secs_f64(),
            info.hosts,
            info.probes,
            s.stats.packets_sent,
            s.stats.replies,
            s.stats.replies_only_on_retry,
            s.stats.capture_drops,
            s.stats
                .rate_pps
                .map_or_else(|| "null".to_string(), |p| p.to_string()),
            s.losing_probes(),
            s.interrupted
        )?;
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn grouped(&self) -> bool {
        false
    }

    fn extra_json(&mut self, lines: &[String]) -> io::Result<()> {
        for l in lines {
            writeln!(self.out, "{l}")?;
        }
        Ok(())
    }
}
