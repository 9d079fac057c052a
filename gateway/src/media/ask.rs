//! What a media request is (`Op`, `Door`) and what prices it (`Ask`: its upload, seconds,
//! characters, and what its answer reported): a leaf module the request context, the budget
//! reservation and the route table name, importing only `pricing`.

use crate::pricing::audio::{self as price, AudioTokens};
use crate::pricing::ModelPrice;

/// A media operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Transcriptions,
    Translations,
    Speech,
    ImageEdits,
}

impl Op {
    /// The path below the provider's base (and below `/v1` at the gateway).
    pub fn path(self) -> &'static str {
        match self {
            Op::Transcriptions => "/audio/transcriptions",
            Op::Translations => "/audio/translations",
            Op::Speech => "/audio/speech",
            Op::ImageEdits => "/images/edits",
        }
    }

    /// The spend log's `call_type`, LiteLLM's (which has none for translations: they are
    /// transcriptions to English).
    pub fn call_type(self) -> &'static str {
        match self {
            Op::Transcriptions | Op::Translations => "atranscription",
            Op::Speech => "aspeech",
            Op::ImageEdits => "aimage_edit",
        }
    }

    pub fn audio_in(self) -> bool {
        matches!(self, Op::Transcriptions | Op::Translations)
    }
}

/// A media route: its operation, and whether it came through Azure's
/// `/openai/deployments/{deployment}/…` door (the model group is the path's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Door {
    pub op: Op,
    pub azure: bool,
}

/// What a media request asked for and its answer reported, for its price (in `ctx.media`).
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub op: Op,
    /// The upload's size in bytes (declared, or the size cap for a chunked upload).
    pub upload_bytes: u64,
    /// Seconds of audio the uploaded file's header says (WAV).
    pub header_secs: Option<f64>,
    /// Characters of a speech request's `input`.
    pub characters: u64,
    /// Seconds of audio the answer reported (`duration`, `usage.seconds`).
    pub seconds: Option<f64>,
    /// Tokens the answer reported (token-priced transcription models).
    pub tokens: Option<AudioTokens>,
}

impl Ask {
    pub fn new(op: Op) -> Ask {
        Ask {
            op,
            upload_bytes: 0,
            header_secs: None,
            characters: 0,
            seconds: None,
            tokens: None,
        }
    }

    /// The seconds a transcription is billed for: the answer's, else the file header's, else
    /// the upload's size at [`price::BILL_BYTES_PER_SEC`].
    pub fn billed_seconds(&self) -> f64 {
        self.seconds
            .or(self.header_secs)
            .unwrap_or(self.upload_bytes as f64 / price::BILL_BYTES_PER_SEC)
    }

    /// The request's cost at `p`; `None` for image edits (priced per image as generations).
    pub fn cost(&self, p: &ModelPrice) -> Option<f64> {
        match self.op {
            Op::Transcriptions | Op::Translations => {
                Some(price::transcription(p, self.billed_seconds(), self.tokens))
            }
            Op::Speech => Some(price::speech(p, self.characters)),
            Op::ImageEdits => None,
        }
    }

    /// The worst case a budget reserves at `p`: the file header's seconds, else the upload's
    /// size at [`price::RESERVE_BYTES_PER_SEC`]; a speech input's characters. `None` for image
    /// edits (reserved as image generation) and prices without a media price.
    pub fn worst(&self, p: &ModelPrice) -> Option<f64> {
        match self.op {
            Op::Transcriptions | Op::Translations => {
                let secs = self
                    .header_secs
                    .unwrap_or(self.upload_bytes as f64 / price::RESERVE_BYTES_PER_SEC);
                Some(price::transcription_worst(p, secs)).filter(|c| *c > 0.0)
            }
            Op::Speech => Some(price::speech(p, self.characters)).filter(|c| *c > 0.0),
            Op::ImageEdits => None,
        }
    }
}
