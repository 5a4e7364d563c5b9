//! The probe table in bits: probes in flight are a window of permutation positions.
//!
//! Every sender claims contiguous runs of positions, so what is in flight is a handful of
//! runs, each sent at one instant. The table keeps one bit per position (answered or not)
//! and one small record per run (send time, try number, epoch, how many are undecided):
//! all members of a run that are still unanswered were sent together, are retried together
//! and time out together. A reply finds its probe by position (see
//! [`crate::targets::ProbeOrder::position_of`]), so the table never stores an address.
//! At `--rate max` the runs are a batch long, and the cost is about an eighth of a byte
//! per probe in flight, against tens of bytes in a hash table.
//!
//! Timeouts, backoff, the adaptive retry policy and the RTT estimator are those of
//! [`super::ProbeTable`]: the two give the same answers on the same events (a differential
//! test below drives both). One difference, by design: when the retries of one run leave
//! at different instants, the run's next deadline counts from the last of them (never
//! earlier than a probe's own deadline).

use super::rtt::RttEstimator;
use super::{
    backoff_step, ReplyEvent, ReplyOutcome, RetryPolicy, TableStats, BACKOFF_STEPS,
    MAX_RTT_SAMPLE_US,
};
use crate::model::PortResult;
use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime};

/// Where expiry puts what it decides, as it decides it: nothing is collected per probe, so
/// a window of millions of silent probes expires without a list of them.
pub trait Expired {
    /// Send the positions `run` again as try `try_index` (1: the first retry): consecutive
    /// unanswered members of one run.
    fn retry(&mut self, run: Range<u64>, try_index: u8);
    /// The positions `run` (consecutive unanswered members of one run, first sent in
    /// release epoch `epoch`) used every try without an answer.
    fn silent(&mut self, run: Range<u64>, epoch: u8);
}

/// One answered bit per position over a sliding range of positions.
#[derive(Debug, Default)]
struct AnswerBits {
    words: VecDeque<u64>,
    /// Position of bit 0 of `words[0]`, a multiple of 64.
    base: u64,
}

impl AnswerBits {
    fn end(&self) -> u64 {
        self.base + 64 * self.words.len() as u64
    }

    /// Grows the bits (zeros) so that they cover `range`.
    fn cover(&mut self, range: &Range<u64>) {
        if range.is_empty() {
            return;
        }
        let first = range.start & !63;
        if self.words.is_empty() {
            self.base = first;
        }
        while self.base > first {
            self.words.push_front(0);
            self.base -= 64;
        }
        while self.end() < range.end {
            self.words.push_back(0);
        }
    }

    fn get(&self, p: u64) -> bool {
        if p < self.base {
            return false;
        }
        let i = (p - self.base) / 64;
        usize::try_from(i)
            .ok()
            .and_then(|i| self.words.get(i))
            .is_some_and(|w| w >> (p % 64) & 1 == 1)
    }

    /// Sets the bit of `p`, which must be covered.
    fn set(&mut self, p: u64) {
        if p < self.base {
            return;
        }
        let i = ((p - self.base) / 64) as usize;
        if let Some(w) = self.words.get_mut(i) {
            *w |= 1 << (p % 64);
        }
    }

    /// Drops the words wholly before `p`.
    fn forget_before(&mut self, p: u64) {
        while !self.words.is_empty() && self.base + 64 <= p {
            self.words.pop_front();
            self.base += 64;
        }
        if self.words.is_empty() {
            self.base = p & !63;
        }
    }

    /// Calls `f` with the maximal runs of consecutive positions of `range` whose bits are
    /// clear, ascending.
    fn for_each_clear_run(&self, range: Range<u64>, mut f: impl FnMut(Range<u64>)) {
        let mut open: Option<Range<u64>> = None;
        self.for_each_clear(range, |p| match &mut open {
            Some(r) if r.end == p => r.end = p + 1,
            _ => {
                if let Some(r) = open.replace(p..p + 1) {
                    f(r);
                }
            }
        });
        if let Some(r) = open {
            f(r);
        }
    }

    /// Calls `f` with every position of `range` whose bit is clear, ascending.
    fn for_each_clear(&self, range: Range<u64>, mut f: impl FnMut(u64)) {
        let mut p = range.start;
        while p < range.end {
            let word = if p < self.base {
                0
            } else {
                usize::try_from((p - self.base) / 64)
                    .ok()
                    .and_then(|i| self.words.get(i).copied())
                    .unwrap_or(0)
            };
            // The clear bits of this word from p's bit to the word's end or range.end.
            let word_end = (p | 63).saturating_add(1).min(range.end);
            let mut clear = !word >> (p % 64);
            let span = word_end - p;
            if span < 64 {
                clear &= (1u64 << span) - 1;
            }
            while clear != 0 {
                let bit = u64::from(clear.trailing_zeros());
                f(p + bit);
                clear &= clear - 1;
            }
            p = word_end;
        }
    }
}

/// Positions first sent at one instant, and the state their unanswered members share.
#[derive(Clone, Copy, Debug)]
struct Run {
    start: u64,
    len: u32,
    /// Members neither answered nor timed out.
    undecided: u32,
    /// Retries asked of the sender and not yet reported sent.
    awaiting: u32,
    /// One of the awaited retries left already (the try number moved on).
    resent_any: bool,
    /// Tries of the unanswered members so far.
    tries: u8,
    /// Release epoch of the first send.
    epoch: u8,
    /// Microseconds since the table's epoch of the last send.
    last_sent_us: u64,
}

impl Run {
    fn positions(&self) -> Range<u64> {
        self.start..self.start + u64::from(self.len)
    }
}

/// When a run's try falls due: its start (below 2^56) with the try number on top.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    start_try: u64,
    sent_us: u64,
}

impl Deadline {
    fn new(start: u64, try_no: u8, sent_us: u64) -> Deadline {
        Deadline {
            start_try: start | (u64::from(try_no) << 56),
            sent_us,
        }
    }

    fn start(&self) -> u64 {
        self.start_try & ((1 << 56) - 1)
    }

    fn try_no(&self) -> u8 {
        (self.start_try >> 56) as u8
    }
}

/// Runs longer than this are split: a run's counters are u32.
const MAX_RUN: u64 = 1 << 31;

/// The in-flight window of a scan, by position.
pub struct WindowTable {
    answered: AnswerBits,
    /// Runs with members in flight or not yet forgotten, ascending by start.
    runs: VecDeque<Run>,
    /// One queue per backoff step, in send order (see [`super::ProbeTable`]).
    deadlines: Vec<VecDeque<Deadline>>,
    /// Probes sent and not yet decided.
    in_flight: u64,
    /// Answered bits are kept from here on (the caller's release point), so the silent
    /// positions of a released range can be read back.
    keep_from: u64,
    policy: RetryPolicy,
    max_successful_try: u8,
    epoch: Option<Instant>,
    rtt: RttEstimator,
    stats: TableStats,
}

impl WindowTable {
    /// A table whose retransmissions follow `policy`. Answered bits are dropped as soon as
    /// their runs are decided, unless [`WindowTable::keep_answers_from`] says otherwise.
    pub fn with_policy(policy: RetryPolicy, rtt: RttEstimator) -> Self {
        WindowTable {
            answered: AnswerBits::default(),
            runs: VecDeque::new(),
            deadlines: (0..BACKOFF_STEPS).map(|_| VecDeque::new()).collect(),
            in_flight: 0,
            keep_from: u64::MAX,
            policy,
            max_successful_try: 0,
            epoch: None,
            rtt,
            stats: TableStats::default(),
        }
    }

    /// Keeps the answered bits of positions from `position` on (until moved again), so
    /// [`WindowTable::for_each_silent`] can name the silent probes of a decided range.
    pub fn keep_answers_from(&mut self, position: u64) {
        self.keep_from = position;
        self.forget();
    }

    /// Microseconds from the epoch (set by the first send) to `at`.
    fn micros(&mut self, at: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(at);
        u64::try_from(at.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// Records that the positions of `run` left for the first time at `at`, in release
    /// epoch `epoch`. A run overlapping one already recorded is ignored.
    pub fn on_sent(&mut self, run: Range<u64>, at: Instant, epoch: u8) {
        let sent_us = self.micros(at);
        let mut start = run.start;
        while start < run.end {
            let end = run.end.min(start + MAX_RUN);
            self.add_run(start..end, sent_us, epoch);
            start = end;
        }
    }

    fn add_run(&mut self, run: Range<u64>, sent_us: u64, epoch: u8) {
        let i = self.runs.partition_point(|r| r.start < run.start);
        let overlaps_before = i > 0 && self.runs[i - 1].positions().end > run.start;
        let overlaps_after = self.runs.get(i).is_some_and(|r| r.start < run.end);
        if overlaps_before || overlaps_after || run.start >= 1 << 56 {
            return;
        }
        let len = (run.end - run.start) as u32;
        self.answered.cover(&run);
        self.runs.insert(
            i,
            Run {
                start: run.start,
                len,
                undecided: len,
                awaiting: 0,
                resent_any: false,
                tries: 1,
                epoch,
                last_sent_us: sent_us,
            },
        );
        self.in_flight += u64::from(len);
        self.deadlines[backoff_step(1)].push_back(Deadline::new(run.start, 1, sent_us));
    }

    /// The index of the run holding `position`.
    fn run_of(&self, position: u64) -> Option<usize> {
        let i = self
            .runs
            .partition_point(|r| r.start <= position)
            .checked_sub(1)?;
        (position < self.runs[i].positions().end).then_some(i)
    }

    /// Records that the retry of `position` left at `at`. The run's next try starts with
    /// its first retry; its deadline counts from the last one.
    pub fn on_resent(&mut self, position: u64, at: Instant) {
        self.on_resent_run(position..position.saturating_add(1), at);
    }

    /// Records that the retries of the positions `resent` left together at `at` (as many
    /// calls of [`WindowTable::on_resent`], one per position).
    pub fn on_resent_run(&mut self, resent: Range<u64>, at: Instant) {
        let now_us = self.micros(at);
        let mut p = resent.start;
        while p < resent.end {
            let Some(i) = self.run_of(p) else {
                // Not in a run: skip to the next run's start, if it is in range.
                let next = self.runs.partition_point(|r| r.start <= p);
                p = self.runs.get(next).map_or(resent.end, |r| r.start);
                continue;
            };
            let end = self.runs[i].positions().end.min(resent.end);
            let n = u32::try_from(end - p).unwrap_or(u32::MAX);
            p = end;
            let run = &mut self.runs[i];
            if run.awaiting == 0 {
                continue;
            }
            if run.resent_any {
                run.last_sent_us = run.last_sent_us.max(now_us);
            } else {
                run.resent_any = true;
                run.tries = run.tries.saturating_add(1);
                run.last_sent_us = now_us;
            }
            run.awaiting = run.awaiting.saturating_sub(n);
            if run.awaiting == 0 {
                run.resent_any = false;
                if run.undecided > 0 {
                    let (start, try_no, sent_us) = (run.start, run.tries, run.last_sent_us);
                    self.deadlines[backoff_step(try_no)]
                        .push_back(Deadline::new(start, try_no, sent_us));
                }
            }
        }
    }

    fn timeout_of_step(&self, step: usize) -> Duration {
        (self.rtt.rto() * (1u32 << step)).min(self.rtt.max_rto())
    }

    /// Decides the probe at `position` from a verified reply `ev` (its pair); duplicates,
    /// late replies, positions never sent and pairs outside the order (None) are ignored.
    pub fn on_reply(
        &mut self,
        ev: &ReplyEvent,
        position: Option<u64>,
        now: SystemTime,
    ) -> ReplyOutcome {
        let live = position.and_then(|p| {
            self.run_of(p)
                .filter(|&i| self.runs[i].undecided > 0 && !self.answered.get(p))
                .map(|i| (i, p))
        });
        let Some((i, position)) = live else {
            self.stats.ignored_replies += 1;
            return ReplyOutcome::Ignored;
        };
        let at_us = self.micros(ev.at);
        let run = &mut self.runs[i];
        run.undecided -= 1;
        let (tries, epoch, last_sent_us) = (run.tries, run.epoch, run.last_sent_us);
        self.answered.set(position);
        self.in_flight -= 1;
        if tries == 1 {
            let rtt_us = (at_us as u32).wrapping_sub(last_sent_us as u32);
            if rtt_us < MAX_RTT_SAMPLE_US {
                self.rtt.sample(Duration::from_micros(u64::from(rtt_us)));
            }
        }
        let on_retry = tries > 1;
        self.max_successful_try = self.max_successful_try.max(tries);
        self.stats.decided_by_reply += 1;
        if on_retry {
            self.stats.decided_on_retry += 1;
        }
        self.forget();
        ReplyOutcome::Decided {
            result: PortResult {
                ip: ev.ip,
                port: ev.service.port,
                protocol: ev.service.protocol,
                state: ev.state,
                reason: ev.reason,
                ttl: ev.ttl,
                timestamp: now,
            },
            on_retry,
            epoch,
        }
    }

    /// Expires runs whose timeout has passed: asks `out` for retries of their unanswered
    /// members while tries remain, otherwise decides those silent.
    pub fn expire(&mut self, now: Instant, out: &mut dyn Expired) {
        let max_tries = self.tries_allowed();
        let now_us = self.micros(now);
        for step in 0..BACKOFF_STEPS {
            let timeout_us = self.timeout_of_step(step).as_micros() as u64;
            while let Some(d) = self.deadlines[step].front().copied() {
                if d.sent_us + timeout_us > now_us {
                    break;
                }
                self.deadlines[step].pop_front();
                let i = self.runs.partition_point(|r| r.start < d.start());
                let Some(run) = self.runs.get_mut(i).filter(|r| r.start == d.start()) else {
                    continue; // decided and forgotten
                };
                if run.undecided == 0 || run.tries != d.try_no() || run.awaiting > 0 {
                    continue; // decided, or a later try owns the deadline
                }
                let run = *run;
                if run.tries < max_tries {
                    self.runs[i].awaiting = run.undecided;
                    self.stats.retries_requested += u64::from(run.undecided);
                    // `tries` sends so far: the next is try `tries` counting from 0.
                    self.answered
                        .for_each_clear_run(run.positions(), |r| out.retry(r, run.tries));
                } else {
                    self.runs[i].undecided = 0;
                    self.in_flight -= u64::from(run.undecided);
                    self.stats.timed_out += u64::from(run.undecided);
                    self.answered
                        .for_each_clear_run(run.positions(), |r| out.silent(r, run.epoch));
                }
            }
        }
        self.forget();
    }

    /// Decides every probe still in the window silent (end of the listening time), in
    /// position order.
    pub fn expire_all(&mut self, out: &mut dyn Expired) {
        self.deadlines.iter_mut().for_each(VecDeque::clear);
        for run in self.runs.iter_mut().filter(|r| r.undecided > 0) {
            self.stats.timed_out += u64::from(run.undecided);
            run.undecided = 0;
            run.awaiting = 0;
            run.resent_any = false;
            let epoch = run.epoch;
            self.answered
                .for_each_clear_run(run.positions(), |r| out.silent(r, epoch));
        }
        self.in_flight = 0;
        self.forget();
    }

    /// Calls `f` with every position of `range` that drew no answer, ascending, until it
    /// fails. Meant for a decided range at or past [`WindowTable::keep_answers_from`]: its
    /// silent probes.
    pub fn for_each_silent<E>(
        &self,
        range: Range<u64>,
        mut f: impl FnMut(u64) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut failed = None;
        self.answered.for_each_clear(range, |p| {
            if failed.is_none() {
                failed = f(p).err();
            }
        });
        failed.map_or(Ok(()), Err)
    }

    /// Drops decided runs from the front, and the answered bits nobody needs.
    fn forget(&mut self) {
        while self.runs.front().is_some_and(|r| r.undecided == 0) {
            self.runs.pop_front();
        }
        let needed = self
            .runs
            .front()
            .map_or(u64::MAX, |r| r.start)
            .min(self.keep_from);
        if needed == u64::MAX {
            self.answered.words.clear();
        } else {
            self.answered.forget_before(needed);
        }
    }

    /// Sends a probe may get now (see [`super::ProbeTable::tries_allowed`]).
    pub fn tries_allowed(&self) -> u8 {
        self.policy
            .tries_allowed(&self.stats, self.max_successful_try)
    }

    /// When the oldest deadline falls, if any probe is waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        let epoch = self.epoch?;
        (0..BACKOFF_STEPS)
            .filter_map(|step| {
                self.deadlines[step]
                    .front()
                    .map(|d| epoch + Duration::from_micros(d.sent_us) + self.timeout_of_step(step))
            })
            .min()
    }

    /// Probes in the window.
    pub fn len(&self) -> u64 {
        self.in_flight
    }

    /// True when no probe is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight == 0
    }

    /// Bytes the window holds now (bits, run records and deadlines), for the benchmarks.
    pub fn footprint(&self) -> usize {
        self.answered.words.len() * 8
            + self.runs.len() * std::mem::size_of::<Run>()
            + self.deadlines.iter().map(VecDeque::len).sum::<usize>()
                * std::mem::size_of::<Deadline>()
    }

    /// The current retry timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Counters so far.
    pub fn stats(&self) -> TableStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::super::ProbeTable;
    use super::*;
    use crate::model::{PortState, Reason};
    use std::net::{IpAddr, Ipv4Addr};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn rtt() -> RttEstimator {
        RttEstimator::new(ms(100), ms(100), ms(1000))
    }

    fn table(retries: u32) -> WindowTable {
        WindowTable::with_policy(RetryPolicy::Fixed(retries), rtt())
    }

    /// The pair a test gives position `p`.
    fn pair(p: u64) -> (Ipv4Addr, u16) {
        (
            Ipv4Addr::from(0xC613_0000 + (p >> 8) as u32),
            p as u16 & 0xff,
        )
    }

    fn reply(p: u64, reason: Reason, at: Instant) -> ReplyEvent {
        let (ip, port) = pair(p);
        ReplyEvent {
            ip: ip.into(),
            service: crate::model::Service::tcp(port),
            state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
            reason,
            ttl: 64,
            at,
        }
    }

    const WALL: SystemTime = SystemTime::UNIX_EPOCH;

    /// A silent probe as the tests list them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Silent {
        position: u64,
        epoch: u8,
    }

    /// What expiry decided, one entry per probe.
    #[derive(Default)]
    struct Collected {
        retries: Vec<u64>,
        /// The try each retried run goes out as.
        retry_tries: Vec<u8>,
        silent: Vec<Silent>,
        /// The runs as handed out, to check they are maximal.
        runs: Vec<Range<u64>>,
    }

    impl Expired for Collected {
        fn retry(&mut self, run: Range<u64>, try_index: u8) {
            self.retry_tries.push(try_index);
            self.runs.push(run.clone());
            self.retries.extend(run);
        }
        fn silent(&mut self, run: Range<u64>, epoch: u8) {
            self.runs.push(run.clone());
            self.silent
                .extend(run.map(|position| Silent { position, epoch }));
        }
    }

    #[test]
    fn each_retry_names_the_try_it_goes_out_as() {
        let t0 = Instant::now();
        let mut t = table(2);
        t.on_sent(0..2, t0, 0);
        let mut x = Collected::default();
        t.expire(t0 + ms(100), &mut x);
        t.on_resent_run(0..2, t0 + ms(100));
        t.expire(t0 + ms(300), &mut x);
        t.on_resent_run(0..2, t0 + ms(300));
        t.expire(t0 + ms(2000), &mut x);
        assert_eq!(x.retry_tries, vec![1, 2]);
        assert_eq!(x.retries, vec![0, 1, 0, 1]);
        assert_eq!(x.silent.len(), 2);
    }

    #[test]
    fn answered_bits_cover_both_ways_and_list_the_clear_ones() {
        let mut b = AnswerBits::default();
        b.cover(&(130..140));
        assert_eq!((b.base, b.end()), (128, 192));
        b.cover(&(5..6));
        assert_eq!((b.base, b.end()), (0, 192));
        for p in [5, 63, 64, 131, 139] {
            b.set(p);
        }
        assert!(b.get(63) && b.get(64) && !b.get(65) && !b.get(1000));
        let mut clear = Vec::new();
        b.for_each_clear(60..67, |p| clear.push(p));
        assert_eq!(clear, vec![60, 61, 62, 65, 66]);
        clear.clear();
        b.for_each_clear(128..140, |p| clear.push(p));
        assert_eq!(
            clear,
            vec![128, 129, 130, 132, 133, 134, 135, 136, 137, 138]
        );
        b.forget_before(130);
        assert_eq!(b.base, 128);
        assert!(b.get(131));
        b.forget_before(1000);
        assert_eq!((b.words.len(), b.base), (0, 960));
    }

    #[test]
    fn a_run_retries_its_unanswered_members_then_decides_them_silent() {
        let t0 = Instant::now();
        let mut t = table(1);
        t.on_sent(10..14, t0, 3);
        assert_eq!(t.len(), 4);
        let out = t.on_reply(&reply(11, Reason::SynAck, t0 + ms(5)), Some(11), WALL);
        assert!(matches!(
            out,
            ReplyOutcome::Decided {
                on_retry: false,
                epoch: 3,
                ..
            }
        ));
        assert_eq!(t.srtt(), Some(ms(5)));
        let mut x = Collected::default();
        t.expire(t0 + ms(99), &mut x);
        assert!(x.retries.is_empty());
        t.expire(t0 + ms(100), &mut x);
        assert_eq!(x.retries, vec![10, 12, 13]);
        // Handed out as maximal runs of unanswered positions.
        assert_eq!(x.runs, vec![10..11, 12..14]);
        assert_eq!(x.retry_tries, vec![1, 1], "the first retry is try 1");
        // Nothing more is asked until the retries leave.
        t.expire(t0 + ms(500), &mut x);
        assert_eq!(x.retries.len(), 3);
        t.on_resent(10, t0 + ms(500));
        t.on_resent_run(12..14, t0 + ms(500));
        assert_eq!(t.next_deadline(), Some(t0 + ms(700)));
        let out = t.on_reply(&reply(12, Reason::Reset, t0 + ms(510)), Some(12), WALL);
        assert!(matches!(out, ReplyOutcome::Decided { on_retry: true, .. }));
        t.expire(t0 + ms(700), &mut x);
        assert_eq!(
            x.silent,
            vec![
                Silent {
                    position: 10,
                    epoch: 3
                },
                Silent {
                    position: 13,
                    epoch: 3
                }
            ]
        );
        assert!(t.is_empty());
        let s = t.stats();
        assert_eq!(
            (
                s.decided_by_reply,
                s.decided_on_retry,
                s.timed_out,
                s.retries_requested
            ),
            (2, 1, 2, 3)
        );
        // Late and duplicate replies, and positions never sent, are ignored.
        for p in [10, 11, 13, 9, 14, 1 << 40] {
            assert_eq!(
                t.on_reply(&reply(p, Reason::SynAck, t0 + ms(800)), Some(p), WALL),
                ReplyOutcome::Ignored
            );
        }
        // And so is a pair outside the order.
        let stranger = reply(0, Reason::SynAck, t0 + ms(800));
        assert_eq!(t.on_reply(&stranger, None, WALL), ReplyOutcome::Ignored);
        assert_eq!(t.stats().ignored_replies, 7);
        assert_eq!(t.footprint(), 0, "a decided window holds nothing");
    }

    #[test]
    fn runs_reported_out_of_order_and_kept_answers() {
        let t0 = Instant::now();
        let mut t = table(0);
        t.keep_answers_from(0);
        // A second sender's run is processed before the first's.
        t.on_sent(256..512, t0, 0);
        t.on_sent(0..256, t0 + ms(1), 0);
        for p in [3, 300, 511] {
            let out = t.on_reply(&reply(p, Reason::Reset, t0 + ms(2)), Some(p), WALL);
            assert!(matches!(out, ReplyOutcome::Decided { .. }), "{p}");
        }
        let mut x = Collected::default();
        t.expire(t0 + ms(100), &mut x);
        assert_eq!(x.silent.len(), 256 - 2);
        t.expire(t0 + ms(101), &mut x);
        assert_eq!(x.silent.len(), 512 - 3);
        assert!(x.retries.is_empty() && t.is_empty());
        // The answers stay readable from the kept position on.
        let mut s = Vec::new();
        let pushed = t.for_each_silent(0..8, |p| {
            s.push(p);
            Ok::<(), ()>(())
        });
        assert_eq!((pushed, s), (Ok(()), vec![0, 1, 2, 4, 5, 6, 7]));
        let mut n = 0;
        let counted = t.for_each_silent(0..512, |_| {
            n += 1;
            Ok::<(), ()>(())
        });
        assert_eq!((counted, n), (Ok(()), 509));
        // The first failure stops the walk.
        let mut seen = 0;
        let stopped = t.for_each_silent(0..512, |p| {
            seen += 1;
            if p == 4 {
                Err(p)
            } else {
                Ok(())
            }
        });
        assert_eq!((stopped, seen), (Err(4), 4));
        t.keep_answers_from(512);
        assert_eq!(t.footprint(), 0);
    }

    #[test]
    fn expire_all_decides_the_window_in_position_order() {
        let t0 = Instant::now();
        let mut t = table(3);
        t.on_sent(5..7, t0, 1);
        t.on_sent(0..2, t0, 0);
        let mut x = Collected::default();
        t.expire(t0 + ms(100), &mut x);
        // Retries come in deadline order.
        assert_eq!(x.retries, vec![5, 6, 0, 1]);
        let mut all = Collected::default();
        t.expire_all(&mut all);
        let got: Vec<(u64, u8)> = all.silent.iter().map(|s| (s.position, s.epoch)).collect();
        assert_eq!(got, vec![(0, 0), (1, 0), (5, 1), (6, 1)]);
        assert!(t.is_empty() && t.next_deadline().is_none());
        // Retries reported after the end change nothing.
        t.on_resent(0, t0 + ms(200));
        assert!(t.is_empty() && t.next_deadline().is_none());
    }

    #[test]
    fn a_million_probes_in_flight_cost_bits() {
        let t0 = Instant::now();
        let mut t = table(1);
        for k in 0..4096u64 {
            t.on_sent(k * 256..(k + 1) * 256, t0 + Duration::from_micros(k), 0);
        }
        assert_eq!(t.len(), 1 << 20);
        // 128 KiB of bits, 4096 runs and deadlines: under 0.4 byte per probe.
        assert!(t.footprint() < 400 << 10, "{}", t.footprint());
    }

    /// A small deterministic generator for the differential test.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// Drives the hash table and the window table with the same random sends, replies,
    /// expiries and resends, and checks they decide the same probes the same way.
    fn differential(seed: u64, policy: RetryPolicy) -> TableStats {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let t0 = Instant::now();
        let mut old = ProbeTable::with_policy(policy, rtt());
        let mut new = WindowTable::with_policy(policy, rtt());
        let mut now = t0;
        let mut next = 0u64;
        let mut tag = 0u8;
        let mut outstanding: Vec<u64> = Vec::new();
        let reasons = [Reason::SynAck, Reason::Reset, Reason::HostUnreach];
        let sorted = |mut v: Vec<(IpAddr, u16, u8)>| {
            v.sort_unstable();
            v
        };
        for step in 0..600 {
            match rng.below(10) {
                0..=2 => {
                    let len = 1 + rng.below(12);
                    let run = next..next + len;
                    next += len;
                    if rng.below(4) == 0 {
                        tag = tag.wrapping_add(1);
                    }
                    new.on_sent(run.clone(), now, tag);
                    for p in run {
                        let (ip, port) = pair(p);
                        old.on_sent(ip, port, now, tag);
                    }
                }
                3..=5 => {
                    // Replies to sent, unsent and long-decided positions alike.
                    let p = rng.below(next + 3);
                    let r = reasons[rng.below(3) as usize];
                    let rtt_us = rng.below(40_000);
                    let ev = reply(p, r, now + Duration::from_micros(rtt_us));
                    let a = old.on_reply(&ev, WALL);
                    let b = new.on_reply(&ev, Some(p), WALL);
                    assert_eq!(a, b, "seed {seed} step {step}: reply to {p}");
                }
                6..=7 => {
                    now += ms(rng.below(180));
                    let (mut re_a, mut f_a) = (Vec::new(), Vec::new());
                    let mut x = Collected::default();
                    old.expire(now, WALL, &mut re_a, &mut f_a);
                    new.expire(now, &mut x);
                    let (re_b, f_b) = (x.retries, x.silent);
                    let mut re_b_pairs: Vec<_> = re_b.iter().map(|&p| pair(p)).collect();
                    re_a.sort_unstable();
                    re_b_pairs.sort_unstable();
                    assert_eq!(re_a, re_b_pairs, "seed {seed} step {step}: retries");
                    let f_a: Vec<_> = f_a
                        .iter()
                        .map(|t| (t.result.ip, t.result.port, t.epoch))
                        .collect();
                    let f_b: Vec<_> = f_b
                        .iter()
                        .map(|s| {
                            (
                                IpAddr::from(pair(s.position).0),
                                pair(s.position).1,
                                s.epoch,
                            )
                        })
                        .collect();
                    assert_eq!(sorted(f_a), sorted(f_b), "seed {seed} step {step}: silent");
                    outstanding.extend(re_b);
                }
                _ => {
                    // Every retry asked for so far leaves now, in one batch: the window
                    // table hears of consecutive positions as one run when the draw says so.
                    now += ms(rng.below(3));
                    let as_runs = rng.below(2) == 0;
                    let mut i = 0;
                    while i < outstanding.len() {
                        let mut j = i + 1;
                        while as_runs
                            && j < outstanding.len()
                            && outstanding[j] == outstanding[j - 1] + 1
                        {
                            j += 1;
                        }
                        for &p in &outstanding[i..j] {
                            let (ip, port) = pair(p);
                            old.on_resent(ip, port, now);
                        }
                        new.on_resent_run(outstanding[i]..outstanding[j - 1] + 1, now);
                        i = j;
                    }
                    outstanding.clear();
                }
            }
            assert_eq!(old.stats(), new.stats(), "seed {seed} step {step}");
            assert_eq!(old.len() as u64, new.len(), "seed {seed} step {step}");
            assert_eq!(
                old.next_deadline(),
                new.next_deadline(),
                "seed {seed} step {step}"
            );
            assert_eq!(old.tries_allowed(), new.tries_allowed());
            assert_eq!((old.rto(), old.srtt()), (new.rto(), new.srtt()));
        }
        let mut f_a = Vec::new();
        let mut x = Collected::default();
        old.expire_all(WALL, &mut f_a);
        new.expire_all(&mut x);
        let f_b = x.silent;
        let f_a: Vec<_> = f_a
            .iter()
            .map(|t| (t.result.ip, t.result.port, t.epoch))
            .collect();
        let f_b: Vec<_> = f_b
            .iter()
            .map(|s| {
                (
                    IpAddr::from(pair(s.position).0),
                    pair(s.position).1,
                    s.epoch,
                )
            })
            .collect();
        assert_eq!(sorted(f_a), sorted(f_b), "seed {seed}: expire_all");
        assert_eq!(old.stats(), new.stats());
        assert!(new.is_empty());
        new.stats()
    }

    #[test]
    fn decides_exactly_as_the_hash_table_does() {
        let mut seen = TableStats::default();
        for seed in 0..300 {
            for s in [
                differential(seed, RetryPolicy::Fixed((seed % 4) as u32)),
                differential(seed, RetryPolicy::Adaptive { min: 1, max: 10 }),
            ] {
                seen.decided_by_reply += s.decided_by_reply;
                seen.decided_on_retry += s.decided_on_retry;
                seen.ignored_replies += s.ignored_replies;
                seen.timed_out += s.timed_out;
                seen.retries_requested += s.retries_requested;
            }
        }
        // The events reached every branch, many times.
        let TableStats {
            decided_by_reply,
            decided_on_retry,
            ignored_replies,
            timed_out,
            retries_requested,
        } = seen;
        for (what, n) in [
            ("decided", decided_by_reply),
            ("on retry", decided_on_retry),
            ("ignored", ignored_replies),
            ("timed out", timed_out),
            ("retries", retries_requested),
        ] {
            assert!(n > 10_000, "{what}: {n}");
        }
    }

    #[test]
    fn silent_probes_are_filtered_no_response() {
        // What the engine makes of a Silent: nmap's filtered, no-response.
        let silence = super::super::Silence::new(|_| PortState::Filtered);
        let r = silence.result(
            Ipv4Addr::new(198, 19, 0, 1),
            crate::model::Service::tcp(80),
            WALL,
        );
        assert_eq!(
            (r.state, r.reason),
            (PortState::Filtered, Reason::NoResponse)
        );
    }
}
