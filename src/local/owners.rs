//! Who owns a socket: processes (socket inodes under /proc/PID/fd), user names, services.

use super::socket::Proto;
use std::collections::{BTreeMap, HashMap};

/// A process holding a socket.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Its name (/proc/PID/comm).
    pub name: String,
}

/// Socket inode -> the processes that hold it, read from /proc/PID/fd; processes whose
/// fd directory we may not read (other users', when unprivileged) are left out.
pub fn socket_holders() -> HashMap<u64, Vec<Process>> {
    let mut map: HashMap<u64, Vec<Process>> = HashMap::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let mut name = None;
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target.to_str().and_then(socket_inode) else {
                continue;
            };
            let name = name.get_or_insert_with(|| {
                std::fs::read_to_string(entry.path().join("comm"))
                    .map(|s| s.trim_end().to_string())
                    .unwrap_or_default()
            });
            let holders = map.entry(inode).or_default();
            let p = Process {
                pid,
                name: name.clone(),
            };
            if !holders.contains(&p) {
                holders.push(p);
            }
        }
    }
    for v in map.values_mut() {
        v.sort();
    }
    map
}

/// The inode of a "socket:[12345]" fd link.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The effective uid of this process (from /proc/self/status), None when unreadable.
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// uid -> user name from passwd text ("name:x:uid:...").
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if let (Some(name), Some(uid)) = (f.first(), f.get(2).and_then(|u| u.parse().ok())) {
            m.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    m
}

/// The system's user names (/etc/passwd; empty when unreadable).
pub fn users() -> HashMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .map(|t| parse_passwd(&t))
        .unwrap_or_default()
}

/// Service names by (protocol, port).
#[derive(Clone, Debug, Default)]
pub struct ServiceNames(BTreeMap<(Proto, u16), String>);

impl ServiceNames {
    /// Parses /etc/services text ("name port/proto aliases # comment"); the first name wins.
    pub fn parse(text: &str) -> ServiceNames {
        let mut m = BTreeMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut f = line.split_whitespace();
            let (Some(name), Some(pp)) = (f.next(), f.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let proto = match proto {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                _ => continue,
            };
            if let Ok(port) = port.parse() {
                m.entry((proto, port)).or_insert_with(|| name.to_string());
            }
        }
        ServiceNames(m)
    }

    /// The system table (/etc/services; empty when unreadable).
    pub fn system() -> ServiceNames {
        std::fs::read_to_string("/etc/services")
            .map(|t| ServiceNames::parse(&t))
            .unwrap_or_default()
    }

    /// The name of a port, if any.
    pub fn name(&self, proto: Proto, port: u16) -> Option<&str> {
        self.0.get(&(proto, port)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_links() {
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[test]
    fn passwd_and_services() {
        let p = parse_passwd(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nbad\n",
        );
        assert_eq!(p.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(p.get(&0).map(String::as_str), Some("root"));
        let s = ServiceNames::parse(
            "ssh 22/tcp # SSH\ndomain 53/tcp\ndomain 53/udp\nsyslog 514/udp\nfoo 1/sctp\n",
        );
        assert_eq!(s.name(Proto::Tcp, 22), Some("ssh"));
        assert_eq!(s.name(Proto::Udp, 514), Some("syslog"));
        assert_eq!(s.name(Proto::Tcp, 514), None);
    }

    #[test]
    fn own_process_is_found() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let holders = socket_holders();
        let me = std::process::id();
        assert!(holders.values().flatten().any(|p| p.pid == me));
        drop(l);
    }
}
