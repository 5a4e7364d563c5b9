//! Probe kinds as values, the way zmap has probe modules: each kind says which protocol it
//! probes, how nmap names its scan, which replies answer it and the state each verified
//! answer puts a port in, and what silence means. Each kind is a file of its own here; the
//! registry below (one line a kind) makes the enum the engines dispatch on (a `match`, no
//! trait objects on the hot path).

use crate::model::{PortState, Protocol, Reason};

/// What a kind's raw TCP probe looks like on the wire: the template is built from it once
/// per address family, and every probe carries the cookie in its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpProbe {
    /// The flags it sends.
    pub flags: u8,
    /// Its window.
    pub window: u16,
    /// Its TCP options (a multiple of 4 bytes, at most 40).
    pub options: &'static [u8],
    /// The cookie goes in the acknowledgement number too: a reset to a segment with ACK
    /// echoes that number as its sequence number, not ours.
    pub cookie_in_ack: bool,
}

/// Declares the kinds: `Variant => module` lines, each module supplying `PROTOCOL`,
/// `NMAP_TYPE`, `NMAP_LETTER`, `SILENCE`, `TCP_PROBE`, `tcp_answer`, `echo` and `verdict`.
macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident => $module:ident,)*) => {
        $(pub mod $module;)*

        /// A kind of probe.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ProbeKind {
            $($(#[$doc])* $variant,)*
        }

        impl ProbeKind {
            /// Every kind, in registry order.
            pub const ALL: &'static [ProbeKind] = &[$(ProbeKind::$variant,)*];

            /// The protocol it probes.
            pub fn protocol(self) -> Protocol {
                match self {
                    $(ProbeKind::$variant => $module::PROTOCOL,)*
                }
            }

            /// nmap's name for the scan (`<scaninfo type=..>`).
            pub fn nmap_type(self) -> &'static str {
                match self {
                    $(ProbeKind::$variant => $module::NMAP_TYPE,)*
                }
            }

            /// nmap's letter for the scan (`-sS`: 'S').
            pub fn nmap_letter(self) -> char {
                match self {
                    $(ProbeKind::$variant => $module::NMAP_LETTER,)*
                }
            }

            /// The kind nmap names `name` (`<scaninfo type=..>`, synscan's --scan-type).
            pub fn from_nmap_type(name: &str) -> Option<ProbeKind> {
                ProbeKind::ALL.iter().copied().find(|k| k.nmap_type() == name)
            }

            /// The kind of nmap's `-s<letter>`.
            pub fn from_nmap_letter(letter: char) -> Option<ProbeKind> {
                ProbeKind::ALL.iter().copied().find(|k| k.nmap_letter() == letter)
            }

            /// What its raw TCP probe looks like (the template's shape).
            pub fn tcp_probe(self) -> TcpProbe {
                match self {
                    $(ProbeKind::$variant => $module::TCP_PROBE,)*
                }
            }

            /// The cookie a TCP segment with `flags`, `seq` and `ack` echoes, when such a
            /// segment can answer this kind's probe at all (the reply's validation).
            #[inline]
            pub fn echo(self, flags: u8, seq: u32, ack: u32) -> Option<u32> {
                match self {
                    $(ProbeKind::$variant => $module::echo(flags, seq, ack),)*
                }
            }

            /// What a TCP segment with `flags` that passed the cookie says, if it answers
            /// this kind's probe at all.
            #[inline]
            pub fn tcp_answer(self, flags: u8) -> Option<Reason> {
                match self {
                    $(ProbeKind::$variant => $module::tcp_answer(flags),)*
                }
            }

            /// The state a verified answer with `reason` puts the port in.
            #[inline]
            pub fn verdict(self, reason: Reason) -> PortState {
                match self {
                    $(ProbeKind::$variant => $module::verdict(reason),)*
                }
            }

            /// The state of a port that never answered, after every try.
            #[inline]
            pub fn silence(self) -> PortState {
                match self {
                    $(ProbeKind::$variant => $module::SILENCE,)*
                }
            }
        }
    };
}

registry! {
    /// A raw TCP SYN (nmap -sS).
    TcpSyn => tcp_syn,
    /// A kernel connect() (nmap -sT).
    TcpConnect => tcp_connect,
    /// A bare ACK: unfiltered or filtered (nmap -sA).
    TcpAck => tcp_ack,
    /// A lone FIN: open|filtered, closed or filtered (nmap -sF).
    TcpFin => tcp_fin,
    /// No flags: as the FIN scan (nmap -sN).
    TcpNull => tcp_null,
    /// FIN, PSH and URG: as the FIN scan (nmap -sX).
    TcpXmas => tcp_xmas,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nmap's rules for -sS and -sT: every reason a reply can carry, and silence.
    #[test]
    fn syn_and_connect_decide_as_nmap_does() {
        for kind in [ProbeKind::TcpSyn, ProbeKind::TcpConnect] {
            assert_eq!(kind.protocol(), Protocol::Tcp);
            assert_eq!(kind.silence(), PortState::Filtered);
            let states: Vec<(&str, &str)> = Reason::ALL
                .iter()
                .map(|r| (r.as_str(), kind.verdict(*r).as_str()))
                .collect();
            assert_eq!(
                states,
                vec![
                    ("syn-ack", "open"),
                    ("reset", "closed"),
                    ("no-response", "filtered"),
                    ("net-unreach", "filtered"),
                    ("host-unreach", "filtered"),
                    ("proto-unreach", "filtered"),
                    ("port-unreach", "filtered"),
                    ("net-prohibited", "filtered"),
                    ("host-prohibited", "filtered"),
                    ("admin-prohibited", "filtered"),
                    ("conn-refused", "closed"),
                    ("no-route", "filtered"),
                    ("beyond-scope", "filtered"),
                    ("reject-route", "filtered"),
                    ("udp-response", "filtered"),
                ],
                "{kind:?}"
            );
        }
    }

    /// Each kind has nmap's name and letter, and is found by either.
    #[test]
    fn kinds_are_named_as_nmap_names_them() {
        let named: Vec<(&str, char)> = ProbeKind::ALL
            .iter()
            .map(|k| (k.nmap_type(), k.nmap_letter()))
            .collect();
        assert_eq!(named, NAMES);
        for &k in ProbeKind::ALL {
            assert_eq!(ProbeKind::from_nmap_type(k.nmap_type()), Some(k));
            assert_eq!(ProbeKind::from_nmap_letter(k.nmap_letter()), Some(k));
        }
        assert_eq!(ProbeKind::from_nmap_type("maimon"), None);
        assert_eq!(ProbeKind::from_nmap_letter('M'), None);
    }

    /// The kinds in registry order: nmap's scan type names and letters.
    const NAMES: &[(&str, char)] = &[
        ("syn", 'S'),
        ("connect", 'T'),
        ("ack", 'A'),
        ("fin", 'F'),
        ("null", 'N'),
        ("xmas", 'X'),
    ];

    /// The state `kind` gives each reason, and silence (no-response).
    fn states(kind: ProbeKind) -> Vec<(&'static str, &'static str)> {
        Reason::ALL
            .iter()
            .map(|r| (r.as_str(), kind.verdict(*r).as_str()))
            .collect()
    }

    /// nmap -sA: a reset unfiltered, an unreachable and silence filtered; only a reset
    /// answers, echoing the cookie the ACK carried as its acknowledgement number.
    #[test]
    fn ack_decides_as_nmap_does() {
        use crate::wire::tcp_flags::{ACK, FIN, RST, SYN};
        let k = ProbeKind::TcpAck;
        assert_eq!(
            (k.protocol(), k.silence()),
            (Protocol::Tcp, PortState::Filtered)
        );
        for (reason, state) in states(k) {
            let want = if reason == "reset" {
                "unfiltered"
            } else {
                "filtered"
            };
            assert_eq!(state, want, "{reason}");
        }
        assert_eq!(k.tcp_probe().flags, ACK);
        assert!(k.tcp_probe().cookie_in_ack);
        for flags in [RST, RST | ACK] {
            assert_eq!(k.tcp_answer(flags), Some(Reason::Reset));
            assert_eq!(k.echo(flags, 0x1234, 7), Some(0x1234));
        }
        for flags in [SYN | ACK, ACK, FIN | ACK, 0] {
            assert_eq!((k.tcp_answer(flags), k.echo(flags, 1, 2)), (None, None));
        }
    }

    /// nmap -sF, -sN, -sX: a reset closed, an unreachable filtered, silence open|filtered;
    /// only a reset that acknowledges the probe answers (its ack the cookie, plus one for
    /// a FIN).
    #[test]
    fn fin_null_and_xmas_decide_as_nmap_does() {
        use crate::wire::tcp_flags::{ACK, FIN, PSH, RST, SYN, URG};
        for (k, flags, fin) in [
            (ProbeKind::TcpFin, FIN, 1),
            (ProbeKind::TcpNull, 0, 0),
            (ProbeKind::TcpXmas, FIN | PSH | URG, 1),
        ] {
            assert_eq!(
                (k.protocol(), k.silence()),
                (Protocol::Tcp, PortState::OpenFiltered)
            );
            for (reason, state) in states(k) {
                let want = if reason == "reset" {
                    "closed"
                } else {
                    "filtered"
                };
                assert_eq!(state, want, "{k:?} {reason}");
            }
            assert_eq!(k.tcp_probe().flags, flags, "{k:?}");
            assert!(!k.tcp_probe().cookie_in_ack);
            assert_eq!(k.tcp_answer(RST | ACK), Some(Reason::Reset));
            assert_eq!(k.echo(RST | ACK, 5, 1000 + fin), Some(1000), "{k:?}");
            // A bare RST acknowledges nothing; a SYN/ACK does not answer.
            assert_eq!(k.echo(RST, 1000, 1000 + fin), None, "{k:?}");
            assert_eq!(k.tcp_answer(SYN | ACK), None);
            assert_eq!(k.echo(SYN | ACK, 0, 1000 + fin), None);
        }
    }

    /// A SYN is answered by a SYN/ACK (open) or any RST (closed); every other segment is
    /// not an answer.
    #[test]
    fn which_segments_answer_a_syn() {
        use crate::wire::tcp_flags::{ACK, FIN, PSH, RST, SYN};
        let k = ProbeKind::TcpSyn;
        assert_eq!(k.tcp_answer(SYN | ACK), Some(Reason::SynAck));
        assert_eq!(k.tcp_answer(SYN | ACK | PSH), Some(Reason::SynAck));
        assert_eq!(k.tcp_answer(RST | ACK), Some(Reason::Reset));
        assert_eq!(k.tcp_answer(RST), Some(Reason::Reset));
        assert_eq!(k.tcp_answer(RST | SYN | ACK), Some(Reason::Reset));
        for flags in [SYN, ACK, FIN | ACK, PSH | ACK, 0] {
            assert_eq!(k.tcp_answer(flags), None, "{flags:#x}");
        }
    }
}
