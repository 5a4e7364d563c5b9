//! Files a privileged process may write in directories other users can write to: named
//! relative to an opened directory, created exclusively under unpredictable names, never
//! through a symbolic link, made durable (fsync) before they replace the old file.

use crate::error::ScanError;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
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

/// The directory part of `path` ("." for a bare name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    let c = cstring(dir.as_os_str().as_bytes())?;
    // SAFETY: c is a valid NUL-terminated string; the flags open a directory read-only.
    let fd = check(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: open just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// stat of `name` in `dir` without following a final link.
fn stat_at(dir: &OwnedFd, name: &CString) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: dir is an open descriptor, name a valid C string, st a valid out pointer.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st)
}

fn fstat(fd: &impl AsRawFd) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the duration of the call; st is a valid out pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// The real user id (the user who started the process, even under sudo's root).
pub fn real_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

impl DirFile {
    /// Opens the directory of `path`; the file itself need not exist.
    pub fn new(path: &Path) -> io::Result<DirFile> {
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} names no file", path.display()),
            )
        })?;
        Ok(DirFile {
            dir: open_dir(&parent_of(path))?,
            name: cstring(name.as_bytes())?,
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

    /// [`DirFile::write_atomic`] with another mode for the new file (before the umask), for
    /// files other users must read.
    pub fn write_atomic_mode(&self, bytes: &[u8], mode: u32) -> io::Result<()> {
        let mut last = None;
        for _ in 0..8 {
            let mut tmp = b".".to_vec();
            tmp.extend_from_slice(self.name.as_bytes());
            tmp.extend_from_slice(format!(".{:016x}.tmp", rand::random::<u64>()).as_bytes());
            let tmp = cstring(&tmp)?;
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
            let mut f = match self.open_at_mode(&tmp, flags, mode) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
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
            return self.sync_dir();
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
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
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        match self.open_at(&self.name, flags) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let st = stat_at(&self.dir, &self.name)?;
                if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_uid != real_uid() {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "{} exists and is not a file of yours; remove it",
                            self.name().to_string_lossy()
                        ),
                    ));
                }
                self.unlink(&self.name)?;
                self.open_at(&self.name, flags)
            }
            other => other,
        }
    }

    /// Opens the existing file for reading and writing, never through a link, and checks
    /// that it is trusted (see [`trust_problem`]).
    pub fn open_trusted(&self) -> io::Result<File> {
        let f = self.open_at(&self.name, libc::O_RDWR)?;
        let st = fstat(&f)?;
        if let Some(why) = trust_problem(st.st_mode, st.st_uid, real_uid()) {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        }
        Ok(f)
    }
}

/// Why a file with this mode and owner must not be trusted by `uid`, if it must not: it
/// must be a regular file owned by `uid` or root and writable by nobody else (as ssh
/// requires of its configuration).
pub fn trust_problem(mode: u32, owner: u32, uid: u32) -> Option<String> {
    if mode & libc::S_IFMT != libc::S_IFREG {
        return Some("it is not a regular file".to_string());
    }
    if owner != uid && owner != 0 {
        return Some(format!(
            "it belongs to user id {owner}, not to you (user id {uid}) or root"
        ));
    }
    if mode & 0o022 != 0 {
        return Some(format!(
            "it is writable by {} (mode {:o}); run chmod go-w on it",
            if mode & 0o002 != 0 {
                "anyone"
            } else {
                "its group"
            },
            mode & 0o7777
        ));
    }
    None
}

/// The kernel's protected-symlinks rule, applied by us: a link in a sticky world-writable
/// directory is followed only when it belongs to `uid` or to the directory's owner.
pub fn link_allowed(dir_mode: u32, dir_owner: u32, link_owner: u32, uid: u32) -> bool {
    let shared = dir_mode & libc::S_ISVTX != 0 && dir_mode & 0o002 != 0;
    !shared || link_owner == uid || link_owner == dir_owner
}

/// Checks `path` as a file to trust before opening it: a final symbolic link must pass
/// the protected-symlinks rule for the real user. Returns one line on refusal.
pub fn check_link(path: &Path) -> Result<(), ScanError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return Ok(()), // the open that follows reports it
    };
    if !meta.file_type().is_symlink() {
        return Ok(());
    }
    let dir = std::fs::metadata(parent_of(path)).map_err(|e| {
        ScanError::usage(format!(
            "cannot inspect the directory of {}: {e}",
            path.display()
        ))
    })?;
    if link_allowed(dir.mode(), dir.uid(), meta.uid(), real_uid()) {
        Ok(())
    } else {
        Err(ScanError::usage(format!(
            "{} is a symbolic link planted by user id {} in a shared directory; remove it",
            path.display(),
            meta.uid()
        )))
    }
}

/// Opens `path` for reading only if it is trusted: the link rule above, then a regular
/// file owned by the real user or root and writable by nobody else.
pub fn open_trusted_for_reading(path: &Path) -> Result<File, ScanError> {
    check_link(path)?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| ScanError::usage(format!("cannot read {}: {e}", path.display())))?;
    let st = fstat(&f)
        .map_err(|e| ScanError::usage(format!("cannot inspect {}: {e}", path.display())))?;
    match trust_problem(st.st_mode, st.st_uid, real_uid()) {
        Some(why) => Err(ScanError::usage(format!(
            "refusing {}: {why}",
            path.display()
        ))),
        None => Ok(f),
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

    #[test]
    fn trust_rules() {
        let reg = libc::S_IFREG;
        assert_eq!(trust_problem(reg | 0o600, 1000, 1000), None);
        assert_eq!(trust_problem(reg | 0o644, 0, 1000), None);
        assert!(trust_problem(reg | 0o600, 1001, 1000)
            .expect("other user")
            .contains("1001"));
        assert!(trust_problem(reg | 0o666, 1000, 1000)
            .expect("world-writable")
            .contains("anyone"));
        assert!(trust_problem(reg | 0o620, 1000, 1000)
            .expect("group-writable")
            .contains("group"));
        assert!(trust_problem(libc::S_IFDIR | 0o700, 1000, 1000).is_some());
        let sticky_tmp = libc::S_IFDIR | 0o1777;
        assert!(!link_allowed(sticky_tmp, 0, 65534, 0));
        assert!(link_allowed(sticky_tmp, 0, 0, 0));
        assert!(link_allowed(sticky_tmp, 0, 1000, 1000));
        assert!(link_allowed(libc::S_IFDIR | 0o755, 0, 65534, 0));
    }
}
