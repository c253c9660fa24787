//! The chain tests: several perfline tools run together over the real corpus.
//! One test binary per crate (cargo's own `tests/testsuite` layout): one link instead of one
//! per file, and one harness that runs every test of the crate in parallel. Run one module's
//! tests with `cargo test -p chain-tests --test testsuite MODULE::`.

mod agentx;
mod corpus_launch;
mod corpus_plan;
mod faults;
mod flavours;
mod gpu_bundle;
mod gpu_telemetry;
mod help;
mod hostile;
mod models_gpus;
mod newcomer;
mod perf_gate;
mod rerun;
mod routing;
mod trace_replay;
