//! Routing: which group serves a requested name (`resolve`), which of its deployments are tried
//! and in what order, what is retried or falls back (`select`), and the routing state shared
//! with the other replicas through Redis (`cluster`).

pub mod cluster;
pub mod resolve;
pub mod select;
