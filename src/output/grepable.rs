//! nmap grepable format (-oG): two lines per host, written at finish.

use super::hosts::HostReport;
use super::{
    ctime, end_time, hosts_phrase, Ctx, ResultWriter, ScanInfo, ScanSummary, Sink, VERSION,
};
use crate::model::PortResult;
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
        self.out.flush()
    }

    fn record(&mut self, _r: &PortResult) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, info: &ScanInfo, s: &ScanSummary, hosts: &HostReport) -> io::Result<()> {
        for h in &hosts.hosts {
            writeln!(self.out, "Host: {} ()\tStatus: Up", h.ip)?;
            let ports: Vec<String> = h
                .ports
                .iter()
                .map(|l| {
                    let svc = self
                        .ctx
                        .services
                        .name(l.port)
                        .map(field)
                        .unwrap_or_default();
                    format!("{}/{}/tcp//{}///", l.port, l.state.as_str(), svc)
                })
                .collect();
            write!(self.out, "Host: {} ()\tPorts: {}", h.ip, ports.join(", "))?;
            // nmap names one ignored state, the largest, and none under --open.
            let mut ignored: Option<(&str, u64)> = None;
            for x in &h.hidden {
                let total: u64 = h
                    .hidden
                    .iter()
                    .filter(|y| y.state == x.state)
                    .map(|y| y.count)
                    .sum();
                if ignored.is_none_or(|(_, n)| total > n) {
                    ignored = Some((x.state.as_str(), total));
                }
            }
            match ignored {
                Some((state, n)) if !self.ctx.opts.open_only => {
                    writeln!(self.out, "\tIgnored State: {state} ({n})")?
                }
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
