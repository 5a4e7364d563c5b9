//! The only module with unsafe code and libc calls, behind safe functions.
//! INTERFACE STUB: the net/sys helper replaces the bodies.
#![allow(unsafe_code)]

/// Process capabilities and user switching.
pub mod caps {
    use std::io;

    /// True when CAP_NET_RAW is in the effective set.
    pub fn has_net_raw() -> bool {
        todo!()
    }
    /// Clears every capability set (effective, permitted, inheritable, ambient).
    pub fn drop_all() -> io::Result<()> {
        todo!()
    }
    /// When running as root, switches to `user` (setgroups, setgid, setuid).
    pub fn switch_user(_user: &str) -> io::Result<()> {
        todo!()
    }
}
