//! The sender: rate limiter and the loop that crafts probes into batches and transmits them.

pub(crate) mod auto_rate;
pub(crate) mod pace;
pub(crate) mod pilots;
pub(crate) mod rate;

use crate::net::{Frames, Transmit};
use crate::probe::ProbeCrafter;
use crate::state::Resend;
use crate::targets::ProbeOrder;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use pace::ThreadPacer;
use pilots::Pilot;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Frames per sendmmsg call at most.
pub const MAX_BATCH: usize = 256;

/// Probes that left in one batch, reported before the frames go out so a reply can never
/// be seen before its send is recorded. Probes are named by their positions in the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentBatch {
    /// When the batch was handed to the kernel.
    pub at: Instant,
    /// Positions of the retries in it (they went first), as runs of consecutive positions.
    pub retried: Vec<Range<u64>>,
    /// Positions of the new probes, after the retries: one claimed run.
    pub new_run: Range<u64>,
}

/// What the sender tells the probe table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderEvent {
    /// A batch is about to leave.
    Sent(SentBatch),
    /// No new probe will follow; `next_position` is where a resume would start.
    NewProbesDone {
        /// Position in the shard's order of the first probe not sent.
        next_position: u64,
        /// True when every probe of the order was sent.
        complete: bool,
    },
    /// The send path failed; the scan cannot go on.
    Failed(String),
}

/// The next unsent position of the order, shared by every sender thread. A sender claims
/// a run of positions and sends all of it, so the positions sent are always a prefix of
/// the order: where a stopped scan resumes is this counter.
#[derive(Debug)]
pub struct PositionClaimer {
    next: AtomicU64,
    len: u64,
}

impl PositionClaimer {
    /// A claimer over [start, len).
    pub fn new(start: u64, len: u64) -> Self {
        PositionClaimer {
            next: AtomicU64::new(start.min(len)),
            len,
        }
    }

    /// Takes up to `want` positions; an empty range when the order is exhausted.
    pub fn claim(&self, want: u64) -> std::ops::Range<u64> {
        let from = self.next.fetch_add(want, Ordering::Relaxed);
        let from = from.min(self.len);
        from..from.saturating_add(want).min(self.len)
    }

    /// The first position nobody claimed.
    pub fn next_position(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.len)
    }

    /// True when every position was claimed.
    pub fn exhausted(&self) -> bool {
        self.next_position() >= self.len
    }
}

/// What every sender thread of a scan shares.
pub struct SendShared<'a> {
    /// Template and cookie.
    pub crafter: &'a ProbeCrafter,
    /// The probes to send.
    pub order: &'a ProbeOrder,
    /// The next unsent position.
    pub positions: &'a PositionClaimer,
    /// Retries the table asks for, as runs of positions; closed when the scan ends.
    pub retries: &'a Receiver<Vec<Resend>>,
    /// Pilot probes the table asks for (re-probes of answered pairs, never results).
    pub pilots: &'a Receiver<Vec<Pilot>>,
    /// Where sends are reported.
    pub events: &'a Sender<SenderEvent>,
    /// Set to stop new probes (retries go on).
    pub stop: &'a AtomicBool,
    /// Counters for the progress display and the report.
    pub counters: &'a SendCounters,
}

/// Counters of what left, read into the scan's stats.
#[derive(Debug, Default)]
pub struct SendCounters {
    /// Frames handed to the kernel, retries included.
    pub packets: AtomicU64,
    /// New probes sent (not retries).
    pub new_probes: AtomicU64,
    /// Pilot probes sent, by generation.
    pub pilots: [AtomicU64; crate::model::PILOT_GENERATIONS],
    /// Times the kernel took fewer frames than offered (its queue full).
    pub stalls: AtomicU64,
}

impl SendCounters {
    /// Copies the counters into `s`.
    pub fn read_into(&self, s: &mut crate::model::ScanStats) {
        s.packets_sent = self.packets.load(Ordering::Relaxed);
        s.new_probes = self.new_probes.load(Ordering::Relaxed);
        s.pilots_sent = self.pilots.each_ref().map(|c| c.load(Ordering::Relaxed));
        s.send_stalls = self.stalls.load(Ordering::Relaxed);
    }
}

/// Sends the probes of the order it claims, plus the retries the table asks for, at the
/// pace `pacer` allows, until the table closes the retry channel. `stop` ends new probes
/// (retries go on).
pub fn run_sender(transmit: &mut dyn Transmit, mut pacer: ThreadPacer, shared: &SendShared<'_>) {
    let SendShared {
        crafter,
        order,
        positions,
        retries,
        pilots,
        events,
        stop,
        counters,
    } = *shared;
    // One slot per probe, as long as the longest family's frame; a batch that mixes
    // families says each frame's length.
    let slot = crafter.max_frame_len();
    let uniform = crafter.uniform_frames();
    let mut buf = vec![0u8; slot * MAX_BATCH];
    let mut lens: Vec<u16> = Vec::with_capacity(MAX_BATCH);
    // Retries waiting, as runs: a silent run of a batch costs one entry, not one per probe.
    let mut pending = RetryQueue::default();
    let mut pilots_due: VecDeque<Pilot> = VecDeque::new();
    let mut new_done = false;
    let mut retries_open = true;

    loop {
        // Retries first: they belong to probes already in flight.
        loop {
            match retries.try_recv() {
                Ok(v) => pending.extend(v),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    retries_open = false;
                    break;
                }
            }
        }
        // Pilots clock the rate while probes go out, new ones or retries.
        while let Ok(v) = pilots.try_recv() {
            pilots_due.extend(v);
        }
        if !new_done && (positions.exhausted() || stop.load(Ordering::Relaxed)) {
            new_done = true;
            // Another sender may still be sending what it claimed; the table waits for
            // every sender's report and reads the final position then.
            let done = SenderEvent::NewProbesDone {
                next_position: positions.next_position(),
                complete: positions.exhausted(),
            };
            if events.send(done).is_err() {
                return;
            }
        }
        if new_done && pending.is_empty() {
            // Pilots alone clock nothing.
            pilots_due.clear();
            if !retries_open {
                return;
            }
            match retries.recv_timeout(Duration::from_millis(20)) {
                Ok(v) => pending.extend(v),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            continue;
        }

        let granted = pacer.grant(Instant::now(), MAX_BATCH as u32) as usize;
        if granted == 0 {
            std::thread::sleep(pacer.wait());
            continue;
        }

        let retried = pending.take(granted as u64);
        let resent = retried
            .iter()
            .map(|r| r.positions.end - r.positions.start)
            .sum::<u64>() as usize;
        let piloted = pilots_due.len().min(granted - resent);
        let mut new_run = 0..0;
        if !new_done && resent + piloted < granted && !stop.load(Ordering::Relaxed) {
            new_run = positions.claim((granted - resent - piloted) as u64);
        }
        let n = resent + piloted + (new_run.end - new_run.start) as usize;
        pacer.refund((granted - n) as u32);
        if n == 0 {
            continue;
        }
        // The sender maps positions to pairs; the table never sees an address.
        lens.clear();
        let mut slots = buf.chunks_exact_mut(slot);
        // Pilots first: they carry their own cookie and are no probe of the order.
        // (The pilots drive the zip: a slot is taken only for a pilot.)
        let mut pilots_by_generation = [0u64; crate::model::PILOT_GENERATIONS];
        for ((ip, port, generation), frame) in pilots_due.drain(..piloted).zip(slots.by_ref()) {
            let len = crafter.craft_pilot(frame, ip, port, generation);
            lens.push(u16::try_from(len).unwrap_or(0));
            if let Some(n) = pilots_by_generation.get_mut(usize::from(generation)) {
                *n += 1;
            }
        }
        // Each retry leaves from its try's own source port (see `Cookie::source_port_of_try`).
        let retried_probes = retried
            .iter()
            .flat_map(|r| r.positions.clone().map(|p| (p, r.try_index)));
        let new_probes = new_run.clone().map(|p| (p, 0));
        for (frame, (position, try_index)) in slots.zip(retried_probes.chain(new_probes)) {
            let (ip, service) = order.get(position);
            let len = crafter.craft_ip(frame, ip, service.port, try_index);
            lens.push(u16::try_from(len).unwrap_or(0));
        }
        let new = new_run.end - new_run.start;
        if events
            .send(SenderEvent::Sent(SentBatch {
                at: Instant::now(),
                retried: retried.into_iter().map(|r| r.positions).collect(),
                new_run,
            }))
            .is_err()
        {
            return;
        }
        let frames = if uniform {
            Frames::uniform(&buf[..n * slot], slot)
        } else {
            Frames::sized(&buf[..n * slot], slot, &lens)
        };
        match send_all(transmit, frames) {
            Ok(stalls) => {
                counters.stalls.fetch_add(stalls, Ordering::Relaxed);
            }
            Err(e) => {
                let _ = events.send(SenderEvent::Failed(format!(
                    "sending probes failed: {e}; check that the interface is up"
                )));
                return;
            }
        }
        counters.packets.fetch_add(n as u64, Ordering::Relaxed);
        counters.new_probes.fetch_add(new, Ordering::Relaxed);
        for (c, n) in counters.pilots.iter().zip(pilots_by_generation) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Retries waiting to leave, as runs of positions, oldest first.
#[derive(Debug, Default)]
struct RetryQueue {
    runs: VecDeque<Resend>,
}

impl RetryQueue {
    fn extend(&mut self, runs: Vec<Resend>) {
        self.runs
            .extend(runs.into_iter().filter(|r| !r.positions.is_empty()));
    }

    fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Takes up to `n` positions from the front, splitting a run if need be.
    fn take(&mut self, mut n: u64) -> Vec<Resend> {
        let mut out = Vec::new();
        while n > 0 {
            let Some(front) = self.runs.front_mut() else {
                break;
            };
            let run = &mut front.positions;
            let len = run.end - run.start;
            if len <= n {
                n -= len;
                out.extend(self.runs.pop_front());
            } else {
                out.push(Resend {
                    positions: run.start..run.start + n,
                    try_index: front.try_index,
                });
                run.start += n;
                n = 0;
            }
        }
        out
    }
}

/// Sends every frame, waiting briefly whenever the kernel's queue is full; returns how
/// often it took fewer frames than offered (a local signal for the adaptive rate).
fn send_all(transmit: &mut dyn Transmit, frames: Frames<'_>) -> std::io::Result<u64> {
    let total = frames.count();
    let mut done = 0;
    let mut stalls = 0u32;
    let mut short = 0u64;
    while done < total {
        let n = transmit.send_batch(frames.skip(done))?;
        if n < total - done {
            short += 1;
        }
        if n == 0 {
            stalls += 1;
            if stalls > 200_000 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the kernel accepted no packet for several seconds",
                ));
            }
            std::thread::sleep(Duration::from_micros(20));
        } else {
            stalls = 0;
        }
        done += n;
    }
    Ok(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_queue_hands_out_runs_in_order_splitting_at_the_batch_size() {
        let resend = |positions: Range<u64>, try_index| Resend {
            positions,
            try_index,
        };
        let mut q = RetryQueue::default();
        q.extend(vec![
            resend(10..14, 1),
            resend(20..20, 1),
            resend(30..31, 2),
        ]);
        q.extend(vec![resend(40..300, 1)]);
        assert_eq!(q.take(3), vec![resend(10..13, 1)]);
        assert_eq!(
            q.take(3),
            vec![resend(13..14, 1), resend(30..31, 2), resend(40..41, 1)]
        );
        assert_eq!(q.take(256), vec![resend(41..297, 1)]);
        assert!(!q.is_empty());
        assert_eq!(q.take(256), vec![resend(297..300, 1)]);
        assert!(q.is_empty());
        assert_eq!(q.take(256), Vec::<Resend>::new());
    }
}
