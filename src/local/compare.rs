//! Joins this host's listening sockets with a scan of this host made from elsewhere.

use super::socket::Proto;
use super::Listener;
use crate::results::{PortState, Protocol, Record};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What a scan from outside says about a local port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Listening, and open from outside.
    Exposed,
    /// Listening, and filtered from outside (a firewall drops or rejects it).
    Firewalled,
    /// Listening, but closed from outside: bound to another address, or a NAT mismatch.
    ClosedFromOutside,
    /// Listening; the scan did not cover this port.
    NotScanned,
    /// Open from outside with no local listener: forwarded or proxied elsewhere.
    OpenNoListener,
}

impl Verdict {
    /// The words shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Exposed => "exposed",
            Verdict::Firewalled => "firewalled",
            Verdict::ClosedFromOutside => "closed from outside",
            Verdict::NotScanned => "not scanned",
            Verdict::OpenNoListener => "open, no local listener (forwarded or proxied)",
        }
    }
}

/// One line of the audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The local listener (None for a port open from outside with none).
    pub listener: Option<Listener>,
    /// Protocol.
    pub proto: Proto,
    /// Port.
    pub port: u16,
    /// The verdict.
    pub verdict: Verdict,
    /// What the scan saw for this port: (address, state), sorted.
    pub outside: Vec<(IpAddr, PortState)>,
}

fn proto_of(t: Protocol) -> Option<Proto> {
    match t {
        Protocol::Tcp => Some(Proto::Tcp),
        Protocol::Udp => Some(Proto::Udp),
        Protocol::Sctp => None,
    }
}

/// The verdict for a listener from every state the scan saw on its port.
fn verdict(states: &[(IpAddr, PortState)]) -> Verdict {
    let has = |f: fn(PortState) -> bool| states.iter().any(|(_, s)| f(*s));
    if has(|s| s == PortState::Open) {
        Verdict::Exposed
    } else if has(|s| {
        matches!(
            s,
            PortState::Filtered | PortState::OpenFiltered | PortState::ClosedFiltered
        )
    }) {
        Verdict::Firewalled
    } else if states.is_empty() {
        Verdict::NotScanned
    } else {
        Verdict::ClosedFromOutside
    }
}

/// The audit: a row per listener, then a row per port open from outside with no listener.
pub fn compare(listeners: &[Listener], records: &[Record]) -> Vec<Row> {
    let mut seen: BTreeMap<(Proto, u16), Vec<(IpAddr, PortState)>> = BTreeMap::new();
    for r in records {
        if let Some(p) = proto_of(r.proto) {
            seen.entry((p, r.port)).or_default().push((r.ip, r.state));
        }
    }
    for v in seen.values_mut() {
        v.sort();
        v.dedup();
    }
    let mut rows: Vec<Row> = listeners
        .iter()
        .map(|l| {
            let key = (l.socket.proto, l.socket.port);
            let outside = seen.get(&key).cloned().unwrap_or_default();
            Row {
                listener: Some(l.clone()),
                proto: key.0,
                port: key.1,
                verdict: verdict(&outside),
                outside,
            }
        })
        .collect();
    for ((proto, port), outside) in &seen {
        let listened = listeners
            .iter()
            .any(|l| l.socket.proto == *proto && l.socket.port == *port);
        if !listened && outside.iter().any(|(_, s)| *s == PortState::Open) {
            rows.push(Row {
                listener: None,
                proto: *proto,
                port: *port,
                verdict: Verdict::OpenNoListener,
                outside: outside
                    .iter()
                    .filter(|(_, s)| *s == PortState::Open)
                    .cloned()
                    .collect(),
            });
        }
    }
    rows
}

/// One line counting the rows of each verdict, e.g. "2 exposed, 1 firewalled".
pub fn summary(rows: &[Row]) -> String {
    let all = [
        Verdict::Exposed,
        Verdict::Firewalled,
        Verdict::ClosedFromOutside,
        Verdict::NotScanned,
        Verdict::OpenNoListener,
    ];
    let parts: Vec<String> = all
        .iter()
        .map(|v| (v, rows.iter().filter(|r| r.verdict == *v).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| match v {
            Verdict::OpenNoListener => format!("{n} open from outside with no local listener"),
            v => format!("{n} {}", v.as_str()),
        })
        .collect();
    if parts.is_empty() {
        "no listening socket and nothing open from outside".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::socket::{tcp_state, LocalSocket};

    fn listener(proto: Proto, addr: &str, port: u16) -> Listener {
        Listener {
            socket: LocalSocket {
                proto,
                addr: addr.parse().unwrap(),
                port,
                state: if proto == Proto::Tcp {
                    tcp_state::LISTEN
                } else {
                    tcp_state::CLOSE
                },
                v6only: None,
                uid: 0,
                inode: u64::from(port),
            },
            holders: vec![],
            user: None,
            service: None,
        }
    }

    fn rec(ip: &str, port: u16, state: PortState) -> Record {
        Record {
            ip: ip.parse().unwrap(),
            port,
            proto: Protocol::Tcp,
            state,
            reason: String::new(),
            time: None,
        }
    }

    #[test]
    fn classifies_every_case() {
        let ls = vec![
            listener(Proto::Tcp, "0.0.0.0", 22),
            listener(Proto::Tcp, "0.0.0.0", 3306),
            listener(Proto::Tcp, "127.0.0.1", 631),
            listener(Proto::Tcp, "0.0.0.0", 9000),
            listener(Proto::Udp, "0.0.0.0", 53),
        ];
        let recs = vec![
            rec("198.19.0.5", 22, PortState::Open),
            rec("198.19.0.5", 3306, PortState::Filtered),
            rec("198.19.0.5", 631, PortState::Closed),
            rec("198.19.0.5", 8080, PortState::Open),
            rec("198.19.0.5", 8081, PortState::Closed),
        ];
        let rows = compare(&ls, &recs);
        let got: Vec<(Proto, u16, Verdict)> =
            rows.iter().map(|r| (r.proto, r.port, r.verdict)).collect();
        assert_eq!(
            got,
            vec![
                (Proto::Tcp, 22, Verdict::Exposed),
                (Proto::Tcp, 3306, Verdict::Firewalled),
                (Proto::Tcp, 631, Verdict::ClosedFromOutside),
                (Proto::Tcp, 9000, Verdict::NotScanned),
                (Proto::Udp, 53, Verdict::NotScanned),
                (Proto::Tcp, 8080, Verdict::OpenNoListener),
            ]
        );
        assert_eq!(
            rows[0].outside,
            vec![("198.19.0.5".parse().unwrap(), PortState::Open)]
        );
        assert_eq!(
            summary(&rows),
            "1 exposed, 1 firewalled, 1 closed from outside, 2 not scanned, 1 open from outside with no local listener"
        );
        assert_eq!(
            summary(&[]),
            "no listening socket and nothing open from outside"
        );
    }

    #[test]
    fn open_anywhere_wins() {
        let ls = vec![listener(Proto::Tcp, "0.0.0.0", 80)];
        let recs = vec![
            rec("198.19.0.5", 80, PortState::Filtered),
            rec("198.19.0.6", 80, PortState::Open),
        ];
        assert_eq!(compare(&ls, &recs)[0].verdict, Verdict::Exposed);
    }
}
