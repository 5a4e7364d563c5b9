//! nmap XML (-oX), valid against nmap.dtd apart from scanner="synscan"; hosts written at finish.
//!
//! Layout follows nmap 7.9x: the stylesheet processing instruction and the "scan initiated"
//! comment, `<scaninfo>`, then one `<host>` per address that replied, holding all its listed
//! ports and `<extraports>`/`<extrareasons>` counts for the rest (states with more ports
//! first), then `<runstats>`. Not written: `<times>` and `extrareasons ports="..."` (both
//! optional in the DTD; the port lists would need every hidden port kept per host).

use super::hosts::HostReport;
use super::versions::{Method, PortVersion};
use super::{
    ctime, end_time, epoch_secs, hosts_phrase, Ctx, ResultWriter, ScanInfo, ScanSummary, Sink,
    VERSION,
};
use crate::model::{PortResult, PortState};
use std::io::{self, Write};
use std::sync::Arc;

/// Writes nmap's XML format.
pub struct XmlWriter {
    out: Sink,
    ctx: Arc<Ctx>,
}

impl XmlWriter {
    /// A writer over a sink.
    pub fn new(out: Sink, ctx: Arc<Ctx>) -> XmlWriter {
        XmlWriter { out, ctx }
    }
}

/// Escapes text for an attribute value; drops characters XML 1.0 forbids.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' => o.push_str("&#9;"),
            '\n' => o.push_str("&#10;"),
            '\r' => o.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => o.push(c),
        }
    }
    o
}

/// Text for an XML comment: escaped like an attribute, and no "--" (illegal in comments),
/// written as nmap does ("-&#45;").
pub fn comment_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let mut prev_dash = false;
    for c in escape(s).chars() {
        if c == '-' && prev_dash {
            o.push_str("&#45;");
            prev_dash = false;
        } else {
            o.push(c);
            prev_dash = c == '-';
        }
    }
    o
}

/// A port's `<service>` as nmap -sV writes it: name, the version fields present,
/// tunnel, method and conf, then its `<cpe>` elements.
fn write_service(out: &mut Sink, v: &PortVersion, table: Option<&str>) -> io::Result<()> {
    let name = v.name.as_deref().or(table).unwrap_or("unknown");
    write!(out, "<service name=\"{}\"", escape(name))?;
    for (key, value) in [
        ("product", &v.product),
        ("version", &v.version),
        ("extrainfo", &v.extrainfo),
        ("hostname", &v.hostname),
        ("ostype", &v.ostype),
        ("devicetype", &v.devicetype),
        ("tunnel", &v.tunnel),
    ] {
        if let Some(value) = value {
            write!(out, " {key}=\"{}\"", escape(value))?;
        }
    }
    let conf = match v.method() {
        Method::Table => 3,
        Method::Probed => v.conf,
    };
    write!(out, " method=\"{}\" conf=\"{conf}\"", v.method().as_str())?;
    if v.cpe.is_empty() {
        return write!(out, "/>");
    }
    write!(out, ">")?;
    for c in &v.cpe {
        write!(out, "<cpe>{}</cpe>", escape(c))?;
    }
    write!(out, "</service>")
}

/// Where nmap's Debian package installs the stylesheet nmap's own XML points to.
pub const STYLESHEET: &str = "file:///usr/share/nmap/nmap.xsl";

impl ResultWriter for XmlWriter {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        let start = ctime(info.start);
        writeln!(self.out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(self.out, "<!DOCTYPE nmaprun>")?;
        writeln!(
            self.out,
            "<?xml-stylesheet href=\"{STYLESHEET}\" type=\"text/xsl\"?>"
        )?;
        writeln!(
            self.out,
            "<!-- synscan {VERSION} scan initiated {start} as: {} -->",
            comment_text(&info.command_line)
        )?;
        if let Some(src) = self.ctx.services.source() {
            writeln!(
                self.out,
                "<!-- service names from {} -->",
                comment_text(src)
            )?;
        }
        writeln!(
            self.out,
            "<nmaprun scanner=\"synscan\" args=\"{}\" start=\"{}\" startstr=\"{start}\" version=\"{VERSION}\" xmloutputversion=\"1.05\">",
            escape(&info.command_line),
            epoch_secs(info.start)
        )?;
        for scanned in &self.ctx.scanned {
            writeln!(
                self.out,
                "<scaninfo type=\"{}\" protocol=\"{}\" numservices=\"{}\" services=\"{}\"/>",
                scanned.scan_type,
                scanned.protocol.as_str(),
                scanned.ports.count,
                scanned.ports.spec
            )?;
        }
        writeln!(
            self.out,
            "<verbose level=\"{}\"/>",
            u8::from(self.ctx.opts.verbose)
        )?;
        writeln!(self.out, "<debugging level=\"0\"/>")?;
        self.out.flush()
    }

    fn record(&mut self, _r: &PortResult) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, info: &ScanInfo, s: &ScanSummary, hosts: &HostReport) -> io::Result<()> {
        for h in &hosts.hosts {
            writeln!(
                self.out,
                "<host starttime=\"{}\" endtime=\"{}\"><status state=\"up\" reason=\"{}\" reason_ttl=\"{}\"/>",
                h.start,
                h.end,
                h.reason.as_str(),
                h.ttl
            )?;
            let family = if h.ip.is_ipv4() { "ipv4" } else { "ipv6" };
            writeln!(
                self.out,
                "<address addr=\"{}\" addrtype=\"{family}\"/>",
                h.ip
            )?;
            // nmap -n writes an empty hostnames element; parsers expect the element. A name
            // typed on the command line is nmap's type "user".
            writeln!(self.out, "<hostnames>")?;
            if let Some(name) = &h.hostname {
                writeln!(
                    self.out,
                    "<hostname name=\"{}\" type=\"user\"/>",
                    escape(name)
                )?;
            }
            writeln!(self.out, "</hostnames>")?;
            write!(self.out, "<ports>")?;
            let mut i = 0;
            while i < h.hidden.len() {
                let state = h.hidden[i].state;
                let group: Vec<_> = h.hidden[i..]
                    .iter()
                    .take_while(|x| x.state == state)
                    .collect();
                let total: u64 = group.iter().map(|x| x.count).sum();
                writeln!(
                    self.out,
                    "<extraports state=\"{}\" count=\"{total}\">",
                    state.as_str()
                )?;
                for x in &group {
                    writeln!(
                        self.out,
                        "<extrareasons reason=\"{}\" count=\"{}\" proto=\"{}\"/>",
                        x.reason.as_str(),
                        x.count,
                        x.protocol.as_str()
                    )?;
                }
                writeln!(self.out, "</extraports>")?;
                i += group.len();
            }
            for l in &h.ports {
                write!(
                    self.out,
                    "<port protocol=\"{}\" portid=\"{}\"><state state=\"{}\" reason=\"{}\" reason_ttl=\"{}\"/>",
                    l.protocol.as_str(),
                    l.port,
                    l.state.as_str(),
                    l.reason.as_str(),
                    l.ttl
                )?;
                let table = self.ctx.services.name(l.service());
                match hosts.versions.get(h.ip, l.protocol, l.port) {
                    Some(v) => write_service(&mut self.out, v, table)?,
                    None => {
                        if let Some(name) = table {
                            write!(
                                self.out,
                                "<service name=\"{}\" method=\"table\" conf=\"3\"/>",
                                escape(name)
                            )?;
                        }
                    }
                }
                if let Some(v) = hosts.versions.get(h.ip, l.protocol, l.port) {
                    for script in &v.scripts {
                        write!(
                            self.out,
                            "<script id=\"{}\" output=\"{}\">{}</script>",
                            escape(&script.id),
                            escape(&script.output),
                            script.xml
                        )?;
                    }
                }
                // Policy annotations ride in nmap's own element for script output.
                if let Some(rule) = self.ctx.opts.policy.as_deref().and_then(|p| {
                    (l.state == PortState::Open)
                        .then(|| p.judge(h.ip, l.port))
                        .flatten()
                }) {
                    write!(
                        self.out,
                        "<script id=\"synscan-policy\" output=\"violation: breaks {}\"/>",
                        escape(rule)
                    )?;
                }
                writeln!(self.out, "</port>")?;
            }
            writeln!(self.out, "</ports>")?;
            if let Some((limit, rule)) = self.ctx.opts.policy.as_deref().and_then(|p| p.max_open())
            {
                let open = h
                    .ports
                    .iter()
                    .filter(|l| l.state == PortState::Open)
                    .count() as u64;
                if open > limit {
                    writeln!(
                        self.out,
                        "<hostscript><script id=\"synscan-policy\" output=\"violation: {open} open ports, more than {limit}; breaks {}\"/></hostscript>",
                        escape(rule)
                    )?;
                }
            }
            writeln!(self.out, "</host>")?;
        }
        let end = end_time(info, s);
        let endstr = ctime(end);
        let elapsed = format!("{:.2}", s.elapsed.as_secs_f64());
        let summary = format!(
            "synscan done at {endstr}; {} scanned in {elapsed} seconds",
            hosts_phrase(hosts.total, hosts.up)
        );
        let exit = if s.interrupted {
            " exit=\"error\" errormsg=\"scan interrupted; results are partial\""
        } else {
            " exit=\"success\""
        };
        writeln!(
            self.out,
            "<runstats><finished time=\"{}\" timestr=\"{endstr}\" summary=\"{}\" elapsed=\"{elapsed}\"{exit}/><hosts up=\"{}\" down=\"{}\" total=\"{}\"/>",
            epoch_secs(end),
            escape(&summary),
            hosts.up,
            hosts.down(),
            hosts.total
        )?;
        writeln!(self.out, "</runstats>")?;
        writeln!(self.out, "</nmaprun>")?;
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn grouped(&self) -> bool {
        true
    }
}
