//! The follow-up library (`synscan-lab follow`, run in a lab's scanner namespace) against
//! nmap -sV on the same lab: real Debian services, the replayed banner corpus, and hostile
//! servers; TLS certificate fields against what `openssl x509` reads from the same file.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{lab_bin, Lab};
use synscan_lab::follow::{read_corpus, replay_addr, ESCAPE_BANNER, HOSTILE};
use synscan_lab::services::{Services, SERVICES};

/// What both tools say of one port: name, product, version, extrainfo, hostname, ostype,
/// devicetype, tunnel and CPEs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Ident {
    name: Option<String>,
    product: Option<String>,
    version: Option<String>,
    info: Option<String>,
    hostname: Option<String>,
    ostype: Option<String>,
    devicetype: Option<String>,
    tunnel: Option<String>,
    cpe: Vec<String>,
}

type Key = (String, u16);

fn empty_lab() -> Lab {
    Lab::start(&[
        "--open-hosts",
        "0",
        "--filtered",
        "0",
        "--prefix",
        "198.19.0.0/16",
    ])
}

/// A lab helper process (`synscan-lab replay|hostile`) in the target namespace, stopped on drop.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn helper(lab: &Lab, args: &[&str]) -> Helper {
    let mut child = lab
        .target_command(lab_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn lab helper");
    let mut line = String::new();
    let out = child.stdout.take().expect("helper stdout");
    let _ = std::io::BufReader::new(out).read_line(&mut line);
    assert_eq!(line.trim(), "ready", "{args:?} did not start");
    Helper(child)
}

/// `synscan-lab follow` in the scanner namespace: its JSON results by (address, port).
fn follow(lab: &Lab, targets: &[String]) -> (BTreeMap<Key, serde_json::Value>, Duration) {
    let t = Instant::now();
    let out = lab.run_in_scanner(
        lab_bin(),
        &[
            &["follow"],
            &targets.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = BTreeMap::new();
    for line in String::from_utf8(out.stdout)
        .expect("JSON is UTF-8")
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON result a line");
        let key = (
            v["ip"].as_str().unwrap().to_string(),
            v["port"].as_u64().unwrap() as u16,
        );
        map.insert(key, v);
    }
    (map, took)
}

fn ident_of(v: &serde_json::Value) -> Ident {
    let s = &v["service"];
    let text = |k: &str| s[k].as_str().map(str::to_string);
    Ident {
        name: text("name"),
        product: text("product"),
        version: text("version"),
        info: text("info"),
        hostname: text("hostname"),
        ostype: text("ostype"),
        devicetype: text("devicetype"),
        tunnel: text("tunnel"),
        cpe: s["cpe"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `nmap -sV` in the scanner namespace: (identification, method) of every open port.
fn nmap_sv(lab: &Lab, ports: &str, addrs: &[String]) -> (BTreeMap<Key, (Ident, String)>, Duration) {
    let t = Instant::now();
    let mut args = vec!["-sV", "-Pn", "-n", "-T4", "-p", ports, "-oX", "-"];
    args.extend(addrs.iter().map(String::as_str));
    let out = lab.run_in_scanner("nmap", &args);
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (parse_nmap_xml(&String::from_utf8_lossy(&out.stdout)), took)
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!(" {name}=\"");
    let start = tag.find(&pat)? + pat.len();
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The open ports of nmap's XML with their service elements (a small reader for this test).
fn parse_nmap_xml(xml: &str) -> BTreeMap<Key, (Ident, String)> {
    let mut out = BTreeMap::new();
    for host in xml.split("<host ").skip(1) {
        let Some(addr) = host
            .find("<address ")
            .and_then(|i| attr(&host[i..], "addr"))
        else {
            continue;
        };
        for port in host.split("<port ").skip(1) {
            let port = &port[..port.find("</port>").unwrap_or(port.len())];
            if !port.contains("state=\"open\"") {
                continue;
            }
            let portid: u16 = attr(port, "portid").unwrap().parse().unwrap();
            let Some(si) = port.find("<service ") else {
                continue;
            };
            let svc = &port[si..];
            let tag = &svc[..svc.find('>').unwrap()];
            let cpe = svc
                .split("<cpe>")
                .skip(1)
                .map(|c| c[..c.find("</cpe>").unwrap()].to_string())
                .collect();
            let ident = Ident {
                name: attr(tag, "name"),
                product: attr(tag, "product"),
                version: attr(tag, "version"),
                info: attr(tag, "extrainfo"),
                hostname: attr(tag, "hostname"),
                ostype: attr(tag, "ostype"),
                devicetype: attr(tag, "devicetype"),
                tunnel: attr(tag, "tunnel"),
                cpe,
            };
            out.insert(
                (addr.clone(), portid),
                (ident, attr(tag, "method").unwrap_or_default()),
            );
        }
    }
    out
}

/// Every port nmap identified by probing gets the same identification from us; where
/// nmap found nothing, neither do we. Returns how many ports were compared.
fn assert_same_as_nmap(
    ours: &BTreeMap<Key, serde_json::Value>,
    nmap: &BTreeMap<Key, (Ident, String)>,
    nse_filled: &[Key],
) -> usize {
    let mut compared = 0;
    for (key, (ident, method)) in nmap {
        let got = ours
            .get(key)
            .unwrap_or_else(|| panic!("no result for {key:?}"));
        if nse_filled.contains(key) {
            continue;
        }
        if method == "probed" {
            assert_eq!(&ident_of(got), ident, "{key:?}: {got}");
            compared += 1;
        } else {
            let status = got["service"]["status"].as_str().unwrap();
            assert!(
                status == "unknown" || status == "incomplete",
                "{key:?}: nmap found nothing, we said {got}"
            );
        }
    }
    compared
}

#[test]
#[ignore = "needs root: network namespaces, real daemons, nmap"]
fn lab_services_equal_nmap_and_their_certificate_equals_openssl() {
    let lab = empty_lab();
    let dir = tempfile::tempdir().unwrap();
    let services =
        Services::start(&lab.truth.target_ns, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let targets: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("{}:{}", s.ip, s.port))
        .collect();
    let (ours, ours_took) = follow(&lab, &targets);
    let addrs: Vec<String> = SERVICES.iter().map(|s| s.ip.to_string()).collect();
    let (nmap, nmap_took) = nmap_sv(&lab, "21,22,25,80,443,6379", &addrs);
    eprintln!("lab services: follow {ours_took:?}, nmap -sV -T4 {nmap_took:?}");
    assert_eq!(ours.len(), SERVICES.len());
    // sshd, nginx http and https, vsftpd, exim, redis are named by nmap's probes.
    assert_eq!(assert_same_as_nmap(&ours, &nmap, &[]), 6);
    let https = &ours[&("198.19.0.3".to_string(), 443)];
    assert_eq!(https["service"]["tunnel"], "ssl");
    assert_eq!(https["http"]["result"]["title"], "synscan lab tls");
    assert_eq!(https["http"]["result"]["status"], 200);
    // nginx -v prints "nginx version: nginx/1.22.1" on stderr.
    let nginx_v = Command::new("nginx").arg("-v").output().unwrap();
    let server = String::from_utf8_lossy(&nginx_v.stderr)
        .trim()
        .strip_prefix("nginx version: ")
        .unwrap()
        .to_string();
    assert_eq!(https["http"]["result"]["server"], server.as_str());
    let http = &ours[&("198.19.0.3".to_string(), 80)];
    assert_eq!(http["http"]["result"]["title"], "synscan lab");
    assert!(http.get("tls").is_none());

    let cert = services.dir.join("cert.pem");
    let want = openssl_facts(&cert);
    for (ip, version, handshake) in [
        ("198.19.0.3", "TLSv1.2", "rustls"),
        ("198.19.0.7", "TLSv1", "legacy"),
    ] {
        let tls = &ours[&(ip.to_string(), 443)]["tls"];
        assert_eq!(tls["status"], "success", "{ip}: {tls}");
        let r = &tls["result"];
        assert_eq!(r["version"], version, "{ip}");
        assert_eq!(r["handshake"], handshake, "{ip}");
        assert_eq!(r["chain_verified"], false, "self-signed: {ip}");
        let leaf = &r["certificates"][0];
        for (k, v) in &want {
            assert_eq!(&leaf[k.as_str()], v, "{ip} {k}");
        }
    }
    let tls10 = &ours[&("198.19.0.7".to_string(), 443)]["tls"]["result"];
    assert!(
        tls10["cipher"].as_str().unwrap().starts_with("TLS_"),
        "{tls10}"
    );
}

/// What `openssl x509` reads from a PEM file, in the follow-up's field names.
fn openssl_facts(pem: &std::path::Path) -> Vec<(String, serde_json::Value)> {
    let x509 = |args: &[&str]| {
        let out = Command::new("openssl")
            .arg("x509")
            .arg("-in")
            .arg(pem)
            .arg("-noout")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let after = |s: &str, p: &str| s.trim().strip_prefix(p).unwrap().to_string();
    let subject = after(&x509(&["-subject", "-nameopt", "RFC2253"]), "subject=");
    let issuer = after(&x509(&["-issuer", "-nameopt", "RFC2253"]), "issuer=");
    let fp = after(&x509(&["-fingerprint", "-sha256"]), "sha256 Fingerprint=")
        .replace(':', "")
        .to_lowercase();
    let dates = x509(&["-dates"]);
    let date = |prefix: &str| {
        let line = dates.lines().find_map(|l| l.strip_prefix(prefix)).unwrap();
        let out = Command::new("date")
            .args(["-u", "-d", line, "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let ext = x509(&["-ext", "subjectAltName"]);
    let mut sans: Vec<String> = ext
        .lines()
        .nth(1)
        .unwrap()
        .split(", ")
        .map(|s| s.trim().to_string())
        .collect();
    sans.sort();
    let text = x509(&["-text"]);
    let bits: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Public-Key: ("))
        .and_then(|l| l.split(' ').next())
        .and_then(|b| b.parse().ok())
        .unwrap();
    let sig = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Signature Algorithm: "))
        .unwrap()
        .to_string();
    let key = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Public Key Algorithm: "))
        .unwrap();
    assert_eq!(key, "rsaEncryption");
    vec![
        ("subject".into(), subject.into()),
        ("issuer".into(), issuer.into()),
        ("sha256".into(), fp.into()),
        ("not_before".into(), date("notBefore=").into()),
        ("not_after".into(), date("notAfter=").into()),
        ("sans".into(), serde_json::json!(sans)),
        ("key_type".into(), "rsa".into()),
        ("key_bits".into(), bits.into()),
        ("signature_algorithm".into(), sig.into()),
    ]
}

#[test]
#[ignore = "needs root: network namespaces and nmap"]
fn the_banner_corpus_is_identified_as_nmap_identifies_it() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/corpus/banners.txt");
    let entries = read_corpus(&std::fs::read_to_string(corpus).unwrap()).unwrap();
    let lab = empty_lab();
    let _replay = helper(&lab, &["replay", corpus]);
    let targets: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{}:{}", replay_addr(i), e.port))
        .collect();
    let (ours, ours_took) = follow(&lab, &targets);
    assert_eq!(ours.len(), entries.len());
    for v in ours.values() {
        assert_ne!(v["service"]["status"], "incomplete", "{v}");
    }
    // nmap scans one port per address: each entry alone (a list of ports would probe every
    // port on every address).
    let mut by_port: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_port
            .entry(e.port)
            .or_default()
            .push(replay_addr(i).to_string());
    }
    let mut nmap = BTreeMap::new();
    let mut nmap_took = Duration::ZERO;
    for (port, addrs) in &by_port {
        let (m, took) = nmap_sv(&lab, &port.to_string(), addrs);
        nmap.extend(m);
        nmap_took += took;
    }
    eprintln!(
        "corpus of {}: follow {ours_took:?}, nmap -sV -T4 {nmap_took:?}",
        entries.len()
    );
    assert_eq!(nmap.len(), entries.len(), "nmap saw every listener open");
    // gunicorn's bare Server header: no probe line names it; nmap's http-server-header
    // script (a version-category NSE script, not the probe database) fills the product in.
    let nse: Vec<Key> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == "gunicorn")
        .map(|(i, e)| (replay_addr(i).to_string(), e.port))
        .collect();
    let compared = assert_same_as_nmap(&ours, &nmap, &nse);
    assert!(compared >= 60, "only {compared} ports identified by both");
}

/// Where [`many_sans_server`] listens.
const MANY_SANS: &str = "198.19.3.7:443";

/// `openssl s_server` in the target namespace on [`MANY_SANS`], presenting a certificate
/// with 10,000 DNS names (made in `dir`); stopped on drop.
fn many_sans_server(lab: &Lab, dir: &std::path::Path) -> Helper {
    let mut conf =
        String::from("[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=@alt\n[alt]\n");
    for i in 0..10_000 {
        conf.push_str(&format!("DNS.{i}=h{i:05}.lab.example\n"));
    }
    std::fs::write(dir.join("san.cnf"), conf).unwrap();
    let ok = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
            "cert.pem",
        ])
        .args([
            "-days",
            "30",
            "-subj",
            "/CN=many.lab.example",
            "-config",
            "san.cnf",
            "-extensions",
            "ext",
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let sserver = lab
        .target_command("openssl")
        .args(["s_server", "-accept", MANY_SANS, "-www", "-quiet"])
        .arg("-cert")
        .arg(dir.join("cert.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    Helper(sserver)
}

#[test]
#[ignore = "needs root: network namespaces"]
fn hostile_servers_are_bounded_and_escaped() {
    let lab = empty_lab();
    let _hostile = helper(&lab, &["hostile"]);
    let dir = tempfile::tempdir().unwrap();
    let sserver = many_sans_server(&lab, dir.path());
    let mut targets: Vec<String> = HOSTILE
        .iter()
        .map(|(_, ip, port)| format!("{ip}:{port}"))
        .collect();
    targets.push(MANY_SANS.into());
    let out = lab.run_in_scanner(
        lab_bin(),
        &[
            &["follow"],
            &targets.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    drop(sserver);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No byte a server sent reaches the output raw: no ESC, no NUL, valid UTF-8 JSON lines.
    assert!(!out.stdout.contains(&0x1b) && !out.stdout.contains(&0));
    let text = String::from_utf8(out.stdout).expect("valid UTF-8");
    let mut by_name = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ip = v["ip"].as_str().unwrap().to_string();
        let name = HOSTILE
            .iter()
            .find(|(_, a, _)| a.to_string() == ip)
            .map_or("many-sans", |(n, _, _)| n);
        by_name.insert(name, v);
    }
    assert_eq!(by_name.len(), HOSTILE.len() + 1);
    let elapsed = |n: &str| by_name[n]["elapsed_ms"].as_u64().unwrap();
    // 100 MB offered: read up to the cap (nmap's 4,096 bytes, one read past it at most).
    let flood = &by_name["flood-100MB"]["service"];
    assert!(flood["banner"].as_str().unwrap().len() <= 512);
    assert!(
        elapsed("flood-100MB") < 10_000,
        "{}",
        elapsed("flood-100MB")
    );
    // A byte a second and a silent peer end at the probes' deadlines, not at the server's will.
    assert!(
        elapsed("trickle-1Bps") < 15_000,
        "{}",
        elapsed("trickle-1Bps")
    );
    assert!(
        elapsed("never-closes") < 15_000,
        "{}",
        elapsed("never-closes")
    );
    assert_eq!(by_name["never-closes"]["service"]["status"], "unknown");
    // Escape sequences, NUL and invalid UTF-8 come out escaped as nmap escapes them.
    let esc = &by_name["escapes-nul-invalid-utf8"]["service"];
    assert_eq!(
        esc["banner"],
        synscan::follow::escape::escape_bytes(ESCAPE_BANNER)
    );
    let http = &by_name["http-escapes"]["http"]["result"];
    assert_eq!(http["server"], "evil\\x1b[31m\\x00\\xff");
    assert_eq!(http["title"], "\\x1b]0;x\\x07\\xc3(\\x00");
    // Invalid TLS: an error recorded, nothing else.
    let bad_tls = &by_name["invalid-tls"];
    assert_ne!(bad_tls["tls"]["status"], "success", "{bad_tls}");
    // 10,000 names: all read (by our own handshake reader when rustls's limit is passed).
    let many = &by_name["many-sans"]["tls"];
    assert_eq!(many["status"], "success", "{many}");
    let sans = many["result"]["certificates"][0]["sans"]
        .as_array()
        .unwrap();
    assert_eq!(sans.len(), 10_000);
    assert_eq!(sans[0], "DNS:h00000.lab.example");
    assert_eq!(sans[9_999], "DNS:h09999.lab.example");
}

/// Fails unless `text` is well-formed XML to its end.
fn assert_parses_as_xml(text: &str) {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut elements = 0usize;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                elements += 1
            }
            Ok(_) => {}
            Err(e) => panic!(
                "-oX does not parse at byte {}: {e}",
                reader.buffer_position()
            ),
        }
    }
    assert!(elements > 0, "no elements in {text}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn sv_through_the_cli_against_hostile_servers_is_bounded_escaped_and_well_formed() {
    let lab = empty_lab();
    let _hostile = helper(&lab, &["hostile"]);
    let dir = tempfile::tempdir().unwrap();
    let _sserver = many_sans_server(&lab, dir.path());
    let out = |name: &str| dir.path().join(name).display().to_string();
    let (on, ox, oj, resume) = (out("h.nmap"), out("h.xml"), out("h.json"), out("resume"));
    let mut args = vec!["-sV", "-p", "21,80,443", "--resume-file", &resume];
    args.extend_from_slice(&["-oN", &on, "-oX", &ox, "-oJ", &oj]);
    let addrs: Vec<String> = HOSTILE.iter().map(|(_, ip, _)| ip.to_string()).collect();
    args.extend(addrs.iter().map(String::as_str));
    args.push("198.19.3.7");
    let t = Instant::now();
    let run = lab.run_in_scanner(crate::common::synscan_bin(), &args);
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "synscan {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    // Every port ends at its probes' deadlines, not at the servers' will (the trickle takes a
    // minute, the silent peer ten, the flood is 100 MB).
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    // The terminal and -oN: nothing a server sent arrives raw.
    for (what, bytes) in [("stdout", run.stdout.clone()), ("-oN", read(&on))] {
        assert!(!bytes.contains(&0x1b), "ESC in {what}");
        assert!(!bytes.contains(&0), "NUL in {what}");
        let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        let rows = text
            .lines()
            .filter(|l| l.starts_with("21/tcp") && l.contains(" open "))
            .count();
        assert_eq!(rows, 4, "{what}'s open 21/tcp rows");
    }
    let normal = String::from_utf8(read(&on)).unwrap();
    let xml = String::from_utf8(read(&ox)).expect("-oX is UTF-8");
    assert_parses_as_xml(&xml);
    // -oJ: every line one JSON object; one service record per open port.
    let json = String::from_utf8(read(&oj)).expect("-oJ is UTF-8");
    let mut services = BTreeMap::new();
    for line in json.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["type"] == "service" {
            let ip = v["ip"].as_str().unwrap().to_string();
            let name = HOSTILE
                .iter()
                .find(|(_, a, _)| a.to_string() == ip)
                .map_or("many-sans", |(n, _, _)| n);
            services.insert(name, v);
        }
    }
    assert_eq!(services.len(), HOSTILE.len() + 1, "{json}");
    let esc = &services["escapes-nul-invalid-utf8"]["service"];
    assert_eq!(
        esc["banner"],
        synscan::follow::escape::escape_bytes(ESCAPE_BANNER)
    );
    let http = &services["http-escapes"]["http"]["result"];
    assert_eq!(http["server"], "evil\\x1b[31m\\x00\\xff");
    // The Server header as nmap's http-server-header shows it, escaped, in -oN and -oX.
    assert!(
        normal.contains("|_http-server-header: evil\\x1b[31m\\x00\\xff"),
        "{normal}"
    );
    assert!(xml.contains("evil\\x1b[31m\\x00\\xff"), "{xml}");
    assert_eq!(services["never-closes"]["service"]["status"], "unknown");
    assert_ne!(services["invalid-tls"]["tls"]["status"], "success");
    let sans = services["many-sans"]["tls"]["result"]["certificates"][0]["sans"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(sans, 10_000);
    eprintln!("hostile -sV through the CLI: {took:?}");
}

/// `synscan -sV` of one replayed banner at 198.19.1.1:`port`, written to `base`.json and .xml.
fn sv_of_banner(lab: &Lab, dir: &std::path::Path, port: u16, banner: &str, base: &str) {
    let corpus = dir.join(format!("{base}.corpus"));
    std::fs::write(&corpus, format!("x {port} banner {banner}\n")).unwrap();
    let _replay = helper(lab, &["replay", corpus.to_str().unwrap()]);
    let (json, xml) = (
        dir.join(format!("{base}.json")).display().to_string(),
        dir.join(format!("{base}.xml")).display().to_string(),
    );
    let port = port.to_string();
    let args = ["-sV", "-p", &port, "198.19.1.1", "-oJ", &json, "-oX", &xml];
    let run = lab.run_in_scanner(crate::common::synscan_bin(), &args);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn diff_reports_a_new_version_between_two_sv_runs_and_the_policy_a_forbidden_product() {
    let lab = empty_lab();
    let dir = tempfile::tempdir().unwrap();
    sv_of_banner(&lab, dir.path(), 22, "SSH-2.0-OpenSSH_9.2p1\\r\\n", "old");
    sv_of_banner(&lab, dir.path(), 22, "SSH-2.0-OpenSSH_9.6p1\\r\\n", "new");
    let file = |n: &str| dir.path().join(n).display().to_string();
    for ext in ["json", "xml"] {
        let (old, new) = (file(&format!("old.{ext}")), file(&format!("new.{ext}")));
        let d = Command::new(crate::common::synscan_bin())
            .args(["diff", &old, &new])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&d.stdout);
        assert_eq!(d.status.code(), Some(1), "{ext}: {out}");
        assert!(
            out.contains("1 service change(s):\n198.19.1.1\n  22/tcp ssh OpenSSH 9.2p1 -> 9.6p1\n"),
            "{ext}: {out}"
        );
        let same = Command::new(crate::common::synscan_bin())
            .args(["diff", &new, &new])
            .output()
            .unwrap();
        assert_eq!(same.status.code(), Some(0), "{ext}");
    }
    // The policy: a forbidden product and version, from -oJ and from -oX.
    sv_of_banner(&lab, dir.path(), 21, "220 (vsFTPd 2.3.4)\\r\\n", "ftp");
    let policy = file("policy.toml");
    std::fs::write(
        &policy,
        "forbid_products = [\"vsftpd 2.3.4\"]\ntls_min_version = \"1.2\"\ncert_expires_within = \"30d\"\n[[allow]]\nname = \"lab\"\nhosts = [\"198.19.0.0/16\"]\nports = [21, 22]\n",
    )
    .unwrap();
    for ext in ["json", "xml"] {
        let c = Command::new(crate::common::synscan_bin())
            .args(["check", &file(&format!("ftp.{ext}")), "--policy", &policy])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&c.stdout);
        assert_eq!(c.status.code(), Some(1), "{ext}: {out}");
        assert!(
            out.starts_with("policy violation: 198.19.1.1 port 21/tcp runs vsftpd 2.3.4; breaks forbid_products = [\"vsftpd 2.3.4\"]\n1 policy violation(s)"),
            "{ext}: {out}"
        );
        let kept = Command::new(crate::common::synscan_bin())
            .args(["check", &file(&format!("new.{ext}")), "--policy", &policy])
            .output()
            .unwrap();
        assert_eq!(kept.status.code(), Some(0), "{ext}");
    }
}
