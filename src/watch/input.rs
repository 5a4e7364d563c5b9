//! Reads the files a watch run uses (a policy, a baseline, results to compare) through the
//! one opener for inputs (`sys::fs::read_input`): planted links and files refused, only
//! regular files, each within a size bound, so a hostile path never hangs, exhausts
//! memory or swaps the input.

use crate::error::ScanError;
use crate::sys::fs::{read_input, Contents, Trust};
use std::path::Path;

/// Largest policy file read (a reviewed policy is a few kilobytes).
pub const MAX_POLICY_BYTES: u64 = 1 << 20;
/// Largest result file read (a baseline or a file to compare or merge).
pub const MAX_RESULTS_BYTES: u64 = 4 << 30;

/// Reads `path` whole, at most `limit` bytes, trusted as `trust`; `what` names the file
/// in the one-line error ("policy", "result file").
pub fn read(path: &Path, what: &str, trust: Trust, limit: u64) -> Result<Contents, ScanError> {
    read_input(path, trust, limit).map_err(|e| ScanError::usage(e.line(what, path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_file_and_refuses_a_big_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read(&p, "policy", Trust::Data, 5).unwrap().bytes, b"hello");
        let e = read(&p, "policy", Trust::Data, 4).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "refusing policy {}: it holds 5 bytes, more than the 4 bytes this file may have; is it the right file?",
                p.display()
            )
        );
    }

    #[test]
    fn refuses_a_directory_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), "policy", Trust::Strict, 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let none = dir.path().join("none");
        let e = read(&none, "policy", Trust::Strict, 10)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "cannot open policy {}: No such file or directory (os error 2)",
                none.display()
            )
        );
    }
}
