//! perf-check's library: reading the current run and its history and judging each series
//! ([`check`]), the verdict rules as pure functions ([`judge`]), and JUnit output ([`junit`]).

pub mod check;
pub mod judge;
pub mod junit;
