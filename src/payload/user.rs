//! The user's payloads: `--udp-payload [+]PORTS:HEX` and the payload file, whose format is
//! synscan's own (docs/udp-payloads.md):
//!
//! ```text
//! # comment lines and blank lines are skipped; a # after the bytes starts a comment too
//! 53          0000 0100 0001 0000 0000 0000 03 777777 00 0001 0001
//! 5353,5355   "\0\0\0\0\0\x01\0\0\0\0\0\0\x05local\0\0\x06\0\x01"
//! +161        302602010104067075626c6963a019...
//! 9999        -
//! ```
//!
//! A line is a port list, then the bytes: hex digit pairs (spaces between pairs allowed), a
//! double-quoted string with nmap's C escapes, or `-` for an empty datagram. An entry
//! replaces the database's payloads for its ports; with `+` before the ports it is sent
//! after them instead. A malformed line is refused with the file's name and the line.

use super::text::{hex_digit, port_list, unescape};
use super::{Origin, Payload, PayloadError};
use crate::targets::PortSet;
use std::path::Path;

/// One entry of the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPayload {
    /// True when it replaces the database's payloads for its ports (no `+`).
    pub replace: bool,
    /// The payload.
    pub payload: Payload,
}

/// Hex digit pairs, whitespace allowed between pairs.
fn hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for group in text.split_whitespace() {
        let g = group.as_bytes();
        if g.len() % 2 != 0 {
            return Err(format!("\"{group}\" is not whole hex digit pairs"));
        }
        for pair in g.chunks(2) {
            match (hex_digit(pair[0]), hex_digit(pair[1])) {
                (Some(h), Some(l)) => out.push((h << 4) | l),
                _ => return Err(format!("\"{group}\" is not hex")),
            }
        }
    }
    Ok(out)
}

/// The ports of an entry, with its `+`: 1-65535.
fn ports(text: &str) -> Result<(bool, PortSet), String> {
    let (add, list) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let set = port_list(list)?;
    if set.contains(0) {
        return Err("port 0 cannot be scanned; ports are 1-65535".to_string());
    }
    Ok((!add, set))
}

/// Refuses bytes no datagram holds.
fn fits(data: Vec<u8>) -> Result<Vec<u8>, String> {
    if data.len() > crate::wire::udp::MAX_PAYLOAD {
        return Err(format!(
            "{} bytes is more than a UDP datagram holds ({})",
            data.len(),
            crate::wire::udp::MAX_PAYLOAD
        ));
    }
    Ok(data)
}

/// Parses one `--udp-payload [+]PORTS:HEX` (an empty HEX is an empty datagram).
pub fn parse_flag(spec: &str) -> Result<UserPayload, PayloadError> {
    let err = |what: String| {
        PayloadError(format!(
            "bad --udp-payload \"{spec}\": {what}; write [+]PORTS:HEX, e.g. --udp-payload 53:000010000000000000000000"
        ))
    };
    let (list, bytes) = spec
        .split_once(':')
        .ok_or_else(|| err("no ':' between the ports and the bytes".to_string()))?;
    let (replace, set) = ports(list).map_err(err)?;
    let data = hex_bytes(bytes).and_then(fits).map_err(err)?;
    Ok(UserPayload {
        replace,
        payload: Payload::new(set, data, String::new(), Origin::Flag),
    })
}

/// The bytes column of a file line: hex, a quoted string, or `-`; then an optional comment.
fn line_bytes(rest: &str) -> Result<Vec<u8>, String> {
    let rest = rest.trim();
    if let Some(body) = rest.strip_prefix('"') {
        let b = body.as_bytes();
        let mut i = 0;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        if i >= b.len() {
            return Err("the quoted bytes have no closing quote".to_string());
        }
        let after = body[i + 1..].trim();
        if !(after.is_empty() || after.starts_with('#')) {
            return Err(format!("unexpected \"{after}\" after the quoted bytes"));
        }
        return unescape(&body[..i]);
    }
    let bytes = rest.split('#').next().unwrap_or("").trim();
    match bytes {
        "" => Err("no bytes after the ports (use - for an empty datagram)".to_string()),
        "-" => Ok(Vec::new()),
        hex => hex_bytes(hex),
    }
}

/// Parses the text of a payload file named `path` (for messages).
pub fn parse_file_text(text: &str, path: &Path) -> Result<Vec<UserPayload>, PayloadError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |what: String| {
            PayloadError(format!(
                "payload file {} line {}: {what}; each line is PORTS then hex bytes, \"quoted text\" or -, e.g. 53 000010000000000000000000",
                path.display(),
                i + 1
            ))
        };
        let (list, rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| err("no bytes after the ports (use - for an empty datagram)".into()))?;
        let (replace, set) = ports(list).map_err(err)?;
        let data = line_bytes(rest).and_then(fits).map_err(err)?;
        let origin = Origin::File {
            path: path.to_path_buf(),
            line: i + 1,
        };
        out.push(UserPayload {
            replace,
            payload: Payload::new(set, data, String::new(), origin),
        });
    }
    Ok(out)
}

/// Reads a payload file.
pub fn read_file(path: &Path) -> Result<Vec<UserPayload>, PayloadError> {
    let bytes = super::read_strict(
        path,
        "payload file",
        super::MAX_PAYLOAD_FILE_BYTES,
        "give --udp-payload-file a readable file of yours, in directories only you or root may write",
    )?;
    let text = String::from_utf8(bytes).map_err(|e| {
        PayloadError(format!(
            "payload file {} is not UTF-8 text (byte {}): write bytes as hex or escapes",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse_file_text(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::field::Protocol;

    fn path() -> &'static Path {
        Path::new("my.payloads")
    }

    #[test]
    fn flags() {
        let p = parse_flag("53,5353:000010000000000000000000").unwrap();
        assert!(p.replace);
        assert_eq!(p.payload.ports.to_spec(), "53,5353");
        assert_eq!(p.payload.data.len(), 12);
        assert_eq!(p.payload.origin, Origin::Flag);
        assert_eq!(p.payload.field.map(|f| f.protocol()), Some(Protocol::Dns));
        let p = parse_flag("+9999:").unwrap();
        assert!(!p.replace);
        assert!(p.payload.data.is_empty());
        assert_eq!(p.payload.field, None);
        let e = |s: &str| parse_flag(s).unwrap_err().to_string();
        assert_eq!(
            e("53:zz"),
            "bad --udp-payload \"53:zz\": \"zz\" is not hex; write [+]PORTS:HEX, e.g. --udp-payload 53:000010000000000000000000"
        );
        assert!(e("53").contains("no ':' between the ports and the bytes"));
        assert!(e("53:abc").contains("\"abc\" is not whole hex digit pairs"));
        assert!(e("0:00").contains("port 0 cannot be scanned"));
        assert!(e("70000:00").contains("bad port list \"70000\""));
        assert!(e(":00").contains("bad port list \"\""));
    }

    #[test]
    fn file_lines() {
        let text = "# my payloads\n\
                    \n\
                    53   0000 0100 0001 0000 0000 0000 00 0002 0001  # root NS\n\
                    +161 \"\\x30\\x00\" # an empty SEQUENCE\n\
                    9999 -\n\
                    7 \"a#b\"\n";
        let p = parse_file_text(text, path()).unwrap();
        assert_eq!(p.len(), 4);
        assert!(p[0].replace);
        assert_eq!(p[0].payload.data.len(), 17);
        assert_eq!(
            p[0].payload.field.map(|f| f.protocol()),
            Some(Protocol::Dns)
        );
        assert_eq!(
            p[0].payload.origin,
            Origin::File {
                path: path().into(),
                line: 3
            }
        );
        assert!(!p[1].replace);
        assert_eq!(&*p[1].payload.data, &[0x30, 0]);
        assert!(p[2].payload.data.is_empty());
        assert_eq!(&*p[3].payload.data, b"a#b");
    }

    #[test]
    fn malformed_lines_name_the_file_and_line() {
        let e = |t: &str| parse_file_text(t, path()).unwrap_err().to_string();
        assert_eq!(
            e("# ok\n53 00\n161 0g\n"),
            "payload file my.payloads line 3: \"0g\" is not hex; each line is PORTS then hex bytes, \"quoted text\" or -, e.g. 53 000010000000000000000000"
        );
        assert!(e("53").contains("line 1: no bytes after the ports"));
        assert!(e("53   # nothing").contains("line 1: no bytes after the ports"));
        assert!(e("53 \"abc").contains("line 1: the quoted bytes have no closing quote"));
        assert!(e("53 \"abc\" 00").contains("unexpected \"00\" after the quoted bytes"));
        assert!(e("53 \"\\q\"").contains("unknown escape \\q"));
        assert!(e("x 00").contains("bad port list \"x\""));
        assert!(e("\n\n+ 00").contains("line 3: bad port list \"\""));
        assert!(e("53 0 0").contains("\"0\" is not whole hex digit pairs"));
    }

    #[test]
    fn too_big_for_a_datagram() {
        let big = "00".repeat(crate::wire::udp::MAX_PAYLOAD + 1);
        let e = parse_flag(&format!("53:{big}")).unwrap_err().to_string();
        assert!(
            e.contains("65528 bytes is more than a UDP datagram holds (65527)"),
            "{e}"
        );
        assert!(parse_flag(&format!("53:{}", &big[2..])).is_ok());
    }

    #[test]
    fn missing_and_binary_files() {
        let dir = std::env::temp_dir().join(format!("synscan-payload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("none");
        let e = read_file(&missing).unwrap_err().to_string();
        assert!(e.starts_with(&format!("cannot open payload file {}: ", missing.display())));
        let bin = dir.join("bin");
        std::fs::write(&bin, b"53 00\n\xff\xfe").unwrap();
        let e = read_file(&bin).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "payload file {} is not UTF-8 text (byte 6): write bytes as hex or escapes",
                bin.display()
            )
        );
        // What decides the datagrams sent is trusted like a policy: others may not write it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o646)).unwrap();
        let e = read_file(&bin).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("refusing payload file {}: ", bin.display())),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
