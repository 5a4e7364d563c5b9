//! What a web server says about itself: status, `Server`, `<title>` and redirect `Location`,
//! read from one bounded `GET /` answer (plain or over TLS).

use super::escape::escape_text;

/// The request sent: HTTP/1.1 with a Host header, closed after the answer.
pub fn request(host: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: synscan\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The facts of one answer; text fields escaped (see [`super::escape`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HttpInfo {
    /// Status code.
    pub status: u16,
    /// The `Server` header.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server: Option<String>,
    /// The page's `<title>`, white space collapsed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    /// The `Location` header of a redirect (3xx).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<String>,
}

/// Parses an answer (possibly cut short); None when it does not start with a status line.
pub fn parse(answer: &[u8]) -> Option<HttpInfo> {
    let line_end = find(answer, b"\r\n").or_else(|| find(answer, b"\n"))?;
    let status_line = &answer[..line_end];
    let rest = status_line.strip_prefix(b"HTTP/")?;
    let mut parts = rest.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let _version = parts.next()?;
    let code = parts.next()?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status: u16 = std::str::from_utf8(code).ok()?.parse().ok()?;
    let head_end = find(answer, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| find(answer, b"\n\n").map(|i| i + 2))
        .unwrap_or(answer.len());
    let head = &answer[line_end..head_end];
    let mut info = HttpInfo {
        status,
        ..HttpInfo::default()
    };
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"server") && info.server.is_none() {
            info.server = Some(escape_text(value));
        } else if name.eq_ignore_ascii_case(b"location")
            && (300..400).contains(&status)
            && info.location.is_none()
        {
            info.location = Some(escape_text(value));
        }
    }
    info.title = title(&answer[head_end..]);
    Some(info)
}

/// The first `<title>` element's text, white space collapsed; None when absent or empty.
fn title(body: &[u8]) -> Option<String> {
    let lower: Vec<u8> = body.iter().map(u8::to_ascii_lowercase).collect();
    let open = find(&lower, b"<title")?;
    let start = open + lower[open..].iter().position(|&b| b == b'>')? + 1;
    let end = find(&lower[start..], b"</title").map_or(body.len(), |e| start + e);
    let words: Vec<&[u8]> = body[start..end]
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let text = words.join(&b' ');
    (!text.is_empty()).then(|| escape_text(&text))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_server_title_location() {
        let a = b"HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.22.1\r\nLOCATION: https://x.example/\r\n\r\n<html><head><TITLE>\n  301  Moved\r\n</title>";
        assert_eq!(
            parse(a).unwrap(),
            HttpInfo {
                status: 301,
                server: Some("nginx/1.22.1".into()),
                title: Some("301 Moved".into()),
                location: Some("https://x.example/".into()),
            }
        );
    }

    #[test]
    fn location_only_on_redirects_and_title_may_be_cut() {
        let a = b"HTTP/1.0 200 OK\nLocation: /x\n\n<title lang=en>Half a ti";
        let i = parse(a).unwrap();
        assert_eq!(
            (i.status, i.location, i.title.as_deref()),
            (200, None, Some("Half a ti"))
        );
    }

    #[test]
    fn hostile_text_is_escaped() {
        let a = b"HTTP/1.1 200 OK\r\nServer: \x1b[2J\xff\r\n\r\n<title>\x1b]0;x\x07</title>";
        let i = parse(a).unwrap();
        assert_eq!(i.server.as_deref(), Some("\\x1b[2J\\xff"));
        assert_eq!(i.title.as_deref(), Some("\\x1b]0;x\\x07"));
    }

    #[test]
    fn not_http() {
        assert_eq!(parse(b"SSH-2.0-x\r\n"), None);
        assert_eq!(parse(b"HTTP/1.1 2000 x\r\n"), None);
        assert_eq!(parse(b""), None);
        assert!(request("198.19.0.1:80").starts_with(b"GET / HTTP/1.1\r\nHost: 198.19.0.1:80\r\n"));
    }
}
