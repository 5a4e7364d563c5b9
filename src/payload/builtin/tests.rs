//! The built-in requests, byte for byte where the specification fixes every byte, and by
//! structure elsewhere (the lab's real daemons answer them: tests/suite/lab_udp.rs).

use super::*;

fn named(name: &str) -> Payload {
    payloads()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_table_covers_the_common_services() {
    let names: Vec<String> = payloads().into_iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "dns",
            "ntp",
            "snmp-v3-discovery",
            "snmp-v2c",
            "snmp-v1",
            "netbios-ns",
            "ssdp",
            "mdns",
            "memcached",
            "ike",
            "rpc-portmap",
            "sip",
            "radius",
            "stun",
            "openvpn"
        ]
    );
    for p in payloads() {
        assert_eq!(p.origin, Origin::Builtin);
        assert_eq!(p.field.is_some(), p.name != "ssdp", "{}", p.name);
        assert!(p.data.len() <= 512, "{}", p.name);
    }
    let ports: Vec<String> = payloads().iter().map(|p| p.ports.to_spec()).collect();
    assert_eq!(
        ports,
        [
            "53",
            "123",
            "161",
            "161",
            "161",
            "137",
            "1900",
            "5353",
            "11211",
            "500",
            "111",
            "5060",
            "1645,1812",
            "3478-3479",
            "1194"
        ]
    );
}

#[test]
fn dns_and_netbios_bytes() {
    assert_eq!(
        &*named("dns").data,
        &hex("0000 0100 0001 0000 0000 0000 07 76657273696f6e 04 62696e64 00 0010 0003")[..]
    );
    let mut nb = hex("0000 0000 0001 0000 0000 0000 20 434b");
    nb.extend_from_slice(&[b'A'; 30]);
    nb.extend_from_slice(&hex("00 0021 0001"));
    assert_eq!(&*named("netbios-ns").data, &nb[..]);
    let mdns = named("mdns").data;
    assert_eq!(&mdns[..12], &hex("0000 0000 0001 0000 0000 0000")[..]);
    assert_eq!(&mdns[mdns.len() - 4..], &hex("000c 0001")[..]);
}

#[test]
fn snmp_bytes() {
    assert_eq!(
        &*named("snmp-v2c").data,
        &hex("3029 020101 0406 7075626c6963 a01c 020400000000 020100 020100 300e 300c 0608 2b06010201010100 0500")[..]
    );
    let v1 = named("snmp-v1").data;
    assert_eq!(v1[4], 0, "version 0 is SNMPv1");
    let v3 = named("snmp-v3-discovery").data;
    assert_eq!(
        &*v3,
        &hex("303b 020103 3011 020400000000 020300ffe3 040104 020103 0410 300e 0400 020100 020100 0400 0400 0400 3011 0400 0400 a00b 020100 020100 020100 3000")[..]
    );
}

#[test]
fn fixed_layout_requests() {
    let ntp = named("ntp").data;
    assert_eq!(ntp.len(), 48);
    assert_eq!(&ntp[..4], &[0xe3, 0, 6, 0xec]);
    assert!(ntp[4..].iter().all(|&b| b == 0));
    assert_eq!(
        &*named("memcached").data,
        &hex("0000 0000 0001 0000 76657273696f6e 0d0a")[..]
    );
    assert_eq!(
        &*named("rpc-portmap").data,
        &hex("00000000 00000000 00000002 000186a0 00000002 00000000 00000000 00000000 00000000 00000000")[..]
    );
    assert_eq!(
        &*named("stun").data,
        &hex("0001 0000 2112a442 000000000000000000000000")[..]
    );
    assert_eq!(
        &*named("openvpn").data,
        &hex("38 0000000000000000 00 00000000")[..]
    );
    assert_eq!(
        &*named("radius").data,
        &hex("01 00 001d 00000000000000000000000000000000 01 09 73796e7363616e")[..]
    );
}

#[test]
fn ike_main_mode_structure() {
    let ike = named("ike").data;
    assert_eq!(ike.len(), 80);
    assert_eq!(&ike[16..28], &hex("01 10 02 00 00000000 00000050")[..]);
    // SA: no next payload, length 52, DOI 1, situation 1.
    assert_eq!(&ike[28..40], &hex("00 00 0034 00000001 00000001")[..]);
    // Proposal 1, ISAKMP, no SPI, one transform of 32 bytes: KEY_IKE and six attributes.
    assert_eq!(&ike[40..48], &hex("00 00 0028 01 01 00 01")[..]);
    assert_eq!(
        &ike[48..],
        &hex("00 00 0020 01 01 0000 80010005 80020002 80030001 80040002 800b0001 800c7080")[..]
    );
}

#[test]
fn text_requests() {
    let sip = String::from_utf8(named("sip").data.to_vec()).unwrap();
    assert!(sip.starts_with("OPTIONS sip:synscan@invalid SIP/2.0\r\n"));
    assert!(sip.contains("\r\nCall-ID: 0000000000000000\r\n"));
    assert!(sip.ends_with("Content-Length: 0\r\n\r\n"));
    let ssdp = String::from_utf8(named("ssdp").data.to_vec()).unwrap();
    assert!(ssdp.starts_with("M-SEARCH * HTTP/1.1\r\n"));
    assert!(ssdp.ends_with("ST: ssdp:all\r\n\r\n"));
}
