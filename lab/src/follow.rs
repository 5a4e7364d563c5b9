//! The follow-up lab: listeners replaying the banner corpus, hostile servers, and a driver
//! that runs synscan's follow-up library against addresses (in a lab's scanner namespace),
//! printing one JSON result a line, as `nmap -sV` is run beside it.
//!
//! Addresses: corpus entry i listens on 198.19.1.(i+1) at its port; the hostile servers on
//! 198.19.2.x (see [`HOSTILE`]). Both run in a lab's target namespace, which answers for
//! 198.19.0.0/16 through its local route.

use std::io::{BufRead, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use synscan::follow::template::unescape;
use synscan::follow::{Engine, FollowConfig, FollowTarget, Intensity, ProbeDb};

/// `synscan-lab follow`: the follow-up library against ADDRESS:PORT targets.
#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// Targets as ADDRESS:PORT (IPv6 as [ADDRESS]:PORT).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// nmap's --version-intensity (0-9).
    #[arg(long, default_value_t = 7)]
    pub intensity: u8,
    /// Sockets open at once.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// The round-trip time to assume, in milliseconds.
    #[arg(long, default_value_t = 1)]
    pub rtt_ms: u64,
    /// Use synscan's own table even when nmap-service-probes is installed.
    #[arg(long)]
    pub builtin: bool,
}

/// `synscan-lab replay`: serve the banner corpus (until stdin EOF or a signal).
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The corpus file (lab/corpus/banners.txt).
    pub corpus: PathBuf,
}

/// `synscan-lab hostile`: serve the hostile servers (until stdin EOF or a signal).
#[derive(Debug, Clone, Args)]
pub struct HostileArgs {
    /// Also this many silent ports (accept, never send, never close): [`silent_addr`].
    #[arg(long, default_value_t = 0)]
    pub silent: usize,
    /// Also this many slow ports (an SMTP banner 4 s after the connection): [`slow_addr`].
    #[arg(long, default_value_t = 0)]
    pub slow: usize,
}

/// The port silent and slow listeners use (no port-table name, no probe's ports list).
pub const QUIET_PORT: u16 = 7777;

/// The address of silent listener `i` (198.19.4.x, 198.19.5.x, ...).
pub fn silent_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 4 + (i / 250) as u8, (i % 250 + 1) as u8)
}

/// The address of slow listener `i` (198.19.8.x, 198.19.9.x, ...).
pub fn slow_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 8 + (i / 250) as u8, (i % 250 + 1) as u8)
}

/// What a slow listener sends after [`SLOW_DELAY`].
pub const SLOW_BANNER: &[u8] = b"220 slow.lab.example ESMTP Postfix (Debian/GNU)\r\n";

/// How long a slow listener waits before its banner.
pub const SLOW_DELAY: Duration = Duration::from_secs(4);

/// One corpus entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its port.
    pub port: u16,
    /// True: sent on connect; false: sent once the client has sent something.
    pub on_connect: bool,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Reads a corpus file ("NAME PORT banner|reply BYTES" lines).
pub fn read_corpus(text: &str) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(4, ' ');
        let (Some(name), Some(port), Some(trigger), Some(bytes)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "corpus line {}: expected NAME PORT TRIGGER BYTES",
                i + 1
            ));
        };
        let port = port
            .parse()
            .map_err(|_| format!("corpus line {}: bad port {port}", i + 1))?;
        let on_connect = match trigger {
            "banner" => true,
            "reply" => false,
            t => return Err(format!("corpus line {}: bad trigger {t}", i + 1)),
        };
        let bytes = unescape(bytes.as_bytes())
            .ok_or_else(|| format!("corpus line {}: bad escape", i + 1))?;
        out.push(Entry {
            name: name.to_string(),
            port,
            on_connect,
            bytes,
        });
    }
    Ok(out)
}

/// The address corpus entry `i` listens on.
pub fn replay_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 1 + (i / 250) as u8, (i % 250 + 1) as u8)
}

/// The hostile servers: (name, address, port).
pub const HOSTILE: &[(&str, Ipv4Addr, u16)] = &[
    ("flood-100MB", Ipv4Addr::new(198, 19, 3, 1), 21),
    ("trickle-1Bps", Ipv4Addr::new(198, 19, 3, 2), 21),
    ("never-closes", Ipv4Addr::new(198, 19, 3, 3), 21),
    ("invalid-tls", Ipv4Addr::new(198, 19, 3, 4), 443),
    ("escapes-nul-invalid-utf8", Ipv4Addr::new(198, 19, 3, 5), 21),
    ("http-escapes", Ipv4Addr::new(198, 19, 3, 6), 80),
];

/// The bytes the escape-sequence server sends as its banner.
pub const ESCAPE_BANNER: &[u8] = b"220 \x1b[2J\x1b]0;owned\x07\0 \xff\xfe\xc3( ftp\r\n";

fn spawn_listener(
    addr: SocketAddr,
    serve: impl Fn(TcpStream) + Send + Sync + 'static,
) -> Result<(), String> {
    let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let serve = Arc::new(serve);
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            let serve = Arc::clone(&serve);
            thread::spawn(move || serve(s));
        }
    });
    Ok(())
}

/// Waits until the client sends something (or `limit` passes); false if it went away.
fn wait_for_request(s: &mut TcpStream, limit: Duration) -> bool {
    let _ = s.set_read_timeout(Some(limit));
    let mut buf = [0u8; 4096];
    matches!(s.read(&mut buf), Ok(n) if n > 0)
}

/// Holds a connection until the client closes it (or `limit` passes).
fn hold(s: &mut TcpStream, limit: Duration) {
    let end = Instant::now() + limit;
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// Prints "ready", then waits for stdin EOF or a stop signal.
pub fn serve_until_eof() -> i32 {
    println!("ready");
    let _ = std::io::stdout().flush();
    let stop = match crate::serve::stop_flag() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("synscan-lab: {e}");
            return 1;
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        while matches!(lock.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
        let _ = tx.send(());
    });
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            break;
        }
    }
    0
}

/// `synscan-lab replay`.
pub fn run_replay(a: &ReplayArgs) -> i32 {
    let text = match std::fs::read_to_string(&a.corpus) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("synscan-lab replay: {}: {e}", a.corpus.display());
            return 2;
        }
    };
    let entries = match read_corpus(&text) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("synscan-lab replay: {e}");
            return 2;
        }
    };
    for (i, e) in entries.into_iter().enumerate() {
        let addr = SocketAddr::new(replay_addr(i).into(), e.port);
        let bytes = Arc::new(e.bytes);
        let on_connect = e.on_connect;
        let r = spawn_listener(addr, move |mut s| {
            if on_connect {
                let _ = s.write_all(&bytes);
                hold(&mut s, Duration::from_secs(30));
            } else if wait_for_request(&mut s, Duration::from_secs(30)) {
                let _ = s.write_all(&bytes);
            }
        });
        if let Err(e) = r {
            eprintln!("synscan-lab replay: {e}");
            return 1;
        }
    }
    serve_until_eof()
}

/// `synscan-lab hostile`.
pub fn run_hostile(a: &HostileArgs) -> i32 {
    if a.silent > 1000 || a.slow > 1000 {
        eprintln!("synscan-lab hostile: --silent and --slow are at most 1000");
        return 2;
    }
    let quiet = (0..a.silent)
        .map(|i| (silent_addr(i), false))
        .chain((0..a.slow).map(|i| (slow_addr(i), true)));
    for (ip, slow) in quiet {
        let addr = SocketAddr::new(ip.into(), QUIET_PORT);
        let r = spawn_listener(addr, move |mut s| {
            if slow {
                thread::sleep(SLOW_DELAY);
                let _ = s.write_all(SLOW_BANNER);
            }
            hold(&mut s, Duration::from_secs(600));
        });
        if let Err(e) = r {
            eprintln!("synscan-lab hostile: {e}");
            return 1;
        }
    }
    for &(name, ip, port) in HOSTILE {
        let addr = SocketAddr::new(ip.into(), port);
        let r = match name {
            "flood-100MB" => spawn_listener(addr, |mut s| {
                let chunk = vec![b'A'; 1 << 20];
                for _ in 0..100 {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            }),
            "trickle-1Bps" => spawn_listener(addr, |mut s| {
                for b in b"220 this banner takes a minute to arrive\r\n" {
                    if s.write_all(&[*b]).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_secs(1));
                }
            }),
            "never-closes" => spawn_listener(addr, |mut s| hold(&mut s, Duration::from_secs(600))),
            "invalid-tls" => spawn_listener(addr, |mut s| {
                if wait_for_request(&mut s, Duration::from_secs(30)) {
                    // A handshake record whose length lies, then garbage.
                    let _ =
                        s.write_all(b"\x16\x03\x01\xff\xff\x02\x00\x00\x46\x03\x01garbage\x00\xff");
                    hold(&mut s, Duration::from_secs(30));
                }
            }),
            "escapes-nul-invalid-utf8" => spawn_listener(addr, |mut s| {
                let _ = s.write_all(ESCAPE_BANNER);
                hold(&mut s, Duration::from_secs(30));
            }),
            "http-escapes" => spawn_listener(addr, |mut s| {
                if wait_for_request(&mut s, Duration::from_secs(30)) {
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nServer: evil\x1b[31m\0\xff\r\nContent-Length: 40\r\n\r\n<title>\x1b]0;x\x07\xc3(\0</title>");
                }
            }),
            _ => Ok(()),
        };
        if let Err(e) = r {
            eprintln!("synscan-lab hostile: {e}");
            return 1;
        }
    }
    serve_until_eof()
}

/// `synscan-lab follow`: prints each result as one JSON line, then a summary on stderr.
pub fn run_follow(a: &FollowArgs) -> i32 {
    let mut targets = Vec::new();
    for t in &a.targets {
        match t.parse::<SocketAddr>() {
            Ok(sa) => targets.push(FollowTarget {
                ip: sa.ip(),
                port: sa.port(),
                host: None,
                rtt: None,
            }),
            Err(_) => {
                eprintln!("synscan-lab follow: bad target {t} (want ADDRESS:PORT)");
                return 2;
            }
        }
    }
    let Some(intensity) = Intensity::new(a.intensity) else {
        eprintln!("synscan-lab follow: --intensity must be 0-9");
        return 2;
    };
    let db = if a.builtin {
        synscan::follow::builtin::table()
    } else {
        ProbeDb::nmap_or_builtin()
    };
    if !db.failures().is_empty() {
        eprintln!(
            "synscan-lab follow: {} lines of {} did not compile",
            db.failures().len(),
            db.source()
        );
    }
    let cfg = FollowConfig {
        intensity,
        max_connections: a.max_connections,
        rtt: Duration::from_millis(a.rtt_ms),
        ..FollowConfig::default()
    };
    let started = Instant::now();
    let mut engine = match Engine::new(Arc::new(db), cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("synscan-lab follow: {e}");
            return 4;
        }
    };
    for t in targets {
        engine.submit(t);
    }
    let mut out = Vec::new();
    let stdout = std::io::stdout();
    while engine.pending() > 0 {
        if let Err(e) = engine.poll(Duration::from_millis(200), &mut out) {
            eprintln!("synscan-lab follow: {e}");
            return 4;
        }
        let mut lock = stdout.lock();
        for r in out.drain(..) {
            if let Ok(j) = serde_json::to_string(&r) {
                let _ = writeln!(lock, "{j}");
            }
        }
        let _ = lock.flush();
    }
    eprintln!(
        "synscan-lab follow: {:.3} s, peak {} connections",
        started.elapsed().as_secs_f64(),
        engine.peak_connections()
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_reads_and_is_big_enough() {
        let text = include_str!("../corpus/banners.txt");
        let entries = read_corpus(text).unwrap();
        assert!(entries.len() >= 60, "{}", entries.len());
        let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), entries.len(), "names are unique");
        assert!(entries.iter().all(|e| !e.bytes.is_empty()));
        assert_eq!(replay_addr(0), Ipv4Addr::new(198, 19, 1, 1));
        assert_eq!(replay_addr(250), Ipv4Addr::new(198, 19, 2, 1));
    }

    #[test]
    fn corpus_errors_name_the_line() {
        assert!(read_corpus("a 1 banner x\nb x banner y\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(read_corpus("a 1 sometimes x\n")
            .unwrap_err()
            .contains("trigger"));
        assert!(read_corpus("a 1 banner \\q\n")
            .unwrap_err()
            .contains("escape"));
    }
}
