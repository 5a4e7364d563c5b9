//! The subcommands that work on result files: `synscan diff`, `synscan check` and
//! `synscan merge`. Each parses its own flags (nmap's -oX style included).

use crate::error::{ScanError, EXIT_CHECK_FAILED, EXIT_OK};
use crate::output::{Format, OutputOptions, OutputSpec};
use crate::results::{Record, Results};
use crate::sys::fs::{open_output, Claims, Identity, Trust};
use crate::watch::input::{self, MAX_RESULTS_BYTES};
use crate::watch::policy::Policy;
use crate::watch::{diff, policy_services, versions};
use clap::Parser;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The subcommand names this module handles.
pub const SUBCOMMANDS: [&str; 3] = ["diff", "check", "merge"];

/// `synscan diff OLD NEW`.
#[derive(Parser, Debug)]
#[command(
    name = "synscan diff",
    about = "Compare two result files by (ip, proto, port): exit 0 when no port opened or stopped being open and no identified service changed, 1 when one did, 2 when a file cannot be read",
    after_help = "Reads synscan's -oJ, -oX, -oG, -oL and CSV and nmap's -oX and -oG, told apart by content. A pair found in only one file is \"unscanned\" in the other, never \"closed\". With -sV results (-oJ, or -oX of synscan or nmap) a port identified in both files whose service, product, version or certificate fingerprint differs is a change too: \"22/tcp ssh OpenSSH 9.2p1 -> 9.6p1\"."
)]
pub struct DiffArgs {
    /// The earlier results.
    pub old: PathBuf,
    /// The later results.
    pub new: PathBuf,
    /// Also write one NDJSON object per change to FILE ("-" for stdout) [-oJ].
    #[arg(long = "output-json", value_name = "FILE")]
    pub output_json: Option<String>,
}

/// `synscan check RESULTS --policy FILE`.
#[derive(Parser, Debug)]
#[command(
    name = "synscan check",
    about = "Apply an exposure policy to a result file: exit 0 when nothing breaks it, 1 when something does, 2 on bad input"
)]
pub struct CheckArgs {
    /// The results to check.
    pub results: PathBuf,
    /// The policy (TOML; see README "Watching a surface").
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Also write one NDJSON object per violation to FILE ("-" for stdout) [-oJ].
    #[arg(long = "output-json", value_name = "FILE")]
    pub output_json: Option<String>,
}

/// `synscan merge FILES...`.
#[derive(Parser, Debug)]
#[command(
    name = "synscan merge",
    about = "Merge result files (shards of one scan, or several runs) into one report; a pair found in several keeps its latest state"
)]
pub struct MergeArgs {
    /// Result files, oldest first.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// nmap normal output to FILE [-oN].
    #[arg(long = "output-normal", value_name = "FILE")]
    pub output_normal: Vec<String>,
    /// nmap grepable output to FILE [-oG].
    #[arg(long = "output-grepable", value_name = "FILE")]
    pub output_grepable: Vec<String>,
    /// nmap XML output to FILE [-oX].
    #[arg(long = "output-xml", value_name = "FILE")]
    pub output_xml: Vec<String>,
    /// NDJSON output to FILE [-oJ].
    #[arg(long = "output-json", value_name = "FILE")]
    pub output_json: Vec<String>,
    /// masscan list output to FILE [-oL].
    #[arg(long = "output-list", value_name = "FILE")]
    pub output_list: Vec<String>,
    /// Also show these states in machine outputs: closed,filtered.
    #[arg(long, value_name = "STATES")]
    pub show: Vec<String>,
    /// Show only open ports.
    #[arg(long)]
    pub open: bool,
}

/// A parsed watch subcommand.
#[derive(Debug)]
pub enum WatchCommand {
    /// diff.
    Diff(DiffArgs),
    /// check.
    Check(CheckArgs),
    /// merge.
    Merge(MergeArgs),
}

/// What a watch subcommand's arguments ask for.
#[derive(Debug)]
pub enum Parsed {
    /// Run this subcommand.
    Run(WatchCommand),
    /// Print this text (help or version) and exit 0.
    Print(String),
}

/// Parses argv (nmap-style short flags already rewritten, see `cli::argv`) when argv[1]
/// is a watch subcommand: Ok(None) when it is not.
pub fn parse(argv: &[String]) -> Result<Option<Parsed>, ScanError> {
    let Some(sub) = argv.get(1).map(String::as_str) else {
        return Ok(None);
    };
    if !SUBCOMMANDS.contains(&sub) {
        return Ok(None);
    }
    // "synscan diff ..." parses as a program called "synscan diff".
    let mut args = vec![format!("synscan {sub}")];
    args.extend(argv[2..].iter().cloned());
    let parsed = match sub {
        "diff" => DiffArgs::try_parse_from(args).map(WatchCommand::Diff),
        "check" => CheckArgs::try_parse_from(args).map(WatchCommand::Check),
        _ => MergeArgs::try_parse_from(args).map(WatchCommand::Merge),
    };
    match parsed {
        Ok(c) => Ok(Some(Parsed::Run(c))),
        Err(e) => crate::error::clap_failure(e, &format!("synscan {sub} --help"))
            .map(|t| Some(Parsed::Print(t))),
    }
}

/// Runs a watch subcommand; returns the exit code.
pub fn run(cmd: WatchCommand) -> Result<i32, ScanError> {
    match cmd {
        WatchCommand::Diff(a) => run_diff(&a),
        WatchCommand::Check(a) => run_check(&a),
        WatchCommand::Merge(a) => run_merge(&a),
    }
}

/// Reads a result file through the shared reader, printing its warnings on stderr; a
/// baseline is trusted as an input that changes the verdict ([`Trust::Strict`]). Returns
/// the file's identity too, to tell it from the run's outputs.
pub fn load(path: &Path, trust: Trust) -> Result<(Results, Identity), ScanError> {
    let what = match trust {
        Trust::Strict => "baseline",
        Trust::Data => "result file",
    };
    let contents = input::read(path, what, trust, MAX_RESULTS_BYTES)?;
    let results = crate::results::parse_contents(&path.display().to_string(), &contents)?;
    for w in &results.warnings {
        eprintln!("synscan: warning: {w}");
    }
    Ok((results, contents.id))
}

/// Loads each of `paths` as data, each claimed as an input of the run.
fn load_inputs(paths: &[&Path], claims: &mut Claims) -> Result<Vec<Results>, ScanError> {
    let mut out = Vec::new();
    for p in paths {
        let (results, id) = load(p, Trust::Data)?;
        claims
            .input(id, format!("input {}", p.display()))
            .map_err(ScanError::usage)?;
        out.push(results);
    }
    Ok(out)
}

/// Opens "-" (stdout) or a file for NDJSON lines by the one opener for outputs, and
/// refuses it when it is one of the run's inputs (before truncating anything). A path that
/// cannot be opened is the user's to fix (exit 2, as for a scan's or merge's outputs).
/// Called after the inputs are read and before anything is printed, so a bad path leaves
/// no half-done run behind.
fn open_lines(path: &str, claims: &mut Claims) -> Result<Box<dyn Write>, ScanError> {
    if path == "-" {
        return Ok(Box::new(std::io::stdout().lock()));
    }
    let file = Path::new(path);
    let o = open_output(file, false).map_err(|e| ScanError::usage(e.line("output file", file)))?;
    if let Err(e) = claims.claim(o.id, format!("-oJ {path}")) {
        if let Some(created) = &o.created {
            let _ = created.remove();
        }
        return Err(ScanError::usage(e));
    }
    o.clear()
        .map_err(|e| ScanError::runtime(format!("cannot write {path}: {e}")))?;
    Ok(Box::new(std::io::BufWriter::new(o.file)))
}

/// Writes NDJSON lines to `out` (opened by [`open_lines`] for `path`) and flushes; a failed
/// write is a runtime error.
fn write_lines(mut out: Box<dyn Write>, path: &str, lines: &[String]) -> Result<(), ScanError> {
    let fail = |e: std::io::Error| ScanError::runtime(format!("cannot write {path}: {e}"));
    for l in lines {
        writeln!(out, "{l}").map_err(fail)?;
    }
    out.flush().map_err(fail)
}

fn time_text(t: Option<u64>) -> String {
    match t {
        Some(s) => {
            crate::output::short_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
        }
        None => "time unknown".to_string(),
    }
}

fn run_diff(a: &DiffArgs) -> Result<i32, ScanError> {
    let mut claims = Claims::new();
    let mut inputs = load_inputs(&[&a.old, &a.new], &mut claims)?;
    let (Some(new), Some(old)) = (inputs.pop(), inputs.pop()) else {
        return Err(ScanError::runtime("diff read fewer than two files"));
    };
    let (t_old, t_new) = (diff::scan_time(&old.records), diff::scan_time(&new.records));
    let changes = diff::diff(&diff::latest(&old.records), &diff::latest(&new.records));
    let services = versions::changes(&old.services, &new.services);
    let json = a
        .output_json
        .as_deref()
        .map(|path| open_lines(path, &mut claims))
        .transpose()?;
    if a.output_json.as_deref() != Some("-") {
        if changes.is_empty() && services.is_empty() {
            println!(
                "no change: {} ({}) and {} ({}) have the same open ports",
                a.old.display(),
                time_text(t_old),
                a.new.display(),
                time_text(t_new)
            );
        } else if changes.is_empty() {
            println!(
                "no port opened or stopped being open from {} ({}) to {} ({})",
                a.old.display(),
                time_text(t_old),
                a.new.display(),
                time_text(t_new)
            );
        } else {
            println!(
                "{} change(s) from {} ({}) to {} ({}):",
                changes.len(),
                a.old.display(),
                time_text(t_old),
                a.new.display(),
                time_text(t_new)
            );
            print!("{}", diff::render_text(&changes));
        }
        if !services.is_empty() {
            println!("{} service change(s):", services.len());
            print!("{}", versions::render_text(&services));
        }
    }
    if let (Some(out), Some(path)) = (json, &a.output_json) {
        let lines: Vec<String> = changes
            .iter()
            .map(|c| diff::json_line(c, t_old, t_new))
            .chain(services.iter().map(versions::json_line))
            .collect();
        write_lines(out, path, &lines)?;
    }
    Ok(if changes.is_empty() && services.is_empty() {
        EXIT_OK
    } else {
        EXIT_CHECK_FAILED
    })
}

/// The open pairs of a record list (latest state of each pair).
fn open_pairs(records: &[Record]) -> Vec<diff::Pair> {
    let mut open: Vec<diff::Pair> = diff::latest(records)
        .into_iter()
        .filter(|(_, s)| *s == crate::model::PortState::Open)
        .map(|(p, _)| p)
        .collect();
    open.sort();
    open
}

fn run_check(a: &CheckArgs) -> Result<i32, ScanError> {
    let mut claims = Claims::new();
    let (policy, id) = Policy::read(&a.policy)?;
    claims
        .input(id, format!("--policy {}", a.policy.display()))
        .map_err(ScanError::usage)?;
    let results = load_inputs(&[&a.results], &mut claims)?
        .pop()
        .ok_or_else(|| ScanError::runtime("check read no file"))?;
    let open = open_pairs(&results.records);
    let findings = policy.evaluate(open.iter());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let services = policy.services().judge(&results.services, now);
    let broken = findings.count() + services.len();
    let json = a
        .output_json
        .as_deref()
        .map(|path| open_lines(path, &mut claims))
        .transpose()?;
    if a.output_json.as_deref() != Some("-") {
        if broken == 0 {
            println!(
                "policy kept: {} open port(s) in {}, none breaks {}",
                open.len(),
                a.results.display(),
                a.policy.display()
            );
        } else {
            print!("{}", findings.render_text());
            print!("{}", policy_services::render_text(&services));
            println!(
                "{} policy violation(s) in {} ({} open ports)",
                broken,
                a.results.display(),
                open.len()
            );
        }
    }
    if let (Some(out), Some(path)) = (json, &a.output_json) {
        let mut lines = findings.json_lines();
        lines.extend(policy_services::json_lines(&services));
        write_lines(out, path, &lines)?;
    }
    Ok(if broken == 0 {
        EXIT_OK
    } else {
        EXIT_CHECK_FAILED
    })
}

fn run_merge(a: &MergeArgs) -> Result<i32, ScanError> {
    let mut specs = Vec::new();
    for (paths, format) in [
        (&a.output_normal, Format::Normal),
        (&a.output_grepable, Format::Grepable),
        (&a.output_xml, Format::Xml),
        (&a.output_json, Format::Json),
        (&a.output_list, Format::List),
    ] {
        specs.extend(paths.iter().map(|p| OutputSpec {
            format,
            path: p.clone(),
        }));
    }
    let (show_closed, show_filtered) = crate::output::parse_show(&a.show)?;
    let opts = OutputOptions {
        show_closed,
        show_filtered,
        open_only: a.open,
        ..OutputOptions::default()
    };
    let mut claims = Claims::new();
    let paths: Vec<&Path> = a.files.iter().map(PathBuf::as_path).collect();
    let sets = load_inputs(&paths, &mut claims)?
        .into_iter()
        .map(|r| r.records)
        .collect();
    let merged = crate::watch::merge::merge(sets);
    let files: Vec<String> = a.files.iter().map(|f| f.display().to_string()).collect();
    let skipped = crate::watch::merge::write(
        &merged,
        &specs,
        &mut claims,
        &opts,
        format!("synscan merge {}", files.join(" ")),
    )?;
    if skipped > 0 {
        eprintln!(
            "synscan: warning: {skipped} record(s) left out: synscan's writers show IPv4 TCP open, closed and filtered ports only"
        );
    }
    eprintln!(
        "synscan: merged {} file(s) into {} result(s)",
        a.files.len(),
        merged.len() - skipped
    );
    Ok(EXIT_OK)
}
