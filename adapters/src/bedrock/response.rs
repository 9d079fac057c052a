//! Bedrock response (being written).
