//! Unprivileged connect() scanning: many non-blocking connects watched with epoll.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
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
    /// Unreachable, as ICMP codes: 0 network, 1 host, 13 administratively prohibited.
    Unreachable(u8),
    /// Any other failure (firewall EPERM, kernel timeout, ...).
    OtherError,
}

/// The outcome a connect's errno means. Over IPv6, Linux reports ICMPv6 administratively
/// prohibited, source-policy failure and reject-route as EACCES (nmap's admin-prohibited).
fn classify(errno: Option<i32>, ipv6: bool) -> ConnectOutcome {
    match errno {
        Some(libc::ECONNREFUSED) => ConnectOutcome::Refused,
        Some(libc::ENETUNREACH) => ConnectOutcome::Unreachable(0),
        Some(libc::EHOSTUNREACH) => ConnectOutcome::Unreachable(1),
        Some(libc::EACCES) if ipv6 => ConnectOutcome::Unreachable(13),
        _ => ConnectOutcome::OtherError,
    }
}

struct Slot {
    sock: Socket,
    token: u64,
    gen: u32,
    ipv6: bool,
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
    pub fn start(&mut self, dst: IpAddr, port: u16, token: u64) -> io::Result<()> {
        self.cancel(token);
        let (domain, to, ipv6) = match dst {
            IpAddr::V4(a) => (
                Domain::IPV4,
                SocketAddr::V4(SocketAddrV4::new(a, port)),
                false,
            ),
            // No scope id: targets carry no zone (config refuses fe80::1%eth0 forms).
            IpAddr::V6(a) => (
                Domain::IPV6,
                SocketAddr::V6(SocketAddrV6::new(a, port, 0, 0)),
                true,
            ),
        };
        let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        // Close with RST: open ports are not left in FIN_WAIT/TIME_WAIT.
        sock.set_linger(Some(Duration::ZERO))?;
        match sock.connect(&to.into()) {
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
                        self.ready.push((token, classify(errno, ipv6)));
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
            ipv6,
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
                Ok(Some(e)) => classify(e.raw_os_error(), slot.ipv6),
                Err(e) => classify(e.raw_os_error(), slot.ipv6),
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
        for lo in ["127.0.0.1", "::1"] {
            open_refused_and_cancel_on(lo.parse().unwrap());
        }
    }

    fn open_refused_and_cancel_on(lo: IpAddr) {
        let l = TcpListener::bind((lo, 0)).unwrap();
        let open = l.local_addr().unwrap().port();
        // A port that was just free: bind then drop.
        let closed = TcpListener::bind((lo, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = ConnectScanner::new().unwrap();
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
        assert_eq!(
            classify(Some(libc::ECONNREFUSED), false),
            ConnectOutcome::Refused
        );
        assert_eq!(
            classify(Some(libc::ENETUNREACH), false),
            ConnectOutcome::Unreachable(0)
        );
        assert_eq!(
            classify(Some(libc::EHOSTUNREACH), true),
            ConnectOutcome::Unreachable(1)
        );
        assert_eq!(
            classify(Some(libc::EPERM), true),
            ConnectOutcome::OtherError
        );
        assert_eq!(classify(None, false), ConnectOutcome::OtherError);
        // EACCES is ICMPv6 admin-prohibited over IPv6; over IPv4 it stays undecided.
        assert_eq!(
            classify(Some(libc::EACCES), true),
            ConnectOutcome::Unreachable(13)
        );
        assert_eq!(
            classify(Some(libc::EACCES), false),
            ConnectOutcome::OtherError
        );
    }
}
