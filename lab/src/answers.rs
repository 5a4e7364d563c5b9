//! How the target rations its answers beyond the truth: SYN/ACKs lost on their way out,
//! addresses that never answer (a sparse range), RSTs limited per address (as FreeBSD's
//! net.inet.icmp.icmplim limits them). One nftables table of its own, loaded after the
//! truth's; IPv4 only.

use clap::Args;
use ipnet::Ipv4Net;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The table these rules live in.
pub const TABLE: &str = "synlab_answers";
/// Set of the addresses that answer at all.
pub const SET_ALIVE: &str = "alive";
/// Most SYN/ACKs per pair `--lose-syn-acks` may lose (one nft set each).
pub const MAX_LOST_SYN_ACKS: u8 = 5;

/// Options of `serve` that ration the target's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct AnswerArgs {
    /// Lose the first N SYN/ACKs of each (address, port) on their way out (0-5). The
    /// target's kernel keeps the request pending meanwhile, as behind a lossy path.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub lose_syn_acks: u8,
    /// Only N addresses of --prefix answer at all (the open hosts among them); every other
    /// address is silent, as in a sparse range (0: every address answers).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub alive: usize,
    /// Each address sends at most RATE RSTs a second after a burst of BURST, the excess
    /// dropped (FreeBSD's default is 200/200).
    #[arg(long, value_name = "RATE/BURST")]
    pub rst_limit: Option<String>,
}

/// A per-address budget of RSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RstLimit {
    /// RSTs a second.
    pub rate: u32,
    /// RSTs sent at once after a quiet while.
    pub burst: u32,
}

/// The checked rationing of a lab (what its description carries; empty by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    /// SYN/ACKs lost per (address, port) before one gets out.
    #[serde(default)]
    pub lose_syn_acks: u8,
    /// The addresses that answer, when not all of them do.
    #[serde(default)]
    pub alive: Option<BTreeSet<Ipv4Addr>>,
    /// The RST budget of each address.
    #[serde(default)]
    pub rst_limit: Option<RstLimit>,
}

/// Parses "RATE/BURST" (both at least 1).
pub fn parse_rst_limit(s: &str) -> Result<RstLimit, String> {
    let bad = || format!("bad --rst-limit {s:?}: write RATE/BURST, like 200/200");
    let (rate, burst) = s.split_once('/').ok_or_else(bad)?;
    let rate: u32 = rate.trim().parse().map_err(|_| bad())?;
    let burst: u32 = burst.trim().parse().map_err(|_| bad())?;
    if rate == 0 || burst == 0 {
        return Err(bad());
    }
    Ok(RstLimit { rate, burst })
}

impl Answers {
    /// Checks `args` against the lab's `prefix` (first candidate host and count) and picks
    /// the live addresses from `seed`: the hosts of `open` plus random others.
    pub fn plan(
        args: &AnswerArgs,
        hosts: (u32, u32),
        open: &[(Ipv4Addr, u16)],
        seed: u64,
    ) -> Result<Answers, String> {
        if args.lose_syn_acks > MAX_LOST_SYN_ACKS {
            return Err(format!(
                "--lose-syn-acks {} is more than {MAX_LOST_SYN_ACKS}: use 0-{MAX_LOST_SYN_ACKS}",
                args.lose_syn_acks
            ));
        }
        let rst_limit = args.rst_limit.as_deref().map(parse_rst_limit).transpose()?;
        let alive = match args.alive {
            0 => None,
            n => Some(choose_alive(n, hosts, open, seed)?),
        };
        Ok(Answers {
            lose_syn_acks: args.lose_syn_acks,
            alive,
            rst_limit,
        })
    }

    /// True when every address answers every probe as the truth says.
    pub fn is_plain(&self) -> bool {
        *self == Answers::default()
    }

    /// The table (None when plain); the live addresses follow in [`Answers::alive_batches`].
    pub fn ruleset(&self, prefix: Ipv4Net) -> Option<String> {
        if self.is_plain() {
            return None;
        }
        let mut s = format!("table inet {TABLE} {{\n");
        if self.alive.is_some() {
            let _ = writeln!(s, "\tset {SET_ALIVE} {{\n\t\ttype ipv4_addr\n\t}}");
        }
        for k in 1..=self.lose_syn_acks {
            let _ = writeln!(
                s,
                "\tset syn_acks_lost{k} {{\n\t\ttype ipv4_addr . inet_service\n\t\tsize 1048576\n\t\tflags dynamic\n\t}}"
            );
        }
        if self.rst_limit.is_some() {
            let _ = writeln!(
                s,
                "\tset rst_budget {{\n\t\ttype ipv4_addr\n\t\tsize 65536\n\t\tflags dynamic\n\t}}"
            );
        }
        if self.alive.is_some() {
            // Before the truth's table (priority 0): a dark address sends nothing at all.
            let _ = writeln!(
                s,
                "\tchain input {{\n\t\ttype filter hook input priority -10; policy accept;\n\t\tip daddr {prefix} ip daddr != @{SET_ALIVE} drop\n\t}}"
            );
        }
        s.push_str("\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n");
        // The k-th SYN/ACK of a pair moves it from set k-1 to set k; past the last set
        // they pass.
        let syn_ack = "tcp flags & (syn | ack) == syn | ack";
        let pair = "ip saddr . tcp sport";
        let n = self.lose_syn_acks;
        if n > 0 {
            let _ = writeln!(s, "\t\t{syn_ack} {pair} @syn_acks_lost{n} accept");
            for k in (1..n).rev() {
                let _ = writeln!(
                    s,
                    "\t\t{syn_ack} {pair} @syn_acks_lost{k} add @syn_acks_lost{} {{ {pair} }} drop",
                    k + 1
                );
            }
            let _ = writeln!(s, "\t\t{syn_ack} add @syn_acks_lost1 {{ {pair} }} drop");
        }
        if let Some(l) = self.rst_limit {
            let _ = writeln!(
                s,
                "\t\ttcp flags & rst == rst update @rst_budget {{ ip saddr limit rate over {}/second burst {} packets }} drop",
                l.rate, l.burst
            );
        }
        s.push_str("\t}\n}\n");
        Some(s)
    }

    /// `add element` scripts of the live addresses, at most `chunk` each.
    pub fn alive_batches(&self, chunk: usize) -> Vec<String> {
        let Some(alive) = &self.alive else {
            return Vec::new();
        };
        let all: Vec<String> = alive.iter().map(Ipv4Addr::to_string).collect();
        all.chunks(chunk.max(1))
            .map(|c| {
                format!(
                    "add element inet {TABLE} {SET_ALIVE} {{ {} }}\n",
                    c.join(", ")
                )
            })
            .collect()
    }
}

/// `n` live addresses among `hosts` (first, count): every open host, then random others.
fn choose_alive(
    n: usize,
    (first, count): (u32, u32),
    open: &[(Ipv4Addr, u16)],
    seed: u64,
) -> Result<BTreeSet<Ipv4Addr>, String> {
    let mut alive: BTreeSet<Ipv4Addr> = open.iter().map(|p| p.0).collect();
    if n < alive.len() || n as u64 > u64::from(count) {
        return Err(format!(
            "--alive {n} must hold the {} open hosts and fit the {count} hosts of --prefix",
            alive.len()
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed.rotate_left(41) ^ 0x3c6e_f372_fe94_f82b);
    // Rejection sampling while sparse; a dense choice takes the addresses in order.
    if n as u64 * 2 <= u64::from(count) {
        while alive.len() < n {
            alive.insert(Ipv4Addr::from(first + rng.random_range(0..count)));
        }
    } else {
        for i in 0..count {
            if alive.len() >= n {
                break;
            }
            alive.insert(Ipv4Addr::from(first + i));
        }
    }
    Ok(alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix() -> Ipv4Net {
        "198.19.0.0/16".parse().unwrap()
    }

    #[test]
    fn plain_by_default() {
        let a = Answers::plan(&AnswerArgs::default(), (1, 100), &[], 1).unwrap();
        assert!(a.is_plain());
        assert_eq!(a.ruleset(prefix()), None);
        assert!(a.alive_batches(10).is_empty());
    }

    #[test]
    fn lost_syn_acks_and_rst_limit_exact() {
        let args = AnswerArgs {
            lose_syn_acks: 2,
            alive: 0,
            rst_limit: Some("200/150".into()),
        };
        let a = Answers::plan(&args, (1, 100), &[], 1).unwrap();
        let want = "table inet synlab_answers {\n\
\tset syn_acks_lost1 {\n\t\ttype ipv4_addr . inet_service\n\t\tsize 1048576\n\t\tflags dynamic\n\t}\n\
\tset syn_acks_lost2 {\n\t\ttype ipv4_addr . inet_service\n\t\tsize 1048576\n\t\tflags dynamic\n\t}\n\
\tset rst_budget {\n\t\ttype ipv4_addr\n\t\tsize 65536\n\t\tflags dynamic\n\t}\n\
\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n\
\t\ttcp flags & (syn | ack) == syn | ack ip saddr . tcp sport @syn_acks_lost2 accept\n\
\t\ttcp flags & (syn | ack) == syn | ack ip saddr . tcp sport @syn_acks_lost1 add @syn_acks_lost2 { ip saddr . tcp sport } drop\n\
\t\ttcp flags & (syn | ack) == syn | ack add @syn_acks_lost1 { ip saddr . tcp sport } drop\n\
\t\ttcp flags & rst == rst update @rst_budget { ip saddr limit rate over 200/second burst 150 packets } drop\n\
\t}\n}\n";
        assert_eq!(a.ruleset(prefix()).unwrap(), want);
    }

    #[test]
    fn alive_holds_the_open_hosts_and_others_from_the_seed() {
        let open = [
            (Ipv4Addr::new(198, 19, 0, 9), 22),
            (Ipv4Addr::new(198, 19, 0, 9), 80),
            (Ipv4Addr::new(198, 19, 3, 1), 80),
        ];
        let args = AnswerArgs {
            alive: 50,
            ..AnswerArgs::default()
        };
        let hosts = (u32::from(Ipv4Addr::new(198, 19, 0, 1)), 65534);
        let a = Answers::plan(&args, hosts, &open, 7).unwrap();
        let alive = a.alive.clone().unwrap();
        assert_eq!(alive.len(), 50);
        assert!(alive.contains(&open[0].0) && alive.contains(&open[2].0));
        assert_eq!(a, Answers::plan(&args, hosts, &open, 7).unwrap());
        assert_ne!(a, Answers::plan(&args, hosts, &open, 8).unwrap());
        let rules = a.ruleset(prefix()).unwrap();
        assert!(rules.contains(
            "\tchain input {\n\t\ttype filter hook input priority -10; policy accept;\n\t\tip daddr 198.19.0.0/16 ip daddr != @alive drop\n\t}\n"
        ));
        let batches = a.alive_batches(20);
        assert_eq!(batches.len(), 3);
        assert!(batches[0].starts_with("add element inet synlab_answers alive { 198.19."));
        // Dense: every host of a /30's two.
        let dense = AnswerArgs {
            alive: 2,
            ..AnswerArgs::default()
        };
        let a = Answers::plan(&dense, (10, 2), &[], 1).unwrap();
        assert_eq!(a.alive.unwrap().len(), 2);
    }

    #[test]
    fn bad_values_are_refused_with_one_line() {
        let plan = |args: AnswerArgs| Answers::plan(&args, (1, 100), &[], 1).unwrap_err();
        let e = plan(AnswerArgs {
            lose_syn_acks: 6,
            ..AnswerArgs::default()
        });
        assert_eq!(e, "--lose-syn-acks 6 is more than 5: use 0-5");
        for bad in ["200", "0/5", "5/0", "a/b", "200/"] {
            let e = plan(AnswerArgs {
                rst_limit: Some(bad.into()),
                ..AnswerArgs::default()
            });
            assert_eq!(
                e,
                format!("bad --rst-limit {bad:?}: write RATE/BURST, like 200/200")
            );
        }
        let open = [
            (Ipv4Addr::new(0, 0, 0, 2), 1),
            (Ipv4Addr::new(0, 0, 0, 3), 1),
        ];
        let e = Answers::plan(
            &AnswerArgs {
                alive: 1,
                ..AnswerArgs::default()
            },
            (1, 100),
            &open,
            1,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "--alive 1 must hold the 2 open hosts and fit the 100 hosts of --prefix"
        );
        assert_eq!(
            parse_rst_limit("200/200"),
            Ok(RstLimit {
                rate: 200,
                burst: 200
            })
        );
    }
}
