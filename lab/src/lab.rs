//! Raising and tearing down one lab: two namespaces, a veth pair, nft truth, listeners; with a
//! wire, a third (middle) namespace between them whose relay process delays and drops frames.

use crate::cli::{Unreach6Kind, UnreachKind, WireArgs};
use crate::listen::READY;
use crate::netns::{
    self, Names, SCANNER_ADDR6, SCANNER_IP, TARGET_ADDR6, TARGET_IP, TARGET_ROUTE, TARGET_ROUTE6,
    VETH_PREFIX_LEN6,
};
use crate::nft;
use crate::truth::Chosen;
use ipnet::{Ipv4Net, Ipv6Net};
use std::io::{BufRead, BufReader};
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the target namespace treats traffic beyond the truth sets.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The target block routed to the target's loopback.
    pub prefix: Ipv4Net,
    /// Percent of incoming SYNs dropped at random.
    pub loss: u8,
    /// ICMP code for unreachable pairs.
    pub unreach_kind: UnreachKind,
    /// Drop everything but ARP at the target veth's ingress.
    pub drop_all: bool,
    /// The emulated wire (validated), or None for a direct veth pair.
    pub wire: Option<WireArgs>,
    /// Seed of the wire's random draws.
    pub wire_seed: u64,
    /// Whether the IPv4 side has listeners (false in an IPv6-only lab; its addresses and
    /// routes stay, with an empty truth).
    pub v4: bool,
    /// The IPv6 side, when the lab has one.
    pub v6: Option<Shape6>,
    /// How the target rations its answers beyond the truth.
    pub answers: crate::answers::Answers,
}

/// The IPv6 side of a lab.
#[derive(Debug, Clone)]
pub struct Shape6 {
    /// The block the IPv6 truth is drawn from (the target answers for all of
    /// 2001:2:0:19::/64).
    pub prefix: Ipv6Net,
    /// ICMPv6 code for IPv6 unreachable pairs.
    pub unreach_kind: Unreach6Kind,
}

/// A raised lab; dropping it tears everything down (also after a half-finished setup).
#[derive(Debug)]
pub struct Lab {
    /// The lab's names.
    pub names: Names,
    made_scanner: bool,
    made_target: bool,
    made_middle: bool,
    listener: Option<Child>,
    wire: Option<Child>,
}

impl Lab {
    /// Raise the lab; on error whatever was created is removed before returning.
    pub fn up(
        names: Names,
        shape: &Shape,
        truth: &Chosen,
        truth6: Option<&Chosen<Ipv6Addr>>,
    ) -> Result<Lab, String> {
        let mut lab = Lab {
            names,
            made_scanner: false,
            made_target: false,
            made_middle: false,
            listener: None,
            wire: None,
        };
        lab.setup(shape, truth, truth6)?;
        Ok(lab)
    }

    fn setup(
        &mut self,
        shape: &Shape,
        truth: &Chosen,
        truth6: Option<&Chosen<Ipv6Addr>>,
    ) -> Result<(), String> {
        let n = self.names.clone();
        let (s, t) = (n.scanner_ns.as_str(), n.target_ns.as_str());
        for ns in [s, t] {
            if netns::ns_exists(ns) {
                return Err(format!(
                    "namespace {ns} already exists: pick another --name or run `synscan-lab down --name {}`",
                    n.name
                ));
            }
        }
        if shape.wire.is_some() && netns::ns_exists(&n.middle_ns) {
            return Err(format!(
                "namespace {} already exists: pick another --name or run `synscan-lab down --name {}`",
                n.middle_ns, n.name
            ));
        }
        netns::ip(&["netns", "add", s])?;
        self.made_scanner = true;
        netns::ip(&["netns", "add", t])?;
        self.made_target = true;
        let v6 = shape.v6.as_ref().zip(truth6);
        for ns in [s, t] {
            if v6.is_some() {
                // Before the veths exist, so they inherit it from "default".
                quiet_ipv6_on(ns)?;
            } else {
                quiet_ipv6(ns);
            }
        }
        match &shape.wire {
            None => veth(&n.scanner_if, s, &n.target_if, t)?,
            Some(w) => {
                let m = n.middle_ns.as_str();
                netns::ip(&["netns", "add", m])?;
                self.made_middle = true;
                quiet_ipv6(m);
                veth(&n.scanner_if, s, &n.middle_scanner_if, m)?;
                veth(&n.middle_target_if, m, &n.target_if, t)?;
                netns::ip(&["-n", m, "link", "set", "lo", "up"])?;
                for dev in [&n.middle_scanner_if, &n.middle_target_if] {
                    // A cable passes every frame: no MAC filtering on the relay's ends.
                    netns::ip(&["-n", m, "link", "set", dev, "promisc", "on", "up"])?;
                }
                self.spawn_wire(w, shape.wire_seed)?;
            }
        }
        netns::ip(&[
            "-n",
            s,
            "addr",
            "add",
            &format!("{SCANNER_IP}/24"),
            "dev",
            &n.scanner_if,
        ])?;
        netns::ip(&[
            "-n",
            t,
            "addr",
            "add",
            &format!("{TARGET_IP}/24"),
            "dev",
            &n.target_if,
        ])?;
        for (ns, dev) in [(s, &n.scanner_if), (t, &n.target_if)] {
            netns::ip(&["-n", ns, "link", "set", "lo", "up"])?;
            netns::ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        netns::ip(&["-n", s, "route", "add", TARGET_ROUTE, "via", TARGET_IP])?;
        if v6.is_some() {
            self.setup_ipv6()?;
        }
        netns::ip(&[
            "-n",
            t,
            "route",
            "add",
            "local",
            &shape.prefix.to_string(),
            "dev",
            "lo",
        ])?;
        netns::sysctl(
            t,
            &[
                "net.ipv4.tcp_syncookies=1",
                "net.core.somaxconn=65535",
                "net.ipv4.tcp_max_syn_backlog=65535",
                "net.ipv4.icmp_ratelimit=0",
            ],
        )?;
        // Per-namespace only on newer kernels; where it is global the file is absent here.
        let _ = netns::sysctl(t, &["net.ipv4.icmp_msgs_per_sec=10000000"]);
        let _ = netns::sysctl(t, &["net.ipv4.icmp_msgs_burst=10000000"]);
        // One listener port list for both families: the RST rules cover the same ports.
        let mut open_ports = truth.open_ports();
        if let Some((_, t6)) = v6 {
            open_ports.extend(t6.open_ports());
            open_ports.sort_unstable();
            open_ports.dedup();
        }
        netns::nft_load(
            t,
            &nft::ruleset_with(
                shape.loss,
                shape.unreach_kind,
                &open_ports,
                v6.map(|(s6, _)| s6.unreach_kind),
            ),
        )?;
        for (set, pairs) in [
            (nft::SET_OPEN, &truth.open),
            (nft::SET_FILTERED, &truth.filtered),
            (nft::SET_UNREACH, &truth.unreachable),
        ] {
            for batch in nft::element_batches(set, pairs, nft::CHUNK) {
                netns::nft_load(t, &batch)?;
            }
        }
        if let Some((_, t6)) = v6 {
            for (set, pairs) in [
                (nft::SET_OPEN6, &t6.open),
                (nft::SET_FILTERED6, &t6.filtered),
                (nft::SET_UNREACH6, &t6.unreachable),
            ] {
                for batch in nft::element_batches(set, pairs, nft::CHUNK) {
                    netns::nft_load(t, &batch)?;
                }
            }
        }
        if let Some(rules) = shape.answers.ruleset(shape.prefix) {
            netns::nft_load(t, &rules)?;
            for batch in shape.answers.alive_batches(nft::CHUNK) {
                netns::nft_load(t, &batch)?;
            }
        }
        if shape.drop_all {
            netns::nft_load(t, &nft::drop_all_with(&n.target_if, v6.is_some()))?;
        }
        if !open_ports.is_empty() {
            self.spawn_listener(&open_ports, shape.v4, v6.is_some())?;
        }
        Ok(())
    }

    /// The IPv6 side: veth addresses (no DAD), the scanner's route and the target's local
    /// route for 2001:2:0:19::/64, and no ICMPv6 rate limit at the target.
    fn setup_ipv6(&mut self) -> Result<(), String> {
        let n = &self.names;
        let (s, t) = (n.scanner_ns.as_str(), n.target_ns.as_str());
        for (ns, dev, addr) in [
            (s, &n.scanner_if, SCANNER_ADDR6),
            (t, &n.target_if, TARGET_ADDR6),
        ] {
            let cidr = format!("{addr}/{VETH_PREFIX_LEN6}");
            netns::ip(&["-n", ns, "-6", "addr", "add", &cidr, "dev", dev, "nodad"])?;
        }
        let via = TARGET_ADDR6.to_string();
        netns::ip(&["-n", s, "-6", "route", "add", TARGET_ROUTE6, "via", &via])?;
        netns::ip(&[
            "-n",
            t,
            "-6",
            "route",
            "add",
            "local",
            TARGET_ROUTE6,
            "dev",
            "lo",
        ])?;
        netns::sysctl(t, &["net.ipv6.icmp.ratelimit=0"])?;
        Ok(())
    }

    fn spawn_wire(&mut self, w: &WireArgs, seed: u64) -> Result<(), String> {
        let me = std::env::current_exe()
            .map_err(|e| format!("cannot find my own executable to start the wire: {e}"))?;
        let n = &self.names;
        let stats = stats_path(&n.name);
        let _ = std::fs::remove_file(&stats);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &n.middle_ns]);
        if realtime_available() {
            // The wire emulates a cable: its timing must not suffer when builds or the
            // scanner load the CPUs (seen: 200 ms stalls at normal priority, load 6 on 2
            // cores). Its threads block between frames, so real-time costs others little.
            cmd.args(["chrt", "--fifo", WIRE_RT_PRIORITY]);
        }
        let mut child = cmd
            .arg(me)
            .args(["wire", "--left", &n.middle_scanner_if])
            .args(["--right", &n.middle_target_if])
            .args(["--delay-ms", &w.delay_ms.to_string()])
            .args(["--jitter-ms", &w.jitter_ms.to_string()])
            .args(["--wire-loss", &w.wire_loss.to_string()])
            .args(["--duplicate", &w.duplicate.to_string()])
            .args(["--reorder", &w.reorder.to_string()])
            .args(["--wire-pps", &w.wire_pps.to_string()])
            .args(["--wire-queue", &w.wire_queue.to_string()])
            .args(["--seed", &seed.to_string()])
            .arg("--stats-file")
            .arg(&stats)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the wire: {e}"))?;
        let stdout = child.stdout.take();
        self.wire = Some(child);
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != crate::wire::READY {
            return Err("the wire failed to open its interfaces (see its message above)".into());
        }
        Ok(())
    }

    fn spawn_listener(&mut self, ports: &[u16], v4: bool, v6: bool) -> Result<(), String> {
        let me = std::env::current_exe()
            .map_err(|e| format!("cannot find my own executable to start listeners: {e}"))?;
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.names.target_ns])
            .arg(me)
            .args(["listen", "--ports", &list.join(",")])
            .args(v4.then_some("--ipv4"))
            .args(v6.then_some("--ipv6"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the listener: {e}"))?;
        let stdout = child.stdout.take();
        self.listener = Some(child);
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != READY {
            return Err(
                "the listener failed to bind the open ports (see its message above)".into(),
            );
        }
        Ok(())
    }

    /// Whether the listener child is still running (true when there is none).
    pub fn listener_alive(&mut self) -> bool {
        match self.listener.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Whether the wire child is still running (true when there is none).
    pub fn wire_alive(&mut self) -> bool {
        match self.wire.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    fn teardown(&mut self) {
        if let Some(mut c) = self.listener.take() {
            drop(c.stdin.take());
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut c) = self.wire.take() {
            // EOF lets the wire print its final counters; kill it if it dawdles.
            drop(c.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(2);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let n = &self.names;
        for (made, ns) in [
            (self.made_scanner, &n.scanner_ns),
            (self.made_middle, &n.middle_ns),
            (self.made_target, &n.target_ns),
        ] {
            if made {
                remove_ns(ns);
            }
        }
        let _ = std::fs::remove_file(stats_path(&n.name));
        self.made_scanner = false;
        self.made_middle = false;
        self.made_target = false;
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Kill whatever still runs in `ns` (lab-owned processes only) and delete it; best effort.
pub fn remove_ns(ns: &str) {
    for pid in netns::ns_pids(ns) {
        netns::kill_pid(pid);
    }
    let _ = netns::ip(&["netns", "del", ns]);
}

/// `synscan-lab down`: remove every namespace of lab `name` and its wire stats (idempotent).
pub fn down(name: &str) {
    let n = Names::new(name);
    for ns in [&n.scanner_ns, &n.middle_ns, &n.target_ns] {
        if netns::ns_exists(ns) {
            remove_ns(ns);
        }
    }
    let _ = std::fs::remove_file(stats_path(name));
}

/// SCHED_FIFO priority of the wire process.
const WIRE_RT_PRIORITY: &str = "20";

/// Whether `chrt --fifo` works here (util-linux installed, CAP_SYS_NICE, RT budget).
fn realtime_available() -> bool {
    netns::run("chrt", &["--fifo", WIRE_RT_PRIORITY, "true"], None).is_ok()
}

/// Where the wire of lab `name` publishes its counters (JSON, rewritten every 100 ms).
pub fn stats_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("synscan-lab-{name}.wire.json"))
}

/// No IPv6 chatter (router solicitations, MLD) to pollute packet counters.
fn quiet_ipv6(ns: &str) {
    let _ = netns::sysctl(
        ns,
        &[
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ],
    );
}

/// IPv6 on, but quiet: no duplicate address detection, router solicitations or router
/// advertisements, so the only IPv6 frames are the lab's own and neighbour discovery.
fn quiet_ipv6_on(ns: &str) -> Result<(), String> {
    let mut keys = Vec::new();
    for scope in ["all", "default", "lo"] {
        keys.push(format!("net.ipv6.conf.{scope}.disable_ipv6=0"));
        keys.push(format!("net.ipv6.conf.{scope}.accept_dad=0"));
        keys.push(format!("net.ipv6.conf.{scope}.accept_ra=0"));
        keys.push(format!("net.ipv6.conf.{scope}.router_solicitations=0"));
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    netns::sysctl(ns, &keys)
}

/// A veth pair with end `a` in namespace `a_ns` and end `b` in `b_ns`.
fn veth(a: &str, a_ns: &str, b: &str, b_ns: &str) -> Result<(), String> {
    netns::ip(&[
        "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns", b_ns,
    ])
}
