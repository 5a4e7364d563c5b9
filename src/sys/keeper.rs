//! A file keeper: a child process forked before the scanner gives up root, which keeps
//! root's right to write or remove one file (the resume file) and does nothing else.
//!
//! The keeper holds the directory, the file's name and a renderer of the file's text
//! itself; from then on the scanner sends only fixed-size messages of numbers (a
//! checkpoint) or a removal order, never bytes to write, and the keeper answers each.

use super::fs::DirFile;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// Renders the file's text from a checkpoint's numbers.
pub type Render = Box<dyn Fn(&[u64]) -> Vec<u8> + Send>;

/// The parent's end of a keeper.
pub struct FileKeeper {
    tx: Option<File>,
    rx: File,
    pid: libc::pid_t,
    words: usize,
}

/// Message kinds: write a checkpoint, or remove the file (and its companions).
const SAVE: u8 = b'S';
const REMOVE: u8 = b'R';

/// Most numbers in one checkpoint: a message stays far below PIPE_BUF.
pub const MAX_WORDS: usize = 64;

fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these descriptors; each is owned once.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(r), File::from(w)))
}

/// Forks a keeper of `file` (plus `companions`, removed with it) whose checkpoints carry
/// `words` numbers rendered by `render`. Call it while the process runs one thread and
/// before it opens sockets or files the keeper must not hold.
pub fn spawn(
    file: DirFile,
    companions: Vec<DirFile>,
    words: usize,
    render: Render,
) -> io::Result<FileKeeper> {
    if words > MAX_WORDS {
        return Err(io::Error::other("too many numbers for a checkpoint"));
    }
    let (req_rx, req_tx) = pipe()?;
    let (ack_rx, ack_tx) = pipe()?;
    // SAFETY: the caller guarantees a single thread, so the child may run ordinary code
    // (and glibc's fork leaves malloc usable in the child in any case).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        drop(req_tx);
        drop(ack_rx);
        let code = keep(req_rx, ack_tx, &file, &companions, words, &render);
        // SAFETY: leaving the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(req_rx);
    drop(ack_tx);
    Ok(FileKeeper {
        tx: Some(req_tx),
        rx: ack_rx,
        pid,
        words,
    })
}

/// The child: carries out messages until the scanner closes its end (or dies).
fn keep(
    mut rx: File,
    mut ack: File,
    file: &DirFile,
    companions: &[DirFile],
    words: usize,
    render: &Render,
) -> i32 {
    // Ctrl-C reaches the whole process group; the keeper must outlive it to save the file.
    // SAFETY: setting signal dispositions to ignore has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    let mut msg = vec![0u8; 1 + 8 * words];
    loop {
        // EOF (the scanner ended, even by SIGKILL) ends the keeper; the last checkpoint
        // written stays.
        if rx.read_exact(&mut msg).is_err() {
            return 0;
        }
        let result = match msg[0] {
            SAVE => {
                let numbers: Vec<u64> = msg[1..]
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect();
                file.write_atomic(&render(&numbers))
            }
            REMOVE => {
                let also_file = msg[1] != 0;
                companions
                    .iter()
                    .chain(also_file.then_some(file))
                    .try_for_each(DirFile::remove)
            }
            _ => Err(io::Error::other("unknown message")),
        };
        let status: i32 = match result {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO).max(1),
        };
        if ack.write_all(&status.to_le_bytes()).is_err() {
            return 1;
        }
    }
}

impl FileKeeper {
    fn tell(&mut self, op: u8, numbers: &[u64]) -> io::Result<()> {
        let tx = self
            .tx
            .as_mut()
            .ok_or_else(|| io::Error::other("the file keeper has ended"))?;
        let mut msg = Vec::with_capacity(1 + 8 * self.words);
        msg.push(op);
        for i in 0..self.words {
            msg.extend_from_slice(&numbers.get(i).copied().unwrap_or(0).to_le_bytes());
        }
        tx.write_all(&msg)?;
        let mut status = [0u8; 4];
        self.rx
            .read_exact(&mut status)
            .map_err(|_| io::Error::other("the privileged file keeper has died"))?;
        match i32::from_le_bytes(status) {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    /// Writes a checkpoint (atomically) with the rights the process started with.
    pub fn save(&mut self, numbers: &[u64]) -> io::Result<()> {
        if numbers.len() != self.words {
            return Err(io::Error::other("a checkpoint of the wrong size"));
        }
        self.tell(SAVE, numbers)
    }

    /// Removes the companions, and the file itself when `file` is true (missing files
    /// are fine).
    pub fn remove(&mut self, file: bool) -> io::Result<()> {
        self.tell(REMOVE, &[u64::from(file)])
    }
}

impl Drop for FileKeeper {
    fn drop(&mut self) {
        if self.pid > 0 {
            self.tx = None;
            let mut status = 0;
            // SAFETY: pid is our child; status is a valid out pointer.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render() -> Render {
        Box::new(|n: &[u64]| format!("{n:?}").into_bytes())
    }

    // The test harness runs threads; the child still may allocate, because glibc's fork
    // takes and re-initialises the malloc locks for the child.
    #[test]
    fn writes_many_checkpoints_from_numbers_then_removes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let journal = dir.path().join("state.journal");
        std::fs::write(&journal, b"j").expect("journal");
        let file = DirFile::new(&path).expect("dir");
        let companion = file.sibling(".journal").expect("sibling");
        let mut k = spawn(file, vec![companion], 3, render()).expect("fork");
        for i in 0..20u64 {
            k.save(&[i, 2 * i, 7]).expect("save");
            assert_eq!(
                std::fs::read_to_string(&path).expect("read"),
                format!("[{i}, {}, 7]", 2 * i)
            );
        }
        assert!(k.save(&[1, 2]).is_err(), "only fixed-size checkpoints");
        k.save(&[5, 5, 5]).expect("still serving");
        k.remove(false).expect("remove the journal only");
        assert!(path.exists() && !journal.exists());
        k.remove(true).expect("remove");
        assert!(!path.exists() && !journal.exists());
        drop(k);
        // Dropping a keeper that was never told anything leaves the file alone.
        std::fs::write(&path, b"keep").expect("write");
        drop(spawn(DirFile::new(&path).expect("dir"), vec![], 1, render()).expect("fork"));
        assert_eq!(std::fs::read(&path).expect("read"), b"keep");
    }

    #[test]
    fn a_failed_write_is_reported_and_the_keeper_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let file = DirFile::new(&path).expect("dir");
        let mut k = spawn(file, vec![], 1, render()).expect("fork");
        // A directory where the file should be: rename fails.
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::write(path.join("x"), b"x").expect("fill");
        assert!(k.save(&[1]).is_err());
        std::fs::remove_dir_all(&path).expect("rmdir");
        k.save(&[2]).expect("save after the failure");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "[2]");
    }
}
