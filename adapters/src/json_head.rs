//! An incremental scan of a JSON object's top level, for reading a few fields (a pass-through
//! request's `model`, its output bound) from the head of a body that is still arriving: fed the
//! bytes read so far (the same buffer, grown), it resumes where it stopped, notes where each
//! wanted top-level value lies, and says when a field is complete — without parsing or copying
//! the values in between (strings are skipped with `memchr`). Only the top level is read.

use std::ops::Range;

/// Longest key compared (longer ones are never wanted).
const KEY_CAP: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Before the opening `{`.
    Start,
    /// Expecting a key, or the closing `}`.
    Key,
    InKey,
    Colon,
    Value,
    /// Inside a top-level string value.
    Str,
    /// A number, `true`, `false`, `null`.
    Scalar,
    /// Inside a top-level object or array value (`depth` deep).
    Nested,
    /// After a value: `,` or `}`.
    After,
    /// The object closed.
    Done,
    /// Not a JSON object (or not well-formed): nothing more is read.
    Invalid,
}

/// The scan's state between feeds.
#[derive(Debug, Clone)]
pub struct JsonHead {
    wanted: &'static [&'static str],
    st: St,
    pos: usize,
    key: Vec<u8>,
    key_long: bool,
    escape: bool,
    in_str: bool,
    depth: usize,
    start: usize,
    found: Vec<(&'static str, Range<usize>)>,
}

impl JsonHead {
    /// A scan noting the top-level values of the `wanted` keys.
    pub fn new(wanted: &'static [&'static str]) -> Self {
        JsonHead {
            wanted,
            st: St::Start,
            pos: 0,
            key: Vec::new(),
            key_long: false,
            escape: false,
            in_str: false,
            depth: 0,
            start: 0,
            found: Vec::new(),
        }
    }

    /// Whether `key`'s whole value has been seen.
    pub fn has(&self, key: &str) -> bool {
        self.found.iter().any(|(k, _)| *k == key)
    }

    /// Whether the scan can learn nothing more: the object closed, or the body is no object.
    pub fn finished(&self) -> bool {
        matches!(self.st, St::Done | St::Invalid)
    }

    /// Whether the body is not a JSON object (it names no fields).
    pub fn invalid(&self) -> bool {
        self.st == St::Invalid
    }

    /// A JSON object of the wanted fields seen so far, their values as they are in `buf` (the
    /// buffer the scan was fed).
    pub fn fields(&self, buf: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(b'{');
        for (i, (k, r)) in self.found.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(&buf[r.clone()]);
        }
        out.push(b'}');
        out
    }

    /// Scans `buf` (all bytes read so far; a longer buffer each call) from where the last call
    /// stopped.
    pub fn feed(&mut self, buf: &[u8]) {
        let mut i = self.pos;
        while i < buf.len() && !self.finished() {
            let b = buf[i];
            match self.st {
                St::Start => match b {
                    b'{' => self.st = St::Key,
                    _ if b.is_ascii_whitespace() => {}
                    _ => self.st = St::Invalid,
                },
                St::Key => match b {
                    b'"' => {
                        self.key.clear();
                        self.key_long = false;
                        self.st = St::InKey;
                    }
                    b'}' => self.st = St::Done,
                    _ if b.is_ascii_whitespace() => {}
                    _ => self.st = St::Invalid,
                },
                St::InKey => {
                    if self.escape {
                        self.escape = false;
                        self.push_key(b);
                    } else if b == b'\\' {
                        self.escape = true;
                        self.push_key(b);
                    } else if b == b'"' {
                        self.st = St::Colon;
                    } else {
                        self.push_key(b);
                    }
                }
                St::Colon => match b {
                    b':' => self.st = St::Value,
                    _ if b.is_ascii_whitespace() => {}
                    _ => self.st = St::Invalid,
                },
                St::Value => {
                    self.start = i;
                    match b {
                        b'"' => self.st = St::Str,
                        b'{' | b'[' => {
                            self.depth = 1;
                            self.in_str = false;
                            self.st = St::Nested;
                        }
                        b'}' | b']' | b',' | b':' => self.st = St::Invalid,
                        _ if b.is_ascii_whitespace() => {}
                        _ => self.st = St::Scalar,
                    }
                }
                St::Str => match self.string_end(buf, i) {
                    Some(end) => {
                        i = end;
                        self.value_ends(i + 1);
                        self.st = St::After;
                    }
                    None => {
                        i = buf.len();
                        continue;
                    }
                },
                St::Scalar => {
                    if b == b',' || b == b'}' || b.is_ascii_whitespace() {
                        self.value_ends(i);
                        self.st = St::After;
                        // The byte that ended the scalar is read again, after it.
                        continue;
                    }
                }
                St::Nested => {
                    if self.in_str {
                        match self.string_end(buf, i) {
                            Some(end) => {
                                i = end;
                                self.in_str = false;
                            }
                            None => {
                                i = buf.len();
                                continue;
                            }
                        }
                    } else {
                        match b {
                            b'"' => self.in_str = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    self.value_ends(i + 1);
                                    self.st = St::After;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                St::After => match b {
                    b',' => self.st = St::Key,
                    b'}' => self.st = St::Done,
                    _ if b.is_ascii_whitespace() => {}
                    _ => self.st = St::Invalid,
                },
                St::Done | St::Invalid => {}
            }
            i += 1;
        }
        self.pos = i.min(buf.len());
    }

    fn push_key(&mut self, b: u8) {
        if self.key.len() < KEY_CAP {
            self.key.push(b);
        } else {
            self.key_long = true;
        }
    }

    /// Inside a string at `i` (just past its opening quote, or further): the index of its
    /// closing quote, or `None` when `buf` ends first (the escape state is kept).
    fn string_end(&mut self, buf: &[u8], mut i: usize) -> Option<usize> {
        if self.escape {
            self.escape = false;
            i += 1;
        }
        loop {
            let at = i + memchr::memchr2(b'"', b'\\', buf.get(i..)?)?;
            if buf[at] == b'"' {
                return Some(at);
            }
            if at + 1 >= buf.len() {
                self.escape = true;
                return None;
            }
            i = at + 2;
        }
    }

    fn value_ends(&mut self, end: usize) {
        if self.key_long {
            return;
        }
        if let Some(k) = self.wanted.iter().find(|k| k.as_bytes() == self.key) {
            if !self.has(k) {
                self.found.push((k, self.start..end));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: &[&str] = &["model", "max_tokens", "metadata"];

    fn scan_split(body: &[u8], cut: usize) -> JsonHead {
        let mut s = JsonHead::new(WANTED);
        s.feed(&body[..cut]);
        s.feed(body);
        s
    }

    #[test]
    fn wanted_fields_at_every_split() {
        let body = br#" {"messages":[{"role":"user","content":"a \"quoted\" \\ {x} [y]"}], "model" : "gpt-4o", "n":1.5e3,"metadata":{"user_id":"u}"},"max_tokens":20 , "stream":true}"#;
        for cut in 0..=body.len() {
            let s = scan_split(body, cut);
            assert!(s.finished() && !s.invalid(), "cut {cut}");
            let v: serde_json::Value = serde_json::from_slice(&s.fields(body)).unwrap();
            assert_eq!(
                v,
                serde_json::json!({"model": "gpt-4o", "metadata": {"user_id": "u}"}, "max_tokens": 20}),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_field_is_known_once_its_value_is_complete() {
        let body = br#"{"model":"claude-x","messages":[{"content":"xxxxxxxx"}]}"#;
        let mut s = JsonHead::new(WANTED);
        s.feed(&body[..12]);
        assert!(!s.has("model"));
        s.feed(&body[..20]);
        assert!(s.has("model"));
        assert!(!s.finished());
        s.feed(body);
        assert!(s.finished());
        // A scalar ends at the byte after it: not known at the buffer's end.
        let mut s = JsonHead::new(WANTED);
        s.feed(br#"{"max_tokens":12"#);
        assert!(!s.has("max_tokens"));
        s.feed(br#"{"max_tokens":123}"#);
        assert_eq!(s.fields(br#"{"max_tokens":123}"#), br#"{"max_tokens":123}"#);
    }

    #[test]
    fn nested_keys_and_long_keys_are_not_top_level_fields() {
        let body = br#"{"messages":{"model":"inner"},"a_key_much_longer_than_thirty_two_bytes_model":"x","model":"outer"}"#;
        let s = scan_split(body, 7);
        assert_eq!(s.fields(body), br#"{"model":"outer"}"#);
    }

    #[test]
    fn not_an_object() {
        for body in [&b"[1,2]"[..], b"model=x", b"{\"a\" 1}", b"{,}"] {
            let mut s = JsonHead::new(WANTED);
            s.feed(body);
            assert!(s.invalid(), "{}", String::from_utf8_lossy(body));
            assert_eq!(s.fields(body), b"{}");
        }
        let mut s = JsonHead::new(WANTED);
        s.feed(b"   ");
        assert!(!s.finished());
    }
}
