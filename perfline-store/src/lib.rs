//! The performance store as its readers and writers share it: store URLs ([`url`]), secrets
//! ([`secret`]), the one schema — version, DDL for SQLite and MySQL, migrations ([`schema`],
//! documented in `docs/SCHEMA.md`) — the history reader perf-check and report use ([`read`]),
//! and the run key upload and perf-check derive alike ([`runkey`]).
//!
//! upload writes through [`schema`] (its delivery stays in upload); nothing else creates or
//! alters a table.

pub mod read;
pub mod runkey;
pub mod schema;
pub mod secret;
pub mod url;
mod value;

pub use value::Value;
