//! AF_PACKET sockets and batched send/receive (sendmmsg/recvmmsg) with preallocated headers.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// EtherType IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// EtherType IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Every protocol (a capture of both IP families).
pub const ETH_P_ALL: u16 = 0x0003;
/// EtherType ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// Most messages one sendmmsg/recvmmsg call takes (UIO_MAXIOV).
pub const MAX_BATCH: usize = 1024;

/// Opens an AF_PACKET socket of `ty` (SOCK_RAW or SOCK_DGRAM); `protocol` 0 receives nothing
/// until bound with a protocol.
pub fn open(ty: libc::c_int, protocol: u16) -> io::Result<OwnedFd> {
    super::sock::socket(libc::AF_PACKET, ty, libc::c_int::from(protocol.to_be()))
}

fn sockaddr_ll(protocol: u16, ifindex: u32) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = protocol.to_be();
    sa.sll_ifindex = ifindex as libc::c_int;
    sa
}

/// Binds the socket to `ifindex`, receiving `protocol` (0: receive nothing).
pub fn bind(fd: BorrowedFd<'_>, protocol: u16, ifindex: u32) -> io::Result<()> {
    let sa = sockaddr_ll(protocol, ifindex);
    // SAFETY: sa is a valid sockaddr_ll of the given size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets an SOL_PACKET integer option.
pub fn set_packet_opt(fd: BorrowedFd<'_>, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    super::sock::set_int(fd, libc::SOL_PACKET, name, value)
}

/// Sends frames straight to the driver, skipping the qdisc layer.
pub fn set_qdisc_bypass(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_packet_opt(fd, libc::PACKET_QDISC_BYPASS, 1)
}

/// Stops delivering frames this host sends (kernel 4.20+).
pub fn set_ignore_outgoing(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_packet_opt(fd, libc::PACKET_IGNORE_OUTGOING, 1)
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketStats {
    tp_packets: u32,
    tp_drops: u32,
}

// SAFETY: repr(C), two u32 fields, no padding: any bytes are a valid value.
unsafe impl super::sock::PlainData for TpacketStats {}

/// (packets, drops) since the previous call; the kernel resets them on each read.
pub fn stats(fd: BorrowedFd<'_>) -> io::Result<(u32, u32)> {
    let s: TpacketStats = super::sock::get_opt(fd, libc::SOL_PACKET, libc::PACKET_STATISTICS)?;
    Ok((s.tp_packets, s.tp_drops))
}

/// Sends one frame without blocking; for ARP and other one-offs.
pub fn send(fd: BorrowedFd<'_>, frame: &[u8]) -> io::Result<usize> {
    // SAFETY: frame is readable for its length.
    let r = unsafe {
        libc::send(
            fd.as_raw_fd(),
            frame.as_ptr() as *const libc::c_void,
            frame.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

/// Receives one frame without blocking; Ok(None) when none is queued.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: buf is writable for its length.
    let r = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(r as usize))
}

/// Frames laid out in slots of equal size: frame i is the first `len(i)` bytes of slot i.
/// One length for all (`uniform`), or one each (`sized`), so a batch can mix IPv4 and IPv6.
#[derive(Clone, Copy, Debug)]
pub struct Frames<'a> {
    buf: &'a [u8],
    slot: usize,
    lens: Option<&'a [u16]>,
}

impl<'a> Frames<'a> {
    /// Frames of `frame_len` bytes back to back in `buf`.
    pub fn uniform(buf: &'a [u8], frame_len: usize) -> Frames<'a> {
        Frames {
            buf,
            slot: frame_len,
            lens: None,
        }
    }

    /// Frame i is `buf[i * slot..][..lens[i]]`.
    pub fn sized(buf: &'a [u8], slot: usize, lens: &'a [u16]) -> Frames<'a> {
        Frames {
            buf,
            slot,
            lens: Some(lens),
        }
    }

    /// The whole buffer and the frame length, when every frame has the slot's length.
    pub fn as_uniform(&self) -> Option<(&'a [u8], usize)> {
        match self.lens {
            None => Some((self.buf, self.slot)),
            Some(_) => None,
        }
    }

    /// The slot size (the frame length of uniform frames).
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// How many frames are wholly in the buffer (0 for a slot size of 0).
    pub fn count(&self) -> usize {
        let Some(whole) = self.buf.len().checked_div(self.slot) else {
            return 0;
        };
        match self.lens {
            None => whole,
            Some(l) if l.len() <= whole => l.len(),
            // A last slot cut short still counts if its frame fits.
            Some(l) => {
                let len = usize::from(l[whole]).min(self.slot);
                whole + usize::from(whole * self.slot + len <= self.buf.len())
            }
        }
    }

    /// Frame i (empty past the end or where a length overruns the buffer or its slot).
    pub fn get(&self, i: usize) -> &'a [u8] {
        let len = match self.lens {
            None => self.slot,
            Some(l) => l.get(i).map_or(0, |&n| usize::from(n).min(self.slot)),
        };
        let start = i.saturating_mul(self.slot);
        self.buf
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    }

    /// The frames after the first `n`.
    pub fn skip(&self, n: usize) -> Frames<'a> {
        let n = n.min(self.count());
        let start = (n * self.slot).min(self.buf.len());
        Frames {
            buf: &self.buf[start..],
            slot: self.slot,
            lens: self.lens.map(|l| &l[n.min(l.len())..]),
        }
    }

    /// The first `n` frames.
    pub fn take(&self, n: usize) -> Frames<'a> {
        let n = n.min(self.count());
        let end = n.saturating_mul(self.slot).min(self.buf.len());
        Frames {
            buf: &self.buf[..end],
            slot: self.slot,
            lens: self.lens.map(|l| &l[..n.min(l.len())]),
        }
    }

    /// How many leading frames share the first one's IP version (the first nibble past
    /// `link_len` bytes of link header).
    pub fn same_version_run(&self, link_len: usize) -> usize {
        let version = |i: usize| self.get(i).get(link_len).map(|b| b >> 4);
        let first = version(0);
        (0..self.count())
            .take_while(|&i| version(i) == first)
            .count()
    }
}

/// Where each batched frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Out of interface `ifindex` as EtherType `protocol` (AF_PACKET); a frame whose
    /// EtherType is IPv6 goes as IPv6.
    Link {
        /// EtherType.
        protocol: u16,
        /// Interface index.
        ifindex: u32,
    },
    /// To the IPv4 destination at bytes 16..20 of each frame (raw IP socket).
    Ipv4FromFrame,
    /// To the IPv6 destination at bytes 24..40 of each frame (raw IPv6 socket), with the
    /// scope (interface index) a link-local destination needs.
    Ipv6FromFrame {
        /// sin6_scope_id.
        scope: u32,
    },
}

/// Preallocated sendmmsg headers; the pointers are rebuilt on every call (they point into the
/// caller's buffer), so the struct holds no live borrow between calls.
pub struct SendBatch {
    dest: Dest,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    ins: Vec<libc::sockaddr_in>,
    in6s: Vec<libc::sockaddr_in6>,
    ll: libc::sockaddr_ll,
    ll6: libc::sockaddr_ll,
}

// SAFETY: the raw pointers inside are only meaningful during a send call on &mut self.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// Headers for `dest`, sized for `cap` frames (grown on demand, never shrunk).
    pub fn new(dest: Dest, cap: usize) -> SendBatch {
        let (ll, ll6) = match dest {
            Dest::Link { protocol, ifindex } => (
                sockaddr_ll(protocol, ifindex),
                sockaddr_ll(ETH_P_IPV6, ifindex),
            ),
            _ => (sockaddr_ll(0, 0), sockaddr_ll(0, 0)),
        };
        let mut b = SendBatch {
            dest,
            msgs: Vec::new(),
            iovs: Vec::new(),
            ins: Vec::new(),
            in6s: Vec::new(),
            ll,
            ll6,
        };
        b.grow(cap.min(MAX_BATCH));
        b
    }

    fn grow(&mut self, n: usize) {
        if self.msgs.len() >= n {
            return;
        }
        // SAFETY: all three are plain old data; zero is a valid value.
        self.msgs.resize(n, unsafe { std::mem::zeroed() });
        self.iovs.resize(
            n,
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
        );
        match self.dest {
            // SAFETY: as above.
            Dest::Ipv4FromFrame => self.ins.resize(n, unsafe { std::mem::zeroed() }),
            // SAFETY: as above.
            Dest::Ipv6FromFrame { .. } => self.in6s.resize(n, unsafe { std::mem::zeroed() }),
            Dest::Link { .. } => {}
        }
    }

    /// One sendmmsg of `frames` (at most MAX_BATCH of them); returns how many the kernel
    /// took. Never blocks (MSG_DONTWAIT).
    pub fn send(&mut self, fd: BorrowedFd<'_>, frames: Frames<'_>) -> io::Result<usize> {
        if frames.slot() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame length 0",
            ));
        }
        let n = frames.count().min(MAX_BATCH);
        if n == 0 {
            return Ok(0);
        }
        let shortest = match self.dest {
            Dest::Ipv4FromFrame => 20,
            Dest::Ipv6FromFrame { .. } => 40,
            Dest::Link { .. } => 1,
        };
        if (0..n).any(|i| frames.get(i).len() < shortest) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frames here are at least {shortest} bytes"),
            ));
        }
        self.grow(n);
        for i in 0..n {
            let f = frames.get(i);
            self.iovs[i] = libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            };
            let (name, namelen) = match self.dest {
                Dest::Link { .. } => {
                    let ll = if f.get(12..14) == Some(&ETH_P_IPV6.to_be_bytes()[..]) {
                        &mut self.ll6
                    } else {
                        &mut self.ll
                    };
                    (
                        ll as *mut libc::sockaddr_ll as *mut libc::c_void,
                        std::mem::size_of::<libc::sockaddr_ll>(),
                    )
                }
                Dest::Ipv6FromFrame { scope } => {
                    let sin6 = &mut self.in6s[i];
                    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    sin6.sin6_port = 0;
                    sin6.sin6_addr.s6_addr.copy_from_slice(&f[24..40]);
                    // Only a link-local destination needs (and accepts) a scope.
                    let link_local = f[24] == 0xfe && f[25] & 0xc0 == 0x80;
                    sin6.sin6_scope_id = if link_local { scope } else { 0 };
                    (
                        sin6 as *mut libc::sockaddr_in6 as *mut libc::c_void,
                        std::mem::size_of::<libc::sockaddr_in6>(),
                    )
                }
                Dest::Ipv4FromFrame => {
                    let sin = &mut self.ins[i];
                    sin.sin_family = libc::AF_INET as libc::sa_family_t;
                    sin.sin_port = 0;
                    sin.sin_addr.s_addr = u32::from_ne_bytes([f[16], f[17], f[18], f[19]]);
                    (
                        sin as *mut libc::sockaddr_in as *mut libc::c_void,
                        std::mem::size_of::<libc::sockaddr_in>(),
                    )
                }
            };
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = name;
            h.msg_namelen = namelen as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        // SAFETY: msgs[..n] point at iovs/addresses owned by self and at frames, all live for
        // the call; the kernel only reads the frame bytes.
        let r = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }
}

/// Preallocated recvmmsg buffers: `n` slots of `slot` bytes.
pub struct RecvBatch {
    bufs: Vec<u8>,
    slot: usize,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    got: usize,
}

// SAFETY: the pointers refer to self.bufs/self.iovs (heap memory that moves with self) and are
// used only through &mut self.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// `n` buffers of `slot` bytes each.
    pub fn new(n: usize, slot: usize) -> RecvBatch {
        let n = n.clamp(1, MAX_BATCH);
        let slot = slot.max(64);
        RecvBatch {
            bufs: vec![0; n * slot],
            slot,
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                n
            ],
            // SAFETY: plain old data.
            msgs: vec![unsafe { std::mem::zeroed() }; n],
            got: 0,
        }
    }

    /// Receives up to `n` queued frames without blocking; 0 when none are queued.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        self.got = 0;
        let base = self.bufs.as_mut_ptr();
        for i in 0..self.msgs.len() {
            // SAFETY: slot i lies within bufs.
            self.iovs[i] = libc::iovec {
                iov_base: unsafe { base.add(i * self.slot) } as *mut libc::c_void,
                iov_len: self.slot,
            };
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = std::ptr::null_mut();
            h.msg_namelen = 0;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
        // SAFETY: every header points at a distinct writable slot owned by self.
        let r = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                self.msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) {
                return Ok(0);
            }
            return Err(e);
        }
        self.got = r as usize;
        Ok(self.got)
    }

    /// Frame `i` of the last `recv` (truncated to the slot size).
    pub fn frame(&self, i: usize) -> &[u8] {
        if i >= self.got {
            return &[];
        }
        let len = (self.msgs[i].msg_len as usize).min(self.slot);
        &self.bufs[i * self.slot..i * self.slot + len]
    }

    /// How many buffers one call fills at most.
    pub fn capacity(&self) -> usize {
        self.msgs.len()
    }
}

/// Discards everything queued on the socket (frames that arrived before the filter).
pub fn drain(fd: &OwnedFd) -> io::Result<usize> {
    let mut buf = [0u8; 64];
    let mut n = 0;
    while recv(fd.as_fd(), &mut buf)?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_frames() {
        let buf: Vec<u8> = (0..10).collect();
        let f = Frames::uniform(&buf, 3);
        assert_eq!((f.count(), f.slot()), (3, 3));
        assert_eq!(
            (f.get(0), f.get(2), f.get(3)),
            (&[0, 1, 2][..], &[6, 7, 8][..], &[][..])
        );
        assert_eq!(f.skip(1).get(0), &[3, 4, 5]);
        assert_eq!((f.skip(5).count(), f.take(2).count()), (0, 2));
        assert_eq!(f.as_uniform(), Some((&buf[..], 3)));
        assert_eq!(Frames::uniform(&buf, 0).count(), 0);
    }

    #[test]
    fn sized_frames_mix_lengths_and_never_overrun() {
        // Slots of 4: an IPv4-like frame (version 4, 2 bytes), an IPv6-like one (4 bytes),
        // another IPv6 (3), then one whose length overruns its slot (clamped to it).
        let buf = [0x45, 1, 9, 9, 0x60, 2, 3, 4, 0x60, 5, 6, 9, 0x45, 7, 8, 9];
        let lens = [2u16, 4, 3, 9];
        let f = Frames::sized(&buf, 4, &lens);
        assert_eq!(f.count(), 4);
        assert_eq!(f.get(0), &[0x45, 1]);
        assert_eq!(f.get(1), &[0x60, 2, 3, 4]);
        assert_eq!(f.get(2), &[0x60, 5, 6]);
        assert_eq!(f.get(3), &[0x45, 7, 8, 9]);
        assert_eq!(f.get(4), &[] as &[u8]);
        assert_eq!(f.as_uniform(), None);
        // Runs of one IP version.
        assert_eq!(f.same_version_run(0), 1);
        assert_eq!(f.skip(1).same_version_run(0), 2);
        assert_eq!(f.skip(1).take(1).count(), 1);
        assert_eq!(f.skip(3).same_version_run(0), 1);
        assert_eq!(f.skip(4).same_version_run(0), 0);
        // Fewer lengths than slots, or fewer bytes than lengths: only what is there.
        assert_eq!(Frames::sized(&buf, 4, &lens[..2]).count(), 2);
        assert_eq!(Frames::sized(&buf[..6], 4, &lens).count(), 1);
        let last_short = Frames::sized(&buf[..6], 4, &[4, 2]);
        assert_eq!((last_short.count(), last_short.get(1)), (2, &[0x60, 2][..]));
        assert_eq!(Frames::sized(&buf, 0, &lens).count(), 0);
    }
}
