//! perfline's shared library: the wire types every tool exchanges (defined once, in [`wire`]),
//! JSON Lines reading and writing ([`jsonl`]), YAML loading ([`yaml`]), the one exit-code table
//! ([`exit`]), the common `main` wrapper and diagnostics ([`cli`]), shell quoting and id checks
//! ([`shell`]), atomic file writes ([`fsutil`]), and store URLs, secrets and (feature `store`)
//! the history reader ([`store`]).
//!
//! Tools depend on this crate and never on each other.

pub mod cli;
pub mod exit;
pub mod fsutil;
pub mod jsonl;
pub mod metric;
pub mod shell;
pub mod store;
pub mod wire;
pub mod yaml;

pub use cli::{Failure, Reporter};
pub use exit::Exit;
pub mod slurm;
pub mod template;
pub mod wait;
