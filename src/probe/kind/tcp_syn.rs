//! The raw TCP SYN (nmap -sS): a SYN/ACK is open, a reset closed, an ICMP unreachable and
//! silence filtered.

use crate::model::{PortState, Protocol, Reason};
use crate::wire::tcp_flags::{ACK, RST, SYN};

/// The protocol it probes.
pub const PROTOCOL: Protocol = Protocol::Tcp;
/// nmap's name for the scan.
pub const NMAP_TYPE: &str = "syn";
/// A port that never answered: a firewall dropped the probe or the answer.
pub const SILENCE: PortState = PortState::Filtered;

/// RST (closed) or SYN/ACK (open); anything else does not answer a SYN.
#[inline]
pub fn tcp_answer(flags: u8) -> Option<Reason> {
    if flags & RST != 0 {
        Some(Reason::Reset)
    } else if flags & (SYN | ACK) == SYN | ACK {
        Some(Reason::SynAck)
    } else {
        None
    }
}

/// nmap's rules: syn-ack open, a reset closed, every unreachable filtered.
#[inline]
pub fn verdict(reason: Reason) -> PortState {
    match reason {
        Reason::SynAck => PortState::Open,
        Reason::Reset | Reason::ConnRefused => PortState::Closed,
        _ => PortState::Filtered,
    }
}
