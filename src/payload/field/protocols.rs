//! Per protocol: where a request holds the field (`locate`), how a cookie value is shaped to
//! stay a valid field (`shape`), and whether a reply echoes it (`check`). Every read is
//! bounds-checked: hostile replies only ever make `check` false.

use super::ber::{self, tag};
use super::{Protocol, MAX_FIELD};

/// Big-endian u16 at `at`, if present.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|w| u16::from_be_bytes([w[0], w[1]]))
}

/// Big-endian u32 at `at`, if present.
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// True when `b[at..at + want.len()]` is `want`.
fn echoes(b: &[u8], at: usize, want: &[u8]) -> bool {
    b.get(at..at + want.len()) == Some(want)
}

/// (offset, length) of the field in a request of `p`; None when `payload` is not one.
pub(super) fn locate(p: Protocol, payload: &[u8]) -> Option<(usize, usize)> {
    match p {
        Protocol::Dns => dns_request(payload).then_some((0, 2)),
        Protocol::Snmp => snmp_id(payload, false).map(|r| (r.start, r.len())),
        Protocol::Ntp => ntp_request(payload).then_some((40, 8)),
        Protocol::Rpc => {
            (payload.len() >= 24 && u32_at(payload, 4) == Some(0) && u32_at(payload, 8) == Some(2))
                .then_some((0, 4))
        }
        Protocol::Stun => stun_request(payload),
        Protocol::Radius => radius_request(payload).then_some((1, 17)),
        Protocol::Ike => ike_request(payload).then_some((0, 8)),
        Protocol::Memcached => memcached_request(payload).then_some((0, 2)),
        Protocol::Sip => sip_call_id(payload, true).map(|r| (r.start, r.len())),
        Protocol::OpenVpn => openvpn_reset(payload).then_some((1, 8)),
    }
}

/// Makes cookie bytes a valid value of the field.
pub(super) fn shape(p: Protocol, value: &mut [u8]) {
    match p {
        // A positive INTEGER in its minimal encoding: first byte 1..=0x7f (a one-byte
        // INTEGER may be 0).
        Protocol::Snmp => {
            let long = value.len() > 1;
            if let Some(first) = value.first_mut() {
                *first &= 0x7f;
                if long && *first == 0 {
                    *first = 1;
                }
            }
        }
        // Call-ID token characters: lower-case hex digits.
        Protocol::Sip => {
            for b in value.iter_mut() {
                *b = b"0123456789abcdef"[usize::from(*b & 0x0f)];
            }
        }
        _ => {}
    }
}

/// True when `reply` is an answer of `p` echoing `value`.
pub(super) fn check(p: Protocol, reply: &[u8], value: &[u8]) -> bool {
    match p {
        // A response (QR set) with our ID.
        Protocol::Dns => reply.len() >= 12 && echoes(reply, 0, value) && reply[2] & 0x80 != 0,
        Protocol::Snmp => snmp_id(reply, true).is_some_and(|r| reply.get(r) == Some(value)),
        // Server (4) or symmetric passive (2) mode, our transmit time as its origin time.
        Protocol::Ntp => {
            reply.len() >= 48 && matches!(reply[0] & 7, 2 | 4) && echoes(reply, 24, value)
        }
        // Our xid, message type REPLY (1).
        Protocol::Rpc => echoes(reply, 0, value) && u32_at(reply, 4) == Some(1),
        // A response (class bits 0x0110 say success 0x0100 or error 0x0110) with our ID.
        Protocol::Stun => {
            let at = 20 - value.len();
            u16_at(reply, 0).is_some_and(|t| t & 0xc000 == 0 && t & 0x0100 != 0)
                && reply.len() >= 20
                && echoes(reply, at, value)
        }
        // Access-Accept/Reject/Challenge or Accounting-Response with our identifier (the
        // response authenticator needs the shared secret to check).
        Protocol::Radius => {
            reply.len() >= 20
                && matches!(reply[0], 2 | 3 | 5 | 11)
                && value.first().is_some_and(|id| reply[1] == *id)
        }
        // Our initiator SPI first in the header.
        Protocol::Ike => reply.len() >= 28 && echoes(reply, 0, value),
        // Our request ID in the frame header.
        Protocol::Memcached => reply.len() >= 8 && echoes(reply, 0, value),
        Protocol::Sip => {
            reply.starts_with(b"SIP/2.0 ")
                && sip_call_id(reply, false).is_some_and(|r| reply.get(r) == Some(value))
        }
        Protocol::OpenVpn => openvpn_remote_session(reply).is_some_and(|s| s == value),
    }
}

/// A DNS-format request: QR clear, no answer or authority records, and the questions and
/// additional records ending exactly at the end (names without compression).
fn dns_request(b: &[u8]) -> bool {
    let (Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) = (
        u16_at(b, 2),
        u16_at(b, 4),
        u16_at(b, 6),
        u16_at(b, 8),
        u16_at(b, 10),
    ) else {
        return false;
    };
    if flags & 0x8000 != 0 || an != 0 || ns != 0 {
        return false;
    }
    let mut at = 12;
    for _ in 0..qd {
        let Some(end) = dns_name(b, at) else {
            return false;
        };
        at = end + 4; // type, class
    }
    for _ in 0..ar {
        let Some(end) = dns_name(b, at) else {
            return false;
        };
        // type, class, TTL, then the data length and data.
        let Some(rdlen) = u16_at(b, end + 8) else {
            return false;
        };
        at = end + 10 + usize::from(rdlen);
    }
    at == b.len()
}

/// The end of the uncompressed DNS name at `at` (labels of 1-63 bytes, at most 255 in all).
fn dns_name(b: &[u8], mut at: usize) -> Option<usize> {
    let start = at;
    loop {
        let len = usize::from(*b.get(at)?);
        if len == 0 {
            return Some(at + 1);
        }
        if len > 63 || at + 1 + len - start > 255 {
            return None;
        }
        at += 1 + len;
    }
}

/// The contents range of the SNMP request-id (v1/v2c) or msgID (v3). With `reply`, the PDU
/// must be a response (GetResponse or Report); otherwise a request (Get, GetNext, GetBulk).
fn snmp_id(b: &[u8], reply: bool) -> Option<std::ops::Range<usize>> {
    let msg = ber::expect(b, 0, b.len(), tag::SEQUENCE)?;
    if !reply && msg.end() != b.len() {
        return None;
    }
    let version = ber::expect(b, msg.contents.start, msg.end(), tag::INTEGER)?;
    let v = ber::integer(b.get(version.contents.clone())?)?;
    let id = match v {
        // v1, v2c: community, then the PDU whose first element is the request-id.
        0 | 1 => {
            let community = ber::expect(b, version.end(), msg.end(), tag::OCTET_STRING)?;
            let pdu = ber::read(b, community.end(), msg.end())?;
            let ok = if reply {
                matches!(pdu.tag, 0xa2 | 0xa8)
            } else {
                matches!(pdu.tag, 0xa0 | 0xa1 | 0xa5)
            };
            if !ok {
                return None;
            }
            ber::expect(b, pdu.contents.start, pdu.end(), tag::INTEGER)?
        }
        // v3: msgGlobalData's first element is the msgID.
        3 => {
            let global = ber::expect(b, version.end(), msg.end(), tag::SEQUENCE)?;
            ber::expect(b, global.contents.start, global.end(), tag::INTEGER)?
        }
        _ => return None,
    };
    let len = id.contents.len();
    (1..=8).contains(&len).then_some(id.contents)
}

/// A 48-byte NTP client (3) or symmetric active (1) request of version 1-4.
fn ntp_request(b: &[u8]) -> bool {
    b.len() == 48 && matches!(b[0] & 7, 1 | 3) && (1..=4).contains(&((b[0] >> 3) & 7))
}

/// A STUN Binding request whose length field counts its attributes: the transaction ID's
/// (offset, length): 12 bytes after the RFC 5389 magic cookie, or all 16 of RFC 3489's.
fn stun_request(b: &[u8]) -> Option<(usize, usize)> {
    if b.len() < 20 || u16_at(b, 0)? != 0x0001 || usize::from(u16_at(b, 2)?) != b.len() - 20 {
        return None;
    }
    Some(if u32_at(b, 4)? == 0x2112_a442 {
        (8, 12)
    } else {
        (4, 16)
    })
}

/// A RADIUS Access-Request (1), Accounting-Request (4) or Status-Server (12) whose length
/// field is its length.
fn radius_request(b: &[u8]) -> bool {
    b.len() >= 20 && matches!(b[0], 1 | 4 | 12) && u16_at(b, 2) == Some(b.len() as u16)
}

/// An IKE initial request: a zero responder SPI, version 1.0 or 2.0, and a length field at
/// least the header and at most the payload (nmap's IKE payloads are cut after the header
/// fields they need).
fn ike_request(b: &[u8]) -> bool {
    b.len() >= 28
        && b[8..16].iter().all(|&x| x == 0)
        && matches!(b[17], 0x10 | 0x20)
        && u32_at(b, 24).is_some_and(|l| (28..=65535).contains(&l))
}

/// A memcached UDP frame header (sequence 0 of 1 datagram) before an ASCII command.
fn memcached_request(b: &[u8]) -> bool {
    b.len() > 8
        && u16_at(b, 2) == Some(0)
        && u16_at(b, 4) == Some(1)
        && u16_at(b, 6) == Some(0)
        && b[8..]
            .iter()
            .all(|&c| c.is_ascii_graphic() || c == b' ' || c == b'\r' || c == b'\n')
}

/// The value range of the Call-ID header (or its compact form "i") of a SIP message; for a
/// `request`, a start line ending in " SIP/2.0" and a token of 1..=MAX_FIELD letters and
/// digits (what `patch` can overwrite in place).
fn sip_call_id(b: &[u8], request: bool) -> Option<std::ops::Range<usize>> {
    let mut lines = b.split(|&c| c == b'\n');
    let start = lines.next()?;
    if request
        && !start
            .strip_suffix(b"\r")
            .unwrap_or(start)
            .ends_with(b" SIP/2.0")
    {
        return None;
    }
    let mut at = start.len() + 1;
    for line in lines {
        let here = at;
        at += line.len() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i")) {
            continue;
        }
        let value = &line[colon + 1..];
        let lead = value.len() - value.trim_ascii_start().len();
        let token = value.trim_ascii();
        let start = here + colon + 1 + lead;
        let ok = !request
            || ((1..=MAX_FIELD).contains(&token.len())
                && token.iter().all(u8::is_ascii_alphanumeric));
        return ok.then_some(start..start + token.len());
    }
    None
}

/// A P_CONTROL_HARD_RESET_CLIENT_V2 (opcode 7) without tls-auth and without acks.
fn openvpn_reset(b: &[u8]) -> bool {
    b.len() >= 10 && b[0] >> 3 == 7 && b[9] == 0
}

/// The remote session ID of a P_CONTROL_HARD_RESET_SERVER_V2 (opcode 8) that acknowledges
/// our packet: after its session ID, the ack count and the acked packet IDs.
fn openvpn_remote_session(b: &[u8]) -> Option<&[u8]> {
    if *b.first()? >> 3 != 8 {
        return None;
    }
    let acks = usize::from(*b.get(9)?);
    if acks == 0 {
        return None;
    }
    let at = 10 + 4 * acks;
    b.get(at..at + 8)
}
