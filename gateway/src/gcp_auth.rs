//! Google service-account OAuth access tokens for Vertex AI (being written).
