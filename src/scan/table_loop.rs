//! The probe-table loop every scan mode drives (zmap's one send/receive/monitor frame with
//! pluggable probe modules): a [`ProbeModule`] moves probes out and answers in; the loop
//! records both in the probe table, turns expired deadlines into retries and filtered
//! results, releases results in order, checkpoints, ticks the monitor and decides when the
//! scan is over. A change to retries or finishing is made here, once.

use super::progress::Progress;
use crate::model::{PortResult, PortState, ScanStats};
use crate::send::pace::Pacer;
use crate::state::epochs::Epochs;
use crate::state::{ProbeTable, ReplyEvent, ReplyOutcome, Tagged};
use std::io;
use std::net::Ipv4Addr;
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
/// lags the sending less and fewer results wait in memory.
const EPOCHS_PER_CHECKPOINT: u32 = 8;

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
    /// Probes the table wants sent again.
    fn retry(&mut self, probes: Vec<(Ipv4Addr, u16)>);
    /// A probe was decided without an answer: stop waiting for it.
    fn abandon(&mut self, _ip: Ipv4Addr, _port: u16) {}
    /// True once no new probe and no queued retry will start.
    fn sending_done(&self) -> bool;
    /// Fills in the send and capture counters of `s`.
    fn read_counters(&self, s: &mut ScanStats);
}

/// The probe table as a probe module sees it: sends and answers go in, results come out in
/// order. The only place the loop touches the table besides expiry.
pub struct Recorder<'a> {
    table: &'a mut ProbeTable,
    release: Release,
    found_open: u64,
    last_send: Instant,
}

impl Recorder<'_> {
    /// First sends at `at` of `probes`, the positions `run` of the order, in order.
    pub fn sent_new(
        &mut self,
        at: Instant,
        probes: impl IntoIterator<Item = (Ipv4Addr, u16)>,
        run: Range<u64>,
    ) {
        let tag = self.release.epochs.open_tag();
        let mut any = false;
        for (ip, port) in probes {
            self.table.on_sent(ip, port, at, tag);
            any = true;
        }
        self.release.epochs.sent_run(run);
        if any {
            self.last_send = self.last_send.max(at);
        }
    }

    /// Retries that left at `at`.
    pub fn resent(&mut self, at: Instant, probes: impl IntoIterator<Item = (Ipv4Addr, u16)>) {
        for (ip, port) in probes {
            self.table.on_resent(ip, port, at);
            self.last_send = self.last_send.max(at);
        }
    }

    /// A verified answer; decides its probe unless it is a duplicate or late.
    pub fn replied(&mut self, ev: &ReplyEvent, wall: SystemTime) {
        if let ReplyOutcome::Decided { result, epoch, .. } = self.table.on_reply(ev, wall) {
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
}

/// The scan's counters now: the module's send and capture counters, the table's, the
/// pacer's rate.
pub fn snapshot(
    module: &dyn ProbeModule,
    table: &ProbeTable,
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
    s
}

/// Runs the scan's table loop until every probe the module sent is decided (or `wait`
/// has passed since the last send once sending is done); every 250 ms the monitor reads
/// the counters once, steers the pacer and shows progress. Whatever ends the loop, what
/// is decided in order is released and checkpointed.
pub fn run(
    module: &mut dyn ProbeModule,
    table: &mut ProbeTable,
    sink: &mut dyn ResultSink,
    params: LoopParams<'_>,
) -> Result<LoopEnd, String> {
    let LoopParams {
        start,
        checkpoint_every,
        wait,
        pacer,
        mut progress,
    } = params;
    let mut rec = Recorder {
        table,
        release: Release::new(start, checkpoint_every),
        found_open: 0,
        last_send: Instant::now(),
    };
    let adaptive = pacer.adaptive();
    let looped = run_loop(module, &mut rec, sink, wait, &mut |module, rec, show| {
        // An adaptive rate is clocked by answers: it reads the counters every turn.
        if adaptive || show {
            let stats = snapshot(module, rec.table, rec.found_open, pacer);
            pacer.observe(Instant::now(), &stats);
            if let (true, Some(p)) = (show, progress.as_mut()) {
                p.tick(&stats);
            }
        }
    });
    if let Some(p) = progress.as_mut() {
        p.finish();
    }
    let ended = rec.release.end(sink, looped.is_err());
    looped.and(ended)?;
    Ok(LoopEnd {
        released: rec.release.epochs.released(),
        found_open: rec.found_open,
    })
}

/// Called every turn; the flag says a progress tick is due.
type Monitor<'m> = dyn FnMut(&dyn ProbeModule, &Recorder<'_>, bool) + 'm;

fn run_loop(
    module: &mut dyn ProbeModule,
    rec: &mut Recorder<'_>,
    sink: &mut dyn ResultSink,
    wait: Option<Duration>,
    monitor: &mut Monitor<'_>,
) -> Result<(), String> {
    let mut retries = Vec::new();
    let mut filtered = Vec::new();
    let mut last_tick = Instant::now();
    loop {
        let timeout = rec.until_deadline(Instant::now());
        module.exchange(rec, timeout)?;
        let now = Instant::now();
        let wall = SystemTime::now();
        rec.table.expire(now, wall, &mut retries, &mut filtered);
        take_filtered(module, rec, &mut filtered);
        if !retries.is_empty() {
            module.retry(std::mem::take(&mut retries));
        }
        rec.release.tick(now, sink)?;
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
                    rec.table.expire_all(wall, &mut filtered);
                    take_filtered(module, rec, &mut filtered);
                    return Ok(());
                }
            }
        }
    }
}

fn take_filtered(module: &mut dyn ProbeModule, rec: &mut Recorder<'_>, filtered: &mut Vec<Tagged>) {
    for t in filtered.drain(..) {
        module.abandon(t.result.ip, t.result.port);
        rec.decided(t.epoch, t.result);
    }
}

/// Results released in epoch order, and the checkpoints of what was released.
pub struct Release {
    /// The epoch bookkeeping.
    pub epochs: Epochs,
    every: Duration,
    last_close: Instant,
    last_checkpoint: Instant,
    checkpointed: Option<u64>,
}

impl Release {
    /// Release for a scan starting at `start`, checkpointing every `every`.
    pub fn new(start: u64, every: Duration) -> Release {
        let now = Instant::now();
        Release {
            epochs: Epochs::new(start),
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
    pub fn tick(&mut self, now: Instant, sink: &mut dyn ResultSink) -> Result<(), String> {
        if now.saturating_duration_since(self.last_close) >= self.every / EPOCHS_PER_CHECKPOINT
            && self.epochs.close()
        {
            self.last_close = now;
        }
        let released = self
            .epochs
            .release(|r| sink.record(r))
            .map_err(|e| format!("writing results failed: {e}"))?;
        if now.saturating_duration_since(self.last_checkpoint) >= self.every
            && self.checkpointed != Some(released)
        {
            self.checkpoint(sink)?;
            self.last_checkpoint = now;
        }
        Ok(())
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
    pub fn end(&mut self, sink: &mut dyn ResultSink, failed: bool) -> Result<(), String> {
        self.epochs.close();
        self.epochs
            .release(|r| sink.record(r))
            .map_err(|e| format!("writing results failed: {e}"))?;
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
    use std::collections::BTreeMap;

    fn probe(i: u16) -> (Ipv4Addr, u16) {
        (Ipv4Addr::new(198, 19, 0, 1), i)
    }

    /// Sends probes 0..n in one run; answers probe p on try `answer_on[p]` (0: never).
    struct Scripted {
        answer_on: Vec<u8>,
        tries: BTreeMap<u16, u8>,
        queued: Vec<(Ipv4Addr, u16)>,
        started: bool,
        retried: Vec<u16>,
        abandoned: Vec<u16>,
    }

    impl Scripted {
        fn new(answer_on: Vec<u8>) -> Scripted {
            Scripted {
                answer_on,
                tries: BTreeMap::new(),
                queued: Vec::new(),
                started: false,
                retried: Vec::new(),
                abandoned: Vec::new(),
            }
        }

        fn answer(&mut self, rec: &mut Recorder<'_>, (ip, port): (Ipv4Addr, u16), now: Instant) {
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
                    port,
                    reason,
                    ttl: 64,
                    at: now,
                };
                rec.replied(&ev, SystemTime::now());
            }
        }
    }

    impl ProbeModule for Scripted {
        fn exchange(&mut self, rec: &mut Recorder<'_>, timeout: Duration) -> Result<(), String> {
            let now = Instant::now();
            if !self.started {
                self.started = true;
                let n = self.answer_on.len() as u16;
                rec.sent_new(now, (0..n).map(probe), 0..u64::from(n));
                for p in 0..n {
                    self.answer(rec, probe(p), now);
                }
            }
            for p in std::mem::take(&mut self.queued) {
                rec.resent(now, [p]);
                self.answer(rec, p, now);
            }
            std::thread::sleep(timeout);
            Ok(())
        }

        fn retry(&mut self, probes: Vec<(Ipv4Addr, u16)>) {
            self.retried.extend(probes.iter().map(|p| p.1));
            self.queued.extend(probes);
        }

        fn abandon(&mut self, _ip: Ipv4Addr, port: u16) {
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
        }
    }

    fn table(retries: u32, rto_ms: u64) -> ProbeTable {
        let ms = Duration::from_millis;
        ProbeTable::new(
            retries,
            RttEstimator::new(ms(rto_ms), ms(rto_ms), ms(rto_ms)),
        )
    }

    #[test]
    fn retries_answers_and_timeouts_are_decided_once_in_order() {
        // Probe 0 answers at once, 1 only on its retry, 2 never.
        let mut module = Scripted::new(vec![1, 2, 0]);
        let mut t = table(1, 10);
        let mut results: Vec<PortResult> = Vec::new();
        let end = run(&mut module, &mut t, &mut results, params(None)).expect("run");
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
        assert_eq!(module.retried, vec![1, 2]);
        assert_eq!(module.abandoned, vec![2]);
        let s = t.stats();
        assert_eq!(
            (s.decided_by_reply, s.decided_on_retry, s.timed_out),
            (2, 1, 1)
        );
    }

    #[test]
    fn the_wait_ends_listening_and_decides_the_rest_filtered() {
        // A 10 s timeout would keep the loop for a minute; --wait 50ms ends it.
        let mut module = Scripted::new(vec![0, 1, 0]);
        let mut t = table(5, 10_000);
        let mut results: Vec<PortResult> = Vec::new();
        let began = Instant::now();
        let wait = Some(Duration::from_millis(50));
        let end = run(&mut module, &mut t, &mut results, params(wait)).expect("run");
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "{:?}",
            began.elapsed()
        );
        // One epoch: released in the order decided.
        let got: Vec<_> = results.iter().map(|r| (r.port, r.reason)).collect();
        assert_eq!(
            got,
            vec![
                (1, Reason::Reset),
                (0, Reason::NoResponse),
                (2, Reason::NoResponse)
            ]
        );
        assert_eq!(end.released, 3);
        assert!(module.retried.is_empty());
        assert_eq!(module.abandoned, vec![0, 2]);
    }
}
