//! A run batch: the metric records of one upload plus the run's system info and its key.
//! The key is derived from the run's content, so uploading the same input twice adds nothing.

use perfline::cli::{Failure, Result};
use perfline::wire::metrics::MetricRecord;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Longest metric name and unit the SQL schema holds (indexed VARCHAR columns).
pub const MAX_METRIC_LEN: usize = 191;
pub const MAX_UNIT_LEN: usize = 64;

/// The `runs` row: system info and provenance. Every field can be given by flag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RunInfo {
    pub run_key: String,
    pub job_id: Option<String>,
    pub tensorrt: Option<String>,
    pub trtllm: Option<String>,
    pub driver: Option<String>,
    pub gpu: Option<String>,
    pub cuda: Option<String>,
    pub os: Option<String>,
    pub hostname: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub commit: Option<String>,
    pub notes: Option<String>,
}

impl RunInfo {
    /// Mutable access by field name, for filling from flags, record context and the host.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "job_id" => &mut self.job_id,
            "tensorrt" => &mut self.tensorrt,
            "trtllm" => &mut self.trtllm,
            "driver" => &mut self.driver,
            "gpu" => &mut self.gpu,
            "cuda" => &mut self.cuda,
            "os" => &mut self.os,
            "hostname" => &mut self.hostname,
            "start_time" => &mut self.start_time,
            "end_time" => &mut self.end_time,
            "commit" => &mut self.commit,
            "notes" => &mut self.notes,
            _ => return None,
        })
    }
}

/// Run fields that records may carry in their `context` (e.g. set by the job).
pub const CONTEXT_FIELDS: [&str; 12] = [
    "job_id",
    "tensorrt",
    "trtllm",
    "driver",
    "gpu",
    "cuda",
    "os",
    "hostname",
    "start_time",
    "end_time",
    "commit",
    "notes",
];

/// One upload's worth of work: what is delivered, spooled and flushed as a unit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Batch {
    pub run: RunInfo,
    pub records: Vec<MetricRecord>,
}

/// The `cases` row a record maps to (the legacy perf-DB CSV's identifying columns).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Case {
    pub case_key: String,
    pub network: String,
    pub batch_size: i64,
    pub precision: String,
    pub framework: String,
    pub command: String,
}

fn context_str(record: &MetricRecord, key: &str) -> Option<String> {
    match record.context.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The case of a record: network = test id, batch size = concurrency, command = the
/// incumbent's case name `{server}-{client}`; each can be overridden through `context`.
pub fn case_of(record: &MetricRecord) -> Case {
    let network = context_str(record, "network").unwrap_or_else(|| record.test_id.clone());
    let batch_size = record.concurrency.map_or(0, |c| i64::try_from(c).unwrap_or(i64::MAX));
    let precision = context_str(record, "precision").unwrap_or_default();
    let framework = context_str(record, "framework").unwrap_or_else(|| "trtllm-serve".into());
    let command = context_str(record, "command").unwrap_or_else(|| case_name(record));
    let canonical = serde_json::json!([network, batch_size, precision, framework, command]);
    Case {
        case_key: crate::md5_hex(canonical.to_string().as_bytes()),
        network,
        batch_size,
        precision,
        framework,
        command,
    }
}

/// `{server}-{client}` as the incumbent's `s_test_case_name`; the test id when both are absent.
pub fn case_name(record: &MetricRecord) -> String {
    match (&record.server, &record.client) {
        (Some(s), Some(c)) => format!("{s}-{c}"),
        (Some(x), None) | (None, Some(x)) => x.clone(),
        (None, None) => record.test_id.clone(),
    }
}

/// Checks one record against the schema's limits.
pub fn check_record(record: &MetricRecord) -> Result<()> {
    if record.test_id.trim().is_empty() {
        return Err(Failure::data("empty test_id"));
    }
    if record.concurrency.is_some_and(|c| i64::try_from(c).is_err()) {
        return Err(Failure::data(format!("{}: concurrency out of range", record.test_id)));
    }
    for (metric, value) in &record.metrics {
        if metric.is_empty() || metric.len() > MAX_METRIC_LEN {
            return Err(Failure::data(format!(
                "{}: metric name must be 1-{MAX_METRIC_LEN} bytes",
                record.test_id
            )));
        }
        if !value.is_finite() {
            return Err(Failure::data(format!(
                "{}: {metric}: not a finite number",
                record.test_id
            )));
        }
        if record.units.get(metric).is_some_and(|u| u.len() > MAX_UNIT_LEN) {
            return Err(Failure::data(format!(
                "{}: {metric}: unit longer than {MAX_UNIT_LEN} bytes",
                record.test_id
            )));
        }
    }
    Ok(())
}

/// Collects records and rejects those that would store the same (case, metric) twice.
#[derive(Default)]
pub struct Collector {
    records: Vec<MetricRecord>,
    /// (case key, metric) → input line that first stored it.
    seen: HashMap<(String, String), usize>,
}

impl Collector {
    /// Adds the record read at `line`, or explains why it is refused.
    pub fn add(&mut self, line: usize, record: MetricRecord) -> Result<()> {
        check_record(&record)?;
        let case = case_of(&record);
        for metric in record.metrics.keys() {
            if let Some(first) = self.seen.get(&(case.case_key.clone(), metric.clone())) {
                return Err(Failure::data(format!(
                    "{}: same case and metric {metric:?} as line {first}",
                    record.test_id
                )));
            }
        }
        for metric in record.metrics.keys() {
            self.seen.insert((case.case_key.clone(), metric.clone()), line);
        }
        self.records.push(record);
        Ok(())
    }
    pub fn into_records(self) -> Vec<MetricRecord> {
        self.records
    }
}

/// Fills run fields left empty from the first record whose `context` has them.
pub fn fill_from_context(run: &mut RunInfo, records: &[MetricRecord]) {
    for name in CONTEXT_FIELDS {
        let value = records.iter().find_map(|r| context_str(r, name));
        if let Some(slot) = run.field_mut(name) {
            if slot.is_none() {
                *slot = value;
            }
        }
    }
}

/// The run key: md5 of the job id, the sorted test ids, the start time and the commit.
/// When neither a job id nor a start time is known, a digest of the records is folded in so
/// that different results never share a key.
pub fn derive_run_key(run: &RunInfo, records: &[MetricRecord]) -> String {
    let test_ids: BTreeSet<&str> = records.iter().map(|r| r.test_id.as_str()).collect();
    let mut key = BTreeMap::new();
    key.insert("job_id", serde_json::json!(run.job_id));
    key.insert("test_ids", serde_json::json!(test_ids));
    key.insert("start_time", serde_json::json!(run.start_time));
    key.insert("commit", serde_json::json!(run.commit));
    if run.job_id.is_none() && run.start_time.is_none() {
        let content = serde_json::to_string(records).unwrap_or_default();
        key.insert("content", serde_json::json!(crate::md5_hex(content.as_bytes())));
    }
    let canonical = serde_json::to_string(&key).unwrap_or_default();
    crate::md5_hex(canonical.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfline::wire::metrics::EXAMPLE;

    fn example() -> MetricRecord {
        perfline::jsonl::parse(EXAMPLE).unwrap()
    }

    #[test]
    fn case_follows_the_record() {
        let case = case_of(&example());
        assert_eq!(case.network, "aggr-cfg-srv");
        assert_eq!(case.batch_size, 4);
        assert_eq!(case.precision, "");
        assert_eq!(case.framework, "trtllm-serve");
        assert_eq!(case.command, "srv-con4_iter2_isl128_osl64");
        assert_eq!(case.case_key.len(), 32);
        let mut other = example();
        other.context.insert("precision".into(), "fp8".into());
        assert_ne!(case_of(&other).case_key, case.case_key);
    }

    #[test]
    fn run_key_is_stable_and_content_sensitive() {
        let records = vec![example()];
        let mut run = RunInfo { job_id: Some("42".into()), ..RunInfo::default() };
        let k1 = derive_run_key(&run, &records);
        assert_eq!(k1, derive_run_key(&run, &records));
        run.hostname = Some("other-host".into());
        assert_eq!(k1, derive_run_key(&run, &records), "system info is not part of the key");
        run.commit = Some("abc".into());
        assert_ne!(k1, derive_run_key(&run, &records));
        let anonymous = RunInfo::default();
        let mut changed = example();
        changed.metrics.insert("mean_ttft".into(), 13.0);
        assert_ne!(derive_run_key(&anonymous, &records), derive_run_key(&anonymous, &[changed]));
    }

    #[test]
    fn duplicates_and_bad_values_are_refused() {
        let mut c = Collector::default();
        c.add(1, example()).unwrap();
        let err = c.add(2, example()).unwrap_err();
        assert_eq!(err.message, "aggr-cfg-srv: same case and metric \"mean_ttft\" as line 1");
        let mut other = example();
        other.concurrency = Some(8);
        c.add(3, other).unwrap();
        let mut long = example();
        long.metrics.insert("m".repeat(MAX_METRIC_LEN + 1), 1.0);
        assert!(c.add(4, long).is_err());
        assert_eq!(c.into_records().len(), 2);
    }

    #[test]
    fn context_fills_only_empty_fields() {
        let mut r = example();
        r.context.insert("commit".into(), "c0ffee".into());
        r.context.insert("job_id".into(), serde_json::json!(1234));
        let mut run = RunInfo { commit: Some("flag".into()), ..RunInfo::default() };
        fill_from_context(&mut run, &[r]);
        assert_eq!(run.commit.as_deref(), Some("flag"));
        assert_eq!(run.job_id.as_deref(), Some("1234"));
    }
}
