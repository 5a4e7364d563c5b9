//! A decided result in 16-byte records (millisecond time, protocol, state and reason as
//! codes): what waits in the epoch buffers and what the resume journal stores.
//!
//! An IPv4 result takes one record. An IPv6 result takes two in a row: a head (the first
//! 4 address bytes, port, TTL, time, protocol, state, and a marker where the reason code
//! goes) and a tail (the other 12 address bytes and the reason code). IPv4 results, the
//! bulk of most scans, keep their 16 bytes.
//!
//! The state is stored, not derived from the reason: which reply means which state is the
//! probe kind's to say (a reset is closed to a SYN, unfiltered to an ACK).

use crate::model::{PortResult, PortState, Protocol, Reason};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, UNIX_EPOCH};

/// Reason codes, by position: the journal's on-disk codes.
const REASONS: [Reason; Reason::ALL.len()] = Reason::ALL;

/// Reason-code byte of an IPv6 result's head record (never a reason code).
const V6_HEAD: u8 = 0xFF;
/// Reason-code byte of an IPv6 result's tail record (never a reason code).
const V6_TAIL: u8 = 0xFE;

/// Bytes of [`Compact::to_bytes`].
pub const COMPACT_BYTES: usize = 16;

/// The low 48 bits of a head record's stamp: milliseconds since the Unix epoch (to the
/// year 10889). Above them: the protocol code, then the state code.
const MILLIS: u64 = (1 << 48) - 1;

/// One 16-byte record: a whole IPv4 result, or half of an IPv6 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compact {
    /// Head records: milliseconds (48 bits), protocol code (8), state code (8). A tail:
    /// address bytes 8..16.
    at_ms: u64,
    ip: u32,
    port: u16,
    reason: u8,
    ttl: u8,
}

/// The records of one result: one for IPv4, two for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Records {
    first: Compact,
    second: Option<Compact>,
}

impl IntoIterator for Records {
    type Item = Compact;
    type IntoIter = std::iter::Chain<std::iter::Once<Compact>, std::option::IntoIter<Compact>>;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self.first).chain(self.second)
    }
}

impl Records {
    /// How many records (1 or 2).
    pub fn len(&self) -> usize {
        1 + usize::from(self.second.is_some())
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A head record's stamp: the result's time, protocol and state.
fn stamp(r: &PortResult) -> u64 {
    let ms = r
        .timestamp
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    ms.min(MILLIS) | u64::from(r.protocol.code()) << 48 | u64::from(r.state.code()) << 56
}

fn reason_code(reason: Reason) -> u8 {
    REASONS.iter().position(|x| *x == reason).unwrap_or(2) as u8
}

impl Compact {
    /// Packs a result (its time to the millisecond) into its records.
    pub fn encode(r: &PortResult) -> Records {
        let at_ms = stamp(r);
        match r.ip {
            IpAddr::V4(a) => Records {
                first: Compact {
                    at_ms,
                    ip: u32::from(a),
                    port: r.port,
                    reason: reason_code(r.reason),
                    ttl: r.ttl,
                },
                second: None,
            },
            IpAddr::V6(a) => {
                let b = a.octets();
                let mut low = [0u8; 8];
                low.copy_from_slice(&b[8..16]);
                Records {
                    first: Compact {
                        at_ms,
                        ip: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                        port: r.port,
                        reason: V6_HEAD,
                        ttl: r.ttl,
                    },
                    second: Some(Compact {
                        at_ms: u64::from_le_bytes(low),
                        ip: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                        port: 0,
                        reason: V6_TAIL,
                        ttl: reason_code(r.reason),
                    }),
                }
            }
        }
    }

    fn result_with(&self, ip: IpAddr, code: u8) -> Option<PortResult> {
        let reason = *REASONS.get(usize::from(code))?;
        Some(PortResult {
            ip,
            port: self.port,
            protocol: Protocol::from_code((self.at_ms >> 48) as u8)?,
            state: PortState::from_code((self.at_ms >> 56) as u8)?,
            reason,
            ttl: self.ttl,
            timestamp: UNIX_EPOCH + Duration::from_millis(self.at_ms & MILLIS),
        })
    }

    /// On-disk form: address (4, big endian), port (2, big endian), reason code, TTL,
    /// milliseconds since the Unix epoch (6, little endian), protocol code, state code. An
    /// IPv6 head has 0xFF for the reason code and address bytes 0..4 for the address; its
    /// tail holds address bytes 4..8, a zero port, 0xFE, the reason code, then address
    /// bytes 8..16.
    pub fn to_bytes(&self) -> [u8; COMPACT_BYTES] {
        let mut b = [0u8; COMPACT_BYTES];
        b[0..4].copy_from_slice(&self.ip.to_be_bytes());
        b[4..6].copy_from_slice(&self.port.to_be_bytes());
        b[6] = self.reason;
        b[7] = self.ttl;
        b[8..16].copy_from_slice(&self.at_ms.to_le_bytes());
        b
    }

    /// Reads the on-disk form.
    pub fn from_bytes(b: &[u8; COMPACT_BYTES]) -> Compact {
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&b[8..16]);
        Compact {
            at_ms: u64::from_le_bytes(ms),
            ip: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            port: u16::from_be_bytes([b[4], b[5]]),
            reason: b[6],
            ttl: b[7],
        }
    }
}

/// What one more record makes of the records read so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A whole result.
    Result(PortResult),
    /// The head of an IPv6 result: its tail comes next.
    Partial,
    /// Not a record this synscan wrote (an unknown reason code, a tail without a head).
    Bad,
}

/// Turns a sequence of records back into results.
#[derive(Debug, Default)]
pub struct Decoder {
    head: Option<Compact>,
}

impl Decoder {
    /// A decoder at a result boundary.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Takes the next record.
    pub fn push(&mut self, c: Compact) -> Step {
        match (self.head.take(), c.reason) {
            (None, V6_HEAD) => {
                self.head = Some(c);
                Step::Partial
            }
            (None, V6_TAIL) | (Some(_), V6_HEAD) => Step::Bad,
            (None, code) => match c.result_with(IpAddr::V4(Ipv4Addr::from(c.ip)), code) {
                Some(r) => Step::Result(r),
                None => Step::Bad,
            },
            (Some(head), V6_TAIL) => {
                let mut b = [0u8; 16];
                b[0..4].copy_from_slice(&head.ip.to_be_bytes());
                b[4..8].copy_from_slice(&c.ip.to_be_bytes());
                b[8..16].copy_from_slice(&c.at_ms.to_le_bytes());
                match head.result_with(IpAddr::V6(Ipv6Addr::from(b)), c.ttl) {
                    Some(r) => Step::Result(r),
                    None => Step::Bad,
                }
            }
            (Some(_), _) => Step::Bad,
        }
    }

    /// True when no IPv6 head waits for its tail.
    pub fn at_boundary(&self) -> bool {
        self.head.is_none()
    }
}

/// The results of records written by [`Compact::encode`] (records that do not decode are
/// skipped).
pub fn decode_all<'a>(
    records: impl IntoIterator<Item = &'a Compact> + 'a,
) -> impl Iterator<Item = PortResult> + 'a {
    let mut d = Decoder::new();
    records.into_iter().filter_map(move |c| match d.push(*c) {
        Step::Result(r) => Some(r),
        Step::Partial | Step::Bad => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn result(ip: IpAddr, i: usize, reason: Reason) -> PortResult {
        PortResult {
            protocol: crate::model::Protocol::Tcp,
            ip,
            port: 1000 + i as u16,
            state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
            reason,
            ttl: i as u8,
            timestamp: UNIX_EPOCH + Duration::from_millis(1_764_000_000_123 + i as u64),
        }
    }

    fn round_trip(rs: &[PortResult]) -> Vec<PortResult> {
        let mut bytes = Vec::new();
        for r in rs {
            for c in Compact::encode(r) {
                assert_eq!(Compact::from_bytes(&c.to_bytes()), c);
                bytes.extend_from_slice(&c.to_bytes());
            }
        }
        let records: Vec<Compact> = bytes
            .chunks_exact(COMPACT_BYTES)
            .map(|b| Compact::from_bytes(b.try_into().expect("16 bytes")))
            .collect();
        decode_all(&records).collect()
    }

    #[test]
    fn packs_every_reason_in_16_bytes() {
        assert_eq!(std::mem::size_of::<Compact>(), 16);
        let rs: Vec<PortResult> = REASONS
            .iter()
            .enumerate()
            .map(|(i, reason)| result(Ipv4Addr::new(198, 19, 0, i as u8).into(), i, *reason))
            .collect();
        for r in &rs {
            assert_eq!(Compact::encode(r).len(), 1);
        }
        assert_eq!(round_trip(&rs), rs);
        let now = Compact::encode(&PortResult {
            protocol: crate::model::Protocol::Tcp,
            ip: Ipv4Addr::LOCALHOST.into(),
            port: 1,
            state: PortState::Open,
            reason: Reason::SynAck,
            ttl: 1,
            timestamp: SystemTime::now(),
        });
        let mut bad = now.first.to_bytes();
        bad[6] = 99;
        assert_eq!(Decoder::new().push(Compact::from_bytes(&bad)), Step::Bad);
    }

    #[test]
    fn ipv4_records_keep_the_journal_layout() {
        let r = result(Ipv4Addr::new(198, 19, 0, 5).into(), 0, Reason::Reset);
        let records: Vec<Compact> = Compact::encode(&r).into_iter().collect();
        let mut want = vec![198, 19, 0, 5, 0x03, 0xe8, 1, 0];
        want.extend_from_slice(&1_764_000_000_123u64.to_le_bytes()[..6]);
        want.extend_from_slice(&[0, 1]); // tcp, closed
        assert_eq!(records[0].to_bytes().to_vec(), want);
    }

    /// The record keeps the protocol and the state beside the reason: a reset that means
    /// unfiltered, a UDP no-response that means open|filtered.
    #[test]
    fn protocol_and_state_travel_with_the_reason() {
        let a: Ipv6Addr = "2001:2:0:19::7".parse().expect("addr");
        let mut rs = Vec::new();
        for (i, (protocol, state, reason)) in [
            (Protocol::Udp, PortState::OpenFiltered, Reason::NoResponse),
            (Protocol::Udp, PortState::Open, Reason::UdpResponse),
            (Protocol::Tcp, PortState::Unfiltered, Reason::Reset),
            (Protocol::Udp, PortState::ClosedFiltered, Reason::NoResponse),
            (Protocol::Sctp, PortState::Filtered, Reason::NoResponse),
        ]
        .into_iter()
        .enumerate()
        {
            for ip in [Ipv4Addr::new(198, 19, 0, 7).into(), IpAddr::V6(a)] {
                rs.push(PortResult {
                    protocol,
                    state,
                    ..result(ip, i, reason)
                });
            }
        }
        assert_eq!(round_trip(&rs), rs);
        // Codes no synscan wrote.
        let mut bad = Compact::encode(&rs[0]).first.to_bytes();
        bad[14] = 9;
        assert_eq!(Decoder::new().push(Compact::from_bytes(&bad)), Step::Bad);
        let mut bad = Compact::encode(&rs[0]).first.to_bytes();
        bad[15] = 6;
        assert_eq!(Decoder::new().push(Compact::from_bytes(&bad)), Step::Bad);
    }

    #[test]
    fn ipv6_results_take_two_records_and_come_back_whole() {
        let a: Ipv6Addr = "2001:2:0:19:8899:aabb:ccdd:ff05".parse().expect("addr");
        let rs: Vec<PortResult> = REASONS
            .iter()
            .enumerate()
            .map(|(i, reason)| result(IpAddr::V6(a), i, *reason))
            .collect();
        for r in &rs {
            assert_eq!(Compact::encode(r).len(), 2);
        }
        assert_eq!(round_trip(&rs), rs);
        // Mixed with IPv4, in any order.
        let mixed = vec![
            rs[0],
            result(Ipv4Addr::new(198, 19, 0, 9).into(), 3, Reason::SynAck),
            rs[12],
            rs[1],
            result(Ipv4Addr::new(198, 19, 0, 1).into(), 4, Reason::NoResponse),
        ];
        assert_eq!(round_trip(&mixed), mixed);
        let head = Compact::encode(&rs[0]).first;
        let tail = Compact::encode(&rs[0]).second.expect("a tail");
        assert_eq!(
            head.to_bytes()[..8].to_vec(),
            vec![0x20, 0x01, 0, 2, 0x03, 0xe8, 0xff, 0]
        );
        assert_eq!(head.to_bytes()[14..].to_vec(), vec![0, 0], "tcp, open");
        assert_eq!(
            tail.to_bytes().to_vec(),
            vec![0, 0, 0, 0x19, 0, 0, 0xfe, 0, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xff, 0x05]
        );
    }

    #[test]
    fn a_tail_without_its_head_or_a_head_without_its_tail_is_refused() {
        let a: Ipv6Addr = "2001:2:0:19::5".parse().expect("addr");
        let r = result(IpAddr::V6(a), 0, Reason::SynAck);
        let head = Compact::encode(&r).first;
        let tail = Compact::encode(&r).second.expect("a tail");
        assert_eq!(Decoder::new().push(tail), Step::Bad);
        let mut d = Decoder::new();
        assert_eq!(d.push(head), Step::Partial);
        assert!(!d.at_boundary());
        assert_eq!(d.push(head), Step::Bad);
        let mut d = Decoder::new();
        d.push(head);
        let v4 = Compact::encode(&result(Ipv4Addr::LOCALHOST.into(), 0, Reason::SynAck)).first;
        assert_eq!(d.push(v4), Step::Bad);
        // A tail holding an unknown reason code.
        let mut d = Decoder::new();
        d.push(head);
        let mut bad = tail.to_bytes();
        bad[7] = 99;
        assert_eq!(d.push(Compact::from_bytes(&bad)), Step::Bad);
    }
}
