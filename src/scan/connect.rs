//! The connect() scan (nmap's -sT): no privileges, the kernel does the handshake. Same
//! order, rate limit, probe table, retries and outputs as the SYN scan; one thread.

use super::engine::EngineReport;
use super::progress::{Progress, ProgressStyle};
use super::table_loop::{self, LoopParams, ProbeModule, Recorder, ResultSink};
use crate::model::{Reason, ScanStats};
use crate::net::connect::{ConnectOutcome, ConnectScanner};
use crate::probe::ProbeKind;
use crate::recv::RecvCounters;
use crate::send::pace::{Pacer, ThreadPacer};
use crate::send::SendCounters;
use crate::state::window::WindowTable;
use crate::state::{ReplyEvent, Silence};
use crate::targets::ProbeOrder;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Connect-scan knobs.
pub struct ConnectParams {
    /// The probes to try.
    pub order: ProbeOrder,
    /// First position to try.
    pub start: u64,
    /// Connection attempts per second (unlimited: as fast as descriptors allow).
    pub pacer: Pacer,
    /// The probe table (retries and RTT estimator set).
    pub table: WindowTable,
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
        mut pacer,
        mut table,
        wait,
        max_in_flight,
        progress,
        checkpoint_every,
    } = params;
    let began = Instant::now();
    let send_counters = SendCounters::default();
    let recv_counters = RecvCounters::default();
    let mut module = ConnectModule {
        scanner,
        order: &order,
        pos: start.min(order.len()),
        stop,
        pacer: pacer.thread_share(1, START_BATCH),
        max_in_flight,
        retries: VecDeque::new(),
        outcomes: Vec::new(),
        send_counters: &send_counters,
        recv_counters: &recv_counters,
    };
    let total = order.len().saturating_sub(start);
    let end = table_loop::run(
        &mut module,
        &mut table,
        &order,
        sink,
        LoopParams {
            start,
            checkpoint_every,
            wait,
            pacer: &mut pacer,
            progress: progress.map(|style| Progress::new(total, style)),
            silence: Silence::of_kinds(&[ProbeKind::TcpConnect]),
        },
    )?;
    Ok(EngineReport {
        next_position: end.released,
        probes: order.len(),
        complete: module.pos >= order.len(),
        elapsed: began.elapsed(),
        stats: table_loop::snapshot(&module, &table, end.found_open, &pacer),
        adaptive_rate: pacer.adaptive(),
    })
}

/// The connect scan as a probe module: starts connects under the rate limit and the
/// descriptor budget, and takes the kernel's verdicts as answers.
struct ConnectModule<'a> {
    scanner: &'a mut ConnectScanner,
    order: &'a ProbeOrder,
    /// The next position to start.
    pos: u64,
    stop: &'a AtomicBool,
    pacer: ThreadPacer,
    max_in_flight: usize,
    /// Retries waiting for a descriptor and budget, by position.
    retries: VecDeque<u64>,
    outcomes: Vec<(u64, ConnectOutcome)>,
    send_counters: &'a SendCounters,
    recv_counters: &'a RecvCounters,
}

impl ConnectModule<'_> {
    fn sending_new(&self) -> bool {
        self.pos < self.order.len() && !self.stop.load(Ordering::Relaxed)
    }

    /// Starts retries, then new probes, within this turn's budget.
    fn start_some(&mut self, rec: &mut Recorder<'_>, now: Instant) {
        let room = self.max_in_flight.saturating_sub(self.scanner.in_flight());
        let want = u32::try_from(room.min(START_BATCH as usize)).unwrap_or(START_BATCH);
        let mut budget = self.pacer.grant(now, want);
        // Retries first: they are the oldest work.
        while budget > 0 {
            let Some(&position) = self.retries.front() else {
                break;
            };
            // A connect's token is its probe's position.
            let (ip, service) = self.order.get(position);
            if self.scanner.start(ip, service.port, position).is_err() {
                break; // out of descriptors for now: try again after some finish
            }
            self.retries.pop_front();
            rec.resent(now, [position]);
            self.send_counters.packets.fetch_add(1, Ordering::Relaxed);
            budget -= 1;
        }
        let first_new = self.pos;
        while budget > 0 && self.sending_new() {
            let (ip, service) = self.order.get(self.pos);
            if self.scanner.start(ip, service.port, self.pos).is_err() {
                break;
            }
            self.pos += 1;
            budget -= 1;
        }
        let n = self.pos - first_new;
        rec.sent_new(now, first_new..self.pos);
        self.send_counters.packets.fetch_add(n, Ordering::Relaxed);
        self.send_counters
            .new_probes
            .fetch_add(n, Ordering::Relaxed);
        self.pacer.refund(budget);
    }
}

impl ProbeModule for ConnectModule<'_> {
    fn exchange(&mut self, rec: &mut Recorder<'_>, _timeout: Duration) -> Result<(), String> {
        self.start_some(rec, Instant::now());
        let timeout = if self.sending_new() || !self.retries.is_empty() {
            Duration::from_millis(1)
        } else {
            rec.until_deadline(Instant::now())
        };
        self.scanner
            .poll(timeout, &mut self.outcomes)
            .map_err(|e| format!("waiting for connections failed: {e}"))?;
        let now = Instant::now();
        let wall = SystemTime::now();
        for (position, outcome) in self.outcomes.drain(..) {
            let (ip, service) = self.order.get(position);
            let Some(reason) = outcome_reason(outcome) else {
                continue; // undecided: the probe's timeout retries it
            };
            self.recv_counters.count_reply(reason);
            let ev = ReplyEvent {
                ip,
                service,
                state: ProbeKind::TcpConnect.verdict(reason),
                reason,
                ttl: 0,
                at: now,
            };
            rec.replied_at(&ev, Some(position), wall);
        }
        Ok(())
    }

    fn retry(&mut self, runs: Vec<crate::state::Resend>) {
        for position in runs.into_iter().flat_map(|r| r.positions) {
            self.scanner.cancel(position);
            self.retries.push_back(position);
        }
    }

    fn abandon(&mut self, position: u64) {
        self.scanner.cancel(position);
    }

    fn sending_done(&self) -> bool {
        !self.sending_new() && self.retries.is_empty()
    }

    fn read_counters(&self, s: &mut ScanStats) {
        self.send_counters.read_into(s);
        self.recv_counters.read_into(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortState;
    use crate::state::rtt::RttEstimator;
    use crate::targets::{Ipv4Set, PortSet, ProbeSpace, Shard};
    use std::net::Ipv4Addr;
    use std::net::TcpListener;

    fn scan_loopback(ports: &[u16]) -> Vec<crate::model::PortResult> {
        let mut targets = Ipv4Set::new();
        targets.insert_range(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        let set = PortSet::from_ranges(ports.iter().map(|&p| (p, p)));
        let order = ProbeOrder::new(ProbeSpace::new(targets.into(), set), 7, Shard::WHOLE);
        let params = ConnectParams {
            order,
            start: 0,
            pacer: Pacer::new(crate::send::pace::Rate::Pps(1000), Instant::now()),
            table: WindowTable::with_policy(
                crate::state::RetryPolicy::Fixed(1),
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
