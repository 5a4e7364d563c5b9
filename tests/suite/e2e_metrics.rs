//! `--metrics-file` as root jobs use it (node_exporter's textfile directory is root's,
//! mode 0755): the file is written by root, mode 0644, as promtool reads it; a bad path is
//! refused before the first probe (the lab's counter shows no packet); a failed write does
//! not hide an `--expect` failure; and an attacker's link, FIFO or file planted at the path
//! in a shared directory is refused.

use crate::common::{synscan_bin, Lab, AS_NOBODY};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}stderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// A lab of 8 addresses and 3 ports: 24 probes, open, closed and filtered pairs.
fn lab(prefix: &str) -> Lab {
    Lab::start(&[
        "--prefix",
        prefix,
        "--ports",
        "22,80,443",
        "--open-hosts",
        "4",
        "--open-per-host",
        "2",
        "--filtered",
        "2",
        "--seed",
        "7",
    ])
}

/// node_exporter's textfile directory as packages make it: root's, mode 0755.
fn root_textfile_dir() -> (tempfile::TempDir, PathBuf) {
    let top = tempfile::tempdir().expect("tempdir");
    let dir = top.path().join("textfile");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(std::fs::metadata(&dir).expect("stat").uid(), 0);
    (top, dir)
}

/// A directory anyone may write to, sticky, like /tmp.
fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    d
}

/// Runs `cmd args` as nobody with no capability.
fn as_nobody(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new("setpriv")
        .args(AS_NOBODY)
        .arg(cmd)
        .args(args)
        .output()
        .expect("setpriv");
    assert!(out.status.success(), "{cmd} as nobody: {}", show(&out));
    out
}

/// Runs the scan of the whole lab in its scanner namespace under umask 077 (so a mode
/// of 0644 is the scan's own doing), with `extra` flags.
fn scan(lab: &Lab, extra: &[&str]) -> Output {
    let ports = lab.truth.ports_arg();
    lab.scanner_command("sh")
        .args(["-c", "umask 077; exec \"$0\" \"$@\"", synscan_bin()])
        .args([lab.truth.prefix.as_str(), "-p", ports.as_str()])
        .args(extra)
        .output()
        .expect("run synscan")
}

fn promtool_check(metrics: &str) {
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    p.stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write");
    let o = p.wait_with_output().expect("promtool");
    assert!(o.status.success(), "promtool: {}\n{metrics}", show(&o));
}

/// The stderr lines that speak of the metrics file.
fn metrics_lines(o: &Output) -> Vec<String> {
    text(&o.stderr)
        .lines()
        .filter(|l| l.contains("metrics"))
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn as_root_the_metrics_file_is_roots_0644_and_promtool_reads_it() {
    let lab = lab("198.19.96.0/29");
    let (_top, dir) = root_textfile_dir();
    let prom = dir.join("synscan.prom");
    let prom_arg = prom.to_str().expect("path");
    let out = scan(&lab, &["--metrics-file", prom_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // The scan ran as another user; the file is still root's, readable by node_exporter.
    let meta = std::fs::symlink_metadata(&prom).expect("the metrics file");
    assert!(meta.file_type().is_file());
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o644));
    let metrics = std::fs::read_to_string(&prom).expect("read");
    promtool_check(&metrics);
    let open_line = format!("synscan_ports{{state=\"open\"}} {}", lab.truth.open.len());
    assert!(metrics.lines().any(|l| l == open_line), "{metrics}");
    assert!(metrics.lines().any(|l| l == "synscan_last_scan_complete 1"));
    // Only the file: the place check and the write leave no temporary behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("synscan.prom")]);

    // A failed --expect exits 1 and still writes the metrics, as root.
    let out = scan(&lab, &["--expect", "open", "--metrics-file", prom_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(metrics_lines(&out).is_empty(), "{}", show(&out));
    let meta = std::fs::symlink_metadata(&prom).expect("the metrics file");
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o644));
    promtool_check(&std::fs::read_to_string(&prom).expect("read"));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_bad_metrics_path_is_refused_before_any_probe() {
    let lab = lab("198.19.97.0/29");
    let (top, dir) = root_textfile_dir();
    std::fs::write(top.path().join("plain"), b"a file\n").expect("file");
    let d = dir.to_str().expect("path");
    let t = top.path().to_str().expect("path");
    // The lab's counter counts a scan's probes: a good path sends the 24.
    let before = lab.rx_packets();
    let ok = scan(&lab, &["--metrics-file", &format!("{d}/ok.prom")]);
    assert_eq!(ok.status.code(), Some(0), "{}", show(&ok));
    let sent = lab.rx_packets() - before;
    assert!(
        sent >= 24,
        "the counter saw {sent} packets of a 24-probe scan"
    );
    std::fs::remove_file(dir.join("ok.prom")).expect("rm");

    for (path, why) in [
        (format!("{d}/"), "it names a directory"),
        (format!("{d}/."), "it names a directory"),
        (d.to_string(), "it is a directory"),
        (
            format!("{d}/missing/m.prom"),
            "its directory does not exist",
        ),
        (format!("{t}/plain/m.prom"), "is not a directory"),
    ] {
        let before = lab.rx_packets();
        let out = scan(&lab, &["--metrics-file", &path]);
        let after = lab.rx_packets();
        assert_eq!(out.status.code(), Some(2), "{path}: {}", show(&out));
        let lines = metrics_lines(&out);
        assert_eq!(lines.len(), 1, "{path}: one line: {}", show(&out));
        assert!(lines[0].contains(why), "{path}: {}", show(&out));
        assert!(
            lines[0].contains(path.trim_end_matches('/')),
            "{path}: {lines:?}"
        );
        assert_eq!(
            after, before,
            "{path}: packets were sent before the refusal"
        );
        assert!(out.stdout.is_empty(), "{path}: {}", show(&out));
    }
    assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 0);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_failed_metrics_write_is_reported_beside_the_failed_check() {
    let lab = lab("198.19.98.0/29");
    let (_top, dir) = root_textfile_dir();
    let prom = dir.join("synscan.prom");
    let ports = lab.truth.ports_arg();
    // 24 probes at 10 a second: the directory checked at the start is gone by the end.
    let child = lab
        .scanner_command(synscan_bin())
        .args([
            lab.truth.prefix.as_str(),
            "-p",
            ports.as_str(),
            "--rate",
            "10",
            "--expect",
            "open",
            "--metrics-file",
            prom.to_str().expect("path"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synscan");
    std::thread::sleep(Duration::from_millis(800));
    std::fs::remove_dir_all(&dir).expect("rm the textfile directory");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let lines = metrics_lines(&out);
    assert_eq!(lines.len(), 1, "{}", show(&out));
    assert!(
        lines[0].starts_with(&format!(
            "synscan: cannot write the metrics file {}: ",
            prom.display()
        )),
        "{lines:?}"
    );
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.starts_with("synscan: expected open: ")),
        "{}",
        show(&out)
    );
}

/// Whether the kernel's protected_* rule `name` is off on this machine.
fn unprotected(name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/fs/{name}")).is_ok_and(|v| v.trim() == "0")
}

#[test]
#[ignore = "needs root: network namespaces"]
fn links_fifos_and_files_planted_at_the_metrics_path_are_refused() {
    let lab = lab("198.19.99.0/29");
    let private = tempfile::tempdir().expect("tempdir");
    let victim = private.path().join("victim");
    std::fs::write(&victim, b"precious\n").expect("victim");
    let shared = shared_dir();
    let s = |n: &str| shared.path().join(n);
    let arg = |p: &Path| p.to_str().expect("path").to_string();

    // What a plain root tool does with the plants where this kernel lets it: writes
    // through the link, and blocks on the FIFO.
    if unprotected("protected_symlinks") {
        let decoy = private.path().join("decoy");
        std::fs::write(&decoy, b"decoy\n").expect("decoy");
        as_nobody("ln", &["-s", &arg(&decoy), &arg(&s("decoy.prom"))]);
        let tee = Command::new("sh")
            .args(["-c", "echo written > \"$0\"", &arg(&s("decoy.prom"))])
            .status()
            .expect("sh");
        assert!(tee.success());
        assert_eq!(std::fs::read(&decoy).expect("decoy"), b"written\n");
    } else {
        eprintln!("note: fs.protected_symlinks is on; the plain tool's failure is not shown");
    }
    as_nobody("ln", &["-s", &arg(&victim), &arg(&s("link.prom"))]);
    as_nobody("mkfifo", &[&arg(&s("fifo.prom"))]);
    as_nobody(
        "sh",
        &[
            "-c",
            "echo 'synscan_ports{state=\"open\"} 0' > \"$0\"; chmod 666 \"$0\"",
            &arg(&s("file.prom")),
        ],
    );
    as_nobody("ln", &["-s", &arg(private.path()), &arg(&s("dir"))]);
    if unprotected("protected_fifos") {
        let blocked = Command::new("timeout")
            .args(["1", "sh", "-c", "echo x > \"$0\"", &arg(&s("fifo.prom"))])
            .status()
            .expect("timeout");
        assert_eq!(
            blocked.code(),
            Some(124),
            "a plain writer blocks on the FIFO"
        );
    }

    for (path, why) in [
        (s("link.prom"), "a symbolic link owned by uid 65534"),
        (s("fifo.prom"), "a FIFO owned by uid 65534"),
        (s("file.prom"), "owned by another user (uid 65534)"),
        (
            s("dir").join("m.prom"),
            "a symbolic link owned by another user (uid 65534)",
        ),
    ] {
        let before = lab.rx_packets();
        let ports = lab.truth.ports_arg();
        let out = lab
            .scanner_command("timeout")
            .args([
                "20",
                synscan_bin(),
                lab.truth.prefix.as_str(),
                "-p",
                ports.as_str(),
            ])
            .args(["--metrics-file", &arg(&path)])
            .output()
            .expect("run synscan");
        let after = lab.rx_packets();
        let shown = path.display().to_string();
        assert_eq!(out.status.code(), Some(2), "{shown}: {}", show(&out));
        let lines = metrics_lines(&out);
        assert_eq!(lines.len(), 1, "{shown}: {}", show(&out));
        assert!(
            lines[0].starts_with(&format!("synscan: refusing --metrics-file {shown}: ")),
            "{lines:?}"
        );
        assert!(lines[0].contains(why), "{shown}: {lines:?}");
        assert_eq!(
            after, before,
            "{shown}: packets were sent before the refusal"
        );
    }
    // Every plant is as the attacker left it, and nothing reached the victim's directory.
    assert_eq!(std::fs::read(&victim).expect("victim"), b"precious\n");
    assert_eq!(std::fs::read_link(s("link.prom")).expect("link"), victim);
    assert!(std::fs::symlink_metadata(s("fifo.prom"))
        .expect("fifo")
        .file_type()
        .is_fifo());
    let planted = std::fs::symlink_metadata(s("file.prom")).expect("file");
    assert_eq!(planted.uid(), 65534);
    assert_eq!(
        std::fs::read_to_string(s("file.prom")).expect("file"),
        "synscan_ports{state=\"open\"} 0\n"
    );
    let mut names: Vec<_> = std::fs::read_dir(private.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: Vec<&str> = if unprotected("protected_symlinks") {
        vec!["decoy", "victim"]
    } else {
        vec!["victim"]
    };
    assert_eq!(names, expected);
}
