//! The raw TCP SYN (nmap -sS): a SYN/ACK is open, a reset closed, an ICMP unreachable and
//! silence filtered.

use super::TcpProbe;
use crate::model::{PortState, Protocol, Reason};
use crate::probe::template::{SYN_OPTIONS, SYN_WINDOW};
use crate::wire::tcp_flags::{ACK, RST, SYN};

/// The protocol it probes.
pub const PROTOCOL: Protocol = Protocol::Tcp;
/// nmap's name for the scan.
pub const NMAP_TYPE: &str = "syn";
/// A port that never answered: a firewall dropped the probe or the answer.
pub const SILENCE: PortState = PortState::Filtered;

/// A SYN with the options and window Windows sends, the cookie in its sequence number.
pub const TCP_PROBE: TcpProbe = TcpProbe {
    flags: SYN,
    window: SYN_WINDOW,
    options: &SYN_OPTIONS,
    cookie_in_ack: false,
};

/// A SYN/ACK or a RST/ACK acknowledges the SYN: its ack is the cookie + 1.
#[inline]
pub fn echo(flags: u8, _seq: u32, ack: u32) -> Option<u32> {
    let kind = flags & (SYN | RST | ACK);
    (kind == SYN | ACK || kind == RST | ACK).then(|| ack.wrapping_sub(1))
}

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
