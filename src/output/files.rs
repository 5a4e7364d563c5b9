//! Opening output files so that a run never clobbers, mixes or follows what it should not.
//!
//! - Every output is opened (created when missing) before any is truncated: a bad path in the
//!   last output leaves the existing files of the others as they were, and files this run
//!   created are removed again.
//! - Two outputs on one file are refused by device and inode, not by spelling (`b.out`,
//!   `./b.out`, a hard link, a symlink). An output that is the same file as stdout counts as
//!   the stdout output (`-oJ /dev/stdout` replaces the default report there).
//! - The kernel's protected-symlinks rule, applied here too (it may be switched off, and the
//!   scanner often runs as root): a symlink in a sticky world-writable directory (/tmp) is
//!   followed only when its owner is the invoking user or the directory's owner; any other
//!   final component there is opened with O_NOFOLLOW, so a link planted after the check is
//!   not followed either.

use super::{Format, NamedSink, OutputError, OutputSpec};
use crate::sys::files::{real_uid, ELOOP, O_NOFOLLOW};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Buffer of a file output: large writes, few syscalls.
const FILE_BUFFER: usize = 64 * 1024;

/// Every requested output, opened and (unless appending) truncated.
pub struct OpenedOutputs {
    /// In the order of the specs.
    pub outputs: Vec<NamedSink>,
    /// Another handle on each file output (every spec but "-"), in the order of the specs:
    /// checkpoints fsync them and record their lengths.
    pub handles: Vec<File>,
    /// True when no output writes to stdout, so the caller may put its default report there.
    pub stdout_free: bool,
}

/// The flag that names a format on the command line, for messages.
pub fn flag(format: Format) -> &'static str {
    match format {
        Format::Normal => "-oN",
        Format::Grepable => "-oG",
        Format::Xml => "-oX",
        Format::Json => "-oJ",
        Format::List => "-oL",
        Format::Csv => "--output-format csv",
    }
}

/// What makes two opened outputs the same file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    /// Character devices (/dev/null, a terminal) may be shared: nothing is stored to mix.
    char_device: bool,
}

impl Identity {
    fn of(m: &Metadata) -> Identity {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            char_device: m.file_type().is_char_device(),
        }
    }
}

/// A file opened for an output, not yet truncated.
struct OpenFile {
    file: File,
    /// This run created it (removed again when a later output fails).
    created: bool,
    regular: bool,
    id: Identity,
}

/// The identity of the process's stdout, if it is open.
fn stdout_identity() -> Option<Identity> {
    use std::os::fd::AsFd;
    let out = io::stdout();
    let fd = out.as_fd().try_clone_to_owned().ok()?;
    File::from(fd).metadata().ok().map(|m| Identity::of(&m))
}

/// Opens every output in `specs` ("-" is stdout) without truncating any, checks that no two
/// are one file, then truncates them all, except, with `append` (a resumed run), the
/// streaming formats: grouped ones are written anew from the journal and this run.
pub fn open_outputs(specs: &[OutputSpec], append: bool) -> Result<OpenedOutputs, OutputError> {
    let mut files: Vec<Option<OpenFile>> = Vec::with_capacity(specs.len());
    for s in specs {
        if s.path == "-" {
            files.push(None);
            continue;
        }
        match open_file(&s.path, append && !s.format.grouped()) {
            Ok(f) => files.push(Some(f)),
            Err(e) => {
                remove_created(specs, &files);
                return Err(e);
            }
        }
    }
    let stdout_id = stdout_identity();
    let ids: Vec<Option<Identity>> = files
        .iter()
        .map(|f| f.as_ref().map_or(stdout_id, |f| Some(f.id)))
        .collect();
    for i in 0..specs.len() {
        for j in 0..i {
            let same = matches!((ids[i], ids[j]), (Some(a), Some(b)) if a == b && !a.char_device);
            if same {
                remove_created(specs, &files);
                return Err(OutputError(format!(
                    "{} {} and {} {} are the same file; give each output its own file",
                    flag(specs[j].format),
                    specs[j].path,
                    flag(specs[i].format),
                    specs[i].path
                )));
            }
        }
    }
    let stdout_free = stdout_id.is_none_or(|so| !ids.contains(&Some(so)));
    // A file that is stdout (`-oJ /dev/stdout > out` or `>> log`) is written through
    // stdout itself: the shell already truncated it or asked for appending.
    let is_stdout = |f: &OpenFile| stdout_id == Some(f.id);
    let mut handles = Vec::new();
    for (s, f) in specs.iter().zip(&files) {
        let Some(f) = f else { continue };
        let handle = f.file.try_clone().map_err(|e| {
            OutputError(format!(
                "cannot duplicate the handle of output file {}: {e}",
                s.path
            ))
        });
        match handle {
            Ok(h) => handles.push(h),
            Err(e) => {
                remove_created(specs, &files);
                return Err(e);
            }
        }
        // A resumed run appends to streaming outputs; grouped ones are written anew.
        if !append || s.format.grouped() {
            // Only regular files: ftruncate fails on devices and pipes, and there is
            // nothing stored in them to clear.
            if f.regular && !f.created && !is_stdout(f) {
                if let Err(e) = f.file.set_len(0) {
                    remove_created(specs, &files);
                    return Err(OutputError(format!(
                        "cannot truncate output file {}: {e}; check that it is writable",
                        s.path
                    )));
                }
            }
        }
    }
    let outputs = specs
        .iter()
        .zip(files)
        .map(|(s, f)| match f {
            None => NamedSink {
                format: s.format,
                stdout: true,
                name: "stdout".to_string(),
                sink: Box::new(BufWriter::new(io::stdout())),
            },
            Some(f) => NamedSink {
                format: s.format,
                stdout: false,
                name: format!("output file {}", s.path),
                sink: if is_stdout(&f) {
                    Box::new(BufWriter::new(io::stdout()))
                } else {
                    Box::new(BufWriter::with_capacity(FILE_BUFFER, f.file))
                },
            },
        })
        .collect();
    Ok(OpenedOutputs {
        outputs,
        handles,
        stdout_free,
    })
}

/// Removes the files this run created before it gave up.
fn remove_created(specs: &[OutputSpec], files: &[Option<OpenFile>]) {
    for (s, f) in specs.iter().zip(files) {
        if matches!(f, Some(f) if f.created) {
            let _ = fs::remove_file(&s.path);
        }
    }
}

/// How the last component of an output path may be opened.
#[derive(Debug, PartialEq, Eq)]
enum LinkRule {
    /// Follow a symlink there (an ordinary directory, or a link the user may trust).
    Follow,
    /// Never follow one: a shared sticky directory where anyone may plant a link.
    NoFollow,
}

/// The protected-symlinks check: Err when the final component is a symlink that another
/// user planted in a sticky world-writable directory.
fn link_rule(path: &Path, uid: u32) -> Result<LinkRule, OutputError> {
    let parent = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // A missing or unreadable directory: the open reports it.
    let Ok(dir) = fs::metadata(parent) else {
        return Ok(LinkRule::Follow);
    };
    let shared = dir.mode() & 0o1002 == 0o1002;
    if !shared {
        return Ok(LinkRule::Follow);
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            if m.uid() == uid || m.uid() == dir.uid() {
                // Only its owner or the directory's can replace it: safe to follow.
                Ok(LinkRule::Follow)
            } else {
                Err(protected_link_error(path, parent, Some(m.uid())))
            }
        }
        _ => Ok(LinkRule::NoFollow),
    }
}

fn protected_link_error(path: &Path, dir: &Path, owner: Option<u32>) -> OutputError {
    let owner = owner.map_or(String::new(), |u| format!(" owned by uid {u}"));
    OutputError(format!(
        "refusing output file {}: it is a symbolic link{owner} in the shared directory {}, where another user could point it at any file; remove the link or write elsewhere",
        path.display(),
        dir.display()
    ))
}

/// Opens one output file for writing without truncating it; creates it when missing.
fn open_file(path: &str, append: bool) -> Result<OpenFile, OutputError> {
    let p = Path::new(path);
    let rule = link_rule(p, real_uid())?;
    let flags = if rule == LinkRule::NoFollow {
        O_NOFOLLOW
    } else {
        0
    };
    let options = |create_new: bool| {
        let mut o = OpenOptions::new();
        o.write(true).append(append).custom_flags(flags);
        if create_new {
            o.create_new(true);
        } else {
            o.create(true);
        }
        o
    };
    // O_EXCL first, to know whether this run created the file (and may remove it).
    let opened = match options(true).open(p) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            options(false).open(p).map(|f| (f, false))
        }
        Err(e) => Err(e),
    };
    let (file, created) = opened.map_err(|e| {
        if e.raw_os_error() == Some(ELOOP) && rule == LinkRule::NoFollow {
            let dir = p.parent().unwrap_or(Path::new("."));
            protected_link_error(p, dir, None)
        } else {
            OutputError(format!(
                "cannot open output file {path}: {e}; check that the directory exists and is writable"
            ))
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| OutputError(format!("cannot inspect output file {path}: {e}")))?;
    Ok(OpenFile {
        regular: meta.file_type().is_file(),
        id: Identity::of(&meta),
        file,
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn spec(format: Format, path: &Path) -> OutputSpec {
        OutputSpec {
            format,
            path: path.to_string_lossy().into_owned(),
        }
    }

    #[test]
    fn a_bad_later_output_leaves_earlier_files_untouched_and_removes_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("a.xml");
        fs::write(&old, "precious").unwrap();
        let new = dir.path().join("new.lst");
        let bad = dir.path().join("missing/x.json");
        let specs = [
            spec(Format::Xml, &old),
            spec(Format::List, &new),
            spec(Format::Json, &bad),
        ];
        let e = open_outputs(&specs, false).err().unwrap();
        assert!(
            e.0.starts_with(&format!("cannot open output file {}: ", bad.display())),
            "{e}"
        );
        assert_eq!(fs::read_to_string(&old).unwrap(), "precious");
        assert!(!new.exists(), "a file this run created stays behind");
    }

    #[test]
    fn same_file_by_any_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("b.out");
        fs::write(&b, "keep").unwrap();
        let dotted = dir.path().join(".").join("b.out");
        let hard = dir.path().join("hard");
        fs::hard_link(&b, &hard).unwrap();
        let soft = dir.path().join("soft");
        symlink(&b, &soft).unwrap();
        for other in [&dotted, &hard, &soft] {
            let specs = [spec(Format::Json, &b), spec(Format::Xml, other)];
            let e = open_outputs(&specs, false).err().unwrap();
            assert_eq!(
                e.0,
                format!(
                    "-oJ {} and -oX {} are the same file; give each output its own file",
                    b.display(),
                    other.display()
                )
            );
            assert_eq!(fs::read_to_string(&b).unwrap(), "keep");
        }
        // A character device is no file to mix: /dev/null twice is fine.
        let null = [
            spec(Format::Json, Path::new("/dev/null")),
            spec(Format::Xml, Path::new("/dev/null")),
        ];
        assert_eq!(open_outputs(&null, false).unwrap().outputs.len(), 2);
    }

    #[test]
    fn truncates_only_once_all_are_open_and_appends_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, "old").unwrap();
        let specs = [spec(Format::Json, &a), spec(Format::List, Path::new("-"))];
        let mut o = open_outputs(&specs, true).unwrap();
        assert!(!o.stdout_free);
        assert_eq!(o.outputs[1].name, "stdout");
        o.outputs[0].sink.write_all(b"+new").unwrap();
        drop(o);
        assert_eq!(fs::read_to_string(&a).unwrap(), "old+new");
        let o = open_outputs(&specs[..1], false).unwrap();
        assert_eq!(o.outputs[0].name, format!("output file {}", a.display()));
        drop(o);
        assert_eq!(fs::read_to_string(&a).unwrap(), "");
    }

    use std::io::Write;

    #[test]
    #[ignore = "needs root: lchown"]
    fn links_in_sticky_shared_dirs_follow_only_trusted_owners() {
        assert_eq!(real_uid(), 0, "needs root (lchown)");
        const NOBODY: u32 = 65534;
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let target = dir.path().join("victim");
        fs::write(&target, "x").unwrap();
        let link = shared.join("out.json");
        symlink(&target, &link).unwrap();
        // Root's own link in root's shared directory: followed.
        assert_eq!(link_rule(&link, 0), Ok(LinkRule::Follow));
        // Planted by nobody: root refuses it, nobody may follow its own link.
        std::os::unix::fs::lchown(&link, Some(NOBODY), None).unwrap();
        let e = link_rule(&link, 0).err().unwrap();
        assert_eq!(
            e.0,
            format!(
                "refusing output file {}: it is a symbolic link owned by uid {NOBODY} in the shared directory {}, where another user could point it at any file; remove the link or write elsewhere",
                link.display(),
                shared.display()
            )
        );
        assert_eq!(link_rule(&link, NOBODY), Ok(LinkRule::Follow));
        // The kernel also trusts links owned by the directory's owner.
        std::os::unix::fs::chown(&shared, Some(NOBODY), None).unwrap();
        assert_eq!(link_rule(&link, 0), Ok(LinkRule::Follow));
        // Without the sticky bit the directory is not "shared" in the kernel's sense.
        std::os::unix::fs::chown(&shared, Some(0), None).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(link_rule(&link, 0), Ok(LinkRule::Follow));
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        // A plain name in a shared directory is opened without following links.
        assert_eq!(link_rule(&shared.join("plain"), 0), Ok(LinkRule::NoFollow));
        // The whole open refuses the planted link and leaves the victim alone.
        let e = open_outputs(&[spec(Format::Json, &link)], false)
            .err()
            .unwrap();
        assert!(e.0.starts_with("refusing output file "), "{e}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "x");
    }
}
