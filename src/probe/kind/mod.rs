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
/// `NMAP_TYPE`, `SILENCE`, `TCP_PROBE`, `tcp_answer`, `echo` and `verdict`.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nmap's rules for -sS and -sT: every reason a reply can carry, and silence.
    #[test]
    fn syn_and_connect_decide_as_nmap_does() {
        for &kind in ProbeKind::ALL {
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
        assert_eq!(
            ProbeKind::ALL
                .iter()
                .map(|k| k.nmap_type())
                .collect::<Vec<_>>(),
            ["syn", "connect"]
        );
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
