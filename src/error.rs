//! The error a run ends with: a kind, decided where the error is made, and one line for the
//! user. The exit code follows from the kind alone, in one place (`main`), never from the
//! function that happened to pass the error on (see DESIGN.md for the codes).

use std::fmt;

/// Exit code: the scan ran to completion.
pub const EXIT_OK: i32 = 0;
/// Exit code: the scan ran and a policy or diff check failed.
pub const EXIT_CHECK_FAILED: i32 = 1;
/// Exit code: bad usage or input.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: a capability is missing.
pub const EXIT_PRIVILEGE: i32 = 3;
/// Exit code: runtime or network failure.
pub const EXIT_RUNTIME: i32 = 4;
/// Exit code: stopped by SIGINT/SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// What went wrong, as far as the exit code is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flag, target, port, rate or input file: the user can fix the command.
    Usage,
    /// A capability the scan needs is missing.
    Privilege,
    /// The network or the system failed at run time.
    Runtime,
}

impl ErrorKind {
    /// The process exit code for an error of this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage => EXIT_USAGE,
            ErrorKind::Privilege => EXIT_PRIVILEGE,
            ErrorKind::Runtime => EXIT_RUNTIME,
        }
    }
}

/// Why a run failed; Display is the one line the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    kind: ErrorKind,
    message: String,
}

impl ScanError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ScanError {
        ScanError {
            kind,
            message: message.into(),
        }
    }

    /// Bad usage or input (exit 2).
    pub fn usage(message: impl Into<String>) -> ScanError {
        ScanError::new(ErrorKind::Usage, message)
    }

    /// A missing capability (exit 3).
    pub fn privilege(message: impl Into<String>) -> ScanError {
        ScanError::new(ErrorKind::Privilege, message)
    }

    /// A runtime or network failure (exit 4).
    pub fn runtime(message: impl Into<String>) -> ScanError {
        ScanError::new(ErrorKind::Runtime, message)
    }

    /// The kind, decided where the error was made.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The user's line, without the "synscan: " prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `prefix` before its message (the kind is kept).
    pub fn context(self, prefix: impl fmt::Display) -> ScanError {
        ScanError {
            kind: self.kind,
            message: format!("{prefix}{}", self.message),
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScanError {}

/// What a clap failure means: Ok(text) to print for --help and --version, otherwise one
/// usage line naming what was wrong and where to read more (`help`, e.g. "synscan --help").
pub fn clap_failure(e: clap::Error, help: &str) -> Result<String, ScanError> {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return Ok(e.render().to_string());
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut first = lines
        .next()
        .unwrap_or("bad arguments")
        .trim_start_matches("error: ")
        .to_string();
    // "required arguments were not provided:" names them on the next line.
    if first.ends_with(':') {
        if let Some(next) = lines.next() {
            first = format!("{first} {next}");
        }
    }
    Err(ScanError::usage(format!("{first} (see {help})")))
}

/// The message for a missing CAP_NET_RAW: what is missing and the exact fix.
pub fn missing_net_raw() -> ScanError {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "synscan".to_string());
    ScanError::privilege(format!(
        "synscan needs CAP_NET_RAW to send raw packets: grant it with `sudo setcap cap_net_raw+ep {exe}` (see capabilities/), run it as root, or scan without privileges using --connect"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_follows_the_kind_and_context_keeps_it() {
        assert_eq!(ScanError::usage("x").exit_code(), EXIT_USAGE);
        assert_eq!(ScanError::privilege("x").exit_code(), EXIT_PRIVILEGE);
        assert_eq!(ScanError::runtime("x").exit_code(), EXIT_RUNTIME);
        let e = ScanError::runtime("disk full").context("writing a.json: ");
        assert_eq!(e.to_string(), "writing a.json: disk full");
        assert_eq!(e.kind(), ErrorKind::Runtime);
    }
}
