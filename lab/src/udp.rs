//! The UDP lab (`serve --udp`): real daemons on N hosts of the target block (dnsmasq,
//! chronyd, snmpd, memcached, for the ones whose port is scanned, and a socket that listens
//! and never answers), dropped and rejected pairs drawn from the rest, and every other UDP
//! port of the block closed. Each (lab address, scanner address) pair has its own ICMP
//! bucket (Linux's default: 1/s after a burst of 6; `--udp-rate`, `--udp-burst`), or, with
//! `--udp-kernel-limit` on a single address, the kernel's own limit answers.
//!
//! The truth names every pair that is not closed, in the words nmap writes for it
//! ([`UdpTruth::expect`]), so tests compare a scan's states with it exactly.

use crate::netns::{self, Names};
use crate::udp_daemons::{UdpDaemon, UdpDaemons};
use crate::udp_truth::{self, PairLimit, UdpRules, LINUX_PAIR_LIMIT};
use clap::Args;
use ipnet::{Ipv4Net, Ipv6Net};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// The default scanned UDP ports: the daemons' (53, 123, 161, 11211), the silent socket's
/// (514) and a few more that are closed, dropped or rejected.
pub const DEFAULT_UDP_PORTS: &str = "7,9,53,69,111,123,137,161,500,514,1900,11211";

/// Options of `serve` that shape a UDP lab.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct UdpArgs {
    /// UDP lab: real daemons on --udp-hosts hosts of --prefix (and --prefix6), dropped and
    /// rejected pairs, every other UDP port closed and answered under a limit per (lab
    /// address, scanner address); the truth gets a "udp" part.
    #[arg(long = "udp", id = "udp")]
    pub on: bool,
    /// With --udp: the UDP ports the truth covers (daemons run only for ports listed).
    #[arg(long, value_name = "PORTS", default_value = DEFAULT_UDP_PORTS)]
    pub udp_ports: String,
    /// With --udp: hosts (of each family) running every daemon whose port is listed, and the
    /// silent socket.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub udp_hosts: usize,
    /// With --udp: (host, port) pairs dropped (each family).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub udp_dropped: usize,
    /// With --udp: (host, port) pairs rejected (each family), with the codes in turn.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub udp_rejected: usize,
    /// With --udp: ICMP destination-unreachable codes of the rejected IPv4 pairs (0, 1, 2, 9,
    /// 10, 13; 3 is how closed ports answer).
    #[arg(long, value_name = "CODES", default_value = "1,10,13")]
    pub udp_reject_codes: String,
    /// With --udp: ICMPv6 destination-unreachable codes of the rejected IPv6 pairs (0, 1, 3,
    /// 5, 6; 4 is how closed ports answer).
    #[arg(long, value_name = "CODES", default_value = "1,3")]
    pub udp_reject_codes6: String,
    /// With --udp: the port of the socket that listens and never answers (open|filtered).
    #[arg(long, value_name = "PORT", default_value_t = 514)]
    pub udp_silent_port: u16,
    /// With --udp: ICMP errors a second per (lab address, scanner address) once the burst
    /// is spent.
    #[arg(long, value_name = "N", default_value_t = LINUX_PAIR_LIMIT.per_second)]
    pub udp_rate: u32,
    /// With --udp: ICMP errors each pair answers at once from a full bucket.
    #[arg(long, value_name = "N", default_value_t = LINUX_PAIR_LIMIT.burst)]
    pub udp_burst: u32,
    /// With --udp: no pair limit; the kernel answers closed ports under its own default
    /// limits (one bucket per scanner address for every lab address, so --prefix must be one
    /// address, and --prefix6 too).
    #[arg(long)]
    pub udp_kernel_limit: bool,
}

impl Default for UdpArgs {
    fn default() -> UdpArgs {
        UdpArgs {
            on: false,
            udp_ports: DEFAULT_UDP_PORTS.into(),
            udp_hosts: 8,
            udp_dropped: 16,
            udp_rejected: 16,
            udp_reject_codes: "1,10,13".into(),
            udp_reject_codes6: "1,3".into(),
            udp_silent_port: 514,
            udp_rate: LINUX_PAIR_LIMIT.per_second,
            udp_burst: LINUX_PAIR_LIMIT.burst,
            udp_kernel_limit: false,
        }
    }
}

/// A daemon's open pair in the truth.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpenPair {
    /// The address.
    pub addr: IpAddr,
    /// The port.
    pub port: u16,
    /// The program answering (dnsmasq, chronyd, snmpd, memcached).
    pub daemon: String,
}

/// A rejected pair in the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RejectedPair {
    /// The address.
    pub addr: IpAddr,
    /// The port.
    pub port: u16,
    /// The ICMP (type 3) or ICMPv6 (type 1) code it is rejected with.
    pub code: u8,
}

/// What nmap -sU writes for a pair: its state and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// "open", "open|filtered", "filtered" or "closed".
    pub state: &'static str,
    /// "udp-response", "no-response", the unreachable's name, or "port-unreach".
    pub reason: &'static str,
}

/// The UDP truth of a lab (`udp` in the description `serve` prints). Every pair of the
/// blocks x `ports` not named here is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpTruth {
    /// The UDP ports the truth covers, sorted.
    pub ports: Vec<u16>,
    /// The IPv4 block ("198.19.0.0/24").
    pub prefix: String,
    /// The IPv6 block, when the lab has an IPv6 side.
    pub prefix6: Option<String>,
    /// The ICMP budget of each (lab address, scanner address); None: the kernel's own
    /// limits (Linux's defaults, one bucket per scanner address).
    pub limit: Option<PairLimit>,
    /// Pairs a daemon answers, sorted.
    pub open: Vec<OpenPair>,
    /// Pairs of the socket that never answers, sorted.
    pub silent: Vec<(IpAddr, u16)>,
    /// Pairs dropped, sorted.
    pub dropped: Vec<(IpAddr, u16)>,
    /// Pairs rejected with an unreachable code, sorted.
    pub rejected: Vec<RejectedPair>,
    /// The most ICMP errors one address owes a scan of every port (its closed and rejected
    /// ports): with the limit, what sets a full scan's floor ([`UdpTruth::floor_secs`]).
    pub max_errors_per_host: usize,
}

impl UdpTruth {
    /// What nmap -sU writes for `addr`:`port`; None outside the blocks or the ports.
    pub fn expect(&self, addr: IpAddr, port: u16) -> Option<Expect> {
        if !self.covers(addr) || self.ports.binary_search(&port).is_err() {
            return None;
        }
        let e = |state, reason| Some(Expect { state, reason });
        if self.open.iter().any(|o| (o.addr, o.port) == (addr, port)) {
            return e("open", "udp-response");
        }
        if self.silent.contains(&(addr, port)) || self.dropped.contains(&(addr, port)) {
            return e("open|filtered", "no-response");
        }
        match self
            .rejected
            .iter()
            .find(|r| (r.addr, r.port) == (addr, port))
        {
            Some(r) => e("filtered", nmap_reason(addr.is_ipv6(), r.code)?),
            None => e("closed", "port-unreach"),
        }
    }

    /// Whether `addr` is in the IPv4 or IPv6 block.
    pub fn covers(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.prefix.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&a)),
            // The block's subnet-router anycast address is left out, as in the TCP truth.
            IpAddr::V6(a) => self
                .prefix6
                .as_deref()
                .and_then(|p| p.parse::<Ipv6Net>().ok())
                .is_some_and(|n| {
                    let (first, count) = crate::truth::candidate_hosts6(n);
                    (first..first + u128::from(count)).contains(&u128::from(a))
                }),
        }
    }

    /// Every address of the blocks (the IPv6 one's anycast address left out) x `ports`, with
    /// what nmap -sU writes for it: "ADDRESS PORT STATE REASON" lines, IPv4 first.
    pub fn expect_lines(&self) -> Result<String, String> {
        let p4: Ipv4Net = self
            .prefix
            .parse()
            .map_err(|_| format!("bad prefix {:?} in the UDP truth", self.prefix))?;
        let mut addrs: Vec<IpAddr> = (u32::from(p4.network())..=u32::from(p4.broadcast()))
            .map(|a| Ipv4Addr::from(a).into())
            .collect();
        if let Some(p6) = &self.prefix6 {
            let p6: Ipv6Net = p6
                .parse()
                .map_err(|_| format!("bad prefix6 {p6:?} in the UDP truth"))?;
            let (first, n) = crate::truth::candidate_hosts6(p6);
            addrs.extend((0..u128::from(n)).map(|i| IpAddr::from(Ipv6Addr::from(first + i))));
        }
        let mut s = String::new();
        for a in addrs {
            for &p in &self.ports {
                if let Some(e) = self.expect(a, p) {
                    let _ = writeln!(s, "{a} {p} {} {}", e.state, e.reason);
                }
            }
        }
        Ok(s)
    }

    /// The least time the limit lets a scan of every port of every host take: the errors
    /// one address owes beyond its burst, at its rate (Linux's 1/s after 6 for the kernel's
    /// own limit over IPv4).
    pub fn floor_secs(&self) -> f64 {
        let l = self.limit.unwrap_or(LINUX_PAIR_LIMIT);
        self.max_errors_per_host.saturating_sub(l.burst as usize) as f64
            / f64::from(l.per_second.max(1))
    }
}

/// `synscan-lab udp-expect`: reads a lab's truth line on stdin and prints
/// [`UdpTruth::expect_lines`]; returns the exit code.
pub fn run_expect() -> i32 {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("synscan-lab udp-expect: cannot read the truth line: {e}");
        return 2;
    }
    let lines = crate::truth::Truth::parse(&line).and_then(|t| {
        t.udp
            .ok_or_else(|| "the lab has no UDP truth: raise it with serve --udp".to_string())?
            .expect_lines()
    });
    match lines {
        Ok(text) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("synscan-lab udp-expect: {e}");
                    4
                }
            }
        }
        Err(e) => {
            eprintln!("synscan-lab udp-expect: {e}");
            2
        }
    }
}

/// nmap's reason for an unreachable of `code` (ICMP type 3, or ICMPv6 type 1 with `v6`),
/// for the codes a rejected pair may have.
pub fn nmap_reason(v6: bool, code: u8) -> Option<&'static str> {
    Some(match (v6, code) {
        (false, 0) => "net-unreach",
        (false, 1) => "host-unreach",
        (false, 2) => "proto-unreach",
        (false, 9) => "net-prohibited",
        (false, 10) => "host-prohibited",
        (false, 13) => "admin-prohibited",
        (true, 0) => "no-route",
        (true, 1) => "admin-prohibited",
        (true, 3) => "host-unreach",
        (true, 5) => "admin-prohibited",
        (true, 6) => "reject-route",
        _ => return None,
    })
}

/// One family's side of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side<A> {
    /// Hosts running the daemons, sorted.
    pub hosts: Vec<A>,
    /// Dropped pairs, sorted.
    pub dropped: Vec<(A, u16)>,
    /// Rejected pairs with their codes, sorted.
    pub rejected: Vec<(A, u16, u8)>,
}

/// What the rest of the lab plan tells the UDP plan.
#[derive(Debug, Clone)]
pub struct Context {
    /// The lab's IPv4 --prefix.
    pub prefix: Ipv4Net,
    /// The lab's IPv6 --prefix6, when it has an IPv6 side.
    pub prefix6: Option<Ipv6Net>,
    /// Whether the IPv4 side gets daemons, drops and rejects (false: all closed).
    pub v4: bool,
    /// Whether the lab is a discovery lab (which drops what UDP needs).
    pub discovery: bool,
    /// The lab's seed.
    pub seed: u64,
}

/// A checked UDP lab: what to raise and the truth it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The scanned UDP ports, sorted.
    pub ports: Vec<u16>,
    /// The daemons every daemon host runs (those whose port is scanned).
    pub daemons: Vec<UdpDaemon>,
    /// The silent socket's port, when scanned.
    pub silent_port: Option<u16>,
    /// The nftables rules (blocks, codes, limit).
    pub rules: UdpRules,
    /// The IPv4 side.
    pub v4: Side<Ipv4Addr>,
    /// The IPv6 side, when the lab has one.
    pub v6: Option<Side<Ipv6Addr>>,
}

/// Most addresses of --prefix6 a UDP lab configures.
pub const MAX_ADDRS6: u64 = 4096;

/// How long the daemons may take to bind their sockets.
const READY_WITHIN: Duration = Duration::from_secs(30);

impl Plan {
    /// Checks `args` against the lab; None without --udp.
    pub fn new(args: &UdpArgs, cx: &Context) -> Result<Option<Plan>, String> {
        if !args.on {
            if *args
                != (UdpArgs {
                    on: false,
                    ..UdpArgs::default()
                })
            {
                return Err("--udp-* options shape a UDP lab: add --udp".into());
            }
            return Ok(None);
        }
        if cx.discovery {
            return Err(
                "--udp and --discovery shape different labs (discovery drops every unanswered probe): pick one"
                    .into(),
            );
        }
        if let Some(p6) = cx.prefix6 {
            if crate::truth::candidate_hosts6(p6).1 > MAX_ADDRS6 {
                return Err(format!("--udp needs every address of --prefix6 on the target (ICMPv6 errors leave from the probed address only then): give it at most {MAX_ADDRS6} addresses, e.g. /120"));
            }
        }
        let ports =
            crate::cli::parse_ports(&args.udp_ports).map_err(|e| format!("--udp-ports: {e}"))?;
        let codes4 = parse_codes(&args.udp_reject_codes, false)?;
        let codes6 = parse_codes(&args.udp_reject_codes6, true)?;
        if args.udp_rate == 0 || args.udp_burst == 0 {
            return Err("--udp-rate and --udp-burst must be at least 1".into());
        }
        let limit = if args.udp_kernel_limit {
            let one6 = cx.prefix6.is_none_or(|p| p.prefix_len() == 128);
            if cx.prefix.prefix_len() != 32 || !one6 {
                return Err("--udp-kernel-limit shares one bucket among every lab address: give --prefix a single address (/32), and --prefix6 one (/128)".into());
            }
            let custom = (args.udp_rate, args.udp_burst)
                != (LINUX_PAIR_LIMIT.per_second, LINUX_PAIR_LIMIT.burst);
            if custom {
                return Err(
                    "--udp-kernel-limit keeps Linux's own limit: drop --udp-rate and --udp-burst"
                        .into(),
                );
            }
            None
        } else {
            Some(PairLimit {
                per_second: args.udp_rate,
                burst: args.udp_burst,
            })
        };
        let daemons: Vec<UdpDaemon> = UdpDaemon::ALL
            .into_iter()
            .filter(|d| ports.contains(&d.port()))
            .collect();
        let silent_port = ports
            .contains(&args.udp_silent_port)
            .then_some(args.udp_silent_port);
        if let Some(d) = daemons.iter().find(|d| Some(d.port()) == silent_port) {
            return Err(format!(
                "--udp-silent-port {} is {}'s port: pick another",
                args.udp_silent_port,
                d.program().0
            ));
        }
        let mut served: Vec<u16> = daemons.iter().map(|d| d.port()).collect();
        served.extend(silent_port);
        served.sort_unstable();
        let counts = Counts {
            hosts: args.udp_hosts,
            dropped: args.udp_dropped,
            rejected: args.udp_rejected,
        };
        let none = Counts {
            hosts: 0,
            dropped: 0,
            rejected: 0,
        };
        let (first, n) = crate::truth::candidate_hosts(cx.prefix);
        let v4 = choose_side(
            if cx.v4 { &counts } else { &none },
            (u64::from(n), &|i| Ipv4Addr::from(first + i as u32)),
            (&ports, &served, &codes4),
            ("--prefix", cx.seed ^ 0x75_6470),
        )?;
        let v6 = match cx.prefix6 {
            None => None,
            Some(p6) => {
                let (first6, n6) = crate::truth::candidate_hosts6(p6);
                Some(choose_side(
                    &counts,
                    (n6, &|i| Ipv6Addr::from(first6 + u128::from(i))),
                    (&ports, &served, &codes6),
                    ("--prefix6", cx.seed.rotate_left(31) ^ 0x7564_7036),
                )?)
            }
        };
        Ok(Some(Plan {
            ports,
            daemons,
            silent_port,
            rules: UdpRules {
                prefix4: cx.prefix,
                prefix6: cx.prefix6,
                reject_codes4: codes4,
                reject_codes6: codes6,
                closed_limit: limit,
            },
            v4,
            v6,
        }))
    }

    /// The ports every daemon host serves (daemons and the silent socket), sorted.
    fn served(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.daemons.iter().map(|d| d.port()).collect();
        v.extend(self.silent_port);
        v.sort_unstable();
        v
    }

    /// Every daemon host, IPv4 then IPv6.
    fn hosts(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.v4.hosts.iter().map(|&a| a.into()).collect();
        if let Some(s) = &self.v6 {
            v.extend(s.hosts.iter().map(|&a| IpAddr::from(a)));
        }
        v
    }

    /// Every dropped pair, IPv4 then IPv6.
    fn dropped(&self) -> Vec<(IpAddr, u16)> {
        let mut v: Vec<(IpAddr, u16)> = self
            .v4
            .dropped
            .iter()
            .map(|&(a, p)| (a.into(), p))
            .collect();
        if let Some(s) = &self.v6 {
            v.extend(s.dropped.iter().map(|&(a, p)| (IpAddr::from(a), p)));
        }
        v
    }

    /// Every rejected pair, IPv4 then IPv6.
    fn rejected(&self) -> Vec<RejectedPair> {
        let mut v: Vec<RejectedPair> = self
            .v4
            .rejected
            .iter()
            .map(|&(a, port, code)| RejectedPair {
                addr: a.into(),
                port,
                code,
            })
            .collect();
        if let Some(s) = &self.v6 {
            v.extend(s.rejected.iter().map(|&(a, port, code)| RejectedPair {
                addr: a.into(),
                port,
                code,
            }));
        }
        v
    }

    /// The truth this plan raises.
    pub fn truth(&self) -> UdpTruth {
        let mut open = Vec::new();
        let mut silent = Vec::new();
        for addr in self.hosts() {
            for d in &self.daemons {
                open.push(OpenPair {
                    addr,
                    port: d.port(),
                    daemon: d.program().0.to_string(),
                });
            }
            silent.extend(self.silent_port.map(|p| (addr, p)));
        }
        open.sort();
        silent.sort();
        let mut dropped = self.dropped();
        dropped.sort();
        let mut rejected = self.rejected();
        rejected.sort();
        // Errors an address owes: its ports less those that stay quiet (served, dropped).
        let mut quiet: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for a in self.hosts() {
            *quiet.entry(a).or_default() += self.served().len();
        }
        for (a, _) in &dropped {
            *quiet.entry(*a).or_default() += 1;
        }
        let (_, n4) = crate::truth::candidate_hosts(self.rules.prefix4);
        let n6 = self
            .rules
            .prefix6
            .map_or(0, |p| crate::truth::candidate_hosts6(p).1);
        let some_host_all_closed = (quiet.keys().filter(|a| a.is_ipv4()).count() as u64)
            < u64::from(n4)
            || (quiet.keys().filter(|a| a.is_ipv6()).count() as u64) < n6;
        let least_quiet = if some_host_all_closed {
            0
        } else {
            quiet.values().copied().min().unwrap_or(0)
        };
        UdpTruth {
            ports: self.ports.clone(),
            prefix: self.rules.prefix4.to_string(),
            prefix6: self.rules.prefix6.map(|p| p.to_string()),
            limit: self.rules.closed_limit,
            open,
            silent,
            dropped,
            rejected,
            max_errors_per_host: self.ports.len().saturating_sub(least_quiet),
        }
    }

    /// Sysctls of the target namespace: the namespace's own limits raised (the pair limit
    /// answers), or put back to Linux's defaults (the kernel answers).
    pub fn sysctls(&self) -> &'static [&'static str] {
        match self.rules.closed_limit {
            Some(_) => udp_truth::RAISED_LIMITS,
            None => udp_truth::LINUX_LIMITS,
        }
    }

    /// `ip -batch` lines adding addresses to the target's lo: the IPv4 daemon hosts' (the
    /// daemons bind them) and every IPv6 address of the block. The block's local route
    /// alone makes an IPv6 address neither bindable nor the source of its own ICMPv6
    /// errors: the kernel would send them from the target's veth address, a hop's.
    pub fn ip_batch(&self) -> String {
        let mut s = String::new();
        for a in &self.v4.hosts {
            let _ = writeln!(s, "addr add {a}/32 dev lo");
        }
        if let Some(p6) = self.rules.prefix6 {
            let (first, n) = crate::truth::candidate_hosts6(p6);
            for i in 0..u128::from(n) {
                let _ = writeln!(s, "addr add {}/128 dev lo nodad", Ipv6Addr::from(first + i));
            }
        }
        s
    }

    /// The nft scripts filling the truth's sets, at most `chunk` elements each.
    pub fn element_scripts(&self, chunk: usize) -> Vec<String> {
        let mut out = Vec::new();
        let served = self.served();
        let mut fill = |set: String, pairs: Vec<(String, u16)>| {
            for c in pairs.chunks(chunk.max(1)) {
                out.push(udp_truth::element_script(&set, c));
            }
        };
        let sides: [(bool, Vec<IpAddr>); 2] = [
            (false, self.v4.hosts.iter().map(|&a| a.into()).collect()),
            (
                true,
                self.v6
                    .iter()
                    .flat_map(|s| &s.hosts)
                    .map(|&a| a.into())
                    .collect(),
            ),
        ];
        for (v6, hosts) in sides {
            let open = hosts
                .iter()
                .flat_map(|a| served.iter().map(move |&p| (a.to_string(), p)))
                .collect();
            fill(udp_truth::open_set(v6), open);
            let family = |a: &IpAddr| a.is_ipv6() == v6;
            let dropped = self
                .dropped()
                .into_iter()
                .filter(|(a, _)| family(a))
                .map(|(a, p)| (a.to_string(), p))
                .collect();
            fill(udp_truth::drop_set(v6), dropped);
            let codes = if v6 {
                &self.rules.reject_codes6
            } else {
                &self.rules.reject_codes4
            };
            for &code in codes {
                let pairs = self
                    .rejected()
                    .into_iter()
                    .filter(|r| family(&r.addr) && r.code == code)
                    .map(|r| (r.addr.to_string(), r.port))
                    .collect();
                fill(udp_truth::reject_set(v6, code), pairs);
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }

    /// Applies the plan to the target namespace of a raised lab and starts the daemons;
    /// returns once every served socket is bound. The lab's teardown removes everything
    /// this adds; the daemons stop when the returned value drops.
    pub fn raise(&self, names: &Names) -> Result<Running, String> {
        let t = names.target_ns.as_str();
        netns::sysctl(t, self.sysctls())?;
        let batch = self.ip_batch();
        if !batch.is_empty() {
            netns::run("ip", &["-n", t, "-batch", "-"], Some(&batch))?;
        }
        netns::nft_load(t, &udp_truth::ruleset(&self.rules)?)?;
        for script in self.element_scripts(crate::nft::CHUNK) {
            netns::nft_load(t, &script)?;
        }
        let mut running = Running {
            daemons: Vec::new(),
        };
        let v6_hosts: &[Ipv6Addr] = self.v6.as_ref().map_or(&[], |s| &s.hosts);
        // Host i of each family shares one set of daemons (one address per family each).
        for i in 0..self.v4.hosts.len().max(v6_hosts.len()) {
            let mut addrs: Vec<IpAddr> = Vec::new();
            addrs.extend(self.v4.hosts.get(i).map(|&a| IpAddr::from(a)));
            addrs.extend(v6_hosts.get(i).map(|&a| IpAddr::from(a)));
            let mut d = UdpDaemons::start(t, &self.daemons, &addrs)?;
            if let Some(p) = self.silent_port {
                for &a in &addrs {
                    d.mute(t, a, p)?;
                }
            }
            running.daemons.push(d);
        }
        let want: BTreeSet<(IpAddr, u16)> = self
            .hosts()
            .into_iter()
            .flat_map(|a| self.daemons.iter().map(move |d| (a, d.port())))
            .collect();
        running.wait_bound(t, &want)?;
        Ok(running)
    }
}

/// The daemons of a raised UDP lab; dropping it stops them.
#[derive(Debug)]
pub struct Running {
    daemons: Vec<UdpDaemons>,
}

impl Running {
    /// The daemons that exited, with their status.
    pub fn exited(&mut self) -> Vec<(UdpDaemon, String)> {
        self.daemons.iter_mut().flat_map(|d| d.exited()).collect()
    }

    /// Waits until every pair of `want` has a bound UDP socket in namespace `ns`.
    fn wait_bound(&mut self, ns: &str, want: &BTreeSet<(IpAddr, u16)>) -> Result<(), String> {
        let give_up = Instant::now() + READY_WITHIN;
        loop {
            let out = netns::run(
                "ip",
                &["netns", "exec", ns, "ss", "-H", "-u", "-l", "-n"],
                None,
            )?;
            let bound = bound_sockets(&String::from_utf8_lossy(&out.stdout));
            let missing: Vec<_> = want.difference(&bound).collect();
            if missing.is_empty() {
                return Ok(());
            }
            let exited = self.exited();
            if !exited.is_empty() || Instant::now() >= give_up {
                return Err(format!(
                    "UDP daemons not serving {missing:?} (exited: {exited:?}); install dnsmasq-base, chrony, snmpd and memcached"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The (address, port) pairs of `ss -H -u -l -n` lines (local address, fourth column).
fn bound_sockets(ss: &str) -> BTreeSet<(IpAddr, u16)> {
    ss.lines()
        .filter_map(|l| {
            let local = l.split_whitespace().nth(3)?;
            let (addr, port) = local.rsplit_once(':')?;
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            let addr = addr.split('%').next()?;
            Some((addr.parse().ok()?, port.parse().ok()?))
        })
        .collect()
}

/// How many hosts and pairs one family gets.
struct Counts {
    hosts: usize,
    dropped: usize,
    rejected: usize,
}

/// One family's side: `c.hosts` daemon hosts among `n` (host `i` is `host(i)`), then dropped
/// and rejected pairs among the rest of hosts x `ports` (a daemon host's served ports left
/// out), the codes in turn over the sorted rejected pairs.
fn choose_side<A: Ord + Copy>(
    c: &Counts,
    (n, host): (u64, &dyn Fn(u64) -> A),
    (ports, served, codes): (&[u16], &[u16], &[u8]),
    (flag, seed): (&str, u64),
) -> Result<Side<A>, String> {
    use crate::truth::sample_distinct;
    if c.hosts as u64 > n {
        return Err(format!(
            "--udp-hosts {} exceeds the {n} hosts of {flag}: lower it or widen {flag}",
            c.hosts
        ));
    }
    if c.rejected > 0 && codes.is_empty() {
        return Err(
            "--udp-rejected needs codes: give --udp-reject-codes (and --udp-reject-codes6)".into(),
        );
    }
    let np = ports.len() as u64;
    let space = n.saturating_mul(np);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hosts_idx = sample_distinct(&mut rng, n, c.hosts, &HashSet::new());
    hosts_idx.sort_unstable();
    let mut used: HashSet<u64> = HashSet::new();
    for &h in &hosts_idx {
        for (i, p) in ports.iter().enumerate() {
            if served.contains(p) {
                used.insert(h * np + i as u64);
            }
        }
    }
    let want = (c.dropped + c.rejected) as u64 + used.len() as u64;
    if want > space || want as usize > crate::truth::MAX_PAIRS {
        return Err(format!(
            "--udp-dropped {} and --udp-rejected {} do not fit beside the daemons in the {space} pairs of {flag} x --udp-ports",
            c.dropped, c.rejected
        ));
    }
    let dropped_idx = sample_distinct(&mut rng, space, c.dropped, &used);
    used.extend(dropped_idx.iter().copied());
    let rejected_idx = sample_distinct(&mut rng, space, c.rejected, &used);
    let pair = |i: u64| (host(i / np), ports[(i % np) as usize]);
    let mut dropped: Vec<(A, u16)> = dropped_idx.into_iter().map(pair).collect();
    dropped.sort_unstable();
    let mut rejected: Vec<(A, u16)> = rejected_idx.into_iter().map(pair).collect();
    rejected.sort_unstable();
    Ok(Side {
        hosts: hosts_idx.into_iter().map(host).collect(),
        dropped,
        rejected: rejected
            .into_iter()
            .enumerate()
            .map(|(i, (a, p))| (a, p, codes[i % codes.len()]))
            .collect(),
    })
}

/// "1,10,13" into codes nft rejects with and nmap names (port unreachable refused: it is
/// how closed ports answer).
fn parse_codes(s: &str, v6: bool) -> Result<Vec<u8>, String> {
    let flag = if v6 {
        "--udp-reject-codes6"
    } else {
        "--udp-reject-codes"
    };
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let code: u8 = item
            .parse()
            .map_err(|_| format!("{flag}: {item:?} is not a code; write them like 1,13"))?;
        let nft = if v6 {
            udp_truth::icmpv6_name(code)
        } else {
            udp_truth::icmp_name(code)
        };
        if nft.is_none() || nmap_reason(v6, code).is_none() {
            let allowed = if v6 {
                "0, 1, 3, 5, 6"
            } else {
                "0, 1, 2, 9, 10, 13"
            };
            return Err(format!(
                "{flag}: code {code} is not one a rejected pair can have: use {allowed} (port unreachable is how closed ports answer)"
            ));
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> UdpArgs {
        UdpArgs {
            on: true,
            udp_ports: "9,53,123,514,2000".into(),
            udp_hosts: 2,
            udp_dropped: 3,
            udp_rejected: 4,
            udp_reject_codes: "1,13".into(),
            udp_reject_codes6: "3".into(),
            ..UdpArgs::default()
        }
    }

    fn context() -> Context {
        Context {
            prefix: "198.19.0.0/29".parse().unwrap(),
            prefix6: Some("2001:2:0:19::/125".parse().unwrap()),
            v4: true,
            discovery: false,
            seed: 7,
        }
    }

    fn plan() -> Plan {
        Plan::new(&args(), &context()).unwrap().unwrap()
    }

    #[test]
    fn sides_are_drawn_apart_from_the_daemons_and_the_seed_decides() {
        let p = plan();
        assert_eq!(p.ports, [9, 53, 123, 514, 2000]);
        assert_eq!(p.daemons, [UdpDaemon::Dnsmasq, UdpDaemon::Chrony]);
        assert_eq!(p.silent_port, Some(514));
        assert_eq!(p.v4.hosts.len(), 2);
        assert_eq!((p.v4.dropped.len(), p.v4.rejected.len()), (3, 4));
        let codes: Vec<u8> = p.v4.rejected.iter().map(|r| r.2).collect();
        assert_eq!(codes, [1, 13, 1, 13], "codes in turn");
        let six = p.v6.as_ref().unwrap();
        assert_eq!((six.hosts.len(), six.dropped.len()), (2, 3));
        assert!(six.rejected.iter().all(|r| r.2 == 3));
        let served = [53, 123, 514];
        for (a, port) in
            p.v4.dropped
                .iter()
                .copied()
                .chain(p.v4.rejected.iter().map(|r| (r.0, r.1)))
        {
            assert!(
                !(p.v4.hosts.contains(&a) && served.contains(&port)),
                "{a}:{port} is a daemon's"
            );
        }
        let all: BTreeSet<(Ipv4Addr, u16)> =
            p.v4.dropped
                .iter()
                .copied()
                .chain(p.v4.rejected.iter().map(|r| (r.0, r.1)))
                .collect();
        assert_eq!(all.len(), 7, "dropped and rejected are apart");
        assert_eq!(p, plan());
        let other = Plan::new(
            &args(),
            &Context {
                seed: 8,
                ..context()
            },
        )
        .unwrap()
        .unwrap();
        assert_ne!(p.v4, other.v4);
    }

    #[test]
    fn truth_names_every_state_in_nmaps_words() {
        let p = plan();
        let t = p.truth();
        let (h, h6) = (
            IpAddr::from(p.v4.hosts[0]),
            IpAddr::from(p.v6.as_ref().unwrap().hosts[1]),
        );
        let e = |state, reason| Some(Expect { state, reason });
        assert_eq!(t.expect(h, 53), e("open", "udp-response"));
        assert_eq!(t.expect(h6, 123), e("open", "udp-response"));
        assert_eq!(t.expect(h, 514), e("open|filtered", "no-response"));
        let (da, dp) = p.v4.dropped[0];
        assert_eq!(t.expect(da.into(), dp), e("open|filtered", "no-response"));
        for &(a, port, code) in &p.v4.rejected {
            let want = if code == 1 {
                "host-unreach"
            } else {
                "admin-prohibited"
            };
            assert_eq!(t.expect(a.into(), port), e("filtered", want));
        }
        let (ra, rp, _) = p.v6.as_ref().unwrap().rejected[0];
        assert_eq!(t.expect(ra.into(), rp), e("filtered", "host-unreach"));
        let quiet: IpAddr = (1..7)
            .map(|i| IpAddr::from(Ipv4Addr::new(198, 19, 0, i)))
            .find(|a| {
                !t.open.iter().any(|o| o.addr == *a)
                    && !t.dropped.iter().any(|d| d.0 == *a)
                    && !t.rejected.iter().any(|r| r.addr == *a && r.port == 2000)
            })
            .unwrap();
        assert_eq!(t.expect(quiet, 2000), e("closed", "port-unreach"));
        assert_eq!(t.expect("198.19.1.1".parse().unwrap(), 53), None, "outside");
        assert_eq!(
            t.expect("2001:2:0:19::".parse().unwrap(), 53),
            None,
            "anycast"
        );
        assert!(t.expect("2001:2:0:19::7".parse().unwrap(), 53).is_some());
        assert_eq!(t.expect(h, 54), None, "not a truth port");
        assert_eq!(
            (
                t.open.len(),
                t.silent.len(),
                t.dropped.len(),
                t.rejected.len()
            ),
            (8, 4, 6, 8)
        );
        assert_eq!(t.open[0].daemon, "dnsmasq");
        // A /29 has 6 hosts: 2 run daemons, so some host owes all 5 ports: (5 - 6) -> 0 s.
        assert_eq!(t.max_errors_per_host, 5);
        assert_eq!(t.floor_secs(), 0.0);
        let json = serde_json::to_string(&t).unwrap();
        assert!(
            json.contains(r#""limit":{"per_second":1,"burst":6}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<UdpTruth>(&json).unwrap(), t);
    }

    #[test]
    fn expect_lines_cover_every_pair_of_both_blocks() {
        let t = plan().truth();
        let text = t.expect_lines().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // 8 IPv4 addresses (network and broadcast too) and 7 IPv6 ones, x 5 ports.
        assert_eq!(lines.len(), (8 + 7) * 5);
        assert_eq!(lines[0], "198.19.0.0 9 closed port-unreach");
        let h = t.open[0].addr;
        assert!(
            text.contains(&format!("{h} 53 open udp-response\n")),
            "{text}"
        );
        assert!(lines[40].starts_with("2001:2:0:19::1 9 "), "{}", lines[40]);
        let r = t.rejected[0];
        let want = t.expect(r.addr, r.port).unwrap();
        assert!(text.contains(&format!("{} {} filtered {}\n", r.addr, r.port, want.reason)));
    }

    #[test]
    fn floor_is_the_busiest_host_beyond_its_burst() {
        // One host, 200 ports, none served: Linux's limit owes 194 s.
        let a = UdpArgs {
            udp_ports: "2000-2199".into(),
            udp_hosts: 0,
            udp_dropped: 0,
            udp_rejected: 0,
            ..args()
        };
        let cx = Context {
            prefix: "198.19.0.7/32".parse().unwrap(),
            prefix6: None,
            ..context()
        };
        let t = Plan::new(&a, &cx).unwrap().unwrap().truth();
        assert_eq!((t.max_errors_per_host, t.floor_secs()), (200, 194.0));
        let fast = UdpArgs {
            udp_rate: 10,
            udp_burst: 50,
            ..a.clone()
        };
        assert_eq!(
            Plan::new(&fast, &cx).unwrap().unwrap().truth().floor_secs(),
            15.0
        );
        // Every host serves 3 ports of 5: each owes 2.
        let full = UdpArgs {
            udp_hosts: 6,
            udp_dropped: 0,
            udp_rejected: 0,
            ..args()
        };
        let cx = Context {
            prefix6: None,
            ..context()
        };
        assert_eq!(
            Plan::new(&full, &cx)
                .unwrap()
                .unwrap()
                .truth()
                .max_errors_per_host,
            2
        );
    }

    #[test]
    fn rules_sets_and_addresses_exact() {
        let p = Plan::new(
            &UdpArgs {
                udp_dropped: 1,
                udp_rejected: 1,
                udp_hosts: 1,
                ..args()
            },
            &Context {
                prefix6: None,
                ..context()
            },
        )
        .unwrap()
        .unwrap();
        let h = p.v4.hosts[0];
        assert_eq!(p.ip_batch(), format!("addr add {h}/32 dev lo\n"));
        let (d, r) = (p.v4.dropped[0], p.v4.rejected[0]);
        assert_eq!(
            p.element_scripts(2),
            [
                format!("add element inet synlab_udp open4 {{ {h} . 53, {h} . 123 }}\n"),
                format!("add element inet synlab_udp open4 {{ {h} . 514 }}\n"),
                format!(
                    "add element inet synlab_udp drop4 {{ {} . {} }}\n",
                    d.0, d.1
                ),
                format!(
                    "add element inet synlab_udp reject4_1 {{ {} . {} }}\n",
                    r.0, r.1
                ),
            ]
        );
        assert_eq!(p.sysctls(), udp_truth::RAISED_LIMITS);
        assert_eq!(p.rules.closed_limit, Some(LINUX_PAIR_LIMIT));
        // With IPv6, every address of the /125 but its anycast one.
        let batch = plan().ip_batch();
        let lines: Vec<&str> = batch.lines().collect();
        assert_eq!(lines.len(), 2 + 7);
        assert_eq!(lines[2], "addr add 2001:2:0:19::1/128 dev lo nodad");
        assert_eq!(lines[8], "addr add 2001:2:0:19::7/128 dev lo nodad");
    }

    #[test]
    fn kernel_shape_on_one_address() {
        let a = UdpArgs {
            udp_kernel_limit: true,
            udp_hosts: 1,
            udp_dropped: 0,
            udp_rejected: 1,
            ..args()
        };
        let cx = Context {
            prefix: "198.19.0.9/32".parse().unwrap(),
            prefix6: Some("2001:2:0:19::9/128".parse().unwrap()),
            ..context()
        };
        let p = Plan::new(&a, &cx).unwrap().unwrap();
        assert_eq!(p.rules.closed_limit, None);
        assert_eq!(p.sysctls(), udp_truth::LINUX_LIMITS);
        assert_eq!(p.truth().limit, None);
        assert_eq!(p.truth().max_errors_per_host, 2, "5 ports, 3 served");
        assert_eq!(
            Plan::new(&a, &context()).unwrap_err(),
            "--udp-kernel-limit shares one bucket among every lab address: give --prefix a single address (/32), and --prefix6 one (/128)"
        );
    }

    #[test]
    fn bad_shapes_refused_with_one_line() {
        let cx = context();
        let err = |a: UdpArgs| Plan::new(&a, &cx).unwrap_err();
        assert_eq!(Plan::new(&UdpArgs::default(), &cx), Ok(None));
        assert_eq!(
            err(UdpArgs {
                on: false,
                udp_hosts: 3,
                ..UdpArgs::default()
            }),
            "--udp-* options shape a UDP lab: add --udp"
        );
        assert_eq!(
            Plan::new(&args(), &Context { discovery: true, ..context() }).unwrap_err(),
            "--udp and --discovery shape different labs (discovery drops every unanswered probe): pick one"
        );
        assert_eq!(
            err(UdpArgs { udp_reject_codes: "3".into(), ..args() }),
            "--udp-reject-codes: code 3 is not one a rejected pair can have: use 0, 1, 2, 9, 10, 13 (port unreachable is how closed ports answer)"
        );
        assert_eq!(
            err(UdpArgs { udp_reject_codes6: "4".into(), ..args() }),
            "--udp-reject-codes6: code 4 is not one a rejected pair can have: use 0, 1, 3, 5, 6 (port unreachable is how closed ports answer)"
        );
        assert_eq!(
            err(UdpArgs {
                udp_reject_codes: "x".into(),
                ..args()
            }),
            "--udp-reject-codes: \"x\" is not a code; write them like 1,13"
        );
        assert_eq!(
            err(UdpArgs {
                udp_hosts: 7,
                ..args()
            }),
            "--udp-hosts 7 exceeds the 6 hosts of --prefix: lower it or widen --prefix"
        );
        assert_eq!(
            err(UdpArgs { udp_dropped: 20, udp_rejected: 10, ..args() }),
            "--udp-dropped 20 and --udp-rejected 10 do not fit beside the daemons in the 30 pairs of --prefix x --udp-ports"
        );
        assert_eq!(
            err(UdpArgs {
                udp_silent_port: 53,
                ..args()
            }),
            "--udp-silent-port 53 is dnsmasq's port: pick another"
        );
        let wide6 = Context {
            prefix6: Some("2001:2:0:19::/115".parse().unwrap()),
            ..context()
        };
        assert_eq!(
            Plan::new(&args(), &wide6).unwrap_err(),
            "--udp needs every address of --prefix6 on the target (ICMPv6 errors leave from the probed address only then): give it at most 4096 addresses, e.g. /120"
        );
        assert_eq!(
            err(UdpArgs {
                udp_rate: 0,
                ..args()
            }),
            "--udp-rate and --udp-burst must be at least 1"
        );
        assert_eq!(
            err(UdpArgs {
                udp_ports: "0".into(),
                ..args()
            })
            .split(':')
            .next(),
            Some("--udp-ports")
        );
    }

    #[test]
    fn serve_parses_the_options_beside_discovery() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "synscan-lab",
            "serve",
            "--udp",
            "--udp-hosts",
            "3",
            "--udp-kernel-limit",
        ])
        .unwrap();
        let crate::cli::Cmd::Serve(a) = cli.cmd else {
            panic!("not serve")
        };
        assert!(a.udp.on && a.udp.udp_kernel_limit && !a.discovery.on);
        assert_eq!(a.udp.udp_hosts, 3);
        assert_eq!(a.udp.udp_ports, DEFAULT_UDP_PORTS);
    }

    #[test]
    fn ss_lines_read() {
        let ss = "UNCONN 0      0        198.19.0.5:53        0.0.0.0:*\n\
UNCONN 0      0      [2001:2:0:19::5]:123          [::]:*\n\
UNCONN 0      0      198.19.0.5%lo:161        0.0.0.0:*\n\
garbage\n";
        let want: BTreeSet<(IpAddr, u16)> = [
            ("198.19.0.5".parse().unwrap(), 53),
            ("2001:2:0:19::5".parse().unwrap(), 123),
            ("198.19.0.5".parse().unwrap(), 161),
        ]
        .into();
        assert_eq!(bound_sockets(ss), want);
    }
}
