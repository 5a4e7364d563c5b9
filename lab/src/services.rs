//! Real services from Debian packages, run in the foreground inside a lab's target namespace
//! (never by systemd; .ci/run installs them under a policy-rc.d that starts nothing), each on
//! its own address of 198.19.0.0/24 so corpus listeners can share their ports. Dropping
//! [`Services`] stops them all.

use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

/// `synscan-lab services`: the lab's real daemons in a target namespace (until stdin EOF).
#[derive(Debug, Clone, Args)]
pub struct ServicesArgs {
    /// The lab's target namespace.
    #[arg(long)]
    pub ns: String,
    /// Where their configuration, keys and certificate go (made if missing).
    #[arg(long)]
    pub dir: PathBuf,
}

/// `synscan-lab services`: prints "ready" once every daemon listens, stops them at stdin EOF.
pub fn run_services(a: &ServicesArgs) -> i32 {
    let services = match Services::start(&a.ns, &a.dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("synscan-lab services: {e}");
            return 1;
        }
    };
    let rc = crate::follow::serve_until_eof();
    drop(services);
    rc
}

/// One service of the lab: its name, address, port, and whether it speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Short name.
    pub name: &'static str,
    /// Address it listens on.
    pub ip: Ipv4Addr,
    /// Port.
    pub port: u16,
    /// TLS from the first byte.
    pub tls: bool,
}

/// The lab's services.
pub const SERVICES: &[Service] = &[
    Service {
        name: "sshd",
        ip: Ipv4Addr::new(198, 19, 0, 2),
        port: 22,
        tls: false,
    },
    Service {
        name: "nginx-http",
        ip: Ipv4Addr::new(198, 19, 0, 3),
        port: 80,
        tls: false,
    },
    Service {
        name: "nginx-https",
        ip: Ipv4Addr::new(198, 19, 0, 3),
        port: 443,
        tls: true,
    },
    Service {
        name: "vsftpd",
        ip: Ipv4Addr::new(198, 19, 0, 4),
        port: 21,
        tls: false,
    },
    Service {
        name: "exim",
        ip: Ipv4Addr::new(198, 19, 0, 5),
        port: 25,
        tls: false,
    },
    Service {
        name: "redis",
        ip: Ipv4Addr::new(198, 19, 0, 6),
        port: 6379,
        tls: false,
    },
    Service {
        name: "tls10-only",
        ip: Ipv4Addr::new(198, 19, 0, 7),
        port: 443,
        tls: true,
    },
];

/// The running daemons; dropping stops them.
pub struct Services {
    children: Vec<(&'static str, Child)>,
    /// Where their configuration, keys and certificate live.
    pub dir: PathBuf,
}

impl Drop for Services {
    /// Each daemon leads its own process group (nginx's workers, sshd's and exim's per-
    /// connection children): TERM the group, give it 3 s, then KILL what is left of it.
    fn drop(&mut self) {
        let signal_group = |sig: &str, pid: u32| {
            let _ = Command::new("kill")
                .args([sig, "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        };
        for (_, c) in &self.children {
            signal_group("-TERM", c.id());
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (_, c) in &mut self.children {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            signal_group("-KILL", c.id());
            let _ = c.wait();
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Makes a self-signed RSA certificate with openssl: `cert.pem`, `key.pem` in `dir`.
pub fn make_cert(dir: &Path, subject: &str, sans: &str) -> Result<(), String> {
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
            "cert.pem", "-days", "30", "-subj", subject, "-addext",
        ])
        .arg(format!("subjectAltName={sans}")))
}

impl Services {
    /// Starts every service in namespace `ns`, with files under `dir`; waits until each
    /// listens (or fails with the daemon named).
    pub fn start(ns: &str, dir: &Path) -> Result<Services, String> {
        let d = dir.display().to_string();
        std::fs::create_dir_all(dir.join("tmp")).map_err(|e| e.to_string())?;
        make_cert(
            dir,
            "/C=US/O=synscan lab/CN=lab.example",
            "DNS:lab.example,DNS:www.lab.example,IP:198.19.0.3",
        )?;
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join("hostkey")))?;
        // sshd insists on its privilege-separation directory; vsftpd on its empty chroot.
        for p in ["/run/sshd", "/var/run/vsftpd/empty"] {
            std::fs::create_dir_all(p).map_err(|e| format!("{p}: {e}"))?;
        }
        let files = [
            ("sshd_config", format!("Port 22\nListenAddress 198.19.0.2\nHostKey {d}/hostkey\nPidFile none\nUsePAM no\n")),
            ("nginx.conf", format!(
                "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\nevents {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n\
                 server {{ listen 198.19.0.3:80; location / {{ default_type text/html; return 200 \"<html><head><title>synscan lab</title></head><body>lab</body></html>\\n\"; }} }}\n\
                 server {{ listen 198.19.0.3:443 ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;\n\
                 location / {{ default_type text/html; return 200 \"<html><head><title>synscan lab tls</title></head></html>\\n\"; }} }}\n}}\n")),
            ("vsftpd.conf", "listen=YES\nlisten_address=198.19.0.4\nbackground=NO\nanonymous_enable=NO\nlocal_enable=NO\nsecure_chroot_dir=/var/run/vsftpd/empty\n".to_string()),
        ];
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))?;
        }
        let cmds: Vec<(&'static str, Vec<String>)> = vec![
            (
                "sshd",
                vec![
                    "/usr/sbin/sshd".into(),
                    "-D".into(),
                    "-e".into(),
                    "-f".into(),
                    format!("{d}/sshd_config"),
                ],
            ),
            (
                "nginx",
                vec!["nginx".into(), "-c".into(), format!("{d}/nginx.conf")],
            ),
            ("vsftpd", vec!["vsftpd".into(), format!("{d}/vsftpd.conf")]),
            (
                "exim",
                vec![
                    "exim4".into(),
                    "-bdf".into(),
                    "-oX".into(),
                    "198.19.0.5.25".into(),
                ],
            ),
            (
                "redis",
                vec![
                    "redis-server".into(),
                    "--bind".into(),
                    "198.19.0.6".into(),
                    "--port".into(),
                    "6379".into(),
                    "--daemonize".into(),
                    "no".into(),
                    "--save".into(),
                    "".into(),
                    "--appendonly".into(),
                    "no".into(),
                    "--protected-mode".into(),
                    "no".into(),
                    "--dir".into(),
                    d.clone(),
                ],
            ),
            (
                "tls10-only",
                vec![
                    "openssl".into(),
                    "s_server".into(),
                    "-accept".into(),
                    "198.19.0.7:443".into(),
                    "-cert".into(),
                    format!("{d}/cert.pem"),
                    "-key".into(),
                    format!("{d}/key.pem"),
                    "-tls1".into(),
                    "-cipher".into(),
                    "DEFAULT:@SECLEVEL=0".into(),
                    "-www".into(),
                    "-quiet".into(),
                ],
            ),
        ];
        let mut s = Services {
            children: Vec::new(),
            dir: dir.to_path_buf(),
        };
        for (name, argv) in cmds {
            let log = std::fs::File::create(dir.join(format!("{name}.log")))
                .map_err(|e| e.to_string())?;
            let child = Command::new("ip")
                .args(["netns", "exec", ns])
                .args(&argv)
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log)
                .spawn()
                .map_err(|e| format!("{name}: {e}"))?;
            s.children.push((name, child));
        }
        s.wait_listening(ns)?;
        Ok(s)
    }

    /// Waits until every service's address and port is listening in `ns`.
    fn wait_listening(&mut self, ns: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "ss", "-Hltn"])
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout);
            let missing: Vec<&Service> = SERVICES
                .iter()
                .filter(|sv| !text.contains(&format!("{}:{} ", sv.ip, sv.port)))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            for (name, c) in &mut self.children {
                if let Ok(Some(status)) = c.try_wait() {
                    let log = std::fs::read_to_string(self.dir.join(format!("{name}.log")))
                        .unwrap_or_default();
                    return Err(format!("{name} exited ({status}): {}", log.trim()));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after 15 s: {missing:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
