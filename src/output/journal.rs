//! The journal of released results, kept beside the resume file when a grouped output
//! (-oN, -oG, -oX file) is written: those formats print every host at the end, so a
//! resumed run replays the journal into its per-host table and writes one document
//! holding both runs.
//!
//! Format: the 8 bytes `SYNJRNL1`, then one 16-byte record per IPv4 result: address (4, big
//! endian), port (2, big endian), reason code (1), TTL (1), milliseconds since the Unix
//! epoch (8, little endian); an IPv6 result takes two records (see `state::compact`).

use crate::model::PortResult;
use crate::state::compact::{Compact, Decoder, Step, COMPACT_BYTES};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
#[cfg(test)]
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 8] = b"SYNJRNL1";
const RECORD: usize = COMPACT_BYTES;

/// An open journal, appended to as results are released.
pub struct Journal {
    out: BufWriter<File>,
    len: u64,
}

impl Journal {
    /// Starts a journal in `file` (freshly created, empty).
    pub fn create(file: File) -> io::Result<Journal> {
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.write_all(MAGIC)?;
        Ok(Journal {
            out,
            len: MAGIC.len() as u64,
        })
    }

    /// Continues the journal in `file`: cuts it back to `length` (the checkpoint's) and
    /// hands every result it holds to `replay`. One line on a damaged journal.
    pub fn resume(
        mut file: File,
        length: u64,
        mut replay: impl FnMut(&PortResult),
    ) -> Result<Journal, crate::error::ScanError> {
        let damaged = |why: &str| {
            crate::error::ScanError::usage(format!(
                "the resume journal is damaged ({why}); start the scan again"
            ))
        };
        let actual = file.metadata().map_err(|e| damaged(&e.to_string()))?.len();
        if length < MAGIC.len() as u64
            || !(length - MAGIC.len() as u64).is_multiple_of(RECORD as u64)
            || actual < length
        {
            return Err(damaged("its length does not match the resume file"));
        }
        file.set_len(length).map_err(|e| damaged(&e.to_string()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| damaged(&e.to_string()))?;
        let mut input = BufReader::with_capacity(64 * 1024, &mut file);
        let mut magic = [0u8; 8];
        input
            .read_exact(&mut magic)
            .map_err(|e| damaged(&e.to_string()))?;
        if &magic != MAGIC {
            return Err(damaged("not a synscan journal"));
        }
        let mut rec = [0u8; RECORD];
        let mut decoder = Decoder::new();
        for _ in 0..(length - MAGIC.len() as u64) / RECORD as u64 {
            input
                .read_exact(&mut rec)
                .map_err(|e| damaged(&e.to_string()))?;
            match decoder.push(Compact::from_bytes(&rec)) {
                Step::Result(r) => replay(&r),
                Step::Partial => {}
                Step::Bad => return Err(damaged("a record this synscan did not write")),
            }
        }
        if !decoder.at_boundary() {
            return Err(damaged("it ends inside a result"));
        }
        drop(input);
        file.seek(SeekFrom::End(0))
            .map_err(|e| damaged(&e.to_string()))?;
        Ok(Journal {
            out: BufWriter::with_capacity(64 * 1024, file),
            len: length,
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

    /// Makes everything appended durable; returns the journal's length.
    pub fn sync(&mut self) -> io::Result<u64> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        Ok(self.len)
    }
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
            state: reason.state(),
            reason,
            ttl: i,
            timestamp: journal_time(SystemTime::now()),
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
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let mut got = Vec::new();
        let mut j = Journal::resume(f, at, |r| got.push(*r)).expect("resume");
        assert_eq!(got, all[..5].to_vec());
        assert_eq!(got[0].state, PortState::Open);
        for r in &all[5..] {
            j.append(r).expect("append");
        }
        let end = j.sync().expect("sync");
        assert_eq!(end, 8 + 16 * all.len() as u64);
        let f = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let mut again = Vec::new();
        Journal::resume(f, end, |r| again.push(*r)).expect("resume");
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
            state: reason.state(),
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
        let open = || {
            File::options()
                .read(true)
                .write(true)
                .open(&path)
                .expect("open")
        };
        let mut got = Vec::new();
        Journal::resume(open(), end, |r| got.push(*r)).expect("resume");
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
        std::fs::write(&path, b"SYNJRNL1").expect("write");
        let open = || {
            File::options()
                .read(true)
                .write(true)
                .open(&path)
                .expect("open")
        };
        assert!(Journal::resume(open(), 9, |_| {}).is_err());
        assert!(
            Journal::resume(open(), 24, |_| {}).is_err(),
            "longer than the file"
        );
        std::fs::write(&path, [b'x'; 24]).expect("write");
        assert!(Journal::resume(open(), 24, |_| {}).is_err(), "no magic");
        let mut bad = b"SYNJRNL1".to_vec();
        bad.extend_from_slice(&[0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        std::fs::write(&path, bad).expect("write");
        assert!(Journal::resume(open(), 24, |_| {}).is_err(), "bad reason");
    }
}
