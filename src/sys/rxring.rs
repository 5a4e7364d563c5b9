//! PACKET_RX_RING (TPACKET_V3): the kernel fills blocks of frames in a shared mapping; we
//! walk a block and hand it back, with no per-frame syscall or copy.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// Offsets in struct tpacket_block_desc (version, offset_to_priv, then tpacket_hdr_v1).
const BLK_STATUS: usize = 8;
const BLK_NUM_PKTS: usize = 12;
const BLK_FIRST: usize = 16;
/// Offsets in struct tpacket3_hdr.
const PKT_NEXT: usize = 0;
const PKT_SNAPLEN: usize = 12;
const PKT_MAC: usize = 24;

#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketReq3 {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
    tp_retire_blk_tov: u32,
    tp_sizeof_priv: u32,
    tp_feature_req_word: u32,
}

/// A mapped TPACKET_V3 receive ring.
pub struct RxRing {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    block_size: usize,
    block_nr: usize,
    current: usize,
}

// SAFETY: the mapping is owned by this struct and used only through &mut self.
unsafe impl Send for RxRing {}

impl RxRing {
    /// Sets up `block_nr` blocks of `block_size` bytes (a multiple of the page size) on an
    /// unbound AF_PACKET socket; the kernel retires a partly filled block after `retire_ms`.
    pub fn new(
        fd: OwnedFd,
        block_size: usize,
        block_nr: usize,
        retire_ms: u32,
    ) -> io::Result<RxRing> {
        if block_size == 0 || !block_size.is_multiple_of(4096) || block_nr == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad RX ring geometry",
            ));
        }
        super::sock::set_int(
            fd.as_fd(),
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            TPACKET_V3,
        )?;
        let frame_size = 2048usize;
        let req = TpacketReq3 {
            tp_block_size: block_size as u32,
            tp_block_nr: block_nr as u32,
            tp_frame_size: frame_size as u32,
            tp_frame_nr: (block_size / frame_size * block_nr) as u32,
            tp_retire_blk_tov: retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        super::sock::set_opt(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let map_len = block_size * block_nr;
        let map = super::sock::map_ring(fd.as_fd(), map_len)?;
        Ok(RxRing {
            fd,
            map: map as *mut u8,
            map_len,
            block_size,
            block_nr,
            current: 0,
        })
    }

    /// The socket (for bind, stats).
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    fn u32_at(&self, off: usize) -> u32 {
        // SAFETY: callers pass offsets inside the mapping, 4-byte aligned.
        unsafe { (self.map.add(off) as *const u32).read_volatile() }
    }

    fn block_status(&self, block: usize) -> &AtomicU32 {
        // SAFETY: block < block_nr; block_status is 4-byte aligned, shared with the kernel.
        unsafe { &*(self.map.add(block * self.block_size + BLK_STATUS) as *const AtomicU32) }
    }

    /// Hands every frame of the ready blocks to `on_frame`, waiting up to `timeout` when none
    /// is ready; returns how many frames.
    pub fn poll(
        &mut self,
        timeout: Duration,
        on_frame: &mut dyn FnMut(&[u8]),
    ) -> io::Result<usize> {
        let mut n = self.drain(on_frame);
        if n == 0 && super::sock::poll_in(self.fd.as_fd(), timeout)? {
            n = self.drain(on_frame);
        }
        Ok(n)
    }

    fn drain(&mut self, on_frame: &mut dyn FnMut(&[u8])) -> usize {
        let mut total = 0;
        for _ in 0..self.block_nr {
            let b = self.current;
            if self.block_status(b).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            let base = b * self.block_size;
            let num = self.u32_at(base + BLK_NUM_PKTS) as usize;
            let mut off = self.u32_at(base + BLK_FIRST) as usize;
            for _ in 0..num {
                // Offsets come from the kernel; bounds are still checked before any slice.
                if off + PKT_MAC + 2 > self.block_size {
                    break;
                }
                let p = base + off;
                let snap = self.u32_at(p + PKT_SNAPLEN) as usize;
                // SAFETY: p + PKT_MAC is inside the block (checked above), 2-byte aligned.
                let mac =
                    unsafe { (self.map.add(p + PKT_MAC) as *const u16).read_volatile() } as usize;
                if off + mac + snap <= self.block_size {
                    // SAFETY: the range lies inside this block, which the kernel handed to us
                    // (TP_STATUS_USER) and will not touch until we return it.
                    let frame = unsafe { std::slice::from_raw_parts(self.map.add(p + mac), snap) };
                    on_frame(frame);
                    total += 1;
                }
                let next = self.u32_at(p + PKT_NEXT) as usize;
                if next == 0 {
                    break;
                }
                off += next;
            }
            self.block_status(b)
                .store(TP_STATUS_KERNEL, Ordering::Release);
            self.current = (b + 1) % self.block_nr;
        }
        total
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what new() mapped.
        unsafe {
            libc::munmap(self.map as *mut libc::c_void, self.map_len);
        }
    }
}
