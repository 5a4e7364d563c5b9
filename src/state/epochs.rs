//! Epochs: decided results are released to the outputs in position order, a few seconds
//! at a time, so the outputs always hold exactly the results of a prefix of the order and
//! a checkpoint of that prefix's end is exact whatever kills the scan next.
//!
//! The table loop closes an epoch every so often at a boundary: the contiguous prefix of
//! positions whose first send it has processed. Each new probe belongs to the open epoch
//! (its position is past every closed boundary). A result waits with its epoch until
//! every epoch up to it is closed and has no undecided probe; then it is released.
//!
//! Only answered probes' results are stored: a probe that drew no answer is counted as
//! decided ([`Epochs::decided_silent`]) and named at release time from the probe table's
//! answered bits (the release hands out each epoch's range of positions), so a silent scan
//! keeps nothing per probe.

use super::compact::{decode_all, Compact, Records};
use crate::model::PortResult;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

/// One epoch not yet released.
#[derive(Debug)]
struct Epoch {
    /// Its full number (tags are the low 8 bits).
    number: u64,
    /// Where it ends, once closed.
    boundary: Option<u64>,
    /// Its probes sent and not yet decided.
    undecided: u64,
    /// Its decided results, waiting for release (16 bytes each, 32 for IPv6), in chunks
    /// of [`CHUNK`] records: a growing vector would hold up to twice its results while it
    /// doubles. A result's records never straddle two chunks.
    results: Vec<Vec<Compact>>,
}

impl Epoch {
    fn new(number: u64) -> Epoch {
        Epoch {
            number,
            boundary: None,
            undecided: 0,
            results: Vec::new(),
        }
    }

    /// Stores one result's records, in one chunk.
    fn push(&mut self, records: Records) {
        match self.results.last_mut() {
            Some(chunk) if chunk.len() + records.len() <= CHUNK => chunk.extend(records),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.extend(records);
                self.results.push(chunk);
            }
        }
    }
}

/// Results per chunk of an epoch's buffer (64 KiB).
const CHUNK: usize = 4096;

/// What a release hands out, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Released<'a> {
    /// An answered probe's result.
    Answer(&'a PortResult),
    /// The positions of a released epoch, after its answers: every one of them is decided,
    /// so those that drew no answer are the silent (filtered, no-response) ones.
    Positions(Range<u64>),
}

/// Epochs alive at once at most: tags are 8 bits.
const MAX_LIVE: usize = 250;

/// The epoch bookkeeping of one scan.
#[derive(Debug)]
pub struct Epochs {
    /// Every position before this had its first send processed.
    prefix: u64,
    /// Processed runs past a gap (several senders report out of order): start -> end.
    ahead: BTreeMap<u64, u64>,
    /// Unreleased epochs, oldest first; the last is open.
    live: VecDeque<Epoch>,
    /// Every result before this position is released.
    released: u64,
}

impl Epochs {
    /// Bookkeeping for a scan that starts at `start`.
    pub fn new(start: u64) -> Epochs {
        Epochs {
            prefix: start,
            ahead: BTreeMap::new(),
            live: VecDeque::from([Epoch::new(0)]),
            released: start,
        }
    }

    fn open(&mut self) -> &mut Epoch {
        // `live` always holds the open epoch.
        if self.live.is_empty() {
            self.live.push_back(Epoch::new(0));
        }
        let last = self.live.len() - 1;
        &mut self.live[last]
    }

    /// The tag new probes get (the open epoch's).
    pub fn open_tag(&self) -> u8 {
        self.live.back().map_or(0, |e| e.number as u8)
    }

    /// The first sends of the positions in `run` were processed (they belong to the open
    /// epoch).
    pub fn sent_run(&mut self, run: Range<u64>) {
        if run.is_empty() {
            return;
        }
        self.open().undecided += run.end - run.start;
        if run.start == self.prefix {
            self.prefix = run.end;
            while let Some(end) = self.ahead.remove(&self.prefix) {
                self.prefix = end;
            }
        } else {
            self.ahead.insert(run.start, run.end);
        }
    }

    /// The live epoch tagged `tag`.
    fn tagged(&mut self, tag: u8) -> Option<&mut Epoch> {
        let front = self.live.front().map_or(0, |e| e.number as u8);
        let i = usize::from(tag.wrapping_sub(front)).min(self.live.len().saturating_sub(1));
        self.live.get_mut(i)
    }

    /// A probe of the epoch tagged `tag` is decided.
    pub fn decided(&mut self, tag: u8, r: PortResult) {
        if let Some(e) = self.tagged(tag) {
            e.undecided = e.undecided.saturating_sub(1);
            e.push(Compact::encode(&r));
        }
    }

    /// `n` probes of the epoch tagged `tag` are decided without an answer: nothing is
    /// stored, their results come from their positions at release (see
    /// [`Released::Positions`]).
    pub fn decided_silent(&mut self, tag: u8, n: u64) {
        if let Some(e) = self.tagged(tag) {
            e.undecided = e.undecided.saturating_sub(n);
        }
    }

    /// Closes the open epoch at the processed prefix, unless a run is still missing
    /// before a processed one (try again shortly) or too many epochs are alive. Returns
    /// true when it closed.
    pub fn close(&mut self) -> bool {
        if !self.ahead.is_empty() || self.live.len() >= MAX_LIVE {
            return false;
        }
        let prefix = self.prefix;
        let open = self.open();
        open.boundary = Some(prefix);
        let next = open.number + 1;
        self.live.push_back(Epoch::new(next));
        true
    }

    /// Releases, in order, every closed epoch whose probes are all decided: its results go
    /// to `out`. Returns the position every released result is before.
    /// Each epoch's answers come first, then its range of positions (where the silent
    /// probes are).
    pub fn release_ranges<E>(
        &mut self,
        mut out: impl FnMut(Released<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        while self.live.len() > 1 {
            let ready =
                matches!(self.live.front(), Some(e) if e.boundary.is_some() && e.undecided == 0);
            if !ready {
                break;
            }
            let Some(e) = self.live.pop_front() else {
                break;
            };
            for r in e.results.iter().flat_map(decode_all) {
                out(Released::Answer(&r))?;
            }
            let end = e.boundary.unwrap_or(self.released).max(self.released);
            if end > self.released {
                out(Released::Positions(self.released..end))?;
            }
            self.released = end;
        }
        Ok(self.released)
    }

    /// Every result before this position has been released.
    pub fn released(&self) -> u64 {
        self.released
    }

    /// Probes sent whose first send was processed, as a prefix.
    #[cfg(test)]
    pub fn prefix(&self) -> u64 {
        self.prefix
    }

    /// Results waiting for release.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.live
            .iter()
            .flat_map(|e| &e.results)
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortState, Reason};
    use std::net::Ipv4Addr;
    use std::time::SystemTime;

    fn result(port: u16) -> PortResult {
        PortResult {
            protocol: crate::model::Protocol::Tcp,
            ip: Ipv4Addr::new(198, 19, 0, 1).into(),
            port,
            state: PortState::Closed,
            reason: Reason::Reset,
            ttl: 64,
            timestamp: SystemTime::UNIX_EPOCH,
        }
    }

    fn release(e: &mut Epochs) -> (u64, Vec<u16>) {
        let mut got = Vec::new();
        let at = e
            .release_ranges(|r| {
                if let Released::Answer(r) = r {
                    got.push(r.port);
                }
                Ok::<(), ()>(())
            })
            .expect("release");
        (at, got)
    }

    #[test]
    fn results_wait_for_every_earlier_epoch() {
        let mut e = Epochs::new(10);
        let t0 = e.open_tag();
        e.sent_run(10..12); // positions 10, 11 (ports 10, 11)
        assert!(e.close());
        let t1 = e.open_tag();
        assert_ne!(t0, t1);
        e.sent_run(12..14);
        // The later epoch decides first: nothing is released, its epoch is still open.
        e.decided(t1, result(12));
        e.decided(t1, result(13));
        assert_eq!(release(&mut e), (10, vec![]));
        assert!(e.close());
        // Epoch 1 is closed and decided, but epoch 0 is not.
        assert_eq!(release(&mut e), (10, vec![]));
        e.decided(t0, result(11));
        assert_eq!(release(&mut e), (10, vec![]));
        e.decided(t0, result(10));
        assert_eq!(release(&mut e), (14, vec![11, 10, 12, 13]));
        assert_eq!(e.buffered(), 0);
    }

    #[test]
    fn an_epoch_of_several_chunks_releases_every_result_in_decision_order() {
        let mut e = Epochs::new(0);
        let t = e.open_tag();
        let n = CHUNK as u64 * 2 + 5;
        e.sent_run(0..n);
        assert!(e.close());
        // Every other result is IPv6 (two records): one falls on a chunk's last record
        // and must go whole into the next chunk.
        let v6 = |port: u16| PortResult {
            ip: "2001:2:0:19::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .into(),
            ..result(port)
        };
        for p in (0..n).rev() {
            e.decided(
                t,
                if p % 2 == 0 {
                    v6(p as u16)
                } else {
                    result(p as u16)
                },
            );
        }
        assert_eq!(e.buffered(), (n + n.div_ceil(2)) as usize);
        let mut got = Vec::new();
        let at = e
            .release_ranges(|r| {
                if let Released::Answer(r) = r {
                    got.push((r.port, r.ip.is_ipv6()));
                }
                Ok::<(), ()>(())
            })
            .expect("release");
        assert_eq!(at, n);
        let want: Vec<(u16, bool)> = (0..n).rev().map(|p| (p as u16, p % 2 == 0)).collect();
        assert_eq!(got, want);
        assert_eq!(e.buffered(), 0);
    }

    #[test]
    fn the_open_epoch_is_never_released() {
        let mut e = Epochs::new(0);
        let t = e.open_tag();
        e.sent_run(0..1);
        e.decided(t, result(0));
        assert_eq!(release(&mut e), (0, vec![]));
        assert!(e.close());
        assert_eq!(release(&mut e), (1, vec![0]));
    }

    #[test]
    fn two_senders_runs_out_of_order_hold_the_boundary() {
        let mut e = Epochs::new(0);
        let t0 = e.open_tag();
        // Sender B's run [256, 512) is processed before sender A's [0, 256).
        e.sent_run(256..512);
        assert_eq!(e.prefix(), 0);
        assert!(
            !e.close(),
            "a gap before a processed run: the epoch stays open"
        );
        e.sent_run(0..256);
        assert_eq!(e.prefix(), 512);
        e.sent_run(768..1024);
        e.sent_run(512..768);
        assert_eq!(e.prefix(), 1024);
        assert!(e.close());
        for p in 0..1024u16 {
            e.decided(t0, result(p));
        }
        let (at, got) = release(&mut e);
        assert_eq!((at, got.len()), (1024, 1024));
    }

    #[test]
    fn silent_probes_are_counted_not_stored_and_released_as_ranges() {
        let mut e = Epochs::new(5);
        let t0 = e.open_tag();
        e.sent_run(5..9);
        assert!(e.close());
        let t1 = e.open_tag();
        e.sent_run(9..10);
        assert!(e.close());
        e.decided(t0, result(6));
        e.decided_silent(t0, 2);
        e.decided_silent(t1, 1);
        assert_eq!(e.buffered(), 1);
        let mut got = Vec::new();
        let mut out = |r: Released<'_>| {
            got.push(match r {
                Released::Answer(r) => format!("answer {}", r.port),
                Released::Positions(p) => format!("{p:?}"),
            });
            Ok::<(), ()>(())
        };
        // Epoch 0 still has an undecided probe: nothing goes.
        assert_eq!(e.release_ranges(&mut out), Ok(5));
        e.decided_silent(t0, 1);
        assert_eq!(e.release_ranges(&mut out), Ok(10));
        assert_eq!(got, vec!["answer 6", "5..9", "9..10"]);
    }

    #[test]
    fn tags_wrap_around_and_still_find_their_epoch() {
        let mut e = Epochs::new(0);
        let mut pos = 0;
        // 300 epochs, each decided and released before the next closes.
        for _ in 0..300 {
            let t = e.open_tag();
            e.sent_run(pos..pos + 2);
            assert!(e.close());
            e.decided(t, result(pos as u16));
            e.decided(t, result(pos as u16 + 1));
            pos += 2;
            assert_eq!(release(&mut e).0, pos);
        }
        // An epoch left undecided holds every later one back.
        let slow = e.open_tag();
        e.sent_run(pos..pos + 1);
        assert!(e.close());
        let fast = e.open_tag();
        e.sent_run(pos + 1..pos + 2);
        assert!(e.close());
        e.decided(fast, result(1));
        assert_eq!(release(&mut e), (pos, vec![]));
        e.decided(slow, result(0));
        assert_eq!(release(&mut e), (pos + 2, vec![0, 1]));
    }
}
