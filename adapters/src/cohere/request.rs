//! Cohere request translation (being written).
