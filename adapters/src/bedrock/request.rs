//! Bedrock request (being written).
