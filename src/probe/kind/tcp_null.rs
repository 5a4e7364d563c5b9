//! nmap's NULL scan (-sN): a segment with no flags at all; decided as the FIN scan is.

use super::TcpProbe;
use crate::model::{PortState, Protocol, Reason};
use crate::wire::tcp_flags::{ACK, RST};

/// The protocol it probes.
pub const PROTOCOL: Protocol = Protocol::Tcp;
/// nmap's name for the scan.
pub const NMAP_TYPE: &str = "null";
/// nmap's letter for it (-sN).
pub const NMAP_LETTER: char = 'N';
/// An open port stays silent, as a dropped probe does.
pub const SILENCE: PortState = super::tcp_fin::SILENCE;

/// No flags (nmap's window 1024, no options), the cookie in the sequence number.
pub const TCP_PROBE: TcpProbe = TcpProbe {
    flags: 0,
    ..super::tcp_fin::TCP_PROBE
};

/// The reset acknowledges nothing but the sequence number: its ack is the cookie.
#[inline]
pub fn echo(flags: u8, _seq: u32, ack: u32) -> Option<u32> {
    (flags & (RST | ACK) == RST | ACK).then_some(ack)
}

/// Only a reset answers.
#[inline]
pub fn tcp_answer(flags: u8) -> Option<Reason> {
    super::tcp_fin::tcp_answer(flags)
}

/// As the FIN scan: a reset closed, every unreachable filtered.
#[inline]
pub fn verdict(reason: Reason) -> PortState {
    super::tcp_fin::verdict(reason)
}
