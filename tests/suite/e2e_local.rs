//! End-to-end `synscan local` in network namespaces the tests create: listeners started by
//! the test are listed exactly (checked against `ss -ltnup` in the same namespace), `--port`
//! exit codes, `--free` ports that bind, `--compare` against a scan from a lab's scanner,
//! and an unprivileged run. Root is needed (skipped otherwise). No packet leaves a namespace.

use crate::common::{synscan_bin, Lab, AS_NOBODY};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Output, Stdio};

/// One test at a time: a process another test spawns holds copies of every socket of this
/// process between its fork and exec, and would show up as a second holder.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A network namespace made for one test; dropping it deletes it (and its sockets' routes).
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        let name = format!("h4{}", crate::common::unique_name());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip netns add {name} failed");
        let ns = Netns { name };
        ns.run("ip", &["link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command in the namespace and returns its output.
    fn run(&self, exe: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, exe])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {exe} in {}: {e}", self.name))
    }

    /// Runs `synscan local ARGS` in the namespace.
    fn local(&self, args: &[&str]) -> Output {
        let mut a = vec!["local"];
        a.extend_from_slice(args);
        self.run(synscan_bin(), &a)
    }

    /// Writes a per-namespace sysctl.
    fn sysctl(&self, key: &str, value: &str) {
        let out = self.run("sysctl", &["-qw", &format!("{key}={value}")]);
        assert!(
            out.status.success(),
            "sysctl {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs `f` on a thread moved into namespace `ns` (sockets it creates live there).
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        synscan::sys::netns::enter(&ns).expect("enter namespace");
        f()
    })
    .join()
    .expect("namespace thread")
}

/// The sockets this test process holds in a namespace.
#[allow(dead_code)]
struct Held {
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
}

/// A child listening as nobody on 0.0.0.0:PORT in `ns` (`synscan-lab listen`); its pid is
/// that of the `ip netns exec` we spawn (ip and setpriv exec, they do not fork).
fn nobody_listener(ns: &str, port: u16) -> Child {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "setpriv"])
        .args(AS_NOBODY)
        .args([
            crate::common::lab_bin(),
            "listen",
            "--ports",
            &port.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn listener");
    let mut line = String::new();
    let out = child.stdout.take().expect("listener stdout");
    BufReader::new(out)
        .read_line(&mut line)
        .expect("listener ready line");
    assert_eq!(line.trim(), "ready", "listener as nobody did not start");
    child
}

/// One listening socket as `ss` prints it: (proto, local address text, port, pids).
type Row = (String, String, u16, BTreeSet<u32>);

/// Parses `ss -ltnupH` output.
fn ss_rows(text: &str) -> BTreeSet<Row> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, port) = f[4].rsplit_once(':').expect("ss local address");
            let pids = l
                .split("pid=")
                .skip(1)
                .map(|s| {
                    s.split(|c: char| !c.is_ascii_digit())
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect();
            (
                f[0].to_string(),
                addr.to_string(),
                port.parse().unwrap(),
                pids,
            )
        })
        .collect()
}

/// Parses `synscan local -oJ -` output into the same rows, plus process names and users.
fn local_rows(text: &str) -> (BTreeSet<Row>, BTreeSet<(u16, String, String)>) {
    let mut rows = BTreeSet::new();
    let mut who = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let ip = v["ip"].as_str().unwrap().to_string();
        let addr = if ip == "::" && v["v6only"] == serde_json::Value::Bool(false) {
            "*".to_string()
        } else if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip
        };
        let port = v["port"].as_u64().unwrap() as u16;
        let pids = v["pids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap() as u32)
            .collect();
        rows.insert((v["proto"].as_str().unwrap().to_string(), addr, port, pids));
        for name in v["processes"].as_array().unwrap() {
            who.insert((
                port,
                name.as_str().unwrap().to_string(),
                v["user"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    (rows, who)
}

/// Ports chosen for one test: a free block in a fresh namespace, so any number works.
const BASE: u16 = 7400;

/// Starts the listeners of the listing tests in `ns`: held by this process (TCP all
/// addresses, TCP 127.0.0.1, UDP, IPv6 ::1 and ::) and one by nobody (TCP all addresses).
fn start_listeners(ns: &str) -> (Held, Child) {
    let held = in_ns(ns, || Held {
        tcp: vec![
            TcpListener::bind(("0.0.0.0", BASE)).unwrap(),
            TcpListener::bind(("127.0.0.1", BASE + 1)).unwrap(),
            TcpListener::bind(("::1", BASE + 2)).unwrap(),
            // std sets no IPV6_V6ONLY: dual-stack, as ss shows with "*".
            TcpListener::bind(("::", BASE + 3)).unwrap(),
        ],
        udp: vec![UdpSocket::bind(("0.0.0.0", BASE + 4)).unwrap()],
    });
    let child = nobody_listener(ns, BASE + 5);
    (held, child)
}

fn stop(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

#[test]
#[ignore = "needs root: network namespaces"]
fn lists_listeners_exactly_like_ss() {
    let _serial = serial();
    let ns = Netns::new();
    let (held, child) = start_listeners(&ns.name);
    let me = std::process::id();
    let them = child.id();
    let out = ns.local(&["-oJ", "-"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (rows, who) = local_rows(&String::from_utf8_lossy(&out.stdout));
    let set = |v: &[u32]| v.iter().copied().collect::<BTreeSet<u32>>();
    let expected: BTreeSet<Row> = [
        ("tcp", "0.0.0.0", BASE, set(&[me])),
        ("tcp", "127.0.0.1", BASE + 1, set(&[me])),
        ("tcp", "[::1]", BASE + 2, set(&[me])),
        ("tcp", "*", BASE + 3, set(&[me])),
        ("udp", "0.0.0.0", BASE + 4, set(&[me])),
        ("tcp", "0.0.0.0", BASE + 5, set(&[them])),
    ]
    .into_iter()
    .map(|(p, a, port, pids)| (p.to_string(), a.to_string(), port, pids))
    .collect();
    assert_eq!(rows, expected);
    let ss = ns.run("ss", &["-ltnupH"]);
    assert_eq!(
        rows,
        ss_rows(&String::from_utf8_lossy(&ss.stdout)),
        "synscan local differs from ss -ltnup"
    );
    // The /proc fallback reads the same sockets.
    let proc_out = ns.local(&["--proc", "-oJ", "-"]);
    let (proc_rows, _) = local_rows(&String::from_utf8_lossy(&proc_out.stdout));
    let loose = |r: &BTreeSet<Row>| -> BTreeSet<(String, u16, BTreeSet<u32>)> {
        r.iter()
            .map(|(p, _, port, pids)| (p.clone(), *port, pids.clone()))
            .collect()
    };
    assert_eq!(loose(&proc_rows), loose(&expected));
    // Process names and users.
    let my_name = std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim()
        .to_string();
    assert!(
        who.contains(&(BASE + 5, "synscan-lab".to_string(), "nobody".to_string())),
        "{who:?}"
    );
    assert!(
        who.contains(&(BASE + 4, my_name, "root".to_string())),
        "{who:?}"
    );
    // The default table names the scope of each.
    let table = String::from_utf8_lossy(&ns.local(&[]).stdout).to_string();
    let line = |port: u16| {
        table
            .lines()
            .find(|l| l.contains(&format!(":{port} ")))
            .unwrap_or_else(|| panic!("no row for {port} in\n{table}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(line(BASE + 1)[2], "loopback");
    assert_eq!(line(BASE)[2], "all");
    assert_eq!(line(BASE + 5)[3], format!("{them}/synscan-lab"));
    stop(child);
    drop(held);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn unprivileged_run_says_pids_are_hidden() {
    let _serial = serial();
    let ns = Netns::new();
    let (held, child) = start_listeners(&ns.name);
    let them = child.id();
    let mut args = vec!["setpriv"];
    args.extend_from_slice(&AS_NOBODY);
    args.extend_from_slice(&[synscan_bin(), "local", "-oJ", "-"]);
    let out = ns.run(args[0], &args[1..]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (rows, _) = local_rows(&String::from_utf8_lossy(&out.stdout));
    let pids: BTreeSet<(u16, BTreeSet<u32>)> = rows
        .iter()
        .map(|(_, _, p, pids)| (*p, pids.clone()))
        .collect();
    let none = BTreeSet::new();
    let expected: BTreeSet<(u16, BTreeSet<u32>)> = [
        (BASE, none.clone()),
        (BASE + 1, none.clone()),
        (BASE + 2, none.clone()),
        (BASE + 3, none.clone()),
        (BASE + 4, none.clone()),
        (BASE + 5, [them].into_iter().collect()),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        pids, expected,
        "nobody sees its own listener's PID and no other"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "synscan: 5 socket(s) belong to other users whose PIDs are hidden from this user"
        ),
        "stderr: {err}"
    );
    stop(child);
    drop(held);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn port_exit_codes() {
    let _serial = serial();
    let ns = Netns::new();
    let (held, child) = start_listeners(&ns.name);
    for (port, code) in [(BASE + 4, 0), (BASE + 2, 0), (BASE + 5, 0), (BASE + 9, 1)] {
        let out = ns.local(&["--port", &port.to_string(), "-oJ", "-"]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "--port {port}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(lines, if code == 0 { 1 } else { 0 }, "--port {port}");
    }
    let out = ns.local(&["--port", &(BASE + 9).to_string()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "synscan: nothing listens on port {} (of the protocols and families asked for)\n",
            BASE + 9
        )
    );
    // UDP only: the TCP listener on BASE does not count.
    let out = ns.local(&["--port", &BASE.to_string(), "--udp"]);
    assert_eq!(out.status.code(), Some(1));
    let out = ns.local(&["--port", "x"]);
    assert_eq!(out.status.code(), Some(2));
    stop(child);
    drop(held);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn free_ports_bind_and_avoid_the_kernels_ports() {
    let _serial = serial();
    let ns = Netns::new();
    let (held, child) = start_listeners(&ns.name);
    // A range holding every listener: only the others come out, and they bind.
    let range = format!("{}-{}", BASE, BASE + 9);
    let out = ns.local(&["--free", "4", "--range", &range]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ports: Vec<u16> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    // BASE + 4 is held by a UDP socket only: free for TCP.
    assert_eq!(ports, vec![BASE + 4, BASE + 6, BASE + 7, BASE + 8]);
    let bound = in_ns(&ns.name, move || {
        ports.iter().all(|&p| {
            TcpListener::bind(("0.0.0.0", p)).is_ok() && TcpListener::bind(("::", p)).is_ok()
        })
    });
    assert!(bound, "every free port binds");
    // UDP: the UDP listener's port is taken, the TCP-only ones are free for UDP.
    let out = ns.local(&[
        "--free",
        "2",
        "--udp",
        "--range",
        &format!("{}-{}", BASE + 3, BASE + 5),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n{}\n", BASE + 3, BASE + 5)
    );
    // Too few: exit 1.
    let out = ns.local(&["--free", "3", "--range", &format!("{}-{}", BASE, BASE + 1)]);
    assert_eq!(out.status.code(), Some(1));
    // Default: outside this namespace's ephemeral range and reserved ports, which it prints.
    ns.sysctl("net.ipv4.ip_local_port_range", "1030 60000");
    ns.sysctl("net.ipv4.ip_local_reserved_ports", "60001-60002");
    let out = ns.local(&["--free", "3"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1024\n1025\n1026\n");
    let out = ns.local(&["--free", "9"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1024\n1025\n1026\n1027\n1028\n1029\n60003\n60004\n60005\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kernel ephemeral range 1030-60000 (58971 ports); reserved ports: 60001-60002 (2 ports)"),
        "{err}"
    );
    stop(child);
    drop(held);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn scanner_source_ports_follow_the_kernel_range() {
    let _serial = serial();
    let ns = Netns::new();
    ns.sysctl("net.ipv4.ip_local_port_range", "10000 65535");
    let out = ns.run(synscan_bin(), &["--firewall-rule"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("# synscan sends from TCP source ports 5464-9999."),
        "{text}"
    );
    assert!(
        text.contains("tcp sport 5464-9999 tcp flags rst drop"),
        "{text}"
    );
    // A --source-port inside the ephemeral range draws one warning line (loopback scan
    // inside the empty namespace).
    let out = ns.run(
        synscan_bin(),
        &[
            "127.0.0.1",
            "-p",
            "1",
            "--source-port",
            "20000-20010",
            "--wait",
            "0.2",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("overlaps the kernel's ephemeral port range"))
        .collect();
    assert_eq!(warnings, vec!["synscan: warning: --source-port 20000-20010 overlaps the kernel's ephemeral port range 10000-65535 (net.ipv4.ip_local_port_range): ordinary connections may get these ports and see the scan's replies; pick ports outside it"]);
    let out = ns.run(
        synscan_bin(),
        &[
            "127.0.0.1",
            "-p",
            "1",
            "--source-port",
            "5000",
            "--wait",
            "0.2",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("overlaps"));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn compare_with_a_scan_from_outside() {
    let _serial = serial();
    let lab = Lab::start(&[
        "--prefix",
        "198.19.9.0/29",
        "--ports",
        "22,80",
        "--open-hosts",
        "1",
        "--open-per-host",
        "1",
        "--filtered",
        "0",
    ]);
    let t = &lab.truth;
    let &(host, open_port) = t.open.iter().next().expect("one open pair");
    let (fw, lo, unscanned, fwd) = (7100u16, 7101u16, 7102u16, 7103u16);
    // Listeners in the target: one behind an nftables drop, one on loopback only, one the
    // scan does not cover; and a port forwarded (DNAT) to the open one, with no listener.
    let held = in_ns(&t.target_ns, move || Held {
        tcp: vec![
            TcpListener::bind(("0.0.0.0", fw)).unwrap(),
            TcpListener::bind(("127.0.0.1", lo)).unwrap(),
            TcpListener::bind(("0.0.0.0", unscanned)).unwrap(),
        ],
        udp: vec![],
    });
    let rules = format!(
        "table inet h4drop {{\n\tchain input {{\n\t\ttype filter hook input priority -10; policy accept;\n\t\ttcp dport {fw} drop\n\t}}\n}}\n\
         table ip h4nat {{\n\tchain pre {{\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\ttcp dport {fwd} dnat to {host}:{open_port}\n\t}}\n}}\n"
    );
    let mut nft = lab
        .target_command("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft");
    std::io::Write::write_all(nft.stdin.as_mut().unwrap(), rules.as_bytes()).unwrap();
    drop(nft.stdin.take());
    assert!(nft.wait().unwrap().success(), "nft rules");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("scan.json");
    let ports = format!("{open_port},{fw},{lo},{fwd}");
    let out = lab.run_in_scanner(
        synscan_bin(),
        &[
            &host.to_string(),
            "-p",
            &ports,
            "--show",
            "closed,filtered",
            "-oJ",
            json.to_str().unwrap(),
            "--retries",
            "1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lab
        .target_command(synscan_bin())
        .args([
            "local",
            "--tcp",
            "--compare",
            json.to_str().unwrap(),
            "-oJ",
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: BTreeSet<(u16, String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let ip = v["ip"].as_str().unwrap_or("-").to_string();
            (
                v["port"].as_u64().unwrap() as u16,
                ip,
                v["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(u16, String, String)> = [
        (open_port, "0.0.0.0", "exposed"),
        (fw, "0.0.0.0", "firewalled"),
        (lo, "127.0.0.1", "closed from outside"),
        (unscanned, "0.0.0.0", "not scanned"),
        (fwd, "-", "open, no local listener (forwarded or proxied)"),
    ]
    .into_iter()
    .map(|(p, a, v)| (p, a.to_string(), v.to_string()))
    .collect();
    assert_eq!(verdicts, expected);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "synscan: 1 exposed, 1 firewalled, 1 closed from outside, 1 not scanned, 1 open from outside with no local listener"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The table says the same, with what the scan saw.
    let out = lab
        .target_command(synscan_bin())
        .args(["local", "--tcp", "--compare", json.to_str().unwrap()])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    let row = |port: u16| -> Vec<String> {
        table
            .lines()
            .find(|l| l.contains(&format!(":{port} ")))
            .unwrap_or_else(|| panic!("no row for {port}:\n{table}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        row(fw)[4..],
        [format!("filtered@{host}"), "firewalled".to_string()]
    );
    assert_eq!(
        row(open_port)[4..],
        [format!("open@{host}"), "exposed".to_string()]
    );
    assert_eq!(
        row(lo)[1..3],
        [format!("127.0.0.1:{lo}"), "loopback".to_string()]
    );
    drop(held);
}

/// (ip, port, proto, state) of every record of a result file.
fn read_back(path: &std::path::Path) -> BTreeSet<(std::net::IpAddr, u16, String, String)> {
    let r = synscan::results::read_file(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    r.records
        .iter()
        .map(|x| {
            (
                x.ip,
                x.port,
                x.proto.as_str().to_string(),
                x.state.as_str().to_string(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn reads_back_every_format_synscan_and_nmap_write() {
    let _serial = serial();
    let lab = Lab::start(&[
        "--prefix",
        "198.19.10.0/29",
        "--ports",
        "22,80,443",
        "--open-hosts",
        "2",
        "--open-per-host",
        "2",
        "--filtered",
        "2",
    ]);
    let t = &lab.truth;
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().to_string();
    let out = lab.run_in_scanner(
        synscan_bin(),
        &[
            &t.prefix,
            "-p",
            "22,80,443",
            "--show",
            "closed,filtered",
            "--retries",
            "2",
            "-oJ",
            &p("s.json"),
            "-oL",
            &p("s.lst"),
            "-oG",
            &p("s.gnmap"),
            "-oX",
            &p("s.xml"),
            "--output-format",
            "csv",
            "--output-filename",
            &p("s.csv"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = read_back(std::path::Path::new(&p("s.json")));
    let with = |set: &BTreeSet<(std::net::IpAddr, u16, String, String)>,
                state: &str|
     -> BTreeSet<(std::net::Ipv4Addr, u16)> {
        set.iter()
            .filter(|r| r.3 == state)
            .map(|r| match r.0 {
                std::net::IpAddr::V4(a) => (a, r.1),
                std::net::IpAddr::V6(_) => panic!("IPv6 result"),
            })
            .collect()
    };
    assert_eq!(with(&json, "open"), t.open);
    assert_eq!(with(&json, "filtered"), t.filtered);
    assert_eq!(json.len(), 8 * 3, "every probe once");
    for f in ["s.lst", "s.gnmap", "s.xml", "s.csv"] {
        assert_eq!(
            read_back(std::path::Path::new(&p(f))),
            json,
            "{f} read back differs from -oJ"
        );
    }
    // nmap's own -oX and -oG of the same lab.
    let out = lab.run_in_scanner(
        "nmap",
        &[
            "-n",
            "-Pn",
            "-sS",
            "--max-retries",
            "2",
            "-p",
            "22,80,443",
            &t.prefix,
            "-oX",
            &p("n.xml"),
            "-oG",
            &p("n.gnmap"),
        ],
    );
    assert!(
        out.status.success(),
        "nmap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["n.xml", "n.gnmap"] {
        let nmap = read_back(std::path::Path::new(&p(f)));
        assert_eq!(with(&nmap, "open"), t.open, "{f}");
        assert_eq!(with(&nmap, "filtered"), t.filtered, "{f}");
    }
}
