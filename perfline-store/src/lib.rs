//! The performance store as its readers and writers share it: store URLs ([`url`]), secrets
//! ([`secret`]) and, with the `store` feature, the read-only history reader ([`read`]) that
//! perf-check and report use. The schema is upload's (`tools/upload/src/sql.rs` creates it;
//! `tools/upload/README.md` describes it).

pub mod secret;
pub mod url;

#[cfg(feature = "store")]
pub mod read;
