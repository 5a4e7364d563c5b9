//! Our own small identification table, for machines without nmap: it names SSH, HTTP, TLS,
//! SMTP, FTP, POP3, IMAP, Redis, MySQL, PostgreSQL and RDP, with product and version where the
//! banner says them. Written by this project in nmap-service-probes format (service names as
//! nmap's) and read by the same reader, so the engine treats both alike.

use super::probes::ProbeDb;

/// The table's text.
pub const TABLE: &str = r#"# synscan's built-in service table (used when nmap-service-probes is not installed).
Probe TCP NULL q||
totalwaitms 6000
tcpwrappedms 3000
match ssh m|^SSH-([\d.]+)-OpenSSH_([\w.]+)(?: ([^\r\n]+))?\r?\n| p/OpenSSH/ v/$2/ i/protocol $1/ cpe:/a:openbsd:openssh:$2/
match ssh m|^SSH-([\d.]+)-dropbear_([\w.]+)\r?\n| p/Dropbear sshd/ v/$2/ i/protocol $1/ cpe:/a:matt_johnston:dropbear_ssh_server:$2/
match ssh m|^SSH-([\d.]+)-([^\s\r\n]+)| p/$2/ i/protocol $1/
match ftp m|^220 \(vsFTPd ([\w.]+)\)\r\n| p/vsftpd/ v/$1/ o/Unix/ cpe:/a:vsftpd:vsftpd:$1/
match ftp m|^220[- ]ProFTPD ([\w.]+) Server| p/ProFTPD/ v/$1/ cpe:/a:proftpd:proftpd:$1/
match ftp m|^220[- ].*Pure-FTPd|s p/Pure-FTPd/
match ftp m|^220[- ][^\r\n]*FTP|i
match smtp m|^220 ([\w.-]+) ESMTP Exim ([\d.]+)[ \r]| p/Exim smtpd/ v/$2/ h/$1/ cpe:/a:exim:exim:$2/
match smtp m|^220 ([\w.-]+) ESMTP Postfix| p/Postfix smtpd/ h/$1/ cpe:/a:postfix:postfix/
match smtp m|^220[- ]([\w.-]+) [^\r\n]*E?SMTP|i h/$1/
match pop3 m|^\+OK Dovecot| p/Dovecot pop3d/ cpe:/a:dovecot:dovecot/
match pop3 m|^\+OK[ \r]|
match imap m|^\* OK \[CAPABILITY [^\]]*\] Dovecot| p/Dovecot imapd/ cpe:/a:dovecot:dovecot/
match imap m|^\* OK[ \[][^\r\n]*IMAP|i
match mysql m|^.\0\0\0\x0a(\d[\w.]*-MariaDB)[^\0]*\0|s p/MariaDB/ v/$1/ cpe:/a:mariadb:mariadb:$1/
match mysql m|^.\0\0\0\x0a(\d[\w.-]*)\0|s p/MySQL/ v/$1/ cpe:/a:mysql:mysql:$1/
match mysql m|^.\0\0\0\xffj\x04Host '[^']*' is not allowed|s p/MySQL/ i/unauthorized/
match redis m|^-DENIED Redis is running in protected mode| p/Redis key-value store/ i/protected mode/
softmatch ssl m|^\x16\x03[\0-\x04]..\x02|s

Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
ports 80-85,8000,8008,8080,8081,8888
sslports 443,4443,8443
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: nginx(?:/([\d.]+))?|si p/nginx/ v/$1/ cpe:/a:igor_sysoev:nginx:$1/
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: Apache/([\d.]+)(?: \(([^)\r\n]+)\))?|si p/Apache httpd/ v/$1/ i/$2/ cpe:/a:apache:http_server:$1/
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: lighttpd/([\d.]+)|si p/lighttpd/ v/$1/ cpe:/a:lighttpd:lighttpd:$1/
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: Microsoft-IIS/([\d.]+)|si p/Microsoft IIS httpd/ v/$1/ o/Windows/ cpe:/a:microsoft:internet_information_services:$1/
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: ([^\r\n/]+)/([\w.-]+)|si p/$1/ v/$2/
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: ([^\r\n]+)|si p/$1/
match http m|^HTTP/1\.[01] \d\d\d |

Probe TCP TLSHello q|\x16\x03\x01\x00\x74\x01\x00\x00\x70\x03\x03\x53\x59\x4e\x53\x43\x41\x4e\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x00\x00\x1a\xc0\x2f\xc0\x2b\xc0\x30\xc0\x2c\xc0\x13\xc0\x09\xc0\x14\xc0\x0a\x00\x9c\x00\x9d\x00\x2f\x00\x35\x00\x0a\x01\x00\x00\x2d\x00\x0a\x00\x08\x00\x06\x00\x17\x00\x18\x00\x19\x00\x0b\x00\x02\x01\x00\x00\x0d\x00\x12\x00\x10\x04\x01\x04\x03\x05\x01\x05\x03\x06\x01\x06\x03\x02\x01\x02\x03\xff\x01\x00\x01\x00|
rarity 1
ports 443,465,636,853,989,990,992,993,994,995,4443,5061,8443
match ssl m|^\x16\x03[\0-\x04]..\x02|s
match ssl m|^\x15\x03[\0-\x04]\0\x02|s

Probe TCP RedisInfo q|*1\r\n$4\r\nINFO\r\n|
rarity 2
ports 6379,6380
match redis m|^\$\d+\r\n# Server\r\nredis_version:([\d.]+)\r\n| p/Redis key-value store/ v/$1/ cpe:/a:redis:redis:$1/
match redis m|^-NOAUTH | p/Redis key-value store/
match redis m|^-ERR [^\r\n]*\r\n$| p/Redis key-value store/

Probe TCP PostgresStartup q|\0\0\0\x1f\0\x03\0\0user\0synscan\0database\0x\0\0|
rarity 2
ports 5432,5433
match postgresql m|^R\0\0\0[\x08\x0c\x17]\0\0\0[\x03\x05\x0a]| p/PostgreSQL DB/ cpe:/a:postgresql:postgresql/
match postgresql m/^E\0\0..S(?:FATAL|ERROR)/s p/PostgreSQL DB/ cpe:/a:postgresql:postgresql/

Probe TCP RDPConnect q|\x03\0\0\x13\x0e\xe0\0\0\0\0\0\x01\0\x08\0\x03\0\0\0|
rarity 2
ports 3389
match ms-wbt-server m|^\x03\0\0.\x0e\xd0|s p/Microsoft Terminal Services/
"#;

/// The built-in table, parsed.
pub fn table() -> ProbeDb {
    // The text is ours and covered by the test below, so a parse failure is a build defect;
    // still no panic: an empty-but-valid table is the fallback.
    ProbeDb::parse(TABLE.as_bytes(), "built-in").unwrap_or_else(|_| {
        ProbeDb::parse(b"Probe TCP NULL q||\n", "built-in").expect("one-line table parses")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Named = (String, Option<String>, Option<String>);

    fn name(db: &ProbeDb, probe: &str, answer: &[u8]) -> Named {
        let id = db.probes().iter().position(|p| p.name == probe).unwrap();
        let m = db.match_answer(id, answer).unwrap_or_default();
        (m.service, m.product, m.version)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn every_line_reads() {
        let db = table();
        assert_eq!(db.source(), "built-in");
        assert_eq!(db.failures(), &[]);
        assert_eq!(db.probes().len(), 6);
    }

    #[test]
    fn names_the_common_services() {
        let db = table();
        type Case<'a> = (&'a str, &'a [u8], (&'a str, Option<String>, Option<String>));
        let cases: &[Case] = &[
            (
                "NULL",
                b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n",
                ("ssh", s("OpenSSH"), s("9.2p1")),
            ),
            (
                "NULL",
                b"220 (vsFTPd 3.0.3)\r\n",
                ("ftp", s("vsftpd"), s("3.0.3")),
            ),
            (
                "NULL",
                b"220 mail.example ESMTP Exim 4.96 Mon, 07 Dec 2026 10:00:00 +0000\r\n",
                ("smtp", s("Exim smtpd"), s("4.96")),
            ),
            (
                "NULL",
                b"220 mx.example ESMTP Postfix (Debian/GNU)\r\n",
                ("smtp", s("Postfix smtpd"), None),
            ),
            (
                "NULL",
                b"+OK Dovecot (Debian) ready.\r\n",
                ("pop3", s("Dovecot pop3d"), None),
            ),
            (
                "NULL",
                b"* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot (Debian) ready.\r\n",
                ("imap", s("Dovecot imapd"), None),
            ),
            (
                "NULL",
                b"J\0\0\0\x0a8.0.36\0\x08\0\0\0abc",
                ("mysql", s("MySQL"), s("8.0.36")),
            ),
            (
                "NULL",
                b"Z\0\0\0\x0a10.11.6-MariaDB-0+deb12u1\0",
                ("mysql", s("MariaDB"), s("10.11.6-MariaDB")),
            ),
            (
                "GetRequest",
                b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n",
                ("http", s("nginx"), s("1.22.1")),
            ),
            (
                "GetRequest",
                b"HTTP/1.1 403 Forbidden\r\nDate: x\r\nServer: Apache/2.4.62 (Debian)\r\n\r\n",
                ("http", s("Apache httpd"), s("2.4.62")),
            ),
            (
                "GetRequest",
                b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n\r\n",
                ("http", s("SimpleHTTP"), s("0.6")),
            ),
            (
                "TLSHello",
                b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03",
                ("ssl", None, None),
            ),
            (
                "TLSHello",
                b"\x15\x03\x01\x00\x02\x02\x46",
                ("ssl", None, None),
            ),
            (
                "RedisInfo",
                b"$3000\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n",
                ("redis", s("Redis key-value store"), s("7.0.15")),
            ),
            (
                "RedisInfo",
                b"-NOAUTH Authentication required.\r\n",
                ("redis", s("Redis key-value store"), None),
            ),
            (
                "PostgresStartup",
                b"R\0\0\0\x0c\0\0\0\x05salt",
                ("postgresql", s("PostgreSQL DB"), None),
            ),
            (
                "PostgresStartup",
                b"E\0\0\0\x60SFATAL\0VFATAL\0C28000\0",
                ("postgresql", s("PostgreSQL DB"), None),
            ),
            (
                "RDPConnect",
                b"\x03\0\0\x13\x0e\xd0\0\0\x12\x34\0\x02\x0f\x08\0\x02\0\0\0",
                ("ms-wbt-server", s("Microsoft Terminal Services"), None),
            ),
        ];
        for (probe, answer, want) in cases {
            let got = name(&db, probe, answer);
            assert_eq!(
                (got.0.as_str(), got.1, got.2),
                want.clone(),
                "{probe} {answer:?}"
            );
        }
    }
}
