//! perf-check's library: reading the current run and its history and judging each series
//! ([`check`]), the verdict rules as pure functions ([`judge`]), and JUnit output ([`junit`]).

pub mod check;
pub mod explain;
pub mod history;
pub mod judge;
pub mod junit;
pub mod run;

/// One line on stderr, `perf-check: LINE`; a closed stderr is ignored.
pub fn note(line: &str) {
    perfline::cli::say(format_args!("perf-check: {line}"));
}
