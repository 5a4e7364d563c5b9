//! Server bytes made safe to show: nothing a server sends can put an escape sequence, a NUL or
//! invalid UTF-8 on a terminal or into a report, and XML and JSON built from the result stay
//! valid. Banners are escaped as nmap escapes them (`\r`, `\n`, `\t`, `\\`, `\xNN`).

/// Raw bytes as printable ASCII: printable characters kept, `\` doubled, CR, LF and TAB as
/// `\r`, `\n`, `\t`, every other byte as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        push_byte(&mut out, b);
    }
    out
}

fn push_byte(out: &mut String, b: u8) {
    match b {
        b'\\' => out.push_str("\\\\"),
        b'\r' => out.push_str("\\r"),
        b'\n' => out.push_str("\\n"),
        b'\t' => out.push_str("\\t"),
        0x20..=0x7e => out.push(b as char),
        _ => out.push_str(&format!("\\x{b:02x}")),
    }
}

/// Text a server sent (a title, a header): valid UTF-8 printable characters kept, control
/// characters (C0, DEL, C1), and bytes that are not UTF-8 escaped as in [`escape_bytes`].
pub fn escape_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    push_byte(&mut out, b);
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            push_byte(&mut out, b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_as_nmap_shows_them() {
        assert_eq!(
            escape_bytes(b"SSH-2.0-x\r\n\0\x1b[31m\\\xff\t"),
            "SSH-2.0-x\\r\\n\\x00\\x1b[31m\\\\\\xff\\t"
        );
    }

    #[test]
    fn text_keeps_utf8_but_not_controls() {
        assert_eq!(escape_text("Café ✓".as_bytes()), "Café ✓");
        assert_eq!(escape_text(b"a\x1b]0;pwn\x07b"), "a\\x1b]0;pwn\\x07b");
        assert_eq!(escape_text(b"\xc3(\xff\0"), "\\xc3(\\xff\\x00");
        assert_eq!(escape_text("\u{9b}31m".as_bytes()), "\\xc2\\x9b31m");
    }

    /// Whatever the bytes, the result has no control character and survives JSON.
    #[test]
    fn any_bytes_come_out_clean() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for s in [escape_bytes(&all), escape_text(&all)] {
            assert!(!s.chars().any(char::is_control), "{s}");
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<String>(&json).unwrap(), s);
        }
    }
}
