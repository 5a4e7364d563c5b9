//! nftables rule text for the target namespace (pure functions; `nft -f -` loads them).

use crate::cli::{Unreach6Kind, UnreachKind};
use std::fmt::{Display, Write as _};

/// The table holding the truth sets and rules.
pub const TABLE: &str = "synlab";
/// Set of open (address . port) pairs.
pub const SET_OPEN: &str = "open";
/// Set of filtered pairs.
pub const SET_FILTERED: &str = "filtered";
/// Set of unreachable pairs.
pub const SET_UNREACH: &str = "unreach";
/// Set of open IPv6 (address . port) pairs.
pub const SET_OPEN6: &str = "open6";
/// Set of filtered IPv6 pairs.
pub const SET_FILTERED6: &str = "filtered6";
/// Set of IPv6 unreachable pairs.
pub const SET_UNREACH6: &str = "unreach6";
/// Elements per `add element` batch (sets can be big; keep each nft run small).
pub const CHUNK: usize = 2000;

/// The truth table: three empty sets and the input chain (elements are added separately).
///
/// Order matters: random loss first, then filtered drops, unreachable rejects, and finally
/// RSTs for listening ports on pairs that are not open; the rest falls to the kernel.
pub fn ruleset(loss: u8, kind: UnreachKind, open_ports: &[u16]) -> String {
    ruleset_with(loss, kind, open_ports, None)
}

/// [`ruleset`], plus with `v6` the same three sets and rules for IPv6 (`kind6` answering
/// the unreachable pairs); the listening ports are shared by both families.
pub fn ruleset_with(
    loss: u8,
    kind: UnreachKind,
    open_ports: &[u16],
    v6: Option<Unreach6Kind>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "table inet {TABLE} {{");
    for set in [SET_OPEN, SET_FILTERED, SET_UNREACH] {
        let _ = writeln!(s, "\tset {set} {{\n\t\ttype ipv4_addr . inet_service\n\t}}");
    }
    if v6.is_some() {
        for set in [SET_OPEN6, SET_FILTERED6, SET_UNREACH6] {
            let _ = writeln!(s, "\tset {set} {{\n\t\ttype ipv6_addr . inet_service\n\t}}");
        }
    }
    s.push_str("\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n");
    if loss > 0 {
        let _ = writeln!(
            s,
            "\t\ttcp flags & (syn | ack) == syn numgen random mod 100 < {} drop",
            loss.min(100)
        );
    }
    let _ = writeln!(s, "\t\tip daddr . tcp dport @{SET_FILTERED} drop");
    let _ = writeln!(
        s,
        "\t\tip daddr . tcp dport @{SET_UNREACH} reject with icmp type {}",
        kind.nft_name()
    );
    let list: Vec<String> = open_ports.iter().map(u16::to_string).collect();
    if !open_ports.is_empty() {
        let _ = writeln!(
            s,
            "\t\ttcp dport {{ {} }} ip daddr . tcp dport != @{SET_OPEN} reject with tcp reset",
            list.join(", ")
        );
    }
    if let Some(kind6) = v6 {
        let _ = writeln!(s, "\t\tip6 daddr . tcp dport @{SET_FILTERED6} drop");
        let _ = writeln!(
            s,
            "\t\tip6 daddr . tcp dport @{SET_UNREACH6} reject with icmpv6 type {}",
            kind6.nft_name()
        );
        if !open_ports.is_empty() {
            let _ = writeln!(
                s,
                "\t\ttcp dport {{ {} }} ip6 daddr . tcp dport != @{SET_OPEN6} reject with tcp reset",
                list.join(", ")
            );
        }
    }
    s.push_str("\t}\n}\n");
    s
}

/// `add element` scripts for `set`, at most `chunk` elements each (none for an empty list).
pub fn element_batches<A: Display>(set: &str, pairs: &[(A, u16)], chunk: usize) -> Vec<String> {
    pairs
        .chunks(chunk.max(1))
        .map(|c| {
            let elems: Vec<String> = c.iter().map(|(a, p)| format!("{a} . {p}")).collect();
            format!(
                "add element inet {TABLE} {set} {{ {} }}\n",
                elems.join(", ")
            )
        })
        .collect()
}

/// Send-only mode: drop everything but ARP at the ingress of `dev` (before the stack runs,
/// after the veth counted it in rx_packets); ARP stays so senders can resolve the next hop.
pub fn drop_all(dev: &str) -> String {
    drop_all_with(dev, false)
}

/// [`drop_all`]; with `v6` IPv6 neighbour solicitations and advertisements pass too (the
/// IPv6 twin of ARP).
pub fn drop_all_with(dev: &str, v6: bool) -> String {
    let nd = if v6 {
        "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n"
    } else {
        ""
    };
    format!(
        "table netdev {TABLE}_ingress {{\n\tchain ingress {{\n\t\ttype filter hook ingress device \"{dev}\" priority 0; policy drop;\n\t\tether type arp accept\n{nd}\t}}\n}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_exact_with_loss() {
        let want = "table inet synlab {\n\
\tset open {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tset filtered {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tset unreach {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tchain input {\n\
\t\ttype filter hook input priority 0; policy accept;\n\
\t\ttcp flags & (syn | ack) == syn numgen random mod 100 < 30 drop\n\
\t\tip daddr . tcp dport @filtered drop\n\
\t\tip daddr . tcp dport @unreach reject with icmp type admin-prohibited\n\
\t\ttcp dport { 22, 80 } ip daddr . tcp dport != @open reject with tcp reset\n\
\t}\n}\n";
        assert_eq!(ruleset(30, UnreachKind::Admin, &[22, 80]), want);
    }

    #[test]
    fn ruleset_exact_without_loss_or_open() {
        let want = "table inet synlab {\n\
\tset open {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tset filtered {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tset unreach {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tchain input {\n\
\t\ttype filter hook input priority 0; policy accept;\n\
\t\tip daddr . tcp dport @filtered drop\n\
\t\tip daddr . tcp dport @unreach reject with icmp type host-unreachable\n\
\t}\n}\n";
        assert_eq!(ruleset(0, UnreachKind::Host, &[]), want);
    }

    #[test]
    fn ruleset_exact_with_ipv6() {
        let want = "table inet synlab {\n\
\tset open {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tset filtered {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tset unreach {\n\t\ttype ipv4_addr . inet_service\n\t}\n\
\tset open6 {\n\t\ttype ipv6_addr . inet_service\n\t}\n\
\tset filtered6 {\n\t\ttype ipv6_addr . inet_service\n\t}\n\
\tset unreach6 {\n\t\ttype ipv6_addr . inet_service\n\t}\n\
\tchain input {\n\
\t\ttype filter hook input priority 0; policy accept;\n\
\t\tip daddr . tcp dport @filtered drop\n\
\t\tip daddr . tcp dport @unreach reject with icmp type host-unreachable\n\
\t\ttcp dport { 22, 80 } ip daddr . tcp dport != @open reject with tcp reset\n\
\t\tip6 daddr . tcp dport @filtered6 drop\n\
\t\tip6 daddr . tcp dport @unreach6 reject with icmpv6 type reject-route\n\
\t\ttcp dport { 22, 80 } ip6 daddr . tcp dport != @open6 reject with tcp reset\n\
\t}\n}\n";
        assert_eq!(
            ruleset_with(
                0,
                UnreachKind::Host,
                &[22, 80],
                Some(Unreach6Kind::RejectRoute)
            ),
            want
        );
        assert_eq!(
            ruleset_with(5, UnreachKind::Admin, &[22], None),
            ruleset(5, UnreachKind::Admin, &[22])
        );
    }

    #[test]
    fn ipv6_elements_written_plainly() {
        let pairs = vec![("2001:2:0:19::a".parse::<std::net::Ipv6Addr>().unwrap(), 22)];
        assert_eq!(
            element_batches("open6", &pairs, 10),
            vec!["add element inet synlab open6 { 2001:2:0:19::a . 22 }\n".to_string()]
        );
    }

    #[test]
    fn drop_all_with_ipv6_lets_neighbour_discovery_pass() {
        assert_eq!(drop_all_with("xb", false), drop_all("xb"));
        assert_eq!(
            drop_all_with("xb", true),
            "table netdev synlab_ingress {\n\tchain ingress {\n\t\ttype filter hook ingress device \"xb\" priority 0; policy drop;\n\t\tether type arp accept\n\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n\t}\n}\n"
        );
    }

    #[test]
    fn elements_chunked() {
        let pairs: Vec<crate::truth::Pair> = vec![
            ("198.19.0.1".parse().unwrap(), 22),
            ("198.19.0.2".parse().unwrap(), 80),
            ("198.19.0.3".parse().unwrap(), 443),
        ];
        assert_eq!(
            element_batches("open", &pairs, 2),
            vec![
                "add element inet synlab open { 198.19.0.1 . 22, 198.19.0.2 . 80 }\n".to_string(),
                "add element inet synlab open { 198.19.0.3 . 443 }\n".to_string(),
            ]
        );
        assert!(element_batches::<std::net::Ipv4Addr>("open", &[], 2).is_empty());
    }

    #[test]
    fn drop_all_exact() {
        assert_eq!(
            drop_all("xb"),
            "table netdev synlab_ingress {\n\tchain ingress {\n\t\ttype filter hook ingress device \"xb\" priority 0; policy drop;\n\t\tether type arp accept\n\t}\n}\n"
        );
    }
}
