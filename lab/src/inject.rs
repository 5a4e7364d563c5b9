//! `synscan-lab inject`: hostile traffic at a lab's scanner, sent from inside the lab's target
//! namespace while a scan runs.
//!
//! It sends only on the lab's target veth (`<name>b`, which exists only in that namespace),
//! only to the scanner's address 198.18.0.1, and every address it writes lies in
//! 198.18.0.0/15. What it sends, at `--pps` frames per second:
//! - forged SYN/ACKs and RST/ACKs with random (wrong) acks to the scanner's source ports, from
//!   probed addresses (inside `--prefix`) and from addresses never probed;
//! - truncated frames, IP total lengths longer than the frame, IHL < 5 (and 15 past the
//!   total length), TCP data offsets < 5 or past the segment, IP options, fragments, 802.1Q
//!   and QinQ tagged frames;
//! - ICMP destination unreachables quoting forged probes, quoting too little, or of codes
//!   that do not mean filtered;
//! - near misses of the scanner's real probes, which it sniffs as they arrive: replies with
//!   ack = cookie or cookie + 2, the right ack to the wrong port or from the wrong address,
//!   RST without ACK or SYN|RST|ACK, ICMP quotes with a flipped sequence bit;
//! - duplicates of the target's genuine replies, at once and again `--late-ms` later.
//!
//! None of it may change a scan result: everything forged fails the cookie or the parser, and
//! the duplicates repeat what the target already said. Frames it sends carry IPv4 TTL
//! `MARK_TTL` so the sniffer never mistakes them for the target's own replies.

use crate::cli::{self, InjectArgs};
use crate::netns::{Names, SCANNER_IP, TARGET_IP};
use crate::truth;
use ipnet::Ipv4Net;
use pnet::datalink::{self, Channel, Config};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synscan::net::{PacketTransmit, Transmit};
use synscan::probe::SourcePorts;
use synscan::wire::build::{icmp_unreachable_frame, tcp_frame_with_options};
use synscan::wire::checksum::internet_checksum;
use synscan::wire::ethernet::{self, ethertype};
use synscan::wire::ip::protocol;
use synscan::wire::tcp_flags::{ACK, RST, SYN};
use synscan::wire::{icmp, ipv4, tcp, LinkLayer, TcpSegment};

/// IPv4 TTL of every frame the injector sends (the target's own replies carry 64).
pub const MARK_TTL: u8 = 201;
/// The whole lab address space; nothing outside it is ever written into a frame.
const LAB_BLOCK: &str = "198.18.0.0/15";
/// The ICMP unreachable codes that mark a port filtered.
const FILTERED_CODES: [u8; 7] = [0, 1, 2, 3, 9, 10, 13];
/// SYN options of a typical reply (MSS 1460).
const MSS: [u8; 4] = [2, 4, 5, 0xb4];
/// Most sniffed probes and pending late duplicates kept.
const MAX_QUEUE: usize = 8192;
/// Where the IPv4 header starts in the (untagged Ethernet) frames sent.
const IP: usize = ethernet::HEADER_LEN;
/// Where the TCP header starts in them (no IP options).
const L4: usize = IP + ipv4::HEADER_LEN;
/// The least an ICMP error quotes of a probe: its IPv4 header and 8 bytes of TCP.
const MIN_QUOTE: usize = ipv4::HEADER_LEN + tcp::QUOTE_LEN;

/// One kind of hostile frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// SYN/ACK from a probed address with a random ack.
    SynAckWrongAck,
    /// RST/ACK from a probed address with a random ack.
    RstWrongAck,
    /// SYN/ACK or RST/ACK from an address never probed.
    FromStranger,
    /// A forged reply cut short inside its TCP header.
    Truncated,
    /// IPv4 total length beyond the frame.
    LyingLength,
    /// IHL below 5, or 15 beyond the total length.
    BadIhl,
    /// TCP data offset below 5 or beyond the segment.
    BadDataOffset,
    /// A well-formed forged reply with IPv4 options.
    IpOptions,
    /// A forged reply as a fragment (MF set or an offset).
    Fragment,
    /// A forged reply behind one 802.1Q tag or two (802.1ad + 802.1Q).
    Vlan,
    /// ICMP unreachable (a filtering code) quoting a forged probe.
    IcmpForgedQuote,
    /// ICMP unreachable quoting less than an IP header and 8 bytes.
    IcmpShortQuote,
    /// ICMP unreachable of a code that does not mean filtered.
    IcmpOtherCode,
    /// Reply to a real probe with ack = cookie, cookie + 2 or another near value.
    NearMissAck,
    /// The right ack sent to another of the scanner's ports.
    NearMissPort,
    /// The right ack and port, but from another address or port of the target.
    NearMissSource,
    /// The right ack with RST alone or SYN|RST|ACK.
    NearMissFlags,
    /// ICMP quoting a real probe with one bit of its sequence number or port flipped.
    NearMissIcmp,
    /// A genuine reply of the target sent again at once.
    Duplicate,
    /// A genuine reply of the target sent again after --late-ms.
    Late,
}

/// The kinds built from nothing but the lab's shape.
pub const FORGED: [Kind; 13] = [
    Kind::SynAckWrongAck,
    Kind::RstWrongAck,
    Kind::FromStranger,
    Kind::Truncated,
    Kind::LyingLength,
    Kind::BadIhl,
    Kind::BadDataOffset,
    Kind::IpOptions,
    Kind::Fragment,
    Kind::Vlan,
    Kind::IcmpForgedQuote,
    Kind::IcmpShortQuote,
    Kind::IcmpOtherCode,
];

/// The kinds built from a sniffed probe.
pub const NEAR_MISSES: [Kind; 5] = [
    Kind::NearMissAck,
    Kind::NearMissPort,
    Kind::NearMissSource,
    Kind::NearMissFlags,
    Kind::NearMissIcmp,
];

/// A probe of the scanner, as sniffed on the target veth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The probed address.
    pub target: Ipv4Addr,
    /// The probed port.
    pub port: u16,
    /// The scanner's source port (cookie).
    pub sport: u16,
    /// The probe's sequence number (cookie).
    pub seq: u32,
}

/// Everything fixed about what the injector writes.
#[derive(Clone, Debug)]
pub struct Env {
    /// The scanner's address (destination of everything).
    pub scanner_ip: Ipv4Addr,
    /// The scanner's MAC.
    pub scanner_mac: [u8; 6],
    /// Our (target veth) MAC.
    pub our_mac: [u8; 6],
    /// The scanned block.
    pub prefix: Ipv4Net,
    /// The scanned ports.
    pub ports: Vec<u16>,
    /// The scanner's source ports.
    pub source_ports: SourcePorts,
}

fn lab_block() -> Ipv4Net {
    LAB_BLOCK.parse().unwrap_or_else(|_| unreachable!())
}

impl Env {
    /// A random address of the scanned block.
    fn probed(&self, rng: &mut StdRng) -> Ipv4Addr {
        let first = u32::from(self.prefix.network());
        let size = 1u64 << (32 - self.prefix.prefix_len());
        Ipv4Addr::from(first + rng.random_range(0..size) as u32)
    }

    /// A random lab address outside the scanned block (and outside the veth subnet).
    fn stranger(&self, rng: &mut StdRng) -> Ipv4Addr {
        loop {
            let a = if rng.random_bool(0.5) {
                Ipv4Addr::new(198, 19, rng.random(), rng.random())
            } else {
                Ipv4Addr::new(198, 18, rng.random_range(1..=255), rng.random())
            };
            if !self.prefix.contains(&a) {
                return a;
            }
        }
    }

    fn our_port(&self, rng: &mut StdRng) -> u16 {
        self.source_ports.first + rng.random_range(0..self.source_ports.count)
    }

    fn scanned_port(&self, rng: &mut StdRng) -> u16 {
        self.ports[rng.random_range(0..self.ports.len())]
    }

    /// An Ethernet frame carrying `spec` (with an MSS option), TTL marked.
    fn tcp(&self, spec: &TcpSegment) -> Vec<u8> {
        let spec = TcpSegment {
            ttl: MARK_TTL,
            ..*spec
        };
        tcp_frame_with_options(
            LinkLayer::Ethernet,
            self.our_mac,
            self.scanner_mac,
            &spec,
            &MSS,
        )
    }

    /// A SYN/ACK or RST/ACK from `src` with a random ack to a scanner source port.
    fn forged_spec(&self, src: Ipv4Addr, rng: &mut StdRng) -> TcpSegment {
        TcpSegment {
            src,
            dst: self.scanner_ip,
            sport: self.scanned_port(rng),
            dport: self.our_port(rng),
            seq: rng.random(),
            ack: rng.random(),
            flags: if rng.random_bool(0.5) {
                SYN | ACK
            } else {
                RST | ACK
            },
            ttl: MARK_TTL,
            window: 29200,
        }
    }

    fn forged(&self, rng: &mut StdRng) -> Vec<u8> {
        let src = self.probed(rng);
        self.tcp(&self.forged_spec(src, rng))
    }

    /// An ICMP unreachable to the scanner, TTL marked, quoting `quote`.
    fn icmp(&self, from: Ipv4Addr, code: u8, quote: &[u8]) -> Vec<u8> {
        icmp_unreachable_frame(
            LinkLayer::Ethernet,
            self.our_mac,
            self.scanner_mac,
            from,
            self.scanner_ip,
            code,
            MARK_TTL,
            quote,
        )
    }

    /// The IPv4 packet of a probe the scanner could have sent (SYN with its options).
    fn probe_packet(&self, p: &Probe) -> Vec<u8> {
        let spec = TcpSegment {
            src: self.scanner_ip,
            dst: p.target,
            sport: p.sport,
            dport: p.port,
            seq: p.seq,
            ack: 0,
            flags: SYN,
            ttl: 64,
            window: 64240,
        };
        let opts = [2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
        tcp_frame_with_options(LinkLayer::RawIp, [0; 6], [0; 6], &spec, &opts)
    }

    fn icmp_source(&self, target: Ipv4Addr, rng: &mut StdRng) -> Ipv4Addr {
        if rng.random_bool(0.5) {
            target
        } else {
            TARGET_IP.parse().unwrap_or(target)
        }
    }

    /// One frame of a forged kind (see `FORGED`).
    pub fn forge(&self, kind: Kind, rng: &mut StdRng) -> Vec<u8> {
        match kind {
            Kind::SynAckWrongAck | Kind::RstWrongAck => {
                let src = self.probed(rng);
                let mut s = self.forged_spec(src, rng);
                s.flags = if kind == Kind::SynAckWrongAck {
                    SYN | ACK
                } else {
                    RST | ACK
                };
                self.tcp(&s)
            }
            Kind::FromStranger => {
                let src = self.stranger(rng);
                self.tcp(&self.forged_spec(src, rng))
            }
            Kind::Truncated => {
                let mut f = self.forged(rng);
                // Keep the ports (the scanner's kernel filter reads them), cut the rest.
                let len = rng.random_range(L4 + tcp::field::DST_PORT.end..L4 + tcp::HEADER_LEN);
                f.truncate(len);
                f
            }
            Kind::LyingLength => {
                let mut f = self.forged(rng);
                let total = (f.len() - IP + rng.random_range(1..200)) as u16;
                ipv4::Packet::new_unchecked(&mut f[IP..]).set_total_len(total);
                fix_ip_checksum(&mut f, IP);
                f
            }
            Kind::BadIhl => {
                let mut f = self.forged(rng);
                let port = self.our_port(rng);
                // The kernel filter reads our port at IHL*4 + 2: put one there so the frame
                // reaches the scanner's parser.
                let ihl = [0, 8, 12, 60][rng.random_range(0..4)];
                if ihl == 60 {
                    // IHL 15 (60 bytes) beyond a total length of 44.
                    f.resize(IP + 60 + tcp::HEADER_LEN, 0);
                }
                let mut h = ipv4::Packet::new_unchecked(&mut f[IP..]);
                h.set_version_and_header_len(ihl);
                match ihl {
                    0 => h.set_total_len(port), // port read from the total length
                    8 => h.set_checksum(port),  // from the header checksum
                    // From the low half of the source, 198.19.x.y.
                    12 => h.set_src_addr(Ipv4Addr::from(0xc613_0000 | u32::from(port))),
                    _ => tcp::Packet::new_unchecked(&mut f[IP + 60..]).set_dst_port(port),
                }
                f
            }
            Kind::BadDataOffset => {
                let mut f = self.forged(rng);
                let words: u8 = if rng.random_bool(0.5) {
                    rng.random_range(0..5)
                } else {
                    rng.random_range(7..16) // the segment has 24 bytes
                };
                tcp::Packet::new_unchecked(&mut f[L4..]).set_header_len(usize::from(words) * 4);
                f
            }
            Kind::IpOptions => {
                let f = self.forged(rng);
                let words = rng.random_range(1..=10usize);
                let mut opts = vec![1u8; 4 * words]; // NOPs
                if rng.random_bool(0.5) {
                    opts[..4].copy_from_slice(&[0x94, 4, 0, 0]); // router alert
                }
                if let Some(last) = opts.last_mut() {
                    *last = 0; // EOL
                }
                with_ip_options(&f, IP, &opts)
            }
            Kind::Fragment => {
                let mut f = self.forged(rng);
                let flags_and_offset = match rng.random_range(0..3) {
                    0 => ipv4::FLAG_MF,                                           // offset 0
                    1 => ipv4::FLAG_MF | rng.random_range(0..=ipv4::OFFSET_MASK), // and an offset
                    _ => rng.random_range(1..=ipv4::OFFSET_MASK), // the last fragment
                };
                let mut h = ipv4::Packet::new_unchecked(&mut f[IP..]);
                h.set_ident(rng.random());
                h.set_flags_and_offset(flags_and_offset);
                fix_ip_checksum(&mut f, IP);
                f
            }
            Kind::Vlan => {
                let f = self.forged(rng);
                let vid: u16 = rng.random_range(1..4095);
                // Each tag is a TPID then the TCI, where the EtherType was.
                let mut tags = Vec::new();
                if rng.random_bool(0.3) {
                    tags.extend_from_slice(&ethertype::QINQ.to_be_bytes());
                    tags.extend_from_slice(&10u16.to_be_bytes());
                }
                tags.extend_from_slice(&ethertype::VLAN.to_be_bytes());
                tags.extend_from_slice(&vid.to_be_bytes());
                let at = ethernet::field::ETHERTYPE.start;
                let mut g = f[..at].to_vec();
                g.extend_from_slice(&tags);
                g.extend_from_slice(&f[at..]);
                g
            }
            Kind::IcmpForgedQuote | Kind::IcmpShortQuote | Kind::IcmpOtherCode => {
                let p = Probe {
                    target: self.probed(rng),
                    port: self.scanned_port(rng),
                    sport: self.our_port(rng),
                    seq: rng.random(),
                };
                let q = self.probe_packet(&p);
                let from = self.icmp_source(p.target, rng);
                match kind {
                    Kind::IcmpForgedQuote => {
                        let code = FILTERED_CODES[rng.random_range(0..FILTERED_CODES.len())];
                        let len = if rng.random_bool(0.5) {
                            MIN_QUOTE
                        } else {
                            q.len()
                        };
                        self.icmp(from, code, &q[..len])
                    }
                    Kind::IcmpShortQuote => {
                        let code = FILTERED_CODES[rng.random_range(0..FILTERED_CODES.len())];
                        self.icmp(from, code, &q[..rng.random_range(0..MIN_QUOTE)])
                    }
                    _ => {
                        let code = loop {
                            let c: u8 = rng.random_range(0..16);
                            if !FILTERED_CODES.contains(&c) {
                                break c;
                            }
                        };
                        self.icmp(from, code, &q[..MIN_QUOTE])
                    }
                }
            }
            _ => self.forged(rng),
        }
    }

    /// One near miss of a sniffed probe (see `NEAR_MISSES`): close to its genuine answer,
    /// but wrong in exactly one way the cookie catches.
    pub fn near_miss(&self, kind: Kind, p: &Probe, rng: &mut StdRng) -> Vec<u8> {
        let right = p.seq.wrapping_add(1);
        let mut s = TcpSegment {
            src: p.target,
            dst: self.scanner_ip,
            sport: p.port,
            dport: p.sport,
            seq: rng.random(),
            ack: right,
            flags: if rng.random_bool(0.5) {
                SYN | ACK
            } else {
                RST | ACK
            },
            ttl: MARK_TTL,
            window: 29200,
        };
        match kind {
            Kind::NearMissAck => {
                s.ack = match rng.random_range(0..5) {
                    0 => p.seq,
                    1 => right.wrapping_add(1),
                    2 => right ^ 0x8000_0000,
                    3 => !right,
                    _ => right ^ (1 << rng.random_range(0..32)),
                };
            }
            Kind::NearMissPort => {
                let mut port = p.sport ^ (1 << rng.random_range(0..3));
                if !rng.random_bool(0.7) {
                    port = self.our_port(rng);
                }
                if port == p.sport {
                    port = p.sport ^ 1;
                }
                s.dport = port;
            }
            Kind::NearMissSource => match rng.random_range(0..3) {
                0 => s.src = Ipv4Addr::from(u32::from(p.target) ^ 1),
                1 => s.src = self.stranger(rng),
                _ => s.sport = p.port.wrapping_add(1).max(1),
            },
            Kind::NearMissFlags => {
                s.flags = if rng.random_bool(0.5) {
                    RST
                } else {
                    SYN | RST | ACK
                };
            }
            _ => {
                let mut q = *p;
                if rng.random_bool(0.7) {
                    q.seq ^= 1 << rng.random_range(0..32);
                } else {
                    q.sport ^= 1 << rng.random_range(0..3);
                }
                let packet = self.probe_packet(&q);
                let code = FILTERED_CODES[rng.random_range(0..FILTERED_CODES.len())];
                let from = self.icmp_source(p.target, rng);
                return self.icmp(from, code, &packet[..MIN_QUOTE]);
            }
        }
        self.tcp(&s)
    }
}

/// Recomputes the IPv4 header checksum (of however much header the frame holds, at least
/// the fixed 20 bytes even when the IHL claims less).
fn fix_ip_checksum(f: &mut [u8], ip: usize) {
    let mut h = ipv4::Packet::new_unchecked(&mut f[ip..]);
    let len = h.header_len().max(ipv4::HEADER_LEN);
    h.set_checksum(0);
    let end = (ip + len).min(f.len());
    let c = internet_checksum(&f[ip..end]);
    ipv4::Packet::new_unchecked(&mut f[ip..]).set_checksum(c);
}

/// The frame with `opts` inserted as IPv4 options (IHL, total length, checksum fixed).
fn with_ip_options(f: &[u8], ip: usize, opts: &[u8]) -> Vec<u8> {
    let fixed = ip + ipv4::HEADER_LEN;
    let mut g = f[..fixed].to_vec();
    let mut h = ipv4::Packet::new_unchecked(&mut g[ip..]);
    let total = h.total_len() + opts.len();
    h.set_version_and_header_len(ipv4::HEADER_LEN + opts.len());
    h.set_total_len(total as u16);
    g.extend_from_slice(opts);
    g.extend_from_slice(&f[fixed..]);
    fix_ip_checksum(&mut g, ip);
    g
}

/// What a sniffed frame is to the injector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// A probe of the scanner.
    Probe(Probe),
    /// A genuine reply of the target to the scanner (TTL re-marked, ready to resend).
    Reply(Vec<u8>),
    /// Anything else.
    Other,
}

/// Sorts a frame seen on the target veth (untagged Ethernet, IPv4 without checks beyond
/// bounds: this only picks what to imitate).
pub fn sniff(frame: &[u8], scanner_ip: Ipv4Addr) -> Sniffed {
    let Ok(eth) = ethernet::Frame::new_checked(frame) else {
        return Sniffed::Other;
    };
    if eth.ethertype() != ethertype::IPV4 {
        return Sniffed::Other;
    }
    // Header checks only: the total length is not trusted, only what is there is read.
    let Ok(ip) = ipv4::Packet::new_quoted(eth.payload()) else {
        return Sniffed::Other;
    };
    let l4 = ip.quoted_payload();
    // Up to the TCP flags (or the ICMP type).
    if ip.ttl() == MARK_TTL || l4.len() < tcp::field::FLAGS + 1 {
        return Sniffed::Other;
    }
    let (proto, src, dst) = (ip.protocol(), ip.src_addr(), ip.dst_addr());
    let segment = tcp::Packet::new_unchecked(l4);
    if proto == protocol::TCP && src == scanner_ip {
        if segment.flags() & (SYN | RST | ACK) == SYN {
            return Sniffed::Probe(Probe {
                target: dst,
                port: segment.dst_port(),
                sport: segment.src_port(),
                seq: segment.seq_number(),
            });
        }
        return Sniffed::Other;
    }
    let answers = match proto {
        protocol::TCP => segment.flags() & (SYN | RST) != 0,
        protocol::ICMP => icmp::Packet::new_unchecked(l4).msg_type() == icmp::DEST_UNREACHABLE,
        _ => false,
    };
    if dst != scanner_ip || !lab_block().contains(&src) || !answers {
        return Sniffed::Other;
    }
    let mut f = frame.to_vec();
    ipv4::Packet::new_unchecked(&mut f[IP..]).set_ttl(MARK_TTL);
    fix_ip_checksum(&mut f, IP);
    Sniffed::Reply(f)
}

/// What the sniffer hands the sender.
#[derive(Default)]
struct Shared {
    probes: VecDeque<Probe>,
    duplicates: VecDeque<Vec<u8>>,
    late: VecDeque<(Instant, Vec<u8>)>,
}

fn start_sniffer(
    iface: &str,
    scanner_ip: Ipv4Addr,
    late: Duration,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let nic = datalink::interfaces()
        .into_iter()
        .find(|i| i.name == iface)
        .ok_or_else(|| format!("interface {iface} not found for sniffing"))?;
    let config = Config {
        read_timeout: Some(Duration::from_millis(50)),
        read_buffer_size: 65536,
        ..Config::default()
    };
    let mut rx = match datalink::channel(&nic, config) {
        Ok(Channel::Ethernet(_, rx)) => rx,
        Ok(_) => return Err(format!("{iface}: not an Ethernet channel")),
        Err(e) => return Err(format!("cannot sniff on {iface}: {e}")),
    };
    Ok(std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok(frame) = rx.next() else { continue };
            let got = sniff(frame, scanner_ip);
            let Ok(mut s) = shared.lock() else { return };
            match got {
                Sniffed::Probe(p) => {
                    if s.probes.len() >= MAX_QUEUE {
                        s.probes.pop_front();
                    }
                    s.probes.push_back(p);
                }
                Sniffed::Reply(f) => {
                    if s.late.len() < MAX_QUEUE {
                        s.late.push_back((Instant::now() + late, f.clone()));
                    }
                    if s.duplicates.len() < MAX_QUEUE {
                        s.duplicates.push_back(f);
                    }
                }
                Sniffed::Other => {}
            }
        }
    }))
}

/// Counts of what was sent.
#[derive(Default, Debug)]
struct Tally {
    sent: BTreeMap<Kind, u64>,
    errors: u64,
}

impl Tally {
    fn json(&self) -> String {
        let kinds: serde_json::Map<String, serde_json::Value> = self
            .sent
            .iter()
            .map(|(k, n)| (format!("{k:?}"), serde_json::json!(n)))
            .collect();
        serde_json::json!({
            "sent": self.sent.values().sum::<u64>(),
            "errors": self.errors,
            "kinds": kinds,
        })
        .to_string()
    }
}

fn send(tx: &mut PacketTransmit, f: &[u8], kind: Kind, tally: &mut Tally) {
    match tx.send_frames(f, f.len()) {
        Ok(1) => *tally.sent.entry(kind).or_default() += 1,
        _ => tally.errors += 1,
    }
}

/// `synscan-lab inject`; returns the exit code.
pub fn run(a: &InjectArgs) -> i32 {
    match inject(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("synscan-lab inject: {e}");
            1
        }
    }
}

fn inject(a: &InjectArgs) -> Result<(), String> {
    cli::validate_name(&a.name)?;
    let names = Names::new(&a.name);
    let prefix = truth::parse_prefix(&a.prefix)?;
    let ports = cli::parse_ports(&a.ports)?;
    if a.pps == 0 || a.pps > 100_000 {
        return Err(format!("--pps {} out of range: use 1-100000", a.pps));
    }
    let scanner_ip: Ipv4Addr = SCANNER_IP
        .parse()
        .map_err(|_| "internal: bad scanner address".to_string())?;
    if !lab_block().contains(&scanner_ip) {
        return Err(format!("{scanner_ip} is outside {LAB_BLOCK}"));
    }
    // The target veth exists only inside the lab's target namespace: this fails anywhere else.
    let route = synscan::net::route_to(scanner_ip, Some(&names.target_if), None).map_err(|e| {
        format!(
            "{e}; run me inside the lab's target namespace: ip netns exec {} synscan-lab inject --name {}",
            names.target_ns, a.name
        )
    })?;
    if route.iface != names.target_if || route.next_hop != scanner_ip {
        return Err(format!(
            "the scanner {scanner_ip} is not on-link through {}",
            names.target_if
        ));
    }
    let scanner_mac = synscan::net::resolve_next_hop_mac(&route, Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    let mut tx = PacketTransmit::open(&route).map_err(|e| e.to_string())?;
    let env = Env {
        scanner_ip,
        scanner_mac,
        our_mac: route.source_mac,
        prefix,
        ports,
        source_ports: SourcePorts::DEFAULT,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(Shared::default()));
    let sniffer = if a.no_sniff {
        None
    } else {
        Some(start_sniffer(
            &names.target_if,
            scanner_ip,
            Duration::from_millis(a.late_ms),
            Arc::clone(&shared),
            Arc::clone(&stop),
        )?)
    };
    if a.stdin {
        let eof = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
            eof.store(true, Ordering::Relaxed);
        });
    }
    let mut out = std::io::stdout();
    writeln!(out, "ready")
        .and_then(|_| out.flush())
        .map_err(|e| format!("cannot report readiness: {e}"))?;

    let mut rng = match a.seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    };
    let mut tally = Tally::default();
    let began = Instant::now();
    let deadline = began + Duration::from_secs_f64(a.seconds.max(0.0));
    let mut budget = 0.0f64;
    let mut last = began;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        let now = Instant::now();
        budget = (budget + now.duration_since(last).as_secs_f64() * a.pps as f64).min(1000.0);
        last = now;
        // Genuine replies again: every one at once, and each again when it falls due.
        let (dups, late, probes) = {
            let Ok(mut s) = shared.lock() else { break };
            let dups: Vec<Vec<u8>> = s.duplicates.drain(..).collect();
            let mut late = Vec::new();
            while s.late.front().is_some_and(|(due, _)| *due <= now) {
                if let Some((_, f)) = s.late.pop_front() {
                    late.push(f);
                }
            }
            let probes: Vec<Probe> = s.probes.iter().rev().take(64).copied().collect();
            (dups, late, probes)
        };
        for f in &dups {
            send(&mut tx, f, Kind::Duplicate, &mut tally);
        }
        for f in &late {
            send(&mut tx, f, Kind::Late, &mut tally);
        }
        while budget >= 1.0 {
            budget -= 1.0;
            let (kind, f) = if !probes.is_empty() && rng.random_bool(0.4) {
                let p = probes[rng.random_range(0..probes.len())];
                let kind = NEAR_MISSES[rng.random_range(0..NEAR_MISSES.len())];
                (kind, env.near_miss(kind, &p, &mut rng))
            } else {
                let kind = FORGED[rng.random_range(0..FORGED.len())];
                (kind, env.forge(kind, &mut rng))
            };
            send(&mut tx, &f, kind, &mut tally);
        }
        if tally.errors > 1000 && tally.sent.is_empty() {
            return Err("the kernel refuses every frame: is the lab up?".into());
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = sniffer {
        let _ = h.join();
    }
    writeln!(out, "{}", tally.json())
        .and_then(|_| out.flush())
        .map_err(|e| format!("cannot print the tally: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use synscan::probe::{ProbeCrafter, ProbeParams};
    use synscan::recv::{classify, Rejected};

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    fn env() -> Env {
        Env {
            scanner_ip: US,
            scanner_mac: [2, 0, 0, 0, 0, 1],
            our_mac: [2, 0, 0, 0, 0, 2],
            prefix: "198.19.4.0/24".parse().unwrap(),
            ports: vec![22, 80, 443],
            source_ports: SourcePorts::DEFAULT,
        }
    }

    fn crafter(key: [u64; 2]) -> ProbeCrafter {
        ProbeCrafter::new(ProbeParams {
            link: LinkLayer::Ethernet,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: US,
            source_ports: SourcePorts::DEFAULT,
            key,
        })
    }

    fn expected(kind: Kind) -> Rejected {
        match kind {
            Kind::Truncated
            | Kind::LyingLength
            | Kind::BadIhl
            | Kind::BadDataOffset
            | Kind::Fragment
            | Kind::IcmpShortQuote => Rejected::Malformed,
            Kind::IcmpOtherCode => Rejected::Uninteresting,
            _ => Rejected::NotOurs,
        }
    }

    /// Every address in a frame lies in the lab block (TCP, ICMP and quoted).
    fn addresses_in_lab(f: &[u8]) {
        let (ty, bytes) = ethernet::untag(f).unwrap();
        assert_eq!(ty, ethertype::IPV4);
        // Read the fixed header whatever the IHL says (some frames lie about it).
        let ip = ipv4::Packet::new_unchecked(bytes);
        assert!(lab_block().contains(&ip.src_addr()), "{}", ip.src_addr());
        assert_eq!(ip.dst_addr(), US);
        let quote = &bytes[ipv4::HEADER_LEN..];
        if ip.protocol() == protocol::ICMP && quote.len() >= icmp::HEADER_LEN + ipv4::HEADER_LEN {
            let q = ipv4::Packet::new_unchecked(&quote[icmp::HEADER_LEN..]);
            assert!(lab_block().contains(&q.src_addr()));
            assert!(lab_block().contains(&q.dst_addr()));
        }
    }

    #[test]
    fn every_forged_kind_is_rejected_as_expected() {
        let e = env();
        let mut rng = StdRng::seed_from_u64(1);
        for kind in FORGED {
            for i in 0..500u64 {
                let c = crafter([i, 42]);
                let f = e.forge(kind, &mut rng);
                addresses_in_lab(&f);
                let r = classify(&f, LinkLayer::Ethernet, &c, Instant::now());
                assert_eq!(r, Err(expected(kind)), "{kind:?} {f:02x?}");
            }
        }
    }

    #[test]
    fn near_misses_of_real_probes_are_not_ours() {
        let e = env();
        let mut rng = StdRng::seed_from_u64(2);
        for i in 0..500u64 {
            let c = crafter([7, i]);
            let target = e.probed(&mut rng);
            let port = e.scanned_port(&mut rng);
            // The probe as the scanner sent it, sniffed back.
            let mut syn = vec![0u8; c.frame_len()];
            c.craft(&mut syn, target, port, 0);
            let Sniffed::Probe(p) = sniff(&syn, US) else {
                panic!("probe not recognised")
            };
            assert_eq!(
                p,
                Probe {
                    target,
                    port,
                    sport: c.source_port(target, port),
                    seq: c.sequence(target, port)
                }
            );
            // The genuine answer is accepted: the near misses are one step from it.
            let genuine = e.tcp(&TcpSegment {
                src: target,
                dst: US,
                sport: port,
                dport: p.sport,
                seq: 1,
                ack: p.seq.wrapping_add(1),
                flags: SYN | ACK,
                ttl: 64,
                window: 1,
            });
            assert!(classify(&genuine, LinkLayer::Ethernet, &c, Instant::now()).is_ok());
            for kind in NEAR_MISSES {
                let f = e.near_miss(kind, &p, &mut rng);
                addresses_in_lab(&f);
                let r = classify(&f, LinkLayer::Ethernet, &c, Instant::now());
                assert_eq!(r, Err(Rejected::NotOurs), "{kind:?} {f:02x?}");
            }
        }
    }

    #[test]
    fn sniffer_replays_replies_only() {
        let e = env();
        let reply = |src: Ipv4Addr, flags: u8, ttl: u8| {
            let mut f = e.tcp(&TcpSegment {
                src,
                dst: US,
                sport: 80,
                dport: 61000,
                seq: 1,
                ack: 2,
                flags,
                ttl: 64,
                window: 1,
            });
            ipv4::Packet::new_unchecked(&mut f[IP..]).set_ttl(ttl);
            fix_ip_checksum(&mut f, IP);
            f
        };
        let t = Ipv4Addr::new(198, 19, 4, 1);
        let genuine = reply(t, SYN | ACK, 64);
        match sniff(&genuine, US) {
            Sniffed::Reply(f) => {
                let ip = ipv4::Packet::new_checked(&f[IP..]).unwrap();
                assert_eq!(ip.ttl(), MARK_TTL);
                assert!(ip.verify_checksum());
                // Only the TTL and the checksum changed.
                let ttl = IP + ipv4::field::TTL;
                assert_eq!(f[..ttl], genuine[..ttl]);
                assert_eq!(f[L4..], genuine[L4..]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            sniff(&reply(t, RST | ACK, 64), US),
            Sniffed::Reply(reply(t, RST | ACK, MARK_TTL))
        );
        // Our own frames, bare ACKs, and anything from outside the lab are left alone.
        assert_eq!(sniff(&reply(t, SYN | ACK, MARK_TTL), US), Sniffed::Other);
        assert_eq!(sniff(&reply(t, ACK, 64), US), Sniffed::Other);
        assert_eq!(
            sniff(&reply(Ipv4Addr::new(10, 0, 0, 1), SYN | ACK, 64), US),
            Sniffed::Other
        );
        assert_eq!(sniff(&genuine[..40], US), Sniffed::Other);
        assert_eq!(sniff(&[], US), Sniffed::Other);
    }
}
