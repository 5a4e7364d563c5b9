//! nftables rule text for the target namespace (pure functions; `nft -f -` loads them).

use crate::cli::UnreachKind;
use crate::truth::Pair;
use std::fmt::Write as _;

/// The table holding the truth sets and rules.
pub const TABLE: &str = "synlab";
/// Set of open (address . port) pairs.
pub const SET_OPEN: &str = "open";
/// Set of filtered pairs.
pub const SET_FILTERED: &str = "filtered";
/// Set of unreachable pairs.
pub const SET_UNREACH: &str = "unreach";
/// Elements per `add element` batch (sets can be big; keep each nft run small).
pub const CHUNK: usize = 2000;

/// The truth table: three empty sets and the input chain (elements are added separately).
///
/// Order matters: random loss first, then filtered drops, unreachable rejects, and finally
/// RSTs for listening ports on pairs that are not open; the rest falls to the kernel.
pub fn ruleset(loss: u8, kind: UnreachKind, open_ports: &[u16]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "table inet {TABLE} {{");
    for set in [SET_OPEN, SET_FILTERED, SET_UNREACH] {
        let _ = writeln!(s, "\tset {set} {{\n\t\ttype ipv4_addr . inet_service\n\t}}");
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
    if !open_ports.is_empty() {
        let list: Vec<String> = open_ports.iter().map(u16::to_string).collect();
        let _ = writeln!(
            s,
            "\t\ttcp dport {{ {} }} ip daddr . tcp dport != @{SET_OPEN} reject with tcp reset",
            list.join(", ")
        );
    }
    s.push_str("\t}\n}\n");
    s
}

/// `add element` scripts for `set`, at most `chunk` elements each (none for an empty list).
pub fn element_batches(set: &str, pairs: &[Pair], chunk: usize) -> Vec<String> {
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
    format!(
        "table netdev {TABLE}_ingress {{\n\tchain ingress {{\n\t\ttype filter hook ingress device \"{dev}\" priority 0; policy drop;\n\t\tether type arp accept\n\t}}\n}}\n"
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
    fn elements_chunked() {
        let pairs: Vec<Pair> = vec![
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
        assert!(element_batches("open", &[], 2).is_empty());
    }

    #[test]
    fn drop_all_exact() {
        assert_eq!(
            drop_all("xb"),
            "table netdev synlab_ingress {\n\tchain ingress {\n\t\ttype filter hook ingress device \"xb\" priority 0; policy drop;\n\t\tether type arp accept\n\t}\n}\n"
        );
    }
}
