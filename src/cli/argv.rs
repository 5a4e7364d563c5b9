//! Rewrites nmap's two-letter short flags (`-oL FILE`, `-iL FILE`, `-p-`, ...) into long flags
//! before clap sees them: clap cannot parse multi-letter short flags.

/// nmap-style short flags and the long flags they stand for.
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
const MODE_FLAGS: &[(&str, &str)] = &[("-sS", "--syn"), ("-sT", "--connect"), ("-Pn", "--no-ping")];

/// Returns argv with every nmap-style two-letter flag turned into its long form.
pub fn rewrite(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_double_dash = false;
    for arg in args {
        if after_double_dash {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            after_double_dash = true;
            out.push(arg);
            continue;
        }
        out.push(rewrite_one(arg));
    }
    out
}

fn rewrite_one(arg: String) -> String {
    if arg == "-p-" {
        return "--ports=-".to_string();
    }
    if let Some((_, long)) = MODE_FLAGS.iter().find(|(short, _)| *short == arg) {
        return (*long).to_string();
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
    fn rewrites_glued_values_and_all_ports() {
        assert_eq!(
            rw(&["-oXscan.xml", "-oG=g.txt", "-p-", "-sS", "-Pn"]),
            vec![
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
            rw(&["-p", "80", "10.0.0.1", "--", "-oL"]),
            vec!["-p", "80", "10.0.0.1", "--", "-oL"]
        );
    }
}
