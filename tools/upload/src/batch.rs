//! A run batch: the metric records of one upload plus the run's system info and its key.
//! The key is derived from the run's content, so uploading the same input twice adds nothing.

use perfline::cli::{Failure, Result};
use perfline::wire::metrics::MetricRecord;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest metric name and unit the SQL schema holds (indexed VARCHAR columns).
pub const MAX_METRIC_LEN: usize = 191;
pub const MAX_UNIT_LEN: usize = 64;
/// Longest test id, server and client name (the `series` table's VARCHAR columns).
pub const MAX_NAME_LEN: usize = 1024;

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

/// The `series` row of a record's case: the series identity readers group history by
/// (`''` for a missing server or client).
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Series {
    pub test_id: String,
    pub server: String,
    pub client: String,
}

pub fn series_of(record: &MetricRecord) -> Series {
    Series {
        test_id: record.test_id.clone(),
        server: record.server.clone().unwrap_or_default(),
        client: record.client.clone().unwrap_or_default(),
    }
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

/// Checks one record against the schema's limits. Errors name the field
/// (`metrics.mean_ttft: not a finite number`).
pub fn check_record(record: &MetricRecord) -> Result<()> {
    if record.test_id.trim().is_empty() {
        return Err(Failure::data("test_id: empty"));
    }
    for (field, value) in [
        ("test_id", Some(&record.test_id)),
        ("server", record.server.as_ref()),
        ("client", record.client.as_ref()),
    ] {
        if value.is_some_and(|v| v.len() > MAX_NAME_LEN) {
            return Err(Failure::data(format!("{field}: longer than {MAX_NAME_LEN} bytes")));
        }
    }
    if record.concurrency.is_some_and(|c| i64::try_from(c).is_err()) {
        return Err(Failure::data("concurrency: out of range"));
    }
    for (metric, value) in &record.metrics {
        if metric.is_empty() || metric.len() > MAX_METRIC_LEN {
            return Err(Failure::data(format!(
                "metrics.{metric}: name must be 1-{MAX_METRIC_LEN} bytes"
            )));
        }
        if !value.is_finite() {
            return Err(Failure::data(format!("metrics.{metric}: not a finite number")));
        }
        if *value < 0.0 {
            return Err(Failure::data(format!("metrics.{metric}: negative value {value}")));
        }
        if record.units.get(metric).is_some_and(|u| u.len() > MAX_UNIT_LEN) {
            return Err(Failure::data(format!("units.{metric}: longer than {MAX_UNIT_LEN} bytes")));
        }
    }
    Ok(())
}

/// Collects records and rejects those that would store the same (case, metric) twice, or
/// put two series into one case.
#[derive(Default)]
pub struct Collector {
    records: Vec<MetricRecord>,
    /// (case key, metric) → input line that first stored it (ok records only: a failed
    /// record's numbers are not stored).
    seen: HashMap<(String, String), usize>,
    /// case key → (series identity, input line that first had the case).
    series: HashMap<String, (Series, usize)>,
    /// md5 of a record's JSON → its input line: the same record twice is a duplicate even
    /// without metrics (a failed record's reasons would be folded in twice).
    whole: HashMap<String, usize>,
}

impl Collector {
    /// Adds the record read at `line`, or explains why it is refused.
    pub fn add(&mut self, line: usize, record: MetricRecord) -> Result<()> {
        check_record(&record)?;
        let case = case_of(&record);
        let series = series_of(&record);
        if let Some((first, first_line)) = self.series.get(&case.case_key) {
            if *first != series {
                return Err(Failure::data(format!(
                    "{}: same case as line {first_line} (test {:?} server {:?} client {:?}) but \
                     another series; set a distinct context \"command\"",
                    record.test_id, first.test_id, first.server, first.client
                )));
            }
        }
        // A failed record's numbers are not stored, so they are no duplicates.
        let ok = record.status == perfline::wire::metrics::Status::Ok;
        let stored = if ok { record.metrics.keys().collect() } else { Vec::new() };
        for metric in &stored {
            if let Some(first) = self.seen.get(&(case.case_key.clone(), metric.to_string())) {
                return Err(Failure::data(format!(
                    "{}: same case and metric {metric:?} as line {first}",
                    record.test_id
                )));
            }
        }
        let digest = crate::md5_hex(serde_json::to_string(&record).unwrap_or_default().as_bytes());
        if let Some(first) = self.whole.get(&digest) {
            return Err(Failure::data(format!("{}: same record as line {first}", record.test_id)));
        }
        for metric in stored {
            self.seen.insert((case.case_key.clone(), metric.clone()), line);
        }
        self.series.entry(case.case_key).or_insert((series, line));
        self.whole.insert(digest, line);
        self.records.push(record);
        Ok(())
    }
    pub fn into_records(self) -> Vec<MetricRecord> {
        self.records
    }
}

/// Fills run fields left empty from the first record whose `context` has them. A
/// confirmation re-run (`context.confirmation: K`, perf-check `--confirm`) without notes gets
/// the notes `confirmation K`: the store keeps no record context, and report marks such runs.
pub fn fill_from_context(run: &mut RunInfo, records: &[MetricRecord]) {
    for name in CONTEXT_FIELDS {
        let value = records.iter().find_map(|r| context_str(r, name));
        if let Some(slot) = run.field_mut(name) {
            if slot.is_none() {
                *slot = value;
            }
        }
    }
    if run.notes.is_none() {
        run.notes = records
            .iter()
            .find_map(|r| context_str(r, "confirmation"))
            .map(|k| format!("confirmation {k}"));
    }
}

/// The run key ([`perfline_store::runkey::derive`], the one implementation perf-check shares): md5
/// of the job id, the sorted test ids, the records' sorted launch attempts (when any has
/// one), the start time and the commit; a digest of the records when neither a job id nor a
/// start time is known.
pub fn derive_run_key(run: &RunInfo, records: &[MetricRecord]) -> String {
    perfline_store::runkey::derive(
        run.job_id.as_deref(),
        run.start_time.as_deref(),
        run.commit.as_deref(),
        records,
    )
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
    fn each_attempt_is_its_own_run() {
        let run = RunInfo { job_id: Some("42".into()), ..RunInfo::default() };
        let mut legacy = example();
        legacy.attempt = None;
        // Records without attempts keep the key earlier versions derived.
        assert_eq!(derive_run_key(&run, &[legacy]), "512e52d850f607524c059b4250955645");
        let first = example();
        let mut second = example();
        second.attempt = Some("20261130T080000.000Z".into());
        let k1 = derive_run_key(&run, std::slice::from_ref(&first));
        assert_eq!(k1, derive_run_key(&run, &[example()]), "same attempt, same run");
        assert_ne!(k1, derive_run_key(&run, std::slice::from_ref(&second)));
        assert_ne!(k1, derive_run_key(&run, &[first, second]));
    }

    #[test]
    fn two_series_in_one_case_are_refused() {
        let mut c = Collector::default();
        let mut a = example();
        a.server = Some("a-b".into());
        a.client = Some("c".into());
        let mut b = a.clone();
        b.server = Some("a".into());
        b.client = Some("b-c".into());
        b.metrics.clear();
        c.add(1, a).unwrap();
        assert_eq!(
            c.add(2, b).unwrap_err().message,
            "aggr-cfg-srv: same case as line 1 (test \"aggr-cfg-srv\" server \"a-b\" client \"c\") \
             but another series; set a distinct context \"command\""
        );
    }

    #[test]
    fn a_failed_records_numbers_are_no_duplicates() {
        let mut c = Collector::default();
        let mut failed = example();
        failed.status = perfline::wire::metrics::Status::Failed;
        c.add(1, failed.clone()).unwrap();
        c.add(2, example()).unwrap();
        failed.metrics.clear();
        c.add(3, failed.clone()).unwrap();
        assert_eq!(c.add(4, failed).unwrap_err().message, "aggr-cfg-srv: same record as line 3");
        assert_eq!(c.into_records().len(), 3);
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
        let mut nan = example();
        nan.concurrency = Some(16);
        nan.metrics.insert("mean_ttft".into(), f64::NAN);
        assert_eq!(c.add(5, nan).unwrap_err().message, "metrics.mean_ttft: not a finite number");
        let mut negative = example();
        negative.concurrency = Some(16);
        negative.metrics.insert("seq_throughput".into(), -0.5);
        assert_eq!(
            c.add(6, negative).unwrap_err().message,
            "metrics.seq_throughput: negative value -0.5"
        );
        let mut long_client = example();
        long_client.client = Some("c".repeat(MAX_NAME_LEN + 1));
        assert_eq!(c.add(7, long_client).unwrap_err().message, "client: longer than 1024 bytes");
        assert_eq!(c.into_records().len(), 2);
    }

    #[test]
    fn context_fills_only_empty_fields() {
        let mut r = example();
        r.context.insert("commit".into(), "c0ffee".into());
        r.context.insert("job_id".into(), serde_json::json!(1234));
        let mut run = RunInfo { commit: Some("flag".into()), ..RunInfo::default() };
        fill_from_context(&mut run, &[r.clone()]);
        assert_eq!(run.commit.as_deref(), Some("flag"));
        assert_eq!(run.job_id.as_deref(), Some("1234"));
        assert_eq!(run.notes, None);
        r.context.insert("confirmation".into(), serde_json::json!(2));
        let mut confirmed = RunInfo::default();
        fill_from_context(&mut confirmed, &[r.clone()]);
        assert_eq!(confirmed.notes.as_deref(), Some("confirmation 2"));
        let mut noted = RunInfo { notes: Some("by hand".into()), ..RunInfo::default() };
        fill_from_context(&mut noted, &[r]);
        assert_eq!(noted.notes.as_deref(), Some("by hand"));
    }
}
