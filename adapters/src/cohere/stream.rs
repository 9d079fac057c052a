//! Cohere stream translation (being written).
