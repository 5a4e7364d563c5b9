//! The resume file's format: where an interrupted scan stopped, the scan's options as the
//! parsed flags (`Args`, the values the config reader validates, never raw argv) and the
//! length of every output at that point. A resume file is read back through the same
//! `config::build` as a command line, after the trust checks here (owner, mode, planted
//! links) and a check that the options do not keep root.

use super::args::Args;
use super::config::ScanConfig;
use crate::error::ScanError;
use crate::sys::fs;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the file format this synscan writes and reads. Format 4 names each output by
/// its absolute path and the file it was (device, inode); format 3 named them as given,
/// formats 1 and 2 held raw arguments: older formats are refused with a clear line.
pub const FORMAT: u32 = 4;

/// Largest resume file read (one holds the scan's flags and a line per output).
pub const MAX_BYTES: u64 = 16 << 20;

/// An output file and its length at the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedOutput {
    /// The path, as given on the command line.
    pub path: String,
    /// The path from the root, as the scan's directory made it: what a resumed run opens,
    /// wherever it is started from.
    pub absolute: String,
    /// The file the scan wrote, as (device, inode); none for an inherited descriptor
    /// (/dev/stdout, /dev/fd/N). A resumed run refuses another file at that path.
    #[serde(default)]
    pub file: Option<(u64, u64)>,
    /// Bytes that belong to the results before `position`.
    pub length: u64,
}

impl SavedOutput {
    /// The output `path` names, seen from the current directory, before it is opened.
    pub fn new(path: &str) -> Result<SavedOutput, ScanError> {
        let absolute = if Path::new(path).is_absolute() {
            path.to_string()
        } else {
            let cwd = std::env::current_dir().map_err(|e| {
                ScanError::usage(format!(
                    "cannot tell the current directory ({e}), where output {path} goes; give the outputs absolute paths"
                ))
            })?;
            cwd.join(path)
                .into_os_string()
                .into_string()
                .map_err(|_| {
                    ScanError::usage(format!(
                        "the current directory's path is not UTF-8 text, so output {path} cannot be saved for a resume; give the outputs absolute paths"
                    ))
                })?
        };
        Ok(SavedOutput {
            path: path.to_string(),
            absolute,
            file: None,
            length: 0,
        })
    }
}

/// What `--resume FILE` needs to finish exactly the rest of a scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeState {
    /// File format version.
    pub synscan_resume: u32,
    /// Seed of the order (also in `options`, as --seed).
    pub seed: u64,
    /// Shard, as "i/n".
    pub shard: String,
    /// Position in the shard's order: every probe before it is decided and written.
    pub position: u64,
    /// Probes in the shard: a resumed run must find the same number.
    pub probes: u64,
    /// [`digest`] of the resolved targets, ports, seed and shard: a resumed run must find
    /// the same.
    pub digest: String,
    /// The scan's flags as parsed (seed pinned); only what differs from the defaults is
    /// written. --resume, --resume-file, --firewall-rule and --generate cannot be in it.
    #[serde(serialize_with = "compact_options")]
    pub options: Args,
    /// File outputs and their lengths at `position`; a resumed run cuts each back to it.
    #[serde(default)]
    pub outputs: Vec<SavedOutput>,
    /// Length of the journal (`FILE.journal`) at `position`, when grouped outputs keep one.
    #[serde(default)]
    pub journal: Option<u64>,
}

/// Writes the options without the flags left at their defaults (a short, readable file;
/// reading fills the defaults back in).
fn compact_options<S: serde::Serializer>(args: &Args, s: S) -> Result<S::Ok, S::Error> {
    let mut v = serde_json::to_value(args).map_err(serde::ser::Error::custom)?;
    if let serde_json::Value::Object(map) = &mut v {
        map.retain(|_, v| !is_default(v));
    }
    v.serialize(s)
}

fn is_default(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::Number(n) => n.as_u64() == Some(0),
        _ => false,
    }
}

impl ResumeState {
    /// A state for the scan `options` describe, stopped at `position` of `probes`.
    pub fn new(seed: u64, shard: String, position: u64, probes: u64, options: Args) -> Self {
        ResumeState {
            synscan_resume: FORMAT,
            seed,
            shard,
            position,
            probes,
            digest: String::new(),
            options,
            outputs: Vec::new(),
            journal: None,
        }
    }

    /// This state at a checkpoint: its position, each output's length (in the order of
    /// `outputs`) and the journal's length.
    pub fn at(&self, position: u64, lengths: &[u64], journal: Option<u64>) -> ResumeState {
        let mut st = self.clone();
        st.position = position;
        for (o, len) in st.outputs.iter_mut().zip(lengths) {
            o.length = *len;
        }
        st.journal = self.journal.and(journal);
        st
    }

    /// This state with the outputs' files (device, inode), in the order of `outputs`.
    pub fn with_files(&self, files: &[Option<(u64, u64)>]) -> ResumeState {
        let mut st = self.clone();
        for (o, f) in st.outputs.iter_mut().zip(files) {
            o.file = *f;
        }
        st
    }

    /// The file's text (one JSON object).
    pub fn to_text(&self) -> String {
        // Serializing plain strings, numbers and flags cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a resume file's text.
    pub fn from_text(text: &str) -> Result<ResumeState, ScanError> {
        let not_ours =
            |e: serde_json::Error| ScanError::usage(format!("not a synscan resume file ({e})"));
        let value: serde_json::Value = serde_json::from_str(text).map_err(not_ours)?;
        match value.get("synscan_resume").and_then(|v| v.as_u64()) {
            Some(f) if f == u64::from(FORMAT) => {}
            Some(old @ (1..=3)) => {
                return Err(ScanError::usage(format!(
                    "resume file format {old} was written by an older synscan and is not supported (this synscan writes {FORMAT}); finish the scan with that version, or start it again"
                )))
            }
            Some(other) => {
                return Err(ScanError::usage(format!(
                    "resume file format {other} is not supported (this synscan writes {FORMAT})"
                )))
            }
            None => {
                return Err(ScanError::usage(
                    "not a synscan resume file (no synscan_resume format number)",
                ))
            }
        }
        let st: ResumeState = serde_json::from_value(value).map_err(not_ours)?;
        if st.position > st.probes {
            return Err(ScanError::usage(format!(
                "resume position {} is beyond the scan's {} probes",
                st.position, st.probes
            )));
        }
        Ok(st)
    }

    /// Reads `path` if it is trusted (`sys::fs::Trust::Strict`: owned by the real user
    /// or root, as is every directory above it, writable by nobody else, not a link
    /// planted in a shared directory) and a regular file of at most [`MAX_BYTES`].
    pub fn read(path: &Path) -> Result<ResumeState, ScanError> {
        let contents = fs::read_input(path, fs::Trust::Strict, MAX_BYTES)
            .map_err(|e| ScanError::usage(e.line("resume file", path)))?;
        let text = String::from_utf8(contents.bytes).map_err(|_| {
            ScanError::usage(format!(
                "{}: not a synscan resume file (not UTF-8 text)",
                path.display()
            ))
        })?;
        Self::from_text(&text).map_err(|e| e.context(format!("{}: ", path.display())))
    }

    /// Why the saved options may not run with the rights of whoever resumes them, if so:
    /// a --user with uid 0 would keep root's rights after the sockets are open.
    pub fn unsafe_options(&self) -> Option<String> {
        let user = self.options.user.as_deref()?;
        // By name and by uid ("0" may not resolve, and another name may have uid 0); an
        // unknown user is refused later by the config reader, with its own line.
        let root =
            matches!(user, "root" | "0") || matches!(crate::sys::caps::user_ids(user), Ok((0, _)));
        root.then(|| format!("they ask to keep running as root (--user {user})"))
    }

    /// The saved options as a command line (program name left out), shown before a
    /// resumed scan and written in its outputs' headers. For reading only: the options
    /// themselves are what runs.
    pub fn command_line(&self) -> String {
        crate::handoff::NmapCommand::shell_line(&argv_of(&self.options))
    }
}

/// What a scan probes, as "sha256:HEX" over the resolved targets (after exclusions), the
/// ports, the seed and the shard: a resumed run whose targets resolve to anything else
/// (an edited file, a hostname that moved, a target file that changed) would mix two
/// scans in one report, even with as many probes.
pub fn digest(cfg: &ScanConfig) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"synscan probes 1\0");
    for (first, last) in cfg.targets.v4.ranges() {
        h.update(b"4");
        h.update(first.octets());
        h.update(last.octets());
    }
    for (first, last) in cfg.targets.v6.ranges() {
        h.update(b"6");
        h.update(first.octets());
        h.update(last.octets());
    }
    // TCP ports under "p" as before UDP existed, so a TCP-only scan's digest is unchanged.
    for (tag, ports) in [(b"p", &cfg.services.tcp), (b"u", &cfg.services.udp)] {
        for (first, last) in ports.ranges() {
            h.update(tag);
            h.update(first.to_be_bytes());
            h.update(last.to_be_bytes());
        }
    }
    h.update(b"s");
    h.update(cfg.seed.to_be_bytes());
    h.update(b"h");
    h.update(cfg.shard.index.to_be_bytes());
    h.update(cfg.shard.count.to_be_bytes());
    format!("sha256:{:x}", h.finalize())
}

/// `args` as arguments (flags in their clap order, the short form where there is one).
pub fn argv_of(args: &Args) -> Vec<String> {
    use serde_json::Value;
    let Ok(Value::Object(values)) = serde_json::to_value(args) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for arg in super::args::command().get_arguments() {
        let Some(value) = values.get(arg.get_id().as_str()) else {
            continue;
        };
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(c), _) => format!("-{c}"),
            (None, Some(l)) => format!("--{l}"),
            (None, None) => String::new(),
        };
        let mut push = |text: &str| {
            if arg.is_positional() {
                out.push(text.to_string());
            } else if text.starts_with('-') {
                // A value that looks like a flag stays glued to its own.
                out.push(match arg.get_long() {
                    Some(l) => format!("--{l}={text}"),
                    None => format!("{flag}{text}"),
                });
            } else {
                out.push(flag.clone());
                out.push(text.to_string());
            }
        };
        match value {
            Value::String(s) => push(s),
            Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(push),
            Value::Bool(true) => out.push(flag.clone()),
            Value::Number(n) => {
                for _ in 0..n.as_u64().unwrap_or(0).min(8) {
                    out.push(flag.clone());
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(targets: &[&str], ports: &str, seed: &str) -> Args {
        Args {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ports: Some(ports.into()),
            seed: Some(seed.into()),
            ..Args::default()
        }
    }

    #[test]
    fn round_trips_through_text() {
        let mut st = ResumeState::new(
            42,
            "2/3".into(),
            1000,
            5000,
            Args {
                output_xml: vec!["a.xml".into()],
                verbose: 2,
                open: true,
                nmap: Some("-sV -oX svc.xml".into()),
                ..options(&["10.0.0.0/8"], "80", "42")
            },
        );
        st.outputs.push(SavedOutput {
            path: "a.xml".into(),
            absolute: "/home/u/a.xml".into(),
            file: Some((2049, 1234)),
            length: 77,
        });
        st.journal = Some(8);
        assert_eq!(ResumeState::from_text(&st.to_text()), Ok(st));
    }

    #[test]
    fn the_digest_tells_apart_targets_ports_seeds_and_shards_of_one_size() {
        let no_dns = |name: &str| -> Result<Vec<std::net::IpAddr>, String> {
            Err(format!("no DNS in tests ({name})"))
        };
        let build = |argv: &[&str]| {
            use clap::Parser;
            let args = Args::try_parse_from(std::iter::once("synscan").chain(argv.iter().copied()))
                .unwrap();
            crate::cli::config::build(&args, "synscan", &no_dns).unwrap()
        };
        let d = |argv: &[&str]| digest(&build(argv));
        let base = d(&["127.0.0.1", "-p", "22,80", "--seed", "5"]);
        assert!(
            base.starts_with("sha256:") && base.len() == 7 + 64,
            "{base}"
        );
        assert_eq!(base, d(&["127.0.0.1", "-p", "80,22", "--seed", "5"]));
        assert_eq!(
            base,
            d(&[
                "127.0.0.0/31",
                "--exclude",
                "127.0.0.0",
                "-p",
                "22,80",
                "--seed",
                "5"
            ])
        );
        for other in [
            d(&["127.0.0.2", "-p", "22,80", "--seed", "5"]),
            d(&["127.0.0.1", "-p", "22,81", "--seed", "5"]),
            d(&["127.0.0.1", "-p", "22,80", "--seed", "6"]),
            d(&["::1", "-p", "22,80", "--seed", "5"]),
            d(&["127.0.0.1", "-p", "22,80", "--seed", "5", "--shard", "1/2"]),
        ] {
            assert_ne!(other, base);
        }
    }

    #[test]
    fn the_options_are_written_compactly() {
        let st = ResumeState::new(5, "1/1".into(), 0, 1, options(&["198.19.0.1"], "80", "5"));
        let v: serde_json::Value = serde_json::from_str(&st.to_text()).unwrap();
        assert_eq!(
            v["options"],
            serde_json::json!({"targets": ["198.19.0.1"], "ports": "80", "seed": "5"})
        );
        assert_eq!(st.command_line(), "198.19.0.1 -p 80 --seed 5");
    }

    #[test]
    fn the_command_line_shows_every_kind_of_flag() {
        let args = Args {
            exclude: vec!["198.19.0.9".into()],
            connect: true,
            verbose: 2,
            nmap: Some("-sV -oX svc.xml".into()),
            interface: Some("veth0".into()),
            ..options(&["198.19.0.0/24", "198.19.1.1"], "-", "7")
        };
        assert_eq!(
            argv_of(&args),
            [
                "198.19.0.0/24",
                "198.19.1.1",
                "--exclude",
                "198.19.0.9",
                "--ports=-",
                "--connect",
                "--seed",
                "7",
                "-e",
                "veth0",
                "-v",
                "-v",
                "--nmap=-sV -oX svc.xml",
            ]
        );
    }

    #[test]
    fn rejects_other_files_old_formats_and_impossible_positions() {
        assert!(ResumeState::from_text("hello").is_err());
        let mut st = ResumeState::new(1, "1/1".into(), 6, 5, Args::default());
        let e = ResumeState::from_text(&st.to_text()).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Usage);
        assert!(e.to_string().contains("beyond"), "{e}");
        st.position = 5;
        st.synscan_resume = 99;
        assert!(ResumeState::from_text(&st.to_text())
            .unwrap_err()
            .to_string()
            .contains("format 99"));
        // A file of the previous format (raw arguments) gets a line saying what to do.
        let old = r#"{"synscan_resume": 2, "seed": 5, "shard": "1/1", "position": 0,
                      "probes": 1, "args": ["198.19.0.1", "-p", "80", "--seed", "5"]}"#;
        assert_eq!(
            ResumeState::from_text(old).unwrap_err().to_string(),
            "resume file format 2 was written by an older synscan and is not supported (this synscan writes 4); finish the scan with that version, or start it again"
        );
    }

    /// The attacker writes a resume file by hand: flags that are not scan options, or that
    /// would widen what runs, never get through the typed options.
    #[test]
    fn crafted_options_cannot_resume_resume_or_keep_root() {
        let text = |options: serde_json::Value| {
            serde_json::json!({
                "synscan_resume": FORMAT, "seed": 5, "shard": "1/1", "position": 0,
                "probes": 1, "digest": "sha256:0", "options": options,
            })
            .to_string()
        };
        for key in [
            "resume",
            "resume_file",
            "firewall_rule",
            "generate",
            "help",
            "argv",
        ] {
            let e = ResumeState::from_text(&text(serde_json::json!({ key: "x" })))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("not a synscan resume file (unknown field"),
                "{key}: {e}"
            );
        }
        for user in ["root", "0"] {
            let st = ResumeState::from_text(&text(serde_json::json!({ "user": user }))).unwrap();
            assert_eq!(
                st.unsafe_options(),
                Some(format!("they ask to keep running as root (--user {user})"))
            );
        }
        let st = ResumeState::from_text(&text(serde_json::json!({ "user": "nobody" }))).unwrap();
        assert_eq!(st.unsafe_options(), None);
    }
}
