//! Command-line front end: argv rewriting, clap syntax, and validation into a ScanConfig.

pub mod args;
pub mod argv;
pub mod config;

pub use config::{Rate, ScanConfig, ScanMode, SendPathChoice};

use crate::error::ScanError;
use clap::Parser;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run a scan.
    Scan(Box<ScanConfig>),
    /// Print this text (help or version) to stdout and exit 0.
    Print(String),
    /// `synscan diff|check|merge ...`: work on result files (no packet sent).
    Watch(crate::watch::cli::WatchCommand),
    /// `synscan local ...`: this host's own ports (no packet sent).
    Local(Box<crate::local::cli::LocalArgs>),
}

/// Parses the process arguments (argv[0] included) into a command.
pub fn parse(argv: Vec<String>, resolve: crate::targets::Resolver) -> Result<Command, ScanError> {
    if argv.get(1).map(String::as_str) == Some("local") {
        return Ok(match crate::local::cli::parse(&argv)? {
            Ok(args) => Command::Local(Box::new(args)),
            Err(help) => Command::Print(help),
        });
    }
    if let Some(watch) = crate::watch::cli::parse(&argv)? {
        return Ok(watch.map_or_else(Command::Print, Command::Watch));
    }
    let rewritten = argv::rewrite(argv.clone());
    let args = match args::Args::try_parse_from(rewritten) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    Ok(Command::Print(e.render().to_string()))
                }
                _ => {
                    let text = e.render().to_string();
                    let first = text
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("bad arguments")
                        .trim_start_matches("error: ");
                    Err(ScanError::Usage(format!("{first} (see synscan --help)")))
                }
            };
        }
    };
    if args.firewall_rule {
        return Ok(Command::Print(firewall_rules(&args)?));
    }
    if let Some(file) = &args.resume {
        return resume(file, &argv, resolve);
    }
    Ok(Command::Scan(Box::new(config::build(
        &args, &argv, resolve,
    )?)))
}

/// Rebuilds the config of an interrupted scan from its resume file, starting where it
/// stopped; outputs are appended to.
fn resume(
    file: &str,
    argv: &[String],
    resolve: crate::targets::Resolver,
) -> Result<Command, ScanError> {
    if argv.len() > 3 {
        return Err(ScanError::Usage(
            "--resume takes no other arguments: the resume file holds the scan's own".to_string(),
        ));
    }
    let path = std::path::PathBuf::from(file);
    let state = crate::scan::resume::ResumeState::read(&path).map_err(ScanError::Usage)?;
    let mut saved = vec![argv
        .first()
        .cloned()
        .unwrap_or_else(|| "synscan".to_string())];
    saved.extend(state.args.iter().cloned());
    if saved
        .iter()
        .any(|a| a == "--resume" || a.starts_with("--resume="))
    {
        return Err(ScanError::Usage(format!(
            "{file}: the saved arguments contain --resume; the file is damaged"
        )));
    }
    let args = args::Args::try_parse_from(argv::rewrite(saved.clone())).map_err(|_| {
        ScanError::Usage(format!(
            "{file}: the saved arguments no longer parse; the file is damaged"
        ))
    })?;
    let mut cfg = config::build(&args, &saved, resolve)?;
    let probes = crate::targets::ProbeOrder::new(
        crate::targets::ProbeSpace::new(cfg.targets.clone(), cfg.ports.clone()),
        cfg.seed,
        cfg.shard,
    )
    .len();
    if probes != state.probes || cfg.seed != state.seed {
        return Err(ScanError::Usage(format!(
            "{file}: the targets now give {probes} probes where the interrupted scan had {}; hostnames or target files changed, so the rest cannot be told apart",
            state.probes
        )));
    }
    cfg.start = state.position;
    cfg.output_options.append = true;
    cfg.resume_file = path.clone();
    cfg.resumed_from = Some(path);
    Ok(Command::Scan(Box::new(cfg)))
}

/// The nftables and iptables rules that drop the kernel's RSTs to the scan's replies
/// (the scanner's own sockets never see them, so the kernel would reset each SYN/ACK).
fn firewall_rules(args: &args::Args) -> Result<String, ScanError> {
    let ports = match args.source_port.as_deref() {
        Some(p) => config::parse_source_ports(p)?,
        None => crate::probe::SourcePorts::system_default(),
    };
    let (first, last) = (ports.first, ports.last());
    Ok(format!(
        "# synscan sends from TCP source ports {first}-{last}. The kernel has no socket on them,\n\
         # so it answers every SYN/ACK with a RST. These rules drop those RSTs (optional:\n\
         # scans are exact without them; targets then see fewer resets).\n\
         # nftables:\n\
         nft add table inet synscan\n\
         nft add chain inet synscan out '{{ type filter hook output priority 0; }}'\n\
         nft add rule inet synscan out tcp sport {first}-{last} tcp flags rst drop\n\
         # iptables:\n\
         iptables -A OUTPUT -p tcp --sport {first}:{last} --tcp-flags RST RST -j DROP\n"
    ))
}
