//! Command-line interface of synscan-lab: one subcommand per job.

use clap::{Args, Parser, Subcommand};

/// The default scanned port list: 23 well-known TCP ports.
pub const DEFAULT_PORTS: &str =
    "21,22,23,25,53,80,110,111,135,139,143,443,445,587,993,995,1723,3306,3389,5432,5900,8080,8443";

/// Network-namespace test lab for synscan (198.18.0.0/15 and 2001:2::/48 only).
#[derive(Debug, Parser)]
#[command(name = "synscan-lab", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Raise a lab, print its ground truth as one JSON line, serve until stdin EOF or SIGTERM/SIGINT.
    Serve(Box<ServeArgs>),
    /// Remove everything belonging to lab NAME (best effort, idempotent).
    Down(NameArgs),
    /// Print the target veth's rx_packets counter of lab NAME.
    Counter(NameArgs),
    /// Raise a small lab, run synscan in it, compare with the truth, tear down.
    Demo(DemoArgs),
    /// Inside lab NAME's target namespace, send hostile traffic at its scanner for a while.
    Inject(InjectArgs),
    /// Connect to each "ADDRESS PORT" line of stdin (a plain kernel connect, IPv4 or IPv6)
    /// and print "ADDRESS PORT OUTCOME"; run it in a lab's scanner namespace.
    Connect(ConnectArgs),
    /// Run synscan's follow-up library (service, TLS, HTTP) against ADDRESS:PORT targets and
    /// print one JSON result a line; run it in a lab's scanner namespace.
    Follow(crate::follow::FollowArgs),
    /// (internal) Serve the banner corpus on 198.19.1.x until stdin EOF; run it in a lab's
    /// target namespace.
    #[command(hide = true)]
    Replay(crate::follow::ReplayArgs),
    /// (internal) Serve the hostile servers on 198.19.3.x until stdin EOF; run it in a lab's
    /// target namespace.
    #[command(hide = true)]
    Hostile(crate::follow::HostileArgs),
    /// (internal) Run the real daemons (sshd, nginx, vsftpd, exim, redis, a TLS 1.0 endpoint)
    /// in a lab's target namespace until stdin EOF.
    #[command(hide = true)]
    Services(crate::services::ServicesArgs),
    /// (internal) Read a lab's truth line on stdin and print "ADDRESS PORT STATE REASON" for
    /// every pair of its UDP truth, as nmap -sU writes it (benches/udp.sh scores with it).
    #[command(hide = true)]
    UdpExpect,
    /// (internal) Listen on 0.0.0.0:PORT (and [::]:PORT with --ipv6) for each port until
    /// stdin EOF.
    #[command(hide = true)]
    Listen(ListenArgs),
    /// (internal) Relay frames between two interfaces with delay, loss and duplication
    /// until stdin EOF; run inside a lab's middle namespace.
    #[command(hide = true)]
    Wire(WireRunArgs),
}

/// Options that shape a lab.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Unique name prefix (<= 13 chars of [A-Za-z0-9_-]); default "lab<pid>".
    #[arg(long)]
    pub name: Option<String>,
    /// Seed for the ground-truth choice; random when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Target block: any subnet of 198.19.0.0/16.
    #[arg(long, default_value = "198.19.0.0/16")]
    pub prefix: String,
    /// Scanned port list (comma-separated ports or ranges) the truth is chosen among.
    #[arg(long, default_value = DEFAULT_PORTS)]
    pub ports: String,
    /// Number of random hosts that get open ports.
    #[arg(long, default_value_t = 64)]
    pub open_hosts: usize,
    /// Distinct open ports per open host.
    #[arg(long, default_value_t = 3)]
    pub open_per_host: usize,
    /// Number of random (host, port) pairs silently dropped.
    #[arg(long, default_value_t = 20)]
    pub filtered: usize,
    /// Percentage of incoming TCP SYNs dropped at random (0-100).
    #[arg(long, default_value_t = 0)]
    pub loss: u8,
    /// Number of random (host, port) pairs answered with ICMP unreachable.
    #[arg(long, default_value_t = 0)]
    pub unreachable: usize,
    /// ICMP unreachable kind for those pairs.
    #[arg(long, value_enum, default_value_t = UnreachKind::Host)]
    pub unreach_kind: UnreachKind,
    /// Drop everything (except ARP) at the target veth's ingress: send-only benchmark mode.
    #[arg(long)]
    pub drop_all: bool,
    /// The emulated wire between scanner and target (a third namespace when any is set).
    #[command(flatten)]
    pub wire: WireArgs,
    /// The address families the truth covers.
    #[command(flatten)]
    pub v6: Ipv6Args,
    /// How the target rations its answers beyond the truth.
    #[command(flatten)]
    pub answers: crate::answers::AnswerArgs,
    /// Which probe kinds each address answers (a host discovery lab).
    #[command(flatten)]
    pub discovery: crate::discovery::DiscoveryArgs,
    /// The UDP daemons and truth (a UDP lab).
    #[command(flatten)]
    pub udp: crate::udp::UdpArgs,
}

/// Which families a lab's truth covers, and its IPv6 side (2001:2::/48 only).
///
/// With IPv6 the scanner and target veths also get 2001:2:0:18::1 and ::2 (nodad), the target
/// answers for all of 2001:2:0:19::/64 through a local route, and the truth is drawn from
/// --prefix6 with the same counts as the IPv4 truth (each family gets them in a mixed lab).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct Ipv6Args {
    /// Families of the truth: 4 (IPv4 only), 6 (IPv6 only) or mixed (both).
    #[arg(long, value_enum, default_value_t = Family::V4)]
    pub family: Family,
    /// IPv6 target block: a subnet of 2001:2:0:19::/64 no wider than /96.
    #[arg(long, default_value = "2001:2:0:19::/120")]
    pub prefix6: String,
    /// ICMPv6 destination-unreachable code for the IPv6 unreachable pairs.
    #[arg(long, value_enum, default_value_t = Unreach6Kind::AddrUnreachable)]
    pub unreach6_kind: Unreach6Kind,
}

impl Default for Ipv6Args {
    fn default() -> Ipv6Args {
        Ipv6Args {
            family: Family::V4,
            prefix6: "2001:2:0:19::/120".into(),
            unreach6_kind: Unreach6Kind::AddrUnreachable,
        }
    }
}

/// The address families of a lab's truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// IPv4 only.
    #[value(name = "4")]
    V4,
    /// IPv6 only.
    #[value(name = "6")]
    V6,
    /// IPv4 and IPv6.
    Mixed,
}

impl Family {
    /// Whether the truth has IPv4 pairs.
    pub fn has_v4(self) -> bool {
        self != Family::V6
    }

    /// Whether the lab has an IPv6 side.
    pub fn has_v6(self) -> bool {
        self != Family::V4
    }
}

/// Which ICMPv6 destination-unreachable code answers IPv6 unreachable pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Unreach6Kind {
    /// ICMPv6 type 1 code 0 (no route to destination).
    NoRoute,
    /// ICMPv6 type 1 code 1 (administratively prohibited).
    AdminProhibited,
    /// ICMPv6 type 1 code 3 (address unreachable).
    AddrUnreachable,
    /// ICMPv6 type 1 code 4 (port unreachable).
    PortUnreachable,
    /// ICMPv6 type 1 code 6 (reject route to destination).
    RejectRoute,
}

impl Unreach6Kind {
    /// Every kind, in code order.
    pub const ALL: [Unreach6Kind; 5] = [
        Unreach6Kind::NoRoute,
        Unreach6Kind::AdminProhibited,
        Unreach6Kind::AddrUnreachable,
        Unreach6Kind::PortUnreachable,
        Unreach6Kind::RejectRoute,
    ];

    /// The nft name of the ICMPv6 code (also the `--unreach6-kind` value).
    pub fn nft_name(self) -> &'static str {
        match self {
            Unreach6Kind::NoRoute => "no-route",
            Unreach6Kind::AdminProhibited => "admin-prohibited",
            Unreach6Kind::AddrUnreachable => "addr-unreachable",
            Unreach6Kind::PortUnreachable => "port-unreachable",
            Unreach6Kind::RejectRoute => "reject-route",
        }
    }

    /// The ICMPv6 destination-unreachable code.
    pub fn code(self) -> u8 {
        match self {
            Unreach6Kind::NoRoute => 0,
            Unreach6Kind::AdminProhibited => 1,
            Unreach6Kind::AddrUnreachable => 3,
            Unreach6Kind::PortUnreachable => 4,
            Unreach6Kind::RejectRoute => 6,
        }
    }
}

/// How the emulated wire between the scanner and target namespaces behaves.
///
/// Any non-zero value (or `--wire`) puts a middle namespace between the two, with a relay
/// that holds every frame for DELAY +- JITTER ms and drops, duplicates or reorders a share
/// of the non-ARP frames, in both directions independently.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct WireArgs {
    /// Relay through a middle namespace even when every other wire option is zero.
    #[arg(long)]
    pub wire: bool,
    /// One-way delay of every frame in milliseconds (each direction; RTT is twice this).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay_ms: u64,
    /// Uniform jitter: each frame is held DELAY +- JITTER ms (frames may overtake each other).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub jitter_ms: u64,
    /// Percentage (0-100, fractions allowed) of frames the wire drops, each direction
    /// (ARP is exempt from loss, duplication and reordering: it is only delayed).
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub wire_loss: f64,
    /// Percentage of frames the wire sends twice (the copy gets its own delay draw).
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub duplicate: f64,
    /// Percentage of frames sent at once instead of after the delay, overtaking the others.
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub reorder: f64,
    /// Capacity of the wire in frames per second, each direction (0: unlimited): a link of
    /// this rate with a tail-drop queue of --wire-queue frames in front, like a home router.
    #[arg(long, value_name = "PPS", default_value_t = 0)]
    pub wire_pps: u64,
    /// Frames that may wait for the --wire-pps link, each direction; more are dropped.
    #[arg(long, value_name = "FRAMES", default_value_t = DEFAULT_WIRE_QUEUE)]
    pub wire_queue: u64,
}

/// Frames the finite-capacity wire queues before it drops (a small router buffer).
pub const DEFAULT_WIRE_QUEUE: u64 = 128;

impl Default for WireArgs {
    fn default() -> WireArgs {
        WireArgs {
            wire: false,
            delay_ms: 0,
            jitter_ms: 0,
            wire_loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            wire_pps: 0,
            wire_queue: DEFAULT_WIRE_QUEUE,
        }
    }
}

impl WireArgs {
    /// Whether these options ask for a middle namespace.
    pub fn wanted(&self) -> bool {
        self.wire
            || self.delay_ms > 0
            || self.jitter_ms > 0
            || self.wire_loss > 0.0
            || self.duplicate > 0.0
            || self.reorder > 0.0
            || self.wire_pps > 0
    }
}

/// Options of the internal relay (`synscan-lab wire`).
#[derive(Debug, Clone, Args)]
pub struct WireRunArgs {
    /// One end: the interface facing the scanner.
    #[arg(long)]
    pub left: String,
    /// The other end: the interface facing the target.
    #[arg(long)]
    pub right: String,
    /// The wire's behaviour.
    #[command(flatten)]
    pub shape: WireArgs,
    /// Seed of the loss/delay draws; random when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// File rewritten with the relay's counters as JSON every 100 ms and at exit.
    #[arg(long)]
    pub stats_file: Option<std::path::PathBuf>,
}

/// Which ICMP destination-unreachable code answers unreachable pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnreachKind {
    /// ICMP type 3 code 1 (host-unreachable).
    Host,
    /// ICMP type 3 code 13 (admin-prohibited).
    Admin,
}

impl UnreachKind {
    /// The nft name of the ICMP code.
    pub fn nft_name(self) -> &'static str {
        match self {
            UnreachKind::Host => "host-unreachable",
            UnreachKind::Admin => "admin-prohibited",
        }
    }
}

/// Just a lab name.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The lab's name prefix as given to `serve --name`.
    #[arg(long)]
    pub name: String,
}

/// Options of the demo.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Path of the synscan binary; default: `synscan` next to this executable.
    #[arg(long)]
    pub synscan: Option<String>,
    /// Seed for the ground truth; random when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Unique name prefix; default "demo<pid>".
    #[arg(long)]
    pub name: Option<String>,
    /// Extra arguments passed to synscan after the defaults.
    #[arg(last = true)]
    pub extra: Vec<String>,
}

/// Options of the injector.
#[derive(Debug, Args)]
pub struct InjectArgs {
    /// The lab's name prefix as given to `serve --name` (run me in its target namespace).
    #[arg(long)]
    pub name: String,
    /// The scanned block (where forged replies claim to come from).
    #[arg(long, default_value = "198.19.0.0/16")]
    pub prefix: String,
    /// The scanned ports.
    #[arg(long, default_value = DEFAULT_PORTS)]
    pub ports: String,
    /// Hostile frames per second (duplicates of genuine replies come on top).
    #[arg(long, default_value_t = 3000)]
    pub pps: u64,
    /// How long to inject.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Also stop when stdin reaches EOF.
    #[arg(long)]
    pub stdin: bool,
    /// Delay of the late copies of genuine replies, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub late_ms: u64,
    /// Do not sniff the veth: no near misses of real probes, no duplicates.
    #[arg(long)]
    pub no_sniff: bool,
    /// Seed of the random choices; random when absent.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Options of the internal listener.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Ports to listen on (comma-separated).
    #[arg(long)]
    pub ports: String,
    /// Listen on IPv4 (0.0.0.0).
    #[arg(long)]
    pub ipv4: bool,
    /// Listen on IPv6 ([::], IPv6 only).
    #[arg(long)]
    pub ipv6: bool,
}

/// Options of `connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// How long each connect may take before it counts as "timeout", in milliseconds. Keep
    /// it above the kernel's first SYN retransmission (1 s): an ICMP error that arrives while
    /// connect() still holds its socket is only reported once the retransmission draws it
    /// again.
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
}

/// Parse "22,80,1000-1010" into a sorted, deduplicated port list (port 0 rejected).
pub fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (parse_port(a)?, parse_port(b)?),
            None => {
                let p = parse_port(item)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!(
                "bad port range {item:?}: start above end; write it as LOW-HIGH"
            ));
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err("empty port list: give ports like --ports 22,80,8000-8010".into());
    }
    Ok(out)
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("bad port {s:?}: ports are 1-65535")),
    }
}

/// Check a lab name: 1..=13 chars of [A-Za-z0-9_-] so that interface names stay <= 15 chars.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if name.is_empty() || name.len() > 13 || !ok_chars {
        return Err(format!(
            "bad lab name {name:?}: use 1-13 characters of A-Z a-z 0-9 _ - (interface names must fit 15)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_sorted_dedup_ranges() {
        assert_eq!(
            parse_ports("80,22,80,1000-1002").unwrap(),
            vec![22, 80, 1000, 1001, 1002]
        );
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("5-3").is_err());
        assert!(parse_ports("").is_err());
        assert!(parse_ports("70000").is_err());
        assert_eq!(parse_ports(DEFAULT_PORTS).unwrap().len(), 23);
    }

    #[test]
    fn names_validated() {
        assert!(validate_name("lab12345").is_ok());
        assert!(validate_name("abcdefghijklm").is_ok());
        assert!(validate_name("abcdefghijklmn").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("a/b").is_err());
    }
}
