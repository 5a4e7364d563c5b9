//! synscan-lab: network-namespace lab shared by the end-to-end tests and `make demo`.
//!
//! Everything it creates lives in two namespaces named after `--name` (three with a wire: a
//! middle one relaying frames between them), addressed only from 198.18.0.0/24 (veth) and a
//! subnet of 198.19.0.0/16 (targets, on the target's lo); with `--family 6` or `mixed` also
//! 2001:2:0:18::/64 (veth) and 2001:2:0:19::/64 (targets). The OS calls it needs (packet
//! sockets, socket options) come from synscan's OS layer, so this crate has no unsafe code.
//! The tests read a raised lab through [`truth::Truth`], the line `serve` prints.
#![forbid(unsafe_code)]

pub mod answers;
pub mod cli;
pub mod connect;
pub mod demo;
pub mod discovery;
pub mod follow;
pub mod inject;
pub mod lab;
pub mod listen;
pub mod netns;
pub mod nft;
pub mod serve;
pub mod services;
pub mod truth;
pub mod udp;
pub mod udp_daemons;
pub mod udp_truth;
pub mod wire;
