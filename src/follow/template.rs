//! The version templates of a match line (`p/$1/`, `v/$P(2)/`, `i/$SUBST(1,"_",".")/`,
//! `cpe:/a:vendor:product:$2/`) and their substitution, byte for byte as nmap 7.93 does it:
//! a reference to a group that did not take part, an unknown command or a result too long
//! for nmap's fixed field empties that field; a NUL in a capture ends the substituted text;
//! trailing white space and commas are trimmed.

use super::pattern::Captures;

/// nmap's field buffers (bytes, the terminating NUL included).
pub const PRODUCT_LEN: usize = 80;
/// See [`PRODUCT_LEN`].
pub const INFO_LEN: usize = 256;
/// See [`PRODUCT_LEN`]: ostype and devicetype.
pub const TYPE_LEN: usize = 32;

/// Fills `template` from the groups of a match over `subject`; None when nmap would leave the
/// field empty. With `cpe`, each substituted value is made safe for a CPE URL first.
pub fn substitute(
    template: &[u8],
    subject: &[u8],
    caps: &Captures,
    buf_len: usize,
    cpe: bool,
) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'$') {
            None => {
                for &b in rest {
                    if out.len() >= buf_len.checked_sub(1)? {
                        return None;
                    }
                    out.push(b);
                }
                return Some(trim_end(out));
            }
            Some(at) => {
                out.extend_from_slice(&rest[..at]);
                let (value, used) = variable(&rest[at..], subject, caps)?;
                let value = match value.iter().position(|&b| b == 0) {
                    Some(nul) => &value[..nul],
                    None => &value[..],
                };
                let value = if cpe { cpe_safe(value) } else { value.to_vec() };
                if out.len() + value.len() + 1 >= buf_len {
                    return None;
                }
                out.extend_from_slice(&value);
                rest = &rest[at + used..];
            }
        }
    }
    Some(trim_end(out))
}

/// Drops trailing white space and commas, as nmap does after every substitution.
fn trim_end(mut out: Vec<u8>) -> Vec<u8> {
    while matches!(out.last(), Some(b) if b.is_ascii_whitespace() || *b == b',' || *b == 0x0b) {
        out.pop();
    }
    out
}

/// One `$...` variable at the start of `text`: its value and how many bytes it spans.
fn variable(text: &[u8], subject: &[u8], caps: &Captures) -> Option<(Vec<u8>, usize)> {
    let body = text.strip_prefix(b"$")?;
    if let Some(&d) = body.first().filter(|d| d.is_ascii_digit()) {
        return Some((group(subject, caps, i64::from(d - b'0'))?.to_vec(), 2));
    }
    let open = body.iter().position(|&b| b == b'(')?;
    if open == 0 || open >= 16 {
        return None;
    }
    let command = &body[..open];
    let (args, args_len) = command_args(&body[open + 1..])?;
    let used = 1 + open + 1 + args_len;
    let value = match (command, args.as_slice()) {
        (b"P", [Arg::Int(n)]) => group(subject, caps, *n)?
            .iter()
            .copied()
            .filter(|b| (0x20..0x7f).contains(b))
            .collect(),
        (b"SUBST", [Arg::Int(n), Arg::Str(find), Arg::Str(repl)]) => {
            let g = group(subject, caps, *n)?;
            let mut v = Vec::with_capacity(g.len());
            let mut i = 0;
            while i < g.len() {
                if !find.is_empty() && g[i..].starts_with(find) {
                    v.extend_from_slice(repl);
                    i += find.len();
                } else if find.is_empty() {
                    // nmap's memcmp of zero bytes always matches: it appends the
                    // replacement forever; we refuse instead.
                    return None;
                } else {
                    v.push(g[i]);
                    i += 1;
                }
            }
            v
        }
        (b"I", [Arg::Int(n), Arg::Str(order)]) if order.len() == 1 => {
            let g = group(subject, caps, *n)?;
            if g.len() > 8 {
                return None;
            }
            let value = match order[0] {
                b'>' => g.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)),
                b'<' => g.iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b)),
                _ => return None,
            };
            value.to_string().into_bytes()
        }
        _ => return None,
    };
    Some((value, used))
}

/// Group `n` (1 to 9) of the match, None when out of range or unset.
fn group<'s>(subject: &'s [u8], caps: &Captures, n: i64) -> Option<&'s [u8]> {
    if !(1..=9).contains(&n) {
        return None;
    }
    let (s, e) = caps.get(n as usize)?;
    subject.get(s..e)
}

#[derive(Debug, PartialEq)]
enum Arg {
    Int(i64),
    Str(Vec<u8>),
}

/// The arguments of `$CMD(...)` after the opening parenthesis, as nmap's
/// getsubstcommandargs reads them, and how many bytes they span (closing paren included).
fn command_args(text: &[u8]) -> Option<(Vec<Arg>, usize)> {
    const MAX_ARGS: usize = 5;
    const MAX_STR: usize = 127;
    let mut args = Vec::new();
    let mut i = 0;
    while i < text.len() && text[i] != b')' {
        while i < text.len() && text[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= text.len() || text[i] == b')' {
            break;
        }
        if args.len() == MAX_ARGS {
            return None;
        }
        if text[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            loop {
                let b = *text.get(j)?;
                let escaped =
                    j > start && text[j - 1] == b'\\' && !(j > start + 1 && text[j - 2] == b'\\');
                if b == b'"' && !escaped {
                    break;
                }
                j += 1;
                if j - start >= MAX_STR {
                    return None;
                }
            }
            args.push(Arg::Str(unescape(&text[start..j])?));
            i = j + 1;
        } else {
            let (n, len) = parse_c_int(&text[i..])?;
            args.push(Arg::Int(n));
            i += len;
        }
        // Skip to the next ',' or ')'.
        while i < text.len() && text[i] != b',' && text[i] != b')' {
            i += 1;
        }
        if i >= text.len() {
            return None;
        }
        if text[i] == b',' {
            i += 1;
        }
    }
    if i < text.len() && text[i] == b')' {
        i += 1;
    }
    Some((args, i))
}

/// strtol(s, _, 0): optional sign, then hex (0x), octal (leading 0) or decimal digits.
fn parse_c_int(text: &[u8]) -> Option<(i64, usize)> {
    let mut i = 0;
    while i < text.len() && text[i].is_ascii_whitespace() {
        i += 1;
    }
    let neg = match text.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let (radix, mut j) = if text[i..].starts_with(b"0x") || text[i..].starts_with(b"0X") {
        (16, i + 2)
    } else if text.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let digits_start = j;
    let mut v: i64 = 0;
    while let Some(d) = text.get(j).and_then(|&c| (c as char).to_digit(radix)) {
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        j += 1;
    }
    if j == digits_start {
        return None;
    }
    Some((if neg { -v } else { v }, j))
}

/// nmap's cstring_unescape: `\\ \0 \n \r \t \xHH`, anything else refused.
pub fn unescape(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let b = match *text.get(i + 1)? {
            b'\\' => b'\\',
            b'0' => 0,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'x' => {
                let hex = text.get(i + 2..i + 4)?;
                let s = std::str::from_utf8(hex).ok()?;
                i += 2;
                u8::from_str_radix(s, 16).ok()?
            }
            _ => return None,
        };
        out.push(b);
        i += 2;
    }
    Some(out)
}

/// nmap's transform_cpe: URL-reserved characters as %XX, white space as `_`, the rest lower case.
fn cpe_safe(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        if b":/?#[]@!$&'()*+,;=%<>\"".contains(&b) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else if b.is_ascii_whitespace() || b == 0x0b {
            out.push(b'_');
        } else {
            out.push(b.to_ascii_lowercase());
        }
    }
    out
}

/// A field as nmap finally stores it: at most `max` bytes, each outside printable ASCII
/// replaced by '.', so no field can carry a control byte or invalid UTF-8.
pub fn sanitize(value: &[u8], max: usize) -> String {
    value
        .iter()
        .take(max)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::pattern::Pattern;
    use super::*;

    fn sub(re: &str, subject: &[u8], tmpl: &str, cpe: bool) -> Option<String> {
        let p = Pattern::compile(re, "s").unwrap();
        let caps = p.captures(subject).unwrap();
        substitute(tmpl.as_bytes(), subject, &caps, PRODUCT_LEN, cpe)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn plain_groups_and_trailing_trim() {
        let s = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n";
        let re = r"^SSH-([\d.]+)-OpenSSH_([\w._-]+)[ -]{1,2}Debian[ -_]([^\r\n]+)\r?\n";
        assert_eq!(
            sub(re, s, "$2 Debian $3", false).unwrap(),
            "9.2p1 Debian 2+deb12u6"
        );
        assert_eq!(sub(re, s, "protocol $1, ", false).unwrap(), "protocol 2.0");
        assert_eq!(
            sub(re, s, "cpe:/a:openbsd:openssh:$2", true).unwrap(),
            "cpe:/a:openbsd:openssh:9.2p1"
        );
    }

    #[test]
    fn unset_or_out_of_range_group_empties_the_field() {
        assert_eq!(sub("^(a)|(b)", b"b", "x $1", false), None);
        assert_eq!(sub("^(a)", b"a", "x $2", false), None);
        assert_eq!(sub("^(a)", b"a", "x $0", false), None);
        assert_eq!(sub("^(a)", b"a", "x $Q(1)", false), None);
    }

    #[test]
    fn commands_p_subst_i() {
        let s = b"W\0O\0R\0K\0|1_2_3|\x01\x02";
        let re = r"^((?:.\0)+)\|([\d_]+)\|(..)";
        assert_eq!(sub(re, s, "$P(1)", false).unwrap(), "WORK");
        assert_eq!(
            sub(re, s, r#"v$SUBST(2,"_",".")"#, false).unwrap(),
            "v1.2.3"
        );
        assert_eq!(sub(re, s, r#"$I(3,">")"#, false).unwrap(), "258");
        assert_eq!(sub(re, s, r#"$I(3,"<")"#, false).unwrap(), "513");
        assert_eq!(sub(re, s, r#"$I(3,"x")"#, false), None);
        assert_eq!(
            sub(re, s, "$1", false).unwrap(),
            "W",
            "a NUL ends a capture"
        );
        assert_eq!(
            sub(re, s, r#"$SUBST(2,"_","\x41")"#, false).unwrap(),
            "1A2A3"
        );
        assert_eq!(sub(re, s, "$P(0x2)", false).unwrap(), "1_2_3");
    }

    #[test]
    fn cpe_values_are_escaped_and_lowercased() {
        assert_eq!(
            sub("^(.*)$", b"Foo Bar:1/2", "cpe:/a:x:$1", true).unwrap(),
            "cpe:/a:x:foo_bar%3A1%2F2"
        );
    }

    #[test]
    fn too_long_for_nmaps_buffer_is_empty() {
        let long = vec![b'a'; 79];
        assert_eq!(sub("^(a+)$", &long, "$1", false), None);
        let ok = vec![b'a'; 78];
        assert_eq!(sub("^(a+)$", &ok, "$1", false).unwrap().len(), 78);
    }

    #[test]
    fn sanitize_replaces_non_printables() {
        assert_eq!(sanitize(b"Oc\xc3\xa9 \x1b[31m\0", 80), "Oc.. .[31m.");
        assert_eq!(sanitize(b"abcdef", 3), "abc");
    }

    #[test]
    fn unescape_as_cstring_unescape() {
        assert_eq!(unescape(br"a\r\n\0\x41\\").unwrap(), b"a\r\n\0A\\");
        assert_eq!(unescape(br"\q"), None);
        assert_eq!(unescape(br"\x4"), None);
    }
}
