//! Bedrock stream (being written).
