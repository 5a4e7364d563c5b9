//! The running side of the resume file: checkpoints written every few seconds while the
//! scan runs (so even SIGKILL loses little) and once more when a scan is stopped, by the
//! scanner or by a keeper process that outlives its root rights. (A resumed run's outputs
//! are checked and cut back to the checkpoint by `output::files`.) The file's format is
//! `cli::resume`, beside the configuration it restores.

pub use crate::cli::resume::{ResumeState, SavedOutput};
use crate::error::ScanError;
use crate::sys::fs::DirFile;
use crate::sys::keeper::{self, FileKeeper};
use std::path::{Path, PathBuf};

/// Suffix of the journal kept beside the resume file for grouped outputs.
pub const JOURNAL_SUFFIX: &str = ".journal";
/// Suffix of the file a scan holds an flock on for its whole life, beside the resume
/// file (which is replaced by rename at every checkpoint, so cannot carry the lock).
pub const LOCK_SUFFIX: &str = ".lock";

/// One checkpoint's numbers: with the outputs' files, all the keeper is ever sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every probe before this position is decided and written.
    pub position: u64,
    /// Lengths of the file outputs, in the order of [`ResumeState::outputs`].
    pub lengths: Vec<u64>,
    /// Length of the journal, if there is one.
    pub journal: Option<u64>,
}

/// Most file outputs a resume file keeps (a checkpoint sends three numbers for each).
pub const MAX_OUTPUTS: usize = (keeper::MAX_WORDS - 2) / 3;

/// A number that stands for "none".
const NONE: u64 = u64::MAX;

impl Checkpoint {
    /// `state` at this checkpoint.
    pub fn apply(&self, state: &ResumeState) -> ResumeState {
        state.at(self.position, &self.lengths, self.journal)
    }

    /// The numbers sent to the keeper: position, journal length, each output's length,
    /// then each output's file (device, inode), in the order of the outputs.
    fn to_numbers(&self, files: &[Option<(u64, u64)>]) -> Vec<u64> {
        let mut v = vec![self.position, self.journal.unwrap_or(NONE)];
        v.extend_from_slice(&self.lengths);
        for f in files {
            let (dev, ino) = f.unwrap_or((NONE, NONE));
            v.extend_from_slice(&[dev, ino]);
        }
        v
    }

    /// The checkpoint and the outputs' files of [`Checkpoint::to_numbers`].
    fn from_numbers(n: &[u64]) -> (Checkpoint, Vec<Option<(u64, u64)>>) {
        let outputs = n.len().saturating_sub(2) / 3;
        let rest = n.get(2..).unwrap_or(&[]);
        let (lengths, files) = rest.split_at(outputs.min(rest.len()));
        let cp = Checkpoint {
            position: n.first().copied().unwrap_or(0),
            journal: n.get(1).copied().filter(|&j| j != NONE),
            lengths: lengths.to_vec(),
        };
        let files = files
            .chunks_exact(2)
            .map(|f| (f[0] != NONE || f[1] != NONE).then_some((f[0], f[1])))
            .collect();
        (cp, files)
    }
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
    /// The lock file and the flock held on it while the slot lives; None where the
    /// directory cannot be written (no resume file can be written there either).
    lock: Option<(DirFile, std::fs::File)>,
}

impl ResumeSlot {
    /// A slot for `path` whose checkpoints fill in `template`; with `keep`, a keeper
    /// process writes it (call while the process has one thread). Holds the lock beside
    /// the file: refused while another scan uses the file, and, unless `resuming` from
    /// it, when it holds an interrupted scan's state.
    pub fn new(
        path: &Path,
        template: ResumeState,
        keep: bool,
        resuming: bool,
    ) -> Result<ResumeSlot, ScanError> {
        let shown = path.display();
        let cannot = |e: std::io::Error| {
            ScanError::usage(format!(
                "cannot use {shown} as the resume file: {e}; give --resume-file a path in a directory you can write"
            ))
        };
        let file = DirFile::new(path).map_err(cannot)?;
        let lock_place = file.sibling(LOCK_SUFFIX).map_err(cannot)?;
        let lock = match lock_place.lock() {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                return Err(ScanError::usage(format!(
                    "another scan is using the resume file {shown} (it holds {shown}{LOCK_SUFFIX}); wait for it to end, or give this scan its own --resume-file"
                )));
            }
            // A directory this scan cannot write (an unprivileged scan in a root-owned
            // working directory): nothing can be checkpointed there, so nothing to share;
            // the scan runs as it did before the lock existed.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                None
            }
            Err(e) => {
                return Err(ScanError::usage(format!(
                    "cannot lock the resume file {shown} ({shown}{LOCK_SUFFIX}: {e}); give this scan its own --resume-file"
                )));
            }
        };
        // Locked: from here on the lock file goes when the run gives up.
        let locked = lock.is_some();
        let unlock = |e: ScanError| {
            if locked {
                let _ = lock_place.remove();
            }
            e
        };
        // What is there now (a link or a FIFO is replaced, never followed or read).
        let head = file.head(64).map_err(cannot).map_err(unlock)?;
        let state = head
            .as_ref()
            .is_some_and(|h| String::from_utf8_lossy(h).contains("\"synscan_resume\""));
        if !resuming && state {
            return Err(unlock(ScanError::usage(format!(
                "{shown} holds the state of an interrupted scan; finish that scan with `synscan --resume {shown}`, remove the file, or give this scan its own --resume-file"
            ))));
        }
        if resuming && head.is_none() {
            return Err(unlock(ScanError::usage(format!(
                "the resume file {shown} is gone: the scan it held was finished or started again since"
            ))));
        }
        let companions = vec![
            file.sibling(JOURNAL_SUFFIX)
                .map_err(cannot)
                .map_err(unlock)?,
            file.sibling(LOCK_SUFFIX).map_err(cannot).map_err(unlock)?,
        ];
        let writer = if keep {
            let words = 2 + 3 * template.outputs.len();
            let t = template.clone();
            let render: keeper::Render = Box::new(move |n: &[u64]| {
                let (cp, files) = Checkpoint::from_numbers(n);
                cp.apply(&t.with_files(&files)).to_text().into_bytes()
            });
            Writer::Kept(
                keeper::spawn(file, companions, words, render)
                    .map_err(cannot)
                    .map_err(unlock)?,
            )
        } else {
            Writer::InProcess(file, companions)
        };
        Ok(ResumeSlot {
            path: path.to_path_buf(),
            template,
            writer,
            written: false,
            lock: lock.map(|l| (lock_place, l)),
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

    /// Records the files the outputs are (device, inode; None for an inherited
    /// descriptor), in the order of [`ResumeState::outputs`], once they are open: every
    /// checkpoint saves them.
    pub fn bind_files(&mut self, files: &[Option<(u64, u64)>]) {
        self.template = self.template.with_files(files);
    }

    fn files(&self) -> Vec<Option<(u64, u64)>> {
        self.template.outputs.iter().map(|o| o.file).collect()
    }

    /// Writes a checkpoint (atomically).
    pub fn save(&mut self, cp: &Checkpoint) -> std::io::Result<()> {
        let files = self.files();
        let r = match &mut self.writer {
            Writer::Kept(k) => k.save(&cp.to_numbers(&files)),
            Writer::InProcess(f, _) => {
                f.write_atomic(cp.apply(&self.template).to_text().as_bytes())
            }
        };
        self.written |= r.is_ok();
        r
    }

    /// The scan completed: removes the journal and the lock file, and the file if this run
    /// wrote it or resumed from it (another scan's file is left alone).
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

impl Drop for ResumeSlot {
    /// The lock file goes with the run (while its flock is still held): it only matters
    /// while held. Best effort: a scanner that gave up root may not remove it, and a later
    /// scan takes it again.
    fn drop(&mut self) {
        if let Some((place, _)) = &self.lock {
            let _ = place.remove();
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
                absolute: "/w/a.json".into(),
                file: None,
                length: 0,
            },
            SavedOutput {
                path: "/dev/stdout".into(),
                absolute: "/dev/stdout".into(),
                file: None,
                length: 0,
            },
        ];
        st.journal = Some(0);
        let cp = Checkpoint {
            position: 60,
            lengths: vec![10, 20],
            journal: Some(8),
        };
        let files = [Some((2049, 77)), None];
        assert_eq!(
            Checkpoint::from_numbers(&cp.to_numbers(&files)),
            (cp.clone(), files.to_vec())
        );
        let at = cp.apply(&st.with_files(&files));
        assert_eq!(
            (
                at.position,
                at.outputs[0].length,
                at.outputs[1].length,
                at.journal,
                at.outputs[0].file,
                at.outputs[1].file,
            ),
            (60, 10, 20, Some(8), Some((2049, 77)), None)
        );
        let none = Checkpoint {
            journal: None,
            ..cp
        };
        assert_eq!(
            Checkpoint::from_numbers(&none.to_numbers(&files)),
            (none, files.to_vec())
        );
    }
}
