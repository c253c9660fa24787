//! perfline's shared library: the wire types every tool exchanges (defined once, in [`wire`]),
//! JSON Lines reading and writing ([`jsonl`]), YAML loading ([`yaml`]), the one exit-code table
//! ([`exit`]), the common `main` wrapper and diagnostics ([`cli`]), shell quoting and id checks
//! ([`shell`]) and atomic file writes ([`fsutil`]). The store (URLs, secrets, schema, history
//! reader, run keys) is the `perfline-store` crate. The bounded, peer-watching `wait` module is
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
pub mod metric;
pub mod shell;
pub mod wire;
pub mod yaml;

pub use cli::{Failure, Reporter};
pub use exit::Exit;
pub mod slurm;
pub mod template;
#[cfg(feature = "wait")]
pub mod wait;
