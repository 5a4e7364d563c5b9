//! Each protocol's field: located in the built-in request, patched, and checked against
//! replies written here as servers send them; wrong cookies, wrong message kinds, cut and
//! random replies are refused without a panic.

use super::*;
use crate::payload::builtin;
use proptest::prelude::*;

fn ports(list: &[u16]) -> PortSet {
    PortSet::from_ranges(list.iter().map(|&p| (p, p)))
}

const C: u64 = 0x0123_4567_89ab_cdef;
/// Differs from C in every byte.
const OTHER: u64 = C ^ 0x0101_0101_0101_0101;

/// The built-in request named `name`, patched with `cookie`, and its field.
fn request(name: &str, cookie: u64) -> (Vec<u8>, CookieField) {
    let p = builtin::payloads()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no built-in {name}"));
    let f = p.field.unwrap_or_else(|| panic!("{name} has no field"));
    let mut data = p.data.to_vec();
    f.patch(&mut data, cookie);
    (data, f)
}

fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut v = vec![tag, contents.len() as u8];
    v.extend_from_slice(contents);
    v
}

/// The bytes of the field in a patched request.
fn field_bytes(req: &[u8], f: &CookieField) -> Vec<u8> {
    f.ranges().flat_map(|r| req[r].to_vec()).collect()
}

/// Asserts `reply` is accepted for C only, and refused cut anywhere.
fn accepts_only_its_cookie(f: &CookieField, reply: &[u8]) {
    assert!(f.check(reply, C), "{:?} refused its reply", f.protocol());
    assert!(
        !f.check(reply, OTHER),
        "{:?} took another cookie",
        f.protocol()
    );
    for len in 0..reply.len() {
        let cut = &reply[..len];
        // A cut reply may still hold the whole field; it must never panic, and a reply cut
        // before the field is refused.
        let _ = f.check(cut, C);
    }
    assert!(!f.check(&[], C));
}

#[test]
fn dns_netbios_and_mdns_ids() {
    for name in ["dns", "netbios-ns", "mdns"] {
        let (req, f) = request(name, C);
        assert_eq!(f.protocol(), Protocol::Dns);
        assert_eq!(f.ranges().collect::<Vec<_>>(), vec![0..2]);
        assert_eq!(&req[..2], &C.to_be_bytes()[..2]);
        let mut reply = req.clone();
        reply[2] |= 0x80; // QR: a response
        reply[3] = 0x05; // REFUSED is still an answer
        accepts_only_its_cookie(&f, &reply);
        // The query itself, reflected, is not a response.
        assert!(!f.check(&req, C));
    }
}

#[test]
fn snmp_request_id_and_msg_id() {
    for name in ["snmp-v2c", "snmp-v1"] {
        let (req, f) = request(name, C);
        let id = field_bytes(&req, &f);
        assert_eq!(id.len(), 4);
        assert!(id[0] > 0 && id[0] < 0x80, "a positive minimal INTEGER");
        let version = if name == "snmp-v2c" { 1 } else { 0 };
        let varbind = tlv(
            0x30,
            &tlv(0x30, &[0x06, 1, 0x2b, 0x04, 3, b'l', b'a', b'b']),
        );
        let pdu = |tag| {
            tlv(
                tag,
                &[
                    tlv(0x02, &id),
                    tlv(0x02, &[0]),
                    tlv(0x02, &[0]),
                    varbind.clone(),
                ]
                .concat(),
            )
        };
        let msg = |tag| {
            tlv(
                0x30,
                &[tlv(0x02, &[version]), tlv(0x04, b"public"), pdu(tag)].concat(),
            )
        };
        accepts_only_its_cookie(&f, &msg(0xa2));
        assert!(f.check(&msg(0xa8), C), "a Report answers too");
        assert!(!f.check(&msg(0xa0), C), "a GetRequest is no answer");
        assert!(!f.check(&req, C));
    }
    let (req, f) = request("snmp-v3-discovery", C);
    let id = field_bytes(&req, &f);
    assert_eq!(id.len(), 4);
    let global = tlv(
        0x30,
        &[
            tlv(0x02, &id),
            tlv(0x02, &[0x05, 0xdc]),
            tlv(0x04, &[0]),
            tlv(0x02, &[3]),
        ]
        .concat(),
    );
    let report = tlv(
        0x30,
        &[
            tlv(0x02, &[3]),
            global,
            tlv(0x04, &[0x30, 0]),
            tlv(0x30, &[]),
        ]
        .concat(),
    );
    accepts_only_its_cookie(&f, &report);
}

#[test]
fn ntp_origin_timestamp() {
    let (req, f) = request("ntp", C);
    assert_eq!(f.ranges().collect::<Vec<_>>(), vec![40..48]);
    assert_eq!(&req[40..48], &C.to_be_bytes());
    let mut reply = vec![0u8; 48];
    reply[0] = 0x24; // v4, server
    reply[1] = 2;
    reply[24..32].copy_from_slice(&req[40..48]);
    reply[40..48].copy_from_slice(&[9; 8]);
    accepts_only_its_cookie(&f, &reply);
    let mut client = reply.clone();
    client[0] = 0x23;
    assert!(!f.check(&client, C), "a client-mode packet is no answer");
}

#[test]
fn rpc_xid() {
    let (req, f) = request("rpc-portmap", C);
    let mut reply = req[..4].to_vec();
    reply.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    accepts_only_its_cookie(&f, &reply);
    assert!(!f.check(&req, C), "a CALL is no reply");
}

#[test]
fn stun_transaction_id() {
    let (req, f) = request("stun", C);
    assert_eq!(f.ranges().collect::<Vec<_>>(), vec![8..20]);
    let mut reply = vec![0x01, 0x01, 0, 12, 0x21, 0x12, 0xa4, 0x42];
    reply.extend_from_slice(&req[8..20]);
    reply.extend_from_slice(&[0, 0x20, 0, 8, 0, 1, 0xd5, 0x11, 0xe1, 0xba, 0xa5, 0x1b]);
    accepts_only_its_cookie(&f, &reply);
    let mut error = reply.clone();
    error[1] = 0x11;
    assert!(f.check(&error, C), "an error response answers too");
    assert!(!f.check(&req, C), "a request is no response");
}

#[test]
fn radius_identifier() {
    let (req, f) = request("radius", C);
    assert_eq!(f.ranges().collect::<Vec<_>>(), vec![1..2, 4..20]);
    assert_ne!(
        &req[4..20],
        &[0; 16],
        "the authenticator comes from the cookie"
    );
    let mut reply = vec![3, req[1], 0, 20];
    reply.extend_from_slice(&[0x5a; 16]);
    accepts_only_its_cookie(&f, &reply);
    assert!(!f.check(&req, C), "a request is no response");
}

#[test]
fn ike_initiator_spi() {
    let (req, f) = request("ike", C);
    assert_eq!(&req[..8], &C.to_be_bytes());
    let mut reply = req.clone();
    reply[8..16].copy_from_slice(&[7; 8]);
    accepts_only_its_cookie(&f, &reply);
}

#[test]
fn memcached_request_id() {
    let (req, f) = request("memcached", C);
    let mut reply = req[..2].to_vec();
    reply.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
    reply.extend_from_slice(b"VERSION 1.6.18\r\n");
    accepts_only_its_cookie(&f, &reply);
}

#[test]
fn sip_call_id() {
    let (req, f) = request("sip", C);
    let id = field_bytes(&req, &f);
    assert_eq!(id.len(), 16);
    assert!(id.iter().all(u8::is_ascii_hexdigit));
    let token = String::from_utf8(id).unwrap();
    let reply = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP invalid;branch=z9hG4bKsynscan\r\nCall-ID: {token}\r\nCSeq: 1 OPTIONS\r\n\r\n"
    );
    accepts_only_its_cookie(&f, reply.as_bytes());
    let compact = format!("SIP/2.0 404 Not Found\r\ni:{token}\r\n\r\n");
    assert!(f.check(compact.as_bytes(), C));
    let longer = format!("SIP/2.0 200 OK\r\nCall-ID: {token}x\r\n\r\n");
    assert!(!f.check(longer.as_bytes(), C));
    assert!(!f.check(&req, C), "a request is no response");
}

#[test]
fn openvpn_remote_session() {
    let (req, f) = request("openvpn", C);
    let mut reply = vec![8 << 3];
    reply.extend_from_slice(&[0x77; 8]); // server session
    reply.push(1); // one ack
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(&req[1..9]); // our session, as the remote one
    reply.extend_from_slice(&[0, 0, 0, 0]);
    accepts_only_its_cookie(&f, &reply);
    let mut no_ack = reply.clone();
    no_ack[9] = 0;
    assert!(!f.check(&no_ack, C));
}

#[test]
fn locate_needs_the_protocol_port_and_structure() {
    let (dns, _) = request("dns", 0);
    assert_eq!(
        CookieField::locate(&dns, &ports(&[53])).map(|f| f.protocol()),
        Some(Protocol::Dns)
    );
    assert_eq!(CookieField::locate(&dns, &ports(&[5300])), None);
    assert_eq!(
        CookieField::locate(&dns, &ports(&[5300, 5353])).map(|f| f.protocol()),
        Some(Protocol::Dns)
    );
    // A DNS request with a byte too many, or a response, is not a request.
    let mut longer = dns.clone();
    longer.push(0);
    assert_eq!(CookieField::locate(&longer, &ports(&[53])), None);
    let mut response = dns.clone();
    response[2] |= 0x80;
    assert_eq!(CookieField::locate(&response, &ports(&[53])), None);
    // memcached's frame header is not a DNS header, on either port.
    let (mc, _) = request("memcached", 0);
    assert_eq!(
        CookieField::locate(&mc, &ports(&[53, 11211])).map(|f| f.protocol()),
        Some(Protocol::Memcached)
    );
    assert_eq!(CookieField::locate(&mc, &ports(&[53])), None);
    assert_eq!(
        CookieField::locate(b"help\r\n\r\n", &ports(&[53, 123, 161])),
        None
    );
    // Classic STUN (RFC 3489) has no magic cookie: the whole 16 bytes are the ID.
    let mut classic = vec![0, 1, 0, 0];
    classic.extend_from_slice(&[0; 16]);
    let f = CookieField::locate(&classic, &ports(&[3478])).unwrap();
    assert_eq!(f.ranges().collect::<Vec<_>>(), vec![4..20]);
}

#[test]
fn every_builtin_with_a_protocol_has_its_field() {
    for p in builtin::payloads() {
        let relocated = CookieField::locate(&p.data, &p.ports);
        assert_eq!(relocated, p.field, "{}", p.name);
        // Patching touches the field only.
        let mut patched = p.data.to_vec();
        if let Some(f) = p.field {
            f.patch(&mut patched, C);
            let outside: Vec<usize> = (0..patched.len())
                .filter(|i| !f.ranges().any(|r| r.contains(i)))
                .collect();
            for i in outside {
                assert_eq!(patched[i], p.data[i], "{} byte {i}", p.name);
            }
            // A patched payload is still a request of its protocol.
            assert_eq!(
                CookieField::locate_as(f.protocol(), &patched),
                Some(f),
                "{}",
                p.name
            );
        }
    }
}

#[test]
fn reply_matches_any_sent_payload() {
    let (dns, f) = request("dns", C);
    let mut reply = dns.clone();
    reply[2] |= 0x80;
    assert!(reply_matches([Some(&f)], &reply, C));
    assert!(!reply_matches([Some(&f)], &reply, OTHER));
    // A payload without a field (or the empty datagram) leaves it to the source port.
    assert!(reply_matches([Some(&f), None], &reply, OTHER));
    assert!(!reply_matches([], &reply, C));
}

#[test]
fn cookie_bytes_repeat_with_a_twist() {
    let b = cookie_bytes(C);
    assert_eq!(&b[..8], &C.to_be_bytes());
    assert_ne!(&b[8..16], &b[..8]);
    assert_eq!(b[8], C.to_be_bytes()[0] ^ 0x9d);
}

fn all_fields() -> Vec<CookieField> {
    builtin::payloads()
        .into_iter()
        .filter_map(|p| p.field)
        .collect()
}

proptest! {
    #[test]
    fn hostile_replies_never_panic(reply in proptest::collection::vec(any::<u8>(), 0..120), cookie in any::<u64>()) {
        for f in all_fields() {
            let _ = f.check(&reply, cookie);
        }
    }

    #[test]
    fn hostile_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..120), port in any::<u16>()) {
        let mut p = payload.clone();
        if let Some(f) = CookieField::locate(&payload, &ports(&[port, 53, 123, 161, 111, 3478, 1812, 500, 11211, 5060, 1194])) {
            f.patch(&mut p, C);
            prop_assert_eq!(p.len(), payload.len());
        }
        for f in all_fields() {
            let mut short = payload.clone();
            f.patch(&mut short, C);
            prop_assert_eq!(short.len(), payload.len());
        }
    }
}
