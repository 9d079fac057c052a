//! Minimal HTTP/1.1 client on plain tokio TCP, for `bench-ttft` and the bench tests: requests
//! are written by hand on one keep-alive connection; responses are read with content-length,
//! chunked or close-delimited bodies; the time to the first SSE `data:` event is recorded.
//! Deliberately tiny (no TLS, no redirects, IP literals only): it measures, it is not a client.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request to send.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// Path with query, e.g. `/v1/chat/completions`.
    pub path: &'a str,
    /// Extra headers (`host`, `content-length` and `connection` are added).
    pub headers: &'a [(&'a str, &'a str)],
    /// Body bytes (may be empty).
    pub body: &'a [u8],
}

/// Durations measured from just before the request is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Until the response head (status line and headers) was read.
    pub head: Duration,
    /// Until the body first contained `data:` (an SSE event), if it ever did.
    pub first_data: Option<Duration>,
    /// Until the body first carried a token (non-empty content/text), if it ever did.
    pub first_token: Option<Duration>,
    /// Until the whole body was read.
    pub total: Duration,
}

/// A complete response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The decoded body (chunked framing removed).
    pub body: Vec<u8>,
    /// When things arrived.
    pub timings: Timings,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }

    /// The payloads of the body's SSE `data:` lines, in order (`[DONE]` included).
    pub fn sse_data(&self) -> Vec<&str> {
        sse_data(&self.body)
    }
}

/// The payloads of the SSE `data:` lines in `body`, in order.
pub fn sse_data(body: &[u8]) -> Vec<&str> {
    std::str::from_utf8(body)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect()
}

/// One keep-alive connection to `addr`, re-established when the server closes it.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    host: String,
    conn: Option<TcpStream>,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
    /// Whether the current exchange has received any byte.
    received: bool,
}

/// Body framing of a response.
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Tracks when the body first contains `data:` (an SSE event) and first carries a token
/// (a non-empty `"content":"…"` or `"text":"…"` string: a role-only preamble is not a token).
struct DataWatch {
    start: Instant,
    first: Option<Duration>,
    first_token: Option<Duration>,
}

/// Whether `hay` has `"content":"` or `"text":"` followed by a non-empty string.
fn has_token(hay: &[u8]) -> bool {
    [&b"\"content\":\""[..], &b"\"text\":\""[..]]
        .iter()
        .any(|needle| {
            hay.windows(needle.len())
                .enumerate()
                .any(|(i, w)| w == *needle && hay.get(i + needle.len()).is_some_and(|&c| c != b'"'))
        })
}

impl DataWatch {
    fn saw(&mut self, body: &[u8], new_from: usize) {
        if self.first.is_none() && find(&body[new_from.saturating_sub(4)..], b"data:").is_some() {
            self.first = Some(self.start.elapsed());
        }
        if self.first_token.is_none() && has_token(&body[new_from.saturating_sub(12)..]) {
            self.first_token = Some(self.start.elapsed());
        }
    }
}

impl Client {
    /// A client for `addr`; connects lazily.
    pub fn new(addr: SocketAddr) -> Self {
        Client {
            addr,
            host: addr.to_string(),
            conn: None,
            buf: Vec::with_capacity(16 * 1024),
            received: false,
        }
    }

    /// Parses `http://IP:PORT/path` into the address and the path (default `/`).
    pub fn parse_url(url: &str) -> io::Result<(SocketAddr, String)> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid(format!("only http:// URLs are supported: {url}")))?;
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let addr = authority
            .parse()
            .map_err(|e| invalid(format!("{authority}: {e} (use an IP literal)")))?;
        Ok((addr, path.to_owned()))
    }

    /// Sends `req` and reads the whole response. A reused connection that fails before any
    /// response byte arrives (the server closed it while idle) is replaced once.
    pub async fn send(&mut self, req: &Request<'_>) -> io::Result<Response> {
        let reused = self.conn.is_some();
        match self.send_once(req).await {
            Err(e) if reused && !self.received && is_stale(&e) => {
                self.conn = None;
                self.send_once(req).await
            }
            other => other,
        }
    }

    async fn send_once(&mut self, req: &Request<'_>) -> io::Result<Response> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.conn = Some(stream);
            self.buf.clear();
        }
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            req.method,
            req.path,
            self.host,
            req.body.len()
        );
        for (k, v) in req.headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        wire.extend_from_slice(req.body);

        self.received = false;
        let start = Instant::now();
        let result = self.exchange(&wire, req.method, start).await;
        if result.is_err() {
            self.conn = None;
            self.buf.clear();
        }
        result
    }

    async fn exchange(
        &mut self,
        wire: &[u8],
        method: &str,
        start: Instant,
    ) -> io::Result<Response> {
        self.stream()?.write_all(wire).await?;
        let (status, headers) = loop {
            let (status, headers) = self.read_head().await?;
            // Skip interim responses (100 Continue, 103 Early Hints).
            if !(100..200).contains(&status) || status == 101 {
                break (status, headers);
            }
        };
        let head_at = start.elapsed();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let chunked = get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let framing = if method == "HEAD" || status == 204 || status == 304 {
            Framing::None
        } else if chunked {
            Framing::Chunked
        } else if let Some(len) = get("content-length") {
            Framing::Length(
                len.trim()
                    .parse()
                    .map_err(|_| invalid("bad content-length"))?,
            )
        } else {
            Framing::UntilClose
        };
        let close = get("connection").is_some_and(|v| v.contains("close"))
            || matches!(framing, Framing::UntilClose);

        let mut watch = DataWatch {
            start,
            first: None,
            first_token: None,
        };
        let mut body = Vec::new();
        match framing {
            Framing::None => {}
            Framing::Length(n) => {
                self.fill(n).await?;
                body.extend(self.buf.drain(..n));
                watch.saw(&body, 0);
            }
            Framing::Chunked => self.read_chunked(&mut body, &mut watch).await?,
            Framing::UntilClose => loop {
                let from = body.len();
                body.append(&mut self.buf);
                watch.saw(&body, from);
                if self.read_more().await? == 0 {
                    break;
                }
            },
        }
        if close {
            self.conn = None;
            self.buf.clear();
        }
        Ok(Response {
            status,
            headers,
            body,
            timings: Timings {
                head: head_at,
                first_data: watch.first,
                first_token: watch.first_token,
                total: start.elapsed(),
            },
        })
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.conn
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))
    }

    /// Reads once into the buffer; returns the byte count (0 = EOF).
    async fn read_more(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream()?.read(&mut tmp).await?;
        self.buf.extend_from_slice(&tmp[..n]);
        self.received |= n > 0;
        Ok(n)
    }

    /// Reads until the buffer holds at least `n` bytes.
    async fn fill(&mut self, n: usize) -> io::Result<()> {
        while self.buf.len() < n {
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    /// Reads one CRLF-terminated line and consumes it (returned without the CRLF).
    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(invalid("response head over 64 KiB"));
            }
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok((status, headers))
    }

    async fn read_chunked(&mut self, body: &mut Vec<u8>, watch: &mut DataWatch) -> io::Result<()> {
        loop {
            let line = self.read_line().await?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(());
            }
            self.fill(size + 2).await?;
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(invalid("chunk not followed by CRLF"));
            }
            let from = body.len();
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            watch.saw(body, from);
        }
    }
}

/// Errors that mean "the idle keep-alive connection was already closed by the server".
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let (addr, path) = Client::parse_url("http://127.0.0.1:8080/v1/chat/completions").unwrap();
        assert_eq!(addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(path, "/v1/chat/completions");
        assert_eq!(Client::parse_url("http://127.0.0.1:1").unwrap().1, "/");
        assert!(Client::parse_url("https://127.0.0.1:1/").is_err());
        assert!(Client::parse_url("http://localhost:1/").is_err());
    }

    #[test]
    fn extracts_sse_data() {
        let body = b"data: {\"a\":1}\n\n: comment\nevent: x\ndata:[DONE]\n\n";
        assert_eq!(sse_data(body), vec!["{\"a\":1}", "[DONE]"]);
    }

    /// A server that answers with chunk framing split at awkward places, then closes.
    #[tokio::test]
    async fn decodes_chunked_split_across_reads_and_reconnects_after_close() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut req = vec![0u8; 4096];
                let _ = s.read(&mut req).await.unwrap();
                let parts: [&[u8]; 5] = [
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n6\r",
                    b"\ndata: \r\n3;ext=1\r\nabc",
                    b"\r\n",
                    b"0\r\nx-trailer: 1\r\n",
                    b"\r\n",
                ];
                for p in parts {
                    s.write_all(p).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        let mut client = Client::new(addr);
        let req = Request {
            method: "POST",
            path: "/x",
            headers: &[("content-type", "application/json")],
            body: b"{}",
        };
        for _ in 0..2 {
            let resp = client.send(&req).await.unwrap();
            assert_eq!(resp.status, 200);
            assert_eq!(resp.body, b"data: abc");
            let t = resp.timings;
            assert!(t.first_data.unwrap() <= t.total && t.head <= t.first_data.unwrap());
        }
        server.await.unwrap();
    }

    #[test]
    fn a_role_only_preamble_is_not_a_token() {
        assert!(!has_token(
            br#"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"#
        ));
        assert!(has_token(
            br#"data: {"choices":[{"delta":{"content":"Hi"}}]}"#
        ));
        assert!(has_token(br#"data: {"choices":[{"text":"Hi"}]}"#));
    }
}
