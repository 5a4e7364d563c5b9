//! Root-only tests of the IPv6 next hop in private network namespaces (2001:2::/48 and
//! link-local only, addresses added `nodad`): the kernel's route and source, the
//! neighbour table, our own neighbour solicitation, and link-local zones.

use std::net::Ipv6Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use super::*;
use crate::sys::netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

const MAC_A: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x18, 0x01];
const MAC_B: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x18, 0x02];

fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn sh(args: &[&str]) {
    let st = Command::new("ip").args(args).status();
    assert!(matches!(st, Ok(s) if s.success()), "ip {args:?} failed");
}

/// Scanner namespace `a` and target namespace `b` joined by a veth pair: 2001:2:0:18::1
/// and ::2, fe80::1 and fe80::2 (no automatic link-local), `a` routing 2001:2:0:19::/64
/// through `b`, which answers for all of it; deleted on drop.
struct Lab6 {
    a: String,
    b: String,
    va: String,
}

impl Lab6 {
    fn new() -> Lab6 {
        assert!(
            crate::sys::caps::has_cap(crate::sys::caps::CAP_NET_ADMIN),
            "namespace tests need root (CAP_NET_ADMIN)"
        );
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let lab = Lab6 {
            a: format!("ns6-{pid}-{n}a"),
            b: format!("ns6-{pid}-{n}b"),
            va: format!("n6a{}x{n}", pid % 1_000_000),
        };
        let vb = format!("n6b{}x{n}", pid % 1_000_000);
        sh(&["netns", "add", &lab.a]);
        sh(&["netns", "add", &lab.b]);
        sh(&[
            "link", "add", &lab.va, "netns", &lab.a, "type", "veth", "peer", "name", &vb, "netns",
            &lab.b,
        ]);
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        for (ns, dev, m, global, local) in [
            (&lab.a, &lab.va, MAC_A, "2001:2:0:18::1/64", "fe80::1/64"),
            (&lab.b, &vb, MAC_B, "2001:2:0:18::2/64", "fe80::2/64"),
        ] {
            sh(&["-n", ns, "link", "set", dev, "address", &mac(m)]);
            sh(&["-n", ns, "link", "set", dev, "addrgenmode", "none"]);
            sh(&["-n", ns, "link", "set", dev, "up"]);
            sh(&["-n", ns, "link", "set", "lo", "up"]);
            sh(&["-n", ns, "-6", "addr", "add", global, "dev", dev, "nodad"]);
            sh(&["-n", ns, "-6", "addr", "add", local, "dev", dev, "nodad"]);
        }
        sh(&[
            "-n",
            &lab.a,
            "-6",
            "route",
            "add",
            "2001:2:0:19::/64",
            "via",
            "2001:2:0:18::2",
        ]);
        sh(&[
            "-n",
            &lab.b,
            "-6",
            "route",
            "add",
            "local",
            "2001:2:0:19::/64",
            "dev",
            "lo",
        ]);
        lab
    }

    /// Runs `f` on a thread inside the scanner namespace.
    fn in_a<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let a = self.a.clone();
        thread::spawn(move || {
            netns::enter(&a).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Lab6 {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ifindex(name: &str) -> u32 {
    pnet::datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .map(|i| i.index)
        .unwrap()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn ipv6_route_source_and_next_hop_from_the_kernel() {
    let lab = Lab6::new();
    let va = lab.va.clone();
    lab.in_a(move || {
        let want = |next_hop: &str, source: &str| Route {
            iface: va.clone(),
            ifindex: ifindex(&va),
            source_ip: ip(source),
            source_mac: MAC_A,
            next_hop: ip(next_hop),
            is_loopback: false,
        };
        // Through the router, on-link, and by zone for a link-local address.
        assert_eq!(
            route_to_v6(ip("2001:2:0:19::5"), None, None),
            Ok(want("2001:2:0:18::2", "2001:2:0:18::1"))
        );
        assert_eq!(
            route_to_v6(ip("2001:2:0:18::2"), None, None),
            Ok(want("2001:2:0:18::2", "2001:2:0:18::1"))
        );
        assert_eq!(
            route_to_v6(ip("fe80::2"), Some(&va), None),
            Ok(want("fe80::2", "fe80::1"))
        );
        let index = ifindex(&va).to_string();
        assert_eq!(
            route_to_v6(ip("fe80::2"), Some(&index), None),
            Ok(want("fe80::2", "fe80::1"))
        );
        // --source-ip overrides the kernel's choice.
        assert_eq!(
            route_to_v6(ip("2001:2:0:19::5"), None, Some(ip("2001:2:0:18::7"))),
            Ok(want("2001:2:0:18::2", "2001:2:0:18::7"))
        );
        // A link-local address needs its zone; a prefix without a route has none.
        assert_eq!(
            route_to_v6(ip("fe80::2"), None, None),
            Err(NetError::Setup(
                "fe80::2 is link-local: name its interface, as in fe80::2%eth0 (or pass --interface)"
                    .into()
            ))
        );
        let e = route_to_v6(ip("2001:2:0:20::1"), None, None).unwrap_err();
        assert!(
            e.to_string().starts_with("no route to 2001:2:0:20::1: "),
            "{e}"
        );
        // Loopback.
        let lo = route_to_v6(Ipv6Addr::LOCALHOST, None, None).unwrap();
        assert_eq!(
            (lo.iface.as_str(), lo.source_ip, lo.next_hop, lo.is_loopback),
            ("lo", Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, true)
        );
    });
}

#[test]
#[ignore = "needs root: network namespaces"]
fn ipv6_next_hop_mac_by_solicitation_and_from_the_neighbour_table() {
    let lab = Lab6::new();
    // A neighbour only the table knows (nothing answers for it on the link), and a route
    // through it.
    sh(&[
        "-n",
        &lab.a,
        "-6",
        "neigh",
        "add",
        "2001:2:0:18::3",
        "lladdr",
        "02:00:5e:00:18:33",
        "dev",
        &lab.va,
        "nud",
        "permanent",
    ]);
    sh(&[
        "-n",
        &lab.a,
        "-6",
        "route",
        "add",
        "2001:2:0:21::/64",
        "via",
        "2001:2:0:18::3",
    ]);
    let va = lab.va.clone();
    lab.in_a(move || {
        let wait = Duration::from_secs(3);
        let via_b = route_to_v6(ip("2001:2:0:19::5"), None, None).unwrap();
        // Not in the table yet: the answer comes from our solicitation.
        let table = ndp::table().unwrap();
        assert_eq!(ndp::lookup(&table, via_b.next_hop, via_b.ifindex), None);
        assert_eq!(resolve_next_hop_mac_v6(&via_b, wait), Ok(MAC_B));
        let via_c = route_to_v6(ip("2001:2:0:21::1"), None, None).unwrap();
        assert_eq!(via_c.next_hop, ip("2001:2:0:18::3"));
        assert_eq!(
            resolve_next_hop_mac_v6(&via_c, wait),
            Ok([0x02, 0x00, 0x5e, 0x00, 0x18, 0x33])
        );
        let link_local = route_to_v6(ip("fe80::2"), Some(&va), None).unwrap();
        assert_eq!(resolve_next_hop_mac_v6(&link_local, wait), Ok(MAC_B));
        // Nobody at ::9: the error names the next hop and the way out.
        let nobody = route_to_v6(ip("2001:2:0:18::9"), None, None).unwrap();
        assert_eq!(
            resolve_next_hop_mac_v6(&nobody, Duration::from_millis(500)),
            Err(NetError::Setup(format!(
                "could not resolve the MAC address of next hop 2001:2:0:18::9 on {va}: pass --router-mac"
            )))
        );
    });
}
