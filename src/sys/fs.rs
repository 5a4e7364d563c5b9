//! Files synscan opens: the one opener for outputs and the one for inputs (`sys::open`,
//! re-exported here), and files a privileged process replaces whole in directories other
//! users can write to: named relative to an opened directory, created exclusively under
//! unpredictable names, never through a symbolic link, made durable (fsync) before they
//! replace the old file.

pub use super::open::{
    inherited_fd, open_output, read_input, real_uid, strict_file_problem, Claims, Contents,
    Identity, OpenError, Output, Trust, NOT_QUOTED,
};
// For inputs read as a stream rather than whole.
#[allow(unused_imports)]
pub use super::open::{open_input, Input};
use super::walk::{self, Walked};
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A file named inside an opened directory: renames and removals stay in that directory
/// even if its path is later swapped for a link.
#[derive(Debug)]
pub struct DirFile {
    dir: OwnedFd,
    name: CString,
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl DirFile {
    /// Opens the directory of `path`, walked by the rules of `sys::open` (no planted link
    /// in a directory part is followed); the file itself need not exist, and a link at its
    /// name is replaced, never followed.
    pub fn new(path: &Path) -> io::Result<DirFile> {
        let (dir, _, name) = super::open::place_of(path)?;
        Ok(DirFile { dir, name })
    }

    /// The place of a file replaced whole by rename (the metrics file), checked before the
    /// run starts: the directory walked by the rules of `sys::open`; what the name holds
    /// now refused when it is a directory, or when the rules for a shared sticky directory
    /// refuse it (a FIFO, a link, another user's file, a file with more hard links); and a
    /// temporary created and removed there, proving the directory writable.
    pub fn replaceable(path: &Path) -> Result<DirFile, OpenError> {
        let (dir, dir_path, name) = super::open::place_of(path)?;
        let dir_stat = walk::fstat(&dir)?;
        match walk::lstat_at(&dir, &name) {
            Ok(st) if st.is_dir() => {
                return Err(OpenError::Refused(
                    "it is a directory; name a file in it".to_string(),
                ))
            }
            Ok(st) => {
                let problem =
                    super::open::shared_dir_problem(&dir_stat, &dir_path, &st, real_uid());
                if let Some(why) = problem {
                    return Err(OpenError::Refused(why));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(OpenError::Io(e)),
        }
        let file = DirFile { dir, name };
        file.check_writable()?;
        Ok(file)
    }

    /// The last name of a walk, in its directory (for removing a file just created).
    pub(super) fn at(w: &Walked) -> io::Result<DirFile> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        Ok(DirFile {
            dir: walk::open_at(&w.dir, &cstring(b".")?, flags, 0)?,
            name: w.name.clone(),
        })
    }

    /// The same directory, another name (`name` + `suffix`).
    pub fn sibling(&self, suffix: &str) -> io::Result<DirFile> {
        let mut name = self.name.as_bytes().to_vec();
        name.extend_from_slice(suffix.as_bytes());
        // SAFETY: F_DUPFD_CLOEXEC duplicates an open descriptor; no memory is passed.
        let fd = check(unsafe { libc::fcntl(self.dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
        Ok(DirFile {
            // SAFETY: fcntl just returned this new descriptor, owned once here.
            dir: unsafe { OwnedFd::from_raw_fd(fd) },
            name: cstring(&name)?,
        })
    }

    /// The directory's descriptor (for a keeper, which closes every other one it has).
    pub(super) fn dir_fd(&self) -> std::os::fd::RawFd {
        self.dir.as_raw_fd()
    }

    /// The file's own name.
    pub fn name(&self) -> &OsStr {
        OsStr::from_bytes(self.name.as_bytes())
    }

    fn open_at(&self, name: &CString, flags: libc::c_int) -> io::Result<File> {
        self.open_at_mode(name, flags, 0o600)
    }

    fn open_at_mode(&self, name: &CString, flags: libc::c_int, mode: u32) -> io::Result<File> {
        // SAFETY: dir is open, name a valid C string; mode is read only with O_CREAT.
        let fd = check(unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NOCTTY,
                mode as libc::c_uint,
            )
        })?;
        // SAFETY: openat just returned this descriptor, owned once by the File.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    fn unlink(&self, name: &CString) -> io::Result<()> {
        // SAFETY: dir is open and name a valid C string.
        check(unsafe { libc::unlinkat(self.dir.as_raw_fd(), name.as_ptr(), 0) }).map(|_| ())
    }

    fn sync_dir(&self) -> io::Result<()> {
        // SAFETY: fsync on an open descriptor.
        check(unsafe { libc::fsync(self.dir.as_raw_fd()) }).map(|_| ())
    }

    /// Replaces the file with `bytes` atomically: a fresh temporary (exclusive, no link
    /// followed, random name, mode 0600) written and fsynced, renamed over the name, then
    /// the directory fsynced. A crash leaves the old file or the new one, never a mix.
    pub fn write_atomic(&self, bytes: &[u8]) -> io::Result<()> {
        self.write_atomic_mode(bytes, 0o600)
    }

    /// [`DirFile::write_atomic`] with another mode for the new file (exactly this mode,
    /// whatever the umask), for files other users must read.
    pub fn write_atomic_mode(&self, bytes: &[u8], mode: u32) -> io::Result<()> {
        let (tmp, mut f) = self.create_temp(mode)?;
        let written = f.write_all(bytes).and_then(|_| f.sync_all());
        drop(f);
        let renamed = written.and_then(|_| {
            // SAFETY: both names are valid C strings relative to the same open directory.
            check(unsafe {
                libc::renameat(
                    self.dir.as_raw_fd(),
                    tmp.as_ptr(),
                    self.dir.as_raw_fd(),
                    self.name.as_ptr(),
                )
            })
            .map(|_| ())
        });
        if let Err(e) = renamed {
            let _ = self.unlink(&tmp);
            return Err(e);
        }
        self.sync_dir()
    }

    /// A fresh temporary beside the file (exclusive, no link followed, random name), with
    /// exactly `mode`.
    fn create_temp(&self, mode: u32) -> io::Result<(CString, File)> {
        let mut last = None;
        for _ in 0..8 {
            let mut tmp = b".".to_vec();
            tmp.extend_from_slice(self.name.as_bytes());
            tmp.extend_from_slice(format!(".{:016x}.tmp", rand::random::<u64>()).as_bytes());
            let tmp = cstring(&tmp)?;
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
            match self.open_at_mode(&tmp, flags, mode) {
                Ok(f) => {
                    // The umask may have taken bits a reader needs (node_exporter's 0644).
                    if let Err(e) = f.set_permissions(std::fs::Permissions::from_mode(mode)) {
                        let _ = self.unlink(&tmp);
                        return Err(e);
                    }
                    return Ok((tmp, f));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
    }

    /// Proves now that [`DirFile::write_atomic`] can create its temporary here (the
    /// directory exists and this process may write it): creates one and removes it.
    pub fn check_writable(&self) -> io::Result<()> {
        let (tmp, f) = self.create_temp(0o600)?;
        drop(f);
        self.unlink(&tmp)
    }

    /// The file's bytes when it is a regular file of at most `limit` bytes (None when it
    /// is missing, of another type, or bigger), never following a link at its name.
    pub fn read_regular(&self, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let flags = libc::O_RDONLY | libc::O_NONBLOCK;
        let f = match self.open_at(&self.name, flags) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
            Err(e) => return Err(e),
        };
        let st = walk::fstat(&f)?;
        if !st.is_file() || st.size > limit {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        f.take(limit + 1).read_to_end(&mut bytes)?;
        Ok((bytes.len() as u64 <= limit).then_some(bytes))
    }

    /// Removes the file; a missing file is fine.
    pub fn remove(&self) -> io::Result<()> {
        match self.unlink(&self.name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Creates the file afresh for reading and writing, mode 0600, never through a link.
    /// An old regular file of the real user's is replaced; anything else is refused.
    pub fn create_private(&self) -> io::Result<File> {
        match self.create_private_new()? {
            Some(f) => Ok(f),
            None => {
                self.unlink(&self.name)?;
                self.open_at(&self.name, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL)
            }
        }
    }

    /// Creates the file for reading and writing, mode 0600, never through a link, when it
    /// is missing; None when an old regular file of the real user's is there (which
    /// [`DirFile::create_private`] replaces); anything else there is refused. Changes
    /// nothing that exists, so a caller can check this before the rest of its work.
    pub fn create_private_new(&self) -> io::Result<Option<File>> {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        match self.open_at(&self.name, flags) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let st = walk::lstat_at(&self.dir, &self.name)?;
                if !st.is_file() || st.uid != real_uid() {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "{} exists and is not a file of yours; remove it",
                            self.name().to_string_lossy()
                        ),
                    ));
                }
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Opens the existing file for reading and writing, never through a link, and checks
    /// that it is trusted (see [`strict_file_problem`]).
    pub fn open_trusted(&self) -> io::Result<File> {
        let f = self.open_at(&self.name, libc::O_RDWR)?;
        let st = walk::fstat(&f)?;
        if let Some(why) = strict_file_problem(&st, real_uid()) {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        }
        Ok(f)
    }

    /// The first `n` bytes (fewer if it is shorter) of the regular file at the name; None
    /// when nothing is there, or a link, or anything else (never followed or read).
    pub fn head(&self, n: usize) -> io::Result<Option<Vec<u8>>> {
        let f = match self.open_at(&self.name, libc::O_RDONLY | libc::O_NONBLOCK) {
            Ok(f) => f,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let st = walk::fstat(&f)?;
        if !st.is_file() {
            return Ok(None);
        }
        walk::clear_nonblock(&f)?;
        let mut bytes = Vec::with_capacity(n);
        (&f).take(n as u64).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// Takes an exclusive flock on the file (created empty, mode 0600, when missing; never
    /// through a link), held while the returned file is open; None when another process
    /// holds it. A lock file removed by its holder while this one waited is not taken: the
    /// lock is on the file the name holds once locked.
    pub fn lock(&self) -> io::Result<Option<File>> {
        for _ in 0..8 {
            // O_NONBLOCK: a FIFO planted at the name cannot block the open.
            let f = self.open_at(
                &self.name,
                libc::O_RDONLY | libc::O_CREAT | libc::O_NONBLOCK,
            )?;
            let st = walk::fstat(&f)?;
            if !st.is_file() || st.uid != real_uid() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} is not a file of yours; remove it",
                        self.name().to_string_lossy()
                    ),
                ));
            }
            // SAFETY: flock on an open descriptor; no memory is passed.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EWOULDBLOCK) => Ok(None),
                    _ => Err(e),
                };
            }
            match walk::lstat_at(&self.dir, &self.name) {
                Ok(now) if (now.dev, now.ino) == (st.dev, st.ino) => return Ok(Some(f)),
                // Removed or replaced by the holder that just let go: lock the new one.
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("the lock file keeps changing"))
    }
}

/// `path` + `suffix` as a path.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(OsString::from_vec(s.into_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_atomically_many_times_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = DirFile::new(&dir.path().join("state")).expect("dir");
        for i in 0..5 {
            f.write_atomic(format!("v{i}").as_bytes()).expect("write");
        }
        assert_eq!(
            std::fs::read(dir.path().join("state")).expect("read"),
            b"v4"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("state")]);
        let mode = std::fs::metadata(dir.path().join("state"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        f.remove().expect("remove");
        f.remove().expect("a missing file is fine");
    }

    #[test]
    fn a_lock_is_held_once_and_taken_again_after_removal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let place = DirFile::new(&dir.path().join("r.lock")).expect("dir");
        let held = place.lock().expect("lock").expect("free");
        // Another open file description: flock refuses it while the first is held.
        let again = DirFile::new(&dir.path().join("r.lock")).expect("dir");
        assert!(again.lock().expect("lock").is_none(), "held twice");
        // The holder removes the file and lets go: a new file, a new lock.
        place.remove().expect("remove");
        drop(held);
        let second = again.lock().expect("lock").expect("free again");
        assert!(dir.path().join("r.lock").exists());
        drop(second);
        assert_eq!(place.head(8).expect("read"), Some(Vec::new()));
        std::fs::write(dir.path().join("r.lock"), b"0123456789").expect("write");
        assert_eq!(place.head(4).expect("read"), Some(b"0123".to_vec()));
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).expect("link");
        let link = DirFile::new(&dir.path().join("link")).expect("dir");
        assert_eq!(link.head(4).expect("read"), None, "a link is not read");
        assert!(link.lock().is_err(), "never through a link");
    }

    #[test]
    fn replaces_a_planted_link_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        std::os::unix::fs::symlink(&victim, dir.path().join("state")).expect("link");
        let f = DirFile::new(&dir.path().join("state")).expect("dir");
        f.write_atomic(b"new").expect("write");
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
        assert_eq!(
            std::fs::read(dir.path().join("state")).expect("read"),
            b"new"
        );
        // A private file is never created through a link either.
        std::os::unix::fs::symlink(&victim, dir.path().join("j")).expect("link");
        let j = DirFile::new(&dir.path().join("j")).expect("dir");
        assert!(j.open_trusted().is_err());
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
    }
}
