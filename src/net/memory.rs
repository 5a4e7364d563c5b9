//! In-memory network with a scripted responder, so the engine is tested without root: SYNs
//! sent to `MemoryTransmit` are answered (or not) as the `Responder` says, and the replies come
//! back through `MemoryCapture` as real frames built by `wire::build`.

use super::{Capture, CaptureStats, Frames, LinkLayer, Transmit};
use crate::wire::build::{
    icmp_unreachable_frame, icmpv6_unreachable_frame, tcp6_frame_with_options, tcp_frame,
    tcp_frame_with_options,
};
use crate::wire::tcp_flags::{ACK, RST, SYN};
use crate::wire::{parse_ip_reply, IpReply, Reply, TcpSegment};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Frames one `poll` hands out at most, like a ring's batch.
const MAX_POLL_BATCH: usize = 4096;
/// MSS option a real SYN/ACK carries.
const SYN_ACK_OPTIONS: [u8; 4] = [0x02, 0x04, 0x05, 0xb4];

/// How a (host, port) answers a SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// SYN/ACK.
    Open,
    /// RST/ACK.
    Closed,
    /// No answer (filtered).
    Drop,
    /// ICMP destination unreachable with this code (e.g. 3 port, 1 host, 13 prohibited);
    /// to an IPv6 target, ICMPv6 with this code (e.g. 1 prohibited, 3 address, 4 port).
    Unreachable(u8),
}

/// Script of the simulated targets.
#[derive(Clone, Debug)]
pub struct Responder {
    pairs: HashMap<(IpAddr, u16), Behaviour>,
    hosts: HashMap<IpAddr, Behaviour>,
    default: Behaviour,
    loss_percent: u8,
    seed: u64,
    duplicate: bool,
    answer_from_try: u32,
    lose_first_replies: u32,
    reply_ttl: u8,
    icmp_from: Option<Ipv4Addr>,
}

/// Shortest interval between two answers to a repeated SYN of a pending connection request
/// (Linux's net.ipv4.tcp_invalid_ratelimit default).
pub const REPEATED_SYN_INTERVAL: Duration = Duration::from_millis(500);

/// A connection request as the target keeps it: (our address, our port, its address, its
/// port).
type FourTuple = (IpAddr, u16, IpAddr, u16);

impl Default for Responder {
    fn default() -> Self {
        Self::new()
    }
}

impl Responder {
    /// Nobody answers, no loss, seed 0, one reply per answered probe from the first try.
    pub fn new() -> Self {
        Responder {
            pairs: HashMap::new(),
            hosts: HashMap::new(),
            default: Behaviour::Drop,
            loss_percent: 0,
            seed: 0,
            duplicate: false,
            answer_from_try: 1,
            lose_first_replies: 0,
            reply_ttl: 64,
            icmp_from: None,
        }
    }
    /// Sets how (ip, port) answers.
    pub fn behaviour(mut self, ip: impl Into<IpAddr>, port: u16, b: Behaviour) -> Self {
        self.pairs.insert((ip.into(), port), b);
        self
    }
    /// (ip, port) answers SYN/ACK.
    pub fn open(self, ip: impl Into<IpAddr>, port: u16) -> Self {
        self.behaviour(ip, port, Behaviour::Open)
    }
    /// (ip, port) answers RST/ACK.
    pub fn closed(self, ip: impl Into<IpAddr>, port: u16) -> Self {
        self.behaviour(ip, port, Behaviour::Closed)
    }
    /// (ip, port) never answers.
    pub fn dropped(self, ip: impl Into<IpAddr>, port: u16) -> Self {
        self.behaviour(ip, port, Behaviour::Drop)
    }
    /// (ip, port) answers ICMP unreachable with `code`.
    pub fn unreachable(self, ip: impl Into<IpAddr>, port: u16, code: u8) -> Self {
        self.behaviour(ip, port, Behaviour::Unreachable(code))
    }
    /// Every port of `ip` not listed by pair answers `b` (e.g. a host whose ports are closed).
    pub fn host(mut self, ip: impl Into<IpAddr>, b: Behaviour) -> Self {
        self.hosts.insert(ip.into(), b);
        self
    }
    /// Behaviour of pairs and hosts not listed (initially `Drop`).
    pub fn default_behaviour(mut self, b: Behaviour) -> Self {
        self.default = b;
        self
    }
    /// Drops this percentage (0-100) of probes before they reach the target.
    pub fn loss_percent(mut self, percent: u8) -> Self {
        self.loss_percent = percent.min(100);
        self
    }
    /// Seed of the loss RNG (and of the targets' initial sequence numbers).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sends every reply twice (as retransmitting stacks and some middleboxes do).
    pub fn duplicate_replies(mut self, on: bool) -> Self {
        self.duplicate = on;
        self
    }
    /// Answers a pair only from its `n`th probe on (n = 1: always); earlier tries are dropped.
    pub fn answer_from_try(mut self, n: u32) -> Self {
        self.answer_from_try = n.max(1);
        self
    }
    /// Loses the first `n` SYN/ACKs to each pair on their way back. The target then holds
    /// the request pending, as Linux does: a repeat of its SYN (same 4-tuple) is answered
    /// at most once per [`REPEATED_SYN_INTERVAL`].
    pub fn lose_first_replies(mut self, n: u32) -> Self {
        self.lose_first_replies = n;
        self
    }
    /// IPv4 TTL of replies (default 64).
    pub fn reply_ttl(mut self, ttl: u8) -> Self {
        self.reply_ttl = ttl;
        self
    }
    /// Sender of IPv4 ICMP errors (default: the target itself, as for port unreachable;
    /// ICMPv6 errors always come from the target).
    pub fn icmp_from(mut self, router: Ipv4Addr) -> Self {
        self.icmp_from = Some(router);
        self
    }
    /// How (ip, port) answers: the pair's entry, else the host's, else the default.
    pub fn behaviour_of(&self, ip: impl Into<IpAddr>, port: u16) -> Behaviour {
        let ip = ip.into();
        self.pairs
            .get(&(ip, port))
            .or_else(|| self.hosts.get(&ip))
            .copied()
            .unwrap_or(self.default)
    }
}

/// Counters shared between the two ends and the test.
#[derive(Debug, Default)]
struct Shared {
    sent: AtomicU64,
    syns: AtomicU64,
    lost: AtomicU64,
    replies: AtomicU64,
    /// Repeated SYNs of pending requests left unanswered by the target's rate limit.
    repeats_unanswered: AtomicU64,
    tries: Mutex<HashMap<(IpAddr, u16), u32>>,
    /// SYN/ACKs sent to each pair (lost or not).
    syn_acks: Mutex<HashMap<(IpAddr, u16), u32>>,
    /// Requests whose SYN/ACK was lost, with when a repeated SYN was last answered.
    pending: Mutex<HashMap<FourTuple, Option<Instant>>>,
}

/// A cloneable view of the network's counters, usable after the ends moved into threads.
#[derive(Clone, Debug)]
pub struct MemoryCounters(Arc<Shared>);

impl MemoryCounters {
    /// Frames handed to `send_frames` (whatever they were).
    pub fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }
    /// SYNs among them.
    pub fn syns(&self) -> u64 {
        self.0.syns.load(Ordering::Relaxed)
    }
    /// SYNs dropped by the simulated loss.
    pub fn lost(&self) -> u64 {
        self.0.lost.load(Ordering::Relaxed)
    }
    /// Reply frames queued to the capture (duplicates included).
    pub fn replies(&self) -> u64 {
        self.0.replies.load(Ordering::Relaxed)
    }
    /// Repeated SYNs of pending requests the target left unanswered (its rate limit).
    pub fn repeats_unanswered(&self) -> u64 {
        self.0.repeats_unanswered.load(Ordering::Relaxed)
    }
    /// SYNs sent to (ip, port) so far.
    pub fn tries(&self, ip: impl Into<IpAddr>, port: u16) -> u32 {
        let tries = self.0.tries.lock().unwrap_or_else(PoisonError::into_inner);
        tries.get(&(ip.into(), port)).copied().unwrap_or(0)
    }
}

/// The sending end: answers each SYN at once by queueing the reply frames.
#[derive(Debug)]
pub struct MemoryTransmit {
    link: LinkLayer,
    responder: Responder,
    rng: StdRng,
    tx: Sender<Vec<u8>>,
    shared: Arc<Shared>,
}

impl MemoryTransmit {
    /// Another sending end into the same network (for several sender threads); its loss
    /// draws come from `seed`.
    pub fn another(&self, seed: u64) -> MemoryTransmit {
        MemoryTransmit {
            link: self.link,
            responder: self.responder.clone(),
            rng: StdRng::seed_from_u64(seed),
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The receiving end: hands out the queued replies.
#[derive(Debug)]
pub struct MemoryCapture {
    link: LinkLayer,
    rx: Receiver<Vec<u8>>,
    stats: CaptureStats,
    /// Drop one frame in this many, as a full kernel ring would (0: none).
    drop_one_in: u64,
    arrived: u64,
}

/// A connected pair of ends whose frames start with `link`.
pub fn memory_network(responder: Responder, link: LinkLayer) -> (MemoryTransmit, MemoryCapture) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let rng = StdRng::seed_from_u64(responder.seed);
    let transmit = MemoryTransmit {
        link,
        responder,
        rng,
        tx,
        shared: Arc::default(),
    };
    let capture = MemoryCapture {
        link,
        rx,
        stats: CaptureStats::default(),
        drop_one_in: 0,
        arrived: 0,
    };
    (transmit, capture)
}

impl MemoryTransmit {
    /// Frames sent so far.
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }
    /// A handle on the counters that stays valid after this end moves into a thread.
    pub fn counters(&self) -> MemoryCounters {
        MemoryCounters(Arc::clone(&self.shared))
    }

    /// Answers one frame as the responder says.
    fn answer(&mut self, frame: &[u8]) {
        let syn = match parse_ip_reply(frame, self.link).map(IpReply::into_ip) {
            Ok(Reply::Tcp(t)) if t.flags & (SYN | ACK | RST) == SYN => t,
            _ => return, // not a SYN: a real network would just carry it
        };
        self.shared.syns.fetch_add(1, Ordering::Relaxed);
        let try_n = {
            let mut tries = self
                .shared
                .tries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let n = tries.entry((syn.dst, syn.dport)).or_insert(0);
            *n += 1;
            *n
        };
        if self.responder.loss_percent > 0
            && self.rng.random_range(0..100u8) < self.responder.loss_percent
        {
            self.shared.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if try_n < self.responder.answer_from_try {
            return;
        }
        let reply = match self.responder.behaviour_of(syn.dst, syn.dport) {
            Behaviour::Drop => return,
            Behaviour::Open => {
                if !self.syn_ack_reaches_us(&syn) {
                    return;
                }
                self.tcp_answer(frame, &syn, SYN | ACK)
            }
            Behaviour::Closed => self.tcp_answer(frame, &syn, RST | ACK),
            Behaviour::Unreachable(code) => self.icmp_answer(frame, &syn, code),
        };
        let copies = if self.responder.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            if self.tx.send(reply.clone()).is_ok() {
                self.shared.replies.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Plays a Linux target's connection requests for an open port: whether the SYN/ACK
    /// answering `syn` is sent and reaches us. A request whose SYN/ACK was lost stays
    /// pending; a repeat of its SYN is answered at most once per [`REPEATED_SYN_INTERVAL`].
    /// One that reaches us is closed (our kernel answers it with a RST).
    fn syn_ack_reaches_us(&self, syn: &TcpSegment<IpAddr>) -> bool {
        let key = (syn.src, syn.sport, syn.dst, syn.dport);
        let now = Instant::now();
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = pending.get_mut(&key) {
            if last.is_some_and(|t| now.saturating_duration_since(t) < REPEATED_SYN_INTERVAL) {
                self.shared
                    .repeats_unanswered
                    .fetch_add(1, Ordering::Relaxed);
                return false;
            }
            *last = Some(now);
        }
        let sent = {
            let mut syn_acks = self
                .shared
                .syn_acks
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let n = syn_acks.entry((syn.dst, syn.dport)).or_insert(0);
            *n += 1;
            *n
        };
        if sent <= self.responder.lose_first_replies {
            pending.entry(key).or_insert(None);
            return false;
        }
        pending.remove(&key);
        true
    }

    /// MACs of a reply: the probe's swapped.
    fn reply_macs(&self, frame: &[u8]) -> ([u8; 6], [u8; 6]) {
        let mut src = [0u8; 6];
        let mut dst = [0u8; 6];
        if self.link == LinkLayer::Ethernet && frame.len() >= 12 {
            src.copy_from_slice(&frame[0..6]); // the probe's destination answers
            dst.copy_from_slice(&frame[6..12]);
        }
        (src, dst)
    }

    fn tcp_answer(&mut self, frame: &[u8], syn: &TcpSegment<IpAddr>, flags: u8) -> Vec<u8> {
        let (src_mac, dst_mac) = self.reply_macs(frame);
        let open = flags & SYN != 0;
        let seq = if open { self.rng.random() } else { 0 };
        let window = if open { 65535 } else { 0 };
        let options: &[u8] = if open { &SYN_ACK_OPTIONS } else { &[] };
        let ttl = self.responder.reply_ttl;
        let (sport, dport, ack) = (syn.dport, syn.sport, syn.seq.wrapping_add(1));
        match (syn.src, syn.dst) {
            (IpAddr::V6(us), IpAddr::V6(them)) => {
                let spec = TcpSegment {
                    src: them,
                    dst: us,
                    sport,
                    dport,
                    seq,
                    ack,
                    flags,
                    ttl,
                    window,
                };
                tcp6_frame_with_options(self.link, src_mac, dst_mac, &spec, options)
            }
            (us, them) => {
                let spec = TcpSegment {
                    src: v4(them),
                    dst: v4(us),
                    sport,
                    dport,
                    seq,
                    ack,
                    flags,
                    ttl,
                    window,
                };
                if open {
                    tcp_frame_with_options(self.link, src_mac, dst_mac, &spec, options)
                } else {
                    tcp_frame(self.link, src_mac, dst_mac, &spec)
                }
            }
        }
    }

    fn icmp_answer(&self, frame: &[u8], syn: &TcpSegment<IpAddr>, code: u8) -> Vec<u8> {
        let (src_mac, dst_mac) = self.reply_macs(frame);
        let ip = frame.get(self.link.header_len()..).unwrap_or_default();
        let ttl = self.responder.reply_ttl;
        match (syn.src, syn.dst) {
            // Like Linux, ICMPv6 quotes the whole probe.
            (IpAddr::V6(us), IpAddr::V6(them)) => {
                icmpv6_unreachable_frame(self.link, src_mac, dst_mac, them, us, code, ttl, ip)
            }
            (us, them) => {
                // parse_reply accepted the frame, so the IP header and 8 TCP bytes are present.
                let ihl = ip.first().map_or(20, |b| usize::from(b & 0x0f) * 4);
                let quote = ip.get(..ihl + 8).unwrap_or(ip);
                let from = self.responder.icmp_from.unwrap_or(v4(them));
                icmp_unreachable_frame(self.link, src_mac, dst_mac, from, v4(us), code, ttl, quote)
            }
        }
    }
}

/// The IPv4 address of a parsed IPv4 probe (its addresses are never IPv6).
fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

impl Transmit for MemoryTransmit {
    fn send_batch(&mut self, frames: Frames<'_>) -> io::Result<usize> {
        if frames.slot() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame length 0: pass the crafter's frame_len",
            ));
        }
        let n = frames.count();
        for i in 0..n {
            self.shared.sent.fetch_add(1, Ordering::Relaxed);
            self.answer(frames.get(i));
        }
        Ok(n)
    }

    fn link(&self) -> LinkLayer {
        self.link
    }
}

impl MemoryCapture {
    /// Drops every `n`th frame and counts it in the stats, like a kernel ring that overflows.
    pub fn drop_one_in(mut self, n: u64) -> Self {
        self.drop_one_in = n;
        self
    }

    /// False (and counted as a drop) for the frames an overflowing ring would lose.
    fn keeps_next(&mut self) -> bool {
        self.arrived += 1;
        if self.drop_one_in > 0 && self.arrived.is_multiple_of(self.drop_one_in) {
            self.stats.dropped += 1;
            return false;
        }
        true
    }
}

impl Capture for MemoryCapture {
    fn poll(&mut self, timeout: Duration, on_frame: &mut dyn FnMut(&[u8])) -> io::Result<usize> {
        let first = match self.rx.recv_timeout(timeout) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) => return Ok(0),
            Err(RecvTimeoutError::Disconnected) => {
                // Sender gone: behave like a quiet wire instead of making the caller spin.
                std::thread::sleep(timeout);
                return Ok(0);
            }
        };
        let mut n = 0;
        if self.keeps_next() {
            on_frame(&first);
            n += 1;
        }
        while n < MAX_POLL_BATCH {
            match self.rx.try_recv() {
                Ok(f) => {
                    if self.keeps_next() {
                        on_frame(&f);
                        n += 1;
                    }
                }
                Err(_) => break,
            }
        }
        self.stats.received += n as u64;
        Ok(n)
    }

    fn link(&self) -> LinkLayer {
        self.link
    }

    fn stats(&mut self) -> CaptureStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{ProbeCrafter, ProbeParams, SourcePorts};
    use crate::wire::parse_reply;
    use std::time::Instant;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const T1: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
    const T2: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
    const SHORT: Duration = Duration::from_millis(20);

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

    fn send(tx: &mut MemoryTransmit, c: &ProbeCrafter, probes: &[(Ipv4Addr, u16)]) {
        let len = c.frame_len();
        let mut buf = vec![0u8; len * probes.len()];
        for (chunk, &(ip, port)) in buf.chunks_exact_mut(len).zip(probes) {
            c.craft(chunk, ip, port, 0);
        }
        assert_eq!(tx.send_frames(&buf, len).unwrap(), probes.len());
    }

    fn drain(rx: &mut MemoryCapture) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        rx.poll(SHORT, &mut |f| out.push(f.to_vec())).unwrap();
        out
    }

    fn parsed(rx: &mut MemoryCapture, link: LinkLayer) -> Vec<Reply> {
        drain(rx)
            .iter()
            .map(|f| parse_reply(f, link).unwrap())
            .collect()
    }

    #[test]
    fn open_closed_unreachable_and_dropped() {
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let c = crafter(link);
            let r = Responder::new()
                .open(T1, 22)
                .closed(T1, 23)
                .unreachable(T1, 24, 3)
                .dropped(T1, 25)
                .reply_ttl(57);
            let (mut tx, mut rx) = memory_network(r, link);
            send(
                &mut tx,
                &c,
                &[(T1, 22), (T1, 23), (T1, 24), (T1, 25), (T2, 80)],
            );
            let replies = parsed(&mut rx, link);
            assert_eq!(replies.len(), 3);
            match replies[0] {
                Reply::Tcp(t) => {
                    assert_eq!(
                        (t.src, t.dst, t.sport, t.flags, t.ttl),
                        (T1, US, 22, SYN | ACK, 57)
                    );
                    assert_eq!(t.dport, c.source_port(T1, 22));
                    assert_eq!(t.ack, c.sequence(T1, 22).wrapping_add(1));
                    assert!(c.validate_tcp(&t));
                }
                other => panic!("{other:?}"),
            }
            match replies[1] {
                Reply::Tcp(t) => {
                    assert_eq!((t.sport, t.flags, t.seq), (23, RST | ACK, 0));
                    assert!(c.validate_tcp(&t));
                }
                other => panic!("{other:?}"),
            }
            match replies[2] {
                Reply::Unreachable(u) => {
                    assert_eq!((u.from, u.code, u.ttl), (T1, 3, 57));
                    assert_eq!((u.quoted.dst, u.quoted.dport), (T1, 24));
                    assert!(c.validate_quote(&u.quoted));
                }
                other => panic!("{other:?}"),
            }
            let counters = tx.counters();
            assert_eq!((tx.sent(), counters.syns(), counters.replies()), (5, 5, 3));
            assert_eq!(
                rx.stats(),
                CaptureStats {
                    received: 3,
                    dropped: 0
                }
            );
        }
    }

    #[test]
    fn a_batch_mixing_families_is_answered_per_family() {
        use crate::probe::Ipv6Source;
        use crate::wire::icmpv6;
        use std::net::Ipv6Addr;
        let us6: Ipv6Addr = "2001:2:0:18::1".parse().unwrap();
        let (a, b): (Ipv6Addr, Ipv6Addr) = (
            "2001:2:0:19::1".parse().unwrap(),
            "2001:2:0:19::2".parse().unwrap(),
        );
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let r = Responder::new()
                .open(T1, 22)
                .open(a, 22)
                .closed(b, 80)
                .unreachable(b, 443, icmpv6::unreachable::ADMIN_PROHIBITED);
            let (mut tx, mut rx) = memory_network(r, link);
            let c = crafter(link).with_ipv6(Ipv6Source {
                src_ip: us6,
                dst_mac: [2, 0, 0, 0, 0, 6],
            });
            let probes: [(IpAddr, u16); 4] = [
                (a.into(), 22),
                (T1.into(), 22),
                (b.into(), 80),
                (b.into(), 443),
            ];
            let slot = c.max_frame_len();
            let mut buf = vec![0u8; slot * probes.len()];
            let lens: Vec<u16> = buf
                .chunks_exact_mut(slot)
                .zip(probes)
                .map(|(f, (ip, port))| c.craft_ip(f, ip, port, 0) as u16)
                .collect();
            let h = link.header_len() as u16;
            assert_eq!(lens, vec![h + 72, h + 52, h + 72, h + 72]);
            let frames = Frames::sized(&buf, slot, &lens);
            assert_eq!(tx.send_batch(frames).unwrap(), 4);
            assert_eq!((tx.counters().syns(), tx.counters().tries(b, 443)), (4, 1));
            let got: Vec<Reply<IpAddr>> = drain(&mut rx)
                .iter()
                .map(|f| parse_ip_reply(f, link).unwrap().into_ip())
                .collect();
            assert_eq!(got.len(), 4);
            let answer = |i: usize| match got[i] {
                Reply::Tcp(t) => (t.src, t.sport, t.flags, t.ack),
                Reply::Unreachable(u) => (u.quoted.dst, u.quoted.dport, u.code, u.quoted.seq),
            };
            let seq6 = |ip, port| c.sequence6(ip, port).unwrap();
            assert_eq!(answer(0), (a.into(), 22, SYN | ACK, seq6(a, 22) + 1));
            assert_eq!(
                answer(1),
                (T1.into(), 22, SYN | ACK, c.sequence(T1, 22) + 1)
            );
            assert_eq!(answer(2), (b.into(), 80, RST | ACK, seq6(b, 80) + 1));
            assert_eq!(answer(3), (b.into(), 443, 1, seq6(b, 443)));
        }
    }

    #[test]
    fn ethernet_replies_swap_macs_and_quote_28_bytes() {
        let c = crafter(LinkLayer::Ethernet);
        let r = Responder::new()
            .unreachable(T1, 9, 13)
            .icmp_from(Ipv4Addr::new(198, 18, 0, 254));
        let (mut tx, mut rx) = memory_network(r, LinkLayer::Ethernet);
        send(&mut tx, &c, &[(T1, 9)]);
        let frames = drain(&mut rx);
        assert_eq!(frames.len(), 1);
        let f = &frames[0];
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[6..12], &[2, 0, 0, 0, 0, 2]);
        assert_eq!(f.len(), 14 + 20 + 8 + 28);
        let mut probe = vec![0u8; c.frame_len()];
        c.craft(&mut probe, T1, 9, 0);
        assert_eq!(&f[42..], &probe[14..42]);
        match parse_reply(f, LinkLayer::Ethernet) {
            Ok(Reply::Unreachable(u)) => assert_eq!(u.from, Ipv4Addr::new(198, 18, 0, 254)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_and_default_behaviours() {
        let c = crafter(LinkLayer::RawIp);
        let r = Responder::new()
            .host(T1, Behaviour::Closed)
            .open(T1, 80)
            .default_behaviour(Behaviour::Unreachable(1));
        assert_eq!(r.behaviour_of(T1, 80), Behaviour::Open);
        assert_eq!(r.behaviour_of(T1, 81), Behaviour::Closed);
        assert_eq!(r.behaviour_of(T2, 81), Behaviour::Unreachable(1));
        assert_eq!(Responder::new().behaviour_of(T2, 1), Behaviour::Drop);
        let (mut tx, mut rx) = memory_network(r, LinkLayer::RawIp);
        send(&mut tx, &c, &[(T2, 7)]);
        match parsed(&mut rx, LinkLayer::RawIp)[..] {
            [Reply::Unreachable(u)] => assert_eq!((u.code, u.from), (1, T2)),
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loss_is_seeded_and_bounded() {
        let c = crafter(LinkLayer::RawIp);
        let probes: Vec<_> = (1..=1000).map(|p| (T1, p)).collect();
        let run = |seed, loss| {
            let r = Responder::new()
                .default_behaviour(Behaviour::Closed)
                .loss_percent(loss)
                .seed(seed);
            let (mut tx, mut rx) = memory_network(r, LinkLayer::RawIp);
            send(&mut tx, &c, &probes);
            let got = drain(&mut rx).len();
            assert_eq!(got as u64 + tx.counters().lost(), 1000);
            got
        };
        assert_eq!(run(1, 0), 1000);
        assert_eq!(run(1, 100), 0);
        let half = run(7, 50);
        assert_eq!(half, run(7, 50));
        assert!((400..600).contains(&half), "{half}");
    }

    #[test]
    fn duplicates_and_answer_from_nth_try() {
        let c = crafter(LinkLayer::RawIp);
        let r = Responder::new()
            .open(T1, 443)
            .duplicate_replies(true)
            .answer_from_try(3);
        let (mut tx, mut rx) = memory_network(r, LinkLayer::RawIp);
        let counters = tx.counters();
        for try_n in 1..=4u32 {
            send(&mut tx, &c, &[(T1, 443)]);
            let got = parsed(&mut rx, LinkLayer::RawIp);
            assert_eq!(got.len(), if try_n < 3 { 0 } else { 2 }, "try {try_n}");
            assert!(got.windows(2).all(|w| w[0] == w[1]));
            assert_eq!(counters.tries(T1, 443), try_n);
        }
        assert_eq!(counters.tries(T1, 444), 0);
        assert_eq!((counters.sent(), counters.replies()), (4, 4));
    }

    #[test]
    fn a_request_whose_syn_ack_was_lost_answers_a_repeated_syn_once_per_interval() {
        let c = crafter(LinkLayer::RawIp);
        let r = Responder::new().open(T1, 443).lose_first_replies(2);
        let (mut tx, mut rx) = memory_network(r, LinkLayer::RawIp);
        let counters = tx.counters();
        let send_try = |tx: &mut MemoryTransmit, k: u8| {
            let mut f = vec![0u8; c.frame_len()];
            c.craft(&mut f, T1, 443, k);
            assert_eq!(tx.send_frames(&f, f.len()).unwrap(), 1);
        };
        // The first SYN/ACK is lost; the repeat is answered once, and that answer is lost.
        send_try(&mut tx, 0);
        send_try(&mut tx, 0);
        assert!(drain(&mut rx).is_empty());
        // Within 500 ms of that answer, the same 4-tuple gets nothing.
        send_try(&mut tx, 0);
        assert!(drain(&mut rx).is_empty());
        assert_eq!(counters.repeats_unanswered(), 1);
        // A try from another source port is a new request: answered at once.
        send_try(&mut tx, 1);
        match parsed(&mut rx, LinkLayer::RawIp)[..] {
            [Reply::Tcp(t)] => {
                assert_eq!(t.dport, c.source_port_of_try(T1, 443, 1));
                assert!(c.validate_tcp(&t));
            }
            ref other => panic!("{other:?}"),
        }
        assert_eq!(counters.repeats_unanswered(), 1);
    }

    #[test]
    fn non_syn_frames_are_counted_not_answered() {
        let r = Responder::new().default_behaviour(Behaviour::Open);
        let (mut tx, mut rx) = memory_network(r, LinkLayer::RawIp);
        let spec = TcpSegment {
            src: US,
            dst: T1,
            sport: 61000,
            dport: 80,
            seq: 1,
            ack: 2,
            flags: RST | ACK,
            ttl: 64,
            window: 0,
        };
        let f = tcp_frame(LinkLayer::RawIp, [0; 6], [0; 6], &spec);
        assert_eq!(tx.send_frames(&f, f.len()).unwrap(), 1);
        assert_eq!(tx.send_frames(&[0u8; 30], 10).unwrap(), 3); // garbage
        assert_eq!(
            tx.send_frames(&f, 0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!((tx.sent(), tx.counters().syns()), (4, 0));
        assert!(drain(&mut rx).is_empty());
    }

    #[test]
    fn poll_waits_at_most_timeout_and_works_across_threads() {
        let c = crafter(LinkLayer::RawIp);
        let (mut tx, mut rx) = memory_network(Responder::new().open(T1, 1), LinkLayer::RawIp);
        let start = Instant::now();
        assert_eq!(rx.poll(SHORT, &mut |_| {}).unwrap(), 0);
        assert!(start.elapsed() >= SHORT);
        let sender = std::thread::spawn(move || {
            send(&mut tx, &c, &[(T1, 1)]);
            tx
        });
        let mut n = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while n == 0 && Instant::now() < deadline {
            n += rx.poll(SHORT, &mut |_| {}).unwrap();
        }
        assert_eq!(n, 1);
        drop(sender.join().unwrap());
        // Transmit gone: poll still waits instead of returning at once.
        let start = Instant::now();
        assert_eq!(rx.poll(SHORT, &mut |_| {}).unwrap(), 0);
        assert!(start.elapsed() >= SHORT);
    }
}
