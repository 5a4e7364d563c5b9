//! nmap's ACK scan (-sA): a bare ACK maps a firewall's rules, not services. A reset says the
//! probe got through (unfiltered, open and closed alike); an ICMP unreachable and silence
//! say a filter stopped it (filtered).

use super::TcpProbe;
use crate::model::{PortState, Protocol, Reason};
use crate::wire::tcp_flags::{ACK, RST};

/// The protocol it probes.
pub const PROTOCOL: Protocol = Protocol::Tcp;
/// nmap's name for the scan.
pub const NMAP_TYPE: &str = "ack";
/// nmap's letter for it (-sA).
pub const NMAP_LETTER: char = 'A';
/// A port that never answered: a firewall dropped the probe or the answer.
pub const SILENCE: PortState = PortState::Filtered;

/// A bare ACK (nmap's window 1024, no options). The cookie goes in its acknowledgement
/// number too: the reset echoes that as its sequence number.
pub const TCP_PROBE: TcpProbe = TcpProbe {
    flags: ACK,
    window: 1024,
    options: &[],
    cookie_in_ack: true,
};

/// A reset to an ACK carries the ACK's acknowledgement number as its sequence number.
#[inline]
pub fn echo(flags: u8, seq: u32, _ack: u32) -> Option<u32> {
    (flags & RST != 0).then_some(seq)
}

/// Only a reset answers an ACK.
#[inline]
pub fn tcp_answer(flags: u8) -> Option<Reason> {
    (flags & RST != 0).then_some(Reason::Reset)
}

/// nmap's rules: a reset unfiltered, every unreachable filtered.
#[inline]
pub fn verdict(reason: Reason) -> PortState {
    match reason {
        Reason::Reset => PortState::Unfiltered,
        _ => PortState::Filtered,
    }
}
