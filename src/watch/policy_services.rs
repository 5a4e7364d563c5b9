//! The policy's rules on what runs behind open ports (-sV results): certificates that
//! expire soon, TLS below a version, forbidden products.
//!
//! ```toml
//! cert_expires_within = "30d"          # a leaf certificate ending within 30 days (or ended)
//! tls_min_version = "1.2"              # a handshake that settled below TLS 1.2
//! forbid_products = ["vsftpd 2.3.4"]   # a product, or a product and its version
//! ```

use crate::results::services::Identity;
use crate::watch::diff::Pair;

/// The service rules of a policy (each absent unless the file sets it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRules {
    /// `cert_expires_within`: the text as written, and its seconds.
    pub cert_expires_within: Option<(String, u64)>,
    /// `tls_min_version`: the text as written, and (major, minor).
    pub tls_min_version: Option<(String, (u8, u8))>,
    /// `forbid_products`, as written.
    pub forbid_products: Vec<String>,
}

/// A port whose identification breaks a service rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceViolation {
    /// The pair.
    pub pair: Pair,
    /// The rule, as the policy file writes it (`tls_min_version = "1.2"`).
    pub rule: String,
    /// What breaks it (`speaks TLSv1`).
    pub what: String,
}

/// A duration as a policy writes it: a whole number and a unit, `s`, `m`, `h`, `d` or `w`
/// (`"30d"`); its seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// A TLS version as a policy writes it (`"1.2"`, `"1.0"`, `"1"`): (major, minor).
pub fn parse_tls_version(s: &str) -> Option<(u8, u8)> {
    let (major, minor) = s.trim().split_once('.').unwrap_or((s.trim(), "0"));
    let v = (major.parse().ok()?, minor.parse().ok()?);
    (v.0 == 1 && v.1 <= 3).then_some(v)
}

/// The version a handshake settled on, from its openssl name (`TLSv1.2`, `TLSv1`; SSL
/// versions as 0.x, below every TLS).
pub fn negotiated(name: &str) -> Option<(u8, u8)> {
    if let Some(v) = name.strip_prefix("TLSv") {
        let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
        return Some((major.parse().ok()?, minor.parse().ok()?));
    }
    let ssl: u8 = name.strip_prefix("SSLv")?.parse().ok()?;
    Some((0, ssl))
}

/// `YYYY-MM-DD` of a Unix time.
fn date(unix: i64) -> String {
    let (y, m, d) = crate::model::civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

impl ServiceRules {
    /// Whether the policy has any service rule.
    pub fn is_empty(&self) -> bool {
        self.cert_expires_within.is_none()
            && self.tls_min_version.is_none()
            && self.forbid_products.is_empty()
    }

    /// The rule a product (and version) breaks: a `forbid_products` entry equal to the
    /// product, or to "product version" (case does not matter).
    fn forbidden(&self, i: &Identity) -> Option<&str> {
        let product = i.product.as_deref()?;
        let full = match &i.version {
            Some(v) => format!("{product} {v}"),
            None => product.to_string(),
        };
        self.forbid_products
            .iter()
            .find(|f| f.eq_ignore_ascii_case(product) || f.eq_ignore_ascii_case(&full))
            .map(String::as_str)
    }

    /// Every rule each identification breaks at Unix time `now`, sorted by pair.
    pub fn judge(&self, ids: &[Identity], now: i64) -> Vec<ServiceViolation> {
        let mut latest = std::collections::BTreeMap::new();
        for i in ids {
            latest.insert(
                Pair {
                    ip: i.ip,
                    proto: i.proto,
                    port: i.port,
                },
                i,
            );
        }
        let mut out = Vec::new();
        for (pair, i) in latest {
            let mut push =
                |rule: String, what: String| out.push(ServiceViolation { pair, rule, what });
            if let (Some((text, secs)), Some(end)) = (&self.cert_expires_within, i.not_after) {
                let limit = now.saturating_add(i64::try_from(*secs).unwrap_or(i64::MAX));
                if end <= limit {
                    let when = if end <= now { "expired" } else { "expires" };
                    push(
                        format!("cert_expires_within = \"{text}\""),
                        format!("certificate {when} {}", date(end)),
                    );
                }
            }
            if let (Some((text, min)), Some(v)) = (&self.tls_min_version, &i.tls_version) {
                if negotiated(v).is_some_and(|n| n < *min) {
                    push(
                        format!("tls_min_version = \"{text}\""),
                        format!("speaks {v}"),
                    );
                }
            }
            if let Some(f) = self.forbidden(i) {
                let what = match &i.version {
                    Some(v) => format!("runs {} {v}", i.product.as_deref().unwrap_or("")),
                    None => format!("runs {}", i.product.as_deref().unwrap_or("")),
                };
                push(format!("forbid_products = [\"{f}\"]"), what);
            }
        }
        out
    }
}

/// One line per violation.
pub fn render_text(v: &[ServiceViolation]) -> String {
    v.iter()
        .map(|v| {
            format!(
                "policy violation: {} port {}/{} {}; breaks {}\n",
                v.pair.ip,
                v.pair.port,
                v.pair.proto.as_str(),
                v.what,
                v.rule
            )
        })
        .collect()
}

/// One NDJSON object per violation.
pub fn json_lines(v: &[ServiceViolation]) -> Vec<String> {
    v.iter()
        .map(|v| {
            serde_json::json!({
                "type": "policy",
                "ip": v.pair.ip.to_string(),
                "port": v.pair.port,
                "proto": v.pair.proto.as_str(),
                "policy": "violation",
                "rule": v.rule,
                "what": v.what,
            })
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Protocol;

    fn id(port: u16, product: &str, version: &str) -> Identity {
        Identity {
            ip: "198.19.0.4".parse().unwrap(),
            proto: Protocol::Tcp,
            port,
            name: Some("ftp".into()),
            product: Some(product.into()),
            version: (!version.is_empty()).then(|| version.to_string()),
            cert: None,
            not_after: None,
            tls_version: None,
        }
    }

    fn rules() -> ServiceRules {
        ServiceRules {
            cert_expires_within: Some(("30d".into(), 30 * 86_400)),
            tls_min_version: Some(("1.2".into(), (1, 2))),
            forbid_products: vec!["vsftpd 2.3.4".into(), "Telnetd".into()],
        }
    }

    #[test]
    fn the_issues_three_keys() {
        let now = 1_800_000_000; // 2027-01-15
        let mut soon = id(443, "nginx", "");
        soon.not_after = Some(now + 29 * 86_400);
        soon.tls_version = Some("TLSv1".into());
        let mut later = id(8443, "nginx", "");
        later.not_after = Some(now + 31 * 86_400);
        later.tls_version = Some("TLSv1.3".into());
        let mut gone = id(9443, "nginx", "");
        gone.not_after = Some(now - 1);
        let ids = [
            id(21, "vsftpd", "2.3.4"),
            id(2121, "vsftpd", "3.0.3"),
            id(23, "telnetd", ""),
            soon,
            later,
            gone,
        ];
        let text = render_text(&rules().judge(&ids, now));
        assert_eq!(
            text,
            "policy violation: 198.19.0.4 port 21/tcp runs vsftpd 2.3.4; breaks forbid_products = [\"vsftpd 2.3.4\"]\n\
             policy violation: 198.19.0.4 port 23/tcp runs telnetd; breaks forbid_products = [\"Telnetd\"]\n\
             policy violation: 198.19.0.4 port 443/tcp certificate expires 2027-02-13; breaks cert_expires_within = \"30d\"\n\
             policy violation: 198.19.0.4 port 443/tcp speaks TLSv1; breaks tls_min_version = \"1.2\"\n\
             policy violation: 198.19.0.4 port 9443/tcp certificate expired 2027-01-15; breaks cert_expires_within = \"30d\"\n"
        );
    }

    #[test]
    fn a_policy_file_sets_them_and_bad_values_name_their_line() {
        use crate::watch::policy::Policy;
        let text = "cert_expires_within = \"30d\"\ntls_min_version = \"1.2\"\nforbid_products = [\"vsftpd 2.3.4\", \"Telnetd\"]\n";
        let p = Policy::parse("p.toml", text).unwrap();
        assert_eq!(p.services(), &rules());
        let bad = |t: &str| Policy::parse("p.toml", t).unwrap_err().to_string();
        assert!(
            bad("default_rule = \"x\"\ncert_expires_within = \"soon\"\n")
                .starts_with("p.toml line 2: cert_expires_within \"soon\" is not a duration"),
            "{}",
            bad("cert_expires_within = \"soon\"")
        );
        assert!(bad("tls_min_version = \"1.4\"").contains("is not a TLS version"));
        assert!(bad("forbid_products = [\"\"]").contains("is empty"));
        assert!(Policy::parse("p.toml", "").unwrap().services().is_empty());
    }

    #[test]
    fn durations_and_versions_as_a_policy_writes_them() {
        assert_eq!(parse_duration("30d"), Some(2_592_000));
        assert_eq!(parse_duration("12h"), Some(43_200));
        assert_eq!(parse_duration("2w"), Some(1_209_600));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("99999999999999999999w"), None);
        assert_eq!(parse_tls_version("1.2"), Some((1, 2)));
        assert_eq!(parse_tls_version("1"), Some((1, 0)));
        assert_eq!(parse_tls_version("1.4"), None);
        assert_eq!(parse_tls_version("TLSv1.2"), None);
        assert_eq!(negotiated("TLSv1"), Some((1, 0)));
        assert_eq!(negotiated("TLSv1.3"), Some((1, 3)));
        assert_eq!(negotiated("SSLv3"), Some((0, 3)));
        assert!(negotiated("SSLv3") < Some((1, 0)));
    }
}
