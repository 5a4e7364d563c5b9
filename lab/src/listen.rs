//! The listener child: real sockets for the open ports, inside the target namespace.

use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener};

/// The line printed once every port is bound.
pub const READY: &str = "ready";

/// Bind 0.0.0.0:P (with `v4`) and [::]:P (with `v6`, IPv6 only) for each port,
/// accept-and-drop in a thread per socket, print `ready`, and return when stdin reaches EOF
/// (the parent exited or closed it).
pub fn listen(ports: &[u16], v4: bool, v6: bool) -> Result<(), String> {
    let mut listeners = Vec::with_capacity(ports.len() * 2);
    for &p in ports {
        if v4 {
            let l =
                TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p)).map_err(|e| {
                    format!("cannot listen on port {p}: {e}; is something else bound there?")
                })?;
            listeners.push(l);
        }
        if v6 {
            listeners.push(listen6(p).map_err(|e| {
                format!("cannot listen on [::]:{p}: {e}; is something else bound there?")
            })?);
        }
    }
    for l in listeners {
        std::thread::spawn(move || {
            // Accepting and dropping lets connect() scans complete; errors just retry.
            for conn in l.incoming() {
                drop(conn);
            }
        });
    }
    let mut out = std::io::stdout();
    writeln!(out, "{READY}")
        .and_then(|_| out.flush())
        .map_err(|e| format!("cannot report readiness: {e}"))?;
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin();
    loop {
        match stdin.read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(()),
        }
    }
}

/// A listener on [::]:`port` that takes IPv6 only (the IPv4 one owns 0.0.0.0:`port`); the
/// target's local route for 2001:2:0:19::/64 delivers every address of it here.
fn listen6(port: u16) -> std::io::Result<TcpListener> {
    let sock = Socket::new(Domain::IPV6, Type::STREAM, None)?;
    sock.set_only_v6(true)?;
    sock.set_reuse_address(true)?;
    sock.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)).into())?;
    sock.listen(4096)?;
    Ok(sock.into())
}
