//! The price of audio (LiteLLM's field names): seconds of a transcription or translation
//! (`input_cost_per_second` + `output_cost_per_second`, summed as LiteLLM sums them), the
//! characters of a text-to-speech input (`input_cost_per_character`), the tokens a
//! token-priced transcription model reports (audio input tokens at
//! `input_cost_per_audio_token`), and the estimates a budget reserves before the answer says.

use super::ModelPrice;

/// The bitrate a budget reservation assumes for an upload of unknown duration: 32 kbit/s, the
/// low end of compressed speech (a lower assumed bitrate means more seconds, so the reservation
/// errs high).
pub const RESERVE_BYTES_PER_SEC: f64 = 4_000.0;
/// The bitrate a transcription is billed at when neither the answer (`duration`,
/// `usage.seconds`) nor the file's header (WAV) says how long it is: 128 kbit/s, a common MP3.
pub const BILL_BYTES_PER_SEC: f64 = 16_000.0;
/// Audio tokens per second a reservation assumes for a token-priced transcription model
/// (OpenAI's published ~$0.006/min for gpt-4o-transcribe at $6/M audio tokens is ~17/s).
pub const AUDIO_TOKENS_PER_SEC: f64 = 20.0;

/// Tokens a transcription answer reported (`usage.type = "tokens"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioTokens {
    /// Text input tokens (a `prompt`).
    pub text: u64,
    /// Audio input tokens.
    pub audio: u64,
    pub output: u64,
}

/// The per-second price (input + output), when the model has one.
pub fn per_second(price: &ModelPrice) -> Option<f64> {
    match (price.input_cost_per_second, price.output_cost_per_second) {
        (None, None) => None,
        (i, o) => Some(i.unwrap_or(0.0) + o.unwrap_or(0.0)),
    }
}

/// Whether the model has token prices.
fn per_token(price: &ModelPrice) -> bool {
    price.input_cost_per_token != 0.0
        || price.output_cost_per_token != 0.0
        || price.input_cost_per_audio_token.is_some()
}

/// The cost of reported tokens: text input at `input_cost_per_token`, audio input at
/// `input_cost_per_audio_token` (else `input_cost_per_token`), output at
/// `output_cost_per_token`.
pub fn token_cost(price: &ModelPrice, t: AudioTokens) -> f64 {
    let input = price.input_cost_per_token;
    t.text as f64 * input
        + t.audio as f64 * price.input_cost_per_audio_token.unwrap_or(input)
        + t.output as f64 * price.output_cost_per_token
}

/// The cost of a transcription or translation of `seconds` of audio, whose answer reported
/// `tokens` (token-priced models) or not: the tokens when both the answer and the price have
/// them, else the seconds at the per-second price, else the tokens at whatever token price
/// there is; 0 when the price has neither.
pub fn transcription(price: &ModelPrice, seconds: f64, tokens: Option<AudioTokens>) -> f64 {
    let seconds = if seconds.is_finite() && seconds > 0.0 {
        seconds
    } else {
        0.0
    };
    match (tokens, per_second(price)) {
        (Some(t), _) if per_token(price) => token_cost(price, t),
        (_, Some(ps)) => seconds * ps,
        (Some(t), None) => token_cost(price, t),
        (None, None) => 0.0,
    }
}

/// A transcription's worst case for `seconds` of audio: per second, else
/// [`AUDIO_TOKENS_PER_SEC`] audio tokens a second at the audio token price.
pub fn transcription_worst(price: &ModelPrice, seconds: f64) -> f64 {
    match per_second(price) {
        Some(ps) => seconds * ps,
        None => token_cost(
            price,
            AudioTokens {
                audio: (seconds * AUDIO_TOKENS_PER_SEC).ceil() as u64,
                ..AudioTokens::default()
            },
        ),
    }
}

/// The cost of speaking `characters` characters: `input_cost_per_character`, else the input's
/// token estimate (a token per 4 characters) at `input_cost_per_token` (gpt-4o-mini-tts; the
/// audio tokens it bills on output are not reported by the speech API, so not counted).
pub fn speech(price: &ModelPrice, characters: u64) -> f64 {
    match price.input_cost_per_character {
        Some(c) => characters as f64 * c,
        None => characters.div_ceil(4) as f64 * price.input_cost_per_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn the_bundled_table_has_audio_prices() {
        let t = crate::pricing::PriceTable::bundled();
        let tts = t.lookup("openai", "tts-1").unwrap();
        assert_eq!(tts.input_cost_per_character, Some(1.5e-5));
        let w = t.lookup("azure", "whisper-1").unwrap();
        assert_eq!(per_second(w), Some(0.0001));
        let g = t.lookup("openai", "gpt-4o-transcribe").unwrap();
        assert_eq!(g.input_cost_per_audio_token, Some(6e-6));
        assert_eq!(per_second(g), None);
    }

    #[test]
    fn seconds_characters_and_tokens() {
        let whisper = ModelPrice {
            input_cost_per_second: Some(0.0001),
            output_cost_per_second: Some(0.0),
            ..ModelPrice::default()
        };
        assert!(close(transcription(&whisper, 90.0, None), 0.009));
        // A whisper answer's `usage` of tokens does not change a per-second price.
        let t = AudioTokens {
            text: 0,
            audio: 100,
            output: 10,
        };
        assert!(close(transcription(&whisper, 90.0, Some(t)), 0.009));
        assert!(close(transcription(&whisper, f64::NAN, None), 0.0));
        assert!(close(transcription_worst(&whisper, 10.0), 0.001));

        let transcribe = ModelPrice {
            input_cost_per_token: 2.5e-6,
            input_cost_per_audio_token: Some(6e-6),
            output_cost_per_token: 1e-5,
            ..ModelPrice::default()
        };
        let t = AudioTokens {
            text: 4,
            audio: 1000,
            output: 50,
        };
        assert!(close(
            transcription(&transcribe, 60.0, Some(t)),
            4.0 * 2.5e-6 + 1000.0 * 6e-6 + 50.0 * 1e-5
        ));
        assert!(close(transcription(&transcribe, 60.0, None), 0.0));
        assert!(close(transcription_worst(&transcribe, 10.0), 200.0 * 6e-6));

        let tts = ModelPrice {
            input_cost_per_character: Some(1.5e-5),
            ..ModelPrice::default()
        };
        assert!(close(speech(&tts, 1000), 0.015));
        let mini_tts = ModelPrice {
            input_cost_per_token: 6e-7,
            ..ModelPrice::default()
        };
        assert!(close(speech(&mini_tts, 10), 3.0 * 6e-7));
    }
}
