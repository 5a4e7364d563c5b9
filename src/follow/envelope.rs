//! One result envelope per followed-up port, the same shape for every follow-up (as zgrab2's
//! modules share one): the service identification always, TLS and HTTP when they ran, each
//! with its own status. Serialisable for -oJ; every string in it is escaped already.

use std::net::IpAddr;

use super::http::HttpInfo;
use super::probes::MatchDetails;
use super::tls::TlsInfo;

/// How an identification ended, in nmap's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    /// A hard match (nmap PROBESTATE_FINISHED_HARDMATCHED).
    Matched,
    /// Only a softmatch.
    Softmatched,
    /// Probed, nothing matched (nmap reports the port table's name with `?`).
    Unknown,
    /// Closed at once with nothing said.
    Tcpwrapped,
    /// Could not finish: the connection failed or the port's deadline passed.
    Incomplete,
    /// Left out by the probe file's Exclude directive.
    Excluded,
}

/// The service identification.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceInfo {
    /// How it ended.
    pub status: ServiceStatus,
    /// The service name the match gave (without `ssl/`); None when nothing matched.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// "ssl" when the service was found through TLS.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tunnel: Option<String>,
    /// Product, version, info, hostname, OS, device type and CPE of the match.
    #[serde(flatten)]
    pub details: Details,
    /// nmap's method: "probed", or "table" when nothing was learned by probing.
    pub method: String,
    /// nmap's confidence: 10 probed, 8 tcpwrapped, 3 table.
    pub conf: u8,
    /// The probe whose answer decided it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub probe: Option<String>,
    /// The first bytes that answer held, escaped as nmap escapes them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub banner: Option<String>,
    /// Why it is incomplete.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// The version fields of a match (all optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Details {
    /// Product.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub product: Option<String>,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// Extra information (nmap's extrainfo).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub info: Option<String>,
    /// Host name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hostname: Option<String>,
    /// Operating system.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ostype: Option<String>,
    /// Device type.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub devicetype: Option<String>,
    /// CPE names.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cpe: Vec<String>,
}

impl From<&MatchDetails> for Details {
    fn from(m: &MatchDetails) -> Details {
        Details {
            product: m.product.clone(),
            version: m.version.clone(),
            info: m.info.clone(),
            hostname: m.hostname.clone(),
            ostype: m.ostype.clone(),
            devicetype: m.devicetype.clone(),
            cpe: m.cpe.clone(),
        }
    }
}

impl ServiceInfo {
    /// An identification that learned nothing by probing.
    pub fn table(status: ServiceStatus, error: Option<String>) -> ServiceInfo {
        ServiceInfo {
            status,
            name: None,
            tunnel: None,
            details: Details::default(),
            method: "table".into(),
            conf: 3,
            probe: None,
            banner: None,
            error,
        }
    }
}

/// How one optional follow-up (TLS, HTTP) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleStatus {
    /// It ran and has a result.
    Success,
    /// The peer did not speak the protocol, or the connection failed.
    Error,
    /// The deadline passed first.
    Timeout,
}

/// One optional follow-up's outcome.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Module<T> {
    /// How it ended.
    pub status: ModuleStatus,
    /// Its result on success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<T>,
    /// What went wrong otherwise (escaped).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl<T> Module<T> {
    /// A success.
    pub fn success(result: T) -> Module<T> {
        Module {
            status: ModuleStatus::Success,
            result: Some(result),
            error: None,
        }
    }

    /// A failure of `status` saying `error`.
    pub fn failed(status: ModuleStatus, error: impl Into<String>) -> Module<T> {
        Module {
            status,
            result: None,
            error: Some(error.into()),
        }
    }
}

/// Everything the follow-up learned about one open port.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FollowResult {
    /// The host.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
    /// "tcp".
    pub protocol: String,
    /// The identification.
    pub service: ServiceInfo,
    /// The TLS handshake's facts, when the port speaks TLS.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tls: Option<Module<TlsInfo>>,
    /// The web server's answer, when the service is HTTP.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub http: Option<Module<HttpInfo>>,
    /// Milliseconds from the first connection to the result.
    pub elapsed_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_shape() {
        let r = FollowResult {
            ip: "198.19.0.1".parse().unwrap(),
            port: 443,
            protocol: "tcp".into(),
            service: ServiceInfo {
                status: ServiceStatus::Matched,
                name: Some("http".into()),
                tunnel: Some("ssl".into()),
                details: Details {
                    product: Some("nginx".into()),
                    version: Some("1.22.1".into()),
                    cpe: vec!["cpe:/a:igor_sysoev:nginx:1.22.1".into()],
                    ..Details::default()
                },
                method: "probed".into(),
                conf: 10,
                probe: Some("GetRequest".into()),
                banner: Some("HTTP/1.1 200 OK\\r\\n".into()),
                error: None,
            },
            tls: Some(Module::failed(ModuleStatus::Timeout, "deadline")),
            http: Some(Module::success(HttpInfo {
                status: 200,
                ..HttpInfo::default()
            })),
            elapsed_ms: 12,
        };
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.contains(r#""service":{"status":"matched","name":"http","tunnel":"ssl","product":"nginx","version":"1.22.1","cpe":["cpe:/a:igor_sysoev:nginx:1.22.1"],"method":"probed","conf":10"#), "{j}");
        assert!(
            j.contains(r#""tls":{"status":"timeout","error":"deadline"}"#),
            "{j}"
        );
        let back: FollowResult = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
    }
}
