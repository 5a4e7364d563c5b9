//! Packet views and parsed representations; checksums (full and incremental).

use std::net::Ipv4Addr;

pub mod build;
pub mod checksum;
mod parse;

pub use parse::parse_reply;

/// What a frame starts with on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkLayer {
    /// A 14-byte Ethernet header (also loopback through AF_PACKET, with zero MACs).
    Ethernet,
    /// The IPv4 header itself (raw IP sockets, tun devices).
    RawIp,
}

impl LinkLayer {
    /// Bytes before the IPv4 header.
    pub fn header_len(self) -> usize {
        match self {
            LinkLayer::Ethernet => 14,
            LinkLayer::RawIp => 0,
        }
    }
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// A TCP segment received from a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpReply {
    /// IPv4 source (the target).
    pub src: Ipv4Addr,
    /// IPv4 destination (us).
    pub dst: Ipv4Addr,
    /// TCP source port (the scanned port).
    pub sport: u16,
    /// TCP destination port (our source port).
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits (see `tcp_flags`).
    pub flags: u8,
    /// IPv4 TTL.
    pub ttl: u8,
}

/// The TCP header fields an ICMP error quotes of our probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedTcp {
    /// Quoted IPv4 source (us).
    pub src: Ipv4Addr,
    /// Quoted IPv4 destination (the target).
    pub dst: Ipv4Addr,
    /// Quoted source port (ours).
    pub sport: u16,
    /// Quoted destination port (the scanned port).
    pub dport: u16,
    /// Quoted sequence number (our cookie).
    pub seq: u32,
}

/// An ICMP destination-unreachable that quotes a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpUnreachable {
    /// Who sent the ICMP error.
    pub from: Ipv4Addr,
    /// ICMP code.
    pub code: u8,
    /// IPv4 TTL of the ICMP packet.
    pub ttl: u8,
    /// The quoted probe.
    pub quoted: QuotedTcp,
}

/// A parsed frame that may answer a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A TCP segment.
    Tcp(TcpReply),
    /// An ICMP destination unreachable quoting TCP.
    Unreachable(IcmpUnreachable),
}

/// Why a frame was not a reply (counted, never reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// Shorter than its headers claim.
    Truncated,
    /// Not IPv4.
    NotIpv4,
    /// IHL, data offset or total length out of range.
    BadHeader,
    /// A fragment.
    Fragment,
    /// Neither TCP nor ICMP unreachable quoting TCP.
    Uninteresting,
}
