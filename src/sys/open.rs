//! The one opener for files synscan writes ([`open_output`]) and the one for files it reads
//! ([`open_input`], [`read_input`]), whatever the subcommand. The rule, stated once in the
//! README ("Files synscan trusts"):
//!
//! - A path is walked from a directory descriptor, one component at a time
//!   (`sys::walk`); a symbolic link is followed only outside sticky world-writable
//!   directories, or when it belongs to the real user or to the directory's owner.
//! - `-`, `/dev/stdin`, `/dev/stdout`, `/dev/stderr` and `/dev/fd/N` reuse the descriptor
//!   the process inherited (`-iL -`, process substitution `<(...)`).
//! - In a sticky world-writable directory (/tmp): a FIFO or other special file, a regular
//!   file owned by neither the real user nor the directory's owner, and a file with more
//!   than one hard link are refused with one line naming the path and the owner; a new
//!   output there is created exclusively.
//! - Opens use O_NONBLOCK (a FIFO cannot block them), cleared before any I/O; the type is
//!   checked with fstat on the open descriptor before anything is read or written.
//! - Inputs that change what runs ([`Trust::Strict`]: policy, baseline, resume file,
//!   services file) follow sshd's StrictModes: the file and every directory above it are
//!   owned by root or the real user and writable by no one else; a sticky directory
//!   passes only for an entry of the real user or root.
//! - Inputs that are files must be regular files, read up to a stated size limit.

use super::walk::{self, Stat, Step, WalkError, Walked};
use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The real user id: who started the process (root under sudo), not who it runs as.
pub fn real_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// How much an input is trusted to decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Data to read (targets, results to compare): the rules for every path.
    Data,
    /// An input that changes what runs or what is reported (policy, baseline, resume
    /// file, services file): also sshd's StrictModes on the file and its directories.
    Strict,
}

/// What makes two open files the same file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// A character device (/dev/null, a terminal) may be shared: nothing stored mixes.
    pub char_device: bool,
}

impl Identity {
    fn of(st: &Stat) -> Identity {
        Identity {
            dev: st.dev,
            ino: st.ino,
            char_device: st.is_char_device(),
        }
    }

    /// The identity of an open file.
    pub fn of_file(f: &File) -> io::Result<Identity> {
        walk::fstat(f).map(|st| Identity::of(&st))
    }
}

/// Why a path was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// The trust rules refuse it; what is wrong and what to do, without the path.
    Refused(String),
    /// The system refused it (missing, no permission).
    Io(io::Error),
}

impl OpenError {
    /// One line for the user: "refusing WHAT PATH: why" or "cannot open WHAT PATH: error".
    pub fn line(&self, what: &str, path: &Path) -> String {
        match self {
            OpenError::Refused(why) => format!("refusing {what} {}: {why}", path.display()),
            OpenError::Io(e) => format!("cannot open {what} {}: {e}", path.display()),
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Refused(why) => f.write_str(why),
            OpenError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Io(e) => e,
            OpenError::Refused(why) => io::Error::new(io::ErrorKind::PermissionDenied, why),
        }
    }
}

impl From<WalkError> for OpenError {
    fn from(e: WalkError) -> Self {
        match e {
            WalkError::Io(e) => OpenError::Io(e),
            WalkError::NotDir(p) => OpenError::Refused(format!(
                "{} is not a directory; check the path",
                p.display()
            )),
            WalkError::Link { link, owner, dir } => OpenError::Refused(format!(
                "{} a symbolic link owned by another user (uid {owner}) in the shared directory {}, where anyone could point it at any file; remove the link or use another path",
                link.map_or_else(|| "it is".to_string(), |l| format!("it leads through {},", l.display())),
                dir.display()
            )),
        }
    }
}

/// The descriptor a path names when it is the process's own: `-` (stdin for an input,
/// stdout for an output), /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N and
/// /proc/self/fd/N.
pub fn inherited_fd(path: &Path, input: bool) -> Option<i32> {
    let s = path.to_str()?;
    match s {
        "-" => Some(if input { 0 } else { 1 }),
        "/dev/stdin" => Some(0),
        "/dev/stdout" => Some(1),
        "/dev/stderr" => Some(2),
        _ => {
            let n = s
                .strip_prefix("/dev/fd/")
                .or_else(|| s.strip_prefix("/proc/self/fd/"))?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n.parse().ok()
        }
    }
}

fn inherited(path: &Path, fd: i32) -> Result<(File, Stat), OpenError> {
    let owned = walk::dup_inherited(fd).map_err(|e| {
        if e.raw_os_error() == Some(libc::EBADF) {
            OpenError::Refused(format!(
                "{} names descriptor {fd}, which this process did not inherit open",
                path.display()
            ))
        } else {
            OpenError::Io(e)
        }
    })?;
    let st = walk::fstat(&owned)?;
    Ok((File::from(owned), st))
}

/// The one-line refusal of `st`, found as `name` in the directory `dir`, if the shared
/// directory rules refuse it (the directory is sticky and world-writable).
pub(super) fn shared_dir_problem(
    dir: &Stat,
    dir_path: &Path,
    st: &Stat,
    uid: u32,
) -> Option<String> {
    if !dir.is_shared_dir() || st.is_dir() {
        return None;
    }
    let d = dir_path.display();
    if !st.is_file() {
        return Some(format!(
            "it is {} owned by uid {} in the shared directory {d}, where anyone could plant one; remove it or use another path",
            st.kind_name(),
            st.uid
        ));
    }
    if st.uid != uid && st.uid != dir.uid {
        return Some(format!(
            "it is owned by another user (uid {}) in the shared directory {d}, where anyone could have planted it; remove it or use another path",
            st.uid
        ));
    }
    if st.nlink > 1 {
        return Some(format!(
            "it has {} hard links in the shared directory {d} (owner uid {}), so it may be another file under a planted name; remove it or use another path",
            st.nlink, st.uid
        ));
    }
    None
}

fn writable_by(mode: u32) -> &'static str {
    if mode & 0o002 != 0 {
        "anyone"
    } else {
        "its group"
    }
}

/// Why a file with this stat must not be trusted by `uid` as an input that changes what
/// runs, if it must not: a regular file owned by `uid` or root and writable by no one
/// else (sshd's rule for its configuration).
pub fn strict_file_problem(st: &Stat, uid: u32) -> Option<String> {
    if !st.is_file() {
        return Some(format!("it is {}, not a regular file", st.kind_name()));
    }
    if st.uid != uid && st.uid != 0 {
        return Some(format!(
            "it belongs to user id {}, not to you (user id {uid}) or root",
            st.uid
        ));
    }
    if st.mode & 0o022 != 0 {
        return Some(format!(
            "it is writable by {} (mode {:o}); run chmod go-w on it",
            writable_by(st.mode),
            st.mode & 0o7777
        ));
    }
    None
}

/// StrictModes for one directory holding `entry`: owned by `uid` or root, writable by no
/// one else, except a sticky directory for an entry of `uid` or root (/tmp), and a
/// directory on a read-only mount, which no one writes whatever its mode says.
fn strict_dir_problem(step: &Step, uid: u32) -> Option<String> {
    let d = &step.dir_stat;
    let shown = step.dir.display();
    if d.uid != uid && d.uid != 0 {
        return Some(format!(
            "the directory {shown} above it belongs to user id {}, not to you (user id {uid}) or root; keep the file in a directory only you can write",
            d.uid
        ));
    }
    let sticky_ok = d.mode & libc::S_ISVTX != 0 && (step.entry.uid == uid || step.entry.uid == 0);
    if d.mode & 0o022 != 0 && !sticky_ok && !step.read_only {
        return Some(format!(
            "the directory {shown} above it is writable by {} (mode {:o}); keep the file in a directory only you can write",
            writable_by(d.mode),
            d.mode & 0o7777
        ));
    }
    if step.entry.kind() == libc::S_IFLNK && step.entry.uid != uid && step.entry.uid != 0 {
        return Some(format!(
            "it is reached through a symbolic link in {shown} that belongs to user id {}, not to you (user id {uid}) or root",
            step.entry.uid
        ));
    }
    None
}

/// Every directory the walk looked into, and every one above the file's.
fn all_steps(w: &Walked) -> io::Result<Vec<Step>> {
    let mut steps = w.steps.clone();
    steps.extend(w.ancestors()?);
    Ok(steps)
}

/// Whether the file is the user's own: owned by the real user, and reached only through
/// directories and links of that user or root. Errors quote only such files.
fn is_own(st: &Stat, steps: &[Step], uid: u32) -> bool {
    let trusted = |owner: u32| owner == uid || owner == 0;
    st.uid == uid
        && steps.iter().all(|s| {
            trusted(s.dir_stat.uid) && (s.entry.kind() != libc::S_IFLNK || trusted(s.entry.uid))
        })
}

/// An input opened by the rules, ready to read.
#[derive(Debug)]
pub struct Input {
    /// The open file (blocking).
    pub file: File,
    /// Its identity, to tell it from the run's other files.
    pub id: Identity,
    /// Its size, when it is a regular file.
    pub size: Option<u64>,
    /// The user's own file (see the README): errors may quote it.
    pub own: bool,
}

fn walked(path: &Path) -> Result<Walked, OpenError> {
    let w = walk::walk(path, real_uid())?;
    if w.trailing_slash && !w.entry.is_some_and(|e| e.is_dir()) {
        return Err(OpenError::Refused(
            "it ends in '/', which names a directory; name a file".to_string(),
        ));
    }
    Ok(w)
}

/// Opens the file `path` names for reading by the rules above (an inherited descriptor
/// is taken as it is, any type but a directory).
pub fn open_input(path: &Path, trust: Trust) -> Result<Input, OpenError> {
    let uid = real_uid();
    if let Some(fd) = inherited_fd(path, true) {
        let (file, st) = inherited(path, fd)?;
        if st.is_dir() {
            return Err(OpenError::Refused(
                "it is a directory; give the path of a file".to_string(),
            ));
        }
        return Ok(Input {
            file,
            id: Identity::of(&st),
            size: st.is_file().then_some(st.size),
            // Handed over by the user's own shell.
            own: true,
        });
    }
    let w = walked(path)?;
    let Some(seen) = w.entry else {
        return Err(OpenError::Io(io::Error::from_raw_os_error(libc::ENOENT)));
    };
    // Refuse by the type first: opening a device or a FIFO may have effects or block.
    let refuse = |st: &Stat| -> Result<(), OpenError> {
        if let Some(why) = shared_dir_problem(&w.dir_stat, &w.dir_path, st, uid) {
            return Err(OpenError::Refused(why));
        }
        if !st.is_file() {
            return Err(OpenError::Refused(format!(
                "it is {}, not a regular file; give the path of a file",
                st.kind_name()
            )));
        }
        Ok(())
    };
    refuse(&seen)?;
    let fd = walk::open_at(
        &w.dir,
        &w.name,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        0,
    )
    .map_err(|e| changed_or(e, path))?;
    let st = walk::fstat(&fd)?;
    refuse(&st)?;
    let steps = all_steps(&w)?;
    if trust == Trust::Strict {
        if let Some(why) = strict_file_problem(&st, uid) {
            return Err(OpenError::Refused(why));
        }
        if let Some(why) = steps.iter().find_map(|s| strict_dir_problem(s, uid)) {
            return Err(OpenError::Refused(why));
        }
    }
    walk::clear_nonblock(&fd)?;
    Ok(Input {
        file: File::from(fd),
        id: Identity::of(&st),
        size: Some(st.size),
        own: is_own(&st, &steps, uid),
    })
}

/// ELOOP from O_NOFOLLOW: the name became a link after the walk looked at it.
fn changed_or(e: io::Error, path: &Path) -> OpenError {
    if e.raw_os_error() == Some(libc::ELOOP) {
        OpenError::Refused(format!(
            "{} became a symbolic link while it was being opened; try again",
            path.display()
        ))
    } else {
        OpenError::Io(e)
    }
}

/// An input read whole.
#[derive(Debug)]
pub struct Contents {
    /// The bytes, at most the limit.
    pub bytes: Vec<u8>,
    /// The file's identity.
    pub id: Identity,
    /// The user's own file: errors may quote it (else they say [`NOT_QUOTED`]).
    pub own: bool,
}

/// Reads the file `path` names whole by [`open_input`]'s rules, refusing more than
/// `limit` bytes (an inherited pipe is read up to the limit, then refused).
pub fn read_input(path: &Path, trust: Trust, limit: u64) -> Result<Contents, OpenError> {
    let input = open_input(path, trust)?;
    let too_big = |n: String| {
        OpenError::Refused(format!(
            "{n}more than the {limit} bytes this file may have; is it the right file?"
        ))
    };
    if let Some(size) = input.size.filter(|&s| s > limit) {
        return Err(too_big(format!("it holds {size} bytes, ")));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(input.size.unwrap_or(0)).unwrap_or(0));
    // The size can grow after the check: read one byte past the limit to notice.
    input.file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big("it holds ".to_string()));
    }
    Ok(Contents {
        bytes,
        id: input.id,
        own: input.own,
    })
}

/// What an error says of a line instead of quoting it, when the file is not the user's
/// own ([`Contents::own`]): a file reached through another user's link or directory
/// (/etc/shadow) is never shown.
pub const NOT_QUOTED: &str =
    "the line is not quoted, as the file is not yours (see \"Files synscan trusts\" in the README)";

/// An output opened by the rules, not truncated.
#[derive(Debug)]
pub struct Output {
    /// The open file (blocking).
    pub file: File,
    /// Its identity.
    pub id: Identity,
    /// A regular file (the only kind truncated or cut back).
    pub regular: bool,
    /// This run created it: where, to remove it again if the run gives up before writing.
    pub created: Option<super::fs::DirFile>,
    /// An inherited descriptor (`-`, /dev/stdout, /dev/fd/N): never truncated, the shell
    /// already did what the user asked.
    pub inherited: bool,
}

impl Output {
    /// Empties an old regular file, as `File::create` would; a file this run created and an
    /// inherited descriptor (the shell truncated it, or asked for appending) stay as they
    /// are, and so do devices and pipes, which hold nothing to clear.
    pub fn clear(&self) -> io::Result<()> {
        if self.regular && self.created.is_none() && !self.inherited {
            self.file.set_len(0)?;
        }
        Ok(())
    }
}

/// Opens (creating when missing, mode 0666 less the umask) the file `path` names for
/// writing by the rules above, without truncating it; `append` opens it O_APPEND.
pub fn open_output(path: &Path, append: bool) -> Result<Output, OpenError> {
    let uid = real_uid();
    if let Some(fd) = inherited_fd(path, false) {
        let (file, st) = inherited(path, fd)?;
        return Ok(Output {
            file,
            id: Identity::of(&st),
            regular: st.is_file(),
            created: None,
            inherited: true,
        });
    }
    let w = walked(path)?;
    let mut flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    if append {
        flags |= libc::O_APPEND;
    }
    let check = |st: &Stat| -> Result<(), OpenError> {
        if st.is_dir() {
            return Err(OpenError::Refused(
                "it is a directory; name a file".to_string(),
            ));
        }
        match shared_dir_problem(&w.dir_stat, &w.dir_path, st, uid) {
            Some(why) => Err(OpenError::Refused(why)),
            None => Ok(()),
        }
    };
    let (fd, created) = match w.entry {
        None => match walk::open_at(&w.dir, &w.name, flags | libc::O_CREAT | libc::O_EXCL, 0o666) {
            Ok(fd) => (fd, true),
            // Made by someone else since the walk looked: open it by the rules for an old one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let st = walk::lstat_at(&w.dir, &w.name)?;
                check(&st)?;
                (open_existing(&w, flags, path)?, false)
            }
            Err(e) => return Err(OpenError::Io(e)),
        },
        Some(st) => {
            check(&st)?;
            (open_existing(&w, flags, path)?, false)
        }
    };
    let st = walk::fstat(&fd)?;
    check(&st)?;
    walk::clear_nonblock(&fd)?;
    let created = match created {
        true => Some(super::fs::DirFile::at(&w)?),
        false => None,
    };
    Ok(Output {
        file: File::from(fd),
        id: Identity::of(&st),
        regular: st.is_file(),
        created,
        inherited: false,
    })
}

fn open_existing(w: &Walked, flags: libc::c_int, path: &Path) -> Result<OwnedFd, OpenError> {
    walk::open_at(&w.dir, &w.name, flags, 0).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENXIO) {
            OpenError::Refused("it is a FIFO no process reads; start the reader first".to_string())
        } else {
            changed_or(e, path)
        }
    })
}

/// The identity of the file `path` names now, if it exists (links followed by the rule),
/// to tell a file the run will write later (resume file, journal, metrics) from the
/// others it opened.
pub fn identity(path: &Path) -> Result<Option<Identity>, OpenError> {
    if let Some(fd) = inherited_fd(path, false) {
        return Ok(walk::dup_inherited(fd)
            .and_then(|f| walk::fstat(&f))
            .ok()
            .map(|st| Identity::of(&st)));
    }
    let w = walked(path)?;
    Ok(w.entry.map(|st| Identity::of(&st)))
}

/// The directory that holds the last name of `path`, walked by the rules, and that name:
/// for files replaced whole by rename (the resume file, the metrics file), where the
/// last name itself is never followed.
pub fn place_of(path: &Path) -> Result<(OwnedFd, PathBuf, CString), OpenError> {
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    // "dir/." names dir itself, whose file_name() the Path would report as the last name.
    let last = bytes.rsplit(|&b| b == b'/').next().unwrap_or_default();
    let name = match path.file_name() {
        Some(n) if !matches!(last, b"" | b"." | b"..") => n,
        _ => {
            return Err(OpenError::Refused(
                "it names no file (it ends in '/', '.' or '..'); name a file".to_string(),
            ))
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dir = parent.into_os_string();
    dir.push("/");
    let w = walk::walk(Path::new(&dir), real_uid())?;
    let cname = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(name))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))?;
    let dir_path = w.shown();
    let fd = walk::open_at(
        &w.dir,
        &w.name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )?;
    Ok((fd, dir_path, cname))
}

/// The files one run opens, by identity, so no two are one file (an output over an input,
/// two outputs, the resume file over a report). Character devices may repeat. Files the
/// run writes later by their own opener (the resume file, its journal, the metrics file)
/// are named by path and checked once the outputs exist, before anything is truncated.
#[derive(Clone, Debug, Default)]
pub struct Claims {
    /// Each file, whether the run writes it, and what it is to the run.
    files: Vec<(Identity, bool, String)>,
    later: Vec<(PathBuf, String)>,
}

/// Where a file the run writes later will be: its directory and name, and the file there
/// now (None while it does not exist).
type Place = ((u64, u64, Vec<u8>), Option<Identity>);

fn place_key(path: &Path) -> Option<Place> {
    let (dir, _, name) = place_of(path).ok()?;
    let st = walk::fstat(&dir).ok()?;
    let now = identity(path).ok().flatten();
    Some(((st.dev, st.ino, name.into_bytes()), now))
}

impl Claims {
    /// No files yet.
    pub fn new() -> Claims {
        Claims::default()
    }

    /// Adds the output `id`, described as `what` ("-oJ out.json"); Err is the one line
    /// naming both uses when another file of the run is the same file.
    pub fn claim(&mut self, id: Identity, what: impl Into<String>) -> Result<(), String> {
        self.add(id, true, what.into())
    }

    /// Adds the input `id`, described as `what` ("--policy p.toml"): an input may be read
    /// twice (`diff a a`), but no output may be it.
    pub fn input(&mut self, id: Identity, what: impl Into<String>) -> Result<(), String> {
        self.add(id, false, what.into())
    }

    fn add(&mut self, id: Identity, writes: bool, what: String) -> Result<(), String> {
        if !id.char_device {
            let twin = self
                .files
                .iter()
                .find(|(other, w, _)| *other == id && (*w || writes));
            if let Some((_, _, first)) = twin {
                return Err(same_file(first, &what));
            }
        }
        self.files.push((id, writes, what));
        Ok(())
    }

    /// Names a file the run will write later at `path`, described as `what`.
    pub fn later(&mut self, path: &Path, what: impl Into<String>) {
        self.later.push((path.to_path_buf(), what.into()));
    }

    /// Checks the files named by [`Claims::later`] against every file claimed and against
    /// each other (by directory and name, as they may not exist yet).
    pub fn check_later(&self) -> Result<(), String> {
        let mut seen: Vec<(Place, &str)> = Vec::new();
        for (path, what) in &self.later {
            // A path that cannot be resolved is reported by the opener that writes it.
            let Some(place) = place_key(path) else {
                continue;
            };
            if let Some(id) = place.1.filter(|id| !id.char_device) {
                if let Some((_, _, first)) = self.files.iter().find(|(other, _, _)| *other == id) {
                    return Err(same_file(first, what));
                }
            }
            let twin = seen.iter().find(|(p, _)| {
                p.0 == place.0 || matches!((p.1, place.1), (Some(a), Some(b)) if a == b)
            });
            if let Some((_, first)) = twin {
                return Err(same_file(first, what));
            }
            seen.push((place, what));
        }
        Ok(())
    }
}

fn same_file(first: &str, second: &str) -> String {
    format!("{first} and {second} are the same file; give each its own file")
}

#[cfg(test)]
mod tests;
