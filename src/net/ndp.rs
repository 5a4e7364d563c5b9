//! IPv6 next-hop MAC: the kernel's neighbour table (rtnetlink), else our own neighbour
//! solicitation (RFC 4861), as ARP does for IPv4.

use std::net::Ipv6Addr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::rtnl::{self, Neighbour};
use super::{sock_err, NetError, Route};
use crate::sys::netlink::Netlink;
use crate::sys::packet::{self, ETH_P_IPV6};
use crate::sys::sock;
use crate::wire::ip::protocol;
use crate::wire::{ethernet, icmpv6, ipv6, ndp};

const RETRY: Duration = Duration::from_millis(200);
/// Length of a solicitation frame: Ethernet 14, IPv6 40, ICMPv6 24, source-address option 8.
pub const SOLICITATION_LEN: usize = 86;

/// The kernel's IPv6 neighbour table.
pub(crate) fn table() -> std::io::Result<Vec<Neighbour>> {
    let mut nl = Netlink::route()?;
    nl.send(&rtnl::neighbour_dump_request(1))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut all = Vec::new();
    loop {
        let n = nl.recv(&mut buf)?;
        if n == 0 {
            return Ok(all);
        }
        let batch = rtnl::parse(&buf[..n])?;
        all.extend(batch.neighbours);
        if batch.done {
            return Ok(all);
        }
    }
}

/// The usable MAC of `ip` on interface `ifindex` among `entries`.
pub(crate) fn lookup(entries: &[Neighbour], ip: Ipv6Addr, ifindex: u32) -> Option<[u8; 6]> {
    entries
        .iter()
        .filter(|e| e.ip == ip && e.ifindex == ifindex)
        .find_map(Neighbour::usable_mac)
}

fn from_table(route: &Route<Ipv6Addr>) -> Option<[u8; 6]> {
    lookup(&table().ok()?, route.next_hop, route.ifindex)
}

/// A neighbour solicitation for `target` from (mac, ip), to the target's solicited-node
/// group, carrying our MAC so the advertisement can come straight back.
pub(crate) fn solicitation(mac: [u8; 6], ip: Ipv6Addr, target: Ipv6Addr) -> [u8; SOLICITATION_LEN] {
    let (group, group_mac) = ndp::solicited_node(target);
    let message = ndp::Repr {
        msg_type: ndp::NEIGHBOR_SOLICIT,
        target,
        lladdr: Some(mac),
    };
    let mut f = [0u8; SOLICITATION_LEN];
    ethernet::Repr {
        dst: group_mac,
        src: mac,
        ethertype: ethernet::ethertype::IPV6,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut f[..]));
    let ip6 = &mut f[ethernet::HEADER_LEN..];
    ipv6::Repr {
        src: ip,
        dst: group,
        next_header: protocol::ICMPV6,
        hop_limit: ndp::HOP_LIMIT,
        payload_len: message.buffer_len(),
    }
    .emit(&mut ipv6::Packet::new_unchecked(&mut ip6[..]));
    message.emit(
        &mut icmpv6::Packet::new_unchecked(&mut ip6[ipv6::HEADER_LEN..]),
        ip,
        group,
    );
    f
}

/// The MAC of `target` when `frame` is a valid neighbour advertisement for it: hop limit
/// 255, checksum right, target address matching; the target link-layer option if present,
/// else the frame's Ethernet source.
pub(crate) fn parse_advertisement(frame: &[u8], target: Ipv6Addr) -> Option<[u8; 6]> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    if eth.ethertype() != ethernet::ethertype::IPV6 {
        return None;
    }
    let ip6 = ipv6::Packet::new_checked(eth.payload()).ok()?;
    if ip6.next_header() != protocol::ICMPV6 || ip6.hop_limit() != ndp::HOP_LIMIT {
        return None;
    }
    let icmp = icmpv6::Packet::new_checked(ip6.payload()).ok()?;
    if !icmp.verify_checksum(ip6.src_addr(), ip6.dst_addr()) {
        return None;
    }
    let advert = ndp::Repr::parse(&icmp)?;
    if advert.msg_type != ndp::NEIGHBOR_ADVERT || advert.target != target {
        return None;
    }
    advert.lladdr.or(Some(eth.src_addr()))
}

/// See `net::resolve_next_hop_mac_v6`.
pub(crate) fn resolve_next_hop_mac(
    route: &Route<Ipv6Addr>,
    timeout: Duration,
) -> Result<[u8; 6], NetError> {
    if route.is_loopback {
        return Ok([0; 6]);
    }
    if let Some(mac) = from_table(route) {
        return Ok(mac);
    }
    let fail = || {
        NetError::Setup(format!(
            "could not resolve the MAC address of next hop {} on {}: pass --router-mac",
            route.next_hop, route.iface
        ))
    };
    if route.source_mac == [0; 6] {
        return Err(fail());
    }
    let fd = packet::open(libc::SOCK_RAW, 0)
        .map_err(|e| sock_err(e, "opening a neighbour-discovery socket"))?;
    packet::bind(fd.as_fd(), ETH_P_IPV6, route.ifindex).map_err(|e| {
        NetError::Setup(format!(
            "binding a neighbour-discovery socket to {}: {e}",
            route.iface
        ))
    })?;
    let req = solicitation(route.source_mac, route.source_ip, route.next_hop);
    let deadline = Instant::now() + timeout;
    let mut next_send = Instant::now();
    let mut buf = [0u8; 2048];
    let nd_err = |e: std::io::Error| NetError::Setup(format!("neighbour discovery: {e}"));
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(fail());
        }
        if now >= next_send {
            if let Some(mac) = from_table(route) {
                return Ok(mac);
            }
            packet::send(fd.as_fd(), &req).map_err(|e| {
                NetError::Setup(format!(
                    "sending a neighbour solicitation on {}: {e}",
                    route.iface
                ))
            })?;
            next_send = now + RETRY;
        }
        let wait = next_send.min(deadline).saturating_duration_since(now);
        if sock::poll_in(fd.as_fd(), wait).map_err(nd_err)? {
            while let Some(n) = packet::recv(fd.as_fd(), &mut buf).map_err(nd_err)? {
                if let Some(mac) = parse_advertisement(&buf[..n], route.next_hop) {
                    return Ok(mac);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::fold;
    use crate::wire::ndp::{solicited_node, NEIGHBOR_ADVERT, OPT_TARGET_LLADDR};

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const OURS: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
    const THEIRS: [u8; 6] = [2, 0, 0, 0, 0, 0x22];

    #[test]
    fn solicited_node_group() {
        assert_eq!(
            solicited_node(ip("2001:2:0:18::2")),
            (ip("ff02::1:ff00:2"), [0x33, 0x33, 0xff, 0, 0, 2])
        );
        assert_eq!(
            solicited_node(ip("fe80::aabb:ccdd:eeff")),
            (
                ip("ff02::1:ffdd:eeff"),
                [0x33, 0x33, 0xff, 0xdd, 0xee, 0xff]
            )
        );
    }

    #[test]
    fn solicitation_bytes() {
        let f = solicitation(OURS, ip("2001:2:0:18::1"), ip("2001:2:0:18::2"));
        let mut want = vec![0x33, 0x33, 0xff, 0, 0, 2, 2, 0, 0, 0, 0, 0x11, 0x86, 0xdd];
        want.extend([0x60, 0, 0, 0, 0, 32, 58, 255]);
        want.extend(ip("2001:2:0:18::1").octets());
        want.extend(ip("ff02::1:ff00:2").octets());
        // type, code, checksum (computed by hand below), reserved, target, option.
        want.extend([135, 0, 0, 0, 0, 0, 0, 0]);
        want.extend(ip("2001:2:0:18::2").octets());
        want.extend([1, 1, 2, 0, 0, 0, 0, 0x11]);
        assert_eq!(f.len(), want.len());
        assert_eq!(f[..56], want[..56]);
        assert_eq!(f[58..], want[58..]);
    }

    /// The checksum, summed by hand: the pseudo-header's and the message's 16-bit words.
    #[test]
    fn solicitation_checksum() {
        let f = solicitation(OURS, ip("2001:2:0:18::1"), ip("2001:2:0:18::2"));
        // src 2001:2:0:18::1 -> 0x2001+0x2+0x18+0x1; dst ff02::1:ff00:2 -> 0xff02+0x1+0xff00+0x2;
        // length 32; next header 58; message: 0x8700, target 0x2001+0x2+0x18+0x2,
        // option 0x0101+0x0200+0x0000+0x0011.
        let sum: u64 = (0x2001 + 0x2 + 0x18 + 0x1)
            + (0xff02 + 0x1 + 0xff00 + 0x2)
            + 32
            + 58
            + 0x8700
            + (0x2001 + 0x2 + 0x18 + 0x2)
            + (0x0101 + 0x0200 + 0x0011);
        let want = !fold(sum);
        assert_eq!(u16::from_be_bytes([f[56], f[57]]), want);
    }

    /// The advertisement the target answers with.
    fn advertisement(target: Ipv6Addr, option: bool) -> Vec<u8> {
        let (src, dst) = (target, ip("2001:2:0:18::1"));
        let mut icmp = vec![NEIGHBOR_ADVERT, 0, 0, 0, 0x60, 0, 0, 0];
        icmp.extend(target.octets());
        if option {
            icmp.extend([OPT_TARGET_LLADDR, 1]);
            icmp.extend(THEIRS);
        }
        icmpv6::Packet::new_unchecked(&mut icmp[..]).fill_checksum(src, dst);
        let mut f = OURS.to_vec();
        f.extend([2, 0, 0, 0, 0, 0x99]);
        f.extend(ETH_P_IPV6.to_be_bytes());
        f.extend([0x60, 0, 0, 0]);
        f.extend((icmp.len() as u16).to_be_bytes());
        f.extend([58, 255]);
        f.extend(src.octets());
        f.extend(dst.octets());
        f.extend(icmp);
        f
    }

    #[test]
    fn advertisements_are_checked_before_they_are_believed() {
        let t = ip("2001:2:0:18::2");
        let good = advertisement(t, true);
        assert_eq!(parse_advertisement(&good, t), Some(THEIRS));
        // Without the option, the Ethernet source answers.
        assert_eq!(
            parse_advertisement(&advertisement(t, false), t),
            Some([2, 0, 0, 0, 0, 0x99])
        );
        // For another target, from beyond a router, with a bad checksum, or a solicitation.
        assert_eq!(parse_advertisement(&good, ip("2001:2:0:18::3")), None);
        let mut routed = good.clone();
        routed[21] = 254;
        assert_eq!(parse_advertisement(&routed, t), None);
        let mut forged = good.clone();
        forged[good.len() - 1] ^= 1;
        assert_eq!(parse_advertisement(&forged, t), None);
        let ns = solicitation(OURS, ip("2001:2:0:18::1"), t);
        assert_eq!(parse_advertisement(&ns, t), None);
        // No cut or byte flip makes it panic.
        for cut in 0..good.len() {
            let _ = parse_advertisement(&good[..cut], t);
        }
        for i in 0..good.len() {
            let mut x = good.clone();
            x[i] = x[i].wrapping_add(0x41);
            let _ = parse_advertisement(&x, t);
        }
    }

    #[test]
    fn table_lookup_wants_a_usable_entry_on_the_interface() {
        let n = |ifindex, ipx: &str, mac: Option<[u8; 6]>, state| Neighbour {
            ifindex,
            ip: ip(ipx),
            mac,
            state,
        };
        let entries = [
            n(3, "2001:2:0:18::2", Some(THEIRS), 0x20),
            n(4, "2001:2:0:18::2", Some([2, 0, 0, 0, 0, 0x44]), 0x04),
            n(3, "2001:2:0:18::2", Some(THEIRS), 0x80),
        ];
        assert_eq!(lookup(&entries, ip("2001:2:0:18::2"), 3), Some(THEIRS));
        assert_eq!(
            lookup(&entries, ip("2001:2:0:18::2"), 4),
            Some([2, 0, 0, 0, 0, 0x44])
        );
        assert_eq!(lookup(&entries[..1], ip("2001:2:0:18::2"), 3), None);
        assert_eq!(lookup(&entries, ip("2001:2:0:18::9"), 3), None);
    }
}
