//! Changes of what runs behind a port between two -sV result files: a port identified in
//! both whose service, product, version or certificate fingerprint differs
//! (`22/tcp ssh OpenSSH 9.2p1 -> 9.6p1`). A port identified in only one file is no change
//! here (its openness is [`super::diff`]'s business).

use super::diff::Pair;
use crate::results::services::Identity;
use std::collections::HashMap;
use std::fmt::Write as _;

/// A port whose identification changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionChange {
    /// The pair.
    pub pair: Pair,
    /// Its identification in the old results.
    pub was: Identity,
    /// Its identification in the new results.
    pub now: Identity,
}

fn pair(i: &Identity) -> Pair {
    Pair {
        ip: i.ip,
        proto: i.proto,
        port: i.port,
    }
}

/// The latest identification of each pair (a later one wins, as in a resumed file).
fn latest(ids: &[Identity]) -> HashMap<Pair, &Identity> {
    ids.iter().map(|i| (pair(i), i)).collect()
}

/// Whether two fingerprints are of one algorithm and differ (an -oJ file has SHA-256, an
/// -oX file SHA-1: those cannot be compared).
fn cert_differs(was: Option<&str>, now: Option<&str>) -> bool {
    match (was, now) {
        (Some(a), Some(b)) => {
            let algo = |s: &str| s.split(':').next().unwrap_or("").to_string();
            algo(a) == algo(b) && a != b
        }
        _ => false,
    }
}

/// Whether the identification changed: service, product or version, or the certificate.
fn differs(was: &Identity, now: &Identity) -> bool {
    (&was.name, &was.product, &was.version) != (&now.name, &now.product, &now.version)
        || cert_differs(was.cert.as_deref(), now.cert.as_deref())
}

/// Every change from `old` to `new`, sorted by address, protocol and port.
pub fn changes(old: &[Identity], new: &[Identity]) -> Vec<VersionChange> {
    let old = latest(old);
    let mut out: Vec<VersionChange> = latest(new)
        .into_iter()
        .filter_map(|(p, now)| {
            let was = old.get(&p)?;
            differs(was, now).then(|| VersionChange {
                pair: p,
                was: (*was).clone(),
                now: now.clone(),
            })
        })
        .collect();
    out.sort_by_key(|c| c.pair);
    out
}

/// "product version" of an identification ("?" when it has neither).
fn product_version(i: &Identity) -> String {
    let words: Vec<&str> = [&i.product, &i.version]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if words.is_empty() {
        "?".to_string()
    } else {
        words.join(" ")
    }
}

/// One change as a line: `22/tcp ssh OpenSSH 9.2p1 -> 9.6p1` (the product repeated on the
/// right only when it changed), or `443/tcp https certificate sha256:.. -> sha256:..`.
pub fn line(c: &VersionChange) -> String {
    let name = |i: &Identity| i.name.clone().unwrap_or_else(|| "unknown".into());
    let mut s = format!("{}/{} ", c.pair.port, c.pair.proto.as_str());
    if c.was.name == c.now.name {
        s.push_str(&name(&c.now));
    } else {
        let _ = write!(s, "{} -> {}", name(&c.was), name(&c.now));
    }
    if (&c.was.product, &c.was.version) != (&c.now.product, &c.now.version) {
        let right = if c.was.product == c.now.product && c.now.version.is_some() {
            c.now.version.clone().unwrap_or_default()
        } else {
            product_version(&c.now)
        };
        let _ = write!(s, " {} -> {right}", product_version(&c.was));
    }
    if cert_differs(c.was.cert.as_deref(), c.now.cert.as_deref()) {
        let _ = write!(
            s,
            " certificate {} -> {}",
            c.was.cert.as_deref().unwrap_or(""),
            c.now.cert.as_deref().unwrap_or("")
        );
    }
    s
}

/// Text report: one line per change, grouped by host (changes must be sorted).
pub fn render_text(changes: &[VersionChange]) -> String {
    super::diff::grouped_by_host(changes, |c| c.pair.ip, line)
}

fn side(i: &Identity) -> serde_json::Value {
    serde_json::json!({
        "name": i.name,
        "product": i.product,
        "version": i.version,
        "cert": i.cert,
    })
}

/// One NDJSON object for a change.
pub fn json_line(c: &VersionChange) -> String {
    serde_json::json!({
        "type": "service_change",
        "ip": c.pair.ip.to_string(),
        "port": c.pair.port,
        "proto": c.pair.proto.as_str(),
        "was": side(&c.was),
        "now": side(&c.now),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Protocol;

    fn id(ip: &str, port: u16, name: &str, product: &str, version: &str) -> Identity {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Identity {
            ip: ip.parse().unwrap(),
            proto: Protocol::Tcp,
            port,
            name: opt(name),
            product: opt(product),
            version: opt(version),
            cert: None,
            not_after: None,
            tls_version: None,
        }
    }

    #[test]
    fn a_new_version_is_one_line_as_the_issue_shows_it() {
        let old = [
            id("198.19.0.2", 22, "ssh", "OpenSSH", "9.2p1"),
            id("198.19.0.2", 80, "http", "nginx", "1.22.1"),
            id("198.19.0.9", 21, "ftp", "vsftpd", "3.0.3"),
        ];
        let new = [
            id("198.19.0.2", 80, "http", "nginx", "1.22.1"),
            id("198.19.0.2", 22, "ssh", "OpenSSH", "9.6p1"),
            id("198.19.0.9", 21, "ftp", "ProFTPD", "1.3.8"),
            id("198.19.0.9", 25, "smtp", "Exim smtpd", "4.96"),
        ];
        let c = changes(&old, &new);
        assert_eq!(
            render_text(&c),
            "198.19.0.2\n  22/tcp ssh OpenSSH 9.2p1 -> 9.6p1\n198.19.0.9\n  21/tcp ftp vsftpd 3.0.3 -> ProFTPD 1.3.8\n"
        );
        assert_eq!(
            json_line(&c[0]),
            r#"{"ip":"198.19.0.2","now":{"cert":null,"name":"ssh","product":"OpenSSH","version":"9.6p1"},"port":22,"proto":"tcp","type":"service_change","was":{"cert":null,"name":"ssh","product":"OpenSSH","version":"9.2p1"}}"#
        );
    }

    #[test]
    fn a_new_certificate_is_a_change_when_the_fingerprints_compare() {
        let mut was = id("198.19.0.3", 443, "http", "nginx", "");
        let mut now = was.clone();
        was.cert = Some("sha256:aa".into());
        now.cert = Some("sha256:bb".into());
        let c = changes(std::slice::from_ref(&was), std::slice::from_ref(&now));
        assert_eq!(
            line(&c[0]),
            "443/tcp http certificate sha256:aa -> sha256:bb"
        );
        // SHA-1 (-oX) against SHA-256 (-oJ), or a side without one: nothing to compare.
        now.cert = Some("sha1:bb".into());
        assert!(changes(std::slice::from_ref(&was), std::slice::from_ref(&now)).is_empty());
        now.cert = None;
        assert!(changes(&[was], &[now]).is_empty());
    }

    #[test]
    fn a_renamed_service_and_a_later_record_of_a_port() {
        let old = [
            id("10.0.0.1", 8080, "http", "Jetty", "9.4"),
            id("10.0.0.1", 8080, "http-proxy", "Squid http proxy", "5.7"),
        ];
        let new = [id("10.0.0.1", 8080, "http", "Jetty", "9.4")];
        assert_eq!(
            render_text(&changes(&old, &new)),
            "10.0.0.1\n  8080/tcp http-proxy -> http Squid http proxy 5.7 -> Jetty 9.4\n"
        );
    }
}
