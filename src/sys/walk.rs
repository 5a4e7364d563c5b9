//! Walking a path one component at a time from an opened directory, as the kernel would,
//! but with our own rule for symbolic links: each directory is opened O_PATH|O_NOFOLLOW
//! relative to the one before, so no name is looked up twice and no link is followed
//! unless the rule allows it. What the walk saw (every directory looked into, every link
//! followed, their owners and modes) is kept for the trust rules in `sys::open`.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Most symbolic links one walk follows (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// What `stat(2)` says of a file, the fields the trust rules use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Device and inode: the file's identity.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Hard links to it.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
}

impl Stat {
    fn of(st: &libc::stat) -> Stat {
        Stat {
            mode: st.st_mode,
            uid: st.st_uid,
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
            size: u64::try_from(st.st_size).unwrap_or(0),
        }
    }

    /// The file type bits.
    pub fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }

    /// A character device (/dev/null, a terminal).
    pub fn is_char_device(&self) -> bool {
        self.kind() == libc::S_IFCHR
    }

    /// A directory anyone may create names in, protected only by the sticky bit (/tmp):
    /// the kernel's protected_* rules are about these.
    pub fn is_shared_dir(&self) -> bool {
        self.mode & libc::S_ISVTX != 0 && self.mode & 0o002 != 0
    }

    /// What the type is, in words.
    pub fn kind_name(&self) -> &'static str {
        match self.kind() {
            libc::S_IFREG => "a regular file",
            libc::S_IFDIR => "a directory",
            libc::S_IFIFO => "a FIFO",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            libc::S_IFSOCK => "a socket",
            libc::S_IFLNK => "a symbolic link",
            _ => "a special file",
        }
    }
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

/// fstat of an open descriptor (O_PATH ones included).
pub fn fstat(fd: &impl AsRawFd) -> io::Result<Stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the duration of the call; st is a valid out pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(Stat::of(&st))
}

/// stat of `name` in `dir`, never following a final link.
pub fn lstat_at(dir: &OwnedFd, name: &CString) -> io::Result<Stat> {
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
    Ok(Stat::of(&st))
}

/// `openat(dir, name, flags | O_CLOEXEC | O_NOCTTY, mode)` as an owned descriptor.
pub fn open_at(
    dir: &OwnedFd,
    name: &CString,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    // SAFETY: dir is open, name a valid C string; mode is read only with O_CREAT.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOCTTY,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The O_PATH descriptor of the directory `path` (resolved by the kernel: only "/" and
/// "." are ever passed).
fn open_dir(path: &CString) -> io::Result<OwnedFd> {
    // SAFETY: path is a valid C string; O_PATH opens nothing for reading or writing.
    let fd = check(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: open just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The O_PATH descriptor of `name` in `dir`, a final link not followed.
fn open_path_at(dir: &OwnedFd, name: &CString) -> io::Result<OwnedFd> {
    open_at(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)
}

/// The target of the link open (O_PATH) at `fd`.
fn read_link(fd: &OwnedFd) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    let empty = c"";
    // SAFETY: fd is an O_PATH descriptor of a link (an empty name reads the link itself);
    // buf is writable for its whole length.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            empty.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Clears O_NONBLOCK on an open descriptor (opens use it so a FIFO cannot block them).
pub fn clear_nonblock(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on an open descriptor pass no memory.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) })
        .map(|_| ())
}

/// A new descriptor (close-on-exec) for the inherited descriptor `fd`.
pub fn dup_inherited(fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC reads no memory; a closed fd fails with EBADF.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: fcntl just returned this new descriptor, owned once here.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A directory the walk looked a name up in, and what it found there.
#[derive(Clone, Debug)]
pub struct Step {
    /// The directory, as a path for messages.
    pub dir: PathBuf,
    /// Its stat.
    pub dir_stat: Stat,
    /// The entry found in it (a directory, a link or the final file).
    pub entry: Stat,
    /// It is on a read-only mount (a Kubernetes ConfigMap volume is 0777 but mounted
    /// read-only): its mode bits say nothing of who may write it. Looked up only for a
    /// directory whose mode lets others write.
    pub read_only: bool,
}

impl Step {
    fn new(dir: PathBuf, fd: &OwnedFd, dir_stat: Stat, entry: Stat) -> Step {
        let read_only = dir_stat.mode & 0o022 != 0 && on_read_only_mount(fd);
        Step {
            dir,
            dir_stat,
            entry,
            read_only,
        }
    }
}

/// Whether the file open at `fd` (O_PATH included) is on a read-only mount.
fn on_read_only_mount(fd: &OwnedFd) -> bool {
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open (fstatfs accepts O_PATH descriptors); st is a valid out pointer.
    let r = unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) };
    r == 0 && st.f_flag & libc::ST_RDONLY != 0
}

/// Where a path leads: the directory that holds its last name, opened, and that name.
#[derive(Debug)]
pub struct Walked {
    /// The directory (O_PATH) holding the last name.
    pub dir: OwnedFd,
    /// Its stat.
    pub dir_stat: Stat,
    /// Its path for messages (links resolved).
    pub dir_path: PathBuf,
    /// The last name ("." when the path names a directory itself, e.g. "/").
    pub name: CString,
    /// The last name's stat, never a link (links are followed or refused); None if missing.
    pub entry: Option<Stat>,
    /// Every directory a name was looked up in, with what was there, in order.
    pub steps: Vec<Step>,
    /// The path named a directory explicitly (it ended in '/').
    pub trailing_slash: bool,
}

impl Walked {
    /// The last name's path for messages.
    pub fn shown(&self) -> PathBuf {
        self.dir_path.join(OsStr::from_bytes(self.name.as_bytes()))
    }

    /// The directories above the last name's directory, nearest first, each with the
    /// directory below it as its entry: up to "/" by "..", so a relative path's
    /// directories above the working directory are seen too.
    pub fn ancestors(&self) -> io::Result<Vec<Step>> {
        let dotdot = cstring(b"..")?;
        let mut out = Vec::new();
        let mut fd = open_at(
            &self.dir,
            &cstring(b".")?,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        let mut st = self.dir_stat;
        let mut shown = self.dir_path.clone();
        loop {
            let parent = open_at(&fd, &dotdot, libc::O_PATH | libc::O_DIRECTORY, 0)?;
            let pst = fstat(&parent)?;
            if (pst.dev, pst.ino) == (st.dev, st.ino) {
                return Ok(out);
            }
            shown = shown
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
            out.push(Step::new(shown.clone(), &parent, pst, st));
            fd = parent;
            st = pst;
        }
    }
}

/// Why a walk stopped.
#[derive(Debug)]
pub enum WalkError {
    /// The system said no (a missing directory, no permission, a loop).
    Io(io::Error),
    /// A link the rule refuses: its path, its owner, the directory holding it.
    Link {
        /// The link's path, None when it is the path itself.
        link: Option<PathBuf>,
        /// Its owner.
        owner: u32,
        /// The directory it is in.
        dir: PathBuf,
    },
    /// A directory part of the path is not a directory.
    NotDir(PathBuf),
}

impl From<io::Error> for WalkError {
    fn from(e: io::Error) -> Self {
        WalkError::Io(e)
    }
}

/// The kernel's protected-symlinks rule, applied by us: a link in a sticky world-writable
/// directory is followed only when it belongs to `uid` or to the directory's owner.
pub fn link_allowed(dir: &Stat, link_owner: u32, uid: u32) -> bool {
    !dir.is_shared_dir() || link_owner == uid || link_owner == dir.uid
}

/// The components of a path: names, with "." dropped and ".." kept.
fn components(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

/// Walks `path` for the user `uid`: every directory part opened in turn, links followed
/// by [`link_allowed`] (the last name's too), stopping at the last name, which may be
/// missing.
pub fn walk(path: &Path, uid: u32) -> Result<Walked, WalkError> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(WalkError::Io(io::Error::new(
            io::ErrorKind::NotFound,
            "an empty path",
        )));
    }
    let trailing_slash = bytes.ends_with(b"/");
    let root = cstring(b"/")?;
    let dot = cstring(b".")?;
    let dotdot = cstring(b"..")?;
    let (mut dir, mut shown) = if bytes.starts_with(b"/") {
        (open_dir(&root)?, PathBuf::from("/"))
    } else {
        let shown = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        (open_dir(&dot)?, shown)
    };
    let open_root = |from: &OwnedFd| open_at(from, &root, libc::O_PATH | libc::O_DIRECTORY, 0);
    let mut dir_stat = fstat(&dir)?;
    // Components still to walk, the next one last (links push theirs in front).
    let mut todo: Vec<Vec<u8>> = components(bytes);
    todo.reverse();
    let mut steps = Vec::new();
    let mut links = 0;
    loop {
        let Some(name) = todo.pop() else {
            // The path named a directory itself ("/", ".", "a/.."): its entry is ".".
            let entry = Some(dir_stat);
            return Ok(Walked {
                dir,
                dir_stat,
                dir_path: shown,
                name: dot,
                entry,
                steps,
                trailing_slash: true,
            });
        };
        let last = todo.is_empty();
        if name == b".." {
            let parent = open_at(&dir, &dotdot, libc::O_PATH | libc::O_DIRECTORY, 0)?;
            dir_stat = fstat(&parent)?;
            dir = parent;
            shown = shown
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
            continue;
        }
        let cname = cstring(&name)?;
        let here = shown.join(OsStr::from_bytes(&name));
        let fd = match open_path_at(&dir, &cname) {
            Ok(fd) => fd,
            Err(e) if last && e.kind() == io::ErrorKind::NotFound && !trailing_slash => {
                return Ok(Walked {
                    dir,
                    dir_stat,
                    dir_path: shown,
                    name: cname,
                    entry: None,
                    steps,
                    trailing_slash,
                });
            }
            Err(e) => return Err(WalkError::Io(e)),
        };
        let st = fstat(&fd)?;
        steps.push(Step::new(shown.clone(), &dir, dir_stat, st));
        if st.kind() == libc::S_IFLNK {
            if !link_allowed(&dir_stat, st.uid, uid) {
                return Err(WalkError::Link {
                    link: (!last || trailing_slash || links > 0).then_some(here),
                    owner: st.uid,
                    dir: shown,
                });
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(WalkError::Io(io::Error::from_raw_os_error(libc::ELOOP)));
            }
            let target = read_link(&fd)?;
            if target.starts_with(b"/") {
                dir = open_root(&dir)?;
                dir_stat = fstat(&dir)?;
                shown = PathBuf::from("/");
            }
            todo.extend(components(&target).into_iter().rev());
            continue;
        }
        if last && !trailing_slash {
            return Ok(Walked {
                dir,
                dir_stat,
                dir_path: shown,
                name: cname,
                entry: Some(st),
                steps,
                trailing_slash,
            });
        }
        if !st.is_dir() {
            return Err(WalkError::NotDir(here));
        }
        dir = fd;
        dir_stat = st;
        shown = here;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_links_and_dotdot_like_the_kernel() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink("a/b", base.join("l")).unwrap();
        std::os::unix::fs::symlink(base.join("a/b/f"), base.join("abs")).unwrap();
        let w = walk(&base.join("l/f"), 0).unwrap();
        assert_eq!(w.shown(), base.join("a/b/f"));
        assert!(w.entry.unwrap().is_file());
        let w = walk(&base.join("l/../b/f"), 0).unwrap();
        assert_eq!(
            w.shown(),
            base.join("a/b/f"),
            "\"..\" after a link is physical"
        );
        let w = walk(&base.join("abs"), 0).unwrap();
        assert_eq!(w.shown(), base.join("a/b/f"));
        let w = walk(&base.join("a/new"), 0).unwrap();
        assert!(w.entry.is_none());
        assert_eq!(w.shown(), base.join("a/new"));
        assert!(matches!(
            walk(&base.join("a/b/f/x"), 0),
            Err(WalkError::NotDir(_))
        ));
        assert!(matches!(
            walk(&base.join("none/x"), 0),
            Err(WalkError::Io(_))
        ));
        let w = walk(Path::new("/"), 0).unwrap();
        assert!(w.entry.unwrap().is_dir());
        let up = walk(&base.join("a/b/f"), 0).unwrap().ancestors().unwrap();
        assert_eq!(up.first().unwrap().dir, base.join("a"));
        assert_eq!(up.last().unwrap().dir, PathBuf::from("/"));
    }

    #[test]
    fn a_link_loop_ends() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("b", d.path().join("a")).unwrap();
        std::os::unix::fs::symlink("a", d.path().join("b")).unwrap();
        match walk(&d.path().join("a"), 0) {
            Err(WalkError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::ELOOP)),
            other => panic!("{other:?}"),
        }
    }
}
