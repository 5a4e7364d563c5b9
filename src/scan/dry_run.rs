//! --dry-run: prints the probes ("ip port" a line) in send order and sends nothing.

use crate::targets::ProbeOrder;
use std::io::{self, Write};

/// Writes every probe of `order` from `start` to `out`, one "ip port" line each.
pub fn write_probes(order: &ProbeOrder, start: u64, out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, out);
    let mut line = Vec::with_capacity(24);
    for pos in start..order.len() {
        let (ip, port) = order.get(pos);
        line.clear();
        // Formatting by hand: a /8 dry run prints over a billion lines.
        let o = ip.octets();
        for (i, b) in o.iter().enumerate() {
            push_dec(&mut line, u32::from(*b));
            line.push(if i == 3 { b' ' } else { b'.' });
        }
        push_dec(&mut line, u32::from(port));
        line.push(b'\n');
        w.write_all(&line)?;
    }
    w.flush()
}

fn push_dec(out: &mut Vec<u8>, mut v: u32) {
    let mut digits = [0u8; 10];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(digits[..n].iter().rev());
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal() {
        let mut v = Vec::new();
        for n in [0u32, 7, 10, 255, 65535] {
            super::push_dec(&mut v, n);
            v.push(b',');
        }
        assert_eq!(String::from_utf8_lossy(&v), "0,7,10,255,65535,");
    }
}
