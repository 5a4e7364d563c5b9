//! synscan: a raw-packet TCP SYN (half-open) port scanner for Linux.
//!
//! ```text
//! targets + ports -> permutation (keyed, shardable) -> sender thread -> raw socket
//!                                                        ^  (template + cookie, rate limit, batches)
//!                                       retries          |
//! results <- writers <- probe table (in-flight window: tries, deadlines, states)
//!                          ^
//!                          +-- receiver thread <- capture (AF_PACKET + BPF)
//!                                 (parse, validate cookie, classify)
//! ```
#![deny(unsafe_code)]

pub mod cli;
pub mod error;
pub mod follow;
pub mod handoff;
pub mod local;
pub mod model;
pub mod net;
pub mod output;
pub mod payload;
pub mod probe;
pub mod recv;
pub mod results;
pub mod scan;
pub mod send;
pub mod state;
pub mod sys;
pub mod targets;
pub mod watch;
pub mod wire;
