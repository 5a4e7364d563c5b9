//! nmap scan types and discovery probes synscan does not do yet. Each gets one line saying
//! so (exit 2), instead of clap's "unexpected argument '-s'". This table is the one place
//! that lists them: an issue that implements one removes its entry (and adds the flag).

use crate::error::ScanError;

/// nmap's flag, what it does, and what to use instead.
const NOT_YET: &[(&str, &str, &str)] = &[
    ("-sU", "UDP scan", SCANS_TCP),
    (
        "-sC",
        "script scan",
        "hand the open ports to nmap with --nmap \"-sC\"",
    ),
    ("-sR", "RPC scan (nmap folds it into -sV)", "use -sV"),
    (
        "-sn",
        "host discovery without a port scan (ping scan)",
        NO_DISCOVERY,
    ),
    (
        "-sP",
        "host discovery without a port scan (ping scan)",
        NO_DISCOVERY,
    ),
    (
        "-sL",
        "list scan",
        "--dry-run prints the probes a scan would send",
    ),
    ("-sW", "Window scan", SCANS_TCP),
    ("-sM", "Maimon scan", SCANS_TCP),
    ("-sY", "SCTP INIT scan", SCANS_TCP),
    ("-sZ", "SCTP COOKIE-ECHO scan", SCANS_TCP),
    ("-sO", "IP protocol scan", SCANS_TCP),
    ("-sI", "idle scan", SCANS_TCP),
    ("-PE", "ICMP echo host discovery", NO_DISCOVERY),
    ("-PP", "ICMP timestamp host discovery", NO_DISCOVERY),
    ("-PM", "ICMP netmask host discovery", NO_DISCOVERY),
    ("-PS", "TCP SYN host discovery", NO_DISCOVERY),
    ("-PA", "TCP ACK host discovery", NO_DISCOVERY),
    ("-PU", "UDP host discovery", NO_DISCOVERY),
    ("-PY", "SCTP host discovery", NO_DISCOVERY),
    ("-PO", "IP protocol host discovery", NO_DISCOVERY),
    ("-PR", "ARP host discovery", NO_DISCOVERY),
    (
        "-O",
        "OS detection",
        "hand the open ports to nmap with --nmap \"-O\"",
    ),
    (
        "-A",
        "OS and version detection, scripts and traceroute",
        "hand the open ports to nmap with --nmap \"-A\"",
    ),
];

const SCANS_TCP: &str =
    "synscan scans TCP ports with SYN (-sS, the default), connect() (-sT), ACK (-sA), FIN (-sF), NULL (-sN) or Xmas (-sX)";
const NO_DISCOVERY: &str =
    "synscan probes every target's ports without host discovery first, as nmap -Pn does";

/// The table's entry a flag word names: `-sU`, a combination such as `-sSU` (nmap reads
/// each letter as a scan type), or a discovery probe with its ports glued on (`-PS22`).
fn entry(word: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    if let Some(kinds) = word.strip_prefix("-s").filter(|k| !k.is_empty()) {
        return kinds
            .chars()
            .filter(|k| !matches!(k, 'S' | 'T' | 'V'))
            .find_map(|k| NOT_YET.iter().find(|(f, _, _)| *f == format!("-s{k}")));
    }
    NOT_YET.iter().find(|(f, _, _)| {
        *f == word || (f.starts_with("-P") && word.len() > 3 && word.starts_with(f))
    })
}

/// Refuses the first flag (of `words`, the arguments that stand as flags) that asks for a
/// scan type or probe synscan does not do yet.
pub fn refuse(words: &[&str]) -> Result<(), ScanError> {
    for word in words {
        if let Some((flag, what, instead)) = entry(word) {
            return Err(ScanError::usage(format!(
                "{flag} ({what}) is not supported yet: {instead}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scan_type_not_done_yet_is_named() {
        for (words, line) in [
            (&["-sU"][..], "-sU (UDP scan) is not supported yet: synscan scans TCP ports with SYN (-sS, the default), connect() (-sT), ACK (-sA), FIN (-sF), NULL (-sN) or Xmas (-sX)"),
            (&["-sn"], "-sn (host discovery without a port scan (ping scan)) is not supported yet: synscan probes every target's ports without host discovery first, as nmap -Pn does"),
            (&["-v", "-sSU"], "-sU (UDP scan) is not supported yet: synscan scans TCP ports with SYN (-sS, the default), connect() (-sT), ACK (-sA), FIN (-sF), NULL (-sN) or Xmas (-sX)"),
            (&["-sR"], "-sR (RPC scan (nmap folds it into -sV)) is not supported yet: use -sV"),
            (&["-PS22,80"], "-PS (TCP SYN host discovery) is not supported yet: synscan probes every target's ports without host discovery first, as nmap -Pn does"),
            (&["-PE"], "-PE (ICMP echo host discovery) is not supported yet: synscan probes every target's ports without host discovery first, as nmap -Pn does"),
            (&["-sL"], "-sL (list scan) is not supported yet: --dry-run prints the probes a scan would send"),
            (&["-O"], "-O (OS detection) is not supported yet: hand the open ports to nmap with --nmap \"-O\""),
        ] {
            assert_eq!(refuse(words), Err(ScanError::usage(line)), "{words:?}");
        }
        for flag in [
            "-sW", "-sM", "-sY", "-sZ", "-sO", "-sI", "-sC", "-PP", "-PM", "-PA", "-PU", "-PY",
            "-PO", "-PR", "-A",
        ] {
            let e = refuse(&[flag]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{flag} (")), "{e}");
        }
    }

    #[test]
    fn what_synscan_does_passes() {
        for word in [
            "-sS", "-sT", "-sA", "-sF", "-sN", "-sX", "-sV", "-sSV", "-Pn", "-p", "-p-", "-P",
            "-s", "-sST", "-v", "-n", "-6", "-e",
        ] {
            assert_eq!(refuse(&[word]), Ok(()), "{word}");
        }
    }
}
