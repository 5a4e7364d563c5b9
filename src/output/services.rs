//! Service names by (protocol, port): nmap's own table when nmap is installed (read at run time,
//! never shipped: nmap's names differ from /etc/services, e.g. rpcbind for sunrpc, and nmap's
//! tools compare them), else /etc/services, or a file given with --services-file.

use super::OutputError;
use crate::model::{Protocol, Service};
use crate::sys::fs::{read_input, Identity, OpenError, Trust};
use std::path::Path;

/// Largest services file read (nmap's is about 1 MB).
pub const MAX_SERVICES_BYTES: u64 = 16 << 20;

/// Service names, sorted by service for binary search (a few hundred to a few thousand
/// entries per protocol).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Services {
    entries: Vec<(Service, Box<str>)>,
    /// The file the names came from; None for an empty table.
    source: Option<String>,
}

/// Where nmap's packages install its service table, in the order nmap's own search ends.
pub const NMAP_SERVICES: [&str; 2] = [
    "/usr/local/share/nmap/nmap-services",
    "/usr/share/nmap/nmap-services",
];

/// The system's own table.
pub const ETC_SERVICES: &str = "/etc/services";

impl Services {
    /// nmap's table when nmap is installed, else /etc/services; empty when neither reads.
    pub fn default_table() -> Services {
        Services::first_readable(&NMAP_SERVICES, ETC_SERVICES)
    }

    /// The first of `nmap_files` that reads and parses, else `fallback` leniently.
    pub fn first_readable(nmap_files: &[&str], fallback: &str) -> Services {
        for f in nmap_files {
            if let Ok((s, _)) = Services::from_nmap_services(f) {
                if !s.is_empty() {
                    return s;
                }
            }
        }
        Services::from_system_file(fallback)
    }

    /// The system table from /etc/services; empty when the file is missing or unreadable.
    pub fn system() -> Services {
        Services::from_system_file(ETC_SERVICES)
    }

    fn from_system_file(path: &str) -> Services {
        match read_input(Path::new(path), Trust::Strict, MAX_SERVICES_BYTES) {
            Ok(c) => Services::parse(&String::from_utf8_lossy(&c.bytes), false)
                .map(|s| s.with_source(path))
                .unwrap_or_default(),
            Err(_) => Services::default(),
        }
    }

    fn with_source(mut self, path: &str) -> Services {
        if !self.entries.is_empty() {
            self.source = Some(path.to_string());
        }
        self
    }

    /// The file the names came from (for output headers); None when the table is empty.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Reads a file in nmap-services format ("name port/proto freq # comment"); /etc/services
    /// also parses. The file changes what reports say, so it is trusted as strictly as a
    /// policy (`Trust::Strict`), and at most [`MAX_SERVICES_BYTES`]. Returns the file's
    /// identity too, to tell it from the run's outputs.
    pub fn from_nmap_services(path: impl AsRef<Path>) -> Result<(Services, Identity), OutputError> {
        let path = path.as_ref();
        let contents = read_input(path, Trust::Strict, MAX_SERVICES_BYTES).map_err(|e| {
            OutputError(match e {
                OpenError::Io(e) => format!(
                    "cannot read services file {}: {e}; give a readable nmap-services file to --services-file",
                    path.display()
                ),
                refused => refused.line("services file", path),
            })
        })?;
        let text = String::from_utf8_lossy(&contents.bytes);
        Services::parse(&text, true)
            .map(|s| (s.with_source(&path.display().to_string()), contents.id))
            .map_err(|(line, what)| {
                OutputError(format!(
                    "services file {} line {line}: {what}; expected \"name port/proto\" lines",
                    path.display()
                ))
            })
    }

    /// Parses services text, keeping the entries of the protocols synscan knows; the first
    /// name for a service wins.
    /// Strict parsing reports the first malformed line as (line number, problem).
    pub fn parse(text: &str, strict: bool) -> Result<Services, (usize, String)> {
        let mut entries: Vec<(Service, Box<str>)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let Some(name) = fields.next() else { continue };
            let Some(port_proto) = fields.next() else {
                if strict {
                    return Err((i + 1, format!("no port/proto after \"{name}\"")));
                }
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                if strict {
                    return Err((i + 1, format!("\"{port_proto}\" is not port/proto")));
                }
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                if strict {
                    return Err((i + 1, format!("\"{port}\" is not a port number")));
                }
                continue;
            };
            if let Some(protocol) = Protocol::parse(proto) {
                entries.push((Service { protocol, port }, name.into()));
            }
        }
        // Stable sort keeps file order among equal services, so dedup keeps the first name.
        entries.sort_by_key(|e| e.0);
        entries.dedup_by_key(|e| e.0);
        Ok(Services {
            entries,
            source: None,
        })
    }

    /// The name of a service, if the table has one.
    pub fn name(&self, service: Service) -> Option<&str> {
        self.entries
            .binary_search_by_key(&service, |e| e.0)
            .ok()
            .map(|i| &*self.entries[i].1)
    }

    /// Number of entries, of every protocol.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etc_services_format() {
        let text = "# comment\ntcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer\n\
                    echo\t\t7/tcp\necho\t\t7/udp\ndiscard\t\t9/tcp\t\tsink null\n\
                    http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP\nwww-alt 80/tcp\n\
                    syslog\t\t514/udp\n";
        let s = Services::parse(text, false).unwrap();
        assert_eq!(s.len(), 6);
        let tcp = |port| s.name(Service::tcp(port));
        assert_eq!(tcp(1), Some("tcpmux"));
        assert_eq!(tcp(7), Some("echo"));
        assert_eq!(tcp(9), Some("discard"));
        assert_eq!(tcp(80), Some("http"));
        assert_eq!(tcp(514), None);
        assert_eq!(tcp(2), None);
        assert_eq!(s.name(Service::udp(514)), Some("syslog"));
        assert_eq!(s.name(Service::udp(7)), Some("echo"));
        assert_eq!(s.name(Service::udp(80)), None);
    }

    #[test]
    fn parses_nmap_services_format_and_rejects_garbage() {
        let text = "compressnet\t3/tcp\t0.001242\t# Compression Process\n\
                    unknown\t4/tcp\t0.000477\nssh\t22/tcp\t0.182286\t# Secure Shell Login\n\
                    ssh\t22/udp\t0.003905\n";
        let s = Services::parse(text, true).unwrap();
        assert_eq!(s.name(Service::tcp(3)), Some("compressnet"));
        assert_eq!(s.name(Service::tcp(4)), Some("unknown"));
        assert_eq!(s.name(Service::tcp(22)), Some("ssh"));
        assert_eq!(s.name(Service::udp(22)), Some("ssh"));
        assert_eq!(s.len(), 4);
        assert_eq!(
            Services::parse("ok 1/tcp\nbad x/tcp\n", true),
            Err((2, "\"x\" is not a port number".to_string()))
        );
        assert_eq!(
            Services::parse("lonely\n", true),
            Err((1, "no port/proto after \"lonely\"".to_string()))
        );
        assert_eq!(Services::parse("bad 99999/tcp\n", false).unwrap().len(), 0);
    }

    #[test]
    fn reads_files_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("svc");
        std::fs::write(&p, "http 80/tcp 0.48\n").unwrap();
        let (s, _) = Services::from_nmap_services(&p).unwrap();
        assert_eq!(s.name(Service::tcp(80)), Some("http"));
        let missing = dir.path().join("nope");
        let e = Services::from_nmap_services(&missing).unwrap_err();
        assert!(e.0.starts_with("cannot read services file "), "{e}");
        assert!(!e.0.contains('\n'));
    }

    #[test]
    fn default_table_prefers_nmaps_and_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let nmap = dir.path().join("nmap-services");
        std::fs::write(&nmap, "rpcbind\t111/tcp\t0.04\n").unwrap();
        let etc = dir.path().join("services");
        std::fs::write(&etc, "sunrpc\t\t111/tcp\tportmapper\n").unwrap();
        let (n, e) = (nmap.to_str().unwrap(), etc.to_str().unwrap());
        let missing = dir.path().join("nope");
        let m = missing.to_str().unwrap();
        let s = Services::first_readable(&[m, n], e);
        assert_eq!(
            (s.name(Service::tcp(111)), s.source()),
            (Some("rpcbind"), Some(n))
        );
        let s = Services::first_readable(&[m], e);
        assert_eq!(
            (s.name(Service::tcp(111)), s.source()),
            (Some("sunrpc"), Some(e))
        );
        let s = Services::first_readable(&[m], m);
        assert_eq!((s.is_empty(), s.source()), (true, None));
        if std::path::Path::new(NMAP_SERVICES[1]).exists() {
            let s = Services::default_table();
            assert_eq!(s.name(Service::tcp(111)), Some("rpcbind"));
            assert!(s.source().unwrap().ends_with("/nmap-services"));
        }
    }

    #[test]
    fn system_table_has_well_known_ports_when_present() {
        let s = Services::system();
        if std::path::Path::new("/etc/services").exists() {
            assert_eq!(s.name(Service::tcp(22)), Some("ssh"));
            assert_eq!(s.name(Service::tcp(80)), Some("http"));
        } else {
            eprintln!("note: /etc/services missing (install netbase); system table is empty");
            assert!(s.is_empty());
        }
    }
}
