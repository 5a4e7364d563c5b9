//! Packet views and parsed representations; checksums (full and incremental).
//!
//! One file per header, each with its field table (`mod field`: every offset written once), a
//! checked view over a byte buffer (`Packet<T: AsRef<[u8]>>`, whose `new_checked` validates
//! lengths once so the accessors after it are plain reads) and a parsed representation that
//! both the parser and the builders go through:
//!
//! - `ethernet`: the Ethernet II header and the 802.1Q / 802.1ad tags skipped before IP;
//! - `ipv4`: the IPv4 header, options skipped, fragments recognised;
//! - `tcp`: the TCP header with options, and `TcpSegment`, the one representation of a
//!   segment (a reply parsed, a frame built);
//! - `udp`: the UDP header, its checksum over either pseudo-header, and the header an ICMP
//!   error quotes of a UDP probe;
//! - `icmp`: ICMPv4, the destination unreachable and the probe it quotes;
//! - `arp`: the ARP request and reply that resolve an IPv4 next hop;
//! - `ndp`: neighbour solicitation and advertisement (ICMPv6), the same for IPv6;
//! - `ip`: what the IP versions share (the address trait the TCP checksum's pseudo-header is
//!   built from, protocol numbers).
//!
//! `parse_reply` (in `parse`) reads untrusted frames with these views, and `parse_udp_reply`
//! (in `parse_udp`) those that may answer a UDP probe; `build` writes frames
//! for tests, the lab and the in-memory network; `probe::template` writes the SYN with them.

use std::net::Ipv4Addr;

pub mod arp;
pub mod build;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
mod parse;
mod parse_udp;
pub mod tcp;
pub mod udp;

pub use ip::IpAddress;
pub use parse::{parse_ip_reply, parse_reply, IpReply};
pub use parse_udp::{
    parse_udp_reply, IpUdpReply, QuotedUdp, UdpDatagram, UdpReply, UdpUnreachable,
};
pub use tcp::flags as tcp_flags;
pub use tcp::TcpSegment;

/// A run of bytes of a header (`start..end`).
pub type Field = std::ops::Range<usize>;

/// Big-endian u16 at `f` (the caller's view has checked the length).
#[inline(always)]
pub(crate) fn read_u16(b: &[u8], f: Field) -> u16 {
    u16::from_be_bytes([b[f.start], b[f.start + 1]])
}

/// Big-endian u32 at `f` (the caller's view has checked the length).
#[inline(always)]
pub(crate) fn read_u32(b: &[u8], f: Field) -> u32 {
    u32::from_be_bytes([b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3]])
}

/// Writes `v` big-endian at `f`.
#[inline(always)]
pub(crate) fn write_u16(b: &mut [u8], f: Field, v: u16) {
    b[f.start..f.start + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` big-endian at `f`.
#[inline(always)]
pub(crate) fn write_u32(b: &mut [u8], f: Field, v: u32) {
    b[f.start..f.start + 4].copy_from_slice(&v.to_be_bytes());
}

/// What a frame starts with on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkLayer {
    /// A 14-byte Ethernet header (also loopback through AF_PACKET, with zero MACs).
    Ethernet,
    /// The IP header itself (raw IP sockets, tun devices).
    RawIp,
}

impl LinkLayer {
    /// Bytes before the IP header (untagged frames).
    pub fn header_len(self) -> usize {
        match self {
            LinkLayer::Ethernet => ethernet::HEADER_LEN,
            LinkLayer::RawIp => 0,
        }
    }
}

/// The TCP header fields an ICMP error quotes of our probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedTcp<A = Ipv4Addr> {
    /// Quoted IP source (us).
    pub src: A,
    /// Quoted IP destination (the target).
    pub dst: A,
    /// Quoted source port (ours).
    pub sport: u16,
    /// Quoted destination port (the scanned port).
    pub dport: u16,
    /// Quoted sequence number (our cookie).
    pub seq: u32,
}

/// An ICMP destination-unreachable that quotes a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpUnreachable<A = Ipv4Addr> {
    /// Who sent the ICMP error.
    pub from: A,
    /// ICMP code.
    pub code: u8,
    /// TTL (hop limit) of the ICMP packet.
    pub ttl: u8,
    /// The quoted probe.
    pub quoted: QuotedTcp<A>,
}

/// A parsed frame that may answer a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<A = Ipv4Addr> {
    /// A TCP segment.
    Tcp(TcpSegment<A>),
    /// An ICMP destination unreachable quoting TCP.
    Unreachable(IcmpUnreachable<A>),
}

impl<A: Copy> Reply<A> {
    /// The same reply with its addresses converted by `f` (e.g. to `IpAddr`).
    pub fn map_addr<B>(self, f: impl Fn(A) -> B) -> Reply<B> {
        match self {
            Reply::Tcp(t) => Reply::Tcp(TcpSegment {
                src: f(t.src),
                dst: f(t.dst),
                sport: t.sport,
                dport: t.dport,
                seq: t.seq,
                ack: t.ack,
                flags: t.flags,
                ttl: t.ttl,
                window: t.window,
            }),
            Reply::Unreachable(u) => Reply::Unreachable(IcmpUnreachable {
                from: f(u.from),
                code: u.code,
                ttl: u.ttl,
                quoted: QuotedTcp {
                    src: f(u.quoted.src),
                    dst: f(u.quoted.dst),
                    sport: u.quoted.sport,
                    dport: u.quoted.dport,
                    seq: u.quoted.seq,
                },
            }),
        }
    }
}

/// Why a frame was not a reply (counted, never reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// Shorter than its headers claim.
    Truncated,
    /// Not IP, or not the IP version its link header or ICMP quote said.
    NotIp,
    /// IHL, data offset or total length out of range.
    BadHeader,
    /// A fragment.
    Fragment,
    /// Neither TCP nor ICMP unreachable quoting TCP.
    Uninteresting,
}
