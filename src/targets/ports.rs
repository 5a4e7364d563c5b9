//! TCP port sets and the `-p` parser.

use super::ipset::Intervals;
use super::TargetError;

/// Sorted set of TCP ports stored as intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {
    inner: Intervals<u32>,
}

impl PortSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set from port intervals in any order (overlapping, touching or reversed is fine).
    pub fn from_ranges<I: IntoIterator<Item = (u16, u16)>>(ranges: I) -> Self {
        let raw = ranges
            .into_iter()
            .map(|(a, b)| (u32::from(a), u32::from(b)))
            .collect();
        PortSet {
            inner: Intervals::from_unsorted(raw),
        }
    }

    /// Adds every port from `first` to `last` inclusive.
    pub fn insert_range(&mut self, first: u16, last: u16) {
        self.inner.insert(u32::from(first), u32::from(last));
    }

    /// Number of ports.
    pub fn len(&self) -> u64 {
        // At most 65536.
        self.inner.len() as u64
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The i-th port in ascending order.
    pub fn nth(&self, i: u64) -> Option<u16> {
        // Members are only ever inserted from u16 values, so the narrowing is lossless.
        self.inner.nth(u128::from(i)).map(|p| p as u16)
    }

    /// True when `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.inner.contains(u32::from(port))
    }

    /// Every port, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.inner
            .ranges()
            .iter()
            .flat_map(|&(a, b)| (a..=b).map(|p| p as u16))
    }

    /// The intervals, ascending, inclusive.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        self.inner
            .ranges()
            .iter()
            .map(|&(a, b)| (a as u16, b as u16))
            .collect()
    }

    /// nmap's compact form: "22,80,8000-8100".
    pub fn to_spec(&self) -> String {
        let parts: Vec<String> = self
            .inner
            .ranges()
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        parts.join(",")
    }
}

/// Parses one port number of a `-p` item; `item` is quoted in errors.
fn port_number(text: &str) -> Result<u16, TargetError> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
        return Err(TargetError(format!(
            "bad port \"{t}\" in -p: use numbers 1-65535, e.g. -p 22,80,8000-8100"
        )));
    }
    match t.parse::<u32>() {
        Ok(0) => Err(TargetError(
            "bad port \"0\" in -p: port 0 is not scannable; ports are 1-65535".to_string(),
        )),
        Ok(p) if p <= 65535 => Ok(p as u16),
        _ => Err(TargetError(format!(
            "bad port \"{t}\" in -p: ports are 1-65535"
        ))),
    }
}

/// One `-p` item without its protocol prefix: "22", "8000-8100", "-" (all), "1-", "-1024".
pub(super) fn port_range(item: &str) -> Result<(u16, u16), TargetError> {
    match item.split_once('-') {
        None => {
            let p = port_number(item)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let first = if a.trim().is_empty() {
                1
            } else {
                port_number(a)?
            };
            let last = if b.trim().is_empty() {
                65535
            } else {
                port_number(b)?
            };
            if first > last {
                return Err(TargetError(format!(
                    "bad port range \"{item}\" in -p: the first port must not exceed the last"
                )));
            }
            Ok((first, last))
        }
    }
}

/// Parses `-p`: "22,80,8000-8100", "-" (all), "1-", "-1024", optional "T:" prefixes.
pub fn parse_ports(spec: &str) -> Result<PortSet, TargetError> {
    if spec.trim().is_empty() {
        return Err(TargetError(
            "empty -p: give ports like 22,80,8000-8100 or - for all".to_string(),
        ));
    }
    let mut raw = Vec::new();
    for item in spec.split(',') {
        let mut item = item.trim();
        // nmap's protocol prefixes: T: is what we scan; U:/S: (UDP/SCTP) we cannot.
        if let Some(rest) = item.strip_prefix("T:").or_else(|| item.strip_prefix("t:")) {
            item = rest.trim();
        } else if item.len() >= 2
            && item.as_bytes()[1] == b':'
            && matches!(item.as_bytes()[0], b'U' | b'u' | b'S' | b's')
        {
            return Err(TargetError(format!(
                "\"{item}\" in -p asks for UDP/SCTP: only TCP is scanned; drop the U:/S: part"
            )));
        }
        if item.is_empty() {
            return Err(TargetError(format!(
                "empty item in -p \"{}\": separate ports with single commas",
                spec.trim()
            )));
        }
        raw.push(port_range(item)?);
    }
    Ok(PortSet::from_ranges(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<(u16, u16)> {
        parse_ports(s).unwrap().ranges()
    }

    fn err(s: &str) -> String {
        parse_ports(s).unwrap_err().to_string()
    }

    #[test]
    fn forms() {
        assert_eq!(
            ok("22,80,8000-8100"),
            vec![(22, 22), (80, 80), (8000, 8100)]
        );
        assert_eq!(ok("-"), vec![(1, 65535)]);
        assert_eq!(ok("1-"), vec![(1, 65535)]);
        assert_eq!(ok("60000-"), vec![(60000, 65535)]);
        assert_eq!(ok("-1024"), vec![(1, 1024)]);
        assert_eq!(
            ok(" 22 , 80 - 81 ,443"),
            vec![(22, 22), (80, 81), (443, 443)]
        );
        assert_eq!(ok("T:22,80"), vec![(22, 22), (80, 80)]);
        assert_eq!(ok("T: 22, T:25"), vec![(22, 22), (25, 25)]);
        assert_eq!(ok("65535"), vec![(65535, 65535)]);
        assert_eq!(ok("1"), vec![(1, 1)]);
        // Unordered, overlapping and adjacent items merge.
        assert_eq!(ok("100-200,50,150-300,301,49"), vec![(49, 50), (100, 301)]);
        assert_eq!(parse_ports("-").unwrap().len(), 65535);
    }

    #[test]
    fn errors() {
        assert_eq!(err("70000"), "bad port \"70000\" in -p: ports are 1-65535");
        assert_eq!(
            err("22,70000-70001"),
            "bad port \"70000\" in -p: ports are 1-65535"
        );
        assert_eq!(
            err("0"),
            "bad port \"0\" in -p: port 0 is not scannable; ports are 1-65535"
        );
        assert!(err("0-10").contains("port 0"));
        assert_eq!(
            err("http"),
            "bad port \"http\" in -p: use numbers 1-65535, e.g. -p 22,80,8000-8100"
        );
        assert_eq!(
            err("U:53"),
            "\"U:53\" in -p asks for UDP/SCTP: only TCP is scanned; drop the U:/S: part"
        );
        assert!(err("T:22,S:80").contains("only TCP is scanned"));
        assert_eq!(
            err("100-10"),
            "bad port range \"100-10\" in -p: the first port must not exceed the last"
        );
        assert_eq!(
            err("22,,80"),
            "empty item in -p \"22,,80\": separate ports with single commas"
        );
        assert!(err("22,").contains("empty item"));
        assert!(err("").starts_with("empty -p"));
        assert!(err("   ").starts_with("empty -p"));
        assert!(err("1-2-3").contains("bad port \"2-3\""));
        assert!(err("+5").contains("bad port \"+5\""));
    }

    #[test]
    fn set_ops_and_spec() {
        let s = parse_ports("8000-8100,22,80").unwrap();
        assert_eq!(s.to_spec(), "22,80,8000-8100");
        assert_eq!(s.len(), 103);
        assert_eq!(s.nth(0), Some(22));
        assert_eq!(s.nth(1), Some(80));
        assert_eq!(s.nth(2), Some(8000));
        assert_eq!(s.nth(102), Some(8100));
        assert_eq!(s.nth(103), None);
        assert!(s.contains(8050));
        assert!(!s.contains(81));
        let all: Vec<u16> = s.iter().collect();
        let mut want = vec![22, 80];
        want.extend(8000..=8100);
        assert_eq!(all, want);
        let full = parse_ports("-").unwrap();
        assert_eq!(full.iter().count(), 65535);
        assert_eq!(full.iter().last(), Some(65535));
        assert_eq!(PortSet::default().to_spec(), "");
        assert!(PortSet::default().is_empty());
        let mut p = PortSet::new();
        p.insert_range(65535, 65535);
        p.insert_range(65534, 65534);
        assert_eq!(p.to_spec(), "65534-65535");
    }
}
