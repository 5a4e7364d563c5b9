//! A decided result in 16 bytes (millisecond time, reason as a code): what waits in the
//! epoch buffers and what the resume journal stores.

use crate::model::{PortResult, Reason};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, UNIX_EPOCH};

/// Reason codes, by position: the journal's on-disk codes.
const REASONS: [Reason; Reason::ALL.len()] = Reason::ALL;

/// Bytes of [`Compact::to_bytes`].
pub const COMPACT_BYTES: usize = 16;

/// A result in 16 bytes; its state follows from its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compact {
    at_ms: u64,
    ip: u32,
    port: u16,
    reason: u8,
    ttl: u8,
}

impl Compact {
    /// Packs a result (its time to the millisecond).
    pub fn new(r: &PortResult) -> Compact {
        Compact {
            at_ms: r
                .timestamp
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            // IPv4 only until the record names its pair by position (IPv6 engine work).
            ip: match r.ip {
                IpAddr::V4(a) => u32::from(a),
                IpAddr::V6(_) => 0,
            },
            port: r.port,
            reason: REASONS.iter().position(|x| *x == r.reason).unwrap_or(2) as u8,
            ttl: r.ttl,
        }
    }

    /// The result again (None for a reason code this synscan does not know).
    pub fn result(&self) -> Option<PortResult> {
        let reason = *REASONS.get(usize::from(self.reason))?;
        Some(PortResult {
            ip: IpAddr::V4(Ipv4Addr::from(self.ip)),
            port: self.port,
            state: reason.state(),
            reason,
            ttl: self.ttl,
            timestamp: UNIX_EPOCH + Duration::from_millis(self.at_ms),
        })
    }

    /// On-disk form: address (4, big endian), port (2, big endian), reason code, TTL,
    /// milliseconds since the Unix epoch (8, little endian).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn packs_every_reason_in_16_bytes() {
        assert_eq!(std::mem::size_of::<Compact>(), 16);
        for (i, reason) in REASONS.iter().enumerate() {
            let r = PortResult {
                ip: Ipv4Addr::new(198, 19, 0, i as u8).into(),
                port: 1000 + i as u16,
                state: reason.state(),
                reason: *reason,
                ttl: i as u8,
                timestamp: UNIX_EPOCH + Duration::from_millis(1_764_000_000_123 + i as u64),
            };
            let c = Compact::new(&r);
            assert_eq!(c.result(), Some(r));
            assert_eq!(Compact::from_bytes(&c.to_bytes()), c);
        }
        let now = Compact::new(&PortResult {
            ip: Ipv4Addr::LOCALHOST.into(),
            port: 1,
            state: crate::model::PortState::Open,
            reason: Reason::SynAck,
            ttl: 1,
            timestamp: SystemTime::now(),
        });
        let mut bad = now.to_bytes();
        bad[6] = 99;
        assert_eq!(Compact::from_bytes(&bad).result(), None);
    }
}
