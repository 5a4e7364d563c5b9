//! The kernel's ephemeral port range and reserved ports (net.ipv4.ip_local_port_range,
//! ip_local_reserved_ports), and the ranges of ports outside both.

use std::ops::RangeInclusive;

/// Where the kernel publishes its ephemeral range.
pub const RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
/// Where the kernel publishes its reserved ports.
pub const RESERVED_FILE: &str = "/proc/sys/net/ipv4/ip_local_reserved_ports";

/// The kernel's choice of local ports for outgoing connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPorts {
    /// The ephemeral range.
    pub ephemeral: RangeInclusive<u16>,
    /// Reserved ports (never handed out automatically), as sorted ranges.
    pub reserved: Vec<RangeInclusive<u16>>,
}

impl KernelPorts {
    /// Parses the two files' texts: "LOW<tab>HIGH" and "A,B-C" (empty when none).
    pub fn parse(range: &str, reserved: &str) -> Option<KernelPorts> {
        let mut f = range.split_whitespace();
        let lo: u16 = f.next()?.parse().ok()?;
        let hi: u16 = f.next()?.parse().ok()?;
        if lo > hi {
            return None;
        }
        let mut res = Vec::new();
        for part in reserved.trim().split(',').filter(|p| !p.trim().is_empty()) {
            let part = part.trim();
            let r = match part.split_once('-') {
                Some((a, b)) => a.parse().ok()?..=b.parse().ok()?,
                None => {
                    let p: u16 = part.parse().ok()?;
                    p..=p
                }
            };
            if r.start() <= r.end() {
                res.push(r);
            }
        }
        res.sort_by_key(|r| *r.start());
        Some(KernelPorts {
            ephemeral: lo..=hi,
            reserved: res,
        })
    }

    /// Reads the live values from /proc; None when unreadable (not Linux, no /proc).
    pub fn read() -> Option<KernelPorts> {
        let range = std::fs::read_to_string(RANGE_FILE).ok()?;
        let reserved = std::fs::read_to_string(RESERVED_FILE).unwrap_or_default();
        KernelPorts::parse(&range, &reserved)
    }

    /// Whether the kernel may pick this port itself (ephemeral and not reserved).
    pub fn is_ephemeral(&self, port: u16) -> bool {
        self.ephemeral.contains(&port) && !self.is_reserved(port)
    }

    /// Whether the port is reserved.
    pub fn is_reserved(&self, port: u16) -> bool {
        self.reserved.iter().any(|r| r.contains(&port))
    }

    /// How many ports are reserved.
    pub fn reserved_count(&self) -> u32 {
        self.reserved
            .iter()
            .map(|r| u32::from(*r.end()) - u32::from(*r.start()) + 1)
            .sum()
    }

    /// The reserved ports as the kernel writes them ("none" when empty).
    pub fn reserved_text(&self) -> String {
        if self.reserved.is_empty() {
            return "none".to_string();
        }
        self.reserved
            .iter()
            .map(|r| {
                if r.start() == r.end() {
                    r.start().to_string()
                } else {
                    format!("{}-{}", r.start(), r.end())
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether a port is outside the ephemeral range and not reserved.
    pub fn is_outside(&self, port: u16) -> bool {
        !self.ephemeral.contains(&port) && !self.is_reserved(port)
    }

    /// Maximal runs of ports within `within` that are outside both, in ascending order.
    pub fn outside_runs(&self, within: RangeInclusive<u16>) -> Vec<RangeInclusive<u16>> {
        let mut runs = Vec::new();
        let mut start: Option<u16> = None;
        for p in within.clone() {
            match (self.is_outside(p), start) {
                (true, None) => start = Some(p),
                (false, Some(s)) => {
                    runs.push(s..=p - 1);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            runs.push(s..=*within.end());
        }
        runs
    }

    /// The source ports a scanner should use: the highest run of at least `want` ports
    /// above 1023 outside the ephemeral range and the reserved ports, else the largest run.
    pub fn scanner_ports(&self, want: u16) -> Option<RangeInclusive<u16>> {
        let runs = self.outside_runs(1024..=65535);
        let len = |r: &RangeInclusive<u16>| u32::from(*r.end()) - u32::from(*r.start()) + 1;
        runs.iter()
            .rev()
            .find(|r| len(r) >= u32::from(want))
            .or_else(|| runs.iter().max_by_key(|r| (len(r), *r.start())))
            .cloned()
    }

    /// Whether any of `ports` is in the ephemeral range.
    pub fn overlaps(&self, ports: RangeInclusive<u16>) -> bool {
        ports.start() <= self.ephemeral.end() && self.ephemeral.start() <= ports.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_text() {
        let k = KernelPorts::parse("32768\t60999\n", "\n").unwrap();
        assert_eq!(k.ephemeral, 32768..=60999);
        assert!(k.reserved.is_empty());
        assert_eq!(k.reserved_text(), "none");
        let k = KernelPorts::parse("1024 65000", "8080,50000-50009\n").unwrap();
        assert_eq!(k.reserved, vec![8080..=8080, 50000..=50009]);
        assert_eq!(k.reserved_count(), 11);
        assert_eq!(k.reserved_text(), "8080,50000-50009");
        assert!(KernelPorts::parse("9 8", "").is_none());
        assert!(KernelPorts::parse("x", "").is_none());
        assert!(KernelPorts::parse("1 2", "a-b").is_none());
    }

    #[test]
    fn default_kernel_keeps_todays_scanner_range() {
        let k = KernelPorts::parse("32768 60999", "").unwrap();
        assert_eq!(k.scanner_ports(1024), Some(61000..=65535));
    }

    #[test]
    fn widened_range_moves_scanner_below_it() {
        // As tuning guides advise: 1024-65535 leaves nothing; 10000-65535 leaves 1024-9999.
        let k = KernelPorts::parse("10000 65535", "").unwrap();
        assert_eq!(k.scanner_ports(1024), Some(1024..=9999));
        let k = KernelPorts::parse("1024 65535", "").unwrap();
        assert_eq!(k.scanner_ports(1024), None);
        let k = KernelPorts::parse("32768 60999", "62000-62999").unwrap();
        assert_eq!(k.scanner_ports(1024), Some(63000..=65535));
        let k = KernelPorts::parse("32768 64999", "").unwrap();
        assert_eq!(k.scanner_ports(1024), Some(1024..=32767));
    }

    #[test]
    fn overlap() {
        let k = KernelPorts::parse("32768 60999", "").unwrap();
        assert!(k.overlaps(60000..=61000));
        assert!(!k.overlaps(61000..=65535));
        assert!(k.is_ephemeral(40000));
        assert!(!k.is_outside(40000));
    }
}
