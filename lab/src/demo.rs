//! `synscan-lab demo`: a small lab, synscan run inside it, and a verdict against the truth.

use crate::cli::{DemoArgs, ServeArgs, UnreachKind, WireArgs, DEFAULT_PORTS};
use crate::lab::Lab;
use crate::serve::{self, Plan};
use crate::truth::Pair;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

/// Exit code when the lab itself could not be raised.
pub const LAB_FAILURE: i32 = 4;

/// The fixed demo shape: a /24, 8 open hosts x 2 ports, 4 filtered pairs.
pub fn demo_args(a: &DemoArgs) -> ServeArgs {
    ServeArgs {
        name: a.name.clone(),
        seed: a.seed,
        prefix: "198.19.0.0/24".into(),
        ports: DEFAULT_PORTS.into(),
        open_hosts: 8,
        open_per_host: 2,
        filtered: 4,
        loss: 0,
        unreachable: 0,
        unreach_kind: UnreachKind::Host,
        drop_all: false,
        wire: WireArgs::default(),
        v6: crate::cli::Ipv6Args::default(),
        answers: crate::answers::AnswerArgs::default(),
        discovery: crate::discovery::DiscoveryArgs::default(),
        udp: crate::udp::UdpArgs::default(),
    }
}

/// What the lab holds, in one line (the verdict names any pair synscan got wrong).
pub fn truth_line(p: &Plan) -> String {
    let t = &p.truth;
    let unreachable = match t.unreachable.len() {
        0 => String::new(),
        n => format!(", {n} unreachable"),
    };
    format!(
        "the lab holds {} open, {} filtered{unreachable} host:port pairs in {} hosts x {} ports; every other pair is closed",
        t.open.len(),
        t.filtered.len(),
        1u64 << (32 - p.shape.prefix.prefix_len()),
        p.ports.len()
    )
}

/// What synscan found open and filtered: one row per host, ports ascending, "-" for none.
pub fn found_table(open: &BTreeSet<Pair>, filtered: &BTreeSet<Pair>) -> String {
    let mut rows: BTreeMap<Ipv4Addr, [Vec<u16>; 2]> = BTreeMap::new();
    for (column, pairs) in [open, filtered].into_iter().enumerate() {
        // A set of (address, port) iterates each host's ports in ascending order.
        for (a, port) in pairs {
            rows.entry(*a).or_default()[column].push(*port);
        }
    }
    let list = |v: &[u16]| -> String {
        if v.is_empty() {
            "-".into()
        } else {
            v.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
        }
    };
    let line =
        |host: &str, open: &str, filtered: &str| format!("  {host:<15}  {open:<14}  {filtered}\n");
    let mut s = line("host", "open", "filtered");
    for (a, [o, f]) in &rows {
        s.push_str(&line(&a.to_string(), &list(o), &list(f)));
    }
    s
}

/// Open and filtered pairs out of synscan's NDJSON (`{"ip":..,"port":..,"state":..}` lines).
pub fn parse_ndjson(text: &str) -> (BTreeSet<Pair>, BTreeSet<Pair>) {
    let mut open = BTreeSet::new();
    let mut filtered = BTreeSet::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let ip = v
            .get("ip")
            .and_then(|x| x.as_str())
            .and_then(|s| s.parse::<Ipv4Addr>().ok());
        let port = v
            .get("port")
            .and_then(|x| x.as_u64())
            .and_then(|p| u16::try_from(p).ok());
        let (Some(ip), Some(port)) = (ip, port) else {
            continue;
        };
        match v.get("state").and_then(|x| x.as_str()) {
            Some("open") => {
                open.insert((ip, port));
            }
            Some("filtered") => {
                filtered.insert((ip, port));
            }
            _ => {}
        }
    }
    (open, filtered)
}

/// One line comparing what synscan found with the truth.
pub fn verdict(
    truth_open: &BTreeSet<Pair>,
    found_open: &BTreeSet<Pair>,
    truth_filt: &BTreeSet<Pair>,
    found_filt: &BTreeSet<Pair>,
) -> String {
    let missing: Vec<String> = truth_open
        .difference(found_open)
        .map(|(a, p)| format!("{a}:{p}"))
        .collect();
    let extra: Vec<String> = found_open
        .difference(truth_open)
        .map(|(a, p)| format!("{a}:{p}"))
        .collect();
    let filt_ok = truth_filt.intersection(found_filt).count();
    let mut s = if missing.is_empty() && extra.is_empty() {
        format!(
            "verdict: OK - all {} open pairs found, no false positives",
            truth_open.len()
        )
    } else {
        format!(
            "verdict: MISMATCH - found {}/{} open pairs; missing [{}]; extra [{}]",
            truth_open.len() - missing.len(),
            truth_open.len(),
            missing.join(" "),
            extra.join(" ")
        )
    };
    s.push_str(&format!(
        "; filtered {filt_ok}/{} reported",
        truth_filt.len()
    ));
    s
}

fn default_synscan() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("synscan")))
        .unwrap_or_else(|| PathBuf::from("synscan"))
}

/// Run the demo; returns synscan's exit code, or 4 when the lab failed.
pub fn run(a: &DemoArgs) -> i32 {
    // Installed first so Ctrl-C still reaches teardown.
    let _stop = match serve::stop_flag() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("synscan-lab: {e}");
            return LAB_FAILURE;
        }
    };
    let plan = match serve::plan(&demo_args(a), &format!("demo{}", std::process::id())) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("synscan-lab: {e}");
            return LAB_FAILURE;
        }
    };
    let synscan = a
        .synscan
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(default_synscan);
    if !synscan.is_file() {
        eprintln!(
            "synscan-lab: no synscan binary at {}; build it (cargo build) or pass --synscan PATH",
            synscan.display()
        );
        return LAB_FAILURE;
    }
    let lab = match Lab::up(plan.names.clone(), &plan.shape, &plan.truth, None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("synscan-lab: lab setup failed (torn down): {e}");
            return LAB_FAILURE;
        }
    };
    let n = &plan.names;
    println!(
        "lab {} (seed {}): scanner namespace {} ({}) -> target {} behind {}",
        n.name,
        plan.seed,
        n.scanner_ns,
        crate::netns::SCANNER_IP,
        plan.shape.prefix,
        crate::netns::TARGET_IP
    );
    println!("{}", truth_line(&plan));
    let ports: Vec<String> = plan.ports.iter().map(u16::to_string).collect();
    let ports = ports.join(",");
    let prefix = plan.shape.prefix.to_string();
    let json_path = std::env::temp_dir().join(format!("synscan-lab-{}.ndjson", n.name));
    let _ = std::fs::remove_file(&json_path);
    let (report, report_path) = match create_report(&n.name) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("synscan-lab: {e}");
            drop(lab);
            return LAB_FAILURE;
        }
    };
    println!(
        "\n$ ip netns exec {} {} {prefix} -p {ports} --show filtered -oJ {} > {}\n",
        n.scanner_ns,
        synscan.display(),
        json_path.display(),
        report_path.display()
    );
    // synscan's report lists every port of every host (thousands of lines): it goes to the
    // report file, and the screen gets the open and filtered ports and the verdict.
    let status = Command::new("ip")
        .args(["netns", "exec", &n.scanner_ns])
        .arg(&synscan)
        .args([
            prefix.as_str(),
            "-p",
            ports.as_str(),
            "--show",
            "filtered",
            "-oJ",
        ])
        .arg(&json_path)
        .args(&a.extra)
        .stdout(report)
        .status();
    let code = match status {
        Ok(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
        Err(e) => {
            eprintln!(
                "synscan-lab: cannot run {}: {e}; build it or pass --synscan PATH",
                synscan.display()
            );
            drop(lab);
            return LAB_FAILURE;
        }
    };
    let text = match std::fs::read_to_string(&json_path) {
        Ok(t) => t,
        Err(_) => {
            println!("\nverdict: no results - synscan wrote no -oJ file (exit code {code})");
            println!("synscan's report: {}", report_path.display());
            drop(lab);
            return code;
        }
    };
    let _ = std::fs::remove_file(&json_path);
    let (found_open, found_filt) = parse_ndjson(&text);
    let truth_open: BTreeSet<Pair> = plan.truth.open.iter().copied().collect();
    let truth_filt: BTreeSet<Pair> = plan
        .truth
        .filtered
        .iter()
        .chain(&plan.truth.unreachable)
        .copied()
        .collect();
    println!("\nwhat synscan found (every other port closed):");
    print!("{}", found_table(&found_open, &found_filt));
    println!(
        "\n{}",
        verdict(&truth_open, &found_open, &truth_filt, &found_filt)
    );
    println!(
        "full report (every port of every host): {}",
        report_path.display()
    );
    drop(lab);
    code
}

/// Creates the report file in the temporary directory under a new name (never one that
/// exists: the directory is shared, and another user may have planted a link there).
fn create_report(lab: &str) -> Result<(std::fs::File, PathBuf), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir();
    let mut last = None;
    for n in 0..100u32 {
        let name = match n {
            0 => format!("synscan-demo-{lab}.txt"),
            n => format!("synscan-demo-{lab}-{n}.txt"),
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(path),
            Err(e) => {
                return Err(format!(
                    "cannot create the report file {}: {e}",
                    path.display()
                ))
            }
        }
    }
    Err(format!(
        "cannot create the report file: {} and 99 others exist; remove them",
        last.map_or_else(String::new, |p| p.display().to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, port: u16) -> Pair {
        (s.parse().unwrap(), port)
    }

    #[test]
    fn ndjson_parsed_by_state() {
        let text = r#"{"ip":"198.19.0.5","port":80,"state":"open","reason":"syn-ack"}
{"ip":"198.19.0.6","port":22,"state":"filtered"}
{"ip":"198.19.0.7","port":22,"state":"closed"}
not json
{"ip":"bad","port":22,"state":"open"}
"#;
        let (o, f) = parse_ndjson(text);
        assert_eq!(o, BTreeSet::from([p("198.19.0.5", 80)]));
        assert_eq!(f, BTreeSet::from([p("198.19.0.6", 22)]));
    }

    #[test]
    fn verdict_lines() {
        let t = BTreeSet::from([p("198.19.0.5", 80), p("198.19.0.6", 22)]);
        let f = BTreeSet::from([p("198.19.0.9", 22)]);
        assert_eq!(
            verdict(&t, &t, &f, &f),
            "verdict: OK - all 2 open pairs found, no false positives; filtered 1/1 reported"
        );
        let found = BTreeSet::from([p("198.19.0.5", 80), p("198.19.0.7", 443)]);
        assert_eq!(
            verdict(&t, &found, &f, &BTreeSet::new()),
            "verdict: MISMATCH - found 1/2 open pairs; missing [198.19.0.6:22]; extra [198.19.0.7:443]; filtered 0/1 reported"
        );
    }

    #[test]
    fn found_table_has_a_row_per_host_with_ports_ascending() {
        let open = BTreeSet::from([
            p("198.19.0.9", 443),
            p("198.19.0.9", 22),
            p("198.19.0.5", 80),
        ]);
        let filtered = BTreeSet::from([p("198.19.0.7", 22)]);
        assert_eq!(
            found_table(&open, &filtered),
            "  host             open            filtered\n  198.19.0.5       80              -\n  198.19.0.7       -               22\n  198.19.0.9       22,443          -\n"
        );
    }

    #[test]
    fn demo_shape() {
        let a = DemoArgs {
            synscan: None,
            seed: Some(1),
            name: Some("d1".into()),
            extra: vec![],
        };
        let plan = serve::plan(&demo_args(&a), "x").unwrap();
        assert_eq!(plan.truth.open.len(), 16);
        assert_eq!(plan.truth.filtered.len(), 4);
        assert_eq!(plan.shape.prefix.to_string(), "198.19.0.0/24");
        assert_eq!(
            truth_line(&plan),
            "the lab holds 16 open, 4 filtered host:port pairs in 256 hosts x 23 ports; every other pair is closed"
        );
    }
}
