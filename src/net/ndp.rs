//! IPv6 next-hop MAC: the kernel's neighbour table (rtnetlink), else our own neighbour
//! solicitation (RFC 4861), as ARP does for IPv4.

use std::net::Ipv6Addr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::rtnl::{self, Neighbour};
use super::{sock_err, NetError, Route};
use crate::sys::netlink::Netlink;
use crate::sys::{packet, sock};
use crate::wire::checksum::{fold, sum_words};

const RETRY: Duration = Duration::from_millis(200);
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
const ICMPV6: u8 = 58;
const NEIGHBOR_SOLICIT: u8 = 135;
const NEIGHBOR_ADVERT: u8 = 136;
const OPT_SOURCE_LLADDR: u8 = 1;
const OPT_TARGET_LLADDR: u8 = 2;
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

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX) and its MAC
/// (33:33 and the address's last four bytes).
pub(crate) fn solicited_node(target: Ipv6Addr) -> (Ipv6Addr, [u8; 6]) {
    let t = target.octets();
    let mut group = [0u8; 16];
    group[..2].copy_from_slice(&[0xff, 0x02]);
    group[11..13].copy_from_slice(&[0x01, 0xff]);
    group[13..].copy_from_slice(&t[13..]);
    let g = Ipv6Addr::from(group);
    let mac = [0x33, 0x33, group[12], group[13], group[14], group[15]];
    (g, mac)
}

/// ICMPv6 checksum over the IPv6 pseudo-header and `message` (checksum field zero).
fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let mut pseudo = [0u8; 40];
    pseudo[..16].copy_from_slice(&src.octets());
    pseudo[16..32].copy_from_slice(&dst.octets());
    pseudo[32..36].copy_from_slice(&(message.len() as u32).to_be_bytes());
    pseudo[39] = ICMPV6;
    !fold(sum_words(&pseudo) + sum_words(message))
}

/// A neighbour solicitation for `target` from (mac, ip), to the target's solicited-node
/// group, carrying our MAC so the advertisement can come straight back.
pub(crate) fn solicitation(mac: [u8; 6], ip: Ipv6Addr, target: Ipv6Addr) -> [u8; SOLICITATION_LEN] {
    let (group, group_mac) = solicited_node(target);
    let mut f = [0u8; SOLICITATION_LEN];
    f[0..6].copy_from_slice(&group_mac);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
    let ip6 = &mut f[14..54];
    ip6[0] = 0x60;
    ip6[4..6].copy_from_slice(&32u16.to_be_bytes());
    ip6[6] = ICMPV6;
    // Hop limit 255: receivers drop neighbour discovery that crossed a router.
    ip6[7] = 255;
    ip6[8..24].copy_from_slice(&ip.octets());
    ip6[24..40].copy_from_slice(&group.octets());
    let icmp = &mut f[54..];
    icmp[0] = NEIGHBOR_SOLICIT;
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = OPT_SOURCE_LLADDR;
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&mac);
    let c = icmpv6_checksum(ip, group, icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    f
}

/// The MAC of `target` when `frame` is a valid neighbour advertisement for it: hop limit
/// 255, checksum right, target address matching; the target link-layer option if present,
/// else the frame's Ethernet source.
pub(crate) fn parse_advertisement(frame: &[u8], target: Ipv6Addr) -> Option<[u8; 6]> {
    if frame.get(12..14)? != ETH_P_IPV6.to_be_bytes() {
        return None;
    }
    let ip6 = frame.get(14..54)?;
    if ip6[0] >> 4 != 6 || ip6[6] != ICMPV6 || ip6[7] != 255 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([ip6[4], ip6[5]]));
    let icmp = frame.get(54..54 + len)?;
    if icmp.len() < 24 || icmp[0] != NEIGHBOR_ADVERT || icmp[1] != 0 {
        return None;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip6[8..24]).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip6[24..40]).ok()?);
    // Summed with its checksum in place, a correct message complements to zero.
    if icmpv6_checksum(src, dst, icmp) != 0 {
        return None;
    }
    if icmp[8..24] != target.octets() {
        return None;
    }
    let mut opts = &icmp[24..];
    while opts.len() >= 8 {
        let olen = usize::from(opts[1]) * 8;
        if olen == 0 || olen > opts.len() {
            break;
        }
        if opts[0] == OPT_TARGET_LLADDR && olen == 8 {
            return <[u8; 6]>::try_from(&opts[2..8]).ok();
        }
        opts = &opts[olen..];
    }
    <[u8; 6]>::try_from(frame.get(6..12)?).ok()
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
        let c = icmpv6_checksum(src, dst, &icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
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
