//! Opening output files so that a run never clobbers, mixes or follows what it should not.
//!
//! - Every output is opened (created when missing) by `sys::fs::open_output`, the one
//!   opener for files synscan writes (planted links, FIFOs and files in shared directories
//!   refused; see the README, "Files synscan trusts"), before any is truncated: a bad path
//!   in the last output leaves the existing files of the others as they were, and files
//!   this run created are removed again.
//! - Two outputs on one file are refused by device and inode, not by spelling (`b.out`,
//!   `./b.out`, a hard link, a symlink). An output that is the same file as stdout counts as
//!   the stdout output (`-oJ /dev/stdout` replaces the default report there).
//! - A resumed run checks that every output is still the file the interrupted scan wrote,
//!   at least as long as at the checkpoint, before it cuts any back: a refused resume
//!   leaves every file as it was.

use super::{Continued, Format, NamedSink, OutputError, OutputSpec};
use crate::sys::fs::{open_output, Claims, Identity, OpenError, Output};
use std::fs::File;
use std::io::{self, BufWriter};
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
    /// The file each handle is (device, inode), None for an inherited descriptor: what a
    /// resume file saves.
    pub files: Vec<Option<(u64, u64)>>,
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

/// The identity of the process's stdout, if it is open.
fn stdout_identity() -> Option<Identity> {
    use std::os::fd::AsFd;
    let out = io::stdout();
    let fd = out.as_fd().try_clone_to_owned().ok()?;
    Identity::of_file(&File::from(fd)).ok()
}

/// Opens every output in `specs` ("-" is stdout) without truncating any, checks that no two
/// are one file and that none is a file of `claims` (the run's inputs, and the files it
/// writes later), then truncates them all, except, with `append` (a resumed run), the
/// streaming formats: grouped ones are written anew from the journal and this run.
/// `continued` (a resumed run: one per file output, in order) is what each file was at the
/// checkpoint: each must still be that file, no shorter, and streaming ones are cut back to
/// it. The outputs join `claims`.
pub fn open_outputs(
    specs: &[OutputSpec],
    append: bool,
    continued: &[Continued],
    claims: &mut Claims,
) -> Result<OpenedOutputs, OutputError> {
    let mut files: Vec<Option<Output>> = Vec::with_capacity(specs.len());
    for s in specs {
        if s.path == "-" {
            files.push(None);
            continue;
        }
        match open_file(&s.path, append && !s.format.grouped()) {
            Ok(f) => files.push(Some(f)),
            Err(e) => {
                remove_created(&files);
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
                remove_created(&files);
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
    for (s, f) in specs.iter().zip(&files) {
        let Some(f) = f else { continue };
        if let Err(e) = claims.claim(f.id, format!("{} {}", flag(s.format), s.path)) {
            remove_created(&files);
            return Err(OutputError(e));
        }
    }
    if let Err(e) = claims.check_later() {
        remove_created(&files);
        return Err(OutputError(e));
    }
    // The checkpoint each file output continues from, aligned with the specs.
    let mut next = continued.iter();
    let continues: Vec<Option<&Continued>> = files
        .iter()
        .map(|f| f.as_ref().and_then(|_| next.next()))
        .collect();
    for ((s, f), c) in specs.iter().zip(&files).zip(&continues) {
        if let (Some(f), Some(c)) = (f, c) {
            if let Err(e) = check_continued(s, f, c) {
                remove_created(&files);
                return Err(e);
            }
        }
    }
    let stdout_free = stdout_id.is_none_or(|so| !ids.contains(&Some(so)));
    // A file that is stdout (`-oJ /dev/stdout > out` or `>> log`) is written through
    // stdout itself: the shell already truncated it or asked for appending.
    let is_stdout = |f: &Output| stdout_id == Some(f.id);
    let mut handles = Vec::new();
    let mut ids = Vec::new();
    for ((s, f), c) in specs.iter().zip(&files).zip(&continues) {
        let Some(f) = f else { continue };
        let handle = f.file.try_clone().map_err(|e| {
            OutputError(format!(
                "cannot duplicate the handle of output file {}: {e}",
                s.path
            ))
        });
        match handle {
            Ok(h) => {
                handles.push(h);
                ids.push((!f.inherited).then_some((f.id.dev, f.id.ino)));
            }
            Err(e) => {
                remove_created(&files);
                return Err(e);
            }
        }
        if is_stdout(f) {
            continue;
        }
        // A resumed run appends to streaming outputs, cut back to the checkpoint; grouped
        // ones are written anew.
        let cleared = match c {
            Some(c) if append && !s.format.grouped() => cut(f, c.length)
                .map_err(|e| format!("cannot cut output {} back to the checkpoint: {e}", s.path)),
            // Only regular files: ftruncate fails on devices and pipes, and there is
            // nothing stored in them to clear.
            _ if !append || s.format.grouped() => f.clear().map_err(|e| {
                format!(
                    "cannot truncate output file {}: {e}; check that it is writable",
                    s.path
                )
            }),
            _ => Ok(()),
        };
        if let Err(e) = cleared {
            remove_created(&files);
            return Err(OutputError(e));
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
        files: ids,
        stdout_free,
    })
}

/// Whether the output `f` opened for `s` is still what the interrupted scan left at its
/// checkpoint `c`: the same file (by device and inode), at least as long.
fn check_continued(s: &OutputSpec, f: &Output, c: &Continued) -> Result<(), OutputError> {
    if f.created.is_some() {
        return Err(OutputError(format!(
            "output {} of the interrupted scan is missing; restore it or start the scan again",
            s.path
        )));
    }
    if f.inherited {
        return Ok(());
    }
    if c.file.is_some_and(|saved| saved != (f.id.dev, f.id.ino)) {
        return Err(OutputError(format!(
            "output {} is no longer the file the interrupted scan wrote (it was replaced or moved since); put that file back or start the scan again",
            s.path
        )));
    }
    if !f.regular || s.format.grouped() {
        return Ok(());
    }
    let len = f
        .file
        .metadata()
        .map_err(|e| OutputError(format!("cannot inspect output {}: {e}", s.path)))?
        .len();
    if len < c.length {
        return Err(OutputError(format!(
            "output {} holds {len} bytes where the interrupted scan had written {}; it changed since, so restore it or start the scan again",
            s.path, c.length
        )));
    }
    Ok(())
}

/// Cuts a regular file output back to `length`, dropping what a killed run wrote after
/// its checkpoint (and will write again).
fn cut(f: &Output, length: u64) -> io::Result<()> {
    if f.regular && !f.inherited {
        f.file.set_len(length)?;
    }
    Ok(())
}

/// Removes the files this run created before it gave up.
fn remove_created(files: &[Option<Output>]) {
    for f in files.iter().flatten() {
        if let Some(place) = &f.created {
            let _ = place.remove();
        }
    }
}

/// Opens one output file for writing without truncating it; creates it when missing.
fn open_file(path: &str, append: bool) -> Result<Output, OutputError> {
    open_output(Path::new(path), append).map_err(|e| {
        OutputError(match e {
            OpenError::Io(e) => format!(
                "cannot open output file {path}: {e}; check that the directory exists and is writable"
            ),
            refused => refused.line("output file", Path::new(path)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
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
        let e = open_outputs(&specs, false, &[], &mut Claims::new())
            .err()
            .unwrap();
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
            let e = open_outputs(&specs, false, &[], &mut Claims::new())
                .err()
                .unwrap();
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
        assert_eq!(
            open_outputs(&null, false, &[], &mut Claims::new())
                .unwrap()
                .outputs
                .len(),
            2
        );
    }

    #[test]
    fn truncates_only_once_all_are_open_and_appends_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, "old").unwrap();
        let specs = [spec(Format::Json, &a), spec(Format::List, Path::new("-"))];
        let mut o = open_outputs(&specs, true, &[], &mut Claims::new()).unwrap();
        assert!(!o.stdout_free);
        assert_eq!(o.outputs[1].name, "stdout");
        o.outputs[0].sink.write_all(b"+new").unwrap();
        drop(o);
        assert_eq!(fs::read_to_string(&a).unwrap(), "old+new");
        let o = open_outputs(&specs[..1], false, &[], &mut Claims::new()).unwrap();
        assert_eq!(o.outputs[0].name, format!("output file {}", a.display()));
        drop(o);
        assert_eq!(fs::read_to_string(&a).unwrap(), "");
    }

    use std::io::Write;

    #[test]
    #[ignore = "needs root: lchown"]
    fn a_link_planted_in_a_shared_dir_is_refused_and_new_files_removed() {
        assert_eq!(crate::sys::fs::real_uid(), 0, "needs root (lchown)");
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let target = dir.path().join("victim");
        fs::write(&target, "x").unwrap();
        let link = shared.join("out.json");
        symlink(&target, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
        let new = dir.path().join("new.xml");
        let e = open_outputs(
            &[spec(Format::Xml, &new), spec(Format::Json, &link)],
            false,
            &[],
            &mut Claims::new(),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.0,
            format!(
                "refusing output file {}: it is a symbolic link owned by another user (uid 65534) in the shared directory {}, where anyone could point it at any file; remove the link or use another path",
                link.display(),
                shared.display()
            )
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "x");
        assert!(!new.exists(), "a file this run created stays behind");
    }
}
