//! The probe's keyed cookie in a protocol field, where the protocol has one: a reply is
//! accepted only when the field it echoes (a DNS ID, an SNMP request-id, an NTP origin
//! timestamp...) holds the cookie, on top of the cookie in our source port.
//!
//! A payload's field is found in its bytes ([`CookieField::locate`]): the payload must parse
//! strictly as a request of the protocol, and one of the ports it is sent to must be one the
//! protocol is known on (nmap's payload files do not name protocols; the two checks together
//! keep a payload of another protocol from being patched). [`CookieField::patch`] writes the
//! cookie into a payload, [`CookieField::check`] tells whether a reply echoes it. All three are
//! pure and never panic, whatever the bytes. The field keeps the payload's length, so the
//! probe template (built with the field zeroed) adds the patched bytes' checksum share
//! ([`CookieField::ranges`]).

mod ber;
mod protocols;

use crate::targets::PortSet;
use std::ops::Range;

/// Longest value a field holds (a SIP Call-ID token).
pub const MAX_FIELD: usize = 32;

/// A protocol whose requests carry a value the reply echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// DNS and the protocols with its header (mDNS, LLMNR, NetBIOS name service): the ID.
    Dns,
    /// SNMP: the request-id of v1/v2c, the msgID of v3 (a BER INTEGER of fixed length).
    Snmp,
    /// NTP: our transmit timestamp, echoed as the reply's origin timestamp.
    Ntp,
    /// ONC RPC (portmapper, NFS): the xid.
    Rpc,
    /// STUN: the transaction ID.
    Stun,
    /// RADIUS: the identifier (and a request authenticator drawn from the cookie).
    Radius,
    /// IKE (ISAKMP and IKEv2): the initiator SPI (cookie).
    Ike,
    /// memcached over UDP: the frame header's request ID.
    Memcached,
    /// SIP: the Call-ID.
    Sip,
    /// OpenVPN: our session ID, echoed as the server's remote session ID.
    OpenVpn,
}

impl Protocol {
    /// Every protocol, in the order `locate` tries them.
    pub const ALL: [Protocol; 10] = [
        Protocol::Snmp,
        Protocol::Rpc,
        Protocol::Memcached,
        Protocol::Stun,
        Protocol::Ike,
        Protocol::Ntp,
        Protocol::Radius,
        Protocol::OpenVpn,
        Protocol::Sip,
        Protocol::Dns,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Dns => "dns",
            Protocol::Snmp => "snmp",
            Protocol::Ntp => "ntp",
            Protocol::Rpc => "rpc",
            Protocol::Stun => "stun",
            Protocol::Radius => "radius",
            Protocol::Ike => "ike",
            Protocol::Memcached => "memcached",
            Protocol::Sip => "sip",
            Protocol::OpenVpn => "openvpn",
        }
    }

    /// Ports the protocol is known on (IANA): a payload is patched only when it is sent to
    /// one of them.
    pub fn ports(self) -> &'static [u16] {
        match self {
            Protocol::Dns => &[53, 137, 5353, 5355],
            Protocol::Snmp => &[161, 162],
            Protocol::Ntp => &[123],
            Protocol::Rpc => &[111, 2049],
            Protocol::Stun => &[3478, 3479, 5349, 19302],
            Protocol::Radius => &[1645, 1646, 1812, 1813],
            Protocol::Ike => &[500, 4500],
            Protocol::Memcached => &[11211],
            Protocol::Sip => &[5060, 5061],
            Protocol::OpenVpn => &[1194],
        }
    }
}

/// Where one payload carries the cookie: its protocol and the bytes the cookie takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CookieField {
    protocol: Protocol,
    at: usize,
    len: usize,
}

impl CookieField {
    /// The field of `payload` when it is a request of a protocol known on one of `ports`;
    /// None when no protocol claims it (the source port is then the only cookie).
    pub fn locate(payload: &[u8], ports: &PortSet) -> Option<Self> {
        Protocol::ALL.into_iter().find_map(|p| {
            let known = p.ports().iter().any(|&port| ports.contains(port));
            known
                .then(|| protocols::locate(p, payload))
                .flatten()
                .map(|(at, len)| CookieField {
                    protocol: p,
                    at,
                    len,
                })
        })
    }

    /// The field of `payload` read as a request of `protocol` (for payloads that name their
    /// protocol, like the built-in table); None when it does not parse as one.
    pub fn locate_as(protocol: Protocol, payload: &[u8]) -> Option<Self> {
        protocols::locate(protocol, payload).map(|(at, len)| CookieField { protocol, at, len })
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The byte ranges of the payload the cookie is written to.
    pub fn ranges(&self) -> impl Iterator<Item = Range<usize>> {
        let (first, second) = match self.protocol {
            // Identifier, then the 16-byte request authenticator after the length.
            Protocol::Radius => (1..2, 4..20),
            _ => (self.at..self.at + self.len, 0..0),
        };
        [first, second].into_iter().filter(|r| !r.is_empty())
    }

    /// The bytes the field holds for `cookie` (the first `len` of the array).
    fn value(&self, cookie: u64) -> [u8; MAX_FIELD] {
        let mut v = cookie_bytes(cookie);
        protocols::shape(self.protocol, &mut v[..self.len.min(MAX_FIELD)]);
        v
    }

    /// Writes the cookie into `payload`; a payload too short for the field (not the one it
    /// was located in) is left alone.
    pub fn patch(&self, payload: &mut [u8], cookie: u64) {
        let value = self.value(cookie);
        let mut next = value.iter();
        for r in self.ranges() {
            let Some(dst) = payload.get_mut(r) else {
                return;
            };
            for (d, s) in dst.iter_mut().zip(&mut next) {
                *d = *s;
            }
        }
    }

    /// The word sum (`wire::checksum::sum_words_at`) the field adds to the datagram's
    /// checksum when it holds `cookie` (the payload starts at an even offset of it).
    pub fn checksum_share(&self, cookie: u64) -> u64 {
        let value = self.value(cookie);
        let mut next = 0;
        let mut sum = 0;
        for r in self.ranges() {
            let n = r.len();
            if let Some(bytes) = value.get(next..next + n) {
                sum += crate::wire::checksum::sum_words_at(r.start, bytes);
            }
            next += n;
        }
        sum
    }

    /// True when `reply` (a UDP payload) is an answer of the protocol that echoes the cookie.
    pub fn check(&self, reply: &[u8], cookie: u64) -> bool {
        let value = self.value(cookie);
        protocols::check(self.protocol, reply, &value[..self.len.min(MAX_FIELD)])
    }
}

/// `MAX_FIELD` bytes drawn from the cookie: its 8 big-endian bytes, repeated with each round
/// changed, so a field longer than 8 bytes is still fixed by the cookie alone.
pub fn cookie_bytes(cookie: u64) -> [u8; MAX_FIELD] {
    let base = cookie.to_be_bytes();
    std::array::from_fn(|i| base[i % 8] ^ ((i / 8) as u8).wrapping_mul(0x9d))
}

/// True when a reply answers one of the payloads sent: any payload without a field lets the
/// source port decide alone; otherwise some field must hold the cookie.
pub fn reply_matches<'a>(
    fields: impl IntoIterator<Item = Option<&'a CookieField>>,
    reply: &[u8],
    cookie: u64,
) -> bool {
    fields.into_iter().any(|f| match f {
        None => true,
        Some(f) => f.check(reply, cookie),
    })
}

#[cfg(test)]
mod tests;
