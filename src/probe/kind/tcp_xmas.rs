//! nmap's Xmas scan (-sX): FIN, PSH and URG lit up like a tree; decided as the FIN scan is.

use super::TcpProbe;
use crate::model::{PortState, Protocol, Reason};
use crate::wire::tcp_flags::{FIN, PSH, URG};

/// The protocol it probes.
pub const PROTOCOL: Protocol = Protocol::Tcp;
/// nmap's name for the scan.
pub const NMAP_TYPE: &str = "xmas";
/// nmap's letter for it (-sX).
pub const NMAP_LETTER: char = 'X';
/// An open port stays silent, as a dropped probe does.
pub const SILENCE: PortState = super::tcp_fin::SILENCE;

/// FIN, PSH and URG (nmap's window 1024, no options), the cookie in the sequence number.
pub const TCP_PROBE: TcpProbe = TcpProbe {
    flags: FIN | PSH | URG,
    ..super::tcp_fin::TCP_PROBE
};

/// The reset acknowledges the FIN: its ack is the cookie + 1.
#[inline]
pub fn echo(flags: u8, seq: u32, ack: u32) -> Option<u32> {
    super::tcp_fin::echo(flags, seq, ack)
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
