//! Response bodies: a full buffer, or a paced SSE stream that counts how it ended
//! (completed, or aborted because the peer went away and hyper dropped the body).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::Shared;

/// One scheduled piece of a stream.
pub(crate) enum Step {
    /// Send these bytes (one SSE event).
    Data(Bytes),
    /// Break the connection: hyper closes it without the terminating chunk.
    Fail,
}

/// The body of every mock response.
pub(crate) enum MockBody {
    /// A complete body, sent with `content-length`.
    Full(Option<Bytes>),
    /// A paced event stream, sent chunked.
    Stream(SseStream),
}

impl MockBody {
    pub(crate) fn full(b: Bytes) -> Self {
        MockBody::Full(Some(b))
    }
}

#[derive(PartialEq, Eq)]
enum State {
    Running,
    Completed,
    Failed,
}

/// A paced SSE stream: each step waits for its delay, then yields. Dropped while still running
/// means the peer went away (hyper drops the body when the connection fails): counted as aborted.
pub(crate) struct SseStream {
    steps: std::vec::IntoIter<(Duration, Step)>,
    current: Option<Step>,
    sleep: Option<Pin<Box<Sleep>>>,
    shared: Arc<Shared>,
    state: State,
}

impl SseStream {
    /// Counts the stream as started.
    pub(crate) fn new(steps: Vec<(Duration, Step)>, shared: Arc<Shared>) -> Self {
        shared.streams_started.fetch_add(1, Ordering::Relaxed);
        SseStream {
            steps: steps.into_iter(),
            current: None,
            sleep: None,
            shared,
            state: State::Running,
        }
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        if self.state == State::Running {
            self.shared.streams_aborted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            MockBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Stream(s) => s.poll_step(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            MockBody::Full(b) => b.is_none(),
            MockBody::Stream(s) => s.state != State::Running,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            MockBody::Stream(_) => SizeHint::default(),
        }
    }
}

impl SseStream {
    fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.state != State::Running {
            return Poll::Ready(None);
        }
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            match self.current.take() {
                Some(Step::Data(b)) => return Poll::Ready(Some(Ok(Frame::data(b)))),
                Some(Step::Fail) => {
                    self.state = State::Failed;
                    return Poll::Ready(Some(Err(std::io::Error::other(
                        "mock provider: injected mid-stream failure",
                    ))));
                }
                None => {}
            }
            match self.steps.next() {
                None => {
                    self.state = State::Completed;
                    self.shared
                        .streams_completed
                        .fetch_add(1, Ordering::Relaxed);
                    return Poll::Ready(None);
                }
                Some((delay, step)) => {
                    self.current = Some(step);
                    if !delay.is_zero() {
                        self.sleep = Some(Box::pin(tokio::time::sleep(delay)));
                    }
                }
            }
        }
    }
}
