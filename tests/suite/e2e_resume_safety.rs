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
/// flags, as format 4 saves them).
fn resume_text(extra: serde_json::Value) -> String {
    let mut options = serde_json::json!({"targets": ["198.19.0.1"], "ports": "80", "seed": "5"});
    if let (Some(o), Some(e)) = (options.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    serde_json::json!({
        "synscan_resume": 4,
        "seed": 5,
        "shard": "1/1",
        "position": 0,
        "probes": 1,
        "digest": "sha256:0",
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

/// Runs `synscan ARGS` in the lab's scanner namespace from `cwd`, stops it with SIGINT
/// after 2.5 s (past the first checkpoint) and checks that it saved its state.
fn interrupted_scan(lab: &Lab, cwd: &Path, args: &[&str]) {
    let child = lab
        .scanner_command(synscan_bin())
        .current_dir(cwd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synscan");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill")
        .success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
}

/// The bytes of each file in `dir` named in `names` (None when missing).
fn snapshot(dir: &Path, names: &[&str]) -> Vec<(String, Option<Vec<u8>>)> {
    names
        .iter()
        .map(|n| (n.to_string(), std::fs::read(dir.join(n)).ok()))
        .collect()
}

/// Checks that a run failed with exit 2 and one line holding `why`, its last (after the
/// scan's announcement, when it got that far).
fn assert_one_line_refusal(out: &Output, why: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains(why),
        "expected {why:?} in the last line of: {err}"
    );
    assert_eq!(err.matches(why).count(), 1, "one line: {err}");
}

/// A 1,472-probe scan of the lab at 200 pps (7 s: stopped mid-way by `interrupted_scan`).
fn small_lab() -> Lab {
    Lab::start(&["--prefix", "198.19.8.0/26", "--open-hosts", "10"])
}

/// Issue #18 item 10: a refused resume, and a scan whose journal is refused at start, cut
/// or empty no output: everything is checked before anything is truncated.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_refused_resume_or_journal_cuts_no_output() {
    let lab = small_lab();
    let ports = lab.truth.ports_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |name: &str| dir.path().join(name);
    let s = |name: &str| p(name).to_string_lossy().into_owned();

    // A journal that cannot be created (a directory holds its name): refused before the
    // reports of an earlier scan are emptied.
    std::fs::write(p("old.json"), "precious json\n").expect("write");
    std::fs::write(p("old.xml"), "precious xml\n").expect("write");
    std::fs::create_dir(p("blocked.resume.journal")).expect("mkdir");
    let out = lab.run_in_scanner(
        synscan_bin(),
        &[
            lab.truth.prefix.as_str(),
            "-p",
            ports.as_str(),
            "-oJ",
            &s("old.json"),
            "-oX",
            &s("old.xml"),
            "--resume-file",
            &s("blocked.resume"),
        ],
    );
    assert_one_line_refusal(&out, "cannot create the resume journal");
    assert_eq!(
        std::fs::read(p("old.json")).expect("read"),
        b"precious json\n"
    );
    assert_eq!(
        std::fs::read(p("old.xml")).expect("read"),
        b"precious xml\n"
    );

    // A streaming output first, a grouped one last.
    interrupted_scan(
        &lab,
        dir.path(),
        &[
            lab.truth.prefix.as_str(),
            "-p",
            ports.as_str(),
            "--rate",
            "200",
            "-oJ",
            "a.json",
            "-oL",
            "a.lst",
            "-oX",
            "a.xml",
            "--resume-file",
            "r",
        ],
    );
    // What a killed run wrote after its checkpoint, which a resume cuts.
    let mut json = std::fs::read(p("a.json")).expect("read");
    json.extend_from_slice(b"{\"after\": \"the checkpoint\"}\n");
    std::fs::write(p("a.json"), &json).expect("write");
    let names = ["a.json", "a.lst", "a.xml", "r", "r.journal"];
    let resume_refused = |why: &str| {
        let before = snapshot(dir.path(), &names);
        let out = lab.run_in_scanner(synscan_bin(), &["--resume", &s("r")]);
        assert_one_line_refusal(&out, why);
        assert_eq!(snapshot(dir.path(), &names), before, "a file changed");
    };

    // A damaged journal.
    let journal = std::fs::read(p("r.journal")).expect("journal");
    let mut damaged = journal.clone();
    damaged[..8].copy_from_slice(b"SYNJRNL9");
    std::fs::write(p("r.journal"), &damaged).expect("write");
    resume_refused("the resume journal is damaged (not a synscan journal)");
    std::fs::write(p("r.journal"), &journal).expect("write");

    // The last output shorter than at the checkpoint: the first one is not cut either.
    let list = std::fs::read(p("a.lst")).expect("read");
    std::fs::write(p("a.lst"), &list[..list.len() / 2]).expect("write");
    resume_refused("where the interrupted scan had written");
    std::fs::write(p("a.lst"), &list).expect("write");

    // Put right, the same resume finishes the scan, cut back to the checkpoint.
    let out = lab.run_in_scanner(synscan_bin(), &["--resume", &s("r")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json = std::fs::read_to_string(p("a.json")).expect("read");
    assert!(!json.contains("the checkpoint"), "not cut back");
    let reports = crate::common::read_ndjson(&p("a.json"));
    assert_eq!(crate::common::with_state(&reports, "open"), lab.truth.open);
    assert!(!p("r").exists() && !p("r.journal").exists());
}

/// Issue #18 item 8: a resume writes the interrupted scan's own files, wherever it is run
/// from, and refuses when one of them was replaced by another file.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_resume_writes_only_the_files_of_the_scan_it_continues() {
    let lab = small_lab();
    let ports = lab.truth.ports_arg();
    let home = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let h = |name: &str| home.path().join(name);
    // Relative outputs, the default resume file.
    interrupted_scan(
        &lab,
        home.path(),
        &[
            lab.truth.prefix.as_str(),
            "-p",
            ports.as_str(),
            "--rate",
            "200",
            "-oJ",
            "out.json",
            "-oX",
            "out.xml",
        ],
    );
    let resume = h("synscan.resume");
    let resume_s = resume.to_string_lossy().into_owned();
    // Files of the same names elsewhere, longer than the scan's own.
    let unrelated = "unrelated\n".repeat(100_000);
    for name in ["out.json", "out.xml"] {
        std::fs::write(elsewhere.path().join(name), &unrelated).expect("write");
    }
    let names = [
        "out.json",
        "out.xml",
        "synscan.resume",
        "synscan.resume.journal",
    ];
    let elsewhere_before = snapshot(elsewhere.path(), &["out.json", "out.xml"]);

    // out.json replaced by a copy of itself (same bytes, another file): refused, the real
    // resume file kept.
    std::fs::hard_link(h("out.json"), h("kept.json")).expect("link");
    std::fs::copy(h("out.json"), h("copy.json")).expect("copy");
    std::fs::rename(h("copy.json"), h("out.json")).expect("rename");
    let before = snapshot(home.path(), &names);
    let out = lab
        .scanner_command(synscan_bin())
        .current_dir(elsewhere.path())
        .args(["--resume", resume_s.as_str()])
        .output()
        .expect("run synscan");
    assert_one_line_refusal(
        &out,
        &format!(
            "output {} is no longer the file the interrupted scan wrote",
            h("out.json").display()
        ),
    );
    assert_eq!(snapshot(home.path(), &names), before, "a file changed");
    assert_eq!(
        snapshot(elsewhere.path(), &["out.json", "out.xml"]),
        elsewhere_before
    );

    // The real file back: resumed from elsewhere, the scan finishes its own files.
    std::fs::rename(h("kept.json"), h("out.json")).expect("rename");
    let out = lab
        .scanner_command(synscan_bin())
        .current_dir(elsewhere.path())
        .args(["--resume", resume_s.as_str()])
        .output()
        .expect("run synscan");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        snapshot(elsewhere.path(), &["out.json", "out.xml"]),
        elsewhere_before,
        "files of the same names elsewhere changed"
    );
    let reports = crate::common::read_ndjson(&h("out.json"));
    assert_eq!(crate::common::with_state(&reports, "open"), lab.truth.open);
    let xml = std::fs::read_to_string(h("out.xml")).expect("read");
    assert_eq!(xml.matches("<nmaprun").count(), 1, "one XML document");
    assert!(!resume.exists(), "the finished scan's resume file stays");
}

/// Issue #18 item 9: a scan holds its resume file for its whole life; a second scan that
/// would use the same file, running or interrupted, is refused and told what to do, and
/// never writes or removes the first one's file.
#[test]
#[ignore = "needs root: network namespaces"]
fn two_scans_never_share_a_resume_file() {
    let lab = small_lab();
    let ports = lab.truth.ports_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |name: &str| dir.path().join(name);
    let scan = |json: &str, rate: &str| {
        let mut c = lab.scanner_command(synscan_bin());
        c.current_dir(dir.path()).args([
            lab.truth.prefix.as_str(),
            "-p",
            ports.as_str(),
            "--rate",
            rate,
            "-oJ",
            json,
        ]);
        c
    };
    // Scan A runs 7 s with the default resume file.
    let a = scan("a.json", "200")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synscan");
    std::thread::sleep(Duration::from_millis(2500));
    let a_state = std::fs::read(p("synscan.resume")).expect("A checkpointed");
    // Scan B in the same directory, while A runs.
    let b = scan("b.json", "200").output().expect("run synscan");
    assert_one_line_refusal(
        &b,
        "another scan is using the resume file synscan.resume (it holds synscan.resume.lock); wait for it to end, or give this scan its own --resume-file",
    );
    assert!(!p("b.json").exists(), "B opened its output");
    assert!(Command::new("kill")
        .args(["-INT", &a.id().to_string()])
        .status()
        .expect("kill")
        .success());
    let a = a.wait_with_output().expect("wait");
    assert_eq!(a.status.code(), Some(130), "{}", text(&a.stderr));
    let saved = std::fs::read(p("synscan.resume")).expect("A's resume file");
    assert_ne!(saved, a_state, "A's last checkpoint");

    // A is interrupted: a new scan would overwrite its state, then delete it.
    let c = scan("c.json", "200").output().expect("run synscan");
    assert_one_line_refusal(
        &c,
        "synscan.resume holds the state of an interrupted scan; finish that scan with `synscan --resume synscan.resume`, remove the file, or give this scan its own --resume-file",
    );
    assert!(!p("c.json").exists(), "C opened its output");
    assert_eq!(std::fs::read(p("synscan.resume")).expect("read"), saved);

    // Its own --resume-file: C runs beside A's state.
    let c = scan("c.json", "100000")
        .args(["--resume-file", "c.resume"])
        .output()
        .expect("run synscan");
    assert_eq!(c.status.code(), Some(0), "{}", text(&c.stderr));
    assert_eq!(std::fs::read(p("synscan.resume")).expect("read"), saved);

    // A finishes; nothing of the resume file stays behind.
    let out = lab
        .scanner_command(synscan_bin())
        .current_dir(dir.path())
        .args(["--resume", "synscan.resume"])
        .output()
        .expect("run synscan");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let reports = crate::common::read_ndjson(&p("a.json"));
    assert_eq!(crate::common::with_state(&reports, "open"), lab.truth.open);
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["a.json", "c.json"]);
}

/// Issue #18 item 12: a resume file whose targets, ports or seed were edited is refused,
/// even when the number of probes stays the same.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_resume_file_with_edited_targets_ports_or_seed_is_refused() {
    let lab = small_lab();
    let ports = lab.truth.ports_arg();
    let dir = tempfile::tempdir().expect("tempdir");
    let resume = dir.path().join("r");
    let resume_s = resume.to_string_lossy().into_owned();
    interrupted_scan(
        &lab,
        dir.path(),
        &[
            lab.truth.prefix.as_str(),
            "-p",
            ports.as_str(),
            "--rate",
            "200",
            "-oJ",
            "a.json",
            "--resume-file",
            "r",
        ],
    );
    let original = std::fs::read_to_string(&resume).expect("resume file");
    let saved: serde_json::Value = serde_json::from_str(&original).expect("JSON");
    let seed = saved["seed"].as_u64().expect("seed");
    assert_eq!(lab.truth.prefix, "198.19.8.0/26");
    let first_port = lab.truth.ports[0];
    let unused = (1..u16::MAX)
        .find(|p| !lab.truth.ports.contains(p))
        .expect("a port");
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let edits: [(&str, Edit); 3] = [
        (
            "another /26",
            Box::new(|v| v["options"]["targets"] = serde_json::json!(["198.19.9.0/26"])),
        ),
        (
            "another port",
            Box::new(move |v| {
                let others: Vec<String> = lab_ports_without(&ports, first_port);
                v["options"]["ports"] = serde_json::json!(format!("{},{unused}", others.join(",")));
            }),
        ),
        (
            "another seed",
            Box::new(move |v| {
                v["seed"] = serde_json::json!(seed ^ 1);
                v["options"]["seed"] = serde_json::json!((seed ^ 1).to_string());
            }),
        ),
    ];
    for (what, edit) in &edits {
        let mut v = saved.clone();
        edit(&mut v);
        assert_eq!(v["probes"], saved["probes"]);
        std::fs::write(&resume, v.to_string()).expect("write");
        let before = snapshot(dir.path(), &["a.json", "r"]);
        let out = lab.run_in_scanner(synscan_bin(), &["--resume", &resume_s]);
        assert_one_line_refusal(
            &out,
            &format!("{resume_s}: the targets, ports or seed differ from the interrupted scan's"),
        );
        assert_eq!(snapshot(dir.path(), &["a.json", "r"]), before, "{what}");
    }
    // The file as the scan wrote it resumes.
    std::fs::write(&resume, &original).expect("write");
    let out = lab.run_in_scanner(synscan_bin(), &["--resume", &resume_s]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// The lab's ports argument ("22,80,...") without `port`.
fn lab_ports_without(ports: &str, port: u16) -> Vec<String> {
    ports
        .split(',')
        .filter(|p| p.parse::<u16>().ok() != Some(port))
        .map(str::to_string)
        .collect()
}
