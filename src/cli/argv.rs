//! Rewrites nmap's two-letter short flags (`-oL FILE`, `-iL FILE`, `-p-`, ...) into long flags
//! before clap sees them: clap cannot parse multi-letter short flags.
//!
//! Only synscan's own flags are rewritten: the program name, the value after any flag that
//! takes one (`--nmap "-sV -oX svc.xml"`, `--exclude -iLx`) and everything after `--` pass
//! through unchanged.

use clap::CommandFactory;

/// nmap-style short flags and the long flags they stand for (each takes a value).
const TWO_LETTER: &[(&str, &str)] = &[
    ("-oN", "--output-normal"),
    ("-oG", "--output-grepable"),
    ("-oX", "--output-xml"),
    ("-oJ", "--output-json"),
    ("-oL", "--output-list"),
    ("-oA", "--output-all"),
    ("-iL", "--input-list"),
];

/// Flags that take no value and only switch a mode.
const MODE_FLAGS: &[(&str, &str)] = &[
    ("-sS", "--syn"),
    ("-sT", "--connect"),
    ("-sV", "--service-version"),
    ("-Pn", "--no-ping"),
];

/// The long names (aliases included) and short letters of synscan's flags that take a value.
struct ValueFlags {
    long: Vec<String>,
    short: Vec<char>,
}

impl ValueFlags {
    fn from_clap() -> ValueFlags {
        let cmd = super::args::Args::command();
        let mut flags = ValueFlags {
            long: Vec::new(),
            short: Vec::new(),
        };
        for arg in cmd.get_arguments() {
            if arg.is_positional() || !arg.get_action().takes_values() {
                continue;
            }
            flags.long.extend(
                arg.get_long_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .chain(arg.get_aliases().into_iter().flatten())
                    .map(str::to_string),
            );
            flags.short.extend(arg.get_short());
        }
        flags
    }

    /// True when `arg`, as clap reads it, leaves its value to the next argument.
    fn next_is_value(&self, arg: &str) -> bool {
        if let Some(name) = arg.strip_prefix("--") {
            return !name.contains('=') && self.long.iter().any(|l| l == name);
        }
        if TWO_LETTER.iter().any(|(short, _)| *short == arg) {
            return true;
        }
        // A cluster of short flags (`-vp`): the value follows when the last letter takes one
        // and nothing is glued after it.
        match arg.strip_prefix('-') {
            Some(cluster) if !cluster.is_empty() => {
                for (i, c) in cluster.char_indices() {
                    if self.short.contains(&c) {
                        return i + c.len_utf8() == cluster.len();
                    }
                }
                false
            }
            _ => false,
        }
    }
}

/// For each argument of argv (program name first): true where it stands as a flag, false
/// for the program name, the value of a flag that takes one, and everything after `--`.
fn flag_positions(args: &[String], flags: &ValueFlags) -> Vec<bool> {
    let mut out = Vec::with_capacity(args.len());
    let mut value_next = false;
    let mut after_double_dash = false;
    for (i, arg) in args.iter().enumerate() {
        if i == 0 || after_double_dash || value_next {
            value_next = false;
            out.push(false);
            continue;
        }
        after_double_dash = arg == "--";
        value_next = flags.next_is_value(arg);
        out.push(!after_double_dash);
    }
    out
}

/// The arguments of argv (program name first) that stand as flags, not as values.
pub fn flag_words(args: &[String]) -> Vec<&str> {
    let positions = flag_positions(args, &ValueFlags::from_clap());
    args.iter()
        .zip(positions)
        .filter(|(_, flag)| *flag)
        .map(|(a, _)| a.as_str())
        .collect()
}

/// Returns argv (program name first) with every nmap-style two-letter flag of synscan's own
/// turned into its long form.
pub fn rewrite(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let args: Vec<String> = args.into_iter().collect();
    let positions = flag_positions(&args, &ValueFlags::from_clap());
    args.into_iter()
        .zip(positions)
        .map(|(arg, flag)| if flag { rewrite_one(arg) } else { arg })
        .collect()
}

/// The letter of an nmap scan-type flag (`-sA`: 'A').
fn scan_type_letter(arg: &str) -> Option<char> {
    let mut letters = arg.strip_prefix("-s")?.chars();
    match (letters.next(), letters.next()) {
        (Some(letter), None) => Some(letter),
        _ => None,
    }
}

fn rewrite_one(arg: String) -> String {
    if arg == "-p-" {
        return "--ports=-".to_string();
    }
    if let Some((_, long)) = MODE_FLAGS.iter().find(|(short, _)| *short == arg) {
        return (*long).to_string();
    }
    // nmap's -s<letter> of every other probe kind: `-sA` is `--scan-type=ack`.
    if let Some(kind) = scan_type_letter(&arg).and_then(crate::probe::ProbeKind::from_nmap_letter) {
        return format!("--scan-type={}", kind.nmap_type());
    }
    for (short, long) in TWO_LETTER {
        if arg == *short {
            return (*long).to_string();
        }
        // `-oLfile` and `-oL=file`: the value glued on, as nmap accepts.
        if let Some(rest) = arg.strip_prefix(short) {
            let value = rest.strip_prefix('=').unwrap_or(rest);
            return format!("{long}={value}");
        }
    }
    arg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(v: &[&str]) -> Vec<String> {
        rewrite(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn rewrites_output_and_input_flags() {
        assert_eq!(
            rw(&["synscan", "-oL", "a.txt", "-oJ", "-", "-iL", "t.txt"]),
            vec![
                "synscan",
                "--output-list",
                "a.txt",
                "--output-json",
                "-",
                "--input-list",
                "t.txt"
            ]
        );
    }

    #[test]
    fn scan_type_letters_of_the_kinds_become_scan_type() {
        assert_eq!(
            rw(&["synscan", "-sA", "-sS", "-sT", "-p", "-sA", "-sW", "-sAV"]),
            vec![
                "synscan",
                "--scan-type=ack",
                "--syn",
                "--connect",
                "-p",
                "-sA",
                "-sW",
                "-sAV"
            ]
        );
    }

    #[test]
    fn rewrites_glued_values_and_all_ports() {
        assert_eq!(
            rw(&["synscan", "-oXscan.xml", "-oG=g.txt", "-p-", "-sS", "-Pn"]),
            vec![
                "synscan",
                "--output-xml=scan.xml",
                "--output-grepable=g.txt",
                "--ports=-",
                "--syn",
                "--no-ping"
            ]
        );
    }

    #[test]
    fn leaves_other_arguments_and_everything_after_double_dash() {
        assert_eq!(
            rw(&["synscan", "-p", "80", "10.0.0.1", "--", "-oL"]),
            vec!["synscan", "-p", "80", "10.0.0.1", "--", "-oL"]
        );
    }

    #[test]
    fn leaves_the_values_of_flags_alone() {
        // Issue #8 item 10: the --nmap value used to become "--output-xml= svc.xml".
        assert_eq!(
            rw(&[
                "synscan",
                "--nmap",
                "-oX svc.xml",
                "-oX",
                "a.xml",
                "198.19.0.1"
            ]),
            vec![
                "synscan",
                "--nmap",
                "-oX svc.xml",
                "--output-xml",
                "a.xml",
                "198.19.0.1"
            ]
        );
        assert_eq!(
            rw(&["synscan", "--nmap", "-sV -oX svc.xml"]),
            vec!["synscan", "--nmap", "-sV -oX svc.xml"]
        );
        // A value that looks like a flag, after a long flag, a short flag, a rewritten flag
        // and an alias; `--flag=value` carries its own value.
        assert_eq!(
            rw(&[
                "synscan",
                "--exclude",
                "-iLx",
                "-e",
                "-oJ",
                "-oL",
                "-sT",
                "--max-retries",
                "-oX",
                "--nmap=-oX",
                "-oGg"
            ]),
            vec![
                "synscan",
                "--exclude",
                "-iLx",
                "-e",
                "-oJ",
                "--output-list",
                "-sT",
                "--max-retries",
                "-oX",
                "--nmap=-oX",
                "--output-grepable=g"
            ]
        );
        // -v takes no value, -p does: in a cluster the value follows.
        assert_eq!(
            rw(&["synscan", "-vp", "-oX", "-v", "-sT"]),
            vec!["synscan", "-vp", "-oX", "-v", "--connect"]
        );
        // The program name is never rewritten.
        assert_eq!(rw(&["-oX"]), vec!["-oX"]);
    }
}
