//! The connect() scan (nmap's -sT): no privileges, the kernel does the handshake. Same
//! order, rate limit, probe table, retries and outputs as the SYN scan; one thread.

use super::engine::{EngineReport, Release, ResultSink};
use super::progress::{Progress, ProgressStyle};
use crate::model::Reason;
use crate::net::connect::{ConnectOutcome, ConnectScanner};
use crate::send::rate::RateLimiter;
use crate::send::SendCounters;
use crate::state::{ProbeTable, ReplyEvent, ReplyOutcome};
use crate::targets::ProbeOrder;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Connect-scan knobs.
pub struct ConnectParams {
    /// The probes to try.
    pub order: ProbeOrder,
    /// First position to try.
    pub start: u64,
    /// Connection attempts per second (None: as fast as descriptors allow).
    pub rate: Option<u64>,
    /// The probe table (retries and RTT estimator set).
    pub table: ProbeTable,
    /// Cap on waiting after the last attempt started.
    pub wait: Option<Duration>,
    /// Most connects in flight at once (bounded by the open-file limit).
    pub max_in_flight: usize,
    /// Progress on stderr, if any.
    pub progress: Option<ProgressStyle>,
    /// Time between checkpoints.
    pub checkpoint_every: Duration,
}

/// Attempts started per loop turn at most, so polling stays frequent.
const START_BATCH: u32 = 256;

fn token(ip: Ipv4Addr, port: u16) -> u64 {
    (u64::from(u32::from(ip)) << 16) | u64::from(port)
}

fn untoken(t: u64) -> (Ipv4Addr, u16) {
    (Ipv4Addr::from((t >> 16) as u32), t as u16)
}

/// The reason a connect outcome stands for; None when it decides nothing (retry it).
pub fn outcome_reason(o: ConnectOutcome) -> Option<Reason> {
    match o {
        ConnectOutcome::Open => Some(Reason::SynAck),
        ConnectOutcome::Refused => Some(Reason::ConnRefused),
        ConnectOutcome::Unreachable(code) => Reason::from_icmp_unreachable(code),
        ConnectOutcome::OtherError => None,
    }
}

/// Runs a connect scan, writing results to `sink`.
pub fn run(
    params: ConnectParams,
    scanner: &mut ConnectScanner,
    sink: &mut dyn ResultSink,
    stop: &AtomicBool,
) -> Result<EngineReport, String> {
    let ConnectParams {
        order,
        start,
        rate,
        mut table,
        wait,
        max_in_flight,
        progress,
        checkpoint_every,
    } = params;
    let began = Instant::now();
    let counters = SendCounters::default();
    let mut limiter =
        rate.map(|pps| RateLimiter::new(pps, RateLimiter::burst_for(pps, START_BATCH), began));
    let mut progress =
        progress.map(|style| Progress::new(order.len().saturating_sub(start), style));
    let mut pos = start.min(order.len());
    let mut last_start = began;
    let mut last_tick = began;
    let mut found_open = 0u64;
    let mut outcomes = Vec::new();
    let mut retries = Vec::new();
    let mut filtered = Vec::new();
    let mut release = Release::new(start, checkpoint_every);
    let looped = (|| -> Result<(), String> {
        loop {
            let now = Instant::now();
            let sending = pos < order.len() && !stop.load(Ordering::Relaxed);
            // Retries first: they are the oldest work.
            let room = max_in_flight.saturating_sub(scanner.in_flight());
            let want = u32::try_from(room.min(START_BATCH as usize)).unwrap_or(START_BATCH);
            let mut budget = match limiter.as_mut() {
                Some(l) => l.grant(now, want),
                None => want,
            };
            while budget > 0 && !retries.is_empty() {
                let (ip, port) = retries.remove(0);
                if scanner.start(ip, port, token(ip, port)).is_err() {
                    retries.insert(0, (ip, port));
                    break;
                }
                table.on_resent(ip, port, now);
                counters.packets.fetch_add(1, Ordering::Relaxed);
                budget -= 1;
                last_start = now;
            }
            let tag = release.epochs.open_tag();
            let first_new = pos;
            while budget > 0 && sending && pos < order.len() {
                let (ip, port) = order.get(pos);
                if scanner.start(ip, port, token(ip, port)).is_err() {
                    break; // out of descriptors for now: try again after some finish
                }
                pos += 1;
                table.on_sent(ip, port, now, tag);
                counters.packets.fetch_add(1, Ordering::Relaxed);
                counters.new_probes.fetch_add(1, Ordering::Relaxed);
                budget -= 1;
                last_start = now;
            }
            release.epochs.sent_run(first_new..pos);
            if budget > 0 {
                if let Some(l) = limiter.as_mut() {
                    l.refund(budget);
                }
            }

            let more_to_start =
                (pos < order.len() && !stop.load(Ordering::Relaxed)) || !retries.is_empty();
            let until_deadline = table
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(20));
            let timeout = if more_to_start {
                Duration::from_millis(1)
            } else {
                until_deadline.clamp(Duration::from_millis(1), Duration::from_millis(20))
            };
            scanner
                .poll(timeout, &mut outcomes)
                .map_err(|e| format!("waiting for connections failed: {e}"))?;
            let now = Instant::now();
            let wall = SystemTime::now();
            for (t, outcome) in outcomes.drain(..) {
                let (ip, port) = untoken(t);
                let Some(reason) = outcome_reason(outcome) else {
                    continue; // undecided: the probe's timeout retries it
                };
                let ev = ReplyEvent {
                    ip,
                    port,
                    reason,
                    ttl: 0,
                    at: now,
                };
                if let ReplyOutcome::Decided { result, epoch, .. } = table.on_reply(&ev, wall) {
                    release.decided(epoch, result, &mut found_open);
                }
            }
            table.expire(now, wall, &mut retries, &mut filtered);
            for t in filtered.drain(..) {
                scanner.cancel(token(t.result.ip, t.result.port));
                release.decided(t.epoch, t.result, &mut found_open);
            }
            release.tick(now, sink)?;
            for &(ip, port) in &retries {
                scanner.cancel(token(ip, port));
            }
            if let Some(p) = progress.as_mut() {
                if now.duration_since(last_tick) >= Duration::from_millis(250) {
                    last_tick = now;
                    p.tick(&counters, found_open, 0);
                }
            }
            let done_starting = pos >= order.len() || stop.load(Ordering::Relaxed);
            if done_starting && retries.is_empty() {
                if table.is_empty() {
                    break;
                }
                if let Some(w) = wait {
                    if now.saturating_duration_since(last_start) >= w {
                        table.expire_all(wall, &mut filtered);
                        for t in filtered.drain(..) {
                            scanner.cancel(token(t.result.ip, t.result.port));
                            release.decided(t.epoch, t.result, &mut found_open);
                        }
                        break;
                    }
                }
            }
        }
        Ok(())
    })();
    if let Some(p) = progress.as_mut() {
        p.finish();
    }
    // Whatever ended the loop, what is decided in order is written and checkpointed.
    let ended = release.end(sink);
    looped.and(ended)?;
    Ok(EngineReport {
        packets_sent: counters.packets.load(Ordering::Relaxed),
        next_position: release.epochs.released(),
        probes: order.len(),
        complete: pos >= order.len(),
        table: table.stats(),
        elapsed: began.elapsed(),
        srtt: table.srtt(),
        ..EngineReport::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortState;
    use crate::state::rtt::RttEstimator;
    use crate::targets::{Ipv4Set, PortSet, ProbeSpace, Shard};
    use std::net::TcpListener;

    fn scan_loopback(ports: &[u16]) -> Vec<crate::model::PortResult> {
        let mut targets = Ipv4Set::new();
        targets.insert_range(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        let set = PortSet::from_ranges(ports.iter().map(|&p| (p, p)));
        let order = ProbeOrder::new(ProbeSpace::new(targets, set), 7, Shard::WHOLE);
        let params = ConnectParams {
            order,
            start: 0,
            rate: Some(1000),
            table: ProbeTable::new(
                1,
                RttEstimator::new(
                    Duration::from_millis(500),
                    Duration::from_millis(50),
                    Duration::from_secs(1),
                ),
            ),
            wait: Some(Duration::from_secs(2)),
            max_in_flight: 64,
            progress: None,
            checkpoint_every: super::super::engine::CHECKPOINT_EVERY,
        };
        let mut scanner = ConnectScanner::new().expect("epoll");
        let mut results: Vec<crate::model::PortResult> = Vec::new();
        let report =
            run(params, &mut scanner, &mut results, &AtomicBool::new(false)).expect("scan");
        assert!(report.complete);
        results.sort_by_key(|r| r.port);
        results
    }

    #[test]
    fn finds_a_listener_and_a_closed_port_on_loopback() {
        let open = TcpListener::bind("127.0.0.1:0").expect("bind");
        let open_port = open.local_addr().expect("addr").port();
        // A port bound then released is closed (nothing else is likely to take it at once).
        let closed_port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let results = scan_loopback(&[open_port, closed_port]);
        let got: Vec<(u16, PortState, Reason)> = results
            .iter()
            .map(|r| (r.port, r.state, r.reason))
            .collect();
        let mut want = vec![
            (open_port, PortState::Open, Reason::SynAck),
            (closed_port, PortState::Closed, Reason::ConnRefused),
        ];
        want.sort_by_key(|w| w.0);
        assert_eq!(got, want);
    }

    #[test]
    fn outcomes_map_to_nmap_reasons() {
        assert_eq!(outcome_reason(ConnectOutcome::Open), Some(Reason::SynAck));
        assert_eq!(
            outcome_reason(ConnectOutcome::Refused),
            Some(Reason::ConnRefused)
        );
        assert_eq!(
            outcome_reason(ConnectOutcome::Unreachable(1)),
            Some(Reason::HostUnreach)
        );
        assert_eq!(outcome_reason(ConnectOutcome::OtherError), None);
    }
}
