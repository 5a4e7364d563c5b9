//! Target specs: addresses, CIDR blocks, a-b ranges, nmap octet ranges and hostnames; spec
//! files (-iL); reserved blocks; and the include-minus-exclude target set.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use ipnet::Ipv4Net;

use super::ipset::{Intervals, Ipv4Set};
use super::TargetError;

/// Resolves a hostname to IPv4 addresses (injected so tests need no DNS).
pub type Resolver<'a> = &'a dyn Fn(&str) -> Result<Vec<Ipv4Addr>, String>;

/// Most intervals one octet-range spec may expand to (8 bytes each: 8 MiB at the cap).
pub const MAX_SPEC_INTERVALS: usize = 1 << 20;

/// The resolver that asks the system (getaddrinfo through std).
pub fn system_resolver(name: &str) -> Result<Vec<Ipv4Addr>, String> {
    let addrs = (name, 0u16).to_socket_addrs().map_err(|e| e.to_string())?;
    let mut v4: Vec<Ipv4Addr> = Vec::new();
    for a in addrs {
        if let std::net::SocketAddr::V4(s) = a {
            if !v4.contains(s.ip()) {
                v4.push(*s.ip());
            }
        }
    }
    if v4.is_empty() {
        Err("no IPv4 address for this name".to_string())
    } else {
        Ok(v4)
    }
}

/// Error for a spec that matches no form.
fn bad_target(spec: &str) -> TargetError {
    TargetError(format!(
        "bad target \"{spec}\": use an address (10.0.0.1), CIDR (10.0.0.0/24), range \
         (10.0.0.1-10.0.0.9 or 10.0.0.1-9) or hostname"
    ))
}

/// True for names that could be DNS hostnames: host characters only, at least one letter.
fn looks_like_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().any(|c| c.is_ascii_alphabetic())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
}

/// Resolves `name` with `resolve`, mapping failures to a one-line TargetError.
fn resolve_name(name: &str, resolve: Resolver) -> Result<Vec<Ipv4Addr>, TargetError> {
    match resolve(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(TargetError(format!(
            "cannot resolve \"{name}\": no IPv4 address; check the name or give an address"
        ))),
        Err(e) => Err(TargetError(format!(
            "cannot resolve \"{name}\": {e}; check the name or give an address"
        ))),
    }
}

/// Parses one octet field of an nmap-style range ("1-254", "*", "0,2,5-7", "-5", "5-").
fn parse_octet(field: &str, spec: &str) -> Result<Vec<(u32, u32)>, TargetError> {
    let num = |t: &str| -> Result<u32, TargetError> {
        if t.is_empty() || t.len() > 3 || !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(TargetError(format!(
                "bad octet \"{t}\" in target \"{spec}\": octets are 0-255, ranges a-b, lists a,b or *"
            )));
        }
        match t.parse::<u32>() {
            Ok(v) if v <= 255 => Ok(v),
            _ => Err(TargetError(format!(
                "bad octet \"{t}\" in target \"{spec}\": octets are 0-255"
            ))),
        }
    };
    let mut raw = Vec::new();
    for item in field.split(',') {
        let item = item.trim();
        let r = if item == "*" {
            (0, 255)
        } else if let Some((a, b)) = item.split_once('-') {
            let lo = if a.is_empty() { 0 } else { num(a)? };
            let hi = if b.is_empty() { 255 } else { num(b)? };
            if lo > hi {
                return Err(TargetError(format!(
                    "bad octet range \"{item}\" in target \"{spec}\": the first value must not exceed the last"
                )));
            }
            (lo, hi)
        } else {
            let v = num(item)?;
            (v, v)
        };
        raw.push(r);
    }
    Ok(Intervals::from_unsorted(raw).ranges().to_vec())
}

/// Expands four octet interval lists into merged address intervals, ascending.
///
/// Works right to left: when the lower part is the full range (e.g. "x.*"), each higher interval
/// maps to one scaled interval; otherwise each higher value repeats the lower intervals, merging
/// touching neighbours as they are pushed. The count is checked before anything large is built.
fn expand_octets(
    octets: &[Vec<(u32, u32)>; 4],
    spec: &str,
) -> Result<Vec<(u32, u32)>, TargetError> {
    let mut low: Vec<(u32, u32)> = octets[3].clone();
    for (level, high) in octets[..3].iter().rev().enumerate() {
        let bits = 8 * (level as u32 + 1);
        let full_low = low.len() == 1 && low[0] == (0, (1u32 << bits) - 1);
        let mut next: Vec<(u32, u32)> = Vec::new();
        if full_low {
            for &(a, b) in high {
                next.push((a << bits, (b << bits) | ((1u32 << bits) - 1)));
            }
        } else {
            let values: u64 = high.iter().map(|&(a, b)| u64::from(b - a + 1)).sum();
            if values.saturating_mul(low.len() as u64) > MAX_SPEC_INTERVALS as u64 {
                return Err(TargetError(format!(
                    "target \"{spec}\" expands to more than {MAX_SPEC_INTERVALS} separate ranges: \
                     split it or use CIDR blocks"
                )));
            }
            next.reserve(values as usize * low.len());
            for &(a, b) in high {
                for v in a..=b {
                    let base = v << bits;
                    for &(la, lb) in &low {
                        let (na, nb) = (base | la, base | lb);
                        match next.last_mut() {
                            Some(last) if u64::from(last.1) + 1 == u64::from(na) => last.1 = nb,
                            _ => next.push((na, nb)),
                        }
                    }
                }
            }
        }
        low = next;
    }
    Ok(low)
}

/// Parses a spec of only digits, dots, '-', ',' and '*' as nmap octet ranges.
fn parse_octet_spec(spec: &str) -> Result<Vec<(u32, u32)>, TargetError> {
    let fields: Vec<&str> = spec.split('.').collect();
    if fields.len() != 4 {
        return Err(bad_target(spec));
    }
    let octets = [
        parse_octet(fields[0], spec)?,
        parse_octet(fields[1], spec)?,
        parse_octet(fields[2], spec)?,
        parse_octet(fields[3], spec)?,
    ];
    expand_octets(&octets, spec)
}

/// Parses one target spec (address, CIDR, a-b range, nmap octet range, hostname) into intervals.
pub fn parse_target(
    spec: &str,
    resolve: Resolver,
) -> Result<Vec<(Ipv4Addr, Ipv4Addr)>, TargetError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(TargetError(
            "empty target: give an address, CIDR block, range or hostname".to_string(),
        ));
    }
    let to_addrs = |v: Vec<(u32, u32)>| {
        v.into_iter()
            .map(|(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b)))
            .collect::<Vec<_>>()
    };

    // Hostnames never contain ':', so any ':' means an IPv6 literal (or garbage).
    if spec.contains(':') {
        let addr_part = spec.split('/').next().unwrap_or(spec);
        let addr_part = addr_part.trim_start_matches('[').trim_end_matches(']');
        if addr_part.parse::<Ipv6Addr>().is_ok() || addr_part.contains("::") {
            return Err(TargetError(format!(
                "IPv6 targets are not supported: \"{spec}\"; give IPv4 addresses or hostnames"
            )));
        }
        return Err(bad_target(spec));
    }

    if let Ok(ip) = spec.parse::<Ipv4Addr>() {
        return Ok(vec![(ip, ip)]);
    }

    // CIDR: address (or hostname, as nmap allows) with a prefix length; host bits may be set.
    if let Some((host, prefix)) = spec.split_once('/') {
        let plen = match prefix.trim().parse::<u8>() {
            Ok(p) if p <= 32 && prefix.trim().bytes().all(|c| c.is_ascii_digit()) => p,
            _ => {
                return Err(TargetError(format!(
                    "bad prefix length \"/{prefix}\" in target \"{spec}\": use /0 to /32"
                )))
            }
        };
        let host = host.trim();
        let addr = match host.parse::<Ipv4Addr>() {
            Ok(a) => a,
            Err(_) if looks_like_hostname(host) => resolve_name(host, resolve)?[0],
            Err(_) => return Err(bad_target(spec)),
        };
        let net = Ipv4Net::new(addr, plen).map_err(|_| bad_target(spec))?;
        return Ok(vec![(net.network(), net.broadcast())]);
    }

    // Full range a.b.c.d-e.f.g.h.
    if let Some((a, b)) = spec.split_once('-') {
        if let (Ok(first), Ok(last)) = (a.trim().parse::<Ipv4Addr>(), b.trim().parse::<Ipv4Addr>())
        {
            if first > last {
                return Err(TargetError(format!(
                    "bad range \"{spec}\": the first address must not exceed the last"
                )));
            }
            return Ok(vec![(first, last)]);
        }
    }

    // nmap octet ranges: 10.0.0-3.1-254, 10.0.*.1, 10.0.0,2.1, 10.0.0.-5 ...
    if spec
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b',' | b'*'))
    {
        return parse_octet_spec(spec).map(to_addrs);
    }

    if looks_like_hostname(spec) {
        let mut v: Vec<u32> = resolve_name(spec, resolve)?
            .into_iter()
            .map(u32::from)
            .collect();
        v.sort_unstable();
        v.dedup();
        let set = Intervals::from_unsorted(v.into_iter().map(|a| (a, a)).collect());
        return Ok(to_addrs(set.ranges().to_vec()));
    }
    Err(bad_target(spec))
}

/// One target spec and, when it was read from a file, where (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The spec as written.
    pub text: String,
    /// `-iL "FILE" line N` for a spec read from a file; None for one from the command line.
    pub origin: Option<String>,
}

impl From<&str> for Spec {
    fn from(text: &str) -> Spec {
        Spec {
            text: text.to_string(),
            origin: None,
        }
    }
}

impl From<String> for Spec {
    fn from(text: String) -> Spec {
        Spec { text, origin: None }
    }
}

/// Splits spec-file text into specs with their 1-based line numbers: whitespace separated,
/// `#` to end of line is a comment. Commas are kept because "10.0.0,2.1" is one spec.
pub fn split_spec_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .flat_map(|(i, line)| {
            let line = line.split('#').next().unwrap_or("");
            line.split_whitespace().map(move |w| (i + 1, w.to_string()))
        })
        .collect()
}

/// Splits spec-file text into specs (see [`split_spec_lines`]).
pub fn split_specs(text: &str) -> Vec<String> {
    split_spec_lines(text).into_iter().map(|(_, s)| s).collect()
}

/// Reads whitespace-separated specs from a file, `-` meaning stdin; `#` starts a comment.
/// `flag` (`-iL` or `--excludefile`) names the file in errors, with the line of a bad spec.
pub fn read_spec_file(path: &str, flag: &str) -> Result<Vec<Spec>, TargetError> {
    let mut text = String::new();
    let res = if path == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    let what = if path == "-" {
        "standard input".to_string()
    } else {
        format!("\"{path}\"")
    };
    match res {
        Ok(()) => Ok(split_spec_lines(&text)
            .into_iter()
            .map(|(line, text)| Spec {
                text,
                origin: Some(format!("{flag} {what} line {line}")),
            })
            .collect()),
        Err(e) => {
            let list = if flag == "-iL" { "target" } else { "exclude" };
            Err(TargetError(format!(
                "cannot read {list} list {what}: {e}; check the {flag} path"
            )))
        }
    }
}

/// Reserved blocks with the reason each is refused.
const RESERVED: [(Ipv4Addr, u8, &str); 3] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\""),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved, includes broadcast 255.255.255.255",
    ),
];

/// The reserved blocks refused without --allow-reserved: 0/8, 224/4, 240/4, 255.255.255.255.
pub fn reserved_blocks() -> Ipv4Set {
    Ipv4Set::from_ranges(RESERVED.iter().filter_map(|&(a, p, _)| {
        Ipv4Net::new(a, p)
            .ok()
            .map(|n| (n.network(), n.broadcast()))
    }))
}

/// Parses every spec into one set; an error names the file and line a spec came from.
fn specs_to_set(specs: &[Spec], resolve: Resolver) -> Result<Ipv4Set, TargetError> {
    let mut raw: Vec<(Ipv4Addr, Ipv4Addr)> = Vec::new();
    for s in specs {
        let parsed = parse_target(&s.text, resolve).map_err(|e| match &s.origin {
            Some(origin) => TargetError(format!("{origin}: {e}")),
            None => e,
        })?;
        raw.extend(parsed);
    }
    Ok(Ipv4Set::from_ranges(raw))
}

/// Builds the target set: includes minus excludes; refuses reserved addresses unless allowed.
pub fn build_target_set(
    includes: &[Spec],
    excludes: &[Spec],
    allow_reserved: bool,
    resolve: Resolver,
) -> Result<Ipv4Set, TargetError> {
    // Cache so a name repeated across includes and excludes is looked up once.
    let cache: RefCell<HashMap<String, Result<Vec<Ipv4Addr>, String>>> =
        RefCell::new(HashMap::new());
    let cached = |name: &str| -> Result<Vec<Ipv4Addr>, String> {
        if let Some(r) = cache.borrow().get(name) {
            return r.clone();
        }
        let r = resolve(name);
        cache.borrow_mut().insert(name.to_string(), r.clone());
        r
    };
    if includes.is_empty() {
        return Err(TargetError(
            "no targets given: name addresses, CIDR blocks, ranges or hostnames, or use -iL FILE"
                .to_string(),
        ));
    }
    let mut set = specs_to_set(includes, &cached)?;
    let ex = specs_to_set(excludes, &cached)?;
    set.subtract(&ex);
    if set.is_empty() {
        return Err(TargetError(
            "no targets left to scan (after excludes): check the targets and --exclude lists"
                .to_string(),
        ));
    }
    if !allow_reserved {
        for &(a, p, why) in &RESERVED {
            let Ok(net) = Ipv4Net::new(a, p) else {
                continue;
            };
            let block = Ipv4Set::from_ranges([(net.network(), net.broadcast())]);
            if let Some((lo, hi)) = set.first_overlap(&block) {
                let which = if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                };
                return Err(TargetError(format!(
                    "targets include reserved addresses {which} ({net}, {why}): exclude them or \
                     pass --allow-reserved"
                )));
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::io::Write;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn rs(r: &[(&str, &str)]) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        r.iter().map(|&(a, b)| (ip(a), ip(b))).collect()
    }

    fn fake(name: &str) -> Result<Vec<Ipv4Addr>, String> {
        match name {
            "example.test" => Ok(vec![ip("198.18.0.7"), ip("198.18.0.5"), ip("198.18.0.6")]),
            "one.test" => Ok(vec![ip("198.18.1.1")]),
            "empty.test" => Ok(vec![]),
            _ => Err("Name or service not known".to_string()),
        }
    }

    fn pt(s: &str) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        parse_target(s, &fake).unwrap()
    }

    fn pe(s: &str) -> String {
        parse_target(s, &fake).unwrap_err().to_string()
    }

    #[test]
    fn single_and_cidr() {
        assert_eq!(pt("10.0.0.1"), rs(&[("10.0.0.1", "10.0.0.1")]));
        assert_eq!(pt("  10.0.0.1 "), rs(&[("10.0.0.1", "10.0.0.1")]));
        assert_eq!(pt("10.0.0.0/24"), rs(&[("10.0.0.0", "10.0.0.255")]));
        assert_eq!(pt("10.0.0.5/24"), rs(&[("10.0.0.0", "10.0.0.255")]));
        assert_eq!(pt("10.1.2.3/32"), rs(&[("10.1.2.3", "10.1.2.3")]));
        assert_eq!(pt("10.1.2.3/31"), rs(&[("10.1.2.2", "10.1.2.3")]));
        assert_eq!(pt("1.2.3.4/0"), rs(&[("0.0.0.0", "255.255.255.255")]));
        assert_eq!(pt("172.16.9.9/12"), rs(&[("172.16.0.0", "172.31.255.255")]));
        assert_eq!(pt("one.test/30"), rs(&[("198.18.1.0", "198.18.1.3")]));
        assert_eq!(
            pe("10.0.0.0/33"),
            "bad prefix length \"/33\" in target \"10.0.0.0/33\": use /0 to /32"
        );
        assert!(pe("10.0.0.0/").contains("bad prefix length"));
        assert!(pe("10.0.0.0/+8").contains("bad prefix length"));
        assert!(pe("10.0.0/8").starts_with("bad target \"10.0.0/8\""));
    }

    #[test]
    fn full_ranges() {
        assert_eq!(pt("10.0.0.250-10.0.1.5"), rs(&[("10.0.0.250", "10.0.1.5")]));
        assert_eq!(pt("10.0.0.1 - 10.0.0.1"), rs(&[("10.0.0.1", "10.0.0.1")]));
        assert_eq!(
            pe("10.0.0.9-10.0.0.1"),
            "bad range \"10.0.0.9-10.0.0.1\": the first address must not exceed the last"
        );
    }

    #[test]
    fn octet_ranges() {
        assert_eq!(pt("10.0.0.1-5"), rs(&[("10.0.0.1", "10.0.0.5")]));
        assert_eq!(
            pt("10.0.0-3.1-254"),
            rs(&[
                ("10.0.0.1", "10.0.0.254"),
                ("10.0.1.1", "10.0.1.254"),
                ("10.0.2.1", "10.0.2.254"),
                ("10.0.3.1", "10.0.3.254"),
            ])
        );
        assert_eq!(pt("10.0.0-3.*"), rs(&[("10.0.0.0", "10.0.3.255")]));
        assert_eq!(pt("10.0.*.*"), rs(&[("10.0.0.0", "10.0.255.255")]));
        assert_eq!(pt("*.*.*.*"), rs(&[("0.0.0.0", "255.255.255.255")]));
        assert_eq!(
            pt("10.0.*.1"),
            (0..=255u8)
                .map(|k| (Ipv4Addr::new(10, 0, k, 1), Ipv4Addr::new(10, 0, k, 1)))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            pt("10.0.0,2.1"),
            rs(&[("10.0.0.1", "10.0.0.1"), ("10.0.2.1", "10.0.2.1")])
        );
        assert_eq!(pt("10.0.0.-5"), rs(&[("10.0.0.0", "10.0.0.5")]));
        assert_eq!(pt("10.0.0.250-"), rs(&[("10.0.0.250", "10.0.0.255")]));
        assert_eq!(pt("10.0.0.-"), rs(&[("10.0.0.0", "10.0.0.255")]));
        // Lists inside an octet merge and sort.
        assert_eq!(
            pt("10.0.0.9,1-3,4,200"),
            rs(&[
                ("10.0.0.1", "10.0.0.4"),
                ("10.0.0.9", "10.0.0.9"),
                ("10.0.0.200", "10.0.0.200")
            ])
        );
        // Upper-octet wrap: 255 of one /24 touches 0 of the next.
        assert_eq!(
            pt("10.0.1-2.0,255"),
            rs(&[
                ("10.0.1.0", "10.0.1.0"),
                ("10.0.1.255", "10.0.2.0"),
                ("10.0.2.255", "10.0.2.255")
            ])
        );
        // 10.0-255.0-255.1 is 65536 single addresses.
        let v = pt("10.0-255.0-255.1");
        assert_eq!(v.len(), 65536);
        assert_eq!(v[0], (ip("10.0.0.1"), ip("10.0.0.1")));
        assert_eq!(v[65535], (ip("10.255.255.1"), ip("10.255.255.1")));
        assert_eq!(v[257], (ip("10.1.1.1"), ip("10.1.1.1")));
        // Leading zeros are decimal, as in nmap.
        assert_eq!(pt("10.0.0.010-011"), rs(&[("10.0.0.10", "10.0.0.11")]));
    }

    #[test]
    fn octet_errors() {
        assert_eq!(
            pe("10.0.0.300"),
            "bad octet \"300\" in target \"10.0.0.300\": octets are 0-255"
        );
        assert_eq!(
            pe("10.0.0.5-1"),
            "bad octet range \"5-1\" in target \"10.0.0.5-1\": the first value must not exceed the last"
        );
        assert!(pe("10.0..1").contains("bad octet \"\""));
        assert!(pe("10.0.0.1,").contains("bad octet \"\""));
        assert!(pe("10.0.0.1000").contains("bad octet \"1000\""));
        assert!(pe("10.0.0").starts_with("bad target \"10.0.0\""));
        assert!(pe("10.0.0.1.2").starts_with("bad target"));
        assert!(pe("10").starts_with("bad target"));
        assert!(pe("*.*.*.1").contains("expands to more than 1048576 separate ranges"));
    }

    #[test]
    fn hostnames() {
        assert_eq!(pt("example.test"), rs(&[("198.18.0.5", "198.18.0.7")]));
        assert_eq!(pt("one.test"), rs(&[("198.18.1.1", "198.18.1.1")]));
        assert_eq!(
            pe("nosuch.test"),
            "cannot resolve \"nosuch.test\": Name or service not known; check the name or give an address"
        );
        assert!(pe("empty.test").contains("no IPv4 address"));
        // The resolver is called exactly once per name.
        let calls = Cell::new(0);
        let counting = |n: &str| {
            calls.set(calls.get() + 1);
            fake(n)
        };
        parse_target("example.test", &counting).unwrap();
        assert_eq!(calls.get(), 1);
        // Not hostnames and not other forms.
        assert!(pe("foo bar").starts_with("bad target"));
        assert!(pe("10.0.0.1-10.0.0.x").starts_with("cannot resolve"));
        assert!(pe("a!b").starts_with("bad target"));
        assert_eq!(
            pe(""),
            "empty target: give an address, CIDR block, range or hostname"
        );
    }

    #[test]
    fn ipv6_refused() {
        for s in [
            "::1",
            "2001:db8::1",
            "2001:db8::/32",
            "[::1]",
            "fe80::1%eth0",
            "::",
        ] {
            assert_eq!(
                pe(s),
                format!(
                    "IPv6 targets are not supported: \"{s}\"; give IPv4 addresses or hostnames"
                )
            );
        }
        assert!(pe("10.0.0.1:80").starts_with("bad target"));
    }

    #[test]
    fn spec_files() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "# scan list").unwrap();
        writeln!(f, "10.0.0.1 10.0.0.2\t10.0.0,2.1  # trailing comment").unwrap();
        writeln!(f).unwrap();
        writeln!(f, "   198.18.0.0/24").unwrap();
        write!(f, "host.test#no-space comment").unwrap();
        let path = f.path().to_str().unwrap();
        let specs = read_spec_file(path, "-iL").unwrap();
        let texts: Vec<&str> = specs.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "10.0.0.1",
                "10.0.0.2",
                "10.0.0,2.1",
                "198.18.0.0/24",
                "host.test"
            ]
        );
        let lines: Vec<String> = specs.iter().filter_map(|s| s.origin.clone()).collect();
        let at = |n: usize| format!("-iL \"{path}\" line {n}");
        assert_eq!(lines, vec![at(2), at(2), at(2), at(4), at(5)]);
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(
            read_spec_file(empty.path().to_str().unwrap(), "-iL").unwrap(),
            Vec::<Spec>::new()
        );
        let e = read_spec_file("/nonexistent/synscan-targets.txt", "-iL").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("cannot read target list \"/nonexistent/synscan-targets.txt\": "));
        assert!(e.to_string().ends_with("; check the -iL path"));
        let e = read_spec_file("/nonexistent/ex.txt", "--excludefile").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("cannot read exclude list \"/nonexistent/ex.txt\": "));
        assert!(e.to_string().ends_with("; check the --excludefile path"));
    }

    #[test]
    fn a_bad_spec_in_a_file_names_the_file_and_line() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        write!(f, "# list\n198.18.0.1\n\n198.18.0.2 10.0.0.300\n").unwrap();
        let path = f.path().to_str().unwrap();
        let inc = read_spec_file(path, "-iL").unwrap();
        let e = build_target_set(&inc, &[], false, &fake).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("-iL \"{path}\" line 4: {}", pe("10.0.0.300"))
        );
        let ex = read_spec_file(path, "--excludefile").unwrap();
        let e = build_target_set(&s(&["198.18.0.0/24"]), &ex, false, &fake).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("--excludefile \"{path}\" line 4: bad octet")),
            "{e}"
        );
    }

    #[test]
    fn reserved() {
        let r = reserved_blocks();
        assert_eq!(
            r.ranges(),
            rs(&[
                ("0.0.0.0", "0.255.255.255"),
                ("224.0.0.0", "255.255.255.255")
            ])
        );
        assert!(r.contains(ip("255.255.255.255")));
        assert!(!r.contains(ip("1.0.0.0")));
        assert!(!r.contains(ip("223.255.255.255")));
    }

    fn s(v: &[&str]) -> Vec<Spec> {
        v.iter().map(|x| Spec::from(*x)).collect()
    }

    #[test]
    fn build_sets() {
        let set = build_target_set(
            &s(&["198.18.0.0/24", "198.18.1.0/24", "one.test"]),
            &s(&["198.18.0.128/25", "198.18.1.1", "198.18.1.200-198.18.1.255"]),
            false,
            &fake,
        )
        .unwrap();
        assert_eq!(
            set.ranges(),
            rs(&[
                ("198.18.0.0", "198.18.0.127"),
                ("198.18.1.0", "198.18.1.0"),
                ("198.18.1.2", "198.18.1.199"),
            ])
        );
        assert_eq!(set.len(), 128 + 1 + 198);

        let e = build_target_set(&s(&["10.0.0.0/24"]), &s(&["10.0.0.0/23"]), false, &fake);
        assert_eq!(
            e.unwrap_err().to_string(),
            "no targets left to scan (after excludes): check the targets and --exclude lists"
        );
        assert!(build_target_set(&[], &[], false, &fake)
            .unwrap_err()
            .to_string()
            .starts_with("no targets given"));

        let e = build_target_set(&s(&["223.255.255.250-224.0.0.3"]), &[], false, &fake);
        assert_eq!(
            e.unwrap_err().to_string(),
            "targets include reserved addresses 224.0.0.0-224.0.0.3 (224.0.0.0/4, multicast): \
             exclude them or pass --allow-reserved"
        );
        let e = build_target_set(&s(&["255.255.255.255"]), &[], false, &fake);
        assert!(e
            .unwrap_err()
            .to_string()
            .starts_with("targets include reserved addresses 255.255.255.255 (240.0.0.0/4,"));
        let e = build_target_set(&s(&["0.0.0.0/0"]), &[], false, &fake).unwrap_err();
        assert!(e.to_string().contains("0.0.0.0-0.255.255.255 (0.0.0.0/8"));
        let all = build_target_set(&s(&["0.0.0.0/0"]), &[], true, &fake).unwrap();
        assert_eq!(all.len(), 1u64 << 32);
        // Excluding the reserved part makes it acceptable.
        let ok = build_target_set(
            &s(&["223.255.255.250-224.0.0.3"]),
            &s(&["224.0.0.0/4"]),
            false,
            &fake,
        )
        .unwrap();
        assert_eq!(ok.len(), 6);
        // Errors inside specs propagate.
        assert!(build_target_set(&s(&["10.0.0.300"]), &[], false, &fake).is_err());
        assert!(build_target_set(&s(&["10.0.0.1"]), &s(&["::1"]), false, &fake).is_err());
    }

    #[test]
    fn build_resolves_each_name_once() {
        let calls = Cell::new(0);
        let counting = |n: &str| {
            calls.set(calls.get() + 1);
            fake(n)
        };
        let set = build_target_set(
            &s(&["example.test", "example.test", "one.test/31"]),
            &s(&["one.test"]),
            false,
            &counting,
        )
        .unwrap();
        assert_eq!(calls.get(), 2);
        assert_eq!(
            set.ranges(),
            rs(&[("198.18.0.5", "198.18.0.7"), ("198.18.1.0", "198.18.1.0")])
        );
    }

    #[test]
    fn split_specs_keeps_commas() {
        assert_eq!(
            split_specs("a,b c\n#x\n d # e\n"),
            vec!["a,b".to_string(), "c".to_string(), "d".to_string()]
        );
    }
}
