//! One report from several result files (the shards of a scan, or several runs): records
//! are merged by pair, the latest state winning, and written through the scan's writers.

use crate::error::ScanError;
use crate::model::{PortResult, PortState, Protocol, Reason};
use crate::output::{OutputOptions, OutputSpec, Outputs, ScanInfo, ScanSummary};
use crate::results::Record;
use crate::targets::ServiceSet;
use crate::watch::diff::Pair;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, UNIX_EPOCH};

/// Merges record sets given oldest first: for each pair the record with the latest time
/// wins; on equal or unknown times, the later set (and the later record) wins.
pub fn merge(sets: Vec<Vec<Record>>) -> Vec<Record> {
    let mut best: HashMap<Pair, Record> = HashMap::new();
    for set in sets {
        for r in set {
            let pair = Pair::of(&r);
            let newer = match best.get(&pair) {
                None => true,
                Some(old) => r.time.unwrap_or(0) >= old.time.unwrap_or(0),
            };
            if newer {
                best.insert(pair, r);
            }
        }
    }
    let mut out: Vec<Record> = best.into_values().collect();
    out.sort_by_key(Pair::of);
    out
}

/// Whether some probe kind of `protocol` decides `state`, with `reason` when one is named.
fn decided_by_a_kind(protocol: Protocol, state: PortState, reason: Option<Reason>) -> bool {
    crate::probe::ProbeKind::ALL
        .iter()
        .filter(|k| k.protocol() == protocol)
        .any(|k| match reason {
            Some(Reason::NoResponse) => k.silence() == state,
            Some(r) => k.verdict(r) == state,
            None => k.silence() == state || Reason::ALL.iter().any(|r| k.verdict(*r) == state),
        })
}

/// The reason named `s` when a probe kind of `protocol` gives it with `state`, or the usual
/// one for the state when the file names none we know.
fn reason_of(s: &str, protocol: Protocol, state: PortState) -> Reason {
    let usual = match state {
        PortState::Open => Reason::SynAck,
        PortState::Closed | PortState::Unfiltered => Reason::Reset,
        _ => Reason::NoResponse,
    };
    let named = Reason::ALL.into_iter().find(|r| r.as_str() == s);
    match named {
        Some(r) if decided_by_a_kind(protocol, state, Some(r)) => r,
        _ => usual,
    }
}

/// The scan result a record stands for, when synscan's writers can show it (a state one of
/// synscan's probe kinds of its protocol decides, over IPv4 or IPv6).
pub fn to_port_result(r: &Record) -> Option<PortResult> {
    if !decided_by_a_kind(r.proto, r.state, None) {
        return None;
    }
    Some(PortResult {
        ip: r.ip,
        port: r.port,
        protocol: r.proto,
        state: r.state,
        reason: reason_of(&r.reason, r.proto, r.state),
        ttl: 0,
        timestamp: UNIX_EPOCH + Duration::from_secs(r.time.unwrap_or(0)),
    })
}

/// Writes merged records to the outputs; returns how many records no writer can show.
pub fn write(
    records: &[Record],
    specs: &[OutputSpec],
    claims: &mut crate::sys::fs::Claims,
    opts: &OutputOptions,
    command_line: String,
) -> Result<usize, ScanError> {
    let results: Vec<PortResult> = records.iter().filter_map(to_port_result).collect();
    let skipped = records.len() - results.len();
    let mut services = ServiceSet::default();
    for r in &results {
        match r.protocol {
            Protocol::Tcp => services.tcp.insert_range(r.port, r.port),
            Protocol::Udp => services.udp.insert_range(r.port, r.port),
            Protocol::Sctp => {}
        }
    }
    let hosts: HashSet<_> = results.iter().map(|r| r.ip).collect();
    let first = records.iter().filter_map(|r| r.time).min().unwrap_or(0);
    let last = records.iter().filter_map(|r| r.time).max().unwrap_or(first);
    let info = ScanInfo {
        start: UNIX_EPOCH + Duration::from_secs(first),
        command_line,
        services,
        hosts: hosts.len() as u64,
        probes: results.len() as u64,
        seed: 0,
        scan_types: vec![(Protocol::Tcp, "syn")],
        shard: None,
    };
    // A bad output path is the user's to fix (exit 2), as in a scan.
    let mut outputs = Outputs::open(specs, opts, &info, claims)?;
    for r in &results {
        outputs
            .record(r)
            .map_err(|e| ScanError::runtime(format!("writing the merged results failed: {e}")))?;
    }
    let summary = ScanSummary {
        end: Some(UNIX_EPOCH + Duration::from_secs(last)),
        elapsed: Duration::from_secs(last - first),
        ..ScanSummary::default()
    };
    outputs
        .finish(&summary)
        .map_err(|e| ScanError::runtime(format!("writing the merged results failed: {e}")))?;
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ip: &str, port: u16, state: PortState, time: Option<u64>) -> Record {
        Record {
            ip: ip.parse().unwrap(),
            port,
            proto: Protocol::Tcp,
            state,
            reason: String::new(),
            time,
        }
    }

    #[test]
    fn latest_state_of_a_pair_wins() {
        let a = vec![
            rec("10.0.0.1", 80, PortState::Open, Some(10)),
            rec("10.0.0.1", 22, PortState::Open, Some(30)),
        ];
        let b = vec![
            rec("10.0.0.1", 80, PortState::Closed, Some(20)),
            rec("10.0.0.1", 22, PortState::Closed, Some(20)),
            rec("10.0.0.2", 1, PortState::Filtered, None),
        ];
        let m = merge(vec![a, b]);
        assert_eq!(
            m,
            vec![
                rec("10.0.0.1", 22, PortState::Open, Some(30)),
                rec("10.0.0.1", 80, PortState::Closed, Some(20)),
                rec("10.0.0.2", 1, PortState::Filtered, None),
            ]
        );
    }

    #[test]
    fn disjoint_shards_union() {
        let a = vec![rec("10.0.0.1", 80, PortState::Open, Some(1))];
        let b = vec![rec("10.0.0.2", 80, PortState::Open, Some(1))];
        assert_eq!(merge(vec![a.clone(), b.clone()]), [a, b].concat());
    }

    #[test]
    fn ipv6_and_mixed_shards_merge_into_results_the_writers_show() {
        let a = vec![
            rec("2001:2:0:19::5", 443, PortState::Open, Some(10)),
            rec("198.19.0.5", 22, PortState::Closed, Some(10)),
        ];
        let b = vec![
            rec("2001:2:0:19::5", 443, PortState::Filtered, Some(20)),
            rec("2001:2:0:19::5", 22, PortState::Open, Some(5)),
        ];
        let m = merge(vec![a, b]);
        assert_eq!(
            m,
            vec![
                rec("198.19.0.5", 22, PortState::Closed, Some(10)),
                rec("2001:2:0:19::5", 22, PortState::Open, Some(5)),
                rec("2001:2:0:19::5", 443, PortState::Filtered, Some(20)),
            ]
        );
        let shown: Vec<(std::net::IpAddr, u16, PortState, Reason)> = m
            .iter()
            .filter_map(to_port_result)
            .map(|p| (p.ip, p.port, p.state, p.reason))
            .collect();
        let v6: std::net::IpAddr = "2001:2:0:19::5".parse().unwrap();
        assert_eq!(
            shown,
            vec![
                (
                    "198.19.0.5".parse().unwrap(),
                    22,
                    PortState::Closed,
                    Reason::Reset
                ),
                (v6, 22, PortState::Open, Reason::SynAck),
                (v6, 443, PortState::Filtered, Reason::NoResponse),
            ]
        );
    }

    #[test]
    fn records_writers_cannot_show_are_skipped() {
        let mut r = rec("2001:2::1", 80, PortState::Open, None);
        r.proto = Protocol::Udp;
        assert_eq!(to_port_result(&r), None);
        r.proto = Protocol::Tcp;
        r.ip = "10.0.0.1".parse().unwrap();
        r.reason = "reset".to_string();
        let p = to_port_result(&r).unwrap();
        // A reason that contradicts the state is replaced by the state's usual one.
        assert_eq!(p.reason, Reason::SynAck);
        r.state = PortState::OpenFiltered;
        assert_eq!(to_port_result(&r), None);
    }
}
