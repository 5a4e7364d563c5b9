//! `synscan local`: this host's own ports. Who listens (sock_diag netlink, /proc/net as a
//! fallback), who holds one port, which ports are free, and which listening services a
//! scan from elsewhere found exposed. Sends no packet, needs no privilege.

pub(crate) mod cli;
pub(crate) mod compare;
pub(crate) mod diag;
pub(crate) mod free;
pub(crate) mod owners;
pub(crate) mod procnet;
pub(crate) mod render;
pub(crate) mod socket;

use crate::error::{ScanError, EXIT_CHECK_FAILED, EXIT_OK};
use owners::{Process, ServiceNames};
use socket::{LocalSocket, Proto};

/// A listening socket with who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// The socket.
    pub socket: LocalSocket,
    /// Processes holding it (empty when hidden from us or held by the kernel).
    pub holders: Vec<Process>,
    /// The owner's user name, when known.
    pub user: Option<String>,
    /// The service name of the port, when known.
    pub service: Option<String>,
}

/// Where the socket table came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The sock_diag netlink interface.
    Netlink,
    /// /proc/net/{tcp,udp}[6].
    Proc,
}

/// This host's listening sockets at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Listening sockets, sorted by protocol, port, address.
    pub listeners: Vec<Listener>,
    /// Sockets of other users whose processes we could not see (unprivileged run).
    pub hidden: usize,
    /// Where the table came from.
    pub source: Source,
}

/// Reads every socket of `protos`: netlink first (or only /proc with `proc_only`); a
/// netlink failure falls back to /proc with a warning.
pub fn all_sockets(
    protos: &[Proto],
    proc_only: bool,
) -> Result<(Vec<LocalSocket>, Source), ScanError> {
    if !proc_only {
        match diag::dump(protos, diag::ALL_STATES) {
            Ok(v) => return Ok((v, Source::Netlink)),
            Err(e) => eprintln!("synscan: {e}; reading /proc/net instead"),
        }
    }
    procnet::read(protos).map(|v| (v, Source::Proc))
}

/// Takes a snapshot of the listening sockets of `protos`.
pub fn snapshot(protos: &[Proto], proc_only: bool) -> Result<Snapshot, ScanError> {
    let (sockets, source) = all_sockets(protos, proc_only)?;
    let holders = owners::socket_holders();
    let users = owners::users();
    let services = ServiceNames::system();
    let me = owners::effective_uid();
    Ok(build(sockets, source, &holders, &users, &services, me))
}

/// Joins sockets with their holders, users and services (pure: the tables are given).
pub fn build(
    sockets: Vec<LocalSocket>,
    source: Source,
    holders: &std::collections::HashMap<u64, Vec<Process>>,
    users: &std::collections::HashMap<u32, String>,
    services: &ServiceNames,
    me: Option<u32>,
) -> Snapshot {
    let mut listeners: Vec<Listener> = sockets
        .into_iter()
        .filter(LocalSocket::is_listening)
        .map(|s| Listener {
            holders: holders.get(&s.inode).cloned().unwrap_or_default(),
            user: users.get(&s.uid).cloned(),
            service: services.name(s.proto, s.port).map(str::to_string),
            socket: s,
        })
        .collect();
    listeners.sort_by(|a, b| {
        (
            a.socket.proto,
            a.socket.port,
            a.socket.addr.is_ipv6(),
            a.socket.addr,
        )
            .cmp(&(
                b.socket.proto,
                b.socket.port,
                b.socket.addr.is_ipv6(),
                b.socket.addr,
            ))
    });
    listeners.dedup_by(|a, b| a.socket == b.socket);
    let hidden = match me {
        Some(0) => 0,
        me => listeners
            .iter()
            .filter(|l| l.holders.is_empty() && Some(l.socket.uid) != me)
            .count(),
    };
    Snapshot {
        listeners,
        hidden,
        source,
    }
}

/// The protocols the flags select (both when neither or both are given).
fn protocols(args: &cli::LocalArgs) -> Vec<Proto> {
    match (args.tcp, args.udp) {
        (true, false) => vec![Proto::Tcp],
        (false, true) => vec![Proto::Udp],
        _ => vec![Proto::Tcp, Proto::Udp],
    }
}

/// Whether a listener passes the -4/-6 filters.
fn family_ok(args: &cli::LocalArgs, l: &Listener) -> bool {
    match (args.ipv4, args.ipv6) {
        (true, false) => l.socket.takes_ipv4(),
        (false, true) => l.socket.addr.is_ipv6(),
        _ => true,
    }
}

/// Runs `synscan local` and returns the exit code.
pub fn run(args: &cli::LocalArgs) -> Result<i32, ScanError> {
    let mut claims = crate::sys::fs::Claims::new();
    // Read before any output is opened: an output over it is refused, not truncated.
    let compared = match &args.compare {
        Some(file) => Some(read_compare(std::path::Path::new(file), &mut claims)?),
        None => None,
    };
    let mut out = render::Outputs::open(args, &mut claims)?;
    if let Some(count) = args.free {
        let proto = if args.udp { Proto::Udp } else { Proto::Tcp };
        let range = args.range.as_deref().map(cli::parse_range).transpose()?;
        let kernel = crate::probe::kernel_ports::KernelPorts::read();
        match &kernel {
            Some(k) => eprintln!(
                "synscan: kernel ephemeral range {}-{} ({} ports); reserved ports: {} ({} ports)",
                k.ephemeral.start(),
                k.ephemeral.end(),
                u32::from(*k.ephemeral.end()) - u32::from(*k.ephemeral.start()) + 1,
                k.reserved_text(),
                k.reserved_count()
            ),
            None => eprintln!(
                "synscan: cannot read {}; free ports are not kept out of the kernel's ephemeral range",
                crate::probe::kernel_ports::RANGE_FILE
            ),
        }
        let (sockets, _) = all_sockets(&[proto], args.proc)?;
        let found = free::find(proto, count, range, kernel.as_ref(), &sockets);
        out.free(proto, &found)?;
        if (found.len() as u64) < u64::from(count) {
            eprintln!(
                "synscan: found only {} free {} port(s) of the {count} asked for; widen --range",
                found.len(),
                proto.as_str()
            );
            return Ok(EXIT_CHECK_FAILED);
        }
        return Ok(EXIT_OK);
    }
    let snap = snapshot(&protocols(args), args.proc)?;
    let mut shown: Vec<Listener> = snap
        .listeners
        .iter()
        .filter(|l| family_ok(args, l))
        .filter(|l| args.port.is_none_or(|p| l.socket.port == p))
        .cloned()
        .collect();
    shown.sort_by_key(|l| (l.socket.proto, l.socket.port));
    let code = if let Some(results) = compared {
        let report = compare::compare(&shown, &results.records);
        out.compare(&report)?;
        eprintln!("synscan: {}", compare::summary(&report));
        EXIT_OK
    } else {
        out.listeners(&shown)?;
        match args.port {
            Some(p) if shown.is_empty() => {
                eprintln!("synscan: nothing listens on port {p} (of the protocols and families asked for)");
                EXIT_CHECK_FAILED
            }
            _ => EXIT_OK,
        }
    };
    if snap.hidden > 0 {
        eprintln!(
            "synscan: {} socket(s) belong to other users whose PIDs are hidden from this user (run as root to see them)",
            snap.hidden
        );
    }
    out.finish()?;
    Ok(code)
}

/// Reads the --compare results by the one opener for inputs (a regular file, at most
/// `watch::input::MAX_RESULTS_BYTES`), claimed as an input of the run.
fn read_compare(
    path: &std::path::Path,
    claims: &mut crate::sys::fs::Claims,
) -> Result<crate::results::Results, ScanError> {
    let (results, id) = crate::watch::cli::load(path, crate::sys::fs::Trust::Data)?;
    claims
        .input(id, format!("--compare {}", path.display()))
        .map_err(ScanError::usage)?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket::tcp_state;
    use std::collections::HashMap;

    fn sock(proto: Proto, addr: &str, port: u16, state: u8, uid: u32, inode: u64) -> LocalSocket {
        LocalSocket {
            proto,
            addr: addr.parse().unwrap(),
            port,
            state,
            v6only: None,
            uid,
            inode,
        }
    }

    #[test]
    fn joins_holders_and_counts_hidden() {
        let socks = vec![
            sock(Proto::Tcp, "0.0.0.0", 80, tcp_state::LISTEN, 0, 1),
            sock(Proto::Tcp, "10.0.0.1", 5000, tcp_state::ESTABLISHED, 0, 2),
            sock(Proto::Udp, "127.0.0.1", 53, tcp_state::CLOSE, 65534, 3),
            sock(Proto::Tcp, "::", 22, tcp_state::LISTEN, 1000, 4),
        ];
        let holders = HashMap::from([(
            1,
            vec![Process {
                pid: 10,
                name: "web".into(),
            }],
        )]);
        let users = HashMap::from([(0, "root".to_string())]);
        let services = ServiceNames::parse("http 80/tcp\ndomain 53/udp\n");
        let snap = build(
            socks.clone(),
            Source::Netlink,
            &holders,
            &users,
            &services,
            Some(1000),
        );
        let ports: Vec<(Proto, u16)> = snap
            .listeners
            .iter()
            .map(|l| (l.socket.proto, l.socket.port))
            .collect();
        assert_eq!(
            ports,
            vec![(Proto::Tcp, 22), (Proto::Tcp, 80), (Proto::Udp, 53)]
        );
        assert_eq!(snap.listeners[1].holders[0].pid, 10);
        assert_eq!(snap.listeners[1].user.as_deref(), Some("root"));
        assert_eq!(snap.listeners[2].service.as_deref(), Some("domain"));
        // Port 53 (uid 65534) is hidden from uid 1000; port 22 is its own.
        assert_eq!(snap.hidden, 1);
        let root = build(socks, Source::Netlink, &holders, &users, &services, Some(0));
        assert_eq!(root.hidden, 0);
    }
}
