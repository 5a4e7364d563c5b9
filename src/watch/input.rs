//! Reads the files a watch run trusts (a policy, a baseline, results to compare): refuses
//! what another user could have planted, anything that is not a regular file, and files
//! past a size bound, so a hostile path never hangs, exhausts memory or swaps the input.

use crate::error::ScanError;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Largest policy file read (a reviewed policy is a few kilobytes).
pub const MAX_POLICY_BYTES: u64 = 1 << 20;
/// Largest result file read (a baseline or a file to compare or merge).
pub const MAX_RESULTS_BYTES: u64 = 4 << 30;

/// Reads `path` whole, at most `limit` bytes; the error is one line naming the file.
pub fn read_trusted(path: &Path, limit: u64) -> Result<Vec<u8>, ScanError> {
    let name = path.display();
    let link = std::fs::symlink_metadata(path)
        .map_err(|e| ScanError::usage(format!("{name}: cannot read it: {e}")))?;
    check_planted(path, &link)?;
    // Non-blocking: opening a FIFO planted at the path must not hang the run.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| ScanError::usage(format!("{name}: cannot read it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| ScanError::usage(format!("{name}: cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(ScanError::usage(format!(
            "{name}: not a regular file (a directory, device or pipe); give the path of a file"
        )));
    }
    if meta.len() > limit {
        return Err(ScanError::usage(format!(
            "{name}: {} bytes, more than the {limit} this file may have; is it the right file?",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The size can grow after the check: read one byte past the limit to notice.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ScanError::usage(format!("{name}: cannot read it: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(ScanError::usage(format!(
            "{name}: more than the {limit} bytes this file may have (it grew while being read)"
        )));
    }
    Ok(bytes)
}

/// Refuses an entry of a world-writable sticky directory (/tmp) that another user owns:
/// a symlink or a file planted there could point the check at anything or loosen it.
/// The owner of the directory and root are trusted, as the kernel's protected_symlinks does.
fn check_planted(path: &Path, entry: &Metadata) -> Result<(), ScanError> {
    let dir = match path.parent() {
        Some(d) if d.as_os_str().is_empty() => Path::new("."),
        Some(d) => d,
        None => return Ok(()),
    };
    let Ok(dir_meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let mode = dir_meta.permissions().mode();
    let sticky_and_shared = mode & 0o1000 != 0 && mode & 0o002 != 0;
    if !sticky_and_shared {
        return Ok(());
    }
    let me = crate::sys::caps::euid();
    let owner = entry.uid();
    if owner == me || owner == 0 || owner == dir_meta.uid() {
        return Ok(());
    }
    let what = if entry.file_type().is_symlink() {
        "a symlink"
    } else {
        "a file"
    };
    Err(ScanError::usage(format!(
        "{}: {what} owned by another user (uid {owner}) in the shared directory {}; refusing it: anyone could have planted it. Keep the file in a directory only you can write",
        path.display(),
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_file_and_refuses_a_big_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read_trusted(&p, 5).unwrap(), b"hello");
        let e = read_trusted(&p, 4).unwrap_err().to_string();
        assert!(e.contains("5 bytes, more than the 4"), "{e}");
    }

    #[test]
    fn refuses_a_directory_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_trusted(dir.path(), 10).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_trusted(&dir.path().join("none"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read it"), "{e}");
    }
}
