//! The resume file: where an interrupted scan stopped, and the arguments that define it.

use crate::sys::keeper::{self, FileKeeper};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the file format.
const FORMAT: u32 = 1;

/// What `--resume FILE` needs to finish exactly the rest of a scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    /// File format version.
    pub synscan_resume: u32,
    /// Seed of the order (also inside `args`, as --seed).
    pub seed: u64,
    /// Shard, as "i/n".
    pub shard: String,
    /// Position in the shard's order of the first probe not sent.
    pub position: u64,
    /// Probes in the shard: a resumed run must find the same number.
    pub probes: u64,
    /// The scan's arguments without the program name, --seed included.
    pub args: Vec<String>,
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
        }
    }

    /// The file's text (one JSON object).
    pub fn to_text(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a resume file's text.
    pub fn from_text(text: &str) -> Result<ResumeState, String> {
        let st: ResumeState =
            serde_json::from_str(text).map_err(|e| format!("not a synscan resume file ({e})"))?;
        if st.synscan_resume != FORMAT {
            return Err(format!(
                "resume file format {} is not supported (this synscan writes {FORMAT})",
                st.synscan_resume
            ));
        }
        if st.position > st.probes {
            return Err(format!(
                "resume position {} is beyond the scan's {} probes",
                st.position, st.probes
            ));
        }
        Ok(st)
    }

    /// Reads `path`.
    pub fn read(path: &Path) -> Result<ResumeState, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read resume file {}: {e}", path.display()))?;
        Self::from_text(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes `path` atomically (temporary file, then rename), so a crash leaves the old one.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.to_text())?;
        std::fs::rename(&tmp, path)
    }
}

/// Where an interrupted scan saves its state. When the scanner gives up root, a keeper
/// process forked beforehand keeps the right to write (or remove) the file wherever root
/// could, and nothing else.
pub struct ResumeSlot {
    path: PathBuf,
    keeper: Option<FileKeeper>,
}

impl ResumeSlot {
    /// A slot the scanner writes itself.
    pub fn at(path: &Path) -> ResumeSlot {
        ResumeSlot {
            path: path.to_path_buf(),
            keeper: None,
        }
    }

    /// A slot written by a keeper process; call while the process has one thread.
    pub fn kept(path: &Path) -> std::io::Result<ResumeSlot> {
        Ok(ResumeSlot {
            path: path.to_path_buf(),
            keeper: Some(keeper::spawn(path)?),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves `state`.
    pub fn save(&mut self, state: &ResumeState) -> std::io::Result<()> {
        match self.keeper.as_mut() {
            Some(k) => k.save(state.to_text().as_bytes()),
            None => state.write(&self.path),
        }
    }

    /// The scan completed; a resumed run removes the file it finished.
    pub fn complete(&mut self, resumed: bool) {
        if !resumed {
            return;
        }
        let removed = match self.keeper.as_mut() {
            Some(k) => k.remove(),
            None => std::fs::remove_file(&self.path),
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
            .contains("beyond"));
        st.position = 5;
        st.synscan_resume = 99;
        assert!(ResumeState::from_text(&st.to_text())
            .unwrap_err()
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
