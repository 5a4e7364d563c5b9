//! What safe file opening needs from the OS: the real user id and the no-follow open flag.

/// `open(2)` flag that makes opening fail (ELOOP) when the last path component is a symlink.
pub const O_NOFOLLOW: i32 = libc::O_NOFOLLOW;

/// The error O_NOFOLLOW gives when the last component is a symlink.
pub const ELOOP: i32 = libc::ELOOP;

/// The real user id: who started the process (not who it runs as after setuid).
pub fn real_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn real_uid_matches_proc() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let uid: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse().ok())
            .unwrap();
        assert_eq!(super::real_uid(), uid);
    }
}
