//! Bedrock sign (being written).
