//! bench's library: the load generator ([`client`]), SSE parsing ([`sse`]), prompts and
//! arrival times ([`dataset`]), raw clock readings ([`clock`]), benchmark_serving-compatible statistics and output
//! ([`stats`], [`report`]), `--tokenizer` ([`tokenizer`]), and a fixed-timing test server
//! ([`testserver`]) for the tests and the `cargo xtask bench client` harness.

pub mod client;
pub mod clock;
pub mod convert;
pub mod dataset;
pub mod fds;
pub mod replay;
pub mod report;
pub mod sse;
pub mod stats;
pub mod testserver;
pub mod timer;
pub mod tokenizer;
pub mod trace;
