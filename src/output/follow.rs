//! A follow-up result in the outputs' terms: nmap's service fields, the scripts nmap -sV
//! --script ssl-cert shows (ssl-cert, and http-server-header, a version script -sV runs),
//! and the -oJ record.

use super::versions::{Method, PortVersion, Script};
use super::xml::escape;
use crate::follow::envelope::{FollowResult, ModuleStatus, ServiceInfo, ServiceStatus};
use crate::follow::{http::HttpInfo, tls::TlsInfo};

/// The outputs' view of one follow-up result.
pub fn port_version(r: &FollowResult) -> PortVersion {
    let s = &r.service;
    let (name, method, conf) = match s.status {
        ServiceStatus::Matched | ServiceStatus::Softmatched => {
            (s.name.clone(), Method::Probed, s.conf)
        }
        // nmap: name "tcpwrapped", method probed, conf 8.
        ServiceStatus::Tcpwrapped => (Some("tcpwrapped".to_string()), Method::Probed, 8),
        ServiceStatus::Unknown | ServiceStatus::Incomplete | ServiceStatus::Excluded => {
            (None, Method::Table, 3)
        }
    };
    let d = &s.details;
    // A port that gave a certificate speaks TLS, whatever the probes made of it (nmap:
    // "ssl/https?" for a TLS port it cannot name).
    let tls = r
        .tls
        .as_ref()
        .is_some_and(|m| m.status == ModuleStatus::Success);
    let tunnel = s.tunnel.clone().or_else(|| tls.then(|| "ssl".to_string()));
    PortVersion {
        name,
        tunnel,
        method: Some(method),
        conf,
        product: d.product.clone(),
        version: d.version.clone(),
        extrainfo: d.info.clone(),
        hostname: d.hostname.clone(),
        ostype: d.ostype.clone(),
        devicetype: d.devicetype.clone(),
        cpe: d.cpe.clone(),
        scripts: scripts(r),
        json: json_members(r),
    }
}

/// The scripts' results nmap would show for this port.
fn scripts(r: &FollowResult) -> Vec<Script> {
    let mut out = Vec::new();
    let http = r
        .http
        .as_ref()
        .filter(|m| m.status == ModuleStatus::Success);
    if let Some(server) = http.and_then(|m| m.result.as_ref()?.server.clone()) {
        out.push(Script {
            id: "http-server-header".into(),
            xml: format!("<elem>{}</elem>", escape(&server)),
            output: server,
        });
    }
    let tls = r.tls.as_ref().filter(|m| m.status == ModuleStatus::Success);
    if let Some(leaf) = tls.and_then(|m| m.result.as_ref()?.certificates.first()) {
        out.push(Script {
            id: "ssl-cert".into(),
            output: leaf.ssl_cert.clone(),
            xml: String::new(),
        });
    }
    out
}

/// The -oJ record's members after ip, port and proto: service, tls, http, elapsed_ms.
fn json_members(r: &FollowResult) -> String {
    #[derive(serde::Serialize)]
    struct Members<'a> {
        service: &'a ServiceInfo,
        #[serde(skip_serializing_if = "Option::is_none")]
        tls: Option<&'a crate::follow::envelope::Module<TlsInfo>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        http: Option<&'a crate::follow::envelope::Module<HttpInfo>>,
        elapsed_ms: u64,
    }
    let m = Members {
        service: &r.service,
        tls: r.tls.as_ref(),
        http: r.http.as_ref(),
        elapsed_ms: r.elapsed_ms,
    };
    let text = serde_json::to_string(&m).unwrap_or_else(|_| "{}".to_string());
    // Without the braces: the writer puts ip, port and proto first.
    text.strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follow::envelope::{Details, Module};

    fn ssh() -> FollowResult {
        FollowResult {
            ip: "198.19.0.2".parse().unwrap(),
            port: 22,
            protocol: "tcp".into(),
            service: ServiceInfo {
                status: ServiceStatus::Matched,
                name: Some("ssh".into()),
                tunnel: None,
                details: Details {
                    product: Some("OpenSSH".into()),
                    version: Some("9.2p1 Debian 2+deb12u10".into()),
                    info: Some("protocol 2.0".into()),
                    ostype: Some("Linux".into()),
                    cpe: vec![
                        "cpe:/a:openbsd:openssh:9.2p1".into(),
                        "cpe:/o:linux:linux_kernel".into(),
                    ],
                    ..Details::default()
                },
                method: "probed".into(),
                conf: 10,
                probe: Some("NULL".into()),
                banner: Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\\r\\n".into()),
                error: None,
            },
            tls: None,
            http: None,
            elapsed_ms: 38,
        }
    }

    #[test]
    fn a_match_keeps_nmaps_fields_and_the_json_record() {
        let v = port_version(&ssh());
        assert_eq!(v.name.as_deref(), Some("ssh"));
        assert_eq!(v.method, Some(Method::Probed));
        assert_eq!(v.conf, 10);
        assert_eq!(
            v.version_column(),
            "OpenSSH 9.2p1 Debian 2+deb12u10 (protocol 2.0)"
        );
        assert!(v.scripts.is_empty());
        let line: serde_json::Value = serde_json::from_str(&format!("{{{}}}", v.json)).unwrap();
        assert_eq!(line["service"]["product"], "OpenSSH");
        assert_eq!(line["elapsed_ms"], 38);
        assert!(line.get("tls").is_none());
    }

    #[test]
    fn unknown_and_tcpwrapped_as_nmap_reports_them() {
        let mut r = ssh();
        r.service = ServiceInfo::table(ServiceStatus::Unknown, None);
        r.service.tunnel = Some("ssl".into());
        let v = port_version(&r);
        assert_eq!((v.method, v.conf), (Some(Method::Table), 3));
        assert_eq!(v.service_column(Some("https")), "ssl/https?");
        r.service = ServiceInfo::table(ServiceStatus::Tcpwrapped, None);
        let v = port_version(&r);
        assert_eq!((v.method, v.conf), (Some(Method::Probed), 8));
        assert_eq!(v.service_column(Some("ssh")), "tcpwrapped");
    }

    #[test]
    fn the_server_header_is_a_script_and_escaped_in_xml() {
        let mut r = ssh();
        r.http = Some(Module::success(HttpInfo {
            status: 200,
            server: Some("a<b".into()),
            ..HttpInfo::default()
        }));
        let v = port_version(&r);
        assert_eq!(
            v.scripts,
            vec![Script {
                id: "http-server-header".into(),
                output: "a<b".into(),
                xml: "<elem>a&lt;b</elem>".into(),
            }]
        );
    }
}
