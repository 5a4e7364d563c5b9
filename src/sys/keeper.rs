//! File keepers: child processes forked before the scanner gives up root, each keeping
//! root's right to write or remove one file and doing nothing else.
//!
//! The checkpoint keeper ([`spawn`], the resume file) holds the directory, the file's
//! name and a renderer of the file's text itself; from then on the scanner sends only
//! fixed-size messages of numbers (a checkpoint) or a removal order, never bytes to write.
//! The text keeper ([`spawn_text`], the metrics file) takes the text from the scanner, but
//! only up to a size bound, only text its check accepts, and only to the one place opened
//! before the first probe. Each keeper answers every message with a status, and holds no
//! descriptor but its pipes and its directories (not another keeper's pipes, so each ends
//! when the scanner closes its own).

use super::fs::DirFile;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Renders the file's text from a checkpoint's numbers.
pub type Render = Box<dyn Fn(&[u64]) -> Vec<u8> + Send>;

/// Accepts a text before it is written, or says why not.
pub type Check = Box<dyn Fn(&[u8]) -> Result<(), String> + Send>;

/// Message kinds: write a checkpoint, remove the file (and its companions), write a text.
const SAVE: u8 = b'S';
const REMOVE: u8 = b'R';
const TEXT: u8 = b'T';

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

/// Closes every descriptor above stderr but `keep`: a keeper must not hold the files,
/// sockets or other keepers' pipes the scanner had open when it forked.
fn close_other_fds(keep: &[RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing a descriptor nothing in this child uses (the listing's own
            // descriptor is closed already and fails harmlessly with EBADF).
            unsafe { libc::close(fd) };
        }
    }
}

/// The scanner's end of a forked keeper.
struct Child {
    tx: Option<File>,
    rx: File,
    pid: libc::pid_t,
}

impl Child {
    /// Forks a keeper that keeps `keep` (its directories) and runs `serve` on its pipes.
    /// Call it while the process runs one thread.
    fn fork(keep: &[RawFd], serve: impl FnOnce(File, File) -> i32) -> io::Result<Child> {
        let (req_rx, req_tx) = pipe()?;
        let (ack_rx, ack_tx) = pipe()?;
        // SAFETY: the caller guarantees a single thread, so the child may run ordinary
        // code (and glibc's fork leaves malloc usable in the child in any case).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            drop(req_tx);
            drop(ack_rx);
            let mut kept = keep.to_vec();
            kept.extend([req_rx.as_raw_fd(), ack_tx.as_raw_fd()]);
            close_other_fds(&kept);
            // Ctrl-C reaches the whole process group; the keeper must outlive it to save
            // the file.
            // SAFETY: setting signal dispositions to ignore has no preconditions.
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
            }
            let code = serve(req_rx, ack_tx);
            // SAFETY: leaving the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        drop(req_rx);
        drop(ack_tx);
        Ok(Child {
            tx: Some(req_tx),
            rx: ack_rx,
            pid,
        })
    }

    /// Sends one message (in parts) and waits for the keeper's answer.
    fn tell(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let tx = self
            .tx
            .as_mut()
            .ok_or_else(|| io::Error::other("the file keeper has ended"))?;
        for part in parts {
            tx.write_all(part)?;
        }
        let mut status = [0u8; 4];
        self.rx
            .read_exact(&mut status)
            .map_err(|_| io::Error::other("the privileged file keeper has died"))?;
        match i32::from_le_bytes(status) {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.pid > 0 {
            self.tx = None;
            let mut status = 0;
            // SAFETY: pid is our child; status is a valid out pointer.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

/// The keeper's loop: `handle` reads one message and carries it out (Err: the scanner
/// closed its end, even by dying, and the keeper ends; what it wrote last stays).
fn serve(
    mut rx: File,
    mut ack: File,
    mut handle: impl FnMut(&mut File) -> Result<io::Result<()>, ()>,
) -> i32 {
    loop {
        let Ok(result) = handle(&mut rx) else {
            return 0;
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

/// The parent's end of a checkpoint keeper.
pub struct FileKeeper {
    child: Child,
    words: usize,
}

/// Forks a keeper of `file` (plus `companions`, removed with it) whose checkpoints carry
/// `words` numbers rendered by `render`. Call it while the process runs one thread and
/// before it opens sockets or files.
pub fn spawn(
    file: DirFile,
    companions: Vec<DirFile>,
    words: usize,
    render: Render,
) -> io::Result<FileKeeper> {
    if words > MAX_WORDS {
        return Err(io::Error::other("too many numbers for a checkpoint"));
    }
    let keep: Vec<RawFd> = std::iter::once(&file)
        .chain(&companions)
        .map(DirFile::dir_fd)
        .collect();
    let child = Child::fork(&keep, |rx, ack| {
        let mut msg = vec![0u8; 1 + 8 * words];
        serve(rx, ack, |rx| {
            rx.read_exact(&mut msg).map_err(|_| ())?;
            Ok(checkpoint(&msg, &file, &companions, &render))
        })
    })?;
    Ok(FileKeeper { child, words })
}

/// Carries out one checkpoint keeper's message.
fn checkpoint(
    msg: &[u8],
    file: &DirFile,
    companions: &[DirFile],
    render: &Render,
) -> io::Result<()> {
    match msg[0] {
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
    }
}

impl FileKeeper {
    fn tell(&mut self, op: u8, numbers: &[u64]) -> io::Result<()> {
        let mut msg = Vec::with_capacity(1 + 8 * self.words);
        msg.push(op);
        for i in 0..self.words {
            msg.extend_from_slice(&numbers.get(i).copied().unwrap_or(0).to_le_bytes());
        }
        self.child.tell(&[&msg])
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

/// The parent's end of a text keeper.
pub struct TextKeeper {
    child: Child,
    limit: u64,
}

impl std::fmt::Debug for TextKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextKeeper(pid {})", self.child.pid)
    }
}

/// Forks a keeper that replaces `file` (atomically, with exactly `mode`) by each text the
/// scanner hands it of at most `limit` bytes that `check` accepts. Call it while the
/// process runs one thread and before it opens sockets or files.
pub fn spawn_text(file: DirFile, limit: u64, mode: u32, check: Check) -> io::Result<TextKeeper> {
    let child = Child::fork(&[file.dir_fd()], |rx, ack| {
        serve(rx, ack, |rx| {
            let mut head = [0u8; 9];
            rx.read_exact(&mut head).map_err(|_| ())?;
            let len = u64::from_le_bytes(head[1..].try_into().unwrap_or([0xff; 8]));
            if head[0] != TEXT {
                return Err(());
            }
            if len > limit {
                // Read past it, so the next message is read from its start.
                io::copy(&mut rx.take(len), &mut io::sink()).map_err(|_| ())?;
                return Ok(Err(io::Error::from_raw_os_error(libc::EFBIG)));
            }
            let mut text = Vec::new();
            rx.take(len).read_to_end(&mut text).map_err(|_| ())?;
            if text.len() as u64 != len {
                return Err(());
            }
            Ok(match check(&text) {
                Ok(()) => file.write_atomic_mode(&text, mode),
                Err(_) => Err(io::Error::from_raw_os_error(libc::EBADMSG)),
            })
        })
    })?;
    Ok(TextKeeper { child, limit })
}

impl TextKeeper {
    /// Has the keeper replace its file by `text`, with the rights the process started with.
    pub fn write(&mut self, text: &[u8]) -> io::Result<()> {
        let len = text.len() as u64;
        if len > self.limit {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
        let mut head = vec![TEXT];
        head.extend_from_slice(&len.to_le_bytes());
        self.child.tell(&[&head, text])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::MetadataExt;

    fn render() -> Render {
        Box::new(|n: &[u64]| format!("{n:?}").into_bytes())
    }

    /// Accepts texts that end with a newline.
    fn lines_only() -> Check {
        Box::new(|t: &[u8]| match t.last() {
            Some(b'\n') => Ok(()),
            _ => Err("no final newline".to_string()),
        })
    }

    #[test]
    fn a_text_keeper_writes_only_checked_texts_within_the_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.prom");
        let file = DirFile::new(&path).expect("dir");
        let mut k = spawn_text(file, 16, 0o644, lines_only()).expect("fork");
        k.write(b"a 1\n").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"a 1\n");
        let meta = std::fs::metadata(&path).expect("stat");
        assert_eq!(meta.mode() & 0o7777, 0o644);
        // Refused by the check: the old text stays.
        let e = k.write(b"no newline").expect_err("checked");
        assert_eq!(e.raw_os_error(), Some(libc::EBADMSG));
        // Over the bound, refused by this end...
        let e = k.write(&[b'x'; 17]).expect_err("bounded");
        assert_eq!(e.raw_os_error(), Some(libc::EFBIG));
        // ...and by the keeper, which reads past it and goes on serving.
        let mut head = vec![TEXT];
        head.extend_from_slice(&17u64.to_le_bytes());
        let e = k.child.tell(&[&head, &[b'y'; 17]]).expect_err("bounded");
        assert_eq!(e.raw_os_error(), Some(libc::EFBIG));
        assert_eq!(std::fs::read(&path).expect("read"), b"a 1\n");
        k.write(b"b 2\n").expect("still serving");
        assert_eq!(std::fs::read(&path).expect("read"), b"b 2\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("m.prom")]);
    }

    #[test]
    fn a_keeper_holds_no_descriptor_of_the_scanner_but_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = dir.path().join("other-open-file");
        let held = File::create(&other).expect("create");
        let file = DirFile::new(&dir.path().join("m.prom")).expect("dir");
        let mut k = spawn_text(file, 16, 0o644, lines_only()).expect("fork");
        // The answer comes after the keeper closed what it inherited.
        k.write(b"a\n").expect("write");
        let fds: Vec<std::path::PathBuf> = std::fs::read_dir(format!("/proc/{}/fd", k.child.pid))
            .expect("the keeper's descriptors")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .collect();
        assert!(!fds.contains(&other), "{fds:?}");
        assert!(fds.iter().any(|p| p == dir.path()), "{fds:?}");
        // Its own pipes, its directory, and at most stdin, stdout and stderr.
        assert!(fds.len() <= 6, "{fds:?}");
        drop(held);
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
