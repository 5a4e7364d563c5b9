//! AF_PACKET capture with the kernel BPF filter and recvmmsg batches.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use super::{sock_err, Capture, CaptureFilter, CaptureStats, LinkLayer, NetError, Route};
use crate::sys::packet::{self, RecvBatch, ETH_P_ALL, ETH_P_IP, ETH_P_IPV6};
use crate::sys::rxring::RxRing;
use crate::sys::{bpf, sock};

/// Frames handed out per poll before returning to the caller.
const MAX_PER_POLL: usize = 8192;

/// Receives filtered frames from one interface.
pub struct PacketCapture {
    fd: OwnedFd,
    batch: RecvBatch,
    link: LinkLayer,
    stats: CaptureStats,
}

/// A socket that receives nothing yet (protocol 0) with the filter attached, so no frame
/// can arrive unfiltered once it is bound.
fn open_filtered<A>(
    route: &Route<A>,
    filter: &CaptureFilter,
) -> Result<(OwnedFd, LinkLayer), NetError> {
    let hatype = sock::hw_type(&route.iface)
        .map_err(|e| NetError::Setup(format!("interface {}: {e}", route.iface)))?;
    // Ethernet and loopback give a 14-byte header in SOCK_RAW; anything else (tun, ppp,
    // wireguard) is read cooked, starting at the IPv4 header.
    let (ty, link) = match hatype {
        libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => (libc::SOCK_RAW, LinkLayer::Ethernet),
        _ => (libc::SOCK_DGRAM, LinkLayer::RawIp),
    };
    let fd = packet::open(ty, 0).map_err(|e| sock_err(e, "opening the capture socket"))?;
    let prog = bpf::capture_program_for(
        link.header_len() as u32,
        filter.local_ip,
        filter.local_ip6,
        bpf::Answers {
            transport: filter.protocol.ip_number(),
            first: filter.first_port,
            last: filter.last_port,
        },
    );
    bpf::attach(fd.as_fd(), &prog)
        .map_err(|e| NetError::Setup(format!("attaching the capture filter: {e}")))?;
    // Old kernels (< 4.20) lack it; on loopback we then see our own frames twice.
    let _ = packet::set_ignore_outgoing(fd.as_fd());
    Ok((fd, link))
}

/// The EtherType the capture binds to: the family it filters for, or every one for both.
fn protocol(filter: &CaptureFilter) -> u16 {
    match (filter.local_ip, filter.local_ip6) {
        (_, None) => ETH_P_IP,
        (None, Some(_)) => ETH_P_IPV6,
        (Some(_), Some(_)) => ETH_P_ALL,
    }
}

fn bind<A>(fd: &OwnedFd, route: &Route<A>, filter: &CaptureFilter) -> Result<(), NetError> {
    packet::bind(fd.as_fd(), protocol(filter), route.ifindex).map_err(|e| {
        NetError::Setup(format!(
            "binding the capture socket to {}: {e}",
            route.iface
        ))
    })?;
    packet::drain(fd).map_err(|e| NetError::Setup(format!("draining the capture: {e}")))?;
    // Reset the kernel counters so stats cover only our frames.
    let _ = packet::stats(fd.as_fd());
    Ok(())
}

impl PacketCapture {
    /// Opens the capture: socket with protocol 0 (receives nothing), filter, then bind; the
    /// kernel buffers up to `rcvbuf_bytes` of frames.
    pub fn open<A>(
        route: &Route<A>,
        filter: &CaptureFilter,
        rcvbuf_bytes: usize,
    ) -> Result<PacketCapture, NetError> {
        let (fd, link) = open_filtered(route, filter)?;
        let _ = sock::grow_rcvbuf(fd.as_fd(), i32::try_from(rcvbuf_bytes).unwrap_or(i32::MAX));
        bind(&fd, route, filter)?;
        Ok(PacketCapture {
            fd,
            batch: RecvBatch::new(64, 2048),
            link,
            stats: CaptureStats::default(),
        })
    }

    fn drain_batches(&mut self, on_frame: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut total = 0;
        loop {
            let n = self.batch.recv(self.fd.as_fd())?;
            for i in 0..n {
                on_frame(self.batch.frame(i));
            }
            total += n;
            if n < self.batch.capacity() || total >= MAX_PER_POLL {
                return Ok(total);
            }
        }
    }
}

impl Capture for PacketCapture {
    fn poll(&mut self, timeout: Duration, on_frame: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let mut n = self.drain_batches(on_frame)?;
        if n == 0 && sock::poll_in(self.fd.as_fd(), timeout)? {
            n = self.drain_batches(on_frame)?;
        }
        self.stats.received += n as u64;
        Ok(n)
    }
    fn link(&self) -> LinkLayer {
        self.link
    }
    fn stats(&mut self) -> CaptureStats {
        if let Ok((_, drops)) = packet::stats(self.fd.as_fd()) {
            self.stats.dropped += u64::from(drops);
        }
        self.stats
    }
}

/// Receives filtered frames through a TPACKET_V3 ring (32 blocks of 256 KiB, retired after
/// 2 ms), without a syscall per batch. 8 MiB holds ~65k replies, a third of a second at
/// 200k replies/s, while the receiver drains it continuously; the whole ring counts as
/// resident memory, so bigger costs RSS for nothing.
pub struct RingCapture {
    ring: RxRing,
    link: LinkLayer,
    stats: CaptureStats,
}

const RING_BLOCK_SIZE: usize = 256 << 10;
const RING_RETIRE_MS: u32 = 2;
/// The default ring: 32 blocks of 256 KiB.
pub const DEFAULT_RING_BYTES: usize = 8 << 20;

/// Block size and count for a ring of about `bytes` (whole pages, at least one block).
fn ring_geometry(bytes: usize) -> (usize, usize) {
    let bytes = bytes.max(4096);
    if bytes >= RING_BLOCK_SIZE {
        (RING_BLOCK_SIZE, bytes / RING_BLOCK_SIZE)
    } else {
        (bytes / 4096 * 4096, 1)
    }
}

impl RingCapture {
    /// Opens a ring of about `ring_bytes` on the route's interface.
    pub fn open<A>(
        route: &Route<A>,
        filter: &CaptureFilter,
        ring_bytes: usize,
    ) -> Result<RingCapture, NetError> {
        let (fd, link) = open_filtered(route, filter)?;
        let (block_size, blocks) = ring_geometry(ring_bytes);
        let ring = RxRing::new(fd, block_size, blocks, RING_RETIRE_MS).map_err(|e| {
            NetError::Setup(format!("setting up an RX ring on {}: {e}", route.iface))
        })?;
        bind(ring.fd(), route, filter)?;
        Ok(RingCapture {
            ring,
            link,
            stats: CaptureStats::default(),
        })
    }
}

impl Capture for RingCapture {
    fn poll(&mut self, timeout: Duration, on_frame: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let n = self.ring.poll(timeout, on_frame)?;
        self.stats.received += n as u64;
        Ok(n)
    }
    fn link(&self) -> LinkLayer {
        self.link
    }
    fn stats(&mut self) -> CaptureStats {
        if let Ok((_, drops)) = packet::stats(self.ring.fd().as_fd()) {
            self.stats.dropped += u64::from(drops);
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_geometry_rounds_to_pages_and_blocks() {
        assert_eq!(ring_geometry(DEFAULT_RING_BYTES), (256 << 10, 32));
        assert_eq!(ring_geometry(0), (4096, 1));
        assert_eq!(ring_geometry(10_000), (8192, 1));
        assert_eq!(ring_geometry(600 << 10), (256 << 10, 2));
    }
}
