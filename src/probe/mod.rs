//! The SYN template (built once, patched per probe) and the keyed cookie that validates replies.
//! INTERFACE STUB: the wire helper replaces the bodies.

use crate::wire::{LinkLayer, QuotedTcp, TcpReply};
use std::net::Ipv4Addr;

/// Source ports our probes use: [first, first + count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePorts {
    /// First port.
    pub first: u16,
    /// How many ports (>= 1).
    pub count: u16,
}

impl SourcePorts {
    /// Default: 61000..=65535, above Linux's default ip_local_port_range (32768-60999).
    pub const DEFAULT: SourcePorts = SourcePorts {
        first: 61000,
        count: 4536,
    };
    /// The last port.
    pub fn last(&self) -> u16 {
        self.first + (self.count - 1)
    }
}

/// Everything fixed about the probes of one scan.
#[derive(Clone, Debug)]
pub struct ProbeParams {
    /// Link layer the frames are for.
    pub link: LinkLayer,
    /// Our MAC (ignored for RawIp).
    pub src_mac: [u8; 6],
    /// Next hop's MAC (ignored for RawIp).
    pub dst_mac: [u8; 6],
    /// Our IPv4 address.
    pub src_ip: Ipv4Addr,
    /// Source port range.
    pub source_ports: SourcePorts,
    /// Key of the cookie (derived from the scan seed plus per-run randomness).
    pub key: [u64; 2],
}

/// Crafts SYN frames into caller buffers and validates replies against the cookie.
#[derive(Clone, Debug)]
pub struct ProbeCrafter {}

impl ProbeCrafter {
    /// Builds the template once.
    pub fn new(_params: ProbeParams) -> Self {
        todo!()
    }
    /// Length of every frame this crafter writes.
    pub fn frame_len(&self) -> usize {
        todo!()
    }
    /// Writes the SYN for (dst, dport) into `buf` (exactly frame_len bytes).
    pub fn craft(&self, _buf: &mut [u8], _dst: Ipv4Addr, _dport: u16) {
        todo!()
    }
    /// True when a SYN/ACK or RST answers one of our probes (ports and ack == cookie + 1).
    pub fn validate_tcp(&self, _reply: &TcpReply) -> bool {
        todo!()
    }
    /// True when an ICMP error quotes one of our probes (ports and seq == cookie).
    pub fn validate_quote(&self, _quoted: &QuotedTcp) -> bool {
        todo!()
    }
}
