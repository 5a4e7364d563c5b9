//! Which probes a port gets and what their answers mean, as nmap's service scan decides it,
//! but over answers gathered in parallel: nmap sends its probes one after another and stops
//! at the first hard match; we send them at once and replay nmap's walk over whatever has
//! come back. The walk gives nmap's answer whenever every probe before the deciding one has
//! finished; the one deviation is that a probe still waiting but silent for the grace period
//! (1 s) counts as unanswered once a later probe has a hard match (nmap waits its full
//! totalwaitms: 6 s for the NULL probe).

use std::time::Duration;

use super::probes::{MatchDetails, ProbeDb, ProbeId, Transport};

/// nmap's --version-intensity: 0 to 9 (7 by default, light 2, all 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intensity(u8);

impl Intensity {
    /// nmap's default.
    pub const DEFAULT: Intensity = Intensity(7);
    /// --version-light.
    pub const LIGHT: Intensity = Intensity(2);
    /// --version-all.
    pub const ALL: Intensity = Intensity(9);

    /// An intensity from 0 to 9; None above.
    pub fn new(level: u8) -> Option<Intensity> {
        (level <= 9).then_some(Intensity(level))
    }

    /// The level.
    pub fn level(self) -> u8 {
        self.0
    }
}

impl Default for Intensity {
    fn default() -> Intensity {
        Intensity::DEFAULT
    }
}

/// Where a probe stands in nmap's order for one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Null,
    /// The port is on the probe's ports (or sslports) list: tried whatever its rarity.
    Likely,
    /// Tried only when rare enough (or when a softmatch says it can help).
    Other,
}

/// One probe's answer so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Not sent yet.
    Unsent,
    /// Sent (or connecting); `quiet` is how long since it was sent or last brought data.
    Waiting {
        /// Time without new bytes.
        quiet: Duration,
        /// A softmatch of what arrived so far (nmap acts on it at once, reading on).
        partial: Option<MatchDetails>,
    },
    /// Finished: the match of its answer (None: no answer, or one nothing matched).
    Done(Option<MatchDetails>),
    /// NULL probe only: the connection closed, nothing read, within tcpwrappedms.
    Wrapped,
}

/// What the walk concludes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not yet: these probes must be sent (possibly none: wait for answers).
    Wait(Vec<ProbeId>),
    /// A hard match (fields a softmatch found first are kept where the hard one has none).
    Hard(MatchDetails),
    /// Only a softmatch.
    Soft(MatchDetails),
    /// Nothing matched.
    NoMatch,
    /// nmap's tcpwrapped: closed at once with nothing said.
    Tcpwrapped,
}

/// The probes one port may get, in nmap's order, for one tunnel (plain or TLS).
#[derive(Clone, Debug)]
pub struct Plan {
    steps: Vec<(ProbeId, Stage)>,
    intensity: Intensity,
    grace: Duration,
}

impl Plan {
    /// nmap's order for TCP `port`: the NULL probe, then probes listing the port (sslports
    /// over TLS) in file order, then the others in file order.
    pub fn new(db: &ProbeDb, port: u16, tls: bool, intensity: Intensity, grace: Duration) -> Plan {
        let mut steps = Vec::new();
        steps.extend(db.null_probe().map(|n| (n, Stage::Null)));
        let tcp = |id: &ProbeId| {
            let p = db.probe(*id);
            p.transport == Transport::Tcp && !p.is_null()
        };
        let ids: Vec<ProbeId> = (0..db.probes().len()).filter(tcp).collect();
        steps.extend(
            ids.iter()
                .filter(|&&id| db.probe(id).likely_on(port, tls))
                .map(|&id| (id, Stage::Likely)),
        );
        steps.extend(
            ids.iter()
                .filter(|&&id| !db.probe(id).likely_on(port, tls))
                .map(|&id| (id, Stage::Other)),
        );
        Plan {
            steps,
            intensity,
            grace,
        }
    }

    /// Every probe of the plan, in order.
    pub fn probes(&self) -> impl Iterator<Item = ProbeId> + '_ {
        self.steps.iter().map(|s| s.0)
    }

    /// The NULL probe's place, when the database has one.
    pub fn null_probe(&self) -> Option<ProbeId> {
        self.steps
            .first()
            .filter(|s| s.1 == Stage::Null)
            .map(|s| s.0)
    }

    /// nmap's nextProbe filter: would this probe be tried, given the softmatch so far?
    fn eligible(&self, db: &ProbeDb, step: (ProbeId, Stage), soft: Option<&str>) -> bool {
        let p = db.probe(step.0);
        let all = self.intensity.level() >= 9;
        match (step.1, soft) {
            (Stage::Null, _) => true,
            (Stage::Likely, None) => true,
            (Stage::Other, None) => p.rarity <= self.intensity.level(),
            (_, Some(s)) => all || p.can_name(s),
        }
    }

    /// Replays nmap's walk over the answers (`answer(probe)`).
    pub fn verdict(&self, db: &ProbeDb, answer: impl Fn(ProbeId) -> Answer) -> Verdict {
        let answers: Vec<Answer> = self.steps.iter().map(|s| answer(s.0)).collect();
        let later_hard = |from: usize| {
            answers[from..]
                .iter()
                .any(|a| matches!(a, Answer::Done(Some(m)) if !m.soft))
        };
        let mut soft: Option<MatchDetails> = None;
        let mut unsent = Vec::new();
        let mut blocked = false;
        for (i, &step) in self.steps.iter().enumerate() {
            if !self.eligible(db, step, soft.as_ref().map(|m| m.service.as_str())) {
                continue;
            }
            match &answers[i] {
                Answer::Unsent => {
                    unsent.push(step.0);
                    blocked = true;
                }
                Answer::Waiting { quiet, partial } => {
                    if soft.is_none() && !blocked {
                        soft = partial.clone();
                    }
                    if !(*quiet >= self.grace && later_hard(i + 1)) {
                        blocked = true;
                    }
                }
                Answer::Wrapped if !blocked => return Verdict::Tcpwrapped,
                Answer::Wrapped => {}
                Answer::Done(Some(m)) if !m.soft => {
                    if !blocked {
                        return Verdict::Hard(merge(soft, m.clone()));
                    }
                }
                Answer::Done(Some(m)) => {
                    if !blocked && soft.is_none() {
                        soft = Some(m.clone());
                    }
                }
                Answer::Done(None) => {}
            }
        }
        if blocked {
            return Verdict::Wait(unsent);
        }
        match soft {
            Some(m) => Verdict::Soft(m),
            None => Verdict::NoMatch,
        }
    }
}

/// nmap's processMatch: the hard match's fields over the softmatch's.
fn merge(soft: Option<MatchDetails>, hard: MatchDetails) -> MatchDetails {
    let Some(s) = soft else { return hard };
    MatchDetails {
        product: hard.product.or(s.product),
        version: hard.version.or(s.version),
        info: hard.info.or(s.info),
        hostname: hard.hostname.or(s.hostname),
        ostype: hard.ostype.or(s.ostype),
        devicetype: hard.devicetype.or(s.devicetype),
        cpe: if hard.cpe.is_empty() { s.cpe } else { hard.cpe },
        ..hard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &[u8] = br"Probe TCP NULL q||
totalwaitms 6000
match ssh m|^SSH-| p/sshd/
softmatch ftp m|^220 |
Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
ports 80
sslports 443
match http m|^HTTP/1| p/web/
Probe TCP Help q|HELP\r\n|
rarity 3
match ftp m|^214 .*vsFTPd (\S+)|s v/$1/
Probe TCP Rare q|x|
rarity 8
ports 21
match ftp m|^500 rare| p/rareftpd/
Probe TCP RareFtp q|y|
rarity 9
match ftp m|^500 y| p/yftpd/
Probe UDP Udp q|z|
rarity 1
";

    fn db() -> ProbeDb {
        ProbeDb::parse(DB, "t").unwrap()
    }

    const G: Duration = Duration::from_secs(1);

    fn names(db: &ProbeDb, ids: &[ProbeId]) -> Vec<String> {
        ids.iter().map(|&i| db.probe(i).name.clone()).collect()
    }

    #[test]
    fn order_null_then_likely_then_others_tcp_only() {
        let db = db();
        let plan = Plan::new(&db, 80, false, Intensity::DEFAULT, G);
        let order: Vec<ProbeId> = plan.probes().collect();
        assert_eq!(
            names(&db, &order),
            ["NULL", "GetRequest", "Help", "Rare", "RareFtp"]
        );
        let tls = Plan::new(&db, 443, true, Intensity::DEFAULT, G);
        assert_eq!(
            names(&db, &tls.probes().collect::<Vec<_>>())[1],
            "GetRequest"
        );
        let plain443 = Plan::new(&db, 443, false, Intensity::DEFAULT, G);
        assert_eq!(
            names(&db, &plain443.probes().collect::<Vec<_>>())[1],
            "GetRequest"
        );
        assert_eq!(plan.null_probe(), Some(0));
    }

    #[test]
    fn first_wait_asks_for_every_eligible_probe() {
        let db = db();
        let plan = Plan::new(&db, 80, false, Intensity::DEFAULT, G);
        let v = plan.verdict(&db, |_| Answer::Unsent);
        // Rare (rarity 8) and RareFtp (9) are above intensity 7 on port 80.
        assert_eq!(v, Verdict::Wait(vec![0, 1, 2]));
        let v = plan.verdict(&db, |_| Answer::Unsent);
        assert_eq!(v, Verdict::Wait(vec![0, 1, 2]));
        let light = Plan::new(&db, 21, false, Intensity::new(0).unwrap(), G);
        // On port 21 Rare is likely: tried at any intensity; Help (3) is not at 0.
        assert_eq!(
            light.verdict(&db, |_| Answer::Unsent),
            Verdict::Wait(vec![0, 3])
        );
    }

    fn hard(db: &ProbeDb, probe: ProbeId, answer: &[u8]) -> Answer {
        Answer::Done(db.match_answer(probe, answer))
    }

    #[test]
    fn banner_decides_at_once() {
        let db = db();
        let plan = Plan::new(&db, 80, false, Intensity::DEFAULT, G);
        let v = plan.verdict(&db, |p| match p {
            0 => hard(&db, 0, b"SSH-2.0-x\r\n"),
            _ => Answer::Waiting {
                quiet: Duration::ZERO,
                partial: None,
            },
        });
        assert!(matches!(v, Verdict::Hard(m) if m.service == "ssh"));
    }

    #[test]
    fn later_hard_match_waits_for_a_quiet_null_probe() {
        let db = db();
        let plan = Plan::new(&db, 80, false, Intensity::DEFAULT, G);
        let at = |quiet: Duration| {
            plan.verdict(&db, |p| match p {
                0 => Answer::Waiting {
                    quiet,
                    partial: None,
                },
                1 => hard(&db, 1, b"HTTP/1.0 200 OK\r\n"),
                _ => Answer::Waiting {
                    quiet: Duration::ZERO,
                    partial: None,
                },
            })
        };
        assert_eq!(at(Duration::from_millis(999)), Verdict::Wait(vec![]));
        assert!(matches!(at(G), Verdict::Hard(m) if m.product.as_deref() == Some("web")));
        // Without a later hard match a quiet NULL probe is still waited for (nmap's 6 s).
        let v = plan.verdict(&db, |p| match p {
            0 => Answer::Waiting {
                quiet: G * 3,
                partial: None,
            },
            _ => Answer::Done(None),
        });
        assert_eq!(v, Verdict::Wait(vec![]));
    }

    #[test]
    fn softmatch_narrows_then_a_rare_probe_may_finish_it() {
        let db = db();
        let plan = Plan::new(&db, 80, false, Intensity::DEFAULT, G);
        // NULL softmatches ftp: GetRequest cannot name ftp and is skipped; Help can; the
        // rare ftp probes become eligible whatever their rarity (nmap's rule).
        let v = plan.verdict(&db, |p| match p {
            0 => hard(&db, 0, b"220 hi\r\n"),
            1 => Answer::Waiting {
                quiet: Duration::ZERO,
                partial: None,
            },
            2 => Answer::Done(None),
            _ => Answer::Unsent,
        });
        assert_eq!(v, Verdict::Wait(vec![3, 4]));
        let v = plan.verdict(&db, |p| match p {
            0 => hard(&db, 0, b"220 hi\r\n"),
            3 => hard(&db, 3, b"500 rare\r\n"),
            _ => Answer::Done(None),
        });
        let Verdict::Hard(m) = v else { panic!("{v:?}") };
        assert_eq!(
            (m.service.as_str(), m.product.as_deref()),
            ("ftp", Some("rareftpd"))
        );
        let v = plan.verdict(&db, |p| match p {
            0 => hard(&db, 0, b"220 hi\r\n"),
            _ => Answer::Done(None),
        });
        assert!(matches!(v, Verdict::Soft(m) if m.service == "ftp"));
    }

    #[test]
    fn hard_match_keeps_the_softmatch_fields_it_lacks() {
        let db = ProbeDb::parse(
            b"Probe TCP NULL q||\nsoftmatch ftp m|^220 (\\S+)| p/$1/ o/Unix/\nProbe TCP H q|h|\nrarity 1\nmatch ftp m|^220 \\S+ (\\d+)| v/$1/\n",
            "t",
        )
        .unwrap();
        let plan = Plan::new(&db, 21, false, Intensity::DEFAULT, G);
        let v = plan.verdict(&db, |p| hard(&db, p, b"220 acme 42\r\n"));
        let Verdict::Hard(m) = v else { panic!("{v:?}") };
        assert_eq!(m.product.as_deref(), Some("acme"));
        assert_eq!(m.version.as_deref(), Some("42"));
        assert_eq!(m.ostype.as_deref(), Some("Unix"));
        assert!(!m.soft);
    }

    #[test]
    fn tcpwrapped_and_no_match() {
        let db = db();
        let plan = Plan::new(&db, 80, false, Intensity::DEFAULT, G);
        let v = plan.verdict(&db, |p| {
            if p == 0 {
                Answer::Wrapped
            } else {
                Answer::Unsent
            }
        });
        assert_eq!(v, Verdict::Tcpwrapped);
        let v = plan.verdict(&db, |_| Answer::Done(None));
        assert_eq!(v, Verdict::NoMatch);
    }

    #[test]
    fn intensity_bounds() {
        assert_eq!(Intensity::new(10), None);
        assert_eq!(Intensity::new(9), Some(Intensity::ALL));
        assert_eq!(Intensity::default().level(), 7);
        assert_eq!(Intensity::LIGHT.level(), 2);
    }
}
