//! NDJSON (-oJ): one object per shown result, one {"type":"service"} line per port the
//! follow-up stage identified (-sV), then one {"type":"summary"} line.

use super::stream::{StreamFormat, StreamWriter};
use super::{end_time, epoch_secs, Ctx, ScanInfo, ScanSummary, Sink};
use crate::model::PortResult;
use std::io::{self, Write};

/// The NDJSON lines: a result object per shown result, the summary last.
pub struct Json;

/// Writes one JSON object per line as results arrive.
pub type JsonWriter = StreamWriter<Json>;

impl JsonWriter {
    /// A writer over a sink.
    pub fn new(out: Sink, ctx: std::sync::Arc<Ctx>) -> JsonWriter {
        StreamWriter::with_format(out, ctx, Json)
    }
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

impl StreamFormat for Json {
    fn line(&self, out: &mut Sink, ctx: &Ctx, r: &PortResult) -> io::Result<()> {
        write!(
            out,
            "{{\"ip\":\"{}\",\"port\":{},\"proto\":\"{}\",\"state\":\"{}\",\"reason\":\"{}\",\"ttl\":{},\"ts\":{}",
            r.ip,
            r.port,
            r.protocol.as_str(),
            r.state.as_str(),
            r.reason.as_str(),
            r.ttl,
            epoch_secs(r.timestamp)
        )?;
        if let Some(name) = ctx.services.name(r.service()) {
            write!(out, ",\"service\":{}", quote(name))?;
        }
        if let Some(rule) = ctx.policy_breach(r) {
            write!(out, ",\"policy\":\"violation\",\"rule\":{}", quote(rule))?;
        }
        writeln!(out, "}}")
    }

    fn trailer(&self, out: &mut Sink, info: &ScanInfo, s: &ScanSummary) -> io::Result<()> {
        writeln!(
            out,
            "{{\"type\":\"summary\",\"start\":{},\"end\":{},\"elapsed\":{:.3},\"hosts\":{},\"probes\":{},\"packets_sent\":{},\"replies\":{},\"replies_only_on_retry\":{},\"capture_drops\":{},\"rate_pps\":{},\"rate_signal\":{},\"lower_rate_advised\":{},\"interrupted\":{}}}",
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
                .settled_pps
                .or(s.stats.rate_pps)
                .map_or_else(|| "null".to_string(), |p| p.to_string()),
            s.stats
                .rate_signal
                .map_or_else(|| "null".to_string(), |r| quote(r.as_str())),
            s.losing_probes(),
            s.interrupted
        )
    }

    fn version_line(
        &self,
        out: &mut Sink,
        ip: std::net::IpAddr,
        protocol: crate::model::Protocol,
        port: u16,
        v: &super::versions::PortVersion,
    ) -> io::Result<()> {
        // A "type" line: readers of results skip it, as they skip the summary.
        let sep = if v.json.is_empty() { "" } else { "," };
        writeln!(
            out,
            "{{\"type\":\"service\",\"ip\":\"{ip}\",\"port\":{port},\"proto\":\"{}\"{sep}{}}}",
            protocol.as_str(),
            v.json
        )
    }

    fn takes_extra_json(&self) -> bool {
        true
    }
}
