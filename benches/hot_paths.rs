//! Micro-benchmarks of the two per-packet hot paths, on one core, without any socket:
//!
//! - `probe_gen/*`: what the sender thread does per probe: the keyed permutation lookup
//!   (`ProbeOrder::get`), then the template copy + patch + SipHash cookie
//!   (`ProbeCrafter::craft`). Throughput is in probes, so criterion prints probes/s.
//! - `reply/*`: what the receiver thread does per captured frame: `recv::classify`, i.e.
//!   `wire::parse_reply` + cookie validation, on a SYN/ACK, an RST/ACK and a SYN/ACK whose
//!   acknowledgement fails the cookie. Frames are built by the project's own code
//!   (`wire::build`) as answers to SYNs crafted by `ProbeCrafter`.
//!
//! Run with `make bench` (or `cargo bench --bench hot_paths [-- FILTER]`). Times are wall-clock
//! by default; with `SYNSCAN_BENCH_CPU=1` they are the benchmark thread's CPU time
//! (CLOCK_THREAD_CPUTIME_ID), which a machine busy with other work inflates much less.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{black_box, BatchSize, Criterion, Throughput};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use synscan::probe::{ProbeCrafter, ProbeParams, SourcePorts};
use synscan::recv::{classify, Rejected};
use synscan::send::MAX_BATCH;
use synscan::targets::{ipv4_only, parse_ports, Ipv4Set, ProbeOrder, ProbeSpace, Shard};
use synscan::wire::build::{tcp_frame, tcp_frame_with_options};
use synscan::wire::tcp_flags::{ACK, RST, SYN};
use synscan::wire::{ethernet, ipv4, parse_reply, tcp, LinkLayer, TcpSegment};

/// The synscan-lab default port list (23 ports), as in the end-to-end benchmark.
const LAB_PORTS: &str =
    "21,22,23,25,53,80,110,111,135,139,143,443,445,587,993,995,1723,3306,3389,5432,5900,8080,8443";
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

fn order(first: Ipv4Addr, last: Ipv4Addr, ports: &str) -> ProbeOrder {
    let targets = Ipv4Set::from_ranges([(first, last)]);
    let ports = parse_ports(ports).expect("ports");
    ProbeOrder::new(ProbeSpace::new(targets.into(), ports), 0x5eed, Shard::WHOLE)
}

/// 198.19.0.0/16 x the lab's 23 ports: the e2e scenario's 1,507,328 probes.
fn lab_order() -> ProbeOrder {
    order(
        Ipv4Addr::new(198, 19, 0, 0),
        Ipv4Addr::new(198, 19, 255, 255),
        LAB_PORTS,
    )
}

fn crafter(key: [u64; 2]) -> ProbeCrafter {
    ProbeCrafter::new(ProbeParams {
        link: LinkLayer::Ethernet,
        src_mac: OUR_MAC,
        dst_mac: ROUTER_MAC,
        src_ip: US,
        source_ports: SourcePorts::DEFAULT,
        key,
    })
}

/// CPU time of the calling thread: what the benchmark itself used, not the time other
/// processes ran on its core.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Same unit (nanoseconds) as wall time, so the same formatter.
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

fn probe_generation<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let crafter = crafter([0x1234_5678, 0x9abc_def0]);
    let frame_len = crafter.frame_len();
    let mut g = c.benchmark_group(format!("{prefix}probe_gen"));
    g.measurement_time(Duration::from_secs(4));

    for (label, ord) in [
        ("lab_16x23", lab_order()),
        (
            "net8x100",
            order(
                Ipv4Addr::new(10, 0, 0, 0),
                Ipv4Addr::new(10, 255, 255, 255),
                "1-100",
            ),
        ),
    ] {
        let len = ord.len();
        // One probe per iteration: permutation lookup + template patch + cookie.
        g.throughput(Throughput::Elements(1));
        let mut buf = vec![0u8; frame_len];
        let mut pos = 0u64;
        g.bench_function(format!("one/{label}"), |b| {
            b.iter(|| {
                let (ip, service) = ord.get(pos);
                crafter.craft(&mut buf, ipv4_only(ip), service.port, 0);
                pos += 1;
                if pos == len {
                    pos = 0;
                }
                black_box(&buf);
            })
        });

        // A sender batch: MAX_BATCH (256) probes crafted back to back into one buffer,
        // which is what `send::run_sender` hands to sendmmsg.
        g.throughput(Throughput::Elements(MAX_BATCH as u64));
        let mut batch = vec![0u8; frame_len * MAX_BATCH];
        let mut pos = 0u64;
        g.bench_function(format!("batch256/{label}"), |b| {
            b.iter(|| {
                for frame in batch.chunks_exact_mut(frame_len) {
                    let (ip, service) = ord.get(pos);
                    crafter.craft(frame, ipv4_only(ip), service.port, 0);
                    pos += 1;
                    if pos == len {
                        pos = 0;
                    }
                }
                black_box(&batch);
            })
        });
    }

    // The two halves alone, to see where the time goes.
    let ord = lab_order();
    let len = ord.len();
    g.throughput(Throughput::Elements(1));
    let mut pos = 0u64;
    g.bench_function("permutation_only/lab_16x23", |b| {
        b.iter(|| {
            let p = ord.get(pos);
            pos += 1;
            if pos == len {
                pos = 0;
            }
            black_box(p)
        })
    });
    let mut buf = vec![0u8; frame_len];
    let mut n = 0u32;
    g.bench_function("craft_only", |b| {
        b.iter(|| {
            n = n.wrapping_add(0x9e37_79b9);
            let ip = Ipv4Addr::from(0xc613_0000 | (n >> 16));
            crafter.craft(
                &mut buf,
                black_box(ip),
                black_box((n & 0xfff) as u16 + 1),
                0,
            );
            black_box(&buf);
        })
    });
    g.finish();
}

/// Replies as the target's Linux stack sends them, to probes `crafter` made.
struct Frames {
    syn_ack: Vec<u8>,
    rst: Vec<u8>,
    bad_cookie: Vec<u8>,
}

fn reply_frames(crafter: &ProbeCrafter) -> Frames {
    let target = Ipv4Addr::new(198, 19, 7, 9);
    // The SYN we sent, crafted by the project's template, and read back with the parser's
    // view of its fields (so the replies answer exactly this frame).
    let mut syn = vec![0u8; crafter.frame_len()];
    crafter.craft(&mut syn, target, 443, 0);
    let ip = ipv4::Packet::new_checked(&syn[ethernet::HEADER_LEN..]).expect("IPv4");
    let probe = tcp::Packet::new_checked(ip.payload()).expect("TCP");
    let (sport, seq) = (probe.src_port(), probe.seq_number());
    assert_eq!(sport, crafter.source_port(target, 443));
    assert_eq!(seq, crafter.sequence(target, 443));
    let answer = |flags: u8, ack: u32| TcpSegment {
        src: target,
        dst: US,
        sport: 443,
        dport: sport,
        seq: if flags & SYN != 0 { 0x7a3c_19e5 } else { 0 },
        ack,
        flags,
        ttl: 64,
        window: if flags & SYN != 0 { 64240 } else { 0 },
    };
    // Linux SYN/ACK options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    let linux_opts = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let syn_ack = tcp_frame_with_options(
        LinkLayer::Ethernet,
        ROUTER_MAC,
        OUR_MAC,
        &answer(SYN | ACK, seq.wrapping_add(1)),
        &linux_opts,
    );
    let rst = tcp_frame(
        LinkLayer::Ethernet,
        ROUTER_MAC,
        OUR_MAC,
        &answer(RST | ACK, seq.wrapping_add(1)),
    );
    // Same flow, acknowledgement off by one: parses fine, fails the cookie.
    let bad_cookie = tcp_frame_with_options(
        LinkLayer::Ethernet,
        ROUTER_MAC,
        OUR_MAC,
        &answer(SYN | ACK, seq.wrapping_add(2)),
        &linux_opts,
    );
    Frames {
        syn_ack,
        rst,
        bad_cookie,
    }
}

fn reply_handling<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let crafter = crafter([0x0bad_cafe, 0xf00d]);
    let f = reply_frames(&crafter);
    let at = Instant::now();
    let link = LinkLayer::Ethernet;
    // The frames classify as intended (the benchmark measures the real outcomes).
    use synscan::model::Reason;
    assert_eq!(
        classify(&f.syn_ack, link, &crafter, at).map(|e| e.reason),
        Ok(Reason::SynAck)
    );
    assert_eq!(
        classify(&f.rst, link, &crafter, at).map(|e| e.reason),
        Ok(Reason::Reset)
    );
    assert_eq!(
        classify(&f.bad_cookie, link, &crafter, at).map(|e| e.reason),
        Err(Rejected::NotOurs)
    );

    let mut g = c.benchmark_group(format!("{prefix}reply"));
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [
        ("syn_ack", &f.syn_ack),
        ("rst", &f.rst),
        ("bad_cookie", &f.bad_cookie),
    ] {
        g.bench_function(format!("classify/{name}"), |b| {
            b.iter(|| classify(black_box(frame), link, &crafter, at))
        });
    }
    g.bench_function("parse_only/syn_ack", |b| {
        b.iter(|| parse_reply(black_box(&f.syn_ack), link))
    });

    // A receiver-sized batch of 256 distinct replies, mostly RSTs like a real scan (one
    // SYN/ACK in 32), each answering its own probe: different flows, different cookies.
    let mut batch = Vec::with_capacity(256);
    for i in 0..256u32 {
        let target = Ipv4Addr::from(0xc613_0000 | (i * 251));
        let port = [22u16, 80, 443, 3389][(i % 4) as usize];
        let flags = if i % 32 == 0 { SYN | ACK } else { RST | ACK };
        let spec = TcpSegment {
            src: target,
            dst: US,
            sport: port,
            dport: crafter.source_port(target, port),
            seq: 0,
            ack: crafter.sequence(target, port).wrapping_add(1),
            flags,
            ttl: 64,
            window: 0,
        };
        batch.push(tcp_frame(link, ROUTER_MAC, OUR_MAC, &spec));
    }
    assert!(batch
        .iter()
        .all(|fr| classify(fr, link, &crafter, at).is_ok()));
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("classify/batch256_mixed", |b| {
        b.iter_batched_ref(
            || Vec::with_capacity(256),
            |out| {
                for fr in &batch {
                    if let Ok(ev) = classify(fr, link, &crafter, at) {
                        out.push(ev);
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Runs every group; `prefix` keeps CPU-time results apart from wall-time ones in
/// target/criterion (so baselines never compare the two clocks).
fn run<M: Measurement>(mut c: Criterion<M>, prefix: &str) {
    probe_generation(&mut c, prefix);
    reply_handling(&mut c, prefix);
    c.final_summary();
}

fn main() {
    if std::env::var_os("SYNSCAN_BENCH_CPU").is_some_and(|v| v != "0") {
        eprintln!("hot_paths: measuring thread CPU time (SYNSCAN_BENCH_CPU)");
        run(
            Criterion::default()
                .with_measurement(ThreadCpuTime)
                .configure_from_args(),
            "cpu_",
        );
    } else {
        run(Criterion::default().configure_from_args(), "");
    }
}
