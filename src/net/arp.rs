//! Next-hop MAC: the kernel's neighbour table, else our own ARP request.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::route::read_proc_net;
use super::{sock_err, NetError, Route};
use crate::sys::packet::{self, ETH_P_ARP};
use crate::sys::sock;
use crate::wire::{arp, ethernet};

const RETRY: Duration = Duration::from_millis(200);

/// One complete-or-not line of /proc/net/arp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArpEntry {
    pub ip: Ipv4Addr,
    pub flags: u32,
    pub mac: [u8; 6],
    pub device: String,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Parses /proc/net/arp text; malformed lines are skipped.
pub(crate) fn parse_proc_arp(text: &str) -> Vec<ArpEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            Some(ArpEntry {
                ip: f[0].parse().ok()?,
                flags: u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?,
                mac: parse_mac(f[3])?,
                device: f[5].to_string(),
            })
        })
        .collect()
}

/// The complete (ATF_COM) entry for `ip` on `device`.
pub(crate) fn lookup(entries: &[ArpEntry], ip: Ipv4Addr, device: &str) -> Option<[u8; 6]> {
    entries
        .iter()
        .find(|e| e.ip == ip && e.device == device && e.flags & 0x2 != 0 && e.mac != [0; 6])
        .map(|e| e.mac)
}

fn from_table(route: &Route) -> Option<[u8; 6]> {
    let text = read_proc_net("arp").ok()?;
    lookup(&parse_proc_arp(&text), route.next_hop, &route.iface)
}

/// A broadcast ARP request for `target` from (mac, ip).
pub(crate) fn arp_request(mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    ethernet::Repr {
        dst: [0xff; 6],
        src: mac,
        ethertype: ethernet::ethertype::ARP,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut f[..]));
    arp::Repr {
        operation: arp::REQUEST,
        sender_mac: mac,
        sender_ip: ip,
        target_mac: [0; 6],
        target_ip: target,
    }
    .emit(&mut arp::Packet::new_unchecked(
        &mut f[ethernet::HEADER_LEN..],
    ));
    f
}

/// The sender MAC when `frame` is an ARP reply from `from`.
pub(crate) fn parse_arp_reply(frame: &[u8], from: Ipv4Addr) -> Option<[u8; 6]> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    if eth.ethertype() != ethernet::ethertype::ARP {
        return None;
    }
    let a = arp::Repr::parse(&arp::Packet::new_checked(eth.payload()).ok()?);
    (a.operation == arp::REPLY && a.sender_ip == from).then_some(a.sender_mac)
}

/// See `net::resolve_next_hop_mac`.
pub(crate) fn resolve_next_hop_mac(route: &Route, timeout: Duration) -> Result<[u8; 6], NetError> {
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
    let fd = packet::open(libc::SOCK_RAW, 0).map_err(|e| sock_err(e, "opening an ARP socket"))?;
    packet::bind(fd.as_fd(), ETH_P_ARP, route.ifindex)
        .map_err(|e| NetError::Setup(format!("binding an ARP socket to {}: {e}", route.iface)))?;
    let req = arp_request(route.source_mac, route.source_ip, route.next_hop);
    let deadline = Instant::now() + timeout;
    let mut next_send = Instant::now();
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(fail());
        }
        if now >= next_send {
            if let Some(mac) = from_table(route) {
                return Ok(mac);
            }
            packet::send(fd.as_fd(), &req)
                .map_err(|e| NetError::Setup(format!("sending ARP on {}: {e}", route.iface)))?;
            next_send = now + RETRY;
        }
        let wait = next_send.min(deadline).saturating_duration_since(now);
        if sock::poll_in(fd.as_fd(), wait).map_err(|e| NetError::Setup(format!("ARP: {e}")))? {
            while let Some(n) = packet::recv(fd.as_fd(), &mut buf)
                .map_err(|e| NetError::Setup(format!("ARP: {e}")))?
            {
                if let Some(mac) = parse_arp_reply(&buf[..n], route.next_hop) {
                    return Ok(mac);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str =
        "IP address       HW type     Flags       HW address            Mask     Device
198.18.0.2       0x1         0x2         aa:bb:cc:dd:ee:01     *        veth0
198.18.0.3       0x1         0x0         00:00:00:00:00:00     *        veth0
10.0.0.1         0x1         0x6         02:00:00:00:00:ff     *        eth0
198.18.0.4       0x1         0x2         zz:bb:cc:dd:ee:01     *        veth0
";

    #[test]
    fn parses_proc_net_arp() {
        let e = parse_proc_arp(FIXTURE);
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            ArpEntry {
                ip: Ipv4Addr::new(198, 18, 0, 2),
                flags: 2,
                mac: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01],
                device: "veth0".into(),
            }
        );
        assert_eq!(e[2].flags, 6);
        let ip = Ipv4Addr::new;
        assert_eq!(
            lookup(&e, ip(198, 18, 0, 2), "veth0"),
            Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 1])
        );
        assert_eq!(lookup(&e, ip(198, 18, 0, 2), "eth0"), None);
        assert_eq!(lookup(&e, ip(198, 18, 0, 3), "veth0"), None);
        assert_eq!(
            lookup(&e, ip(10, 0, 0, 1), "eth0"),
            Some([2, 0, 0, 0, 0, 0xff])
        );
    }

    #[test]
    fn arp_request_bytes() {
        let f = arp_request(
            [2, 1, 2, 3, 4, 5],
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
        );
        let want: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 1, 2, 3, 4, 5, 0x08, 0x06, // ethernet
            0, 1, 0x08, 0, 6, 4, 0, 1, // htype, ptype, hlen, plen, op
            2, 1, 2, 3, 4, 5, 198, 18, 0, 1, // sender
            0, 0, 0, 0, 0, 0, 198, 18, 0, 2, // target
        ];
        assert_eq!(f, want);
        // A request is not a reply.
        assert_eq!(parse_arp_reply(&f, Ipv4Addr::new(198, 18, 0, 1)), None);
        let mut r = f;
        r[21] = 2;
        assert_eq!(
            parse_arp_reply(&r, Ipv4Addr::new(198, 18, 0, 1)),
            Some([2, 1, 2, 3, 4, 5])
        );
        assert_eq!(parse_arp_reply(&r, Ipv4Addr::new(198, 18, 0, 9)), None);
        assert_eq!(
            parse_arp_reply(&r[..30], Ipv4Addr::new(198, 18, 0, 1)),
            None
        );
    }
}
