//! Command-line front end: argv rewriting, clap syntax, and validation into a ScanConfig.

pub mod args;
pub mod argv;
pub mod config;

pub use config::{Rate, ScanConfig, ScanMode, SendPathChoice};

use crate::error::ScanError;
use clap::Parser;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run a scan.
    Scan(Box<ScanConfig>),
    /// Print this text (help or version) to stdout and exit 0.
    Print(String),
}

/// Parses the process arguments (argv[0] included) into a command.
pub fn parse(argv: Vec<String>, resolve: crate::targets::Resolver) -> Result<Command, ScanError> {
    let command_line = argv.join(" ");
    let rewritten = argv::rewrite(argv);
    let args = match args::Args::try_parse_from(rewritten) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    Ok(Command::Print(e.render().to_string()))
                }
                _ => {
                    let text = e.render().to_string();
                    let first = text
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("bad arguments")
                        .trim_start_matches("error: ");
                    Err(ScanError::Usage(format!("{first} (see synscan --help)")))
                }
            };
        }
    };
    Ok(Command::Scan(Box::new(config::build(
        &args,
        command_line,
        resolve,
    )?)))
}
