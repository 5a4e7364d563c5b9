//! `synscan local` flags (syntax only) and the request they make.

use crate::error::ScanError;
use clap::Parser;
use std::ops::RangeInclusive;

/// This host's own ports: who listens, what is exposed, which ports are free.
#[derive(Parser, Debug, Default)]
#[command(
    name = "synscan local",
    about = "This host's listening sockets (TCP and UDP, IPv4 and IPv6), who holds a port, free ports, and exposure against a scan of this host. Sends no packet; needs no privilege.",
    after_help = "Exit codes: 0 done, 1 --port found nothing listening (or --free found too few), 2 bad usage, 4 runtime error.\nShort forms: -oN FILE (table), -oJ FILE (NDJSON); '-' is stdout."
)]
pub struct LocalArgs {
    /// Who holds port N (TCP and UDP, both families); exit 1 when nothing listens on it.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Print COUNT ports nothing listens on or is bound to, checked by binding them.
    #[arg(long, value_name = "COUNT")]
    pub free: Option<u32>,
    /// Where --free looks (default: 1024-65535 outside the kernel's ephemeral range and
    /// reserved ports).
    #[arg(long, value_name = "A-B")]
    pub range: Option<String>,
    /// Join the listening sockets with a scan of this host made from elsewhere (any
    /// result file synscan or nmap wrote: -oJ, -oL, CSV, -oG, -oX).
    #[arg(long, value_name = "RESULTS")]
    pub compare: Option<String>,
    /// TCP only (listing), or TCP ports (--free, the default).
    #[arg(long)]
    pub tcp: bool,
    /// UDP only (listing), or UDP ports (--free).
    #[arg(long)]
    pub udp: bool,
    /// IPv4 sockets only (IPv6 wildcards that also take IPv4 included).
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,
    /// IPv6 sockets only.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Read /proc/net/{tcp,udp}[6] instead of the sock_diag netlink interface.
    #[arg(long)]
    pub proc: bool,
    /// Table output to FILE [-oN] (the default, on stdout).
    #[arg(long = "output-normal", value_name = "FILE")]
    pub output_normal: Option<String>,
    /// NDJSON output to FILE [-oJ].
    #[arg(long = "output-json", value_name = "FILE")]
    pub output_json: Option<String>,
    /// Another format for --output-filename: csv.
    #[arg(long = "output-format", value_name = "FORMAT")]
    pub output_format: Option<String>,
    /// File for --output-format.
    #[arg(long = "output-filename", value_name = "FILE")]
    pub output_filename: Option<String>,
}

/// What `synscan local ...` asks for.
#[derive(Debug)]
pub enum Parsed {
    /// Run with these flags.
    Run(LocalArgs),
    /// Print this help or version text.
    Print(String),
}

/// Parses `synscan local ...` (argv[0] is the program, argv[1] "local").
pub fn parse(argv: &[String]) -> Result<Parsed, ScanError> {
    let mut args = vec!["synscan local".to_string()];
    args.extend(rewrite(argv.iter().skip(2).cloned()));
    match LocalArgs::try_parse_from(args) {
        Ok(a) => {
            a.validate()?;
            Ok(Parsed::Run(a))
        }
        Err(e) => crate::error::clap_failure(e, "synscan local --help").map(Parsed::Print),
    }
}

/// nmap-style output flags `synscan local` takes, and their long forms.
const SHORT_OUTPUTS: [(&str, &str); 2] = [("-oN", "--output-normal"), ("-oJ", "--output-json")];

/// Long flags whose value is the next argument (never rewritten, even if it looks like -oJ).
const VALUE_FLAGS: [&str; 8] = [
    "--port",
    "--free",
    "--range",
    "--compare",
    "--output-normal",
    "--output-json",
    "--output-format",
    "--output-filename",
];

/// Turns `-oJ FILE`, `-oJFILE` and `-oJ=FILE` (and -oN) into long flags clap parses; our
/// own rewrite, independent of the scan's flags.
fn rewrite(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut value_next = false;
    for arg in args {
        if value_next {
            value_next = false;
            out.push(arg);
            continue;
        }
        let mut rewritten = arg.clone();
        for (short, long) in SHORT_OUTPUTS {
            if arg == short {
                rewritten = long.to_string();
            } else if let Some(rest) = arg.strip_prefix(short) {
                rewritten = format!("{long}={}", rest.strip_prefix('=').unwrap_or(rest));
            }
        }
        value_next = VALUE_FLAGS.contains(&rewritten.as_str());
        out.push(rewritten);
    }
    out
}

impl LocalArgs {
    /// Checks combinations clap cannot express.
    fn validate(&self) -> Result<(), ScanError> {
        let modes = [
            self.port.is_some(),
            self.free.is_some(),
            self.compare.is_some(),
        ];
        if modes.iter().filter(|&&m| m).count() > 1 {
            return Err(ScanError::usage(
                "--port, --free and --compare are separate questions: give one at a time",
            ));
        }
        if self.range.is_some() && self.free.is_none() {
            return Err(ScanError::usage("--range only applies to --free"));
        }
        if self.port == Some(0) {
            return Err(ScanError::usage(
                "--port 0 names no port: give a port from 1 to 65535",
            ));
        }
        if self.free == Some(0) {
            return Err(ScanError::usage("--free needs a COUNT of at least 1"));
        }
        if self.free.is_some() && self.tcp && self.udp {
            return Err(ScanError::usage(
                "--free checks TCP or UDP ports: give --tcp or --udp, not both",
            ));
        }
        if let Some(r) = &self.range {
            parse_range(r)?;
        }
        match (&self.output_format, &self.output_filename) {
            (Some(f), Some(_)) if f.eq_ignore_ascii_case("csv") => Ok(()),
            (Some(f), _) if !f.eq_ignore_ascii_case("csv") => Err(ScanError::usage(format!(
                "--output-format {f}: synscan local writes csv there (use -oJ for NDJSON, -oN for the table)"
            ))),
            (None, None) => Ok(()),
            _ => Err(ScanError::usage(
                "--output-format and --output-filename go together",
            )),
        }
    }
}

/// Parses "A-B" (or one port) into a port range of ports >= 1.
pub fn parse_range(text: &str) -> Result<RangeInclusive<u16>, ScanError> {
    let bad = || {
        ScanError::usage(format!(
            "--range {text}: expected A-B with 1 <= A <= B <= 65535, e.g. 20000-20999"
        ))
    };
    let (a, b) = match text.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (text.trim(), text.trim()),
    };
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok(a..=b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Parsed, ScanError> {
        let mut a = vec!["synscan".to_string(), "local".to_string()];
        a.extend(v.iter().map(|s| s.to_string()));
        parse(&a)
    }

    #[test]
    fn flags() {
        let Ok(Parsed::Run(a)) = p(&["--port", "22", "-oJ", "-"]) else {
            panic!("parses")
        };
        assert_eq!(a.port, Some(22));
        assert_eq!(a.output_json.as_deref(), Some("-"));
        let Ok(Parsed::Run(a)) = p(&["--free", "3", "--range", "20000-20010", "--udp"]) else {
            panic!("parses")
        };
        assert_eq!((a.free, a.udp), (Some(3), true));
        assert!(matches!(p(&["--help"]), Ok(Parsed::Print(t)) if t.contains("--compare")));
    }

    #[test]
    fn short_output_flags() {
        let v = |a: &[&str]| rewrite(a.iter().map(|s| s.to_string()));
        assert_eq!(v(&["-oJ", "-"]), vec!["--output-json", "-"]);
        assert_eq!(
            v(&["-oNt.txt", "-oJ=x"]),
            vec!["--output-normal=t.txt", "--output-json=x"]
        );
        assert_eq!(v(&["--compare", "-oJ"]), vec!["--compare", "-oJ"]);
        assert_eq!(
            v(&["--port", "22", "-oJ", "-oJ"]),
            vec!["--port", "22", "--output-json", "-oJ"]
        );
    }

    #[test]
    fn bad_usage() {
        for bad in [
            &["--port", "70000"][..],
            &["--port", "1", "--free", "2"],
            &["--range", "1-2"],
            &["--free", "0"],
            &["--free", "1", "--range", "9-8"],
            &["--free", "1", "--range", "0-8"],
            &["--output-format", "xml", "--output-filename", "x"],
            &["--output-filename", "x"],
            &["--bogus"],
        ] {
            assert!(
                matches!(p(bad), Err(e) if e.kind() == crate::error::ErrorKind::Usage),
                "{bad:?}"
            );
        }
        assert_eq!(parse_range("5").unwrap(), 5..=5);
    }
}
