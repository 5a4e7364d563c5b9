//! The journal of released results, kept beside the resume file when a grouped output
//! (-oN, -oG, -oX file) or a check that judges the whole scan is asked for: a resumed run
//! replays it into its per-host table and checks, and writes one document holding both
//! runs.
//!
//! It holds only what those can show: every answered result, and the no-response results
//! something keeps one by one (a host that already replied, a --baseline pair, the first
//! --expect miss). Every other no-response result is only counted, one count record per
//! checkpoint, so a silent sweep's journal stays a few hundred bytes a minute.
//!
//! Format: the 8 bytes `SYNJRNL3`, then 16-byte records: an IPv4 result is one record,
//! address (4, big endian), port (2, big endian), reason code (1), TTL (1), milliseconds
//! since the Unix epoch (6, little endian), protocol code (1), state code (1); an IPv6
//! result takes two (see `state::compact`); a count record has [`SILENT`] for its reason
//! code and the number of no-response results it stands for in the last 8 bytes (little
//! endian). Journals of earlier formats (no protocol nor state) are refused with one line.

use crate::error::ScanError;
use crate::model::PortResult;
use crate::state::compact::{Compact, Decoder, Step, COMPACT_BYTES};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
#[cfg(test)]
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 8] = b"SYNJRNL3";
/// The magics of earlier journals: every result stored (1), results without protocol and
/// state (2).
const OLD_MAGICS: [&[u8; 8]; 2] = [b"SYNJRNL1", b"SYNJRNL2"];
const RECORD: usize = COMPACT_BYTES;
/// Reason-code byte of a count record (never a reason code nor an IPv6 marker).
const SILENT: u8 = 0xFD;

/// What a journal gives back, in the order it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// One result, kept whole.
    Result(PortResult),
    /// This many no-response results that only counted.
    Silent(u64),
}

fn silent_record(n: u64) -> [u8; RECORD] {
    let mut b = [0u8; RECORD];
    b[6] = SILENT;
    b[8..16].copy_from_slice(&n.to_le_bytes());
    b
}

/// The count a record holds, if it is a count record.
fn silent_count(b: &[u8; RECORD]) -> Option<u64> {
    (b[6] == SILENT).then(|| {
        let mut n = [0u8; 8];
        n.copy_from_slice(&b[8..16]);
        u64::from_le_bytes(n)
    })
}

/// An open journal, appended to as results are released.
pub struct Journal {
    out: BufWriter<File>,
    len: u64,
    /// No-response results counted since the last count record.
    silent: u64,
}

impl Journal {
    /// Starts a journal in `file` (freshly created, empty).
    pub fn create(file: File) -> io::Result<Journal> {
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.write_all(MAGIC)?;
        Ok(Journal {
            out,
            len: MAGIC.len() as u64,
            silent: 0,
        })
    }

    /// Reads the journal in `file` up to `length` (the checkpoint's) and checks that this
    /// synscan wrote every record, changing nothing: a resumed run checks its journal
    /// before it truncates any output. One line on a damaged journal.
    pub fn check(file: &mut File, length: u64) -> Result<(), ScanError> {
        read(file, length, |_| {})
    }

    /// Continues the journal in `file`: hands every entry up to `length` (the
    /// checkpoint's) to `replay`, then cuts it back to `length`. One line on a damaged
    /// journal, left as it was.
    pub fn resume(
        mut file: File,
        length: u64,
        replay: impl FnMut(Entry),
    ) -> Result<Journal, ScanError> {
        read(&mut file, length, replay)?;
        // Read whole before cutting: a journal refused above is left as it was.
        file.set_len(length).map_err(|e| damaged(&e.to_string()))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| damaged(&e.to_string()))?;
        Ok(Journal {
            out: BufWriter::with_capacity(64 * 1024, file),
            len: length,
            silent: 0,
        })
    }

    /// Adds one released result.
    pub fn append(&mut self, r: &PortResult) -> io::Result<()> {
        for c in Compact::encode(r) {
            self.out.write_all(&c.to_bytes())?;
            self.len += RECORD as u64;
        }
        Ok(())
    }

    /// Counts one no-response result that nothing keeps one by one (written as part of a
    /// count record at the next [`Journal::sync`]).
    pub fn count_silent(&mut self) {
        self.silent += 1;
    }

    /// Writes the pending count and makes everything appended durable; returns the
    /// journal's length.
    pub fn sync(&mut self) -> io::Result<u64> {
        if self.silent > 0 {
            self.out.write_all(&silent_record(self.silent))?;
            self.len += RECORD as u64;
            self.silent = 0;
        }
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        Ok(self.len)
    }
}

fn damaged(why: &str) -> ScanError {
    ScanError::usage(format!(
        "the resume journal is damaged ({why}); start the scan again"
    ))
}

/// Reads the entries of the journal in `file` up to `length` into `replay`, checking each.
fn read(file: &mut File, length: u64, mut replay: impl FnMut(Entry)) -> Result<(), ScanError> {
    let actual = file.metadata().map_err(|e| damaged(&e.to_string()))?.len();
    if length < MAGIC.len() as u64
        || !(length - MAGIC.len() as u64).is_multiple_of(RECORD as u64)
        || actual < length
    {
        return Err(damaged("its length does not match the resume file"));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| damaged(&e.to_string()))?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let mut magic = [0u8; 8];
    input
        .read_exact(&mut magic)
        .map_err(|e| damaged(&e.to_string()))?;
    if OLD_MAGICS.contains(&&magic) {
        return Err(ScanError::usage(
            "the resume journal was written by an older synscan; finish the scan with that version, or start it again",
        ));
    }
    if &magic != MAGIC {
        return Err(damaged("not a synscan journal"));
    }
    let mut rec = [0u8; RECORD];
    let mut decoder = Decoder::new();
    for _ in 0..(length - MAGIC.len() as u64) / RECORD as u64 {
        input
            .read_exact(&mut rec)
            .map_err(|e| damaged(&e.to_string()))?;
        if let Some(n) = silent_count(&rec) {
            if !decoder.at_boundary() {
                return Err(damaged("a record this synscan did not write"));
            }
            replay(Entry::Silent(n));
            continue;
        }
        match decoder.push(Compact::from_bytes(&rec)) {
            Step::Result(r) => replay(Entry::Result(r)),
            Step::Partial => {}
            Step::Bad => return Err(damaged("a record this synscan did not write")),
        }
    }
    if !decoder.at_boundary() {
        return Err(damaged("it ends inside a result"));
    }
    Ok(())
}

/// A result's journal record time has millisecond precision.
#[cfg(test)]
pub fn journal_time(t: SystemTime) -> SystemTime {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortState, Reason};
    use std::net::Ipv4Addr;

    const REASONS: [Reason; 4] = [
        Reason::SynAck,
        Reason::Reset,
        Reason::NoResponse,
        Reason::ConnRefused,
    ];

    fn result(i: u8, reason: Reason) -> PortResult {
        PortResult {
            protocol: crate::model::Protocol::Tcp,
            ip: Ipv4Addr::new(198, 19, 0, i).into(),
            port: 1000 + u16::from(i),
            state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
            reason,
            ttl: i,
            timestamp: journal_time(SystemTime::now()),
        }
    }

    /// The journal file, open to read and write as a resumed run opens it.
    fn reopen(path: &std::path::Path) -> File {
        File::options()
            .read(true)
            .write(true)
            .open(path)
            .expect("open")
    }

    fn result_of(e: Entry) -> PortResult {
        match e {
            Entry::Result(r) => r,
            Entry::Silent(n) => panic!("a count of {n} where a result was written"),
        }
    }

    #[test]
    fn replays_what_was_synced_and_drops_what_came_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let f = File::create(&path).expect("create");
        let mut j = Journal::create(f).expect("journal");
        let all: Vec<PortResult> = (0..11u8)
            .map(|i| result(i, REASONS[usize::from(i) % REASONS.len()]))
            .collect();
        for r in &all[..5] {
            j.append(r).expect("append");
        }
        let at = j.sync().expect("sync");
        for r in &all[5..] {
            j.append(r).expect("append");
        }
        j.sync().expect("sync");
        drop(j);
        let f = reopen(&path);
        let mut got = Vec::new();
        let mut j = Journal::resume(f, at, |e| got.push(result_of(e))).expect("resume");
        assert_eq!(got, all[..5].to_vec());
        assert_eq!(got[0].state, PortState::Open);
        for r in &all[5..] {
            j.append(r).expect("append");
        }
        let end = j.sync().expect("sync");
        assert_eq!(end, 8 + 16 * all.len() as u64);
        let f = reopen(&path);
        let mut again = Vec::new();
        Journal::resume(f, end, |e| again.push(result_of(e))).expect("resume");
        assert_eq!(again, all);
    }

    #[test]
    fn replays_ipv6_and_mixed_results_and_refuses_half_of_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let mut j = Journal::create(File::create(&path).expect("create")).expect("journal");
        let v6 = |last: u16, reason: Reason| PortResult {
            protocol: crate::model::Protocol::Tcp,
            ip: std::net::Ipv6Addr::new(0x2001, 2, 0, 0x19, 0, 0, 0, last).into(),
            port: 443,
            state: crate::probe::ProbeKind::TcpSyn.verdict(reason),
            reason,
            ttl: 64,
            timestamp: journal_time(SystemTime::now()),
        };
        let all = vec![
            v6(5, Reason::SynAck),
            result(1, Reason::Reset),
            v6(0xffff, Reason::RejectRoute),
            v6(6, Reason::NoResponse),
            result(2, Reason::SynAck),
        ];
        for r in &all {
            j.append(r).expect("append");
        }
        let end = j.sync().expect("sync");
        assert_eq!(end, 8 + 16 * (2 * 3 + 2));
        drop(j);
        let open = || reopen(&path);
        let mut got = Vec::new();
        Journal::resume(open(), end, |e| got.push(result_of(e))).expect("resume");
        assert_eq!(got, all);
        // A length that cuts the first IPv6 result in half.
        let err = Journal::resume(open(), 8 + 16, |_| {})
            .err()
            .expect("refused");
        assert_eq!(
            err.to_string(),
            "the resume journal is damaged (it ends inside a result); start the scan again"
        );
    }

    #[test]
    fn refuses_lengths_and_bytes_that_do_not_fit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        std::fs::write(&path, b"SYNJRNL3").expect("write");
        let open = || reopen(&path);
        assert!(Journal::resume(open(), 9, |_| {}).is_err());
        assert!(
            Journal::resume(open(), 24, |_| {}).is_err(),
            "longer than the file"
        );
        std::fs::write(&path, [b'x'; 24]).expect("write");
        assert!(Journal::resume(open(), 24, |_| {}).is_err(), "no magic");
        let mut bad = b"SYNJRNL3".to_vec();
        bad.extend_from_slice(&[0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        std::fs::write(&path, bad).expect("write");
        assert!(Journal::resume(open(), 24, |_| {}).is_err(), "bad reason");
    }

    #[test]
    fn silent_results_become_one_count_per_sync_between_the_results() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let mut j = Journal::create(File::create(&path).expect("create")).expect("journal");
        assert_eq!(j.sync().expect("sync"), 8, "no count record for nothing");
        let (r1, r2) = (result(1, Reason::SynAck), result(2, Reason::Reset));
        for _ in 0..1_000_000 {
            j.count_silent();
        }
        j.append(&r1).expect("append");
        j.count_silent();
        // Counted before the result, written after it: a count stands for results the
        // replay only counts, so where it lands does not change what the replay builds.
        let at = j.sync().expect("sync");
        assert_eq!(at, 8 + 16 * 2);
        j.count_silent();
        j.append(&r2).expect("append");
        let end = j.sync().expect("sync");
        assert_eq!(end, 8 + 16 * 4);
        drop(j);
        let open = || reopen(&path);
        let mut got = Vec::new();
        Journal::resume(open(), end, |e| got.push(e)).expect("resume");
        assert_eq!(
            got,
            vec![
                Entry::Result(r1),
                Entry::Silent(1_000_001),
                Entry::Result(r2),
                Entry::Silent(1),
            ]
        );
        // A count inside an IPv6 result is not one this synscan wrote.
        let mut bytes = std::fs::read(&path).expect("read");
        let v6 = PortResult {
            ip: std::net::Ipv6Addr::LOCALHOST.into(),
            ..result(3, Reason::SynAck)
        };
        let records: Vec<Compact> = Compact::encode(&v6).into_iter().collect();
        bytes.extend_from_slice(&records[0].to_bytes());
        bytes.extend_from_slice(&silent_record(5));
        bytes.extend_from_slice(&records[1].to_bytes());
        std::fs::write(&path, &bytes).expect("write");
        let err = Journal::resume(open(), bytes.len() as u64, |_| {})
            .err()
            .expect("refused");
        assert_eq!(
            err.to_string(),
            "the resume journal is damaged (a record this synscan did not write); start the scan again"
        );
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "left as it was");
    }

    #[test]
    fn check_reads_without_cutting_and_refuses_what_resume_refuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let mut j = Journal::create(File::create(&path).expect("create")).expect("journal");
        j.append(&result(1, Reason::SynAck)).expect("append");
        let at = j.sync().expect("sync");
        j.append(&result(2, Reason::Reset)).expect("append");
        let end = j.sync().expect("sync");
        drop(j);
        let whole = std::fs::read(&path).expect("read");
        Journal::check(&mut reopen(&path), at).expect("a good journal");
        assert_eq!(std::fs::read(&path).expect("read"), whole, "nothing cut");
        let mut bad = whole.clone();
        bad[..8].copy_from_slice(b"SYNJRNL9");
        std::fs::write(&path, &bad).expect("write");
        for e in [
            Journal::check(&mut reopen(&path), end).err(),
            Journal::resume(reopen(&path), end, |_| {}).err(),
        ] {
            assert_eq!(
                e.expect("refused").to_string(),
                "the resume journal is damaged (not a synscan journal); start the scan again"
            );
        }
        assert_eq!(std::fs::read(&path).expect("read"), bad, "left as it was");
    }

    #[test]
    fn an_older_journal_is_refused_with_what_to_do_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        for magic in [b"SYNJRNL1", b"SYNJRNL2"] {
            let mut old = magic.to_vec();
            old.extend_from_slice(&[0u8; 32]);
            std::fs::write(&path, &old).expect("write");
            let f = reopen(&path);
            let err = Journal::resume(f, 24, |_| {}).err().expect("refused");
            assert_eq!(
                err.to_string(),
                "the resume journal was written by an older synscan; finish the scan with that version, or start it again"
            );
            assert_eq!(std::fs::read(&path).expect("read"), old);
        }
    }

    #[test]
    fn the_count_marker_is_no_reason_code() {
        assert!(usize::from(SILENT) >= crate::model::Reason::ALL.len());
        let r = result(1, Reason::SynAck);
        let first = Compact::encode(&r).into_iter().next().expect("a record");
        assert_eq!(silent_count(&first.to_bytes()), None);
        assert_eq!(silent_count(&silent_record(7)), Some(7));
    }
}
