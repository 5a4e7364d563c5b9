//! Root-only tests in private network namespaces (198.18.0.0/15 only): routing, ARP,
//! both transmit paths and the capture, end to end against a real kernel TCP stack.

use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::{self, MutableIpv4Packet};
use pnet::packet::tcp::{self, MutableTcpPacket, TcpFlags};

use super::*;
use crate::sys::netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn sh(args: &[&str]) {
    let st = Command::new("ip").args(args).status();
    assert!(matches!(st, Ok(s) if s.success()), "ip {args:?} failed");
}

/// Two namespaces joined by a veth pair; deleted on drop.
struct Lab {
    a: String,
    b: String,
    va: String,
    vb: String,
}

impl Lab {
    fn new() -> Option<Lab> {
        assert!(
            crate::sys::caps::has_cap(crate::sys::caps::CAP_NET_ADMIN),
            "namespace tests need root (CAP_NET_ADMIN)"
        );
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let lab = Lab {
            a: format!("nsys-{pid}-{n}a"),
            b: format!("nsys-{pid}-{n}b"),
            va: format!("nsa{}x{n}", pid % 1_000_000),
            vb: format!("nsb{}x{n}", pid % 1_000_000),
        };
        sh(&["netns", "add", &lab.a]);
        sh(&["netns", "add", &lab.b]);
        sh(&[
            "link", "add", &lab.va, "netns", &lab.a, "type", "veth", "peer", "name", &lab.vb,
            "netns", &lab.b,
        ]);
        sh(&["-n", &lab.a, "addr", "add", "198.18.0.1/24", "dev", &lab.va]);
        sh(&["-n", &lab.b, "addr", "add", "198.18.0.2/24", "dev", &lab.vb]);
        for (ns, dev) in [(&lab.a, &lab.va), (&lab.b, &lab.vb)] {
            sh(&["-n", ns, "link", "set", dev, "up"]);
            sh(&["-n", ns, "link", "set", "lo", "up"]);
        }
        sh(&[
            "-n",
            &lab.a,
            "route",
            "add",
            "198.19.0.0/16",
            "via",
            "198.18.0.2",
        ]);
        sh(&[
            "-n",
            &lab.b,
            "route",
            "add",
            "local",
            "198.19.0.0/16",
            "dev",
            "lo",
        ]);
        Some(lab)
    }

    fn mac_b(&self) -> [u8; 6] {
        let out = Command::new("ip")
            .args(["-n", &self.b, "-br", "link", "show", &self.vb])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let field = text.split_whitespace().nth(2).unwrap().to_string();
        let mut mac = [0u8; 6];
        for (m, p) in mac.iter_mut().zip(field.split(':')) {
            *m = u8::from_str_radix(p, 16).unwrap();
        }
        mac
    }

    /// A listener on 0.0.0.0:port inside namespace `ns`, alive until the sender is dropped.
    fn listen(ns: &str, port: u16) -> mpsc::Sender<()> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let ns = ns.to_string();
        thread::spawn(move || {
            netns::enter(&ns).unwrap();
            let l = TcpListener::bind(("0.0.0.0", port)).unwrap();
            ready_tx.send(()).unwrap();
            let _ = stop_rx.recv();
            drop(l);
        });
        ready_rx.recv().unwrap();
        stop_tx
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn syn(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let mut b = vec![0u8; 40];
    {
        let mut ip = MutableIpv4Packet::new(&mut b[..]).unwrap();
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length(40);
        ip.set_identification(0x1234);
        ip.set_ttl(64);
        ip.set_next_level_protocol(IpNextHeaderProtocols::Tcp);
        ip.set_source(src);
        ip.set_destination(dst);
        let c = ipv4::checksum(&ip.to_immutable());
        ip.set_checksum(c);
    }
    {
        let mut t = MutableTcpPacket::new(&mut b[20..]).unwrap();
        t.set_source(sport);
        t.set_destination(dport);
        t.set_sequence(seq);
        t.set_data_offset(5);
        t.set_flags(TcpFlags::SYN);
        t.set_window(1024);
        let c = tcp::ipv4_checksum(&t.to_immutable(), &src, &dst);
        t.set_checksum(c);
    }
    b
}

fn eth(dst: [u8; 6], src: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + ip.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

/// (src ip, sport, dport, flags, ack) of the captured TCP segments, for `wait`.
fn collect(
    cap: &mut dyn Capture,
    want: usize,
    wait: Duration,
) -> Vec<(Ipv4Addr, u16, u16, u8, u32)> {
    let l = cap.link().header_len();
    let mut got = Vec::new();
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline && got.len() < want {
        cap.poll(Duration::from_millis(20), &mut |f: &[u8]| {
            let ip = &f[l..];
            let t = &ip[((ip[0] & 0xf) as usize) * 4..];
            got.push((
                Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
                u16::from_be_bytes([t[0], t[1]]),
                u16::from_be_bytes([t[2], t[3]]),
                t[13],
                u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
            ));
        })
        .unwrap();
    }
    got
}

const FILTER: CaptureFilter = CaptureFilter {
    local_ip: Some(A_IP),
    local_ip6: None,
    first_port: 40000,
    last_port: 40010,
    protocol: crate::model::Protocol::Tcp,
};

#[test]
#[ignore = "needs root: network namespaces"]
fn veth_route_arp_packet_ring_rawip_and_capture() {
    let Some(lab) = Lab::new() else { return };
    let _listener = Lab::listen(&lab.b, 8080);
    let mac_b = lab.mac_b();
    let (va, a) = (lab.va.clone(), lab.a.clone());
    let r = thread::spawn(move || {
        netns::enter(&a).unwrap();
        let dst = Ipv4Addr::new(198, 19, 0, 5);
        let route = route_to(dst, None, None).unwrap();
        assert_eq!(route.iface, va);
        assert_eq!(route.source_ip, A_IP);
        assert_eq!(route.next_hop, B_IP);
        assert!(!route.is_loopback);
        assert_ne!(route.source_mac, [0; 6]);
        // Explicit interface and source give the same answer.
        assert_eq!(route_to(dst, Some(&va), Some(A_IP)).unwrap(), route);
        let mac = resolve_next_hop_mac(&route, Duration::from_secs(3)).unwrap();
        assert_eq!(mac, mac_b);
        let mut cap = open_capture(&route, &FILTER, DEFAULT_RING_BYTES).unwrap();
        assert_eq!(cap.link(), LinkLayer::Ethernet);

        // Packet socket (sendmmsg), two frames in one batch.
        let mut tx = open_transmit(&route, SendPath::Packet { dst_mac: mac }).unwrap();
        assert_eq!(tx.link(), LinkLayer::Ethernet);
        let mut buf = eth(mac, route.source_mac, &syn(A_IP, dst, 40001, 8080, 1000));
        buf.extend(eth(
            mac,
            route.source_mac,
            &syn(A_IP, Ipv4Addr::new(198, 19, 0, 6), 40002, 8080, 2000),
        ));
        assert_eq!(tx.send_frames(&buf, 54).unwrap(), 2);
        let mut got = collect(cap.as_mut(), 2, Duration::from_secs(3));
        got.sort();
        assert_eq!(
            got,
            vec![
                (dst, 8080, 40001, 0x12, 1001),
                (Ipv4Addr::new(198, 19, 0, 6), 8080, 40002, 0x12, 2001)
            ]
        );

        // TX ring.
        let mut ring = RingTransmit::open(&route).unwrap();
        let f = eth(mac, route.source_mac, &syn(A_IP, dst, 40003, 8080, 3000));
        assert_eq!(ring.send_frames(&f, 54).unwrap(), 1);
        assert_eq!(
            collect(cap.as_mut(), 1, Duration::from_secs(3)),
            vec![(dst, 8080, 40003, 0x12, 3001)]
        );

        // Raw IP, two destinations in one sendmmsg; plus a port outside the filter.
        let mut raw = open_transmit(&route, SendPath::RawIp).unwrap();
        assert_eq!(raw.link(), LinkLayer::RawIp);
        let mut buf = syn(A_IP, dst, 40004, 8080, 4000);
        buf.extend(syn(A_IP, Ipv4Addr::new(198, 19, 0, 7), 40005, 8080, 5000));
        buf.extend(syn(A_IP, dst, 41000, 8080, 6000));
        assert_eq!(raw.send_frames(&buf, 40).unwrap(), 3);
        let mut got = collect(cap.as_mut(), 3, Duration::from_millis(1500));
        got.sort();
        assert_eq!(
            got,
            vec![
                (dst, 8080, 40004, 0x12, 4001),
                (Ipv4Addr::new(198, 19, 0, 7), 8080, 40005, 0x12, 5001)
            ]
        );
        let st = cap.stats();
        assert_eq!(
            st,
            CaptureStats {
                received: 5,
                dropped: 0
            }
        );
        // The recvmmsg capture (the fallback) sees the same replies.
        let mut mmsg_cap: Box<dyn Capture> =
            Box::new(PacketCapture::open(&route, &FILTER, 64 << 20).unwrap());
        assert_eq!(mmsg_cap.link(), LinkLayer::Ethernet);
        assert_eq!(
            raw.send_frames(&syn(A_IP, dst, 40008, 8080, 8000), 40)
                .unwrap(),
            1
        );
        assert_eq!(
            collect(mmsg_cap.as_mut(), 1, Duration::from_secs(3)),
            vec![(dst, 8080, 40008, 0x12, 8001)]
        );
        assert_eq!(
            mmsg_cap.stats(),
            CaptureStats {
                received: 1,
                dropped: 0
            }
        );
        assert_eq!(
            collect(cap.as_mut(), 1, Duration::from_secs(3)),
            vec![(dst, 8080, 40008, 0x12, 8001)]
        );
        // Closed port: RST/ACK.
        assert_eq!(
            raw.send_frames(&syn(A_IP, dst, 40006, 81, 7000), 40)
                .unwrap(),
            1
        );
        assert_eq!(
            collect(cap.as_mut(), 1, Duration::from_secs(3)),
            vec![(dst, 81, 40006, 0x14, 7001)]
        );
    });
    r.join().unwrap();
}

#[test]
#[ignore = "needs root: network namespaces"]
fn loopback_capture_sees_each_reply_once() {
    let Some(lab) = Lab::new() else { return };
    let _listener = Lab::listen(&lab.a, 8081);
    let a = lab.a.clone();
    thread::spawn(move || {
        netns::enter(&a).unwrap();
        let lo = Ipv4Addr::LOCALHOST;
        let route = route_to(lo, None, None).unwrap();
        assert!(route.is_loopback);
        assert_eq!(
            resolve_next_hop_mac(&route, Duration::from_secs(1)).unwrap(),
            [0; 6]
        );
        let filter = CaptureFilter {
            local_ip: Some(lo),
            local_ip6: None,
            first_port: 40000,
            last_port: 40010,
            protocol: crate::model::Protocol::Tcp,
        };
        let mut cap = open_capture(&route, &filter, DEFAULT_RING_BYTES).unwrap();
        assert_eq!(cap.link(), LinkLayer::Ethernet);
        let mut raw = open_transmit(&route, SendPath::RawIp).unwrap();
        // Open sockets keep working once this thread has dropped every capability.
        crate::sys::caps::drop_all().unwrap();
        assert!(!crate::sys::caps::has_net_raw());
        assert_eq!(
            raw.send_frames(&syn(lo, lo, 40007, 8081, 9), 40).unwrap(),
            1
        );
        // Wait past the first reply to catch a duplicate.
        let got = collect(cap.as_mut(), 2, Duration::from_millis(500));
        assert_eq!(got, vec![(lo, 8081, 40007, 0x12, 10)]);
    })
    .join()
    .unwrap();
}

#[test]
#[ignore = "needs root: network namespaces"]
fn missing_interface_and_down_interface() {
    let Some(lab) = Lab::new() else { return };
    let (a, va) = (lab.a.clone(), lab.va.clone());
    thread::spawn(move || {
        netns::enter(&a).unwrap();
        // Nobody answers ARP for .9: the error names the hop and the way out.
        let route = route_to(Ipv4Addr::new(198, 18, 0, 9), None, None).unwrap();
        assert_eq!(route.next_hop, Ipv4Addr::new(198, 18, 0, 9));
        let t = Instant::now();
        let e = resolve_next_hop_mac(&route, Duration::from_millis(600)).unwrap_err();
        assert!(t.elapsed() >= Duration::from_millis(600));
        assert_eq!(
            e.to_string(),
            format!("could not resolve the MAC address of next hop 198.18.0.9 on {va}: pass --router-mac")
        );
        sh(&["-n", &a, "link", "set", &va, "down"]);
        let e = route_to(Ipv4Addr::new(198, 18, 0, 2), Some(&va), Some(A_IP)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("interface {va} is down: bring it up (`ip link set {va} up`) or pass another --interface")
        );
    })
    .join()
    .unwrap();
}
