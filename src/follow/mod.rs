//! The follow-up layer: what runs behind an open port. Below the scan, above output and net.
//!
//! ```text
//! open ports -> engine (kernel connect(), epoll, many in flight, deadlines)
//!                 |-- probes: nmap-service-probes (or our own table) -> service, product, version
//!                 |-- tls: handshake accepting any certificate -> certificate and session facts
//!                 `-- http: status, Server, <title>, Location (plain and over TLS)
//!            -> one envelope per port (serde), every server byte escaped before it is shown
//! ```

pub mod builtin;
pub mod engine;
pub mod envelope;
pub mod escape;
pub mod http;
pub mod pattern;
pub mod plan;
pub mod probes;
pub mod stage;
pub mod template;
pub mod tls;

pub use engine::{Engine, FollowConfig, FollowTarget};
pub use envelope::FollowResult;
pub use plan::Intensity;
pub use probes::{MatchDetails, Probe, ProbeDb, ProbeId, Transport};
