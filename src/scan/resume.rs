//! The running side of the resume file: checkpoints written every few seconds while the
//! scan runs (so even SIGKILL loses little) and once more when a scan is stopped, by the
//! scanner or by a keeper process that outlives its root rights; and, on resume, the
//! outputs cut back to the checkpoint. The file's format is `cli::resume`, beside the
//! configuration it restores.

pub use crate::cli::resume::{ResumeState, SavedOutput};
use crate::error::ScanError;
use crate::sys::fs::{self, DirFile};
use crate::sys::keeper::{self, FileKeeper};
use std::path::{Path, PathBuf};

/// Suffix of the journal kept beside the resume file for grouped outputs.
pub const JOURNAL_SUFFIX: &str = ".journal";

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
    /// `state` at this checkpoint.
    pub fn apply(&self, state: &ResumeState) -> ResumeState {
        state.at(self.position, &self.lengths, self.journal)
    }

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

/// Cuts each file output back to its length at the checkpoint, so what a killed run wrote
/// after it (and will do again) disappears. Only regular files are cut.
pub fn cut_outputs(state: &ResumeState) -> Result<(), ScanError> {
    for o in &state.outputs {
        let path = Path::new(&o.path);
        let out = fs::open_output(path, false).map_err(|e| {
            ScanError::usage(match e {
                fs::OpenError::Io(e) => format!(
                    "cannot reopen output {} of the interrupted scan: {e}; restore it or start the scan again",
                    o.path
                ),
                refused => refused.line("output", path),
            })
        })?;
        let f = out.file;
        if let Some(created) = &out.created {
            // It was missing: the run must not leave an empty file it made behind.
            let _ = created.remove();
        }
        let meta = f
            .metadata()
            .map_err(|e| ScanError::usage(format!("cannot inspect output {}: {e}", o.path)))?;
        if !meta.is_file() || out.inherited {
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
                Checkpoint::from_numbers(n).apply(&t).to_text().into_bytes()
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
        cp.apply(&self.template)
    }

    /// Writes a checkpoint (atomically).
    pub fn save(&mut self, cp: &Checkpoint) -> std::io::Result<()> {
        let r = match &mut self.writer {
            Writer::Kept(k) => k.save(&cp.to_numbers()),
            Writer::InProcess(f, _) => {
                f.write_atomic(cp.apply(&self.template).to_text().as_bytes())
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_numbers_round_trip_and_fill_in_the_state() {
        let mut st = ResumeState::new(5, "1/1".into(), 0, 100, crate::cli::args::Args::default());
        st.outputs = vec![
            SavedOutput {
                path: "a.json".into(),
                length: 0,
            },
            SavedOutput {
                path: "b.xml".into(),
                length: 0,
            },
        ];
        st.journal = Some(0);
        let cp = Checkpoint {
            position: 60,
            lengths: vec![10, 20],
            journal: Some(8),
        };
        assert_eq!(Checkpoint::from_numbers(&cp.to_numbers()), cp);
        let at = cp.apply(&st);
        assert_eq!(
            (
                at.position,
                at.outputs[0].length,
                at.outputs[1].length,
                at.journal
            ),
            (60, 10, 20, Some(8))
        );
        let none = Checkpoint {
            journal: None,
            ..cp
        };
        assert_eq!(Checkpoint::from_numbers(&none.to_numbers()), none);
    }
}
