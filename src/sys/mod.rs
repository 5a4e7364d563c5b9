//! The only module with unsafe code and libc calls, behind safe functions.
#![allow(unsafe_code)]

pub mod bpf;
pub mod caps;
pub mod epoll;
pub mod files;
pub mod fs;
pub mod keeper;
pub mod kernel_ports;
pub mod netlink;
pub mod netns;
pub mod packet;
pub mod rawip;
pub mod rxring;
pub mod sock;
pub mod txring;
