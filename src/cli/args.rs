//! The command-line syntax (clap). Values stay strings here: `config` validates them so each
//! bad value gets its own one-line message.

use clap::{ArgAction, Parser};

/// synscan's flags; names follow nmap and masscan where those agree.
#[derive(Parser, Debug, Default)]
#[command(
    name = "synscan",
    version,
    about = "Raw-packet TCP SYN (half-open) port scanner",
    after_help = "nmap-style short forms are accepted: -oN/-oG/-oX/-oJ/-oL/-oA FILE, -iL FILE, -p-, -sS, -sT, -Pn."
)]
pub struct Args {
    /// Targets: addresses, CIDR, a.b.c.d-e.f.g.h ranges, nmap octet ranges, hostnames.
    pub targets: Vec<String>,
    /// Read targets from FILE ("-" for stdin) [-iL].
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Vec<String>,
    /// Exclude targets (comma-separated list).
    #[arg(long, value_name = "LIST")]
    pub exclude: Vec<String>,
    /// Exclude the targets listed in FILE.
    #[arg(long, value_name = "FILE")]
    pub excludefile: Vec<String>,
    /// Ports: 22,80,8000-8100; -p- for all.
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "PORTS",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,
    /// Scan the N most commonly exposed ports (default: 100).
    #[arg(long = "top-ports", value_name = "N", allow_negative_numbers = true)]
    pub top_ports: Option<String>,
    /// Packets per second, or "max".
    #[arg(long, value_name = "PPS", allow_negative_numbers = true)]
    pub rate: Option<String>,
    /// Retransmissions of an unanswered probe (default: 1, up to 10 as loss is measured).
    #[arg(
        long,
        alias = "max-retries",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub retries: Option<String>,
    /// Listen at most SECS after the last probe was sent.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub wait: Option<String>,
    /// Seed of the probe order and cookies (random when absent).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<String>,
    /// Scan part i of n (same --seed on every part).
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Interface to send on.
    #[arg(short = 'e', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,
    /// Source address of the probes.
    #[arg(long = "source-ip", value_name = "IP")]
    pub source_ip: Option<String>,
    /// Source port (N) or range (A-B) of the probes.
    #[arg(
        long = "source-port",
        value_name = "PORT",
        allow_negative_numbers = true
    )]
    pub source_port: Option<String>,
    /// MAC address of the next hop (skips neighbour lookup).
    #[arg(long = "router-mac", value_name = "MAC")]
    pub router_mac: Option<String>,
    /// Show only open ports.
    #[arg(long)]
    pub open: bool,
    /// Show why each port has its state.
    #[arg(long)]
    pub reason: bool,
    /// Also show these states in machine outputs: closed,filtered.
    #[arg(long, value_name = "STATES")]
    pub show: Vec<String>,
    /// nmap normal output to FILE [-oN].
    #[arg(long = "output-normal", value_name = "FILE")]
    pub output_normal: Vec<String>,
    /// nmap grepable output to FILE [-oG].
    #[arg(long = "output-grepable", value_name = "FILE")]
    pub output_grepable: Vec<String>,
    /// nmap XML output to FILE [-oX].
    #[arg(long = "output-xml", value_name = "FILE")]
    pub output_xml: Vec<String>,
    /// NDJSON output to FILE [-oJ].
    #[arg(long = "output-json", value_name = "FILE")]
    pub output_json: Vec<String>,
    /// masscan list output to FILE [-oL].
    #[arg(long = "output-list", value_name = "FILE")]
    pub output_list: Vec<String>,
    /// Normal, grepable and XML to BASE.nmap, BASE.gnmap, BASE.xml [-oA].
    #[arg(long = "output-all", value_name = "BASE")]
    pub output_all: Vec<String>,
    /// Format for --output-filename: normal, grepable, xml, json, list, csv.
    #[arg(long = "output-format", value_name = "FMT")]
    pub output_format: Option<String>,
    /// File for --output-format ("-" for stdout, the default).
    #[arg(long = "output-filename", value_name = "FILE")]
    pub output_filename: Option<String>,
    /// Print the probes ("ip port" a line) in send order; send nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Scan with the kernel's connect() (no privileges needed) [-sT].
    #[arg(long)]
    pub connect: bool,
    /// SYN scan, the default [-sS].
    #[arg(long, hide = true)]
    pub syn: bool,
    /// Accepted for nmap habits: synscan never pings first [-Pn].
    #[arg(long = "no-ping", hide = true)]
    pub no_ping: bool,
    /// Accepted for nmap habits: synscan does no reverse DNS.
    #[arg(short = 'n', hide = true)]
    pub no_dns: bool,
    /// Allow multicast, broadcast and 0.0.0.0/8 targets.
    #[arg(long = "allow-reserved")]
    pub allow_reserved: bool,
    /// Verbose: print each open port as it is found.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Read service names from this nmap-services file.
    #[arg(long = "services-file", value_name = "FILE")]
    pub services_file: Option<String>,
    /// Kernel buffer for captured replies not yet read, e.g. 8M (default), 64M; raise it
    /// when the scan reports capture drops.
    #[arg(long = "capture-buffer", value_name = "SIZE")]
    pub capture_buffer: Option<String>,
    /// Socket that sends probes: packet (AF_PACKET) or raw (raw IP socket).
    #[arg(long = "send-path", value_name = "PATH")]
    pub send_path: Option<String>,
    /// Finish an interrupted scan from its resume file (give no other arguments).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<String>,
    /// Where an interrupted scan writes its resume file (default: synscan.resume).
    #[arg(long = "resume-file", value_name = "FILE")]
    pub resume_file: Option<String>,
    /// When started as root, run as this user once the sockets are open (default: nobody).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Allow a scan of more than a /8 without an exclude list.
    #[arg(long = "allow-large")]
    pub allow_large: bool,
    /// Print a status line on stderr every SECS (also when stderr is not a terminal).
    #[arg(long = "stats-every", value_name = "SECS")]
    pub stats_every: Option<String>,
    /// After the scan, run nmap with ARGS on the open ports found (e.g. "-sV -O").
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub nmap: Option<String>,
    /// Print the firewall rules that stop this machine's kernel from resetting the
    /// connections the scan's replies belong to, then exit.
    #[arg(long = "firewall-rule")]
    pub firewall_rule: bool,
    // Watching a surface (src/watch): checks run on the scan's own results.
    /// Compare the results with an earlier result file; exit 1 when a port opened or stopped being open.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<String>,
    /// Check open ports against an exposure policy (TOML); exit 1 on a violation.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<String>,
    /// Exit 0 only when every scanned port has this state (open, closed or filtered), else 1.
    #[arg(long, value_name = "STATE")]
    pub expect: Option<String>,
    /// Write Prometheus metrics of the scan to PATH (atomically; node_exporter textfile).
    #[arg(long = "metrics-file", value_name = "PATH")]
    pub metrics_file: Option<String>,
}
