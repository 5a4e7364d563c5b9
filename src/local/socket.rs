//! One local socket as the kernel reports it, and what its bind address means.

use std::net::IpAddr;

/// Transport protocol of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// "tcp" or "udp".
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Which addresses a bound socket accepts traffic on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// 127.0.0.0/8 or ::1 (or ::ffff:127.x): reachable from this host only.
    Loopback,
    /// A wildcard address: every address of the host.
    All,
    /// One non-loopback address.
    Address,
}

impl Scope {
    /// The words shown in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Loopback => "loopback",
            Scope::All => "all",
            Scope::Address => "address",
        }
    }

    /// The scope of a bind address.
    pub fn of(addr: IpAddr) -> Scope {
        match addr {
            IpAddr::V4(a) if a.is_unspecified() => Scope::All,
            IpAddr::V4(a) if a.is_loopback() => Scope::Loopback,
            IpAddr::V6(a) if a.is_unspecified() => Scope::All,
            IpAddr::V6(a) if a.is_loopback() => Scope::Loopback,
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) if v4.is_loopback() => Scope::Loopback,
                Some(v4) if v4.is_unspecified() => Scope::All,
                _ => Scope::Address,
            },
            IpAddr::V4(_) => Scope::Address,
        }
    }
}

/// The TCP state numbers the kernel uses (include/net/tcp_states.h) that we name.
pub mod tcp_state {
    /// An established connection.
    #[cfg(test)]
    pub const ESTABLISHED: u8 = 1;
    /// A closed or unconnected socket (UDP bound sockets report this).
    pub const CLOSE: u8 = 7;
    /// A listening TCP socket.
    pub const LISTEN: u8 = 10;
}

/// One socket of this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSocket {
    /// TCP or UDP.
    pub proto: Proto,
    /// Local address.
    pub addr: IpAddr,
    /// Local port.
    pub port: u16,
    /// Kernel state number (see `tcp_state`).
    pub state: u8,
    /// For an IPv6 wildcard: whether it takes IPv6 only (None when unknown, as from /proc).
    pub v6only: Option<bool>,
    /// Owner uid.
    pub uid: u32,
    /// Socket inode (matches "socket:[INODE]" links under /proc/PID/fd).
    pub inode: u64,
}

impl LocalSocket {
    /// Whether it is a listening socket: TCP LISTEN, or a UDP socket bound and unconnected.
    pub fn is_listening(&self) -> bool {
        match self.proto {
            Proto::Tcp => self.state == tcp_state::LISTEN,
            Proto::Udp => self.state == tcp_state::CLOSE,
        }
    }

    /// Its bind scope.
    pub fn scope(&self) -> Scope {
        Scope::of(self.addr)
    }

    /// The local address the way `ss` prints it: `*` for a dual-stack IPv6 wildcard,
    /// `[v6]`, or the IPv4 address.
    pub fn addr_text(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) if a.is_unspecified() && self.v6only == Some(false) => "*".to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        }
    }

    /// Whether the socket also takes IPv4 traffic (IPv4 bound, or a dual-stack IPv6 wildcard).
    pub fn takes_ipv4(&self) -> bool {
        match self.addr {
            IpAddr::V4(_) => true,
            IpAddr::V6(a) => {
                (a.is_unspecified() && self.v6only != Some(true)) || a.to_ipv4_mapped().is_some()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(addr: &str, v6only: Option<bool>) -> LocalSocket {
        LocalSocket {
            proto: Proto::Tcp,
            addr: addr.parse().unwrap(),
            port: 80,
            state: tcp_state::LISTEN,
            v6only,
            uid: 0,
            inode: 1,
        }
    }

    #[test]
    fn scopes() {
        assert_eq!(Scope::of("0.0.0.0".parse().unwrap()), Scope::All);
        assert_eq!(Scope::of("127.0.0.53".parse().unwrap()), Scope::Loopback);
        assert_eq!(Scope::of("::".parse().unwrap()), Scope::All);
        assert_eq!(Scope::of("::1".parse().unwrap()), Scope::Loopback);
        assert_eq!(
            Scope::of("::ffff:127.0.0.1".parse().unwrap()),
            Scope::Loopback
        );
        assert_eq!(Scope::of("198.19.0.1".parse().unwrap()), Scope::Address);
        assert_eq!(Scope::of("2001:2::1".parse().unwrap()), Scope::Address);
    }

    #[test]
    fn addresses_print_like_ss() {
        assert_eq!(sock("::", Some(false)).addr_text(), "*");
        assert_eq!(sock("::", Some(true)).addr_text(), "[::]");
        assert_eq!(sock("::1", Some(true)).addr_text(), "[::1]");
        assert_eq!(sock("0.0.0.0", None).addr_text(), "0.0.0.0");
        assert!(sock("::", Some(false)).takes_ipv4());
        assert!(!sock("::", Some(true)).takes_ipv4());
        assert!(!sock("::1", Some(false)).takes_ipv4());
    }

    #[test]
    fn udp_listening_is_unconnected() {
        let mut s = sock("0.0.0.0", None);
        s.proto = Proto::Udp;
        s.state = tcp_state::CLOSE;
        assert!(s.is_listening());
        s.state = tcp_state::ESTABLISHED;
        assert!(!s.is_listening());
    }
}
