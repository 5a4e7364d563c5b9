//! The fallback socket source: /proc/net/tcp, tcp6, udp and udp6.

use super::socket::{LocalSocket, Proto};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parses one /proc/net/{tcp,udp}[6] table; rows that do not parse are skipped.
pub fn parse_table(text: &str, proto: Proto) -> Vec<LocalSocket> {
    text.lines().skip(1).filter_map(|l| row(l, proto)).collect()
}

/// One row: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...".
fn row(line: &str, proto: Proto) -> Option<LocalSocket> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    let (addr, port) = f[1].split_once(':')?;
    Some(LocalSocket {
        proto,
        addr: address(addr)?,
        port: u16::from_str_radix(port, 16).ok()?,
        state: u8::from_str_radix(f[3], 16).ok()?,
        v6only: None,
        uid: f[7].parse().ok()?,
        inode: f[9].parse().ok()?,
    })
}

/// The kernel prints each 32-bit word of the address as a host-order hex number.
fn address(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let s = hex.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(s, 16).ok()?.to_ne_bytes())
    };
    match hex.len() {
        8 => {
            let b = word(0)?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// Every socket of the given protocols from the /proc tables (a missing IPv6 table is empty).
pub fn read(protos: &[Proto]) -> Result<Vec<LocalSocket>, crate::error::ScanError> {
    let mut out = Vec::new();
    for &proto in protos {
        for suffix in ["", "6"] {
            let path = format!("/proc/net/{}{suffix}", proto.as_str());
            match std::fs::read_to_string(&path) {
                Ok(text) => out.extend(parse_table(&text, proto)),
                Err(_) if suffix == "6" => {}
                Err(e) => {
                    return Err(crate::error::ScanError::runtime(format!(
                        "cannot read {path}: {e}"
                    )))
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::socket::tcp_state;

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_kernel_rows() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n";
        let s = parse_table(tcp, Proto::Tcp);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (s[0].port, s[0].state, s[0].uid, s[0].inode),
            (8080, tcp_state::LISTEN, 1000, 4242)
        );
        let tcp6 = "header\n   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1\n";
        let s = parse_table(tcp6, Proto::Tcp);
        assert_eq!(s[0].addr, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(s[0].port, 443);
        assert_eq!(parse_table("h\ngarbage line\n", Proto::Udp), vec![]);
    }
}
