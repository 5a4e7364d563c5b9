//! Compares two sets of results by (ip, proto, port), never by line: a change is a pair
//! whose openness differs. A pair found in only one set is "unscanned" in the other, never
//! "closed"; closed and filtered are both "not open" and do not differ from each other.

use crate::results::{PortState, Protocol, Record};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

/// One (address, protocol, port) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    /// Address.
    pub ip: IpAddr,
    /// Protocol.
    pub proto: Protocol,
    /// Port.
    pub port: u16,
}

impl Pair {
    /// The pair a record is about.
    pub fn of(r: &Record) -> Pair {
        Pair {
            ip: r.ip,
            proto: r.proto,
            port: r.port,
        }
    }
}

/// A pair whose openness changed; `None` is "unscanned" on that side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The pair.
    pub pair: Pair,
    /// PortState in the old results.
    pub was: Option<PortState>,
    /// PortState in the new results.
    pub now: Option<PortState>,
}

/// The name of a side's state ("unscanned" when the pair is absent).
pub fn state_name(s: Option<PortState>) -> &'static str {
    s.map_or("unscanned", PortState::as_str)
}

impl Change {
    /// A short word for what happened: "opened" or "closed", "filtered", "unscanned".
    pub fn kind(&self) -> &'static str {
        if self.now == Some(PortState::Open) {
            "opened"
        } else {
            match self.now {
                Some(PortState::Closed) => "closed",
                None => "unscanned",
                _ => "filtered",
            }
        }
    }
}

/// True when a change between these two states is reported: exactly one side is open.
pub fn differs(was: Option<PortState>, now: Option<PortState>) -> bool {
    (was == Some(PortState::Open)) != (now == Some(PortState::Open))
}

/// The latest state of each pair of a record list (a later record of a pair wins, as in a
/// file a resumed scan appended to).
pub fn latest(records: &[Record]) -> HashMap<Pair, PortState> {
    let mut m = HashMap::with_capacity(records.len());
    for r in records {
        m.insert(Pair::of(r), r.state);
    }
    m
}

/// Every change from `old` to `new`, sorted by address, protocol and port.
pub fn diff(old: &HashMap<Pair, PortState>, new: &HashMap<Pair, PortState>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for (pair, was) in old {
        let now = new.get(pair).copied();
        if differs(Some(*was), now) {
            out.push(Change {
                pair: *pair,
                was: Some(*was),
                now,
            });
        }
    }
    for (pair, now) in new {
        if *now == PortState::Open && !old.contains_key(pair) {
            out.push(Change {
                pair: *pair,
                was: None,
                now: Some(*now),
            });
        }
    }
    out.sort_by_key(|c| c.pair);
    out
}

/// The latest record time of a set, the best "time of the scan" a file offers.
pub fn scan_time(records: &[Record]) -> Option<u64> {
    records.iter().filter_map(|r| r.time).max()
}

/// Text report: one line per change, grouped by host (changes must be sorted).
pub fn render_text(changes: &[Change]) -> String {
    grouped_by_host(
        changes,
        |c| c.pair.ip,
        |c| {
            format!(
                "{}/{}: {} -> {}",
                c.pair.port,
                c.pair.proto.as_str(),
                state_name(c.was),
                state_name(c.now)
            )
        },
    )
}

/// Lines grouped under their host, each indented once (the diff reports' text shape).
pub fn grouped_by_host<T>(
    items: &[T],
    ip: impl Fn(&T) -> IpAddr,
    line: impl Fn(&T) -> String,
) -> String {
    let mut by_host: BTreeMap<IpAddr, Vec<&T>> = BTreeMap::new();
    for item in items {
        by_host.entry(ip(item)).or_default().push(item);
    }
    let mut s = String::new();
    for (host, list) in by_host {
        let _ = writeln!(s, "{host}");
        for item in list {
            let _ = writeln!(s, "  {}", line(item));
        }
    }
    s
}

/// One NDJSON object for a change; the times are those of the two scans when known.
pub fn json_line(c: &Change, was_time: Option<u64>, now_time: Option<u64>) -> String {
    let v = serde_json::json!({
        "type": "change",
        "ip": c.pair.ip.to_string(),
        "port": c.pair.port,
        "proto": c.pair.proto.as_str(),
        "was": state_name(c.was),
        "now": state_name(c.now),
        "change": c.kind(),
        "was_time": was_time,
        "now_time": now_time,
    });
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ip: &str, port: u16, state: PortState) -> Record {
        Record {
            ip: ip.parse().unwrap(),
            port,
            proto: Protocol::Tcp,
            state,
            reason: String::new(),
            time: Some(100),
        }
    }

    fn pair(ip: &str, port: u16) -> Pair {
        Pair {
            ip: ip.parse().unwrap(),
            proto: Protocol::Tcp,
            port,
        }
    }

    #[test]
    fn reports_only_changes_of_openness() {
        let old = latest(&[
            rec("10.0.0.1", 22, PortState::Open),
            rec("10.0.0.1", 80, PortState::Open),
            rec("10.0.0.1", 443, PortState::Closed),
            rec("10.0.0.2", 25, PortState::Closed),
            rec("10.0.0.2", 26, PortState::Open),
            rec("10.0.0.3", 1, PortState::Filtered),
        ]);
        let new = latest(&[
            rec("10.0.0.1", 22, PortState::Open),
            rec("10.0.0.1", 80, PortState::Filtered),
            rec("10.0.0.1", 443, PortState::Open),
            rec("10.0.0.2", 25, PortState::Filtered),
            rec("10.0.0.4", 8080, PortState::Open),
            rec("10.0.0.4", 8081, PortState::Closed),
        ]);
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                Change {
                    pair: pair("10.0.0.1", 80),
                    was: Some(PortState::Open),
                    now: Some(PortState::Filtered)
                },
                Change {
                    pair: pair("10.0.0.1", 443),
                    was: Some(PortState::Closed),
                    now: Some(PortState::Open)
                },
                Change {
                    pair: pair("10.0.0.2", 26),
                    was: Some(PortState::Open),
                    now: None
                },
                Change {
                    pair: pair("10.0.0.4", 8080),
                    was: None,
                    now: Some(PortState::Open)
                },
            ]
        );
        assert_eq!(
            render_text(&changes),
            "10.0.0.1\n  80/tcp: open -> filtered\n  443/tcp: closed -> open\n10.0.0.2\n  26/tcp: open -> unscanned\n10.0.0.4\n  8080/tcp: unscanned -> open\n"
        );
    }

    #[test]
    fn same_sets_in_another_order_do_not_differ() {
        let a = vec![
            rec("10.0.0.1", 1, PortState::Open),
            rec("10.0.0.2", 2, PortState::Open),
        ];
        let b: Vec<Record> = a.iter().rev().cloned().collect();
        assert!(diff(&latest(&a), &latest(&b)).is_empty());
    }

    #[test]
    fn later_record_of_a_pair_wins() {
        let m = latest(&[
            rec("10.0.0.1", 1, PortState::Open),
            rec("10.0.0.1", 1, PortState::Closed),
        ]);
        assert_eq!(m.get(&pair("10.0.0.1", 1)), Some(&PortState::Closed));
    }

    #[test]
    fn json_has_the_fields_scripts_use() {
        let c = Change {
            pair: pair("10.0.0.1", 80),
            was: Some(PortState::Open),
            now: None,
        };
        assert_eq!(
            json_line(&c, Some(1), None),
            r#"{"change":"unscanned","ip":"10.0.0.1","now":"unscanned","now_time":null,"port":80,"proto":"tcp","type":"change","was":"open","was_time":1}"#
        );
    }
}
