//! The probe kind's TCP template (built once, patched per probe), the UDP templates (one per
//! payload), and the keyed cookie that validates replies.

use crate::wire::{LinkLayer, QuotedTcp, TcpSegment};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub mod cookie;
pub(crate) mod kernel_ports;
pub mod kind;
pub mod template;
pub mod udp_template;

use cookie::{Cookie, FlowAddress};
pub use kind::ProbeKind;
use template::{Template, Template6};

/// Source ports our probes use: [first, first + count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePorts {
    /// First port.
    pub first: u16,
    /// How many ports (>= 1).
    pub count: u16,
}

impl SourcePorts {
    /// Default: 61000..=65535, above Linux's default ip_local_port_range (32768-60999).
    pub const DEFAULT: SourcePorts = SourcePorts {
        first: 61000,
        count: 4536,
    };
    /// The last port.
    pub fn last(&self) -> u16 {
        self.first.saturating_add(self.count.saturating_sub(1))
    }

    /// The default for this host: up to `DEFAULT.count` ports outside the kernel's live
    /// ip_local_port_range and ip_local_reserved_ports (so the kernel never hands them to
    /// ordinary connections, whose RSTs `--firewall-rule` would then drop); `DEFAULT` when
    /// /proc is unreadable or leaves no room.
    pub fn system_default() -> SourcePorts {
        kernel_ports::KernelPorts::read()
            .and_then(|k| SourcePorts::outside(&k))
            .unwrap_or(SourcePorts::DEFAULT)
    }

    /// The top `DEFAULT.count` ports of the run the kernel leaves to scanners, if any.
    pub fn outside(kernel: &kernel_ports::KernelPorts) -> Option<SourcePorts> {
        let run = kernel.scanner_ports(1024)?;
        let size = u32::from(*run.end()) - u32::from(*run.start()) + 1;
        let count = size.min(u32::from(SourcePorts::DEFAULT.count));
        Some(SourcePorts {
            first: u16::try_from(u32::from(*run.end()) + 1 - count).ok()?,
            count: u16::try_from(count).ok()?,
        })
    }

    /// A one-line warning when these ports overlap the kernel's ephemeral range.
    pub fn ephemeral_overlap_warning(&self, kernel: &kernel_ports::KernelPorts) -> Option<String> {
        if !kernel.overlaps(self.first..=self.last()) {
            return None;
        }
        Some(format!(
            "--source-port {}-{} overlaps the kernel's ephemeral port range {}-{} (net.ipv4.ip_local_port_range): ordinary connections may get these ports and see the scan's replies; pick ports outside it",
            self.first,
            self.last(),
            kernel.ephemeral.start(),
            kernel.ephemeral.end()
        ))
    }
}

/// Most sends of one probe (--retries 20, plus the first): each try has its own source
/// port, so replies are accepted from this many ports per flow.
pub const MAX_TRIES: u8 = 21;

/// Generations pilot probes are told apart by (the source port offset of a pilot), so
/// each window's pilots are counted with their own answers.
pub const PILOT_GENERATIONS: u8 = 4;

/// Tag of the pilot probes' cookie, derived from the scan's key.
const PILOT_TAG: u64 = 0x7069_6c6f_7473;

/// Everything fixed about the probes of one scan (the IPv4 family; IPv6 is added with
/// [`ProbeCrafter::with_ipv6`]).
#[derive(Clone, Debug)]
pub struct ProbeParams {
    /// Link layer the frames are for.
    pub link: LinkLayer,
    /// Our MAC (ignored for RawIp).
    pub src_mac: [u8; 6],
    /// Next hop's MAC (ignored for RawIp).
    pub dst_mac: [u8; 6],
    /// Our IPv4 address.
    pub src_ip: Ipv4Addr,
    /// Source port range.
    pub source_ports: SourcePorts,
    /// Key of the cookie (derived from the scan seed plus per-run randomness).
    pub key: [u64; 2],
}

/// The IPv6 side of a scan's probes: our address and the next hop's MAC (the IPv6 router
/// may be another box than the IPv4 one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Source {
    /// Our IPv6 address.
    pub src_ip: Ipv6Addr,
    /// Next hop's MAC for IPv6 (ignored for RawIp).
    pub dst_mac: [u8; 6],
}

/// Crafts the probes of one kind (a SYN unless told) into caller buffers and validates
/// replies against the cookie, as the kind says. It holds one template per family the
/// targets hold; a reply of a family without one is never ours.
#[derive(Clone, Debug)]
pub struct ProbeCrafter {
    /// The kind of probe it crafts (which replies answer it and what they mean).
    kind: ProbeKind,
    params: ProbeParams,
    ports: SourcePorts,
    /// Tries with a port of their own (fewer than [`MAX_TRIES`] only when the range is).
    try_ports: u16,
    cookie: Cookie,
    /// The pilot probes' cookie: their answers never pass for the scan's.
    pilot: Cookie,
    /// The IPv4 template (None in an IPv6-only scan).
    template: Option<Template>,
    /// Our IPv6 address and the IPv6 template (None unless IPv6 targets are scanned).
    v6: Option<(Ipv6Source, Template6)>,
}

impl ProbeCrafter {
    /// Builds the template once. A source range running past 65535 (or of count 0) is
    /// clamped to what fits, so ports never wrap.
    pub fn new(params: ProbeParams) -> Self {
        let room = 65536 - u32::from(params.source_ports.first);
        let count = u32::from(params.source_ports.count).clamp(1, room) as u16;
        let ports = SourcePorts {
            first: params.source_ports.first,
            count,
        };
        let kind = ProbeKind::TcpSyn;
        let template = Template::new(
            params.link,
            params.src_mac,
            params.dst_mac,
            params.src_ip,
            &kind.tcp_probe(),
        );
        let cookie = Cookie::new(params.key);
        ProbeCrafter {
            kind,
            pilot: cookie.derive(PILOT_TAG),
            cookie,
            ports,
            try_ports: count.min(u16::from(MAX_TRIES)),
            template: Some(template),
            v6: None,
            params,
        }
    }
    /// The same crafter with an IPv6 template from `v6.src_ip` to `v6.dst_mac` (same link,
    /// source MAC, ports and key).
    pub fn with_ipv6(mut self, v6: Ipv6Source) -> Self {
        let p = &self.params;
        let probe = self.kind.tcp_probe();
        let template = Template6::new(p.link, p.src_mac, v6.dst_mac, v6.src_ip, &probe);
        self.v6 = Some((v6, template));
        self
    }
    /// The same crafter without its IPv4 template: an IPv6-only scan answers no IPv4 reply.
    pub fn without_ipv4(mut self) -> Self {
        self.template = None;
        self
    }
    /// The same crafter for probes of `kind` (a SYN unless told): its templates are
    /// rebuilt from the kind's probe.
    pub fn with_kind(mut self, kind: ProbeKind) -> Self {
        self.kind = kind;
        let (p, probe) = (&self.params, kind.tcp_probe());
        if self.template.is_some() {
            let t = Template::new(p.link, p.src_mac, p.dst_mac, p.src_ip, &probe);
            self.template = Some(t);
        }
        if let Some((v6, t)) = &mut self.v6 {
            *t = Template6::new(p.link, p.src_mac, v6.dst_mac, v6.src_ip, &probe);
        }
        self
    }
    /// The kind of probe it crafts.
    #[inline]
    pub fn kind(&self) -> ProbeKind {
        self.kind
    }
    /// Our IPv4 address, when the scan sends IPv4.
    pub fn ipv4_source(&self) -> Option<Ipv4Addr> {
        self.template.as_ref().map(|_| self.params.src_ip)
    }
    /// Our IPv6 address, when the scan sends IPv6.
    pub fn ipv6_source(&self) -> Option<Ipv6Addr> {
        self.v6.as_ref().map(|(v6, _)| v6.src_ip)
    }
    /// Length of the IPv4 frames (of the IPv6 ones in an IPv6-only scan).
    pub fn frame_len(&self) -> usize {
        match (&self.template, &self.v6) {
            (Some(t), _) => t.len(),
            (None, Some((_, t))) => t.len(),
            (None, None) => 0,
        }
    }
    /// Length of the longest frame this crafter writes (a sender's slot size).
    pub fn max_frame_len(&self) -> usize {
        let v4 = self.template.as_ref().map_or(0, Template::len);
        let v6 = self.v6.as_ref().map_or(0, |(_, t)| t.len());
        v4.max(v6)
    }
    /// True when every frame has the same length (one family).
    pub fn uniform_frames(&self) -> bool {
        self.template.is_none() || self.v6.is_none()
    }
    /// Writes try `try_index` (0: the first send) of the probe to (dst, dport) into `buf`
    /// (exactly frame_len bytes).
    #[inline]
    pub fn craft(&self, buf: &mut [u8], dst: Ipv4Addr, dport: u16, try_index: u8) {
        self.craft4_with(&self.cookie, buf, dst, dport, try_index);
    }
    #[inline(always)]
    fn craft4_with(&self, c: &Cookie, buf: &mut [u8], dst: Ipv4Addr, dport: u16, try_index: u8) {
        if let Some(t) = &self.template {
            let src = self.params.src_ip;
            let sport = c.source_port_of_try(self.ports, src, dst, dport, try_index);
            let h = c.flow_hash(src, dst, sport, dport);
            t.write(buf, dst, (h >> 32) as u16, sport, dport, h as u32);
        }
    }
    /// Writes try `try_index` of the IPv6 probe to (dst, dport) into `buf`; returns its
    /// length (0, writing nothing, when the scan has no IPv6 source).
    #[inline]
    pub fn craft6(&self, buf: &mut [u8], dst: Ipv6Addr, dport: u16, try_index: u8) -> usize {
        self.craft6_with(&self.cookie, buf, dst, dport, try_index)
    }
    #[inline(always)]
    fn craft6_with(
        &self,
        c: &Cookie,
        buf: &mut [u8],
        dst: Ipv6Addr,
        dport: u16,
        try_index: u8,
    ) -> usize {
        let Some((v6, t)) = &self.v6 else {
            return 0;
        };
        let src = v6.src_ip;
        let sport = c.source_port_of_try(self.ports, src, dst, dport, try_index);
        let seq = c.sequence(src, dst, sport, dport);
        t.write(buf, dst, sport, dport, seq);
        t.len()
    }
    /// Writes try `try_index` of the probe to (dst, dport) with its family's template;
    /// returns its length (0, writing nothing, for a family the scan has no source of).
    #[inline]
    pub fn craft_ip(&self, buf: &mut [u8], dst: IpAddr, dport: u16, try_index: u8) -> usize {
        self.craft_ip_with(&self.cookie, buf, dst, dport, try_index)
    }
    /// Writes a pilot probe of `generation` (below [`PILOT_GENERATIONS`]) to (dst, dport):
    /// a probe under the pilots' own cookie, whose answer counts for the rate and never as a
    /// result; returns its length as [`ProbeCrafter::craft_ip`] does.
    #[inline]
    pub fn craft_pilot(&self, buf: &mut [u8], dst: IpAddr, dport: u16, generation: u8) -> usize {
        self.craft_ip_with(&self.pilot, buf, dst, dport, generation)
    }
    #[inline(always)]
    fn craft_ip_with(
        &self,
        c: &Cookie,
        buf: &mut [u8],
        dst: IpAddr,
        dport: u16,
        try_index: u8,
    ) -> usize {
        match dst {
            IpAddr::V4(d) => match &self.template {
                Some(t) => {
                    self.craft4_with(c, buf, d, dport, try_index);
                    t.len()
                }
                None => 0,
            },
            IpAddr::V6(d) => self.craft6_with(c, buf, d, dport, try_index),
        }
    }
    /// True when a segment answers one of our probes: ports, and the cookie it echoes where
    /// the kind says (a SYN/ACK's or RST's ack == cookie + 1 for a SYN).
    #[inline]
    pub fn validate_tcp(&self, reply: &TcpSegment) -> bool {
        self.check_tcp(self.ipv4_source(), reply)
    }
    /// True when an IPv6 segment answers one of our probes.
    #[inline]
    pub fn validate_tcp6(&self, reply: &TcpSegment<Ipv6Addr>) -> bool {
        self.check_tcp(self.ipv6_source(), reply)
    }
    /// The generation of the pilot probe a segment answers, if it answers one.
    #[inline]
    pub fn validate_pilot(&self, reply: &TcpSegment) -> Option<u8> {
        self.check_tcp_with(&self.pilot, self.pilot_tries(), self.ipv4_source(), reply)
    }
    /// The generation of the pilot probe an IPv6 segment answers, if it answers one.
    #[inline]
    pub fn validate_pilot6(&self, reply: &TcpSegment<Ipv6Addr>) -> Option<u8> {
        self.check_tcp_with(&self.pilot, self.pilot_tries(), self.ipv6_source(), reply)
    }
    /// Pilot generations with a port of their own (fewer only when the range is).
    fn pilot_tries(&self) -> u16 {
        self.ports.count.min(u16::from(PILOT_GENERATIONS))
    }
    /// True when an ICMP error quotes one of our probes (ports and seq == cookie).
    #[inline]
    pub fn validate_quote(&self, quoted: &QuotedTcp) -> bool {
        self.check_quote(self.ipv4_source(), quoted)
    }
    /// True when an ICMPv6 error quotes one of our IPv6 probes.
    #[inline]
    pub fn validate_quote6(&self, quoted: &QuotedTcp<Ipv6Addr>) -> bool {
        self.check_quote(self.ipv6_source(), quoted)
    }
    #[inline(always)]
    fn check_tcp<A: FlowAddress + PartialEq>(&self, us: Option<A>, reply: &TcpSegment<A>) -> bool {
        self.check_tcp_with(&self.cookie, self.try_ports, us, reply)
            .is_some()
    }
    #[inline(always)]
    /// The try `reply` answers under cookie `c` (tries below `tries`), if it answers one.
    fn check_tcp_with<A: FlowAddress + PartialEq>(
        &self,
        c: &Cookie,
        tries: u16,
        us: Option<A>,
        reply: &TcpSegment<A>,
    ) -> Option<u8> {
        let echoed = self.kind.echo(reply.flags, reply.seq, reply.ack)?;
        let src = us?;
        if reply.dst != src || !self.owns_port(reply.dport) {
            return None;
        }
        let try_index =
            c.try_of_port(self.ports, src, reply.src, reply.sport, reply.dport, tries)?;
        (echoed == c.sequence(src, reply.src, reply.dport, reply.sport)).then_some(try_index)
    }
    #[inline(always)]
    fn check_quote<A: FlowAddress + PartialEq>(
        &self,
        us: Option<A>,
        quoted: &QuotedTcp<A>,
    ) -> bool {
        let Some(src) = us else {
            return false;
        };
        quoted.src == src
            && self.is_try_port(src, quoted.dst, quoted.dport, quoted.sport)
            && quoted.seq
                == self
                    .cookie
                    .sequence(src, quoted.dst, quoted.sport, quoted.dport)
    }
    /// True when `sport` is the source port of one of the tries of the probe from `src` to
    /// (dst, dport); the sequence number, keyed over the whole 4-tuple, is checked after.
    #[inline(always)]
    fn is_try_port<A: FlowAddress>(&self, src: A, dst: A, dport: u16, sport: u16) -> bool {
        self.owns_port(sport)
            && self
                .cookie
                .try_of_port(self.ports, src, dst, dport, sport, self.try_ports)
                .is_some()
    }
    /// Source port the probe to (dst, dport) uses on its first try (what a capture filter
    /// or a test expects).
    pub fn source_port(&self, dst: Ipv4Addr, dport: u16) -> u16 {
        self.source_port_of_try(dst, dport, 0)
    }
    /// Source port of try `try_index` of the probe to (dst, dport).
    pub fn source_port_of_try(&self, dst: Ipv4Addr, dport: u16, try_index: u8) -> u16 {
        let src = self.params.src_ip;
        self.cookie
            .source_port_of_try(self.ports, src, dst, dport, try_index)
    }
    /// Sequence number the probe to (dst, dport) carries on its first try.
    pub fn sequence(&self, dst: Ipv4Addr, dport: u16) -> u32 {
        self.sequence_of_try(dst, dport, 0)
    }
    /// Sequence number of try `try_index` of the probe to (dst, dport).
    pub fn sequence_of_try(&self, dst: Ipv4Addr, dport: u16, try_index: u8) -> u32 {
        let sport = self.source_port_of_try(dst, dport, try_index);
        self.cookie.sequence(self.params.src_ip, dst, sport, dport)
    }
    /// Source port the IPv6 probe to (dst, dport) uses on its first try (None without an
    /// IPv6 source).
    pub fn source_port6(&self, dst: Ipv6Addr, dport: u16) -> Option<u16> {
        let src = self.ipv6_source()?;
        Some(self.cookie.source_port(self.ports, src, dst, dport))
    }
    /// Sequence number the IPv6 probe to (dst, dport) carries on its first try (None
    /// without an IPv6 source).
    pub fn sequence6(&self, dst: Ipv6Addr, dport: u16) -> Option<u32> {
        let src = self.ipv6_source()?;
        let sport = self.source_port6(dst, dport)?;
        Some(self.cookie.sequence(src, dst, sport, dport))
    }
    /// The source range actually used (after clamping).
    pub fn source_ports(&self) -> SourcePorts {
        self.ports
    }
    /// The parameters the crafter was built from.
    pub fn params(&self) -> &ProbeParams {
        &self.params
    }
    #[inline]
    fn owns_port(&self, port: u16) -> bool {
        port.wrapping_sub(self.ports.first) < self.ports.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build::tcp_frame;
    use crate::wire::tcp_flags::{ACK, RST, SYN};
    use crate::wire::{parse_reply, Reply};
    use pnet::packet::ethernet::{EtherTypes, EthernetPacket};
    use pnet::packet::ip::IpNextHeaderProtocols;
    use pnet::packet::ipv4::{self, Ipv4Flags, Ipv4Packet};
    use pnet::packet::tcp::{self, TcpFlags, TcpOptionNumbers, TcpPacket};
    use pnet::packet::Packet;
    use proptest::prelude::*;

    fn kernel(range: &str, reserved: &str) -> kernel_ports::KernelPorts {
        kernel_ports::KernelPorts::parse(range, reserved).unwrap()
    }

    #[test]
    fn source_ports_avoid_the_kernels_ports() {
        // Linux's default range leaves today's 61000-65535 exactly.
        assert_eq!(
            SourcePorts::outside(&kernel("32768 60999", "")),
            Some(SourcePorts::DEFAULT)
        );
        // Widened as guides advise: the top of what is left below the range.
        assert_eq!(
            SourcePorts::outside(&kernel("10000 65535", "")),
            Some(SourcePorts {
                first: 10000 - 4536,
                count: 4536
            })
        );
        // A reserved block inside today's range moves above it.
        assert_eq!(
            SourcePorts::outside(&kernel("32768 60999", "61000-63999")),
            Some(SourcePorts {
                first: 64000,
                count: 1536
            })
        );
        assert_eq!(SourcePorts::outside(&kernel("1024 65535", "")), None);
        let p = SourcePorts::outside(&kernel("1024 64000", "")).unwrap();
        assert_eq!((p.first, p.last()), (64001, 65535));
    }

    #[test]
    fn overlap_warning() {
        let k = kernel("32768 60999", "");
        assert_eq!(SourcePorts::DEFAULT.ephemeral_overlap_warning(&k), None);
        let w = SourcePorts {
            first: 40000,
            count: 10,
        }
        .ephemeral_overlap_warning(&k)
        .unwrap();
        assert!(
            w.starts_with(
                "--source-port 40000-40009 overlaps the kernel's ephemeral port range 32768-60999"
            ),
            "{w}"
        );
    }

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 4);
    const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

    fn crafter(link: LinkLayer, key: [u64; 2]) -> ProbeCrafter {
        ProbeCrafter::new(ProbeParams {
            link,
            src_mac: SRC_MAC,
            dst_mac: DST_MAC,
            src_ip: US,
            source_ports: SourcePorts::DEFAULT,
            key,
        })
    }

    fn craft(c: &ProbeCrafter, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
        let mut buf = vec![0u8; c.frame_len()];
        c.craft(&mut buf, dst, dport, 0);
        buf
    }

    /// Checks a crafted IPv4 packet with pnet only; returns (sport, seq, ip id).
    fn check_with_pnet(ip_bytes: &[u8], dst: Ipv4Addr, dport: u16) -> (u16, u32, u16) {
        let ip = Ipv4Packet::new(ip_bytes).unwrap();
        assert_eq!(ip.get_version(), 4);
        assert_eq!(ip.get_header_length(), 5);
        assert_eq!(ip.get_total_length(), 52);
        assert_eq!(ip.get_flags(), Ipv4Flags::DontFragment);
        assert_eq!(ip.get_ttl(), 64);
        assert_eq!(ip.get_next_level_protocol(), IpNextHeaderProtocols::Tcp);
        assert_eq!(ip.get_source(), US);
        assert_eq!(ip.get_destination(), dst);
        assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
        let t = TcpPacket::new(ip.payload()).unwrap();
        assert_eq!(t.get_destination(), dport);
        assert_eq!(t.get_flags(), TcpFlags::SYN);
        assert_eq!(t.get_window(), 64240);
        assert_eq!(t.get_data_offset(), 8);
        assert_eq!(t.get_acknowledgement(), 0);
        assert_eq!(t.get_checksum(), tcp::ipv4_checksum(&t, &US, &dst));
        let opts: Vec<_> = t.get_options_iter().map(|o| o.get_number()).collect();
        use TcpOptionNumbers::{MSS, NOP, SACK_PERMITTED, WSCALE};
        assert_eq!(opts, vec![MSS, NOP, WSCALE, NOP, NOP, SACK_PERMITTED]);
        (t.get_source(), t.get_sequence(), ip.get_identification())
    }

    #[test]
    fn ethernet_frame_parses_with_pnet() {
        let c = crafter(LinkLayer::Ethernet, [11, 22]);
        assert_eq!(c.frame_len(), 66);
        let f = craft(&c, THEM, 443);
        let eth = EthernetPacket::new(&f).unwrap();
        assert_eq!(eth.get_destination().octets(), DST_MAC);
        assert_eq!(eth.get_source().octets(), SRC_MAC);
        assert_eq!(eth.get_ethertype(), EtherTypes::Ipv4);
        let (sport, seq, _) = check_with_pnet(eth.payload(), THEM, 443);
        assert_eq!(sport, c.source_port(THEM, 443));
        assert_eq!(seq, c.sequence(THEM, 443));
        assert!((61000..=65535).contains(&sport));
        assert_eq!(
            &f[54..66],
            &[0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08, 0x01, 0x01, 0x04, 0x02]
        );
    }

    #[test]
    fn craft_only_touches_frame_len_bytes() {
        let c = crafter(LinkLayer::RawIp, [1, 1]);
        let mut buf = vec![0xaau8; 60];
        c.craft(&mut buf, THEM, 80, 0);
        assert_eq!(c.frame_len(), 52);
        assert!(buf[52..].iter().all(|&b| b == 0xaa));
    }

    fn syn_ack(
        c: &ProbeCrafter,
        dst: Ipv4Addr,
        dport: u16,
        flags: u8,
        ack_delta: u32,
    ) -> TcpSegment {
        let spec = TcpSegment {
            src: dst,
            dst: US,
            sport: dport,
            dport: c.source_port(dst, dport),
            seq: 0x5555_0000,
            ack: c.sequence(dst, dport).wrapping_add(ack_delta),
            flags,
            ttl: 60,
            window: 65535,
        };
        let f = tcp_frame(LinkLayer::Ethernet, DST_MAC, SRC_MAC, &spec);
        match parse_reply(&f, LinkLayer::Ethernet) {
            Ok(Reply::Tcp(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reply_validation() {
        let c = crafter(LinkLayer::Ethernet, [5, 6]);
        assert!(c.validate_tcp(&syn_ack(&c, THEM, 22, SYN | ACK, 1)));
        assert!(c.validate_tcp(&syn_ack(&c, THEM, 22, RST | ACK, 1)));
        // ACK off by one either way.
        assert!(!c.validate_tcp(&syn_ack(&c, THEM, 22, SYN | ACK, 0)));
        assert!(!c.validate_tcp(&syn_ack(&c, THEM, 22, SYN | ACK, 2)));
        // Wrong flags: bare SYN, bare RST (no ACK), SYN|RST|ACK, plain ACK.
        for flags in [SYN, RST, SYN | RST | ACK, ACK] {
            assert!(
                !c.validate_tcp(&syn_ack(&c, THEM, 22, flags, 1)),
                "{flags:#x}"
            );
        }
        let good = syn_ack(&c, THEM, 22, SYN | ACK, 1);
        // Wrong source port of the target (the scanned port).
        assert!(!c.validate_tcp(&TcpSegment { sport: 23, ..good }));
        // Our port off by one (still in range).
        let other_port = if good.dport > 61000 {
            good.dport - 1
        } else {
            good.dport + 1
        };
        assert!(!c.validate_tcp(&TcpSegment {
            dport: other_port,
            ..good
        }));
        // Out of range port, other destination, other source.
        assert!(!c.validate_tcp(&TcpSegment {
            dport: 1000,
            ..good
        }));
        assert!(!c.validate_tcp(&TcpSegment {
            dst: Ipv4Addr::new(198, 18, 0, 99),
            ..good
        }));
        assert!(!c.validate_tcp(&TcpSegment {
            src: Ipv4Addr::new(198, 18, 3, 5),
            ..good
        }));
        // Another scan's key rejects it.
        assert!(!crafter(LinkLayer::Ethernet, [5, 7]).validate_tcp(&good));
    }

    #[test]
    fn quote_validation() {
        let c = crafter(LinkLayer::RawIp, [9, 9]);
        let q = QuotedTcp {
            src: US,
            dst: THEM,
            sport: c.source_port(THEM, 3389),
            dport: 3389,
            seq: c.sequence(THEM, 3389),
        };
        assert!(c.validate_quote(&q));
        assert!(!c.validate_quote(&QuotedTcp {
            seq: q.seq.wrapping_add(1),
            ..q
        }));
        assert!(!c.validate_quote(&QuotedTcp { dport: 3390, ..q }));
        assert!(!c.validate_quote(&QuotedTcp { src: THEM, ..q }));
        assert!(!c.validate_quote(&QuotedTcp { dst: US, ..q }));
        assert!(!c.validate_quote(&QuotedTcp {
            sport: q.sport ^ 1,
            ..q
        }));
        // The quote of a crafted frame parses into exactly this.
        let f = craft(&c, THEM, 3389);
        let reply = crate::wire::build::icmp_unreachable_frame(
            LinkLayer::RawIp,
            [0; 6],
            [0; 6],
            THEM,
            US,
            3,
            64,
            &f[..28],
        );
        match parse_reply(&reply, LinkLayer::RawIp) {
            Ok(Reply::Unreachable(u)) => assert_eq!(u.quoted, q),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retries_reproduce_the_probe_and_keys_differ() {
        let a = crafter(LinkLayer::Ethernet, [1, 2]);
        let a2 = crafter(LinkLayer::Ethernet, [1, 2]);
        assert_eq!(craft(&a, THEM, 80), craft(&a, THEM, 80));
        assert_eq!(craft(&a, THEM, 80), craft(&a2, THEM, 80));
        let b = crafter(LinkLayer::Ethernet, [1, 3]);
        let c = crafter(LinkLayer::Ethernet, [2, 2]);
        // Over 100 flows, other keys give other cookies (collisions of 32-bit seqs: ~0).
        let mut same_seq = 0;
        let mut same_port = 0;
        for p in 1..=100u16 {
            for other in [&b, &c] {
                same_seq += usize::from(a.sequence(THEM, p) == other.sequence(THEM, p));
                same_port += usize::from(a.source_port(THEM, p) == other.source_port(THEM, p));
            }
        }
        assert_eq!(same_seq, 0);
        assert!(same_port < 5, "{same_port}"); // 1/4536 chance each
    }

    /// The SYN `c` writes for try `k` to (dst, dport), read back by the parser.
    fn crafted_try(c: &ProbeCrafter, dst: IpAddr, dport: u16, k: u8) -> TcpSegment<IpAddr> {
        let mut buf = vec![0u8; c.max_frame_len()];
        let len = c.craft_ip(&mut buf, dst, dport, k);
        match crate::wire::parse_ip_reply(&buf[..len], c.params().link) {
            Ok(ip) => match ip.into_ip() {
                Reply::Tcp(t) => t,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    /// The target's SYN/ACK to `syn` (from `them` to `us`) and a router's quote of `syn`.
    fn answer_and_quote<A: Copy>(
        syn: &TcpSegment<IpAddr>,
        us: A,
        them: A,
    ) -> (TcpSegment<A>, QuotedTcp<A>) {
        let answer = TcpSegment {
            src: them,
            dst: us,
            sport: syn.dport,
            dport: syn.sport,
            seq: 7,
            ack: syn.seq.wrapping_add(1),
            flags: SYN | ACK,
            ttl: 60,
            window: 65535,
        };
        let quote = QuotedTcp {
            src: us,
            dst: them,
            sport: syn.sport,
            dport: syn.dport,
            seq: syn.seq,
        };
        (answer, quote)
    }

    /// Whether `c` takes the target's SYN/ACK to `syn`, and a router's quote of it.
    fn answers_validate(c: &ProbeCrafter, syn: &TcpSegment<IpAddr>) -> (bool, bool) {
        match (syn.src, syn.dst) {
            (IpAddr::V4(us), IpAddr::V4(them)) => {
                let (a, q) = answer_and_quote(syn, us, them);
                (c.validate_tcp(&a), c.validate_quote(&q))
            }
            (IpAddr::V6(us), IpAddr::V6(them)) => {
                let (a, q) = answer_and_quote(syn, us, them);
                (c.validate_tcp6(&a), c.validate_quote6(&q))
            }
            _ => panic!("mixed families"),
        }
    }

    #[test]
    fn each_try_leaves_from_its_own_port_and_its_answers_validate() {
        let c = dual(LinkLayer::Ethernet, [7, 7]);
        for dst in [IpAddr::V4(THEM), IpAddr::V6(v6(THEM6))] {
            let first = crafted_try(&c, dst, 443, 0);
            let mut seen = std::collections::BTreeSet::new();
            for k in 0..MAX_TRIES {
                let syn = crafted_try(&c, dst, 443, k);
                // One place up per try (the default range is wide enough not to wrap here
                // unless the first port is near its top).
                let want = 61000 + (first.sport - 61000 + u16::from(k)) % 4536;
                assert_eq!(syn.sport, want, "{dst} try {k}");
                assert!(seen.insert((syn.sport, syn.seq)), "{dst} try {k} repeats");
                assert_eq!(answers_validate(&c, &syn), (true, true), "{dst} try {k}");
                // Another try's sequence number on this port is not an answer.
                let crossed = TcpSegment {
                    seq: first.seq,
                    ..syn
                };
                if k > 0 {
                    assert_eq!(answers_validate(&c, &crossed), (false, false));
                }
            }
            if let IpAddr::V4(t) = dst {
                let k = 3;
                let syn = crafted_try(&c, dst, 443, k);
                assert_eq!(syn.sport, c.source_port_of_try(t, 443, k));
                assert_eq!(syn.seq, c.sequence_of_try(t, 443, k));
            }
            // A try past the last one's port is not ours, though its cookie is right.
            let mut past = crafted_try(&c, dst, 443, 0);
            past.sport = 61000 + (first.sport - 61000 + u16::from(MAX_TRIES)) % 4536;
            let (us, them) = (past.src, past.dst);
            past.seq = match (us, them) {
                (IpAddr::V4(u), IpAddr::V4(t)) => c.cookie.sequence(u, t, past.sport, 443),
                (IpAddr::V6(u), IpAddr::V6(t)) => c.cookie.sequence(u, t, past.sport, 443),
                _ => unreachable!(),
            };
            assert_eq!(answers_validate(&c, &past), (false, false), "{dst}");
        }
    }

    #[test]
    fn source_range_is_clamped() {
        let mk = |first, count| {
            ProbeCrafter::new(ProbeParams {
                link: LinkLayer::RawIp,
                src_mac: [0; 6],
                dst_mac: [0; 6],
                src_ip: US,
                source_ports: SourcePorts { first, count },
                key: [0, 0],
            })
        };
        assert_eq!(
            mk(65000, 1000).source_ports(),
            SourcePorts {
                first: 65000,
                count: 536
            }
        );
        assert_eq!(
            mk(100, 0).source_ports(),
            SourcePorts {
                first: 100,
                count: 1
            }
        );
        let c = mk(65535, 10);
        assert_eq!(c.source_port(THEM, 1), 65535);
        for p in 0..200 {
            let sp = mk(65000, 1000).source_port(THEM, p);
            assert!(sp >= 65000);
        }
    }

    const US6: &str = "2001:2:0:18::1";
    const THEM6: &str = "2001:2:0:19::a";

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn dual(link: LinkLayer, key: [u64; 2]) -> ProbeCrafter {
        crafter(link, key).with_ipv6(Ipv6Source {
            src_ip: v6(US6),
            dst_mac: [0x02, 0, 0, 0, 0, 0x06],
        })
    }

    /// Our IPv6 SYN to (dst, dport) read back by the parser: (sport, seq).
    fn craft6_parsed(c: &ProbeCrafter, dst: Ipv6Addr, dport: u16) -> (usize, TcpSegment<Ipv6Addr>) {
        let mut buf = vec![0u8; c.max_frame_len()];
        let len = c.craft_ip(&mut buf, IpAddr::V6(dst), dport, 0);
        match crate::wire::parse_ip_reply(&buf[..len], c.params().link) {
            Ok(crate::wire::IpReply::V6(Reply::Tcp(t))) => (len, t),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_template_per_family() {
        for link in [LinkLayer::Ethernet, LinkLayer::RawIp] {
            let c = dual(link, [3, 4]);
            let h = link.header_len();
            assert_eq!((c.frame_len(), c.max_frame_len()), (h + 52, h + 72));
            assert!(!c.uniform_frames());
            assert_eq!(c.ipv4_source(), Some(US));
            assert_eq!(c.ipv6_source(), Some(v6(US6)));
            // The IPv4 frame is byte for byte what the IPv4-only crafter writes.
            let mut buf = vec![0xaau8; c.max_frame_len()];
            assert_eq!(c.craft_ip(&mut buf, IpAddr::V4(THEM), 443, 0), h + 52);
            assert_eq!(
                &buf[..h + 52],
                &craft(&crafter(link, [3, 4]), THEM, 443)[..]
            );
            assert!(buf[h + 52..].iter().all(|&b| b == 0xaa));
            let (len, syn) = craft6_parsed(&c, v6(THEM6), 443);
            assert_eq!(len, h + 72);
            assert_eq!((syn.src, syn.dst, syn.dport), (v6(US6), v6(THEM6), 443));
            assert_eq!(syn.flags, SYN);
            assert_eq!(Some(syn.sport), c.source_port6(v6(THEM6), 443));
            assert_eq!(Some(syn.seq), c.sequence6(v6(THEM6), 443));
            assert!((61000..=65535).contains(&syn.sport));
            if link == LinkLayer::Ethernet {
                assert_eq!(&buf[..6], &DST_MAC);
                let mut f = vec![0u8; 86];
                c.craft6(&mut f, v6(THEM6), 443, 0);
                assert_eq!(&f[..14], &[2, 0, 0, 0, 0, 6, 2, 0, 0, 0, 0, 1, 0x86, 0xdd]);
            }
        }
        // One family alone: uniform frames; the missing family writes nothing.
        let only4 = crafter(LinkLayer::Ethernet, [1, 1]);
        assert!(only4.uniform_frames());
        assert_eq!(
            (only4.ipv6_source(), only4.source_port6(v6(THEM6), 1)),
            (None, None)
        );
        let mut buf = [0x55u8; 100];
        assert_eq!(only4.craft_ip(&mut buf, IpAddr::V6(v6(THEM6)), 80, 0), 0);
        assert!(buf.iter().all(|&b| b == 0x55));
        let only6 = dual(LinkLayer::Ethernet, [1, 1]).without_ipv4();
        assert!(only6.uniform_frames());
        assert_eq!((only6.frame_len(), only6.max_frame_len()), (86, 86));
        assert_eq!(only6.ipv4_source(), None);
        assert_eq!(only6.craft_ip(&mut buf, IpAddr::V4(THEM), 80, 0), 0);
        assert!(buf.iter().all(|&b| b == 0x55));
    }

    fn answer6(
        c: &ProbeCrafter,
        dst: Ipv6Addr,
        dport: u16,
        flags: u8,
        ack_delta: u32,
    ) -> TcpSegment<Ipv6Addr> {
        TcpSegment {
            src: dst,
            dst: v6(US6),
            sport: dport,
            dport: c.source_port6(dst, dport).unwrap(),
            seq: 0x5555_0000,
            ack: c.sequence6(dst, dport).unwrap().wrapping_add(ack_delta),
            flags,
            ttl: 60,
            window: 65535,
        }
    }

    #[test]
    fn ipv6_reply_validation() {
        let c = dual(LinkLayer::Ethernet, [5, 6]);
        let t = v6(THEM6);
        assert!(c.validate_tcp6(&answer6(&c, t, 22, SYN | ACK, 1)));
        assert!(c.validate_tcp6(&answer6(&c, t, 22, RST | ACK, 1)));
        for delta in [0, 2, 0x8000_0001] {
            assert!(!c.validate_tcp6(&answer6(&c, t, 22, SYN | ACK, delta)));
        }
        for flags in [SYN, RST, SYN | RST | ACK, ACK] {
            assert!(
                !c.validate_tcp6(&answer6(&c, t, 22, flags, 1)),
                "{flags:#x}"
            );
        }
        let good = answer6(&c, t, 22, SYN | ACK, 1);
        let other = v6("2001:2:0:19::b");
        for bad in [
            TcpSegment { sport: 23, ..good },
            TcpSegment {
                dport: good.dport ^ 1,
                ..good
            },
            TcpSegment {
                dport: 1000,
                ..good
            },
            TcpSegment { dst: other, ..good },
            TcpSegment { src: other, ..good },
        ] {
            assert!(!c.validate_tcp6(&bad), "{bad:?}");
        }
        // Another key, or a crafter without IPv6, rejects it.
        assert!(!dual(LinkLayer::Ethernet, [5, 7]).validate_tcp6(&good));
        assert!(!crafter(LinkLayer::Ethernet, [5, 6]).validate_tcp6(&good));
        // An IPv6-only crafter answers no IPv4 reply, even one with the right cookie.
        let v4 = syn_ack(&c, THEM, 22, SYN | ACK, 1);
        assert!(c.validate_tcp(&v4));
        assert!(!c.clone().without_ipv4().validate_tcp(&v4));
        // Quotes: exact, then each field off.
        let q = QuotedTcp {
            src: v6(US6),
            dst: t,
            sport: c.source_port6(t, 3389).unwrap(),
            dport: 3389,
            seq: c.sequence6(t, 3389).unwrap(),
        };
        assert!(c.validate_quote6(&q));
        for bad in [
            QuotedTcp {
                seq: q.seq.wrapping_add(1),
                ..q
            },
            QuotedTcp { dport: 3390, ..q },
            QuotedTcp { src: t, ..q },
            QuotedTcp { dst: other, ..q },
            QuotedTcp {
                sport: q.sport ^ 1,
                ..q
            },
        ] {
            assert!(!c.validate_quote6(&bad), "{bad:?}");
        }
        assert!(!crafter(LinkLayer::Ethernet, [5, 6]).validate_quote6(&q));
    }

    proptest! {
        #[test]
        fn crafted_checksums_verify_with_pnet(dst: u32, dport: u16, k0: u64, k1: u64, raw: bool) {
            let link = if raw { LinkLayer::RawIp } else { LinkLayer::Ethernet };
            let c = crafter(link, [k0, k1]);
            let dst = Ipv4Addr::from(dst);
            let f = craft(&c, dst, dport);
            let (sport, seq, id) = check_with_pnet(&f[link.header_len()..], dst, dport);
            prop_assert_eq!(sport, c.source_port(dst, dport));
            prop_assert_eq!(seq, c.sequence(dst, dport));
            let h = Cookie::new([k0, k1]).flow_hash(US, dst, sport, dport);
            prop_assert_eq!(id, (h >> 32) as u16);
        }
    }
}
