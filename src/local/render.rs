//! Output of `synscan local`: a table like `ss -ltnp` (default), NDJSON (-oJ) and CSV.

use super::cli::LocalArgs;
use super::compare::Row;
use super::socket::Proto;
use super::Listener;
use crate::error::ScanError;
use crate::output::csv::field;
use crate::sys::fs::Claims;
use std::io::{self, Write};

type Sink = Box<dyn Write>;

/// Every destination asked for, by format.
pub struct Outputs {
    table: Vec<(String, Sink)>,
    json: Vec<(String, Sink)>,
    csv: Vec<(String, Sink)>,
}

/// An output opened by the one opener for outputs, not yet emptied.
struct Opened {
    flag: &'static str,
    path: String,
    out: Option<crate::sys::fs::Output>,
}

fn open(flag: &'static str, path: &str) -> Result<Opened, ScanError> {
    let file = std::path::Path::new(path);
    // "-" and /dev/stdout are both stdout: one name, so two of them are told apart.
    let out = match crate::sys::fs::inherited_fd(file, false) {
        Some(1) => None,
        _ => Some(crate::sys::fs::open_output(file, false).map_err(|e| {
            ScanError::usage(match e {
                crate::sys::fs::OpenError::Io(e) => format!(
                    "cannot create output file {path}: {e}; check the directory exists and is writable"
                ),
                refused => refused.line("output file", file),
            })
        })?),
    };
    Ok(Opened {
        flag,
        path: path.to_string(),
        out,
    })
}

/// Removes the files these outputs created (the run gives up before writing).
fn remove_created(opened: &[Opened]) {
    for o in opened {
        if let Some(place) = o.out.as_ref().and_then(|o| o.created.as_ref()) {
            let _ = place.remove();
        }
    }
}

/// One output on stdout at most, and no file twice (among the outputs and `claims`).
fn check_distinct(opened: &[Opened], claims: &mut Claims) -> Result<(), String> {
    let stdout: Vec<&Opened> = opened.iter().filter(|o| o.out.is_none()).collect();
    if let [a, b, ..] = stdout.as_slice() {
        return Err(format!(
            "{} {} and {} {} both write to stdout; send one of them to a file",
            a.flag, a.path, b.flag, b.path
        ));
    }
    for o in opened {
        if let Some(out) = &o.out {
            claims.claim(out.id, format!("{} {}", o.flag, o.path))?;
        }
    }
    Ok(())
}

fn write_err(name: &str, e: io::Error) -> ScanError {
    ScanError::runtime(format!("cannot write {name}: {e}"))
}

fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// "812/sshd,813/sshd", or "-" when nobody we can see holds it.
fn holders_text(l: &Listener) -> String {
    if l.holders.is_empty() {
        return "-".to_string();
    }
    l.holders
        .iter()
        .map(|p| format!("{}/{}", p.pid, p.name))
        .collect::<Vec<_>>()
        .join(",")
}

fn listener_json(l: &Listener) -> String {
    let s = &l.socket;
    let pids: Vec<String> = l.holders.iter().map(|p| p.pid.to_string()).collect();
    let names: Vec<String> = l.holders.iter().map(|p| quote(&p.name)).collect();
    let v6only = match s.v6only {
        Some(b) => b.to_string(),
        None => "null".to_string(),
    };
    format!(
        "\"proto\":\"{}\",\"ip\":\"{}\",\"port\":{},\"scope\":\"{}\",\"v6only\":{v6only},\"pids\":[{}],\"processes\":[{}],\"uid\":{},\"user\":{},\"service\":{}",
        s.proto.as_str(),
        s.addr,
        s.port,
        s.scope().as_str(),
        pids.join(","),
        names.join(","),
        s.uid,
        l.user.as_deref().map(quote).unwrap_or_else(|| "null".to_string()),
        l.service.as_deref().map(quote).unwrap_or_else(|| "null".to_string()),
    )
}

fn listener_csv(l: &Listener) -> String {
    let s = &l.socket;
    let pids: Vec<String> = l.holders.iter().map(|p| p.pid.to_string()).collect();
    let names: Vec<&str> = l.holders.iter().map(|p| p.name.as_str()).collect();
    format!(
        "{},{},{},{},{},{},{},{},{}",
        s.proto.as_str(),
        s.addr,
        s.port,
        s.scope().as_str(),
        field(&pids.join(" ")),
        field(&names.join(" ")),
        s.uid,
        field(l.user.as_deref().unwrap_or("")),
        field(l.service.as_deref().unwrap_or(""))
    )
}

/// A cell with control characters (a process may name itself "x\ntcp 0.0.0.0:22 ...")
/// shown as '?', so no row can forge another.
fn cell(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Rows of cells as aligned columns (two spaces apart, last column unpadded).
fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |x| x.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The listing as a table.
pub fn listeners_table(ls: &[Listener]) -> String {
    let mut rows = vec![vec![
        "PROTO".to_string(),
        "LOCAL ADDRESS:PORT".to_string(),
        "SCOPE".to_string(),
        "PID/PROCESS".to_string(),
        "USER".to_string(),
        "SERVICE".to_string(),
    ]];
    for l in ls {
        rows.push(vec![
            l.socket.proto.as_str().to_string(),
            format!("{}:{}", l.socket.addr_text(), l.socket.port),
            l.socket.scope().as_str().to_string(),
            holders_text(l),
            l.user.clone().unwrap_or_else(|| l.socket.uid.to_string()),
            l.service.clone().unwrap_or_else(|| "-".to_string()),
        ]);
    }
    table(&rows)
}

/// The audit as a table.
pub fn compare_table(rows: &[Row]) -> String {
    let mut cells = vec![vec![
        "PROTO".to_string(),
        "LOCAL ADDRESS:PORT".to_string(),
        "SCOPE".to_string(),
        "PID/PROCESS".to_string(),
        "FROM OUTSIDE".to_string(),
        "VERDICT".to_string(),
    ]];
    for r in rows {
        let (local, scope, holders) = match &r.listener {
            Some(l) => (
                format!("{}:{}", l.socket.addr_text(), l.socket.port),
                l.socket.scope().as_str().to_string(),
                holders_text(l),
            ),
            None => (format!("-:{}", r.port), "-".to_string(), "-".to_string()),
        };
        cells.push(vec![
            r.proto.as_str().to_string(),
            local,
            scope,
            holders,
            outside_text(r),
            r.verdict.as_str().to_string(),
        ]);
    }
    table(&cells)
}

/// "open@198.19.0.5" for up to three addresses, then "+N more".
fn outside_text(r: &Row) -> String {
    if r.outside.is_empty() {
        return "-".to_string();
    }
    let mut parts: Vec<String> = r
        .outside
        .iter()
        .take(3)
        .map(|(ip, s)| format!("{}@{ip}", s.as_str()))
        .collect();
    if r.outside.len() > 3 {
        parts.push(format!("+{} more", r.outside.len() - 3));
    }
    parts.join(",")
}

impl Outputs {
    /// Opens every output the flags name (the table on stdout when none is named), all
    /// before any is emptied: two on one file, two on stdout, or one on a file of `claims`
    /// (the --compare input) are refused first, leaving every file as it was.
    pub fn open(args: &LocalArgs, claims: &mut Claims) -> Result<Outputs, ScanError> {
        let mut opened: Vec<Opened> = Vec::new();
        for (flag, path) in [
            ("-oN", &args.output_normal),
            ("-oJ", &args.output_json),
            ("--output-filename", &args.output_filename),
        ] {
            let Some(path) = path else { continue };
            match open(flag, path) {
                Ok(o) => opened.push(o),
                Err(e) => {
                    remove_created(&opened);
                    return Err(e);
                }
            }
        }
        if opened.is_empty() {
            opened.push(open("-oN", "-")?);
        }
        if let Err(e) = check_distinct(&opened, claims) {
            remove_created(&opened);
            return Err(ScanError::usage(e));
        }
        let mut o = Outputs {
            table: Vec::new(),
            json: Vec::new(),
            csv: Vec::new(),
        };
        for x in opened {
            let sink: (String, Sink) = match x.out {
                None => ("stdout".to_string(), Box::new(io::stdout())),
                Some(out) => {
                    out.clear().map_err(|e| write_err(&x.path, e))?;
                    (x.path, Box::new(io::BufWriter::new(out.file)))
                }
            };
            match x.flag {
                "-oN" => o.table.push(sink),
                "-oJ" => o.json.push(sink),
                _ => o.csv.push(sink),
            }
        }
        Ok(o)
    }

    fn each(list: &mut [(String, Sink)], text: &str) -> Result<(), ScanError> {
        for (name, sink) in list.iter_mut() {
            sink.write_all(text.as_bytes())
                .map_err(|e| write_err(name, e))?;
        }
        Ok(())
    }

    /// Writes the listing.
    pub fn listeners(&mut self, ls: &[Listener]) -> Result<(), ScanError> {
        Outputs::each(&mut self.table, &listeners_table(ls))?;
        let json: String = ls
            .iter()
            .map(|l| format!("{{{}}}\n", listener_json(l)))
            .collect();
        Outputs::each(&mut self.json, &json)?;
        let mut csv = String::from("proto,ip,port,scope,pids,processes,uid,user,service\n");
        for l in ls {
            csv.push_str(&listener_csv(l));
            csv.push('\n');
        }
        Outputs::each(&mut self.csv, &csv)
    }

    /// Writes the audit.
    pub fn compare(&mut self, rows: &[Row]) -> Result<(), ScanError> {
        Outputs::each(&mut self.table, &compare_table(rows))?;
        let mut json = String::new();
        let mut csv =
            String::from("proto,ip,port,scope,pids,processes,uid,user,service,verdict,outside\n");
        for r in rows {
            let outside: Vec<String> = r
                .outside
                .iter()
                .map(|(ip, s)| format!("{{\"ip\":\"{ip}\",\"state\":\"{}\"}}", s.as_str()))
                .collect();
            let local = match &r.listener {
                Some(l) => listener_json(l),
                None => format!(
                    "\"proto\":\"{}\",\"ip\":null,\"port\":{}",
                    r.proto.as_str(),
                    r.port
                ),
            };
            json.push_str(&format!(
                "{{{local},\"verdict\":\"{}\",\"outside\":[{}]}}\n",
                r.verdict.as_str(),
                outside.join(",")
            ));
            let local_csv = match &r.listener {
                Some(l) => listener_csv(l),
                None => format!("{},,{},,,,,,", r.proto.as_str(), r.port),
            };
            csv.push_str(&format!(
                "{local_csv},{},{}\n",
                field(r.verdict.as_str()),
                field(&outside_text(r))
            ));
        }
        Outputs::each(&mut self.json, &json)?;
        Outputs::each(&mut self.csv, &csv)
    }

    /// Writes free ports: one a line in the table, `{"proto","port"}` in JSON.
    pub fn free(&mut self, proto: Proto, ports: &[u16]) -> Result<(), ScanError> {
        let lines: String = ports.iter().map(|p| format!("{p}\n")).collect();
        Outputs::each(&mut self.table, &lines)?;
        let json: String = ports
            .iter()
            .map(|p| format!("{{\"proto\":\"{}\",\"port\":{p}}}\n", proto.as_str()))
            .collect();
        Outputs::each(&mut self.json, &json)?;
        let mut csv = String::from("proto,port\n");
        for p in ports {
            csv.push_str(&format!("{},{p}\n", proto.as_str()));
        }
        Outputs::each(&mut self.csv, &csv)?;
        self.finish()
    }

    /// Flushes every output.
    pub fn finish(&mut self) -> Result<(), ScanError> {
        for (name, sink) in self
            .table
            .iter_mut()
            .chain(self.json.iter_mut())
            .chain(self.csv.iter_mut())
        {
            sink.flush().map_err(|e| write_err(name, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::owners::Process;
    use crate::local::socket::{tcp_state, LocalSocket};

    fn l() -> Listener {
        Listener {
            socket: LocalSocket {
                proto: Proto::Tcp,
                addr: "::".parse().unwrap(),
                port: 22,
                state: tcp_state::LISTEN,
                v6only: Some(false),
                uid: 0,
                inode: 9,
            },
            holders: vec![Process {
                pid: 812,
                name: "sshd".into(),
            }],
            user: Some("root".into()),
            service: Some("ssh".into()),
        }
    }

    #[test]
    fn table_json_csv() {
        assert_eq!(
            listeners_table(&[l()]),
            "PROTO  LOCAL ADDRESS:PORT  SCOPE  PID/PROCESS  USER  SERVICE\ntcp    *:22                all    812/sshd     root  ssh\n"
        );
        assert_eq!(
            listener_json(&l()),
            "\"proto\":\"tcp\",\"ip\":\"::\",\"port\":22,\"scope\":\"all\",\"v6only\":false,\"pids\":[812],\"processes\":[\"sshd\"],\"uid\":0,\"user\":\"root\",\"service\":\"ssh\""
        );
        assert_eq!(listener_csv(&l()), "tcp,::,22,all,812,sshd,0,root,ssh");
    }

    #[test]
    fn a_process_name_cannot_forge_rows() {
        let mut evil = l();
        evil.holders[0].name = "x\ntcp    0.0.0.0:1".into();
        let t = listeners_table(&[evil.clone()]);
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(t.contains("812/x?tcp    0.0.0.0:1"), "{t}");
        let csv = listener_csv(&evil);
        assert_eq!(csv, "tcp,::,22,all,812,\"x\ntcp    0.0.0.0:1\",0,root,ssh");
        let json = listener_json(&evil);
        assert!(!json.contains('\n'), "{json}");
    }
}
