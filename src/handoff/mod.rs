//! Hand-off to nmap (`--nmap "ARGS"`): after a scan, run nmap on just the open ports found,
//! for what synscan does not do (-sV, -O, scripts).
//!
//! **One run, union of ports.** nmap takes one port list for all its targets, so synscan
//! starts a single nmap with every host that has an open port and the union of their open
//! ports: `nmap ARGS -p PORTS TARGETS`. A port open on one host is then also probed on the
//! others (a SYN answered by a reset: cheap, and nmap reports it closed there). One run keeps
//! nmap's own report in one piece, so output flags in ARGS (`-oX svc.xml`) work as typed;
//! one run per distinct port set would overwrite such files and start nmap many times.
//!
//! Targets are ascending, consecutive addresses of one /24 merged in nmap's octet-range
//! syntax (`198.19.0.1-5`); ports ascending with runs merged (`22,80,8000-8002`). Past
//! [`MAX_ARGV_TARGETS`] targets they go through a temporary file and `-iL`. ARGS give
//! neither: they are checked against an allow-list of nmap options ([`check_args`]), so
//! the hosts nmap scans are exactly the ones synscan found open ports on.
//!
//! **Privileges.** synscan clears its capabilities once its sockets are open, and an nmap it
//! starts inherits none.
//! - Started as root, the scan runs as `--user` (synscan or nobody) after opening its sockets; an nmap
//!   started from it could not write `-oX svc.xml` into root's working directory, nor use
//!   raw sockets. So before giving anything up, the scan starts a [`Helper`]: synscan itself
//!   re-executed with [`HELPER_ARG`], still root, holding the fixed, validated ARGS. It is
//!   told the scan's scope (addresses and ports) while the scan is still root, then receives
//!   only the open ports over a pipe, each checked against that scope, and runs nmap as root
//!   in the invoking directory: every allowed nmap option works, as if root ran nmap by hand.
//! - Started as another user (CAP_NET_RAW on the binary), nmap runs as that user without
//!   capabilities: connect() scans, -sV and scripts work; -O, -sS and other raw-packet
//!   features need root. When no helper can be used while uid is 0 without capabilities,
//!   [`run`] adds `--unprivileged` (unless ARGS say `--privileged`/`--unprivileged`).
//!
//! API: [`nmap_command`] builds the command (pure; [`NmapCommand::argv`] is the exact argv),
//! [`check_installed`] finds nmap on PATH (call it before a long scan to fail early), and
//! [`run`] does both and runs nmap with inherited stdin/stdout/stderr; [`Helper`] and
//! [`helper_main`] are the two ends of the root hand-off.

mod nmap_args;

pub use nmap_args::{check_args, split_args};

use crate::error::ScanError;
use crate::targets::{Ipv4Set, PortSet};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The message when nmap cannot be found on PATH.
pub const NOT_INSTALLED: &str =
    "--nmap: nmap is not installed (apt install nmap); open ports were written as usual";

/// Open ports per host, as the scan found them.
pub type OpenPorts = BTreeMap<Ipv4Addr, BTreeSet<u16>>;

/// Most targets written on nmap's command line; more are passed in a file with `-iL`.
pub const MAX_ARGV_TARGETS: usize = 4096;

/// Longest `-p` value (Linux refuses single arguments over 128 KiB).
pub const MAX_PORTS_ARG: usize = 100_000;

/// The nmap run for a scan's open ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NmapCommand {
    /// The user's ARGS, split like a shell would.
    pub args: Vec<String>,
    /// The `-p` value: the union of open ports, ascending, runs merged.
    pub ports: String,
    /// Hosts with open ports, ascending, runs within a /24 merged (`a.b.c.x-y`).
    pub targets: Vec<String>,
    /// Add `--unprivileged` (nmap started without capabilities while running as root).
    pub unprivileged: bool,
}

impl NmapCommand {
    fn head(&self) -> Vec<String> {
        let mut v = vec!["nmap".to_string()];
        v.extend(self.args.iter().cloned());
        if self.unprivileged
            && !self
                .args
                .iter()
                .any(|a| a == "--privileged" || a == "--unprivileged")
        {
            v.push("--unprivileged".to_string());
        }
        v.push("-p".to_string());
        v.push(self.ports.clone());
        v
    }

    /// The exact argv: `nmap ARGS... [--unprivileged] -p PORTS TARGETS...`.
    pub fn argv(&self) -> Vec<String> {
        let mut v = self.head();
        v.extend(self.targets.iter().cloned());
        v
    }

    /// The argv with the targets read from `file` (one a line) instead: `... -p PORTS -iL FILE`.
    pub fn argv_with_target_file(&self, file: &Path) -> Vec<String> {
        let mut v = self.head();
        v.push("-iL".to_string());
        v.push(file.to_string_lossy().into_owned());
        v
    }

    /// The argv as one shell-quoted line, for telling the user what runs.
    pub fn shell_line(argv: &[String]) -> String {
        argv.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Quotes one word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,=+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Ascending ports with runs merged: "22,80,8000-8002".
fn port_spec(ports: &BTreeSet<u16>) -> String {
    PortSet::from_ranges(ports.iter().map(|&p| (p, p))).to_spec()
}

/// Ascending addresses with runs inside one /24 merged in nmap's octet-range syntax.
fn target_specs(hosts: &[Ipv4Addr]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < hosts.len() {
        let first = hosts[i].octets();
        let mut j = i;
        while j + 1 < hosts.len()
            && hosts[j + 1].octets()[..3] == first[..3]
            && u64::from(u32::from(hosts[j + 1])) == u64::from(u32::from(hosts[j])) + 1
        {
            j += 1;
        }
        out.push(if i == j {
            hosts[i].to_string()
        } else {
            let last = hosts[j].octets()[3];
            format!("{}.{}.{}.{}-{last}", first[0], first[1], first[2], first[3])
        });
        i = j + 1;
    }
    out
}

/// The nmap command for `open` (None when nothing is open). `args` is the text given to
/// `--nmap`, split like a shell; it must not choose ports or targets. `unprivileged` is left
/// false here; [`run`] sets it from the process's capabilities.
pub fn nmap_command(args: &str, open: &OpenPorts) -> Result<Option<NmapCommand>, ScanError> {
    let args = split_args(args)?;
    check_args(&args)?;
    let hosts: Vec<Ipv4Addr> = open
        .iter()
        .filter(|(_, ports)| !ports.is_empty())
        .map(|(ip, _)| *ip)
        .collect();
    if hosts.is_empty() {
        return Ok(None);
    }
    let union: BTreeSet<u16> = open.values().flatten().copied().collect();
    let ports = port_spec(&union);
    if ports.len() > MAX_PORTS_ARG {
        return Err(ScanError::runtime(format!(
            "--nmap: {} distinct open ports are too many for one nmap -p argument; run nmap on a part of them by hand",
            union.len()
        )));
    }
    Ok(Some(NmapCommand {
        args,
        ports,
        targets: target_specs(&hosts),
        unprivileged: false,
    }))
}

/// The first executable file called `name` in the directories of `path` (a PATH value).
pub fn find_in_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path?;
    std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// nmap's path from PATH, or [`NOT_INSTALLED`].
pub fn check_installed() -> Result<PathBuf, ScanError> {
    find_in_path("nmap", std::env::var_os("PATH").as_deref())
        .ok_or_else(|| ScanError::runtime(NOT_INSTALLED))
}

/// What [`run`] did.
#[derive(Debug)]
pub enum Outcome {
    /// No open ports: nmap was not started.
    NothingOpen,
    /// nmap ran and exited with this status.
    Ran(ExitStatus),
}

/// A temporary target list, removed when dropped.
struct TargetFile(PathBuf);

impl Drop for TargetFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn write_target_file(targets: &[String]) -> Result<TargetFile, ScanError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!(
        "synscan-nmap-targets-{}-{nanos}.txt",
        std::process::id()
    ));
    // A new file of ours: one already there (planted under a guessed name) is refused.
    let created = crate::sys::fs::open_output(&path, false)
        .map_err(|e| e.to_string())
        .and_then(|o| match o.created {
            Some(_) => Ok(o.file),
            None => Err("it exists already".to_string()),
        });
    let mut f = created.map_err(|e| {
        ScanError::runtime(format!(
            "--nmap: cannot write the target list {}: {e}",
            path.display()
        ))
    })?;
    let guard = TargetFile(path);
    let mut text = targets.join("\n");
    text.push('\n');
    f.write_all(text.as_bytes())
        .map_err(|e| ScanError::runtime(format!("--nmap: cannot write the target list: {e}")))?;
    Ok(guard)
}

/// Runs nmap on the open ports found: builds the command ([`nmap_command`]), finds nmap
/// ([`check_installed`]; the error is [`NOT_INSTALLED`]), adds `--unprivileged` when running
/// as root without capabilities, says on stderr what it runs, and waits for nmap, whose
/// stdin, stdout and stderr are synscan's. Errors are one line, ready to print.
pub fn run(args: &str, open: &OpenPorts) -> Result<Outcome, ScanError> {
    run_with_path(args, open, std::env::var_os("PATH").as_deref())
}

/// [`run`] with nmap searched in `path` (a PATH value) instead of the environment's.
pub fn run_with_path(
    args: &str,
    open: &OpenPorts,
    path: Option<&OsStr>,
) -> Result<Outcome, ScanError> {
    let Some(mut cmd) = nmap_command(args, open)? else {
        eprintln!("synscan: --nmap: no open ports found; nmap not run");
        return Ok(Outcome::NothingOpen);
    };
    let nmap = find_in_path("nmap", path).ok_or_else(|| ScanError::runtime(NOT_INSTALLED))?;
    cmd.unprivileged = crate::sys::caps::is_root() && !crate::sys::caps::has_net_raw();
    let file;
    let argv = if cmd.targets.len() > MAX_ARGV_TARGETS {
        file = write_target_file(&cmd.targets)?;
        cmd.argv_with_target_file(&file.0)
    } else {
        cmd.argv()
    };
    eprintln!(
        "synscan: handing the open ports to nmap: {}",
        NmapCommand::shell_line(&argv)
    );
    let status = Command::new(&nmap)
        .args(&argv[1..])
        .status()
        .map_err(|e| ScanError::runtime(format!("--nmap: cannot start {}: {e}", nmap.display())))?;
    Ok(Outcome::Ran(status))
}

/// First argument that makes the synscan binary the root hand-off helper (internal).
pub const HELPER_ARG: &str = "--internal-nmap-hand-off";

/// What the helper read from its pipe.
#[derive(Debug, Default, PartialEq, Eq)]
struct HelperInput {
    /// The scan's addresses, sent while the scan was still root.
    scope: Ipv4Set,
    /// The scan's ports, likewise.
    ports: PortSet,
    /// Open ports the scanner reported, each inside the scope.
    open: OpenPorts,
    /// The scanner said the scan completed: run nmap.
    run: bool,
}

/// Reads the helper protocol, one command a line: `host FIRST LAST` and `port FIRST LAST`
/// (the scope, u32 and u16 decimals) until `scanning`; then `open IP PORT` lines and `run`.
/// The end of input before `run` means the scan did not complete. Anything else, and any
/// open port outside the scope, is refused: the scanner wrote it after giving up root.
fn read_helper_input(input: impl BufRead) -> Result<HelperInput, ScanError> {
    let bad = |line: &str| {
        ScanError::runtime(format!(
            "--nmap hand-off: unexpected line from the scanner ({line:?}); nmap not run"
        ))
    };
    let mut got = HelperInput::default();
    let mut scanning = false;
    for line in input.lines() {
        let line = line.map_err(|e| {
            ScanError::runtime(format!(
                "--nmap hand-off: cannot read the scan's ports: {e}"
            ))
        })?;
        let words: Vec<&str> = line.split(' ').collect();
        match (scanning, words.as_slice()) {
            (false, ["host", a, b]) => {
                let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else {
                    return Err(bad(&line));
                };
                got.scope.insert_range(Ipv4Addr::from(a), Ipv4Addr::from(b));
            }
            (false, ["port", a, b]) => {
                let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) else {
                    return Err(bad(&line));
                };
                got.ports.insert_range(a, b);
            }
            (false, ["scanning"]) => scanning = true,
            (true, ["open", ip, port]) => {
                let (Ok(ip), Ok(port)) = (ip.parse::<Ipv4Addr>(), port.parse::<u16>()) else {
                    return Err(bad(&line));
                };
                if !got.scope.contains(ip) || !got.ports.contains(port) {
                    return Err(ScanError::runtime(format!(
                        "--nmap hand-off: the scanner reported {ip} port {port}, outside the scan; nmap not run"
                    )));
                }
                got.open.entry(ip).or_default().insert(port);
            }
            (true, ["run"]) => {
                got.run = true;
                return Ok(got);
            }
            _ => return Err(bad(&line)),
        }
    }
    Ok(got)
}

/// The scanner's end of the root hand-off: a helper process started while still root.
pub struct Helper {
    child: std::process::Child,
    pipe: Option<std::process::ChildStdin>,
}

impl Helper {
    /// Starts the helper (this binary again, as root) with the validated `args` for nmap and
    /// tells it the scan's scope. Call before giving up root.
    pub fn start(args: &str, targets: &Ipv4Set, ports: &PortSet) -> Result<Helper, ScanError> {
        let failed = |e: std::io::Error| {
            ScanError::runtime(format!("--nmap: cannot start the hand-off helper: {e}"))
        };
        // The running binary itself, whatever its path: the kernel's link cannot be swapped.
        let mut child = Command::new("/proc/self/exe")
            .arg(HELPER_ARG)
            .arg(args)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .map_err(failed)?;
        let mut helper = Helper {
            pipe: child.stdin.take(),
            child,
        };
        let mut scope = String::new();
        for (a, b) in targets.ranges() {
            scope.push_str(&format!("host {} {}\n", u32::from(a), u32::from(b)));
        }
        for (a, b) in ports.ranges() {
            scope.push_str(&format!("port {a} {b}\n"));
        }
        scope.push_str("scanning\n");
        helper.send(&scope).map_err(failed)?;
        Ok(helper)
    }

    fn send(&mut self, text: &str) -> std::io::Result<()> {
        match self.pipe.as_mut() {
            Some(p) => p.write_all(text.as_bytes()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    /// Hands over the open ports of a completed scan (None: the scan did not complete, nmap
    /// is not run) and waits for the helper. Ok when nmap ran and succeeded or had nothing
    /// to do; a runtime error when it failed (the helper has said why just before).
    pub fn finish(mut self, open: Option<&OpenPorts>) -> Result<(), ScanError> {
        if let Some(open) = open {
            let mut text = String::new();
            for (ip, ports) in open {
                for port in ports {
                    text.push_str(&format!("open {ip} {port}\n"));
                }
            }
            text.push_str("run\n");
            self.send(&text).map_err(|e| {
                ScanError::runtime(format!("--nmap: cannot reach the hand-off helper: {e}"))
            })?;
        }
        self.pipe = None;
        let status = self.child.wait().map_err(|e| {
            ScanError::runtime(format!("--nmap: cannot wait for the hand-off helper: {e}"))
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(ScanError::runtime(
                "--nmap: the hand-off did not complete (see the line above)",
            ))
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Closing the pipe before `run` tells the helper to exit without running nmap.
        self.pipe = None;
        let _ = self.child.wait();
    }
}

/// The helper process: reads the scope and the open ports from stdin, then runs nmap with
/// `args` (the validated --nmap text). Ok(0) when nmap succeeded or was not needed; an
/// error (for `main` to print) when it failed.
pub fn helper_main(args: &str) -> Result<i32, ScanError> {
    // Ctrl-C reaches the whole process group: the scanner decides; this process only waits
    // for its word. A caught signal (unlike an ignored one) is reset for nmap by exec.
    let waiting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, std::sync::Arc::clone(&waiting));
    }
    let input = read_helper_input(std::io::stdin().lock())?;
    if !input.run {
        return Ok(crate::error::EXIT_OK);
    }
    match run(args, &input.open)? {
        Outcome::Ran(status) if !status.success() => {
            Err(ScanError::runtime(format!("nmap exited with {status}")))
        }
        _ => Ok(crate::error::EXIT_OK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(d: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 0, d)
    }

    fn open(pairs: &[(Ipv4Addr, &[u16])]) -> OpenPorts {
        pairs
            .iter()
            .map(|(a, ps)| (*a, ps.iter().copied().collect()))
            .collect()
    }

    fn argv(args: &str, o: &OpenPorts) -> Vec<String> {
        nmap_command(args, o).unwrap().unwrap().argv()
    }

    #[test]
    fn one_run_with_the_union_of_ports_hosts_ascending() {
        let o = open(&[
            (ip(9), &[443]),
            (ip(5), &[22, 80]),
            (Ipv4Addr::new(198, 18, 7, 1), &[80]),
        ]);
        assert_eq!(
            argv("-sV --version-light", &o),
            [
                "nmap",
                "-sV",
                "--version-light",
                "-p",
                "22,80,443",
                "198.18.7.1",
                "198.19.0.5",
                "198.19.0.9"
            ]
        );
    }

    #[test]
    fn runs_of_ports_and_addresses_merge() {
        let o = open(&[
            (ip(1), &[8000, 8001, 8002, 22]),
            (ip(2), &[8003]),
            (ip(3), &[65535]),
            (ip(5), &[1]),
            (ip(255), &[1]),
            (Ipv4Addr::new(198, 19, 1, 0), &[1]),
            (Ipv4Addr::new(198, 19, 1, 1), &[1]),
        ]);
        assert_eq!(
            argv("", &o),
            [
                "nmap",
                "-p",
                "1,22,8000-8003,65535",
                "198.19.0.1-3",
                "198.19.0.5",
                "198.19.0.255",
                "198.19.1.0-1"
            ]
        );
    }

    #[test]
    fn nothing_open_means_no_command() {
        assert_eq!(nmap_command("-sV", &OpenPorts::new()), Ok(None));
        assert_eq!(nmap_command("-sV", &open(&[(ip(1), &[])])), Ok(None));
    }

    #[test]
    fn args_reach_nmap_as_split() {
        let o = open(&[(ip(1), &[80])]);
        assert_eq!(
            argv(
                r#" -sV  --script 'http-title,banner' --script-args "http.useragent=Mozilla 5 \"x\"" -oX out\ file.xml "#,
                &o
            ),
            [
                "nmap",
                "-sV",
                "--script",
                "http-title,banner",
                "--script-args",
                "http.useragent=Mozilla 5 \"x\"",
                "-oX",
                "out file.xml",
                "-p",
                "80",
                "198.19.0.1"
            ]
        );
    }

    #[test]
    fn port_and_target_choices_are_refused() {
        let o = open(&[(ip(1), &[80])]);
        for bad in [
            "-sV -p 22",
            "-p22",
            "-p-",
            "--top-ports 10",
            "--top-ports=10",
            "-F",
            "--port-ratio 0.1",
            "-iL hosts.txt",
            "-iR 5",
        ] {
            let e = nmap_command(bad, &o).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage);
            let e = e.to_string();
            assert!(e.starts_with("--nmap: leave out -"), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
        assert_eq!(
            nmap_command("-sV -p 22", &o).unwrap_err(),
            ScanError::usage(
                "--nmap: leave out -p: synscan passes the open ports it found with -p"
            )
        );
        // Look-alikes are fine.
        assert!(nmap_command("-Pn --privileged -sV --packet-trace", &o).is_ok());
    }

    #[test]
    fn unprivileged_flag_and_target_file() {
        let mut c = nmap_command("-sV", &open(&[(ip(1), &[80]), (ip(2), &[80])]))
            .unwrap()
            .unwrap();
        c.unprivileged = true;
        assert_eq!(
            c.argv(),
            ["nmap", "-sV", "--unprivileged", "-p", "80", "198.19.0.1-2"]
        );
        assert_eq!(
            c.argv_with_target_file(Path::new("/tmp/t.txt")),
            [
                "nmap",
                "-sV",
                "--unprivileged",
                "-p",
                "80",
                "-iL",
                "/tmp/t.txt"
            ]
        );
        // The user's explicit choice stands.
        let mut c = nmap_command("--privileged -O", &open(&[(ip(1), &[80])]))
            .unwrap()
            .unwrap();
        c.unprivileged = true;
        assert_eq!(
            c.argv(),
            ["nmap", "--privileged", "-O", "-p", "80", "198.19.0.1"]
        );
    }

    fn helper_input(text: &str) -> Result<HelperInput, ScanError> {
        read_helper_input(std::io::Cursor::new(text.as_bytes()))
    }

    #[test]
    fn helper_takes_open_ports_inside_the_scope_only() {
        let scope = format!(
            "host {} {}\nport 22 22\nport 80 90\nscanning\n",
            u32::from(ip(0)),
            u32::from(ip(255))
        );
        let got = helper_input(&format!(
            "{scope}open 198.19.0.5 22\nopen 198.19.0.5 85\nrun\n"
        ))
        .unwrap();
        assert!(got.run);
        assert_eq!(got.open, open(&[(ip(5), &[22, 85])]));
        assert_eq!(got.scope.len(), 256);
        // Cut short: the scan did not complete, nothing runs.
        let got = helper_input(&format!("{scope}open 198.19.0.5 22\n")).unwrap();
        assert!(!got.run);
        // The scanner, after giving up root, tries to steer nmap elsewhere.
        for (line, err) in [
            (
                "open 10.0.0.1 22",
                "--nmap hand-off: the scanner reported 10.0.0.1 port 22, outside the scan; nmap not run",
            ),
            (
                "open 198.19.0.5 443",
                "--nmap hand-off: the scanner reported 198.19.0.5 port 443, outside the scan; nmap not run",
            ),
            (
                "host 0 4294967295",
                "--nmap hand-off: unexpected line from the scanner (\"host 0 4294967295\"); nmap not run",
            ),
            (
                "port 1 65535",
                "--nmap hand-off: unexpected line from the scanner (\"port 1 65535\"); nmap not run",
            ),
            (
                "open 198.19.0.5 22 -oX /etc/passwd",
                "--nmap hand-off: unexpected line from the scanner (\"open 198.19.0.5 22 -oX /etc/passwd\"); nmap not run",
            ),
        ] {
            assert_eq!(
                helper_input(&format!("{scope}{line}\nrun\n")),
                Err(ScanError::runtime(err)),
                "{line}"
            );
        }
        assert!(helper_input("open 198.19.0.5 22\nrun\n").is_err());
        assert!(helper_input("host 1 x\n").is_err());
    }

    #[test]
    fn shell_line_quotes_what_needs_it() {
        let argv: Vec<String> = ["nmap", "-sV", "--script-args", "a=b c", "it's", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            NmapCommand::shell_line(&argv),
            r#"nmap -sV --script-args 'a=b c' 'it'\''s' ''"#
        );
    }

    #[test]
    fn target_file_holds_one_target_a_line_and_goes_away() {
        let f = write_target_file(&["198.19.0.1-3".to_string(), "198.19.0.9".to_string()]).unwrap();
        let path = f.0.clone();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "198.19.0.1-3\n198.19.0.9\n"
        );
        drop(f);
        assert!(!path.exists());
    }

    #[test]
    fn path_search_finds_executables_only() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("nmap"), "not executable").unwrap();
        std::fs::write(b.join("nmap"), "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(b.join("nmap"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([a.as_path(), b.as_path()]).unwrap();
        assert_eq!(find_in_path("nmap", Some(&path)), Some(b.join("nmap")));
        let only_a = std::env::join_paths([a.as_path()]).unwrap();
        assert_eq!(find_in_path("nmap", Some(&only_a)), None);
        assert_eq!(find_in_path("nmap", None), None);
        assert_eq!(
            NOT_INSTALLED,
            "--nmap: nmap is not installed (apt install nmap); open ports were written as usual"
        );
    }

    #[test]
    fn run_without_open_ports_or_nmap_starts_nothing() {
        assert!(matches!(
            run("-sV", &OpenPorts::new()),
            Ok(Outcome::NothingOpen)
        ));
        assert!(run("-p 80", &open(&[(ip(1), &[80])])).is_err());
        let empty = tempfile::tempdir().unwrap();
        let path = std::env::join_paths([empty.path()]).unwrap();
        assert_eq!(
            run_with_path("-sV", &open(&[(ip(1), &[80])]), Some(&path)).unwrap_err(),
            ScanError::runtime(NOT_INSTALLED)
        );
    }

    /// A named network namespace with only loopback up, deleted on drop (even on panic).
    struct EmptyNs(String);

    impl EmptyNs {
        fn new() -> Option<EmptyNs> {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("hoff{}-{n}", std::process::id());
            let ok = |args: &[&str]| {
                Command::new("ip")
                    .args(args)
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            };
            if !ok(&["netns", "add", &name]) {
                return None;
            }
            let ns = EmptyNs(name);
            ok(&["-n", &ns.0, "link", "set", "lo", "up"]).then_some(ns)
        }
    }

    impl Drop for EmptyNs {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    #[test]
    #[ignore = "needs root (network namespace) and nmap"]
    fn run_hands_a_listener_to_the_real_nmap() {
        assert!(crate::sys::caps::is_root(), "needs root");
        assert!(check_installed().is_ok(), "needs nmap (apt install nmap)");
        let Some(ns) = EmptyNs::new() else {
            panic!("cannot create a network namespace");
        };
        let dir = tempfile::tempdir().unwrap();
        let xml = dir.path().join("n.xml");
        let name = ns.0.clone();
        let xml_arg = xml.to_string_lossy().into_owned();
        // Only this thread enters the namespace and, like synscan after opening its sockets,
        // gives up its capabilities; nmap, started from it, runs in that namespace without
        // them and must be told --unprivileged (its default SYN scan would fail as root).
        let outcome = std::thread::spawn(move || {
            crate::sys::netns::enter(&name).expect("enter namespace");
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            crate::sys::caps::drop_all().expect("drop capabilities");
            let found = open(&[(Ipv4Addr::LOCALHOST, &[port])]);
            let args = format!("-n -Pn -oX '{xml_arg}'");
            (port, run(&args, &found))
        })
        .join()
        .unwrap();
        drop(ns);
        let (port, outcome) = outcome;
        match outcome {
            Ok(Outcome::Ran(status)) => assert!(status.success(), "nmap exit {status}"),
            other => panic!("nmap did not run: {other:?}"),
        }
        let report = std::fs::read_to_string(&xml).unwrap();
        assert!(
            report.contains(&format!(
                "<port protocol=\"tcp\" portid=\"{port}\"><state state=\"open\""
            )),
            "{report}"
        );
    }

    /// The allow-list reads ARGS as nmap does: every allowed option that takes a value
    /// makes nmap take the next word as that value, and every other one leaves it to be a
    /// target. Played on the real nmap as a list scan (-sL -n: nothing is sent) of
    /// 127.0.0.1 with 127.0.0.9 after the option: nmap lists 127.0.0.9 exactly when the
    /// option left it alone.
    #[test]
    #[ignore = "needs root (network namespace) and nmap"]
    fn nmap_reads_every_allowed_option_as_the_allow_list_does() {
        assert!(check_installed().is_ok(), "needs nmap (apt install nmap)");
        let Some(ns) = EmptyNs::new() else {
            panic!("cannot create a network namespace");
        };
        // Options nmap refuses beside a list scan: it quits before listing anything.
        let not_with_list_scan = [
            "-defeat-rst-ratelimit",
            "--defeat-rst-ratelimit",
            "-defeat-icmp-ratelimit",
            "--defeat-icmp-ratelimit",
            "-A",
            "-O",
            "-sS",
            "-sT",
        ];
        // Output options write a file named after the value: keep it in a scratch directory.
        let dir = tempfile::tempdir().unwrap();
        let mut checked = 0;
        for (word, takes_value) in nmap_args::spellings() {
            if not_with_list_scan.contains(&word.as_str()) {
                continue;
            }
            let out = Command::new("ip")
                .args(["netns", "exec", &ns.0, "nmap", &word, "127.0.0.9"])
                .args(["-sL", "-n", "127.0.0.1", "-oG", "-"])
                .current_dir(dir.path())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let listed = text.lines().any(|l| l.starts_with("Host: 127.0.0.9 "));
            assert_eq!(
                listed,
                !takes_value,
                "{word}: nmap {} 127.0.0.9 as a target\n{text}{}",
                if listed { "read" } else { "did not read" },
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
        assert!(checked > 100, "{checked}");
    }
}
