//! A resumed run's grouped outputs rebuilt from the journal: what an interrupted run
//! journals (answered results, the no-response results a host that replied keeps, counts
//! for the rest) gives exactly the text one uninterrupted run writes, for a whole scan and
//! for a shard, while a silent host costs no record.

use super::journal::Journal;
use super::tests::Buf;
use super::*;
use crate::model::Reason;
use crate::targets::{Ipv4Set, ProbeOrder, ProbeSpace, Shard};
use std::fs::File;
use std::net::Ipv4Addr;

const T0: u64 = 1_795_437_759;

/// 200 hosts (198.19.4.0 to .199) x 121 ports in `shard`.
fn order(shard: Shard) -> ProbeOrder {
    let hosts =
        Ipv4Set::from_ranges([(Ipv4Addr::new(198, 19, 4, 0), Ipv4Addr::new(198, 19, 4, 199))]);
    let ports = PortSet::from_ranges([(1, 120), (443, 443)]);
    ProbeOrder::new(ProbeSpace::new(hosts.into(), ports), 11, shard)
}

/// What the lab of this test answers: one host in five replies on some ports (an open
/// port, 89 closed ones, an unreachable), one in ten only with an unreachable, the rest
/// are silent.
fn reason(ip: IpAddr, port: u16) -> Reason {
    let IpAddr::V4(a) = ip else {
        return Reason::NoResponse;
    };
    let h = a.octets()[3];
    match (h % 5, port) {
        (0, 80) => Reason::SynAck,
        (0, 1..=90) => Reason::Reset,
        (0, 93) => Reason::HostUnreach,
        (1, 443) if h % 2 == 0 => Reason::AdminProhibited,
        _ => Reason::NoResponse,
    }
}

/// The results of `order`, in its send order.
fn results(order: &ProbeOrder) -> Vec<PortResult> {
    order
        .iter_from(0)
        .enumerate()
        .map(|(i, (ip, service))| {
            let reason = reason(ip, service.port);
            PortResult {
                ip,
                port: service.port,
                protocol: service.protocol,
                state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
                reason,
                ttl: if reason == Reason::NoResponse { 0 } else { 64 },
                // Whole milliseconds: the journal keeps a result's time to the millisecond.
                timestamp: UNIX_EPOCH + Duration::from_millis(T0 * 1000 + i as u64),
            }
        })
        .collect()
}

fn info(order: &ProbeOrder) -> ScanInfo {
    ScanInfo {
        start: UNIX_EPOCH + Duration::from_secs(T0),
        command_line: "synscan 198.19.4.0-199 -p 1-120,443".into(),
        services: order.space().services().clone(),
        hosts: order.space().hosts(),
        probes: order.len(),
        seed: 11,
        scan_types: vec![(crate::model::Protocol::Tcp, "syn")],
        shard: (order.shard().count > 1).then(|| Arc::new(order.clone())),
    }
}

fn summary() -> ScanSummary {
    ScanSummary {
        end: Some(UNIX_EPOCH + Duration::from_secs(T0 + 9)),
        elapsed: Duration::from_secs(9),
        ..ScanSummary::default()
    }
}

/// Fresh grouped outputs over in-memory sinks.
fn outputs(info: &ScanInfo, opts: &OutputOptions) -> (Outputs, Vec<Buf>) {
    let bufs = vec![Buf::default(), Buf::default(), Buf::default()];
    let sinks: Vec<(Format, bool, Sink)> = [Format::Normal, Format::Grepable, Format::Xml]
        .into_iter()
        .zip(&bufs)
        .map(|(f, b)| (f, false, Box::new(b.clone()) as Sink))
        .collect();
    let ctx = Arc::new(Ctx {
        opts: opts.clone(),
        services: services::Services::default_table(),
        scanned: info.scanned(),
    });
    (
        Outputs::with_sinks(sinks, ctx, info).expect("outputs"),
        bufs,
    )
}

fn texts(bufs: &[Buf]) -> Vec<String> {
    bufs.iter().map(Buf::text).collect()
}

/// Writes every result at once.
fn uninterrupted(info: &ScanInfo, opts: &OutputOptions, rs: &[PortResult]) -> Vec<String> {
    let (mut o, bufs) = outputs(info, opts);
    for r in rs {
        o.record(r).expect("record");
    }
    o.finish(&summary()).expect("finish");
    texts(&bufs)
}

/// Run 1 journals every result, checkpointing after each `every`, and dies after `died`
/// results (what came after its last checkpoint is lost); run 2 replays the journal, then
/// decides everything from the checkpoint on. Returns run 2's texts and the journal's
/// length at the checkpoint.
fn interrupted(
    info: &ScanInfo,
    opts: &OutputOptions,
    rs: &[PortResult],
    every: usize,
    died: usize,
) -> (Vec<String>, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scan.resume.journal");
    let (mut first, _) = outputs(info, opts);
    first.attach_journal(Journal::create(File::create(&path).expect("create")).expect("journal"));
    let mut checkpoint = (0, 8);
    for (i, r) in rs[..died].iter().enumerate() {
        first.record(r).expect("record");
        if (i + 1) % every == 0 {
            let (_, journal) = first.checkpoint().expect("checkpoint");
            checkpoint = (i + 1, journal.expect("a journal"));
        }
    }
    drop(first);
    let (mut second, bufs) = outputs(info, opts);
    let file = File::options()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");
    let journal = Journal::resume(file, checkpoint.1, |e| second.replay(e)).expect("resume");
    second.attach_journal(journal);
    for r in &rs[checkpoint.0..] {
        second.record(r).expect("record");
    }
    second.finish(&summary()).expect("finish");
    (texts(&bufs), checkpoint.1)
}

#[test]
fn a_resumed_run_writes_what_an_uninterrupted_run_writes_and_journals_no_silent_host() {
    let show = |closed, filtered| OutputOptions {
        show_closed: closed,
        show_filtered: filtered,
        ..Default::default()
    };
    for shard in [Shard::WHOLE, Shard { index: 2, count: 3 }] {
        let order = order(shard);
        let info = info(&order);
        let rs = results(&order);
        let answered = rs.iter().filter(|r| r.reason != Reason::NoResponse).count();
        assert!(answered > 300, "{answered}");
        let replying: std::collections::HashSet<IpAddr> = rs
            .iter()
            .filter(|r| r.reason != Reason::NoResponse)
            .map(|r| r.ip)
            .collect();
        for opts in [OutputOptions::default(), show(true, true)] {
            let want = uninterrupted(&info, &opts, &rs);
            // Folded counts and listed ports both come back.
            let folded = want[2].contains("<extraports");
            assert_eq!(folded, !opts.show_closed, "{shard:?}: {}", want[2]);
            for (every, died) in [(1000, rs.len() / 2 + 17), (333, rs.len() - 1), (97, 250)] {
                let case = format!("{shard:?} {opts:?} every {every} died {died}");
                let (got, length) = interrupted(&info, &opts, &rs, every, died);
                assert_eq!(got, want, "{case}");
                // Only answered results and the no-response results of hosts that had
                // replied are whole records; each checkpoint adds one count at most.
                let cut = died / every * every;
                let kept = rs[..cut]
                    .iter()
                    .filter(|r| replying.contains(&r.ip))
                    .count() as u64;
                let checkpoints = (died / every) as u64;
                assert!(length <= 8 + 16 * (kept + checkpoints), "{case}: {length}");
                assert!(length >= 8 + 16 * (kept / 2), "{case}: {length}");
            }
        }
    }
}

#[test]
fn a_shard_table_stores_nothing_for_silent_hosts_and_lists_like_the_bounded_one() {
    let order = order(Shard { index: 1, count: 2 });
    let info = info(&order);
    let rs = results(&order);
    // The same run without the shard's order: every no-response result waits in the
    // bounded vector for its host to reply.
    let unknown = ScanInfo {
        shard: None,
        ..info.clone()
    };
    for opts in [
        OutputOptions::default(),
        OutputOptions {
            show_filtered: true,
            ..Default::default()
        },
    ] {
        let (mut o, bufs) = outputs(&info, &opts);
        let (mut p, pbufs) = outputs(&unknown, &opts);
        for r in &rs {
            o.record(r).expect("record");
            p.record(r).expect("record");
        }
        let held = |o: &Outputs| {
            o.table
                .as_ref()
                .map_or((0, 0), |t| (t.host_count(), t.pending_count()))
        };
        // Only the hosts that replied in this shard are held.
        let replied: std::collections::HashSet<IpAddr> = rs
            .iter()
            .filter(|r| r.reason != Reason::NoResponse)
            .map(|r| r.ip)
            .collect();
        assert!(replied.len() > 40, "{}", replied.len());
        assert_eq!(held(&o), (replied.len(), 0), "{opts:?}");
        assert!(held(&p).1 > 3000, "{:?}", held(&p));
        o.finish(&summary()).expect("finish");
        p.finish(&summary()).expect("finish");
        assert_eq!(texts(&bufs), texts(&pbufs), "{opts:?}");
    }
}
