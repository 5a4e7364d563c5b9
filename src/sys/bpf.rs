//! A tiny classic-BPF assembler and the capture filter program.

use crate::wire::ethernet::{self, ethertype};
use crate::wire::ip::protocol;
use crate::wire::{icmp, icmpv6, ipv4, ipv6, tcp, udp};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// One classic BPF instruction (same layout as `struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

/// Instruction class: load into A.
pub const LD: u16 = 0x00;
/// Instruction class: load into X.
pub const LDX: u16 = 0x01;
/// Instruction class: jump.
pub const JMP: u16 = 0x05;
/// Instruction class: return.
pub const RET: u16 = 0x06;
/// Size: 32-bit word.
pub const W: u16 = 0x00;
/// Size: 16-bit half word.
pub const H: u16 = 0x08;
/// Size: byte.
pub const B: u16 = 0x10;
/// Mode: absolute offset.
pub const ABS: u16 = 0x20;
/// Mode: offset X + k.
pub const IND: u16 = 0x40;
/// Mode: X = 4 * (pkt[k] & 0xf) (IPv4 header length).
pub const MSH: u16 = 0xa0;
/// Jump if A == k.
pub const JEQ: u16 = 0x10;
/// Jump if A > k.
pub const JGT: u16 = 0x20;
/// Jump if A >= k.
pub const JGE: u16 = 0x30;
/// Jump if A & k != 0.
pub const JSET: u16 = 0x40;
/// Operand: the constant k.
pub const K: u16 = 0x00;

/// A forward jump target, bound later.
#[derive(Clone, Copy, Debug)]
pub struct Label(usize);

/// Builds a program with forward-only symbolic jumps.
#[derive(Default)]
pub struct Builder {
    insns: Vec<Insn>,
    fixups: Vec<(usize, Label, Label)>,
    labels: Vec<Option<usize>>,
}

impl Builder {
    /// An empty program.
    pub fn new() -> Builder {
        Builder::default()
    }
    /// A new unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    /// Binds `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }
    /// Appends a non-jump instruction.
    pub fn op(&mut self, code: u16, k: u32) {
        self.insns.push(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }
    /// Appends a conditional jump `JMP | cond | K` to `t` when true, `f` when false.
    pub fn jump(&mut self, cond: u16, k: u32, t: Label, f: Label) {
        self.fixups.push((self.insns.len(), t, f));
        self.op(JMP | cond | K, k);
    }
    /// Resolves the labels; fails on unbound, backward or too-long jumps.
    pub fn finish(mut self) -> Result<Vec<Insn>, String> {
        for &(pc, t, f) in &self.fixups {
            let off = |l: Label| -> Result<u8, String> {
                let target = self.labels[l.0].ok_or("unbound BPF label")?;
                let d = target.checked_sub(pc + 1).ok_or("backward BPF jump")?;
                u8::try_from(d).map_err(|_| "BPF jump too long".to_string())
            };
            let (jt, jf) = (off(t)?, off(f)?);
            self.insns[pc].jt = jt;
            self.insns[pc].jf = jf;
        }
        Ok(self.insns)
    }
}

/// Bytes an accepted frame keeps (whole frames up to 256 KiB).
pub const ACCEPT_LEN: u32 = 0x40000;

/// The probe kind's branch of the filter: its answers are segments or datagrams of
/// `transport` (an IP protocol number) to one of our source ports, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answers {
    /// IP protocol number of the answers (TCP for a SYN, UDP for a datagram).
    pub transport: u8,
    /// First of our source ports.
    pub first: u16,
    /// Last of our source ports.
    pub last: u16,
}

#[cfg(test)]
impl Answers {
    /// TCP segments to `first..=last`.
    pub fn tcp(first: u16, last: u16) -> Answers {
        Answers {
            transport: protocol::TCP,
            first,
            last,
        }
    }
}

// One load reads the destination port of either transport the kinds answer with.
const _: () = assert!(tcp::field::DST_PORT.start == udp::field::DST_PORT.start);

/// Offset of a header field `f` (a `wire::*::field` constant) as a BPF load offset from the
/// header's start `at`.
fn at(start: u32, field: usize) -> u32 {
    start + field as u32
}

/// The capture filter: IPv4 and either (the kind's `answers` to `local`, not a non-first
/// fragment) or (ICMP type 3). `link_len` is 14 for Ethernet frames (the EtherType is
/// checked too) and 0 when frames start at the IPv4 header.
pub fn capture_program(link_len: u32, local: Ipv4Addr, answers: Answers) -> Vec<Insn> {
    let l = link_len;
    let mut b = Builder::new();
    let accept = b.label();
    let reject = b.label();
    if l >= ethernet::HEADER_LEN as u32 {
        let ip = b.label();
        // The EtherType is the two bytes just before the IP header.
        b.op(LD | H | ABS, l - 2);
        b.jump(JEQ, u32::from(ethertype::IPV4), ip, reject);
        b.bind(ip);
    }
    ipv4_branch(&mut b, l, local, answers, accept, reject);
    finish(b, accept, reject)
}

/// The capture filter for the families a scan sends: the IPv4-only program (byte for byte
/// `capture_program`) when there is no IPv6 address, the IPv6-only one when there is no IPv4
/// address, the dual one for both, and a program that rejects everything for neither.
pub fn capture_program_for(
    link_len: u32,
    local4: Option<Ipv4Addr>,
    local6: Option<Ipv6Addr>,
    answers: Answers,
) -> Vec<Insn> {
    match (local4, local6) {
        (Some(v4), None) => capture_program(link_len, v4, answers),
        (Some(v4), Some(v6)) => capture_program_dual(link_len, v4, v6, answers),
        (None, Some(v6)) => capture_program_v6(link_len, v6, answers),
        (None, None) => vec![Insn {
            code: RET | K,
            jt: 0,
            jf: 0,
            k: 0,
        }],
    }
}

/// The IPv6-only capture filter: IPv6 as `capture_program_dual` passes it, and nothing else.
pub fn capture_program_v6(link_len: u32, local6: Ipv6Addr, answers: Answers) -> Vec<Insn> {
    let l = link_len;
    let mut b = Builder::new();
    let accept = b.label();
    let reject = b.label();
    let v6 = b.label();
    if l >= ethernet::HEADER_LEN as u32 {
        b.op(LD | H | ABS, l - 2);
        b.jump(JEQ, u32::from(ethertype::IPV6), v6, reject);
    } else {
        let maybe6 = b.label();
        b.op(LD | B | ABS, at(l, ipv6::field::VER_TC_FLOW.start));
        b.jump(JGE, 0x60, maybe6, reject);
        b.bind(maybe6);
        b.jump(JGT, 0x6f, reject, v6);
    }
    b.bind(v6);
    ipv6_branch(&mut b, l, local6, answers, accept, reject);
    finish(b, accept, reject)
}

/// The capture filter for both families: IPv4 as `capture_program` passes it, and IPv6 to
/// `local6` carrying the kind's `answers` or an ICMPv6 destination
/// unreachable. An IPv6 packet to `local6` whose next header is an extension header
/// (hop-by-hop, routing, fragment, destination options) is passed too: classic BPF cannot
/// walk the chain, the parser does (bounded) and the cookie decides. Ethernet frames are
/// told apart by EtherType, raw IP ones (`link_len` 0) by the version nibble.
pub fn capture_program_dual(
    link_len: u32,
    local4: Ipv4Addr,
    local6: Ipv6Addr,
    answers: Answers,
) -> Vec<Insn> {
    let l = link_len;
    let mut b = Builder::new();
    let accept = b.label();
    let reject = b.label();
    let v4 = b.label();
    let v6 = b.label();
    if l >= ethernet::HEADER_LEN as u32 {
        let not_v4 = b.label();
        b.op(LD | H | ABS, l - 2);
        b.jump(JEQ, u32::from(ethertype::IPV4), v4, not_v4);
        b.bind(not_v4);
        b.jump(JEQ, u32::from(ethertype::IPV6), v6, reject);
    } else {
        // Version nibble: 0x40-0x4f is IPv4, 0x60-0x6f IPv6.
        let (maybe6, maybe4, is4) = (b.label(), b.label(), b.label());
        b.op(LD | B | ABS, at(l, ipv4::field::VER_IHL));
        b.jump(JGE, 0x60, maybe6, maybe4);
        b.bind(maybe6);
        b.jump(JGT, 0x6f, reject, v6);
        b.bind(maybe4);
        b.jump(JGE, 0x40, is4, reject);
        b.bind(is4);
        b.jump(JGT, 0x4f, reject, v4);
    }
    b.bind(v4);
    ipv4_branch(&mut b, l, local4, answers, accept, reject);
    b.bind(v6);
    ipv6_branch(&mut b, l, local6, answers, accept, reject);
    finish(b, accept, reject)
}

/// IPv4 at offset `l`: the kind's `answers` to `local` (not a non-first fragment), or ICMP
/// destination unreachable.
fn ipv4_branch(
    b: &mut Builder,
    l: u32,
    local: Ipv4Addr,
    answers: Answers,
    accept: Label,
    reject: Label,
) {
    let icmp = b.label();
    let tcp = b.label();
    b.op(LD | B | ABS, at(l, ipv4::field::PROTOCOL));
    b.jump(JEQ, u32::from(answers.transport), tcp, icmp);
    b.bind(tcp);
    let dst_ok = b.label();
    b.op(LD | W | ABS, at(l, ipv4::field::DST_ADDR.start));
    b.jump(JEQ, u32::from(local), dst_ok, reject);
    b.bind(dst_ok);
    let not_frag = b.label();
    b.op(LD | H | ABS, at(l, ipv4::field::FLG_OFF.start));
    b.jump(JSET, u32::from(ipv4::OFFSET_MASK), reject, not_frag);
    b.bind(not_frag);
    // X = the IPv4 header length, so X + l + offset reaches into the transport header.
    b.op(LDX | B | MSH, at(l, ipv4::field::VER_IHL));
    b.op(LD | H | IND, at(l, tcp::field::DST_PORT.start));
    let above_first = b.label();
    b.jump(JGE, u32::from(answers.first), above_first, reject);
    b.bind(above_first);
    b.jump(JGT, u32::from(answers.last), reject, accept);
    b.bind(icmp);
    let is_icmp = b.label();
    b.jump(JEQ, u32::from(protocol::ICMP), is_icmp, reject);
    b.bind(is_icmp);
    b.op(LDX | B | MSH, at(l, ipv4::field::VER_IHL));
    b.op(LD | B | IND, at(l, icmp::field::TYPE));
    b.jump(JEQ, u32::from(icmp::DEST_UNREACHABLE), accept, reject);
}

/// IPv6 at offset `l`, to `local`: the kind's `answers`, ICMPv6 destination unreachable,
/// or an extension header first (left to the parser).
fn ipv6_branch(
    b: &mut Builder,
    l: u32,
    local: Ipv6Addr,
    answers: Answers,
    accept: Label,
    reject: Label,
) {
    let dst = at(l, ipv6::field::DST_ADDR.start);
    for (i, word) in local.octets().chunks_exact(4).enumerate() {
        let next = b.label();
        b.op(LD | W | ABS, dst + 4 * i as u32);
        let w = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        b.jump(JEQ, w, next, reject);
        b.bind(next);
    }
    let (tcp, not_tcp, icmp, not_icmp) = (b.label(), b.label(), b.label(), b.label());
    b.op(LD | B | ABS, at(l, ipv6::field::NXT_HDR));
    b.jump(JEQ, u32::from(answers.transport), tcp, not_tcp);
    b.bind(not_tcp);
    b.jump(JEQ, u32::from(protocol::ICMPV6), icmp, not_icmp);
    b.bind(not_icmp);
    let ext = [
        ipv6::ext::HOP_BY_HOP,
        ipv6::ext::ROUTING,
        ipv6::ext::FRAGMENT,
        ipv6::ext::DEST_OPTS,
    ];
    for (i, kind) in ext.into_iter().enumerate() {
        let next = b.label();
        let miss = if i + 1 == ext.len() { reject } else { next };
        b.jump(JEQ, u32::from(kind), accept, miss);
        b.bind(next);
    }
    b.bind(tcp);
    let transport = at(l, ipv6::field::PAYLOAD);
    b.op(LD | H | ABS, transport + tcp::field::DST_PORT.start as u32);
    let above_first = b.label();
    b.jump(JGE, u32::from(answers.first), above_first, reject);
    b.bind(above_first);
    b.jump(JGT, u32::from(answers.last), reject, accept);
    b.bind(icmp);
    b.op(LD | B | ABS, transport + icmpv6::field::TYPE as u32);
    b.jump(JEQ, u32::from(icmpv6::DEST_UNREACHABLE), accept, reject);
}

/// Appends the accept and reject returns and resolves the jumps.
fn finish(mut b: Builder, accept: Label, reject: Label) -> Vec<Insn> {
    b.bind(accept);
    b.op(RET | K, ACCEPT_LEN);
    b.bind(reject);
    b.op(RET | K, 0);
    // Every jump above is short and forward, so resolution cannot fail.
    b.finish().unwrap_or_else(|_| {
        vec![Insn {
            code: RET | K,
            jt: 0,
            jf: 0,
            k: 0,
        }]
    })
}

/// Attaches `prog` to the socket (SO_ATTACH_FILTER).
pub fn attach(fd: BorrowedFd<'_>, prog: &[Insn]) -> io::Result<()> {
    let len = u16::try_from(prog.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: Insn has sock_filter's layout; fprog points to len instructions that outlive the
    // call (the kernel copies them).
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &fprog as *const libc::sock_fprog as *const libc::c_void,
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent interpreter for the subset the filter uses; out-of-bounds loads reject,
    /// as in the kernel.
    fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |off: usize, size: usize| -> Option<u32> {
            let s = pkt.get(off..off + size)?;
            Some(s.iter().fold(0u32, |acc, &b| (acc << 8) | b as u32))
        };
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                0x20 | 0x28 | 0x30 => {
                    let size = [4, 2, 1][((i.code & 0x18) >> 3) as usize];
                    match load(i.k as usize, size) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                0x40 | 0x48 | 0x50 => {
                    let size = [4, 2, 1][((i.code & 0x18) >> 3) as usize];
                    match load(x as usize + i.k as usize, size) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                0xb1 => match load(i.k as usize, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let c = match i.code {
                        0x15 => a == i.k,
                        0x25 => a > i.k,
                        0x35 => a >= i.k,
                        _ => a & i.k != 0,
                    };
                    pc += if c { i.jt } else { i.jf } as usize;
                }
                0x06 => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// Ethernet + IPv4 (with `opt_words` option words) + 20 bytes of L4.
    fn frame(
        ethertype: u16,
        proto: u8,
        dst: Ipv4Addr,
        opt_words: u8,
        frag: u16,
        l4: &[u8],
    ) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        let ihl = 5 + opt_words;
        f.push(0x40 | ihl);
        f.push(0);
        let total = ihl as u16 * 4 + l4.len() as u16;
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&[64, proto, 0, 0]);
        f.extend_from_slice(&[198, 19, 0, 5]);
        f.extend_from_slice(&dst.octets());
        f.extend(std::iter::repeat_n(1u8, opt_words as usize * 4));
        f.extend_from_slice(l4);
        f
    }

    fn tcp(sport: u16, dport: u16) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50;
        t[13] = 0x12;
        t
    }

    fn icmp(ty: u8) -> Vec<u8> {
        let mut t = vec![0u8; 36];
        t[0] = ty;
        t
    }

    #[test]
    fn exact_instructions_for_ethernet() {
        let p = capture_program(14, LOCAL, Answers::tcp(40000, 40999));
        let want = [
            (0x28, 0, 0, 12),
            (0x15, 0, 15, 0x0800),
            (0x30, 0, 0, 23),
            (0x15, 0, 8, 6),
            (0x20, 0, 0, 30),
            (0x15, 0, 11, 0xc612_0001),
            (0x28, 0, 0, 20),
            (0x45, 9, 0, 0x1fff),
            (0xb1, 0, 0, 14),
            (0x48, 0, 0, 16),
            (0x35, 0, 6, 40000),
            (0x25, 5, 4, 40999),
            (0x15, 0, 4, 1),
            (0xb1, 0, 0, 14),
            (0x50, 0, 0, 14),
            (0x15, 0, 1, 3),
            (0x06, 0, 0, ACCEPT_LEN),
            (0x06, 0, 0, 0),
        ];
        let got: Vec<_> = p.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn ethernet_filter_accepts_and_rejects() {
        let p = capture_program(14, LOCAL, Answers::tcp(40000, 40999));
        let ok = |f: &[u8]| run(&p, f);
        let other = Ipv4Addr::new(198, 18, 0, 9);
        assert_eq!(
            ok(&frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 40000))),
            ACCEPT_LEN
        );
        assert_eq!(
            ok(&frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 40500))),
            ACCEPT_LEN
        );
        assert_eq!(
            ok(&frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 40999))),
            ACCEPT_LEN
        );
        assert_eq!(ok(&frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 39999))), 0);
        assert_eq!(ok(&frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 41000))), 0);
        // The source port in range does not matter.
        assert_eq!(ok(&frame(0x0800, 6, LOCAL, 0, 0, &tcp(40000, 80))), 0);
        assert_eq!(ok(&frame(0x0800, 6, other, 0, 0, &tcp(80, 40000))), 0);
        // IP options shift the TCP header: 2 option words put the port at 14+28+2.
        assert_eq!(
            ok(&frame(0x0800, 6, LOCAL, 2, 0, &tcp(80, 40001))),
            ACCEPT_LEN
        );
        assert_eq!(ok(&frame(0x0800, 6, LOCAL, 2, 0, &tcp(80, 1))), 0);
        // Non-first fragment rejected, DF-only accepted.
        assert_eq!(ok(&frame(0x0800, 6, LOCAL, 0, 0x0001, &tcp(80, 40000))), 0);
        assert_eq!(
            ok(&frame(0x0800, 6, LOCAL, 0, 0x4000, &tcp(80, 40000))),
            ACCEPT_LEN
        );
        assert_eq!(ok(&frame(0x86dd, 6, LOCAL, 0, 0, &tcp(80, 40000))), 0);
        assert_eq!(ok(&frame(0x0806, 6, LOCAL, 0, 0, &tcp(80, 40000))), 0);
        assert_eq!(ok(&frame(0x0800, 17, LOCAL, 0, 0, &tcp(80, 40000))), 0);
        assert_eq!(ok(&frame(0x0800, 1, LOCAL, 0, 0, &icmp(3))), ACCEPT_LEN);
        assert_eq!(ok(&frame(0x0800, 1, other, 0, 0, &icmp(3))), ACCEPT_LEN);
        assert_eq!(ok(&frame(0x0800, 1, LOCAL, 1, 0, &icmp(3))), ACCEPT_LEN);
        assert_eq!(ok(&frame(0x0800, 1, LOCAL, 0, 0, &icmp(0))), 0);
        assert_eq!(ok(&frame(0x0800, 1, LOCAL, 0, 0, &icmp(11))), 0);
        // Truncated before the TCP ports.
        let f = frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 40000));
        assert_eq!(ok(&f[..14 + 20 + 3]), 0);
        assert_eq!(ok(&f[..10]), 0);
    }

    #[test]
    fn raw_ip_filter_has_no_ethertype_check() {
        let p = capture_program(0, LOCAL, Answers::tcp(1, 1));
        assert_eq!(p.len(), 16);
        let f = frame(0x0800, 6, LOCAL, 0, 0, &tcp(443, 1));
        assert_eq!(run(&p, &f[14..]), ACCEPT_LEN);
        let f = frame(0x0800, 6, LOCAL, 0, 0, &tcp(443, 2));
        assert_eq!(run(&p, &f[14..]), 0);
        let f = frame(0x0800, 1, LOCAL, 0, 0, &icmp(3));
        assert_eq!(run(&p, &f[14..]), ACCEPT_LEN);
    }

    /// Another kind's branch: UDP answers pass to our ports in both families, TCP does not,
    /// and ICMP errors still do.
    #[test]
    fn a_udp_kinds_branch_passes_its_datagrams_and_not_tcp() {
        let udp = Answers {
            transport: protocol::UDP,
            first: 40000,
            last: 40999,
        };
        let p = capture_program_dual(14, LOCAL, local6(), udp);
        // UDP's destination port sits where TCP's does: the same 20 bytes serve.
        assert_eq!(
            run(&p, &frame(0x0800, 17, LOCAL, 0, 0, &tcp(53, 40000))),
            ACCEPT_LEN
        );
        assert_eq!(
            run(&p, &frame(0x0800, 17, LOCAL, 1, 0, &tcp(53, 40999))),
            ACCEPT_LEN
        );
        assert_eq!(run(&p, &frame(0x0800, 17, LOCAL, 0, 0, &tcp(53, 41000))), 0);
        assert_eq!(run(&p, &frame(0x0800, 6, LOCAL, 0, 0, &tcp(53, 40000))), 0);
        assert_eq!(
            run(&p, &frame(0x0800, 1, LOCAL, 0, 0, &icmp(3))),
            ACCEPT_LEN
        );
        assert_eq!(run(&p, &frame6(17, local6(), &tcp(53, 40500))), ACCEPT_LEN);
        assert_eq!(run(&p, &frame6(17, local6(), &tcp(53, 39999))), 0);
        assert_eq!(run(&p, &frame6(6, local6(), &tcp(53, 40500))), 0);
    }

    fn local6() -> Ipv6Addr {
        "2001:2:0:18::1".parse().unwrap()
    }

    /// Ethernet (EtherType 0x86dd) + IPv6 to `dst` with `next` + `l4`.
    fn frame6(next: u8, dst: Ipv6Addr, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&0x86ddu16.to_be_bytes());
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        f.extend_from_slice(&[next, 64]);
        f.extend_from_slice(&"2001:2:0:19::5".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(l4);
        f
    }

    #[test]
    fn dual_filter_passes_both_families_and_nothing_else() {
        let local6 = local6();
        for (l, cut) in [(14u32, 0usize), (0, 14)] {
            let p = capture_program_dual(l, LOCAL, local6, Answers::tcp(40000, 40999));
            let ok = |f: &[u8]| run(&p, &f[cut..]);
            // IPv4 exactly as the IPv4 filter takes it.
            let v4 = capture_program(l, LOCAL, Answers::tcp(40000, 40999));
            let other = Ipv4Addr::new(198, 18, 0, 9);
            for f in [
                frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 40000)),
                frame(0x0800, 6, LOCAL, 2, 0, &tcp(80, 40999)),
                frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 41000)),
                frame(0x0800, 6, other, 0, 0, &tcp(80, 40000)),
                frame(0x0800, 6, LOCAL, 0, 0x0001, &tcp(80, 40000)),
                frame(0x0800, 1, LOCAL, 0, 0, &icmp(3)),
                frame(0x0800, 1, LOCAL, 0, 0, &icmp(11)),
                frame(0x0800, 17, LOCAL, 0, 0, &tcp(80, 40000)),
            ] {
                assert_eq!(ok(&f), run(&v4, &f[cut..]), "{f:?}");
            }
            assert_eq!(
                ok(&frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 40000))),
                ACCEPT_LEN
            );
            // IPv6 TCP to us, port in range.
            for port in [40000, 40500, 40999] {
                assert_eq!(
                    ok(&frame6(6, local6, &tcp(443, port))),
                    ACCEPT_LEN,
                    "{port}"
                );
            }
            for port in [39999, 41000, 1] {
                assert_eq!(ok(&frame6(6, local6, &tcp(443, port))), 0, "{port}");
            }
            // To another address (each of the four words differing).
            for word in 0..4 {
                let mut o = local6.octets();
                o[4 * word + 3] ^= 1;
                let f = frame6(6, Ipv6Addr::from(o), &tcp(443, 40000));
                assert_eq!(ok(&f), 0, "word {word}");
            }
            // ICMPv6 destination unreachable only.
            assert_eq!(ok(&frame6(58, local6, &icmp(1))), ACCEPT_LEN);
            for ty in [2u8, 3, 4, 128, 129, 135, 136] {
                assert_eq!(ok(&frame6(58, local6, &icmp(ty))), 0, "type {ty}");
            }
            // An extension header first: left to the parser, if it is to us.
            for next in [0u8, 43, 44, 60] {
                assert_eq!(
                    ok(&frame6(next, local6, &tcp(443, 1))),
                    ACCEPT_LEN,
                    "{next}"
                );
                let other6 = "2001:2:0:18::2".parse().unwrap();
                assert_eq!(ok(&frame6(next, other6, &tcp(443, 1))), 0, "{next}");
            }
            // Other upper layers.
            for next in [17u8, 59, 50, 51, 1] {
                assert_eq!(ok(&frame6(next, local6, &tcp(443, 40000))), 0, "{next}");
            }
            // Truncated before the port or the ICMPv6 type.
            let f = frame6(6, local6, &tcp(443, 40000));
            assert_eq!(ok(&f[..14 + 40 + 3]), 0);
            assert_eq!(ok(&f[..14 + 30]), 0);
            let f = frame6(58, local6, &icmp(1));
            assert_eq!(ok(&f[..14 + 40]), 0);
        }
        // Ethernet: other EtherTypes; raw IP: other versions.
        let p = capture_program_dual(14, LOCAL, local6, Answers::tcp(40000, 40999));
        let mut arp = frame6(6, local6, &tcp(443, 40000));
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(run(&p, &arp), 0);
        // An IPv6 packet behind the IPv4 EtherType fails the IPv4 checks.
        let mut mislabeled = frame6(6, local6, &tcp(443, 40000));
        mislabeled[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(run(&p, &mislabeled), 0);
        let raw = capture_program_dual(0, LOCAL, local6, Answers::tcp(40000, 40999));
        for version in [0x00u8, 0x30, 0x50, 0x70, 0xf0] {
            let mut f = frame6(6, local6, &tcp(443, 40000))[14..].to_vec();
            f[0] = version;
            assert_eq!(run(&raw, &f), 0, "{version:#x}");
        }
        assert_eq!(run(&raw, &[]), 0);
    }

    #[test]
    fn the_program_follows_the_families_scanned() {
        let local6 = local6();
        for l in [14u32, 0] {
            // IPv4 alone: the IPv4 program itself, byte for byte.
            assert_eq!(
                capture_program_for(l, Some(LOCAL), None, Answers::tcp(1, 9)),
                capture_program(l, LOCAL, Answers::tcp(1, 9))
            );
            assert_eq!(
                capture_program_for(l, Some(LOCAL), Some(local6), Answers::tcp(1, 9)),
                capture_program_dual(l, LOCAL, local6, Answers::tcp(1, 9))
            );
            assert_eq!(
                capture_program_for(l, None, None, Answers::tcp(1, 9)),
                vec![Insn {
                    code: RET | K,
                    jt: 0,
                    jf: 0,
                    k: 0
                }]
            );
        }
        // IPv6 alone: what the dual program passes of IPv6, and no IPv4 at all.
        for (l, cut) in [(14u32, 0usize), (0, 14)] {
            let only6 = capture_program_for(l, None, Some(local6), Answers::tcp(40000, 40999));
            let dual = capture_program_dual(l, LOCAL, local6, Answers::tcp(40000, 40999));
            let mut frames = vec![
                frame6(6, local6, &tcp(443, 40000)),
                frame6(6, local6, &tcp(443, 41000)),
                frame6(58, local6, &icmp(1)),
                frame6(58, local6, &icmp(3)),
                frame6(43, local6, &tcp(443, 1)),
                frame6(6, "2001:2:0:18::2".parse().unwrap(), &tcp(443, 40000)),
                frame6(17, local6, &tcp(443, 40000)),
            ];
            for f in &frames {
                assert_eq!(run(&only6, &f[cut..]), run(&dual, &f[cut..]), "{f:?}");
            }
            assert_eq!(run(&only6, &frames[0][cut..]), ACCEPT_LEN);
            for f in [
                frame(0x0800, 6, LOCAL, 0, 0, &tcp(80, 40000)),
                frame(0x0800, 1, LOCAL, 0, 0, &icmp(3)),
            ] {
                assert_eq!(run(&dual, &f[cut..]), ACCEPT_LEN);
                assert_eq!(run(&only6, &f[cut..]), 0);
            }
            // Another version nibble or EtherType.
            frames[0][12..14].copy_from_slice(&[0x08, 0x06]);
            frames[0][14] = 0x50;
            assert_eq!(run(&only6, &frames[0][cut..]), 0);
        }
    }

    #[test]
    fn builder_rejects_unbound_and_backward_labels() {
        let mut b = Builder::new();
        let l = b.label();
        b.jump(JEQ, 0, l, l);
        assert!(b.finish().is_err());
        let mut b = Builder::new();
        let l = b.label();
        b.bind(l);
        b.jump(JEQ, 0, l, l);
        assert!(b.finish().is_err());
    }
}
