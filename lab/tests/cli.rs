//! The lab binary refuses bad input before it creates anything (no root needed). Being an
//! integration test of this crate, it also makes `cargo test` build target/*/synscan-lab,
//! which the scanner's end-to-end tests run.

use std::process::Command;

fn lab(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synscan-lab"))
        .args(args)
        .output()
        .expect("run synscan-lab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_lab_name_is_a_usage_error() {
    let (code, err) = lab(&["down", "--name", "no/slashes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad lab name \"no/slashes\""), "{err}");
}

#[test]
fn prefix_outside_the_benchmark_block_is_refused() {
    let (code, err) = lab(&["serve", "--name", "tbad", "--prefix", "10.0.0.0/24"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("prefix 10.0.0.0/24 is outside 198.19.0.0/16"),
        "{err}"
    );
}
