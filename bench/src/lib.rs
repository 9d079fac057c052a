//! Benchmark support: the mock LLM provider used by the load harness and the e2e tests
//! ([`mock`]), and the minimal HTTP/1.1 client behind `bench-ttft` ([`client`]).

pub mod client;
pub mod mock;
pub mod stats;
