//! nmap's FIN scan (-sF): a closed port answers a lone FIN with a reset (closed); an open
//! one drops it, as a filter would (silence: open|filtered); an ICMP unreachable is
//! filtered. The NULL and Xmas scans decide the same way.

use super::TcpProbe;
use crate::model::{PortState, Protocol, Reason};
use crate::wire::tcp_flags::{ACK, FIN, RST};

/// The protocol it probes.
pub const PROTOCOL: Protocol = Protocol::Tcp;
/// nmap's name for the scan.
pub const NMAP_TYPE: &str = "fin";
/// nmap's letter for it (-sF).
pub const NMAP_LETTER: char = 'F';
/// An open port stays silent, as a dropped probe does.
pub const SILENCE: PortState = PortState::OpenFiltered;

/// A lone FIN (nmap's window 1024, no options), the cookie in its sequence number.
pub const TCP_PROBE: TcpProbe = TcpProbe {
    flags: FIN,
    window: 1024,
    options: &[],
    cookie_in_ack: false,
};

/// The reset acknowledges the FIN: its ack is the cookie + 1.
#[inline]
pub fn echo(flags: u8, _seq: u32, ack: u32) -> Option<u32> {
    (flags & (RST | ACK) == RST | ACK).then(|| ack.wrapping_sub(1))
}

/// Only a reset answers a FIN, NULL or Xmas probe.
#[inline]
pub fn tcp_answer(flags: u8) -> Option<Reason> {
    (flags & RST != 0).then_some(Reason::Reset)
}

/// nmap's rules for FIN, NULL and Xmas: a reset closed, every unreachable filtered.
#[inline]
pub fn verdict(reason: Reason) -> PortState {
    match reason {
        Reason::Reset => PortState::Closed,
        _ => PortState::Filtered,
    }
}
