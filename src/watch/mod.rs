//! Watching an exposed surface over time: comparing results ([`diff`]), checking them
//! against an exposure policy ([`policy`]), one report from many files ([`merge`]),
//! Prometheus metrics ([`metrics`], checked by [`exposition`]), and the scan-time checks `--baseline`, `--policy`,
//! `--expect` and `--metrics-file` ([`scan`]). Result files are read through
//! [`crate::results`]; files the checks trust go through [`input`].

pub mod cli;
pub(crate) mod diff;
pub(crate) mod exposition;
pub(crate) mod input;
pub(crate) mod merge;
pub(crate) mod metrics;
pub(crate) mod policy;
pub(crate) mod policy_services;
pub(crate) mod scan;
pub(crate) mod versions;

#[cfg(test)]
mod annotate_tests;
