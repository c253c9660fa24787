//! upload's library: metric records → a run batch ([`batch`]) → a store (SQLite, MySQL,
//! OpenSearch), with retries ([`retry`]) and a local spool ([`spool`]) so nothing is lost.
//!
//! Kept as a library so the pure parts (keys, rows, documents, URL parsing) are unit-tested
//! apart from the command line.

pub mod batch;
pub mod deliver;
pub mod flags;
pub mod input;
pub mod mysql_store;
pub mod opensearch;
pub mod retry;
pub mod spool;
pub mod sql;
pub mod sqlite;
pub mod sysinfo;

// Store URLs and secrets live in the shared crate (perf-check and report read the same stores).
pub use perfline_store::{secret, url as store};

/// md5 of `bytes` as 32 lowercase hex digits (run keys, case keys, document ids): the store
/// crate's one implementation.
pub use perfline_store::runkey::md5_hex;
