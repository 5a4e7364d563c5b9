//! The integration suites, one module each, in one test binary.

mod e2e_accuracy;
mod e2e_cli;
mod e2e_follow;
mod e2e_hostile;
mod e2e_ipv6;
mod e2e_local;
mod e2e_metrics;
mod e2e_outputs;
mod e2e_resume;
mod e2e_resume_safety;
mod e2e_scan;
mod e2e_service;
mod e2e_trust;
mod e2e_watch;
mod hostile_frames;
mod lab_discovery;
mod lab_selftest;
mod lab_udp;
