//! Token estimates where no tokenizer runs (usage when a provider reports none, admission's
//! prompt-size figure, `count_tokens`, the `mock_response` stub): one token per four bytes.

/// Bytes per token of the estimate.
pub const BYTES_PER_TOKEN: u64 = 4;

/// Estimated tokens of `text_len` bytes of text: one per four bytes, at least one.
pub fn estimate_tokens(text_len: usize) -> u64 {
    (text_len as u64).div_ceil(BYTES_PER_TOKEN).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_per_four_bytes_and_never_zero() {
        assert_eq!(estimate_tokens(0), 1);
        assert_eq!(estimate_tokens(4), 1);
        assert_eq!(estimate_tokens(5), 2);
        assert_eq!(estimate_tokens(4000), 1000);
    }
}
