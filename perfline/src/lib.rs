//! perfline's shared library: the wire types every tool exchanges (defined once, in [`wire`]),
//! JSON Lines reading and writing ([`jsonl`]), YAML ([`yaml`]), JUnit XML ([`junit`]), the one
//! exit-code table ([`exit`]), the common `main` wrapper and diagnostics ([`cli`]), shell quoting
//! and id checks ([`shell`]), atomic file writes ([`fsutil`]), and store URLs, secrets and
//! (feature `store`) the history reader ([`store`]). The bounded, peer-watching `wait` module is
//! behind the `wait` feature (it pulls in an HTTP client), enabled by the tools that wait.
//!
//! Tools depend on this crate and never on each other.

pub mod attempt;
pub mod bounded;
#[cfg(feature = "changepoint")]
pub mod changepoint;
pub mod cli;
pub mod coord;
pub mod exit;
pub mod fsutil;
pub mod jsonl;
pub mod junit;
pub mod metric;
#[cfg(feature = "runkey")]
pub mod runkey;
pub mod shell;
pub mod store;
pub mod wire;
pub mod yaml;

pub use cli::{Failure, Reporter};
pub use exit::Exit;
pub mod slurm;
pub mod template;
#[cfg(feature = "wait")]
pub mod wait;
