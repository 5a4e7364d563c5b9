//! The user a scan started as root runs as once its sockets are open: `--user`, else the
//! dedicated system user `synscan` when it exists, else `nobody`. nobody is shared with
//! other daemons, and any process running as nobody may signal (stop, kill) the scan, so
//! the dedicated user is preferred; `make install` creates it.

use crate::error::ScanError;

/// The dedicated system user a root-started scan prefers.
pub const DEDICATED_USER: &str = "synscan";
/// The user it falls back to when the dedicated one does not exist.
pub const FALLBACK_USER: &str = "nobody";

/// How to create the dedicated user (as `make install` does).
pub const CREATE_DEDICATED_USER: &str =
    "useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin synscan";

/// Who a root-started scan runs as, and a note for the user when that is the shared
/// fallback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// The user name.
    pub user: String,
    /// One line to print (without the "synscan: " prefix), when there is something to say.
    pub note: Option<String>,
}

/// `given` (--user) when there is one; else the dedicated user when `dedicated_uid` (its
/// uid, None when it does not exist) names an unprivileged one; else nobody, with a note.
pub fn choose(given: Option<&str>, dedicated_uid: Option<u32>) -> RunAs {
    if let Some(user) = given {
        return RunAs {
            user: user.to_string(),
            note: None,
        };
    }
    match dedicated_uid {
        Some(uid) if uid != 0 => RunAs {
            user: DEDICATED_USER.to_string(),
            note: None,
        },
        _ => RunAs {
            user: FALLBACK_USER.to_string(),
            note: Some(format!(
                "note: running as {FALLBACK_USER}, which other daemons share: create the {DEDICATED_USER} system user (`{CREATE_DEDICATED_USER}`; make install does) or pass --user"
            )),
        },
    }
}

/// Started as root: the user to switch to, checked (it exists and is not uid 0), with the
/// note printed when it is nobody. None when not started as root (nothing to switch).
pub fn resolve(given: Option<&str>) -> Result<Option<String>, ScanError> {
    if !crate::sys::caps::is_root() {
        return Ok(None);
    }
    let dedicated_uid = crate::sys::caps::user_ids(DEDICATED_USER)
        .ok()
        .map(|(uid, _)| uid);
    let run_as = choose(given, dedicated_uid);
    crate::cli::config::check_user(&run_as.user)?;
    if let Some(note) = &run_as.note {
        eprintln!("synscan: {note}");
    }
    Ok(Some(run_as.user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dedicated_user_is_preferred_when_it_exists() {
        assert_eq!(
            choose(None, Some(998)),
            RunAs {
                user: "synscan".into(),
                note: None
            }
        );
        let fallback = choose(None, None);
        assert_eq!(fallback.user, "nobody");
        assert_eq!(
            fallback.note.as_deref(),
            Some("note: running as nobody, which other daemons share: create the synscan system user (`useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin synscan`; make install does) or pass --user")
        );
        // A synscan user with uid 0 keeps root's rights: never chosen by default.
        assert_eq!(choose(None, Some(0)).user, "nobody");
        // --user wins, silently.
        assert_eq!(
            choose(Some("daemon"), Some(998)),
            RunAs {
                user: "daemon".into(),
                note: None
            }
        );
    }
}
