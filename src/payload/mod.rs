//! UDP payloads: what a UDP probe carries to each port, and the cookie in protocol fields.
//!
//! Where the payloads come from ([`PayloadDb::discover`]), first found wins:
//! - nmap's `nmap-payloads` (nmap up to 7.93), read at run time ([`nmap_payloads`]);
//! - the UDP `Probe` entries of nmap's `nmap-service-probes` (nmap 7.94 on, where
//!   nmap-payloads is gone), read at run time ([`service_probes`]);
//! - without nmap, the project's own table of well-known requests ([`builtin`]), each written
//!   from its protocol's specification.
//!
//! nmap's files are never copied into the project. `--udp-payload [+]PORTS:HEX` and a
//! payload file ([`user`], format in docs/udp-payloads.md) replace the payloads of the ports
//! they name, or with `+` add to them. [`Source`] says which database was used, for the
//! output header lines. [`field`] puts the probe's cookie into the payload's protocol field
//! and checks replies against it.

pub mod builtin;
pub mod field;
pub mod nmap_payloads;
pub mod service_probes;
mod text;
pub mod user;

use crate::targets::PortSet;
use field::CookieField;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where nmap's packages install its data, in the order nmap's own search ends.
pub const NMAP_DIRS: [&str; 2] = ["/usr/local/share/nmap", "/usr/share/nmap"];
/// nmap's payload file (nmap up to 7.93).
pub const NMAP_PAYLOADS: &str = "nmap-payloads";
/// nmap's probe file (its UDP probes are the payloads from 7.94 on).
pub const NMAP_SERVICE_PROBES: &str = "nmap-service-probes";

/// A bad payload entry, file or flag; Display is one line naming it and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PayloadError {}

/// Largest payload file read (nmap 7.93's nmap-payloads is about 40 KB; nmap's probe file,
/// read for its UDP probes, has its own bound, `follow::probes::MAX_PROBES_BYTES`).
pub const MAX_PAYLOAD_FILE_BYTES: u64 = 16 << 20;

/// Reads a payload source through the one opener for inputs: what it holds decides what is
/// sent, so it is trusted as strictly as a policy (`Trust::Strict`), up to `limit` bytes.
fn read_strict(path: &Path, what: &str, limit: u64, hint: &str) -> Result<Vec<u8>, PayloadError> {
    use crate::sys::fs::{read_input, Trust};
    read_input(path, Trust::Strict, limit)
        .map(|c| c.bytes)
        .map_err(|e| PayloadError(format!("{}; {hint}", e.line(what, path))))
}

impl From<PayloadError> for crate::error::ScanError {
    fn from(e: PayloadError) -> Self {
        crate::error::ScanError::usage(e.0)
    }
}

/// Where one payload was defined, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The project's own table.
    Builtin,
    /// A line of a file (nmap's or the user's).
    File {
        /// The file.
        path: PathBuf,
        /// Its 1-based line.
        line: usize,
    },
    /// A `--udp-payload` flag.
    Flag,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in table"),
            Origin::File { path, line } => write!(f, "{} line {line}", path.display()),
            Origin::Flag => f.write_str("--udp-payload"),
        }
    }
}

/// One payload and the ports it is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The ports.
    pub ports: PortSet,
    /// The bytes sent (the cookie field as the source wrote it; `field` patches it).
    pub data: Box<[u8]>,
    /// Where the cookie goes in it, when its protocol has a field for it.
    pub field: Option<CookieField>,
    /// A short name: nmap's probe name, the protocol of a built-in request, or empty.
    pub name: String,
    /// The source port nmap's file asks for (`source 500` for IKE), if any.
    pub source_port: Option<u16>,
    /// Where it was defined.
    pub origin: Origin,
}

impl Payload {
    /// A payload for `ports`, its cookie field located in its bytes.
    pub fn new(ports: PortSet, data: Vec<u8>, name: String, origin: Origin) -> Payload {
        let field = CookieField::locate(&data, &ports);
        Payload {
            ports,
            data: data.into_boxed_slice(),
            field,
            name,
            source_port: None,
            origin,
        }
    }
}

/// Which database the payloads came from (the output header line says it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// nmap's nmap-payloads file (nmap up to 7.93).
    NmapPayloads(PathBuf),
    /// The UDP probes of nmap's nmap-service-probes (nmap 7.94 on).
    ServiceProbes(PathBuf),
    /// The project's own table.
    Builtin,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::NmapPayloads(p) => write!(f, "nmap-payloads ({})", p.display()),
            Source::ServiceProbes(p) => {
                write!(f, "UDP probes of nmap-service-probes ({})", p.display())
            }
            Source::Builtin => f.write_str("synscan's built-in table"),
        }
    }
}

/// The payloads of a scan: a database plus the user's entries, in send order per port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadDb {
    payloads: Vec<Payload>,
    source: Source,
    /// Entries the user added or replaced with (counted for the header line).
    user_entries: usize,
}

impl PayloadDb {
    /// A database of `payloads` from `source`.
    pub fn new(source: Source, payloads: Vec<Payload>) -> PayloadDb {
        PayloadDb {
            payloads,
            source,
            user_entries: 0,
        }
    }

    /// The project's own table.
    pub fn builtin() -> PayloadDb {
        PayloadDb::new(Source::Builtin, builtin::payloads())
    }

    /// nmap's payloads from the first of `NMAP_DIRS` that has them, else the built-in table.
    /// A malformed nmap file is an error naming its line.
    pub fn discover() -> Result<PayloadDb, PayloadError> {
        PayloadDb::discover_in(NMAP_DIRS.iter().map(Path::new))
    }

    /// `discover` over `dirs`: in each, nmap-payloads when present (nmap <= 7.93, whose
    /// -sU uses it even though its probe file has UDP probes too), else the UDP probes of
    /// nmap-service-probes when it has any.
    pub fn discover_in<'a>(
        dirs: impl IntoIterator<Item = &'a Path>,
    ) -> Result<PayloadDb, PayloadError> {
        for dir in dirs {
            let payloads = dir.join(NMAP_PAYLOADS);
            if payloads.is_file() {
                return nmap_payloads::read(&payloads);
            }
            let probes = dir.join(NMAP_SERVICE_PROBES);
            if probes.is_file() {
                let db = service_probes::read(&probes)?;
                if !db.is_empty() {
                    return Ok(db);
                }
            }
        }
        Ok(PayloadDb::builtin())
    }

    /// Which database the payloads came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Number of payload entries.
    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[Payload] {
        &self.payloads
    }

    /// The payloads for `port`, in send order (nmap sends the first, then the rest).
    pub fn for_port(&self, port: u16) -> impl Iterator<Item = &Payload> + '_ {
        self.payloads.iter().filter(move |p| p.ports.contains(port))
    }

    /// The header line: the database and the user's entries.
    pub fn describe(&self) -> String {
        let mut s = format!("UDP payloads: {}, {} entries", self.source, self.len());
        if self.user_entries > 0 {
            s.push_str(&format!(
                ", {} of them from --udp-payload/--udp-payload-file",
                self.user_entries
            ));
        }
        s
    }

    /// Applies the user's entries (all of them at once: entries applied by an earlier call
    /// count as the database's): a replacing entry drops the database's payloads for its
    /// ports, an adding one is sent after them; the user's entries keep their order.
    pub fn apply(&mut self, entries: Vec<user::UserPayload>) {
        let mut added = Vec::with_capacity(entries.len());
        for e in entries {
            if e.replace {
                for (first, last) in e.payload.ports.ranges() {
                    for p in &mut self.payloads {
                        p.ports = remove_range(&p.ports, first, last);
                    }
                }
            }
            added.push(e.payload);
        }
        self.payloads.retain(|p| !p.ports.is_empty());
        self.user_entries += added.len();
        self.payloads.extend(added);
    }

    /// Refuses a payload on one of `ports` longer than `max` bytes (what the path MTU leaves
    /// after the IP and UDP headers: see [`max_payload`]).
    pub fn check_fits(&self, ports: &PortSet, max: usize, mtu: usize) -> Result<(), PayloadError> {
        for p in &self.payloads {
            if p.data.len() <= max {
                continue;
            }
            if let Some(port) = ports.iter().find(|&port| p.ports.contains(port)) {
                return Err(PayloadError(format!(
                    "the UDP payload for port {port} ({}) is {} bytes, more than the {max} a {mtu}-byte path MTU leaves after the IP and UDP headers: shorten it or leave the port out",
                    p.origin,
                    p.data.len()
                )));
            }
        }
        Ok(())
    }
}

/// The longest payload a datagram carries unfragmented over a path of `mtu` bytes.
pub fn max_payload(mtu: usize, ipv6: bool) -> usize {
    let ip = if ipv6 {
        crate::wire::ipv6::HEADER_LEN
    } else {
        crate::wire::ipv4::HEADER_LEN
    };
    mtu.saturating_sub(ip + crate::wire::udp::HEADER_LEN)
}

/// `set` without the ports `first..=last`.
fn remove_range(set: &PortSet, first: u16, last: u16) -> PortSet {
    let mut kept = Vec::new();
    for (a, b) in set.ranges() {
        if b < first || a > last {
            kept.push((a, b));
            continue;
        }
        if a < first {
            kept.push((a, first - 1));
        }
        if b > last {
            kept.push((last + 1, b));
        }
    }
    PortSet::from_ranges(kept)
}

#[cfg(test)]
mod tests;
