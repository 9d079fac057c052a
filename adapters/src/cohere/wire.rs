//! Cohere wire translation (being written).
