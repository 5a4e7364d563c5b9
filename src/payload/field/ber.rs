//! The few BER (X.690) reads SNMP needs: one tag-length-value at a time, definite lengths
//! only, every length checked against the bytes present.

use std::ops::Range;

/// ASN.1 universal tags we walk.
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// SEQUENCE (constructed).
    pub const SEQUENCE: u8 = 0x30;
}

/// One tag-length-value: its tag, where its contents are, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlv {
    /// The identifier byte (low-tag-number form only).
    pub tag: u8,
    /// The contents' byte range in the buffer.
    pub contents: Range<usize>,
}

impl Tlv {
    /// Where the next TLV after this one starts.
    pub fn end(&self) -> usize {
        self.contents.end
    }
}

/// Reads the TLV starting at `at` in `buf`; None when it is malformed or runs past `limit`
/// (the end of its enclosing contents) or the buffer. Long-form lengths up to 4 bytes (an
/// SNMP or LDAP message never needs more); the indefinite form is refused.
pub fn read(buf: &[u8], at: usize, limit: usize) -> Option<Tlv> {
    let limit = limit.min(buf.len());
    let tag = *buf.get(at).filter(|_| at < limit)?;
    if tag & 0x1f == 0x1f {
        return None; // high-tag-number form: not in the messages we read
    }
    let first = *buf.get(at + 1).filter(|_| at + 1 < limit)?;
    let (len, header) = if first & 0x80 == 0 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = buf
            .get(at + 2..at + 2 + n)
            .filter(|_| at + 2 + n <= limit)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, 2 + n)
    };
    let start = at.checked_add(header)?;
    let end = start.checked_add(len)?;
    (end <= limit).then_some(Tlv {
        tag,
        contents: start..end,
    })
}

/// Reads the TLV at `at` and requires its tag to be `want`.
pub fn expect(buf: &[u8], at: usize, limit: usize, want: u8) -> Option<Tlv> {
    read(buf, at, limit).filter(|t| t.tag == want)
}

/// The value of a small INTEGER's contents (1 to 8 bytes, two's complement).
pub fn integer(contents: &[u8]) -> Option<i64> {
    if contents.is_empty() || contents.len() > 8 {
        return None;
    }
    let negative = contents[0] & 0x80 != 0;
    let init: i64 = if negative { -1 } else { 0 };
    Some(
        contents
            .iter()
            .fold(init, |acc, &b| (acc << 8) | i64::from(b)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_and_long_lengths() {
        let b = [0x30, 0x03, 0x02, 0x01, 0x05];
        let s = expect(&b, 0, b.len(), tag::SEQUENCE).unwrap();
        assert_eq!(s.contents, 2..5);
        let i = expect(&b, 2, s.end(), tag::INTEGER).unwrap();
        assert_eq!(
            (i.contents.clone(), integer(&b[i.contents])),
            (4..5, Some(5))
        );
        // 0x84 four-byte length, as nmap's LDAP probe writes it.
        let l = [0x30, 0x84, 0, 0, 0, 2, 0x02, 0x00];
        assert_eq!(read(&l, 0, l.len()).unwrap().contents, 6..8);
        let l = [0x30, 0x81, 2, 0x02, 0x00];
        assert_eq!(read(&l, 0, l.len()).unwrap().contents, 3..5);
        // Past the buffer, past the limit, indefinite, too long a length, high tag.
        assert_eq!(read(&[0x30, 0x04, 0, 0], 0, 4), None);
        assert_eq!(read(&b, 2, 4), None);
        assert_eq!(read(&[0x30, 0x80, 0, 0], 0, 4), None);
        assert_eq!(read(&[0x30, 0x85, 0, 0, 0, 0, 0], 0, 7), None);
        assert_eq!(read(&[0x1f, 0x01, 0], 0, 3), None);
        assert_eq!(read(&[], 0, 0), None);
        assert_eq!(read(&[0x30], 0, 1), None);
        assert_eq!(expect(&b, 0, b.len(), tag::INTEGER), None);
    }

    #[test]
    fn integers() {
        assert_eq!(integer(&[0x7f]), Some(127));
        assert_eq!(integer(&[0xff]), Some(-1));
        assert_eq!(integer(&[0x00, 0x80]), Some(128));
        assert_eq!(integer(&[0x4c, 0x33, 0xa7, 0x56]), Some(0x4c33_a756));
        assert_eq!(integer(&[0x80, 0, 0, 0]), Some(-(1 << 31)));
        assert_eq!(integer(&[]), None);
        assert_eq!(integer(&[1; 9]), None);
    }

    proptest! {
        #[test]
        fn never_panics(buf in proptest::collection::vec(any::<u8>(), 0..40), at in 0usize..45, limit in 0usize..50) {
            if let Some(t) = read(&buf, at, limit) {
                prop_assert!(t.contents.end <= buf.len().min(limit));
                prop_assert!(t.contents.start > at);
            }
        }
    }
}
