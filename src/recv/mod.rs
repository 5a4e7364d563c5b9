//! The receiver: classifies captured frames into verified replies and hands them to the
//! probe table in batches. Frames that fail parsing or the cookie are counted, never reported.

use crate::model::{Reason, ScanStats, Service};
use crate::net::Capture;
use crate::probe::{ProbeCrafter, PILOT_GENERATIONS};
use crate::state::ReplyEvent;
use crate::wire::{self, IpReply, LinkLayer, Reply};
use crossbeam_channel::Sender;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why a captured frame was not taken as a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The frame did not parse.
    Malformed,
    /// TCP that is neither SYN/ACK nor RST, or ICMP of a code that does not mean filtered.
    Uninteresting,
    /// Failed the cookie: not an answer to our probes.
    NotOurs,
    /// A SYN/ACK or RST answering a pilot probe of this generation: counted for the
    /// rate, never a result.
    Pilot(u8),
}

/// A verified reply, and whether an ICMP error in it came from a hop on the path (a
/// router) rather than the target it quotes: only the target's own unreachables answer for
/// it, a router's may say the path is overrun.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The reply as the table takes it.
    pub event: ReplyEvent,
    /// An ICMP error sent by another address than the probed one.
    pub from_hop: bool,
}

/// Turns one captured frame of either IP family into a verified reply.
pub fn classify(
    frame: &[u8],
    link: LinkLayer,
    crafter: &ProbeCrafter,
    at: Instant,
) -> Result<ReplyEvent, Rejected> {
    verify(frame, link, crafter, at).map(|v| v.event)
}

/// Parses one captured frame once, checks it against the cookie and lets the crafter's
/// probe kind say what it means.
pub fn verify(
    frame: &[u8],
    link: LinkLayer,
    crafter: &ProbeCrafter,
    at: Instant,
) -> Result<Verified, Rejected> {
    let kind = crafter.kind();
    let answer = |flags: u8| kind.tcp_answer(flags).ok_or(Rejected::Uninteresting);
    let verified = |ip: IpAddr, port: u16, reason: Reason, ttl: u8, from_hop: bool| Verified {
        event: ReplyEvent {
            ip,
            service: Service {
                protocol: kind.protocol(),
                port,
            },
            state: kind.verdict(reason),
            reason,
            ttl,
            at,
        },
        from_hop,
    };
    match wire::parse_ip_reply(frame, link) {
        // Well-formed but not TCP or an ICMP unreachable quoting TCP (e.g. quoting UDP).
        Err(wire::ParseError::Uninteresting) => Err(Rejected::Uninteresting),
        Err(_) => Err(Rejected::Malformed),
        Ok(IpReply::V4(Reply::Tcp(t))) => {
            let reason = answer(t.flags)?;
            if !crafter.validate_tcp(&t) {
                return Err(not_ours_or_pilot(crafter.validate_pilot(&t)));
            }
            Ok(verified(IpAddr::V4(t.src), t.sport, reason, t.ttl, false))
        }
        Ok(IpReply::V4(Reply::Unreachable(u))) => {
            let reason = Reason::from_icmp_unreachable(u.code).ok_or(Rejected::Uninteresting)?;
            if !crafter.validate_quote(&u.quoted) {
                return Err(Rejected::NotOurs);
            }
            let q = u.quoted;
            let hop = u.from != q.dst;
            Ok(verified(IpAddr::V4(q.dst), q.dport, reason, u.ttl, hop))
        }
        Ok(IpReply::V6(Reply::Tcp(t))) => {
            let reason = answer(t.flags)?;
            if !crafter.validate_tcp6(&t) {
                return Err(not_ours_or_pilot(crafter.validate_pilot6(&t)));
            }
            Ok(verified(IpAddr::V6(t.src), t.sport, reason, t.ttl, false))
        }
        Ok(IpReply::V6(Reply::Unreachable(u))) => {
            let reason = Reason::from_icmpv6_unreachable(u.code).ok_or(Rejected::Uninteresting)?;
            if !crafter.validate_quote6(&u.quoted) {
                return Err(Rejected::NotOurs);
            }
            let q = u.quoted;
            let hop = u.from != q.dst;
            Ok(verified(IpAddr::V6(q.dst), q.dport, reason, u.ttl, hop))
        }
    }
}

/// A TCP reply that failed the scan's cookie: a pilot's answer, or not ours.
#[inline]
fn not_ours_or_pilot(pilot: Option<u8>) -> Rejected {
    pilot.map_or(Rejected::NotOurs, Rejected::Pilot)
}

/// Receiver counters.
#[derive(Debug, Default)]
pub struct RecvCounters {
    /// Frames seen.
    pub frames: AtomicU64,
    /// Verified SYN/ACKs.
    pub syn_acks: AtomicU64,
    /// Verified RSTs.
    pub resets: AtomicU64,
    /// Verified ICMP unreachables meaning filtered.
    pub unreachables: AtomicU64,
    /// Of those, the ones sent by a hop other than the probed target.
    pub path_errors: AtomicU64,
    /// Frames that did not parse.
    pub malformed: AtomicU64,
    /// Frames that parsed but were not replies we care about.
    pub uninteresting: AtomicU64,
    /// Frames that failed the cookie.
    pub not_ours: AtomicU64,
    /// Frames the kernel dropped because the capture buffer was full (running total).
    pub capture_drops: AtomicU64,
    /// Verified answers to pilot probes, by generation.
    pub pilot_answers: [AtomicU64; PILOT_GENERATIONS as usize],
}

impl RecvCounters {
    /// Counts one verified reply of `reason`.
    pub fn count_reply(&self, reason: Reason) {
        let counter = match reason {
            Reason::SynAck => &self.syn_acks,
            Reason::Reset | Reason::ConnRefused => &self.resets,
            _ => &self.unreachables,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Copies the counters into `s`.
    pub fn read_into(&self, s: &mut ScanStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        s.frames = get(&self.frames);
        s.syn_acks = get(&self.syn_acks);
        s.resets = get(&self.resets);
        s.unreachables = get(&self.unreachables);
        s.path_errors = get(&self.path_errors);
        s.malformed = get(&self.malformed);
        s.uninteresting = get(&self.uninteresting);
        s.not_ours = get(&self.not_ours);
        s.capture_drops = get(&self.capture_drops);
        s.pilot_answers = self.pilot_answers.each_ref().map(get);
    }
}

/// How often the receiver reads the kernel's drop counter.
const DROP_READ_EVERY: Duration = Duration::from_millis(100);

/// Replies per batch handed to the table at most, so that the channel's bound in batches
/// ([`REPLY_BATCHES`]) bounds the replies waiting in memory.
pub const MAX_REPLY_BATCH: usize = 1024;

/// Batches the reply channel holds; past that the receiver waits and the capture ring
/// buffers. The channel is the denser buffer (24 bytes a reply against ~128 in the ring):
/// a bound of 64 made the ring overflow at `--rate max` on a loaded machine (231k capture
/// drops in the answering lab), so it stays deep; it is empty unless the table falls behind.
pub const REPLY_BATCHES: usize = 4096;

/// Captures until `stop` is set, sending verified replies in batches to `replies`.
pub fn run_receiver(
    capture: &mut dyn Capture,
    crafter: &ProbeCrafter,
    replies: &Sender<Vec<ReplyEvent>>,
    stop: &AtomicBool,
    counters: &RecvCounters,
) -> Result<(), String> {
    let link = capture.link();
    let mut drops_read = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if drops_read.elapsed() >= DROP_READ_EVERY {
            drops_read = Instant::now();
            counters
                .capture_drops
                .store(capture.stats().dropped, Ordering::Relaxed);
        }
        let mut batch = Vec::new();
        let (mut frames, mut malformed, mut uninteresting, mut not_ours) = (0u64, 0, 0, 0);
        let mut path_errors = 0u64;
        let mut pilots = [0u64; PILOT_GENERATIONS as usize];
        let mut table_gone = false;
        let hand_over = |batch: &mut Vec<ReplyEvent>| {
            for ev in batch.iter() {
                counters.count_reply(ev.reason);
            }
            // Blocks while the table is behind: the capture ring buffers meanwhile.
            replies.send(std::mem::take(batch)).is_err()
        };
        capture
            .poll(Duration::from_millis(10), &mut |frame| {
                frames += 1;
                // Stamped when handled, like the table's clock: a stamp from before the
                // poll would make replies look faster than the table can see them.
                match verify(frame, link, crafter, Instant::now()) {
                    Ok(v) => {
                        path_errors += u64::from(v.from_hop);
                        batch.push(v.event)
                    }
                    Err(Rejected::Malformed) => malformed += 1,
                    Err(Rejected::Uninteresting) => uninteresting += 1,
                    Err(Rejected::NotOurs) => not_ours += 1,
                    Err(Rejected::Pilot(g)) => {
                        if let Some(n) = pilots.get_mut(usize::from(g)) {
                            *n += 1;
                        }
                    }
                }
                if batch.len() >= MAX_REPLY_BATCH && !table_gone {
                    table_gone = hand_over(&mut batch);
                }
            })
            .map_err(|e| format!("capturing replies failed: {e}"))?;
        counters.frames.fetch_add(frames, Ordering::Relaxed);
        counters.malformed.fetch_add(malformed, Ordering::Relaxed);
        counters
            .uninteresting
            .fetch_add(uninteresting, Ordering::Relaxed);
        counters.not_ours.fetch_add(not_ours, Ordering::Relaxed);
        counters
            .path_errors
            .fetch_add(path_errors, Ordering::Relaxed);
        for (c, n) in counters.pilot_answers.iter().zip(pilots) {
            c.fetch_add(n, Ordering::Relaxed);
        }
        if table_gone || (!batch.is_empty() && hand_over(&mut batch)) {
            break;
        }
    }
    counters
        .capture_drops
        .store(capture.stats().dropped, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;
    use crate::probe::{ProbeParams, SourcePorts};
    use crate::wire::build::{icmp_unreachable_frame, tcp_frame_with_options};
    use crate::wire::tcp_flags::{ACK, FIN, PSH, RST, SYN};
    use crate::wire::TcpSegment;
    use std::net::Ipv4Addr;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const GW: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const T: Ipv4Addr = Ipv4Addr::new(198, 19, 4, 10);
    /// Never probed by these tests.
    const STRANGER: Ipv4Addr = Ipv4Addr::new(198, 19, 200, 1);
    const PORT: u16 = 22;
    const MSS: [u8; 4] = [2, 4, 5, 0xb4];
    const ECE: u8 = 0x40;
    const CWR: u8 = 0x80;

    fn crafter(link: LinkLayer) -> ProbeCrafter {
        ProbeCrafter::new(ProbeParams {
            link,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: US,
            source_ports: SourcePorts::DEFAULT,
            key: [0x1234, 0x5678],
        })
    }

    /// The reply the target sends to our probe of (T, PORT), ack = cookie + 1 + `ack_delta`.
    fn spec(c: &ProbeCrafter, flags: u8, ack_delta: u32) -> TcpSegment {
        TcpSegment {
            src: T,
            dst: US,
            sport: PORT,
            dport: c.source_port(T, PORT),
            seq: 0x7777_0000,
            ack: c.sequence(T, PORT).wrapping_add(1).wrapping_add(ack_delta),
            flags,
            ttl: 61,
            window: 64240,
        }
    }

    fn frame(link: LinkLayer, s: &TcpSegment) -> Vec<u8> {
        tcp_frame_with_options(link, [2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], s, &MSS)
    }

    /// Whether `f`, verified, is an ICMP error from a hop rather than from the target.
    fn from_hop(c: &ProbeCrafter, f: &[u8], link: LinkLayer) -> bool {
        verify(f, link, c, at()).is_ok_and(|v| v.from_hop)
    }

    fn run(c: &ProbeCrafter, f: &[u8]) -> Result<ReplyEvent, Rejected> {
        classify(f, c.params().link, c, at())
    }

    fn at() -> Instant {
        use std::sync::OnceLock;
        static AT: OnceLock<Instant> = OnceLock::new();
        *AT.get_or_init(Instant::now)
    }

    fn event(ip: Ipv4Addr, port: u16, reason: Reason, ttl: u8) -> Result<ReplyEvent, Rejected> {
        Ok(ReplyEvent {
            ip: IpAddr::V4(ip),
            service: crate::model::Service::tcp(port),
            state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
            reason,
            ttl,
            at: at(),
        })
    }

    /// `f` (an Ethernet frame) with `opts` inserted as IPv4 options (IHL and length fixed up).
    fn with_ip_options(f: &[u8], opts: &[u8]) -> Vec<u8> {
        assert_eq!(opts.len() % 4, 0);
        let mut g = f[..34].to_vec();
        g[14] = 0x45 + (opts.len() / 4) as u8;
        let total = u16::from_be_bytes([g[16], g[17]]) + opts.len() as u16;
        g[16..18].copy_from_slice(&total.to_be_bytes());
        g.extend_from_slice(opts);
        g.extend_from_slice(&f[34..]);
        g
    }

    #[test]
    fn genuine_replies_are_accepted() {
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let c = crafter(link);
            let open = frame(link, &spec(&c, SYN | ACK, 0));
            assert_eq!(run(&c, &open), event(T, PORT, Reason::SynAck, 61));
            let closed = frame(link, &spec(&c, RST | ACK, 0));
            assert_eq!(run(&c, &closed), event(T, PORT, Reason::Reset, 61));
            // ECN-capable stacks answer SYN|ACK|ECE; flags beyond SYN/RST/ACK do not matter.
            for extra in [ECE, ECE | CWR, PSH] {
                let f = frame(link, &spec(&c, SYN | ACK | extra, 0));
                assert_eq!(
                    run(&c, &f),
                    event(T, PORT, Reason::SynAck, 61),
                    "{extra:#x}"
                );
            }
        }
    }

    #[test]
    fn wrong_ack_is_not_ours() {
        let c = crafter(LinkLayer::Ethernet);
        // The cookie itself (no +1), +2, zero, the complement and a single flipped bit.
        let cookie = c.sequence(T, PORT);
        for delta in [
            u32::MAX,
            1,
            0u32.wrapping_sub(cookie).wrapping_sub(1),
            (!cookie.wrapping_add(1)).wrapping_sub(cookie.wrapping_add(1)),
            0x8000_0000,
        ] {
            for flags in [SYN | ACK, RST | ACK] {
                let f = frame(LinkLayer::Ethernet, &spec(&c, flags, delta));
                assert_eq!(run(&c, &f), Err(Rejected::NotOurs), "{delta:#x} {flags:#x}");
            }
        }
    }

    #[test]
    fn wrong_flags() {
        let c = crafter(LinkLayer::Ethernet);
        let with = |flags| run(&c, &frame(LinkLayer::Ethernet, &spec(&c, flags, 0)));
        // RST without ACK, or with SYN too, is not what a stack answers to our SYN.
        assert_eq!(with(RST), Err(Rejected::NotOurs));
        assert_eq!(with(SYN | RST | ACK), Err(Rejected::NotOurs));
        // Neither SYN/ACK nor RST.
        for flags in [ACK, SYN, FIN | ACK, PSH | ACK, 0] {
            assert_eq!(with(flags), Err(Rejected::Uninteresting), "{flags:#x}");
        }
    }

    #[test]
    fn wrong_addresses_and_ports_are_not_ours() {
        let c = crafter(LinkLayer::Ethernet);
        let good = spec(&c, SYN | ACK, 0);
        let first = SourcePorts::DEFAULT.first;
        let next_port = if good.dport == SourcePorts::DEFAULT.last() {
            good.dport - 1
        } else {
            good.dport + 1
        };
        for s in [
            TcpSegment {
                src: STRANGER,
                ..good
            },
            TcpSegment { src: GW, ..good },
            TcpSegment { dst: GW, ..good },
            TcpSegment {
                sport: PORT + 1,
                ..good
            },
            TcpSegment {
                dport: next_port,
                ..good
            },
            TcpSegment {
                dport: first - 1,
                ..good
            },
            TcpSegment { dport: 80, ..good },
        ] {
            let f = frame(LinkLayer::Ethernet, &s);
            assert_eq!(run(&c, &f), Err(Rejected::NotOurs), "{s:?}");
        }
        // A stranger's reply carrying the cookie of a probed pair is still not ours.
        let mut stranger = good;
        stranger.src = STRANGER;
        stranger.sport = PORT;
        stranger.dport = c.source_port(STRANGER, PORT);
        let f = frame(LinkLayer::Ethernet, &stranger);
        assert_eq!(run(&c, &f), Err(Rejected::NotOurs));
    }

    #[test]
    fn truncated_frames_are_malformed() {
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let c = crafter(link);
            let f = frame(link, &spec(&c, SYN | ACK, 0));
            for len in 0..f.len() {
                assert_eq!(run(&c, &f[..len]), Err(Rejected::Malformed), "{len}");
            }
            // The IP total length claims more than the frame holds.
            let mut g = f.clone();
            let ip = link.header_len();
            g[ip + 3] += 1;
            assert_eq!(run(&c, &g), Err(Rejected::Malformed));
        }
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let c = crafter(LinkLayer::Ethernet);
        let mut f = frame(LinkLayer::Ethernet, &spec(&c, RST | ACK, 0));
        f.extend_from_slice(&[0xee; 6]);
        assert_eq!(run(&c, &f), event(T, PORT, Reason::Reset, 61));
    }

    #[test]
    fn bad_ihl_is_malformed() {
        let c = crafter(LinkLayer::Ethernet);
        let f = frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 0));
        for ihl in 0..5u8 {
            let mut g = f.clone();
            g[14] = 0x40 | ihl;
            assert_eq!(run(&c, &g), Err(Rejected::Malformed), "IHL {ihl}");
        }
        // IHL 15 (60 bytes) runs into the TCP header and past the total length of 44.
        let mut g = f.clone();
        g[14] = 0x4f;
        assert_eq!(run(&c, &g), Err(Rejected::Malformed));
        // IHL 6 without options: the TCP header is read 4 bytes late; its data offset is
        // then the checksum's top nibble (0xb here), past the 20 bytes left.
        let mut g = f.clone();
        g[14] = 0x46;
        assert_eq!(g[14 + 20 + 16] >> 4, 0xb);
        assert_eq!(run(&c, &g), Err(Rejected::Malformed));
        // With the checksum bytes read as offset 5 and SYN|ACK, it parses as a SYN/ACK from
        // port 0x7777 (the seq) to port 0: not ours.
        g[14 + 20 + 16] = 0x50;
        g[14 + 20 + 17] = SYN | ACK;
        assert_eq!(run(&c, &g), Err(Rejected::NotOurs));
    }

    #[test]
    fn ip_options_from_a_real_host_are_parsed() {
        let c = crafter(LinkLayer::Ethernet);
        let f = frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 0));
        let options: [&[u8]; 4] = [
            &[1, 1, 1, 0],                          // NOP NOP NOP EOL
            &[0x94, 4, 0, 0],                       // router alert
            &[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0], // record route, 2 slots, EOL
            &[1; 40],                               // IHL 15
        ];
        for opts in options {
            let g = with_ip_options(&f, opts);
            assert_eq!(run(&c, &g), event(T, PORT, Reason::SynAck, 61), "{opts:?}");
            // The same with a wrong ack is still rejected.
            let h = with_ip_options(&frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 7)), opts);
            assert_eq!(run(&c, &h), Err(Rejected::NotOurs));
        }
    }

    #[test]
    fn bad_data_offset_is_malformed() {
        let c = crafter(LinkLayer::Ethernet);
        let f = frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 0));
        let doff = 14 + 20 + 12;
        assert_eq!(f[doff], 0x60);
        for off in 0..5u8 {
            let mut g = f.clone();
            g[doff] = off << 4;
            assert_eq!(run(&c, &g), Err(Rejected::Malformed), "offset {off}");
        }
        // Beyond the segment (24 bytes here): 7 and 15 words.
        for off in [7u8, 15] {
            let mut g = f.clone();
            g[doff] = off << 4;
            assert_eq!(run(&c, &g), Err(Rejected::Malformed), "offset {off}");
        }
        // Exactly the segment, and less than it (payload after the header): both fine.
        for off in [5u8, 6] {
            let mut g = f.clone();
            g[doff] = off << 4;
            assert_eq!(
                run(&c, &g),
                event(T, PORT, Reason::SynAck, 61),
                "offset {off}"
            );
        }
    }

    #[test]
    fn fragments_are_not_trusted() {
        let c = crafter(LinkLayer::Ethernet);
        let f = frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 0));
        let frag = |hi: u8, lo: u8| {
            let mut g = f.clone();
            g[20] = hi;
            g[21] = lo;
            run(&c, &g)
        };
        assert_eq!(frag(0x20, 0), Err(Rejected::Malformed)); // MF, offset 0
        assert_eq!(frag(0x60, 0), Err(Rejected::Malformed)); // DF and MF
        assert_eq!(frag(0, 3), Err(Rejected::Malformed)); // offset 24
        assert_eq!(frag(0x20, 1), Err(Rejected::Malformed)); // middle fragment
        assert_eq!(frag(0x40, 0), event(T, PORT, Reason::SynAck, 61));
    }

    #[test]
    fn vlan_tagged_frames() {
        let c = crafter(LinkLayer::Ethernet);
        let tag = |f: &[u8], tags: &[[u8; 4]]| {
            let mut g = f[..12].to_vec();
            for t in tags {
                g.extend_from_slice(t);
            }
            g.extend_from_slice(&f[12..]);
            g
        };
        let q = [0x81, 0x00, 0x20, 0x64]; // 802.1Q, PCP 1, VLAN 100
        let ad = [0x88, 0xa8, 0x00, 0x0a];
        let good = frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 0));
        let forged = frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 5));
        for tags in [&[q][..], &[ad, q][..]] {
            assert_eq!(
                run(&c, &tag(&good, tags)),
                event(T, PORT, Reason::SynAck, 61)
            );
            assert_eq!(run(&c, &tag(&forged, tags)), Err(Rejected::NotOurs));
        }
        assert_eq!(run(&c, &tag(&good, &[q, q, q])), Err(Rejected::Malformed));
        // A tag cut short.
        assert_eq!(run(&c, &tag(&good, &[q])[..16]), Err(Rejected::Malformed));
    }

    /// Our probe of (T, PORT) as it left, IPv4 header first.
    fn probe(c: &ProbeCrafter) -> Vec<u8> {
        let mut buf = vec![0u8; c.frame_len()];
        c.craft(&mut buf, T, PORT, 0);
        buf.split_off(c.params().link.header_len())
    }

    fn unreachable(c: &ProbeCrafter, from: Ipv4Addr, code: u8, quote: &[u8]) -> Vec<u8> {
        let link = c.params().link;
        icmp_unreachable_frame(
            link,
            [2, 0, 0, 0, 0, 2],
            [2, 0, 0, 0, 0, 1],
            from,
            US,
            code,
            250,
            quote,
        )
    }

    #[test]
    fn icmp_unreachable_quoting_our_probe_is_filtered_with_nmap_reasons() {
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let c = crafter(link);
            let p = probe(&c);
            let named = [
                (0, Reason::NetUnreach, "net-unreach"),
                (1, Reason::HostUnreach, "host-unreach"),
                (2, Reason::ProtoUnreach, "proto-unreach"),
                (3, Reason::PortUnreach, "port-unreach"),
                (9, Reason::NetProhibited, "net-prohibited"),
                (10, Reason::HostProhibited, "host-prohibited"),
                (13, Reason::AdminProhibited, "admin-prohibited"),
            ];
            for (code, reason, name) in named {
                // From the target itself or from a router on the way, whole or minimal quote.
                for (from, quote) in [(T, &p[..]), (GW, &p[..28])] {
                    let f = unreachable(&c, from, code, quote);
                    assert_eq!(run(&c, &f), event(T, PORT, reason, 250), "code {code}");
                }
                assert_eq!(reason.as_str(), name);
                assert_eq!(
                    crate::probe::ProbeKind::TcpSyn.verdict(reason),
                    crate::model::PortState::Filtered
                );
            }
            // Other codes (fragmentation needed, source route failed, unknown net/host, ...)
            // do not say the port is filtered.
            for code in [4, 5, 6, 7, 8, 11, 12, 14, 15, 255] {
                let f = unreachable(&c, GW, code, &p);
                assert_eq!(run(&c, &f), Err(Rejected::Uninteresting), "code {code}");
            }
        }
    }

    /// An ACK scan's answers go through its kind: the target's bare RST (its seq the
    /// cookie the ACK carried) is unfiltered, an unreachable quoting the ACK filtered, and
    /// what answers a SYN answers no ACK.
    #[test]
    fn an_ack_scans_answers_are_classified_by_its_kind() {
        use crate::model::PortState;
        use crate::probe::ProbeKind;
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let c = crafter(link).with_kind(ProbeKind::TcpAck);
            let cookie = c.sequence(T, PORT);
            let reset = TcpSegment {
                seq: cookie,
                ack: 0,
                ..spec(&c, RST, 0)
            };
            let decided = |f: &[u8]| run(&c, f).map(|e| (e.state, e.reason, e.ttl));
            assert_eq!(
                decided(&frame(link, &reset)),
                Ok((PortState::Unfiltered, Reason::Reset, 61))
            );
            let off = TcpSegment {
                seq: cookie.wrapping_add(1),
                ..reset
            };
            assert_eq!(run(&c, &frame(link, &off)), Err(Rejected::NotOurs));
            let syn_ack = frame(link, &spec(&c, SYN | ACK, 0));
            assert_eq!(run(&c, &syn_ack), Err(Rejected::Uninteresting));
            let syn_reset = frame(link, &spec(&c, RST | ACK, 0));
            assert_eq!(run(&c, &syn_reset), Err(Rejected::NotOurs));
            let f = unreachable(&c, T, 1, &probe(&c));
            assert_eq!(
                decided(&f),
                Ok((PortState::Filtered, Reason::HostUnreach, 250))
            );
        }
    }

    /// Hands its frames over in one poll, then stops the receiver.
    struct Frames {
        frames: Vec<Vec<u8>>,
        link: LinkLayer,
        stop: std::sync::Arc<AtomicBool>,
    }

    /// Runs the receiver over `frames` to the end: its counters and what it reported.
    fn receive_all(
        c: &ProbeCrafter,
        frames: Vec<Vec<u8>>,
    ) -> (ScanStats, crossbeam_channel::Receiver<Vec<ReplyEvent>>) {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let mut capture = Frames {
            frames,
            link: LinkLayer::Ethernet,
            stop: std::sync::Arc::clone(&stop),
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let counters = RecvCounters::default();
        run_receiver(&mut capture, c, &tx, &stop, &counters).unwrap();
        let mut s = ScanStats::default();
        counters.read_into(&mut s);
        (s, rx)
    }

    impl Capture for Frames {
        fn poll(&mut self, _: Duration, on_frame: &mut dyn FnMut(&[u8])) -> std::io::Result<usize> {
            let n = self.frames.len();
            for f in self.frames.drain(..) {
                on_frame(&f);
            }
            self.stop.store(true, Ordering::Relaxed);
            Ok(n)
        }
        fn link(&self) -> LinkLayer {
            self.link
        }
        fn stats(&mut self) -> crate::net::CaptureStats {
            crate::net::CaptureStats::default()
        }
    }

    #[test]
    fn unreachables_from_a_hop_are_counted_apart_and_still_mean_filtered() {
        let c = crafter(LinkLayer::Ethernet);
        let p = probe(&c);
        let from_target = unreachable(&c, T, 1, &p);
        let from_router = unreachable(&c, GW, 1, &p);
        let syn_ack = frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 0));
        assert!(from_hop(&c, &from_router, LinkLayer::Ethernet));
        assert!(!from_hop(&c, &from_target, LinkLayer::Ethernet));
        assert!(!from_hop(&c, &syn_ack, LinkLayer::Ethernet));
        let (s, rx) = receive_all(
            &c,
            vec![from_router.clone(), from_target, from_router, syn_ack],
        );
        assert_eq!((s.unreachables, s.path_errors, s.syn_acks), (3, 2, 1));
        let reasons: Vec<Reason> = rx.try_iter().flatten().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::HostUnreach,
                Reason::HostUnreach,
                Reason::HostUnreach,
                Reason::SynAck
            ]
        );
    }

    #[test]
    fn answers_to_pilots_are_counted_apart_and_never_results() {
        let c = crafter(LinkLayer::Ethernet);
        let mut frames = Vec::new();
        for g in 0..PILOT_GENERATIONS {
            let mut buf = vec![0u8; c.frame_len()];
            c.craft_pilot(&mut buf, IpAddr::V4(T), PORT, g);
            let Ok(Reply::Tcp(syn)) = wire::parse_reply(&buf, LinkLayer::Ethernet) else {
                panic!("pilot {g} is no TCP segment");
            };
            // The scan's own source port and sequence for the pair are not the pilot's.
            assert_ne!(syn.sport, c.source_port(T, PORT));
            let answer = TcpSegment {
                dport: syn.sport,
                ack: syn.seq.wrapping_add(1),
                ..spec(&c, SYN | ACK, 0)
            };
            let f = frame(LinkLayer::Ethernet, &answer);
            assert_eq!(run(&c, &f), Err(Rejected::Pilot(g)));
            // Off by one in the ack: not ours at all.
            let forged = TcpSegment {
                ack: syn.seq.wrapping_add(2),
                ..answer
            };
            let f2 = frame(LinkLayer::Ethernet, &forged);
            assert_eq!(run(&c, &f2), Err(Rejected::NotOurs));
            frames.push(f);
            frames.push(f2);
        }
        let (s, rx) = receive_all(&c, frames);
        assert_eq!(s.pilot_answers, [1; PILOT_GENERATIONS as usize]);
        assert_eq!((s.syn_acks, s.not_ours), (0, 4));
        assert_eq!(
            rx.try_iter().flatten().count(),
            0,
            "no pilot answer is a result"
        );
    }

    #[test]
    fn icmp_quoting_a_forged_probe_is_ignored() {
        let c = crafter(LinkLayer::Ethernet);
        let p = probe(&c);
        let patched = |at: usize, bytes: &[u8]| {
            let mut q = p.clone();
            q[at..at + bytes.len()].copy_from_slice(bytes);
            run(&c, &unreachable(&c, GW, 13, &q))
        };
        let seq = c.sequence(T, PORT);
        let sport = c.source_port(T, PORT);
        // Sequence off by one (as a reply's ack would be), another source port, another
        // source address (not us), another target, another target port.
        assert_eq!(
            patched(24, &seq.wrapping_add(1).to_be_bytes()),
            Err(Rejected::NotOurs)
        );
        assert_eq!(patched(24, &(!seq).to_be_bytes()), Err(Rejected::NotOurs));
        assert_eq!(
            patched(20, &(sport ^ 1).to_be_bytes()),
            Err(Rejected::NotOurs)
        );
        assert_eq!(patched(12, &GW.octets()), Err(Rejected::NotOurs));
        assert_eq!(patched(16, &STRANGER.octets()), Err(Rejected::NotOurs));
        assert_eq!(
            patched(22, &(PORT + 1).to_be_bytes()),
            Err(Rejected::NotOurs)
        );
        // Quoting UDP or a later fragment: not a probe of ours at all.
        assert_eq!(patched(9, &[17]), Err(Rejected::Uninteresting));
        assert_eq!(patched(6, &[0x00, 0x10]), Err(Rejected::Uninteresting));
        // A first fragment still carries our TCP header: accepted.
        assert_eq!(
            patched(6, &[0x20, 0x00]),
            event(T, PORT, Reason::AdminProhibited, 250)
        );
    }

    #[test]
    fn icmp_quoting_truncated_headers_is_malformed() {
        let c = crafter(LinkLayer::Ethernet);
        let p = probe(&c);
        // Less than an IP header plus the 8 bytes holding ports and sequence number.
        for len in 0..28 {
            let f = unreachable(&c, GW, 1, &p[..len]);
            assert_eq!(run(&c, &f), Err(Rejected::Malformed), "quote of {len}");
        }
        // Quoted IHL below 5, or IHL 6 whose 4 option bytes eat the quoted ports.
        let mut q = p.clone();
        q[0] = 0x44;
        assert_eq!(
            run(&c, &unreachable(&c, GW, 1, &q)),
            Err(Rejected::Malformed)
        );
        let mut q = p[..28].to_vec();
        q[0] = 0x46;
        assert_eq!(
            run(&c, &unreachable(&c, GW, 1, &q)),
            Err(Rejected::Malformed)
        );
        // The ICMP header itself cut short (outer total length fixed to match).
        let f = unreachable(&c, GW, 1, &p);
        let mut g = f[..14 + 20 + 6].to_vec();
        g[16..18].copy_from_slice(&26u16.to_be_bytes());
        assert_eq!(run(&c, &g), Err(Rejected::Malformed));
        // The outer ICMP packet as a fragment.
        let mut g = f.clone();
        g[20] = 0x20;
        assert_eq!(run(&c, &g), Err(Rejected::Malformed));
    }

    #[test]
    fn icmp_quote_with_ip_options_is_parsed() {
        let c = crafter(LinkLayer::Ethernet);
        let p = probe(&c);
        let mut q = p[..20].to_vec();
        q[0] = 0x47;
        q.extend_from_slice(&[0x94, 4, 0, 0, 1, 1, 1, 0]);
        q.extend_from_slice(&p[20..28]);
        let f = unreachable(&c, GW, 10, &q);
        assert_eq!(run(&c, &f), event(T, PORT, Reason::HostProhibited, 250));
    }

    mod ipv6 {
        use super::*;
        use crate::probe::Ipv6Source;
        use crate::wire::build::{icmpv6_unreachable_frame, tcp6_frame_with_options};
        use crate::wire::icmpv6::unreachable as code6;
        use std::net::Ipv6Addr;

        fn a(s: &str) -> Ipv6Addr {
            s.parse().unwrap()
        }
        fn us6() -> Ipv6Addr {
            a("2001:2:0:18::1")
        }
        fn t6() -> Ipv6Addr {
            a("2001:2:0:19::a")
        }

        pub(super) fn dual(link: LinkLayer) -> ProbeCrafter {
            crafter(link).with_ipv6(Ipv6Source {
                src_ip: us6(),
                dst_mac: [2, 0, 0, 0, 0, 6],
            })
        }

        fn spec6(c: &ProbeCrafter, flags: u8, ack_delta: u32) -> TcpSegment<Ipv6Addr> {
            TcpSegment {
                src: t6(),
                dst: us6(),
                sport: PORT,
                dport: c.source_port6(t6(), PORT).unwrap(),
                seq: 0x7777_0000,
                ack: c
                    .sequence6(t6(), PORT)
                    .unwrap()
                    .wrapping_add(1)
                    .wrapping_add(ack_delta),
                flags,
                ttl: 61,
                window: 64240,
            }
        }

        fn frame6(link: LinkLayer, s: &TcpSegment<Ipv6Addr>) -> Vec<u8> {
            tcp6_frame_with_options(link, [2, 0, 0, 0, 0, 6], [2, 0, 0, 0, 0, 1], s, &MSS)
        }

        fn ev6(ip: Ipv6Addr, reason: Reason, ttl: u8) -> Result<ReplyEvent, Rejected> {
            Ok(ReplyEvent {
                ip: IpAddr::V6(ip),
                service: crate::model::Service::tcp(PORT),
                state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
                reason,
                ttl,
                at: at(),
            })
        }

        /// Our IPv6 probe of (t6, PORT), IPv6 header first.
        fn probe6(c: &ProbeCrafter) -> Vec<u8> {
            let mut buf = vec![0u8; c.max_frame_len()];
            let len = c.craft6(&mut buf, t6(), PORT, 0);
            buf.truncate(len);
            buf.split_off(c.params().link.header_len())
        }

        fn unreach6(c: &ProbeCrafter, from: Ipv6Addr, code: u8, quote: &[u8]) -> Vec<u8> {
            let link = c.params().link;
            let (m1, m2) = ([2, 0, 0, 0, 0, 6], [2, 0, 0, 0, 0, 1]);
            icmpv6_unreachable_frame(link, m1, m2, from, us6(), code, 250, quote)
        }

        /// `f` (an Ethernet IPv6 frame) with extension headers `ext` (each whole, its first
        /// byte set to the next header as it is chained) before the upper layer.
        fn with_extensions(f: &[u8], ext: &[&[u8]]) -> Vec<u8> {
            let mut g = f[..54].to_vec();
            let next = g[20];
            let kinds = [0u8, 60, 43];
            g[20] = kinds[0];
            let mut body = Vec::new();
            for (i, e) in ext.iter().enumerate() {
                let mut e = e.to_vec();
                e[0] = if i + 1 == ext.len() {
                    next
                } else {
                    kinds[i + 1]
                };
                body.extend_from_slice(&e);
            }
            g.extend_from_slice(&body);
            g.extend_from_slice(&f[54..]);
            let len = u16::from_be_bytes([g[18], g[19]]) + body.len() as u16;
            g[18..20].copy_from_slice(&len.to_be_bytes());
            g
        }

        #[test]
        fn genuine_ipv6_replies_are_accepted() {
            for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
                let c = dual(link);
                let open = frame6(link, &spec6(&c, SYN | ACK, 0));
                assert_eq!(run(&c, &open), ev6(t6(), Reason::SynAck, 61));
                let closed = frame6(link, &spec6(&c, RST | ACK, 0));
                assert_eq!(run(&c, &closed), ev6(t6(), Reason::Reset, 61));
                // IPv4 replies still pass beside them.
                let v4 = frame(link, &spec(&c, SYN | ACK, 0));
                assert_eq!(run(&c, &v4), event(T, PORT, Reason::SynAck, 61));
                // An IPv4-only scan takes no IPv6 reply, an IPv6-only one no IPv4 reply.
                assert_eq!(run(&crafter(link), &open), Err(Rejected::NotOurs));
                let only6 = dual(link).without_ipv4();
                assert_eq!(run(&only6, &v4), Err(Rejected::NotOurs));
                assert_eq!(run(&only6, &open), ev6(t6(), Reason::SynAck, 61));
            }
        }

        #[test]
        fn wrong_cookie_flags_or_addresses_are_not_ours() {
            let c = dual(LinkLayer::Ethernet);
            for delta in [u32::MAX, 1, 0x8000_0000] {
                let f = frame6(LinkLayer::Ethernet, &spec6(&c, SYN | ACK, delta));
                assert_eq!(run(&c, &f), Err(Rejected::NotOurs), "{delta:#x}");
            }
            let good = spec6(&c, SYN | ACK, 0);
            for s in [
                TcpSegment {
                    src: a("2001:2:0:19::b"),
                    ..good
                },
                TcpSegment {
                    dst: a("2001:2:0:18::2"),
                    ..good
                },
                TcpSegment {
                    sport: PORT + 1,
                    ..good
                },
                TcpSegment {
                    dport: good.dport ^ 1,
                    ..good
                },
            ] {
                let f = frame6(LinkLayer::Ethernet, &s);
                assert_eq!(run(&c, &f), Err(Rejected::NotOurs), "{s:?}");
            }
            for flags in [ACK, SYN, FIN | ACK, 0] {
                let f = frame6(LinkLayer::Ethernet, &spec6(&c, flags, 0));
                assert_eq!(run(&c, &f), Err(Rejected::Uninteresting), "{flags:#x}");
            }
            // The IPv4-mapped form of an IPv4 target is another address.
            let mapped = TcpSegment {
                src: a("::ffff:198.19.4.10"),
                ..good
            };
            assert_eq!(
                run(&c, &frame6(LinkLayer::Ethernet, &mapped)),
                Err(Rejected::NotOurs)
            );
        }

        #[test]
        fn extension_headers_are_skipped_and_truncated_chains_malformed() {
            let c = dual(LinkLayer::Ethernet);
            let f = frame6(LinkLayer::Ethernet, &spec6(&c, SYN | ACK, 0));
            let opts: [u8; 8] = [0, 0, 1, 4, 0, 0, 0, 0]; // PadN
            let routing: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 0];
            let g = with_extensions(&f, &[&opts, &opts, &routing]);
            assert_eq!(run(&c, &g), ev6(t6(), Reason::SynAck, 61));
            // The same chain with a forged ack is still rejected.
            let forged = frame6(LinkLayer::Ethernet, &spec6(&c, SYN | ACK, 3));
            assert_eq!(
                run(&c, &with_extensions(&forged, &[&opts])),
                Err(Rejected::NotOurs)
            );
            // Cut anywhere in the chain or the TCP header: malformed, never accepted.
            for len in 14..g.len() {
                let mut h = g[..len].to_vec();
                if len >= 20 {
                    // The IPv6 payload length agrees with the cut.
                    let payload = (len.saturating_sub(54)) as u16;
                    h[18..20].copy_from_slice(&payload.to_be_bytes());
                }
                assert_eq!(run(&c, &h), Err(Rejected::Malformed), "{len}");
            }
            // An extension header claiming more than the packet holds.
            let mut h = g.clone();
            h[55] = 200;
            assert_eq!(run(&c, &h), Err(Rejected::Malformed));
            // A first fragment (more to come) is never read as TCP; a later one neither.
            for offset_m in [[0u8, 1], [1, 0x10]] {
                let frag: [u8; 8] = [0, 0, offset_m[0], offset_m[1], 0, 0, 0, 7];
                let mut h = with_extensions(&f, &[&frag]);
                h[20] = 44;
                assert_eq!(run(&c, &h), Err(Rejected::Malformed), "{offset_m:?}");
            }
        }

        #[test]
        fn icmpv6_unreachable_quoting_our_probe_is_filtered_with_nmap_reasons() {
            for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
                let c = dual(link);
                let p = probe6(&c);
                let named = [
                    (code6::NO_ROUTE, "no-route"),
                    (code6::ADMIN_PROHIBITED, "admin-prohibited"),
                    (code6::ADDRESS, "host-unreach"),
                    (code6::PORT, "port-unreach"),
                    (code6::REJECT_ROUTE, "reject-route"),
                ];
                let router = a("2001:2:0:18::fe");
                for (code, name) in named {
                    let reason = Reason::from_icmpv6_unreachable(code).unwrap();
                    assert_eq!(reason.as_str(), name);
                    for (from, quote) in [(t6(), &p[..]), (router, &p[..48])] {
                        let f = unreach6(&c, from, code, quote);
                        assert_eq!(run(&c, &f), ev6(t6(), reason, 250), "code {code}");
                    }
                }
                // Codes that say nothing about the port.
                for code in [7u8, 8, 255] {
                    let f = unreach6(&c, router, code, &p);
                    assert_eq!(run(&c, &f), Err(Rejected::Uninteresting), "code {code}");
                }
            }
        }

        #[test]
        fn icmpv6_unreachables_from_a_hop_are_path_errors() {
            let c = dual(LinkLayer::Ethernet);
            let p = probe6(&c);
            let from_router = unreach6(&c, a("2001:2:0:18::fe"), code6::ADDRESS, &p);
            let from_target = unreach6(&c, t6(), code6::PORT, &p);
            let syn_ack = frame6(LinkLayer::Ethernet, &spec6(&c, SYN | ACK, 0));
            assert!(from_hop(&c, &from_router, LinkLayer::Ethernet));
            assert!(!from_hop(&c, &from_target, LinkLayer::Ethernet));
            assert!(!from_hop(&c, &syn_ack, LinkLayer::Ethernet));
            let (s, _rx) = receive_all(
                &c,
                vec![from_router.clone(), from_target, from_router, syn_ack],
            );
            assert_eq!((s.unreachables, s.path_errors, s.syn_acks), (3, 2, 1));
        }

        #[test]
        fn answers_to_ipv6_pilots_are_counted_apart() {
            let c = dual(LinkLayer::Ethernet);
            for g in 0..PILOT_GENERATIONS {
                let mut buf = vec![0u8; c.max_frame_len()];
                let len = c.craft_pilot(&mut buf, IpAddr::V6(t6()), PORT, g);
                let probe = crate::wire::parse_ip_reply(&buf[..len], LinkLayer::Ethernet);
                let Ok(IpReply::V6(Reply::Tcp(syn))) = probe else {
                    panic!("pilot {g} is no IPv6 TCP segment: {probe:?}");
                };
                let answer = TcpSegment {
                    sport: PORT,
                    dport: syn.sport,
                    ack: syn.seq.wrapping_add(1),
                    ..spec6(&c, RST | ACK, 0)
                };
                let f = frame6(LinkLayer::Ethernet, &answer);
                assert_eq!(run(&c, &f), Err(Rejected::Pilot(g)));
            }
        }

        #[test]
        fn bogus_icmpv6_quotes_are_rejected() {
            let c = dual(LinkLayer::Ethernet);
            let p = probe6(&c);
            let router = a("2001:2:0:18::fe");
            let patched = |at: usize, bytes: &[u8]| {
                let mut q = p.clone();
                q[at..at + bytes.len()].copy_from_slice(bytes);
                run(&c, &unreach6(&c, router, code6::ADMIN_PROHIBITED, &q))
            };
            let seq = c.sequence6(t6(), PORT).unwrap();
            let sport = c.source_port6(t6(), PORT).unwrap();
            // Sequence, source port, our address, the target, the target port.
            assert_eq!(
                patched(44, &seq.wrapping_add(1).to_be_bytes()),
                Err(Rejected::NotOurs)
            );
            assert_eq!(
                patched(40, &(sport ^ 1).to_be_bytes()),
                Err(Rejected::NotOurs)
            );
            assert_eq!(patched(8, &router.octets()), Err(Rejected::NotOurs));
            assert_eq!(
                patched(24, &a("2001:2:0:19::b").octets()),
                Err(Rejected::NotOurs)
            );
            assert_eq!(
                patched(42, &(PORT + 1).to_be_bytes()),
                Err(Rejected::NotOurs)
            );
            // Quoting UDP: not a probe of ours; an IPv4 header behind ICMPv6: broken.
            assert_eq!(patched(6, &[17]), Err(Rejected::Uninteresting));
            assert_eq!(patched(0, &[0x45]), Err(Rejected::Malformed));
            // Too short to hold ports and sequence.
            for len in [0, 39, 40, 47] {
                let f = unreach6(&c, router, code6::PORT, &p[..len]);
                assert_eq!(run(&c, &f), Err(Rejected::Malformed), "quote of {len}");
            }
            // An IPv4 quote of the IPv6 probe's cookie under ICMPv4 is not ours either.
            let v4 = unreachable(&c, GW, 13, &probe(&c));
            assert_eq!(run(&c, &v4), event(T, PORT, Reason::AdminProhibited, 250));
        }
    }

    #[test]
    fn other_traffic_is_uninteresting_or_malformed() {
        let c = crafter(LinkLayer::Ethernet);
        let f = frame(LinkLayer::Ethernet, &spec(&c, SYN | ACK, 0));
        let mut udp = f.clone();
        udp[23] = 17;
        assert_eq!(run(&c, &udp), Err(Rejected::Uninteresting));
        let mut v6 = f.clone();
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(run(&c, &v6), Err(Rejected::Malformed));
        // ICMP time exceeded quoting our probe: not an unreachable.
        let mut te = unreachable(&c, GW, 0, &probe(&c));
        te[34] = 11;
        assert_eq!(run(&c, &te), Err(Rejected::Uninteresting));
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::net::{CaptureStats, LinkLayer};
    use crate::probe::{ProbeParams, SourcePorts};
    use crate::wire::build::tcp_frame_with_options;
    use crate::wire::tcp_flags::{ACK, RST};
    use crate::wire::TcpSegment;
    use std::io;
    use std::net::Ipv4Addr;

    /// Hands out all its frames in the first poll, then sets `stop`.
    struct Burst<'a> {
        frames: Vec<Vec<u8>>,
        stop: &'a AtomicBool,
    }

    impl Capture for Burst<'_> {
        fn poll(&mut self, _: Duration, on_frame: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
            let n = self.frames.len();
            for f in self.frames.drain(..) {
                on_frame(&f);
            }
            self.stop.store(true, Ordering::Relaxed);
            Ok(n)
        }
        fn link(&self) -> LinkLayer {
            LinkLayer::RawIp
        }
        fn stats(&mut self) -> CaptureStats {
            CaptureStats::default()
        }
    }

    #[test]
    fn one_poll_of_many_replies_is_handed_over_in_bounded_batches() {
        let us = Ipv4Addr::new(198, 18, 0, 1);
        let c = ProbeCrafter::new(ProbeParams {
            link: LinkLayer::RawIp,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            src_ip: us,
            source_ports: SourcePorts::DEFAULT,
            key: [7, 8],
        });
        // Resets from 2.5 batches' worth of distinct targets, all in one poll.
        let n = MAX_REPLY_BATCH * 5 / 2;
        let frames: Vec<Vec<u8>> = (0..n as u32)
            .map(|i| {
                let t = Ipv4Addr::from(0xC613_0000 + i);
                let seg = TcpSegment {
                    src: t,
                    dst: us,
                    sport: 80,
                    dport: c.source_port(t, 80),
                    seq: 1,
                    ack: c.sequence(t, 80).wrapping_add(1),
                    flags: RST | ACK,
                    ttl: 64,
                    window: 0,
                };
                tcp_frame_with_options(LinkLayer::RawIp, [0; 6], [0; 6], &seg, &[])
            })
            .collect();
        let stop = AtomicBool::new(false);
        let mut cap = Burst {
            frames,
            stop: &stop,
        };
        let (tx, rx) = crossbeam_channel::bounded(REPLY_BATCHES);
        let counters = RecvCounters::default();
        run_receiver(&mut cap, &c, &tx, &stop, &counters).expect("receiver");
        let sizes: Vec<usize> = rx.try_iter().map(|b| b.len()).collect();
        assert_eq!(
            sizes,
            vec![MAX_REPLY_BATCH, MAX_REPLY_BATCH, MAX_REPLY_BATCH / 2]
        );
        let mut s = crate::model::ScanStats::default();
        counters.read_into(&mut s);
        assert_eq!((s.resets, s.frames), (n as u64, n as u64));
    }
}
