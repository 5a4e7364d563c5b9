//! The error a run ends with, and the exit code each kind maps to (see DESIGN.md).

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

/// Why a run failed; Display is the one line the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Bad flag, target, port, rate or file.
    Usage(String),
    /// A capability the scan needs is missing.
    Privilege(String),
    /// The network or the system failed at run time.
    Runtime(String),
}

impl ScanError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ScanError::Usage(_) => EXIT_USAGE,
            ScanError::Privilege(_) => EXIT_PRIVILEGE,
            ScanError::Runtime(_) => EXIT_RUNTIME,
        }
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Usage(s) | ScanError::Privilege(s) | ScanError::Runtime(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ScanError {}

impl From<crate::targets::TargetError> for ScanError {
    fn from(e: crate::targets::TargetError) -> Self {
        ScanError::Usage(e.to_string())
    }
}

impl From<crate::output::OutputError> for ScanError {
    fn from(e: crate::output::OutputError) -> Self {
        ScanError::Usage(e.to_string())
    }
}

/// The message for a missing CAP_NET_RAW: what is missing and the exact fix.
pub fn missing_net_raw() -> ScanError {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "synscan".to_string());
    ScanError::Privilege(format!(
        "synscan needs CAP_NET_RAW to send raw packets: grant it with `sudo setcap cap_net_raw+ep {exe}` (see capabilities/), run it as root, or scan without privileges using --connect"
    ))
}

impl From<crate::net::NetError> for ScanError {
    fn from(e: crate::net::NetError) -> Self {
        match e {
            crate::net::NetError::MissingCapability(_) => missing_net_raw(),
            crate::net::NetError::Setup(s) => ScanError::Runtime(s),
        }
    }
}
