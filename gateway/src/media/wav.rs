//! The duration of a WAV file from its header (RIFF `fmt ` and `data` chunks), read from the
//! first bytes of an uploaded file: what a transcription is reserved and, when the answer does
//! not say, billed for.

/// Seconds of audio in a WAV file whose first bytes are `head`; `None` when it is not a WAV
/// file, the header is not all in `head`, or the data length is unknown (a streamed WAV).
pub fn duration(head: &[u8]) -> Option<f64> {
    if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(head.get(i..i + 4)?.try_into().ok()?))
    };
    let mut byte_rate = None;
    let mut at = 12;
    // Chunks before `data` (fmt, LIST, fact, …) are small; a few are enough.
    for _ in 0..16 {
        let id = head.get(at..at + 4)?;
        let size = u32_at(at + 4)?;
        match id {
            b"fmt " => byte_rate = u32_at(at + 16).filter(|r| *r > 0),
            b"data" => {
                let rate = byte_rate?;
                if size == 0 || size == u32::MAX {
                    return None;
                }
                return Some(f64::from(size) / f64::from(rate));
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        at = at.checked_add(8 + size as usize + (size as usize & 1))?;
    }
    None
}

/// A WAV header for `data_len` bytes of 16-bit PCM (tests and the mock build uploads with it).
#[cfg(test)]
pub fn header(sample_rate: u32, channels: u16, data_len: u32) -> Vec<u8> {
    let byte_rate = sample_rate * u32::from(channels) * 2;
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&sample_rate.to_le_bytes());
    h.extend_from_slice(&byte_rate.to_le_bytes());
    h.extend_from_slice(&(channels * 2).to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_durations() {
        // 16 kHz mono 16-bit: 32000 bytes a second.
        assert_eq!(duration(&header(16_000, 1, 96_000)), Some(3.0));
        assert_eq!(duration(&header(44_100, 2, 176_400)), Some(1.0));
        // A LIST chunk before data.
        let mut h = header(16_000, 1, 32_000);
        let data = h.split_off(36);
        h.extend_from_slice(b"LIST");
        h.extend_from_slice(&3u32.to_le_bytes());
        h.extend_from_slice(b"abc\0");
        h.extend_from_slice(&data);
        assert_eq!(duration(&h), Some(1.0));
        assert_eq!(duration(&header(16_000, 1, u32::MAX)), None);
        assert_eq!(duration(b"ID3\x04 an mp3"), None);
        assert_eq!(duration(&header(16_000, 1, 10)[..30]), None);
    }
}
