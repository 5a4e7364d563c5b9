use super::*;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::{Duration, Instant};

fn mkfifo(p: &Path) {
    let c = CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo creates a file, nothing else.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
}

fn refused(r: Result<impl fmt::Debug, OpenError>) -> String {
    match r {
        Err(OpenError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn outputs_are_created_or_opened_untruncated_and_appended_when_asked() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("out");
    let o = open_output(&p, false).unwrap();
    assert!(o.created.is_some() && o.regular && !o.inherited);
    drop(o);
    std::fs::write(&p, "old").unwrap();
    let o = open_output(&p, false).unwrap();
    assert!(o.created.is_none());
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
    drop(o);
    let mut o = open_output(&p, true).unwrap();
    o.file.write_all(b"+new").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "old+new");
    assert_eq!(
        refused(open_output(d.path(), false)),
        "it is a directory; name a file"
    );
    let slash = PathBuf::from(format!("{}/", d.path().display()));
    assert_eq!(
        refused(open_output(&slash, false)),
        "it is a directory; name a file"
    );
    let slash = PathBuf::from(format!("{}/", p.display()));
    assert!(refused(open_output(&slash, false)).ends_with("is not a directory; check the path"));
    assert!(matches!(
        open_output(&d.path().join("none/x"), false),
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound
    ));
}

#[test]
fn a_fifo_never_blocks_an_open() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("fifo");
    mkfifo(&f);
    let start = Instant::now();
    assert_eq!(
        refused(open_output(&f, false)),
        "it is a FIFO no process reads; start the reader first"
    );
    assert_eq!(
        refused(open_input(&f, Trust::Data)),
        "it is a FIFO, not a regular file; give the path of a file"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn inputs_must_be_regular_files_within_their_limit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    std::fs::write(&p, "hello").unwrap();
    let c = read_input(&p, Trust::Data, 5).unwrap();
    assert_eq!(c.bytes, b"hello");
    assert!(c.own);
    assert_eq!(
        refused(read_input(&p, Trust::Data, 4)),
        "it holds 5 bytes, more than the 4 bytes this file may have; is it the right file?"
    );
    assert_eq!(
        refused(read_input(Path::new("/dev/zero"), Trust::Data, 4)),
        "it is a character device, not a regular file; give the path of a file"
    );
    assert_eq!(
        refused(open_input(d.path(), Trust::Data)),
        "it is a directory, not a regular file; give the path of a file"
    );
    assert!(matches!(
        open_input(&d.path().join("none"), Trust::Data),
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound
    ));
}

#[test]
fn own_descriptors_are_reused() {
    assert_eq!(inherited_fd(Path::new("-"), true), Some(0));
    assert_eq!(inherited_fd(Path::new("-"), false), Some(1));
    assert_eq!(inherited_fd(Path::new("/dev/stdin"), false), Some(0));
    assert_eq!(inherited_fd(Path::new("/dev/stdout"), true), Some(1));
    assert_eq!(inherited_fd(Path::new("/dev/fd/63"), true), Some(63));
    assert_eq!(inherited_fd(Path::new("/proc/self/fd/5"), true), Some(5));
    assert_eq!(inherited_fd(Path::new("/dev/fd/x"), true), None);
    assert_eq!(inherited_fd(Path::new("/dev/fd/"), true), None);
    assert_eq!(inherited_fd(Path::new("./-"), true), None);
    // An open descriptor reads through; a closed one is named.
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    std::fs::write(&p, "abc").unwrap();
    let f = File::open(&p).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let c = read_input(Path::new(&format!("/dev/fd/{fd}")), Trust::Strict, 10).unwrap();
    assert_eq!(c.bytes, b"abc");
    assert_eq!(c.id, Identity::of_file(&f).unwrap());
    assert_eq!(
        refused(open_input(Path::new("/dev/fd/999999"), Trust::Data)),
        "/dev/fd/999999 names descriptor 999999, which this process did not inherit open"
    );
}

#[test]
fn strict_inputs_need_trusted_directories_all_the_way_up() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let p = sub.join("policy");
    std::fs::write(&p, "x").unwrap();
    chmod(&p, 0o644);
    read_input(&p, Trust::Strict, 10).unwrap();
    chmod(&p, 0o664);
    assert_eq!(
        refused(read_input(&p, Trust::Strict, 10)),
        "it is writable by its group (mode 664); run chmod go-w on it"
    );
    read_input(&p, Trust::Data, 10).unwrap();
    chmod(&p, 0o644);
    chmod(&sub, 0o777);
    let shown = sub.canonicalize().unwrap();
    assert_eq!(
        refused(read_input(&p, Trust::Strict, 10)),
        format!(
            "the directory {} above it is writable by anyone (mode 777); keep the file in a directory only you can write",
            shown.display()
        )
    );
    // A sticky directory passes for the user's own entry (as /tmp does).
    chmod(&sub, 0o1777);
    read_input(&p, Trust::Strict, 10).unwrap();
}

#[test]
fn a_file_replaced_whole_is_placed_without_following_its_name() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real");
    std::fs::create_dir(&real).unwrap();
    symlink(&real, d.path().join("l")).unwrap();
    let (_, dir, name) = place_of(&d.path().join("l/state")).unwrap();
    assert_eq!(dir, real.canonicalize().unwrap());
    assert_eq!(name.as_bytes(), b"state");
    for bad in ["/", "x/..", "x/", "x/."] {
        assert!(
            refused(place_of(&d.path().join(bad))).starts_with("it names no file"),
            "{bad}"
        );
    }
}

#[test]
fn claims_refuse_one_file_twice_but_not_a_device() {
    let mut c = Claims::new();
    let f = Identity {
        dev: 1,
        ino: 2,
        char_device: false,
    };
    let null = Identity {
        dev: 5,
        ino: 6,
        char_device: true,
    };
    c.claim(f, "-oJ a").unwrap();
    c.input(f, "--policy a").unwrap_err();
    c.claim(null, "-oX /dev/null").unwrap();
    c.claim(null, "-oN /dev/null").unwrap();
    assert_eq!(
        c.claim(f, "--resume-file a").unwrap_err(),
        "-oJ a and --resume-file a are the same file; give each its own file"
    );
}

const NOBODY: u32 = 65534;

/// A sticky world-writable directory like /tmp, inside a private one.
fn shared() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o755);
    let s = d.path().join("shared");
    std::fs::create_dir(&s).unwrap();
    chmod(&s, 0o1777);
    (d, s)
}

#[test]
#[ignore = "needs root: chown"]
fn shared_directories_refuse_what_another_user_planted() {
    assert_eq!(real_uid(), 0, "needs root (chown)");
    let (d, s) = shared();
    let victim = d.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let sd = s.canonicalize().unwrap();
    // A link of nobody's, as the last name and as a directory part.
    let link = s.join("out");
    symlink(&victim, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(NOBODY), None).unwrap();
    let dirlink = s.join("d");
    symlink(d.path(), &dirlink).unwrap();
    std::os::unix::fs::lchown(&dirlink, Some(NOBODY), None).unwrap();
    for (path, how) in [
        (link.clone(), "it is".to_string()),
        (
            dirlink.join("victim"),
            format!("it leads through {},", sd.join("d").display()),
        ),
    ] {
        let want = format!(
            "{how} a symbolic link owned by another user (uid 65534) in the shared directory {}, where anyone could point it at any file; remove the link or use another path",
            sd.display()
        );
        assert_eq!(refused(open_output(&path, false)), want);
        assert_eq!(refused(open_input(&path, Trust::Data)), want);
        assert!(DirFile_new_refused(&dirlink.join("x")));
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // Root's own link there, or one of the directory's owner, is followed.
    std::os::unix::fs::lchown(&link, Some(0), None).unwrap();
    assert!(open_input(&link, Trust::Data).is_ok());
    // A FIFO, a file of nobody's, a hard link: refused, naming the owner.
    let fifo = s.join("fifo");
    mkfifo(&fifo);
    std::os::unix::fs::chown(&fifo, Some(NOBODY), None).unwrap();
    let want = format!(
        "it is a FIFO owned by uid 65534 in the shared directory {}, where anyone could plant one; remove it or use another path",
        sd.display()
    );
    assert_eq!(refused(open_output(&fifo, false)), want);
    assert_eq!(refused(open_input(&fifo, Trust::Data)), want);
    let theirs = s.join("theirs");
    std::fs::write(&theirs, "x").unwrap();
    chmod(&theirs, 0o666);
    std::os::unix::fs::chown(&theirs, Some(NOBODY), None).unwrap();
    let want = format!(
        "it is owned by another user (uid 65534) in the shared directory {}, where anyone could have planted it; remove it or use another path",
        sd.display()
    );
    assert_eq!(refused(open_output(&theirs, false)), want);
    assert_eq!(refused(open_input(&theirs, Trust::Data)), want);
    let hard = s.join("hard");
    std::fs::hard_link(&victim, &hard).unwrap();
    assert_eq!(
        refused(open_output(&hard, false)),
        format!(
            "it has 2 hard links in the shared directory {} (owner uid 0), so it may be another file under a planted name; remove it or use another path",
            sd.display()
        )
    );
    // A new output there is the run's own.
    let new = open_output(&s.join("new"), false).unwrap();
    assert!(new.created.is_some());
}

#[allow(non_snake_case)]
fn DirFile_new_refused(p: &Path) -> bool {
    super::super::fs::DirFile::new(p).is_err()
}

#[test]
#[ignore = "needs root: chown"]
fn strict_inputs_refuse_other_users_files_directories_and_links() {
    assert_eq!(real_uid(), 0, "needs root (chown)");
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o755);
    let theirs = d.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), None).unwrap();
    let p = theirs.join("policy");
    std::fs::write(&p, "x").unwrap();
    chmod(&p, 0o644);
    // Root's own file, in a directory nobody owns: nobody could swap it.
    assert_eq!(
        refused(read_input(&p, Trust::Strict, 10)),
        format!(
            "the directory {} above it belongs to user id 65534, not to you (user id 0) or root; keep the file in a directory only you can write",
            theirs.canonicalize().unwrap().display()
        )
    );
    // Read as data it is fine, but not the user's own: never quoted.
    let c = read_input(&p, Trust::Data, 10).unwrap();
    assert!(!c.own);
    std::os::unix::fs::chown(&p, Some(NOBODY), None).unwrap();
    let mine = d.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    let f = mine.join("f");
    std::fs::write(&f, "x").unwrap();
    std::os::unix::fs::chown(&f, Some(NOBODY), None).unwrap();
    assert_eq!(
        refused(read_input(&f, Trust::Strict, 10)),
        "it belongs to user id 65534, not to you (user id 0) or root"
    );
    // A link of nobody's outside a shared directory is followed for data, never trusted.
    std::os::unix::fs::chown(&f, Some(0), None).unwrap();
    let l = mine.join("l");
    symlink(&f, &l).unwrap();
    std::os::unix::fs::lchown(&l, Some(NOBODY), None).unwrap();
    assert!(!read_input(&l, Trust::Data, 10).unwrap().own);
    assert!(refused(read_input(&l, Trust::Strict, 10)).contains("symbolic link"));
}
