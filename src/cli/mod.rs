//! Command-line front end: argv rewriting, clap syntax, and validation into a ScanConfig.

pub(crate) mod args;
pub(crate) mod argv;
pub(crate) mod config;
pub(crate) mod not_yet;
pub(crate) mod resume;

pub use config::{FollowOptions, Rate, ScanConfig, ScanMode, SendPathChoice};

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
            crate::local::cli::Parsed::Run(args) => Command::Local(Box::new(args)),
            crate::local::cli::Parsed::Print(text) => Command::Print(text),
        });
    }
    if let Some(watch) = crate::watch::cli::parse(&argv::rewrite(argv.clone()))? {
        return Ok(match watch {
            crate::watch::cli::Parsed::Run(cmd) => Command::Watch(cmd),
            crate::watch::cli::Parsed::Print(text) => Command::Print(text),
        });
    }
    not_yet::refuse(&argv::flag_words(&argv))?;
    let rewritten = argv::rewrite(argv.clone());
    let args = match args::Args::try_parse_from(rewritten) {
        Ok(a) => a,
        Err(e) => return crate::error::clap_failure(e, "synscan --help").map(Command::Print),
    };
    if let Some(what) = &args.generate {
        return generate(what).map(Command::Print);
    }
    if let Some(file) = &args.resume {
        return resume(file, &argv, resolve);
    }
    if args.firewall_rule {
        return Ok(Command::Print(firewall_rules(&args)?));
    }
    Ok(Command::Scan(Box::new(config::build(
        &args,
        &argv.join(" "),
        resolve,
    )?)))
}

/// True when `argv` (program name first) holds `--resume FILE` and nothing else.
fn only_resume(argv: &[String]) -> bool {
    match argv.get(1..).unwrap_or(&[]) {
        [flag, _file] => flag == "--resume",
        [one] => one.starts_with("--resume="),
        _ => false,
    }
}

/// Rebuilds the config of an interrupted scan from its resume file, starting where it
/// stopped; outputs are cut back to the checkpoint and continued. The file must be the
/// user's own (or root's) and writable by nobody else; its options are shown first and
/// validated as a fresh command line would be.
fn resume(
    file: &str,
    argv: &[String],
    resolve: crate::targets::Resolver,
) -> Result<Command, ScanError> {
    if !only_resume(argv) {
        return Err(ScanError::usage(
            "--resume takes no other arguments: the resume file holds the scan's own; drop the others (or start a new scan without --resume)",
        ));
    }
    let path = std::path::PathBuf::from(file);
    let state = resume::ResumeState::read(&path)?;
    if let Some(why) = state.unsafe_options() {
        return Err(ScanError::usage(format!(
            "{file}: refusing the saved arguments: {why}; the file is damaged or was crafted"
        )));
    }
    let command_line = format!("synscan {}", state.command_line());
    eprintln!(
        "synscan: resuming at probe {} of {} with the saved command line: {command_line}",
        state.position, state.probes,
    );
    let mut cfg = config::build(&state.options, &command_line, resolve)?;
    let probes = crate::targets::ProbeOrder::new(
        crate::targets::ProbeSpace::new(cfg.targets.clone(), cfg.services.clone()),
        cfg.seed,
        cfg.shard,
    )
    .len();
    if probes != state.probes || cfg.seed != state.seed {
        return Err(ScanError::usage(format!(
            "{file}: the targets now give {probes} probes where the interrupted scan had {}; hostnames or target files changed, so the rest cannot be told apart",
            state.probes
        )));
    }
    if resume::digest(&cfg) != state.digest {
        return Err(ScanError::usage(format!(
            "{file}: the targets, ports or seed differ from the interrupted scan's (the file was edited, or a hostname or target file changed since), so the rest cannot be told apart; start the scan again"
        )));
    }
    let outputs: Vec<&str> = cfg
        .outputs
        .iter()
        .filter(|o| o.path != "-")
        .map(|o| o.path.as_str())
        .collect();
    if outputs
        != state
            .outputs
            .iter()
            .map(|o| o.path.as_str())
            .collect::<Vec<_>>()
    {
        return Err(ScanError::usage(format!(
            "{file}: the outputs it lists differ from its saved arguments; the file is damaged"
        )));
    }
    // The interrupted scan's own files, wherever the resume is started from; each must
    // still be the file it wrote (checked when the outputs are opened).
    let mut saved = state.outputs.iter();
    for o in cfg.outputs.iter_mut().filter(|o| o.path != "-") {
        if let Some(s) = saved.next() {
            o.path = s.absolute.clone();
        }
    }
    cfg.output_options.continued = state
        .outputs
        .iter()
        .map(|o| crate::output::Continued {
            file: o.file,
            length: o.length,
        })
        .collect();
    cfg.start = state.position;
    cfg.output_options.append = true;
    cfg.resume_file = path.clone();
    cfg.resumed_from = Some(path);
    cfg.resumed = Some(state);
    Ok(Command::Scan(Box::new(cfg)))
}

/// The man page (`man`) or a shell's completion script, generated from the clap definition.
fn generate(what: &str) -> Result<String, ScanError> {
    use clap_complete::Shell;
    let mut cmd = args::command();
    let mut out: Vec<u8> = Vec::new();
    let shell = match what {
        "man" => return man_page(),
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "elvish" => Shell::Elvish,
        other => {
            return Err(ScanError::usage(format!(
                "bad --generate \"{other}\": use man, bash, zsh, fish or elvish"
            )))
        }
    };
    clap_complete::generate(shell, &mut cmd, "synscan", &mut out);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The man page: clap's sections, then the help's closing text (examples, capabilities,
/// exit codes) as sections of their own with their line breaks kept.
fn man_page() -> Result<String, ScanError> {
    let man = clap_mangen::Man::new(args::command().after_help(None::<&str>));
    let mut out: Vec<u8> = Vec::new();
    let failed = |e: std::io::Error| ScanError::runtime(format!("cannot render the man page: {e}"));
    man.render_title(&mut out).map_err(failed)?;
    man.render_name_section(&mut out).map_err(failed)?;
    man.render_synopsis_section(&mut out).map_err(failed)?;
    man.render_description_section(&mut out).map_err(failed)?;
    man.render_options_section(&mut out).map_err(failed)?;
    let mut text = String::from_utf8_lossy(&out).into_owned();
    for block in args::AFTER_HELP.split("\n\n") {
        let mut lines = block.lines();
        let Some(first) = lines.next() else { continue };
        match first.strip_suffix(':') {
            Some(heading) if heading.chars().all(|c| c.is_ascii_uppercase() || c == ' ') => {
                text.push_str(&format!(".SH \"{heading}\"\n.nf\n"));
            }
            _ => {
                text.push_str(".SH NOTES\n.nf\n");
                text.push_str(&roff_line(first));
            }
        }
        for line in lines {
            text.push_str(&roff_line(line));
        }
        text.push_str(".fi\n");
    }
    out.clear();
    man.render_version_section(&mut out).map_err(failed)?;
    text.push_str(&String::from_utf8_lossy(&out));
    Ok(text)
}

/// One line of text for a roff no-fill block: backslashes and hyphens escaped, and a leading
/// dot or quote kept from being read as a request.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}\n")
    } else {
        format!("{escaped}\n")
    }
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
         # nftables (an inet table: one rule for IPv4 and IPv6):\n\
         nft add table inet synscan\n\
         nft add chain inet synscan out '{{ type filter hook output priority 0; }}'\n\
         nft add rule inet synscan out tcp sport {first}-{last} tcp flags rst drop\n\
         # iptables (IPv4), ip6tables (IPv6):\n\
         iptables -A OUTPUT -p tcp --sport {first}:{last} --tcp-flags RST RST -j DROP\n\
         ip6tables -A OUTPUT -p tcp --sport {first}:{last} --tcp-flags RST RST -j DROP\n"
    ))
}

#[cfg(test)]
mod resume_tests {
    use super::*;

    #[test]
    fn firewall_rules_cover_both_families() {
        let args = args::Args::try_parse_from([
            "synscan",
            "--firewall-rule",
            "--source-port",
            "40000-40099",
        ])
        .expect("flags");
        let text = firewall_rules(&args).expect("rules");
        let rules: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rules,
            [
                "nft add table inet synscan",
                "nft add chain inet synscan out '{ type filter hook output priority 0; }'",
                "nft add rule inet synscan out tcp sport 40000-40099 tcp flags rst drop",
                "iptables -A OUTPUT -p tcp --sport 40000:40099 --tcp-flags RST RST -j DROP",
                "ip6tables -A OUTPUT -p tcp --sport 40000:40099 --tcp-flags RST RST -j DROP",
            ]
        );
    }

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resume_takes_exactly_its_file() {
        assert!(only_resume(&v(&["synscan", "--resume", "f"])));
        assert!(only_resume(&v(&["synscan", "--resume=f"])));
        assert!(!only_resume(&v(&["synscan", "--resume=f", "--nmap=-sV"])));
        assert!(!only_resume(&v(&["synscan", "--resume", "f", "-v"])));
        assert!(!only_resume(&v(&["synscan", "-v", "--resume=f"])));
    }

    fn no_dns(name: &str) -> Result<Vec<std::net::IpAddr>, String> {
        Err(format!("no DNS in tests ({name})"))
    }

    fn parse_line(s: &str) -> Result<Command, ScanError> {
        parse(s.split_whitespace().map(String::from).collect(), &no_dns)
    }

    #[test]
    fn watch_subcommands_take_nmap_style_flags() {
        use crate::watch::cli::WatchCommand;
        use std::path::PathBuf;
        assert!(matches!(
            parse_line("synscan 10.0.0.1 -p 80"),
            Ok(Command::Scan(_))
        ));
        match parse_line("synscan diff a b -oJ c") {
            Ok(Command::Watch(WatchCommand::Diff(d))) => {
                assert_eq!(d.old, PathBuf::from("a"));
                assert_eq!(d.new, PathBuf::from("b"));
                assert_eq!(d.output_json.as_deref(), Some("c"));
            }
            other => panic!("{other:?}"),
        }
        match parse_line("synscan merge -oX x.xml a b -oJ j") {
            Ok(Command::Watch(WatchCommand::Merge(m))) => {
                assert_eq!(m.files.len(), 2);
                assert_eq!(m.output_xml, vec!["x.xml".to_string()]);
                assert_eq!(m.output_json, vec!["j".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let e = parse_line("synscan check r.json").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--policy"), "{e}");
        assert!(matches!(
            parse_line("synscan diff --help"),
            Ok(Command::Print(_))
        ));
    }
}
