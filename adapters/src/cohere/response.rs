//! Cohere response translation (being written).
