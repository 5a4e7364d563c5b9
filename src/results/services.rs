//! What a result file says runs behind its ports (-sV): service name, product, version and
//! the certificate's fingerprint, the facts `synscan diff` reports changes of. Read from
//! -oJ `{"type":"service",...}` lines and from -oX `<service method="probed">` and
//! `<script id="ssl-cert">` elements. A file is attacker input: every string read is kept
//! to one line of printable characters, and bounded.

use super::Protocol;
use std::net::IpAddr;

/// The longest string kept of one field (nmap's own fields are far shorter).
const FIELD_CAP: usize = 256;

/// One port's identification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Target address.
    pub ip: IpAddr,
    /// Protocol.
    pub proto: Protocol,
    /// Port.
    pub port: u16,
    /// Service name (`ssh`, `http`).
    pub name: Option<String>,
    /// Product (`OpenSSH`).
    pub product: Option<String>,
    /// Version (`9.2p1 Debian 2+deb12u10`).
    pub version: Option<String>,
    /// The leaf certificate's fingerprint as `ALGORITHM:lowercase hex`: `sha256` from -oJ,
    /// `sha1` from -oX's ssl-cert script (which has no SHA-256).
    pub cert: Option<String>,
    /// The leaf certificate's end of validity, Unix seconds.
    pub not_after: Option<i64>,
    /// The TLS version the handshake settled on, as openssl names it (-oJ only).
    pub tls_version: Option<String>,
}

/// A field as it may be shown: control characters as `\xNN` (what synscan wrote is already
/// escaped; anything else in the file is not trusted), at most [`FIELD_CAP`] bytes, and
/// None when empty.
pub fn field(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= FIELD_CAP {
            break;
        }
        if c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A fingerprint as `algorithm:hex` when `hex` is only hex digits (lowercased).
fn fingerprint(algorithm: &str, hex: &str) -> Option<String> {
    let hex = hex.trim();
    (!hex.is_empty() && hex.len() <= 128 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("{algorithm}:{}", hex.to_ascii_lowercase()))
}

/// The identification of one -oJ `{"type":"service",...}` object (None for other lines,
/// and for a port nothing was learned of by probing).
pub fn from_json(obj: &serde_json::Map<String, serde_json::Value>) -> Option<Identity> {
    if obj.get("type").and_then(|t| t.as_str()) != Some("service") {
        return None;
    }
    let ip = obj.get("ip")?.as_str()?.parse().ok()?;
    let port = u16::try_from(obj.get("port")?.as_u64()?).ok()?;
    let proto = match obj.get("proto").and_then(|p| p.as_str()) {
        Some(p) => Protocol::parse(p)?,
        None => Protocol::Tcp,
    };
    let service = obj.get("service")?.as_object()?;
    if service.get("method").and_then(|m| m.as_str()) != Some("probed") {
        return None;
    }
    let text = |k: &str| service.get(k).and_then(|v| v.as_str()).and_then(field);
    let tls = obj
        .get("tls")
        .filter(|t| t["status"] == "success")
        .map(|t| &t["result"]);
    let leaf = tls.map(|t| &t["certificates"][0]);
    let cert = leaf
        .and_then(|c| c["sha256"].as_str())
        .and_then(|h| fingerprint("sha256", h));
    Some(Identity {
        ip,
        proto,
        port,
        name: text("name"),
        product: text("product"),
        version: text("version"),
        cert,
        not_after: leaf.and_then(|c| c["not_after_unix"].as_i64()),
        tls_version: tls.and_then(|t| t["version"].as_str()).and_then(field),
    })
}

/// The end of validity in nmap's ssl-cert output (`Not valid after:  2027-01-06T19:57:33`,
/// UTC) as a Unix time.
pub fn ssl_cert_not_after(output: &str) -> Option<i64> {
    let v = output.lines().find_map(|l| {
        l.trim_start_matches(['|', '_', ' '])
            .strip_prefix("Not valid after:")
    })?;
    let (date, time) = v.trim().split_once('T')?;
    let num = |s: &str| s.parse::<u32>().ok();
    let mut d = date.split('-').map(num);
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.trim_end_matches('Z').split(':').map(num);
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    let valid = y <= 9999 && (1..=12).contains(&m) && (1..=31).contains(&day);
    if !valid || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = crate::model::days_from_civil(i64::from(y), m, day);
    Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + s))
}

/// The SHA-1 fingerprint in nmap's ssl-cert script output (`SHA-1: 5890 35ba ...` as nmap
/// writes it, or one run of hex as synscan does).
pub fn ssl_cert_sha1(output: &str) -> Option<String> {
    let line = output
        .lines()
        .find_map(|l| l.trim_start_matches(['|', '_', ' ']).strip_prefix("SHA-1:"))?;
    let hex: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    fingerprint("sha1", &hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(line: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_service_line_gives_its_identification_and_certificate() {
        let line = r#"{"type":"service","ip":"198.19.0.3","port":443,"proto":"tcp","service":{"status":"matched","name":"http","tunnel":"ssl","product":"nginx","version":"1.22.1","method":"probed","conf":10},"tls":{"status":"success","result":{"certificates":[{"sha256":"AB01ff"}]}},"elapsed_ms":3}"#;
        assert_eq!(
            from_json(&obj(line)),
            Some(Identity {
                ip: "198.19.0.3".parse().unwrap(),
                proto: Protocol::Tcp,
                port: 443,
                name: Some("http".into()),
                product: Some("nginx".into()),
                version: Some("1.22.1".into()),
                cert: Some("sha256:ab01ff".into()),
                not_after: None,
                tls_version: None,
            })
        );
    }

    #[test]
    fn table_guesses_and_other_lines_identify_nothing() {
        let unknown = r#"{"type":"service","ip":"198.19.0.3","port":21,"service":{"status":"unknown","method":"table","conf":3}}"#;
        assert_eq!(from_json(&obj(unknown)), None);
        assert_eq!(from_json(&obj(r#"{"type":"summary"}"#)), None);
        let port = r#"{"ip":"198.19.0.3","port":21,"state":"open"}"#;
        assert_eq!(from_json(&obj(port)), None);
    }

    #[test]
    fn hostile_fields_stay_one_printable_bounded_line() {
        assert_eq!(field("a\u{1b}[2J\nb").as_deref(), Some("a\\x1b[2J\\x0ab"));
        assert_eq!(field("\\x1b kept").as_deref(), Some("\\x1b kept"));
        assert_eq!(field(""), None);
        assert_eq!(field(&"x".repeat(10_000)).unwrap().len(), FIELD_CAP);
        assert_eq!(fingerprint("sha256", "not hex"), None);
    }

    #[test]
    fn the_sha1_of_nmaps_and_our_ssl_cert_output() {
        let nmap = "Subject: commonName=a\nMD5:   1b75 6de8\nSHA-1: 5890 35BA 83\n";
        assert_eq!(ssl_cert_sha1(nmap).as_deref(), Some("sha1:589035ba83"));
        let ours = "| Issuer: x\n|_SHA-1: 589035ba83";
        assert_eq!(ssl_cert_sha1(ours).as_deref(), Some("sha1:589035ba83"));
        assert_eq!(ssl_cert_sha1("Subject: x"), None);
    }

    #[test]
    fn the_end_of_validity_of_ssl_cert_output() {
        let out = "Not valid before: 2026-12-07T19:57:33\nNot valid after:  2027-01-06T19:57:33";
        assert_eq!(ssl_cert_not_after(out), Some(1_799_265_453));
        assert_eq!(
            ssl_cert_not_after("Not valid after:  99999-01-01T00:00:00"),
            None
        );
        assert_eq!(
            ssl_cert_not_after("Not valid after:  2027-13-01T00:00:00"),
            None
        );
        assert_eq!(ssl_cert_not_after("Not valid after: soon"), None);
    }
}
