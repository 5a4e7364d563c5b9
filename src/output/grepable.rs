//! nmap grepable format (-oG): two lines per host, written at finish.

use super::hosts::HostReport;
use super::{
    ctime, end_time, hosts_phrase, Ctx, ResultWriter, ScanInfo, ScanSummary, Sink, VERSION,
};
use crate::model::{PortResult, Protocol};
use std::io::{self, Write};
use std::sync::Arc;

/// Writes nmap's -oG format.
pub struct GrepableWriter {
    out: Sink,
    ctx: Arc<Ctx>,
}

impl GrepableWriter {
    /// A writer over a sink.
    pub fn new(out: Sink, ctx: Arc<Ctx>) -> GrepableWriter {
        GrepableWriter { out, ctx }
    }
}

/// Grepable fields are separated by '/', ',' and tabs; nmap replaces those in names.
fn field(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '/' | ',' | '\t' | '\n') {
                '|'
            } else {
                c
            }
        })
        .collect()
}

impl ResultWriter for GrepableWriter {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        writeln!(
            self.out,
            "# synscan {VERSION} scan initiated {} as: {}",
            ctime(info.start),
            info.command_line
        )?;
        if let Some(src) = self.ctx.services.source() {
            writeln!(self.out, "# Service names from {src}")?;
        }
        if self.ctx.opts.verbose {
            // As nmap -v writes it: every protocol, those not scanned as (0;).
            let of = |protocol: Protocol| {
                let ports = self.ctx.scanned.iter().find(|x| x.protocol == protocol);
                ports.map_or("0;".to_string(), |x| {
                    format!("{};{}", x.ports.count, x.ports.spec)
                })
            };
            writeln!(
                self.out,
                "# Ports scanned: TCP({}) UDP({}) SCTP({}) PROTOCOLS(0;)",
                of(Protocol::Tcp),
                of(Protocol::Udp),
                of(Protocol::Sctp)
            )?;
        }
        self.out.flush()
    }

    fn record(&mut self, _r: &PortResult) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, info: &ScanInfo, s: &ScanSummary, hosts: &HostReport) -> io::Result<()> {
        for h in &hosts.hosts {
            let name = h.hostname.as_deref().map(field).unwrap_or_default();
            writeln!(self.out, "Host: {} ({name})\tStatus: Up", h.ip)?;
            let ports: Vec<String> = h
                .ports
                .iter()
                .map(|l| {
                    let table = self.ctx.services.name(l.service());
                    // With -sV: the SERVICE column's name and the VERSION column's text,
                    // as nmap -sV -oG writes them ("ssl|http", '/' made '|').
                    let (svc, version) = match hosts.versions.get(h.ip, l.protocol, l.port) {
                        Some(v) => (field(&v.service_column(table)), field(&v.version_column())),
                        None => (table.map(field).unwrap_or_default(), String::new()),
                    };
                    format!(
                        "{}/{}/{}//{}//{}/",
                        l.port,
                        l.state.as_str(),
                        l.protocol.as_str(),
                        svc,
                        version
                    )
                })
                .collect();
            write!(
                self.out,
                "Host: {} ({name})\tPorts: {}",
                h.ip,
                ports.join(", ")
            )?;
            // nmap: "Grepable output supports only one ignored state", so the field appears
            // only when exactly one state is hidden (with --open too).
            match h.hidden.first() {
                Some(x) if h.hidden_states() == 1 => writeln!(
                    self.out,
                    "\tIgnored State: {} ({})",
                    x.state.as_str(),
                    h.hidden_total(x.state)
                )?,
                _ => writeln!(self.out)?,
            }
        }
        if hosts.not_kept > 0 {
            writeln!(
                self.out,
                "# Note: {} no-response results of hosts that had not replied yet were not kept (memory bound)",
                hosts.not_kept
            )?;
        }
        writeln!(
            self.out,
            "# synscan done at {} -- {} scanned in {:.2} seconds",
            ctime(end_time(info, s)),
            hosts_phrase(hosts.total, hosts.up),
            s.elapsed.as_secs_f64()
        )?;
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn grouped(&self) -> bool {
        true
    }
}
