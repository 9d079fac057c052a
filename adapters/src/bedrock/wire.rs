//! Bedrock wire (being written).
