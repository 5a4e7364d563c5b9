//! A file keeper: a child process forked before the scanner gives up root, which keeps
//! root's right to write or remove one file (the resume file) and does nothing else.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The parent's end of a keeper.
pub struct FileKeeper {
    tx: Option<File>,
    pid: libc::pid_t,
}

/// What the keeper is told to do with its file.
const SAVE: u8 = b'S';
const REMOVE: u8 = b'R';

/// Forks a keeper for `path`. Call it while the process runs one thread and before it
/// opens sockets or files the keeper must not hold.
pub fn spawn(path: &Path) -> io::Result<FileKeeper> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these descriptors; each is owned once.
    let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let path: PathBuf = path.to_path_buf();
    // SAFETY: the caller guarantees a single thread, so the child may run ordinary code
    // (and glibc's fork leaves malloc usable in the child in any case).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        drop(tx);
        let code = keep(File::from(rx), &path);
        // SAFETY: leaving the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(rx);
    Ok(FileKeeper {
        tx: Some(File::from(tx)),
        pid,
    })
}

/// The child: waits for one instruction, carries it out, exits.
fn keep(mut rx: File, path: &Path) -> i32 {
    // Ctrl-C reaches the whole process group; the keeper must outlive it to save the file.
    // SAFETY: setting signal dispositions to ignore has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    let mut msg = Vec::new();
    if rx.read_to_end(&mut msg).is_err() {
        return 1;
    }
    let result = match msg.split_first() {
        Some((&SAVE, body)) => {
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".tmp");
            std::fs::write(&tmp, body).and_then(|_| std::fs::rename(&tmp, path))
        }
        Some((&REMOVE, _)) => match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        _ => Ok(()),
    };
    match result {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

impl FileKeeper {
    fn tell(&mut self, op: u8, body: &[u8]) -> io::Result<()> {
        let mut tx = self
            .tx
            .take()
            .ok_or_else(|| io::Error::other("the file keeper was already told"))?;
        tx.write_all(&[op])?;
        tx.write_all(body)?;
        drop(tx);
        self.wait()
    }

    fn wait(&mut self) -> io::Result<()> {
        let mut status = 0;
        // SAFETY: pid is our child; status is a valid out pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        self.pid = 0;
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            Ok(())
        } else {
            Err(io::Error::other(
                "the privileged file keeper could not do it",
            ))
        }
    }

    /// Writes `content` to the file (atomically) with the rights the process started with.
    pub fn save(&mut self, content: &[u8]) -> io::Result<()> {
        self.tell(SAVE, content)
    }

    /// Removes the file (a missing file is fine).
    pub fn remove(&mut self) -> io::Result<()> {
        self.tell(REMOVE, &[])
    }
}

impl Drop for FileKeeper {
    fn drop(&mut self) {
        if self.pid > 0 {
            self.tx = None;
            let _ = self.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test harness runs threads; the child still may allocate, because glibc's fork
    // takes and re-initialises the malloc locks for the child.
    #[test]
    fn saves_removes_and_does_nothing_when_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let mut k = spawn(&path).expect("fork");
        k.save(b"hello").expect("save");
        assert_eq!(std::fs::read(&path).expect("read"), b"hello");
        let mut k = spawn(&path).expect("fork");
        k.remove().expect("remove");
        assert!(!path.exists());
        std::fs::write(&path, b"keep").expect("write");
        drop(spawn(&path).expect("fork"));
        assert_eq!(std::fs::read(&path).expect("read"), b"keep");
    }
}
