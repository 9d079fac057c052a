//! Cohere error translation (being written).
