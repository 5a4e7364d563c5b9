//! The SYN-scan engine: starts the sender and receiver threads, runs the probe table and
//! feeds decided results to the sink; owns shutdown. Generic over the network so tests drive
//! it with the in-memory network.

use super::progress::{Progress, ProgressStyle};
use super::table_loop::{self, LoopParams, ProbeModule, Recorder};
pub use super::table_loop::{ResultSink, CHECKPOINT_EVERY};
use crate::model::ScanStats;
use crate::net::{Capture, InterfaceDrops, Transmit};
use crate::probe::ProbeCrafter;
use crate::recv::{run_receiver, RecvCounters, REPLY_BATCHES};
use crate::send::pace::Pacer;
use crate::send::pilots::Pilot;
use crate::send::{run_sender, PositionClaimer, SendCounters, SendShared, SenderEvent, MAX_BATCH};
use crate::state::window::WindowTable;
use crate::state::{ReplyEvent, Resend};
use crate::targets::ProbeOrder;
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Engine knobs.
pub struct EngineParams {
    /// The probes to send.
    pub order: ProbeOrder,
    /// First position to send.
    pub start: u64,
    /// Template and cookie.
    pub crafter: ProbeCrafter,
    /// How fast probes leave.
    pub pacer: Pacer,
    /// The probe table (retries and RTT estimator set).
    pub table: WindowTable,
    /// Cap on listening after the last packet.
    pub wait: Option<Duration>,
    /// Progress on stderr, if any.
    pub progress: Option<ProgressStyle>,
    /// Time between checkpoints ([`CHECKPOINT_EVERY`] unless a test wants it shorter).
    pub checkpoint_every: Duration,
    /// The sending interface's own drop counter, where the kernel reports one.
    pub interface_drops: Option<InterfaceDrops>,
}

/// What a finished engine run reports.
#[derive(Clone, Debug, Default)]
pub struct EngineReport {
    /// Position where a resume would start.
    pub next_position: u64,
    /// Probes in the order (the shard's share of the scan).
    pub probes: u64,
    /// True when every probe of the order was sent.
    pub complete: bool,
    /// Wall time.
    pub elapsed: Duration,
    /// The counters at the end.
    pub stats: ScanStats,
    /// True when the rate followed the scan's counters (then `stats.rate_pps` is where it
    /// ended).
    pub adaptive_rate: bool,
}

/// Runs a SYN scan with one sender thread per transmit socket and one receiver on
/// `capture`, writing results to `sink`.
pub fn run(
    params: EngineParams,
    transmits: Vec<&mut dyn Transmit>,
    capture: &mut dyn Capture,
    sink: &mut dyn ResultSink,
    stop: &AtomicBool,
) -> Result<EngineReport, String> {
    let EngineParams {
        order,
        start,
        crafter,
        mut pacer,
        mut table,
        wait,
        progress,
        checkpoint_every,
        interface_drops,
    } = params;
    let began = Instant::now();
    let (event_tx, event_rx) = unbounded::<SenderEvent>();
    let (reply_tx, reply_rx) = bounded(REPLY_BATCHES);
    let (retry_tx, retry_rx) = unbounded();
    let (pilot_tx, pilot_rx) = unbounded();
    let recv_stop = AtomicBool::new(false);
    let send_counters = SendCounters::default();
    let recv_counters = RecvCounters::default();
    if transmits.is_empty() {
        return Err("no socket to send on".to_string());
    }
    let positions = PositionClaimer::new(start, order.len());
    let total = order.len().saturating_sub(start);
    let shared = SendShared {
        crafter: &crafter,
        order: &order,
        positions: &positions,
        retries: &retry_rx,
        pilots: &pilot_rx,
        events: &event_tx,
        stop,
        counters: &send_counters,
    };
    let threads = transmits.len();

    std::thread::scope(|s| {
        let senders: Vec<_> = transmits
            .into_iter()
            .map(|transmit| {
                let pacer = pacer.thread_share(threads, MAX_BATCH as u32);
                let shared = &shared;
                s.spawn(move || run_sender(transmit, pacer, shared))
            })
            .collect();
        let receiver =
            s.spawn(|| run_receiver(capture, &crafter, &reply_tx, &recv_stop, &recv_counters));

        let mut module = SynModule {
            events: &event_rx,
            replies: &reply_rx,
            retry_tx: Some(retry_tx),
            pilot_tx,
            interface_drops,
            tx_dropped: 0,
            senders_running: senders.len(),
            new_done: None,
            reported: (start, false),
            failure: None,
            send_counters: &send_counters,
            recv_counters: &recv_counters,
        };
        let result = table_loop::run(
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
                silence: crate::state::Silence::of_kinds(&[crafter.kind()]),
            },
        );
        // Closing the retry channel ends the sender; then stop capturing.
        module.retry_tx = None;
        for sender in senders {
            let _ = sender.join();
        }
        recv_stop.store(true, Ordering::Relaxed);
        // The receiver may be waiting for room in the bounded reply channel: empty it
        // until the receiver has seen the stop.
        while !receiver.is_finished() {
            let _ = reply_rx.recv_timeout(Duration::from_millis(5));
        }
        let recv_result = receiver.join();
        let complete = module.new_done.is_some_and(|d| d.1);
        let end = result?;
        match recv_result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("the receiver thread failed".to_string()),
        }
        Ok(EngineReport {
            next_position: end.released,
            probes: order.len(),
            complete,
            elapsed: began.elapsed(),
            stats: table_loop::snapshot(&module, &table, end.found_open, &pacer),
            adaptive_rate: pacer.adaptive(),
        })
    })
}

/// The SYN scan as a probe module: sender threads report the batches they send, the
/// receiver thread the verified replies; retries go back to the senders.
struct SynModule<'a> {
    events: &'a Receiver<SenderEvent>,
    replies: &'a Receiver<Vec<ReplyEvent>>,
    /// Dropped when the loop ends, which ends the senders.
    retry_tx: Option<crossbeam_channel::Sender<Vec<Resend>>>,
    pilot_tx: crossbeam_channel::Sender<Vec<Pilot>>,
    interface_drops: Option<InterfaceDrops>,
    /// The interface's drops at the last turn.
    tx_dropped: u64,
    /// Senders that have not yet reported the end of their new probes.
    senders_running: usize,
    /// Set once every sender has reported: (next position, complete).
    new_done: Option<(u64, bool)>,
    /// The furthest report so far.
    reported: (u64, bool),
    failure: Option<String>,
    send_counters: &'a SendCounters,
    recv_counters: &'a RecvCounters,
}

impl SynModule<'_> {
    fn drain_sender(&mut self, rec: &mut Recorder<'_>) {
        while let Ok(ev) = self.events.try_recv() {
            match ev {
                SenderEvent::Sent(b) => {
                    rec.resent_runs(b.at, &b.retried);
                    rec.sent_new(b.at, b.new_run);
                }
                SenderEvent::NewProbesDone {
                    next_position,
                    complete,
                } => {
                    // Positions only grow; the last report covers every claimed run.
                    if next_position >= self.reported.0 {
                        self.reported = (next_position, complete || self.reported.1);
                    }
                    self.senders_running = self.senders_running.saturating_sub(1);
                    if self.senders_running == 0 {
                        self.new_done = Some(self.reported);
                    }
                }
                SenderEvent::Failed(e) => self.failure = Some(e),
            }
        }
    }
}

impl ProbeModule for SynModule<'_> {
    fn exchange(&mut self, rec: &mut Recorder<'_>, _timeout: Duration) -> Result<(), String> {
        if let Some(d) = self.interface_drops.as_mut() {
            self.tx_dropped = d.read();
        }
        self.drain_sender(rec);
        if let Some(e) = self.failure.take() {
            // Results found so far are kept; the in-flight window is abandoned.
            return Err(e);
        }
        // The sends just recorded may bring the next deadline closer.
        let timeout = rec.until_deadline(Instant::now());
        match self.replies.recv_timeout(timeout) {
            Ok(batch) => {
                // Every send that caused these replies was reported before it left.
                self.drain_sender(rec);
                take_replies(rec, &batch);
                while let Ok(more) = self.replies.try_recv() {
                    take_replies(rec, &more);
                }
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => {
                Err("the receiver stopped unexpectedly".to_string())
            }
        }
    }

    fn retry(&mut self, runs: Vec<Resend>) {
        if let Some(tx) = &self.retry_tx {
            let _ = tx.send(runs);
        }
    }

    fn pilot(&mut self, pilots: Vec<Pilot>) {
        let _ = self.pilot_tx.send(pilots);
    }

    fn sending_done(&self) -> bool {
        self.new_done.is_some()
    }

    fn read_counters(&self, s: &mut ScanStats) {
        self.send_counters.read_into(s);
        self.recv_counters.read_into(s);
        s.tx_dropped = self.tx_dropped;
    }
}

fn take_replies(rec: &mut Recorder<'_>, batch: &[ReplyEvent]) {
    let wall = SystemTime::now();
    for ev in batch {
        rec.replied(ev, wall);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortResult, PortState, Reason};
    use crate::net::memory::{memory_network, Behaviour, Responder};
    use crate::net::LinkLayer;
    use crate::probe::{ProbeParams, SourcePorts};
    use crate::send::pace::Rate;
    use crate::state::rtt::RttEstimator;
    use crate::state::RetryPolicy;
    use crate::targets::{Ipv4Set, PortSet, ProbeSpace, Shard};
    use std::collections::BTreeMap;
    use std::io;
    use std::net::Ipv4Addr;

    const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// The IPv4 address of a result (these tests scan IPv4 only).
    fn v4(ip: std::net::IpAddr) -> Ipv4Addr {
        match ip {
            std::net::IpAddr::V4(a) => a,
            std::net::IpAddr::V6(a) => panic!("an IPv6 result {a} in an IPv4 scan"),
        }
    }

    fn host(i: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 0, i)
    }

    fn params(retries: RetryPolicy, seed: u64) -> EngineParams {
        let ms = Duration::from_millis;
        let targets = Ipv4Set::from_ranges([(host(0), host(63))]);
        let ports = PortSet::from_ranges([(22, 22), (80, 80), (443, 443), (8080, 8080)]);
        EngineParams {
            order: ProbeOrder::new(ProbeSpace::new(targets.into(), ports), seed, Shard::WHOLE),
            start: 0,
            crafter: ProbeCrafter::new(ProbeParams {
                link: LinkLayer::RawIp,
                src_mac: [0; 6],
                dst_mac: [0; 6],
                src_ip: US,
                source_ports: SourcePorts::DEFAULT,
                key: [seed, !seed],
            }),
            pacer: Pacer::new(Rate::Pps(200_000), Instant::now()),
            table: WindowTable::with_policy(retries, RttEstimator::new(ms(50), ms(20), ms(200))),
            wait: Some(Duration::from_secs(5)),
            progress: None,
            checkpoint_every: CHECKPOINT_EVERY,
            interface_drops: None,
        }
    }

    /// Host i: 22 open, 80 closed, 443 dropped, 8080 host-unreachable (i % 4 == 3) or closed.
    fn responder() -> Responder {
        let mut r = Responder::new().default_behaviour(Behaviour::Closed);
        for i in 0..64 {
            r = r.open(host(i), 22).dropped(host(i), 443);
            if i % 4 == 3 {
                r = r.unreachable(host(i), 8080, 1);
            }
        }
        r
    }

    fn expected(ip: Ipv4Addr, port: u16) -> (PortState, Reason) {
        match port {
            22 => (PortState::Open, Reason::SynAck),
            443 => (PortState::Filtered, Reason::NoResponse),
            8080 if ip.octets()[3] % 4 == 3 => (PortState::Filtered, Reason::HostUnreach),
            _ => (PortState::Closed, Reason::Reset),
        }
    }

    fn scan(
        r: Responder,
        p: EngineParams,
    ) -> (EngineReport, BTreeMap<(Ipv4Addr, u16), PortResult>) {
        let (mut tx, mut rx) = memory_network(r, LinkLayer::RawIp);
        let mut results: Vec<PortResult> = Vec::new();
        let report = run(
            p,
            vec![&mut tx],
            &mut rx,
            &mut results,
            &AtomicBool::new(false),
        )
        .expect("run");
        let n = results.len();
        let by_pair: BTreeMap<_, _> = results
            .into_iter()
            .map(|r| ((v4(r.ip), r.port), r))
            .collect();
        assert_eq!(by_pair.len(), n, "a probe was decided twice");
        (report, by_pair)
    }

    #[test]
    fn every_probe_is_decided_once_with_nmap_states() {
        let r = responder().duplicate_replies(true);
        let (report, got) = scan(r, params(RetryPolicy::Fixed(1), 11));
        assert!(report.complete);
        assert_eq!(got.len(), 256);
        for ((ip, port), res) in &got {
            assert_eq!((res.state, res.reason), expected(*ip, *port), "{ip}:{port}");
        }
        // Answered probes go once; the 64 dropped ones twice (one retry).
        assert_eq!(report.stats.packets_sent, 256 + 64);
        assert_eq!(report.stats.replies, 256 - 64);
        assert_eq!(
            report.stats.ignored_replies,
            256 - 64,
            "duplicates are ignored"
        );
        // One snapshot holds every counter: each answer came twice, none failed the cookie.
        let st = &report.stats;
        assert_eq!(
            (st.syn_acks, st.resets, st.unreachables, st.frames),
            (2 * 64, 2 * (64 + 48), 2 * 16, 2 * 192)
        );
        assert_eq!((st.not_ours, st.malformed, st.capture_drops), (0, 0, 0));
        assert_eq!((st.new_probes, st.retries, st.timed_out), (256, 64, 64));
        assert_eq!((st.found_open, st.rate_pps), (64, Some(200_000)));
        assert!(st.srtt.is_some());
    }

    #[test]
    fn adaptive_retries_recover_a_lossy_path() {
        // 20% of SYNs and replies lost: one retry misses ~13% of open ports, adaptive ~0.
        let lossy = || responder().loss_percent(20).seed(5);
        let (_, fixed) = scan(lossy(), params(RetryPolicy::Fixed(1), 3));
        let (report, adaptive) = scan(
            lossy(),
            params(RetryPolicy::Adaptive { min: 1, max: 10 }, 3),
        );
        let open = |m: &BTreeMap<(Ipv4Addr, u16), PortResult>| {
            m.values().filter(|r| r.state == PortState::Open).count()
        };
        assert!(
            open(&fixed) < 64,
            "one retry should miss some: {}",
            open(&fixed)
        );
        assert_eq!(open(&adaptive), 64, "{:?}", report.stats);
        for ((ip, port), res) in &adaptive {
            assert_eq!((res.state, res.reason), expected(*ip, *port), "{ip}:{port}");
        }
    }

    #[test]
    fn retries_get_past_targets_that_ration_repeated_syns() {
        // Every open port's first two SYN/ACKs are lost. A Linux target then holds the
        // request and answers a repeat of its SYN at most once per 500 ms: two retries
        // from the first try's port would find the third try unanswered. From ports of
        // their own, each try is a new request.
        let mut r = Responder::new().default_behaviour(Behaviour::Closed);
        for i in 0..64 {
            r = r.open(host(i), 22);
        }
        let (mut tx, mut rx) = memory_network(r.lose_first_replies(2), LinkLayer::RawIp);
        let counters = tx.counters();
        let mut results: Vec<PortResult> = Vec::new();
        let report = run(
            params(RetryPolicy::Fixed(2), 23),
            vec![&mut tx],
            &mut rx,
            &mut results,
            &AtomicBool::new(false),
        )
        .expect("run");
        let open = results
            .iter()
            .filter(|r| r.state == PortState::Open)
            .count();
        assert_eq!((open, results.len()), (64, 256), "{:?}", report.stats);
        assert_eq!(counters.repeats_unanswered(), 0);
        // Three SYNs to each open port, one to every closed one.
        assert_eq!(report.stats.packets_sent, 64 * 3 + 192);
    }

    /// IPv4 hosts 198.19.0.0-31 and IPv6 hosts 2001:2:0:19::0-1f in one order, one scan:
    /// every pair decided once, each family's answers as its responder scripted them.
    #[test]
    fn a_mixed_list_is_scanned_in_one_order() {
        use crate::probe::Ipv6Source;
        use crate::targets::{Ipv6Set, TargetSet};
        use std::net::{IpAddr, Ipv6Addr};
        let h6 = |i: u8| Ipv6Addr::new(0x2001, 2, 0, 0x19, 0, 0, 0, u16::from(i));
        for link in [LinkLayer::RawIp, LinkLayer::Ethernet] {
            let mut r = Responder::new().default_behaviour(Behaviour::Closed);
            for i in 0..32 {
                r = r.open(host(i), 22).dropped(host(i), 443).open(h6(i), 22);
                // ICMPv6 administratively prohibited on odd IPv6 hosts' 443, silence on even.
                r = match i % 2 {
                    1 => r.unreachable(h6(i), 443, 1),
                    _ => r.dropped(h6(i), 443),
                };
            }
            let targets = TargetSet::from_sets(
                Ipv4Set::from_ranges([(host(0), host(31))]),
                Ipv6Set::from_ranges([(h6(0), h6(31))]),
            );
            let ports = PortSet::from_ranges([(22, 22), (80, 80), (443, 443)]);
            let mut p = params(RetryPolicy::Fixed(1), 17);
            p.order = ProbeOrder::new(ProbeSpace::new(targets, ports), 17, Shard::WHOLE);
            p.crafter = ProbeCrafter::new(ProbeParams {
                link,
                ..p.crafter.params().clone()
            })
            .with_ipv6(Ipv6Source {
                src_ip: "2001:2:0:18::1".parse().unwrap(),
                dst_mac: [2, 0, 0, 0, 0, 6],
            });
            let (mut tx, mut rx) = memory_network(r, link);
            let mut results: Vec<PortResult> = Vec::new();
            let report = run(
                p,
                vec![&mut tx],
                &mut rx,
                &mut results,
                &AtomicBool::new(false),
            )
            .expect("run");
            assert!(report.complete);
            let by_pair: BTreeMap<_, _> = results.iter().map(|r| ((r.ip, r.port), r)).collect();
            assert_eq!((by_pair.len(), results.len()), (192, 192));
            for ((ip, port), res) in &by_pair {
                let want = match (ip, port) {
                    (_, 22) => (PortState::Open, Reason::SynAck),
                    (_, 80) => (PortState::Closed, Reason::Reset),
                    (IpAddr::V6(a), 443) if a.segments()[7] % 2 == 1 => {
                        (PortState::Filtered, Reason::AdminProhibited)
                    }
                    _ => (PortState::Filtered, Reason::NoResponse),
                };
                assert_eq!((res.state, res.reason), want, "{link:?} {ip}:{port}");
            }
            let v6 = results.iter().filter(|r| r.ip.is_ipv6()).count();
            assert_eq!(v6, 96);
            // 32 + 16 silent probes sent twice; nothing failed the cookie.
            assert_eq!(report.stats.packets_sent, 192 + 48);
            assert_eq!((report.stats.not_ours, report.stats.malformed), (0, 0));
        }
    }

    #[test]
    fn a_stop_before_the_start_sends_nothing_new() {
        let (mut tx, mut rx) = memory_network(responder(), LinkLayer::RawIp);
        let mut results: Vec<PortResult> = Vec::new();
        let report = run(
            params(RetryPolicy::Fixed(1), 1),
            vec![&mut tx],
            &mut rx,
            &mut results,
            &AtomicBool::new(true),
        )
        .expect("run");
        assert!(!report.complete);
        assert_eq!((report.next_position, report.stats.packets_sent), (0, 0));
        assert!(results.is_empty());
    }

    /// Records results and checks at every checkpoint that they are exactly the results
    /// of the positions before it.
    struct CheckedSink {
        order: ProbeOrder,
        start: u64,
        results: Vec<PortResult>,
        checkpoints: Vec<u64>,
    }

    impl ResultSink for CheckedSink {
        fn record(&mut self, r: &PortResult) -> io::Result<()> {
            self.results.push(*r);
            Ok(())
        }

        fn checkpoint(&mut self, position: u64) -> io::Result<()> {
            let want: std::collections::BTreeSet<_> =
                (self.start..position).map(|p| self.order.get(p)).collect();
            let got: std::collections::BTreeSet<_> =
                self.results.iter().map(|r| (r.ip, r.service())).collect();
            assert_eq!(got.len(), self.results.len(), "a result released twice");
            assert_eq!(got, want, "checkpoint at {position}");
            self.checkpoints.push(position);
            Ok(())
        }
    }

    #[test]
    fn every_checkpoint_holds_exactly_the_results_before_it() {
        for senders in [1, 2] {
            let (mut tx, mut rx) =
                memory_network(responder().loss_percent(5).seed(9), LinkLayer::RawIp);
            let mut tx2 = tx.another(98);
            let mut p = params(RetryPolicy::Fixed(2), 31);
            // 256 probes minus the first 16 at 1500 pps: ~160 ms, checkpoints every 20 ms.
            p.start = 16;
            p.pacer = Pacer::new(Rate::Pps(1500), Instant::now());
            p.checkpoint_every = Duration::from_millis(20);
            let mut sink = CheckedSink {
                order: p.order.clone(),
                start: 16,
                results: Vec::new(),
                checkpoints: Vec::new(),
            };
            let transmits: Vec<&mut dyn Transmit> = if senders == 1 {
                vec![&mut tx]
            } else {
                vec![&mut tx, &mut tx2]
            };
            let report =
                run(p, transmits, &mut rx, &mut sink, &AtomicBool::new(false)).expect("run");
            assert!(report.complete);
            assert_eq!(report.next_position, 256);
            assert_eq!(sink.results.len(), 256 - 16);
            assert!(
                sink.checkpoints.len() >= 4,
                "{senders} senders: checkpoints {:?}",
                sink.checkpoints
            );
            assert!(sink.checkpoints.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn a_stop_releases_the_prefix_sent_and_nothing_past_it() {
        let (mut tx, mut rx) = memory_network(responder(), LinkLayer::RawIp);
        let mut p = params(RetryPolicy::Fixed(1), 5);
        p.pacer = Pacer::new(Rate::Pps(1000), Instant::now());
        p.checkpoint_every = Duration::from_millis(20);
        let mut sink = CheckedSink {
            order: p.order.clone(),
            start: 0,
            results: Vec::new(),
            checkpoints: Vec::new(),
        };
        let stop = AtomicBool::new(false);
        let report = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(80));
                stop.store(true, Ordering::Relaxed);
            });
            run(p, vec![&mut tx], &mut rx, &mut sink, &stop).expect("run")
        });
        assert!(!report.complete);
        assert!(report.next_position > 0 && report.next_position < 256);
        // Everything before the stop position is released, nothing past it.
        let want: std::collections::BTreeSet<_> = (0..report.next_position)
            .map(|p| sink.order.get(p))
            .collect();
        let got: std::collections::BTreeSet<_> =
            sink.results.iter().map(|r| (r.ip, r.service())).collect();
        assert_eq!(
            (got, sink.results.len() as u64),
            (want, report.next_position)
        );
    }

    #[test]
    fn capture_drops_are_counted_and_retries_recover_them() {
        let (mut tx, rx) = memory_network(responder(), LinkLayer::RawIp);
        let mut rx = rx.drop_one_in(10);
        let mut results: Vec<PortResult> = Vec::new();
        let report = run(
            params(RetryPolicy::Adaptive { min: 1, max: 10 }, 4),
            vec![&mut tx],
            &mut rx,
            &mut results,
            &AtomicBool::new(false),
        )
        .expect("run");
        // 192 probes answer on the first try; every tenth frame captured is lost.
        assert!(
            report.stats.capture_drops >= 19,
            "{}",
            report.stats.capture_drops
        );
        assert_eq!(report.stats.capture_drops, rx.stats().dropped);
        assert_eq!(results.len(), 256);
        for r in &results {
            assert_eq!(
                (r.state, r.reason),
                expected(v4(r.ip), r.port),
                "{}:{}",
                r.ip,
                r.port
            );
        }
    }

    #[test]
    fn two_senders_share_the_order_and_decide_every_probe_once() {
        let (mut tx, mut rx) = memory_network(responder(), LinkLayer::RawIp);
        let mut tx2 = tx.another(99);
        let mut results: Vec<PortResult> = Vec::new();
        let report = run(
            params(RetryPolicy::Fixed(1), 21),
            vec![&mut tx, &mut tx2],
            &mut rx,
            &mut results,
            &AtomicBool::new(false),
        )
        .expect("run");
        assert!(report.complete);
        assert_eq!(report.next_position, 256);
        // Pilot probes (re-probes of answered pairs, never results) go out as time allows.
        let pilots: u64 = report.stats.pilots_sent.iter().sum();
        assert_eq!(report.stats.packets_sent - pilots, 256 + 64);
        let pairs: std::collections::BTreeSet<_> = results.iter().map(|r| (r.ip, r.port)).collect();
        assert_eq!((pairs.len(), results.len()), (256, 256));
        for r in &results {
            assert_eq!(
                (r.state, r.reason),
                expected(v4(r.ip), r.port),
                "{}:{}",
                r.ip,
                r.port
            );
        }
    }
}
