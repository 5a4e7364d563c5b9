//! PACKET_TX_RING (TPACKET_V2): frames are copied into a shared ring and one send() kicks
//! the kernel to transmit every slot marked SEND_REQUEST.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

const TPACKET_V2: libc::c_int = 1;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_SENDING: u32 = 2;
/// Data offset inside a V2 TX slot: TPACKET2_HDRLEN - sizeof(sockaddr_ll) = 52 - 20.
const DATA_OFF: usize = 32;

#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketReq {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
}

/// A mapped TX ring on an AF_PACKET socket.
pub struct TxRing {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    frame_size: usize,
    frame_nr: usize,
    next: usize,
    dest: libc::sockaddr_ll,
}

// SAFETY: the mapping is owned by this struct and used only through &mut self.
unsafe impl Send for TxRing {}

impl TxRing {
    /// Sets up a TPACKET_V2 TX ring of at least `frame_nr` slots of `frame_size` bytes (a power
    /// of two, 64 or more) on `fd`, sending out of `ifindex`.
    pub fn new(
        fd: OwnedFd,
        ifindex: u32,
        frame_size: usize,
        frame_nr: usize,
    ) -> io::Result<TxRing> {
        let page = 4096usize;
        if !frame_size.is_power_of_two() || frame_size < 64 || frame_nr == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad TX ring geometry",
            ));
        }
        let block_size = frame_size.max(page) * 16;
        let per_block = block_size / frame_size;
        let block_nr = frame_nr.div_ceil(per_block);
        let frame_nr = block_nr * per_block;
        super::sock::set_int(
            fd.as_fd(),
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            TPACKET_V2,
        )?;
        let req = TpacketReq {
            tp_block_size: block_size as u32,
            tp_block_nr: block_nr as u32,
            tp_frame_size: frame_size as u32,
            tp_frame_nr: frame_nr as u32,
        };
        super::sock::set_opt(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_TX_RING, &req)?;
        let map_len = block_size * block_nr;
        let map = super::sock::map_ring(fd.as_fd(), map_len)?;
        // SAFETY: plain old data.
        let mut dest: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        dest.sll_family = libc::AF_PACKET as u16;
        dest.sll_protocol = super::packet::ETH_P_IP.to_be();
        dest.sll_ifindex = ifindex as libc::c_int;
        Ok(TxRing {
            fd,
            map: map as *mut u8,
            map_len,
            frame_size,
            frame_nr,
            next: 0,
            dest,
        })
    }

    /// Largest frame a slot holds.
    pub fn max_frame(&self) -> usize {
        self.frame_size - DATA_OFF
    }

    fn status(&self, slot: usize) -> &AtomicU32 {
        // SAFETY: slot < frame_nr, so the header lies inside the mapping; tp_status is the
        // first, 4-byte aligned field, shared with the kernel hence atomic.
        unsafe { &*(self.map.add(slot * self.frame_size) as *const AtomicU32) }
    }

    /// Queues the frames into free slots and kicks the kernel; returns how many were queued
    /// (fewer when the ring is full).
    pub fn send_frames(&mut self, buf: &[u8], frame_len: usize) -> io::Result<usize> {
        if frame_len == 0 || frame_len > self.max_frame() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame length {frame_len} does not fit a TX ring slot"),
            ));
        }
        let n = buf.len() / frame_len;
        let mut queued = 0;
        while queued < n {
            let slot = self.next;
            let st = self.status(slot).load(Ordering::Acquire);
            if st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0 {
                break;
            }
            let src = &buf[queued * frame_len..(queued + 1) * frame_len];
            // SAFETY: the slot is ours (not SEND_REQUEST/SENDING) and DATA_OFF + frame_len
            // <= frame_size keeps the copy inside it; header words are 4-byte aligned.
            unsafe {
                let hdr = self.map.add(slot * self.frame_size);
                std::ptr::copy_nonoverlapping(src.as_ptr(), hdr.add(DATA_OFF), frame_len);
                (hdr.add(4) as *mut u32).write_volatile(frame_len as u32); // tp_len
                (hdr.add(8) as *mut u32).write_volatile(frame_len as u32); // tp_snaplen
            }
            self.status(slot)
                .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
            self.next = (slot + 1) % self.frame_nr;
            queued += 1;
        }
        if queued > 0 || self.pending() {
            self.kick()?;
        }
        Ok(queued)
    }

    fn pending(&self) -> bool {
        // A slot left SEND_REQUEST by an earlier ENOBUFS sits right before `next`.
        let prev = (self.next + self.frame_nr - 1) % self.frame_nr;
        self.status(prev).load(Ordering::Acquire) == TP_STATUS_SEND_REQUEST
    }

    fn kick(&self) -> io::Result<()> {
        // SAFETY: a zero-length sendto with a valid sockaddr_ll; the kernel reads the ring.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                &self.dest as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            // Frames stay SEND_REQUEST and go out on the next kick.
            if matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR)
            ) {
                return Ok(());
            }
            return Err(e);
        }
        Ok(())
    }
}

impl Drop for TxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what new() mapped.
        unsafe {
            libc::munmap(self.map as *mut libc::c_void, self.map_len);
        }
    }
}
