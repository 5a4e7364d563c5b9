//! The database: which source is found, per-port order, the user's entries, the MTU check.

use super::*;
use std::path::PathBuf;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("synscan-db-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn dir(&self, sub: &str) -> PathBuf {
        let d = self.0.join(sub);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const PROBES: &str = include_str!("../../tests/data/payloads/service-probes-7.94");

#[test]
fn discovery_order() {
    let s = Scratch::new("discover");
    let empty = s.dir("empty");
    let old = s.dir("old");
    std::fs::write(old.join(NMAP_PAYLOADS), "udp 7 \"\\r\\n\"\n").unwrap();
    std::fs::write(old.join(NMAP_SERVICE_PROBES), PROBES).unwrap();
    let new = s.dir("new");
    std::fs::write(new.join(NMAP_SERVICE_PROBES), PROBES).unwrap();
    let tcp_only = s.dir("tcp-only");
    std::fs::write(tcp_only.join(NMAP_SERVICE_PROBES), "Probe TCP NULL q||\n").unwrap();

    // Nothing: the built-in table.
    let db = PayloadDb::discover_in([empty.as_path()]).unwrap();
    assert_eq!(db.source(), &Source::Builtin);
    assert_eq!(db.len(), builtin::payloads().len());
    // nmap <= 7.93: nmap-payloads, though the probe file has UDP probes.
    let db = PayloadDb::discover_in([empty.as_path(), old.as_path(), new.as_path()]).unwrap();
    assert_eq!(db.source(), &Source::NmapPayloads(old.join(NMAP_PAYLOADS)));
    assert_eq!(db.len(), 1);
    // nmap >= 7.94: the UDP probes.
    let db = PayloadDb::discover_in([new.as_path(), old.as_path()]).unwrap();
    assert_eq!(
        db.source(),
        &Source::ServiceProbes(new.join(NMAP_SERVICE_PROBES))
    );
    assert_eq!(db.len(), 5);
    assert_eq!(
        db.describe(),
        format!(
            "UDP payloads: UDP probes of nmap-service-probes ({}), 5 entries",
            new.join(NMAP_SERVICE_PROBES).display()
        )
    );
    // A probe file without UDP probes is passed over.
    let db = PayloadDb::discover_in([tcp_only.as_path(), old.as_path()]).unwrap();
    assert_eq!(db.source(), &Source::NmapPayloads(old.join(NMAP_PAYLOADS)));
    // A malformed nmap file is an error naming its line.
    let bad = s.dir("bad");
    std::fs::write(bad.join(NMAP_PAYLOADS), "\nudp 53 \"\\x4\"\n").unwrap();
    let e = PayloadDb::discover_in([bad.as_path()])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{} line 2: \\x needs two hex digits",
            bad.join(NMAP_PAYLOADS).display()
        )),
        "{e}"
    );
}

/// The installed nmap's payloads, when nmap is installed: every entry reads, and the
/// protocols whose fields we know are found in them.
#[test]
fn installed_nmap_payloads_read() {
    let Ok(db) = PayloadDb::discover() else {
        panic!("{:?}", PayloadDb::discover());
    };
    if db.source() == &Source::Builtin {
        return; // no nmap here: the built-in table is tested on its own
    }
    assert!(db.len() >= 40, "{}", db.describe());
    let found: std::collections::BTreeSet<_> = db
        .entries()
        .iter()
        .filter_map(|p| p.field.map(|f| f.protocol()))
        .collect();
    use field::Protocol::*;
    for p in [Dns, Snmp, Ntp, Rpc, Ike] {
        assert!(found.contains(&p), "{p:?} not found in {}", db.describe());
    }
    assert!(db.for_port(53).count() >= 1);
    assert!(db.for_port(161).all(|p| p.field.is_some()));
}

fn flag(s: &str) -> user::UserPayload {
    user::parse_flag(s).unwrap()
}

#[test]
fn user_entries_replace_or_add() {
    let mut db = PayloadDb::builtin();
    let before_161: Vec<Box<[u8]>> = db.for_port(161).map(|p| p.data.clone()).collect();
    assert_eq!(before_161.len(), 3);
    db.apply(vec![
        flag("53:000010000000000000000000"),
        flag("+161:3000"),
        flag("53,9999:"),
        flag("1812:01"),
    ]);
    // 53: replaced, the user's two entries in their order.
    let p53: Vec<&Payload> = db.for_port(53).collect();
    assert_eq!(p53.len(), 2);
    assert_eq!(p53[0].data.len(), 12);
    assert!(p53[1].data.is_empty());
    // 161: the database's three, then the user's.
    let p161: Vec<Box<[u8]>> = db.for_port(161).map(|p| p.data.clone()).collect();
    assert_eq!(&p161[..3], &before_161[..]);
    assert_eq!(&*p161[3], &[0x30, 0]);
    // 1812 replaced, 1645 (the same built-in entry) kept.
    assert_eq!(db.for_port(1812).count(), 1);
    assert_eq!(
        db.for_port(1645)
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["radius"]
    );
    assert_eq!(db.for_port(9999).count(), 1);
    assert_eq!(db.for_port(4).count(), 0);
    assert_eq!(
        db.describe(),
        format!(
            "UDP payloads: synscan's built-in table, {} entries, 4 of them from --udp-payload/--udp-payload-file",
            builtin::payloads().len() - 1 + 4
        )
    );
}

#[test]
fn path_mtu_check() {
    let mut db = PayloadDb::builtin();
    db.apply(vec![flag(&format!("9999:{}", "00".repeat(1473)))]);
    let ports = PortSet::from_ranges([(53, 53), (9999, 9999)]);
    assert_eq!(max_payload(1500, false), 1472);
    assert_eq!(max_payload(1500, true), 1452);
    assert_eq!(max_payload(20, false), 0);
    let e = db
        .check_fits(&ports, max_payload(1500, false), 1500)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the UDP payload for port 9999 (--udp-payload) is 1473 bytes, more than the 1472 a 1500-byte path MTU leaves after the IP and UDP headers: shorten it or leave the port out"
    );
    // Not scanned, not refused.
    assert!(db
        .check_fits(&PortSet::from_ranges([(53, 53)]), 1472, 1500)
        .is_ok());
    assert!(db.check_fits(&ports, 1473, 1501).is_ok());
}

#[test]
fn removing_ranges() {
    let s = PortSet::from_ranges([(1, 10), (20, 30), (65535, 65535)]);
    assert_eq!(remove_range(&s, 5, 25).to_spec(), "1-4,26-30,65535");
    assert_eq!(remove_range(&s, 0, 65535).to_spec(), "");
    assert_eq!(remove_range(&s, 65535, 65535).to_spec(), "1-10,20-30");
    assert_eq!(remove_range(&s, 11, 19), s);
}
