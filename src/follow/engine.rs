//! The follow-up engine: the kernel's connect(), non-blocking, many connections in flight on
//! one epoll instance, each with a deadline and a bounded read; probes of one port go out on
//! parallel connections and nmap's walk ([`super::plan`]) decides over their answers.
//!
//! Per port: the NULL probe connects first; a banner that matches is the answer at once. The
//! other probes start once the NULL probe has been quiet for half the grace period (so banner
//! services cost one connection), each on its own connection and each waiting its probe's
//! totalwaitms, so a port nothing identifies costs the longest wait, not the sum. A port that
//! answers nmap's TLS probes (or is on a probe's sslports and completes a TLS handshake) is
//! probed again through TLS, as nmap does, and its certificate facts recorded. An HTTP service
//! gets one `GET /` for status, Server, title and Location.
//!
//! Bounds: at most `max_connections` sockets open (and never more than the open-file limit
//! allows), every read into a fixed buffer with a per-connection cap, every connection and
//! every port with a deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConnection;
use socket2::{Domain, Protocol, Socket, Type};

use super::envelope::{Details, FollowResult, Module, ModuleStatus, ServiceInfo, ServiceStatus};
use super::escape::{escape_bytes, escape_text};
use super::http::{self, HttpInfo};
use super::plan::{Answer, Intensity, Plan, Verdict};
use super::probes::{MatchDetails, ProbeDb, ProbeId, Transport};
use super::tls::{self, legacy, TlsInfo};
use crate::sys::epoll::{Epoll, EPOLLIN, EPOLLOUT, EPOLLRDHUP};

/// nmap stops reading a probe's answer past this many bytes.
const ANSWER_ENOUGH: usize = 4096;
/// A probe's answer is never kept beyond this.
const ANSWER_CAP: usize = 8192;
/// An HTTP answer is read up to this.
const HTTP_CAP: usize = 64 * 1024;
/// How long an HTTP answer or a TLS handshake may take past the connect.
const EXTRA_WAIT: Duration = Duration::from_secs(5);
/// Bytes kept of the deciding answer for the report.
const BANNER_CAP: usize = 512;

/// How the follow-up runs.
#[derive(Clone, Debug)]
pub struct FollowConfig {
    /// nmap's --version-intensity.
    pub intensity: Intensity,
    /// Sockets open at once, all ports together.
    pub max_connections: usize,
    /// The round-trip time for a port whose scan measured none; connect waits follow it.
    pub rtt: Duration,
    /// How long a probe must have been quiet before a later probe's hard match is taken.
    pub grace: Duration,
    /// Record TLS facts on ports that speak TLS.
    pub tls: bool,
    /// Ask HTTP services for status, Server, title and Location.
    pub http: bool,
    /// No port takes longer than this, whatever its probes' waits.
    pub port_timeout: Duration,
}

impl Default for FollowConfig {
    fn default() -> FollowConfig {
        FollowConfig {
            intensity: Intensity::DEFAULT,
            max_connections: 512,
            rtt: Duration::from_millis(100),
            grace: Duration::from_secs(1),
            tls: true,
            http: true,
            port_timeout: Duration::from_secs(60),
        }
    }
}

/// The least round-trip time a port's waits assume: a loopback or LAN measurement (tens
/// of microseconds) says nothing of how fast a server answers once connected.
pub const RTT_FLOOR: Duration = Duration::from_millis(10);
/// The most: a measurement this long is a congested moment, not the path.
pub const RTT_CEILING: Duration = Duration::from_secs(2);

impl FollowConfig {
    /// The round-trip time a port's waits follow: what the port stage measured, kept
    /// within [`RTT_FLOOR`] and [`RTT_CEILING`], else the configured default.
    pub fn rtt_for(&self, measured: Option<Duration>) -> Duration {
        measured.map_or(self.rtt, |m| m.clamp(RTT_FLOOR, RTT_CEILING))
    }
}

/// How long a connect may take: ten round trips, between 0.5 s and 5 s.
pub fn connect_timeout(rtt: Duration) -> Duration {
    (rtt * 10).clamp(Duration::from_millis(500), Duration::from_secs(5))
}

/// How long a probe must have been quiet before a later probe's hard match is taken: the
/// configured grace plus one round trip each way.
fn grace(cfg: &FollowConfig, rtt: Duration) -> Duration {
    cfg.grace + rtt * 2
}

/// One open port to follow up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowTarget {
    /// Its address.
    pub ip: IpAddr,
    /// Its TCP port.
    pub port: u16,
    /// A host name for SNI and the HTTP Host header, when the target was given by name.
    pub host: Option<String>,
    /// The round-trip time the port stage measured (None: the configured default).
    pub rtt: Option<Duration>,
}

/// What a connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// One probe of the plan (through TLS when the job is in its TLS phase).
    Probe(ProbeId),
    /// A TLS handshake on a likely TLS port: facts, and a shortcut into the TLS phase.
    TlsCheck,
    /// Our own handshake read, for servers rustls refuses.
    LegacyTls,
    /// One `GET /`.
    Http,
}

#[derive(Clone, Debug)]
enum Run {
    Unsent,
    Queued,
    Running {
        since: Instant,
        partial: Option<MatchDetails>,
    },
    Done(Option<MatchDetails>),
    Wrapped,
}

struct Job {
    target: FollowTarget,
    /// The round-trip time its waits follow.
    rtt: Duration,
    started: Instant,
    deadline: Instant,
    gen: u32,
    tls_phase: bool,
    plan: Plan,
    runs: HashMap<ProbeId, Run>,
    answers: HashMap<ProbeId, Vec<u8>>,
    null_quiet_since: Option<Instant>,
    others_released: bool,
    plain_ssl: Option<MatchDetails>,
    service: Option<ServiceInfo>,
    tls: Option<Module<TlsInfo>>,
    tls_check_done: bool,
    legacy_started: bool,
    /// A TLS reading on a likely TLS port runs before plain probing (a server that takes
    /// one connection at a time would otherwise keep it waiting behind the NULL probe).
    legacy_pending: bool,
    http: Option<Module<HttpInfo>>,
    http_started: bool,
    open_conns: usize,
    queued: usize,
}

struct Conn {
    sock: Socket,
    job: u64,
    job_gen: u32,
    purpose: Purpose,
    tls: Option<Box<ClientConnection>>,
    out: Vec<u8>,
    out_at: usize,
    data: Vec<u8>,
    raw_first: Vec<u8>,
    cap: usize,
    connected: bool,
    handshaken: bool,
    deadline: Instant,
    sent_at: Instant,
    last_data: Instant,
    gen: u32,
    interest: u32,
}

/// The engine: feed it targets with [`Engine::submit`], drive it with [`Engine::poll`].
pub struct Engine {
    db: Arc<ProbeDb>,
    cfg: FollowConfig,
    epoll: Epoll,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    conn_gen: u32,
    open: usize,
    limit: usize,
    jobs: HashMap<u64, Job>,
    next_job: u64,
    launch: VecDeque<(u64, u32, Purpose)>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    events: Vec<(u64, u32)>,
    done: Vec<FollowResult>,
    scratch: Box<[u8; 16 * 1024]>,
    ssl_ports: Vec<u16>,
    peak_open: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Conn(usize, u32),
    Job(u64),
}

impl Engine {
    /// An engine over `db`. The socket budget is `cfg.max_connections`, lowered to what the
    /// open-file limit leaves (raised to its hard limit first, where allowed).
    pub fn new(db: Arc<ProbeDb>, cfg: FollowConfig) -> io::Result<Engine> {
        let nofile = crate::sys::sock::raise_nofile_limit().unwrap_or(1024);
        let limit = cfg
            .max_connections
            .min(
                usize::try_from(nofile)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(64),
            )
            .max(1);
        let mut ssl_ports: Vec<u16> = db
            .probes()
            .iter()
            .filter(|p| p.transport == Transport::Tcp)
            .flat_map(|p| p.ssl_ports.iter().copied())
            .collect();
        ssl_ports.sort_unstable();
        ssl_ports.dedup();
        Ok(Engine {
            db,
            cfg,
            epoll: Epoll::new(1024)?,
            conns: Vec::new(),
            free: Vec::new(),
            conn_gen: 0,
            open: 0,
            limit,
            jobs: HashMap::new(),
            next_job: 0,
            launch: VecDeque::new(),
            timers: BinaryHeap::new(),
            events: Vec::with_capacity(256),
            done: Vec::new(),
            scratch: Box::new([0; 16 * 1024]),
            ssl_ports,
            peak_open: 0,
        })
    }

    /// The socket budget in force.
    pub fn connection_limit(&self) -> usize {
        self.limit
    }

    /// The most sockets that were open at once.
    pub fn peak_connections(&self) -> usize {
        self.peak_open
    }

    /// Ports submitted and not yet reported.
    pub fn pending(&self) -> usize {
        self.jobs.len() + self.done.len()
    }

    /// Starts following up one open port.
    pub fn submit(&mut self, target: FollowTarget) {
        let now = Instant::now();
        let id = self.next_job;
        self.next_job += 1;
        if self.db.excluded(Transport::Tcp, target.port) {
            self.done.push(FollowResult {
                ip: target.ip,
                port: target.port,
                protocol: "tcp".into(),
                service: ServiceInfo::table(
                    ServiceStatus::Excluded,
                    Some("Excluded from version scan".into()),
                ),
                tls: None,
                http: None,
                elapsed_ms: 0,
            });
            return;
        }
        let likely_tls = self.cfg.tls && self.ssl_ports.binary_search(&target.port).is_ok();
        let rtt = self.cfg.rtt_for(target.rtt);
        let plan = self.plan(target.port, false, rtt);
        let job = Job {
            rtt,
            deadline: now + self.cfg.port_timeout,
            started: now,
            gen: 0,
            tls_phase: false,
            runs: plan.probes().map(|p| (p, Run::Unsent)).collect(),
            plan,
            answers: HashMap::new(),
            null_quiet_since: None,
            others_released: false,
            plain_ssl: None,
            service: None,
            tls: None,
            tls_check_done: !likely_tls,
            legacy_started: false,
            legacy_pending: false,
            http: None,
            http_started: false,
            open_conns: 0,
            queued: 0,
            target,
        };
        self.jobs.insert(id, job);
        if likely_tls {
            self.enqueue(id, Purpose::TlsCheck);
        }
        self.timers
            .push(Reverse((now + self.cfg.port_timeout, Timer::Job(id))));
        self.evaluate(id, now);
    }

    fn plan(&self, port: u16, tls: bool, rtt: Duration) -> Plan {
        Plan::new(
            &self.db,
            port,
            tls,
            self.cfg.intensity,
            grace(&self.cfg, rtt),
        )
    }

    /// Runs for up to `timeout` (less when something is due) and moves finished ports to `out`.
    pub fn poll(&mut self, timeout: Duration, out: &mut Vec<FollowResult>) -> io::Result<()> {
        let now = Instant::now();
        self.pump(now);
        let mut wait = timeout;
        if !self.done.is_empty() {
            wait = Duration::ZERO;
        }
        if let Some(Reverse((at, _))) = self.timers.peek() {
            wait = wait.min(at.saturating_duration_since(now));
        }
        self.events.clear();
        if self.open > 0 {
            self.epoll.wait(wait, &mut self.events)?;
        } else if !wait.is_zero() && !self.jobs.is_empty() {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        let events = std::mem::take(&mut self.events);
        for &(data, ev) in &events {
            let slot = (data & 0xffff_ffff) as usize;
            let gen = (data >> 32) as u32;
            if matches!(self.conns.get(slot), Some(Some(c)) if c.gen == gen) {
                self.on_ready(slot, ev, now);
            }
        }
        self.events = events;
        let now = Instant::now();
        while let Some(Reverse((at, t))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match t {
                Timer::Conn(slot, gen) => {
                    let due = matches!(self.conns.get(slot), Some(Some(c)) if c.gen == gen && c.deadline <= now);
                    if due {
                        self.on_deadline(slot, now);
                    }
                }
                Timer::Job(id) => {
                    let expired = self.jobs.get(&id).is_some_and(|j| j.deadline <= now);
                    if expired {
                        self.expire(id, now);
                    } else {
                        self.evaluate(id, now);
                    }
                }
            }
        }
        self.pump(Instant::now());
        out.append(&mut self.done);
        Ok(())
    }

    /// Follows up every target, at most `max_connections` sockets at a time, and returns the
    /// results in the order they finished.
    pub fn run(
        &mut self,
        targets: impl IntoIterator<Item = FollowTarget>,
    ) -> io::Result<Vec<FollowResult>> {
        for t in targets {
            self.submit(t);
        }
        let mut out = Vec::new();
        while self.pending() > 0 {
            self.poll(Duration::from_millis(200), &mut out)?;
        }
        Ok(out)
    }

    fn enqueue(&mut self, job: u64, purpose: Purpose) {
        if let Some(j) = self.jobs.get_mut(&job) {
            j.queued += 1;
            self.launch.push_back((job, j.gen, purpose));
        }
    }

    /// Opens queued connections while the budget allows.
    fn pump(&mut self, now: Instant) {
        while self.open < self.limit {
            let Some((job, gen, purpose)) = self.launch.pop_front() else {
                break;
            };
            let Some(j) = self.jobs.get_mut(&job) else {
                continue;
            };
            j.queued = j.queued.saturating_sub(1);
            if j.gen != gen {
                continue;
            }
            if let Err(e) = self.open_conn(job, purpose, now) {
                // A local shortage (EMFILE, ENOBUFS): try again later, with fewer open.
                if matches!(
                    e.raw_os_error(),
                    Some(libc_like::EMFILE | libc_like::ENFILE | libc_like::ENOBUFS)
                ) {
                    self.limit = self.open.max(1);
                    self.launch.push_front((job, gen, purpose));
                    if let Some(j) = self.jobs.get_mut(&job) {
                        j.queued += 1;
                    }
                    break;
                }
                self.conn_failed(job, gen, purpose, &e.to_string(), now);
            }
        }
    }

    fn open_conn(&mut self, job: u64, purpose: Purpose, now: Instant) -> io::Result<()> {
        let j = self
            .jobs
            .get_mut(&job)
            .ok_or_else(|| io::Error::other("no job"))?;
        let to = SocketAddr::new(j.target.ip, j.target.port);
        let domain = if to.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        sock.set_tcp_nodelay(true)?;
        // Close with RST: nothing lingers in FIN_WAIT/TIME_WAIT.
        sock.set_linger(Some(Duration::ZERO))?;
        match sock.connect(&to.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc_like::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let through_tls = match purpose {
            Purpose::Probe(_) | Purpose::Http => j.tls_phase,
            Purpose::TlsCheck => true,
            Purpose::LegacyTls => false,
        };
        let tls = if through_tls {
            let name = tls::server_name(j.target.ip, j.target.host.as_deref());
            match ClientConnection::new(tls::client_config(), name) {
                Ok(c) => Some(Box::new(c)),
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        } else {
            None
        };
        let (out, cap) = match purpose {
            Purpose::Probe(p) => (self.db.probe(p).payload.clone(), ANSWER_CAP),
            Purpose::TlsCheck => (Vec::new(), 0),
            Purpose::LegacyTls => (
                legacy::client_hello(j.target.host.as_deref(), random32(now)),
                legacy::MAX_HANDSHAKE + 64 * 1024,
            ),
            Purpose::Http => {
                let host = match (&j.target.host, j.target.ip) {
                    (Some(h), _) => h.clone(),
                    (None, IpAddr::V4(a)) => a.to_string(),
                    (None, IpAddr::V6(a)) => format!("[{a}]"),
                };
                (http::request(&host), HTTP_CAP)
            }
        };
        if let Purpose::Probe(p) = purpose {
            j.runs.insert(
                p,
                Run::Running {
                    since: now,
                    partial: None,
                },
            );
        }
        j.open_conns += 1;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        self.conn_gen = self.conn_gen.wrapping_add(1);
        let gen = self.conn_gen;
        let interest = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
        let key = (u64::from(gen) << 32) | slot as u64;
        if let Err(e) = self.epoll.add(sock.as_fd(), interest, key) {
            self.free.push(slot);
            if let Some(j) = self.jobs.get_mut(&job) {
                j.open_conns -= 1;
            }
            return Err(e);
        }
        let deadline = now + connect_timeout(self.job_rtt(job));
        self.conns[slot] = Some(Conn {
            sock,
            job,
            job_gen: self.jobs.get(&job).map_or(0, |j| j.gen),
            purpose,
            tls,
            out,
            out_at: 0,
            data: Vec::new(),
            raw_first: Vec::new(),
            cap,
            connected: false,
            handshaken: false,
            deadline,
            sent_at: now,
            last_data: now,
            gen,
            interest,
        });
        self.open += 1;
        self.peak_open = self.peak_open.max(self.open);
        self.timers
            .push(Reverse((deadline, Timer::Conn(slot, gen))));
        Ok(())
    }

    fn set_deadline(&mut self, slot: usize, at: Instant) {
        if let Some(Some(c)) = self.conns.get_mut(slot) {
            c.deadline = at;
            self.timers.push(Reverse((at, Timer::Conn(slot, c.gen))));
        }
    }

    /// The wait after the connect for this connection's purpose.
    fn read_wait(&self, purpose: Purpose, rtt: Duration) -> Duration {
        let rtt2 = rtt * 2;
        match purpose {
            Purpose::Probe(p) => self.db.probe(p).total_wait + rtt2,
            _ => EXTRA_WAIT + rtt2,
        }
    }

    fn on_ready(&mut self, slot: usize, ev: u32, now: Instant) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        if !c.connected {
            match c.sock.take_error() {
                Ok(None) if ev & EPOLLOUT != 0 => {
                    c.connected = true;
                    c.sent_at = now;
                    c.last_data = now;
                    let purpose = c.purpose;
                    let job = c.job;
                    let wait = self.read_wait(purpose, self.job_rtt(job));
                    self.set_deadline(slot, now + wait);
                    if purpose == Purpose::Probe(self.null_id()) {
                        if let Some(j) = self.jobs.get_mut(&job) {
                            j.null_quiet_since = Some(now);
                        }
                        // Its quiet time starts now: let the job schedule the others' release
                        // (a server that neither speaks nor closes sends no event to wait on).
                        self.timers.push(Reverse((now, Timer::Job(job))));
                    }
                }
                Ok(None) => return,
                Ok(Some(e)) | Err(e) => {
                    let msg = format!("connect: {e}");
                    self.finish_conn(slot, Outcome::Failed(msg), now);
                    return;
                }
            }
        }
        let outcome = self.drive(slot, now);
        match outcome {
            Step::Continue => self.update_interest(slot),
            Step::Finish(o) => self.finish_conn(slot, o, now),
        }
    }

    fn null_id(&self) -> ProbeId {
        self.db.null_probe().unwrap_or(usize::MAX)
    }

    /// The round-trip time a job's waits follow.
    fn job_rtt(&self, job: u64) -> Duration {
        self.jobs.get(&job).map_or(self.cfg.rtt, |j| j.rtt)
    }

    /// Moves bytes in both directions as far as the socket allows.
    fn drive(&mut self, slot: usize, now: Instant) -> Step {
        let db = Arc::clone(&self.db);
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return Step::Finish(Outcome::Failed("gone".into()));
        };
        let scratch = &mut self.scratch[..];
        let mut got_data = false;
        let mut eof = false;
        // TLS: push the handshake along first.
        if let Some(t) = c.tls.as_mut() {
            loop {
                let mut progressed = false;
                while t.wants_write() {
                    match t.write_tls(&mut SockIo(&c.sock)) {
                        Ok(0) => break,
                        Ok(_) => progressed = true,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Step::Finish(Outcome::Failed(format!("write: {e}"))),
                    }
                }
                if t.wants_read() {
                    match t.read_tls(&mut SockIo(&c.sock)) {
                        Ok(0) => {
                            eof = true;
                        }
                        Ok(_) => {
                            progressed = true;
                            if let Err(e) = t.process_new_packets() {
                                let msg = format!("TLS: {e}");
                                return Step::Finish(if c.handshaken {
                                    Outcome::Closed
                                } else {
                                    Outcome::TlsFailed(msg)
                                });
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) if c.handshaken => {
                            let _ = e;
                            eof = true;
                        }
                        Err(e) => return Step::Finish(Outcome::TlsFailed(format!("TLS: {e}"))),
                    }
                }
                if !c.handshaken && !t.is_handshaking() {
                    c.handshaken = true;
                    if c.purpose == Purpose::TlsCheck {
                        return Step::Finish(Outcome::Handshaken);
                    }
                    // Record the facts once per job, from the first TLS connection.
                    let job = c.job;
                    if let Some(j) = self.jobs.get_mut(&job) {
                        if j.tls.is_none() {
                            let name = tls::server_name(j.target.ip, j.target.host.as_deref());
                            j.tls = Some(Module::success(handshake_facts(t, &name)));
                        }
                    }
                    if !c.out.is_empty() {
                        if let Err(e) = t.writer().write_all(&c.out) {
                            return Step::Finish(Outcome::Failed(format!("write: {e}")));
                        }
                        c.out.clear();
                    }
                    progressed = true;
                }
                if c.handshaken {
                    loop {
                        match t.reader().read(scratch) {
                            Ok(0) => {
                                eof = true;
                                break;
                            }
                            Ok(n) => {
                                let room = c.cap.saturating_sub(c.data.len());
                                c.data.extend_from_slice(&scratch[..n.min(room)]);
                                got_data = true;
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => {
                                eof = true;
                                break;
                            }
                        }
                        if c.data.len() >= c.cap {
                            break;
                        }
                    }
                }
                if eof || !progressed || c.data.len() >= c.cap {
                    break;
                }
            }
            if eof && !c.handshaken {
                return Step::Finish(Outcome::TlsFailed("closed during the TLS handshake".into()));
            }
        } else {
            while c.out_at < c.out.len() {
                match (&c.sock).write(&c.out[c.out_at..]) {
                    Ok(n) => c.out_at += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Step::Finish(Outcome::Reset(format!("write: {e}"))),
                }
            }
            loop {
                if c.data.len() >= c.cap {
                    break;
                }
                match (&c.sock).read(scratch) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        let room = c.cap.saturating_sub(c.data.len());
                        c.data.extend_from_slice(&scratch[..n.min(room)]);
                        got_data = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        if c.data.is_empty() {
                            return Step::Finish(Outcome::Reset(format!("read: {e}")));
                        }
                        eof = true;
                        break;
                    }
                }
            }
        }
        if got_data {
            c.last_data = now;
            if c.raw_first.is_empty() {
                c.raw_first = c.data.iter().take(8).copied().collect();
            }
        }
        let purpose = c.purpose;
        match purpose {
            Purpose::Probe(p) => {
                if got_data {
                    let m = db.match_answer(p, &c.data);
                    let hard = m.as_ref().is_some_and(|m| !m.soft);
                    let job = c.job;
                    let data = c.data.clone();
                    let enough = data.len() >= ANSWER_ENOUGH;
                    if let Some(j) = self.jobs.get_mut(&job) {
                        j.answers.insert(p, data);
                        if Some(p) == self.db.null_probe() {
                            j.null_quiet_since = Some(now);
                        }
                        if hard || enough {
                            j.runs.insert(p, Run::Done(m));
                            return Step::Finish(Outcome::Decided);
                        }
                        j.runs.insert(
                            p,
                            Run::Running {
                                since: now,
                                partial: m,
                            },
                        );
                    }
                    self.timers.push(Reverse((now, Timer::Job(job))));
                }
                if eof {
                    return Step::Finish(Outcome::Closed);
                }
                Step::Continue
            }
            Purpose::LegacyTls => match legacy::read_flight(&c.data) {
                legacy::Progress::More if !eof && c.data.len() < c.cap => Step::Continue,
                legacy::Progress::More => Step::Finish(Outcome::TlsFailed(
                    "the server's TLS flight ended early".into(),
                )),
                legacy::Progress::Done(f) => Step::Finish(Outcome::Legacy(f)),
                legacy::Progress::Failed(e) => Step::Finish(Outcome::TlsFailed(e)),
            },
            Purpose::Http => {
                if eof || c.data.len() >= c.cap {
                    Step::Finish(Outcome::Closed)
                } else {
                    Step::Continue
                }
            }
            Purpose::TlsCheck => {
                if eof {
                    Step::Finish(Outcome::TlsFailed("closed during the TLS handshake".into()))
                } else {
                    Step::Continue
                }
            }
        }
    }

    fn update_interest(&mut self, slot: usize) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        let wants_write = match &c.tls {
            Some(t) => t.wants_write(),
            None => c.out_at < c.out.len(),
        };
        let want = EPOLLIN | EPOLLRDHUP | if wants_write { EPOLLOUT } else { 0 };
        if want != c.interest {
            let key = (u64::from(c.gen) << 32) | slot as u64;
            if self.epoll.modify(c.sock.as_fd(), want, key).is_ok() {
                c.interest = want;
            }
        }
    }

    fn on_deadline(&mut self, slot: usize, now: Instant) {
        // The loop can fall behind the kernel (a batch of answers to match, more ready sockets
        // than one epoll batch, a loaded machine): what the socket already holds, a finished
        // connect or an answer, counts before the deadline does.
        let Some(Some(c)) = self.conns.get(slot) else {
            return;
        };
        let gen = c.gen;
        if c.connected || c.sock.peer_addr().is_ok() {
            self.on_ready(slot, EPOLLIN | EPOLLOUT, now);
            let still_due =
                matches!(self.conns.get(slot), Some(Some(c)) if c.gen == gen && c.deadline <= now);
            if !still_due {
                return;
            }
        }
        let connected = matches!(self.conns.get(slot), Some(Some(c)) if c.connected);
        let outcome = if connected {
            Outcome::TimedOut
        } else {
            Outcome::Failed("connect timed out".into())
        };
        self.finish_conn(slot, outcome, now);
    }

    /// Closes a connection and tells its job how it ended.
    fn finish_conn(&mut self, slot: usize, outcome: Outcome, now: Instant) {
        let Some(c) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = self.epoll.delete(c.sock.as_fd());
        self.free.push(slot);
        self.open -= 1;
        let Some(j) = self.jobs.get_mut(&c.job) else {
            return;
        };
        j.open_conns = j.open_conns.saturating_sub(1);
        if j.gen != c.job_gen {
            return;
        }
        let job = c.job;
        match c.purpose {
            Purpose::Probe(p) => {
                let is_null = Some(p) == self.db.null_probe();
                match outcome {
                    Outcome::Decided => {}
                    Outcome::Failed(e) if is_null && !c.connected => {
                        // The port no longer accepts connections: nothing to identify.
                        j.service = Some(ServiceInfo::table(ServiceStatus::Incomplete, Some(e)));
                    }
                    Outcome::Closed | Outcome::Reset(_)
                        if is_null
                            && c.data.is_empty()
                            && c.connected
                            && now.duration_since(c.sent_at) < self.db.probe(p).tcpwrapped =>
                    {
                        j.runs.insert(p, Run::Wrapped);
                    }
                    Outcome::TlsFailed(_) if !j.legacy_started && j.tls.is_none() => {
                        j.runs.insert(p, Run::Done(None));
                        j.legacy_started = true;
                        self.enqueue(job, Purpose::LegacyTls);
                    }
                    _ => {
                        let m = if c.data.is_empty() {
                            None
                        } else {
                            self.db.match_answer(p, &c.data)
                        };
                        if let Some(j) = self.jobs.get_mut(&job) {
                            j.runs.insert(p, Run::Done(m));
                        }
                    }
                }
            }
            Purpose::TlsCheck => {
                j.tls_check_done = true;
                match outcome {
                    // It speaks TLS: as nmap would after matching "ssl", probe through it.
                    Outcome::Handshaken if j.service.is_none() && !j.tls_phase => {
                        self.enter_tls_phase(job, None, now);
                    }
                    // A TLS peer rustls refuses (or no TLS at all): read the handshake
                    // ourselves before plain probing starts.
                    Outcome::TlsFailed(_) if !j.legacy_started => {
                        j.legacy_started = true;
                        j.legacy_pending = true;
                        self.enqueue(job, Purpose::LegacyTls);
                    }
                    _ => {}
                }
            }
            Purpose::LegacyTls => {
                j.legacy_pending = false;
                let name = tls::server_name(j.target.ip, j.target.host.as_deref());
                let module = match outcome {
                    Outcome::Legacy(f) => Module::success(tls::facts(
                        &legacy::version_name(f.version),
                        &tls::legacy_suite_name(f.cipher),
                        &f.chain,
                        &name,
                        "legacy",
                    )),
                    Outcome::TimedOut => {
                        Module::failed(ModuleStatus::Timeout, "TLS handshake timed out")
                    }
                    Outcome::TlsFailed(e) | Outcome::Failed(e) | Outcome::Reset(e) => {
                        Module::failed(ModuleStatus::Error, escape_text(e.as_bytes()))
                    }
                    _ => Module::failed(ModuleStatus::Error, "no TLS handshake"),
                };
                if j.tls.is_none() {
                    j.tls = Some(module);
                }
            }
            Purpose::Http => {
                let module = match (http::parse(&c.data), outcome) {
                    (Some(info), _) => Module::success(info),
                    (None, Outcome::TimedOut) => {
                        Module::failed(ModuleStatus::Timeout, "no HTTP answer in time")
                    }
                    (None, Outcome::Failed(e) | Outcome::Reset(e) | Outcome::TlsFailed(e)) => {
                        Module::failed(ModuleStatus::Error, escape_text(e.as_bytes()))
                    }
                    (None, _) => Module::failed(ModuleStatus::Error, "not an HTTP answer"),
                };
                j.http = Some(module);
            }
        }
        self.evaluate(job, now);
    }

    /// Decides what a job needs next: more probes, the TLS phase, HTTP, or its result.
    fn evaluate(&mut self, id: u64, now: Instant) {
        let null = self.db.null_probe();
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        let grace = grace(&self.cfg, j.rtt);
        if j.service.is_none() {
            let runs = &j.runs;
            let verdict = j.plan.verdict(&self.db, |p| match runs.get(&p) {
                None | Some(Run::Unsent) => Answer::Unsent,
                Some(Run::Queued) => Answer::Waiting {
                    quiet: Duration::ZERO,
                    partial: None,
                },
                Some(Run::Running { since, partial }) => Answer::Waiting {
                    quiet: now.saturating_duration_since(*since),
                    partial: partial.clone(),
                },
                Some(Run::Done(m)) => Answer::Done(m.clone()),
                Some(Run::Wrapped) => Answer::Wrapped,
            });
            match verdict {
                Verdict::Wait(unsent) => {
                    // The NULL probe goes alone first; the others once it has been quiet for
                    // half the grace period, or has finished.
                    let null_done = null.is_none_or(|n| {
                        matches!(j.runs.get(&n), Some(Run::Done(_) | Run::Wrapped))
                    });
                    let release_at = j.null_quiet_since.map(|t| t + grace / 2);
                    if !j.others_released && (null_done || release_at.is_some_and(|t| t <= now)) {
                        j.others_released = true;
                    }
                    // On a likely TLS port the TLS check (and our own reading) go first.
                    let gate_open = j.tls_check_done && !j.legacy_pending;
                    let mut launch = Vec::new();
                    for p in unsent {
                        if gate_open && (Some(p) == null || j.others_released) {
                            j.runs.insert(p, Run::Queued);
                            launch.push(p);
                        }
                    }
                    // Wake up when a quiet probe crosses the grace period, or the others are due.
                    let mut wake: Option<Instant> = release_at.filter(|_| !j.others_released);
                    for r in j.runs.values() {
                        if let Run::Running { since, .. } = r {
                            let t = *since + grace;
                            if t > now {
                                wake = Some(wake.map_or(t, |w| w.min(t)));
                            }
                        }
                    }
                    for p in launch {
                        self.enqueue(id, Purpose::Probe(p));
                    }
                    if let Some(t) = wake {
                        self.timers.push(Reverse((t, Timer::Job(id))));
                    }
                    return;
                }
                Verdict::Hard(m) if m.service == "ssl" && !j.tls_phase && self.cfg.tls => {
                    self.enter_tls_phase(id, Some(m), now);
                    return;
                }
                verdict => {
                    let j = self.jobs.get_mut(&id).expect("job present");
                    let service = service_info(&self.db, j, verdict);
                    j.service = Some(service);
                    // The probes are done with: close them.
                    j.gen = j.gen.wrapping_add(1);
                    self.close_job_conns(id);
                }
            }
        }
        self.extras_or_finish(id, now);
    }

    /// After the identification: an HTTP request and a TLS reading if needed, then the result.
    fn extras_or_finish(&mut self, id: u64, now: Instant) {
        let cfg_http = self.cfg.http;
        let cfg_tls = self.cfg.tls;
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(service) = j.service.clone() else {
            return;
        };
        // HTTP by name, or by an answer that is one (a web server no match line names).
        let is_http = service
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("http"))
            || (service.name.is_none() && j.answers.values().any(|a| a.starts_with(b"HTTP/1.")));
        if cfg_http && is_http && !j.http_started {
            j.http_started = true;
            self.enqueue(id, Purpose::Http);
            return;
        }
        let speaks_ssl = j.tls_phase || service.name.as_deref() == Some("ssl");
        if cfg_tls && speaks_ssl && j.tls.is_none() && !j.legacy_started {
            j.legacy_started = true;
            self.enqueue(id, Purpose::LegacyTls);
            return;
        }
        let busy = j.open_conns > 0 || j.queued > 0;
        if busy {
            return;
        }
        let j = self.jobs.remove(&id).expect("job present");
        let elapsed_ms = now.duration_since(j.started).as_millis() as u64;
        self.done.push(FollowResult {
            ip: j.target.ip,
            port: j.target.port,
            protocol: "tcp".into(),
            service,
            tls: j.tls,
            http: j.http,
            elapsed_ms,
        });
    }

    /// nmap's scanThroughTunnel: probe again from the start through TLS.
    fn enter_tls_phase(&mut self, id: u64, plain_ssl: Option<MatchDetails>, now: Instant) {
        let plan = {
            let Some(j) = self.jobs.get(&id) else { return };
            self.plan(j.target.port, true, j.rtt)
        };
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        j.gen = j.gen.wrapping_add(1);
        j.tls_phase = true;
        j.plain_ssl = plain_ssl.or_else(|| Some(ssl_match()));
        j.runs = plan.probes().map(|p| (p, Run::Unsent)).collect();
        j.plan = plan;
        j.answers.clear();
        j.null_quiet_since = None;
        j.others_released = false;
        self.close_job_conns(id);
        self.evaluate(id, now);
    }

    /// Closes every connection a job has open (its generation moved on: stale ones are dropped).
    fn close_job_conns(&mut self, id: u64) {
        let slots: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c {
                Some(c)
                    if c.job == id
                        && !matches!(
                            c.purpose,
                            Purpose::Http | Purpose::LegacyTls | Purpose::TlsCheck
                        ) =>
                {
                    Some(i)
                }
                _ => None,
            })
            .collect();
        for s in slots {
            if let Some(c) = self.conns[s].take() {
                let _ = self.epoll.delete(c.sock.as_fd());
                self.free.push(s);
                self.open -= 1;
                if let Some(j) = self.jobs.get_mut(&id) {
                    j.open_conns = j.open_conns.saturating_sub(1);
                }
            }
        }
    }

    /// A port past its deadline: what is known becomes the result.
    fn expire(&mut self, id: u64, now: Instant) {
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        j.gen = j.gen.wrapping_add(1);
        if j.service.is_none() {
            j.service = Some(ServiceInfo::table(
                ServiceStatus::Incomplete,
                Some("the port's deadline passed".into()),
            ));
        }
        if j.tls.is_none() && j.legacy_started {
            j.tls = Some(Module::failed(
                ModuleStatus::Timeout,
                "the port's deadline passed",
            ));
        }
        if j.http.is_none() && j.http_started {
            j.http = Some(Module::failed(
                ModuleStatus::Timeout,
                "the port's deadline passed",
            ));
        }
        j.http_started = true;
        j.legacy_started = true;
        let slots: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| matches!(c, Some(c) if c.job == id).then_some(i))
            .collect();
        for s in slots {
            if let Some(c) = self.conns[s].take() {
                let _ = self.epoll.delete(c.sock.as_fd());
                self.free.push(s);
                self.open -= 1;
            }
        }
        if let Some(j) = self.jobs.get_mut(&id) {
            j.open_conns = 0;
            j.queued = 0;
        }
        self.extras_or_finish(id, now);
    }

    fn conn_failed(&mut self, job: u64, gen: u32, purpose: Purpose, err: &str, now: Instant) {
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        if j.gen != gen {
            return;
        }
        match purpose {
            Purpose::Probe(p) if Some(p) == self.db.null_probe() => {
                j.service = Some(ServiceInfo::table(
                    ServiceStatus::Incomplete,
                    Some(err.to_string()),
                ));
            }
            Purpose::Probe(p) => {
                j.runs.insert(p, Run::Done(None));
            }
            Purpose::TlsCheck => j.tls_check_done = true,
            Purpose::LegacyTls => {
                j.tls = Some(Module::failed(ModuleStatus::Error, err.to_string()))
            }
            Purpose::Http => j.http = Some(Module::failed(ModuleStatus::Error, err.to_string())),
        }
        self.evaluate(job, now);
    }
}

/// The "ssl" identification a TLS handshake stands for when no probe said it.
fn ssl_match() -> MatchDetails {
    MatchDetails {
        service: "ssl".into(),
        ..MatchDetails::default()
    }
}

/// The identification a verdict stands for, in nmap's terms.
fn service_info(db: &ProbeDb, j: &Job, verdict: Verdict) -> ServiceInfo {
    let probed = |status: ServiceStatus, m: &MatchDetails| {
        let (name, tunnel) = match m.service.strip_prefix("ssl/") {
            Some(rest) => (rest.to_string(), Some("ssl".to_string())),
            None => (m.service.clone(), j.tls_phase.then(|| "ssl".to_string())),
        };
        // The answer that decided it: the first probe whose answer holds this match's line.
        let decided_by = j
            .answers
            .iter()
            .filter(|(p, a)| db.match_answer(**p, a).is_some_and(|x| x.line == m.line))
            .map(|(p, _)| *p)
            .min();
        ServiceInfo {
            status,
            name: Some(name),
            tunnel,
            details: Details::from(m),
            method: "probed".into(),
            conf: 10,
            probe: decided_by.map(|p| db.probe(p).name.clone()),
            banner: decided_by
                .and_then(|p| j.answers.get(&p))
                .map(|a| escape_bytes(&a[..a.len().min(BANNER_CAP)])),
            error: None,
        }
    };
    match verdict {
        Verdict::Hard(m) => probed(ServiceStatus::Matched, &m),
        Verdict::Soft(m) => probed(ServiceStatus::Softmatched, &m),
        Verdict::Tcpwrapped => ServiceInfo {
            status: ServiceStatus::Tcpwrapped,
            name: Some("tcpwrapped".into()),
            tunnel: None,
            details: Details::default(),
            method: "probed".into(),
            conf: 8,
            probe: None,
            banner: None,
            error: None,
        },
        Verdict::NoMatch | Verdict::Wait(_) => {
            match &j.plain_ssl {
                // "ssl" matched, then nothing through TLS (or TLS could not be spoken): nmap
                // reports the port table's name over an ssl tunnel.
                Some(_) if j.tls_phase => {
                    let mut s = ServiceInfo::table(ServiceStatus::Unknown, None);
                    s.tunnel = Some("ssl".into());
                    s
                }
                Some(ssl) => probed(ServiceStatus::Matched, ssl),
                None => {
                    let mut s = ServiceInfo::table(ServiceStatus::Unknown, None);
                    s.banner = j
                        .answers
                        .iter()
                        .min_by_key(|(p, _)| **p)
                        .map(|(_, a)| escape_bytes(&a[..a.len().min(BANNER_CAP)]));
                    s
                }
            }
        }
    }
}

fn handshake_facts(t: &ClientConnection, name: &rustls::pki_types::ServerName<'_>) -> TlsInfo {
    let chain: Vec<Vec<u8>> = t
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
        .unwrap_or_default();
    let version = t
        .protocol_version()
        .map(tls::rustls_version)
        .unwrap_or_default();
    let cipher = t
        .negotiated_cipher_suite()
        .map(|s| tls::suite_name(s.suite()))
        .unwrap_or_default();
    tls::facts(&version, &cipher, &chain, name, "rustls")
}

/// Randomness for the ClientHello: not secret, only unlikely to repeat.
fn random32(now: Instant) -> [u8; 32] {
    use rand::RngCore;
    let mut r = [0u8; 32];
    rand::rng().fill_bytes(&mut r);
    let _ = now;
    r
}

/// Reads and writes on a borrowed socket, for rustls's `read_tls`/`write_tls`.
struct SockIo<'a>(&'a Socket);

impl Read for SockIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for SockIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a connection ended.
#[derive(Debug)]
enum Outcome {
    /// A probe's answer hard-matched (or reached nmap's size): its run is recorded.
    Decided,
    /// The peer closed (EOF).
    Closed,
    /// Reset or a write/read error.
    Reset(String),
    /// The connect failed.
    Failed(String),
    /// Its deadline passed.
    TimedOut,
    /// TLS handshake finished (TlsCheck).
    Handshaken,
    /// TLS could not be spoken.
    TlsFailed(String),
    /// Our own handshake reading finished.
    Legacy(legacy::ServerFlight),
}

enum Step {
    Continue,
    Finish(Outcome),
}

/// The errno values the engine tells apart (from the OS layer, which owns libc).
mod libc_like {
    pub use crate::sys::errno::{EINPROGRESS, EMFILE, ENFILE, ENOBUFS};
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
