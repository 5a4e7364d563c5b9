//! Host discovery shapes (`serve --discovery`): each live address answers exactly one kind of
//! discovery probe, everything else stays silent, some addresses sit on the scanner's own link
//! and answer only ARP (IPv6: neighbour solicitation), and a block behind the target's router
//! gets destination-unreachable from the router. The truth names, for every address that
//! answers, the reply that shows it up, in nmap's words (`echo-reply`, `reset`, ...).
//!
//! The IPv4 live addresses are `--alive`'s (the sparse lab of `answers`), given the kinds echo,
//! reset and timestamp in turn; the IPv6 ones are `--alive6` addresses of `--prefix6`, given
//! echo and reset in turn (ICMPv6 has no timestamp). One nftables table of its own, ahead of
//! the truth's and the answers' tables.

use crate::netns::{self, Names, TARGET_ADDR, TARGET_ADDR6};
use clap::Args;
use ipnet::{Ipv4Net, Ipv6Net};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The table these rules live in.
pub const TABLE: &str = "synlab_discovery";
/// The first on-link address that answers ARP only (the next ones follow it).
pub const ON_LINK_FIRST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
/// The first on-link IPv6 address that answers neighbour solicitation only.
pub const ON_LINK_FIRST6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0x18, 0, 0, 0, 0x10);
/// Most on-link hosts (198.18.0.10-209, so the silent one after them stays in the /24).
pub const MAX_ON_LINK: u8 = 200;
/// The ICMP code the router answers its IPv4 block with.
pub const ROUTER_CODE: &str = "host-unreachable";
/// The ICMPv6 code the router answers its IPv6 block with.
pub const ROUTER_CODE6: &str = "addr-unreachable";

/// Options of `serve` that shape a discovery lab.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DiscoveryArgs {
    /// Host discovery lab: each --alive address answers one probe kind only (echo, TCP reset,
    /// timestamp, in turn), every other address of --prefix is silent, and --on-link
    /// addresses answer ARP only. Needs --open-hosts 0 --filtered 0.
    #[arg(long = "discovery")]
    pub on: bool,
    /// With --discovery and an IPv6 side: N addresses of --prefix6 answer one kind each
    /// (ICMPv6 echo, TCP reset, in turn); the rest of 2001:2:0:19::/64 is silent.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub alive6: usize,
    /// With --discovery: N addresses on the scanner's link, from 198.18.0.10 (and, with an
    /// IPv6 side, 2001:2:0:18::10), answer ARP (neighbour solicitation) only; the address
    /// after them is held by nobody.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub on_link: u8,
    /// With --discovery: a block of 198.19.0.0/16 outside --prefix that the target routes
    /// on and answers with ICMP host-unreachable from its veth address (a router hop).
    #[arg(long, value_name = "CIDR")]
    pub router_block: Option<String>,
    /// With --discovery: the IPv6 twin of --router-block, inside 2001:2:0:19::/64 and
    /// outside --prefix6 (ICMPv6 address-unreachable from 2001:2:0:18::2).
    #[arg(long, value_name = "CIDR")]
    pub router_block6: Option<String>,
}

impl Default for DiscoveryArgs {
    fn default() -> DiscoveryArgs {
        DiscoveryArgs {
            on: false,
            alive6: 0,
            on_link: 1,
            router_block: None,
            router_block6: None,
        }
    }
}

/// The reply that shows an address up, as nmap's `<status reason=...>` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// An ICMP (ICMPv6) echo reply.
    EchoReply,
    /// A TCP RST (to a SYN on 443 or an ACK on 80; the host resets every TCP port).
    Reset,
    /// An ICMP timestamp reply.
    TimestampReply,
    /// An ARP reply on the scanner's link.
    ArpResponse,
    /// A neighbour advertisement on the scanner's link.
    NdResponse,
}

impl Reason {
    /// nmap's name of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::EchoReply => "echo-reply",
            Reason::Reset => "reset",
            Reason::TimestampReply => "timestamp-reply",
            Reason::ArpResponse => "arp-response",
            Reason::NdResponse => "nd-response",
        }
    }

    /// The `reason_ttl` nmap writes for it in this lab: the target's hop limit (64, no hop
    /// between) for IP replies, 0 for ARP and neighbour discovery.
    pub fn reason_ttl(self) -> u8 {
        match self {
            Reason::ArpResponse | Reason::NdResponse => 0,
            _ => 64,
        }
    }
}

/// The kinds the IPv4 live addresses get, in turn.
pub const KINDS4: [Reason; 3] = [Reason::EchoReply, Reason::Reset, Reason::TimestampReply];
/// The kinds the IPv6 live addresses get, in turn.
pub const KINDS6: [Reason; 2] = [Reason::EchoReply, Reason::Reset];

/// One address that answers, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UpHost {
    /// The address.
    pub addr: IpAddr,
    /// The only reply it sends to nmap's discovery probes.
    pub reason: Reason,
}

/// A block the router answers for with destination-unreachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterBlock {
    /// The block, e.g. "198.19.255.0/24".
    pub block: String,
    /// The router address the errors come from (the scanner's next hop).
    pub via: IpAddr,
    /// The ICMP (ICMPv6) code, as nft names it.
    pub code: String,
}

/// A host's `<status>` as nmap -sn writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NmapStatus {
    /// "up" or "down".
    pub state: &'static str,
    /// nmap's reason ("echo-reply", ..., "no-response").
    pub reason: &'static str,
    /// The reply's TTL (hop limit) nmap writes, 0 without a reply or for ARP and ND.
    pub reason_ttl: u8,
}

/// The discovery truth of a lab (`discovery` in the description `serve` prints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryTruth {
    /// Every address that answers, sorted, with the one reply it sends.
    pub up: Vec<UpHost>,
    /// On-link addresses held by nobody. Every address of --prefix (and of
    /// 2001:2:0:19::/64) not in `up` is silent too.
    pub silent: Vec<IpAddr>,
    /// Blocks behind the router, each answered with unreachables from `via`.
    pub unreachable: Vec<RouterBlock>,
}

impl DiscoveryTruth {
    /// The reason `addr` is up, or None when it is not.
    pub fn reason(&self, addr: IpAddr) -> Option<Reason> {
        self.up
            .binary_search_by(|h| h.addr.cmp(&addr))
            .ok()
            .map(|i| self.up[i].reason)
    }

    /// The up addresses of one kind.
    pub fn with_reason(&self, reason: Reason) -> Vec<IpAddr> {
        self.up
            .iter()
            .filter(|h| h.reason == reason)
            .map(|h| h.addr)
            .collect()
    }

    /// How a host discovery scan must report `addr`, as nmap 7.93 `-sn` does: up with its
    /// reason, or down with no-response. A host behind the router's unreachable is down with
    /// no-response too: nmap sees the errors (`-d` prints "Got destination unreachable") but
    /// keeps retrying, and names no reason_ip (its port scan does: [`RouterBlock::via`]).
    pub fn nmap_status(&self, addr: IpAddr) -> NmapStatus {
        match self.reason(addr) {
            Some(r) => NmapStatus {
                state: "up",
                reason: r.as_str(),
                reason_ttl: r.reason_ttl(),
            },
            None => NmapStatus {
                state: "down",
                reason: "no-response",
                reason_ttl: 0,
            },
        }
    }

    /// The router block holding `addr`, if any.
    pub fn router_for(&self, addr: IpAddr) -> Option<&RouterBlock> {
        self.unreachable.iter().find(|b| match (addr, &b.block) {
            (IpAddr::V4(a), s) => s.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&a)),
            (IpAddr::V6(a), s) => s.parse::<Ipv6Net>().is_ok_and(|n| n.contains(&a)),
        })
    }
}

/// A checked discovery lab: what to raise and the truth it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The IPv4 block whose addresses not up are silent (the lab's --prefix).
    pub prefix: Ipv4Net,
    /// Whether the lab has an IPv6 side.
    pub v6: bool,
    /// IPv4 live addresses, sorted, with their kinds.
    pub up4: Vec<(Ipv4Addr, Reason)>,
    /// IPv6 live addresses, sorted, with their kinds.
    pub up6: Vec<(Ipv6Addr, Reason)>,
    /// On-link hosts answering ARP (and NS with IPv6).
    pub on_link: u8,
    /// The IPv4 router block.
    pub router_block: Option<Ipv4Net>,
    /// The IPv6 router block.
    pub router_block6: Option<Ipv6Net>,
}

/// What the rest of the lab plan tells the discovery plan.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The lab's IPv4 --prefix.
    pub prefix: Ipv4Net,
    /// The lab's IPv6 --prefix6, when it has an IPv6 side.
    pub prefix6: Option<Ipv6Net>,
    /// The live IPv4 addresses `--alive` chose (None: --alive 0).
    pub alive: Option<&'a BTreeSet<Ipv4Addr>>,
    /// Pairs of the port truth (open, filtered, unreachable), which --discovery refuses.
    pub port_pairs: usize,
    /// The lab's seed.
    pub seed: u64,
}

impl Plan {
    /// Checks `args` against the lab; None without --discovery.
    pub fn new(args: &DiscoveryArgs, cx: &Context) -> Result<Option<Plan>, String> {
        if !args.on {
            let stray = args.alive6 > 0
                || args.router_block.is_some()
                || args.router_block6.is_some()
                || args.on_link != 1;
            if stray {
                return Err("--alive6, --on-link and --router-block(6) shape a discovery lab: add --discovery".into());
            }
            return Ok(None);
        }
        if cx.port_pairs > 0 {
            return Err("--discovery shapes whole hosts, not ports: add --open-hosts 0 --filtered 0 --unreachable 0".into());
        }
        if args.on_link > MAX_ON_LINK {
            return Err(format!(
                "--on-link {} is more than {MAX_ON_LINK}: use 0-{MAX_ON_LINK}",
                args.on_link
            ));
        }
        let up4 = cx
            .alive
            .map(|a| {
                a.iter()
                    .enumerate()
                    .map(|(i, &ip)| (ip, KINDS4[i % KINDS4.len()]))
                    .collect()
            })
            .unwrap_or_default();
        let up6 = match (args.alive6, cx.prefix6) {
            (0, _) => Vec::new(),
            (_, None) => {
                return Err("--alive6 needs an IPv6 side: add --family 6 or --family mixed".into())
            }
            (n, Some(p6)) => choose6(n, p6, cx.seed)?
                .into_iter()
                .enumerate()
                .map(|(i, ip)| (ip, KINDS6[i % KINDS6.len()]))
                .collect(),
        };
        let router_block = args
            .router_block
            .as_deref()
            .map(|s| parse_router_block(s, cx.prefix))
            .transpose()?;
        let router_block6 = match (&args.router_block6, cx.prefix6) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(
                    "--router-block6 needs an IPv6 side: add --family 6 or --family mixed".into(),
                )
            }
            (Some(s), Some(p6)) => Some(parse_router_block6(s, p6)?),
        };
        Ok(Some(Plan {
            prefix: cx.prefix,
            v6: cx.prefix6.is_some(),
            up4,
            up6,
            on_link: args.on_link,
            router_block,
            router_block6,
        }))
    }

    /// The on-link addresses answering ARP only.
    pub fn on_link4(&self) -> Vec<Ipv4Addr> {
        (0..u32::from(self.on_link))
            .map(|i| Ipv4Addr::from(u32::from(ON_LINK_FIRST) + i))
            .collect()
    }

    /// The on-link addresses answering neighbour solicitation only (none without IPv6).
    pub fn on_link6(&self) -> Vec<Ipv6Addr> {
        if !self.v6 {
            return Vec::new();
        }
        (0..u128::from(self.on_link))
            .map(|i| Ipv6Addr::from(u128::from(ON_LINK_FIRST6) + i))
            .collect()
    }

    /// The truth this plan raises.
    pub fn truth(&self) -> DiscoveryTruth {
        let mut up: Vec<UpHost> = self
            .up4
            .iter()
            .map(|&(a, reason)| UpHost {
                addr: a.into(),
                reason,
            })
            .chain(self.up6.iter().map(|&(a, reason)| UpHost {
                addr: a.into(),
                reason,
            }))
            .chain(self.on_link4().into_iter().map(|a| UpHost {
                addr: a.into(),
                reason: Reason::ArpResponse,
            }))
            .chain(self.on_link6().into_iter().map(|a| UpHost {
                addr: a.into(),
                reason: Reason::NdResponse,
            }))
            .collect();
        up.sort();
        let n = u32::from(self.on_link);
        let mut silent = vec![IpAddr::V4(Ipv4Addr::from(u32::from(ON_LINK_FIRST) + n))];
        if self.v6 {
            silent.push(IpAddr::V6(Ipv6Addr::from(
                u128::from(ON_LINK_FIRST6) + u128::from(n),
            )));
        }
        let mut unreachable = Vec::new();
        if let Some(b) = self.router_block {
            unreachable.push(RouterBlock {
                block: b.to_string(),
                via: TARGET_ADDR.into(),
                code: ROUTER_CODE.into(),
            });
        }
        if let Some(b) = self.router_block6 {
            unreachable.push(RouterBlock {
                block: b.to_string(),
                via: TARGET_ADDR6.into(),
                code: ROUTER_CODE6.into(),
            });
        }
        DiscoveryTruth {
            up,
            silent,
            unreachable,
        }
    }

    /// The nftables table (sets empty; [`Plan::element_scripts`] fills them).
    ///
    /// Input, ahead of the other tables: a live address lets its one kind through (a
    /// reset host every TCP segment, which the kernel answers with RSTs), and the rest of
    /// the target blocks and the on-link hosts is dropped; neighbour solicitations pass.
    /// Forward: the router blocks are rejected, everything else dropped.
    pub fn ruleset(&self) -> String {
        let mut s = format!("table inet {TABLE} {{\n");
        let mut sets = vec![("echo4", "ipv4_addr"), ("reset4", "ipv4_addr")];
        sets.push(("timestamp4", "ipv4_addr"));
        if self.v6 {
            sets.extend([("echo6", "ipv6_addr"), ("reset6", "ipv6_addr")]);
        }
        for (set, ty) in sets {
            let _ = writeln!(s, "\tset {set} {{\n\t\ttype {ty}\n\t}}");
        }
        s.push_str("\tchain input {\n\t\ttype filter hook input priority -20; policy accept;\n");
        s.push_str("\t\tip daddr @echo4 icmp type echo-request accept\n");
        s.push_str("\t\tip daddr @reset4 meta l4proto tcp accept\n");
        s.push_str("\t\tip daddr @timestamp4 icmp type timestamp-request accept\n");
        let mut dark4 = vec![self.prefix.to_string()];
        if let Some(last) = self.on_link4().last() {
            dark4.push(format!("{ON_LINK_FIRST}-{last}"));
        }
        let _ = writeln!(s, "\t\tip daddr {{ {} }} drop", dark4.join(", "));
        if self.v6 {
            s.push_str("\t\ticmpv6 type nd-neighbor-solicit accept\n");
            s.push_str("\t\tip6 daddr @echo6 icmpv6 type echo-request accept\n");
            s.push_str("\t\tip6 daddr @reset6 meta l4proto tcp accept\n");
            let mut dark6 = vec![crate::truth::TARGET_BLOCK6.to_string()];
            if let Some(last) = self.on_link6().last() {
                dark6.push(format!("{ON_LINK_FIRST6}-{last}"));
            }
            let _ = writeln!(s, "\t\tip6 daddr {{ {} }} drop", dark6.join(", "));
        }
        s.push_str("\t}\n");
        if self.router_block.is_some() || self.router_block6.is_some() {
            s.push_str(
                "\tchain forward {\n\t\ttype filter hook forward priority 0; policy drop;\n",
            );
            if let Some(b) = self.router_block {
                let _ = writeln!(s, "\t\tip daddr {b} reject with icmp type {ROUTER_CODE}");
            }
            if let Some(b) = self.router_block6 {
                let _ = writeln!(
                    s,
                    "\t\tip6 daddr {b} reject with icmpv6 type {ROUTER_CODE6}"
                );
            }
            s.push_str("\t}\n");
        }
        s.push_str("}\n");
        s
    }

    /// `add element` scripts of the live addresses, at most `chunk` elements each.
    pub fn element_scripts(&self, chunk: usize) -> Vec<String> {
        let mut out = Vec::new();
        for (set, kind) in [
            ("echo4", Reason::EchoReply),
            ("reset4", Reason::Reset),
            ("timestamp4", Reason::TimestampReply),
        ] {
            let addrs: Vec<String> = self
                .up4
                .iter()
                .filter(|h| h.1 == kind)
                .map(|h| h.0.to_string())
                .collect();
            out.extend(batches(set, &addrs, chunk));
        }
        for (set, kind) in [("echo6", Reason::EchoReply), ("reset6", Reason::Reset)] {
            let addrs: Vec<String> = self
                .up6
                .iter()
                .filter(|h| h.1 == kind)
                .map(|h| h.0.to_string())
                .collect();
            out.extend(batches(set, &addrs, chunk));
        }
        out
    }

    /// `ip -batch` lines for the target namespace: the on-link addresses (secondary IPv4,
    /// deprecated IPv6, so neither is ever chosen as a source), and the router's far side:
    /// a veth pair inside the namespace that the router blocks are routed to, so that their
    /// packets reach the forward hook.
    pub fn ip_batch(&self, names: &Names) -> String {
        let mut s = String::new();
        let dev = &names.target_if;
        for a in self.on_link4() {
            let _ = writeln!(s, "addr add {a}/24 dev {dev}");
        }
        for a in self.on_link6() {
            let _ = writeln!(
                s,
                "addr add {a}/64 dev {dev} nodad preferred_lft 0 valid_lft forever"
            );
        }
        if self.router_block.is_some() || self.router_block6.is_some() {
            let (r, q) = router_ifs(names);
            let _ = writeln!(s, "link add {r} type veth peer name {q}");
            let _ = writeln!(s, "link set {q} up");
            let _ = writeln!(s, "link set {r} up");
        }
        // In the local table, where the target's local routes are: the longer block wins.
        if let Some(b) = self.router_block {
            let _ = writeln!(s, "route add {b} dev {} table local", router_ifs(names).0);
        }
        if let Some(b) = self.router_block6 {
            let _ = writeln!(s, "route add {b} dev {} table local", router_ifs(names).0);
        }
        s
    }

    /// Sysctls of the target namespace: forwarding for the router blocks, and ICMP errors
    /// sent from the address they came in on (the router's veth address).
    pub fn sysctls(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.router_block.is_some() {
            v.push("net.ipv4.ip_forward=1");
            v.push("net.ipv4.icmp_errors_use_inbound_ifaddr=1");
        }
        if self.router_block6.is_some() {
            v.push("net.ipv6.conf.all.forwarding=1");
        }
        v
    }

    /// Applies the plan to the target namespace of a raised lab (whose teardown removes
    /// everything this adds).
    pub fn raise(&self, names: &Names) -> Result<(), String> {
        let t = names.target_ns.as_str();
        let sysctls = self.sysctls();
        if !sysctls.is_empty() {
            netns::sysctl(t, &sysctls)?;
        }
        let batch = self.ip_batch(names);
        if !batch.is_empty() {
            netns::run("ip", &["-n", t, "-batch", "-"], Some(&batch))?;
        }
        netns::nft_load(t, &self.ruleset())?;
        for script in self.element_scripts(crate::nft::CHUNK) {
            netns::nft_load(t, &script)?;
        }
        Ok(())
    }
}

/// The router's veth pair inside the target namespace: `<name>r` (routed to) and `<name>q`.
pub fn router_ifs(names: &Names) -> (String, String) {
    (format!("{}r", names.name), format!("{}q", names.name))
}

fn batches(set: &str, addrs: &[String], chunk: usize) -> Vec<String> {
    addrs
        .chunks(chunk.max(1))
        .map(|c| format!("add element inet {TABLE} {set} {{ {} }}\n", c.join(", ")))
        .collect()
}

/// `n` distinct addresses of `prefix6` (its subnet-router anycast address left out), sorted.
fn choose6(n: usize, prefix6: Ipv6Net, seed: u64) -> Result<Vec<Ipv6Addr>, String> {
    let (first, count) = crate::truth::candidate_hosts6(prefix6);
    if n as u64 > count {
        return Err(format!(
            "--alive6 {n} does not fit the {count} hosts of --prefix6 {prefix6}"
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed.rotate_left(53) ^ 0x510e_527f_ade6_82d1);
    let mut chosen = BTreeSet::new();
    if n as u64 * 2 <= count {
        while chosen.len() < n {
            chosen.insert(first + u128::from(rng.random_range(0..count)));
        }
    } else {
        chosen.extend((0..n as u128).map(|i| first + i));
    }
    Ok(chosen.into_iter().map(Ipv6Addr::from).collect())
}

fn parse_router_block(s: &str, prefix: Ipv4Net) -> Result<Ipv4Net, String> {
    let net = crate::truth::parse_prefix(s).map_err(|e| format!("--router-block: {e}"))?;
    if net.contains(&prefix.network()) || prefix.contains(&net.network()) {
        return Err(format!(
            "--router-block {net} overlaps --prefix {prefix}: pick a block outside it"
        ));
    }
    Ok(net)
}

fn parse_router_block6(s: &str, prefix6: Ipv6Net) -> Result<Ipv6Net, String> {
    let net: Ipv6Net = s
        .trim()
        .parse()
        .map_err(|_| format!("bad --router-block6 {s:?}: write it like 2001:2:0:19:ff::/80"))?;
    let block: Ipv6Net = crate::truth::TARGET_BLOCK6
        .parse()
        .map_err(|_| "internal: bad block".to_string())?;
    if !block.contains(&net) || net.prefix_len() <= block.prefix_len() || net.trunc() != net {
        return Err(format!(
            "--router-block6 {net} must be a block inside {block} (host bits zero), narrower than it"
        ));
    }
    if net.contains(&prefix6.network()) || prefix6.contains(&net.network()) {
        return Err(format!(
            "--router-block6 {net} overlaps --prefix6 {prefix6}: pick a block outside it"
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> DiscoveryArgs {
        DiscoveryArgs {
            on: true,
            alive6: 2,
            on_link: 2,
            router_block: Some("198.19.255.0/24".into()),
            router_block6: Some("2001:2:0:19:ff::/80".into()),
        }
    }

    fn alive() -> BTreeSet<Ipv4Addr> {
        [9, 3, 5, 7].map(|i| Ipv4Addr::new(198, 19, 0, i)).into()
    }

    fn context(alive: &BTreeSet<Ipv4Addr>) -> Context<'_> {
        Context {
            prefix: "198.19.0.0/28".parse().unwrap(),
            prefix6: Some("2001:2:0:19::/124".parse().unwrap()),
            alive: Some(alive),
            port_pairs: 0,
            seed: 7,
        }
    }

    fn plan() -> Plan {
        Plan::new(&args(), &context(&alive())).unwrap().unwrap()
    }

    #[test]
    fn kinds_go_round_in_address_order() {
        let p = plan();
        let ip = |i| Ipv4Addr::new(198, 19, 0, i);
        assert_eq!(
            p.up4,
            vec![
                (ip(3), Reason::EchoReply),
                (ip(5), Reason::Reset),
                (ip(7), Reason::TimestampReply),
                (ip(9), Reason::EchoReply),
            ]
        );
        assert_eq!(p.up6.len(), 2);
        assert_eq!((p.up6[0].1, p.up6[1].1), (Reason::EchoReply, Reason::Reset));
        assert!(p.up6[0].0 < p.up6[1].0);
        let p6: Ipv6Net = "2001:2:0:19::/124".parse().unwrap();
        assert!(p.up6.iter().all(|h| p6.contains(&h.0)));
        assert_eq!(p, plan(), "the seed decides");
    }

    #[test]
    fn truth_names_every_kind_and_reads_back() {
        let t = plan().truth();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(t.reason(ip("198.19.0.7")), Some(Reason::TimestampReply));
        assert_eq!(t.reason(ip("198.19.0.4")), None);
        assert_eq!(
            t.with_reason(Reason::ArpResponse),
            vec![ip("198.18.0.10"), ip("198.18.0.11")]
        );
        assert_eq!(
            t.with_reason(Reason::NdResponse),
            vec![ip("2001:2:0:18::10"), ip("2001:2:0:18::11")]
        );
        assert_eq!(t.silent, vec![ip("198.18.0.12"), ip("2001:2:0:18::12")]);
        assert_eq!(
            t.unreachable,
            vec![
                RouterBlock {
                    block: "198.19.255.0/24".into(),
                    via: ip("198.18.0.2"),
                    code: "host-unreachable".into()
                },
                RouterBlock {
                    block: "2001:2:0:19:ff::/80".into(),
                    via: ip("2001:2:0:18::2"),
                    code: "addr-unreachable".into()
                }
            ]
        );
        assert_eq!(
            t.router_for(ip("198.19.255.9")).map(|b| b.via),
            Some(ip("198.18.0.2"))
        );
        assert_eq!(
            t.router_for(ip("2001:2:0:19:ff::9")).map(|b| b.via),
            Some(ip("2001:2:0:18::2"))
        );
        assert!(t.router_for(ip("198.19.0.9")).is_none());
        let st = |state, reason, reason_ttl| NmapStatus {
            state,
            reason,
            reason_ttl,
        };
        assert_eq!(t.nmap_status(ip("198.19.0.5")), st("up", "reset", 64));
        assert_eq!(
            t.nmap_status(ip("2001:2:0:18::10")),
            st("up", "nd-response", 0)
        );
        assert_eq!(
            t.nmap_status(ip("198.19.255.9")),
            st("down", "no-response", 0)
        );
        assert_eq!(t.up.len(), 4 + 2 + 2 + 2);
        let json = serde_json::to_string(&t).unwrap();
        assert!(
            json.contains(r#"{"addr":"198.19.0.5","reason":"reset"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<DiscoveryTruth>(&json).unwrap(), t);
        assert_eq!(Reason::TimestampReply.as_str(), "timestamp-reply");
        assert_eq!(
            (
                Reason::EchoReply.reason_ttl(),
                Reason::NdResponse.reason_ttl()
            ),
            (64, 0)
        );
    }

    #[test]
    fn ruleset_exact() {
        let want = "table inet synlab_discovery {\n\
\tset echo4 {\n\t\ttype ipv4_addr\n\t}\n\
\tset reset4 {\n\t\ttype ipv4_addr\n\t}\n\
\tset timestamp4 {\n\t\ttype ipv4_addr\n\t}\n\
\tset echo6 {\n\t\ttype ipv6_addr\n\t}\n\
\tset reset6 {\n\t\ttype ipv6_addr\n\t}\n\
\tchain input {\n\
\t\ttype filter hook input priority -20; policy accept;\n\
\t\tip daddr @echo4 icmp type echo-request accept\n\
\t\tip daddr @reset4 meta l4proto tcp accept\n\
\t\tip daddr @timestamp4 icmp type timestamp-request accept\n\
\t\tip daddr { 198.19.0.0/28, 198.18.0.10-198.18.0.11 } drop\n\
\t\ticmpv6 type nd-neighbor-solicit accept\n\
\t\tip6 daddr @echo6 icmpv6 type echo-request accept\n\
\t\tip6 daddr @reset6 meta l4proto tcp accept\n\
\t\tip6 daddr { 2001:2:0:19::/64, 2001:2:0:18::10-2001:2:0:18::11 } drop\n\
\t}\n\
\tchain forward {\n\
\t\ttype filter hook forward priority 0; policy drop;\n\
\t\tip daddr 198.19.255.0/24 reject with icmp type host-unreachable\n\
\t\tip6 daddr 2001:2:0:19:ff::/80 reject with icmpv6 type addr-unreachable\n\
\t}\n}\n";
        assert_eq!(plan().ruleset(), want);
        let v4_only = Plan {
            v6: false,
            up6: Vec::new(),
            on_link: 0,
            router_block: None,
            router_block6: None,
            ..plan()
        };
        assert_eq!(
            v4_only.ruleset(),
            "table inet synlab_discovery {\n\
\tset echo4 {\n\t\ttype ipv4_addr\n\t}\n\
\tset reset4 {\n\t\ttype ipv4_addr\n\t}\n\
\tset timestamp4 {\n\t\ttype ipv4_addr\n\t}\n\
\tchain input {\n\
\t\ttype filter hook input priority -20; policy accept;\n\
\t\tip daddr @echo4 icmp type echo-request accept\n\
\t\tip daddr @reset4 meta l4proto tcp accept\n\
\t\tip daddr @timestamp4 icmp type timestamp-request accept\n\
\t\tip daddr { 198.19.0.0/28 } drop\n\
\t}\n}\n"
        );
        assert!(v4_only.sysctls().is_empty());
        assert_eq!(v4_only.ip_batch(&Names::new("x1")), "");
    }

    #[test]
    fn elements_batch_and_links_exact() {
        let p = plan();
        let e = p.element_scripts(1);
        assert_eq!(
            e[..4],
            [
                "add element inet synlab_discovery echo4 { 198.19.0.3 }\n",
                "add element inet synlab_discovery echo4 { 198.19.0.9 }\n",
                "add element inet synlab_discovery reset4 { 198.19.0.5 }\n",
                "add element inet synlab_discovery timestamp4 { 198.19.0.7 }\n",
            ]
        );
        assert_eq!(e.len(), 6);
        assert!(e[4].starts_with("add element inet synlab_discovery echo6 { 2001:2:0:19::"));
        assert_eq!(
            p.ip_batch(&Names::new("x1")),
            "addr add 198.18.0.10/24 dev x1b\n\
addr add 198.18.0.11/24 dev x1b\n\
addr add 2001:2:0:18::10/64 dev x1b nodad preferred_lft 0 valid_lft forever\n\
addr add 2001:2:0:18::11/64 dev x1b nodad preferred_lft 0 valid_lft forever\n\
link add x1r type veth peer name x1q\n\
link set x1q up\n\
link set x1r up\n\
route add 198.19.255.0/24 dev x1r table local\n\
route add 2001:2:0:19:ff::/80 dev x1r table local\n"
        );
        assert_eq!(
            p.sysctls(),
            [
                "net.ipv4.ip_forward=1",
                "net.ipv4.icmp_errors_use_inbound_ifaddr=1",
                "net.ipv6.conf.all.forwarding=1"
            ]
        );
    }

    #[test]
    fn bad_shapes_refused_with_one_line() {
        let a = alive();
        let err = |args: DiscoveryArgs, cx: &Context| Plan::new(&args, cx).unwrap_err();
        let cx = context(&a);
        assert_eq!(Plan::new(&DiscoveryArgs::default(), &cx), Ok(None));
        assert_eq!(
            err(
                DiscoveryArgs {
                    on: false,
                    ..args()
                },
                &cx
            ),
            "--alive6, --on-link and --router-block(6) shape a discovery lab: add --discovery"
        );
        let ports = Context {
            port_pairs: 3,
            ..context(&a)
        };
        assert_eq!(
            err(args(), &ports),
            "--discovery shapes whole hosts, not ports: add --open-hosts 0 --filtered 0 --unreachable 0"
        );
        assert_eq!(
            err(
                DiscoveryArgs {
                    on_link: 201,
                    ..args()
                },
                &cx
            ),
            "--on-link 201 is more than 200: use 0-200"
        );
        let no6 = Context {
            prefix6: None,
            ..context(&a)
        };
        assert_eq!(
            err(args(), &no6),
            "--alive6 needs an IPv6 side: add --family 6 or --family mixed"
        );
        assert_eq!(
            err(
                DiscoveryArgs {
                    router_block: Some("198.19.0.0/24".into()),
                    ..args()
                },
                &cx
            ),
            "--router-block 198.19.0.0/24 overlaps --prefix 198.19.0.0/28: pick a block outside it"
        );
        assert_eq!(
            err(
                DiscoveryArgs {
                    router_block: Some("10.0.0.0/24".into()),
                    ..args()
                },
                &cx
            ),
            "--router-block: prefix 10.0.0.0/24 is outside 198.19.0.0/16: the lab only uses that block"
        );
        assert_eq!(
            err(
                DiscoveryArgs {
                    router_block6: Some("2001:db8::/64".into()),
                    ..args()
                },
                &cx
            ),
            "--router-block6 2001:db8::/64 must be a block inside 2001:2:0:19::/64 (host bits zero), narrower than it"
        );
        assert_eq!(
            err(
                DiscoveryArgs {
                    router_block6: Some("2001:2:0:19::/120".into()),
                    ..args()
                },
                &cx
            ),
            "--router-block6 2001:2:0:19::/120 overlaps --prefix6 2001:2:0:19::/124: pick a block outside it"
        );
        assert_eq!(
            err(
                DiscoveryArgs {
                    alive6: 16,
                    ..args()
                },
                &cx
            ),
            "--alive6 16 does not fit the 15 hosts of --prefix6 2001:2:0:19::/124"
        );
    }
}
