//! The pieces of text the payload files share: nmap's C-style string escapes and port lists.

use crate::targets::PortSet;

/// The bytes `text` stands for, or the problem with it. The escapes are nmap's: `\0`, `\a`,
/// `\b`, `\f`, `\n`, `\r`, `\t`, `\v`, `\xHH`, and a backslash before any byte but a letter
/// or digit stands for that byte (`\\`, `\"`).
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = bytes
            .next()
            .ok_or_else(|| "a backslash ends the string".to_string())?;
        out.push(match e {
            b'\\' => b'\\',
            b'0' => 0,
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            b'x' => {
                let hi = bytes.next().and_then(hex_digit);
                let lo = bytes.next().and_then(hex_digit);
                match (hi, lo) {
                    (Some(h), Some(l)) => (h << 4) | l,
                    _ => return Err("\\x needs two hex digits".to_string()),
                }
            }
            // nmap refuses letters and digits it does not know (no octal) and takes any other
            // byte as itself (\" is a quote).
            other if other.is_ascii_alphanumeric() => {
                return Err(format!("unknown escape \\{}", char::from(other)))
            }
            other => other,
        });
    }
    Ok(out)
}

/// The value of one hex digit.
pub fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// A port list as nmap's files write it: "53,69,5353-5355" (ports 0-65535, no spaces).
pub fn port_list(text: &str) -> Result<PortSet, String> {
    let bad = || format!("bad port list \"{text}\": write it like 53,161,32768-65535");
    let port = |p: &str| -> Result<u16, String> {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse::<u16>().map_err(|_| bad())
    };
    let mut ranges = Vec::new();
    for item in text.split(',') {
        let (first, last) = match item.split_once('-') {
            None => (port(item)?, port(item)?),
            Some((a, b)) => (port(a)?, port(b)?),
        };
        if first > last {
            return Err(bad());
        }
        ranges.push((first, last));
    }
    Ok(PortSet::from_ranges(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            unescape(r"a\0\x41\xfF\r\n\t\\\a\b\f\v").unwrap(),
            b"a\0A\xff\r\n\t\\\x07\x08\x0c\x0b"
        );
        assert_eq!(unescape("").unwrap(), b"");
        assert_eq!(unescape(r"\x4").unwrap_err(), "\\x needs two hex digits");
        assert_eq!(unescape(r"\xg0").unwrap_err(), "\\x needs two hex digits");
        assert_eq!(unescape(r"\q").unwrap_err(), "unknown escape \\q");
        assert_eq!(unescape("\\").unwrap_err(), "a backslash ends the string");
        assert_eq!(unescape("é").unwrap(), "é".as_bytes());
        assert_eq!(unescape(r#"\"a\"\|"#).unwrap(), b"\"a\"|");
        assert_eq!(unescape(r"\015").unwrap(), b"\x0015");
        assert_eq!(unescape(r"\15").unwrap_err(), "unknown escape \\1");
    }

    #[test]
    fn port_lists() {
        assert_eq!(
            port_list("53,69,5353-5355,0").unwrap().ranges(),
            vec![(0, 0), (53, 53), (69, 69), (5353, 5355)]
        );
        assert_eq!(port_list("32768-65535").unwrap().len(), 32768);
        for bad in ["", "53,", "a", "5-3", "65536", "1-2-3", " 53", "+1"] {
            assert_eq!(
                port_list(bad).unwrap_err(),
                format!("bad port list \"{bad}\": write it like 53,161,32768-65535")
            );
        }
    }
}
