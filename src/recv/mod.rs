//! The receiver: classifies captured frames into verified replies and hands them to the
//! probe table in batches. Frames that fail parsing or the cookie are counted, never reported.

use crate::model::Reason;
use crate::net::Capture;
use crate::probe::ProbeCrafter;
use crate::state::ReplyEvent;
use crate::wire::{self, tcp_flags, LinkLayer, Reply};
use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why a captured frame was not taken as a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The frame did not parse.
    Malformed,
    /// TCP that is neither SYN/ACK nor RST, or ICMP of a code that does not mean filtered.
    Uninteresting,
    /// Failed the cookie: not an answer to our probes.
    NotOurs,
}

/// Turns one captured frame into a verified reply.
pub fn classify(
    frame: &[u8],
    link: LinkLayer,
    crafter: &ProbeCrafter,
    at: Instant,
) -> Result<ReplyEvent, Rejected> {
    match wire::parse_reply(frame, link) {
        Err(_) => Err(Rejected::Malformed),
        Ok(Reply::Tcp(t)) => {
            let reason = if t.flags & tcp_flags::RST != 0 {
                Reason::Reset
            } else if t.flags & (tcp_flags::SYN | tcp_flags::ACK)
                == (tcp_flags::SYN | tcp_flags::ACK)
            {
                Reason::SynAck
            } else {
                return Err(Rejected::Uninteresting);
            };
            if !crafter.validate_tcp(&t) {
                return Err(Rejected::NotOurs);
            }
            Ok(ReplyEvent {
                ip: t.src,
                port: t.sport,
                reason,
                ttl: t.ttl,
                at,
            })
        }
        Ok(Reply::Unreachable(u)) => {
            let reason = Reason::from_icmp_unreachable(u.code).ok_or(Rejected::Uninteresting)?;
            if !crafter.validate_quote(&u.quoted) {
                return Err(Rejected::NotOurs);
            }
            Ok(ReplyEvent {
                ip: u.quoted.dst,
                port: u.quoted.dport,
                reason,
                ttl: u.ttl,
                at,
            })
        }
    }
}

/// Receiver counters.
#[derive(Debug, Default)]
pub struct RecvCounters {
    /// Frames seen.
    pub frames: AtomicU64,
    /// Verified replies.
    pub verified: AtomicU64,
    /// Frames that did not parse.
    pub malformed: AtomicU64,
    /// Frames that parsed but were not replies we care about.
    pub uninteresting: AtomicU64,
    /// Frames that failed the cookie.
    pub not_ours: AtomicU64,
}

/// Captures until `stop` is set, sending verified replies in batches to `replies`.
pub fn run_receiver(
    capture: &mut dyn Capture,
    crafter: &ProbeCrafter,
    replies: &Sender<Vec<ReplyEvent>>,
    stop: &AtomicBool,
    counters: &RecvCounters,
) -> Result<(), String> {
    let link = capture.link();
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Vec::new();
        let (mut frames, mut malformed, mut uninteresting, mut not_ours) = (0u64, 0, 0, 0);
        capture
            .poll(Duration::from_millis(10), &mut |frame| {
                frames += 1;
                // Stamped when handled, like the table's clock: a stamp from before the
                // poll would make replies look faster than the table can see them.
                match classify(frame, link, crafter, Instant::now()) {
                    Ok(ev) => batch.push(ev),
                    Err(Rejected::Malformed) => malformed += 1,
                    Err(Rejected::Uninteresting) => uninteresting += 1,
                    Err(Rejected::NotOurs) => not_ours += 1,
                }
            })
            .map_err(|e| format!("capturing replies failed: {e}"))?;
        counters.frames.fetch_add(frames, Ordering::Relaxed);
        counters.malformed.fetch_add(malformed, Ordering::Relaxed);
        counters
            .uninteresting
            .fetch_add(uninteresting, Ordering::Relaxed);
        counters.not_ours.fetch_add(not_ours, Ordering::Relaxed);
        if !batch.is_empty() {
            counters
                .verified
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            if replies.send(batch).is_err() {
                break;
            }
        }
    }
    Ok(())
}
