//! Unprivileged UDP probing (`--connect -sU`): one connected UDP socket per probe in flight,
//! watched with epoll, the kernel's ICMP errors read from each socket's error queue
//! (IP_RECVERR, IPV6_RECVERR). That gives nmap's UDP states without CAP_NET_RAW: a reply is
//! open, a port unreachable from the target is closed, another unreachable (or one a hop
//! sent) is filtered, and silence until the wait is the caller's open|filtered.
//!
//! The kernel matches replies and errors to the socket by its 4-tuple, so no cookie is
//! needed in the source port; the reply's bytes are handed back for the protocol cookie
//! check (the payload's own request id).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::sys::epoll::{Epoll, EPOLLIN};
use crate::sys::recverr::{self, ErrorOrigin, QueuedError};

/// The most bytes of a reply kept (a reply's first datagram, up to a jumbo Ethernet MTU).
pub const REPLY_MAX: usize = 9000;

/// How a UDP probe ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpOutcome {
    /// The target answered with a datagram (its first `REPLY_MAX` bytes).
    Open(Vec<u8>),
    /// ICMP port unreachable (ICMPv6 type 1 code 4) sent by the target itself.
    Closed,
    /// Another ICMP error, or a port unreachable sent by a hop: its type, code and sender.
    Filtered {
        /// ICMP (IPv4) or ICMPv6 type.
        icmp_type: u8,
        /// ICMP or ICMPv6 code.
        icmp_code: u8,
        /// Who sent it (a router on the path, or the target), when the kernel says.
        from: Option<IpAddr>,
    },
    /// Nothing came back within the wait.
    Silence,
    /// The local stack refused the probe (no route, a local firewall, a message too long):
    /// the errno.
    LocalError(i32),
}

/// What a queued error means for a probe sent to `dst`; `None` for entries that are no
/// answer at all (timestamping and the like).
fn classify(e: &QueuedError, dst: IpAddr) -> Option<UdpOutcome> {
    let port_unreachable = match e.origin {
        ErrorOrigin::Icmp => (e.icmp_type, e.icmp_code) == (3, 3),
        ErrorOrigin::Icmp6 => (e.icmp_type, e.icmp_code) == (1, 4),
        ErrorOrigin::Local => return Some(UdpOutcome::LocalError(e.errno)),
        ErrorOrigin::Other(_) => return None,
    };
    if port_unreachable && e.offender == Some(dst) {
        Some(UdpOutcome::Closed)
    } else {
        Some(UdpOutcome::Filtered {
            icmp_type: e.icmp_type,
            icmp_code: e.icmp_code,
            from: e.offender,
        })
    }
}

/// The errnos that mean the local machine is short of something: the caller retries later.
fn is_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN)
    )
}

struct Slot {
    sock: UdpSocket,
    token: u64,
    gen: u32,
    dst: IpAddr,
}

/// Runs up to `capacity` UDP probes at once and reports each outcome once, silence included.
pub struct UdpConnectScanner {
    epoll: Epoll,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_token: HashMap<u64, usize>,
    /// (deadline, slot, generation), oldest first: the wait is the same for every probe.
    deadlines: VecDeque<(Instant, usize, u32)>,
    gen: u32,
    capacity: usize,
    wait: Duration,
    ready: Vec<(u64, UdpOutcome)>,
    events: Vec<(u64, u32)>,
    buf: Vec<u8>,
}

impl UdpConnectScanner {
    /// A scanner holding at most `capacity` probes in flight, each given up as silent after
    /// `wait`.
    pub fn new(capacity: usize, wait: Duration) -> io::Result<UdpConnectScanner> {
        let capacity = capacity.max(1);
        Ok(UdpConnectScanner {
            epoll: Epoll::new(256)?,
            slots: Vec::new(),
            free: Vec::new(),
            by_token: HashMap::new(),
            deadlines: VecDeque::new(),
            gen: 0,
            capacity,
            wait,
            ready: Vec::new(),
            events: Vec::with_capacity(256),
            buf: vec![0; REPLY_MAX],
        })
    }

    /// Probes still to report (sent and waiting, or decided and not yet polled).
    pub fn in_flight(&self) -> usize {
        self.by_token.len() + self.ready.len()
    }

    /// True when `start` would refuse: `capacity` probes are in flight.
    pub fn is_full(&self) -> bool {
        self.in_flight() >= self.capacity
    }

    /// Sends `payload` to dst:port from a fresh connected socket; the outcome comes from
    /// `poll` with `token` (a probe already in flight under `token` is abandoned first).
    /// Errors: `WouldBlock` when full (poll first), or a local shortage such as EMFILE
    /// (retry later with fewer in flight). Refusals that concern only this probe (no route,
    /// a local firewall) are outcomes, not errors.
    pub fn start(&mut self, dst: IpAddr, port: u16, payload: &[u8], token: u64) -> io::Result<()> {
        self.cancel(token);
        if self.is_full() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "too many UDP probes in flight",
            ));
        }
        // No scope id: targets carry no zone (config refuses fe80::1%eth0 forms).
        let to = SocketAddr::new(dst, port);
        let domain = Domain::for_address(to);
        let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        sock.set_nonblocking(true)?;
        recverr::enable(sock.as_fd(), dst.is_ipv6())?;
        if let Err(e) = sock.connect(&to.into()).and_then(|()| sock.send(payload)) {
            if is_shortage(&e) {
                return Err(e);
            }
            let errno = e.raw_os_error().unwrap_or(0);
            self.ready.push((token, UdpOutcome::LocalError(errno)));
            return Ok(());
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.gen = self.gen.wrapping_add(1);
        let data = (u64::from(self.gen) << 32) | idx as u64;
        if let Err(e) = self.epoll.add(sock.as_fd(), EPOLLIN, data) {
            self.free.push(idx);
            return Err(e);
        }
        self.slots[idx] = Some(Slot {
            sock: sock.into(),
            token,
            gen: self.gen,
            dst,
        });
        self.by_token.insert(token, idx);
        self.deadlines
            .push_back((Instant::now() + self.wait, idx, self.gen));
        Ok(())
    }

    /// Waits up to `timeout` (less when a probe's wait ends sooner) and appends decided
    /// (token, outcome) pairs to `out`, silences included.
    pub fn poll(&mut self, timeout: Duration, out: &mut Vec<(u64, UdpOutcome)>) -> io::Result<()> {
        let mut timeout = timeout;
        if !self.ready.is_empty() {
            out.append(&mut self.ready);
            timeout = Duration::ZERO;
        }
        self.drop_stale_deadlines();
        let Some(&(first, _, _)) = self.deadlines.front() else {
            return Ok(());
        };
        timeout = timeout.min(first.saturating_duration_since(Instant::now()));
        self.events.clear();
        self.epoll.wait(timeout, &mut self.events)?;
        for i in 0..self.events.len() {
            let data = self.events[i].0;
            let idx = (data & 0xffff_ffff) as usize;
            let gen = (data >> 32) as u32;
            if !self.is_live(idx, gen) {
                continue;
            }
            if let Some(outcome) = self.read_outcome(idx) {
                self.finish(idx, outcome, out);
            }
        }
        let now = Instant::now();
        while let Some(&(deadline, idx, gen)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if self.is_live(idx, gen) {
                self.finish(idx, UdpOutcome::Silence, out);
            }
        }
        Ok(())
    }

    /// Abandons the probe for `token`; no outcome follows.
    pub fn cancel(&mut self, token: u64) {
        if let Some(idx) = self.by_token.remove(&token) {
            if let Some(slot) = self.slots[idx].take() {
                let _ = self.epoll.delete(slot.sock.as_fd());
                self.free.push(idx);
            }
        }
        self.ready.retain(|&(t, _)| t != token);
    }

    fn is_live(&self, idx: usize, gen: u32) -> bool {
        matches!(self.slots.get(idx), Some(Some(s)) if s.gen == gen)
    }

    /// Forgets deadlines of probes already decided or cancelled, so the front is live.
    fn drop_stale_deadlines(&mut self) {
        while let Some(&(_, idx, gen)) = self.deadlines.front() {
            if self.is_live(idx, gen) {
                break;
            }
            self.deadlines.pop_front();
        }
    }

    /// Reads what woke a socket: a reply wins over a queued error (a service that answered
    /// is open whatever else came back); `None` when there was nothing to decide on.
    fn read_outcome(&mut self, idx: usize) -> Option<UdpOutcome> {
        let slot = self.slots.get(idx)?.as_ref()?;
        // Draining the queue first also clears the socket's pending errno, which recv
        // would report before any datagram.
        let mut first = None;
        for _ in 0..8 {
            match recverr::take(slot.sock.as_fd()) {
                Ok(Some(e)) => {
                    if first.is_none() {
                        first = classify(&e, slot.dst);
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        match slot.sock.recv(&mut self.buf) {
            Ok(n) => return Some(UdpOutcome::Open(self.buf[..n].to_vec())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if first.is_none() => {
                return Some(UdpOutcome::LocalError(e.raw_os_error().unwrap_or(0)))
            }
            Err(_) => {}
        }
        first
    }

    fn finish(&mut self, idx: usize, outcome: UdpOutcome, out: &mut Vec<(u64, UdpOutcome)>) {
        if let Some(slot) = self.slots[idx].take() {
            self.free.push(idx);
            self.by_token.remove(&slot.token);
            out.push((slot.token, outcome));
            // Dropping the socket closes it, which also removes it from epoll.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::recverr::QueuedError;
    use std::thread;

    fn queued(origin: ErrorOrigin, ty: u8, code: u8, from: &str) -> QueuedError {
        QueuedError {
            errno: libc::ECONNREFUSED,
            origin,
            icmp_type: ty,
            icmp_code: code,
            offender: Some(from.parse().unwrap()),
        }
    }

    #[test]
    fn classification() {
        let t4: IpAddr = "198.19.0.10".parse().unwrap();
        let t6: IpAddr = "2001:2:0:19::10".parse().unwrap();
        let f = |ty, code, from: &str| {
            Some(UdpOutcome::Filtered {
                icmp_type: ty,
                icmp_code: code,
                from: Some(from.parse().unwrap()),
            })
        };
        let icmp = ErrorOrigin::Icmp;
        let icmp6 = ErrorOrigin::Icmp6;
        assert_eq!(
            classify(&queued(icmp, 3, 3, "198.19.0.10"), t4),
            Some(UdpOutcome::Closed)
        );
        // A port unreachable from a hop is filtered, as nmap has it.
        assert_eq!(
            classify(&queued(icmp, 3, 3, "198.18.0.2"), t4),
            f(3, 3, "198.18.0.2")
        );
        assert_eq!(
            classify(&queued(icmp, 3, 13, "198.19.0.10"), t4),
            f(3, 13, "198.19.0.10")
        );
        assert_eq!(
            classify(&queued(icmp, 11, 0, "198.18.0.2"), t4),
            f(11, 0, "198.18.0.2")
        );
        assert_eq!(
            classify(&queued(icmp6, 1, 4, "2001:2:0:19::10"), t6),
            Some(UdpOutcome::Closed)
        );
        assert_eq!(
            classify(&queued(icmp6, 1, 4, "2001:2:0:18::2"), t6),
            f(1, 4, "2001:2:0:18::2")
        );
        assert_eq!(
            classify(&queued(icmp6, 1, 1, "2001:2:0:19::10"), t6),
            f(1, 1, "2001:2:0:19::10")
        );
        // ICMPv4 type 3 code 3 means nothing on an ICMPv6 origin, and the reverse.
        assert_eq!(
            classify(&queued(icmp6, 3, 3, "2001:2:0:19::10"), t6),
            f(3, 3, "2001:2:0:19::10")
        );
        let mut local = queued(ErrorOrigin::Local, 0, 0, "198.19.0.10");
        local.errno = libc::EMSGSIZE;
        assert_eq!(
            classify(&local, t4),
            Some(UdpOutcome::LocalError(libc::EMSGSIZE))
        );
        assert_eq!(
            classify(&queued(ErrorOrigin::Other(4), 0, 0, "198.19.0.10"), t4),
            None
        );
        let mut unknown = queued(icmp, 3, 3, "198.19.0.10");
        unknown.offender = None;
        assert_eq!(
            classify(&unknown, t4),
            Some(UdpOutcome::Filtered {
                icmp_type: 3,
                icmp_code: 3,
                from: None
            })
        );
    }

    /// Polls until `n` outcomes arrived (or 5 s passed), sorted by token.
    fn collect(s: &mut UdpConnectScanner, n: usize) -> Vec<(u64, UdpOutcome)> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while out.len() < n && Instant::now() < deadline {
            s.poll(Duration::from_millis(50), &mut out).unwrap();
        }
        out.sort_by_key(|o| o.0);
        out
    }

    /// A socket on `lo` that answers every datagram with "re:" and its bytes.
    fn echo(lo: IpAddr) -> u16 {
        let sock = UdpSocket::bind((lo, 0)).unwrap();
        let port = sock.local_addr().unwrap().port();
        thread::spawn(move || {
            let mut b = [0u8; 512];
            while let Ok((n, from)) = sock.recv_from(&mut b) {
                let mut r = b"re:".to_vec();
                r.extend_from_slice(&b[..n]);
                let _ = sock.send_to(&r, from);
            }
        });
        port
    }

    fn free_port(lo: IpAddr) -> u16 {
        UdpSocket::bind((lo, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn open_closed_silent_on_loopback() {
        for lo in ["127.0.0.1", "::1"] {
            open_closed_silent_on(lo.parse().unwrap());
        }
    }

    fn open_closed_silent_on(lo: IpAddr) {
        let open = echo(lo);
        let closed = free_port(lo);
        // Bound and never read: the datagram is queued, nothing answers.
        let mute = UdpSocket::bind((lo, 0)).unwrap();
        let silent = mute.local_addr().unwrap().port();
        let mut s = UdpConnectScanner::new(16, Duration::from_millis(300)).unwrap();
        let started = Instant::now();
        s.start(lo, open, b"ping", 1).unwrap();
        s.start(lo, closed, b"", 2).unwrap();
        s.start(lo, silent, b"x", 3).unwrap();
        s.start(lo, open, b"gone", 4).unwrap();
        s.cancel(4);
        assert_eq!(s.in_flight(), 3);
        let out = collect(&mut s, 3);
        assert_eq!(
            out,
            vec![
                (1, UdpOutcome::Open(b"re:ping".to_vec())),
                (2, UdpOutcome::Closed),
                (3, UdpOutcome::Silence),
            ],
            "{lo}"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(s.in_flight(), 0);
        // Nothing more: the cancelled probe never reports.
        let mut more = Vec::new();
        s.poll(Duration::from_millis(50), &mut more).unwrap();
        assert!(more.is_empty());
    }

    /// At most `capacity` in flight; a decided probe frees its place; many rounds reuse the
    /// slots (the slot table never outgrows the capacity).
    #[test]
    fn bounded_in_flight() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let open = echo(lo);
        let mut s = UdpConnectScanner::new(4, Duration::from_secs(2)).unwrap();
        for t in 0..4 {
            s.start(lo, open, &[t as u8], t).unwrap();
        }
        assert!(s.is_full());
        let e = s.start(lo, open, b"", 99).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let mut done = collect(&mut s, 4);
        for t in 4..200u64 {
            while s.is_full() {
                s.poll(Duration::from_millis(50), &mut done).unwrap();
            }
            s.start(lo, open, &t.to_be_bytes(), t).unwrap();
        }
        while s.in_flight() > 0 {
            s.poll(Duration::from_millis(50), &mut done).unwrap();
        }
        done.sort_by_key(|o| o.0);
        assert_eq!(done.len(), 200);
        for (t, outcome) in &done {
            let mut want = b"re:".to_vec();
            if *t < 4 {
                want.push(*t as u8);
            } else {
                want.extend_from_slice(&t.to_be_bytes());
            }
            assert_eq!(outcome, &UdpOutcome::Open(want), "token {t}");
        }
        assert!(s.slots.len() <= 4);
    }

    /// Restarting a token abandons its first probe: one outcome, the second's.
    #[test]
    fn restart_replaces_the_probe() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let open = echo(lo);
        let mute = UdpSocket::bind((lo, 0)).unwrap();
        let silent = mute.local_addr().unwrap().port();
        let mut s = UdpConnectScanner::new(4, Duration::from_millis(200)).unwrap();
        s.start(lo, silent, b"", 7).unwrap();
        s.start(lo, open, b"again", 7).unwrap();
        assert_eq!(s.in_flight(), 1);
        let out = collect(&mut s, 1);
        assert_eq!(out, vec![(7, UdpOutcome::Open(b"re:again".to_vec()))]);
        thread::sleep(Duration::from_millis(250));
        let mut more = Vec::new();
        s.poll(Duration::from_millis(10), &mut more).unwrap();
        assert!(more.is_empty(), "{more:?}");
    }
}
