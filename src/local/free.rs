//! Free ports: nothing listens on them or is bound to them, and they bind now.

use super::socket::{LocalSocket, Proto};
use crate::probe::kernel_ports::KernelPorts;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;

/// The ports to try, in order: the given range (reserved ports skipped), or by default
/// 1024-65535 outside the kernel's ephemeral range and reserved ports.
pub fn candidates(range: Option<RangeInclusive<u16>>, kernel: Option<&KernelPorts>) -> Vec<u16> {
    match (range, kernel) {
        (Some(r), Some(k)) => r.filter(|&p| !k.is_reserved(p)).collect(),
        (Some(r), None) => r.collect(),
        (None, Some(k)) => (1024..=65535).filter(|&p| k.is_outside(p)).collect(),
        (None, None) => (1024..=65535).collect(),
    }
}

/// Ports of `proto` some socket (any state) already uses.
pub fn used(proto: Proto, sockets: &[LocalSocket]) -> BTreeSet<u16> {
    sockets
        .iter()
        .filter(|s| s.proto == proto)
        .map(|s| s.port)
        .collect()
}

/// Whether `port` binds now on the IPv4 and the IPv6 wildcard (IPv6 only when the host
/// has it). The sockets close again at once.
pub fn binds(proto: Proto, port: u16) -> bool {
    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let try_bind = |a: SocketAddr| -> std::io::Result<()> {
        match proto {
            Proto::Tcp => TcpListener::bind(a).map(drop),
            Proto::Udp => UdpSocket::bind(a).map(drop),
        }
    };
    if try_bind(v4).is_err() {
        return false;
    }
    match try_bind(v6) {
        Ok(()) => true,
        // No IPv6 on this host: the IPv4 bind is the whole answer.
        Err(e) => matches!(e.raw_os_error(), Some(97) | Some(99)),
    }
}

/// Up to `count` free ports of `proto`, lowest first.
pub fn find(
    proto: Proto,
    count: u32,
    range: Option<RangeInclusive<u16>>,
    kernel: Option<&KernelPorts>,
    sockets: &[LocalSocket],
) -> Vec<u16> {
    let taken = used(proto, sockets);
    candidates(range, kernel)
        .into_iter()
        .filter(|p| !taken.contains(p))
        .filter(|&p| binds(proto, p))
        .take(count as usize)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_skip_kernel_ports() {
        let k = KernelPorts::parse("2000 60000", "1500-1999,60001").unwrap();
        let c = candidates(None, Some(&k));
        assert_eq!(c.first(), Some(&1024));
        assert!(!c.contains(&1500) && !c.contains(&2000) && !c.contains(&60001));
        assert_eq!(c.len(), (1500 - 1024) + (65535 - 60002 + 1));
        assert_eq!(candidates(Some(1499..=1501), Some(&k)), vec![1499]);
        assert_eq!(candidates(Some(5..=6), None), vec![5, 6]);
    }

    #[test]
    fn a_held_port_is_not_free() {
        let held = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = held.local_addr().unwrap().port();
        assert!(!binds(Proto::Tcp, port));
        let got = find(Proto::Tcp, 1, Some(port..=port), None, &[]);
        assert!(got.is_empty());
        drop(held);
    }
}
