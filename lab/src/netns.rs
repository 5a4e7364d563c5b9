//! Thin wrappers around `ip`, `nft`, `sysctl` and `kill`, run as child processes.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output, Stdio};

/// The scanner-side veth address.
pub const SCANNER_IP: &str = "198.18.0.1";
/// The target-side veth address (the scanner's next hop).
pub const TARGET_IP: &str = "198.18.0.2";
/// [`SCANNER_IP`] as an address.
pub const SCANNER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// [`TARGET_IP`] as an address.
pub const TARGET_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The route the scanner namespace sends via the target.
pub const TARGET_ROUTE: &str = "198.19.0.0/16";
/// The scanner-side veth's IPv6 address (in 2001:2:0:18::/64, RFC 5180 space).
pub const SCANNER_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0x18, 0, 0, 0, 1);
/// The target-side veth's IPv6 address (the scanner's IPv6 next hop).
pub const TARGET_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0x18, 0, 0, 0, 2);
/// Length of the veth subnet 2001:2:0:18::/64.
pub const VETH_PREFIX_LEN6: u8 = 64;
/// The IPv6 route the scanner sends via the target, which answers for all of it.
pub const TARGET_ROUTE6: &str = crate::truth::TARGET_BLOCK6;

/// Everything named after a lab name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The lab name itself.
    pub name: String,
    /// Scanner namespace `<name>s`.
    pub scanner_ns: String,
    /// Target namespace `<name>t`.
    pub target_ns: String,
    /// Scanner veth `<name>a`.
    pub scanner_if: String,
    /// Target veth `<name>b`.
    pub target_if: String,
    /// Middle namespace `<name>m` (only when the lab has a wire).
    pub middle_ns: String,
    /// Middle veth facing the scanner `<name>c` (peer of `scanner_if`).
    pub middle_scanner_if: String,
    /// Middle veth facing the target `<name>d` (peer of `target_if`).
    pub middle_target_if: String,
}

impl Names {
    /// Derive all names from a (validated) lab name.
    pub fn new(name: &str) -> Names {
        Names {
            name: name.to_string(),
            scanner_ns: format!("{name}s"),
            target_ns: format!("{name}t"),
            scanner_if: format!("{name}a"),
            target_if: format!("{name}b"),
            middle_ns: format!("{name}m"),
            middle_scanner_if: format!("{name}c"),
            middle_target_if: format!("{name}d"),
        }
    }
}

fn describe(prog: &str, args: &[&str]) -> String {
    let mut s = prog.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Run `prog args`, feeding `input` on stdin; error (with stderr) unless it exits 0.
pub fn run(prog: &str, args: &[&str], input: Option<&str>) -> Result<Output, String> {
    let what = describe(prog, args);
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{what}`: {e}; install {prog} and run as root"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A write error shows up as the child's failure below; the pipe closes on drop.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{what}` did not finish: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.trim().replace('\n', "; ");
        return Err(format!("`{what}` failed ({}): {err}", out.status));
    }
    Ok(out)
}

/// Run `ip args`.
pub fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args, None).map(|_| ())
}

/// Load an nft script into namespace `ns`.
pub fn nft_load(ns: &str, script: &str) -> Result<(), String> {
    run("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(script)).map(|_| ())
}

/// Set sysctls inside namespace `ns` (they are per-namespace).
pub fn sysctl(ns: &str, settings: &[&str]) -> Result<(), String> {
    let mut args = vec!["netns", "exec", ns, "sysctl", "-q", "-w"];
    args.extend_from_slice(settings);
    run("ip", &args, None).map(|_| ())
}

/// Whether a named network namespace exists.
pub fn ns_exists(ns: &str) -> bool {
    match run("ip", &["netns", "list"], None) {
        Ok(out) => ns_listed(&String::from_utf8_lossy(&out.stdout), ns),
        Err(_) => false,
    }
}

/// Whether `ip netns list` output names `ns` (lines look like "name (id: 3)" or "name").
pub fn ns_listed(list: &str, ns: &str) -> bool {
    list.lines()
        .any(|l| l.split_whitespace().next() == Some(ns))
}

/// Process ids living in namespace `ns` (empty when it does not exist).
pub fn ns_pids(ns: &str) -> Vec<u32> {
    match run("ip", &["netns", "pids", ns], None) {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Send SIGKILL to one process id (best effort).
pub fn kill_pid(pid: u32) {
    let _ = run("kill", &["-KILL", &pid.to_string()], None);
}

/// The rx_packets counter of interface `ifname` in namespace `ns`.
pub fn rx_packets(ns: &str, ifname: &str) -> Result<u64, String> {
    let out = run(
        "ip",
        &["-n", ns, "-s", "-json", "link", "show", "dev", ifname],
        None,
    )?;
    parse_rx_packets(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("no rx packet counter for {ifname} in {ns}: is the lab up?"))
}

/// Pull stats64.rx.packets out of `ip -s -json link` output.
pub fn parse_rx_packets(json: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get(0)?
        .get("stats64")?
        .get("rx")?
        .get("packets")?
        .as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_addresses_match_the_strings() {
        assert_eq!(SCANNER_ADDR.to_string(), SCANNER_IP);
        assert_eq!(TARGET_ADDR.to_string(), TARGET_IP);
    }

    #[test]
    fn names_derived() {
        let n = Names::new("lab1");
        assert_eq!(
            (
                n.scanner_ns.as_str(),
                n.target_ns.as_str(),
                n.scanner_if.as_str(),
                n.target_if.as_str()
            ),
            ("lab1s", "lab1t", "lab1a", "lab1b")
        );
        assert_eq!(
            (
                n.middle_ns.as_str(),
                n.middle_scanner_if.as_str(),
                n.middle_target_if.as_str()
            ),
            ("lab1m", "lab1c", "lab1d")
        );
    }

    #[test]
    fn listed_matches_whole_names() {
        let list = "lab12t (id: 1)\nlab12s (id: 0)\nother\n";
        assert!(ns_listed(list, "lab12t"));
        assert!(ns_listed(list, "other"));
        assert!(!ns_listed(list, "lab1"));
        assert!(!ns_listed("", "x"));
    }

    #[test]
    fn rx_packets_parsed() {
        let j =
            r#"[{"ifname":"xb","stats64":{"rx":{"bytes":100,"packets":7},"tx":{"packets":1}}}]"#;
        assert_eq!(parse_rx_packets(j), Some(7));
        assert_eq!(parse_rx_packets("[]"), None);
        assert_eq!(parse_rx_packets("nonsense"), None);
    }
}
