//! The listener child: real sockets for the open ports, inside the target namespace.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

/// The line printed once every port is bound.
pub const READY: &str = "ready";

/// Bind 0.0.0.0:P for each port, accept-and-drop in a thread per port, print
/// `ready`, and return when stdin reaches EOF (the parent exited or closed it).
pub fn listen(ports: &[u16]) -> Result<(), String> {
    let mut listeners = Vec::with_capacity(ports.len());
    for &p in ports {
        let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p)).map_err(|e| {
            format!("cannot listen on port {p}: {e}; is something else bound there?")
        })?;
        listeners.push(l);
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
