//! Transmit and Capture traits, their raw-socket and packet-socket implementations, routing,
//! and an in-memory network for tests.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub use crate::wire::LinkLayer;

mod arp;
mod capture;
pub mod connect;
#[cfg(test)]
pub(crate) mod memory;
mod ndp;
mod packet_socket;
mod raw_socket;
mod route;
mod rtnl;
pub mod udp_connect;
pub use route::{check_interface, is_link_local, is_local_address, ScopedIp};

#[cfg(test)]
mod ns6_tests;
#[cfg(test)]
mod ns_tests;
#[cfg(test)]
mod udp_ns_tests;

pub use crate::sys::packet::Frames;
pub use capture::{PacketCapture, RingCapture, DEFAULT_RING_BYTES};
pub use packet_socket::{PacketTransmit, RingTransmit};
pub use raw_socket::RawIpTransmit;

/// Sends frames in batches.
pub trait Transmit: Send {
    /// Sends `frames` (of either IP family, in any mix); returns how many went out (a short
    /// count means the kernel's queue was full: retry the rest).
    fn send_batch(&mut self, frames: Frames<'_>) -> io::Result<usize>;
    /// Sends the frames laid back to back in `buf`, each `frame_len` bytes.
    fn send_frames(&mut self, buf: &[u8], frame_len: usize) -> io::Result<usize> {
        self.send_batch(Frames::uniform(buf, frame_len))
    }
    /// What the frames must start with.
    fn link(&self) -> LinkLayer;
}

/// Counters a capture keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames handed to the caller.
    pub received: u64,
    /// Frames the kernel dropped for lack of buffer.
    pub dropped: u64,
}

/// Frames an interface dropped on the way out since it was opened, as the kernel counts
/// them (`/sys/class/net/IFACE/statistics/tx_dropped`); read at most every 100 ms.
#[derive(Debug)]
pub struct InterfaceDrops {
    path: std::path::PathBuf,
    base: u64,
    last: u64,
    read_at: std::time::Instant,
}

impl InterfaceDrops {
    /// The counter of `iface`, or None where the kernel does not report it.
    pub fn open(iface: &str) -> Option<InterfaceDrops> {
        if iface.is_empty() || iface.contains('/') || iface.starts_with('.') {
            return None;
        }
        let path = std::path::Path::new("/sys/class/net")
            .join(iface)
            .join("statistics/tx_dropped");
        let base = read_counter(&path)?;
        Some(InterfaceDrops {
            path,
            base,
            last: 0,
            read_at: std::time::Instant::now(),
        })
    }

    /// Drops since opened (the last reading when read less than 100 ms ago).
    pub fn read(&mut self) -> u64 {
        let now = std::time::Instant::now();
        if now.saturating_duration_since(self.read_at) >= Duration::from_millis(100) {
            self.read_at = now;
            if let Some(n) = read_counter(&self.path) {
                self.last = n.saturating_sub(self.base);
            }
        }
        self.last
    }
}

/// A sysfs counter: one decimal number.
fn read_counter(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Receives frames that passed the kernel filter.
pub trait Capture: Send {
    /// Waits at most `timeout` for frames and calls `on_frame` for each; returns how many.
    fn poll(&mut self, timeout: Duration, on_frame: &mut dyn FnMut(&[u8])) -> io::Result<usize>;
    /// What the frames start with.
    fn link(&self) -> LinkLayer;
    /// Counters so far.
    fn stats(&mut self) -> CaptureStats;
}

/// A network setup failure; Display is one line saying what and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The process lacks a capability (e.g. "CAP_NET_RAW").
    MissingCapability(&'static str),
    /// Any other setup failure.
    Setup(String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::MissingCapability(cap) => write!(
                f,
                "missing {cap}: run as root, grant it with `setcap cap_net_raw+ep` on the binary, or use --connect"
            ),
            NetError::Setup(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for NetError {}

impl From<NetError> for crate::error::ScanError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::MissingCapability(_) => crate::error::missing_net_raw(),
            NetError::Setup(s) => crate::error::ScanError::runtime(s),
        }
    }
}

/// How to reach the targets, as the kernel routes them (IPv4 unless `A` is Ipv6Addr).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route<A = Ipv4Addr> {
    /// Interface name.
    pub iface: String,
    /// Interface index.
    pub ifindex: u32,
    /// Our source address.
    pub source_ip: A,
    /// Our MAC (zero on loopback).
    pub source_mac: [u8; 6],
    /// Gateway, or the target itself when on-link.
    pub next_hop: A,
    /// True for the loopback interface.
    pub is_loopback: bool,
}

/// Asks the kernel how `dst` is reached; `iface` and `source_ip` override its choice.
pub fn route_to(
    dst: Ipv4Addr,
    iface: Option<&str>,
    source_ip: Option<Ipv4Addr>,
) -> Result<Route, NetError> {
    route::route_to(dst, iface, source_ip)
}

/// The next hop's MAC from the neighbour table, resolving it by ARP when missing.
pub fn resolve_next_hop_mac(route: &Route, timeout: Duration) -> Result<[u8; 6], NetError> {
    arp::resolve_next_hop_mac(route, timeout)
}

/// Asks the kernel's IPv6 routing table how `dst` is reached (rtnetlink, as `ip -6 route
/// get`): interface, source address and next hop. `iface` (a name or index, e.g. the zone
/// of `fe80::1%eth0`) is required for a link-local `dst`; `source_ip` overrides the
/// kernel's source.
pub fn route_to_v6(
    dst: Ipv6Addr,
    iface: Option<&str>,
    source_ip: Option<Ipv6Addr>,
) -> Result<Route<Ipv6Addr>, NetError> {
    route::route_to_v6(dst, iface, source_ip)
}

/// The IPv6 next hop's MAC from the kernel's neighbour table, resolving it by neighbour
/// solicitation when missing.
pub fn resolve_next_hop_mac_v6(
    route: &Route<Ipv6Addr>,
    timeout: Duration,
) -> Result<[u8; 6], NetError> {
    ndp::resolve_next_hop_mac(route, timeout)
}

/// What the kernel filter lets through: TCP to our ports on our address of each family the
/// scan sends, and ICMP / ICMPv6 unreachables. An IPv4-only scan gets the IPv4-only program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureFilter {
    /// Our IPv4 address (None: no IPv4 targets).
    pub local_ip: Option<Ipv4Addr>,
    /// Our IPv6 address (None: no IPv6 targets).
    pub local_ip6: Option<Ipv6Addr>,
    /// First of our source ports.
    pub first_port: u16,
    /// Last of our source ports.
    pub last_port: u16,
    /// The protocol the probe kind's answers come in.
    pub protocol: crate::model::Protocol,
}

/// Opens the capture on the route's interface with the kernel BPF filter attached, with
/// about `buffer_bytes` of kernel buffer for frames not yet read.
pub fn open_capture<A>(
    route: &Route<A>,
    filter: &CaptureFilter,
    buffer_bytes: usize,
) -> Result<Box<dyn Capture>, NetError> {
    // The V3 ring costs ~10x less CPU per frame than recvmmsg (measured at ~450k pps on
    // veth); recvmmsg remains for kernels or memory limits that refuse the ring.
    match RingCapture::open(route, filter, buffer_bytes) {
        Ok(c) => Ok(Box::new(c)),
        Err(NetError::MissingCapability(c)) => Err(NetError::MissingCapability(c)),
        // Socket buffers count each small frame at several times its size (skb overhead).
        Err(NetError::Setup(_)) => Ok(Box::new(PacketCapture::open(
            route,
            filter,
            buffer_bytes.saturating_mul(8),
        )?)),
    }
}

/// Which socket sends the probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendPath {
    /// AF_PACKET with Ethernet frames to `dst_mac`, qdisc bypassed.
    Packet {
        /// Next hop's MAC.
        dst_mac: [u8; 6],
    },
    /// Raw IPv4 socket (IP_HDRINCL); the kernel routes (loopback, non-Ethernet links).
    RawIp,
}

/// Opens the IPv4 sender for the route.
pub fn open_transmit(route: &Route, path: SendPath) -> Result<Box<dyn Transmit>, NetError> {
    open_transmit_for(route, path, true, false)
}

/// Opens a sender for the route that sends the families asked for (a packet socket sends
/// either; the raw path needs a socket per family).
pub fn open_transmit_for<A>(
    route: &Route<A>,
    path: SendPath,
    ipv4: bool,
    ipv6: bool,
) -> Result<Box<dyn Transmit>, NetError> {
    match path {
        SendPath::Packet { .. } => Ok(Box::new(PacketTransmit::open(route)?)),
        SendPath::RawIp => Ok(Box::new(RawIpTransmit::open_families(route, ipv4, ipv6)?)),
    }
}

/// Maps a socket setup error: EPERM/EACCES mean CAP_NET_RAW is missing.
fn sock_err(e: io::Error, what: &str) -> NetError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => NetError::MissingCapability("CAP_NET_RAW"),
        _ => NetError::Setup(format!("{what}: {e}")),
    }
}

/// Sends `frames` through `send_some` (which sends a prefix of what it is given) until done
/// or the kernel queue is full. With `skip_refused`, a frame the kernel refuses outright (no
/// route, firewall) counts as sent so one bad target cannot stall the batch.
fn send_all(
    frames: Frames<'_>,
    skip_refused: bool,
    mut send_some: impl FnMut(Frames<'_>) -> io::Result<usize>,
) -> io::Result<usize> {
    if frames.slot() == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame length 0",
        ));
    }
    let n = frames.count();
    let mut done = 0;
    while done < n {
        match send_some(frames.skip(done)) {
            Ok(0) => break,
            Ok(k) => done += k,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => break,
                Some(libc::EINTR) => continue,
                Some(
                    libc::ENETUNREACH
                    | libc::EHOSTUNREACH
                    | libc::EPERM
                    | libc::EACCES
                    | libc::EADDRNOTAVAIL,
                ) if skip_refused => done += 1,
                _ if done == 0 => return Err(e),
                _ => break,
            },
        }
    }
    Ok(done)
}

#[cfg(test)]
mod error_kind_tests {
    use super::NetError;
    use crate::error::{ErrorKind, ScanError};

    #[test]
    fn a_missing_capability_is_a_privilege_error_and_setup_a_runtime_one() {
        let net: ScanError = NetError::MissingCapability("CAP_NET_RAW").into();
        assert_eq!(net.kind(), ErrorKind::Privilege);
        let setup: ScanError = NetError::Setup("no route".into()).into();
        assert_eq!(
            (setup.kind(), setup.message()),
            (ErrorKind::Runtime, "no route")
        );
    }
}
