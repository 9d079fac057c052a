//! A resumable `multipart/form-data` scanner over the head of an upload (RFC 7578 / RFC 2046):
//! where each part starts, its name, whether it is a file, and where a complete part's value
//! lies in the buffer — so the gateway can read the text fields that precede the file (`model`,
//! `size`, `n`, …) and rewrite `model` in place, without holding or parsing the file itself.
//! Pure: no I/O, no allocation per byte (the delimiter is searched with `memchr::memmem`).

use std::ops::Range;

/// Largest header block of one part.
const MAX_PART_HEADERS: usize = 16 * 1024;

/// A malformed multipart body (answered 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// One part whose headers were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The `name` of its `Content-Disposition`.
    pub name: String,
    /// A file part (`filename=` present).
    pub filename: Option<String>,
    /// Where its value starts in the buffer.
    pub start: usize,
    /// Where its value lies in the buffer; `None` while its end has not been read.
    pub value: Option<Range<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Right after a delimiter: `--` (the close) or CRLF (a part) follows.
    AfterDelimiter,
    /// In a part's header block.
    Headers,
    /// In a part's value, which starts at `start`; the delimiter is searched from `from`.
    Value { start: usize, from: usize },
    /// After the close delimiter.
    Closed,
}

/// Scans a growing buffer (the same bytes each call, with more appended) part by part.
#[derive(Debug, Clone)]
pub struct Scanner {
    /// `\r\n--{boundary}`.
    delimiter: Vec<u8>,
    pos: usize,
    state: State,
    /// Every part whose headers were read, in order.
    pub parts: Vec<Part>,
    /// Where the first delimiter (`--{boundary}`) starts, once found.
    pub first: Option<usize>,
}

impl Scanner {
    pub fn new(boundary: &str) -> Scanner {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Scanner {
            delimiter,
            pos: 0,
            state: State::Preamble,
            parts: Vec::new(),
            first: None,
        }
    }

    /// Whether the close delimiter was read.
    pub fn closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The value of the complete text part `name` (the first), if read.
    pub fn text<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b str> {
        self.field(name)
            .and_then(|r| std::str::from_utf8(&buf[r]).ok())
    }

    /// Where the value of the complete text part `name` (the first) lies.
    pub fn field(&self, name: &str) -> Option<Range<usize>> {
        self.parts
            .iter()
            .find(|p| p.filename.is_none() && p.name == name)
            .and_then(|p| p.value.clone())
    }

    /// Total length of the complete text parts' values (what a token estimate reads).
    pub fn text_bytes(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| p.filename.is_none())
            .filter_map(|p| p.value.as_ref().map(|r| r.len()))
            .sum()
    }

    /// The first file part and where its bytes start in the buffer, once its headers are read.
    pub fn file(&self) -> Option<&Part> {
        self.parts.iter().find(|p| p.filename.is_some())
    }

    /// Scans what `buf` holds past the last call.
    pub fn advance(&mut self, buf: &[u8]) -> Result<(), Malformed> {
        loop {
            match self.state {
                State::Closed => return Ok(()),
                State::Preamble => {
                    let first = &self.delimiter[2..];
                    if buf.len() < first.len() {
                        return Ok(());
                    }
                    if buf.starts_with(first) {
                        self.first = Some(0);
                        self.pos = first.len();
                    } else {
                        match memchr::memmem::find(&buf[self.pos..], &self.delimiter) {
                            Some(i) => {
                                self.first = Some(self.pos + i + 2);
                                self.pos += i + self.delimiter.len();
                            }
                            None => {
                                self.pos = buf.len().saturating_sub(self.delimiter.len());
                                if buf.len() > MAX_PART_HEADERS {
                                    return Err(Malformed(
                                        "the multipart body does not start with its boundary"
                                            .into(),
                                    ));
                                }
                                return Ok(());
                            }
                        }
                    }
                    self.state = State::AfterDelimiter;
                }
                State::AfterDelimiter => {
                    let rest = &buf[self.pos..];
                    if rest.len() < 2 {
                        return Ok(());
                    }
                    if rest.starts_with(b"--") {
                        self.state = State::Closed;
                        return Ok(());
                    }
                    // Transport padding (spaces, tabs) may follow a delimiter.
                    let pad = rest
                        .iter()
                        .take_while(|b| **b == b' ' || **b == b'\t')
                        .count();
                    if rest.len() < pad + 2 {
                        return Ok(());
                    }
                    if &rest[pad..pad + 2] != b"\r\n" {
                        return Err(Malformed(
                            "a multipart boundary is not followed by CRLF".into(),
                        ));
                    }
                    self.pos += pad + 2;
                    self.state = State::Headers;
                }
                State::Headers => {
                    let rest = &buf[self.pos..];
                    // A part without headers: its value starts at once.
                    let (block, len) = if rest.starts_with(b"\r\n") {
                        (&rest[..0], 2)
                    } else {
                        match memchr::memmem::find(rest, b"\r\n\r\n") {
                            Some(i) => (&rest[..i], i + 4),
                            None if rest.len() > MAX_PART_HEADERS => {
                                return Err(Malformed(format!(
                                    "a multipart part's headers are longer than {MAX_PART_HEADERS} bytes"
                                )))
                            }
                            None => return Ok(()),
                        }
                    };
                    let mut part = part_of(block)?;
                    self.pos += len;
                    part.start = self.pos;
                    self.parts.push(part);
                    self.state = State::Value {
                        start: self.pos,
                        from: self.pos,
                    };
                }
                State::Value { start, from } => {
                    match memchr::memmem::find(&buf[from..], &self.delimiter) {
                        Some(i) => {
                            let end = from + i;
                            if let Some(p) = self.parts.last_mut() {
                                p.value = Some(start..end);
                            }
                            self.pos = end + self.delimiter.len();
                            self.state = State::AfterDelimiter;
                        }
                        None => {
                            // The delimiter may straddle the next read: keep its length back.
                            let from = buf
                                .len()
                                .saturating_sub(self.delimiter.len() - 1)
                                .max(start);
                            self.state = State::Value { start, from };
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// A part from its header block: the name and filename of its `Content-Disposition`.
fn part_of(block: &[u8]) -> Result<Part, Malformed> {
    let text = std::str::from_utf8(block)
        .map_err(|_| Malformed("a multipart part's headers are not UTF-8".into()))?;
    let disposition = text
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
        .map(|(_, v)| v.trim())
        .ok_or_else(|| Malformed("a multipart part has no Content-Disposition".into()))?;
    let name = param(disposition, "name")
        .ok_or_else(|| Malformed("a multipart part has no name".into()))?;
    Ok(Part {
        name,
        filename: param(disposition, "filename"),
        start: 0,
        value: None,
    })
}

/// A parameter of a header value (`form-data; name="file"; filename="a b.wav"`), quoted or not.
fn param(value: &str, key: &str) -> Option<String> {
    let mut rest = value;
    while let Some(i) = rest.find(';') {
        rest = rest[i + 1..].trim_start();
        let Some((k, v)) = rest.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case(key) {
            continue;
        }
        let v = v.trim_start();
        if let Some(quoted) = v.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => return Some(out),
                    c => out.push(c),
                }
            }
            return Some(out);
        }
        return Some(v.split(';').next().unwrap_or("").trim().to_string());
    }
    None
}

/// The boundary of a `multipart/form-data` content type; `None` for any other type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, _) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    param(content_type, "boundary").filter(|b| !b.is_empty() && b.len() <= 70)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Vec<u8> {
        b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n\
          --XyZ\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n\
          --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\n\
          Content-Type: audio/wav\r\n\r\nRIFF\r\n--Xy-not-the-boundary\r\n--XyZ--\r\n"
            .to_vec()
    }

    #[test]
    fn parts_are_found_whatever_the_read_sizes() {
        let b = body();
        for step in 1..b.len() {
            let mut s = Scanner::new("XyZ");
            let mut end = 0;
            while end < b.len() {
                end = (end + step).min(b.len());
                s.advance(&b[..end]).unwrap();
            }
            assert!(s.closed(), "step {step}");
            assert_eq!(s.text(&b, "model"), Some("whisper"), "step {step}");
            assert_eq!(s.text(&b, "response_format"), Some("verbose_json"));
            let f = s.file().unwrap();
            assert_eq!(f.filename.as_deref(), Some("a \"b\".wav"));
            let v = f.value.clone().unwrap();
            assert_eq!(&b[v], b"RIFF\r\n--Xy-not-the-boundary");
            assert_eq!(s.text_bytes(), "whisper".len() + "verbose_json".len());
        }
    }

    #[test]
    fn a_file_part_is_known_before_its_end() {
        let b = body();
        let cut = memchr::memmem::find(&b, b"RIFF").unwrap() + 2;
        let mut s = Scanner::new("XyZ");
        s.advance(&b[..cut]).unwrap();
        assert!(!s.closed());
        let f = s.file().unwrap();
        assert_eq!(f.name, "file");
        assert_eq!(f.value, None);
        assert_eq!(&b[f.start..cut], b"RI");
        assert_eq!(s.text(&b, "model"), Some("whisper"));
    }

    #[test]
    fn preamble_and_malformed_bodies() {
        let mut b = b"ignored preamble".to_vec();
        b.extend_from_slice(b"\r\n");
        b.extend_from_slice(&body());
        let mut s = Scanner::new("XyZ");
        s.advance(&b).unwrap();
        assert_eq!(s.text(&b, "model"), Some("whisper"));
        assert_eq!(s.first, Some("ignored preamble\r\n".len()));
        let bad = b"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--";
        assert!(Scanner::new("XyZ").advance(bad).is_err());
        let bad = b"--XyZ junk";
        assert!(Scanner::new("XyZ").advance(bad).is_err());
    }

    #[test]
    fn boundaries_of_content_types() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc123").as_deref(),
            Some("abc123")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
