//! Benchmark support: the mock LLM provider used by the load harness and the e2e tests.
