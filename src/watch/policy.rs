//! The exposure policy: a small TOML file a person writes and reviews.
//!
//! ```toml
//! default_rule = "SEC-0: nothing is exposed unless a rule allows it"   # optional
//! cert_expires_within = "30d"     # -sV results (see policy_services); before any [table]
//! tls_min_version = "1.2"
//! forbid_products = ["vsftpd 2.3.4"]
//!
//! [[allow]]                       # these blocks may expose these ports
//! name = "WEB-12: public web servers"
//! hosts = ["198.19.0.0/24", "2001:2::/64"]
//! ports = [80, 443, "8000-8100"]
//!
//! [[never]]                       # never open anywhere, whatever allows it
//! name = "SEC-1: no telnet or RDP"
//! ports = [23, 3389]
//!
//! [max_open_per_host]             # optional
//! name = "SEC-7: at most 10 open ports a host"
//! limit = 10
//! ```
//!
//! Every open pair that no `allow` rule covers breaks the default rule; one a `never` rule
//! names breaks that rule even when an `allow` rule covers it. Rules apply to every
//! protocol. A host with more open ports than the limit breaks the host rule once.

use crate::error::ScanError;
use crate::watch::diff::Pair;
use crate::watch::policy_services::{self, ServiceRules};
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use toml::Spanned;

/// The rule an open pair breaks when no allow rule covers it and the file names none.
pub const DEFAULT_RULE: &str = "default: no [[allow]] rule covers this port";

/// A parsed, checked policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<AllowRule>,
    never: Vec<PortRule>,
    max_open: Option<MaxRule>,
    default_rule: String,
    services: ServiceRules,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowRule {
    name: String,
    hosts: Vec<IpNet>,
    ports: Vec<(u16, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PortRule {
    name: String,
    ports: Vec<(u16, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct MaxRule {
    name: String,
    limit: u64,
}

/// An open pair that breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The pair.
    pub pair: Pair,
    /// The name of the rule it breaks.
    pub rule: String,
}

/// A host with more open ports than the policy's limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostExcess {
    /// The host.
    pub ip: IpAddr,
    /// Its open ports.
    pub open: u64,
    /// The limit.
    pub limit: u64,
    /// The name of the rule.
    pub rule: String,
}

/// What a policy finds in a set of open pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Pairs that break a rule, sorted.
    pub pairs: Vec<Violation>,
    /// Hosts over the open-port limit, sorted.
    pub hosts: Vec<HostExcess>,
}

impl Findings {
    /// Number of violations (pairs and hosts).
    pub fn count(&self) -> usize {
        self.pairs.len() + self.hosts.len()
    }

    /// One line per violation.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for v in &self.pairs {
            s.push_str(&format!(
                "policy violation: {} port {}/{} is open; breaks \"{}\"\n",
                v.pair.ip,
                v.pair.port,
                v.pair.proto.as_str(),
                v.rule
            ));
        }
        for h in &self.hosts {
            s.push_str(&format!(
                "policy violation: {} has {} open ports, more than {}; breaks \"{}\"\n",
                h.ip, h.open, h.limit, h.rule
            ));
        }
        s
    }

    /// One NDJSON object per violation.
    pub fn json_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in &self.pairs {
            out.push(
                serde_json::json!({
                    "type": "policy",
                    "ip": v.pair.ip.to_string(),
                    "port": v.pair.port,
                    "proto": v.pair.proto.as_str(),
                    "state": "open",
                    "policy": "violation",
                    "rule": v.rule,
                })
                .to_string(),
            );
        }
        for h in &self.hosts {
            out.push(
                serde_json::json!({
                    "type": "policy",
                    "ip": h.ip.to_string(),
                    "open_ports": h.open,
                    "limit": h.limit,
                    "policy": "violation",
                    "rule": h.rule,
                })
                .to_string(),
            );
        }
        out
    }
}

impl Policy {
    /// Reads and checks a policy file (refusing planted, huge or non-regular files, and
    /// any another user could have changed: `Trust::Strict`); returns the file's identity
    /// too, to tell it from the run's outputs.
    pub fn read(path: &Path) -> Result<(Policy, crate::sys::fs::Identity), ScanError> {
        use crate::watch::input;
        let trust = crate::sys::fs::Trust::Strict;
        let contents = input::read(path, "policy", trust, input::MAX_POLICY_BYTES)?;
        let bytes = contents.bytes;
        let name = path.display().to_string();
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            ScanError::usage(format!(
                "{name}: not UTF-8 text (byte {}); a policy is a TOML text file",
                e.valid_up_to()
            ))
        })?;
        Policy::parse(&name, text).map(|p| (p, contents.id))
    }

    /// Parses policy text; errors name `file`, the line and what was expected.
    pub fn parse(file: &str, text: &str) -> Result<Policy, ScanError> {
        let at = |span: std::ops::Range<usize>, what: String| {
            ScanError::usage(format!("{file} line {}: {what}", line_of(text, span.start)))
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => at(span, e.message().trim().to_string()),
            None => ScanError::usage(format!("{file}: {}", e.message().trim())),
        })?;
        let mut allow = Vec::new();
        for a in raw.allow {
            let a_span = a.name.span();
            let name = rule_name(file, text, a.name)?;
            if a.hosts.is_empty() {
                return Err(at(a_span, format!("rule \"{name}\": `hosts` is empty; expected CIDR blocks such as [\"198.19.0.0/24\"]")));
            }
            let mut hosts = Vec::new();
            for h in a.hosts {
                let span = h.span();
                let s = h.into_inner();
                hosts.push(parse_block(s.trim()).ok_or_else(|| {
                    at(span, format!("\"{s}\" is not an address or CIDR block; expected e.g. \"198.19.0.0/24\" or \"2001:2::/64\""))
                })?);
            }
            allow.push(AllowRule {
                name,
                hosts,
                ports: parse_ports(text, file, a.ports)?,
            });
        }
        let mut never = Vec::new();
        for n in raw.never {
            never.push(PortRule {
                name: rule_name(file, text, n.name)?,
                ports: parse_ports(text, file, n.ports)?,
            });
        }
        let max_open = match raw.max_open_per_host {
            None => None,
            Some(m) => {
                let name = rule_name(file, text, m.name)?;
                let span = m.limit.span();
                let limit = *m.limit.get_ref();
                let limit = u64::try_from(limit).map_err(|_| {
                    at(
                        span,
                        format!("limit {limit} is negative; expected a number of ports, 0 or more"),
                    )
                })?;
                Some(MaxRule { name, limit })
            }
        };
        let default_rule = match raw.default_rule {
            Some(r) => rule_name(file, text, r)?,
            None => DEFAULT_RULE.to_string(),
        };
        let mut services = ServiceRules::default();
        if let Some(d) = raw.cert_expires_within {
            let span = d.span();
            let s = d.into_inner();
            let secs = policy_services::parse_duration(&s).ok_or_else(|| {
                at(span, format!("cert_expires_within \"{s}\" is not a duration; expected a number and s, m, h, d or w, such as \"30d\""))
            })?;
            services.cert_expires_within = Some((s, secs));
        }
        if let Some(v) = raw.tls_min_version {
            let span = v.span();
            let s = v.into_inner();
            let min = policy_services::parse_tls_version(&s).ok_or_else(|| {
                at(span, format!("tls_min_version \"{s}\" is not a TLS version; expected \"1.0\", \"1.1\", \"1.2\" or \"1.3\""))
            })?;
            services.tls_min_version = Some((s, min));
        }
        for p in raw.forbid_products {
            let span = p.span();
            let s = p.into_inner();
            if s.trim().is_empty() || s.chars().any(char::is_control) {
                return Err(at(span, "a forbid_products entry is empty or holds a control character; expected a product, or a product and version such as \"vsftpd 2.3.4\"".to_string()));
            }
            services.forbid_products.push(s.trim().to_string());
        }
        Ok(Policy {
            allow,
            never,
            max_open,
            default_rule,
            services,
        })
    }

    /// The rule an open pair breaks, if any.
    pub fn judge(&self, ip: IpAddr, port: u16) -> Option<&str> {
        if let Some(n) = self.never.iter().find(|n| in_ranges(&n.ports, port)) {
            return Some(&n.name);
        }
        let allowed = self
            .allow
            .iter()
            .any(|a| in_ranges(&a.ports, port) && a.hosts.iter().any(|h| h.contains(&ip)));
        if allowed {
            None
        } else {
            Some(&self.default_rule)
        }
    }

    /// The rules on what runs behind open ports (-sV results).
    pub fn services(&self) -> &ServiceRules {
        &self.services
    }

    /// The open-port limit per host and its rule name.
    pub fn max_open(&self) -> Option<(u64, &str)> {
        self.max_open.as_ref().map(|m| (m.limit, m.name.as_str()))
    }

    /// Applies the policy to a set of open pairs.
    pub fn evaluate<'a>(&self, open: impl IntoIterator<Item = &'a Pair>) -> Findings {
        let mut f = Findings::default();
        let mut per_host: BTreeMap<IpAddr, u64> = BTreeMap::new();
        for p in open {
            *per_host.entry(p.ip).or_default() += 1;
            if let Some(rule) = self.judge(p.ip, p.port) {
                f.pairs.push(Violation {
                    pair: *p,
                    rule: rule.to_string(),
                });
            }
        }
        if let Some((limit, rule)) = self.max_open() {
            for (ip, open) in per_host {
                if open > limit {
                    f.hosts.push(HostExcess {
                        ip,
                        open,
                        limit,
                        rule: rule.to_string(),
                    });
                }
            }
        }
        f.pairs.sort_by_key(|v| v.pair);
        f
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    default_rule: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<RawAllow>,
    #[serde(default)]
    never: Vec<RawNever>,
    max_open_per_host: Option<RawMax>,
    cert_expires_within: Option<Spanned<String>>,
    tls_min_version: Option<Spanned<String>>,
    #[serde(default)]
    forbid_products: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    name: Spanned<String>,
    hosts: Vec<Spanned<String>>,
    ports: Spanned<Vec<Spanned<toml::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNever {
    name: Spanned<String>,
    ports: Spanned<Vec<Spanned<toml::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMax {
    name: Spanned<String>,
    limit: Spanned<i64>,
}

impl crate::output::PortRules for Policy {
    fn judge(&self, ip: IpAddr, port: u16) -> Option<&str> {
        Policy::judge(self, ip, port)
    }

    fn max_open(&self) -> Option<(u64, &str)> {
        Policy::max_open(self)
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn rule_name(file: &str, text: &str, name: Spanned<String>) -> Result<String, ScanError> {
    let span = name.span();
    let s = name.into_inner();
    let s = s.trim();
    if s.is_empty() {
        return Err(ScanError::usage(format!(
            "{file} line {}: empty rule name; expected a name or ticket such as \"SEC-1: no telnet\"",
            line_of(text, span.start)
        )));
    }
    Ok(s.to_string())
}

fn parse_block(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

fn parse_ports(
    text: &str,
    file: &str,
    ports: Spanned<Vec<Spanned<toml::Value>>>,
) -> Result<Vec<(u16, u16)>, ScanError> {
    let at = |start: usize, what: String| {
        ScanError::usage(format!("{file} line {}: {what}", line_of(text, start)))
    };
    let list_span = ports.span();
    let items = ports.into_inner();
    if items.is_empty() {
        return Err(at(
            list_span.start,
            "`ports` is empty; expected ports such as [22, 443, \"8000-8100\"]".to_string(),
        ));
    }
    let mut out = Vec::new();
    for item in items {
        let span = item.span();
        let bad = |v: &dyn std::fmt::Display| {
            at(
                span.start,
                format!(
                    "{v} is not a port or range; expected a number 0-65535 or a string \"A-B\""
                ),
            )
        };
        let range = match item.get_ref() {
            toml::Value::Integer(n) => {
                let p = u16::try_from(*n).map_err(|_| bad(n))?;
                (p, p)
            }
            toml::Value::String(s) => parse_range(s).ok_or_else(|| bad(&format!("\"{s}\"")))?,
            v => return Err(bad(&format!("a {}", v.type_str()))),
        };
        out.push(range);
    }
    Ok(out)
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let p = s.parse().ok()?;
            (p, p)
        }
    };
    (a <= b).then_some((a, b))
}

fn in_ranges(ranges: &[(u16, u16)], port: u16) -> bool {
    ranges.iter().any(|(a, b)| (*a..=*b).contains(&port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Protocol;

    const GOOD: &str = r#"
[[allow]]
name = "WEB-12: web"
hosts = ["198.19.0.0/24", "2001:2::/64"]
ports = [80, 443, "8000-8100"]

[[allow]]
name = "SSH-3: bastion"
hosts = ["198.19.1.5"]
ports = [22, 23]

[[never]]
name = "SEC-1: no telnet"
ports = [23]

[max_open_per_host]
name = "SEC-7: two a host"
limit = 2
"#;

    fn pair(ip: &str, port: u16) -> Pair {
        Pair {
            ip: ip.parse().unwrap(),
            proto: Protocol::Tcp,
            port,
        }
    }

    #[test]
    fn judges_pairs_by_block_port_and_never_rules() {
        let p = Policy::parse("p.toml", GOOD).unwrap();
        assert_eq!(p.judge("198.19.0.7".parse().unwrap(), 443), None);
        assert_eq!(p.judge("198.19.0.7".parse().unwrap(), 8050), None);
        assert_eq!(p.judge("2001:2::9".parse().unwrap(), 80), None);
        assert_eq!(p.judge("198.19.1.5".parse().unwrap(), 22), None);
        assert_eq!(
            p.judge("198.19.1.5".parse().unwrap(), 23),
            Some("SEC-1: no telnet")
        );
        assert_eq!(
            p.judge("198.19.1.6".parse().unwrap(), 22),
            Some(DEFAULT_RULE)
        );
        assert_eq!(
            p.judge("198.19.0.7".parse().unwrap(), 8101),
            Some(DEFAULT_RULE)
        );
    }

    #[test]
    fn evaluates_pairs_and_the_host_limit() {
        let p = Policy::parse("p.toml", GOOD).unwrap();
        let open = [
            pair("198.19.0.1", 80),
            pair("198.19.0.1", 443),
            pair("198.19.0.1", 8000),
            pair("198.19.0.2", 22),
        ];
        let f = p.evaluate(open.iter());
        assert_eq!(
            f.pairs,
            vec![Violation {
                pair: pair("198.19.0.2", 22),
                rule: DEFAULT_RULE.to_string()
            }]
        );
        assert_eq!(
            f.hosts,
            vec![HostExcess {
                ip: "198.19.0.1".parse().unwrap(),
                open: 3,
                limit: 2,
                rule: "SEC-7: two a host".to_string()
            }]
        );
        assert_eq!(f.count(), 2);
        assert_eq!(
            f.render_text(),
            format!("policy violation: 198.19.0.2 port 22/tcp is open; breaks \"{DEFAULT_RULE}\"\npolicy violation: 198.19.0.1 has 3 open ports, more than 2; breaks \"SEC-7: two a host\"\n")
        );
    }

    #[test]
    fn errors_name_the_file_line_and_what_was_expected() {
        let cases = [
            (
                "[[allow]]\nname = \"a\"\nhosts = [\"10.0.0.0/33\"]\nports = [1]\n",
                "p.toml line 3: \"10.0.0.0/33\" is not an address or CIDR block",
            ),
            (
                "[[allow]]\nname = \"a\"\nhosts = [\"10.0.0.0/8\"]\nports = [1,\n 70000]\n",
                "p.toml line 5: 70000 is not a port or range",
            ),
            (
                "[[never]]\nname = \"a\"\nports = [\"9-3\"]\n",
                "p.toml line 3: \"9-3\" is not a port or range",
            ),
            (
                "[[never]]\nname = \"a\"\nport = [3]\n",
                "p.toml line 3: unknown field `port`",
            ),
            (
                "[[never]]\nname = \"\"\nports = [3]\n",
                "p.toml line 2: empty rule name",
            ),
            ("\n\n[[never]\n", "p.toml line 3:"),
            (
                "[max_open_per_host]\nname = \"m\"\nlimit = -1\n",
                "p.toml line 3: limit -1 is negative",
            ),
            (
                "[[allow]]\nname = \"a\"\nhosts = []\nports = [1]\n",
                "p.toml line 2: rule \"a\": `hosts` is empty",
            ),
            ("[[never]]\nname = \"a\"\n", "missing field `ports`"),
        ];
        for (text, want) in cases {
            let e = Policy::parse("p.toml", text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: got {e}");
        }
    }

    #[test]
    fn an_empty_policy_allows_nothing() {
        let p = Policy::parse("p.toml", "").unwrap();
        assert_eq!(p.judge("10.0.0.1".parse().unwrap(), 80), Some(DEFAULT_RULE));
        let p = Policy::parse("p.toml", "default_rule = \"SEC-0\"\n").unwrap();
        assert_eq!(p.judge("10.0.0.1".parse().unwrap(), 80), Some("SEC-0"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(s in ".{0,200}") {
            let _ = Policy::parse("p.toml", &s);
        }
    }
}
