//! Source address, interface and next hop for a destination.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};

use pnet::datalink::{self, NetworkInterface};
use socket2::{Domain, Protocol, Socket, Type};

use super::rtnl::{self, RouteAnswer};
use super::{NetError, Route};
use crate::sys::netlink::Netlink;

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;

/// One line of /proc/net/route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteEntry {
    pub iface: String,
    pub dst: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub flags: u32,
    pub metric: u32,
    pub mask: Ipv4Addr,
}

/// The kernel prints each __be32 address with %08X of its in-memory value.
fn hex_addr(s: &str) -> Option<Ipv4Addr> {
    u32::from_str_radix(s, 16)
        .ok()
        .map(|v| Ipv4Addr::from(v.to_ne_bytes()))
}

/// Parses /proc/net/route text; malformed lines are skipped.
pub(crate) fn parse_proc_route(text: &str) -> Vec<RouteEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            Some(RouteEntry {
                iface: f[0].to_string(),
                dst: hex_addr(f[1])?,
                gateway: hex_addr(f[2])?,
                flags: u32::from_str_radix(f[3], 16).ok()?,
                metric: f[6].parse().ok()?,
                mask: hex_addr(f[7])?,
            })
        })
        .collect()
}

/// The gateway of the most specific up route to `dst` on `iface`, else `dst` (on-link).
pub(crate) fn next_hop(routes: &[RouteEntry], iface: &str, dst: Ipv4Addr) -> Ipv4Addr {
    let d = u32::from(dst);
    routes
        .iter()
        .filter(|r| r.iface == iface && r.flags & RTF_UP != 0)
        .filter(|r| d & u32::from(r.mask) == u32::from(r.dst) & u32::from(r.mask))
        .max_by_key(|r| (u32::from(r.mask).count_ones(), std::cmp::Reverse(r.metric)))
        .map(|r| {
            if r.flags & RTF_GATEWAY != 0 && !r.gateway.is_unspecified() {
                r.gateway
            } else {
                dst
            }
        })
        .unwrap_or(dst)
}

/// Reads a /proc/net file of the calling thread's network namespace.
pub(crate) fn read_proc_net(name: &str) -> std::io::Result<String> {
    // /proc/net follows the thread-group leader's namespace; thread-self follows ours.
    std::fs::read_to_string(format!("/proc/thread-self/net/{name}"))
        .or_else(|_| std::fs::read_to_string(format!("/proc/net/{name}")))
}

/// The source address the kernel picks for `dst` (optionally through `iface`); connect() on
/// UDP sends nothing.
fn kernel_source(dst: Ipv4Addr, iface: Option<&str>) -> std::io::Result<Ipv4Addr> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(name) = iface {
        // Unprivileged since Linux 5.7; without it the kernel's choice still stands.
        let _ = s.bind_device(Some(name.as_bytes()));
    }
    s.connect(&SocketAddrV4::new(dst, 9).into())?;
    let local = s.local_addr()?;
    match local.as_socket() {
        Some(std::net::SocketAddr::V4(a)) => Ok(*a.ip()),
        _ => Err(std::io::Error::other("no IPv4 source address")),
    }
}

fn owns(ni: &NetworkInterface, ip: Ipv4Addr) -> bool {
    ni.ips.iter().any(|n| n.ip() == IpAddr::V4(ip))
}

fn first_v4(ni: &NetworkInterface) -> Option<Ipv4Addr> {
    ni.ips.iter().find_map(|n| match n.ip() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    })
}

/// Checks that `name` is an interface of this network namespace; the error is one line
/// naming the interfaces there are.
pub fn check_interface(name: &str) -> Result<(), crate::error::ScanError> {
    let all = datalink::interfaces();
    if all.iter().any(|i| i.name == name) {
        return Ok(());
    }
    let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
    Err(crate::error::ScanError::usage(format!(
        "bad -e/--interface \"{name}\": no such interface here; use one of: {} (see `ip link`)",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )))
}

/// True when `ip` is an address of this machine (network namespace): one an interface
/// carries, or one the kernel lets a socket bind (a local route such as 127.0.0.0/8).
pub fn is_local_address(ip: IpAddr) -> bool {
    datalink::interfaces()
        .iter()
        .any(|i| i.ips.iter().any(|n| n.ip() == ip))
        || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// See `net::route_to`.
pub(crate) fn route_to(
    dst: Ipv4Addr,
    iface: Option<&str>,
    source_ip: Option<Ipv4Addr>,
) -> Result<Route, NetError> {
    let all = datalink::interfaces();
    let named = match iface {
        Some(name) => Some(all.iter().find(|i| i.name == name).ok_or_else(|| {
            NetError::Setup(format!(
                "interface {name} does not exist: pass an interface listed by `ip link`"
            ))
        })?),
        None => None,
    };
    let src = match source_ip {
        Some(s) => s,
        None => match kernel_source(dst, iface) {
            Ok(s) => s,
            Err(e) => match named.and_then(first_v4) {
                Some(s) => s,
                None => {
                    return Err(NetError::Setup(format!(
                        "no route to {dst}: {e}; add a route or pass --interface and --source-ip"
                    )))
                }
            },
        },
    };
    let ni = match named {
        Some(n) => n,
        None => all.iter().find(|i| owns(i, src)).ok_or_else(|| {
            NetError::Setup(format!(
                "no interface has the source address {src}: pass --interface"
            ))
        })?,
    };
    if !ni.is_up() {
        return Err(NetError::Setup(format!(
            "interface {} is down: bring it up (`ip link set {} up`) or pass another --interface",
            ni.name, ni.name
        )));
    }
    let is_loopback = ni.is_loopback() || dst.is_loopback();
    let next_hop = if is_loopback {
        dst
    } else {
        let routes = read_proc_net("route")
            .map(|t| parse_proc_route(&t))
            .unwrap_or_default();
        next_hop(&routes, &ni.name, dst)
    };
    let source_mac = match (is_loopback, ni.mac) {
        (false, Some(m)) => [m.0, m.1, m.2, m.3, m.4, m.5],
        _ => [0; 6],
    };
    Ok(Route {
        iface: ni.name.clone(),
        ifindex: ni.index,
        source_ip: src,
        source_mac,
        next_hop,
        is_loopback,
    })
}

/// An address and its zone: in `fe80::1%eth0` the zone names the interface a link-local
/// address is reached through (an interface index, `fe80::1%2`, works too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopedIp {
    /// The address.
    pub ip: IpAddr,
    /// The interface named after `%`, IPv6 only.
    pub zone: Option<String>,
}

/// Longest interface name (IFNAMSIZ less the NUL).
const MAX_IFNAME: usize = 15;

impl ScopedIp {
    /// Parses `IPV4`, `IPV6` or `IPV6%ZONE`; None when it is none of them.
    pub fn parse(s: &str) -> Option<ScopedIp> {
        let s = s.trim();
        match s.split_once('%') {
            None => Some(ScopedIp {
                ip: s.parse().ok()?,
                zone: None,
            }),
            Some((addr, zone)) => {
                let ip: Ipv6Addr = addr.parse().ok()?;
                let ok = !zone.is_empty()
                    && zone.len() <= MAX_IFNAME
                    && !zone.contains(|c: char| c == '/' || c.is_whitespace() || c == '%');
                ok.then(|| ScopedIp {
                    ip: IpAddr::V6(ip),
                    zone: Some(zone.to_string()),
                })
            }
        }
    }
}

impl std::fmt::Display for ScopedIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.zone {
            Some(z) => write!(f, "{}%{z}", self.ip),
            None => write!(f, "{}", self.ip),
        }
    }
}

/// True for fe80::/10, whose addresses mean something only on one link.
pub fn is_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// The interface called `name`, or whose index `name` is.
fn find_interface<'a>(all: &'a [NetworkInterface], name: &str) -> Option<&'a NetworkInterface> {
    let index: Option<u32> = name.parse().ok();
    all.iter()
        .find(|i| i.name == name)
        .or_else(|| all.iter().find(|i| Some(i.index) == index))
}

/// The kernel's route to `dst` (through interface `oif` when given), as `ip -6 route get`.
fn kernel_route_v6(dst: Ipv6Addr, oif: Option<u32>) -> std::io::Result<RouteAnswer> {
    let mut nl = Netlink::route()?;
    nl.send(&rtnl::route_request(1, dst, oif))?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = nl.recv(&mut buf)?;
        let batch = rtnl::parse(&buf[..n])?;
        if let Some(r) = batch.routes.into_iter().next() {
            return Ok(r);
        }
        if batch.done || n == 0 {
            return Err(std::io::Error::other("the kernel answered without a route"));
        }
    }
}

/// An address of `ni` to send from when the kernel named none: a link-local one for a
/// link-local destination, else a global one.
fn interface_v6(ni: &NetworkInterface, link_local: bool) -> Option<Ipv6Addr> {
    ni.ips.iter().find_map(|n| match n.ip() {
        IpAddr::V6(a) if is_link_local(a) == link_local && !a.is_loopback() => Some(a),
        _ => None,
    })
}

/// See `net::route_to_v6`.
pub(crate) fn route_to_v6(
    dst: Ipv6Addr,
    iface: Option<&str>,
    source_ip: Option<Ipv6Addr>,
) -> Result<Route<Ipv6Addr>, NetError> {
    let all = datalink::interfaces();
    let named = match iface {
        Some(name) => Some(find_interface(&all, name).ok_or_else(|| {
            NetError::Setup(format!(
                "interface {name} does not exist: pass an interface listed by `ip link`"
            ))
        })?),
        None => None,
    };
    let link_local = is_link_local(dst);
    if link_local && named.is_none() {
        return Err(NetError::Setup(format!(
            "{dst} is link-local: name its interface, as in {dst}%eth0 (or pass --interface)"
        )));
    }
    let answer = kernel_route_v6(dst, named.map(|n| n.index)).map_err(|e| {
        NetError::Setup(format!(
            "no route to {dst}: {e}; add a route (`ip -6 route`) or pass --interface and --source-ip"
        ))
    })?;
    let ni = all
        .iter()
        .find(|i| i.index == answer.oif)
        .or(named)
        .ok_or_else(|| {
            NetError::Setup(format!(
                "the kernel routes {dst} through interface index {}, which is gone: pass --interface",
                answer.oif
            ))
        })?;
    let src = source_ip
        .or(answer.source)
        .or_else(|| interface_v6(ni, link_local))
        .ok_or_else(|| {
            NetError::Setup(format!(
                "interface {} has no IPv6 address to send to {dst} from: pass --source-ip",
                ni.name
            ))
        })?;
    if !ni.is_up() {
        return Err(NetError::Setup(format!(
            "interface {} is down: bring it up (`ip link set {} up`) or pass another --interface",
            ni.name, ni.name
        )));
    }
    let is_loopback = ni.is_loopback() || dst.is_loopback();
    let source_mac = match (is_loopback, ni.mac) {
        (false, Some(m)) => [m.0, m.1, m.2, m.3, m.4, m.5],
        _ => [0; 6],
    };
    Ok(Route {
        iface: ni.name.clone(),
        ifindex: ni.index,
        source_ip: src,
        source_mac,
        next_hop: if is_loopback {
            dst
        } else {
            answer.gateway.unwrap_or(dst)
        },
        is_loopback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
veth0\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
veth0\t000013C6\t020012C6\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0
veth0\t050013C6\t030012C6\t0003\t0\t0\t0\tFFFFFFFF\t0\t0\t0
veth0\t000014C6\t040012C6\t0002\t0\t0\t0\t0000FFFF\t0\t0\t0
garbage line
";

    #[test]
    #[cfg(target_endian = "little")]
    fn parses_proc_net_route() {
        let r = parse_proc_route(FIXTURE);
        assert_eq!(r.len(), 6);
        assert_eq!(
            r[0],
            RouteEntry {
                iface: "eth0".into(),
                dst: Ipv4Addr::UNSPECIFIED,
                gateway: Ipv4Addr::new(192, 168, 0, 1),
                flags: 3,
                metric: 100,
                mask: Ipv4Addr::UNSPECIFIED,
            }
        );
        assert_eq!(r[3].dst, Ipv4Addr::new(198, 19, 0, 0));
        assert_eq!(r[3].gateway, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(r[3].mask, Ipv4Addr::new(255, 255, 0, 0));
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn picks_most_specific_route_on_the_interface() {
        let r = parse_proc_route(FIXTURE);
        let ip = Ipv4Addr::new;
        assert_eq!(next_hop(&r, "eth0", ip(8, 8, 8, 8)), ip(192, 168, 0, 1));
        assert_eq!(next_hop(&r, "eth0", ip(192, 168, 0, 7)), ip(192, 168, 0, 7));
        assert_eq!(next_hop(&r, "veth0", ip(198, 18, 0, 9)), ip(198, 18, 0, 9));
        assert_eq!(next_hop(&r, "veth0", ip(198, 19, 1, 1)), ip(198, 18, 0, 2));
        assert_eq!(next_hop(&r, "veth0", ip(198, 19, 0, 5)), ip(198, 18, 0, 3));
        // A route that is not up is ignored.
        assert_eq!(next_hop(&r, "veth0", ip(198, 20, 0, 1)), ip(198, 20, 0, 1));
        // No route on that interface: on-link.
        assert_eq!(next_hop(&r, "wlan0", ip(8, 8, 8, 8)), ip(8, 8, 8, 8));
    }

    #[test]
    fn loopback_route() {
        let r = route_to(Ipv4Addr::new(127, 0, 0, 1), None, None).unwrap();
        assert_eq!(r.iface, "lo");
        assert_eq!(r.source_ip, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(r.next_hop, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(r.source_mac, [0; 6]);
        assert!(r.is_loopback);
    }

    #[test]
    fn unknown_interface_is_named() {
        let e = route_to(Ipv4Addr::new(127, 0, 0, 1), Some("nosuch9"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "interface nosuch9 does not exist: pass an interface listed by `ip link`"
        );
    }

    #[test]
    fn interface_check_names_the_bad_one_and_the_good_ones() {
        assert_eq!(check_interface("lo"), Ok(()));
        let e = check_interface("nosuchif0").unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Usage);
        let e = e.to_string();
        assert!(
            e.starts_with("bad -e/--interface \"nosuchif0\": no such interface here; use one of: "),
            "{e}"
        );
        assert!(e.contains("lo"), "{e}");
        assert!(!e.contains('\n'));
    }
}
