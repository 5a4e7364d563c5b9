//! Raw IP transmit: the kernel routes each packet by its destination. IPv4 packets go through
//! an AF_INET socket, IPv6 ones through an AF_INET6 one (both IPPROTO_RAW: we write whole
//! headers); a batch mixing the families is sent one run of a family at a time.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::{send_all, sock_err, Frames, LinkLayer, NetError, Route, Transmit};
use crate::sys::packet::{Dest, SendBatch};
use crate::sys::{rawip, sock};

/// One family's raw socket and its batch headers.
struct RawSocket {
    fd: OwnedFd,
    batch: SendBatch,
}

/// Sends IP packets (headers included) with one sendmmsg per batch of one family.
pub struct RawIpTransmit {
    v4: Option<RawSocket>,
    v6: Option<RawSocket>,
}

fn open_one<A>(route: &Route<A>, v6: bool) -> Result<RawSocket, NetError> {
    let (fd, dest) = if v6 {
        let fd = rawip::open6().map_err(|e| sock_err(e, "opening a raw IPv6 socket"))?;
        (
            fd,
            Dest::Ipv6FromFrame {
                scope: route.ifindex,
            },
        )
    } else {
        let fd = rawip::open().map_err(|e| sock_err(e, "opening a raw IP socket"))?;
        (fd, Dest::Ipv4FromFrame)
    };
    if !route.is_loopback {
        sock::bind_device(fd.as_fd(), &route.iface).map_err(|e| {
            NetError::Setup(format!("binding the raw socket to {}: {e}", route.iface))
        })?;
    }
    let _ = sock::grow_sndbuf(fd.as_fd(), 4 << 20);
    Ok(RawSocket {
        fd,
        batch: SendBatch::new(dest, 256),
    })
}

impl RawIpTransmit {
    /// Opens a raw IPv4 socket, bound to the route's interface unless it is loopback.
    pub fn open<A>(route: &Route<A>) -> Result<RawIpTransmit, NetError> {
        Self::open_families(route, true, false)
    }

    /// Opens a raw socket for each family asked for (at least one), bound to the route's
    /// interface unless it is loopback.
    pub fn open_families<A>(
        route: &Route<A>,
        ipv4: bool,
        ipv6: bool,
    ) -> Result<RawIpTransmit, NetError> {
        Ok(RawIpTransmit {
            v4: (ipv4 || !ipv6)
                .then(|| open_one(route, false))
                .transpose()?,
            v6: ipv6.then(|| open_one(route, true)).transpose()?,
        })
    }
}

impl Transmit for RawIpTransmit {
    fn send_batch(&mut self, frames: Frames<'_>) -> io::Result<usize> {
        let (v4, v6) = (&mut self.v4, &mut self.v6);
        send_all(frames, true, |f| {
            let socket = match f.get(0).first().map(|b| b >> 4) {
                Some(6) => v6.as_mut(),
                _ => v4.as_mut(),
            };
            let Some(RawSocket { fd, batch }) = socket else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no raw socket of this packet's IP version",
                ));
            };
            // This family's run; the caller comes back for the rest.
            batch.send(fd.as_fd(), f.take(f.same_version_run(0)))
        })
    }
    fn link(&self) -> LinkLayer {
        LinkLayer::RawIp
    }
}
