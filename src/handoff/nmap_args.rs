//! The `--nmap "ARGS"` text: split like a shell, then checked against an allow-list of the
//! nmap options that make sense after a port scan. Targets and ports are synscan's to give
//! (the hosts and ports it found open), so no word may name either.
//!
//! The check reads each word the way nmap's own parser (glibc `getopt_long_only` over
//! nmap's option table) would, so a word cannot mean one thing here and another to nmap:
//! - an option of nmap's long table is accepted as `--name` or `-name` (both are long to
//!   nmap), with its value as the next word or glued by `=`; only exact names are accepted,
//!   since nmap also takes any unambiguous abbreviation (`--top` is `--top-ports`);
//! - a short option with its value glued on (`-sV`, `-T4`, `-Pn`, `-vv`) is accepted in the
//!   exact spellings listed, each of which nmap reads as that short option (no long name of
//!   nmap's begins with one of them);
//! - any other word, and in particular one that does not start with `-` (nmap would scan it
//!   as a target), is refused with one line saying why.
//!
//! The list is deliberate: version and script detection, OS detection, timing, name
//! resolution, verbosity, reasons and output files. It leaves out everything that picks
//! ports or targets, reads targets from a file or resumes another scan, scans another
//! protocol or skips the port scan, sends from other addresses (decoys, spoofing, idle and
//! bounce scans, proxies), and IPv6 (`-6`: the hand-off passes IPv4 hosts).

use crate::error::ScanError;

/// How an allowed option takes its value, as nmap's option table says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Takes {
    /// No value.
    Nothing,
    /// A value: the next word, or glued with `=` to a long name.
    Value,
    /// A value only when glued with `=` (`--debug=3`); the next word is never taken.
    Glued,
}

/// nmap long options (`--name` or `-name`) the hand-off passes on, with how each takes its
/// value (checked against the long_options table of nmap.cc).
const LONG: &[(&str, Takes)] = &[
    // Version detection.
    ("version-intensity", Takes::Value),
    ("version-light", Takes::Nothing),
    ("version-all", Takes::Nothing),
    ("version-trace", Takes::Nothing),
    ("allports", Takes::Nothing),
    // Scripts.
    ("script", Takes::Value),
    ("script-args", Takes::Value),
    ("script-trace", Takes::Nothing),
    ("script-timeout", Takes::Value),
    // OS detection and traceroute.
    ("osscan-limit", Takes::Nothing),
    ("osscan-guess", Takes::Nothing),
    ("fuzzy", Takes::Nothing),
    ("max-os-tries", Takes::Value),
    ("traceroute", Takes::Nothing),
    // Timing.
    ("timing", Takes::Value),
    ("min-hostgroup", Takes::Value),
    ("max-hostgroup", Takes::Value),
    ("min-parallelism", Takes::Value),
    ("max-parallelism", Takes::Value),
    ("min-rtt-timeout", Takes::Value),
    ("max-rtt-timeout", Takes::Value),
    ("initial-rtt-timeout", Takes::Value),
    ("max-retries", Takes::Value),
    ("host-timeout", Takes::Value),
    ("scan-delay", Takes::Value),
    ("max-scan-delay", Takes::Value),
    ("min-rate", Takes::Value),
    ("max-rate", Takes::Value),
    ("defeat-rst-ratelimit", Takes::Nothing),
    ("defeat-icmp-ratelimit", Takes::Nothing),
    // Name resolution.
    ("system-dns", Takes::Nothing),
    // Verbosity and output.
    ("verbose", Takes::Nothing),
    ("vv", Takes::Nothing),
    ("debug", Takes::Glued),
    ("reason", Takes::Nothing),
    ("open", Takes::Nothing),
    ("packet-trace", Takes::Nothing),
    ("stats-every", Takes::Value),
    ("log-errors", Takes::Nothing),
    ("noninteractive", Takes::Nothing),
    ("oN", Takes::Value),
    ("oX", Takes::Value),
    ("oG", Takes::Value),
    ("oS", Takes::Value),
    ("oA", Takes::Value),
    ("append-output", Takes::Nothing),
    ("stylesheet", Takes::Value),
    ("no-stylesheet", Takes::Nothing),
    ("webxml", Takes::Nothing),
    // How nmap sends (from this host, to the hosts given).
    ("privileged", Takes::Nothing),
    ("unprivileged", Takes::Nothing),
    ("send-eth", Takes::Nothing),
    ("send-ip", Takes::Nothing),
];

/// Short options (single dash, exactly this word) the hand-off passes on; `-e` takes the
/// next word as its value.
const SHORT: &[(&str, Takes)] = &[
    ("-A", Takes::Nothing),
    ("-O", Takes::Nothing),
    ("-n", Takes::Nothing),
    ("-R", Takes::Nothing),
    ("-r", Takes::Nothing),
    ("-4", Takes::Nothing),
    ("-Pn", Takes::Nothing),
    ("-e", Takes::Value),
];

/// Why a word is refused.
fn refuse(word: &str, why: &str) -> ScanError {
    ScanError::usage(format!("--nmap: leave out {word}: {why}"))
}

const PORTS: &str = "synscan passes the open ports it found with -p";
const TARGETS: &str = "synscan passes nmap the hosts with open ports, and no others";
const NOT_LISTED: &str = "not an nmap option the hand-off passes on (give each option its full name, one a word; see --help or the README)";

/// nmap options that choose ports or targets (or IPv6), by their full long names: refused
/// in any spelling (`--top-ports 3`, `-top-ports 3`, `--iR=3`) with the reason.
const REFUSED_LONG: &[(&str, &str)] = &[
    ("top-ports", PORTS),
    ("port-ratio", PORTS),
    ("exclude-ports", PORTS),
    ("iL", TARGETS),
    ("iR", TARGETS),
    ("exclude", TARGETS),
    ("excludefile", TARGETS),
    ("resume", TARGETS),
    ("resolve-all", TARGETS),
];

/// Single-dash words whose first letter nmap reads as a short option taking the rest of
/// the word as its value (`-p80`, `-iLfile`), or that choose ports or the family.
fn refused_short(word: &str) -> Option<&'static str> {
    let body = word.strip_prefix('-').filter(|b| !b.starts_with('-'))?;
    // nmap looks a word of two letters or more up as a long name first: an abbreviation of
    // an allowed one (`-priv`) is refused as not listed, not as its first letter.
    if body.len() > 1 && LONG.iter().any(|(name, _)| name.starts_with(body)) {
        return None;
    }
    match body.chars().next()? {
        'p' | 'F' => Some(PORTS),
        'i' => Some(TARGETS),
        '6' => Some("the hand-off passes IPv4 hosts only"),
        _ => None,
    }
}

/// True for the glued short spellings nmap reads as one short option and its value:
/// `-sV`, `-sS`, `-sT`, `-sC` and their combinations (`-sCV`), `-T0`..`-T5`, `-v`, `-vvv`,
/// `-v2`, `-d`, `-dd`, `-d3`.
fn glued_short(word: &str) -> bool {
    let Some(body) = word.strip_prefix('-') else {
        return false;
    };
    let repeated_or_level = |rest: &str, c: char| {
        rest.chars().all(|x| x == c)
            || (rest.len() == 1 && rest.chars().all(|x| x.is_ascii_digit()))
    };
    match body.split_at_checked(1) {
        Some(("s", kinds)) => {
            !kinds.is_empty() && kinds.len() <= 4 && kinds.chars().all(|k| "SVTC".contains(k))
        }
        Some(("T", level)) => matches!(level, "0" | "1" | "2" | "3" | "4" | "5"),
        Some(("v", rest)) => repeated_or_level(rest, 'v'),
        Some(("d", rest)) => repeated_or_level(rest, 'd'),
        _ => false,
    }
}

/// Values that make nmap reach beyond the hosts it is given: the `newtargets` script
/// argument lets scripts add hosts to the scan.
fn check_value(option: &str, value: &str) -> Result<(), ScanError> {
    if option == "script-args" && value.to_ascii_lowercase().contains("newtargets") {
        return Err(ScanError::usage(format!(
            "--nmap: leave newtargets out of --script-args: it lets scripts add hosts to nmap's scan ({TARGETS})"
        )));
    }
    Ok(())
}

/// Checks the split ARGS against the allow-list: Ok when every word is an allowed option
/// or the value of one.
pub fn check_args(args: &[String]) -> Result<(), ScanError> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "-" || word == "--" || !word.starts_with('-') {
            return Err(refuse(&shown(word), TARGETS));
        }
        if let Some((_, takes)) = SHORT.iter().find(|(s, _)| s == word) {
            if *takes == Takes::Value {
                take_value(word, &mut words)?;
            }
            continue;
        }
        if glued_short(word) {
            continue;
        }
        let body = word.strip_prefix("--").unwrap_or(&word[1..]);
        let (name, glued) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        if let Some((_, takes)) = LONG.iter().find(|(n, _)| *n == name) {
            match (takes, glued) {
                (Takes::Nothing, Some(_)) => {
                    return Err(refuse(word, "this option takes no value"));
                }
                (Takes::Value, None) => {
                    let value = take_value(word, &mut words)?;
                    check_value(name, value)?;
                }
                (_, Some(v)) => check_value(name, v)?,
                _ => {}
            }
            continue;
        }
        if let Some((_, why)) = REFUSED_LONG.iter().find(|(n, _)| *n == name) {
            return Err(refuse(word, why));
        }
        let why = refused_short(word).unwrap_or(NOT_LISTED);
        return Err(refuse(word, why));
    }
    Ok(())
}

/// The value of `option` from the next word; an option at the end lacks it.
fn take_value<'a>(
    option: &str,
    words: &mut impl Iterator<Item = &'a String>,
) -> Result<&'a str, ScanError> {
    words.next().map(String::as_str).ok_or_else(|| {
        ScanError::usage(format!(
            "--nmap: {option} needs a value after it; add one or leave {option} out"
        ))
    })
}

/// A word for a message: quoted when empty.
fn shown(word: &str) -> String {
    if word.is_empty() {
        "\"\"".to_string()
    } else {
        word.to_string()
    }
}

/// Splits ARGS like a POSIX shell: blanks separate words; '...' is literal; "..." keeps
/// blanks and takes backslash escapes of \ " $ and `; a backslash outside quotes escapes the
/// next character. No expansion of any kind.
pub fn split_args(s: &str) -> Result<Vec<String>, ScanError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(unterminated(s, '\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) if "\\\"$`".contains(x) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(unterminated(s, '"')),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(unterminated(s, '"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => {
                        return Err(ScanError::usage(format!(
                            "--nmap \"{s}\": a backslash ends the arguments; remove it or quote it"
                        )))
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn unterminated(s: &str, q: char) -> ScanError {
    ScanError::usage(format!(
        "--nmap \"{s}\": unterminated {q} quote; close it or drop it"
    ))
}

/// Every allowed option word (long names in both spellings, the short options, one of each
/// glued form) and whether it takes the next word as its value: what nmap's parser must
/// agree with (checked against the real nmap in `handoff::tests`).
#[cfg(test)]
pub(crate) fn spellings() -> Vec<(String, bool)> {
    let mut v = Vec::new();
    for (name, takes) in LONG {
        for dash in ["-", "--"] {
            v.push((format!("{dash}{name}"), *takes == Takes::Value));
        }
    }
    for (word, takes) in SHORT {
        v.push((word.to_string(), *takes == Takes::Value));
    }
    for word in [
        "-sV", "-sC", "-sCV", "-sS", "-sT", "-T0", "-T4", "-v", "-vvv", "-v2", "-d", "-dd", "-d2",
    ] {
        assert!(glued_short(word), "{word}");
        v.push((word.to_string(), false));
    }
    v
}

/// ARGS the hand-off accepts, one example per allowed spelling (the tests check each
/// here, and against the real nmap's parser in `handoff::tests`).
#[cfg(test)]
pub(crate) const ALLOWED_EXAMPLES: &[&str] = &[
    "",
    "-sV",
    "-sC",
    "-sCV",
    "-sVC",
    "-sS -sV --version-intensity 9",
    "-sT -Pn -n",
    "--version-light",
    "-version-all",
    "--version-intensity=2",
    "-sC --script http-title,banner --script-args http.useragent=x",
    "--script=default --script-timeout 30s --script-trace",
    "-O --osscan-guess --max-os-tries 1",
    "-A --traceroute",
    "-T0",
    "-T5",
    "--timing 4",
    "--min-rate 100 --max-rate=1000 --max-retries 2 --host-timeout 5m",
    "--min-rtt-timeout 50ms --max-rtt-timeout 1s --initial-rtt-timeout 200ms",
    "--scan-delay 1ms --max-scan-delay 10ms --min-hostgroup 4 --max-hostgroup 8",
    "--min-parallelism 1 --max-parallelism 8 --defeat-rst-ratelimit",
    "-n",
    "-R --system-dns",
    "-v",
    "-vv",
    "-vvvv",
    "-v3",
    "--vv",
    "-d",
    "-ddd",
    "-d2",
    "--debug",
    "--debug=3",
    "--reason --open --packet-trace --stats-every 10s --log-errors --noninteractive",
    "-oX svc.xml -oN svc.nmap -oG svc.gnmap -oS s.txt -oA all",
    "-oX -",
    "--oX=svc.xml",
    "-oX=svc.xml",
    "--append-output --stylesheet x.xsl --no-stylesheet --webxml",
    "--privileged --send-eth -e eth0 -4 -r",
    "--unprivileged --send-ip",
    // The value of an option is nmap's, whatever it looks like.
    "-oX -p",
    "--script 127.0.0.2",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<(), ScanError> {
        check_args(&split_args(s).unwrap())
    }

    #[test]
    fn options_that_make_sense_after_a_port_scan_pass() {
        for ok in ALLOWED_EXAMPLES {
            assert_eq!(check(ok), Ok(()), "{ok:?}");
        }
    }

    /// Every spelling nmap reads as a target, ports, a target file or IPv6, and every
    /// option off the list: one usage line each, naming the word.
    #[test]
    fn targets_ports_and_unlisted_options_are_refused_in_every_spelling() {
        for (args, word, why) in [
            ("-sT -Pn -n 127.0.0.2", "127.0.0.2", TARGETS),
            ("198.19.0.0/24", "198.19.0.0/24", TARGETS),
            ("-sV scanme.example", "scanme.example", TARGETS),
            ("-sV -", "-", TARGETS),
            ("-sV -- 127.0.0.2", "--", TARGETS),
            ("-sV ''", "\"\"", TARGETS),
            ("-n 127.0.0.2 -sV", "127.0.0.2", TARGETS),
            ("-p 22", "-p", PORTS),
            ("-p22", "-p22", PORTS),
            ("-p-", "-p-", PORTS),
            ("-pT:22", "-pT:22", PORTS),
            ("--p 22", "--p", NOT_LISTED),
            ("--top-ports 3", "--top-ports", PORTS),
            ("-top-ports 3", "-top-ports", PORTS),
            ("--top-ports=3", "--top-ports=3", PORTS),
            ("-top-ports=3", "-top-ports=3", PORTS),
            ("--top 3", "--top", NOT_LISTED),
            ("--port-ratio 0.1", "--port-ratio", PORTS),
            ("-port-ratio=0.1", "-port-ratio=0.1", PORTS),
            ("--exclude-ports 22", "--exclude-ports", PORTS),
            ("-F", "-F", PORTS),
            ("-iL hosts.txt", "-iL", TARGETS),
            ("-iLhosts.txt", "-iLhosts.txt", TARGETS),
            ("--iL=hosts.txt", "--iL=hosts.txt", TARGETS),
            ("-i hosts.txt", "-i", TARGETS),
            ("--iR 3", "--iR", TARGETS),
            ("-iR 3", "-iR", TARGETS),
            ("-iR3", "-iR3", TARGETS),
            ("--iR=3", "--iR=3", TARGETS),
            ("--exclude 198.19.0.1", "--exclude", TARGETS),
            ("--excludefile x", "--excludefile", TARGETS),
            ("--resume old.nmap", "--resume", TARGETS),
            ("--resolve-all", "--resolve-all", TARGETS),
            ("-6", "-6", "the hand-off passes IPv4 hosts only"),
            ("-sU", "-sU", NOT_LISTED),
            ("-sn", "-sn", NOT_LISTED),
            ("-sL", "-sL", NOT_LISTED),
            ("-sI zombie", "-sI", NOT_LISTED),
            ("-sVU", "-sVU", NOT_LISTED),
            ("-b ftp.example", "-b", NOT_LISTED),
            ("-D 127.0.0.2", "-D", NOT_LISTED),
            ("-S 127.0.0.2", "-S", NOT_LISTED),
            ("--proxies socks4://127.0.0.2:1080", "--proxies", NOT_LISTED),
            ("--dns-servers 127.0.0.2", "--dns-servers", NOT_LISTED),
            ("-PS22", "-PS22", NOT_LISTED),
            ("-T 4", "-T", NOT_LISTED),
            ("-T6", "-T6", NOT_LISTED),
            ("-nv", "-nv", NOT_LISTED),
            ("-priv", "-priv", NOT_LISTED),
            ("--script-arg x", "--script-arg", NOT_LISTED),
            ("--script-args-file f", "--script-args-file", NOT_LISTED),
            ("--script-updatedb", "--script-updatedb", NOT_LISTED),
            ("--datadir /tmp", "--datadir", NOT_LISTED),
            ("-e=eth0", "-e=eth0", NOT_LISTED),
            ("--reason=yes", "--reason=yes", "this option takes no value"),
        ] {
            let e = check(args).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage, "{args}");
            assert_eq!(
                e.to_string(),
                format!("--nmap: leave out {word}: {why}"),
                "{args}"
            );
        }
    }

    #[test]
    fn values_that_reach_beyond_the_hosts_and_missing_values_are_refused() {
        for args in [
            "--script targets-sniffer --script-args newtargets",
            "--script-args=newTargets=1",
        ] {
            assert_eq!(
                check(args).unwrap_err().to_string(),
                "--nmap: leave newtargets out of --script-args: it lets scripts add hosts to nmap's scan (synscan passes nmap the hosts with open ports, and no others)"
            );
        }
        assert_eq!(
            check("-sV -oX").unwrap_err().to_string(),
            "--nmap: -oX needs a value after it; add one or leave -oX out"
        );
        assert_eq!(
            check("-e").unwrap_err().to_string(),
            "--nmap: -e needs a value after it; add one or leave -e out"
        );
    }

    /// Each allowed long name is spelled as in nmap's table, and no two allowed spellings
    /// collide with a refused one.
    #[test]
    fn the_tables_do_not_overlap() {
        for (name, _) in LONG {
            assert!(!REFUSED_LONG.iter().any(|(r, _)| r == name), "{name}");
            assert!(!name.starts_with('-'), "{name}");
        }
        for (word, _) in SHORT {
            assert!(!glued_short(word), "{word}");
            assert!(refused_short(word).is_none(), "{word}");
        }
    }

    /// The README's hand-off section names every option of the allow-list.
    #[test]
    fn the_readme_lists_every_allowed_option() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let section = readme
            .split("`--nmap \"ARGS\"` runs nmap once")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README: the --nmap paragraph of Privileges");
        for (name, _) in LONG {
            assert!(
                section.contains(&format!("`--{name}")),
                "README lacks --{name}"
            );
        }
        for (word, _) in SHORT {
            assert!(section.contains(&format!("`{word}")), "README lacks {word}");
        }
        for glued in ["`-sV`", "`-sC`", "`-sS`", "`-sT`", "`-T0`", "`-v`", "`-d`"] {
            assert!(section.contains(glued), "README lacks {glued}");
        }
    }

    #[test]
    fn args_split_like_a_shell() {
        assert_eq!(split_args("a\"b c\"'d'e"), Ok(vec!["ab cde".to_string()]));
        assert_eq!(split_args(r#""a\b""#), Ok(vec![r"a\b".to_string()]));
        assert_eq!(split_args("   "), Ok(vec![]));
        assert_eq!(
            split_args("-sV 'oops"),
            Err(ScanError::usage(
                "--nmap \"-sV 'oops\": unterminated ' quote; close it or drop it"
            ))
        );
        assert!(split_args("x \"y").is_err());
        assert!(split_args("x\\").is_err());
    }
}
