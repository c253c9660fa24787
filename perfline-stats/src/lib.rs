//! perfline's statistics layer: change-point detection ([`changepoint`]; perf-check judges
//! with it) and the one percentile every tool uses ([`percentile()`]; bench's summaries,
//! perf-check's percentile baseline, report's history band, xtask's benches).
//!
//! Depends on no other perfline crate; tools depend on it, never the reverse.

pub mod changepoint;
pub mod percentile;

pub use percentile::percentile;
