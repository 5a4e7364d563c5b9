//! The only module with unsafe code and libc calls, behind safe functions. Public, for the
//! lab crate and the tests: packet sockets, socket options and namespace entry.
#![allow(unsafe_code)]

pub(crate) mod bpf;
pub(crate) mod caps;
pub(crate) mod epoll;
pub(crate) mod errno;
pub(crate) mod fs;
pub(crate) mod keeper;
pub(crate) mod netlink;
pub mod netns;
pub(crate) mod open;
pub mod packet;
pub(crate) mod rawip;
pub(crate) mod recverr;
pub(crate) mod rxring;
pub mod sock;
pub(crate) mod txring;
pub(crate) mod walk;
