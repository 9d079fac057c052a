//! Bedrock error (being written).
