//! The resume file: where an interrupted scan stopped, the arguments that define it and
//! the length of every output at that point. It is checkpointed every few seconds while
//! the scan runs (so even SIGKILL loses little) and once more when a scan is stopped.

use crate::error::ScanError;
use crate::sys::fs::{self, DirFile};
use crate::sys::keeper::{self, FileKeeper};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the file format this synscan writes (it reads 1 too).
const FORMAT: u32 = 2;

/// Suffix of the journal kept beside the resume file for grouped outputs.
pub const JOURNAL_SUFFIX: &str = ".journal";

/// An output file and its length at the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedOutput {
    /// The path, as given on the command line.
    pub path: String,
    /// Bytes that belong to the results before `position`.
    pub length: u64,
}

/// What `--resume FILE` needs to finish exactly the rest of a scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    /// File format version.
    pub synscan_resume: u32,
    /// Seed of the order (also inside `args`, as --seed).
    pub seed: u64,
    /// Shard, as "i/n".
    pub shard: String,
    /// Position in the shard's order: every probe before it is decided and written.
    pub position: u64,
    /// Probes in the shard: a resumed run must find the same number.
    pub probes: u64,
    /// The scan's arguments without the program name, --seed included.
    pub args: Vec<String>,
    /// File outputs and their lengths at `position`; a resumed run cuts each back to it.
    #[serde(default)]
    pub outputs: Vec<SavedOutput>,
    /// Length of the journal (`FILE.journal`) at `position`, when grouped outputs keep one.
    #[serde(default)]
    pub journal: Option<u64>,
}

/// One checkpoint's numbers: all the keeper is ever sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every probe before this position is decided and written.
    pub position: u64,
    /// Lengths of the file outputs, in the order of [`ResumeState::outputs`].
    pub lengths: Vec<u64>,
    /// Length of the journal, if there is one.
    pub journal: Option<u64>,
}

impl Checkpoint {
    fn to_numbers(&self) -> Vec<u64> {
        let mut v = vec![self.position, self.journal.unwrap_or(u64::MAX)];
        v.extend_from_slice(&self.lengths);
        v
    }

    fn from_numbers(n: &[u64]) -> Checkpoint {
        Checkpoint {
            position: n.first().copied().unwrap_or(0),
            journal: n.get(1).copied().filter(|&j| j != u64::MAX),
            lengths: n.get(2..).unwrap_or(&[]).to_vec(),
        }
    }
}

impl ResumeState {
    /// A state for `args` stopped at `position` of `probes`.
    pub fn new(seed: u64, shard: String, position: u64, probes: u64, args: Vec<String>) -> Self {
        ResumeState {
            synscan_resume: FORMAT,
            seed,
            shard,
            position,
            probes,
            args,
            outputs: Vec::new(),
            journal: None,
        }
    }

    /// This state with a checkpoint's numbers filled in.
    pub fn at(&self, cp: &Checkpoint) -> ResumeState {
        let mut st = self.clone();
        st.position = cp.position;
        for (o, len) in st.outputs.iter_mut().zip(&cp.lengths) {
            o.length = *len;
        }
        st.journal = self.journal.and(cp.journal);
        st
    }

    /// The file's text (one JSON object).
    pub fn to_text(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a resume file's text.
    pub fn from_text(text: &str) -> Result<ResumeState, ScanError> {
        let st: ResumeState = serde_json::from_str(text)
            .map_err(|e| ScanError::usage(format!("not a synscan resume file ({e})")))?;
        if st.synscan_resume != FORMAT && st.synscan_resume != 1 {
            return Err(ScanError::usage(format!(
                "resume file format {} is not supported (this synscan writes {FORMAT})",
                st.synscan_resume
            )));
        }
        if st.position > st.probes {
            return Err(ScanError::usage(format!(
                "resume position {} is beyond the scan's {} probes",
                st.position, st.probes
            )));
        }
        Ok(st)
    }

    /// Reads `path` if it is trusted: owned by the real user or root, writable by nobody
    /// else, not a link planted in a shared directory.
    pub fn read(path: &Path) -> Result<ResumeState, ScanError> {
        use std::io::Read;
        let mut f = fs::open_trusted_for_reading(path)?;
        let mut text = String::new();
        f.read_to_string(&mut text).map_err(|e| {
            ScanError::usage(format!("cannot read resume file {}: {e}", path.display()))
        })?;
        Self::from_text(&text).map_err(|e| e.context(format!("{}: ", path.display())))
    }
}

/// Cuts each file output back to its length at the checkpoint, so what a killed run wrote
/// after it (and will do again) disappears. Only regular files are cut.
pub fn cut_outputs(state: &ResumeState) -> Result<(), ScanError> {
    for o in &state.outputs {
        let path = Path::new(&o.path);
        fs::check_link(path)?;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| {
                ScanError::usage(format!(
                    "cannot reopen output {} of the interrupted scan: {e}; restore it or start the scan again",
                    o.path
                ))
            })?;
        let meta = f
            .metadata()
            .map_err(|e| ScanError::usage(format!("cannot inspect output {}: {e}", o.path)))?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() < o.length {
            return Err(ScanError::usage(format!(
                "output {} holds {} bytes where the interrupted scan had written {}; it changed since, so restore it or start the scan again",
                o.path,
                meta.len(),
                o.length
            )));
        }
        f.set_len(o.length).map_err(|e| {
            ScanError::usage(format!(
                "cannot cut output {} back to the checkpoint: {e}",
                o.path
            ))
        })?;
    }
    Ok(())
}

/// Who writes the resume file.
enum Writer {
    /// The scanner itself (it keeps its rights): the file and its companions.
    InProcess(DirFile, Vec<DirFile>),
    /// A keeper process forked while the scanner was root.
    Kept(FileKeeper),
}

/// Where a scan checkpoints its state. When the scanner gives up root, a keeper process
/// forked beforehand keeps the right to write (or remove) the file wherever root could,
/// and nothing else; otherwise the scanner writes it with the same code.
pub struct ResumeSlot {
    path: PathBuf,
    template: ResumeState,
    writer: Writer,
    written: bool,
}

impl ResumeSlot {
    /// A slot for `path` whose checkpoints fill in `template`; with `keep`, a keeper
    /// process writes it (call while the process has one thread).
    pub fn new(path: &Path, template: ResumeState, keep: bool) -> std::io::Result<ResumeSlot> {
        let file = DirFile::new(path)?;
        let companions = vec![file.sibling(JOURNAL_SUFFIX)?];
        let writer = if keep {
            let words = 2 + template.outputs.len();
            let t = template.clone();
            let render: keeper::Render = Box::new(move |n: &[u64]| {
                t.at(&Checkpoint::from_numbers(n)).to_text().into_bytes()
            });
            Writer::Kept(keeper::spawn(file, companions, words, render)?)
        } else {
            Writer::InProcess(file, companions)
        };
        Ok(ResumeSlot {
            path: path.to_path_buf(),
            template,
            writer,
            written: false,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state a checkpoint stands for.
    pub fn state(&self, cp: &Checkpoint) -> ResumeState {
        self.template.at(cp)
    }

    /// Writes a checkpoint (atomically).
    pub fn save(&mut self, cp: &Checkpoint) -> std::io::Result<()> {
        let r = match &mut self.writer {
            Writer::Kept(k) => k.save(&cp.to_numbers()),
            Writer::InProcess(f, _) => f.write_atomic(self.template.at(cp).to_text().as_bytes()),
        };
        self.written |= r.is_ok();
        r
    }

    /// The scan completed: removes the journal, and the file if this run wrote it or
    /// resumed from it (another scan's file is left alone).
    pub fn complete(&mut self, resumed: bool) {
        let file = resumed || self.written;
        let removed = match &mut self.writer {
            Writer::Kept(k) => k.remove(file),
            Writer::InProcess(f, companions) => companions
                .iter()
                .chain(file.then_some(&*f))
                .try_for_each(DirFile::remove),
        };
        if let Err(e) = removed {
            eprintln!(
                "synscan: the scan is complete, but {} could not be removed ({e}); delete it",
                self.path.display()
            );
        }
    }
}

/// The scan's arguments to save: without the program name and --resume-file, with --seed.
pub fn saved_args(argv: &[String], seed: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = argv.iter().skip(1);
    let mut has_seed = false;
    while let Some(a) = it.next() {
        if a == "--resume-file" {
            it.next();
            continue;
        }
        if a.starts_with("--resume-file=") {
            continue;
        }
        if a == "--seed" || a.starts_with("--seed=") {
            has_seed = true;
        }
        out.push(a.clone());
    }
    if !has_seed {
        out.push("--seed".to_string());
        out.push(seed.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn round_trips_through_text() {
        let st = ResumeState::new(
            42,
            "2/3".into(),
            1000,
            5000,
            args(&["10.0.0.0/8", "-p", "80"]),
        );
        assert_eq!(ResumeState::from_text(&st.to_text()), Ok(st));
    }

    #[test]
    fn rejects_other_files_and_impossible_positions() {
        assert!(ResumeState::from_text("hello").is_err());
        let mut st = ResumeState::new(1, "1/1".into(), 6, 5, vec![]);
        assert!(ResumeState::from_text(&st.to_text())
            .unwrap_err()
            .to_string()
            .contains("beyond"));
        st.position = 5;
        st.synscan_resume = 99;
        assert!(ResumeState::from_text(&st.to_text())
            .unwrap_err()
            .to_string()
            .contains("format 99"));
    }

    #[test]
    fn saved_args_pin_the_seed_and_drop_the_resume_file() {
        assert_eq!(
            saved_args(
                &args(&["synscan", "198.19.0.0/24", "--resume-file", "x", "-p", "80"]),
                7
            ),
            args(&["198.19.0.0/24", "-p", "80", "--seed", "7"])
        );
        assert_eq!(
            saved_args(&args(&["synscan", "--seed=9", "198.19.0.1"]), 7),
            args(&["--seed=9", "198.19.0.1"])
        );
    }
}
