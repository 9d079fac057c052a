//! A multipart upload as the gateway holds it: its head — at most [`HEAD_BYTES`] (1 MiB), read
//! before any provider is called, in which the text fields before the file (`model` first of
//! all) are found — and the rest, still in the client's connection, pumped to the provider
//! chunk by chunk once an attempt has sent the head. An upload that ended inside its head is
//! replayable (retries and fallbacks as for chat); a longer one is sent once.

use std::ops::Range;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;

use super::multipart::Scanner;
use crate::error::GatewayError;

/// The most of an upload held in memory: the head the fields are read from, and the largest
/// upload that can be replayed to another deployment.
pub const HEAD_BYTES: usize = 1 << 20;
/// The longest wait for the client's next chunk of an upload (the whole upload may take longer).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// An upload read up to its head.
pub struct Upload {
    /// The head: every byte read so far.
    pub head: Bytes,
    pub scanner: Scanner,
    /// The upload ended inside the head (it is all here, and can be sent again).
    pub whole: bool,
    /// Bytes of the upload read from the client so far (the head, then what was pumped).
    pub read: usize,
    /// The client's `content-length`, if it sent one.
    pub declared: Option<usize>,
    /// The size cap (`max_request_size_mb`).
    pub max: usize,
    /// Bytes pumped to a provider after the head: from then on the upload cannot be sent again.
    pub pumped: bool,
    /// The client's upload was read to its end.
    finished: bool,
}

impl Upload {
    /// Reads the head of a multipart upload with `boundary`: the whole upload when it is at
    /// most [`HEAD_BYTES`], else the first [`HEAD_BYTES`] or so. Refused (413) before reading
    /// when `content-length` is over `max`.
    pub async fn read_head(
        session: &mut Session,
        boundary: &str,
        max: usize,
    ) -> Result<Upload, GatewayError> {
        let declared = crate::lifecycle::admit::declared_length(session, max).await?;
        let mut scanner = Scanner::new(boundary);
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(16 * 1024).min(HEAD_BYTES));
        let mut whole = false;
        while buf.len() < HEAD_BYTES {
            match next_chunk(session).await? {
                None => {
                    whole = true;
                    break;
                }
                Some(chunk) => {
                    if buf.len() + chunk.len() > max {
                        return Err(too_large(buf.len() + chunk.len(), max));
                    }
                    buf.extend_from_slice(&chunk);
                    scanner
                        .advance(&buf)
                        .map_err(|m| super::invalid(m.0, None))?;
                }
            }
        }
        // A body of exactly the head's size: its end may not have been seen yet.
        if !whole && declared == Some(buf.len()) {
            whole = next_chunk(session).await?.is_none();
        }
        Ok(Upload {
            read: buf.len(),
            head: buf.freeze(),
            scanner,
            whole,
            declared,
            max,
            pumped: false,
            finished: whole,
        })
    }

    /// The upload's size: known when it is whole or declared, else `max` bounds it.
    pub fn size_bound(&self) -> usize {
        match (self.whole, self.declared) {
            (true, _) => self.head.len(),
            (false, Some(n)) => n,
            (false, None) => self.max,
        }
    }

    /// Whether another attempt can send the upload again.
    pub fn replayable(&self) -> bool {
        self.whole
    }

    /// The head as sent for a deployment: the `model` field set to `model` (its value
    /// replaced, or a part inserted before the first), the rest as it came. Slices of the one
    /// buffer and the new bytes, no copy of the head.
    pub fn head_for(&self, edit: Option<&ModelEdit>, model: &str) -> Vec<Bytes> {
        match edit {
            None => vec![self.head.clone()],
            Some(ModelEdit::Replace(r)) => vec![
                self.head.slice(..r.start),
                Bytes::copy_from_slice(model.as_bytes()),
                self.head.slice(r.end..),
            ],
            Some(ModelEdit::Insert { at, boundary }) => vec![
                self.head.slice(..*at),
                Bytes::from(model_part(boundary, model)),
                self.head.slice(*at..),
            ],
        }
    }

    /// The upstream `content-length` once the model field is set; `None` (send chunked) when
    /// the client did not declare one.
    pub fn length_for(&self, edit: Option<&ModelEdit>, model: &str) -> Option<usize> {
        let size = if self.whole {
            self.head.len()
        } else {
            self.declared?
        };
        Some(match edit {
            None => size,
            Some(ModelEdit::Replace(r)) => size - r.len() + model.len(),
            Some(ModelEdit::Insert { boundary, .. }) => size + model_part(boundary, model).len(),
        })
    }

    /// Pumps the rest of the upload from the client to `up`, chunk by chunk, then ends the
    /// request body. Each chunk is written before the next is read: the gateway holds one chunk
    /// at a time.
    pub async fn pump(&mut self, session: &mut Session, up: &mut HttpSession) -> Result<(), Pump> {
        if !self.whole {
            loop {
                let chunk = match next_chunk(session).await {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        self.finished = true;
                        break;
                    }
                    Err(e) => return Err(Pump::Client(e)),
                };
                if self.read + chunk.len() > self.max {
                    return Err(Pump::Client(too_large(self.read + chunk.len(), self.max)));
                }
                self.read += chunk.len();
                self.pumped = true;
                if let Err(e) = up.write_request_body(chunk, false).await {
                    return Err(Pump::Provider(e.to_string()));
                }
            }
        }
        up.finish_request_body()
            .await
            .map(|_| ())
            .map_err(|e| Pump::Provider(e.to_string()))
    }

    /// Whether the client's upload was read to its end (a connection whose body was not cannot
    /// carry another request).
    pub fn done(&self) -> bool {
        self.finished
    }
}

/// How the upload's `model` field is set for a deployment.
#[derive(Debug, Clone)]
pub enum ModelEdit {
    /// The value at this range of the head is replaced.
    Replace(Range<usize>),
    /// There is none (an Azure-style request names the deployment in its path): a `model` part
    /// is inserted at `at`, before the first part.
    Insert { at: usize, boundary: String },
}

fn model_part(boundary: &str, model: &str) -> Vec<u8> {
    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n")
        .into_bytes()
}

/// Why pumping an upload stopped.
#[derive(Debug)]
pub enum Pump {
    /// The client's side: a read error, a stall, or over the size cap.
    Client(GatewayError),
    /// The provider stopped taking the upload (it may have answered already).
    Provider(String),
}

/// Reads and discards the rest of an upload refused after its head was read (access, budget, a
/// missing field, a provider's error mid-upload), up to `max` bytes: a client that sends its
/// whole body before reading the answer then gets the error, not a broken pipe, and the
/// connection stays usable. Whether the upload was read to its end.
pub async fn drain(session: &mut Session, max: usize) -> bool {
    let mut left = max;
    loop {
        match next_chunk(session).await {
            Ok(None) => return true,
            Ok(Some(c)) if c.len() <= left => left -= c.len(),
            _ => return false,
        }
    }
}

async fn next_chunk(session: &mut Session) -> Result<Option<Bytes>, GatewayError> {
    match tokio::time::timeout(IDLE_TIMEOUT, session.read_request_body()).await {
        Err(_) => Err(GatewayError::BodyTimeout),
        Ok(Err(e)) => Err(GatewayError::BodyRead(e.to_string())),
        Ok(Ok(c)) => Ok(c),
    }
}

fn too_large(size: usize, max: usize) -> GatewayError {
    GatewayError::TooLarge {
        size_mb: size as f64 / (1024.0 * 1024.0),
        max_mb: max as f64 / (1024.0 * 1024.0),
    }
}
