//! `synscan-lab connect`: plain kernel connects from inside a lab, to check its truth with
//! the kernel's own TCP (IPv4 or IPv6) instead of the scanner under test.

use crate::cli::{ConnectArgs, Unreach6Kind};
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// Connects running at once (filtered pairs each hold one thread for the whole timeout).
const PARALLEL: usize = 256;

/// What a connect to `addr` ended in: "open", "refused" (RST or ICMP port unreachable),
/// "timeout" (no answer), "net-unreachable", "host-unreachable", "access-denied" (the
/// errno the kernel maps each ICMP(v6) unreachable code to) or "error-ERRNO".
pub fn outcome(result: &std::io::Result<()>) -> String {
    let e = match result {
        Ok(()) => return "open".into(),
        Err(e) => e,
    };
    if e.kind() == std::io::ErrorKind::TimedOut {
        return "timeout".into();
    }
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "refused".into(),
        Some(libc::ETIMEDOUT) => "timeout".into(),
        Some(libc::ENETUNREACH) => "net-unreachable".into(),
        Some(libc::EHOSTUNREACH) => "host-unreachable".into(),
        Some(libc::EACCES) => "access-denied".into(),
        Some(n) => format!("error-{n}"),
        None => format!("error-{}", e.kind()),
    }
}

impl Unreach6Kind {
    /// The `connect` outcome Linux gives for this ICMPv6 code (net/ipv6/icmp.c tab_unreach).
    pub fn connect_outcome(self) -> &'static str {
        match self {
            Unreach6Kind::NoRoute => "net-unreachable",
            Unreach6Kind::AdminProhibited | Unreach6Kind::RejectRoute => "access-denied",
            Unreach6Kind::AddrUnreachable => "host-unreachable",
            Unreach6Kind::PortUnreachable => "refused",
        }
    }
}

/// Parse an "ADDRESS PORT" line.
pub fn parse_line(line: &str) -> Result<SocketAddr, String> {
    let mut it = line.split_whitespace();
    let (Some(a), Some(p), None) = (it.next(), it.next(), it.next()) else {
        return Err(format!("bad line {line:?}: write ADDRESS PORT"));
    };
    let ip: IpAddr = a
        .parse()
        .map_err(|_| format!("bad address {a:?} in {line:?}"))?;
    let port: u16 = p
        .parse()
        .map_err(|_| format!("bad port {p:?} in {line:?}"))?;
    Ok(SocketAddr::new(ip, port))
}

/// Run `connect`: every stdin line, answers in input order; returns the exit code.
pub fn run(a: &ConnectArgs) -> i32 {
    let mut targets = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("synscan-lab connect: cannot read stdin: {e}");
                return 4;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
            Ok(t) => targets.push(t),
            Err(e) => {
                eprintln!("synscan-lab connect: {e}");
                return 2;
            }
        }
    }
    let timeout = Duration::from_millis(a.timeout_ms.max(1));
    let mut out = std::io::stdout().lock();
    for chunk in targets.chunks(PARALLEL) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|&t| {
                std::thread::spawn(move || {
                    outcome(&TcpStream::connect_timeout(&t, timeout).map(drop))
                })
            })
            .collect();
        for (t, h) in chunk.iter().zip(handles) {
            let o = h.join().unwrap_or_else(|_| "error-panic".into());
            if writeln!(out, "{} {} {o}", t.ip(), t.port()).is_err() {
                return 4;
            }
        }
    }
    if out.flush().is_err() {
        return 4;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn outcomes_named_from_errno() {
        assert_eq!(outcome(&Ok(())), "open");
        let os = |n| Err(Error::from_raw_os_error(n));
        assert_eq!(outcome(&os(libc::ECONNREFUSED)), "refused");
        assert_eq!(outcome(&os(libc::ENETUNREACH)), "net-unreachable");
        assert_eq!(outcome(&os(libc::EHOSTUNREACH)), "host-unreachable");
        assert_eq!(outcome(&os(libc::EACCES)), "access-denied");
        assert_eq!(outcome(&os(libc::ETIMEDOUT)), "timeout");
        assert_eq!(outcome(&Err(Error::from(ErrorKind::TimedOut))), "timeout");
        assert_eq!(outcome(&os(libc::EPERM)), format!("error-{}", libc::EPERM));
    }

    #[test]
    fn lines_parsed_strictly() {
        assert_eq!(
            parse_line("2001:2:0:19::5 22").unwrap(),
            "[2001:2:0:19::5]:22".parse().unwrap()
        );
        assert_eq!(
            parse_line(" 198.19.0.1  80 ").unwrap(),
            "198.19.0.1:80".parse().unwrap()
        );
        assert!(parse_line("2001:2:0:19::5").is_err());
        assert!(parse_line("2001:2:0:19::5 22 x").is_err());
        assert!(parse_line("host 22").is_err());
        assert!(parse_line("::1 65536").is_err());
    }
}
