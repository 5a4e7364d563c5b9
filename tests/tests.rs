//! synscan's integration tests in one binary (ripgrep's layout): the shared helpers in
//! `common` compile once. End-to-end suites drive the built binaries against namespace labs
//! and are `#[ignore = "needs root: ..."]`; `make test` runs them as root.

mod common;
mod suite;
