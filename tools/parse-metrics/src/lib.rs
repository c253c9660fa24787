//! parse-metrics as a library: the parsers (text block, save-result JSON, JUnit XML, gen-worker
//! logs), the verdict that turns a parsed block into a metric record, and the input driver
//! used by the binary.

pub mod gates;
pub mod genlog;
pub mod input;
pub mod json;
pub mod junit;
pub mod record;
pub mod text;
