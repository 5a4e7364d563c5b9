//! The synscan binary: arguments -> config -> scan; error -> exit code.
//!
//! This is the one place an error becomes an exit code: from its kind (usage 2, privilege
//! 3, runtime 4); the scan itself returns 0, 1 (a check failed) or 130 (interrupted).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use synscan::cli::{self, Command};
use synscan::error::{ScanError, EXIT_INTERRUPTED};

fn main() {
    let code = match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("synscan: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run() -> Result<i32, ScanError> {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // The root --nmap hand-off helper, started by a scan before it gives up root.
    if argv.get(1).map(String::as_str) == Some(synscan::handoff::HELPER_ARG) {
        return synscan::handoff::helper_main(argv.get(2).map_or("", String::as_str));
    }
    let stop = Arc::new(AtomicBool::new(false));
    // First SIGINT/SIGTERM: stop sending, drain, flush. Second: exit at once.
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_INTERRUPTED, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(|_| ScanError::runtime("cannot install signal handlers"))?;
    }
    match cli::parse(argv, &synscan::targets::system_resolver)? {
        Command::Print(text) => {
            print!("{text}");
            Ok(0)
        }
        Command::Scan(cfg) => synscan::scan::run(*cfg, &stop),
        Command::Watch(cmd) => synscan::watch::cli::run(cmd),
        Command::Local(args) => synscan::local::run(&args),
    }
}
