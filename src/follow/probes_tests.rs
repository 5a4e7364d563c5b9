use super::*;

const SAMPLE: &[u8] = br#"# A comment
Exclude T:9100-9102,U:7

Probe TCP NULL q||
totalwaitms 6000
tcpwrappedms 3000
match ssh m|^SSH-([\d.]+)-OpenSSH_([\w._-]+)\r?\n| p/OpenSSH/ v/$2/ i/protocol $1/ cpe:/a:openbsd:openssh:$2/
softmatch ftp m|^220[ -]|
match ftp m|^220 (\S+) FTP| p/$1 ftpd/ o/Unix/ cpe:/o:x:y/ cpe:/a:v:$1/a

Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
ports 80-82,8080
sslports 443
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: nginx/([\d.]+)\r\n|s p/nginx/ v/$1/ cpe:/a:igor_sysoev:nginx:$1/

Probe TCP HTTPOptions q|OPTIONS / HTTP/1.0\r\n\r\n|
rarity 4
ports 80
fallback GetRequest
match bad m|(unclosed|
bogus directive

Probe UDP DNSStatus q|\0\0\x10\0|
rarity 7
"#;

#[test]
fn reads_probes_directives_and_counts_bad_lines() {
    let db = ProbeDb::parse(SAMPLE, "sample").unwrap();
    assert_eq!(db.probes().len(), 4);
    assert_eq!(db.match_lines(), 5);
    let failures: Vec<usize> = db.failures().iter().map(|f| f.line).collect();
    assert_eq!(failures, vec![21, 22]);
    assert!(db.failures()[0].reason.contains("does not compile"));
    let null = db.null_probe().unwrap();
    assert_eq!(null, 0);
    let p = db.probe(null);
    assert_eq!(p.total_wait, Duration::from_millis(6000));
    assert_eq!(p.tcpwrapped, Duration::from_millis(3000));
    assert_eq!(p.rarity, 5);
    assert_eq!(p.services, vec!["ssh".to_string(), "ftp".to_string()]);
    let get = db.probe(1);
    assert_eq!(get.payload, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(get.ports, vec![80, 81, 82, 8080]);
    assert!(get.likely_on(443, true) && !get.likely_on(443, false));
    assert_eq!(get.total_wait, Duration::from_millis(5000));
    assert_eq!(get.fallbacks, vec![1, 0]);
    assert_eq!(db.probe(2).fallbacks, vec![2, 1, 0]);
    let udp = db.probe(3);
    assert_eq!((udp.transport, udp.rarity), (Transport::Udp, 7));
    assert_eq!(udp.payload, b"\0\0\x10\0");
    assert_eq!(
        udp.fallbacks,
        vec![3],
        "UDP probes do not fall back to NULL"
    );
    assert!(db.excluded(Transport::Tcp, 9101) && !db.excluded(Transport::Udp, 9101));
    assert!(db.excluded(Transport::Udp, 7) && !db.excluded(Transport::Tcp, 7));
}

#[test]
fn hard_match_fills_templates() {
    let db = ProbeDb::parse(SAMPLE, "sample").unwrap();
    let m = db.match_answer(0, b"SSH-2.0-OpenSSH_9.2p1\r\n").unwrap();
    assert_eq!(
        m,
        MatchDetails {
            service: "ssh".into(),
            soft: false,
            product: Some("OpenSSH".into()),
            version: Some("9.2p1".into()),
            info: Some("protocol 2.0".into()),
            cpe: vec!["cpe:/a:openbsd:openssh:9.2p1".into()],
            line: 7,
            ..MatchDetails::default()
        }
    );
}

#[test]
fn first_matching_line_wins_even_when_soft() {
    let db = ProbeDb::parse(SAMPLE, "sample").unwrap();
    let m = db.match_answer(0, b"220 Foo FTP ready\r\n").unwrap();
    assert!(m.soft);
    assert_eq!((m.service.as_str(), m.line), ("ftp", 8));
}

#[test]
fn fallback_chain_reaches_get_request_and_null() {
    let db = ProbeDb::parse(SAMPLE, "sample").unwrap();
    let answer = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n";
    let m = db.match_answer(2, answer).unwrap();
    assert_eq!(m.product.as_deref(), Some("nginx"));
    assert_eq!(m.cpe, vec!["cpe:/a:igor_sysoev:nginx:1.22.1".to_string()]);
    let m = db.match_answer(1, b"SSH-2.0-OpenSSH_8.0\n").unwrap();
    assert_eq!(m.service, "ssh", "every TCP probe falls back to NULL");
    assert_eq!(db.match_answer(3, b"SSH-2.0-OpenSSH_8.0\n"), None);
}

#[test]
fn cpe_parts_in_a_h_o_order() {
    let db = ProbeDb::parse(
        b"Probe TCP NULL q||\nmatch x m|^(\\w+)| cpe:/o:linux:linux_kernel/ cpe:/h:acme:$1/ cpe:/a:acme:$1/a p/$1/\n",
        "t",
    )
    .unwrap();
    let m = db.match_answer(0, b"Box").unwrap();
    assert_eq!(
        m.cpe,
        vec![
            "cpe:/a:acme:box",
            "cpe:/h:acme:box",
            "cpe:/o:linux:linux_kernel"
        ]
    );
    assert_eq!(m.product.as_deref(), Some("Box"));
}

#[test]
fn malformed_lines_are_counted_not_fatal() {
    let text = b"match a m|x|\nProbe XYZ Bad q||\nProbe TCP NULL q||\nmatch b m|x\nmatch c m|x| z/y/\nmatch d m|x|q\nrarity 12\nmatch e m|x|abcd\ntotalwaitms 5\nProbe TCP Two q|x|\nfallback Nope\n";
    let db = ProbeDb::parse(text, "t").unwrap();
    let lines: Vec<usize> = db.failures().iter().map(|f| f.line).collect();
    assert_eq!(lines, vec![1, 2, 4, 5, 6, 7, 8, 9, 0]);
    assert!(ProbeDb::parse(b"# nothing\n", "t").is_err());
}

/// nmap's own file, when installed: every match line compiles, as nmap requires.
#[test]
fn nmaps_file_reads_with_no_failures() {
    let Some(path) = NMAP_SERVICE_PROBES.iter().find(|p| Path::new(p).is_file()) else {
        eprintln!("nmap-service-probes not installed; skipped");
        return;
    };
    let text = std::fs::read(path).unwrap();
    let expected = text
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"match ") || l.starts_with(b"softmatch "))
        .count();
    let db = ProbeDb::load(path).unwrap();
    assert_eq!(db.failures(), &[] as &[LineFailure]);
    assert_eq!(db.match_lines(), expected);
    assert!(expected > 10_000);
    let n = db.probes().iter().map(|p| p.matches.len()).sum::<usize>();
    assert_eq!(n, expected);
    let null = db.probe(db.null_probe().unwrap());
    assert_eq!(null.total_wait, Duration::from_millis(6000));
    assert!(db.excluded(Transport::Tcp, 9100));
}
