//! Unprivileged connect() scanning: many non-blocking connects watched with epoll.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::sys::epoll::{Epoll, EPOLLOUT};

/// How a connect attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// The handshake completed.
    Open,
    /// The target answered with RST.
    Refused,
    /// Unreachable: 0 network, 1 host (ICMP-like codes).
    Unreachable(u8),
    /// Any other failure (firewall EPERM, kernel timeout, ...).
    OtherError,
}

fn classify(errno: Option<i32>) -> ConnectOutcome {
    match errno {
        Some(libc::ECONNREFUSED) => ConnectOutcome::Refused,
        Some(libc::ENETUNREACH) => ConnectOutcome::Unreachable(0),
        Some(libc::EHOSTUNREACH) => ConnectOutcome::Unreachable(1),
        _ => ConnectOutcome::OtherError,
    }
}

struct Slot {
    sock: Socket,
    token: u64,
    gen: u32,
}

/// Runs many non-blocking connects at once and reports each outcome once.
pub struct ConnectScanner {
    epoll: Epoll,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_token: HashMap<u64, usize>,
    gen: u32,
    ready: Vec<(u64, ConnectOutcome)>,
    events: Vec<(u64, u32)>,
}

impl ConnectScanner {
    /// An empty scanner.
    pub fn new() -> io::Result<ConnectScanner> {
        Ok(ConnectScanner {
            epoll: Epoll::new(256)?,
            slots: Vec::new(),
            free: Vec::new(),
            by_token: HashMap::new(),
            gen: 0,
            ready: Vec::new(),
            events: Vec::with_capacity(256),
        })
    }

    /// Starts connecting to dst:port; the outcome comes from `poll` with `token`. Errors mean
    /// a local resource shortage (e.g. EMFILE): retry later with fewer in flight.
    pub fn start(&mut self, dst: Ipv4Addr, port: u16, token: u64) -> io::Result<()> {
        self.cancel(token);
        let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        // Close with RST: open ports are not left in FIN_WAIT/TIME_WAIT.
        sock.set_linger(Some(Duration::ZERO))?;
        match sock.connect(&SocketAddrV4::new(dst, port).into()) {
            Ok(()) => {
                self.ready.push((token, ConnectOutcome::Open));
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => {
                return match e.raw_os_error() {
                    Some(
                        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN,
                    ) => Err(e),
                    errno => {
                        self.ready.push((token, classify(errno)));
                        Ok(())
                    }
                };
            }
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
        if let Err(e) = self.epoll.add(sock.as_fd(), EPOLLOUT, data) {
            self.free.push(idx);
            return Err(e);
        }
        self.slots[idx] = Some(Slot {
            sock,
            token,
            gen: self.gen,
        });
        self.by_token.insert(token, idx);
        Ok(())
    }

    /// Waits up to `timeout` and appends finished (token, outcome) pairs to `out`.
    pub fn poll(
        &mut self,
        timeout: Duration,
        out: &mut Vec<(u64, ConnectOutcome)>,
    ) -> io::Result<()> {
        let timeout = if self.ready.is_empty() {
            timeout
        } else {
            out.append(&mut self.ready);
            Duration::ZERO
        };
        if self.by_token.is_empty() {
            return Ok(());
        }
        self.events.clear();
        self.epoll.wait(timeout, &mut self.events)?;
        for &(data, _) in &self.events {
            let idx = (data & 0xffff_ffff) as usize;
            let gen = (data >> 32) as u32;
            let live = matches!(self.slots.get(idx), Some(Some(s)) if s.gen == gen);
            if !live {
                continue;
            }
            let Some(slot) = self.slots[idx].take() else {
                continue;
            };
            self.free.push(idx);
            self.by_token.remove(&slot.token);
            let outcome = match slot.sock.take_error() {
                Ok(None) => ConnectOutcome::Open,
                Ok(Some(e)) => classify(e.raw_os_error()),
                Err(e) => classify(e.raw_os_error()),
            };
            out.push((slot.token, outcome));
            // Dropping the socket closes it (RST if open) and removes it from epoll.
        }
        Ok(())
    }

    /// Connects started and not yet reported.
    pub fn in_flight(&self) -> usize {
        self.by_token.len() + self.ready.len()
    }

    /// Abandons the connect for `token` (a timeout decided by the caller); no outcome follows.
    pub fn cancel(&mut self, token: u64) {
        if let Some(idx) = self.by_token.remove(&token) {
            if let Some(slot) = self.slots[idx].take() {
                let _ = self.epoll.delete(slot.sock.as_fd());
                self.free.push(idx);
            }
        }
        self.ready.retain(|&(t, _)| t != token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn open_refused_and_cancel_on_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = l.local_addr().unwrap().port();
        // A port that was just free: bind then drop.
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = ConnectScanner::new().unwrap();
        let lo = Ipv4Addr::LOCALHOST;
        s.start(lo, open, 1).unwrap();
        s.start(lo, closed, 2).unwrap();
        s.start(lo, open, 3).unwrap();
        s.cancel(3);
        assert_eq!(s.in_flight(), 2);
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while out.len() < 2 && Instant::now() < deadline {
            s.poll(Duration::from_millis(50), &mut out).unwrap();
        }
        out.sort_by_key(|o| o.0);
        assert_eq!(
            out,
            vec![(1, ConnectOutcome::Open), (2, ConnectOutcome::Refused)]
        );
        assert_eq!(s.in_flight(), 0);
        s.poll(Duration::from_millis(10), &mut out).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn errno_classification() {
        assert_eq!(classify(Some(libc::ECONNREFUSED)), ConnectOutcome::Refused);
        assert_eq!(
            classify(Some(libc::ENETUNREACH)),
            ConnectOutcome::Unreachable(0)
        );
        assert_eq!(
            classify(Some(libc::EHOSTUNREACH)),
            ConnectOutcome::Unreachable(1)
        );
        assert_eq!(classify(Some(libc::EPERM)), ConnectOutcome::OtherError);
        assert_eq!(classify(None), ConnectOutcome::OtherError);
    }
}
