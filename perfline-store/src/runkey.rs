//! The run key of a batch of metric records: one implementation for upload,
//! which stores runs under it, and perf-check, which must never judge a run against its own
//! stored copy — so both derive it from the input in exactly the same way.

use md5::{Digest, Md5};
use perfline::wire::metrics::MetricRecord;
use std::collections::{BTreeMap, BTreeSet};

/// Lower-case hex md5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of `key` in a record's `context` as text (a string as is, another JSON value
/// as JSON, null as none).
pub fn context_str(record: &MetricRecord, key: &str) -> Option<String> {
    match record.context.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The first record's `context` value of `key`, in input order.
pub fn from_context(records: &[MetricRecord], key: &str) -> Option<String> {
    records.iter().find_map(|r| context_str(r, key))
}

/// The run key: md5 of the job id, the sorted test ids, the records' sorted launch attempts
/// (when any has one), the start time and the commit. A re-run of a test is a new attempt,
/// hence a new run; the same attempt uploaded again has the same key. When neither a job id
/// nor a start time is known, a digest of the records is folded in so that different results
/// never share a key.
pub fn derive(
    job_id: Option<&str>,
    start_time: Option<&str>,
    commit: Option<&str>,
    records: &[MetricRecord],
) -> String {
    let test_ids: BTreeSet<&str> = records.iter().map(|r| r.test_id.as_str()).collect();
    let attempts: BTreeSet<&str> = records.iter().filter_map(|r| r.attempt.as_deref()).collect();
    let mut key = BTreeMap::new();
    key.insert("job_id", serde_json::json!(job_id));
    key.insert("test_ids", serde_json::json!(test_ids));
    // Absent for records without attempts, so their keys are those of earlier versions.
    if !attempts.is_empty() {
        key.insert("attempts", serde_json::json!(attempts));
    }
    key.insert("start_time", serde_json::json!(start_time));
    key.insert("commit", serde_json::json!(commit));
    if job_id.is_none() && start_time.is_none() {
        let content = serde_json::to_string(records).unwrap_or_default();
        key.insert("content", serde_json::json!(md5_hex(content.as_bytes())));
    }
    let canonical = serde_json::to_string(&key).unwrap_or_default();
    md5_hex(canonical.as_bytes())
}

/// The key upload derives for `records` given no run flags: job id, start time and commit
/// from the records' `context`.
pub fn of_records(records: &[MetricRecord]) -> String {
    let field = |k: &str| from_context(records, k);
    derive(
        field("job_id").as_deref(),
        field("start_time").as_deref(),
        field("commit").as_deref(),
        records,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_fields_key_the_run() {
        let mut r: MetricRecord = perfline::jsonl::parse(perfline::wire::metrics::EXAMPLE).unwrap();
        r.attempt = None;
        r.context.insert("job_id".into(), serde_json::json!(42));
        // The key upload's tests pin for job 42 without attempts.
        assert_eq!(of_records(std::slice::from_ref(&r)), "512e52d850f607524c059b4250955645");
        assert_eq!(of_records(std::slice::from_ref(&r)), derive(Some("42"), None, None, &[r]));
    }
}
