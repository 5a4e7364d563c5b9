//! The files synscan trusts, played as the attacker (issue #18, items 1-5, 11 and 13): uid
//! 65534 plants links, FIFOs and files in a sticky world-writable directory, or owns a
//! plain directory of its own that no `fs.protected_*` sysctl protects, and root runs
//! synscan. Where a sticky directory is the attack, the test first shows that a plain tool
//! (`tee`) follows what was planted, unless the kernel itself blocks it on this machine.
//! Every synscan run has a deadline, so a FIFO that blocks fails the test, never hangs it;
//! scans run in an empty network namespace (only loopback, brought up), so nothing leaves.

use crate::common::{synscan_bin, AS_NOBODY};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;
const PRECIOUS: &str = "precious\n";
/// The secret a planted link points at: root's alone (mode 0600 in root's directory).
const SECRET: &str = "s3cr3t-token:abcdef";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Where the attack plays: `private` (root's, 0755 so nobody can pass through it) holds
/// the victim and a secret; `shared` is sticky and world-writable like /tmp; `theirs`
/// is a plain directory owned by nobody.
struct Scene {
    _root: tempfile::TempDir,
    private: PathBuf,
    shared: PathBuf,
    theirs: PathBuf,
    victim: PathBuf,
    secret: PathBuf,
}

fn scene() -> Scene {
    let root = tempfile::tempdir().expect("tempdir");
    chmod(root.path(), 0o755);
    let private = root.path().join("private");
    let shared = root.path().join("shared");
    let theirs = root.path().join("theirs");
    for d in [&private, &shared, &theirs] {
        std::fs::create_dir(d).expect("mkdir");
    }
    chmod(&private, 0o755);
    chmod(&shared, 0o1777);
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).expect("chown");
    let victim = private.join("victim");
    std::fs::write(&victim, PRECIOUS).expect("victim");
    let secrets = private.join("secrets");
    std::fs::create_dir(&secrets).expect("mkdir");
    chmod(&secrets, 0o700);
    let secret = secrets.join("token");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
    chmod(&secret, 0o600);
    Scene {
        _root: root,
        private,
        shared,
        theirs,
        victim,
        secret,
    }
}

/// Runs `cmd args` as nobody with no capability; it must succeed.
fn as_nobody(cmd: &str, args: &[&str]) {
    let out = Command::new("setpriv")
        .args(AS_NOBODY)
        .arg(cmd)
        .args(args)
        .output()
        .expect("setpriv");
    assert!(
        out.status.success(),
        "{cmd} {args:?} as nobody: {}",
        text(&out.stderr)
    );
}

/// nobody plants `link -> target`.
fn plant_link(target: &Path, link: &Path) {
    as_nobody("ln", &["-s", &s(target), &s(link)]);
    assert_eq!(std::fs::symlink_metadata(link).expect("link").uid(), NOBODY);
}

/// Whether the kernel itself refuses to follow a link planted in a sticky directory here.
fn kernel_protects_links() -> bool {
    std::fs::read_to_string("/proc/sys/fs/protected_symlinks").is_ok_and(|v| v.trim() != "0")
}

/// The control: root's `tee` writes through what nobody planted at `path` into the victim
/// (then the victim is restored), unless the kernel protects links on this machine.
fn tee_follows(sc: &Scene, path: &Path) {
    if kernel_protects_links() {
        eprintln!("fs.protected_symlinks is set here: the kernel blocks the attack too");
        return;
    }
    tee_writes(path, &sc.victim);
}

/// Root's `tee` writing to `path` changes `victim` (restored after).
fn tee_writes(path: &Path, victim: &Path) {
    let mut tee = Command::new("tee")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("tee");
    std::io::Write::write_all(&mut tee.stdin.take().expect("stdin"), b"pwned\n").expect("write");
    assert!(tee.wait().expect("tee").success());
    assert_eq!(
        std::fs::read_to_string(victim).expect("victim"),
        "pwned\n",
        "the control: tee writes through what was planted"
    );
    std::fs::write(victim, PRECIOUS).expect("restore");
}

/// Runs `cmd` with a deadline: a run that blocks (a FIFO) is killed and fails the test.
fn run_by(mut cmd: Command, deadline: Duration) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).expect("out"))
        .stderr(std::fs::File::create(&e).expect("err"))
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still ran after {deadline:?} (blocked?); stderr: {}",
                std::fs::read_to_string(&e).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&o).expect("out"),
        stderr: std::fs::read(&e).expect("err"),
    }
}

/// synscan `args` in an empty network namespace with loopback up, within 30 s.
fn synscan(args: &[&str]) -> Output {
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(synscan_bin())
        .args(args);
    run_by(cmd, Duration::from_secs(30))
}

/// The run exits 2 with one line on stderr that contains every one of `needles` (after
/// the line a scan starts with, which says its size and seed, and its notes, such as the
/// one about running as the shared user nobody); returns that line.
fn refused(out: &Output, needles: &[&str]) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.trim_end().lines().collect();
    let (last, before) = lines.split_last().expect("a line on stderr");
    assert!(
        before
            .iter()
            .all(|l| l.contains(" probes, seed ") || l.starts_with("synscan: note: ")),
        "one line: {err}"
    );
    for n in needles {
        assert!(last.contains(n), "expected {n:?} in: {err}");
    }
    last.to_string()
}

fn assert_untouched(victim: &Path) {
    assert_eq!(
        std::fs::read_to_string(victim).expect("victim"),
        PRECIOUS,
        "the victim was written"
    );
}

/// Two result files that differ, and a policy one of their ports breaks.
fn results(dir: &Path) -> (String, String, String) {
    let line = |port: u16| {
        format!("{{\"ip\":\"198.18.0.1\",\"port\":{port},\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":64,\"ts\":1}}\n")
    };
    let (a, b, p) = (dir.join("a.json"), dir.join("b.json"), dir.join("p.toml"));
    std::fs::write(&a, line(22)).expect("a");
    std::fs::write(&b, line(22) + &line(80)).expect("b");
    std::fs::write(
        &p,
        "[[allow]]\nname = \"ssh\"\nhosts = [\"198.18.0.0/15\"]\nports = [22]\n",
    )
    .expect("p");
    (s(&a), s(&b), s(&p))
}

#[test]
#[ignore = "needs root: network namespaces, chown"]
fn subcommands_never_write_through_a_planted_link() {
    let sc = scene();
    let planted = sc.shared.join("x.json");
    plant_link(&sc.victim, &planted);
    tee_follows(&sc, &planted);
    let (a, b, p) = results(&sc.private);
    let x = s(&planted);
    let link_line =
        "it is a symbolic link owned by another user (uid 65534) in the shared directory";
    for args in [
        vec!["diff", &a, &b, "-oJ", &x],
        vec!["check", &b, "--policy", &p, "-oJ", &x],
        vec!["merge", &a, &b, "-oJ", &x],
        vec!["local", "-oJ", &x],
        vec!["local", "-oN", &x],
        vec!["local", "--output-format", "csv", "--output-filename", &x],
        vec!["--dry-run", "198.18.0.1", "-p", "80", "-oJ", &x],
    ] {
        let out = synscan(&args);
        refused(&out, &[&format!("refusing output file {x}: "), link_line]);
        assert_untouched(&sc.victim);
    }
}

#[test]
#[ignore = "needs root: network namespaces, chown"]
fn a_link_in_a_directory_part_of_a_path_is_not_followed() {
    let sc = scene();
    // nobody: ln -s /etc /tmp/d, with the private directory standing for /etc.
    let d = sc.shared.join("d");
    plant_link(&sc.private, &d);
    let through = d.join("victim");
    tee_follows(&sc, &through);
    let (a, b, _) = results(&sc.private);
    let t = s(&through);
    let why = format!(
        "it leads through {}, a symbolic link owned by another user (uid 65534)",
        d.display()
    );
    for args in [
        vec!["--dry-run", "198.18.0.1", "-p", "80", "-oJ", &t],
        vec!["diff", &a, &b, "-oJ", &t],
        vec!["local", "-oJ", &t],
    ] {
        refused(&synscan(&args), &[&why]);
        assert_untouched(&sc.victim);
    }
    // The resume file too: a scan stopped with Ctrl-C saves it as root.
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(synscan_bin())
        .args([
            "127.0.0.1",
            "-p",
            "1-65535",
            "--connect",
            "--rate",
            "1000",
            "--resume-file",
            &t,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(2));
    // Still scanning (the unfixed behaviour): stop it, as a user would.
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let out = wait_by(child, Duration::from_secs(30));
    refused(&out, &["as the resume file", &why]);
    assert_untouched(&sc.victim);
}

fn wait_by(mut child: std::process::Child, deadline: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs root: network namespaces, chown"]
fn a_planted_fifo_or_file_never_receives_the_report() {
    let sc = scene();
    let fifo = sc.shared.join("fifo.json");
    as_nobody("mkfifo", &[&s(&fifo)]);
    let (a, b, _) = results(&sc.private);
    let f = s(&fifo);
    let fifo_line = format!(
        "it is a FIFO owned by uid 65534 in the shared directory {}",
        sc.shared.display()
    );
    // Each run ends at once: the FIFO never blocks the open (the deadline would fail it).
    for args in [
        vec!["--dry-run", "198.18.0.1", "-p", "80", "-oJ", &f],
        vec!["diff", &a, &b, "-oJ", &f],
        vec!["local", "-oJ", &f],
    ] {
        refused(&synscan(&args), &[&fifo_line]);
    }
    // A world-writable file nobody made: it would hand nobody root's results to edit.
    let planted = sc.shared.join("out.json");
    as_nobody(
        "sh",
        &[
            "-c",
            &format!("printf mine > {} && chmod 666 {}", s(&planted), s(&planted)),
        ],
    );
    let p = s(&planted);
    let file_line = format!(
        "it is owned by another user (uid 65534) in the shared directory {}",
        sc.shared.display()
    );
    for args in [
        vec!["--dry-run", "198.18.0.1", "-p", "80", "-oJ", &p],
        vec!["diff", &a, &b, "-oJ", &p],
    ] {
        refused(&synscan(&args), &[&file_line]);
        assert_eq!(std::fs::read_to_string(&planted).expect("planted"), "mine");
    }
    // A hard link nobody made, in the shared directory, to a file of root's that nobody
    // may write (so fs.protected_hardlinks allows the link): a root-owned regular file, as
    // a link to /etc/shadow would be where that sysctl is 0; only its link count tells.
    let world = sc.private.join("world.log");
    std::fs::write(&world, PRECIOUS).expect("write");
    chmod(&world, 0o666);
    let hard = sc.shared.join("hard.json");
    as_nobody("ln", &[&s(&world), &s(&hard)]);
    tee_writes(&hard, &world);
    let h = s(&hard);
    let hard_line = format!(
        "it has 2 hard links in the shared directory {} (owner uid 0)",
        sc.shared.display()
    );
    for args in [
        vec!["--dry-run", "198.18.0.1", "-p", "80", "-oJ", &h],
        vec!["diff", &a, &b, "-oJ", &h],
        vec!["local", "-oJ", &h],
    ] {
        refused(&synscan(&args), &[&hard_line]);
        assert_untouched(&world);
    }
    // A new output in the shared directory is root's own and written.
    let own = sc.shared.join("own.json");
    let out = synscan(&["--dry-run", "198.18.0.1", "-p", "80", "-oJ", &s(&own)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::metadata(&own).expect("own").uid(), 0);
    assert!(std::fs::read_to_string(&own)
        .expect("own")
        .contains("\"port\":80"));
}

#[test]
#[ignore = "needs root: network namespaces, chown"]
fn inputs_behind_planted_links_are_never_read_or_quoted() {
    let sc = scene();
    let shadow_line = std::fs::read_to_string("/etc/shadow")
        .ok()
        .and_then(|t| t.lines().next().map(str::to_string));
    // In the sticky directory: refused before anything is read.
    let planted = sc.shared.join("t");
    plant_link(&sc.secret, &planted);
    let t = s(&planted);
    for args in [
        vec!["--dry-run", "-iL", &t, "-p", "80"],
        vec!["--dry-run", "198.18.0.1", "--excludefile", &t, "-p", "80"],
        vec!["127.0.0.1", "-p", "1", "--connect", "--services-file", &t],
        vec!["local", "--compare", &t],
    ] {
        let err = refused(
            &synscan(&args),
            &["a symbolic link owned by another user (uid 65534)"],
        );
        assert!(!err.contains("s3cr3t"), "{err}");
    }
    // nobody's own plain directory (no sysctl protects it): the link is followed as the
    // kernel would, but nothing of the file is shown.
    let theirs = sc.theirs.join("t");
    plant_link(&sc.secret, &theirs);
    let shadow = sc.theirs.join("s");
    plant_link(Path::new("/etc/shadow"), &shadow);
    let json = sc.private.join("secrets").join("api.json");
    std::fs::write(
        &json,
        "{\"ip\":\"hunter2-api-key\",\"port\":1,\"proto\":\"tcp\",\"state\":\"open\"}\n",
    )
    .expect("json");
    let jl = sc.theirs.join("j");
    plant_link(&json, &jl);
    let (t, sh, j) = (s(&theirs), s(&shadow), s(&jl));
    for args in [
        vec!["--dry-run", "-iL", &t, "-p", "80"],
        vec!["--dry-run", "-iL", &sh, "-p", "80"],
        vec!["--dry-run", "198.18.0.1", "--excludefile", &t, "-p", "80"],
        vec!["local", "--compare", &j],
    ] {
        let out = synscan(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("not quoted, as the file is not yours"),
            "{err}"
        );
        for secret in ["s3cr3t", "hunter2", "root:"] {
            assert!(!err.contains(secret), "{secret} shown: {err}");
        }
        if let Some(line) = &shadow_line {
            assert!(!err.contains(line.as_str()), "the shadow line shown: {err}");
        }
    }
    // A services file there decides what reports say: never trusted from nobody's directory.
    let err = refused(
        &synscan(&["127.0.0.1", "-p", "1", "--connect", "--services-file", &t]),
        &["belongs to user id 65534, not to you (user id 0) or root"],
    );
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
#[ignore = "needs root: network namespaces, chown"]
fn a_policy_another_user_could_change_is_never_trusted() {
    let sc = scene();
    let (_, b, strict) = results(&sc.private);
    // The control: a strict policy in a trusted place finds the violation (port 80).
    let out = synscan(&["check", &b, "--policy", &strict]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let allow_all = "[[allow]]\nname = \"all\"\nhosts = [\"0.0.0.0/0\"]\nports = [\"0-65535\"]\n";
    // nobody's policy in nobody's directory (a subdirectory of /tmp), as nobody wrote it.
    let theirs = sc.theirs.join("policy.toml");
    as_nobody(
        "sh",
        &[
            "-c",
            &format!(
                "printf '{}' > {}",
                allow_all.replace('\n', "\\n"),
                s(&theirs)
            ),
        ],
    );
    // Root's own policy, but in nobody's directory: nobody could swap it.
    let roots = sc.theirs.join("roots.toml");
    std::fs::write(&roots, allow_all).expect("write");
    // Root's policy behind a link of nobody's (in a directory of root's).
    let real = sc.private.join("real.toml");
    std::fs::write(&real, allow_all).expect("write");
    let link = sc.private.join("link.toml");
    std::os::unix::fs::symlink(&real, &link).expect("link");
    std::os::unix::fs::lchown(&link, Some(NOBODY), Some(NOBODY)).expect("lchown");
    let shown = sc.theirs.canonicalize().expect("canonical");
    for (policy, why) in [
        (&theirs, "belongs to user id 65534".to_string()),
        (
            &roots,
            format!(
                "the directory {} above it belongs to user id 65534",
                shown.display()
            ),
        ),
        (
            &link,
            format!(
                "it is reached through a symbolic link in {} that belongs to user id 65534",
                sc.private.canonicalize().expect("canonical").display()
            ),
        ),
    ] {
        let out = synscan(&["check", &b, "--policy", &s(policy)]);
        refused(&out, &[&why]);
        assert!(
            !text(&out.stdout).contains("policy kept"),
            "the violation was silenced"
        );
        // The same policy in a scan refuses it before anything is sent.
        let out = synscan(&[
            "--dry-run",
            "198.18.0.1",
            "-p",
            "80",
            "--policy",
            &s(policy),
        ]);
        refused(&out, &[&why]);
    }
}

#[test]
#[ignore = "needs root: mount namespaces"]
fn a_policy_on_a_read_only_mount_is_trusted_whatever_its_directory_mode() {
    // A Kubernetes ConfigMap volume: a 0777 directory, mounted read-only, the file behind
    // two links (policy.toml -> ..data/policy.toml, ..data -> a timestamped directory).
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, b, _) = results(dir.path());
    let mnt = dir.path().join("policy");
    std::fs::create_dir(&mnt).expect("mkdir");
    let script = r#"set -e
        mount -t tmpfs tmpfs "$1"
        mkdir "$1/..2026_01_01" && printf '%s' "$3" > "$1/..2026_01_01/policy.toml"
        ln -s ..2026_01_01 "$1/..data" && ln -s ..data/policy.toml "$1/policy.toml"
        chmod 755 "$1/..2026_01_01" && chmod 644 "$1/..2026_01_01/policy.toml" && chmod 777 "$1"
        [ "$4" = ro ] && mount -o remount,ro "$1"
        exec "$2" check "$5" --policy "$1/policy.toml""#;
    let strict = "[[allow]]\nname = \"ssh\"\nhosts = [\"198.18.0.0/15\"]\nports = [22]\n";
    let run = |mode: &str| {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "-m",
            "sh",
            "-c",
            script,
            "sh",
            &s(&mnt),
            synscan_bin(),
            strict,
            mode,
            &b,
        ]);
        run_by(cmd, Duration::from_secs(30))
    };
    // Writable, the 0777 directory is refused; read-only, the policy applies (port 80).
    let shown = mnt.canonicalize().expect("canonical");
    refused(
        &run("rw"),
        &[&format!(
            "the directory {} above it is writable by anyone (mode 777)",
            shown.display()
        )],
    );
    let out = run("ro");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 policy violation(s)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn one_file_is_never_two_of_a_runs_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, p) = results(dir.path());
    let keep = |name: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, PRECIOUS).expect("write");
        s(&f)
    };
    let f = keep("f");
    let r = keep("r.json");
    let x = keep("x");
    let j = keep("s.journal");
    let base = dir.path().join("s");
    let t = keep("t");
    std::fs::write(&t, "198.18.0.1\n").expect("targets");
    let scan = |extra: &[&str]| {
        let mut args = vec!["127.0.0.1", "-p", "1-3", "--connect"];
        args.extend_from_slice(extra);
        synscan(&args)
    };
    refused(
        &scan(&["-oJ", &f, "--metrics-file", &f]),
        &[&format!("-oJ {f} and --metrics-file {f} are the same file")],
    );
    refused(
        &scan(&["-oJ", &r, "--resume-file", &r]),
        &[&format!("-oJ {r} and --resume-file {r} are the same file")],
    );
    refused(
        &scan(&["-oX", &x, "-oJ", &j, "--resume-file", &s(&base)]),
        &[&format!(
            "-oJ {j} and the resume journal {j} are the same file"
        )],
    );
    for file in [&f, &r, &x, &j] {
        assert_untouched(Path::new(file));
    }
    refused(
        &synscan(&["--dry-run", "-iL", &t, "-p", "80", "-oJ", &t]),
        &[&format!("-iL {t} and -oJ {t} are the same file")],
    );
    assert_eq!(std::fs::read_to_string(&t).expect("t"), "198.18.0.1\n");
    // The subcommands' own inputs.
    let b_before = std::fs::read_to_string(&b).expect("b");
    refused(
        &synscan(&["diff", &a, &b, "-oJ", &b]),
        &[&format!("input {b} and -oJ {b} are the same file")],
    );
    refused(
        &synscan(&["check", &b, "--policy", &p, "-oJ", &b]),
        &[&format!("input {b} and -oJ {b} are the same file")],
    );
    refused(
        &synscan(&["merge", &a, &b, "-oJ", &b]),
        &[&format!("input {b} and -oJ {b} are the same file")],
    );
    assert_eq!(std::fs::read_to_string(&b).expect("b"), b_before);
    // `local`: one file twice, two outputs on stdout, an output over --compare.
    refused(
        &synscan(&["local", "-oJ", &x, "-oN", &x]),
        &[&format!("-oN {x} and -oJ {x} are the same file")],
    );
    assert_untouched(Path::new(&x));
    refused(
        &synscan(&["local", "-oJ", "-", "-oN", "/dev/stdout"]),
        &["-oN /dev/stdout and -oJ - both write to stdout"],
    );
    refused(
        &synscan(&["local", "--compare", &b, "-oJ", &b]),
        &[&format!("--compare {b} and -oJ {b} are the same file")],
    );
    assert_eq!(std::fs::read_to_string(&b).expect("b"), b_before);
    // Reading one file twice is no collision.
    let out = synscan(&["diff", &a, &a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn reads_are_bounded_and_never_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let f = s(&fifo);
    refused(
        &synscan(&["--resume", &f]),
        &["it is a FIFO, not a regular file"],
    );
    refused(
        &synscan(&["local", "--compare", &f]),
        &["it is a FIFO, not a regular file"],
    );
    refused(
        &synscan(&["local", "--compare", "/dev/zero"]),
        &["it is a character device, not a regular file"],
    );
    // A 2 GiB resume file (sparse) is refused by its size, not read.
    let big = dir.path().join("big.resume");
    std::fs::File::create(&big)
        .expect("create")
        .set_len(2 << 30)
        .expect("set_len");
    chmod(&big, 0o600);
    refused(
        &synscan(&["--resume", &s(&big)]),
        &["it holds 2147483648 bytes, more than the 16777216 bytes this file may have"],
    );
    // `-iL -` and process substitution still read their descriptors, within the bound.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "echo 198.18.0.7 | unshare -n \"$0\" --dry-run -iL - -p 80",
        synscan_bin(),
    ]);
    let out = run_by(cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "198.18.0.7 80\n");
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        "unshare -n \"$0\" --dry-run -iL <(echo 198.18.0.8) -p 81",
        synscan_bin(),
    ]);
    let out = run_by(cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "198.18.0.8 81\n");
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "head -c 300000000 /dev/zero | unshare -n \"$0\" --dry-run -iL - -p 80",
        synscan_bin(),
    ]);
    refused(
        &run_by(cmd, Duration::from_secs(60)),
        &["refusing target list standard input: it holds more than the 268435456 bytes"],
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn the_first_ctrl_c_stops_a_dry_run() {
    let mut child = Command::new("unshare")
        .args([
            "-n",
            synscan_bin(),
            "--dry-run",
            "198.18.0.0/15",
            "-p-",
            "--allow-large",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "8.6 billion probes listed in 1 s?"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    let out = wait_by(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("dry run interrupted"),
        "{}",
        text(&out.stderr)
    );
}
