//! Our own reading of a TLS 1.0-1.2 handshake, for servers rustls will not talk to (TLS 1.0
//! or 1.1 only, old cipher suites, a certificate message larger than rustls accepts): send a
//! ClientHello, read the ServerHello and Certificate messages, which travel in clear before
//! TLS 1.3, and stop. Every length is checked before use; the handshake read is bounded.

/// Handshake bytes we accept in all (a certificate with 10,000 names is about 300 KB).
pub const MAX_HANDSHAKE: usize = 1 << 20;

/// Cipher suites offered: modern first, then the CBC and RC4/3DES suites TLS 1.0 servers know.
const SUITES: &[u16] = &[
    0xc02f, 0xc02b, 0xc030, 0xc02c, 0x009e, 0x009f, 0xc013, 0xc009, 0xc014, 0xc00a, 0x0033, 0x0039,
    0x009c, 0x009d, 0x002f, 0x0035, 0xc012, 0x000a, 0x0016, 0x0005, 0x0004,
];

/// A ClientHello offering TLS 1.0 to 1.2, with SNI when `server_name` is a host name.
pub fn client_hello(server_name: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[0x03, 0x03]);
    body.extend_from_slice(&random);
    body.push(0); // no session id
    body.extend_from_slice(&((SUITES.len() * 2) as u16).to_be_bytes());
    for s in SUITES {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // null compression
    let mut ext = Vec::new();
    if let Some(name) = server_name.filter(|n| n.parse::<std::net::IpAddr>().is_err()) {
        let n = name.as_bytes();
        let mut sni = Vec::new();
        sni.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(n.len() as u16).to_be_bytes());
        sni.extend_from_slice(n);
        push_ext(&mut ext, 0x0000, &sni);
    }
    push_ext(&mut ext, 0x000a, &[0, 6, 0, 0x17, 0, 0x18, 0, 0x19]);
    push_ext(&mut ext, 0x000b, &[1, 0]);
    push_ext(
        &mut ext,
        0x000d,
        &[0, 12, 4, 1, 5, 1, 6, 1, 4, 3, 5, 3, 2, 1],
    );
    push_ext(&mut ext, 0xff01, &[0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn push_ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// What the server's first flight said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerFlight {
    /// The version the ServerHello chose (0x0301 = TLS 1.0).
    pub version: u16,
    /// The cipher suite it chose.
    pub cipher: u16,
    /// The certificate chain, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
}

/// Where reading the server's flight stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// More bytes needed.
    More,
    /// ServerHello and Certificate (or ServerHelloDone) read.
    Done(ServerFlight),
    /// Not TLS, an alert, or too large.
    Failed(String),
}

/// Reads the server's flight from the bytes received so far (call again as more arrive).
pub fn read_flight(received: &[u8]) -> Progress {
    let mut hs = Vec::new();
    let mut at = 0;
    while received.len() >= at + 5 {
        let (kind, len) = (
            received[at],
            u16::from_be_bytes([received[at + 3], received[at + 4]]) as usize,
        );
        if received[at + 1] != 3 {
            return Progress::Failed("not a TLS record".into());
        }
        let Some(body) = received.get(at + 5..at + 5 + len) else {
            break;
        };
        match kind {
            22 => hs.extend_from_slice(body),
            21 => {
                let desc = body.get(1).copied().unwrap_or(0);
                return Progress::Failed(format!("TLS alert {desc}"));
            }
            _ => return Progress::Failed(format!("unexpected TLS record type {kind}")),
        }
        at += 5 + len;
        if hs.len() > MAX_HANDSHAKE {
            return Progress::Failed("handshake larger than 1 MiB".into());
        }
    }
    if at == 0 && received.len() >= 5 && received[1] != 3 {
        return Progress::Failed("not a TLS record".into());
    }
    let mut flight = ServerFlight::default();
    let mut hello = false;
    let mut p = 0;
    while hs.len() >= p + 4 {
        let kind = hs[p];
        let len = u32::from_be_bytes([0, hs[p + 1], hs[p + 2], hs[p + 3]]) as usize;
        if len > MAX_HANDSHAKE {
            return Progress::Failed("handshake message larger than 1 MiB".into());
        }
        let Some(msg) = hs.get(p + 4..p + 4 + len) else {
            return Progress::More;
        };
        match kind {
            2 => match server_hello(msg) {
                Some((v, c)) => {
                    flight.version = v;
                    flight.cipher = c;
                    hello = true;
                }
                None => return Progress::Failed("malformed ServerHello".into()),
            },
            11 if hello => match certificates(msg) {
                Some(chain) => {
                    flight.chain = chain;
                    return Progress::Done(flight);
                }
                None => return Progress::Failed("malformed Certificate".into()),
            },
            14 if hello => return Progress::Done(flight),
            _ => {}
        }
        p += 4 + len;
    }
    Progress::More
}

fn server_hello(m: &[u8]) -> Option<(u16, u16)> {
    let version = u16::from_be_bytes([*m.first()?, *m.get(1)?]);
    let sid_len = *m.get(34)? as usize;
    let c = m.get(35 + sid_len..37 + sid_len)?;
    Some((version, u16::from_be_bytes([c[0], c[1]])))
}

fn certificates(m: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_be_bytes([0, *m.first()?, *m.get(1)?, *m.get(2)?]) as usize;
    let list = m.get(3..3 + total)?;
    let mut chain = Vec::new();
    let mut p = 0;
    while p < list.len() {
        let len =
            u32::from_be_bytes([0, *list.get(p)?, *list.get(p + 1)?, *list.get(p + 2)?]) as usize;
        chain.push(list.get(p + 3..p + 3 + len)?.to_vec());
        p += 3 + len;
    }
    Some(chain)
}

/// The protocol version as openssl names it.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        other => format!("0x{other:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 1];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(body);
        m
    }

    fn flight() -> Vec<u8> {
        let mut hello = vec![3, 1];
        hello.extend_from_slice(&[7; 32]);
        hello.push(2);
        hello.extend_from_slice(&[9, 9]);
        hello.extend_from_slice(&[0x00, 0x35, 0]);
        let certs = [b"leafDER".to_vec(), b"caDER".to_vec()];
        let mut list = Vec::new();
        for c in &certs {
            list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(c);
        }
        let mut cert = (list.len() as u32).to_be_bytes()[1..].to_vec();
        cert.extend_from_slice(&list);
        let mut hs = msg(2, &hello);
        hs.extend(msg(11, &cert));
        hs.extend(msg(14, &[]));
        // Split the handshake over two records, as servers do.
        let (a, b) = hs.split_at(20);
        let mut out = record(22, a);
        out.extend(record(22, b));
        out
    }

    #[test]
    fn reads_a_tls10_flight_at_any_cut() {
        let f = flight();
        let want = ServerFlight {
            version: 0x0301,
            cipher: 0x0035,
            chain: vec![b"leafDER".to_vec(), b"caDER".to_vec()],
        };
        assert_eq!(read_flight(&f), Progress::Done(want.clone()));
        for cut in 0..f.len() - 4 {
            let p = read_flight(&f[..cut]);
            assert!(matches!(p, Progress::More), "cut {cut}: {p:?}");
        }
        assert_eq!(version_name(want.version), "TLSv1");
    }

    #[test]
    fn alerts_garbage_and_lies() {
        assert_eq!(
            read_flight(&record(21, &[2, 40])),
            Progress::Failed("TLS alert 40".into())
        );
        assert!(matches!(
            read_flight(b"HTTP/1.1 400 Bad\r\n"),
            Progress::Failed(_)
        ));
        let mut huge = record(22, &[11, 0xff, 0xff, 0xff]);
        huge.truncate(9);
        assert!(matches!(read_flight(&huge), Progress::Failed(_)));
        let bad_hello = record(22, &msg(2, &[3, 1]));
        assert!(matches!(read_flight(&bad_hello), Progress::Failed(_)));
        let lying_cert = record(
            22,
            &[
                msg(
                    2,
                    &[3, 3]
                        .iter()
                        .chain(&[0u8; 33])
                        .chain(&[0, 0x2f, 0])
                        .copied()
                        .collect::<Vec<_>>(),
                ),
                msg(11, &[0, 0, 9, 0, 0, 9]),
            ]
            .concat(),
        );
        assert!(matches!(read_flight(&lying_cert), Progress::Failed(_)));
    }

    #[test]
    fn hello_is_well_formed() {
        let h = client_hello(Some("example.com"), [1; 32]);
        assert_eq!(&h[..3], &[0x16, 3, 1]);
        assert_eq!(u16::from_be_bytes([h[3], h[4]]) as usize, h.len() - 5);
        assert_eq!(h[5], 1);
        assert_eq!(
            u32::from_be_bytes([0, h[6], h[7], h[8]]) as usize,
            h.len() - 9
        );
        assert!(h.windows(11).any(|w| w == b"example.com"));
        let ip = client_hello(Some("198.19.0.1"), [1; 32]);
        assert!(ip.len() < h.len(), "no SNI for an address");
    }
}
