//! Turns parsed flags into a validated ScanConfig; every bad value becomes one usage line.

use super::args::Args;
use crate::error::ScanError;
use crate::net::ScopedIp;
use crate::output::{Format, OutputOptions, OutputSpec};
use crate::probe::{ProbeKind, SourcePorts};
pub use crate::state::RetryPolicy;
use crate::sys::fs::Claims;
use crate::targets::{
    self, NameFamily, PortSet, ProbeSpace, Resolver, ServiceSet, Shard, Spec, TargetSet,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// How many ports are scanned when neither -p nor --top-ports is given.
pub const DEFAULT_TOP_PORTS: usize = 100;
/// Fewest retransmissions when --retries is absent (more when the path loses probes).
pub const DEFAULT_RETRIES: u32 = 1;
/// Most retransmissions the adaptive default grows to (nmap's --max-retries default).
pub const MAX_ADAPTIVE_RETRIES: u32 = 10;

/// Addresses left after excludes above which a scan needs --allow-large (a /8).
pub const LARGE_SCAN_ADDRESSES: u64 = 1 << 24;
/// Where an interrupted scan writes its resume file by default.
pub const DEFAULT_RESUME_FILE: &str = "synscan.resume";

use crate::send::auto_rate::Bounds;
/// Sending speed (the pacer's type: the sender owns what a rate means).
pub use crate::send::pace::Rate;

/// How probes are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanMode {
    /// Raw probes of a kind (SYN half-open by default).
    Raw(ProbeKind),
    /// Kernel connect() scan, no privileges needed.
    Connect,
}

/// Which socket sends SYNs (None: packet socket, or raw IP on loopback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendPathChoice {
    /// AF_PACKET.
    Packet,
    /// Raw IP socket.
    RawIp,
}

/// Everything a scan needs, validated.
#[derive(Clone, Debug)]
pub struct ScanConfig {
    /// Addresses to scan.
    pub targets: TargetSet,
    /// Services to scan: (protocol, port) pairs.
    pub services: ServiceSet,
    /// Seed of the permutation.
    pub seed: u64,
    /// This run's part of the scan.
    pub shard: Shard,
    /// Sending speed.
    pub rate: Rate,
    /// Retransmissions per unanswered probe.
    pub retries: RetryPolicy,
    /// Cap on listening after the last send.
    pub wait: Option<Duration>,
    /// SYN or connect.
    pub mode: ScanMode,
    /// Print probes instead of sending.
    pub dry_run: bool,
    /// -e.
    pub interface: Option<String>,
    /// --source-ip, at most one per family (see [`ScanConfig::source_ipv4`] and
    /// [`ScanConfig::source_ipv6`]).
    pub source_ip: Vec<ScopedIp>,
    /// --source-port.
    pub source_ports: Option<SourcePorts>,
    /// --router-mac.
    pub router_mac: Option<[u8; 6]>,
    /// --send-path.
    pub send_path: Option<SendPathChoice>,
    /// Bytes of kernel buffer for captured frames (--capture-buffer).
    pub capture_buffer: usize,
    /// Requested outputs.
    pub outputs: Vec<OutputSpec>,
    /// What outputs show.
    pub output_options: OutputOptions,
    /// The command line as typed (or as a resume file's options show it), for output
    /// headers.
    pub command_line: String,
    /// The parsed flags with the seed pinned: what a resume file saves and reads back.
    pub options: Args,
    /// First position of the order to send (non-zero when resuming).
    pub start: u64,
    /// Where an interrupted scan writes its resume file.
    pub resume_file: PathBuf,
    /// The resume file this run continues, removed once the scan completes.
    pub resumed_from: Option<PathBuf>,
    /// What that resume file holds (output lengths, journal length).
    pub resumed: Option<super::resume::ResumeState>,
    /// User to switch to when started as root (None: nobody).
    pub user: Option<String>,
    /// Interval of status lines on stderr.
    pub stats_every: Option<Duration>,
    /// Arguments for an nmap run on the open ports found.
    pub nmap: Option<String>,
    /// -sV: the follow-up stage's settings (None without -sV).
    pub follow: Option<FollowOptions>,
    /// Addresses of the hostnames given as targets, with the name.
    pub hostnames: Vec<(IpAddr, String)>,
    /// --baseline, --policy, --expect, --metrics-file (files read and checked).
    pub watch: crate::watch::scan::WatchConfig,
    /// The files read to build this config (-iL, --excludefile, --baseline, --policy):
    /// no output may be one of them.
    pub inputs: Claims,
}

impl ScanConfig {
    /// The IPv4 --source-ip.
    pub fn source_ipv4(&self) -> Option<Ipv4Addr> {
        self.source_ip.iter().find_map(|s| match s.ip {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        })
    }

    /// The IPv6 --source-ip, with its zone when it has one.
    pub fn source_ipv6(&self) -> Option<&ScopedIp> {
        self.source_ip.iter().find(|s| s.ip.is_ipv6())
    }
}

fn usage(msg: String) -> ScanError {
    ScanError::usage(msg)
}

fn parse_u64(flag: &str, value: &str, hint: &str) -> Result<u64, ScanError> {
    value
        .trim()
        .replace('_', "")
        .parse::<u64>()
        .map_err(|_| usage(format!("bad {flag} \"{value}\": {hint}")))
}

fn parse_rate(value: &str) -> Result<Rate, ScanError> {
    let hint = "use packets per second (1 to 100000000, e.g. 10000, 10k, 1.5M), max or auto";
    match value.trim().to_ascii_lowercase().as_str() {
        "max" => Ok(Rate::Max),
        "auto" => Ok(Rate::Auto(Bounds::default())),
        _ => parse_pps("--rate", value, hint).map(Rate::Pps),
    }
}

/// Packets per second: a number with an optional k or M suffix, 1 to 100000000.
fn parse_pps(flag: &str, value: &str, hint: &str) -> Result<u64, ScanError> {
    let v = value.trim().to_ascii_lowercase();
    let (num, mult) = match v.chars().last() {
        Some('k') => (&v[..v.len() - 1], 1_000.0),
        Some('m') => (&v[..v.len() - 1], 1_000_000.0),
        _ => (v.as_str(), 1.0),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| usage(format!("bad {flag} \"{value}\": {hint}")))?;
    let pps = n * mult;
    if !pps.is_finite() || !(1.0..=100_000_000.0).contains(&pps) {
        return Err(usage(format!("bad {flag} \"{value}\": {hint}")));
    }
    Ok(pps.round() as u64)
}

/// The rate from --rate, --min-rate and --max-rate: adaptive within the bounds unless
/// --rate fixes it (the bounds then would do nothing, so they are refused).
fn build_rate(rate: Option<&str>, min: Option<&str>, max: Option<&str>) -> Result<Rate, ScanError> {
    let hint = "use packets per second (1 to 100000000, e.g. 5000, 50k, 1.5M)";
    let mut bounds = Bounds::default();
    // One bound alone moves the other default out of its way.
    if let Some(m) = min {
        bounds.min = parse_pps("--min-rate", m, hint)?;
        bounds.max = bounds.max.max(bounds.min);
    }
    if let Some(m) = max {
        bounds.max = parse_pps("--max-rate", m, hint)?;
        if min.is_none() {
            bounds.min = bounds.min.min(bounds.max);
        }
    }
    if bounds.min > bounds.max {
        return Err(usage(format!(
            "--min-rate {} is above --max-rate {}: give a range whose low end is the lower",
            bounds.min, bounds.max
        )));
    }
    match rate.map(parse_rate).transpose()? {
        None | Some(Rate::Auto(_)) => Ok(Rate::Auto(bounds)),
        Some(fixed) if min.is_some() || max.is_some() => Err(usage(format!(
            "--min-rate and --max-rate bound the adaptive rate; --rate {} fixes it: give one or the other",
            match fixed {
                Rate::Pps(p) => p.to_string(),
                _ => "max".to_string(),
            }
        ))),
        Some(fixed) => Ok(fixed),
    }
}

fn parse_seconds(flag: &str, value: &str) -> Result<Duration, ScanError> {
    let v = value.trim();
    let (num, scale) = if let Some(ms) = v.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = v.strip_suffix('s') {
        (s, 1.0)
    } else {
        (v, 1.0)
    };
    let secs: f64 = num.parse().map_err(|_| {
        usage(format!(
            "bad {flag} \"{value}\": use seconds, e.g. 5 or 0.5"
        ))
    })?;
    let secs = secs * scale;
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(usage(format!(
            "bad {flag} \"{value}\": use seconds from 0 to 86400"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// --stats-every: seconds above zero (0 would print a line on every tick of the loop).
/// What -sV runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowOptions {
    /// nmap's version intensity, 0-9.
    pub intensity: u8,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// -sV and its options (`--version-*`, `--max-connections`); those options without -sV
/// are refused, as they would do nothing.
fn follow_options(args: &Args) -> Result<Option<FollowOptions>, ScanError> {
    let chosen = [
        args.version_intensity.is_some(),
        args.version_light,
        args.version_all,
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if chosen > 1 {
        return Err(usage(
            "give one of --version-intensity, --version-light and --version-all".to_string(),
        ));
    }
    let intensity = match (
        &args.version_intensity,
        args.version_light,
        args.version_all,
    ) {
        (Some(v), _, _) => match v.trim().parse::<u8>() {
            Ok(n) if n <= 9 => n,
            _ => {
                return Err(usage(format!(
                    "bad --version-intensity \"{v}\": use a number from 0 to 9"
                )))
            }
        },
        (None, true, _) => 2,
        (None, _, true) => 9,
        (None, false, false) => 7,
    };
    let max_connections = match &args.max_connections {
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=1_000_000).contains(&n) => n,
            _ => {
                return Err(usage(format!(
                    "bad --max-connections \"{v}\": use a number from 1 to 1000000"
                )))
            }
        },
        None => 512,
    };
    if !args.service_version {
        if chosen > 0 || args.max_connections.is_some() {
            return Err(usage(
                "--version-intensity, --version-light, --version-all and --max-connections set up -sV: add -sV".to_string(),
            ));
        }
        return Ok(None);
    }
    Ok(Some(FollowOptions {
        intensity,
        max_connections,
    }))
}

fn parse_stats_every(value: &str) -> Result<Duration, ScanError> {
    let d = parse_seconds("--stats-every", value)?;
    if d.is_zero() {
        return Err(usage(format!(
            "bad --stats-every \"{value}\": use seconds above 0, e.g. 5 or 0.5"
        )));
    }
    Ok(d)
}

pub(crate) fn parse_source_ports(value: &str) -> Result<SourcePorts, ScanError> {
    let bad = || {
        usage(format!(
            "bad --source-port \"{value}\": use a port (1-65535) or a range like 40000-40999"
        ))
    };
    let (a, b) = match value.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (value.trim(), value.trim()),
    };
    let first: u16 = a.parse().map_err(|_| bad())?;
    let last: u16 = b.parse().map_err(|_| bad())?;
    if first == 0 || last < first {
        return Err(bad());
    }
    Ok(SourcePorts {
        first,
        count: last - first + 1,
    })
}

/// --source-ip: an IPv4 or IPv6 address, a link-local one with its zone (`fe80::1%eth0`).
fn parse_source_ip(value: &str) -> Result<ScopedIp, ScanError> {
    ScopedIp::parse(value).ok_or_else(|| {
        usage(format!(
            "bad --source-ip \"{value}\": use an IPv4 or IPv6 address of this machine (a link-local one with its interface, as in fe80::1%eth0)"
        ))
    })
}

/// At most one --source-ip per family, each for a family the targets hold, and a zone only
/// where -e names the same interface.
fn check_sources(
    sources: Vec<ScopedIp>,
    targets: &targets::TargetSet,
    interface: Option<&str>,
) -> Result<Vec<ScopedIp>, ScanError> {
    for (i, s) in sources.iter().enumerate() {
        let (family, has_targets) = match s.ip {
            std::net::IpAddr::V4(_) => ("IPv4", !targets.v4.is_empty()),
            std::net::IpAddr::V6(_) => ("IPv6", !targets.v6.is_empty()),
        };
        if sources[..i]
            .iter()
            .any(|o| o.ip.is_ipv6() == s.ip.is_ipv6())
        {
            return Err(usage(format!(
                "bad --source-ip \"{s}\": a second {family} source; give --source-ip at most once per family"
            )));
        }
        if !has_targets {
            return Err(usage(format!(
                "bad --source-ip \"{s}\": there is no {family} target to send from it; drop it or add {family} targets"
            )));
        }
        if let (Some(zone), Some(iface)) = (&s.zone, interface) {
            if zone != iface {
                return Err(usage(format!(
                    "bad --source-ip \"{s}\": its zone {zone} is not the -e interface {iface}; name the same interface in both"
                )));
            }
        }
    }
    Ok(sources)
}

fn parse_mac(value: &str) -> Result<[u8; 6], ScanError> {
    let bad = || {
        usage(format!(
            "bad --router-mac \"{value}\": use six hex bytes like 02:00:5e:10:00:01"
        ))
    };
    let parts: Vec<&str> = value.trim().split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(parts) {
        if part.is_empty() || part.len() > 2 {
            return Err(bad());
        }
        *slot = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

/// Smallest and largest --capture-buffer: one page, 1 GiB.
const CAPTURE_BUFFER_RANGE: (u64, u64) = (4096, 1 << 30);

fn parse_capture_buffer(value: &str) -> Result<usize, ScanError> {
    let bad = || {
        usage(format!(
            "bad --capture-buffer \"{value}\": use a size from 4k to 1G, e.g. 8M or 64M"
        ))
    };
    let v = value.trim().to_ascii_lowercase();
    let (num, mult) = match v.chars().last() {
        Some('k') => (&v[..v.len() - 1], 1u64 << 10),
        Some('m') => (&v[..v.len() - 1], 1 << 20),
        Some('g') => (&v[..v.len() - 1], 1 << 30),
        _ => (v.as_str(), 1),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(mult).ok_or_else(bad)?;
    if !(CAPTURE_BUFFER_RANGE.0..=CAPTURE_BUFFER_RANGE.1).contains(&bytes) {
        return Err(bad());
    }
    usize::try_from(bytes).map_err(|_| bad())
}

fn parse_format(value: &str) -> Result<Format, ScanError> {
    Ok(match value.trim().to_ascii_lowercase().as_str() {
        "normal" | "text" => Format::Normal,
        "grepable" => Format::Grepable,
        "xml" => Format::Xml,
        "json" | "ndjson" => Format::Json,
        "list" => Format::List,
        "csv" => Format::Csv,
        _ => {
            return Err(usage(format!(
                "bad --output-format \"{value}\": use normal, grepable, xml, json, list or csv"
            )))
        }
    })
}

fn collect_outputs(args: &Args) -> Result<Vec<OutputSpec>, ScanError> {
    let mut specs = Vec::new();
    let groups: [(&Vec<String>, Format); 5] = [
        (&args.output_normal, Format::Normal),
        (&args.output_grepable, Format::Grepable),
        (&args.output_xml, Format::Xml),
        (&args.output_json, Format::Json),
        (&args.output_list, Format::List),
    ];
    for (paths, format) in groups {
        for path in paths {
            specs.push(OutputSpec {
                format,
                path: path.clone(),
            });
        }
    }
    for base in &args.output_all {
        for (ext, format) in [
            ("nmap", Format::Normal),
            ("gnmap", Format::Grepable),
            ("xml", Format::Xml),
        ] {
            specs.push(OutputSpec {
                format,
                path: format!("{base}.{ext}"),
            });
        }
    }
    match (&args.output_format, &args.output_filename) {
        (Some(fmt), file) => specs.push(OutputSpec {
            format: parse_format(fmt)?,
            path: file.clone().unwrap_or_else(|| "-".to_string()),
        }),
        (None, Some(file)) => {
            return Err(usage(format!(
                "--output-filename \"{file}\" needs --output-format (normal, grepable, xml, json, list or csv)"
            )))
        }
        (None, None) => {}
    }
    crate::output::check_one_stdout(&specs).map_err(|e| usage(e.0))?;
    Ok(specs)
}

fn collect_target_specs(
    args: &Args,
    claims: &mut Claims,
) -> Result<(Vec<Spec>, Vec<Spec>), ScanError> {
    let mut read = |flag: &str, file: &str| -> Result<Vec<Spec>, ScanError> {
        let f = targets::read_spec_file(file, flag)?;
        claims
            .input(f.id, format!("{flag} {file}"))
            .map_err(usage)?;
        Ok(f.specs)
    };
    let mut includes: Vec<Spec> = args
        .targets
        .iter()
        .map(|t| Spec::from(t.as_str()))
        .collect();
    for file in &args.input_list {
        includes.extend(read("-iL", file)?);
    }
    let mut excludes: Vec<Spec> = args
        .exclude
        .iter()
        .flat_map(|e| e.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Spec::from)
        .collect();
    for file in &args.excludefile {
        excludes.extend(read("--excludefile", file)?);
    }
    if includes.is_empty() {
        return Err(usage(
            "no targets given: name addresses, CIDR blocks or ranges, or use -iL FILE (see --help)"
                .to_string(),
        ));
    }
    Ok((includes, excludes))
}

fn select_ports(args: &Args) -> Result<PortSet, ScanError> {
    match (&args.ports, &args.top_ports) {
        (Some(_), Some(_)) => Err(usage(
            "-p and --top-ports both given: use one of them".to_string(),
        )),
        (Some(p), None) => Ok(targets::parse_ports(p)?),
        (None, Some(n)) => {
            let n = parse_u64("--top-ports", n, "use a count like 100")?;
            Ok(targets::top_ports(
                usize::try_from(n).unwrap_or(usize::MAX),
            )?)
        }
        (None, None) => Ok(targets::top_ports(DEFAULT_TOP_PORTS)?),
    }
}

/// The probe kind the flags choose: --syn (-sS, the default), --connect (-sT) or
/// --scan-type (-sA, -sF, ...); one line when they name two.
fn probe_kind(args: &Args) -> Result<ProbeKind, ScanError> {
    if args.connect && args.syn {
        return Err(usage(
            "-sS and -sT both given: choose SYN (-sS, default) or connect (-sT)".to_string(),
        ));
    }
    let named = match args.scan_type.as_deref() {
        None => None,
        Some(name) => Some(ProbeKind::from_nmap_type(name).ok_or_else(|| {
            let names: Vec<&str> = ProbeKind::ALL.iter().map(|k| k.nmap_type()).collect();
            usage(format!(
                "bad --scan-type \"{name}\": use one of {}",
                names.join(", ")
            ))
        })?),
    };
    let flagged = match (args.syn, args.connect) {
        (true, _) => Some(ProbeKind::TcpSyn),
        (_, true) => Some(ProbeKind::TcpConnect),
        _ => None,
    };
    match (flagged, named) {
        (Some(a), Some(b)) if a != b => Err(usage(format!(
            "-s{} and -s{} both given: choose one scan type",
            a.nmap_letter(),
            b.nmap_letter()
        ))),
        (a, b) => Ok(a.or(b).unwrap_or(ProbeKind::TcpSyn)),
    }
}

/// Refuses flags that would do nothing in the chosen mode, one line naming the flag.
fn refuse_idle_flags(args: &Args) -> Result<(), ScanError> {
    if probe_kind(args)? == ProbeKind::TcpConnect {
        // The kernel chooses the interface, source address, source port and next hop of a
        // connect(); these flags only steer the raw SYN path.
        let raw_only = [
            (args.router_mac.is_some(), "--router-mac"),
            (args.send_path.is_some(), "--send-path"),
            (args.source_port.is_some(), "--source-port"),
            (args.interface.is_some(), "-e/--interface"),
            (!args.source_ip.is_empty(), "--source-ip"),
            (args.capture_buffer.is_some(), "--capture-buffer"),
        ];
        if let Some((_, flag)) = raw_only.iter().find(|(given, _)| *given) {
            return Err(usage(format!(
                "--connect does not use {flag}: the kernel picks it for each connection; drop {flag} or scan with SYN (-sS)"
            )));
        }
    }
    if args.dry_run {
        // A dry run prints the probes and sends none: pacing, retries, listening and the
        // user the sending process runs as do not apply.
        let sending_only = [
            (args.rate.is_some(), "--rate"),
            (args.min_rate.is_some(), "--min-rate"),
            (args.max_rate.is_some(), "--max-rate"),
            (args.retries.is_some(), "--retries"),
            (args.wait.is_some(), "--wait"),
            (args.user.is_some(), "--user"),
        ];
        if let Some((_, flag)) = sending_only.iter().find(|(given, _)| *given) {
            return Err(usage(format!(
                "--dry-run sends nothing, so {flag} would do nothing: drop {flag} (or --dry-run)"
            )));
        }
    }
    if let (Some(shard), None) = (&args.shard, &args.seed) {
        if Shard::parse(shard)?.count > 1 {
            return Err(usage(format!(
                "--shard {shard} needs --seed N, the same on every part: without it each part draws its own order and the parts overlap (e.g. --seed {})",
                rand::random::<u32>()
            )));
        }
    }
    Ok(())
}

/// Refuses a --user that keeps root's rights (uid 0) or that does not exist.
pub(crate) fn check_user(user: &str) -> Result<(), ScanError> {
    let (uid, _) = crate::sys::caps::user_ids(user)
        .map_err(|e| usage(format!("bad --user \"{user}\": {e}")))?;
    if uid == 0 {
        return Err(usage(format!(
            "bad --user \"{user}\": it has uid 0, so the scan would keep root's rights after opening its sockets; name an unprivileged user (default: synscan when that system user exists, else nobody)"
        )));
    }
    Ok(())
}

/// The target set of `args` and the names the user typed for its addresses; refuses scans
/// too large to mean (without --allow-large), too large to count, and IPv6 targets where the
/// scan cannot send to them yet.
fn build_targets(
    args: &Args,
    services: &ServiceSet,
    resolve: Resolver,
    claims: &mut Claims,
) -> Result<(TargetSet, Vec<(IpAddr, String)>), ScanError> {
    let (includes, excludes) = collect_target_specs(args, claims)?;
    // Names the user typed label their addresses in the reports (nmap's "user" hostnames).
    let named: std::cell::RefCell<Vec<(IpAddr, String)>> = Default::default();
    let recording = |name: &str| -> Result<Vec<IpAddr>, String> {
        let ips = resolve(name)?;
        named
            .borrow_mut()
            .extend(ips.iter().map(|ip| (*ip, name.to_string())));
        Ok(ips)
    };
    let names = if args.ipv6 {
        NameFamily::PreferIpv6
    } else {
        NameFamily::Ipv4
    };
    let targets =
        targets::build_target_set(&includes, &excludes, args.allow_reserved, names, &recording)?;
    let hostnames: Vec<(IpAddr, String)> = named
        .into_inner()
        .into_iter()
        .filter(|(ip, _)| targets.contains(*ip))
        .collect();
    // More than a /8 is rarely meant. Counted after excludes: an exclude list that removes
    // little does not make a huge scan deliberate.
    if targets.len() > u128::from(LARGE_SCAN_ADDRESSES) && !args.allow_large && !args.dry_run {
        let what = if targets.v6.is_empty() {
            "a /8"
        } else {
            "2^24 (an IPv4 /8, an IPv6 /104)"
        };
        return Err(usage(format!(
            "the targets cover {} addresses after excludes, more than {what}: narrow them with --exclude/--excludefile, or pass --allow-large",
            targets.len()
        )));
    }
    if ProbeSpace::count(&targets, services).is_none() {
        return Err(usage(format!(
            "the scan is too large to count: {} addresses x {} ports makes 2^64 probes or more; narrow the targets or the ports",
            targets.len(),
            services.len()
        )));
    }
    Ok((targets, hostnames))
}

/// Validates `args` into a ScanConfig, resolving hostnames through `resolve`;
/// `command_line` is what the output headers show.
pub fn build(args: &Args, command_line: &str, resolve: Resolver) -> Result<ScanConfig, ScanError> {
    refuse_idle_flags(args)?;
    if let Some(iface) = &args.interface {
        crate::net::check_interface(iface)?;
    }
    let services = ServiceSet::tcp(select_ports(args)?);
    let mut inputs = Claims::new();
    let (targets, hostnames) = build_targets(args, &services, resolve, &mut inputs)?;
    let seed = match &args.seed {
        Some(s) => parse_u64(
            "--seed",
            s,
            "use a whole number from 0 to 18446744073709551615",
        )?,
        None => rand::random::<u64>(),
    };
    let shard = match &args.shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::WHOLE,
    };
    let rate = build_rate(
        args.rate.as_deref(),
        args.min_rate.as_deref(),
        args.max_rate.as_deref(),
    )?;
    let retries = match &args.retries {
        Some(r) => {
            let n = parse_u64("--retries", r, "use a count from 0 to 20")?;
            if n > 20 {
                return Err(usage(format!(
                    "bad --retries \"{r}\": use a count from 0 to 20"
                )));
            }
            RetryPolicy::Fixed(n as u32)
        }
        None => RetryPolicy::Adaptive {
            min: DEFAULT_RETRIES,
            max: MAX_ADAPTIVE_RETRIES,
        },
    };
    let wait = args
        .wait
        .as_deref()
        .map(|w| parse_seconds("--wait", w))
        .transpose()?;
    let source_ip = check_sources(
        args.source_ip
            .iter()
            .map(|s| parse_source_ip(s))
            .collect::<Result<Vec<_>, _>>()?,
        &targets,
        args.interface.as_deref(),
    )?;
    let send_path = match args.send_path.as_deref() {
        None => None,
        Some("packet") => Some(SendPathChoice::Packet),
        Some("raw") => Some(SendPathChoice::RawIp),
        Some(other) => {
            return Err(usage(format!(
                "bad --send-path \"{other}\": use packet or raw"
            )))
        }
    };
    let (show_closed, show_filtered) = crate::output::parse_show(&args.show)?;
    if let Some(a) = &args.nmap {
        crate::handoff::check_args(&crate::handoff::split_args(a)?)?;
        // The hand-off's nmap run is IPv4 (nmap scans one family a run, IPv6 with -6):
        // refuse rather than leave IPv6 open ports out of it unsaid.
        if !targets.v6.is_empty() {
            return Err(usage(
                "--nmap hands IPv4 hosts to nmap only: scan the IPv6 targets in a run without --nmap (then run nmap -6 on its open ports)"
                    .to_string(),
            ));
        }
    }
    if let Some(user) = &args.user {
        check_user(user)?;
        if !crate::sys::caps::is_root() {
            return Err(usage(format!(
                "--user {user} only applies to a scan started as root (it switches to that user once its sockets are open); this one already runs as you: drop --user"
            )));
        }
    }
    let watch = crate::watch::scan::WatchConfig::build(
        args.baseline.as_deref(),
        args.policy.as_deref(),
        args.expect.as_deref(),
        args.metrics_file.as_deref(),
        &mut inputs,
    )?;
    Ok(ScanConfig {
        targets,
        services,
        seed,
        shard,
        rate,
        retries,
        wait,
        mode: match probe_kind(args)? {
            ProbeKind::TcpConnect => ScanMode::Connect,
            kind => ScanMode::Raw(kind),
        },
        dry_run: args.dry_run,
        interface: args.interface.clone(),
        source_ip,
        source_ports: args
            .source_port
            .as_deref()
            .map(parse_source_ports)
            .transpose()?,
        router_mac: args.router_mac.as_deref().map(parse_mac).transpose()?,
        send_path,
        capture_buffer: args
            .capture_buffer
            .as_deref()
            .map(parse_capture_buffer)
            .transpose()?
            .unwrap_or(crate::net::DEFAULT_RING_BYTES),
        outputs: collect_outputs(args)?,
        output_options: OutputOptions {
            show_closed,
            show_filtered,
            open_only: args.open,
            reason: args.reason,
            verbose: args.verbose > 0,
            append: false,
            continued: Vec::new(),
            services_file: args.services_file.as_ref().map(PathBuf::from),
            policy: watch.policy(),
        },
        command_line: command_line.to_string(),
        options: Args {
            // A resumed run must draw the same order.
            seed: Some(seed.to_string()),
            ..args.clone()
        },
        start: 0,
        resume_file: PathBuf::from(args.resume_file.as_deref().unwrap_or(DEFAULT_RESUME_FILE)),
        resumed_from: None,
        resumed: None,
        user: args.user.clone(),
        stats_every: args
            .stats_every
            .as_deref()
            .map(parse_stats_every)
            .transpose()?,
        nmap: args.nmap.clone(),
        follow: follow_options(args)?,
        hostnames,
        watch,
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10000").ok(), Some(Rate::Pps(10_000)));
        assert_eq!(parse_rate("10k").ok(), Some(Rate::Pps(10_000)));
        assert_eq!(parse_rate("1.5M").ok(), Some(Rate::Pps(1_500_000)));
        assert_eq!(parse_rate("max").ok(), Some(Rate::Max));
        let auto = |min, max| Some(Rate::Auto(Bounds { min, max }));
        let d = Bounds::default();
        assert_eq!(parse_rate("auto").ok(), auto(d.min, d.max));
        assert_eq!(build_rate(None, None, None).ok(), auto(d.min, d.max));
        assert_eq!(
            build_rate(Some("auto"), None, None).ok(),
            auto(d.min, d.max)
        );
        assert_eq!(
            build_rate(None, Some("50k"), Some("2M")).ok(),
            auto(50_000, 2_000_000)
        );
        assert_eq!(build_rate(None, None, Some("500")).ok(), auto(500, 500));
        assert_eq!(
            build_rate(None, Some("20M"), None).ok(),
            auto(20_000_000, 20_000_000)
        );
        assert_eq!(
            build_rate(Some("7k"), None, None).ok(),
            Some(Rate::Pps(7000))
        );
        for (rate, min, max, flag) in [
            (
                Some("7k"),
                Some("1k"),
                None,
                "--min-rate and --max-rate bound",
            ),
            (
                Some("max"),
                None,
                Some("1M"),
                "--min-rate and --max-rate bound",
            ),
            (None, Some("2M"), Some("1M"), "--min-rate 2000000 is above"),
            (None, Some("0"), None, "bad --min-rate \"0\""),
            (None, None, Some("fast"), "bad --max-rate \"fast\""),
        ] {
            let err = build_rate(rate, min, max)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.starts_with(flag), "{rate:?} {min:?} {max:?}: {err}");
        }
        for bad in ["0", "-5", "abc", "", "1e12", "NaN"] {
            let err = parse_rate(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.starts_with(&format!("bad --rate \"{bad}\"")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(
            parse_seconds("--wait", "2").ok(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_seconds("--wait", "250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert!(parse_seconds("--wait", "-1").is_err());
        assert!(parse_seconds("--wait", "x").is_err());
    }

    #[test]
    fn source_ports_and_macs() {
        assert_eq!(
            parse_source_ports("40000-40009").ok(),
            Some(SourcePorts {
                first: 40000,
                count: 10
            })
        );
        assert_eq!(
            parse_source_ports("5555").ok(),
            Some(SourcePorts {
                first: 5555,
                count: 1
            })
        );
        assert!(parse_source_ports("0").is_err());
        assert!(parse_source_ports("9-8").is_err());
        assert!(parse_source_ports("70000").is_err());
        assert_eq!(
            parse_mac("02:00:5e:10:00:0a").ok(),
            Some([2, 0, 0x5e, 0x10, 0, 0x0a])
        );
        assert!(parse_mac("02:00:5e:10:00").is_err());
        assert!(parse_mac("02:00:5e:10:00:zz").is_err());
    }

    #[test]
    fn source_ips_of_both_families_and_zones() {
        let ok = |s: &str| {
            parse_source_ip(s)
                .map(|x| x.to_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(ok("198.18.0.1"), Ok("198.18.0.1".into()));
        assert_eq!(ok(" 2001:2:0:18::1 "), Ok("2001:2:0:18::1".into()));
        assert_eq!(
            parse_source_ip("fe80::1%veth0").ok(),
            Some(ScopedIp {
                ip: "fe80::1".parse().unwrap(),
                zone: Some("veth0".into())
            })
        );
        for bad in [
            "x",
            "198.18.0.1%eth0",
            "fe80::1%",
            "fe80::1%a/b",
            "fe80::1%0123456789abcdef",
        ] {
            assert_eq!(
                ok(bad),
                Err(format!("bad --source-ip \"{bad}\": use an IPv4 or IPv6 address of this machine (a link-local one with its interface, as in fe80::1%eth0)"))
            );
        }
        // One source per family, each for a family the targets hold, a zone matching -e.
        let v4: Ipv4Addr = "198.19.0.1".parse().unwrap();
        let v6: std::net::Ipv6Addr = "2001:2:0:19::1".parse().unwrap();
        let set = |four: bool, six: bool| {
            targets::TargetSet::from_sets(
                targets::Ipv4Set::from_ranges(four.then_some((v4, v4))),
                targets::Ipv6Set::from_ranges(six.then_some((v6, v6))),
            )
        };
        let check = |sources: &[&str], four, six, iface: Option<&str>| {
            let parsed = sources
                .iter()
                .map(|s| ScopedIp::parse(s).unwrap())
                .collect();
            check_sources(parsed, &set(four, six), iface).map_err(|e| e.to_string())
        };
        assert_eq!(
            check(&["fe80::1%veth0"], true, false, None),
            Err("bad --source-ip \"fe80::1%veth0\": there is no IPv6 target to send from it; drop it or add IPv6 targets".into())
        );
        assert_eq!(
            check(&["198.18.0.1"], false, true, None),
            Err("bad --source-ip \"198.18.0.1\": there is no IPv4 target to send from it; drop it or add IPv4 targets".into())
        );
        assert_eq!(
            check(&["2001:2:0:18::1", "2001:2:0:18::3"], true, true, None),
            Err("bad --source-ip \"2001:2:0:18::3\": a second IPv6 source; give --source-ip at most once per family".into())
        );
        assert_eq!(
            check(&["198.18.0.1", "198.18.0.3"], true, true, None),
            Err("bad --source-ip \"198.18.0.3\": a second IPv4 source; give --source-ip at most once per family".into())
        );
        assert_eq!(
            check(&["fe80::1%veth9"], false, true, Some("lo")),
            Err("bad --source-ip \"fe80::1%veth9\": its zone veth9 is not the -e interface lo; name the same interface in both".into())
        );
        assert!(check(&["fe80::1%lo"], false, true, Some("lo")).is_ok());
        assert!(check(&["fe80::1%lo"], false, true, None).is_ok());
        let both = check(&["2001:2:0:18::1", "198.18.0.1"], true, true, None).unwrap();
        let cfg = ScanConfig {
            source_ip: both,
            ..build(&target_args(&["198.19.0.1"]), "synscan", &no_dns).unwrap()
        };
        assert_eq!(cfg.source_ipv4(), Some(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(
            cfg.source_ipv6().map(|s| s.ip),
            Some("2001:2:0:18::1".parse().unwrap())
        );
        // Resume files saved --source-ip as one string before it could repeat.
        let old: Args = serde_json::from_str(r#"{"source_ip": "198.18.0.1"}"#).unwrap();
        let new: Args = serde_json::from_str(r#"{"source_ip": ["198.18.0.1", "::1"]}"#).unwrap();
        assert_eq!(
            (old.source_ip, new.source_ip.len()),
            (vec!["198.18.0.1".to_string()], 2)
        );
        // Through the flags: an IPv6 source with IPv4 targets only is refused.
        let args = Args {
            source_ip: vec!["fe80::1%veth0".into()],
            ..target_args(&["198.19.0.1"])
        };
        assert_eq!(
            build_err(&args),
            "bad --source-ip \"fe80::1%veth0\": there is no IPv6 target to send from it; drop it or add IPv6 targets"
        );
        let v4 = Args {
            source_ip: vec!["198.18.0.1".into()],
            ..target_args(&["198.19.0.1"])
        };
        let cfg = build(&v4, "synscan", &no_dns).unwrap();
        assert_eq!(cfg.source_ipv6(), None);
        assert_eq!(cfg.source_ipv4(), Some(Ipv4Addr::new(198, 18, 0, 1)));
    }

    #[test]
    fn capture_buffer_sizes() {
        assert_eq!(parse_capture_buffer("8M").ok(), Some(8 << 20));
        assert_eq!(parse_capture_buffer("4k").ok(), Some(4096));
        assert_eq!(parse_capture_buffer("1G").ok(), Some(1 << 30));
        assert_eq!(parse_capture_buffer("65536").ok(), Some(65536));
        for bad in ["0", "1k", "2G", "x", "", "99999999999999999999k"] {
            let err = parse_capture_buffer(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.starts_with(&format!("bad --capture-buffer \"{bad}\"")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn show_states() {
        assert_eq!(
            crate::output::parse_show(&["closed,filtered".into()]).ok(),
            Some((true, true))
        );
        assert_eq!(
            crate::output::parse_show(&["filtered".into()]).ok(),
            Some((false, true))
        );
        assert!(crate::output::parse_show(&["weird".into()]).is_err());
    }

    #[test]
    fn outputs_expand_all_and_refuse_two_stdouts() {
        let args = Args {
            output_all: vec!["scan".into()],
            output_list: vec!["-".into()],
            ..Args::default()
        };
        let specs = collect_outputs(&args).unwrap_or_default();
        let paths: Vec<&str> = specs.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, vec!["-", "scan.nmap", "scan.gnmap", "scan.xml"]);
        let two = Args {
            output_list: vec!["-".into()],
            output_json: vec!["-".into()],
            ..Args::default()
        };
        assert!(collect_outputs(&two).is_err());
    }

    fn no_dns(name: &str) -> Result<Vec<IpAddr>, String> {
        Err(format!("no DNS in tests ({name})"))
    }

    fn target_args(targets: &[&str]) -> Args {
        Args {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ports: Some("80".into()),
            ..Args::default()
        }
    }

    fn build_err(args: &Args) -> String {
        match build(args, "synscan", &no_dns) {
            Ok(_) => "accepted".to_string(),
            Err(e) => {
                assert_eq!(e.exit_code(), crate::error::EXIT_USAGE, "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn the_scan_type_is_one_probe_kind() {
        let with = |syn: bool, connect: bool, scan_type: Option<&str>| Args {
            syn,
            connect,
            scan_type: scan_type.map(str::to_string),
            ..target_args(&["198.19.0.1"])
        };
        let mode = |a: Args| build(&a, "synscan", &no_dns).map(|c| c.mode);
        assert_eq!(
            mode(with(false, false, None)),
            Ok(ScanMode::Raw(ProbeKind::TcpSyn))
        );
        assert_eq!(
            mode(with(true, false, Some("syn"))),
            Ok(ScanMode::Raw(ProbeKind::TcpSyn))
        );
        assert_eq!(
            mode(with(false, false, Some("ack"))),
            Ok(ScanMode::Raw(ProbeKind::TcpAck))
        );
        assert_eq!(mode(with(false, true, None)), Ok(ScanMode::Connect));
        assert_eq!(
            mode(with(false, false, Some("connect"))),
            Ok(ScanMode::Connect)
        );
        for (args, line) in [
            (
                with(true, true, None),
                "-sS and -sT both given: choose SYN (-sS, default) or connect (-sT)",
            ),
            (
                with(true, false, Some("ack")),
                "-sS and -sA both given: choose one scan type",
            ),
            (
                with(false, true, Some("ack")),
                "-sT and -sA both given: choose one scan type",
            ),
            (
                with(false, false, Some("maimon")),
                "bad --scan-type \"maimon\": use one of syn, connect, ack, fin, null, xmas",
            ),
        ] {
            assert_eq!(build_err(&args), line);
        }
        // --scan-type connect is --connect: the raw-only flags are refused the same way.
        let idle = Args {
            source_port: Some("40000".into()),
            ..with(false, false, Some("connect"))
        };
        assert!(build_err(&idle).starts_with("--connect does not use --source-port"));
    }

    #[test]
    fn a_uid_0_user_is_refused() {
        let e = check_user("root").unwrap_err().to_string();
        assert_eq!(
            e,
            "bad --user \"root\": it has uid 0, so the scan would keep root's rights after opening its sockets; name an unprivileged user (default: synscan when that system user exists, else nobody)"
        );
        assert_eq!(check_user("nobody"), Ok(()));
        let args = Args {
            user: Some("root".into()),
            ..target_args(&["198.19.0.1"])
        };
        assert!(build_err(&args).starts_with("bad --user \"root\": it has uid 0"));
    }

    #[test]
    fn the_large_scan_guard_counts_what_excludes_leave() {
        // An exclude that removes nothing used to switch the guard off.
        let args = Args {
            exclude: vec!["198.19.0.1".into()],
            ..target_args(&["16.0.0.0/7"])
        };
        assert_eq!(
            build_err(&args),
            "the targets cover 33554432 addresses after excludes, more than a /8: narrow them with --exclude/--excludefile, or pass --allow-large"
        );
        // Excluding half leaves exactly a /8: allowed.
        let args = Args {
            exclude: vec!["17.0.0.0/8".into()],
            ..target_args(&["16.0.0.0/7"])
        };
        assert_eq!(build_err(&args), "accepted");
        let args = Args {
            allow_large: true,
            ..target_args(&["16.0.0.0/7"])
        };
        assert_eq!(build_err(&args), "accepted");
    }

    #[test]
    fn the_large_scan_guard_counts_ipv6_too() {
        let args = |targets: &[&str], exclude: &[&str], allow_large| Args {
            exclude: exclude.iter().map(|e| e.to_string()).collect(),
            allow_large,
            dry_run: true,
            ..target_args(targets)
        };
        // A dry run lists any size, as for IPv4; a scan needs --allow-large past 2^24.
        let scan = |a: Args| Args {
            dry_run: false,
            ..a
        };
        assert_eq!(
            build_err(&scan(args(&["2001:2::/103"], &[], false))),
            "the targets cover 33554432 addresses after excludes, more than 2^24 (an IPv4 /8, an IPv6 /104): narrow them with --exclude/--excludefile, or pass --allow-large"
        );
        assert_eq!(
            build_err(&scan(args(&["10.0.0.0/8", "2001:2::1"], &[], false))),
            "the targets cover 16777217 addresses after excludes, more than 2^24 (an IPv4 /8, an IPv6 /104): narrow them with --exclude/--excludefile, or pass --allow-large"
        );
        assert_eq!(build_err(&args(&["2001:2::/103"], &[], false)), "accepted");
        assert_eq!(
            build_err(&args(&["2001:2::/103"], &["2001:2::/104"], false)),
            "accepted"
        );
        assert_eq!(build_err(&args(&["2001:2::/65"], &[], true)), "accepted");
        // Past 2^64 probes the space cannot be counted: refused whatever the flags.
        let too_many = "the scan is too large to count: 18446744073709551616 addresses x 1 ports makes 2^64 probes or more; narrow the targets or the ports";
        assert_eq!(
            build_err(&args(&["2001:2::/65", "2001:2:0:0:8000::/65"], &[], true)),
            too_many
        );
        let wide_ports = Args {
            ports: Some("-".into()),
            ..args(&["2001:2::/72"], &[], true)
        };
        assert_eq!(
            build_err(&wide_ports),
            "the scan is too large to count: 72057594037927936 addresses x 65535 ports makes 2^64 probes or more; narrow the targets or the ports"
        );
        let fits = Args {
            ports: Some("1-255".into()),
            ..args(&["2001:2::/72"], &[], true)
        };
        assert_eq!(build_err(&fits), "accepted");
    }

    #[test]
    fn ipv6_targets_are_scanned_by_syn_and_connect_and_listed_by_a_dry_run() {
        let mixed = &["198.19.0.1", "2001:2:0:19::1-3"];
        let dry = Args {
            dry_run: true,
            ..target_args(mixed)
        };
        let cfg = build(&dry, "synscan", &no_dns).unwrap();
        assert_eq!((cfg.targets.v4.len(), cfg.targets.v6.len()), (1, 3));
        assert_eq!(build_err(&target_args(mixed)), "accepted");
        let connect = Args {
            connect: true,
            ..target_args(mixed)
        };
        assert_eq!(build_err(&connect), "accepted");
        // IPv4 alone is unchanged.
        assert_eq!(build_err(&target_args(&["198.19.0.1"])), "accepted");
    }

    #[test]
    fn dash_6_picks_the_ipv6_addresses_of_names() {
        let dns = |name: &str| -> Result<Vec<IpAddr>, String> {
            match name {
                "dual.test" => Ok(vec![
                    "198.19.0.7".parse().unwrap(),
                    "2001:2:0:19::7".parse().unwrap(),
                ]),
                _ => Err("unknown".to_string()),
            }
        };
        let args = Args {
            dry_run: true,
            ..target_args(&["dual.test", "198.19.0.9"])
        };
        let cfg = build(&args, "synscan", &dns).unwrap();
        assert_eq!(cfg.targets.v4.ranges().len(), 2);
        assert!(cfg.targets.v6.is_empty());
        assert_eq!(
            cfg.hostnames,
            vec![("198.19.0.7".parse().unwrap(), "dual.test".to_string())]
        );
        let cfg = build(&Args { ipv6: true, ..args }, "synscan", &dns).unwrap();
        assert_eq!(cfg.targets.v4.len(), 1);
        assert_eq!(
            cfg.targets.v6.ranges(),
            vec![(
                "2001:2:0:19::7".parse().unwrap(),
                "2001:2:0:19::7".parse().unwrap()
            )]
        );
        assert_eq!(
            cfg.hostnames,
            vec![("2001:2:0:19::7".parse().unwrap(), "dual.test".to_string())]
        );
    }

    #[test]
    fn flags_idle_in_connect_mode_are_refused() {
        let connect = || Args {
            connect: true,
            ..target_args(&["198.19.0.1"])
        };
        let cases: [(Args, &str); 6] = [
            (
                Args {
                    router_mac: Some("02:00:5e:10:00:01".into()),
                    ..connect()
                },
                "--router-mac",
            ),
            (
                Args {
                    send_path: Some("raw".into()),
                    ..connect()
                },
                "--send-path",
            ),
            (
                Args {
                    source_port: Some("40000".into()),
                    ..connect()
                },
                "--source-port",
            ),
            (
                Args {
                    interface: Some("lo".into()),
                    ..connect()
                },
                "-e/--interface",
            ),
            (
                Args {
                    source_ip: vec!["127.0.0.1".into()],
                    ..connect()
                },
                "--source-ip",
            ),
            (
                Args {
                    capture_buffer: Some("64M".into()),
                    ..connect()
                },
                "--capture-buffer",
            ),
        ];
        for (args, flag) in cases {
            assert_eq!(
                build_err(&args),
                format!("--connect does not use {flag}: the kernel picks it for each connection; drop {flag} or scan with SYN (-sS)")
            );
        }
        assert_eq!(build_err(&connect()), "accepted");
        let syn = Args {
            source_port: Some("40000".into()),
            send_path: Some("raw".into()),
            ..target_args(&["198.19.0.1"])
        };
        assert_eq!(build_err(&syn), "accepted");
    }

    #[test]
    fn stats_every_zero_is_refused() {
        let args = |v: &str| Args {
            stats_every: Some(v.into()),
            ..target_args(&["198.19.0.1"])
        };
        for zero in ["0", "0.0", "0ms"] {
            assert_eq!(
                build_err(&args(zero)),
                format!("bad --stats-every \"{zero}\": use seconds above 0, e.g. 5 or 0.5")
            );
        }
        assert_eq!(build_err(&args("0.5")), "accepted");
    }

    #[test]
    fn a_shard_needs_a_seed() {
        let args = |shard: &str, seed: Option<&str>| Args {
            shard: Some(shard.into()),
            seed: seed.map(str::to_string),
            ..target_args(&["198.19.0.0/24"])
        };
        let e = build_err(&args("2/4", None));
        assert!(
            e.starts_with("--shard 2/4 needs --seed N, the same on every part: without it each part draws its own order and the parts overlap (e.g. --seed "),
            "{e}"
        );
        assert_eq!(build_err(&args("2/4", Some("7"))), "accepted");
        assert_eq!(build_err(&args("1/1", None)), "accepted");
        assert!(build_err(&args("5/4", None)).starts_with("bad --shard \"5/4\""));
    }

    #[test]
    fn an_unknown_interface_is_a_usage_error() {
        let args = Args {
            interface: Some("nosuchif0".into()),
            ..target_args(&["198.19.0.1"])
        };
        assert!(build_err(&args)
            .starts_with("bad -e/--interface \"nosuchif0\": no such interface here"));
        let lo = Args {
            interface: Some("lo".into()),
            ..target_args(&["198.19.0.1"])
        };
        assert_eq!(build_err(&lo), "accepted");
    }
}
