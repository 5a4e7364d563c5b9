//! Real UDP services from Debian packages, run in the foreground inside a lab namespace:
//! dnsmasq (DNS), chronyd (NTP), snmpd (SNMP) and memcached (its UDP port), plus a plain
//! socket that listens and never answers. No package script starts them (`.ci/run`
//! installs the packages behind a policy-rc.d); this module starts and stops them itself.
//!
//! Each daemon is bound to the lab addresses it serves. A daemon bound to the wildcard that
//! answers with a plain sendto() answers from the namespace's routed address instead of the
//! probed one, and a scanner rightly ignores that answer. Bound to the wildcard in a lab
//! namespace (Debian 12's packages), dnsmasq 2.90, chrony 4.3 and net-snmp 5.9.3 answer from
//! the probed address (they take it from IP_PKTINFO); memcached 1.6.18 answers from the
//! routed one. Binding every daemon to its addresses is simpler and the same for all.

use std::fs;
use std::net::{IpAddr, UdpSocket};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A daemon this module runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpDaemon {
    /// dnsmasq, DNS on 53 (answers `version.bind` CH TXT with its version).
    Dnsmasq,
    /// chronyd, an NTP server on 123 (never touching the clock: `-x`).
    Chrony,
    /// snmpd, SNMP v1/v2c with community "public" on 161 (and v3 discovery).
    Snmpd,
    /// memcached, its UDP protocol on 11211 (TCP off).
    Memcached,
}

impl UdpDaemon {
    /// Every daemon.
    pub const ALL: [UdpDaemon; 4] = [
        UdpDaemon::Dnsmasq,
        UdpDaemon::Chrony,
        UdpDaemon::Snmpd,
        UdpDaemon::Memcached,
    ];

    /// The UDP port it serves.
    pub fn port(self) -> u16 {
        match self {
            UdpDaemon::Dnsmasq => 53,
            UdpDaemon::Chrony => 123,
            UdpDaemon::Snmpd => 161,
            UdpDaemon::Memcached => 11211,
        }
    }

    /// The program run, and the Debian package that has it.
    pub fn program(self) -> (&'static str, &'static str) {
        match self {
            UdpDaemon::Dnsmasq => ("dnsmasq", "dnsmasq-base"),
            UdpDaemon::Chrony => ("chronyd", "chrony"),
            UdpDaemon::Snmpd => ("snmpd", "snmpd"),
            UdpDaemon::Memcached => ("memcached", "memcached"),
        }
    }

    /// The command line serving `addrs` (at most one of each family), its files in `dir`.
    pub fn argv(self, addrs: &[IpAddr], dir: &Path) -> Vec<String> {
        let (program, _) = self.program();
        let mut v: Vec<String> = vec![program.to_string()];
        let mut add = |items: &[&str]| v.extend(items.iter().map(|s| s.to_string()));
        match self {
            UdpDaemon::Dnsmasq => {
                add(&[
                    "-k",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--bind-interfaces",
                    "--pid-file",
                    "--log-facility=-",
                ]);
                for a in addrs {
                    add(&[&format!("--listen-address={a}")]);
                }
            }
            UdpDaemon::Chrony => {
                let conf = dir.join("chrony.conf");
                add(&["-d", "-x", "-f", &conf.to_string_lossy()]);
            }
            UdpDaemon::Snmpd => {
                let conf = dir.join("snmpd.conf");
                add(&["-f", "-Lo", "-C", "-c", &conf.to_string_lossy()]);
                for a in addrs {
                    match a {
                        IpAddr::V4(a) => add(&[&format!("udp:{a}:161")]),
                        IpAddr::V6(a) => add(&[&format!("udp6:[{a}]:161")]),
                    }
                }
            }
            UdpDaemon::Memcached => {
                let listen: Vec<String> = addrs
                    .iter()
                    .map(|a| match a {
                        IpAddr::V4(a) => a.to_string(),
                        IpAddr::V6(a) => format!("[{a}]"),
                    })
                    .collect();
                add(&[
                    "-U",
                    "11211",
                    "-p",
                    "0",
                    "-u",
                    "nobody",
                    "-l",
                    &listen.join(","),
                ]);
            }
        }
        v
    }

    /// The configuration file it reads, as (file name, text), if it needs one.
    pub fn config(self, addrs: &[IpAddr], dir: &Path) -> Option<(&'static str, String)> {
        match self {
            UdpDaemon::Chrony => {
                let mut c = String::new();
                for a in addrs {
                    c.push_str(&format!("bindaddress {a}\n"));
                }
                // A server for anyone, unsynchronised but answering as stratum 10; no
                // command socket, no files outside `dir`.
                c.push_str("allow all\nlocal stratum 10\ncmdport 0\n");
                c.push_str(&format!("pidfile {}\n", dir.join("chronyd.pid").display()));
                Some(("chrony.conf", c))
            }
            // rocommunity covers IPv4 sources only, rocommunity6 IPv6 ones.
            UdpDaemon::Snmpd => Some((
                "snmpd.conf",
                "rocommunity public\nrocommunity6 public\n".to_string(),
            )),
            UdpDaemon::Dnsmasq | UdpDaemon::Memcached => None,
        }
    }
}

static DIRS: AtomicU32 = AtomicU32::new(0);

/// Running daemons of one namespace; dropping it stops them and removes their files.
#[derive(Debug)]
pub struct UdpDaemons {
    children: Vec<(UdpDaemon, Child)>,
    dir: PathBuf,
    mute: Vec<UdpSocket>,
}

impl UdpDaemons {
    /// Starts `daemons` in namespace `ns`, each bound to `addrs` (at most one of each family:
    /// chronyd binds one address per family). They answer once they have bound their
    /// sockets, a moment after this returns.
    pub fn start(ns: &str, daemons: &[UdpDaemon], addrs: &[IpAddr]) -> Result<UdpDaemons, String> {
        let (v4, v6) = (
            addrs.iter().filter(|a| a.is_ipv4()).count(),
            addrs.iter().filter(|a| a.is_ipv6()).count(),
        );
        if v4 > 1 || v6 > 1 || addrs.is_empty() {
            return Err(format!(
                "the UDP daemons serve one address of each family, not {addrs:?}"
            ));
        }
        // A fresh directory only root can enter: create_dir fails if the name exists, so
        // nothing planted there beforehand is used.
        let dir = std::env::temp_dir().join(format!(
            "synscan-lab-udp-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut running = UdpDaemons {
            children: Vec::new(),
            dir,
            mute: Vec::new(),
        };
        for &d in daemons {
            if let Some((name, text)) = d.config(addrs, &running.dir) {
                let path = running.dir.join(name);
                fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            let argv = d.argv(addrs, &running.dir);
            let (program, package) = d.program();
            let child = Command::new("ip")
                .args(["netns", "exec", ns])
                .args(&argv)
                // snmpd keeps its persistent state here, not in /var/lib/snmp.
                .env("SNMP_PERSISTENT_DIR", &running.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {program} in {ns}: {e}; install {package}"))?;
            running.children.push((d, child));
        }
        Ok(running)
    }

    /// Adds a socket on addr:port in namespace `ns` that receives and never answers (nmap's
    /// open|filtered for an open port that stays silent).
    pub fn mute(&mut self, ns: &str, addr: IpAddr, port: u16) -> Result<(), String> {
        let ns = ns.to_string();
        let sock = std::thread::spawn(move || {
            synscan::sys::netns::enter(&ns).map_err(|e| format!("cannot enter {ns}: {e}"))?;
            UdpSocket::bind((addr, port)).map_err(|e| format!("cannot bind {addr}:{port}: {e}"))
        })
        .join()
        .map_err(|_| "the namespace thread failed".to_string())??;
        self.mute.push(sock);
        Ok(())
    }

    /// The daemons that exited (crashed or refused their configuration), with their status.
    pub fn exited(&mut self) -> Vec<(UdpDaemon, String)> {
        let mut out = Vec::new();
        for (d, c) in &mut self.children {
            if let Ok(Some(st)) = c.try_wait() {
                out.push((*d, st.to_string()));
            }
        }
        out
    }
}

impl Drop for UdpDaemons {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            // `ip netns exec` execs the daemon, so the child's pid is the daemon's.
            crate::netns::kill_pid(c.id());
            let _ = c.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::netns::{ip, sysctl};
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::{Duration, Instant};
    use synscan::net::udp_connect::{UdpConnectScanner, UdpOutcome};
    use synscan::payload::PayloadDb;

    static LABS: AtomicU32 = AtomicU32::new(0);

    pub(crate) const T4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 20);
    pub(crate) const T6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0x19, 0, 0, 0, 0x20);

    /// Scanner and target namespaces on a veth pair, the target answering for T4 and T6;
    /// removed on drop, also when the test fails.
    pub(crate) struct Pair {
        pub(crate) s: String,
        pub(crate) t: String,
    }

    impl Pair {
        pub(crate) fn new() -> Pair {
            let n = LABS.fetch_add(1, Ordering::Relaxed);
            let pid = std::process::id() % 1_000_000;
            let p = Pair {
                s: format!("ludp{pid}x{n}s"),
                t: format!("ludp{pid}x{n}t"),
            };
            let (va, vb) = (format!("ludp{pid}x{n}a"), format!("ludp{pid}x{n}b"));
            ip(&["netns", "add", &p.s]).unwrap();
            ip(&["netns", "add", &p.t]).unwrap();
            ip(&[
                "link", "add", &va, "netns", &p.s, "type", "veth", "peer", "name", &vb, "netns",
                &p.t,
            ])
            .unwrap();
            for (ns, dev, a4, a6) in [
                (&p.s, &va, "198.18.0.1/24", "2001:2:0:18::1/64"),
                (&p.t, &vb, "198.18.0.2/24", "2001:2:0:18::2/64"),
            ] {
                ip(&["-n", ns, "link", "set", dev, "up"]).unwrap();
                ip(&["-n", ns, "link", "set", "lo", "up"]).unwrap();
                ip(&["-n", ns, "addr", "add", a4, "dev", dev]).unwrap();
                ip(&["-n", ns, "-6", "addr", "add", a6, "dev", dev, "nodad"]).unwrap();
            }
            ip(&[
                "-n",
                &p.s,
                "route",
                "add",
                "198.19.0.0/16",
                "via",
                "198.18.0.2",
            ])
            .unwrap();
            ip(&[
                "-n",
                &p.s,
                "-6",
                "route",
                "add",
                "2001:2:0:19::/64",
                "via",
                "2001:2:0:18::2",
            ])
            .unwrap();
            ip(&["-n", &p.t, "addr", "add", "198.19.0.20/32", "dev", "lo"]).unwrap();
            ip(&[
                "-n",
                &p.t,
                "-6",
                "addr",
                "add",
                "2001:2:0:19::20/128",
                "dev",
                "lo",
                "nodad",
            ])
            .unwrap();
            // Every closed probe here gets its port unreachable.
            sysctl(
                &p.t,
                &["net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"],
            )
            .unwrap();
            p
        }
    }

    impl Drop for Pair {
        fn drop(&mut self) {
            crate::lab::remove_ns(&self.s);
            crate::lab::remove_ns(&self.t);
        }
    }

    /// One probe from namespace `ns`, repeated while it is silent or closed until `patience`
    /// passed (a daemon binds its socket a moment after it starts).
    fn probe(ns: &str, dst: IpAddr, port: u16, payload: Vec<u8>, patience: Duration) -> UdpOutcome {
        let ns = ns.to_string();
        std::thread::spawn(move || {
            synscan::sys::netns::enter(&ns).unwrap();
            let mut s = UdpConnectScanner::new(1, Duration::from_millis(300)).unwrap();
            let give_up = Instant::now() + patience;
            loop {
                s.start(dst, port, &payload, 1).unwrap();
                let mut out = Vec::new();
                while out.is_empty() {
                    s.poll(Duration::from_millis(100), &mut out).unwrap();
                }
                let (_, outcome) = out.remove(0);
                let waiting = matches!(outcome, UdpOutcome::Silence | UdpOutcome::Closed);
                if !waiting || Instant::now() >= give_up {
                    return outcome;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .join()
        .unwrap()
    }

    /// The project's own requests for DNS, NTP, SNMP (v3 discovery, v2c, v1) and memcached
    /// get answers from the real daemons over IPv4 and IPv6, and every answer echoes the
    /// cookie the request carried in its protocol field; the mute socket stays silent and a
    /// port nobody serves is closed.
    #[test]
    #[ignore = "needs root: network namespaces and the Debian daemons (dnsmasq-base, chrony, snmpd, memcached)"]
    fn real_daemons_answer_the_builtin_requests_with_the_cookie() {
        let pair = Pair::new();
        let mut daemons =
            UdpDaemons::start(&pair.t, &UdpDaemon::ALL, &[T4.into(), T6.into()]).unwrap();
        daemons.mute(&pair.t, IpAddr::V4(T4), 514).unwrap();
        daemons.mute(&pair.t, IpAddr::V6(T6), 514).unwrap();
        let db = PayloadDb::builtin();
        let mut checked = Vec::new();
        for d in UdpDaemon::ALL {
            for payload in db.for_port(d.port()) {
                for (i, dst) in [IpAddr::V4(T4), IpAddr::V6(T6)].into_iter().enumerate() {
                    // Fields take the cookie's leading bytes: vary them all.
                    let cookie = 0x9e37_79b9_7f4a_7c15u64
                        .wrapping_mul(u64::from(d.port()) * 2 + i as u64 + 1);
                    let mut bytes = payload.data.to_vec();
                    let field = payload.field.as_ref();
                    if let Some(f) = field {
                        f.patch(&mut bytes, cookie);
                    }
                    let outcome = probe(&pair.s, dst, d.port(), bytes, Duration::from_secs(10));
                    let what = format!("{d:?} {} to {dst}", payload.name);
                    let UdpOutcome::Open(reply) = outcome else {
                        panic!("{what}: {outcome:?}; exited: {:?}", daemons.exited());
                    };
                    let f = field.unwrap_or_else(|| panic!("{what}: no cookie field"));
                    assert!(f.check(&reply, cookie), "{what}: reply {reply:02x?}");
                    assert!(!f.check(&reply, !cookie), "{what}: another cookie passes");
                    checked.push(what);
                }
            }
        }
        // dns, ntp, 3 x snmp, memcached; each over both families.
        assert_eq!(checked.len(), 12, "{checked:?}");
        for dst in [IpAddr::V4(T4), IpAddr::V6(T6)] {
            let quiet = Duration::ZERO;
            assert_eq!(
                probe(&pair.s, dst, 514, b"<13>x".to_vec(), quiet),
                UdpOutcome::Silence
            );
            assert_eq!(
                probe(&pair.s, dst, 9, Vec::new(), quiet),
                UdpOutcome::Closed
            );
        }
        assert!(daemons.exited().is_empty(), "{:?}", daemons.exited());
    }
}
