//! The command-line syntax (clap). Values stay strings here: `config` validates them so each
//! bad value gets its own one-line message. The help, the man page and the shell completions
//! are all generated from these definitions, grouped under nmap-like headings.

use clap::{ArgAction, Parser};
use serde::{Deserialize, Serialize};

const TARGETS: &str = "TARGET SPECIFICATION";
const PORTS: &str = "PORTS";
const TECHNIQUE: &str = "SCAN TECHNIQUE AND ORDER";
const TIMING: &str = "TIMING AND PERFORMANCE";
const NETWORK: &str = "NETWORK";
const OUTPUT: &str = "OUTPUT";
const NMAP: &str = "NMAP HAND-OFF";
const SERVICE: &str = "SERVICE AND VERSION DETECTION";
const PRIVILEGES: &str = "PRIVILEGES";
const MISC: &str = "MISC";
const WATCH: &str = "WATCHING A SURFACE";

/// Text after the flags in --help and in the man page: the parts the README also states.
pub const AFTER_HELP: &str = "\
nmap-style short forms are accepted: -oN/-oG/-oX/-oJ/-oL/-oA FILE, -iL FILE, -p-, -sS, -sT, -Pn.

EXAMPLES:
  synscan 198.19.0.0/16 -p 22,80,443 --rate 100000 -oJ results.json
  synscan -iL targets.txt --exclude 198.19.3.0/24 --top-ports 100 -oL open.txt
  synscan 198.19.0.0/16 -p 80 --seed 42 --shard 2/4     (part 2 of 4, same seed on every part)
  synscan 198.19.0.0/24 -p 80 --connect                 (no privileges needed)
  synscan --resume synscan.resume                       (finish a scan stopped with Ctrl-C)

SUBCOMMANDS (each has its own --help):
  synscan local [--port N | --free COUNT | --compare RESULTS]   this host's own listening sockets
  synscan diff OLD NEW          what opened or closed between two result files (any format)
  synscan check RESULTS --policy FILE   apply an exposure policy to a result file
  synscan merge FILES... -oX FILE       one report from the shards of a scan or several runs

CAPABILITIES:
  A SYN scan needs CAP_NET_RAW, not root: `sudo setcap cap_net_raw+ep $(command -v synscan)`
  (see capabilities/ in the sources). Once its sockets and files are open synscan drops every
  capability; started as root it also runs as --user (default: the system user synscan when it
  exists, else nobody), which must not be uid 0.
  --connect needs no privilege.

EXIT CODES:
  0 scan done; 1 scan done and a check failed; 2 bad usage or input; 3 missing privilege;
  4 runtime or network error (including a failed write of an output); 130 interrupted
  (results so far written, resume file saved).";

/// synscan's flags; names follow nmap and masscan where those agree. A resume file saves
/// them (serde) and reads them back into the same validation; the flags that are no scan
/// option are never saved, and a file that names them is refused.
#[derive(Parser, Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[command(
    name = "synscan",
    version,
    about = "Raw-packet TCP SYN (half-open) port scanner",
    long_about = "Raw-packet TCP SYN (half-open) port scanner for Linux: probes go out in a keyed \
                  random order, replies are matched by a cookie in the sequence number, and \
                  ports are open, closed or filtered as nmap defines them.",
    after_help = AFTER_HELP,
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Args {
    /// Targets: IPv4 and IPv6 addresses, CIDR blocks and prefixes, ranges (10.0.0.1-9,
    /// 2001:2::1-ff), nmap octet ranges, hostnames.
    #[arg(value_name = "TARGET", help_heading = TARGETS)]
    pub targets: Vec<String>,
    /// Read targets from FILE ("-" for stdin; whitespace separated, # comments) [-iL].
    #[arg(long = "input-list", value_name = "FILE", help_heading = TARGETS)]
    pub input_list: Vec<String>,
    /// Exclude targets (comma-separated list).
    #[arg(long, value_name = "LIST", help_heading = TARGETS)]
    pub exclude: Vec<String>,
    /// Exclude the targets listed in FILE.
    #[arg(long, value_name = "FILE", help_heading = TARGETS)]
    pub excludefile: Vec<String>,
    /// Allow multicast, broadcast, 0.0.0.0/8, unspecified (::), IPv4-mapped and documentation
    /// targets.
    #[arg(long = "allow-reserved", help_heading = TARGETS)]
    pub allow_reserved: bool,
    /// Allow more than 2^24 addresses (an IPv4 /8, an IPv6 /104; counted after excludes).
    #[arg(long = "allow-large", help_heading = TARGETS)]
    pub allow_large: bool,
    /// Scan hostnames' IPv6 addresses (AAAA) when they have any, else their IPv4 ones.
    #[arg(short = '6', long = "ipv6", help_heading = TARGETS)]
    pub ipv6: bool,

    /// Ports: 22,80,8000-8100; -p- for all [default: --top-ports 100].
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "PORTS",
        allow_hyphen_values = true,
        help_heading = PORTS
    )]
    pub ports: Option<String>,
    /// Scan the N most commonly exposed ports [default: 100].
    #[arg(
        long = "top-ports",
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = PORTS
    )]
    pub top_ports: Option<String>,

    /// Scan with the kernel's connect(): no privileges needed [-sT].
    #[arg(long, help_heading = TECHNIQUE)]
    pub connect: bool,
    /// SYN scan, the default [-sS].
    #[arg(long, hide = true)]
    pub syn: bool,
    /// Scan type by nmap's name: syn (default), connect, ack, fin, null or xmas
    /// [-sS, -sT, -sA, -sF, -sN, -sX].
    #[arg(long = "scan-type", value_name = "TYPE", help_heading = TECHNIQUE)]
    pub scan_type: Option<String>,
    /// Accepted for nmap habits: synscan never pings first [-Pn].
    #[arg(long = "no-ping", hide = true)]
    pub no_ping: bool,
    /// Accepted for nmap habits: synscan does no reverse DNS.
    #[arg(short = 'n', hide = true)]
    pub no_dns: bool,
    /// Print the probes ("ip port" a line) in send order; send nothing.
    #[arg(long = "dry-run", help_heading = TECHNIQUE)]
    pub dry_run: bool,
    /// Seed of the probe order and cookies (random and printed when absent).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = TECHNIQUE
    )]
    pub seed: Option<String>,
    /// Scan part i of n; needs the same --seed on every part.
    #[arg(long, value_name = "i/n", help_heading = TECHNIQUE)]
    pub shard: Option<String>,
    /// Finish an interrupted scan from its resume file (give no other arguments).
    #[arg(long, value_name = "FILE", help_heading = TECHNIQUE)]
    #[serde(skip)]
    pub resume: Option<String>,
    /// Where an interrupted scan writes its resume file [default: synscan.resume].
    #[arg(long = "resume-file", value_name = "FILE", help_heading = TECHNIQUE)]
    #[serde(skip)]
    pub resume_file: Option<String>,

    /// Packets per second: N (1 to 100000000; 10k, 1.5M) or max (as fast as the send path goes);
    /// auto is the default [default: auto: starts at 10000, doubles every round trip while
    /// answers keep up, backs off on congestion, holds when too few probes are answered].
    #[arg(
        long,
        value_name = "PPS",
        allow_negative_numbers = true,
        help_heading = TIMING
    )]
    pub rate: Option<String>,
    /// Lowest rate the adaptive default may fall to [default: 1000].
    #[arg(
        long = "min-rate",
        value_name = "PPS",
        allow_negative_numbers = true,
        help_heading = TIMING
    )]
    pub min_rate: Option<String>,
    /// Highest rate the adaptive default may grow to [default: 10000000].
    #[arg(
        long = "max-rate",
        value_name = "PPS",
        allow_negative_numbers = true,
        help_heading = TIMING
    )]
    pub max_rate: Option<String>,
    /// Retransmissions of an unanswered probe, 0 to 20 [default: adaptive, 1 growing to 10 as
    /// loss is measured].
    #[arg(
        long,
        alias = "max-retries",
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = TIMING
    )]
    pub retries: Option<String>,
    /// Listen at most SECS after the last probe was sent (0 to 86400; 250ms also works)
    /// [default: until the last retry times out].
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        help_heading = TIMING
    )]
    pub wait: Option<String>,

    /// Interface to send on [default: the route's].
    #[arg(short = 'e', long = "interface", value_name = "IFACE", help_heading = NETWORK)]
    pub interface: Option<String>,
    /// Source address of the probes [default: the route's]; once per family in a scan of
    /// IPv4 and IPv6 targets.
    #[arg(long = "source-ip", value_name = "IP", help_heading = NETWORK)]
    #[serde(default, deserialize_with = "one_or_many")]
    pub source_ip: Vec<String>,
    /// Source port (N) or range (A-B) of the probes.
    #[arg(
        long = "source-port",
        value_name = "PORT",
        allow_negative_numbers = true,
        help_heading = NETWORK
    )]
    pub source_port: Option<String>,
    /// MAC address of the next hop (skips neighbour lookup).
    #[arg(long = "router-mac", value_name = "MAC", help_heading = NETWORK)]
    pub router_mac: Option<String>,
    /// Socket that sends probes: packet (AF_PACKET) or raw (raw IP socket).
    #[arg(long = "send-path", value_name = "PATH", help_heading = NETWORK)]
    pub send_path: Option<String>,
    /// Kernel buffer for captured replies not yet read, e.g. 8M (default), 64M; raise it
    /// when the scan reports capture drops.
    #[arg(long = "capture-buffer", value_name = "SIZE", help_heading = NETWORK)]
    pub capture_buffer: Option<String>,
    /// Print the firewall rules that stop this machine's kernel from resetting the
    /// connections the scan's replies belong to, then exit.
    #[arg(long = "firewall-rule", help_heading = NETWORK)]
    #[serde(skip)]
    pub firewall_rule: bool,

    /// nmap normal output to FILE [-oN].
    #[arg(long = "output-normal", value_name = "FILE", help_heading = OUTPUT)]
    pub output_normal: Vec<String>,
    /// nmap grepable output to FILE [-oG].
    #[arg(long = "output-grepable", value_name = "FILE", help_heading = OUTPUT)]
    pub output_grepable: Vec<String>,
    /// nmap XML output to FILE [-oX].
    #[arg(long = "output-xml", value_name = "FILE", help_heading = OUTPUT)]
    pub output_xml: Vec<String>,
    /// NDJSON output to FILE [-oJ].
    #[arg(long = "output-json", value_name = "FILE", help_heading = OUTPUT)]
    pub output_json: Vec<String>,
    /// masscan list output to FILE [-oL].
    #[arg(long = "output-list", value_name = "FILE", help_heading = OUTPUT)]
    pub output_list: Vec<String>,
    /// Normal, grepable and XML to BASE.nmap, BASE.gnmap, BASE.xml [-oA].
    #[arg(long = "output-all", value_name = "BASE", help_heading = OUTPUT)]
    pub output_all: Vec<String>,
    /// Format for --output-filename: normal, grepable, xml, json, list, csv.
    #[arg(long = "output-format", value_name = "FMT", help_heading = OUTPUT)]
    pub output_format: Option<String>,
    /// File for --output-format ("-" for stdout, the default).
    #[arg(long = "output-filename", value_name = "FILE", help_heading = OUTPUT)]
    pub output_filename: Option<String>,
    /// Show only open ports.
    #[arg(long, help_heading = OUTPUT)]
    pub open: bool,
    /// Show why each port has its state.
    #[arg(long, help_heading = OUTPUT)]
    pub reason: bool,
    /// Also show these states in machine outputs: closed,filtered.
    #[arg(long, value_name = "STATES", help_heading = OUTPUT)]
    pub show: Vec<String>,
    /// Verbose: print each open port as it is found.
    #[arg(short = 'v', action = ArgAction::Count, help_heading = OUTPUT)]
    pub verbose: u8,
    /// Print a status line on stderr every SECS (above 0; also when stderr is not a terminal).
    #[arg(long = "stats-every", value_name = "SECS", help_heading = OUTPUT)]
    pub stats_every: Option<String>,
    /// Read service names from this nmap-services file.
    #[arg(long = "services-file", value_name = "FILE", help_heading = OUTPUT)]
    pub services_file: Option<String>,

    /// After the scan, run nmap with ARGS on the open ports found (e.g. "-sV -oX svc.xml").
    /// synscan gives nmap the hosts and ports; ARGS hold only options from the hand-off's
    /// list: -sV, -sC, -sS, -sT, --version-*, --script, --script-args, -O, -A,
    /// --traceroute, -T0..5 and the timing options, -Pn, -n, -R, -v, -d, --reason, --open,
    /// --packet-trace, -oN/-oX/-oG/-oS/-oA FILE, -e IFACE, --privileged (the README lists
    /// them all). Started as root, nmap runs as root in the invoking directory. Started as
    /// a user with CAP_NET_RAW, nmap runs as that user without capabilities: -sV, scripts
    /// and -oX work, -O and -sS need root.
    #[arg(
        long,
        value_name = "ARGS",
        allow_hyphen_values = true,
        help_heading = NMAP
    )]
    pub nmap: Option<String>,

    /// Identify the services behind the open TCP ports as they are found (nmap's probe
    /// database when nmap is installed, else a built-in table): product and version, TLS
    /// certificate, HTTP title [-sV].
    #[arg(long = "service-version", help_heading = SERVICE)]
    pub service_version: bool,
    /// How many of nmap's probes to try, 0 (the likeliest) to 9 (all) [default: 7].
    #[arg(long = "version-intensity", value_name = "0-9", help_heading = SERVICE)]
    pub version_intensity: Option<String>,
    /// --version-intensity 2.
    #[arg(long = "version-light", help_heading = SERVICE)]
    pub version_light: bool,
    /// --version-intensity 9.
    #[arg(long = "version-all", help_heading = SERVICE)]
    pub version_all: bool,
    /// Most connections -sV keeps open at once [default: 512; the open-file limit caps it].
    #[arg(long = "max-connections", value_name = "N", help_heading = SERVICE)]
    pub max_connections: Option<String>,

    /// When started as root, run as this user once the sockets are open (not uid 0; refused
    /// when not started as root) [default: the system user synscan when it exists, else
    /// nobody].
    #[arg(long, value_name = "USER", help_heading = PRIVILEGES)]
    pub user: Option<String>,

    // Watching a surface (src/watch): checks run on the scan's own results.
    /// Compare the results with an earlier result file; exit 1 when a port opened or
    /// stopped being open.
    #[arg(long, value_name = "FILE", help_heading = WATCH)]
    pub baseline: Option<String>,
    /// Check open ports against an exposure policy (TOML); exit 1 on a violation.
    #[arg(long, value_name = "FILE", help_heading = WATCH)]
    pub policy: Option<String>,
    /// Exit 0 only when every scanned port has this state (open, closed or filtered), else 1.
    #[arg(long, value_name = "STATE", help_heading = WATCH)]
    pub expect: Option<String>,
    /// Write Prometheus metrics of the scan to PATH (atomically; node_exporter textfile).
    #[arg(long = "metrics-file", value_name = "PATH", help_heading = WATCH)]
    pub metrics_file: Option<String>,

    /// Print help (-h: a summary, --help: everything).
    #[arg(short = 'h', long, action = ArgAction::Help, help_heading = MISC)]
    #[serde(skip)]
    pub help: Option<bool>,
    /// Print the version.
    #[arg(short = 'V', long, action = ArgAction::Version, help_heading = MISC)]
    #[serde(skip)]
    pub version: Option<bool>,
    /// Print a man page (man) or shell completions (bash, zsh, fish, elvish) and exit.
    #[arg(long, value_name = "WHAT", hide = true)]
    #[serde(skip)]
    pub generate: Option<String>,
}

/// A list saved as a list, or as one string (resume files from before --source-ip could be
/// given once per family).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// The clap command behind the help, the man page and the completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
