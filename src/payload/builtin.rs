//! The project's own table of well-known UDP requests, used when nmap is not installed. Each
//! request is built here from its protocol's specification (the RFC or the project's own
//! documentation), with the field the cookie goes in zero: a harmless query that any
//! server of the protocol answers, even if only with an error.

use super::field::{CookieField, Protocol};
use super::{Origin, Payload};
use crate::targets::PortSet;

/// One request of the table.
struct Request {
    /// What it is.
    name: &'static str,
    /// The ports it goes to.
    ports: &'static [u16],
    /// Its protocol, when it has a cookie field.
    protocol: Option<Protocol>,
    /// Its bytes.
    data: Vec<u8>,
}

/// A DNS name in wire form (labels, then the root).
fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A DNS query (RFC 1035 4.1): ID zero (the cookie's), `flags`, one question.
fn dns_query(flags: u16, name: &[u8], qtype: u16, qclass: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + name.len() + 4);
    q.extend_from_slice(&[0, 0]);
    q.extend_from_slice(&flags.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD 1, AN, NS, AR 0
    q.extend_from_slice(name);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&qclass.to_be_bytes());
    q
}

/// A BER tag-length-value (short lengths: every message here is under 128 bytes a part).
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut v = vec![tag, contents.len() as u8];
    v.extend_from_slice(contents);
    v
}

/// Concatenation.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// SNMP v1 (`version` 0) or v2c (1) GetRequest for sysDescr.0 with community "public"
/// (RFC 1157, RFC 3416): a 4-byte request-id, zero until patched.
fn snmp_get(version: u8) -> Vec<u8> {
    // 1.3.6.1.2.1.1.1.0, sysDescr.0
    let oid = tlv(0x06, &[0x2b, 6, 1, 2, 1, 1, 1, 0]);
    let varbind = tlv(0x30, &cat(&[&oid, &[0x05, 0x00]]));
    let pdu = tlv(
        0xa0,
        &cat(&[
            &tlv(0x02, &[0, 0, 0, 0]), // request-id
            &tlv(0x02, &[0]),          // error-status
            &tlv(0x02, &[0]),          // error-index
            &tlv(0x30, &varbind),
        ]),
    );
    tlv(
        0x30,
        &cat(&[&tlv(0x02, &[version]), &tlv(0x04, b"public"), &pdu]),
    )
}

/// SNMPv3 engine discovery (RFC 3414 4): noAuthNoPriv, reportable, empty engine ID and user;
/// every v3 agent answers it with a Report whatever its communities. A 4-byte msgID.
fn snmp_v3_discovery() -> Vec<u8> {
    let global = tlv(
        0x30,
        &cat(&[
            &tlv(0x02, &[0, 0, 0, 0]),       // msgID
            &tlv(0x02, &[0x00, 0xff, 0xe3]), // msgMaxSize 65507
            &tlv(0x04, &[0x04]),             // msgFlags: reportable
            &tlv(0x02, &[3]),                // msgSecurityModel: USM
        ]),
    );
    let usm = tlv(
        0x30,
        &cat(&[
            &tlv(0x04, &[]),  // engine ID
            &tlv(0x02, &[0]), // boots
            &tlv(0x02, &[0]), // time
            &tlv(0x04, &[]),  // user
            &tlv(0x04, &[]),  // authentication parameters
            &tlv(0x04, &[]),  // privacy parameters
        ]),
    );
    let pdu = tlv(
        0xa0,
        &cat(&[
            &tlv(0x02, &[0]),
            &tlv(0x02, &[0]),
            &tlv(0x02, &[0]),
            &tlv(0x30, &[]),
        ]),
    );
    let scoped = tlv(0x30, &cat(&[&tlv(0x04, &[]), &tlv(0x04, &[]), &pdu]));
    tlv(
        0x30,
        &cat(&[&tlv(0x02, &[3]), &global, &tlv(0x04, &usm), &scoped]),
    )
}

/// NTP v4 client request (RFC 5905 7.3): leap "unsynchronized", mode 3, poll 2^6, precision
/// 2^-20; the transmit timestamp (bytes 40-47) is the cookie, echoed as the origin.
fn ntp_client() -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = (3 << 6) | (4 << 3) | 3;
    p[2] = 6;
    p[3] = 0xec;
    p
}

/// NetBIOS name service node status request for "*" (RFC 1002 4.2.17): the name is the
/// first-level encoding of "*" and 15 NULs, type NBSTAT (0x21), class IN.
fn netbios_status() -> Vec<u8> {
    let mut name = vec![32u8];
    for b in std::iter::once(b'*').chain(std::iter::repeat_n(0u8, 15)) {
        name.push(b'A' + (b >> 4));
        name.push(b'A' + (b & 0x0f));
    }
    name.push(0);
    dns_query(0x0000, &name, 0x0021, 0x0001)
}

/// memcached's UDP frame header (request ID zero until patched, sequence 0 of 1) before
/// the ASCII `version` command (protocol.txt, "UDP protocol").
fn memcached_version() -> Vec<u8> {
    cat(&[&[0, 0, 0, 0, 0, 1, 0, 0], b"version\r\n"])
}

/// IKEv1 Main Mode first message (RFC 2408 3.1, RFC 2409 5): initiator SPI zero until
/// patched, one ISAKMP proposal with one transform: 3DES-CBC, SHA, pre-shared key, MODP
/// group 2, lifetime 28800 s. Any IKEv1 responder answers, with its SA or a notification.
fn ike_main_mode() -> Vec<u8> {
    // SA attributes, TV form (high bit set): type, value.
    let attrs: [(u16, u16); 6] = [(1, 5), (2, 2), (3, 1), (4, 2), (11, 1), (12, 28800)];
    let mut transform = vec![0, 0, 0, 0, 1, 1, 0, 0]; // last, length, #1, KEY_IKE
    for (t, v) in attrs {
        transform.extend_from_slice(&(0x8000 | t).to_be_bytes());
        transform.extend_from_slice(&v.to_be_bytes());
    }
    let len = transform.len() as u16;
    transform[2..4].copy_from_slice(&len.to_be_bytes());
    let mut proposal = vec![0, 0, 0, 0, 1, 1, 0, 1]; // last, length, #1, ISAKMP, no SPI, 1
    proposal.extend_from_slice(&transform);
    let len = proposal.len() as u16;
    proposal[2..4].copy_from_slice(&len.to_be_bytes());
    let mut sa = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]; // DOI IPsec, identity only
    sa.extend_from_slice(&proposal);
    let len = sa.len() as u16;
    sa[2..4].copy_from_slice(&len.to_be_bytes());
    let mut msg = vec![0u8; 28];
    msg[16] = 1; // next payload: SA
    msg[17] = 0x10; // version 1.0
    msg[18] = 2; // Identity Protection (Main Mode)
    msg.extend_from_slice(&sa);
    let len = msg.len() as u32;
    msg[24..28].copy_from_slice(&len.to_be_bytes());
    msg
}

/// ONC RPC call of the portmapper's NULL procedure (RFC 5531 9, RFC 1833): xid zero until
/// patched, program 100000 version 2, no credentials.
fn rpc_portmap_null() -> Vec<u8> {
    let words: [u32; 10] = [0, 0, 2, 100_000, 2, 0, 0, 0, 0, 0];
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// SIP OPTIONS (RFC 3261 11): every SIP server answers it; the Call-ID's 16 hex digits are
/// the cookie.
fn sip_options() -> Vec<u8> {
    concat!(
        "OPTIONS sip:synscan@invalid SIP/2.0\r\n",
        "Via: SIP/2.0/UDP invalid;branch=z9hG4bKsynscan;rport\r\n",
        "Max-Forwards: 70\r\n",
        "From: <sip:synscan@invalid>;tag=synscan\r\n",
        "To: <sip:synscan@invalid>\r\n",
        "Call-ID: 0000000000000000\r\n",
        "CSeq: 1 OPTIONS\r\n",
        "Accept: application/sdp\r\n",
        "Content-Length: 0\r\n",
        "\r\n"
    )
    .as_bytes()
    .to_vec()
}

/// RADIUS Access-Request (RFC 2865 4.1) with a User-Name; identifier and request
/// authenticator come from the cookie. Servers answer clients they share a secret with.
fn radius_access_request() -> Vec<u8> {
    let user = b"synscan";
    let mut p = vec![1, 0, 0, 0];
    p.extend_from_slice(&[0; 16]);
    p.push(1); // User-Name
    p.push(2 + user.len() as u8);
    p.extend_from_slice(user);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p
}

/// STUN Binding request (RFC 8489 5): no attributes, the magic cookie, a 96-bit transaction
/// ID from the cookie.
fn stun_binding() -> Vec<u8> {
    let mut p = vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
    p.extend_from_slice(&[0; 12]);
    p
}

/// OpenVPN P_CONTROL_HARD_RESET_CLIENT_V2 (opcode 7, key 0) without tls-auth: session ID
/// from the cookie, no acks, packet ID 0. A server without tls-auth answers with its reset,
/// which names our session ID.
fn openvpn_reset() -> Vec<u8> {
    let mut p = vec![7 << 3];
    p.extend_from_slice(&[0; 8]);
    p.push(0);
    p.extend_from_slice(&[0; 4]);
    p
}

/// SSDP M-SEARCH (UPnP Device Architecture 1.1, 1.3.2); no field echoes a cookie.
fn ssdp_search() -> Vec<u8> {
    concat!(
        "M-SEARCH * HTTP/1.1\r\n",
        "HOST: 239.255.255.250:1900\r\n",
        "MAN: \"ssdp:discover\"\r\n",
        "MX: 1\r\n",
        "ST: ssdp:all\r\n",
        "\r\n"
    )
    .as_bytes()
    .to_vec()
}

/// The table, in send order per port.
fn requests() -> Vec<Request> {
    let r = |name, ports, protocol, data| Request {
        name,
        ports,
        protocol,
        data,
    };
    vec![
        // version.bind CH TXT: servers name themselves, or refuse; either is an answer.
        r(
            "dns",
            &[53],
            Some(Protocol::Dns),
            dns_query(0x0100, &dns_name("version.bind"), 16, 3),
        ),
        r("ntp", &[123], Some(Protocol::Ntp), ntp_client()),
        r(
            "snmp-v3-discovery",
            &[161],
            Some(Protocol::Snmp),
            snmp_v3_discovery(),
        ),
        r("snmp-v2c", &[161], Some(Protocol::Snmp), snmp_get(1)),
        r("snmp-v1", &[161], Some(Protocol::Snmp), snmp_get(0)),
        r("netbios-ns", &[137], Some(Protocol::Dns), netbios_status()),
        r("ssdp", &[1900], None, ssdp_search()),
        // DNS-SD service enumeration (RFC 6763 9); a unicast query from a port other than
        // 5353 gets a unicast answer that repeats the ID (RFC 6762 6.7).
        r(
            "mdns",
            &[5353],
            Some(Protocol::Dns),
            dns_query(0, &dns_name("_services._dns-sd._udp.local"), 12, 1),
        ),
        r(
            "memcached",
            &[11211],
            Some(Protocol::Memcached),
            memcached_version(),
        ),
        r("ike", &[500], Some(Protocol::Ike), ike_main_mode()),
        r(
            "rpc-portmap",
            &[111],
            Some(Protocol::Rpc),
            rpc_portmap_null(),
        ),
        r("sip", &[5060], Some(Protocol::Sip), sip_options()),
        r(
            "radius",
            &[1812, 1645],
            Some(Protocol::Radius),
            radius_access_request(),
        ),
        r("stun", &[3478, 3479], Some(Protocol::Stun), stun_binding()),
        r("openvpn", &[1194], Some(Protocol::OpenVpn), openvpn_reset()),
    ]
}

/// The table as payloads.
pub fn payloads() -> Vec<Payload> {
    requests()
        .into_iter()
        .map(|r| {
            let field = r.protocol.and_then(|p| CookieField::locate_as(p, &r.data));
            Payload {
                ports: PortSet::from_ranges(r.ports.iter().map(|&p| (p, p))),
                data: r.data.into_boxed_slice(),
                field,
                name: r.name.to_string(),
                source_port: None,
                origin: Origin::Builtin,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
