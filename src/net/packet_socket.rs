//! AF_PACKET transmit: sendmmsg batches (the default) and a PACKET_TX_RING variant.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::{send_all, sock_err, Frames, LinkLayer, NetError, Route, Transmit};
use crate::sys::packet::{self, Dest, SendBatch, ETH_P_IP};
use crate::sys::{sock, txring::TxRing};

const SNDBUF: libc::c_int = 4 << 20;

fn open_socket<A>(route: &Route<A>) -> Result<OwnedFd, NetError> {
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
    pub fn open<A>(route: &Route<A>) -> Result<PacketTransmit, NetError> {
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
    fn send_batch(&mut self, frames: Frames<'_>) -> io::Result<usize> {
        let (fd, batch) = (&self.fd, &mut self.batch);
        send_all(frames, false, |f| batch.send(fd.as_fd(), f))
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
    pub fn open<A>(route: &Route<A>) -> Result<RingTransmit, NetError> {
        let fd = open_socket(route)?;
        let ring = TxRing::new(fd, route.ifindex, 2048, 4096).map_err(|e| {
            NetError::Setup(format!("setting up a TX ring on {}: {e}", route.iface))
        })?;
        Ok(RingTransmit { ring })
    }
}

impl Transmit for RingTransmit {
    fn send_batch(&mut self, frames: Frames<'_>) -> io::Result<usize> {
        let ring = &mut self.ring;
        // The ring copies frame by frame; a run of one length at a time keeps its interface.
        send_all(frames, false, |f| {
            if let Some((buf, len)) = f.as_uniform() {
                return ring.send_frames(buf, len);
            }
            let len = f.get(0).len();
            let run = (0..f.count())
                .take_while(|&i| f.get(i).len() == len)
                .count();
            let mut packed = Vec::with_capacity(run * len);
            (0..run).for_each(|i| packed.extend_from_slice(f.get(i)));
            ring.send_frames(&packed, len)
        })
    }
    fn link(&self) -> LinkLayer {
        LinkLayer::Ethernet
    }
}
