//! Process capabilities and user switching.
//!
//! Linux capabilities are per thread: `drop_all` affects the calling thread and the threads it
//! spawns afterwards, so call it on the main thread after opening sockets and before spawning
//! workers. `switch_user` (glibc setuid) applies to every thread but needs CAP_SETUID/CAP_SETGID,
//! so call it before `drop_all`.

use std::ffi::CString;
use std::io;

/// Capability number of CAP_NET_ADMIN (the tests check for it).
#[cfg(test)]
pub const CAP_NET_ADMIN: u32 = 12;
/// Capability number of CAP_NET_RAW.
pub const CAP_NET_RAW: u32 = 13;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capget() -> io::Result<[CapData; 2]> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: hdr and data are valid for the kernel's v3 layout (two data structs).
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data)
}

/// True when capability number `cap` is in the calling thread's effective set.
pub fn has_cap(cap: u32) -> bool {
    if cap >= 64 {
        return false;
    }
    match capget() {
        Ok(d) => d[(cap / 32) as usize].effective & (1 << (cap % 32)) != 0,
        Err(_) => false,
    }
}

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when CAP_NET_RAW is in the effective set.
pub fn has_net_raw() -> bool {
    has_cap(CAP_NET_RAW)
}

fn prctl5(option: libc::c_int, a: libc::c_ulong) -> io::Result<()> {
    let zero: libc::c_ulong = 0;
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(option, a, zero, zero, zero) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clears every capability set (effective, permitted, inheritable, ambient) of the calling
/// thread and sets no_new_privs so exec cannot regain any.
pub fn drop_all() -> io::Result<()> {
    // Ambient first; EINVAL means a kernel without ambient capabilities.
    if let Err(e) = prctl5(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    ) {
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
    }
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: hdr and data follow the v3 layout; the kernel only reads data.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    prctl5(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// The uid and gid of `user` from the password database.
pub fn user_ids(user: &str) -> io::Result<(u32, u32)> {
    let name = CString::new(user).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("user name {user:?} contains a NUL byte: pass a plain user name"),
        )
    })?;
    lookup_user(&name, user)
}

/// When running as root, switches to `user` (setgroups, setgid, setuid); a no-op otherwise.
pub fn switch_user(user: &str) -> io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let (uid, gid) = user_ids(user)?;
    // SAFETY: setgroups with size 0 does not read the list pointer.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(with_context(
            "setgroups failed (call switch_user before drop_all)",
        ));
    }
    // SAFETY: plain id syscalls (glibc applies them to every thread).
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(with_context(
            "setgid failed (call switch_user before drop_all)",
        ));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(with_context(
            "setuid failed (call switch_user before drop_all)",
        ));
    }
    // SAFETY: id getters have no preconditions.
    let (ruid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    if ruid != uid || euid != uid {
        return Err(io::Error::other(format!(
            "switching to user {user:?} did not take effect (uid {ruid}/{euid})"
        )));
    }
    Ok(())
}

fn with_context(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn lookup_user(name: &CString, user: &str) -> io::Result<(libc::uid_t, libc::gid_t)> {
    let mut buf: Vec<libc::c_char> = vec![0; 16 * 1024];
    loop {
        // SAFETY: passwd is plain old data; zeroed is a valid initial value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and buf.len() is its true size.
        let r = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if r == libc::ERANGE && buf.len() < (1 << 20) {
            let n = buf.len() * 2;
            buf.resize(n, 0);
            continue;
        }
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        if result.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("user {user:?} does not exist: pass an existing user name"),
            ));
        }
        return Ok((pwd.pw_uid, pwd.pw_gid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        // SAFETY: no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    #[ignore = "needs root: capabilities"]
    fn drop_all_clears_only_the_calling_thread() {
        assert!(is_root(), "needs root");
        assert!(has_net_raw());
        let child = std::thread::spawn(|| {
            drop_all().map_err(|e| e.to_string())?;
            let raw = crate::sys::sock::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
            Ok::<_, String>((
                has_net_raw(),
                has_cap(CAP_NET_ADMIN),
                raw.err().and_then(|e| e.raw_os_error()),
            ))
        })
        .join()
        .unwrap();
        assert_eq!(child, Ok((false, false, Some(libc::EPERM))));
        assert!(has_net_raw());
    }

    #[test]
    fn unknown_user_is_an_error_before_any_change() {
        if !is_root() {
            assert!(switch_user("no-such-user-nsys").is_ok());
            return;
        }
        let e = switch_user("no-such-user-nsys").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        // SAFETY: no preconditions.
        assert_eq!(unsafe { libc::geteuid() }, 0);
    }

    #[test]
    fn out_of_range_capability_is_absent() {
        assert!(!has_cap(64));
    }
}
