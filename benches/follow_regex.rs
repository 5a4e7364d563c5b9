//! The measurement that chose the follow-up layer's regex engine: nmap-service-probes' match
//! lines compiled by PCRE2 (Debian's libpcre2, JIT) and by fancy-regex, then every line tried
//! against every banner of the lab corpus (lab/corpus/banners.txt), as the NULL probe's
//! fallback chain does in the worst case. Prints compile failures, compile time, memory and
//! match time per engine. `cargo bench --bench follow_regex` (needs nmap installed).

use std::time::Instant;

use synscan::follow::template::unescape;
use synscan::follow::ProbeDb;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn corpus() -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/corpus/banners.txt");
    let text = std::fs::read_to_string(path).expect("lab/corpus/banners.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .filter_map(|b| unescape(b.as_bytes()))
        .collect()
}

/// Bytes as a Latin-1 string: fancy-regex reads `&str` only, and `\xNN` then means byte NN.
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

fn main() {
    let Some(path) = synscan::follow::probes::NMAP_SERVICE_PROBES
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    else {
        eprintln!("follow_regex: nmap-service-probes not installed (apt-get install nmap)");
        return;
    };
    let banners = corpus();
    let rss0 = rss_kib();
    let t = Instant::now();
    let db = ProbeDb::load(path).expect("nmap-service-probes reads");
    let pcre_compile = t.elapsed();
    let pcre_rss = rss_kib().saturating_sub(rss0);
    let lines: Vec<_> = db.probes().iter().flat_map(|p| p.matches.iter()).collect();
    println!(
        "nmap-service-probes: {} match lines, {} probes ({path})",
        db.match_lines(),
        db.probes().len()
    );
    println!(
        "pcre2 (JIT): {} failed to compile, compile {:.0} ms, +{} MiB RSS",
        db.failures().len(),
        pcre_compile.as_secs_f64() * 1e3,
        pcre_rss / 1024
    );

    let rss1 = rss_kib();
    let t = Instant::now();
    let mut fancy = Vec::with_capacity(lines.len());
    let mut fancy_failed = 0;
    for m in &lines {
        let (src, flags) = m.pattern().source();
        let prefix = if flags.is_empty() {
            String::new()
        } else {
            format!("(?{flags})")
        };
        match fancy_regex::Regex::new(&format!("{prefix}{src}")) {
            Ok(r) => fancy.push(Some(r)),
            Err(_) => {
                fancy_failed += 1;
                fancy.push(None);
            }
        }
    }
    let fancy_compile = t.elapsed();
    println!(
        "fancy-regex: {fancy_failed} failed to compile, compile {:.0} ms, +{} MiB RSS",
        fancy_compile.as_secs_f64() * 1e3,
        rss_kib().saturating_sub(rss1) / 1024
    );

    let rounds = 3;
    let tests = (banners.len() * lines.len() * rounds) as f64;
    let t = Instant::now();
    let mut hits = 0usize;
    for _ in 0..rounds {
        for b in &banners {
            hits += lines.iter().filter(|m| m.pattern().is_match(b)).count();
        }
    }
    let pcre_match = t.elapsed();
    let strs: Vec<String> = banners.iter().map(|b| latin1(b)).collect();
    let t = Instant::now();
    let mut fancy_hits = 0usize;
    for _ in 0..rounds {
        for s in &strs {
            fancy_hits += fancy
                .iter()
                .flatten()
                .filter(|r| r.is_match(s).unwrap_or(false))
                .count();
        }
    }
    let fancy_match = t.elapsed();
    println!(
        "match: {} banners x {} lines x {rounds}: pcre2 {:.0} ns/test ({:.2} ms per banner, {} hits), fancy-regex {:.0} ns/test ({:.2} ms per banner, {} hits)",
        banners.len(),
        lines.len(),
        pcre_match.as_secs_f64() * 1e9 / tests,
        pcre_match.as_secs_f64() * 1e3 / (banners.len() * rounds) as f64,
        hits / rounds,
        fancy_match.as_secs_f64() * 1e9 / tests,
        fancy_match.as_secs_f64() * 1e3 / (banners.len() * rounds) as f64,
        fancy_hits / rounds,
    );
}
