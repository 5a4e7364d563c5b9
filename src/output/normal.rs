//! nmap "normal" text (-oN, and stdout): a report per host, written at finish.

use super::hosts::{HostReport, HostView};
use super::{
    ctime, end_time, hosts_phrase, reason_text, short_date, Ctx, ResultWriter, ScanInfo,
    ScanSummary, Sink, VERSION,
};
use crate::model::{PortResult, PortState, Service};
use std::io::{self, Write};
use std::sync::Arc;

/// Writes nmap's normal format; on stdout it uses nmap's interactive header and trailer.
pub struct NormalWriter {
    out: Sink,
    stdout: bool,
    ctx: Arc<Ctx>,
}

impl NormalWriter {
    /// A writer over a sink; `stdout` selects the interactive variant and -v lines.
    pub fn new(out: Sink, stdout: bool, ctx: Arc<Ctx>) -> NormalWriter {
        NormalWriter { out, stdout, ctx }
    }

    fn service(&self, service: Service) -> &str {
        self.ctx.services.name(service).unwrap_or("unknown")
    }

    fn host(&mut self, h: &HostView) -> io::Result<()> {
        let reason = self.ctx.opts.reason;
        // nmap's NameIP(): "name (ip)" for a name the user typed, else the address.
        let name_ip = match &h.hostname {
            Some(n) => format!("{n} ({})", h.ip),
            None => h.ip.to_string(),
        };
        writeln!(self.out, "synscan scan report for {name_ip}")?;
        if reason {
            writeln!(
                self.out,
                "Host is up, received {}.",
                reason_text(h.reason, h.ttl)
            )?;
        } else {
            writeln!(self.out, "Host is up.")?;
        }
        if h.ports.is_empty() {
            writeln!(
                self.out,
                "All {} scanned ports on {name_ip} are in ignored states.",
                h.scanned()
            )?;
        }
        if !h.hidden.is_empty() {
            let parts: Vec<String> = h
                .hidden
                .iter()
                .map(|x| {
                    // nmap pluralises by the state's total, not by this reason's count.
                    format!(
                        "{} {} {} port{} ({})",
                        x.count,
                        x.state.as_str(),
                        x.protocol.as_str(),
                        if h.hidden_total(x.state) == 1 {
                            ""
                        } else {
                            "s"
                        },
                        x.reason.as_str()
                    )
                })
                .collect();
            writeln!(self.out, "Not shown: {}", parts.join(", "))?;
        } else if !h.ports.is_empty() {
            writeln!(self.out)?;
        }
        if !h.ports.is_empty() {
            let rows: Vec<[String; 4]> = h
                .ports
                .iter()
                .map(|l| {
                    [
                        l.service().to_string(),
                        l.state.as_str().to_string(),
                        self.service(l.service()).to_string(),
                        reason_text(l.reason, l.ttl),
                    ]
                })
                .collect();
            let heads = ["PORT", "STATE", "SERVICE", "REASON"];
            let cols = if reason { 4 } else { 3 };
            let width = |c: usize| {
                rows.iter()
                    .map(|r| r[c].len())
                    .max()
                    .unwrap_or(0)
                    .max(heads[c].len())
                    + 1
            };
            let widths: Vec<usize> = (0..cols).map(width).collect();
            let line = |cells: &[&str]| {
                let mut s = String::new();
                for (c, cell) in cells.iter().enumerate().take(cols) {
                    if c + 1 == cols {
                        s.push_str(cell);
                    } else {
                        s.push_str(&format!("{cell:<w$}", w = widths[c]));
                    }
                }
                s
            };
            writeln!(self.out, "{}", line(&heads))?;
            for r in &rows {
                let cells = [r[0].as_str(), r[1].as_str(), r[2].as_str(), r[3].as_str()];
                writeln!(self.out, "{}", line(&cells))?;
            }
        }
        writeln!(self.out)
    }
}

impl ResultWriter for NormalWriter {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        if self.stdout {
            writeln!(
                self.out,
                "Starting synscan {VERSION} at {}",
                short_date(info.start)
            )?;
        } else {
            writeln!(
                self.out,
                "# synscan {VERSION} scan initiated {} as: {}",
                ctime(info.start),
                info.command_line
            )?;
            if let Some(src) = self.ctx.services.source() {
                writeln!(self.out, "# Service names from {src}")?;
            }
        }
        self.out.flush()
    }

    fn record(&mut self, r: &PortResult) -> io::Result<()> {
        if self.stdout && self.ctx.opts.verbose && r.state == PortState::Open {
            writeln!(self.out, "Discovered open port {} on {}", r.service(), r.ip)?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self, info: &ScanInfo, s: &ScanSummary, hosts: &HostReport) -> io::Result<()> {
        for h in &hosts.hosts {
            self.host(h)?;
        }
        if hosts.not_kept > 0 {
            writeln!(
                self.out,
                "Note: {} no-response results of hosts that had not replied yet were not kept (memory bound); filtered ports of hosts that replied late may be missing.",
                hosts.not_kept
            )?;
        }
        if s.interrupted {
            writeln!(
                self.out,
                "Note: the scan was interrupted; results are partial."
            )?;
        }
        let phrase = hosts_phrase(hosts.total, hosts.up);
        let secs = s.elapsed.as_secs_f64();
        if self.stdout {
            writeln!(
                self.out,
                "synscan done: {phrase} scanned in {secs:.2} seconds"
            )?;
        } else {
            writeln!(
                self.out,
                "# synscan done at {} -- {phrase} scanned in {secs:.2} seconds",
                ctime(end_time(info, s))
            )?;
        }
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn grouped(&self) -> bool {
        true
    }
}
