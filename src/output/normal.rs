//! nmap "normal" text (-oN, and stdout): a report per host, written at finish.

use super::hosts::{HostReport, HostView};
use super::versions::Versions;
use super::{
    ctime, end_time, hosts_phrase, reason_text, short_date, Ctx, ResultWriter, ScanInfo,
    ScanSummary, Sink, VERSION,
};
use crate::model::{PortResult, PortState};
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

    fn host(&mut self, h: &HostView, versions: &Versions) -> io::Result<()> {
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
            self.port_table(h, versions)?;
        }
        writeln!(self.out)
    }
}

impl NormalWriter {
    /// The port table: PORT STATE SERVICE [REASON] [VERSION] as nmap lays it out (every
    /// column but the last padded to its widest cell), each port's script output under
    /// its row, and the host's "Service Info:" line after the table.
    fn port_table(&mut self, h: &HostView, versions: &Versions) -> io::Result<()> {
        let reason = self.ctx.opts.reason;
        let with_versions = !versions.is_empty();
        let mut heads = vec!["PORT", "STATE", "SERVICE"];
        if reason {
            heads.push("REASON");
        }
        if with_versions {
            heads.push("VERSION");
        }
        let rows: Vec<Vec<String>> = h
            .ports
            .iter()
            .map(|l| {
                let table = self.ctx.services.name(l.service());
                let v = versions.get(h.ip, l.protocol, l.port);
                let mut row = vec![
                    l.service().to_string(),
                    l.state.as_str().to_string(),
                    match v {
                        Some(v) => v.service_column(table),
                        None => table.unwrap_or("unknown").to_string(),
                    },
                ];
                if reason {
                    row.push(reason_text(l.reason, l.ttl));
                }
                if with_versions {
                    row.push(v.map(|v| v.version_column()).unwrap_or_default());
                }
                row
            })
            .collect();
        let widths: Vec<usize> = (0..heads.len())
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].len())
                    .max()
                    .unwrap_or(0)
                    .max(heads[c].len())
                    + 1
            })
            .collect();
        let line = |cells: &[&str]| {
            let mut s = String::new();
            for (c, cell) in cells.iter().enumerate() {
                if c + 1 == cells.len() {
                    s.push_str(cell);
                } else {
                    s.push_str(&format!("{cell:<w$}", w = widths[c]));
                }
            }
            // An empty last cell (no version) leaves no trailing blanks, as in nmap.
            s.trim_end().to_string()
        };
        writeln!(self.out, "{}", line(&heads))?;
        for (l, r) in h.ports.iter().zip(&rows) {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            writeln!(self.out, "{}", line(&cells))?;
            if let Some(v) = versions.get(h.ip, l.protocol, l.port) {
                for script in &v.scripts {
                    write_script(&mut self.out, script)?;
                }
            }
        }
        let open: Vec<_> = h
            .ports
            .iter()
            .filter(|l| l.state == PortState::Open)
            .map(|l| (l.protocol, l.port))
            .collect();
        if let Some(info) = versions.service_info(h.ip, &open) {
            writeln!(self.out, "{info}")?;
        }
        Ok(())
    }
}

/// A script's output under its port, as nmap prints it: `| id: first line`, `| line`, and
/// `|_` on the last line (one line: `|_id: line`).
fn write_script(out: &mut Sink, script: &super::versions::Script) -> io::Result<()> {
    let lines: Vec<&str> = script.output.split('\n').collect();
    for (i, text) in lines.iter().enumerate() {
        let bar = if i + 1 == lines.len() { "|_" } else { "| " };
        if i == 0 {
            writeln!(out, "{bar}{}: {text}", script.id)?;
        } else {
            writeln!(out, "{bar}{text}")?;
        }
    }
    Ok(())
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
            self.host(h, &hosts.versions)?;
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
