//! perfline's shared library: the wire types every tool exchanges (defined once, in [`wire`]),
//! JSON Lines reading and writing ([`jsonl`]), YAML ([`yaml`]), JUnit XML ([`junit`]), the one
//! exit-code table ([`exit`]), the common `main` wrapper and diagnostics ([`cli`]), shell quoting
//! and id checks ([`shell`]) and atomic file writes ([`fsutil`]).
//!
//! This is the bottom layer: it depends on no other perfline crate. The layers above it are
//! `perfline-slurm` (cluster profiles, the Slurm prefix, coordination, the bounded wait),
//! `perfline-stats` (change points, percentile) and `perfline-store`. Tools depend on these
//! crates and never on each other.

pub mod attempt;
pub mod bounded;
pub mod cli;
pub mod exit;
pub mod fsutil;
pub mod jsonl;
pub mod junit;
pub mod metric;
pub mod shell;
pub mod wire;
pub mod yaml;

pub use cli::{Failure, Reporter};
pub use exit::Exit;
pub mod template;
