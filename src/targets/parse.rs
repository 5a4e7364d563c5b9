//! Target specs: addresses, CIDR blocks, a-b ranges, nmap octet ranges and hostnames, IPv4
//! and IPv6; spec files (-iL); reserved blocks; and the include-minus-exclude target set.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::Path;

use ipnet::{Ipv4Net, Ipv6Net};

use super::ipset::{Intervals, Ipv4Set, Ipv6Set};
use super::target_set::TargetSet;
use super::TargetError;

/// Resolves a hostname to its addresses of both families (injected so tests need no DNS).
pub type Resolver<'a> = &'a dyn Fn(&str) -> Result<Vec<IpAddr>, String>;

/// Which of a hostname's addresses are scanned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NameFamily {
    /// Its IPv4 addresses (A records), as nmap does by default.
    #[default]
    Ipv4,
    /// Its IPv6 addresses (AAAA records) when it has any, else its IPv4 ones (`-6`).
    PreferIpv6,
}

/// The address ranges one target spec names: one family per spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecRanges {
    /// IPv4 ranges, inclusive.
    V4(Vec<(Ipv4Addr, Ipv4Addr)>),
    /// IPv6 ranges, inclusive.
    V6(Vec<(Ipv6Addr, Ipv6Addr)>),
}

/// IPv6 ranges of this many addresses or more (a /64) are refused as targets.
const SWEEPABLE_LIMIT: u128 = 1 << 64;

/// Most intervals one octet-range spec may expand to (8 bytes each: 8 MiB at the cap).
pub const MAX_SPEC_INTERVALS: usize = 1 << 20;

/// The resolver that asks the system (getaddrinfo through std): every address of both
/// families, first-seen order, without repeats.
pub fn system_resolver(name: &str) -> Result<Vec<IpAddr>, String> {
    let addrs = (name, 0u16).to_socket_addrs().map_err(|e| e.to_string())?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    if ips.is_empty() {
        Err("no address for this name".to_string())
    } else {
        Ok(ips)
    }
}

/// Error for a spec that matches no form.
fn bad_target(spec: &str) -> TargetError {
    TargetError(format!(
        "bad target \"{spec}\": use an address (10.0.0.1), CIDR (10.0.0.0/24), range \
         (10.0.0.1-10.0.0.9 or 10.0.0.1-9) or hostname"
    ))
}

/// Error for a spec with ':' that matches no IPv6 form.
fn bad_target6(spec: &str) -> TargetError {
    TargetError(format!(
        "bad target \"{spec}\": use an IPv6 address (2001:2::1), prefix (2001:2::/120) or \
         range (2001:2::1-2001:2::ff or 2001:2::1-ff)"
    ))
}

/// True for names that could be DNS hostnames: host characters only, at least one letter.
fn looks_like_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().any(|c| c.is_ascii_alphabetic())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
}

/// The addresses of one family a name resolved to.
#[derive(Debug)]
enum NameAddrs {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

/// Resolves `name` with `resolve` and keeps the family `names` asks for, mapping failures
/// to a one-line TargetError.
fn resolve_name(
    name: &str,
    resolve: Resolver,
    names: NameFamily,
) -> Result<NameAddrs, TargetError> {
    let all = resolve(name).map_err(|e| {
        TargetError(format!(
            "cannot resolve \"{name}\": {e}; check the name or give an address"
        ))
    })?;
    let mut v4: Vec<Ipv4Addr> = Vec::new();
    let mut v6: Vec<Ipv6Addr> = Vec::new();
    for ip in all {
        match ip {
            IpAddr::V4(a) => v4.push(a),
            IpAddr::V6(a) => v6.push(a),
        }
    }
    match names {
        NameFamily::PreferIpv6 if !v6.is_empty() => Ok(NameAddrs::V6(v6)),
        _ if !v4.is_empty() => Ok(NameAddrs::V4(v4)),
        NameFamily::Ipv4 if !v6.is_empty() => Err(TargetError(format!(
            "cannot resolve \"{name}\": no IPv4 address, only IPv6 ones; pass -6 to scan those, \
             or give an address"
        ))),
        NameFamily::Ipv4 => Err(TargetError(format!(
            "cannot resolve \"{name}\": no IPv4 address; check the name or give an address"
        ))),
        NameFamily::PreferIpv6 => Err(TargetError(format!(
            "cannot resolve \"{name}\": no address; check the name or give an address"
        ))),
    }
}

/// Every address of a name as single-address ranges, ascending, merged.
fn name_ranges(addrs: NameAddrs) -> SpecRanges {
    match addrs {
        NameAddrs::V4(v) => {
            SpecRanges::V4(Ipv4Set::from_ranges(v.into_iter().map(|a| (a, a))).ranges())
        }
        NameAddrs::V6(v) => {
            SpecRanges::V6(Ipv6Set::from_ranges(v.into_iter().map(|a| (a, a))).ranges())
        }
    }
}

/// Parses a prefix length of digits only, at most `max`.
fn prefix_len(prefix: &str, max: u8) -> Option<u8> {
    let p = prefix.trim();
    if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    p.parse::<u8>().ok().filter(|&v| v <= max)
}

fn bad_prefix(prefix: &str, spec: &str, max: u8) -> TargetError {
    TargetError(format!(
        "bad prefix length \"/{prefix}\" in target \"{spec}\": use /0 to /{max}"
    ))
}

/// The block `addr/plen` as an inclusive range (host bits may be set, as nmap allows).
fn ipv6_block(addr: Ipv6Addr, plen: u8) -> (Ipv6Addr, Ipv6Addr) {
    match Ipv6Net::new(addr, plen) {
        Ok(net) => (net.network(), net.broadcast()),
        // plen <= 128 is checked by the callers; a single address otherwise.
        Err(_) => (addr, addr),
    }
}

/// Parses an IPv6 spec: an address (bracketed or not), `addr/len`, `first-last` or
/// `first-hhhh` (nmap-like: the last 16-bit group ranges up to hhhh).
fn parse_ipv6_spec(spec: &str) -> Result<SpecRanges, TargetError> {
    if let Some((addr, zone)) = spec.split_once('%') {
        return Err(TargetError(format!(
            "bad target \"{spec}\": a zone (%{zone}) is not supported in targets; give the address \
             {} without it",
            addr.trim_start_matches('[')
        )));
    }
    let unbracket = |t: &str| -> String {
        let t = t.trim();
        match t.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            Some(inner) => inner.to_string(),
            None => t.to_string(),
        }
    };
    let addr = |t: &str| unbracket(t).parse::<Ipv6Addr>().ok();
    let one = |a: Ipv6Addr, b: Ipv6Addr| SpecRanges::V6(vec![(a, b)]);

    if let Some(a) = addr(spec) {
        return Ok(one(a, a));
    }
    if let Some((host, prefix)) = spec.split_once('/') {
        let a = addr(host).ok_or_else(|| bad_target6(spec))?;
        let plen = prefix_len(prefix, 128).ok_or_else(|| bad_prefix(prefix, spec, 128))?;
        let (first, last) = ipv6_block(a, plen);
        return Ok(one(first, last));
    }
    if let Some((a, b)) = spec.split_once('-') {
        let first = addr(a).ok_or_else(|| bad_target6(spec))?;
        let b = b.trim();
        let last = if b.contains(':') {
            addr(b).ok_or_else(|| bad_target6(spec))?
        } else if !b.is_empty() && b.len() <= 4 && b.bytes().all(|c| c.is_ascii_hexdigit()) {
            let group = u16::from_str_radix(b, 16).map_err(|_| bad_target6(spec))?;
            let mut seg = first.segments();
            seg[7] = group;
            Ipv6Addr::from(seg)
        } else {
            return Err(bad_target6(spec));
        };
        if first > last {
            return Err(TargetError(format!(
                "bad range \"{spec}\": the first address must not exceed the last"
            )));
        }
        return Ok(one(first, last));
    }
    Err(bad_target6(spec))
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

/// Parses one target spec (address, CIDR, a-b range, nmap octet range, hostname; IPv4 or
/// IPv6) into intervals of one family; a hostname gives the addresses `names` selects.
pub fn parse_target(
    spec: &str,
    resolve: Resolver,
    names: NameFamily,
) -> Result<SpecRanges, TargetError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(TargetError(
            "empty target: give an address, CIDR block, range or hostname".to_string(),
        ));
    }
    let to_addrs = |v: Vec<(u32, u32)>| {
        SpecRanges::V4(
            v.into_iter()
                .map(|(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b)))
                .collect::<Vec<_>>(),
        )
    };

    // Hostnames never contain ':', so any ':' means an IPv6 literal (or garbage).
    if spec.contains(':') {
        return parse_ipv6_spec(spec);
    }

    if let Ok(ip) = spec.parse::<Ipv4Addr>() {
        return Ok(SpecRanges::V4(vec![(ip, ip)]));
    }

    // CIDR: address (or hostname, as nmap allows) with a prefix length; host bits may be set.
    if let Some((host, prefix)) = spec.split_once('/') {
        let host = host.trim();
        if host.parse::<Ipv4Addr>().is_err() && looks_like_hostname(host) {
            // The name's family decides the longest prefix.
            let plen = prefix_len(prefix, 128).ok_or_else(|| bad_prefix(prefix, spec, 128))?;
            return match resolve_name(host, resolve, names)? {
                NameAddrs::V4(v) => {
                    let plen = Some(plen)
                        .filter(|&p| p <= 32)
                        .ok_or_else(|| bad_prefix(prefix, spec, 32))?;
                    let net = Ipv4Net::new(v[0], plen).map_err(|_| bad_target(spec))?;
                    Ok(SpecRanges::V4(vec![(net.network(), net.broadcast())]))
                }
                NameAddrs::V6(v) => {
                    let (first, last) = ipv6_block(v[0], plen);
                    Ok(SpecRanges::V6(vec![(first, last)]))
                }
            };
        }
        let plen = prefix_len(prefix, 32).ok_or_else(|| bad_prefix(prefix, spec, 32))?;
        let addr = host.parse::<Ipv4Addr>().map_err(|_| bad_target(spec))?;
        let net = Ipv4Net::new(addr, plen).map_err(|_| bad_target(spec))?;
        return Ok(SpecRanges::V4(vec![(net.network(), net.broadcast())]));
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
            return Ok(SpecRanges::V4(vec![(first, last)]));
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
        return resolve_name(spec, resolve, names).map(name_ranges);
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
    /// An error may quote it: false for a line of a file that is not the user's own (see
    /// `sys::fs::NOT_QUOTED`), which a planted link could have pointed at /etc/shadow.
    pub quote: bool,
}

impl From<&str> for Spec {
    fn from(text: &str) -> Spec {
        Spec::from(text.to_string())
    }
}

impl From<String> for Spec {
    fn from(text: String) -> Spec {
        Spec {
            text,
            origin: None,
            quote: true,
        }
    }
}

/// Largest target or exclude list read (-iL, --excludefile): about ten million addresses.
pub const MAX_SPEC_FILE_BYTES: u64 = 256 << 20;

/// The specs of one -iL or --excludefile file, and which file it was.
#[derive(Debug)]
pub struct SpecFile {
    /// Its specs, in order.
    pub specs: Vec<Spec>,
    /// The file, to tell it from the run's outputs.
    pub id: crate::sys::fs::Identity,
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
/// The file is opened by `sys::fs::read_input` (planted links and FIFOs refused, at most
/// [`MAX_SPEC_FILE_BYTES`]); `-`, /dev/stdin and `<(...)` read the inherited descriptor.
pub fn read_spec_file(path: &str, flag: &str) -> Result<SpecFile, TargetError> {
    use crate::sys::fs::{read_input, OpenError, Trust};
    let what = if path == "-" {
        "standard input".to_string()
    } else {
        format!("\"{path}\"")
    };
    let list = if flag == "-iL" { "target" } else { "exclude" };
    let contents = read_input(Path::new(path), Trust::Data, MAX_SPEC_FILE_BYTES).map_err(|e| {
        TargetError(match e {
            OpenError::Io(e) => {
                format!("cannot read {list} list {what}: {e}; check the {flag} path")
            }
            OpenError::Refused(why) => format!("refusing {list} list {what}: {why}"),
        })
    })?;
    let text = String::from_utf8_lossy(&contents.bytes);
    let specs = split_spec_lines(&text)
        .into_iter()
        .map(|(line, text)| Spec {
            text,
            origin: Some(format!("{flag} {what} line {line}")),
            quote: contents.own,
        })
        .collect();
    Ok(SpecFile {
        specs,
        id: contents.id,
    })
}

/// Reserved IPv4 blocks with the reason each is refused.
const RESERVED: [(Ipv4Addr, u8, &str); 3] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\""),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved, includes broadcast 255.255.255.255",
    ),
];

/// Reserved IPv6 blocks with the reason each is refused. Loopback (::1) is allowed, as
/// 127.0.0.0/8 is; the benchmarking prefix 2001:2::/48 (RFC 5180) is allowed.
const RESERVED6: [(Ipv6Addr, u8, &str); 5] = [
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),
        96,
        "IPv4-mapped: give the IPv4 address instead",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// The IPv4 reserved blocks refused without --allow-reserved: 0/8, 224/4, 240/4,
/// 255.255.255.255.
pub fn reserved_blocks() -> Ipv4Set {
    Ipv4Set::from_ranges(RESERVED.iter().filter_map(|&(a, p, _)| {
        Ipv4Net::new(a, p)
            .ok()
            .map(|n| (n.network(), n.broadcast()))
    }))
}

/// The IPv6 reserved blocks refused without --allow-reserved: ::/128, ::ffff:0:0/96,
/// 2001:db8::/32, 3fff::/20, ff00::/8.
pub fn reserved_blocks6() -> Ipv6Set {
    Ipv6Set::from_ranges(RESERVED6.iter().map(|&(a, p, _)| ipv6_block(a, p)))
}

/// "2^k" when `n` is a power of two, else the number.
fn count_text(n: u128) -> String {
    if n == u128::MAX {
        "2^128".to_string()
    } else if n.is_power_of_two() {
        format!("2^{}", n.trailing_zeros())
    } else {
        n.to_string()
    }
}

/// Parses every spec into one set; an error names the file and line a spec came from.
/// `targets` (includes, not excludes) refuses IPv6 ranges of a /64 or more.
fn specs_to_set(
    specs: &[Spec],
    resolve: Resolver,
    names: NameFamily,
    targets: bool,
) -> Result<TargetSet, TargetError> {
    let mut raw4: Vec<(u32, u32)> = Vec::new();
    let mut raw6: Vec<(u128, u128)> = Vec::new();
    for s in specs {
        let at = |e: TargetError| match &s.origin {
            Some(origin) if !s.quote => TargetError(format!(
                "{origin}: not a valid target; {}",
                crate::sys::fs::NOT_QUOTED
            )),
            Some(origin) => TargetError(format!("{origin}: {e}")),
            None => e,
        };
        match parse_target(&s.text, resolve, names).map_err(at)? {
            SpecRanges::V4(v) => raw4.extend(v.into_iter().map(|(a, b)| (a.into(), b.into()))),
            SpecRanges::V6(v) => {
                for (a, b) in v {
                    let (a, b) = (u128::from(a), u128::from(b));
                    let count = (b - a).saturating_add(1);
                    if targets && count >= SWEEPABLE_LIMIT {
                        return Err(at(TargetError(format!(
                            "target \"{}\" covers {} addresses: a /64 or wider cannot be swept at \
                             any rate; list the addresses you want in a hitlist file and pass it \
                             with -iL",
                            s.text.trim(),
                            count_text(count)
                        ))));
                    }
                    raw6.push((a, b));
                }
            }
        }
    }
    Ok(TargetSet::from_sets(
        Ipv4Set {
            inner: Intervals::from_unsorted(raw4),
        },
        Ipv6Set {
            inner: Intervals::from_unsorted(raw6),
        },
    ))
}

/// "a" or "a-b" for the run of addresses `lo..=hi`.
fn run_text<A: std::fmt::Display + PartialEq>(lo: A, hi: A) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// Refuses the first reserved address among `set`'s, naming its block.
fn refuse_reserved(set: &TargetSet) -> Result<(), TargetError> {
    let refuse = |which: String, net: String, why: &str| {
        Err(TargetError(format!(
            "targets include reserved addresses {which} ({net}, {why}): exclude them or \
             pass --allow-reserved"
        )))
    };
    for &(a, p, why) in &RESERVED {
        let Ok(net) = Ipv4Net::new(a, p) else {
            continue;
        };
        let block = Ipv4Set::from_ranges([(net.network(), net.broadcast())]);
        if let Some((lo, hi)) = set.v4.first_overlap(&block) {
            return refuse(run_text(lo, hi), net.to_string(), why);
        }
    }
    for &(a, p, why) in &RESERVED6 {
        let block = Ipv6Set::from_ranges([ipv6_block(a, p)]);
        if let Some((lo, hi)) = set.v6.first_overlap(&block) {
            return refuse(run_text(lo, hi), format!("{a}/{p}"), why);
        }
    }
    Ok(())
}

/// Builds the target set: includes minus excludes (both families); refuses IPv6 ranges of a
/// /64 or more, and reserved addresses unless allowed; hostnames give the addresses `names`
/// selects.
pub fn build_target_set(
    includes: &[Spec],
    excludes: &[Spec],
    allow_reserved: bool,
    names: NameFamily,
    resolve: Resolver,
) -> Result<TargetSet, TargetError> {
    // Cache so a name repeated across includes and excludes is looked up once.
    let cache: RefCell<HashMap<String, Result<Vec<IpAddr>, String>>> = RefCell::new(HashMap::new());
    let cached = |name: &str| -> Result<Vec<IpAddr>, String> {
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
    let mut set = specs_to_set(includes, &cached, names, true)?;
    let ex = specs_to_set(excludes, &cached, names, false)?;
    set.v4.subtract(&ex.v4);
    set.v6.subtract(&ex.v6);
    if set.is_empty() {
        return Err(TargetError(
            "no targets left to scan (after excludes): check the targets and --exclude lists"
                .to_string(),
        ));
    }
    if !allow_reserved {
        refuse_reserved(&set)?;
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

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn rs6(r: &[(&str, &str)]) -> Vec<(Ipv6Addr, Ipv6Addr)> {
        r.iter().map(|&(a, b)| (ip6(a), ip6(b))).collect()
    }

    fn fake(name: &str) -> Result<Vec<IpAddr>, String> {
        let ips = |v: &[&str]| Ok(v.iter().map(|s| s.parse().unwrap()).collect());
        match name {
            "example.test" => ips(&["198.18.0.7", "198.18.0.5", "198.18.0.6"]),
            "one.test" => ips(&["198.18.1.1"]),
            "dual.test" => ips(&["2001:2:0:19::6", "198.18.2.1", "2001:2:0:19::5"]),
            "v6only.test" => ips(&["2001:2:0:19::9"]),
            "empty.test" => Ok(vec![]),
            _ => Err("Name or service not known".to_string()),
        }
    }

    fn parse(s: &str, names: NameFamily) -> Result<SpecRanges, String> {
        parse_target(s, &fake, names).map_err(|e| e.to_string())
    }

    fn pt(s: &str) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        match parse(s, NameFamily::Ipv4) {
            Ok(SpecRanges::V4(v)) => v,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn pt6(s: &str) -> Vec<(Ipv6Addr, Ipv6Addr)> {
        match parse(s, NameFamily::PreferIpv6) {
            Ok(SpecRanges::V6(v)) => v,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn pe(s: &str) -> String {
        parse(s, NameFamily::Ipv4).unwrap_err()
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
        parse_target("example.test", &counting, NameFamily::Ipv4).unwrap();
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
    fn ipv6_forms() {
        let one = |s: &str| rs6(&[(s, s)]);
        assert_eq!(pt6("2001:2:0:19::1"), one("2001:2:0:19::1"));
        assert_eq!(pt6(" [2001:2:0:19::1] "), one("2001:2:0:19::1"));
        assert_eq!(pt6("::1"), one("::1"));
        assert_eq!(pt6("::ffff:10.0.0.1"), one("::ffff:10.0.0.1"));
        assert_eq!(
            pt6("2001:2:0:19::/120"),
            rs6(&[("2001:2:0:19::", "2001:2:0:19::ff")])
        );
        // Host bits may be set, as for IPv4 blocks.
        assert_eq!(
            pt6("2001:2:0:19::1:5/112"),
            rs6(&[("2001:2:0:19::1:0", "2001:2:0:19::1:ffff")])
        );
        assert_eq!(pt6("[2001:2::7]/128"), one("2001:2::7"));
        assert_eq!(
            pt6("::/0"),
            rs6(&[("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")])
        );
        assert_eq!(
            pt6("2001:2::1-2001:2::1:0"),
            rs6(&[("2001:2::1", "2001:2::1:0")])
        );
        assert_eq!(pt6("2001:2::1 - 2001:2::1"), one("2001:2::1"));
        // nmap-like short range: the last 16-bit group runs up to the given hex value.
        assert_eq!(pt6("2001:2::1-ff"), rs6(&[("2001:2::1", "2001:2::ff")]));
        assert_eq!(
            pt6("2001:2::a:1-FFFF"),
            rs6(&[("2001:2::a:1", "2001:2::a:ffff")])
        );
        assert_eq!(
            pt6("[2001:2::10]-[2001:2::20]"),
            rs6(&[("2001:2::10", "2001:2::20")])
        );
    }

    #[test]
    fn ipv6_errors() {
        let bad = |s: &str| {
            format!(
                "bad target \"{s}\": use an IPv6 address (2001:2::1), prefix (2001:2::/120) or \
                 range (2001:2::1-2001:2::ff or 2001:2::1-ff)"
            )
        };
        for s in [
            "2001:2::1::2",
            "2001:2:::1",
            "2001:2::g",
            "1:2:3:4:5:6:7:8:9",
            "10.0.0.1:80",
            "2001:2::1-10000",
            "2001:2::1-",
            "2001:2::1-zz",
            "2001:2::1-2001:2::x",
            "foo:bar/64",
            "[2001:2::1",
        ] {
            assert_eq!(pe(s), bad(s), "{s}");
        }
        assert_eq!(
            pe("2001:2::/129"),
            "bad prefix length \"/129\" in target \"2001:2::/129\": use /0 to /128"
        );
        assert!(pe("2001:2::/").contains("use /0 to /128"));
        assert!(pe("2001:2::/-1").contains("use /0 to /128"));
        assert!(pe("2001:2::/0128").contains("use /0 to /128"));
        assert_eq!(
            pe("2001:2::ff-2001:2::1"),
            "bad range \"2001:2::ff-2001:2::1\": the first address must not exceed the last"
        );
        assert_eq!(
            pe("2001:2::ff-1"),
            "bad range \"2001:2::ff-1\": the first address must not exceed the last"
        );
        assert_eq!(
            pe("fe80::1%eth0"),
            "bad target \"fe80::1%eth0\": a zone (%eth0) is not supported in targets; give the \
             address fe80::1 without it"
        );
    }

    #[test]
    fn hostnames_by_family() {
        // Without -6 a name gives its IPv4 addresses, as before.
        assert_eq!(pt("dual.test"), rs(&[("198.18.2.1", "198.18.2.1")]));
        assert_eq!(
            pe("v6only.test"),
            "cannot resolve \"v6only.test\": no IPv4 address, only IPv6 ones; pass -6 to scan \
             those, or give an address"
        );
        // -6 prefers the IPv6 ones, and falls back to IPv4 for a name without any.
        assert_eq!(
            pt6("dual.test"),
            rs6(&[("2001:2:0:19::5", "2001:2:0:19::6")])
        );
        assert_eq!(
            pt6("v6only.test"),
            rs6(&[("2001:2:0:19::9", "2001:2:0:19::9")])
        );
        assert_eq!(
            parse("one.test", NameFamily::PreferIpv6),
            Ok(SpecRanges::V4(rs(&[("198.18.1.1", "198.18.1.1")])))
        );
        assert_eq!(
            parse("empty.test", NameFamily::PreferIpv6),
            Err(
                "cannot resolve \"empty.test\": no address; check the name or give an address"
                    .to_string()
            )
        );
        // A name with a prefix: the family of its address decides the longest prefix.
        assert_eq!(
            pt6("dual.test/126"),
            rs6(&[("2001:2:0:19::4", "2001:2:0:19::7")])
        );
        assert_eq!(pt("dual.test/24"), rs(&[("198.18.2.0", "198.18.2.255")]));
        assert_eq!(
            pe("dual.test/33"),
            "bad prefix length \"/33\" in target \"dual.test/33\": use /0 to /32"
        );
        assert_eq!(
            pe("dual.test/129"),
            "bad prefix length \"/129\" in target \"dual.test/129\": use /0 to /128"
        );
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
        let specs = read_spec_file(path, "-iL").unwrap().specs;
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
            read_spec_file(empty.path().to_str().unwrap(), "-iL")
                .unwrap()
                .specs,
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
        let inc = read_spec_file(path, "-iL").unwrap().specs;
        let e = build_target_set(&inc, &[], false, V4, &fake).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("-iL \"{path}\" line 4: {}", pe("10.0.0.300"))
        );
        let ex = read_spec_file(path, "--excludefile").unwrap().specs;
        let e = build_target_set(&s(&["198.18.0.0/24"]), &ex, false, V4, &fake).unwrap_err();
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

    const V4: NameFamily = NameFamily::Ipv4;

    fn s(v: &[&str]) -> Vec<Spec> {
        v.iter().map(|x| Spec::from(*x)).collect()
    }

    #[test]
    fn build_sets() {
        let set = build_target_set(
            &s(&["198.18.0.0/24", "198.18.1.0/24", "one.test"]),
            &s(&["198.18.0.128/25", "198.18.1.1", "198.18.1.200-198.18.1.255"]),
            false,
            V4,
            &fake,
        )
        .unwrap();
        assert_eq!(
            set.v4.ranges(),
            rs(&[
                ("198.18.0.0", "198.18.0.127"),
                ("198.18.1.0", "198.18.1.0"),
                ("198.18.1.2", "198.18.1.199"),
            ])
        );
        assert_eq!(set.len(), 128 + 1 + 198);

        let e = build_target_set(&s(&["10.0.0.0/24"]), &s(&["10.0.0.0/23"]), false, V4, &fake);
        assert_eq!(
            e.unwrap_err().to_string(),
            "no targets left to scan (after excludes): check the targets and --exclude lists"
        );
        assert!(build_target_set(&[], &[], false, V4, &fake)
            .unwrap_err()
            .to_string()
            .starts_with("no targets given"));

        let e = build_target_set(&s(&["223.255.255.250-224.0.0.3"]), &[], false, V4, &fake);
        assert_eq!(
            e.unwrap_err().to_string(),
            "targets include reserved addresses 224.0.0.0-224.0.0.3 (224.0.0.0/4, multicast): \
             exclude them or pass --allow-reserved"
        );
        let e = build_target_set(&s(&["255.255.255.255"]), &[], false, V4, &fake);
        assert!(e
            .unwrap_err()
            .to_string()
            .starts_with("targets include reserved addresses 255.255.255.255 (240.0.0.0/4,"));
        let e = build_target_set(&s(&["0.0.0.0/0"]), &[], false, V4, &fake).unwrap_err();
        assert!(e.to_string().contains("0.0.0.0-0.255.255.255 (0.0.0.0/8"));
        let all = build_target_set(&s(&["0.0.0.0/0"]), &[], true, V4, &fake).unwrap();
        assert_eq!(all.len(), 1u128 << 32);
        // Excluding the reserved part makes it acceptable.
        let ok = build_target_set(
            &s(&["223.255.255.250-224.0.0.3"]),
            &s(&["224.0.0.0/4"]),
            false,
            V4,
            &fake,
        )
        .unwrap();
        assert_eq!(ok.len(), 6);
        // Errors inside specs propagate.
        assert!(build_target_set(&s(&["10.0.0.300"]), &[], false, V4, &fake).is_err());
        // An IPv6 exclude leaves the IPv4 targets alone.
        let only4 = build_target_set(&s(&["10.0.0.1"]), &s(&["::1"]), false, V4, &fake).unwrap();
        assert_eq!((only4.v4.len(), only4.v6.len()), (1, 0));
    }

    #[test]
    fn build_mixed_sets() {
        let set = build_target_set(
            &s(&[
                "198.18.0.0/30",
                "2001:2:0:19::/120",
                "2001:2:0:19::1000-2001:2:0:19::1003",
                "::1",
                "dual.test",
            ]),
            &s(&["198.18.0.1", "2001:2:0:19::80/121", "2001:2:0:19::1001"]),
            false,
            NameFamily::PreferIpv6,
            &fake,
        )
        .unwrap();
        assert_eq!(
            set.v4.ranges(),
            rs(&[("198.18.0.0", "198.18.0.0"), ("198.18.0.2", "198.18.0.3")])
        );
        assert_eq!(
            set.v6.ranges(),
            rs6(&[
                ("::1", "::1"),
                ("2001:2:0:19::", "2001:2:0:19::7f"),
                ("2001:2:0:19::1000", "2001:2:0:19::1000"),
                ("2001:2:0:19::1002", "2001:2:0:19::1003"),
            ])
        );
        assert_eq!(set.len(), 3 + 1 + 128 + 3);
        // Excluding a whole family's addresses leaves the other.
        let set = build_target_set(
            &s(&["198.18.0.1", "2001:2::/120"]),
            &s(&["2001:2::/48", "198.18.0.0/15"]),
            false,
            V4,
            &fake,
        );
        assert_eq!(
            set.unwrap_err().to_string(),
            "no targets left to scan (after excludes): check the targets and --exclude lists"
        );
    }

    #[test]
    fn wide_ipv6_targets_point_to_hitlists() {
        let hint = "cannot be swept at any rate; list the addresses you want in a hitlist file \
                    and pass it with -iL";
        for (spec, count) in [
            ("2001:2:0:19::/64", "2^64"),
            ("2001:2::/48", "2^80"),
            ("::/0", "2^128"),
            ("2001:2::-2001:2:0:1::", "18446744073709551617"),
        ] {
            let e = build_target_set(&s(&[spec]), &[], true, V4, &fake).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("target \"{spec}\" covers {count} addresses: a /64 or wider {hint}")
            );
        }
        // A /65 is not refused here (--allow-large decides), nor is a wide exclude.
        let set = build_target_set(&s(&["2001:2:0:19::/65"]), &[], false, V4, &fake).unwrap();
        assert_eq!(set.len(), 1u128 << 63);
        let set = build_target_set(
            &s(&["2001:2:0:19::1"]),
            &s(&["2001:2::/32", "::/0"]),
            false,
            V4,
            &fake,
        );
        assert!(set.unwrap_err().to_string().starts_with("no targets left"));
        // From a file, the file and line are named.
        let mut f = tempfile::NamedTempFile::new().unwrap();
        write!(f, "2001:2:0:19::1\n2001:2:0:18::/60\n").unwrap();
        let path = f.path().to_str().unwrap();
        let inc = read_spec_file(path, "-iL").unwrap().specs;
        let e = build_target_set(&inc, &[], false, V4, &fake).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("-iL \"{path}\" line 2: target \"2001:2:0:18::/60\" covers 2^68 addresses: a /64 or wider {hint}")
        );
    }

    #[test]
    fn reserved_ipv6_blocks() {
        let refused = |spec: &str| {
            build_target_set(&s(&[spec]), &[], false, V4, &fake)
                .unwrap_err()
                .to_string()
        };
        for (spec, which, block, why) in [
            ("::", "::", "::/128", "unspecified"),
            (
                "::ffff:10.0.0.1",
                "::ffff:10.0.0.1",
                "::ffff:0.0.0.0/96",
                "IPv4-mapped: give the IPv4 address instead",
            ),
            (
                "2001:db8::5",
                "2001:db8::5",
                "2001:db8::/32",
                "documentation",
            ),
            (
                "3fff:fff::1-3",
                "3fff:fff::1-3fff:fff::3",
                "3fff::/20",
                "documentation",
            ),
            ("ff02::1", "ff02::1", "ff00::/8", "multicast"),
            (
                "feff:ffff:ffff:ffff:ffff:ffff:ffff:fff0-ff00::f",
                "ff00::-ff00::f",
                "ff00::/8",
                "multicast",
            ),
        ] {
            assert_eq!(
                refused(spec),
                format!(
                    "targets include reserved addresses {which} ({block}, {why}): exclude them \
                     or pass --allow-reserved"
                ),
                "{spec}"
            );
            assert!(
                build_target_set(&s(&[spec]), &[], true, V4, &fake).is_ok(),
                "{spec}"
            );
        }
        // Loopback, link-local and the benchmarking prefix are targets like any other.
        for spec in [
            "::1",
            "fe80::1",
            "2001:2::/120",
            "2001:2:ffff:ffff::1",
            "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::",
        ] {
            assert!(
                build_target_set(&s(&[spec]), &[], false, V4, &fake).is_ok(),
                "{spec}"
            );
        }
        let r = reserved_blocks6();
        assert_eq!(
            r.ranges(),
            rs6(&[
                ("::", "::"),
                ("::ffff:0.0.0.0", "::ffff:255.255.255.255"),
                ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
                ("3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"),
                ("ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ])
        );
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
            V4,
            &counting,
        )
        .unwrap();
        assert_eq!(calls.get(), 2);
        assert_eq!(
            set.v4.ranges(),
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
