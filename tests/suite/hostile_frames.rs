//! Property tests of the receive path (parse + cookie validation + classification) over
//! random frames and random mutations of genuine replies, TCP and UDP: nothing panics, and a
//! frame is accepted only when it truly answers a probe (checked against an independent parse with
//! pnet and the cookie recomputed from the crafter). Frames are built and mutated through the
//! wire views' field tables; the oracle reads them with pnet (and its own offsets for the
//! 8 quoted TCP bytes pnet has no view of), so it stays independent of them.

use pnet::packet::ethernet::{EtherTypes, EthernetPacket};
use pnet::packet::icmp::{IcmpPacket, IcmpTypes};
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::tcp::TcpPacket;
use pnet::packet::vlan::VlanPacket;
use pnet::packet::Packet;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;
use synscan::model::Reason;
use synscan::probe::{ProbeCrafter, ProbeParams, SourcePorts};
use synscan::recv::{classify, Rejected};
use synscan::state::ReplyEvent;
use synscan::wire::build::{icmp_unreachable_frame, tcp_frame_with_options};
use synscan::wire::ethernet::{self, ethertype};
use synscan::wire::tcp_flags::{ACK, RST, SYN};
use synscan::wire::{icmp, ipv4, tcp, Field, LinkLayer, TcpSegment};

const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn crafter(link: LinkLayer, key: [u64; 2]) -> ProbeCrafter {
    ProbeCrafter::new(ProbeParams {
        link,
        src_mac: OUR_MAC,
        dst_mac: GW_MAC,
        src_ip: US,
        source_ports: SourcePorts::DEFAULT,
        key,
    })
}

fn link_of(raw: bool) -> LinkLayer {
    if raw {
        LinkLayer::RawIp
    } else {
        LinkLayer::Ethernet
    }
}

/// The IPv4 packet of a frame per pnet, skipping up to two VLAN tags (as the parser does).
fn oracle_ip(frame: &[u8], link: LinkLayer) -> Option<Vec<u8>> {
    match link {
        LinkLayer::RawIp => Some(frame.to_vec()),
        LinkLayer::Ethernet => {
            let eth = EthernetPacket::new(frame)?;
            let mut ty = eth.get_ethertype();
            let mut payload = eth.payload().to_vec();
            for _ in 0..2 {
                if ty != EtherTypes::Vlan && ty != EtherTypes::PBridge {
                    break;
                }
                let v = VlanPacket::new(&payload)?;
                ty = v.get_ethertype();
                payload = v.payload().to_vec();
            }
            (ty == EtherTypes::Ipv4).then_some(payload)
        }
    }
}

/// What an accepted frame must be, derived independently: the reply pnet sees in it has to
/// carry the cookie of the probe to (ip, port) that the event names.
fn check_accepted(frame: &[u8], link: LinkLayer, c: &ProbeCrafter, ev: &ReplyEvent) {
    let IpAddr::V4(ev_ip) = ev.ip else {
        panic!("an IPv4-only crafter accepted an IPv6 reply: {ev:?}");
    };
    let ip_bytes = oracle_ip(frame, link).expect("accepted frame is IPv4 per pnet");
    let ip = Ipv4Packet::new(&ip_bytes).expect("IPv4 header");
    assert_eq!(ip.get_version(), 4);
    assert!(ip.get_header_length() >= 5);
    let ihl = usize::from(ip.get_header_length()) * 4;
    let total = usize::from(ip.get_total_length());
    assert!(total >= ihl && total <= ip_bytes.len(), "lengths");
    assert_eq!(ip.get_fragment_offset(), 0, "fragment accepted");
    assert_eq!(ip.get_flags() & 1, 0, "MF fragment accepted");
    let payload = &ip_bytes[ihl..total];
    if ip.get_next_level_protocol() == IpNextHeaderProtocols::Tcp {
        let t = TcpPacket::new(payload).expect("TCP header");
        let doff = usize::from(t.get_data_offset()) * 4;
        assert!(doff >= 20 && doff <= payload.len(), "data offset");
        assert_eq!(ip.get_destination(), US);
        assert_eq!((ip.get_source(), t.get_source()), (ev_ip, ev.service.port));
        assert_eq!(t.get_destination(), c.source_port(ev_ip, ev.service.port));
        assert_eq!(
            t.get_acknowledgement(),
            c.sequence(ev_ip, ev.service.port).wrapping_add(1)
        );
        let kind = t.get_flags() & (SYN | RST | ACK);
        let want = match kind {
            k if k == SYN | ACK => Reason::SynAck,
            k if k == RST | ACK => Reason::Reset,
            other => panic!("accepted flags {other:#x}"),
        };
        assert_eq!(ev.reason, want);
        assert_eq!(ev.ttl, ip.get_ttl());
    } else {
        assert_eq!(ip.get_next_level_protocol(), IpNextHeaderProtocols::Icmp);
        let i = IcmpPacket::new(payload).expect("ICMP header");
        assert_eq!(i.get_icmp_type(), IcmpTypes::DestinationUnreachable);
        assert_eq!(
            Reason::from_icmp_unreachable(i.get_icmp_code().0),
            Some(ev.reason)
        );
        let quote = &payload[8..];
        let q = Ipv4Packet::new(quote).expect("quoted IPv4 header");
        assert_eq!(q.get_version(), 4);
        assert_eq!(q.get_next_level_protocol(), IpNextHeaderProtocols::Tcp);
        assert_eq!(q.get_fragment_offset(), 0);
        let qihl = usize::from(q.get_header_length()) * 4;
        assert!(qihl >= 20 && quote.len() >= qihl + 8);
        let th = &quote[qihl..qihl + 8];
        let sport = u16::from_be_bytes([th[0], th[1]]);
        let dport = u16::from_be_bytes([th[2], th[3]]);
        let seq = u32::from_be_bytes([th[4], th[5], th[6], th[7]]);
        assert_eq!(q.get_source(), US);
        assert_eq!((q.get_destination(), dport), (ev_ip, ev.service.port));
        assert_eq!(sport, c.source_port(ev_ip, ev.service.port));
        assert_eq!(seq, c.sequence(ev_ip, ev.service.port));
        assert_eq!(ev.ttl, ip.get_ttl());
    }
}

/// Classifies and, when accepted, checks the acceptance against the oracle.
fn classify_checked(
    frame: &[u8],
    link: LinkLayer,
    c: &ProbeCrafter,
) -> Result<ReplyEvent, Rejected> {
    let r = classify(frame, link, c, Instant::now());
    if let Ok(ev) = &r {
        check_accepted(frame, link, c, ev);
    }
    r
}

/// A genuine reply's shape.
#[derive(Clone, Debug)]
struct Shape {
    raw: bool,
    target: Ipv4Addr,
    port: u16,
    rst: bool,
    tcp_options: Vec<u8>,
    ip_option_words: usize,
    vlan_tags: usize,
    padding: usize,
    ttl: u8,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<bool>(),
        any::<u16>(),
        1u16..,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
        0usize..=10,
        0usize..=2,
        0usize..=20,
        any::<u8>(),
    )
        .prop_map(
            |(raw, host, port, rst, tcp_options, ip_option_words, vlan_tags, padding, ttl)| Shape {
                raw,
                target: Ipv4Addr::from(0xc613_0000 | u32::from(host)),
                port,
                rst,
                tcp_options,
                ip_option_words,
                vlan_tags: if raw { 0 } else { vlan_tags },
                padding,
                ttl,
            },
        )
}

/// Where the fields sit in a built frame.
struct Layout {
    ip: usize,
    l4: usize,
}

/// Builds the genuine reply to our probe of (target, port).
fn genuine(c: &ProbeCrafter, s: &Shape) -> (Vec<u8>, Layout) {
    let link = link_of(s.raw);
    let spec = TcpSegment {
        src: s.target,
        dst: US,
        sport: s.port,
        dport: c.source_port(s.target, s.port),
        seq: 0x1357_9bdf,
        ack: c.sequence(s.target, s.port).wrapping_add(1),
        flags: if s.rst { RST | ACK } else { SYN | ACK },
        ttl: s.ttl,
        window: 29200,
    };
    let f = tcp_frame_with_options(link, GW_MAC, OUR_MAC, &spec, &s.tcp_options);
    let (f, ip) = decorate(f, link, s.ip_option_words, s.vlan_tags, s.padding);
    let ihl = ipv4::Packet::new_unchecked(&f[ip..]).header_len();
    (f, Layout { ip, l4: ip + ihl })
}

/// Adds IP options (NOPs), VLAN tags and Ethernet padding to a built frame; returns it and
/// the IPv4 header's offset.
fn decorate(
    f: Vec<u8>,
    link: LinkLayer,
    ip_option_words: usize,
    vlan_tags: usize,
    padding: usize,
) -> (Vec<u8>, usize) {
    let ip = link.header_len();
    let fixed = ip + ipv4::HEADER_LEN;
    let mut g = f[..fixed].to_vec();
    {
        let mut h = ipv4::Packet::new_unchecked(&mut g[ip..]);
        let total = h.total_len() + 4 * ip_option_words;
        h.set_version_and_header_len(ipv4::HEADER_LEN + 4 * ip_option_words);
        h.set_total_len(total as u16);
    }
    g.extend(std::iter::repeat_n(1u8, 4 * ip_option_words));
    g.extend_from_slice(&f[fixed..]);
    let mut ip = ip;
    if link == LinkLayer::Ethernet {
        for i in 0..vlan_tags {
            let tpid = if i == 0 && vlan_tags == 2 {
                ethertype::QINQ
            } else {
                ethertype::VLAN
            };
            // Each tag goes in where the EtherType was: TPID, then the TCI.
            let at = ethernet::field::ETHERTYPE.start + ethernet::tag_field::PAYLOAD * i;
            let [t0, t1] = tpid.to_be_bytes();
            g.splice(at..at, [t0, t1, 0x00, 0x64 + i as u8]);
        }
        ip += ethernet::tag_field::PAYLOAD * vlan_tags;
        g.extend(std::iter::repeat_n(0u8, padding));
    }
    (g, ip)
}

/// The ICMP unreachable quoting our probe of (target, port), and where the quote starts.
fn genuine_icmp(c: &ProbeCrafter, s: &Shape, code: u8, quote_len: usize) -> (Vec<u8>, usize) {
    let link = link_of(s.raw);
    let mut probe = vec![0u8; c.frame_len()];
    c.craft(&mut probe, s.target, s.port, 0);
    let probe = &probe[link.header_len()..];
    let quote = &probe[..quote_len.clamp(28, probe.len())];
    let f = icmp_unreachable_frame(
        link,
        GW_MAC,
        OUR_MAC,
        Ipv4Addr::new(198, 18, 0, 2),
        US,
        code,
        s.ttl,
        quote,
    );
    let (f, ip) = decorate(f, link, s.ip_option_words, s.vlan_tags, s.padding);
    let ihl = ipv4::Packet::new_unchecked(&f[ip..]).header_len();
    (f, ip + ihl + icmp::HEADER_LEN)
}

const FILTERED_CODES: [u8; 7] = [0, 1, 2, 3, 9, 10, 13];

/// Where field `f` of a header starting at `start` lies: (offset, length).
fn span(start: usize, f: Field) -> (usize, usize) {
    (start + f.start, f.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic_nor_pass(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        k0: u64,
        k1: u64,
    ) {
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let c = crafter(link, [k0, k1]);
            let r = classify_checked(&bytes, link, &c);
            prop_assert!(r.is_err(), "random bytes accepted: {r:?}");
        }
    }

    /// Random bytes behind a plausible Ethernet + IPv4 start (so the fuzzing gets past the
    /// first checks).
    #[test]
    fn random_ipv4_packets_never_panic_nor_pass(
        ihl in 0u8..16,
        proto in prop::sample::select(vec![1u8, 6, 17]),
        flags_frag in any::<u16>(),
        total in any::<u16>(),
        body in proptest::collection::vec(any::<u8>(), 0..120),
        raw: bool,
    ) {
        let link = link_of(raw);
        let c = crafter(link, [1, 2]);
        let mut f = if raw { Vec::new() } else { [GW_MAC, OUR_MAC].concat() };
        if !raw {
            f.extend_from_slice(&ethertype::IPV4.to_be_bytes());
        }
        let mut h = [0u8; ipv4::HEADER_LEN];
        h[ipv4::field::VER_IHL] = 0x40 | ihl; // any IHL, valid or not
        let mut p = ipv4::Packet::new_unchecked(&mut h[..]);
        p.set_total_len(total);
        p.set_flags_and_offset(flags_frag);
        p.set_ttl(64);
        p.set_protocol(proto);
        p.set_src_addr(Ipv4Addr::new(198, 19, 0, 1));
        p.set_dst_addr(US);
        f.extend_from_slice(&h);
        f.extend_from_slice(&body);
        let r = classify_checked(&f, link, &c);
        prop_assert!(r.is_err(), "accepted: {r:?}");
    }

    /// Every genuine reply, whatever its options, tags and padding, is accepted exactly.
    #[test]
    fn genuine_replies_are_accepted(s in shape(), k0: u64, k1: u64) {
        let link = link_of(s.raw);
        let c = crafter(link, [k0, k1]);
        let (f, _) = genuine(&c, &s);
        let ev = classify_checked(&f, link, &c).expect("genuine reply rejected");
        let reason = if s.rst { Reason::Reset } else { Reason::SynAck };
        prop_assert_eq!((ev.ip, ev.service.port, ev.reason, ev.ttl), (IpAddr::V4(s.target), s.port, reason, s.ttl));
    }

    /// Any change of the acknowledgement number makes the reply not ours.
    #[test]
    fn mutated_ack_is_rejected(s in shape(), delta in 1u32.., k0: u64) {
        let link = link_of(s.raw);
        let c = crafter(link, [k0, 99]);
        let (mut f, at) = genuine(&c, &s);
        let mut t = tcp::Packet::new_unchecked(&mut f[at.l4..]);
        t.set_ack_number(t.ack_number().wrapping_add(delta));
        prop_assert_eq!(classify_checked(&f, link, &c), Err(Rejected::NotOurs));
    }

    /// Changing who the reply is from or to (addresses or ports) makes it not ours.
    #[test]
    fn mutated_flow_is_rejected(
        s in shape(),
        field in 0usize..4,
        xor in 1u32..,
        k0: u64,
    ) {
        let link = link_of(s.raw);
        let c = crafter(link, [k0, 7]);
        let (mut f, at) = genuine(&c, &s);
        let (pos, len) = match field {
            0 => span(at.ip, ipv4::field::SRC_ADDR), // source address
            1 => span(at.ip, ipv4::field::DST_ADDR), // destination address
            2 => span(at.l4, tcp::field::SRC_PORT),  // the target's port
            _ => span(at.l4, tcp::field::DST_PORT),  // our port
        };
        let bytes = xor.to_be_bytes();
        for i in 0..len {
            f[pos + i] ^= bytes[4 - len + i];
        }
        if len == 2 && xor & 0xffff == 0 {
            // The xor left the field unchanged: nothing to check.
            return Ok(());
        }
        prop_assert_eq!(classify_checked(&f, link, &c), Err(Rejected::NotOurs));
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20000))]

    /// Random byte edits and truncations of genuine replies never panic, and whatever is
    /// still accepted passes the independent check.
    #[test]
    fn mutated_replies_never_panic_nor_lie(
        s in shape(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..10),
        cut in any::<prop::sample::Index>(),
        icmp: bool,
        code in prop::sample::select(FILTERED_CODES.to_vec()),
        quote_len in 28usize..60,
    ) {
        let link = link_of(s.raw);
        let c = crafter(link, [5, 5]);
        let mut f = if icmp {
            genuine_icmp(&c, &s, code, quote_len).0
        } else {
            genuine(&c, &s).0
        };
        for (at, v) in edits {
            let i = at.index(f.len());
            f[i] = v;
        }
        let _ = classify_checked(&f, link, &c);
        let len = cut.index(f.len() + 1);
        let _ = classify_checked(&f[..len], link, &c);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// ICMP errors quoting our probe are accepted with the code's reason; any change of the
    /// quoted sequence number, ports or addresses makes them not ours.
    #[test]
    fn icmp_quotes(
        s in shape(),
        code in prop::sample::select(FILTERED_CODES.to_vec()),
        quote_len in 28usize..60,
        field in 0usize..5,
        xor in 1u32..,
    ) {
        let link = link_of(s.raw);
        let c = crafter(link, [3, 4]);
        let (mut f, q) = genuine_icmp(&c, &s, code, quote_len);
        let ev = classify_checked(&f, link, &c).expect("genuine ICMP rejected");
        prop_assert_eq!(
            (ev.ip, ev.service.port, Some(ev.reason)),
            (IpAddr::V4(s.target), s.port, Reason::from_icmp_unreachable(code))
        );
        // Our probe is quoted with a 20-byte IPv4 header: its TCP header follows it.
        let qt = q + ipv4::HEADER_LEN;
        let (pos, len) = match field {
            0 => span(q, ipv4::field::SRC_ADDR), // quoted source (us)
            1 => span(q, ipv4::field::DST_ADDR), // quoted target
            2 => span(qt, tcp::field::SRC_PORT), // quoted source port
            3 => span(qt, tcp::field::DST_PORT), // quoted target port
            _ => span(qt, tcp::field::SEQ_NUM),  // quoted sequence number
        };
        let bytes = xor.to_be_bytes();
        if len == 2 && xor & 0xffff == 0 {
            return Ok(());
        }
        for i in 0..len {
            f[pos + i] ^= bytes[4 - len + i];
        }
        prop_assert_eq!(classify_checked(&f, link, &c), Err(Rejected::NotOurs));
    }
}

/// UDP replies: datagrams and ICMP errors quoting a UDP probe, read by `parse_udp_reply`
/// and checked against pnet's independent reading; the DNS ID field accepts only its cookie.
mod udp {
    use super::*;
    use pnet::packet::udp::UdpPacket;
    use synscan::payload::builtin;
    use synscan::payload::field::CookieField;
    use synscan::probe::udp_template::UdpTemplate;
    use synscan::wire::build::udp_frame;
    use synscan::wire::{parse_udp_reply, IpUdpReply, UdpDatagram, UdpReply};

    /// The built-in DNS request: its bytes and field.
    fn dns() -> (Vec<u8>, CookieField) {
        let p = builtin::payloads().into_iter().next().expect("dns");
        (p.data.to_vec(), p.field.expect("dns field"))
    }

    /// The DNS answer to our probe of `target` carrying `cookie`: the query with QR set.
    fn answer(s: &Shape, sport: u16, cookie: u64) -> (Vec<u8>, usize) {
        let (mut q, f) = dns();
        f.patch(&mut q, cookie);
        q[2] |= 0x80;
        let d = UdpDatagram {
            src: s.target,
            dst: US,
            sport: 53,
            dport: sport,
            ttl: s.ttl,
            payload: &q,
        };
        let link = link_of(s.raw);
        let f = udp_frame(link, GW_MAC, OUR_MAC, &d);
        let (f, ip) = decorate(f, link, s.ip_option_words, s.vlan_tags, s.padding);
        (f, ip)
    }

    /// The ICMP port unreachable quoting our templated DNS probe, and the template.
    fn unreachable(s: &Shape, sport: u16, cookie: u64, code: u8) -> (Vec<u8>, UdpTemplate) {
        let link = link_of(s.raw);
        let (q, f) = dns();
        let t = UdpTemplate::new(LinkLayer::RawIp, OUR_MAC, GW_MAC, US, &q, Some(f)).unwrap();
        let mut probe = vec![0u8; t.len()];
        t.write(&mut probe, s.target, 1, sport, 53, cookie);
        let frame =
            icmp_unreachable_frame(link, GW_MAC, OUR_MAC, s.target, US, code, s.ttl, &probe);
        (
            decorate(frame, link, s.ip_option_words, s.vlan_tags, s.padding).0,
            t,
        )
    }

    /// What pnet reads where `parse_udp_reply` accepted a frame: the same datagram or quote.
    fn check_parsed(frame: &[u8], link: LinkLayer, r: &UdpReply<'_>) {
        let ip_bytes = oracle_ip(frame, link).expect("accepted frame is IPv4 per pnet");
        let ip = Ipv4Packet::new(&ip_bytes).expect("IPv4 header");
        let ihl = usize::from(ip.get_header_length()) * 4;
        let total = usize::from(ip.get_total_length());
        assert!(ihl >= 20 && total >= ihl && total <= ip_bytes.len());
        assert_eq!(ip.get_fragment_offset(), 0);
        assert_eq!(ip.get_flags() & 1, 0);
        let payload = &ip_bytes[ihl..total];
        match r {
            UdpReply::Datagram(d) => {
                assert_eq!(ip.get_next_level_protocol(), IpNextHeaderProtocols::Udp);
                let u = UdpPacket::new(payload).expect("UDP header");
                let len = usize::from(u.get_length());
                assert!(len >= 8 && len <= payload.len());
                assert_eq!(
                    (d.src, d.dst, d.ttl),
                    (ip.get_source(), ip.get_destination(), ip.get_ttl())
                );
                assert_eq!((d.sport, d.dport), (u.get_source(), u.get_destination()));
                assert_eq!(d.payload, &payload[8..len]);
            }
            UdpReply::Unreachable(un) => {
                assert_eq!(ip.get_next_level_protocol(), IpNextHeaderProtocols::Icmp);
                let i = IcmpPacket::new(payload).expect("ICMP header");
                assert_eq!(i.get_icmp_type(), IcmpTypes::DestinationUnreachable);
                assert_eq!(un.code, i.get_icmp_code().0);
                let quote = &payload[8..];
                let q = Ipv4Packet::new(quote).expect("quoted IPv4 header");
                assert_eq!(q.get_next_level_protocol(), IpNextHeaderProtocols::Udp);
                assert_eq!(q.get_fragment_offset(), 0);
                let qihl = usize::from(q.get_header_length()) * 4;
                let u = UdpPacket::new(&quote[qihl..]).expect("quoted UDP header");
                assert_eq!(
                    (un.quoted.src, un.quoted.dst),
                    (q.get_source(), q.get_destination())
                );
                assert_eq!(
                    (
                        un.quoted.sport,
                        un.quoted.dport,
                        un.quoted.len,
                        un.quoted.checksum
                    ),
                    (
                        u.get_source(),
                        u.get_destination(),
                        u.get_length(),
                        u.get_checksum()
                    )
                );
            }
        }
    }

    fn parse_checked(frame: &[u8], link: LinkLayer) -> Option<UdpReply<'_>> {
        match parse_udp_reply(frame, link) {
            Ok(IpUdpReply::V4(r)) => {
                check_parsed(frame, link, &r);
                Some(r)
            }
            Ok(IpUdpReply::V6(r)) => panic!("IPv6 read from an IPv4 frame: {r:?}"),
            Err(_) => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
                let _ = parse_checked(&bytes, link);
            }
        }

        /// A genuine answer, whatever its options, tags and padding, parses exactly and its
        /// DNS ID holds the cookie; any other cookie is refused.
        #[test]
        fn genuine_answers(s in shape(), sport in 1u16.., cookie: u64, other: u64) {
            let link = link_of(s.raw);
            let (f, _) = answer(&s, sport, cookie);
            let Some(UdpReply::Datagram(d)) = parse_checked(&f, link) else {
                panic!("genuine answer not read");
            };
            prop_assert_eq!((d.src, d.sport, d.dport, d.ttl), (s.target, 53, sport, s.ttl));
            let (_, field) = dns();
            prop_assert!(field.check(d.payload, cookie));
            let same_id = other.to_be_bytes()[..2] == cookie.to_be_bytes()[..2];
            prop_assert_eq!(field.check(d.payload, other), same_id);
        }

        /// An ICMP error quoting our probe gives back its ports, length and checksum; the
        /// checksum is that of our probe with our cookie in its DNS ID.
        #[test]
        fn genuine_quotes(s in shape(), sport in 1u16.., cookie: u64, other: u64,
                          code in prop::sample::select(vec![0u8, 1, 2, 3, 9, 10, 13])) {
            let link = link_of(s.raw);
            let (f, t) = unreachable(&s, sport, cookie, code);
            let Some(UdpReply::Unreachable(u)) = parse_checked(&f, link) else {
                panic!("genuine quote not read");
            };
            prop_assert_eq!((u.quoted.src, u.quoted.dst, u.code), (US, s.target, code));
            prop_assert_eq!((u.quoted.sport, u.quoted.dport), (sport, 53));
            prop_assert_eq!(u.quoted.len, t.udp_len());
            prop_assert_eq!(u.quoted.checksum, t.quoted_checksum(s.target, sport, 53, cookie));
            // Another DNS ID gives another checksum (but for the ones'-complement twins
            // 0x0000 and 0xffff, one value to a checksum).
            let id = |c: u64| u16::from_be_bytes([c.to_be_bytes()[0], c.to_be_bytes()[1]]);
            let twins = |a: u16, b: u16| a == b || (a | b == 0xffff && a & b == 0);
            prop_assert_eq!(
                u.quoted.checksum == t.quoted_checksum(s.target, sport, 53, other),
                twins(id(cookie), id(other))
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        /// Random edits and cuts of genuine answers and quotes never panic, and whatever
        /// still parses is what pnet reads; a DNS ID check passes only on the cookie's bytes
        /// in a response.
        #[test]
        fn mutated_replies_never_lie(
            s in shape(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..10),
            cut in any::<prop::sample::Index>(),
            icmp: bool,
            cookie: u64,
        ) {
            let link = link_of(s.raw);
            let mut f = if icmp {
                unreachable(&s, 61001, cookie, 3).0
            } else {
                answer(&s, 61001, cookie).0
            };
            for (at, v) in edits {
                let i = at.index(f.len());
                f[i] = v;
            }
            let len = cut.index(f.len() + 1);
            for frame in [&f[..], &f[..len]] {
                if let Some(UdpReply::Datagram(d)) = parse_checked(frame, link) {
                    let (_, field) = dns();
                    if field.check(d.payload, cookie) {
                        prop_assert!(d.payload.len() >= 12);
                        prop_assert_eq!(&d.payload[..2], &cookie.to_be_bytes()[..2]);
                        prop_assert!(d.payload[2] & 0x80 != 0);
                    }
                }
            }
        }
    }
}
