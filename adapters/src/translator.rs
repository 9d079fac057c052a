//! The provider stream → canonical OpenAI SSE translation interface (`ToOpenAiStream`), which
//! every provider's stream translator implements and the gateway drives.

use bytes::BytesMut;

use crate::error::ApiError;
use crate::openai::response::Usage;

/// Translates a provider's SSE/NDJSON/event-stream bytes into canonical OpenAI SSE events.
pub trait ToOpenAiStream: Send {
    /// Feeds provider bytes split anywhere; appends every complete canonical event to `out`.
    /// An error the provider reports inside the stream is returned as `Err`.
    fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError>;
    /// The provider's stream ended: appends the closing events (the finish chunk if not sent,
    /// the usage chunk when `include_usage` was asked, `data: [DONE]`).
    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError>;
    /// Usage seen so far.
    fn usage(&self) -> Option<Usage>;
}
