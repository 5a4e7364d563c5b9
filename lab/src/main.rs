//! synscan-lab: the lab's command line (see the library for what each command does).
#![forbid(unsafe_code)]

use clap::Parser;
use synscan_lab::cli::{self, Cli, Cmd};
use synscan_lab::{connect, demo, follow, inject, lab, listen, netns, serve, services, udp, wire};

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
        Cmd::UdpExpect => udp::run_expect(),
        Cmd::Inject(a) => inject::run(&a),
        Cmd::Connect(a) => connect::run(&a),
        Cmd::Follow(a) => follow::run_follow(&a),
        Cmd::Replay(a) => follow::run_replay(&a),
        Cmd::Hostile(a) => follow::run_hostile(&a),
        Cmd::Services(a) => services::run_services(&a),
        Cmd::Listen(a) => match cli::parse_ports(&a.ports)
            // Neither flag: IPv4, as before there was a choice.
            .and_then(|p| listen::listen(&p, a.ipv4 || !a.ipv6, a.ipv6))
        {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("synscan-lab listen: {e}");
                1
            }
        },
    };
    std::process::exit(code);
}
