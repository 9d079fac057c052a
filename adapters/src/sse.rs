//! Incremental Server-Sent Events framing: split an arbitrarily chunked byte stream into whole
//! events. Used to relay and translate streams event by event.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

/// Splits a byte stream into complete SSE events (each including its terminating blank line).
/// Accepts `\n\n`, `\r\n\r\n` and `\r\r` terminators, in any chunking.
#[derive(Debug, Default)]
pub struct SseSplitter {
    buf: BytesMut,
    /// Bytes of `buf` already scanned without finding a terminator.
    scanned: usize,
}

impl SseSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes; call [`SseSplitter::next_event`] until it returns `None`.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete event, if one is buffered.
    pub fn next_event(&mut self) -> Option<Bytes> {
        // Back up by up to 3 bytes so a terminator split across pushes is still found.
        let start = self.scanned.saturating_sub(3);
        match find_terminator(&self.buf[start..]) {
            Some(end) => {
                self.scanned = 0;
                Some(self.buf.split_to(start + end).freeze())
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// Whatever is left after the stream ended without a final blank line.
    pub fn take_remainder(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        if self.buf.is_empty() {
            None
        } else {
            Some(self.buf.split().freeze())
        }
    }

    /// Bytes buffered and not yet returned as an event.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Index just past the first event terminator in `b`.
fn find_terminator(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                if b.get(i + 1) == Some(&b'\n') {
                    return Some(i + 2);
                }
                if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                    // "\n\r\n": the tail of "\r\n\r\n"
                    return Some(i + 3);
                }
            }
            b'\r' if b.get(i + 1) == Some(&b'\r') => return Some(i + 2),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The `data:` payload of one event (multiple `data:` lines joined with `\n`), or `None` if the
/// event has no data (a comment or keep-alive). Borrows when there is a single `data:` line.
pub fn event_data(event: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut out: Option<Cow<'_, [u8]>> = None;
    for line in event.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            out = Some(match out {
                None => Cow::Borrowed(rest),
                Some(prev) => {
                    let mut joined = prev.into_owned();
                    joined.push(b'\n');
                    joined.extend_from_slice(rest);
                    Cow::Owned(joined)
                }
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\nevent: x\ndata: y\ndata: z\n\ndata: [DONE]\n\n";

    fn split_all(chunks: &[&[u8]]) -> Vec<Bytes> {
        let mut s = SseSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c);
            while let Some(e) = s.next_event() {
                out.push(e);
            }
        }
        assert!(s.take_remainder().is_none());
        out
    }

    #[test]
    fn same_events_at_every_split_point() {
        let whole = split_all(&[STREAM]);
        assert_eq!(whole.len(), 5);
        assert_eq!(&*event_data(&whole[0]).unwrap(), b"{\"a\":1}");
        assert_eq!(event_data(&whole[1]), None);
        assert_eq!(&*event_data(&whole[2]).unwrap(), b"{\"b\":2}");
        assert_eq!(&*event_data(&whole[3]).unwrap(), b"y\nz");
        assert_eq!(&*event_data(&whole[4]).unwrap(), b"[DONE]");
        for i in 0..=STREAM.len() {
            assert_eq!(
                split_all(&[&STREAM[..i], &STREAM[i..]]),
                whole,
                "split at {i}"
            );
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(split_all(&bytes), whole);
    }

    #[test]
    fn remainder_is_returned_when_the_stream_ends_early() {
        let mut s = SseSplitter::new();
        s.push(b"data: {\"a\":1}\n\ndata: partial");
        assert!(s.next_event().is_some());
        assert!(s.next_event().is_none());
        assert_eq!(s.take_remainder().unwrap(), &b"data: partial"[..]);
    }
}
