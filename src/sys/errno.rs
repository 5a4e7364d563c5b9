//! The errno values code above the OS layer tells apart.

/// A non-blocking connect is under way.
pub const EINPROGRESS: i32 = libc::EINPROGRESS;
/// The process is out of file descriptors.
pub const EMFILE: i32 = libc::EMFILE;
/// The system is out of file descriptors.
pub const ENFILE: i32 = libc::ENFILE;
/// The kernel is out of socket buffers.
pub const ENOBUFS: i32 = libc::ENOBUFS;
