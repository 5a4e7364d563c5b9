//! Result vocabulary shared by every stage: port states, reasons and finished results.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// A transport protocol: the first half of a service's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP (read back from nmap -sY results; synscan does not probe it).
    Sctp,
}

impl Protocol {
    /// Every protocol, in a fixed order that files store as codes (append only).
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// Parses "tcp", "udp" or "sctp" (any case).
    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|p| s.eq_ignore_ascii_case(p.as_str()))
    }

    /// The lower-case name nmap and masscan print.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// The IP protocol number (IPv4 protocol, IPv6 next header).
    pub fn ip_number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol of an IP protocol number, if it is one of ours.
    pub fn from_ip_number(n: u8) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.ip_number() == n)
    }

    /// Its code in files (its index in [`Protocol::ALL`]).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The protocol of a file code.
    pub fn from_code(code: u8) -> Option<Protocol> {
        Protocol::ALL.get(usize::from(code)).copied()
    }
}

/// What a probe asks about on a host: a port of a protocol. The probe space is hosts x
/// services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Service {
    /// The protocol.
    pub protocol: Protocol,
    /// The port.
    pub port: u16,
}

impl Service {
    /// A TCP port.
    pub const fn tcp(port: u16) -> Service {
        Service {
            protocol: Protocol::Tcp,
            port,
        }
    }

    /// A UDP port.
    pub const fn udp(port: u16) -> Service {
        Service {
            protocol: Protocol::Udp,
            port,
        }
    }
}

impl std::fmt::Display for Service {
    /// nmap's form: "80/tcp".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol.as_str())
    }
}

/// A port's state as nmap defines it. Which replies (and which silence) lead to which state
/// is each probe kind's to say (`probe::kind`); this is only the vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortState {
    /// Something answers there (SYN/ACK, a UDP reply).
    Open,
    /// Reachable, nothing listening (RST to a SYN, port unreachable to UDP).
    Closed,
    /// A filter stops the probe or its answer.
    Filtered,
    /// Reachable, open or closed unknown (nmap -sA).
    Unfiltered,
    /// Open, or a filter drops the probe: silence where an open port may stay silent (UDP,
    /// FIN/NULL/Xmas).
    OpenFiltered,
    /// Closed, or a filter drops the probe (nmap -sI; --defeat-icmp-ratelimit).
    ClosedFiltered,
}

impl PortState {
    /// Every state, in a fixed order that files store as codes (append only).
    pub const ALL: [PortState; 6] = [
        PortState::Open,
        PortState::Closed,
        PortState::Filtered,
        PortState::Unfiltered,
        PortState::OpenFiltered,
        PortState::ClosedFiltered,
    ];

    /// The lower-case name nmap prints.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unfiltered => "unfiltered",
            PortState::OpenFiltered => "open|filtered",
            PortState::ClosedFiltered => "closed|filtered",
        }
    }

    /// Parses nmap's state names.
    pub fn parse(s: &str) -> Option<PortState> {
        PortState::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Its code in files (its index in [`PortState::ALL`]).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The state of a file code.
    pub fn from_code(code: u8) -> Option<PortState> {
        PortState::ALL.get(usize::from(code)).copied()
    }
}

/// Why a port got its state, named as nmap's `--reason` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// SYN/ACK received.
    SynAck,
    /// RST received.
    Reset,
    /// Nothing came back after every try.
    NoResponse,
    /// ICMP unreachable code 0.
    NetUnreach,
    /// ICMP unreachable code 1.
    HostUnreach,
    /// ICMP unreachable code 2.
    ProtoUnreach,
    /// ICMP unreachable code 3.
    PortUnreach,
    /// ICMP unreachable code 9.
    NetProhibited,
    /// ICMP unreachable code 10.
    HostProhibited,
    /// ICMP unreachable code 13.
    AdminProhibited,
    /// connect() was refused (connect scan).
    ConnRefused,
    /// ICMPv6 unreachable code 0 (no route to destination).
    NoRoute,
    /// ICMPv6 unreachable code 2 (beyond scope of source address).
    BeyondScope,
    /// ICMPv6 unreachable code 6 (reject route to destination).
    RejectRoute,
    /// A UDP datagram came back.
    UdpResponse,
}

impl Reason {
    /// Every reason, in a fixed order that files store as codes (append only).
    pub const ALL: [Reason; 15] = [
        Reason::SynAck,
        Reason::Reset,
        Reason::NoResponse,
        Reason::NetUnreach,
        Reason::HostUnreach,
        Reason::ProtoUnreach,
        Reason::PortUnreach,
        Reason::NetProhibited,
        Reason::HostProhibited,
        Reason::AdminProhibited,
        Reason::ConnRefused,
        Reason::NoRoute,
        Reason::BeyondScope,
        Reason::RejectRoute,
        Reason::UdpResponse,
    ];

    /// The name nmap prints for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Reset => "reset",
            Reason::NoResponse => "no-response",
            Reason::NetUnreach => "net-unreach",
            Reason::HostUnreach => "host-unreach",
            Reason::ProtoUnreach => "proto-unreach",
            Reason::PortUnreach => "port-unreach",
            Reason::NetProhibited => "net-prohibited",
            Reason::HostProhibited => "host-prohibited",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::ConnRefused => "conn-refused",
            Reason::NoRoute => "no-route",
            Reason::BeyondScope => "beyond-scope",
            Reason::RejectRoute => "reject-route",
            Reason::UdpResponse => "udp-response",
        }
    }

    /// The reason for an ICMP destination-unreachable code that marks a port filtered.
    pub fn from_icmp_unreachable(code: u8) -> Option<Reason> {
        match code {
            0 => Some(Reason::NetUnreach),
            1 => Some(Reason::HostUnreach),
            2 => Some(Reason::ProtoUnreach),
            3 => Some(Reason::PortUnreach),
            9 => Some(Reason::NetProhibited),
            10 => Some(Reason::HostProhibited),
            13 => Some(Reason::AdminProhibited),
            _ => None,
        }
    }

    /// The reason for an ICMPv6 destination-unreachable code, as nmap names it (every
    /// code it knows marks a TCP port filtered; address unreachable is nmap's host-unreach
    /// and a source-policy failure its admin-prohibited).
    pub fn from_icmpv6_unreachable(code: u8) -> Option<Reason> {
        match code {
            0 => Some(Reason::NoRoute),
            1 | 5 => Some(Reason::AdminProhibited),
            2 => Some(Reason::BeyondScope),
            3 => Some(Reason::HostUnreach),
            4 => Some(Reason::PortUnreach),
            6 => Some(Reason::RejectRoute),
            _ => None,
        }
    }
}

/// One decided probe: what a port on a host turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortResult {
    /// The target address.
    pub ip: IpAddr,
    /// The target port.
    pub port: u16,
    /// The port's protocol.
    pub protocol: Protocol,
    /// The decided state.
    pub state: PortState,
    /// Why it has that state.
    pub reason: Reason,
    /// TTL of the reply that decided it (0 when nothing came back).
    pub ttl: u8,
    /// When it was decided.
    pub timestamp: SystemTime,
}

impl PortResult {
    /// The (protocol, port) the result is about.
    pub fn service(&self) -> Service {
        Service {
            protocol: self.protocol,
            port: self.port,
        }
    }
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian (Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month 1-12, day 1-31) to days since 1970-01-01, the inverse of
/// [`civil_from_days`] (Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000, -1, 0, 59, 11_016, 20_833, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn icmp_codes_follow_nmap() {
        let filtered: Vec<u8> = (0..=255u8)
            .filter(|c| Reason::from_icmp_unreachable(*c).is_some())
            .collect();
        assert_eq!(filtered, vec![0, 1, 2, 3, 9, 10, 13]);
        assert_eq!(
            Reason::from_icmp_unreachable(13).map(Reason::as_str),
            Some("admin-prohibited")
        );
    }

    #[test]
    fn icmpv6_codes_follow_nmap() {
        let named: Vec<(u8, &str)> = (0..=255u8)
            .filter_map(|c| Reason::from_icmpv6_unreachable(c).map(|r| (c, r.as_str())))
            .collect();
        assert_eq!(
            named,
            vec![
                (0, "no-route"),
                (1, "admin-prohibited"),
                (2, "beyond-scope"),
                (3, "host-unreach"),
                (4, "port-unreach"),
                (5, "admin-prohibited"),
                (6, "reject-route"),
            ]
        );
        for code in 0..=6 {
            let reason = Reason::from_icmpv6_unreachable(code);
            assert_eq!(
                reason.map(|r| crate::probe::ProbeKind::TcpSyn.verdict(r)),
                Some(PortState::Filtered),
                "{code}"
            );
        }
    }

    #[test]
    fn reason_codes_are_append_only() {
        // Files store a reason as its index in ALL: the first eleven never move.
        let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "syn-ack",
                "reset",
                "no-response",
                "net-unreach",
                "host-unreach",
                "proto-unreach",
                "port-unreach",
                "net-prohibited",
                "host-prohibited",
                "admin-prohibited",
                "conn-refused",
                "no-route",
                "beyond-scope",
                "reject-route",
                "udp-response",
            ]
        );
    }
}

/// Generations of pilot probes (see [`crate::probe::PILOT_GENERATIONS`]).
pub const PILOT_GENERATIONS: usize = crate::probe::PILOT_GENERATIONS as usize;

/// One reading of a scan's counters: the progress line, the end-of-scan line, the -oJ
/// summary and the metrics file all read this one type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Frames sent (connects started), retries included.
    pub packets_sent: u64,
    /// New probes sent (not retries).
    pub new_probes: u64,
    /// Retries the probe table asked for.
    pub retries: u64,
    /// Verified SYN/ACKs (connects completed), duplicates included.
    pub syn_acks: u64,
    /// Verified RSTs (connects refused), duplicates included.
    pub resets: u64,
    /// Verified ICMP unreachables that mean filtered, duplicates included.
    pub unreachables: u64,
    /// Of those, the ones a hop on the path sent rather than the probed target (a router's
    /// net or host unreachable): a congestion signal when their share rises with the rate.
    pub path_errors: u64,
    /// Answers that decided a probe.
    pub replies: u64,
    /// Of those, the answers that came only on a retry.
    pub replies_only_on_retry: u64,
    /// Answers to probes already decided or never sent (duplicates, late replies).
    pub ignored_replies: u64,
    /// Probes that used every try without an answer.
    pub timed_out: u64,
    /// Frames captured.
    pub frames: u64,
    /// Frames that failed the cookie: not answers to our probes.
    pub not_ours: u64,
    /// Frames that did not parse.
    pub malformed: u64,
    /// Frames that parsed but mean nothing to a scan (other TCP flags, other ICMP).
    pub uninteresting: u64,
    /// Frames the kernel dropped because the capture buffer was full.
    pub capture_drops: u64,
    /// Times the kernel took fewer frames than offered (its queue full: ENOBUFS, EAGAIN).
    pub send_stalls: u64,
    /// Frames the interface dropped on the way out (its tx_dropped, where it reports it).
    pub tx_dropped: u64,
    /// Pilot probes sent (re-probes of answered pairs that clock the adaptive rate), by
    /// generation (each window of the adaptive rate sends its own).
    pub pilots_sent: [u64; PILOT_GENERATIONS],
    /// Verified answers to pilot probes, by the generation they answer.
    pub pilot_answers: [u64; PILOT_GENERATIONS],
    /// Open ports found.
    pub found_open: u64,
    /// The smoothed round-trip time, once measured.
    pub srtt: Option<Duration>,
    /// The send rate in force (None: unlimited).
    pub rate_pps: Option<u64>,
    /// The rate the adaptive rate settled on while probes were left to send (None when
    /// the rate is fixed or unlimited): what the end line and the -oJ summary report.
    pub settled_pps: Option<u64>,
    /// What the adaptive rate settled on judging by (None when the rate is fixed).
    pub rate_signal: Option<RateSignal>,
}

/// What the adaptive rate judged the path by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateSignal {
    /// The share of the sweep's own probes answered on their first try.
    Answers,
    /// The share of pilot probes answered (re-probes of pairs that answered before): the
    /// sweep drew too few answers to judge by.
    Pilots,
    /// Nothing answered enough to judge by: only this machine's own drops moved the rate.
    LocalDrops,
}

impl RateSignal {
    /// The name the end line and the -oJ summary use.
    pub fn as_str(self) -> &'static str {
        match self {
            RateSignal::Answers => "answers",
            RateSignal::Pilots => "pilots",
            RateSignal::LocalDrops => "local drops only",
        }
    }
}
