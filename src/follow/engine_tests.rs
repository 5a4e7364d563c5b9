//! The engine against loopback listeners that behave like services and like hostile peers.

use super::*;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

const DB: &[u8] = br"Probe TCP NULL q||
totalwaitms 600
tcpwrappedms 300
match ssh m|^SSH-([\d.]+)-(\S+)\r?\n| p/$2/ i/protocol $1/
softmatch ftp m|^220 |
Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
totalwaitms 500
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: ([^\r\n]+)|s p/$1/
Probe TCP Help q|HELP\r\n|
rarity 2
totalwaitms 500
match ftp m|^220 [^\r\n]*\r\n214 (\w+)| p/$1/
Probe TCP Rare q|RARE\r\n|
rarity 9
totalwaitms 500
match rare m|^RARE|
";

fn db() -> Arc<ProbeDb> {
    Arc::new(ProbeDb::parse(DB, "test").unwrap())
}

fn cfg() -> FollowConfig {
    FollowConfig {
        rtt: Duration::from_millis(1),
        grace: Duration::from_millis(200),
        port_timeout: Duration::from_secs(20),
        ..FollowConfig::default()
    }
}

/// A loopback listener running `serve` on every connection, each in its own thread.
fn listener(serve: fn(std::net::TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            thread::spawn(move || serve(s));
        }
    });
    port
}

fn target(port: u16) -> FollowTarget {
    FollowTarget {
        ip: "127.0.0.1".parse().unwrap(),
        port,
        host: None,
        rtt: None,
    }
}

fn run_one(cfg: FollowConfig, port: u16) -> (FollowResult, Duration) {
    let mut e = Engine::new(db(), cfg).unwrap();
    let t = Instant::now();
    let mut out = e.run([target(port)]).unwrap();
    assert_eq!(out.len(), 1);
    (out.remove(0), t.elapsed())
}

/// Reads whatever the client sends until it closes (or a while passes).
fn drain(mut s: &std::net::TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_millis(300))).ok();
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.ends_with(b"\r\n") {
            break;
        }
    }
    got
}

#[test]
fn a_deadline_reached_late_still_counts_what_the_socket_holds() {
    let port = listener(|mut s| {
        let _ = s.write_all(b"SSH-2.0-Late_1.0\r\n");
        thread::sleep(Duration::from_secs(2));
    });
    let mut e = Engine::new(db(), cfg()).unwrap();
    let mut out = Vec::new();
    e.submit(target(port));
    // The NULL probe's connect goes out; then the loop stalls past its connect deadline
    // (0.5 s) without seeing the socket's events, as behind a long batch of matching.
    e.pump(Instant::now());
    assert_eq!(e.open, 1);
    thread::sleep(Duration::from_millis(700));
    e.on_deadline(0, Instant::now());
    while e.pending() > 0 {
        e.poll(Duration::from_millis(50), &mut out).unwrap();
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].service.status, ServiceStatus::Matched);
    assert_eq!(out[0].service.details.product.as_deref(), Some("Late_1.0"));
}

#[test]
fn banner_is_identified_at_once_on_one_connection() {
    static CONNS: AtomicUsize = AtomicUsize::new(0);
    let port = listener(|mut s| {
        CONNS.fetch_add(1, Ordering::SeqCst);
        let _ = s.write_all(b"SSH-2.0-TestSSH_1.0\r\n");
        thread::sleep(Duration::from_secs(2));
    });
    let (r, took) = run_one(cfg(), port);
    assert_eq!(r.service.status, ServiceStatus::Matched);
    assert_eq!(r.service.name.as_deref(), Some("ssh"));
    assert_eq!(r.service.details.product.as_deref(), Some("TestSSH_1.0"));
    assert_eq!(r.service.details.info.as_deref(), Some("protocol 2.0"));
    assert_eq!(r.service.probe.as_deref(), Some("NULL"));
    assert_eq!(
        r.service.banner.as_deref(),
        Some("SSH-2.0-TestSSH_1.0\\r\\n")
    );
    assert_eq!((r.service.method.as_str(), r.service.conf), ("probed", 10));
    assert!(took < Duration::from_millis(100), "{took:?}");
    assert_eq!(
        CONNS.load(Ordering::SeqCst),
        1,
        "only the NULL probe connected"
    );
    assert!(r.http.is_none() && r.tls.is_none());
}

#[test]
fn request_service_is_identified_after_the_grace_period_with_http_facts() {
    let port = listener(|mut s| {
        let req = drain(&s);
        if req.starts_with(b"GET / HTTP/1.1") {
            let _ = s.write_all(b"HTTP/1.1 301 Moved\r\nServer: Test/2\r\nLocation: /x\r\n\r\n<title>Moved \x1b[1m</title>");
        } else if req.starts_with(b"GET") {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nServer: Test/1\r\n\r\n");
        }
    });
    let (r, took) = run_one(cfg(), port);
    assert_eq!(r.service.status, ServiceStatus::Matched);
    assert_eq!(r.service.name.as_deref(), Some("http"));
    assert_eq!(r.service.details.product.as_deref(), Some("Test/1"));
    assert_eq!(r.service.probe.as_deref(), Some("GetRequest"));
    let http = r.http.unwrap();
    assert_eq!(http.status, ModuleStatus::Success);
    let h = http.result.unwrap();
    assert_eq!((h.status, h.server.as_deref()), (301, Some("Test/2")));
    assert_eq!(h.location.as_deref(), Some("/x"));
    assert_eq!(h.title.as_deref(), Some("Moved \\x1b[1m"));
    // The NULL probe's 600 ms are not waited for: 200 ms of quiet suffice.
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(580),
        "{took:?}"
    );
}

#[test]
fn a_null_probe_held_open_is_not_waited_for() {
    // A web server that neither greets nor closes the NULL probe's connection (nginx, redis).
    let port = listener(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        let mut buf = [0u8; 1024];
        if matches!(s.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"GET / HTTP/1.0")) {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nServer: Held/1\r\n\r\n");
        }
    });
    let c = FollowConfig {
        http: false,
        ..cfg()
    };
    let (r, took) = run_one(c, port);
    assert_eq!(r.service.details.product.as_deref(), Some("Held/1"));
    // 200 ms of quiet, not the NULL probe's 600 ms.
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[test]
fn softmatch_then_a_narrowed_probe_hard_matches() {
    let port = listener(|mut s| {
        let _ = s.write_all(b"220 hello\r\n");
        if drain(&s).starts_with(b"HELP") {
            let _ = s.write_all(b"214 AcmeFTP\r\n");
        }
        thread::sleep(Duration::from_millis(800));
    });
    let (r, _) = run_one(cfg(), port);
    assert_eq!(r.service.status, ServiceStatus::Matched);
    assert_eq!(r.service.name.as_deref(), Some("ftp"));
    assert_eq!(r.service.details.product.as_deref(), Some("AcmeFTP"));
    assert_eq!(r.service.probe.as_deref(), Some("Help"));
}

#[test]
fn silent_port_costs_the_longest_wait_not_the_sum() {
    let port = listener(|s| {
        thread::sleep(Duration::from_secs(3));
        drop(s);
    });
    let (r, took) = run_one(cfg(), port);
    assert_eq!(r.service.status, ServiceStatus::Unknown);
    assert_eq!((r.service.method.as_str(), r.service.conf), ("table", 3));
    // NULL 600 ms, others (500 ms each, in parallel) from its 100 ms of quiet: about 0.6 s,
    // where one after another they would take 1.6 s.
    assert!(
        took >= Duration::from_millis(590) && took < Duration::from_millis(1200),
        "{took:?}"
    );
}

#[test]
fn a_measured_round_trip_lengthens_the_waits() {
    let port = listener(|s| {
        thread::sleep(Duration::from_secs(4));
        drop(s);
    });
    let mut e = Engine::new(db(), cfg()).unwrap();
    let t = Instant::now();
    let slow = FollowTarget {
        rtt: Some(Duration::from_millis(400)),
        ..target(port)
    };
    let out = e.run([slow]).unwrap();
    let took = t.elapsed();
    assert_eq!(out[0].service.status, ServiceStatus::Unknown);
    // The NULL probe's 600 ms plus a round trip each way (2 x 400 ms), where the
    // configured 1 ms gives about 0.6 s (above).
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn the_round_trip_follows_the_measurement_within_its_bounds() {
    let c = cfg();
    let ms = Duration::from_millis;
    assert_eq!(
        c.rtt_for(None),
        ms(1),
        "nothing measured: the configured default"
    );
    assert_eq!(c.rtt_for(Some(ms(35))), ms(35));
    assert_eq!(c.rtt_for(Some(Duration::from_micros(40))), RTT_FLOOR);
    assert_eq!(c.rtt_for(Some(Duration::from_secs(30))), RTT_CEILING);
    assert_eq!(connect_timeout(RTT_FLOOR), ms(500));
    assert_eq!(connect_timeout(ms(120)), ms(1200));
    assert_eq!(connect_timeout(RTT_CEILING), Duration::from_secs(5));
    assert_eq!(grace(&c, ms(35)), ms(270));
}

#[test]
fn closed_at_once_is_tcpwrapped() {
    let port = listener(drop);
    let (r, took) = run_one(cfg(), port);
    assert_eq!(r.service.status, ServiceStatus::Tcpwrapped);
    assert_eq!(r.service.name.as_deref(), Some("tcpwrapped"));
    assert_eq!(r.service.conf, 8);
    assert!(took < Duration::from_millis(300), "{took:?}");
}

#[test]
fn refused_port_is_incomplete() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (r, _) = run_one(cfg(), port);
    assert_eq!(r.service.status, ServiceStatus::Incomplete);
    assert!(
        r.service.error.as_deref().unwrap().contains("refused"),
        "{:?}",
        r.service.error
    );
}

#[test]
fn intensity_nine_sends_rare_probes() {
    let port = listener(|mut s| {
        if drain(&s).starts_with(b"RARE") {
            let _ = s.write_all(b"RARE ok\r\n");
        }
    });
    let (r, _) = run_one(cfg(), port);
    assert_eq!(r.service.status, ServiceStatus::Unknown);
    let all = FollowConfig {
        intensity: Intensity::ALL,
        ..cfg()
    };
    let (r, _) = run_one(all, port);
    assert_eq!(r.service.name.as_deref(), Some("rare"));
}

#[test]
fn a_flood_is_read_only_up_to_the_cap() {
    let port = listener(|mut s| {
        let chunk = [b'A'; 65536];
        // Up to 100 MB, stopping when the client goes away.
        for _ in 0..1600 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let (r, took) = run_one(cfg(), port);
    assert_eq!(r.service.status, ServiceStatus::Unknown);
    let banner = r.service.banner.unwrap();
    assert_eq!(banner.len(), BANNER_CAP);
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_trickle_ends_at_the_probes_deadline() {
    let port = listener(|mut s| {
        for b in b"220 slow".iter().cycle().take(30) {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let (r, took) = run_one(cfg(), port);
    // The trickle never matches a hard line; the NULL probe ends at its 600 ms (+2 RTT).
    assert_eq!(r.service.status, ServiceStatus::Softmatched);
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn connections_stay_within_the_budget() {
    let port = listener(|s| {
        thread::sleep(Duration::from_millis(700));
        drop(s);
    });
    let c = FollowConfig {
        max_connections: 5,
        ..cfg()
    };
    let mut e = Engine::new(db(), c).unwrap();
    assert_eq!(e.connection_limit(), 5);
    let out = e.run((0..12).map(|_| target(port))).unwrap();
    assert_eq!(out.len(), 12);
    assert!(out
        .iter()
        .all(|r| r.service.status == ServiceStatus::Unknown));
    assert_eq!(e.peak_connections(), 5);
}

#[test]
fn the_port_deadline_bounds_everything() {
    let port = listener(|s| {
        thread::sleep(Duration::from_secs(5));
        drop(s);
    });
    let c = FollowConfig {
        port_timeout: Duration::from_millis(300),
        ..cfg()
    };
    let (r, took) = run_one(c, port);
    assert_eq!(r.service.status, ServiceStatus::Incomplete);
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[test]
fn excluded_port_is_not_probed() {
    let db = Arc::new(ProbeDb::parse(b"Exclude T:9\nProbe TCP NULL q||\n", "t").unwrap());
    let mut e = Engine::new(db, cfg()).unwrap();
    let out = e.run([target(9)]).unwrap();
    assert_eq!(out[0].service.status, ServiceStatus::Excluded);
}
