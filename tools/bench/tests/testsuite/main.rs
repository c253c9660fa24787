//! bench's integration tests.
//! One test binary per crate (cargo's own `tests/testsuite` layout): one link instead of one
//! per file, and one harness that runs every test of the crate in parallel. Run one module's
//! tests with `cargo test -p bench --test testsuite MODULE::`.

mod cli;
mod trace;
mod trace_checks;
