//! Watching an exposed surface over time: comparing results ([`diff`]), checking them
//! against an exposure policy ([`policy`]), one report from many files ([`merge`]),
//! Prometheus metrics ([`metrics`]), and the scan-time checks `--baseline`, `--policy`,
//! `--expect` and `--metrics-file` ([`scan`]). Result files are read through
//! [`crate::results`]; files the checks trust go through [`input`].

pub mod cli;
pub mod diff;
pub mod input;
pub mod merge;
pub mod metrics;
pub mod policy;
pub mod scan;

#[cfg(test)]
mod annotate_tests;
