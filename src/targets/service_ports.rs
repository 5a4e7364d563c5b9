//! nmap's protocol-prefixed `-p` for scans of more than TCP: `-p U:53,161,T:22,80`.
//!
//! A prefix (`T:` for TCP, `U:` for UDP, either case) applies to its item and every item after
//! it until the next prefix; items before any prefix go to every protocol the scan covers, as
//! nmap has it. For a TCP-only scan without prefixes this is [`parse_ports`] exactly.

use super::ports::port_range;
use super::{PortSet, TargetError};

/// The protocols a scan covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// A TCP scan (-sS, --connect).
    pub tcp: bool,
    /// A UDP scan (-sU).
    pub udp: bool,
}

/// The ports of each protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicePorts {
    /// TCP ports.
    pub tcp: PortSet,
    /// UDP ports.
    pub udp: PortSet,
}

/// A protocol a prefix names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prefix {
    Tcp,
    Udp,
}

/// The prefix an item starts with (and the rest), or an error for SCTP and IP protocols.
fn split_prefix(item: &str) -> Result<(Option<Prefix>, &str), TargetError> {
    let b = item.as_bytes();
    if b.len() < 2 || b[1] != b':' {
        return Ok((None, item));
    }
    let rest = item[2..].trim();
    match b[0].to_ascii_uppercase() {
        b'T' => Ok((Some(Prefix::Tcp), rest)),
        b'U' => Ok((Some(Prefix::Udp), rest)),
        b'S' | b'P' => Err(TargetError(format!(
            "\"{item}\" in -p asks for SCTP or IP protocols: TCP and UDP are scanned; drop the {}: part",
            char::from(b[0])
        ))),
        _ => Ok((None, item)),
    }
}

/// Parses `-p` with protocol prefixes for a scan covering `scanned` (at least one protocol).
pub fn parse_service_ports(spec: &str, scanned: Scanned) -> Result<ServicePorts, TargetError> {
    if spec.trim().is_empty() {
        return Err(TargetError(
            "empty -p: give ports like 22,80,8000-8100 or - for all".to_string(),
        ));
    }
    let mut tcp = Vec::new();
    let mut udp = Vec::new();
    let mut current: Option<Prefix> = None;
    for item in spec.split(',') {
        let item = item.trim();
        let (prefix, rest) = split_prefix(item)?;
        if let Some(p) = prefix {
            current = Some(p);
            let (asked, name, flag) = match p {
                Prefix::Tcp => (scanned.tcp, "TCP", "-sS"),
                Prefix::Udp => (scanned.udp, "UDP", "-sU"),
            };
            if !asked {
                return Err(TargetError(format!(
                    "\"{item}\" in -p names {name} ports, but no {name} scan was asked for: add {flag}, or drop the {}: part",
                    &item[..1]
                )));
            }
            if rest.is_empty() {
                return Err(TargetError(format!(
                    "no ports after \"{}:\" in -p \"{}\": give them like -p U:53,161,T:22,80",
                    &item[..1],
                    spec.trim()
                )));
            }
        }
        if rest.is_empty() {
            return Err(TargetError(format!(
                "empty item in -p \"{}\": separate ports with single commas",
                spec.trim()
            )));
        }
        let range = port_range(rest)?;
        match current {
            Some(Prefix::Tcp) => tcp.push(range),
            Some(Prefix::Udp) => udp.push(range),
            None => {
                if scanned.tcp {
                    tcp.push(range);
                }
                if scanned.udp {
                    udp.push(range);
                }
            }
        }
    }
    Ok(ServicePorts {
        tcp: PortSet::from_ranges(tcp),
        udp: PortSet::from_ranges(udp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::parse_ports;

    const TCP: Scanned = Scanned {
        tcp: true,
        udp: false,
    };
    const UDP: Scanned = Scanned {
        tcp: false,
        udp: true,
    };
    const BOTH: Scanned = Scanned {
        tcp: true,
        udp: true,
    };

    fn ok(s: &str, scanned: Scanned) -> (String, String) {
        let p = parse_service_ports(s, scanned).unwrap();
        (p.tcp.to_spec(), p.udp.to_spec())
    }

    fn err(s: &str, scanned: Scanned) -> String {
        parse_service_ports(s, scanned).unwrap_err().to_string()
    }

    fn pair(t: &str, u: &str) -> (String, String) {
        (t.to_string(), u.to_string())
    }

    #[test]
    fn prefixes_carry_to_the_next_one() {
        assert_eq!(ok("U:53,161,T:22,80", BOTH), pair("22,80", "53,161"));
        assert_eq!(ok("T:22,80,U:53", BOTH), pair("22,80", "53"));
        assert_eq!(ok("u:53, t: 22", BOTH), pair("22", "53"));
        assert_eq!(ok("U:-", BOTH), pair("", "1-65535"));
        assert_eq!(ok("U:1000-,T:-1024", BOTH), pair("1-1024", "1000-65535"));
        // Unprefixed items go to every protocol scanned.
        assert_eq!(ok("22,53", BOTH), pair("22,53", "22,53"));
        assert_eq!(ok("443,U:53", BOTH), pair("443", "53,443"));
        assert_eq!(ok("53,161", UDP), pair("", "53,161"));
        assert_eq!(ok("U:53,161", UDP), pair("", "53,161"));
        assert_eq!(ok("T:22,80", TCP), pair("22,80", ""));
    }

    /// A TCP-only scan without prefixes reads -p exactly as before.
    #[test]
    fn tcp_only_without_prefixes_is_todays_p() {
        for s in [
            "22,80,8000-8100",
            "-",
            "1-",
            "-1024",
            " 22 , 80 - 81 ,443",
            "T:22,80",
        ] {
            let p = parse_service_ports(s, TCP).unwrap();
            assert_eq!(p.tcp, parse_ports(s).unwrap(), "{s}");
            assert!(p.udp.is_empty());
        }
        for s in ["70000", "0", "http", "100-10", "22,,80", "", "1-2-3"] {
            assert_eq!(
                parse_service_ports(s, TCP).unwrap_err(),
                parse_ports(s).unwrap_err(),
                "{s}"
            );
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            err("U:", BOTH),
            "no ports after \"U:\" in -p \"U:\": give them like -p U:53,161,T:22,80"
        );
        assert_eq!(
            err("U:70000", UDP),
            "bad port \"70000\" in -p: ports are 1-65535"
        );
        assert!(err("T:22,U:", BOTH).contains("no ports after \"U:\""));
        assert!(err("U:,53", BOTH).contains("no ports after \"U:\""));
        assert!(err("U:53,,80", BOTH).contains("empty item in -p"));
        assert_eq!(
            err("U:53", TCP),
            "\"U:53\" in -p names UDP ports, but no UDP scan was asked for: add -sU, or drop the U: part"
        );
        assert_eq!(
            err("t:22", UDP),
            "\"t:22\" in -p names TCP ports, but no TCP scan was asked for: add -sS, or drop the t: part"
        );
        assert_eq!(
            err("S:80", BOTH),
            "\"S:80\" in -p asks for SCTP or IP protocols: TCP and UDP are scanned; drop the S: part"
        );
        assert!(err("P:6", BOTH).contains("drop the P: part"));
        assert!(err("U:0", UDP).contains("port 0 is not scannable"));
    }
}
