//! The kernel's connect() (nmap -sT): connected is open, refused closed, an unreachable
//! and silence filtered. The kernel does the handshake, so no segment reaches the capture.

use super::TcpProbe;
use crate::model::{PortState, Protocol, Reason};

/// The protocol it probes.
pub const PROTOCOL: Protocol = Protocol::Tcp;
/// nmap's name for the scan.
pub const NMAP_TYPE: &str = "connect";
/// A connect that never completed, was refused or met an unreachable.
pub const SILENCE: PortState = PortState::Filtered;

/// The kernel sends the SYN; a raw one would look like the SYN scan's.
pub const TCP_PROBE: TcpProbe = super::tcp_syn::TCP_PROBE;

/// The kernel reads the segments; none answers a raw probe.
#[inline]
pub fn echo(_flags: u8, _seq: u32, _ack: u32) -> Option<u32> {
    None
}

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
