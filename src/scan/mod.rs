//! Runs a scan from a validated config: dry run, SYN scan or connect scan; opens the sockets,
//! gives up privileges, and turns the outcome into an exit code.

pub(crate) mod connect;
pub(crate) mod dry_run;
pub mod engine;
pub(crate) mod progress;
pub(crate) mod resume;
pub mod run_as;
pub mod table_loop;

use crate::cli::{ScanConfig, ScanMode, SendPathChoice};
use crate::error::{self, ScanError};
use crate::handoff;
use crate::model::RateSignal;
use crate::net::{self, CaptureFilter, SendPath};
use crate::output::{Outputs, ScanInfo, ScanSummary};
use crate::probe::{ProbeCrafter, ProbeKind, ProbeParams, SourcePorts};
use crate::send::pace::Pacer;
use crate::state::rtt::RttEstimator;
use crate::state::window::WindowTable;
use crate::targets::{ProbeOrder, ProbeSpace};
use crate::watch::metrics::MetricsFile;
use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

/// Timeout of a probe before any RTT is measured.
pub const INITIAL_RTO: Duration = Duration::from_millis(1000);
/// Lowest retry timeout: replies on a busy LAN queue for tens of milliseconds.
pub const MIN_RTO: Duration = Duration::from_millis(100);
/// Highest retry timeout.
pub const MAX_RTO: Duration = Duration::from_millis(3000);

/// Runs the scan `cfg` describes; returns the exit code.
pub fn run(cfg: ScanConfig, stop: &AtomicBool) -> Result<i32, ScanError> {
    let space = ProbeSpace::new(cfg.targets.clone(), cfg.services.clone());
    let order = ProbeOrder::new(space, cfg.seed, cfg.shard);
    if cfg.dry_run {
        return dry_run::run(&order, cfg.start, cfg.seed, &cfg.outputs, &cfg.inputs, stop);
    }
    match cfg.mode {
        ScanMode::Raw(kind) => raw_scan(&cfg, order, kind, stop),
        ScanMode::Connect => connect_scan(&cfg, order, stop),
    }
}

/// Prints the scan's size and seed, so that the order can be repeated.
fn announce(cfg: &ScanConfig, order: &ProbeOrder) {
    if cfg.nmap.is_some() {
        if let Err(e) = handoff::check_installed() {
            eprintln!("synscan: {e}");
        }
    }
    eprintln!(
        "synscan: {} hosts x {} ports = {} probes{}, seed {} (repeat the order with --seed {})",
        cfg.targets.len(),
        cfg.services.len(),
        order.len(),
        if cfg.shard.count > 1 {
            format!(" in shard {}/{}", cfg.shard.index, cfg.shard.count)
        } else {
            String::new()
        },
        cfg.seed,
        cfg.seed
    );
}

fn scan_info(cfg: &ScanConfig, order: &ProbeOrder, kind: ProbeKind) -> ScanInfo {
    ScanInfo {
        start: SystemTime::now(),
        command_line: cfg.command_line.clone(),
        services: cfg.services.clone(),
        hosts: order.space().hosts(),
        probes: order.len(),
        seed: cfg.seed,
        scan_types: vec![(kind.protocol(), kind.nmap_type())],
        shard: (order.shard().count > 1).then(|| std::sync::Arc::new(order.clone())),
    }
}

/// The scan setup every scan shares, written once: announce, resume slot and privilege
/// drop, the hand-off helper, the outputs, the run (with the -sV stage it feeds), the
/// finish and the hand-off, for a scan of `kind`. `open`
/// opens what the scan's engine needs while the process may still be root; `run` runs it
/// unprivileged, feeding `Sinks`.
fn run_scan<E>(
    cfg: &ScanConfig,
    order: ProbeOrder,
    kind: ProbeKind,
    open: impl FnOnce() -> Result<E, ScanError>,
    run: impl FnOnce(E, ProbeOrder, &mut Sinks<'_>) -> Result<engine::EngineReport, ScanError>,
    stop: &AtomicBool,
) -> Result<i32, ScanError> {
    announce(cfg, &order);
    let (mut slot, mut metrics, run_as) = prepare_privilege_drop(cfg, order.len())?;
    let helper = start_hand_off_helper(cfg)?;
    let engine = open()?;
    let info = scan_info(cfg, &order, kind);
    let mut findings = Findings::new(cfg, kind);
    let mut outputs = open_outputs(cfg, &info, &mut findings, &mut slot)?;
    give_up_privileges(run_as.as_deref())?;
    let follow = start_follow(cfg)?;
    let mut sinks = Sinks::new(&mut outputs, &mut slot, findings);
    sinks.follow = follow;
    let outcome = run(engine, order, &mut sinks);
    let outcome = finish_follow(sinks.follow.take(), &mut sinks, outcome, stop);
    let open = sinks.findings.open.take();
    let watch = sinks.findings.watch.take();
    let code = finish(
        cfg,
        &mut slot,
        outcome,
        &mut outputs,
        watch,
        metrics.as_mut(),
    )?;
    hand_off(cfg, code, open, helper)
}

/// A scan of raw probes of `kind` (a SYN scan unless told).
fn raw_scan(
    cfg: &ScanConfig,
    order: ProbeOrder,
    kind: ProbeKind,
    stop: &AtomicBool,
) -> Result<i32, ScanError> {
    if !crate::sys::caps::has_net_raw() {
        return Err(error::missing_net_raw());
    }
    let run = |e: SynEngine, order: ProbeOrder, sinks: &mut Sinks<'_>| {
        let SynEngine {
            crafter,
            pacer,
            mut transmits,
            mut capture,
            interface_drops,
        } = e;
        let params = engine::EngineParams {
            order,
            start: cfg.start,
            crafter,
            pacer,
            table: new_table(cfg),
            wait: cfg.wait,
            progress: progress::ProgressStyle::choose(
                cfg.stats_every,
                std::io::stderr().is_terminal(),
            ),
            checkpoint_every: engine::CHECKPOINT_EVERY,
            interface_drops,
        };
        engine::run(
            params,
            transmits
                .iter_mut()
                .map(|t| -> &mut dyn net::Transmit { t.as_mut() })
                .collect(),
            capture.as_mut(),
            sinks,
            stop,
        )
        // The engine's failures are the network's or the system's, at run time.
        .map_err(ScanError::runtime)
    };
    run_scan(cfg, order, kind, || SynEngine::open(cfg, kind), run, stop)
}

/// What a SYN scan opens before the privileges go: the keyed crafter, the pacer, the
/// transmits (one per sender thread), the capture and the interface's drop counter.
struct SynEngine {
    crafter: ProbeCrafter,
    pacer: Pacer,
    transmits: Vec<Box<dyn net::Transmit>>,
    capture: Box<dyn net::Capture>,
    interface_drops: Option<net::InterfaceDrops>,
}

impl SynEngine {
    /// Finds the next hops, resolves their MAC addresses, opens the capture (with the
    /// `kind`'s branch of the filter) and the transmits and keys the crafter of `kind`.
    fn open(cfg: &ScanConfig, kind: ProbeKind) -> Result<SynEngine, ScanError> {
        warn_of_foreign_sources(cfg);
        let hops = NextHops::find(cfg)?;
        let route = hops.link();
        let source_ports = match cfg.source_ports {
            Some(p) => {
                if let Some(w) = crate::probe::kernel_ports::KernelPorts::read()
                    .and_then(|k| p.ephemeral_overlap_warning(&k))
                {
                    eprintln!("synscan: warning: {w}");
                }
                p
            }
            None => SourcePorts::system_default(),
        };
        let raw = match (cfg.send_path, route.is_loopback) {
            (Some(SendPathChoice::RawIp), _) | (None, true) => true,
            (Some(SendPathChoice::Packet), true) => {
                return Err(ScanError::usage(
                    "--send-path packet does not work on loopback: use --send-path raw",
                ))
            }
            (_, false) => false,
        };
        // Each family's next hop (the IPv4 and IPv6 routers may be different boxes).
        let wait_mac = Duration::from_secs(3);
        let (mut mac4, mut mac6) = ([0u8; 6], [0u8; 6]);
        if !raw {
            if let Some(r) = &hops.v4 {
                mac4 = match cfg.router_mac {
                    Some(mac) => mac,
                    None => net::resolve_next_hop_mac(r, wait_mac)?,
                };
            }
            if let Some(r) = &hops.v6 {
                mac6 = match cfg.router_mac {
                    Some(mac) => mac,
                    None => net::resolve_next_hop_mac_v6(r, wait_mac)?,
                };
            }
        }
        let path = if raw {
            SendPath::RawIp
        } else {
            SendPath::Packet { dst_mac: mac4 }
        };
        let local6 = hops.v6.as_ref().map(|r| r.source_ip);
        let filter = CaptureFilter {
            local_ip: hops.v4.as_ref().map(|r| r.source_ip),
            local_ip6: local6,
            first_port: source_ports.first,
            last_port: source_ports.last(),
            protocol: kind.protocol(),
        };
        let capture = net::open_capture(&route, &filter, cfg.capture_buffer)?;
        let pacer = Pacer::new(cfg.rate, std::time::Instant::now());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut transmits = Vec::new();
        for _ in 0..pacer.sender_threads(cores) {
            transmits.push(net::open_transmit_for(
                &route,
                path,
                hops.v4.is_some(),
                hops.v6.is_some(),
            )?);
        }
        let link = transmits[0].link();
        // The cookie key mixes fresh randomness with the seed: knowing the seed printed on the
        // terminal must not let anyone forge replies.
        let mut crafter = ProbeCrafter::new(ProbeParams {
            link,
            src_mac: route.source_mac,
            dst_mac: mac4,
            src_ip: hops
                .v4
                .as_ref()
                .map_or(std::net::Ipv4Addr::UNSPECIFIED, |r| r.source_ip),
            source_ports,
            key: [cfg.seed ^ rand::random::<u64>(), rand::random::<u64>()],
        })
        .with_kind(kind);
        if let Some(src_ip) = local6 {
            crafter = crafter.with_ipv6(crate::probe::Ipv6Source {
                src_ip,
                dst_mac: mac6,
            });
        }
        if hops.v4.is_none() {
            crafter = crafter.without_ipv4();
        }
        Ok(SynEngine {
            crafter,
            pacer,
            transmits,
            capture,
            interface_drops: net::InterfaceDrops::open(&route.iface),
        })
    }
}

/// One warning line for each --source-ip this machine does not own: the targets answer
/// that address, and unless the network routes it back here, or the scanner itself
/// answers ARP and neighbour solicitation for it, no reply arrives and every port looks
/// filtered.
fn warn_of_foreign_sources(cfg: &ScanConfig) {
    for s in &cfg.source_ip {
        if net::is_local_address(s.ip) || scanner_answers_neighbour_discovery_for(s.ip) {
            continue;
        }
        eprintln!(
            "synscan: warning: --source-ip {s} is not an address of this machine: replies to it come back only if the network routes them here (add it to an interface, e.g. `ip addr add {}/{} dev IFACE`, or drop --source-ip)",
            s.ip,
            if s.ip.is_ipv4() { 32 } else { 128 }
        );
    }
}

/// Whether the scanner itself answers ARP (IPv4) and neighbour solicitation (IPv6) for
/// `ip`, so that the replies to a source address no interface carries still reach the
/// capture. Not yet: the scanner answers for no address. The hook for scanning from a
/// range of source addresses of its own (the UDP work), which makes this true for them.
fn scanner_answers_neighbour_discovery_for(_ip: std::net::IpAddr) -> bool {
    false
}

/// Where a SYN scan's probes leave: the kernel's route to the first target of each family
/// the targets hold (-e and --source-ip override its choices), on one interface.
struct NextHops {
    v4: Option<net::Route>,
    v6: Option<net::Route<std::net::Ipv6Addr>>,
}

impl NextHops {
    fn find(cfg: &ScanConfig) -> Result<NextHops, ScanError> {
        let iface = cfg.interface.as_deref();
        let v4 = match cfg.targets.v4.nth(0) {
            Some(first) => Some(net::route_to(first, iface, cfg.source_ipv4())?),
            None => None,
        };
        let v6 = match cfg.targets.v6.nth(0) {
            Some(first) => {
                let source = cfg.source_ipv6();
                // A link-local source names its interface; -e wins (config checked they agree).
                let zone = iface.or(source.and_then(|s| s.zone.as_deref()));
                let ip = source.and_then(|s| match s.ip {
                    std::net::IpAddr::V6(a) => Some(a),
                    std::net::IpAddr::V4(_) => None,
                });
                Some(net::route_to_v6(first, zone, ip)?)
            }
            None => None,
        };
        if let (Some(a), Some(b)) = (&v4, &v6) {
            if a.ifindex != b.ifindex {
                return Err(ScanError::usage(format!(
                    "the IPv4 targets are routed through {} and the IPv6 targets through {}: one scan sends on one interface; pick it with -e, or scan each family in its own run",
                    a.iface, b.iface
                )));
            }
        }
        if v4.is_none() && v6.is_none() {
            return Err(ScanError::usage("no targets to scan"));
        }
        Ok(NextHops { v4, v6 })
    }

    /// The interface both families share, as a route without addresses.
    fn link(&self) -> net::Route<()> {
        let strip = |iface: &str, ifindex, source_mac, is_loopback| net::Route {
            iface: iface.to_string(),
            ifindex,
            source_ip: (),
            source_mac,
            next_hop: (),
            is_loopback,
        };
        match (&self.v4, &self.v6) {
            (Some(r), _) => strip(&r.iface, r.ifindex, r.source_mac, r.is_loopback),
            (None, Some(r)) => strip(&r.iface, r.ifindex, r.source_mac, r.is_loopback),
            (None, None) => strip("", 0, [0; 6], false),
        }
    }
}

/// Opens the outputs (on resume: cut back to the checkpoint, grouped ones rewritten with
/// the journal replayed) and the journal, while the process may still be root; the slot
/// learns which files the outputs are. Everything that can refuse the run (the journal
/// read whole, every output checked) does so before any output is truncated or cut.
fn open_outputs(
    cfg: &ScanConfig,
    info: &ScanInfo,
    findings: &mut Findings,
    slot: &mut resume::ResumeSlot,
) -> Result<Outputs, ScanError> {
    let mut claims = cfg.inputs.clone();
    claims.later(
        &cfg.resume_file,
        format!("--resume-file {}", cfg.resume_file.display()),
    );
    let journal_path = crate::sys::fs::with_suffix(&cfg.resume_file, resume::JOURNAL_SUFFIX);
    if keeps_journal(cfg) {
        claims.later(
            &journal_path,
            format!("the resume journal {}", journal_path.display()),
        );
    }
    if let Some(m) = &cfg.watch.metrics_file {
        claims.later(m, format!("--metrics-file {}", m.display()));
    }
    let journal = match keeps_journal(cfg) {
        true => Some(JournalFile::prepare(cfg, &journal_path)?),
        false => None,
    };
    let mut outputs = match Outputs::open(&cfg.outputs, &cfg.output_options, info, &mut claims) {
        Ok(o) => o,
        Err(e) => {
            if let Some(j) = journal {
                j.abandon();
            }
            return Err(e.into());
        }
    };
    slot.bind_files(outputs.file_ids());
    outputs.set_hostnames(cfg.hostnames.iter().cloned());
    let Some(journal) = journal else {
        return Ok(outputs);
    };
    let cannot = |e: std::io::Error| {
        ScanError::usage(format!(
            "cannot create the resume journal {}: {e}",
            journal_path.display()
        ))
    };
    let journal = match journal {
        JournalFile::Continued(file, length) => {
            crate::output::journal::Journal::resume(file, length, |entry| {
                outputs.replay(entry);
                findings.replay(entry);
            })?
        }
        JournalFile::Created(_, file) => {
            crate::output::journal::Journal::create(file).map_err(cannot)?
        }
        JournalFile::Stale(place) => place
            .create_private()
            .and_then(crate::output::journal::Journal::create)
            .map_err(cannot)?,
    };
    outputs.attach_journal(journal);
    Ok(outputs)
}

/// The journal's file, made ready before the outputs are opened.
enum JournalFile {
    /// A resumed run's journal, read whole and found sound; its length at the checkpoint.
    Continued(std::fs::File, u64),
    /// Created by this run (removed again if the run gives up before it starts).
    Created(crate::sys::fs::DirFile, std::fs::File),
    /// An old journal of the user's without a scan to resume: replaced once the outputs
    /// are open.
    Stale(crate::sys::fs::DirFile),
}

impl JournalFile {
    /// Opens (resume: and checks) or creates the journal at `path`, changing no file that
    /// exists.
    fn prepare(cfg: &ScanConfig, path: &std::path::Path) -> Result<JournalFile, ScanError> {
        let place = crate::sys::fs::DirFile::new(path).map_err(|e| {
            ScanError::usage(format!(
                "cannot use {} for the resume journal: {e}",
                path.display()
            ))
        })?;
        if let Some(length) = cfg.resumed.as_ref().and_then(|s| s.journal) {
            let mut file = place.open_trusted().map_err(|e| {
                ScanError::usage(format!(
                    "cannot use the resume journal {}: {e}",
                    path.display()
                ))
            })?;
            crate::output::journal::Journal::check(&mut file, length)?;
            return Ok(JournalFile::Continued(file, length));
        }
        match place.create_private_new() {
            Ok(Some(file)) => Ok(JournalFile::Created(place, file)),
            Ok(None) => Ok(JournalFile::Stale(place)),
            Err(e) => Err(ScanError::usage(format!(
                "cannot create the resume journal {}: {e}",
                path.display()
            ))),
        }
    }

    /// The run gives up before it starts: a journal it created goes.
    fn abandon(self) {
        if let JournalFile::Created(place, file) = self {
            drop(file);
            let _ = place.remove();
        }
    }
}

/// What a resumed run must know of the results before the interruption needs a journal:
/// grouped formats written to a file (rewritten whole), the --baseline/--policy/--expect/
/// --metrics-file checks and the --nmap hand-off (both judge the whole scan).
fn keeps_journal(cfg: &ScanConfig) -> bool {
    cfg.outputs
        .iter()
        .any(|s| s.format.grouped() && s.path != "-")
        || !cfg.watch.is_empty()
        || cfg.nmap.is_some()
}

/// What the scan keeps of its results beyond the outputs: the open ports for an nmap
/// hand-off, and the state the watch checks need.
struct Findings {
    open: Option<handoff::OpenPorts>,
    /// --baseline/--policy/--expect/--metrics-file checks (None without those flags).
    watch: Option<crate::watch::scan::Watch>,
    /// The scan's probe kind: what the journal's silent probes decided.
    kind: ProbeKind,
}

impl Findings {
    fn new(cfg: &ScanConfig, kind: ProbeKind) -> Findings {
        Findings {
            open: cfg.nmap.as_ref().map(|_| handoff::OpenPorts::new()),
            watch: (!cfg.watch.is_empty()).then(|| crate::watch::scan::Watch::new(&cfg.watch)),
            kind,
        }
    }

    /// Takes one decided result (of this run, or replayed from the journal on resume);
    /// true when a check needs this very result again after a resume (the journal keeps
    /// it whole rather than counting it).
    fn observe(&mut self, r: &crate::model::PortResult) -> bool {
        if let (Some(open), crate::model::PortState::Open) = (self.open.as_mut(), r.state) {
            // The nmap hand-off takes IPv4 hosts only (nmap needs -6 and one family a run).
            if let std::net::IpAddr::V4(ip) = r.ip {
                open.entry(ip).or_default().insert(r.port);
            }
        }
        self.watch.as_mut().is_some_and(|w| w.observe(r))
    }

    /// Takes what an earlier run journaled.
    fn replay(&mut self, entry: crate::output::journal::Entry) {
        match entry {
            crate::output::journal::Entry::Result(r) => {
                self.observe(&r);
            }
            crate::output::journal::Entry::Silent(n) => {
                if let Some(w) = self.watch.as_mut() {
                    w.observe_silent(n, self.kind);
                }
            }
        }
    }
}

/// The outputs, the resume file checkpoints go to, plus the open ports kept for an nmap
/// hand-off when one is asked for, and the follow-up stage (-sV) open ports go to.
struct Sinks<'a> {
    outputs: &'a mut Outputs,
    slot: &'a mut resume::ResumeSlot,
    findings: Findings,
    warned: bool,
    follow: Option<crate::follow::stage::Stage>,
    /// The port stage's smoothed round-trip time, once measured: the follow-up's waits.
    srtt: Option<Duration>,
}

impl<'a> Sinks<'a> {
    fn new(
        outputs: &'a mut Outputs,
        slot: &'a mut resume::ResumeSlot,
        findings: Findings,
    ) -> Sinks<'a> {
        Sinks {
            outputs,
            slot,
            findings,
            warned: false,
            follow: None,
            srtt: None,
        }
    }
}

impl engine::ResultSink for Sinks<'_> {
    fn record(&mut self, r: &crate::model::PortResult) -> std::io::Result<()> {
        let needed = self.findings.observe(r);
        self.outputs.record_kept(r, needed)?;
        if let Some(stage) = &self.follow {
            if r.state == crate::model::PortState::Open && r.protocol == crate::model::Protocol::Tcp
            {
                stage.submit(r.ip, r.port, self.srtt);
            }
            for v in stage.ready() {
                self.record_version(&v);
            }
        }
        Ok(())
    }

    fn round_trip(&mut self, srtt: Duration) {
        self.srtt = Some(srtt);
    }

    fn checkpoint(&mut self, position: u64) -> std::io::Result<()> {
        let (lengths, journal) = self.outputs.checkpoint()?;
        let cp = resume::Checkpoint {
            position,
            lengths,
            journal,
        };
        if let Err(e) = self.slot.save(&cp) {
            if !self.warned {
                self.warned = true;
                eprintln!(
                    "synscan: cannot write the resume file {} ({e}); if the scan is killed it cannot be resumed",
                    self.slot.path().display()
                );
            }
        }
        Ok(())
    }
}

impl Sinks<'_> {
    /// Writes one follow-up result through the outputs.
    fn record_version(&mut self, v: &crate::follow::FollowResult) {
        let pv = crate::output::follow::port_version(v);
        self.outputs
            .record_version(v.ip, crate::model::Protocol::Tcp, v.port, pv);
    }
}

/// With -sV: reads the probe database (nmap's when installed, saying so and how many of
/// its match lines do not compile; else the built-in table) and starts the follow-up
/// stage. Call once privileges are given up.
fn start_follow(cfg: &ScanConfig) -> Result<Option<crate::follow::stage::Stage>, ScanError> {
    use crate::follow::{FollowConfig, Intensity, ProbeDb};
    let Some(opts) = cfg.follow else {
        return Ok(None);
    };
    let db = match ProbeDb::from_nmap() {
        Some(Ok(db)) => db,
        Some(Err(e)) => {
            eprintln!("synscan: -sV: {e}; using the built-in table");
            crate::follow::builtin::table()
        }
        None => crate::follow::builtin::table(),
    };
    eprintln!(
        "synscan: -sV with {} ({} match lines, {} that do not compile)",
        db.source(),
        db.match_lines(),
        db.failures().len()
    );
    // One descriptor per connection; keep some for outputs and the rest.
    let nofile = crate::sys::sock::raise_nofile_limit().unwrap_or(1024);
    let limit = usize::try_from(nofile.saturating_sub(64)).unwrap_or(usize::MAX);
    let follow = FollowConfig {
        intensity: Intensity::new(opts.intensity).unwrap_or(Intensity::DEFAULT),
        max_connections: opts.max_connections.min(limit.max(16)),
        ..FollowConfig::default()
    };
    crate::follow::stage::Stage::start(db, follow)
        .map(Some)
        .map_err(ScanError::runtime)
}

/// The port stage ended: waits for the follow-up stage's last results and writes them (an
/// interrupted scan abandons the ports still being identified). A follow-up failure is the
/// run's failure once the port stage succeeded.
fn finish_follow(
    follow: Option<crate::follow::stage::Stage>,
    sinks: &mut Sinks<'_>,
    outcome: Result<engine::EngineReport, ScanError>,
    stop: &AtomicBool,
) -> Result<engine::EngineReport, ScanError> {
    let Some(stage) = follow else {
        return outcome;
    };
    let done = stage.finish(stop, |v| sinks.record_version(&v));
    match (outcome, done) {
        (Ok(_), Err(e)) => Err(ScanError::runtime(e)),
        (outcome, _) => outcome,
    }
}

/// Started as root with --nmap: the helper that will run nmap as root once the scan, by
/// then unprivileged, hands it the open ports (see handoff). Call before giving up root.
fn start_hand_off_helper(cfg: &ScanConfig) -> Result<Option<handoff::Helper>, ScanError> {
    match cfg.nmap.as_deref() {
        Some(args) if crate::sys::caps::is_root() => {
            handoff::Helper::start(args, &cfg.targets.v4, &cfg.services.tcp).map(Some)
        }
        _ => Ok(None),
    }
}

/// Runs nmap on the open ports of a completed scan when --nmap asks for it (through the
/// root helper when there is one); a failed hand-off turns a clean exit into a runtime
/// error (the scan's results are written).
fn hand_off(
    cfg: &ScanConfig,
    code: i32,
    open: Option<handoff::OpenPorts>,
    helper: Option<handoff::Helper>,
) -> Result<i32, ScanError> {
    let (Some(args), Some(open)) = (cfg.nmap.as_deref(), open) else {
        return Ok(code);
    };
    // A complete scan whose --baseline/--policy/--expect check failed (1) still hands off.
    if code != error::EXIT_OK && code != error::EXIT_CHECK_FAILED {
        eprintln!("synscan: the scan did not complete; nmap not run");
        return Ok(code);
    }
    if let Some(helper) = helper {
        return helper.finish(Some(&open)).map(|()| code);
    }
    match handoff::run(args, &open)? {
        handoff::Outcome::Ran(status) if !status.success() => {
            Err(ScanError::runtime(format!("nmap exited with {status}")))
        }
        _ => Ok(code),
    }
}

/// Resolves the user to switch to (when started as root: --user, else synscan or nobody,
/// see [`run_as`]), checks the metrics file's place and prepares the resume file's
/// checkpoints; when started as root, forks the keepers of the metrics file and of the
/// resume file before any socket is open. Returns the slot, the metrics file and the user
/// to switch to (None: not started as root).
fn prepare_privilege_drop(
    cfg: &ScanConfig,
    probes: u64,
) -> Result<(resume::ResumeSlot, Option<MetricsFile>, Option<String>), ScanError> {
    let user = run_as::resolve(cfg.user.as_deref())?;
    let root = user.is_some();
    // Before the first probe, like every output; written as root when started as root.
    let metrics = cfg
        .watch
        .metrics_file
        .as_deref()
        .map(|p| MetricsFile::open(p, root))
        .transpose()?;
    let mut template = resume::ResumeState::new(
        cfg.seed,
        format!("{}/{}", cfg.shard.index, cfg.shard.count),
        cfg.start,
        probes,
        cfg.options.clone(),
    );
    template.digest = crate::cli::resume::digest(cfg);
    template.outputs = match &cfg.resumed {
        // The interrupted scan's files, named as it named them.
        Some(state) => state.outputs.clone(),
        None => cfg
            .outputs
            .iter()
            .filter(|s| s.path != "-")
            .map(|s| resume::SavedOutput::new(&s.path))
            .collect::<Result<_, _>>()?,
    };
    if template.outputs.len() > resume::MAX_OUTPUTS {
        return Err(ScanError::usage(format!(
            "{} output files: a scan writes at most {} (its resume file keeps the place of each)",
            template.outputs.len(),
            resume::MAX_OUTPUTS
        )));
    }
    template.journal = keeps_journal(cfg).then_some(0);
    let slot = resume::ResumeSlot::new(&cfg.resume_file, template, root, cfg.resumed.is_some())?;
    Ok((slot, metrics, user))
}

/// Sockets and files are open: runs as `run_as` (started as root) and drops every
/// capability, before any worker thread starts.
fn give_up_privileges(run_as: Option<&str>) -> Result<(), ScanError> {
    if let Some(user) = run_as {
        crate::sys::caps::switch_user(user)
            .map_err(|e| ScanError::runtime(format!("cannot switch to user {user}: {e}")))?;
    }
    crate::sys::caps::drop_all()
        .map_err(|e| ScanError::runtime(format!("cannot drop capabilities: {e}")))
}

fn new_table(cfg: &ScanConfig) -> WindowTable {
    WindowTable::with_policy(
        cfg.retries,
        RttEstimator::new(INITIAL_RTO, MIN_RTO, MAX_RTO),
    )
}

fn connect_scan(cfg: &ScanConfig, order: ProbeOrder, stop: &AtomicBool) -> Result<i32, ScanError> {
    let open = || {
        // One descriptor per connect in flight; keep some for outputs and the rest.
        let nofile = crate::sys::sock::raise_nofile_limit().unwrap_or(1024);
        let max_in_flight = usize::try_from(nofile.saturating_sub(64))
            .unwrap_or(usize::MAX)
            .clamp(16, 16_384);
        let scanner = net::connect::ConnectScanner::new()
            .map_err(|e| ScanError::runtime(format!("cannot create the connect poller: {e}")))?;
        Ok((scanner, max_in_flight))
    };
    let run = |(mut scanner, max_in_flight): (net::connect::ConnectScanner, usize),
               order: ProbeOrder,
               sinks: &mut Sinks<'_>| {
        let params = connect::ConnectParams {
            order,
            start: cfg.start,
            pacer: Pacer::new(cfg.rate, std::time::Instant::now()),
            table: new_table(cfg),
            wait: cfg.wait,
            max_in_flight,
            progress: progress::ProgressStyle::choose(
                cfg.stats_every,
                std::io::stderr().is_terminal(),
            ),
            checkpoint_every: engine::CHECKPOINT_EVERY,
        };
        connect::run(params, &mut scanner, sinks, stop).map_err(ScanError::runtime)
    };
    run_scan(cfg, order, ProbeKind::TcpConnect, open, run, stop)
}

/// Writes the summary, reports the run on stderr and picks the exit code. Results found
/// before a failure are flushed first.
fn finish(
    cfg: &ScanConfig,
    slot: &mut resume::ResumeSlot,
    outcome: Result<engine::EngineReport, ScanError>,
    outputs: &mut Outputs,
    watch: Option<crate::watch::scan::Watch>,
    mut metrics: Option<&mut MetricsFile>,
) -> Result<i32, ScanError> {
    let (report, failure) = match outcome {
        Ok(r) => (r, None),
        Err(e) => (engine::EngineReport::default(), Some(e)),
    };
    let summary = ScanSummary {
        end: Some(SystemTime::now()),
        elapsed: report.elapsed,
        stats: report.stats,
        interrupted: !report.complete,
    };
    let verdict = watch.as_ref().map(|w| w.conclude());
    if let (Some(w), Some(v)) = (&watch, &verdict) {
        let lines = w.json_lines(v, crate::output::epoch_secs(SystemTime::now()));
        if let Err(e) = outputs.extra_json(&lines) {
            eprintln!("synscan: writing the checks' records failed: {e}");
        }
    }
    // Whatever happened, what was found is written out.
    let written = outputs.finish(&summary);
    if let Some(e) = failure {
        return Err(e);
    }
    written.map_err(|e| ScanError::runtime(format!("writing results failed: {e}")))?;
    // The checks print their verdict, write the metrics and may turn 0 into 1.
    let mut checked = |code: i32| match (&watch, &verdict) {
        (Some(w), Some(v)) => w.report(v, &summary, code, metrics.take()),
        _ => code,
    };
    report_loss(&summary);
    let stats = &report.stats;
    if let (true, Some(pps)) = (report.adaptive_rate, stats.settled_pps) {
        let judged = match stats.rate_signal {
            Some(RateSignal::Pilots) => {
                "by pilot probes (re-probes of pairs that answered: the sweep drew too few answers)"
            }
            Some(RateSignal::LocalDrops) => {
                "by this machine's own drops only (too little answered to judge the path by)"
            }
            _ => "by the share of probes answered on their first try",
        };
        eprintln!("synscan: the adaptive rate settled at {pps} pps, judged {judged}");
    }
    eprintln!(
        "synscan: sent {} packets in {:.2} s ({:.0} pps), {} replies, {} frames failed the cookie, {} capture drops",
        stats.packets_sent,
        report.elapsed.as_secs_f64(),
        stats.packets_sent as f64 / report.elapsed.as_secs_f64().max(1e-9),
        stats.replies,
        stats.not_ours,
        stats.capture_drops
    );
    if report.complete {
        // The rest is done: an old resume file would only invite a second run.
        slot.complete(cfg.resumed_from.is_some());
        return Ok(checked(error::EXIT_OK));
    }
    // Lengths with the trailers: a resumed run keeps this run's summary lines.
    let (lengths, journal) = outputs
        .checkpoint()
        .map_err(|e| ScanError::runtime(format!("writing results failed: {e}")))?;
    let cp = resume::Checkpoint {
        position: report.next_position,
        lengths,
        journal,
    };
    let state = slot.state(&cp);
    match slot.save(&cp) {
        Ok(()) => eprintln!(
            "synscan: interrupted after {} of {} probes; finish with: synscan --resume {}",
            report.next_position,
            report.probes,
            slot.path().display()
        ),
        Err(e) => eprintln!(
            "synscan: interrupted after {} of {} probes, but writing {} failed ({e}); save this as a resume file:\n{}",
            report.next_position,
            report.probes,
            slot.path().display(),
            state.to_text()
        ),
    }
    Ok(checked(error::EXIT_INTERRUPTED))
}

/// Says so when the capture dropped replies or a notable share of answers needed a
/// retry: the path or this machine is losing probes.
fn report_loss(summary: &ScanSummary) {
    if summary.stats.capture_drops > 0 {
        eprintln!(
            "synscan: warning: the kernel dropped {} captured frames (capture buffer full); ports whose every answer was lost show as filtered: lower --rate or raise --capture-buffer",
            summary.stats.capture_drops
        );
    } else if summary.losing_probes() {
        eprintln!(
            "synscan: {} of {} answers came only on a retry: the network is losing probes; lower --rate",
            summary.stats.replies_only_on_retry, summary.stats.replies
        );
    }
}
