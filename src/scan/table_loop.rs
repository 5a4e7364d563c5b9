//! The probe-table loop every scan mode drives (zmap's one send/receive/monitor frame with
//! pluggable probe modules): a [`ProbeModule`] moves probes out and answers in; the loop
//! records both in the probe table, turns expired deadlines into retries and filtered
//! results, releases results in order, checkpoints, ticks the monitor and decides when the
//! scan is over. A change to retries or finishing is made here, once.

use super::progress::Progress;
use crate::model::{PortResult, PortState, Reason, ScanStats};
use crate::send::pace::Pacer;
use crate::send::pilots::{Pilot, PilotPool};
use crate::state::epochs::{Epochs, Released};
use crate::state::window::{Expired, WindowTable};
use crate::state::{ReplyEvent, ReplyOutcome, Resend, Silence};
use crate::targets::ProbeOrder;
use std::io;
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime};

/// Where decided results go.
pub trait ResultSink {
    /// Takes one decided result.
    fn record(&mut self, r: &PortResult) -> io::Result<()>;
    /// Every result before `position` of the order has been recorded, and no other: make
    /// that durable (flush the outputs, write the resume file). An error here is an output
    /// failure; a resume file that cannot be written is the sink's to report.
    fn checkpoint(&mut self, _position: u64) -> io::Result<()> {
        Ok(())
    }
    /// The scan's smoothed round-trip time, given before the results measured with it are
    /// released (the follow-up stage's waits follow it).
    fn round_trip(&mut self, _srtt: Duration) {}
}

impl ResultSink for Vec<PortResult> {
    fn record(&mut self, r: &PortResult) -> io::Result<()> {
        self.push(*r);
        Ok(())
    }
}

impl ResultSink for crate::output::Outputs {
    fn record(&mut self, r: &PortResult) -> io::Result<()> {
        crate::output::Outputs::record(self, r)
    }
}

/// How often a scan checkpoints by default.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

/// Epochs per checkpoint interval: short epochs release results sooner, so a checkpoint
/// lags the sending less and fewer results wait in memory (an epoch's answers wait until
/// its slowest probe is decided, so they cost answers/s x (probe lifetime + epoch)). At
/// 62 ms, the 250 live tags still span 15 s of lifetimes.
const EPOCHS_PER_CHECKPOINT: u32 = 32;

/// How often the monitor shows progress (adaptive rate control reads every turn).
const MONITOR_EVERY: Duration = Duration::from_millis(250);

/// Longest wait for events in one turn: the loop must notice the end and the clock.
const MAX_TURN: Duration = Duration::from_millis(20);

/// What one scan mode plugs into the table loop: how probes leave and answers come back.
pub trait ProbeModule {
    /// Sends what is due and collects answers, waiting up to about `timeout` (the time to
    /// the table's next deadline, clamped); records both through `rec`. An error ends the
    /// scan (results found so far are kept).
    fn exchange(&mut self, rec: &mut Recorder<'_>, timeout: Duration) -> Result<(), String>;
    /// Probes the table wants sent again: runs of consecutive positions in the order, each
    /// with the try it goes out as.
    fn retry(&mut self, runs: Vec<Resend>);
    /// The probe at `position` was decided without an answer: stop waiting for it.
    fn abandon(&mut self, _position: u64) {}
    /// Re-probe these pairs, which answered before, as pilots (their answers clock the
    /// adaptive rate and are never results); a module without pilots ignores them.
    fn pilot(&mut self, _pilots: Vec<Pilot>) {}
    /// True once no new probe and no queued retry will start.
    fn sending_done(&self) -> bool;
    /// Fills in the send and capture counters of `s`.
    fn read_counters(&self, s: &mut ScanStats);
}

/// The probe table as a probe module sees it: sends and answers go in, results come out in
/// order. The only place the loop touches the table besides expiry. Probes are positions
/// of `order`; only answers arrive as pairs.
pub struct Recorder<'a> {
    table: &'a mut WindowTable,
    order: &'a ProbeOrder,
    release: Release,
    found_open: u64,
    last_send: Instant,
    /// Pairs that answered, for pilot probes.
    pilots: PilotPool,
}

impl Recorder<'_> {
    /// First sends at `at` of the positions `run` of the order.
    pub fn sent_new(&mut self, at: Instant, run: Range<u64>) {
        if run.is_empty() {
            return;
        }
        let tag = self.release.epochs.open_tag();
        self.table.on_sent(run.clone(), at, tag);
        self.release.epochs.sent_run(run);
        self.last_send = self.last_send.max(at);
    }

    /// Retries of `positions` that left at `at`.
    pub fn resent(&mut self, at: Instant, positions: impl IntoIterator<Item = u64>) {
        for position in positions {
            self.table.on_resent(position, at);
            self.last_send = self.last_send.max(at);
        }
    }

    /// Retries of the runs of positions `runs` that left together at `at`.
    pub fn resent_runs(&mut self, at: Instant, runs: &[Range<u64>]) {
        for run in runs {
            self.table.on_resent_run(run.clone(), at);
            self.last_send = self.last_send.max(at);
        }
    }

    /// A verified answer; decides its probe unless it is a duplicate, late, or for a pair
    /// outside this scan's order (or shard).
    pub fn replied(&mut self, ev: &ReplyEvent, wall: SystemTime) {
        let position = self.order.position_of(ev.ip, ev.service);
        self.replied_at(ev, position, wall);
    }

    /// A verified answer to the probe at `position`, when the module knows it.
    pub fn replied_at(&mut self, ev: &ReplyEvent, position: Option<u64>, wall: SystemTime) {
        if let ReplyOutcome::Decided { result, epoch, .. } = self.table.on_reply(ev, position, wall)
        {
            // The target itself answered: a pair pilots may re-probe.
            if matches!(result.reason, Reason::SynAck | Reason::Reset) {
                self.pilots.offer((result.ip, result.port));
            }
            self.decided(epoch, result);
        }
    }

    fn decided(&mut self, tag: u8, r: PortResult) {
        if r.state == PortState::Open {
            self.found_open += 1;
        }
        self.release.epochs.decided(tag, r);
    }

    /// Time from `now` to the table's next deadline, between 1 ms and one turn.
    pub fn until_deadline(&self, now: Instant) -> Duration {
        self.table
            .next_deadline()
            .map(|d| d.saturating_duration_since(now))
            .unwrap_or(MAX_TURN)
            .clamp(Duration::from_millis(1), MAX_TURN)
    }
}

/// How the table loop ended.
#[derive(Clone, Copy, Debug)]
pub struct LoopEnd {
    /// Every result before this position was released.
    pub released: u64,
    /// Open ports found.
    pub found_open: u64,
}

/// The loop's settings and its monitor: the pacer it steers and the progress it shows.
pub struct LoopParams<'a> {
    /// First position of the order this run sends.
    pub start: u64,
    /// Time between checkpoints.
    pub checkpoint_every: Duration,
    /// Cap on listening after the last send once sending is done.
    pub wait: Option<Duration>,
    /// The scan's rate, steered from the counters when adaptive.
    pub pacer: &'a mut Pacer,
    /// Progress on stderr, if any.
    pub progress: Option<Progress>,
    /// What silent probes decide, per protocol.
    pub silence: Silence,
}

/// The scan's counters now: the module's send and capture counters, the table's, the
/// pacer's rate.
pub fn snapshot(
    module: &dyn ProbeModule,
    table: &WindowTable,
    found_open: u64,
    pacer: &Pacer,
) -> ScanStats {
    let mut s = ScanStats::default();
    module.read_counters(&mut s);
    let t = table.stats();
    s.retries = t.retries_requested;
    s.replies = t.decided_by_reply;
    s.replies_only_on_retry = t.decided_on_retry;
    s.ignored_replies = t.ignored_replies;
    s.timed_out = t.timed_out;
    s.found_open = found_open;
    s.srtt = table.srtt();
    s.rate_pps = pacer.pps();
    s.settled_pps = pacer.settled_pps();
    s.rate_signal = pacer.rate_signal();
    s
}

/// Runs the scan's table loop until every probe the module sent is decided (or `wait`
/// has passed since the last send once sending is done); every 250 ms the monitor reads
/// the counters once, steers the pacer and shows progress. Whatever ends the loop, what
/// is decided in order is released and checkpointed.
pub fn run(
    module: &mut dyn ProbeModule,
    table: &mut WindowTable,
    order: &ProbeOrder,
    sink: &mut dyn ResultSink,
    params: LoopParams<'_>,
) -> Result<LoopEnd, String> {
    let LoopParams {
        start,
        checkpoint_every,
        wait,
        pacer,
        mut progress,
        silence,
    } = params;
    // The silent probes of a range are read from the answered bits at its release.
    table.keep_answers_from(start);
    let mut rec = Recorder {
        table,
        order,
        release: Release::new(start, checkpoint_every, silence),
        found_open: 0,
        last_send: Instant::now(),
        pilots: PilotPool::default(),
    };
    let adaptive = pacer.adaptive();
    let looped = run_loop(module, &mut rec, sink, wait, &mut |module, rec, show| {
        // An adaptive rate is clocked by answers: it reads the counters every turn.
        if adaptive || show {
            let now = Instant::now();
            let stats = snapshot(module, rec.table, rec.found_open, pacer);
            pacer.observe(now, &stats);
            if let (true, Some(p)) = (show, progress.as_mut()) {
                p.tick(&stats);
            }
            // Pilots while the sweep is too sparse to judge the rate by, and probes go out.
            if adaptive && !rec.table.is_empty() {
                let due = rec
                    .pilots
                    .due(now, pacer.pilot_pps(), pacer.pilot_generation());
                if !due.is_empty() {
                    module.pilot(due);
                }
            }
        }
    });
    if let Some(p) = progress.as_mut() {
        p.finish();
    }
    let ended = rec.release.end(sink, looped.is_err(), rec.table, rec.order);
    looped.and(ended)?;
    Ok(LoopEnd {
        released: rec.release.epochs.released(),
        found_open: rec.found_open,
    })
}

/// Called every turn; the flag says a progress tick is due.
type Monitor<'m> = dyn FnMut(&mut dyn ProbeModule, &mut Recorder<'_>, bool) + 'm;

fn run_loop(
    module: &mut dyn ProbeModule,
    rec: &mut Recorder<'_>,
    sink: &mut dyn ResultSink,
    wait: Option<Duration>,
    monitor: &mut Monitor<'_>,
) -> Result<(), String> {
    let mut retries = Vec::new();
    let mut last_tick = Instant::now();
    loop {
        let timeout = rec.until_deadline(Instant::now());
        module.exchange(rec, timeout)?;
        let now = Instant::now();
        rec.table.expire(
            now,
            &mut Expiry {
                retries: &mut retries,
                module,
                epochs: &mut rec.release.epochs,
            },
        );
        if !retries.is_empty() {
            module.retry(std::mem::take(&mut retries));
        }
        if let Some(srtt) = rec.table.srtt() {
            sink.round_trip(srtt);
        }
        rec.release.tick(now, sink, rec.table, rec.order)?;
        let show = now.duration_since(last_tick) >= MONITOR_EVERY;
        if show {
            last_tick = now;
        }
        monitor(module, rec, show);
        if module.sending_done() {
            if rec.table.is_empty() {
                return Ok(());
            }
            if let Some(w) = wait {
                if now.saturating_duration_since(rec.last_send) >= w {
                    rec.table.expire_all(&mut Expiry {
                        retries: &mut retries,
                        module,
                        epochs: &mut rec.release.epochs,
                    });
                    return Ok(());
                }
            }
        }
    }
}

/// What expiry decides goes straight where it is needed: retries to a list of runs for
/// the module; probes that used every try to the module (stop waiting) and to their epoch
/// as a count. Nothing is stored per silent probe: its result comes from its position when
/// its epoch is released.
struct Expiry<'a, 'm> {
    retries: &'a mut Vec<Resend>,
    module: &'a mut (dyn ProbeModule + 'm),
    epochs: &'a mut Epochs,
}

impl Expired for Expiry<'_, '_> {
    fn retry(&mut self, run: Range<u64>, try_index: u8) {
        self.retries.push(Resend {
            positions: run,
            try_index,
        });
    }

    fn silent(&mut self, run: Range<u64>, epoch: u8) {
        self.epochs.decided_silent(epoch, run.end - run.start);
        for position in run {
            self.module.abandon(position);
        }
    }
}

/// Results released in epoch order, and the checkpoints of what was released.
pub struct Release {
    /// The epoch bookkeeping.
    pub epochs: Epochs,
    silence: Silence,
    every: Duration,
    last_close: Instant,
    last_checkpoint: Instant,
    checkpointed: Option<u64>,
}

impl Release {
    /// Release for a scan starting at `start`, checkpointing every `every`; silent probes
    /// decide what `silence` says.
    pub fn new(start: u64, every: Duration, silence: Silence) -> Release {
        let now = Instant::now();
        Release {
            epochs: Epochs::new(start),
            silence,
            every,
            last_close: now,
            // The first checkpoint comes after half the interval: a scan killed early
            // still leaves a resume file.
            last_checkpoint: now.checked_sub(every / 2).unwrap_or(now),
            checkpointed: None,
        }
    }

    /// Closes an epoch when one is due, releases what is ready to `sink`, checkpoints
    /// when one is due.
    pub fn tick(
        &mut self,
        now: Instant,
        sink: &mut dyn ResultSink,
        table: &mut WindowTable,
        order: &ProbeOrder,
    ) -> Result<(), String> {
        if now.saturating_duration_since(self.last_close) >= self.every / EPOCHS_PER_CHECKPOINT
            && self.epochs.close()
        {
            self.last_close = now;
        }
        let released = self.release(sink, table, order)?;
        if now.saturating_duration_since(self.last_checkpoint) >= self.every
            && self.checkpointed != Some(released)
        {
            self.checkpoint(sink)?;
            self.last_checkpoint = now;
        }
        Ok(())
    }

    /// Releases every epoch that is ready: its answers, then its silent probes (no-response,
    /// in the state their kind gives silence) in position order, named from the table's
    /// answered bits.
    fn release(
        &mut self,
        sink: &mut dyn ResultSink,
        table: &mut WindowTable,
        order: &ProbeOrder,
    ) -> Result<u64, String> {
        let wall = SystemTime::now();
        let silence = self.silence;
        let released = self
            .epochs
            .release_ranges(|r| match r {
                Released::Answer(r) => sink.record(r),
                Released::Positions(range) => table.for_each_silent(range, |p| {
                    let (ip, service) = order.get(p);
                    sink.record(&silence.result(ip, service, wall))
                }),
            })
            .map_err(|e| format!("writing results failed: {e}"))?;
        table.keep_answers_from(released);
        Ok(released)
    }

    fn checkpoint(&mut self, sink: &mut dyn ResultSink) -> Result<(), String> {
        let released = self.epochs.released();
        self.checkpointed = Some(released);
        sink.checkpoint(released)
            .map_err(|e| format!("writing results failed: {e}"))
    }

    /// The scan's table loop ended: releases every epoch that is decided (all of them
    /// unless the loop failed). After a failure it checkpoints too; otherwise the caller
    /// saves the end of a stopped scan (with the outputs' trailers) or removes the file.
    pub fn end(
        &mut self,
        sink: &mut dyn ResultSink,
        failed: bool,
        table: &mut WindowTable,
        order: &ProbeOrder,
    ) -> Result<(), String> {
        self.epochs.close();
        self.release(sink, table, order)?;
        if failed {
            self.checkpoint(sink)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;
    use crate::send::pace::Rate;
    use crate::state::rtt::RttEstimator;
    use crate::targets::{Ipv4Set, PortSet, ProbeSpace, Shard};
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    /// One host, ports 0..n, in a keyed order.
    fn order(n: u16) -> ProbeOrder {
        let host = Ipv4Addr::new(198, 19, 0, 1);
        let targets = Ipv4Set::from_ranges([(host, host)]);
        let ports = PortSet::from_ranges([(0, n - 1)]);
        ProbeOrder::new(ProbeSpace::new(targets.into(), ports), 5, Shard::WHOLE)
    }

    /// Sends every position in one run; answers the probe of port p on try `answer_on[p]`
    /// (0: never).
    struct Scripted<'a> {
        order: &'a ProbeOrder,
        answer_on: Vec<u8>,
        tries: BTreeMap<u16, u8>,
        queued: Vec<u64>,
        started: bool,
        retried: Vec<u16>,
        abandoned: Vec<u16>,
    }

    impl Scripted<'_> {
        fn new(order: &ProbeOrder, answer_on: Vec<u8>) -> Scripted<'_> {
            Scripted {
                order,
                answer_on,
                tries: BTreeMap::new(),
                queued: Vec::new(),
                started: false,
                retried: Vec::new(),
                abandoned: Vec::new(),
            }
        }

        fn answer(&mut self, rec: &mut Recorder<'_>, position: u64, now: Instant) {
            let (ip, service) = self.order.get(position);
            let port = service.port;
            let t = self.tries.entry(port).or_insert(0);
            *t += 1;
            if self.answer_on[usize::from(port)] == *t {
                let reason = if port % 2 == 0 {
                    Reason::SynAck
                } else {
                    Reason::Reset
                };
                let ev = ReplyEvent {
                    ip,
                    service,
                    state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
                    reason,
                    ttl: 64,
                    at: now,
                };
                rec.replied(&ev, SystemTime::now());
            }
        }

        fn port(&self, position: u64) -> u16 {
            self.order.get(position).1.port
        }
    }

    impl ProbeModule for Scripted<'_> {
        fn exchange(&mut self, rec: &mut Recorder<'_>, timeout: Duration) -> Result<(), String> {
            let now = Instant::now();
            if !self.started {
                self.started = true;
                let n = self.order.len();
                rec.sent_new(now, 0..n);
                for p in 0..n {
                    self.answer(rec, p, now);
                }
            }
            for p in std::mem::take(&mut self.queued) {
                rec.resent(now, [p]);
                self.answer(rec, p, now);
            }
            std::thread::sleep(timeout);
            Ok(())
        }

        fn retry(&mut self, runs: Vec<Resend>) {
            let positions: Vec<u64> = runs.into_iter().flat_map(|r| r.positions).collect();
            let ports: Vec<u16> = positions.iter().map(|&p| self.port(p)).collect();
            self.retried.extend(ports);
            self.queued.extend(positions);
        }

        fn abandon(&mut self, position: u64) {
            let port = self.port(position);
            self.abandoned.push(port);
        }

        fn sending_done(&self) -> bool {
            self.started && self.queued.is_empty()
        }

        fn read_counters(&self, _s: &mut ScanStats) {}
    }

    fn params(wait: Option<Duration>) -> LoopParams<'static> {
        LoopParams {
            start: 0,
            checkpoint_every: CHECKPOINT_EVERY,
            wait,
            pacer: Box::leak(Box::new(Pacer::new(Rate::Max, Instant::now()))),
            progress: None,
            silence: Silence::new(|_| PortState::Filtered),
        }
    }

    fn table(retries: u32, rto_ms: u64) -> WindowTable {
        let ms = Duration::from_millis;
        WindowTable::with_policy(
            crate::state::RetryPolicy::Fixed(retries),
            RttEstimator::new(ms(rto_ms), ms(rto_ms), ms(rto_ms)),
        )
    }

    /// Ports sorted by their positions in `order`.
    fn by_position(order: &ProbeOrder, mut ports: Vec<u16>) -> Vec<u16> {
        let host = Ipv4Addr::new(198, 19, 0, 1);
        ports.sort_by_key(|&p| order.position_of(host.into(), crate::model::Service::tcp(p)));
        ports
    }

    #[test]
    fn retries_answers_and_timeouts_are_decided_once_in_order() {
        // Probe 0 answers at once, 1 only on its retry, 2 never.
        let order = order(3);
        let mut module = Scripted::new(&order, vec![1, 2, 0]);
        let mut t = table(1, 10);
        let mut results: Vec<PortResult> = Vec::new();
        let end = run(&mut module, &mut t, &order, &mut results, params(None)).expect("run");
        let got: Vec<_> = results
            .iter()
            .map(|r| (r.port, r.state, r.reason))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, PortState::Open, Reason::SynAck),
                (1, PortState::Closed, Reason::Reset),
                (2, PortState::Filtered, Reason::NoResponse)
            ]
        );
        assert_eq!((end.released, end.found_open), (3, 1));
        assert_eq!(module.retried, by_position(&order, vec![1, 2]));
        assert_eq!(module.abandoned, vec![2]);
        let s = t.stats();
        assert_eq!(
            (s.decided_by_reply, s.decided_on_retry, s.timed_out),
            (2, 1, 1)
        );
    }

    /// Records, with each result, the round-trip time it was given before it.
    #[derive(Default)]
    struct RttSink {
        srtt: Option<Duration>,
        seen: Vec<(u16, Option<Duration>)>,
    }

    impl ResultSink for RttSink {
        fn record(&mut self, r: &PortResult) -> io::Result<()> {
            self.seen.push((r.port, self.srtt));
            Ok(())
        }
        fn round_trip(&mut self, srtt: Duration) {
            self.srtt = Some(srtt);
        }
    }

    #[test]
    fn the_sink_has_the_measured_round_trip_before_the_results_it_came_with() {
        let order = order(2);
        let mut module = Scripted::new(&order, vec![1, 1]);
        let mut t = table(0, 10);
        let mut sink = RttSink::default();
        run(&mut module, &mut t, &order, &mut sink, params(None)).expect("run");
        assert_eq!(sink.seen.len(), 2);
        for (port, srtt) in &sink.seen {
            assert_eq!(*srtt, t.srtt(), "port {port}");
        }
        assert!(t.srtt().is_some());
    }

    #[test]
    fn the_wait_ends_listening_and_decides_the_rest_filtered() {
        // A 10 s timeout would keep the loop for a minute; --wait 50ms ends it.
        let order = order(3);
        let mut module = Scripted::new(&order, vec![0, 1, 0]);
        let mut t = table(5, 10_000);
        let mut results: Vec<PortResult> = Vec::new();
        let began = Instant::now();
        let wait = Some(Duration::from_millis(50));
        let end = run(&mut module, &mut t, &order, &mut results, params(wait)).expect("run");
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "{:?}",
            began.elapsed()
        );
        // One epoch: its answers, then its silent probes in position order.
        let got: Vec<_> = results.iter().map(|r| (r.port, r.reason)).collect();
        let silent = by_position(&order, vec![0, 2]);
        assert_eq!(
            got,
            vec![
                (1, Reason::Reset),
                (silent[0], Reason::NoResponse),
                (silent[1], Reason::NoResponse)
            ]
        );
        assert_eq!(end.released, 3);
        assert!(module.retried.is_empty());
        assert_eq!(module.abandoned, silent);
    }
}
