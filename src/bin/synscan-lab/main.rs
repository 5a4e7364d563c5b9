//! synscan-lab: network-namespace lab shared by the end-to-end tests and `make demo`.
//!
//! Everything it creates lives in two namespaces named after `--name` (three with a wire: a
//! middle one relaying frames between them), addressed only from 198.18.0.0/24 (veth) and a
//! subnet of 198.19.0.0/16 (targets, on the target's lo).
#![forbid(unsafe_code)]

mod cli;
mod demo;
mod inject;
mod lab;
mod listen;
mod netns;
mod nft;
mod serve;
mod truth;
mod wire;

use clap::Parser;
use cli::{Cli, Cmd};

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Serve(a) => serve::run(&a),
        Cmd::Demo(a) => demo::run(&a),
        Cmd::Down(a) => match cli::validate_name(&a.name) {
            Ok(()) => {
                lab::down(&a.name);
                0
            }
            Err(e) => {
                eprintln!("synscan-lab: {e}");
                2
            }
        },
        Cmd::Counter(a) => {
            let n = netns::Names::new(&a.name);
            match cli::validate_name(&a.name)
                .and_then(|_| netns::rx_packets(&n.target_ns, &n.target_if))
            {
                Ok(c) => {
                    println!("{c}");
                    0
                }
                Err(e) => {
                    eprintln!("synscan-lab: {e}");
                    1
                }
            }
        }
        Cmd::Wire(a) => wire::run(&a),
        Cmd::Inject(a) => inject::run(&a),
        Cmd::Listen(a) => match cli::parse_ports(&a.ports).and_then(|p| listen::listen(&p)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("synscan-lab listen: {e}");
                1
            }
        },
    };
    std::process::exit(code);
}
