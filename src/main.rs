//! The synscan binary: arguments -> config -> scan; error -> exit code.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use synscan::cli::{self, Command};
use synscan::error::{EXIT_INTERRUPTED, EXIT_RUNTIME};

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
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
        if signal_hook::flag::register_conditional_shutdown(
            sig,
            EXIT_INTERRUPTED,
            Arc::clone(&stop),
        )
        .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
        .is_err()
        {
            eprintln!("synscan: cannot install signal handlers");
            return EXIT_RUNTIME;
        }
    }
    let outcome = cli::parse(argv, &synscan::targets::system_resolver).and_then(|cmd| match cmd {
        Command::Print(text) => {
            print!("{text}");
            Ok(0)
        }
        Command::Scan(cfg) => synscan::scan::run(*cfg, &stop),
        Command::Watch(cmd) => synscan::watch::cli::run(cmd),
        Command::Local(args) => synscan::local::run(&args),
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("synscan: {e}");
            e.exit_code()
        }
    }
}
