//! What the follow-up stage (-sV) learned about open ports, in the shape the writers print:
//! nmap's service fields, the scripts' output (ssl-cert) and, for -oJ, the follow-up's own
//! structured record. The follow-up layer fills these (it sits above the outputs); the
//! writers only read them. Every string here was escaped before it got here.

use crate::model::Protocol;
use std::collections::HashMap;
use std::net::IpAddr;

/// How nmap learned a port's service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// By probing: a match (conf 10) or tcpwrapped (conf 8).
    Probed,
    /// Nothing learned: the port table's name, shown as `name?` (conf 3).
    Table,
}

impl Method {
    /// nmap's XML word.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Probed => "probed",
            Method::Table => "table",
        }
    }
}

/// A script's result for one port, as nmap's -oN and -oX show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// The script's id (`ssl-cert`).
    pub id: String,
    /// Its output text, lines separated by `\n`.
    pub output: String,
    /// Its structured output: XML (`<elem>`/`<table>`) written inside `<script>`, already
    /// escaped.
    pub xml: String,
}

/// One port's identification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortVersion {
    /// The service name (None: take the port table's).
    pub name: Option<String>,
    /// "ssl" when the service was found through TLS.
    pub tunnel: Option<String>,
    /// How it was learned (None stands for Table).
    pub method: Option<Method>,
    /// nmap's confidence.
    pub conf: u8,
    /// Product.
    pub product: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// nmap's extrainfo.
    pub extrainfo: Option<String>,
    /// Host name the service gave.
    pub hostname: Option<String>,
    /// Operating system.
    pub ostype: Option<String>,
    /// Device type.
    pub devicetype: Option<String>,
    /// CPE names.
    pub cpe: Vec<String>,
    /// Scripts' results (ssl-cert).
    pub scripts: Vec<Script>,
    /// The follow-up's own record for -oJ: a JSON object's members, without braces
    /// (`"service":{..},"tls":{..}`).
    pub json: String,
}

impl PortVersion {
    /// nmap's method for this identification.
    pub fn method(&self) -> Method {
        self.method.unwrap_or(Method::Table)
    }

    /// The SERVICE column as nmap -sV prints it: `ssl/` for a TLS tunnel, the name (the
    /// table's when nothing was learned), `?` when it is only the table's guess.
    pub fn service_column(&self, table_name: Option<&str>) -> String {
        let mut s = String::new();
        if self.tunnel.as_deref() == Some("ssl") {
            s.push_str("ssl/");
        }
        s.push_str(self.name.as_deref().or(table_name).unwrap_or("unknown"));
        if self.method() == Method::Table && (self.name.is_some() || table_name.is_some()) {
            s.push('?');
        }
        s
    }

    /// The VERSION column as nmap prints it: product, version, then extrainfo in brackets.
    pub fn version_column(&self) -> String {
        let mut s = String::new();
        if let Some(p) = &self.product {
            s.push_str(p);
        }
        if let Some(v) = &self.version {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(v);
        }
        if let Some(x) = &self.extrainfo {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push('(');
            s.push_str(x);
            s.push(')');
        }
        s
    }
}

/// The identifications of a scan, by (address, protocol, port).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    ports: HashMap<(IpAddr, Protocol, u16), PortVersion>,
}

impl Versions {
    /// Keeps a port's identification (a later one replaces an earlier one).
    pub fn insert(&mut self, ip: IpAddr, protocol: Protocol, port: u16, v: PortVersion) {
        self.ports.insert((ip, protocol, port), v);
    }

    /// A port's identification.
    pub fn get(&self, ip: IpAddr, protocol: Protocol, port: u16) -> Option<&PortVersion> {
        self.ports.get(&(ip, protocol, port))
    }

    /// True when no port was identified (a scan without -sV).
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    /// nmap's "Service Info:" line for a host's open ports (`ports`): the host names,
    /// OS types, device types and hardware/OS CPEs the services gave, each once in the
    /// order found; None when they gave none.
    pub fn service_info(&self, ip: IpAddr, ports: &[(Protocol, u16)]) -> Option<String> {
        let (mut hosts, mut oses, mut devices, mut cpes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        fn add<'a>(list: &mut Vec<&'a str>, v: &'a str) {
            if !list.contains(&v) {
                list.push(v);
            }
        }
        for &(protocol, port) in ports {
            let Some(v) = self.get(ip, protocol, port) else {
                continue;
            };
            if let Some(h) = &v.hostname {
                add(&mut hosts, h);
            }
            if let Some(o) = &v.ostype {
                add(&mut oses, o);
            }
            if let Some(d) = &v.devicetype {
                add(&mut devices, d);
            }
            for c in &v.cpe {
                if c.starts_with("cpe:/h") || c.starts_with("cpe:/o") {
                    add(&mut cpes, c);
                }
            }
        }
        let parts: Vec<String> = [
            (hosts, "Host", "Hosts"),
            (oses, "OS", "OSs"),
            (devices, "Device", "Devices"),
            (cpes, "CPE", "CPEs"),
        ]
        .into_iter()
        .filter(|(list, _, _)| !list.is_empty())
        .map(|(list, one, many)| {
            let label = if list.len() == 1 { one } else { many };
            format!("{label}: {}", list.join(", "))
        })
        .collect();
        (!parts.is_empty()).then(|| format!("Service Info: {}", parts.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh() -> PortVersion {
        PortVersion {
            name: Some("ssh".into()),
            method: Some(Method::Probed),
            conf: 10,
            product: Some("OpenSSH".into()),
            version: Some("9.2p1 Debian 2+deb12u3".into()),
            extrainfo: Some("protocol 2.0".into()),
            ostype: Some("Linux".into()),
            cpe: vec![
                "cpe:/a:openbsd:openssh:9.2p1".into(),
                "cpe:/o:linux:linux_kernel".into(),
            ],
            ..PortVersion::default()
        }
    }

    #[test]
    fn columns_as_nmap_prints_them() {
        let v = ssh();
        assert_eq!(v.service_column(Some("ssh")), "ssh");
        assert_eq!(
            v.version_column(),
            "OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)"
        );
        let tls = PortVersion {
            name: Some("http".into()),
            tunnel: Some("ssl".into()),
            method: Some(Method::Probed),
            product: Some("nginx".into()),
            ..PortVersion::default()
        };
        assert_eq!(tls.service_column(Some("https")), "ssl/http");
        assert_eq!(tls.version_column(), "nginx");
        let unknown = PortVersion::default();
        assert_eq!(unknown.service_column(Some("cbt")), "cbt?");
        assert_eq!(unknown.service_column(None), "unknown");
        assert_eq!(unknown.version_column(), "");
        let only_info = PortVersion {
            extrainfo: Some("x".into()),
            ..PortVersion::default()
        };
        assert_eq!(only_info.version_column(), "(x)");
    }

    #[test]
    fn service_info_joins_each_fact_once() {
        let ip: IpAddr = "198.19.0.2".parse().unwrap();
        let mut vs = Versions::default();
        vs.insert(ip, Protocol::Tcp, 22, ssh());
        let smtp = PortVersion {
            name: Some("smtp".into()),
            hostname: Some("lab.example".into()),
            ostype: Some("Linux".into()),
            cpe: vec!["cpe:/a:exim:exim:4.96".into()],
            ..PortVersion::default()
        };
        vs.insert(ip, Protocol::Tcp, 25, smtp);
        let ports = [
            (Protocol::Tcp, 22),
            (Protocol::Tcp, 25),
            (Protocol::Tcp, 80),
        ];
        assert_eq!(
            vs.service_info(ip, &ports).as_deref(),
            Some("Service Info: Host: lab.example; OS: Linux; CPE: cpe:/o:linux:linux_kernel")
        );
        assert_eq!(vs.service_info(ip, &[(Protocol::Tcp, 80)]), None);
    }
}
