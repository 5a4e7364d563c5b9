//! Root-only tests of the unprivileged UDP prober in private network namespaces (198.18.0.0/15
//! and 2001:2::/48 only): scanner namespace `a`, and `b`, which is both the target (its
//! addresses on lo) and a router for the rest of 198.19.0.0/16 and 2001:2::/48, so that
//! unreachables come from the target itself and from a hop.

use std::net::{IpAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::udp_connect::{UdpConnectScanner, UdpOutcome};
use crate::sys::netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(program: &str, args: &[&str], stdin: Option<&str>) {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    let st = child.wait().expect("wait");
    assert!(st.success(), "{program} {args:?} failed");
}

/// The rules that make the truth: admin-prohibited and drop in b's input, port unreachable
/// from b as a router for the "hop" prefixes.
const RULES: &str = "
table inet udplab {
  chain input {
    type filter hook input priority 0;
    ip daddr 198.19.0.11 udp dport 9 reject with icmp type admin-prohibited
    ip6 daddr 2001:2:0:19::11 udp dport 9 reject with icmpv6 type admin-prohibited
    ip daddr 198.19.0.12 drop
    ip6 daddr 2001:2:0:19::12 drop
  }
  chain forward {
    type filter hook forward priority 0;
    ip daddr 198.19.2.0/24 reject with icmp type port-unreachable
    ip6 daddr 2001:2:0:1a::/64 reject with icmpv6 type port-unreachable
  }
}
";

/// Namespaces `a` (scanner) and `b` (target and router) joined by a veth pair; deleted on
/// drop, also when a test fails.
struct UdpLab {
    a: String,
    b: String,
}

impl UdpLab {
    fn new() -> UdpLab {
        assert!(
            crate::sys::caps::has_cap(crate::sys::caps::CAP_NET_ADMIN),
            "namespace tests need root (CAP_NET_ADMIN)"
        );
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let lab = UdpLab {
            a: format!("nudp-{pid}-{n}a"),
            b: format!("nudp-{pid}-{n}b"),
        };
        let (va, vb) = (
            format!("nua{}x{n}", pid % 1_000_000),
            format!("nub{}x{n}", pid % 1_000_000),
        );
        let ip = |args: &[&str]| run("ip", args, None);
        ip(&["netns", "add", &lab.a]);
        ip(&["netns", "add", &lab.b]);
        ip(&[
            "link", "add", &va, "netns", &lab.a, "type", "veth", "peer", "name", &vb, "netns",
            &lab.b,
        ]);
        for (ns, dev, v4, v6) in [
            (&lab.a, &va, "198.18.0.1/24", "2001:2:0:18::1/64"),
            (&lab.b, &vb, "198.18.0.2/24", "2001:2:0:18::2/64"),
        ] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "addr", "add", v4, "dev", dev]);
            ip(&["-n", ns, "-6", "addr", "add", v6, "dev", dev, "nodad"]);
        }
        ip(&[
            "-n",
            &lab.a,
            "route",
            "add",
            "198.19.0.0/16",
            "via",
            "198.18.0.2",
        ]);
        ip(&[
            "-n",
            &lab.a,
            "-6",
            "route",
            "add",
            "2001:2::/48",
            "via",
            "2001:2:0:18::2",
        ]);
        for host in ["10", "11", "12"] {
            ip(&[
                "-n",
                &lab.b,
                "addr",
                "add",
                &format!("198.19.0.{host}/32"),
                "dev",
                "lo",
            ]);
            ip(&[
                "-n",
                &lab.b,
                "-6",
                "addr",
                "add",
                &format!("2001:2:0:19::{host}/128"),
                "dev",
                "lo",
                "nodad",
            ]);
        }
        // b routes: the "hop" prefixes out of its veth (the forward rule rejects first), and
        // unreachable routes (the kernel's host unreachable / no route).
        ip(&["-n", &lab.b, "route", "add", "198.19.2.0/24", "dev", &vb]);
        ip(&[
            "-n",
            &lab.b,
            "-6",
            "route",
            "add",
            "2001:2:0:1a::/64",
            "dev",
            &vb,
        ]);
        ip(&["-n", &lab.b, "route", "add", "unreachable", "198.19.3.0/24"]);
        ip(&[
            "-n",
            &lab.b,
            "-6",
            "route",
            "add",
            "unreachable",
            "2001:2:0:1b::/64",
        ]);
        // b forwards, sends no redirects, and its own ICMP limits are off: every probe here
        // gets its answer (the limits themselves are the lab's business, not this test's).
        for kv in [
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.conf.all.send_redirects=0",
            "net.ipv4.icmp_ratelimit=0",
            "net.ipv6.icmp.ratelimit=0",
        ] {
            run(
                "ip",
                &["netns", "exec", &lab.b, "sysctl", "-q", "-w", kv],
                None,
            );
        }
        run(
            "ip",
            &["netns", "exec", &lab.b, "nft", "-f", "-"],
            Some(RULES),
        );
        lab
    }

    /// An echo service on each of `addrs`, port `port`, in b; it stops when the guard drops.
    fn echo(&self, addrs: &[&str], port: u16) -> StopOnDrop {
        let stop = Arc::new(AtomicBool::new(false));
        for addr in addrs {
            let (ready_tx, ready_rx) = mpsc::channel();
            let (ns, addr): (String, IpAddr) = (self.b.clone(), addr.parse().unwrap());
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                netns::enter(&ns).unwrap();
                // Bound to the probed address, so the answer comes from it.
                let sock = UdpSocket::bind((addr, port)).unwrap();
                sock.set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                ready_tx.send(()).unwrap();
                let mut b = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = sock.recv_from(&mut b) {
                        let _ = sock.send_to(&b[..n], from);
                    }
                }
            });
            ready_rx.recv().unwrap();
        }
        StopOnDrop(stop)
    }

    /// Runs `f` on a thread inside namespace a and returns its result.
    fn in_a<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = self.a.clone();
        thread::spawn(move || {
            netns::enter(&ns).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

/// Tells the echo threads to stop.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Drop for UdpLab {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn filtered(icmp_type: u8, icmp_code: u8, from: &str) -> UdpOutcome {
    UdpOutcome::Filtered {
        icmp_type,
        icmp_code,
        from: Some(from.parse().unwrap()),
    }
}

/// Every outcome over IPv4 and IPv6 at once: open (a reply from the probed address), closed
/// (the target's port unreachable), filtered by the target (admin prohibited), filtered by
/// a hop (port unreachable and host unreachable / no route from the router), and silence.
#[test]
#[ignore = "needs root: network namespaces"]
fn every_outcome_over_both_families() {
    let lab = UdpLab::new();
    let _echo = lab.echo(&["198.19.0.10", "2001:2:0:19::10"], 7);
    // The host unreachable goes first: Linux rations a router's route errors (ip_error) with
    // the token its ICMP rate limit keeps per peer, which the other errors to the scanner
    // leave empty when that limit is off, as here.
    let probes: Vec<(&str, u16, UdpOutcome)> = vec![
        ("198.19.3.5", 53, filtered(3, 1, "198.18.0.2")),
        ("198.19.0.10", 7, UdpOutcome::Open(b"hello".to_vec())),
        ("198.19.0.10", 8, UdpOutcome::Closed),
        ("198.19.0.11", 9, filtered(3, 13, "198.19.0.11")),
        ("198.19.0.12", 9, UdpOutcome::Silence),
        ("198.19.2.5", 53, filtered(3, 3, "198.18.0.2")),
        ("2001:2:0:19::10", 7, UdpOutcome::Open(b"hello".to_vec())),
        ("2001:2:0:19::10", 8, UdpOutcome::Closed),
        ("2001:2:0:19::11", 9, filtered(1, 1, "2001:2:0:19::11")),
        ("2001:2:0:19::12", 9, UdpOutcome::Silence),
        ("2001:2:0:1a::5", 53, filtered(1, 4, "2001:2:0:18::2")),
        ("2001:2:0:1b::5", 53, filtered(1, 0, "2001:2:0:18::2")),
    ];
    let targets: Vec<(IpAddr, u16)> = probes
        .iter()
        .map(|(a, p, _)| (a.parse().unwrap(), *p))
        .collect();
    let got = lab.in_a(move || {
        let mut s = UdpConnectScanner::new(64, Duration::from_millis(700)).unwrap();
        for (t, (addr, port)) in targets.iter().enumerate() {
            s.start(*addr, *port, b"hello", t as u64).unwrap();
        }
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.in_flight() > 0 && Instant::now() < deadline {
            s.poll(Duration::from_millis(100), &mut out).unwrap();
        }
        out.sort_by_key(|o| o.0);
        out
    });
    let want: Vec<(u64, UdpOutcome)> = probes
        .into_iter()
        .enumerate()
        .map(|(t, (_, _, o))| (t as u64, o))
        .collect();
    assert_eq!(got, want);
}

/// A daemon bound to the wildcard that answers with a plain sendto() answers from b's routed
/// address, not the probed one: the kernel never matches that to the connected socket, so
/// the probe stays silent (why the lab binds each daemon to the addresses it serves).
#[test]
#[ignore = "needs root: network namespaces"]
fn reply_from_another_address_is_not_open() {
    let lab = UdpLab::new();
    // The reply leaves from 198.18.0.2 (b's address towards a), not from 198.19.0.10.
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    {
        let (ns, stop) = (lab.b.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            netns::enter(&ns).unwrap();
            let sock = UdpSocket::bind(("0.0.0.0", 7)).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut b = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut b) {
                    let _ = sock.send_to(&b[..n], from);
                }
            }
        });
    }
    let _stop = StopOnDrop(stop);
    ready_rx.recv().unwrap();
    let got = lab.in_a(|| {
        let mut s = UdpConnectScanner::new(4, Duration::from_millis(500)).unwrap();
        s.start("198.19.0.10".parse().unwrap(), 7, b"hi", 1)
            .unwrap();
        let mut out = Vec::new();
        while s.in_flight() > 0 {
            s.poll(Duration::from_millis(100), &mut out).unwrap();
        }
        out
    });
    assert_eq!(got, vec![(1, UdpOutcome::Silence)]);
}
