//! `synscan-lab serve`: raise a lab, print its truth as one JSON line, serve until told to stop.

use crate::answers::Answers;
use crate::cli::{self, ServeArgs};
use crate::discovery;
use crate::lab::{self, Lab, Shape, Shape6};
use crate::netns::{Names, SCANNER_ADDR, SCANNER_ADDR6, TARGET_ADDR, TARGET_ADDR6};
use crate::truth::{self, Chosen, Spec, Truth, Truth6, WireInfo};
use crate::udp;
use std::io::{Read, Write};
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A fully checked lab plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Names derived from --name.
    pub names: Names,
    /// The seed the truth came from.
    pub seed: u64,
    /// The scanned ports.
    pub ports: Vec<u16>,
    /// Namespace behaviour.
    pub shape: Shape,
    /// The chosen truth.
    pub truth: Chosen,
    /// The chosen IPv6 truth, when the lab has an IPv6 side.
    pub truth6: Option<Chosen<Ipv6Addr>>,
    /// The host discovery shape, with --discovery.
    pub discovery: Option<discovery::Plan>,
    /// The UDP shape, with --udp.
    pub udp: Option<udp::Plan>,
}

/// Check the options and choose the truth (no side effects).
pub fn plan(a: &ServeArgs, default_name: &str) -> Result<Plan, String> {
    let name = a.name.clone().unwrap_or_else(|| default_name.to_string());
    cli::validate_name(&name)?;
    if a.loss > 100 {
        return Err(format!("--loss {} is not a percentage: use 0-100", a.loss));
    }
    let prefix = truth::parse_prefix(&a.prefix)?;
    let ports = cli::parse_ports(&a.ports)?;
    // Checked here so a bad value fails before anything is created.
    crate::wire::WireSpec::from_args(&a.wire)?;
    let seed = a.seed.unwrap_or_else(rand::random::<u64>);
    let spec = Spec {
        prefix,
        ports: ports.clone(),
        open_hosts: a.open_hosts,
        open_per_host: a.open_per_host,
        filtered: a.filtered,
        unreachable: a.unreachable,
    };
    let family = a.v6.family;
    let spec4 = if family.has_v4() {
        spec.clone()
    } else {
        Spec {
            open_hosts: 0,
            filtered: 0,
            unreachable: 0,
            ..spec.clone()
        }
    };
    let truth = truth::choose(&spec4, seed)?;
    let (v6, truth6) = if family.has_v6() {
        let prefix6 = truth::parse_prefix6(&a.v6.prefix6)?;
        let shape6 = Shape6 {
            prefix: prefix6,
            unreach_kind: a.v6.unreach6_kind,
        };
        (Some(shape6), Some(truth::choose6(&spec, prefix6, seed)?))
    } else {
        (None, None)
    };
    let answers = Answers::plan(
        &a.answers,
        truth::candidate_hosts(prefix),
        &truth.open,
        seed,
    )?;
    let pairs6 = truth6
        .as_ref()
        .map_or(0, |t| t.open.len() + t.filtered.len() + t.unreachable.len());
    let discovery = discovery::Plan::new(
        &a.discovery,
        &discovery::Context {
            prefix,
            prefix6: v6.as_ref().map(|s| s.prefix),
            alive: answers.alive.as_ref(),
            port_pairs: truth.open.len() + truth.filtered.len() + truth.unreachable.len() + pairs6,
            seed,
        },
    )?;
    let udp = udp::Plan::new(
        &a.udp,
        &udp::Context {
            prefix,
            prefix6: v6.as_ref().map(|s| s.prefix),
            v4: family.has_v4(),
            discovery: discovery.is_some(),
            seed,
        },
    )?;
    let shape = Shape {
        prefix,
        loss: a.loss,
        unreach_kind: a.unreach_kind,
        drop_all: a.drop_all,
        wire: a.wire.wanted().then(|| a.wire.clone()),
        // The wire's draws follow the lab seed (but frame timing still varies run to run).
        wire_seed: seed.rotate_left(17) ^ 0x5bd1_e995,
        v4: family.has_v4(),
        v6,
        answers,
    };
    Ok(Plan {
        names: Names::new(&name),
        seed,
        ports,
        shape,
        truth,
        truth6,
        discovery,
        udp,
    })
}

/// The wire part of the description: None without a wire.
fn wire_info(p: &Plan) -> Option<WireInfo> {
    p.shape.wire.as_ref().map(|w| WireInfo {
        middle_ns: p.names.middle_ns.clone(),
        delay_ms: w.delay_ms,
        jitter_ms: w.jitter_ms,
        loss: w.wire_loss,
        duplicate: w.duplicate,
        reorder: w.reorder,
        pps: w.wire_pps,
        queue: w.wire_queue,
        stats_file: lab::stats_path(&p.names.name),
    })
}

/// The description of a raised lab (what `serve` prints as one JSON line).
pub fn truth(p: &Plan) -> Truth {
    Truth {
        name: p.names.name.clone(),
        seed: p.seed,
        scanner_ns: p.names.scanner_ns.clone(),
        target_ns: p.names.target_ns.clone(),
        scanner_if: p.names.scanner_if.clone(),
        target_if: p.names.target_if.clone(),
        scanner_ip: SCANNER_ADDR,
        target_ip: TARGET_ADDR,
        prefix: p.shape.prefix.to_string(),
        ports: p.ports.clone(),
        open: p.truth.open.iter().copied().collect(),
        filtered: p.truth.filtered.iter().copied().collect(),
        unreachable: p.truth.unreachable.iter().copied().collect(),
        unreach_kind: p.shape.unreach_kind.nft_name().to_string(),
        loss: p.shape.loss,
        drop_all: p.shape.drop_all,
        wire: wire_info(p),
        ipv6: truth6(p),
        answers: p.shape.answers.clone(),
        discovery: p.discovery.as_ref().map(discovery::Plan::truth),
        udp: p.udp.as_ref().map(udp::Plan::truth),
    }
}

/// The IPv6 part of the description: None without an IPv6 side.
fn truth6(p: &Plan) -> Option<Truth6> {
    let (shape, chosen) = (p.shape.v6.as_ref()?, p.truth6.as_ref()?);
    Some(Truth6 {
        scanner_ip: SCANNER_ADDR6,
        target_ip: TARGET_ADDR6,
        prefix: shape.prefix.to_string(),
        open: chosen.open.iter().copied().collect(),
        filtered: chosen.filtered.iter().copied().collect(),
        unreachable: chosen.unreachable.iter().copied().collect(),
        unreach_kind: shape.unreach_kind.nft_name().to_string(),
    })
}

/// The one-line JSON description of a raised lab.
pub fn truth_json(p: &Plan) -> String {
    truth(p).to_line()
}

/// A flag raised by SIGTERM, SIGINT or SIGHUP (so teardown runs instead of dying).
pub fn stop_flag() -> Result<Arc<AtomicBool>, String> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&flag))
            .map_err(|e| format!("cannot install signal handler: {e}"))?;
    }
    Ok(flag)
}

/// Run `serve`; returns the exit code.
pub fn run(a: &ServeArgs) -> i32 {
    let stop = match stop_flag() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("synscan-lab: {e}");
            return 1;
        }
    };
    let plan = match plan(a, &format!("lab{}", std::process::id())) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("synscan-lab: {e}");
            return 2;
        }
    };
    let mut lab = match Lab::up(
        plan.names.clone(),
        &plan.shape,
        &plan.truth,
        plan.truth6.as_ref(),
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("synscan-lab: lab setup failed (torn down): {e}");
            return 4;
        }
    };
    if let Some(d) = &plan.discovery {
        if let Err(e) = d.raise(&lab.names) {
            drop(lab);
            eprintln!("synscan-lab: discovery setup failed (torn down): {e}");
            return 4;
        }
    }
    let mut udp = match plan.udp.as_ref().map(|u| u.raise(&lab.names)).transpose() {
        Ok(u) => u,
        Err(e) => {
            drop(lab);
            eprintln!("synscan-lab: UDP setup failed (torn down): {e}");
            return 4;
        }
    };
    let mut out = std::io::stdout();
    if let Err(e) = writeln!(out, "{}", truth_json(&plan)).and_then(|_| out.flush()) {
        eprintln!("synscan-lab: cannot print the truth: {e}");
        return 4;
    }
    let eof = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        eof.store(true, Ordering::SeqCst);
    });
    let (mut warned, mut warned_wire, mut warned_udp) = (false, false, false);
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        if !warned && !lab.listener_alive() {
            eprintln!("synscan-lab: the listener exited; open ports now look closed");
            warned = true;
        }
        if !warned_wire && !lab.wire_alive() {
            eprintln!("synscan-lab: the wire exited; scanner and target are cut apart");
            warned_wire = true;
        }
        if let Some(exited) = udp.as_mut().map(udp::Running::exited) {
            if !warned_udp && !exited.is_empty() {
                eprintln!(
                    "synscan-lab: UDP daemons exited ({exited:?}); their ports now look closed"
                );
                warned_udp = true;
            }
        }
    }
    drop(udp);
    drop(lab);
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{UnreachKind, WireArgs, DEFAULT_PORTS};

    fn args() -> ServeArgs {
        ServeArgs {
            name: Some("x1".into()),
            seed: Some(5),
            prefix: "198.19.0.0/24".into(),
            ports: DEFAULT_PORTS.into(),
            open_hosts: 2,
            open_per_host: 1,
            filtered: 1,
            loss: 0,
            unreachable: 1,
            unreach_kind: UnreachKind::Admin,
            drop_all: false,
            wire: WireArgs::default(),
            v6: crate::cli::Ipv6Args::default(),
            answers: crate::answers::AnswerArgs::default(),
            discovery: crate::discovery::DiscoveryArgs::default(),
            udp: crate::udp::UdpArgs::default(),
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let p = plan(&args(), "unused").unwrap();
        let v: serde_json::Value = serde_json::from_str(&truth_json(&p)).unwrap();
        assert_eq!(v["name"], "x1");
        assert_eq!(v["seed"], 5);
        assert_eq!(v["scanner_ns"], "x1s");
        assert_eq!(v["target_ns"], "x1t");
        assert_eq!(v["scanner_if"], "x1a");
        assert_eq!(v["target_if"], "x1b");
        assert_eq!(v["scanner_ip"], "198.18.0.1");
        assert_eq!(v["target_ip"], "198.18.0.2");
        assert_eq!(v["prefix"], "198.19.0.0/24");
        assert_eq!(v["ports"].as_array().unwrap().len(), 23);
        assert_eq!(v["open"].as_array().unwrap().len(), 2);
        assert_eq!(v["filtered"].as_array().unwrap().len(), 1);
        assert_eq!(v["unreachable"].as_array().unwrap().len(), 1);
        assert_eq!(v["unreach_kind"], "admin-prohibited");
        assert_eq!(v["loss"], 0);
        assert!(v["wire"].is_null());
        let first = &v["open"][0];
        assert!(first[0].as_str().unwrap().starts_with("198.19.0."));
        assert!(first[1].as_u64().is_some());
    }

    #[test]
    fn truth_line_reads_back_typed() {
        let mut a = args();
        a.wire.delay_ms = 5;
        let p = plan(&a, "unused").unwrap();
        let t = Truth::parse(&truth_json(&p)).unwrap();
        assert_eq!(t, truth(&p));
        assert_eq!(t.scanner_ip, std::net::Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(t.open.len(), 2);
        assert_eq!(t.open, p.truth.open.iter().copied().collect());
        assert_eq!(t.namespaces(), ["x1s", "x1t", "x1m"]);
        assert_eq!(t.middle_ns(), Some("x1m"));
        assert_eq!(t.ports_arg().split(',').count(), 23);
        assert!(Truth::parse("{\"name\": \"x\"}").is_err());
    }

    #[test]
    fn ipv6_side_described_per_family() {
        use crate::cli::{Family, Unreach6Kind};
        let t4 = truth(&plan(&args(), "u").unwrap());
        assert!(t4.ipv6.is_none());
        let line = truth_json(&plan(&args(), "u").unwrap());
        assert!(
            !line.contains("ipv6"),
            "IPv4 labs print what they always did: {line}"
        );

        let mut a = args();
        a.v6.family = Family::Mixed;
        a.v6.unreach6_kind = Unreach6Kind::NoRoute;
        let p = plan(&a, "u").unwrap();
        let t = Truth::parse(&truth_json(&p)).unwrap();
        assert_eq!(
            t.open, t4.open,
            "a mixed lab keeps the IPv4 truth of its seed"
        );
        let v6 = t.ipv6.as_ref().expect("IPv6 side");
        assert_eq!(v6.scanner_ip.to_string(), "2001:2:0:18::1");
        assert_eq!(v6.target_ip.to_string(), "2001:2:0:18::2");
        assert_eq!(v6.prefix, "2001:2:0:19::/120");
        assert_eq!(v6.unreach_kind, "no-route");
        assert_eq!(
            (v6.open.len(), v6.filtered.len(), v6.unreachable.len()),
            (2, 1, 1)
        );

        a.v6.family = Family::V6;
        let t = truth(&plan(&a, "u").unwrap());
        assert!(t.open.is_empty() && t.filtered.is_empty() && t.unreachable.is_empty());
        assert_eq!(t.ipv6.as_ref().map(|v| v.open.len()), Some(2));

        a.v6.prefix6 = "2001:db8::/120".into();
        assert!(plan(&a, "u").is_err());
    }

    #[test]
    fn bad_options_rejected() {
        let mut a = args();
        a.loss = 101;
        assert!(plan(&a, "d").is_err());
        let mut a = args();
        a.name = Some("much-too-long-name".into());
        assert!(plan(&a, "d").is_err());
        let mut a = args();
        a.prefix = "10.0.0.0/24".into();
        assert!(plan(&a, "d").is_err());
        let mut a = args();
        a.wire.delay_ms = 10;
        a.wire.jitter_ms = 11;
        assert!(plan(&a, "d").is_err());
    }

    #[test]
    fn wire_described_when_asked_for() {
        let mut a = args();
        a.wire = WireArgs {
            delay_ms: 50,
            jitter_ms: 20,
            wire_loss: 10.0,
            ..WireArgs::default()
        };
        let p = plan(&a, "unused").unwrap();
        assert!(p.shape.wire.is_some());
        let v: serde_json::Value = serde_json::from_str(&truth_json(&p)).unwrap();
        let w = &v["wire"];
        assert_eq!(w["middle_ns"], "x1m");
        assert_eq!(w["delay_ms"], 50);
        assert_eq!(w["jitter_ms"], 20);
        assert_eq!(w["loss"], 10.0);
        assert_eq!(w["duplicate"], 0.0);
        assert_eq!(w["reorder"], 0.0);
        assert_eq!((&w["pps"], &w["queue"]), (&0.into(), &128.into()));
        assert!(w["stats_file"]
            .as_str()
            .unwrap()
            .ends_with("synscan-lab-x1.wire.json"));
        let mut a = args();
        a.wire.wire = true;
        assert!(plan(&a, "unused").unwrap().shape.wire.is_some());
        let mut a = args();
        a.wire.wire_pps = 50_000;
        let p = plan(&a, "unused").unwrap();
        let v: serde_json::Value = serde_json::from_str(&truth_json(&p)).unwrap();
        assert_eq!(v["wire"]["pps"], 50_000);
    }
}
