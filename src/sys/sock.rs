//! Small safe wrappers over socket(2), setsockopt(2), poll(2) and interface ioctls.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Opens a close-on-exec socket.
pub fn socket(domain: libc::c_int, ty: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket has no pointer arguments.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets a socket option whose value is the plain-data `value`.
pub(crate) fn set_opt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: value points to size_of::<T>() readable bytes; the kernel only reads them.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Types the kernel may fill byte for byte: every bit pattern is a valid value and there
/// are no padding bytes. Sealed: it is crate-private and `unsafe`, and `#![deny(unsafe_code)]`
/// outside src/sys means only this module's neighbours can implement it.
///
/// # Safety
/// Implement only for integers and `#[repr(C)]` structs made of integer fields without
/// padding.
pub(crate) unsafe trait PlainData: Copy + Default {}

// SAFETY: integers are valid for every bit pattern and have no padding.
unsafe impl PlainData for i32 {}
// SAFETY: as above.
unsafe impl PlainData for u32 {}
// SAFETY: as above.
unsafe impl PlainData for u64 {}

/// Reads a socket option into the plain-data `T` (zero-initialised first).
pub(crate) fn get_opt<T: PlainData>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<T> {
    let mut value = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: value has len writable bytes, and T: PlainData makes any bytes the kernel
    // writes (or leaves zero) a valid T.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &mut value as *mut T as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(value)
}

/// Sets an integer socket option.
pub fn set_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    set_opt(fd, level, name, &value)
}

/// Reads an integer socket option.
pub fn get_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    get_opt::<libc::c_int>(fd, level, name)
}

/// Sets the receive buffer, beyond rmem_max when privileged (SO_RCVBUFFORCE), else as large as
/// allowed; returns the size the kernel reports.
pub fn grow_rcvbuf(fd: BorrowedFd<'_>, bytes: libc::c_int) -> io::Result<libc::c_int> {
    if set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes).is_err() {
        set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)?;
    }
    get_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)
}

/// Sets the send buffer like `grow_rcvbuf`.
pub fn grow_sndbuf(fd: BorrowedFd<'_>, bytes: libc::c_int) -> io::Result<libc::c_int> {
    if set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, bytes).is_err() {
        set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, bytes)?;
    }
    get_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)
}

/// Binds the socket to an interface (SO_BINDTODEVICE).
pub fn bind_device(fd: BorrowedFd<'_>, iface: &str) -> io::Result<()> {
    let bytes = iface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {iface:?}"),
        ));
    }
    // SAFETY: bytes is readable for its length; the kernel copies at most that many.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            bytes.as_ptr() as *const libc::c_void,
            bytes.len() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Waits up to `timeout` for `fd` to become readable; false on timeout or signal.
pub fn poll_in(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout_ms(timeout);
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(r > 0)
}

/// Milliseconds for poll/epoll, rounded up so short waits do not spin.
pub(crate) fn timeout_ms(timeout: Duration) -> libc::c_int {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    ms.min(libc::c_int::MAX as u128) as libc::c_int
}

/// The ARPHRD_* hardware type of interface `iface` (SIOCGIFHWADDR), in the caller's netns.
pub fn hw_type(iface: &str) -> io::Result<u16> {
    let bytes = iface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {iface:?}"),
        ));
    }
    let fd = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: ifreq is plain old data.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: req is a valid ifreq with a NUL-terminated name.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) })?;
    // SAFETY: SIOCGIFHWADDR fills ifru_hwaddr.
    Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

/// Maps the `len` bytes of the packet ring just set up on `fd` (RX or TX), shared with
/// the kernel.
pub(crate) fn map_ring(fd: BorrowedFd<'_>, len: usize) -> io::Result<*mut libc::c_void> {
    // SAFETY: mapping the ring the kernel allocated for this socket; no existing memory
    // is touched.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(map)
}

/// Raises the soft open-file limit to the hard limit (connect scans hold one fd per attempt);
/// returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to fill.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: lim is a valid rlimit.
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Says at compile time whether T implements PlainData: the inherent constant wins when
    /// the bound holds, the trait's default otherwise.
    struct Probe<T>(std::marker::PhantomData<T>);
    trait NotPlain {
        const PLAIN: bool = false;
    }
    impl<T> NotPlain for Probe<T> {}
    impl<T: PlainData> Probe<T> {
        const PLAIN: bool = true;
    }

    #[test]
    fn get_opt_fills_only_plain_data() {
        // Issue #8 item 3: get_opt accepted any Copy + Default type, so a bool or a struct
        // with padding could be filled with arbitrary kernel bytes from safe code.
        let plain = [
            <Probe<bool>>::PLAIN,
            <Probe<char>>::PLAIN,
            <Probe<(u8, u32)>>::PLAIN,
            <Probe<Option<u32>>>::PLAIN,
            <Probe<i32>>::PLAIN,
            <Probe<u64>>::PLAIN,
        ];
        assert_eq!(plain, [false, false, false, false, true, true]);
        let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        use std::os::fd::AsFd;
        let ty: libc::c_int = get_opt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_TYPE).unwrap();
        assert_eq!(ty, libc::SOCK_STREAM);
    }

    #[test]
    fn timeout_rounds_up_to_milliseconds() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_micros(1)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(10)), 10);
        assert_eq!(timeout_ms(Duration::from_micros(10_001)), 11);
        assert_eq!(timeout_ms(Duration::from_secs(1 << 40)), libc::c_int::MAX);
    }

    #[test]
    fn nofile_limit_reaches_the_hard_limit() {
        let n = raise_nofile_limit().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: lim is a valid rlimit to fill.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!((n, lim.rlim_cur), (lim.rlim_max, lim.rlim_max));
    }

    #[test]
    fn loopback_hw_type() {
        assert_eq!(hw_type("lo").unwrap(), libc::ARPHRD_LOOPBACK);
        assert!(hw_type("no-such-if0").is_err());
        assert!(hw_type("").is_err());
    }
}
