//! The kernel's connect() (nmap -sT): connected is open, refused closed, an unreachable
//! and silence filtered. The kernel does the handshake, so no segment reaches the capture.

use crate::model::{PortState, Protocol, Reason};

/// The protocol it probes.
pub const PROTOCOL: Protocol = Protocol::Tcp;
/// nmap's name for the scan.
pub const NMAP_TYPE: &str = "connect";
/// A connect that never completed, was refused or met an unreachable.
pub const SILENCE: PortState = PortState::Filtered;

/// The kernel reads the segments; none is captured.
#[inline]
pub fn tcp_answer(_flags: u8) -> Option<Reason> {
    None
}

/// nmap -sT's rules: connected open, refused (or a reset) closed, an unreachable filtered.
#[inline]
pub fn verdict(reason: Reason) -> PortState {
    super::tcp_syn::verdict(reason)
}
