//! Resume files as an attacker meets them: links planted in a shared directory where root
//! runs synscan, and crafted or loosely permitted resume files. Each case plays the
//! attacker and checks that root writes nothing through the link and runs nothing from
//! an untrusted file.

use crate::common::{synscan_bin, Lab, AS_NOBODY};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `cmd args` as nobody with no capability.
fn as_nobody(cmd: &str, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(AS_NOBODY)
        .arg(cmd)
        .args(args)
        .output()
        .expect("setpriv")
}

/// A directory anyone may write to, sticky, like /tmp.
fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    d
}

/// nobody plants `name -> target` in `dir`.
fn plant_link(dir: &Path, name: &str, target: &Path) {
    let link = dir.join(name);
    let out = as_nobody(
        "ln",
        &[
            "-s",
            target.to_str().expect("path"),
            link.to_str().expect("path"),
        ],
    );
    assert!(out.status.success(), "ln as nobody: {}", text(&out.stderr));
    assert_eq!(std::fs::symlink_metadata(&link).expect("link").uid(), 65534);
}

/// Runs synscan with `args` in an empty network namespace: even a scan that should have
/// been refused cannot send anything anywhere.
fn synscan_offline(args: &[&str]) -> Output {
    Command::new("unshare")
        .arg("-n")
        .arg(synscan_bin())
        .args(args)
        .output()
        .expect("unshare -n synscan")
}

#[test]
#[ignore = "needs root: network namespaces"]
fn links_planted_in_a_shared_directory_never_redirect_roots_writes() {
    let private = tempfile::tempdir().expect("tempdir");
    let victim = private.path().join("victim");
    std::fs::write(&victim, b"precious\n").expect("victim");
    let shared = shared_dir();
    // Every name an older synscan wrote through, and the resume file itself.
    plant_link(shared.path(), "synscan.resume.tmp", &victim);
    plant_link(shared.path(), "synscan.resume", &victim);

    let lab = Lab::start(&["--prefix", "198.19.8.0/22", "--open-hosts", "20"]);
    let ports = lab.truth.ports_arg();
    let json = private.path().join("out.json");
    let resume = shared.path().join("synscan.resume");
    // ~12 s of probes: stopped after 3 s, so checkpoints and the final save all happen.
    let child = lab
        .scanner_command(synscan_bin())
        .args([
            lab.truth.prefix.as_str(),
            "-p",
            ports.as_str(),
            "--rate",
            "2000",
            "-oJ",
            json.to_str().expect("path"),
            "--resume-file",
            resume.to_str().expect("path"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synscan");
    std::thread::sleep(Duration::from_secs(3));
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill")
        .success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(&victim).expect("victim"),
        b"precious\n",
        "root wrote through a planted link"
    );
    let meta = std::fs::symlink_metadata(&resume).expect("resume file");
    assert!(meta.file_type().is_file(), "the planted link was replaced");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&resume).expect("read")).expect("JSON");
    assert!(saved["position"].as_u64().expect("position") > 0);

    // The journal of grouped outputs is never opened through a planted link either.
    plant_link(shared.path(), "other.resume.journal", &victim);
    let xml = private.path().join("out.xml");
    let other = shared.path().join("other.resume");
    let out = lab.run_in_scanner(
        synscan_bin(),
        &[
            lab.truth.prefix.as_str(),
            "-p",
            "22",
            "-oX",
            xml.to_str().expect("path"),
            "--resume-file",
            other.to_str().expect("path"),
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("journal"), "{err}");
    assert_eq!(std::fs::read(&victim).expect("victim"), b"precious\n");
}

/// A resume file for a one-probe scan of 198.19.0.1 with `extra` options (the parsed
/// flags, as format 3 saves them).
fn resume_text(extra: serde_json::Value) -> String {
    let mut options = serde_json::json!({"targets": ["198.19.0.1"], "ports": "80", "seed": "5"});
    if let (Some(o), Some(e)) = (options.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    serde_json::json!({
        "synscan_resume": 3,
        "seed": 5,
        "shard": "1/1",
        "position": 0,
        "probes": 1,
        "options": options,
    })
    .to_string()
}

fn no_extra() -> serde_json::Value {
    serde_json::json!({})
}

fn write_file(path: &Path, text: &str, mode: u32, owner: u32) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    std::os::unix::fs::chown(path, Some(owner), Some(owner)).expect("chown");
}

fn assert_refused(args: &[&str], why: &str) {
    let out = synscan_offline(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(why), "{args:?}: expected {why:?} in: {err}");
    assert!(
        !err.contains("saved command line"),
        "{args:?} went on: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn crafted_or_loosely_permitted_resume_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = |name: &str| dir.path().join(name).to_string_lossy().to_string();

    // Another user's file: it could name any target and output.
    write_file(
        Path::new(&f("theirs")),
        &resume_text(no_extra()),
        0o600,
        65534,
    );
    assert_refused(&["--resume", &f("theirs")], "belongs to user id 65534");
    // Anyone could have rewritten it.
    write_file(Path::new(&f("loose")), &resume_text(no_extra()), 0o666, 0);
    assert_refused(&["--resume", &f("loose")], "writable by anyone");
    write_file(Path::new(&f("group")), &resume_text(no_extra()), 0o620, 0);
    assert_refused(&["--resume", &f("group")], "writable by its group");
    // Ours, but asking to keep root after the sockets are open.
    write_file(
        Path::new(&f("root")),
        &resume_text(serde_json::json!({"user": "root"})),
        0o600,
        0,
    );
    assert_refused(&["--resume", &f("root")], "--user root");
    write_file(
        Path::new(&f("root2")),
        &resume_text(serde_json::json!({"user": "0"})),
        0o600,
        0,
    );
    assert_refused(
        &["--resume", &f("root2")],
        "keep running as root (--user 0)",
    );
    // Flags that are no scan option cannot be smuggled in: a saved --resume or
    // --resume-file would point the run at another file.
    for (name, key) in [("again", "resume"), ("elsewhere", "resume_file")] {
        write_file(
            Path::new(&f(name)),
            &resume_text(serde_json::json!({ key: "/etc/passwd" })),
            0o600,
            0,
        );
        assert_refused(
            &["--resume", &f(name)],
            &format!("not a synscan resume file (unknown field `{key}`"),
        );
    }
    // A file of the previous format (raw arguments) is refused with what to do.
    write_file(
        Path::new(&f("old")),
        r#"{"synscan_resume": 2, "seed": 5, "shard": "1/1", "position": 0, "probes": 1,
            "args": ["198.19.0.1", "-p", "80", "--seed", "5", "--user", "root"]}"#,
        0o600,
        0,
    );
    assert_refused(
        &["--resume", &f("old")],
        "resume file format 2 was written by an older synscan",
    );
    // Other arguments beside --resume are refused, not dropped.
    write_file(Path::new(&f("ok")), &resume_text(no_extra()), 0o600, 0);
    let eq = format!("--resume={}", f("ok"));
    assert_refused(&[&eq, "--nmap=-sV"], "no other arguments");
    assert_refused(&["--resume", &f("ok"), "-p", "22"], "no other arguments");
    // A link planted by another user in a shared directory, to a file root would trust.
    let shared = shared_dir();
    plant_link(shared.path(), "planted.resume", Path::new(&f("ok")));
    let planted = shared.path().join("planted.resume");
    assert_refused(
        &["--resume", planted.to_str().expect("path")],
        "symbolic link",
    );

    // The control: our own file passes the checks and shows its command line first (the
    // scan then fails in the empty namespace, where nothing can leave).
    let out = synscan_offline(&["--resume", &f("ok")]);
    let err = text(&out.stderr);
    assert!(
        err.contains("saved command line: synscan 198.19.0.1 -p 80 --seed 5"),
        "{err}"
    );
}
