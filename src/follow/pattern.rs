//! One match line's regular expression: PCRE as nmap compiles it (through Debian's libpcre2),
//! over raw bytes, with only the `i` and `s` flags.
//!
//! Why PCRE2 and not fancy-regex, measured by `cargo bench --bench follow_regex` (nmap 7.93's
//! 11,917 match lines, the 71 banners of lab/corpus/banners.txt, every line against every
//! banner):
//!
//! | engine | lines that fail to compile | compile | memory | one line against one banner |
//! |---|---|---|---|---|
//! | PCRE2 10.42, JIT | 0 | 0.46 s | +45 MiB | 704 ns |
//! | fancy-regex 0.14 | 376 | 9.7 s | +1,560 MiB | 3,301 ns |
//!
//! fancy-regex also matches `&str` only (banners are bytes) and its `$` means end of text,
//! where PCRE's also matches before a final newline. PCRE2 without the UTF flag reads `\0` as
//! NUL, `$` as nmap means it and `.` as any byte but `\n` (any byte with `s`).

use pcre2::bytes::{CaptureLocations, Regex, RegexBuilder};

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    regex: Regex,
    flags: String,
}

/// The captured groups of one successful match: `(start, end)` per group, group 0 the whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captures {
    groups: Vec<Option<(usize, usize)>>,
}

impl Captures {
    /// Group `i`'s byte range in the subject, None when it did not take part.
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        self.groups.get(i).copied().flatten()
    }

    /// How many groups the pattern has, group 0 included.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when there is not even group 0 (never for a real match).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Why a pattern did not compile: PCRE2's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError(pub String);

impl Pattern {
    /// Compiles `source` as nmap does: PCRE, no UTF, `i` caseless, `s` dot-all; JIT when
    /// the library has it. Flags other than `i` and `s` are refused.
    pub fn compile(source: &str, flags: &str) -> Result<Pattern, PatternError> {
        let mut b = RegexBuilder::new();
        for f in flags.chars() {
            match f {
                'i' => {
                    b.caseless(true);
                }
                's' => {
                    b.dotall(true);
                }
                other => return Err(PatternError(format!("unknown regex flag '{other}'"))),
            }
        }
        b.jit_if_available(true);
        b.build(source)
            .map(|regex| Pattern {
                regex,
                flags: flags.to_string(),
            })
            .map_err(|e| PatternError(e.to_string()))
    }

    /// The pattern's text and flags, as written in the match line.
    pub fn source(&self) -> (&str, &str) {
        (self.regex.as_str(), &self.flags)
    }

    /// True when the pattern matches somewhere in `subject`; a PCRE error (a limit reached
    /// on a hostile banner) counts as no match, as nmap counts it.
    pub fn is_match(&self, subject: &[u8]) -> bool {
        self.regex.is_match(subject).unwrap_or(false)
    }

    /// The groups of the first match in `subject`, None when there is none.
    pub fn captures(&self, subject: &[u8]) -> Option<Captures> {
        let mut locs: CaptureLocations = self.regex.capture_locations();
        match self.regex.captures_read(&mut locs, subject) {
            Ok(Some(_)) => Some(Captures {
                groups: (0..locs.len()).map(|i| locs.get(i)).collect(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_matches_before_a_final_newline_as_pcre_does() {
        let p = Pattern::compile(r"^SSH-([\d.]+)-OpenSSH_([\w.]+)$", "").unwrap();
        let c = p.captures(b"SSH-2.0-OpenSSH_9.2\n").unwrap();
        assert_eq!(c.get(2), Some((16, 19)));
        assert!(!p.is_match(b"SSH-2.0-OpenSSH_9.2\n\n"));
    }

    #[test]
    fn backslash_zero_is_nul_and_bytes_need_not_be_utf8() {
        let p = Pattern::compile(r"^\0\x01\xff(.)", "").unwrap();
        let c = p.captures(b"\x00\x01\xff\xfe").unwrap();
        assert_eq!(c.get(1), Some((3, 4)));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn flags_i_and_s_as_nmap_means_them() {
        let p = Pattern::compile(r"^a.b", "").unwrap();
        assert!(!p.is_match(b"a\nb"));
        assert!(!p.is_match(b"A-b"));
        let p = Pattern::compile(r"^a.b", "si").unwrap();
        assert!(p.is_match(b"A\nb"));
        assert!(Pattern::compile("a", "x").is_err());
    }

    #[test]
    fn pcre_only_constructs_compile() {
        for (re, yes, no) in [
            (r"^(?=ab)a", &b"abc"[..], &b"acb"[..]),
            (r"^(?>a+)b", b"aab", b"ac"),
            (r"^a++b", b"aab", b"ac"),
            (r"^(a)\1", b"aa", b"ab"),
            (r"(?<!x)y", b"ay", b"xy"),
        ] {
            let p = Pattern::compile(re, "").unwrap();
            assert!(p.is_match(yes), "{re}");
            assert!(!p.is_match(no), "{re}");
        }
        assert!(Pattern::compile("(unclosed", "").is_err());
    }

    #[test]
    fn unset_groups_are_none() {
        let p = Pattern::compile(r"^(a)|(b)", "").unwrap();
        let c = p.captures(b"b").unwrap();
        assert_eq!(c.get(1), None);
        assert_eq!(c.get(2), Some((0, 1)));
        assert_eq!(c.get(9), None);
    }
}
