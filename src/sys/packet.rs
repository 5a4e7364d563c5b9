//! AF_PACKET sockets and batched send/receive (sendmmsg/recvmmsg) with preallocated headers.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// EtherType IPv4.
pub const ETH_P_IP: u16 = 0x0800;
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

/// Where each batched frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Out of interface `ifindex` as EtherType `protocol` (AF_PACKET).
    Link {
        /// EtherType.
        protocol: u16,
        /// Interface index.
        ifindex: u32,
    },
    /// To the IPv4 destination at bytes 16..20 of each frame (raw IP socket).
    Ipv4FromFrame,
}

/// Preallocated sendmmsg headers; the pointers are rebuilt on every call (they point into the
/// caller's buffer), so the struct holds no live borrow between calls.
pub struct SendBatch {
    dest: Dest,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    ins: Vec<libc::sockaddr_in>,
    ll: libc::sockaddr_ll,
}

// SAFETY: the raw pointers inside are only meaningful during a send call on &mut self.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// Headers for `dest`, sized for `cap` frames (grown on demand, never shrunk).
    pub fn new(dest: Dest, cap: usize) -> SendBatch {
        let ll = match dest {
            Dest::Link { protocol, ifindex } => sockaddr_ll(protocol, ifindex),
            Dest::Ipv4FromFrame => sockaddr_ll(0, 0),
        };
        let mut b = SendBatch {
            dest,
            msgs: Vec::new(),
            iovs: Vec::new(),
            ins: Vec::new(),
            ll,
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
        if self.dest == Dest::Ipv4FromFrame {
            // SAFETY: as above.
            self.ins.resize(n, unsafe { std::mem::zeroed() });
        }
    }

    /// One sendmmsg of the frames in `frames` (each `frame_len` bytes, at most MAX_BATCH used);
    /// returns how many the kernel took. Never blocks (MSG_DONTWAIT).
    pub fn send(
        &mut self,
        fd: BorrowedFd<'_>,
        frames: &[u8],
        frame_len: usize,
    ) -> io::Result<usize> {
        if frame_len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame length 0",
            ));
        }
        let n = (frames.len() / frame_len).min(MAX_BATCH);
        if n == 0 {
            return Ok(0);
        }
        if self.dest == Dest::Ipv4FromFrame && frame_len < 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPv4 frames are at least 20 bytes",
            ));
        }
        self.grow(n);
        let base = frames.as_ptr();
        for i in 0..n {
            // SAFETY: i * frame_len + frame_len <= frames.len().
            let p = unsafe { base.add(i * frame_len) };
            self.iovs[i] = libc::iovec {
                iov_base: p as *mut libc::c_void,
                iov_len: frame_len,
            };
            let (name, namelen) = match self.dest {
                Dest::Link { .. } => (
                    &mut self.ll as *mut libc::sockaddr_ll as *mut libc::c_void,
                    std::mem::size_of::<libc::sockaddr_ll>(),
                ),
                Dest::Ipv4FromFrame => {
                    let f = &frames[i * frame_len..];
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
