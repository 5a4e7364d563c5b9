//! Reader of nmap's `nmap-payloads` (nmap up to 7.93), read at run time, never shipped.
//!
//! The format, as nmap reads it: `#` starts a comment to the end of the line; an entry is
//! the word `udp`, a port list ("53,69,5353-5355"), then one or more double-quoted strings
//! with C escapes (on one line each, concatenated), then optional keywords such as
//! `source 500` (the source port to send from). Anything else between entries is skipped,
//! as nmap skips it.

use super::text::{port_list, unescape};
use super::{Origin, Payload, PayloadDb, PayloadError, Source};
use std::path::Path;

/// One token and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A word: letters, digits, ',' and '-'.
    Word(String),
    /// A quoted string, unescaped.
    Bytes(Vec<u8>),
}

/// Splits `text` into (line, token) pairs; an unterminated or badly escaped string is an
/// error at its line.
fn tokens(text: &str) -> Result<Vec<(usize, Token)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut rest = line;
        loop {
            rest = rest.trim_start();
            let Some(c) = rest.chars().next() else {
                break;
            };
            if c == '#' {
                break;
            }
            if c == '"' {
                let body = &rest[1..];
                let end =
                    closing_quote(body).ok_or((n, "a string has no closing quote".to_string()))?;
                let bytes = unescape(&body[..end]).map_err(|e| (n, e))?;
                out.push((n, Token::Bytes(bytes)));
                rest = &body[end + 1..];
                continue;
            }
            let len = rest
                .char_indices()
                .skip(1)
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == ',' || c == '-'))
                .map_or(rest.len(), |(i, _)| i);
            out.push((n, Token::Word(rest[..len].to_string())));
            rest = &rest[len..];
        }
    }
    Ok(out)
}

/// Index of the quote that closes a string starting at `body` (a backslash escapes the next
/// byte, as nmap's tokenizer has it).
fn closing_quote(body: &str) -> Option<usize> {
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Parses the text of an nmap-payloads file named `path` (for messages).
pub fn parse(text: &str, path: &Path) -> Result<Vec<Payload>, PayloadError> {
    let err = |line: usize, what: String| {
        PayloadError(format!(
            "{} line {line}: {what}; fix the line or remove the file to use synscan's built-in payloads",
            path.display()
        ))
    };
    let toks = tokens(text).map_err(|(l, e)| err(l, e))?;
    let mut out: Vec<Payload> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let (line, ref tok) = toks[i];
        i += 1;
        match tok {
            Token::Word(w) if w == "udp" => {}
            Token::Word(w) if w == "source" => {
                // A keyword of the entry before: the source port its probes go from.
                let port = match toks.get(i) {
                    Some((_, Token::Word(p))) => p.parse::<u16>().ok(),
                    _ => None,
                };
                match (port, out.last_mut()) {
                    (Some(p), Some(last)) => last.source_port = Some(p),
                    _ => return Err(err(line, "\"source\" needs a port after a payload".into())),
                }
                i += 1;
                continue;
            }
            _ => continue,
        }
        let ports = match toks.get(i) {
            Some((_, Token::Word(w))) => port_list(w).map_err(|e| err(line, e))?,
            _ => return Err(err(line, "expected a port list after \"udp\"".into())),
        };
        i += 1;
        let mut data = Vec::new();
        let mut strings = 0;
        while let Some((_, Token::Bytes(b))) = toks.get(i) {
            data.extend_from_slice(b);
            strings += 1;
            i += 1;
        }
        if strings == 0 {
            return Err(err(line, "the entry has no payload string".into()));
        }
        let origin = Origin::File {
            path: path.to_path_buf(),
            line,
        };
        out.push(Payload::new(ports, data, String::new(), origin));
    }
    Ok(out)
}

/// Reads nmap-payloads at `path`.
pub fn read(path: &Path) -> Result<PayloadDb, PayloadError> {
    let text = super::read_strict(
        path,
        "nmap payload file",
        super::MAX_PAYLOAD_FILE_BYTES,
        "make it root's and readable, or remove it to use synscan's built-in payloads",
    )?;
    let text = String::from_utf8_lossy(&text);
    let payloads = parse(&text, path)?;
    Ok(PayloadDb::new(
        Source::NmapPayloads(path.to_path_buf()),
        payloads,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::field::Protocol;

    /// A file in nmap-payloads syntax written for this test (not nmap's own entries).
    const SAMPLE: &str = r#"# A test payload file
udp 7 "\x0D\x0A" # trailing comment
udp 53,5353
  # a DNS query for example. A, split over two strings
  "\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
  "\x07example\x00\x00\x01\x00\x01"
udp 500 "\x01\x02\x03\x04\x05\x06\x07\x08\0\0\0\0\0\0\0\0\x01\x10\x02\0\0\0\0\0\0\0\0\x1c"
source 500
unknown words are skipped
udp 32768-65535 "a\"b"
"#;

    fn path() -> &'static Path {
        Path::new("/x/nmap-payloads")
    }

    #[test]
    fn entries_strings_ranges_and_source() {
        let p = parse(SAMPLE, path()).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].ports.to_spec(), "7");
        assert_eq!(&*p[0].data, b"\r\n");
        assert_eq!(p[0].field, None);
        assert_eq!(
            p[0].origin,
            Origin::File {
                path: path().into(),
                line: 2
            }
        );
        assert_eq!(p[1].ports.to_spec(), "53,5353");
        assert_eq!(p[1].data.len(), 12 + 13);
        assert_eq!(p[1].field.map(|f| f.protocol()), Some(Protocol::Dns));
        assert_eq!(p[1].source_port, None);
        assert_eq!(p[2].source_port, Some(500));
        assert_eq!(p[2].field.map(|f| f.protocol()), Some(Protocol::Ike));
        assert_eq!(p[3].ports.len(), 32768);
        assert_eq!(&*p[3].data, b"a\"b");
    }

    #[test]
    fn malformed_lines_are_named() {
        let e = |t: &str| parse(t, path()).unwrap_err().to_string();
        assert_eq!(
            e("udp 53 \"abc\nudp 54 \"x\""),
            "/x/nmap-payloads line 1: a string has no closing quote; fix the line or remove the file to use synscan's built-in payloads"
        );
        assert!(e("\n\nudp 70000 \"x\"")
            .starts_with("/x/nmap-payloads line 3: bad port list \"70000\""));
        assert!(e("udp \"x\"").contains("line 1: expected a port list after \"udp\""));
        assert!(e("udp 53\nudp 54 \"x\"").contains("line 1: the entry has no payload string"));
        assert!(e("udp 53 \"\\q\"").contains("line 1: unknown escape \\q"));
        assert!(e("source 500").contains("\"source\" needs a port after a payload"));
    }

    #[test]
    fn empty_file_has_no_entries() {
        assert_eq!(parse("# nothing\n\n", path()).unwrap(), vec![]);
    }
}
