//! AF_PACKET transmit: sendmmsg batches (the default) and a PACKET_TX_RING variant.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::{send_all, sock_err, LinkLayer, NetError, Route, Transmit};
use crate::sys::packet::{self, Dest, SendBatch, ETH_P_IP};
use crate::sys::{sock, txring::TxRing};

const SNDBUF: libc::c_int = 4 << 20;

fn open_socket(route: &Route) -> Result<OwnedFd, NetError> {
    // Protocol 0: this socket never receives, so it costs nothing on the receive path.
    let fd = packet::open(libc::SOCK_RAW, 0).map_err(|e| sock_err(e, "opening a packet socket"))?;
    packet::bind(fd.as_fd(), 0, route.ifindex)
        .map_err(|e| NetError::Setup(format!("binding a packet socket to {}: {e}", route.iface)))?;
    // Bypass is an optimisation (kernel 3.14+); sending works without it.
    let _ = packet::set_qdisc_bypass(fd.as_fd());
    let _ = sock::grow_sndbuf(fd.as_fd(), SNDBUF);
    Ok(fd)
}

/// Sends Ethernet frames with one sendmmsg per batch.
pub struct PacketTransmit {
    fd: OwnedFd,
    batch: SendBatch,
}

impl PacketTransmit {
    /// Opens a packet socket on the route's interface.
    pub fn open(route: &Route) -> Result<PacketTransmit, NetError> {
        let fd = open_socket(route)?;
        let batch = SendBatch::new(
            Dest::Link {
                protocol: ETH_P_IP,
                ifindex: route.ifindex,
            },
            256,
        );
        Ok(PacketTransmit { fd, batch })
    }
}

impl Transmit for PacketTransmit {
    fn send_frames(&mut self, buf: &[u8], frame_len: usize) -> io::Result<usize> {
        let (fd, batch) = (&self.fd, &mut self.batch);
        send_all(buf, frame_len, false, |b| {
            batch.send(fd.as_fd(), b, frame_len)
        })
    }
    fn link(&self) -> LinkLayer {
        LinkLayer::Ethernet
    }
}

/// Sends Ethernet frames through a TPACKET_V2 TX ring (one copy into the ring, one kick).
pub struct RingTransmit {
    ring: TxRing,
}

impl RingTransmit {
    /// Opens a packet socket with a 4096-slot TX ring on the route's interface.
    pub fn open(route: &Route) -> Result<RingTransmit, NetError> {
        let fd = open_socket(route)?;
        let ring = TxRing::new(fd, route.ifindex, 2048, 4096).map_err(|e| {
            NetError::Setup(format!("setting up a TX ring on {}: {e}", route.iface))
        })?;
        Ok(RingTransmit { ring })
    }
}

impl Transmit for RingTransmit {
    fn send_frames(&mut self, buf: &[u8], frame_len: usize) -> io::Result<usize> {
        let ring = &mut self.ring;
        send_all(buf, frame_len, false, |b| ring.send_frames(b, frame_len))
    }
    fn link(&self) -> LinkLayer {
        LinkLayer::Ethernet
    }
}
