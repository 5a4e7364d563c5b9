//! Raw IPv4 transmit: the kernel routes each frame by its IPv4 destination.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::{send_all, sock_err, LinkLayer, NetError, Route, Transmit};
use crate::sys::packet::{Dest, SendBatch};
use crate::sys::{rawip, sock};

/// Sends IPv4 packets (headers included) with one sendmmsg per batch.
pub struct RawIpTransmit {
    fd: OwnedFd,
    batch: SendBatch,
}

impl RawIpTransmit {
    /// Opens a raw IP socket, bound to the route's interface unless it is loopback.
    pub fn open(route: &Route) -> Result<RawIpTransmit, NetError> {
        let fd = rawip::open().map_err(|e| sock_err(e, "opening a raw IP socket"))?;
        if !route.is_loopback {
            sock::bind_device(fd.as_fd(), &route.iface).map_err(|e| {
                NetError::Setup(format!("binding the raw socket to {}: {e}", route.iface))
            })?;
        }
        let _ = sock::grow_sndbuf(fd.as_fd(), 4 << 20);
        Ok(RawIpTransmit {
            fd,
            batch: SendBatch::new(Dest::Ipv4FromFrame, 256),
        })
    }
}

impl Transmit for RawIpTransmit {
    fn send_frames(&mut self, buf: &[u8], frame_len: usize) -> io::Result<usize> {
        let (fd, batch) = (&self.fd, &mut self.batch);
        send_all(buf, frame_len, true, |b| {
            batch.send(fd.as_fd(), b, frame_len)
        })
    }
    fn link(&self) -> LinkLayer {
        LinkLayer::RawIp
    }
}
