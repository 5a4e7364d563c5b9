//! `synscan-lab wire`: the lab's own wire (this kernel has no netem). Run inside the middle
//! namespace, it relays Ethernet frames between two veth ends, holding each for a delay with
//! uniform jitter and dropping, duplicating or reordering a share of them.
//!
//! Frames move verbatim, MACs included, like over a cable. Each packet socket carries the
//! virtio-net header (PACKET_VNET_HDR) so a checksum-offloaded frame leaves the relay as
//! CHECKSUM_PARTIAL exactly as it arrived, as if the two veth ends were joined directly; nothing
//! in the frame is rewritten. ARP and IPv6 neighbour discovery are delayed like everything else
//! but never dropped, duplicated or reordered: losing them would make the kernels' neighbour
//! entries fail for seconds at a time, which would measure Linux's ARP/ND instead of the
//! scanner.
//!
//! With `--wire-pps N` each direction is also a link of finite capacity, like a home router's
//! uplink: frames leave at most N a second, those that find the link busy wait in a queue of
//! `--wire-queue` frames, and frames that find the queue full are dropped (tail drop). The
//! delay is added after the link. ARP and neighbour discovery bypass the link.
//!
//! One receive thread per direction draws each frame's fate and puts it in that direction's
//! heap ordered by release time; one send thread per direction sleeps until the earliest
//! release and sends what is due. Socket buffers are 32 MiB so bursts at the scanner's rate
//! cannot overflow them; the kernel's drop counter is read and published anyway.

use crate::cli::{WireArgs, WireRunArgs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use synscan::sys::{packet, sock};

/// The line printed once both ends are open.
pub const READY: &str = "ready";
/// Size of struct virtio_net_hdr, which precedes every frame on a PACKET_VNET_HDR socket.
pub const VNET_HDR_LEN: usize = 10;
/// Longest delay accepted (a minute: anything longer is a typo).
pub const MAX_DELAY_MS: u64 = 60_000;
/// Receive slot: the header plus the largest (GSO) frame a veth passes by default.
const SLOT: usize = VNET_HDR_LEN + 65_536;
/// Frames per recvmmsg call.
const BATCH: usize = 32;
/// Socket buffer size each way (forced past rmem_max/wmem_max; we are root).
const SOCK_BUF: libc::c_int = 32 << 20;
/// How often stop is checked and the stats file rewritten.
const TICK: Duration = Duration::from_millis(100);
/// How long one frame's send is retried while the kernel queue is full before giving up.
const SEND_PATIENCE: Duration = Duration::from_millis(200);

/// The wire's behaviour, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WireSpec {
    /// Hold time of every frame.
    pub delay: Duration,
    /// Each frame is held `delay` +- up to this much (uniform).
    pub jitter: Duration,
    /// Percent of non-ARP frames dropped.
    pub loss: f64,
    /// Percent of non-ARP frames sent twice.
    pub duplicate: f64,
    /// Percent of non-ARP frames sent at once, overtaking held ones.
    pub reorder: f64,
    /// Capacity each way in frames per second (None: unlimited).
    pub pps: Option<u64>,
    /// Frames that may wait for the capacity-limited link.
    pub queue: u64,
}

fn percent(flag: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{flag} {v} is not a percentage: use 0-100"))
    }
}

impl WireSpec {
    /// Check the options: percentages in 0-100, delay at most a minute, jitter at most delay
    /// (a larger jitter would clip at zero and skew the uniform distribution).
    pub fn from_args(a: &WireArgs) -> Result<WireSpec, String> {
        if a.delay_ms > MAX_DELAY_MS {
            return Err(format!(
                "--delay-ms {} is too long: use at most {MAX_DELAY_MS}",
                a.delay_ms
            ));
        }
        if a.jitter_ms > a.delay_ms {
            return Err(format!(
                "--jitter-ms {} exceeds --delay-ms {}: jitter must not exceed the delay",
                a.jitter_ms, a.delay_ms
            ));
        }
        Ok(WireSpec {
            delay: Duration::from_millis(a.delay_ms),
            jitter: Duration::from_millis(a.jitter_ms),
            loss: percent("--wire-loss", a.wire_loss)?,
            duplicate: percent("--duplicate", a.duplicate)?,
            reorder: percent("--reorder", a.reorder)?,
            pps: (a.wire_pps > 0).then_some(a.wire_pps),
            queue: a.wire_queue,
        })
    }
}

/// The finite-capacity link of one direction: frames leave one every `1 / pps`, in
/// arrival order; a frame that would find `queue` frames already waiting is dropped.
/// Pure: the caller passes the time.
#[derive(Debug, Clone)]
pub struct Link {
    /// Time one frame takes on the link.
    gap: Duration,
    queue: u64,
    /// When the link is free for the next frame.
    free_at: Option<Instant>,
}

impl Link {
    /// A link carrying `pps` frames a second (at least 1) behind a queue of `queue` frames.
    pub fn new(pps: u64, queue: u64) -> Link {
        Link {
            gap: Duration::from_nanos(1_000_000_000 / pps.max(1)),
            queue,
            free_at: None,
        }
    }

    /// A frame arriving at `now`: when it leaves the link, or None when the queue is full.
    pub fn admit(&mut self, now: Instant) -> Option<Instant> {
        let start = self.free_at.map_or(now, |f| f.max(now));
        // Frames ahead of this one that have not started on the link yet.
        let waiting = start.saturating_duration_since(now).as_nanos() / self.gap.as_nanos();
        if waiting > u128::from(self.queue) {
            return None;
        }
        self.free_at = Some(start + self.gap);
        Some(start)
    }
}

/// What happens to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Dropped.
    Lost,
    /// Sent after `delay`, and a copy after `copy` when duplicated.
    Pass {
        /// Hold time of the frame.
        delay: Duration,
        /// Hold time of the duplicate, if any.
        copy: Option<Duration>,
        /// Sent at once (delay zero) by the reorder share.
        reordered: bool,
    },
}

fn chance<R: Rng>(rng: &mut R, pct: f64) -> bool {
    pct > 0.0 && rng.random::<f64>() * 100.0 < pct
}

/// One hold time: delay + uniform(-jitter, +jitter), microsecond resolution.
fn hold<R: Rng>(spec: &WireSpec, rng: &mut R) -> Duration {
    if spec.jitter.is_zero() {
        return spec.delay;
    }
    let j = spec.jitter.as_micros() as i64;
    let d = spec.delay.as_micros() as i64;
    Duration::from_micros((d + rng.random_range(-j..=j)).max(0) as u64)
}

/// Draw a frame's fate (ARP and neighbour discovery, `arp`, are only delayed).
pub fn fate<R: Rng>(spec: &WireSpec, arp: bool, rng: &mut R) -> Fate {
    if arp {
        return Fate::Pass {
            delay: hold(spec, rng),
            copy: None,
            reordered: false,
        };
    }
    if chance(rng, spec.loss) {
        return Fate::Lost;
    }
    let reordered = chance(rng, spec.reorder);
    let delay = if reordered {
        Duration::ZERO
    } else {
        hold(spec, rng)
    };
    let copy = if chance(rng, spec.duplicate) {
        Some(hold(spec, rng))
    } else {
        None
    };
    Fate::Pass {
        delay,
        copy,
        reordered,
    }
}

/// Whether an Ethernet frame is ARP (EtherType 0x0806).
pub fn is_arp(frame: &[u8]) -> bool {
    frame.len() >= 14 && frame[12..14] == [0x08, 0x06]
}

/// Whether an Ethernet frame is IPv6 neighbour discovery: EtherType 0x86DD, next header
/// ICMPv6 (58) right after the fixed header, type 133-137 (router/neighbour solicitation and
/// advertisement, redirect; RFC 4861 forbids extension headers before them in practice).
pub fn is_neighbour_discovery(frame: &[u8]) -> bool {
    const ICMP6_TYPE: usize = 14 + 40;
    frame.len() > ICMP6_TYPE
        && frame[12..14] == [0x86, 0xdd]
        && frame[14 + 6] == 58
        && (133..=137).contains(&frame[ICMP6_TYPE])
}

/// Whether a frame resolves addresses (ARP or IPv6 neighbour discovery): only delayed.
pub fn is_address_resolution(frame: &[u8]) -> bool {
    is_arp(frame) || is_neighbour_discovery(frame)
}

/// A frame waiting for its release time; the heap pops the earliest (then the first taken).
struct Held {
    release: Instant,
    seq: u64,
    buf: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.release == other.release && self.seq == other.seq
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest release on top.
        other
            .release
            .cmp(&self.release)
            .then(other.seq.cmp(&self.seq))
    }
}

/// Counters of one direction, published in the stats file.
#[derive(Debug, Default)]
pub struct Counters {
    received: AtomicU64,
    lost: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    sent: AtomicU64,
    /// Frames dropped because the capacity-limited link's queue was full.
    overflow: AtomicU64,
    send_retries: AtomicU64,
    send_failed: AtomicU64,
    kernel_drops: AtomicU64,
    truncated: AtomicU64,
    max_held: AtomicU64,
    max_late_us: AtomicU64,
}

impl Counters {
    fn json(&self, from: &str, to: &str) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::SeqCst);
        // Read in causal order (a frame is counted received, then lost or duplicated, then
        // sent) so that sent <= received - lost + duplicated holds in every snapshot.
        let sent = g(&self.sent);
        let lost = g(&self.lost);
        let received = g(&self.received);
        let duplicated = g(&self.duplicated);
        serde_json::json!({
            "from": from,
            "to": to,
            "received": received,
            "lost": lost,
            "duplicated": duplicated,
            "reordered": g(&self.reordered),
            "sent": sent,
            "overflow": g(&self.overflow),
            "send_retries": g(&self.send_retries),
            "send_failed": g(&self.send_failed),
            "kernel_drops": g(&self.kernel_drops),
            "truncated": g(&self.truncated),
            "max_held": g(&self.max_held),
            "max_late_us": g(&self.max_late_us),
        })
    }
}

/// One direction: frames read on `rx` leave on `tx` after their hold time.
struct Direction {
    from: String,
    to: String,
    rx: OwnedFd,
    tx: OwnedFd,
    heap: Mutex<BinaryHeap<Held>>,
    due: Condvar,
    counters: Counters,
}

impl Direction {
    fn lock(&self) -> MutexGuard<'_, BinaryHeap<Held>> {
        self.heap.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, items: Vec<Held>) {
        let Some(earliest) = items.iter().map(|h| h.release).min() else {
            return;
        };
        let mut heap = self.lock();
        let top = heap.peek().map(|h| h.release);
        heap.extend(items);
        self.counters
            .max_held
            .fetch_max(heap.len() as u64, Ordering::Relaxed);
        drop(heap);
        // The sender sleeps until the current top; wake it only when something must leave earlier.
        if top.is_none_or(|t| earliest < t) {
            self.due.notify_one();
        }
    }

    /// Receive loop: read frames, draw their fate, queue them.
    fn receive(&self, spec: &WireSpec, seed: u64, stop: &AtomicBool) -> Result<(), String> {
        let mut batch = packet::RecvBatch::new(BATCH, SLOT);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut link = spec.pps.map(|pps| Link::new(pps, spec.queue));
        let mut seq = 0u64;
        let c = &self.counters;
        while !stop.load(Ordering::Relaxed) {
            let readable = sock::poll_in(self.rx.as_fd(), TICK)
                .map_err(|e| format!("waiting for frames on {}: {e}", self.from))?;
            if !readable {
                continue;
            }
            loop {
                let n = batch
                    .recv(self.rx.as_fd())
                    .map_err(|e| format!("receiving on {}: {e}", self.from))?;
                if n == 0 {
                    break;
                }
                let now = Instant::now();
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    let f = batch.frame(i);
                    if f.len() < VNET_HDR_LEN + 14 {
                        continue;
                    }
                    c.received.fetch_add(1, Ordering::Relaxed);
                    if f.len() == SLOT {
                        // Possibly cut short; pass it on anyway, but say so.
                        c.truncated.fetch_add(1, Ordering::Relaxed);
                    }
                    let resolution = is_address_resolution(&f[VNET_HDR_LEN..]);
                    match fate(spec, resolution, &mut rng) {
                        Fate::Lost => {
                            c.lost.fetch_add(1, Ordering::Relaxed);
                        }
                        Fate::Pass {
                            delay,
                            copy,
                            reordered,
                        } => {
                            // The delay runs from when the frame left the link.
                            let left = match link.as_mut() {
                                Some(l) if !resolution => match l.admit(now) {
                                    Some(at) => at,
                                    None => {
                                        c.overflow.fetch_add(1, Ordering::Relaxed);
                                        continue;
                                    }
                                },
                                _ => now,
                            };
                            if reordered {
                                c.reordered.fetch_add(1, Ordering::Relaxed);
                            }
                            items.push(Held {
                                release: left + delay,
                                seq,
                                buf: f.to_vec(),
                            });
                            seq += 1;
                            if let Some(d) = copy {
                                c.duplicated.fetch_add(1, Ordering::Relaxed);
                                items.push(Held {
                                    release: left + d,
                                    seq,
                                    buf: f.to_vec(),
                                });
                                seq += 1;
                            }
                        }
                    }
                }
                self.push(items);
                if n < batch.capacity() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Send loop: sleep until the earliest release, send everything due.
    fn transmit(&self, stop: &AtomicBool) {
        let mut due: Vec<Held> = Vec::new();
        loop {
            {
                let mut heap = self.lock();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let now = Instant::now();
                    match heap.peek().map(|h| h.release) {
                        Some(r) if r <= now => {
                            while heap.peek().is_some_and(|h| h.release <= now) {
                                if let Some(h) = heap.pop() {
                                    due.push(h);
                                }
                            }
                            break;
                        }
                        Some(r) => {
                            heap = self
                                .due
                                .wait_timeout(heap, (r - now).min(TICK))
                                .unwrap_or_else(|p| p.into_inner())
                                .0;
                        }
                        None => {
                            heap = self
                                .due
                                .wait_timeout(heap, TICK)
                                .unwrap_or_else(|p| p.into_inner())
                                .0;
                        }
                    }
                }
            }
            let now = Instant::now();
            for h in due.drain(..) {
                let late = now.saturating_duration_since(h.release).as_micros() as u64;
                self.counters.max_late_us.fetch_max(late, Ordering::Relaxed);
                self.send(&h.buf);
            }
        }
    }

    fn send(&self, buf: &[u8]) {
        let c = &self.counters;
        let give_up = Instant::now() + SEND_PATIENCE;
        loop {
            match packet::send(self.tx.as_fd(), buf) {
                Ok(_) => {
                    c.sent.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EAGAIN | libc::ENOBUFS | libc::EINTR)
                    ) && Instant::now() < give_up =>
                {
                    c.send_retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(_) => {
                    c.send_failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

/// The interface index of `name` in this namespace (/sys is this namespace's under
/// `ip netns exec`).
fn ifindex(name: &str) -> Result<u32, String> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(format!("bad interface name {name:?}"));
    }
    let path = format!("/sys/class/net/{name}/ifindex");
    std::fs::read_to_string(&path)
        .map_err(|e| {
            format!("no interface {name} here ({path}: {e}): run inside the middle namespace")
        })?
        .trim()
        .parse()
        .map_err(|_| format!("unreadable ifindex of {name}"))
}

fn open_rx(name: &str, index: u32) -> Result<OwnedFd, String> {
    let err = |what: &str, e: std::io::Error| format!("{what} for {name}: {e}");
    let fd = packet::open(libc::SOCK_RAW, 0).map_err(|e| err("opening a packet socket", e))?;
    // Our own sends on this interface must not come back as input.
    packet::set_ignore_outgoing(fd.as_fd()).map_err(|e| err("PACKET_IGNORE_OUTGOING", e))?;
    packet::set_packet_opt(fd.as_fd(), libc::PACKET_VNET_HDR, 1)
        .map_err(|e| err("PACKET_VNET_HDR", e))?;
    sock::grow_rcvbuf(fd.as_fd(), SOCK_BUF).map_err(|e| err("growing SO_RCVBUF", e))?;
    packet::bind(fd.as_fd(), libc::ETH_P_ALL as u16, index)
        .map_err(|e| err("binding the receive socket", e))?;
    Ok(fd)
}

fn open_tx(name: &str, index: u32) -> Result<OwnedFd, String> {
    let err = |what: &str, e: std::io::Error| format!("{what} for {name}: {e}");
    let fd = packet::open(libc::SOCK_RAW, 0).map_err(|e| err("opening a packet socket", e))?;
    packet::set_packet_opt(fd.as_fd(), libc::PACKET_VNET_HDR, 1)
        .map_err(|e| err("PACKET_VNET_HDR", e))?;
    // Bypassing the qdisc is only a shortcut; sending works without it.
    let _ = packet::set_qdisc_bypass(fd.as_fd());
    sock::grow_sndbuf(fd.as_fd(), SOCK_BUF).map_err(|e| err("growing SO_SNDBUF", e))?;
    // Protocol 0: this socket receives nothing; the kernel takes the EtherType from the frame.
    packet::bind(fd.as_fd(), 0, index).map_err(|e| err("binding the send socket", e))?;
    Ok(fd)
}

fn direction(from: &str, to: &str) -> Result<Direction, String> {
    let (fi, ti) = (ifindex(from)?, ifindex(to)?);
    Ok(Direction {
        from: from.to_string(),
        to: to.to_string(),
        rx: open_rx(from, fi)?,
        tx: open_tx(to, ti)?,
        heap: Mutex::new(BinaryHeap::new()),
        due: Condvar::new(),
        counters: Counters::default(),
    })
}

fn stats_json(dirs: &[Direction], last: bool) -> String {
    let list: Vec<serde_json::Value> = dirs
        .iter()
        .map(|d| {
            let mut v = d.counters.json(&d.from, &d.to);
            // Frames held now, and how far past its release the earliest is: a frame stuck
            // in the relay shows up here even before it would count as late.
            let (held, overdue) = {
                let heap = d.lock();
                let now = Instant::now();
                let overdue = heap
                    .peek()
                    .map(|h| now.saturating_duration_since(h.release).as_micros() as u64)
                    .unwrap_or(0);
                (heap.len(), overdue)
            };
            v["held"] = held.into();
            v["overdue_us"] = overdue.into();
            v
        })
        .collect();
    serde_json::json!({ "final": last, "directions": list }).to_string()
}

/// Replace `path` atomically so readers never see half a file.
fn write_stats(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn collect_kernel_drops(dirs: &[Direction]) {
    for d in dirs {
        // PACKET_STATISTICS resets on read, so only this thread reads it.
        if let Ok((_, drops)) = packet::stats(d.rx.as_fd()) {
            d.counters
                .kernel_drops
                .fetch_add(u64::from(drops), Ordering::Relaxed);
        }
    }
}

/// Run `synscan-lab wire`; returns the exit code.
pub fn run(a: &WireRunArgs) -> i32 {
    match relay(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("synscan-lab wire: {e}");
            1
        }
    }
}

fn relay(a: &WireRunArgs) -> Result<(), String> {
    let spec = WireSpec::from_args(&a.shape)?;
    let stop = crate::serve::stop_flag()?;
    let dirs = [direction(&a.left, &a.right)?, direction(&a.right, &a.left)?];
    let seed = a.seed.unwrap_or_else(rand::random::<u64>);
    let mut out = std::io::stdout();
    writeln!(out, "{READY}")
        .and_then(|_| out.flush())
        .map_err(|e| format!("cannot report readiness: {e}"))?;
    let eof = std::sync::Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        eof.store(true, Ordering::SeqCst);
    });
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for (i, d) in dirs.iter().enumerate() {
            let (stop, failure, spec) = (&*stop, &failure, &spec);
            let dir_seed = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            s.spawn(move || {
                if let Err(e) = d.receive(spec, dir_seed, stop) {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    stop.store(true, Ordering::SeqCst);
                }
            });
            s.spawn(move || d.transmit(stop));
        }
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            collect_kernel_drops(&dirs);
            if let Some(p) = &a.stats_file {
                write_stats(p, &stats_json(&dirs, false));
            }
        }
    });
    collect_kernel_drops(&dirs);
    let text = stats_json(&dirs, true);
    if let Some(p) = &a.stats_file {
        write_stats(p, &text);
    }
    eprintln!("synscan-lab wire: {text}");
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(delay: u64, jitter: u64, loss: f64, dup: f64, reorder: f64) -> WireSpec {
        WireSpec::from_args(&WireArgs {
            wire: true,
            delay_ms: delay,
            jitter_ms: jitter,
            wire_loss: loss,
            duplicate: dup,
            reorder,
            ..WireArgs::default()
        })
        .unwrap()
    }

    #[test]
    fn options_validated() {
        let ok = |a: WireArgs| WireSpec::from_args(&a).is_ok();
        let base = WireArgs {
            delay_ms: 50,
            jitter_ms: 20,
            ..WireArgs::default()
        };
        assert!(ok(base.clone()));
        assert!(!ok(WireArgs {
            jitter_ms: 51,
            ..base.clone()
        }));
        assert!(!ok(WireArgs {
            delay_ms: MAX_DELAY_MS + 1,
            jitter_ms: 0,
            ..base.clone()
        }));
        assert!(!ok(WireArgs {
            wire_loss: 100.5,
            ..base.clone()
        }));
        assert!(!ok(WireArgs {
            duplicate: -1.0,
            ..base.clone()
        }));
        assert!(!ok(WireArgs {
            reorder: f64::NAN,
            ..base.clone()
        }));
        assert_eq!(
            spec(50, 20, 10.0, 0.0, 0.0),
            WireSpec {
                delay: Duration::from_millis(50),
                jitter: Duration::from_millis(20),
                loss: 10.0,
                duplicate: 0.0,
                reorder: 0.0,
                pps: None,
                queue: crate::cli::DEFAULT_WIRE_QUEUE,
            }
        );
    }

    #[test]
    fn plain_delay_is_exact() {
        let s = spec(200, 0, 0.0, 0.0, 0.0);
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert_eq!(
                fate(&s, false, &mut rng),
                Fate::Pass {
                    delay: Duration::from_millis(200),
                    copy: None,
                    reordered: false
                }
            );
        }
    }

    #[test]
    fn jitter_is_uniform_within_bounds() {
        let s = spec(50, 20, 0.0, 0.0, 0.0);
        let mut rng = SmallRng::seed_from_u64(2);
        let n = 100_000;
        let mut buckets = [0u32; 4];
        let mut sum = 0u128;
        for _ in 0..n {
            let Fate::Pass { delay, .. } = fate(&s, false, &mut rng) else {
                panic!("lost without loss");
            };
            let us = delay.as_micros();
            assert!(
                (30_000..=70_000).contains(&us),
                "{us} us out of 50 +- 20 ms"
            );
            sum += us;
            buckets[((us - 30_000) / 10_001) as usize] += 1;
        }
        // Mean 50 ms; each 10 ms quarter holds a quarter of the draws.
        let mean = sum as f64 / n as f64;
        assert!((mean - 50_000.0).abs() < 200.0, "mean {mean}");
        for b in buckets {
            assert!(
                (b as f64 - n as f64 / 4.0).abs() < n as f64 * 0.01,
                "{buckets:?}"
            );
        }
    }

    #[test]
    fn shares_match_the_percentages() {
        let s = spec(10, 0, 10.0, 5.0, 20.0);
        let mut rng = SmallRng::seed_from_u64(3);
        let n = 200_000;
        let (mut lost, mut dup, mut reord) = (0u32, 0u32, 0u32);
        for _ in 0..n {
            match fate(&s, false, &mut rng) {
                Fate::Lost => lost += 1,
                Fate::Pass {
                    delay,
                    copy,
                    reordered,
                } => {
                    if reordered {
                        reord += 1;
                        assert_eq!(delay, Duration::ZERO);
                    } else {
                        assert_eq!(delay, Duration::from_millis(10));
                    }
                    if let Some(c) = copy {
                        dup += 1;
                        assert_eq!(c, Duration::from_millis(10));
                    }
                }
            }
        }
        let share = |k: u32| k as f64 / n as f64 * 100.0;
        // Loss of all frames; duplicate and reorder of the survivors (90%).
        assert!((share(lost) - 10.0).abs() < 0.3, "loss {}", share(lost));
        assert!((share(dup) - 4.5).abs() < 0.3, "dup {}", share(dup));
        assert!(
            (share(reord) - 18.0).abs() < 0.4,
            "reorder {}",
            share(reord)
        );
    }

    #[test]
    fn arp_is_only_delayed() {
        let s = spec(30, 10, 100.0, 100.0, 100.0);
        let mut rng = SmallRng::seed_from_u64(4);
        for _ in 0..1000 {
            match fate(&s, true, &mut rng) {
                Fate::Pass {
                    delay,
                    copy: None,
                    reordered: false,
                } => assert!((20..=40).contains(&delay.as_millis())),
                other => panic!("ARP got {other:?}"),
            }
            assert_eq!(fate(&s, false, &mut rng), Fate::Lost);
        }
    }

    #[test]
    fn arp_recognised_by_ethertype() {
        let mut f = [0u8; 42];
        f[12] = 0x08;
        f[13] = 0x06;
        assert!(is_arp(&f));
        f[13] = 0x00;
        assert!(!is_arp(&f));
        assert!(!is_arp(&f[..13]));
    }

    #[test]
    fn neighbour_discovery_recognised() {
        let mut f = [0u8; 14 + 40 + 24];
        f[12] = 0x86;
        f[13] = 0xdd;
        f[14 + 6] = 58;
        for t in 133..=137 {
            f[54] = t;
            assert!(is_neighbour_discovery(&f), "type {t}");
            assert!(is_address_resolution(&f));
        }
        for t in [1, 128, 129, 132, 138] {
            f[54] = t;
            assert!(!is_neighbour_discovery(&f), "type {t}");
        }
        f[54] = 135;
        f[14 + 6] = 6; // TCP
        assert!(!is_neighbour_discovery(&f));
        f[14 + 6] = 58;
        f[13] = 0x00; // IPv4 EtherType
        assert!(!is_neighbour_discovery(&f));
        f[13] = 0xdd;
        assert!(!is_neighbour_discovery(&f[..54]));
        assert!(!is_address_resolution(&[0u8; 60]));
    }

    #[test]
    fn a_link_carries_its_capacity_and_drops_beyond_its_queue() {
        // 1000 pps (1 ms a frame) behind a queue of 4, offered 3000 pps for a second.
        let t0 = Instant::now();
        let mut link = Link::new(1000, 4);
        let us = Duration::from_micros;
        let mut left = Vec::new();
        let mut dropped = 0;
        for i in 0..3000u32 {
            match link.admit(t0 + us(333) * i) {
                Some(at) => left.push(at),
                None => dropped += 1,
            }
        }
        // Frames leave 1 ms apart from the first, in order: the 999 that left within the
        // offered second (the last offer is at 998.7 ms), plus the frame on the link and the
        // 4 queued when the offer ends.
        assert_eq!(left.len(), 999 + 1 + 4, "{dropped} dropped");
        assert_eq!(dropped, 3000 - left.len());
        for (k, at) in left.iter().enumerate() {
            assert_eq!(*at, t0 + Duration::from_millis(k as u64));
        }
        // Below capacity nothing waits and nothing is dropped.
        let mut idle = Link::new(1000, 0);
        for i in 0..100u32 {
            let at = t0 + Duration::from_secs(10) + us(1500) * i;
            assert_eq!(idle.admit(at), Some(at));
        }
        // A burst fills the queue: the frame on the link, `queue` waiting, then drops.
        let mut burst = Link::new(1000, 4);
        let got: Vec<bool> = (0..8).map(|_| burst.admit(t0).is_some()).collect();
        assert_eq!(got, [true, true, true, true, true, false, false, false]);
    }

    #[test]
    fn wire_pps_shapes_the_spec() {
        let a = WireArgs {
            wire_pps: 50_000,
            wire_queue: 32,
            ..WireArgs::default()
        };
        assert!(a.wanted());
        let s = WireSpec::from_args(&a).unwrap();
        assert_eq!((s.pps, s.queue), (Some(50_000), 32));
        assert!(!WireArgs::default().wanted());
        assert_eq!(WireSpec::from_args(&WireArgs::default()).unwrap().pps, None);
    }

    #[test]
    fn heap_releases_earliest_first_then_in_arrival_order() {
        let t = Instant::now();
        let mut h = BinaryHeap::new();
        for (ms, seq) in [(30u64, 0u64), (10, 1), (20, 2), (10, 3)] {
            h.push(Held {
                release: t + Duration::from_millis(ms),
                seq,
                buf: Vec::new(),
            });
        }
        let order: Vec<u64> = std::iter::from_fn(|| h.pop().map(|x| x.seq)).collect();
        assert_eq!(order, vec![1, 3, 2, 0]);
    }
}
