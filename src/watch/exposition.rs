//! A check of Prometheus's text exposition format (version 0.0.4, what node_exporter's
//! textfile collector reads), strict enough that a file it accepts is one the collector
//! accepts whole: the metrics file is checked before it replaces the last good one, by
//! the scan and again by the root keeper that writes it.
//!
//! Lines: `# HELP name text`, `# TYPE name type` (before the family's samples, once),
//! other `#` comments, blank lines, and samples `name{label="value",...} value [ms]`.
//! A family's lines stand together, no series appears twice, label values use only the
//! escapes `\\`, `\"` and `\n`, and the text ends with a newline.

use std::collections::HashSet;

/// Escapes a label value as the format requires (backslash, double quote, newline).
pub fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// A sample value as Go's ParseFloat reads it (NaN and ±Inf included).
fn is_value(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let word = digits.to_ascii_lowercase();
    if matches!(word.as_str(), "nan" | "inf" | "infinity") {
        return true;
    }
    digits.starts_with(|c: char| c.is_ascii_digit() || c == '.') && s.parse::<f64>().is_ok()
}

/// The family a sample's name belongs to: a histogram's or summary's `_bucket`, `_sum`
/// and `_count` lines belong to the family their TYPE line named.
fn family<'a>(name: &'a str, types: &std::collections::HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if matches!(
                types.get(base).map(String::as_str),
                Some("histogram" | "summary")
            ) {
                return base;
            }
        }
    }
    name
}

/// Label names and values (unescaped).
type Labels = Vec<(String, String)>;

/// Reads `{a="x",b="y"}` at the start of `s`: the labels and the rest.
fn labels(s: &str) -> Result<(Labels, &str), String> {
    let mut rest = s
        .strip_prefix('{')
        .ok_or("expected '{'")?
        .trim_start_matches([' ', '\t']);
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((out, after));
        }
        let eq = rest.find('=').ok_or("a label without '='")?;
        let name = rest[..eq].trim_matches([' ', '\t']);
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} given twice"));
        }
        let quoted = rest[eq + 1..]
            .trim_start_matches([' ', '\t'])
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of label {name} is not in double quotes"))?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("the value of label {name} never ends")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err(format!("a bad escape in the value of label {name}")),
                },
                Some((_, '\n')) => return Err(format!("a newline in the value of label {name}")),
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        rest = quoted[end + 1..].trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start_matches([' ', '\t']);
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after a label".to_string());
        }
    }
}

/// What the check remembers across lines.
#[derive(Default)]
struct Families {
    types: std::collections::HashMap<String, String>,
    helped: HashSet<String>,
    /// Families whose lines ended (another family's line came after them).
    closed: HashSet<String>,
    current: Option<String>,
    /// Families with samples already.
    sampled: HashSet<String>,
    series: HashSet<String>,
}

impl Families {
    /// A line of `family` comes: it must continue the current family or start a new one.
    fn enter(&mut self, family: &str) -> Result<(), String> {
        if self.current.as_deref() == Some(family) {
            return Ok(());
        }
        if self.closed.contains(family) {
            return Err(format!(
                "the lines of {family} do not stand together (another family came between)"
            ));
        }
        if let Some(old) = self.current.replace(family.to_string()) {
            self.closed.insert(old);
        }
        Ok(())
    }

    fn comment(&mut self, line: &str) -> Result<(), String> {
        let body = line[1..].trim_start_matches([' ', '\t']);
        let (word, rest) = body.split_once([' ', '\t']).unwrap_or((body, ""));
        if word != "HELP" && word != "TYPE" {
            return Ok(());
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let (name, text) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
        if !is_metric_name(name) {
            return Err(format!("bad metric name {name:?} in a {word} line"));
        }
        self.enter(name)?;
        if word == "HELP" {
            if !self.helped.insert(name.to_string()) {
                return Err(format!("a second HELP line for {name}"));
            }
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
                    return Err(format!("a bad escape in the HELP text of {name}"));
                }
            }
            return Ok(());
        }
        let kind = text.trim_matches([' ', '\t']);
        if !matches!(
            kind,
            "counter" | "gauge" | "histogram" | "summary" | "untyped"
        ) {
            return Err(format!("unknown metric type {kind:?} for {name}"));
        }
        if self.types.contains_key(name) {
            return Err(format!("a second TYPE line for {name}"));
        }
        if self.sampled.contains(name) {
            return Err(format!("the TYPE line of {name} comes after its samples"));
        }
        self.types.insert(name.to_string(), kind.to_string());
        Ok(())
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
        let name = &line[..end];
        if !is_metric_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        let (mut labels, rest) = if line[end..].starts_with('{') {
            labels(&line[end..])?
        } else {
            (Vec::new(), &line[end..])
        };
        let mut fields = rest.split([' ', '\t']).filter(|f| !f.is_empty());
        let value = fields.next().ok_or("a sample without a value")?;
        if !is_value(value) {
            return Err(format!("bad sample value {value:?}"));
        }
        if let Some(ts) = fields.next() {
            if ts.parse::<i64>().is_err() {
                return Err(format!("bad timestamp {ts:?}"));
            }
        }
        if fields.next().is_some() {
            return Err("more fields after the value and timestamp".to_string());
        }
        let fam = family(name, &self.types).to_string();
        self.enter(&fam)?;
        self.sampled.insert(fam);
        labels.sort();
        let key = format!("{name}{labels:?}");
        if !self.series.insert(key) {
            return Err(format!("the same series of {name} twice"));
        }
        Ok(())
    }
}

/// Checks `text` as the exposition format; Err names the first bad line and what is
/// wrong with it.
pub fn check(text: &str) -> Result<(), String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the text does not end with a newline".to_string());
    }
    let mut f = Families::default();
    // Split on '\n' alone: lines() would take a "\r\n" ending the collector refuses.
    for (i, line) in text.split('\n').enumerate() {
        let at = |why: String| format!("line {}: {why}", i + 1);
        if line.contains('\r') {
            return Err(at("a carriage return".to_string()));
        }
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            f.comment(trimmed).map_err(at)?;
        } else {
            f.sample(trimmed).map_err(at)?;
        }
    }
    Ok(())
}

/// [`check`] on bytes that must be UTF-8 (what a keeper is handed).
pub fn check_bytes(bytes: &[u8]) -> Result<(), String> {
    check(std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_format_with_its_corners() {
        let text = "# A free comment\n\
            # HELP a_total Things, with a \\\\ and a \\n.\n\
            # TYPE a_total counter\n\
            a_total{x=\"1\",y=\"q\\\"uote\"} 3\n\
            a_total{y=\"2\",x=\"1\",} 4 1700000000000\n\
            \n\
            b NaN\n\
            c{le=\"+Inf\"} +Inf\n\
            d -1.5e-3\n\
            # TYPE h histogram\n\
            h_bucket{le=\"1\"} 0\n\
            h_bucket{le=\"+Inf\"} 2\n\
            h_sum 3\n\
            h_count 2\n";
        assert_eq!(check(text), Ok(()));
        assert_eq!(check(""), Ok(()));
    }

    #[test]
    fn refuses_what_the_collector_refuses_naming_the_line() {
        for (text, why) in [
            ("a 1", "does not end with a newline"),
            ("1a 1\n", "line 1: bad metric name"),
            ("a{x=\"1} 1\n", "line 1: the value of label x never ends"),
            ("a{x=\"\\t\"} 1\n", "line 1: a bad escape"),
            (
                "a{x=1} 1\n",
                "line 1: the value of label x is not in double quotes",
            ),
            ("a{__x=\"1\"} 1\n", "line 1: bad label name"),
            ("a{x=\"1\",x=\"2\"} 1\n", "line 1: label x given twice"),
            ("a\n", "line 1: a sample without a value"),
            ("a one\n", "line 1: bad sample value"),
            ("a 1 2 3\n", "line 1: more fields"),
            ("a 1 1.5\n", "line 1: bad timestamp"),
            (
                "a{x=\"1\"} 1\na{x=\"1\"} 2\n",
                "line 2: the same series of a twice",
            ),
            (
                "a 1\nb 1\na 2\n",
                "line 3: the lines of a do not stand together",
            ),
            ("# TYPE a gauge\n# TYPE a gauge\n", "line 2: a second TYPE"),
            (
                "a 1\n# TYPE a gauge\n",
                "line 2: the TYPE line of a comes after its samples",
            ),
            ("# TYPE a meter\n", "line 1: unknown metric type"),
            ("# HELP a x\n# HELP a y\n", "line 2: a second HELP"),
            ("a 1\r\n", "line 1: a carriage return"),
        ] {
            let got = check(text).expect_err(text);
            assert!(got.contains(why), "{text:?}: {got}");
        }
        assert!(check_bytes(b"a 1\n\xff\n").is_err());
    }

    #[test]
    fn escaped_label_values_read_back_as_they_were() {
        for value in [
            "plain",
            "a\"b\\c\nd",
            "\\\\\"\"\n\n",
            "Apache httpd 2.4 \"(Debian)\"",
            "ümlaut, comma, } brace = sign",
            "",
        ] {
            let line = format!("m{{v=\"{}\"}} 1\n", escape_label(value));
            assert_eq!(check(&line), Ok(()), "{line}");
            let (labels, rest) = labels(&line[1..]).expect("labels");
            assert_eq!(labels, vec![("v".to_string(), value.to_string())]);
            assert_eq!(rest, " 1\n");
        }
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
