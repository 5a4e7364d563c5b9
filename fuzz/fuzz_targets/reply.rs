//! Fuzzes the receive path: arbitrary bytes through `parse_reply` and `classify`, checked
//! against an oracle that recomputes the cookie from the parsed fields.
//!
//! Input: one mode byte, then the frame. Mode bit 0 picks the link layer (Ethernet / raw
//! IPv4); with bit 1 set the frame is also checked after a fix-up that gives it the right
//! cookie (destination, our port, ack or quoted seq), so the accepting paths are explored
//! too — a fuzzer cannot guess a SipHash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::Instant;
use synscan::model::Reason;
use synscan::probe::{ProbeCrafter, ProbeParams, SourcePorts};
use synscan::recv::{classify, Rejected};
use synscan::wire::ethernet::{self, ethertype};
use synscan::wire::tcp_flags::{ACK, RST, SYN};
use synscan::wire::{
    icmp, ipv4, parse_ip_reply, parse_reply, tcp, IpReply, LinkLayer, ParseError, Reply,
};

const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

fn crafters() -> &'static [ProbeCrafter; 2] {
    static C: OnceLock<[ProbeCrafter; 2]> = OnceLock::new();
    C.get_or_init(|| {
        [LinkLayer::Ethernet, LinkLayer::RawIp].map(|link| {
            ProbeCrafter::new(ProbeParams {
                link,
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                src_ip: US,
                source_ports: SourcePorts::DEFAULT,
                key: [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210],
            })
        })
    })
}

/// What `classify` must answer, derived from the parse and the cookie recomputed here.
fn expected(
    parsed: &Result<Reply, ParseError>,
    c: &ProbeCrafter,
) -> Result<(Ipv4Addr, u16, Reason, u8), Rejected> {
    match parsed {
        Err(ParseError::Uninteresting) => Err(Rejected::Uninteresting),
        Err(_) => Err(Rejected::Malformed),
        Ok(Reply::Tcp(t)) => {
            let kind = t.flags & (SYN | RST | ACK);
            let reason = if t.flags & RST != 0 {
                Reason::Reset
            } else if t.flags & (SYN | ACK) == SYN | ACK {
                Reason::SynAck
            } else {
                return Err(Rejected::Uninteresting);
            };
            let ours = (kind == SYN | ACK || kind == RST | ACK)
                && t.dst == US
                && t.dport == c.source_port(t.src, t.sport)
                && t.ack == c.sequence(t.src, t.sport).wrapping_add(1);
            if ours {
                Ok((t.src, t.sport, reason, t.ttl))
            } else {
                Err(Rejected::NotOurs)
            }
        }
        Ok(Reply::Unreachable(u)) => {
            let reason = Reason::from_icmp_unreachable(u.code).ok_or(Rejected::Uninteresting)?;
            let q = &u.quoted;
            let ours = q.src == US
                && q.sport == c.source_port(q.dst, q.dport)
                && q.seq == c.sequence(q.dst, q.dport);
            if ours {
                Ok((q.dst, q.dport, reason, u.ttl))
            } else {
                Err(Rejected::NotOurs)
            }
        }
    }
}

fn check(frame: &[u8], link: LinkLayer, c: &ProbeCrafter) {
    let parsed = parse_reply(frame, link);
    let got = classify(frame, link, c, Instant::now()).map(|e| (e.ip, e.port, e.reason, e.ttl));
    assert_eq!(got, expected(&parsed, c), "{parsed:?}");
    // The two-family parser reads IPv4 exactly as the IPv4 one does, and IPv6 without panics.
    let both = parse_ip_reply(frame, link);
    match (&both, &parsed) {
        (Ok(IpReply::V4(r)), Ok(p)) => assert_eq!(r, p),
        (Ok(IpReply::V4(_)), Err(_)) | (Ok(IpReply::V6(_)), Ok(_)) | (Err(_), Ok(_)) => {
            panic!("{both:?} vs {parsed:?}")
        }
        _ => {}
    }
    if parsed.is_ok() || both.is_ok() {
        // Bytes past the IP total (payload) length (Ethernet padding) never change a parse.
        let mut padded = frame.to_vec();
        padded.extend_from_slice(&[0xa5; 7]);
        assert_eq!(parse_reply(&padded, link), parsed);
        assert_eq!(parse_ip_reply(&padded, link), both);
    }
}

/// Offset of the IPv4 header, skipping tags like the parser (None when it would not parse).
fn ip_offset(f: &[u8], link: LinkLayer) -> Option<usize> {
    match link {
        LinkLayer::RawIp => Some(0),
        LinkLayer::Ethernet => match ethernet::untag(f).ok()? {
            (ethertype::IPV4, ip) => Some(f.len() - ip.len()),
            _ => None,
        },
    }
}

/// Rewrites the frame's flow fields so that it carries the right cookie. Only called on
/// frames that parsed, so every header the views touch is present.
fn fix_up(f: &mut [u8], link: LinkLayer, c: &ProbeCrafter) -> Option<()> {
    let reply = parse_reply(f, link).ok()?;
    let at = ip_offset(f, link)?;
    let mut ip = ipv4::Packet::new_unchecked(&mut f[at..]);
    match reply {
        Reply::Tcp(t) => {
            ip.set_dst_addr(US);
            let mut tcp = tcp::Packet::new_unchecked(ip.payload_mut());
            tcp.set_dst_port(c.source_port(t.src, t.sport));
            tcp.set_ack_number(c.sequence(t.src, t.sport).wrapping_add(1));
        }
        Reply::Unreachable(u) => {
            let (dst, dport) = (u.quoted.dst, u.quoted.dport);
            let quote = &mut ip.payload_mut()[icmp::HEADER_LEN..];
            let mut q = ipv4::Packet::new_unchecked(quote);
            q.set_src_addr(US);
            // Only the quoted ports and sequence number are present: set just those.
            let mut tcp = tcp::Packet::new_unchecked(q.payload_mut());
            tcp.set_src_port(c.source_port(dst, dport));
            tcp.set_seq_number(c.sequence(dst, dport));
        }
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, frame)) = data.split_first() else {
        return;
    };
    let which = usize::from(mode & 1);
    let c = &crafters()[which];
    let link = c.params().link;
    check(frame, link, c);
    if mode & 2 != 0 {
        let mut f = frame.to_vec();
        if fix_up(&mut f, link, c).is_some() {
            check(&f, link, c);
        }
    }
});
