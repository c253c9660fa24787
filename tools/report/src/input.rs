//! File inputs: metric records (`--metrics`) into a [`History`], and perf-check verdicts
//! (`--verdicts`). Every line is checked before anything is drawn: one bad line fails the
//! whole report (no partial output).

use crate::model::{CaseKey, History, Sample, RUN_FIELDS};
use perfline::cli::{Failure, Result};
use perfline::wire::metrics::{MetricRecord, Status};
use perfline::wire::verdict::VerdictRecord;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

/// Reads every record of a JSON Lines file (`-` for stdin); the first bad line is an error
/// naming `FILE:LINE`.
pub fn read_file<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let (reader, source) = perfline::jsonl::open(Some(path))?;
    read_all(reader, &source)
}

/// Reads every record of a JSON Lines stream named `source`.
pub fn read_all<T: DeserializeOwned, R: BufRead + 'static>(
    reader: R,
    source: &str,
) -> Result<Vec<T>> {
    perfline::jsonl::read::<T, _>(reader, source).map(|line| line.record).collect()
}

/// The run a metric record belongs to: `context.run_key`, else its `attempt`, else `fallback`
/// (the file's name).
pub fn run_key_of(record: &MetricRecord, fallback: &str) -> String {
    match record.context.get("run_key") {
        Some(serde_json::Value::String(k)) if !k.is_empty() => k.clone(),
        _ => record.attempt.clone().unwrap_or_else(|| fallback.to_string()),
    }
}

/// GPUs of a record's case: `context.total_gpus`, else `context.gpus` (a number or a numeric
/// string, at least 1).
pub fn gpus_of(context: &BTreeMap<String, serde_json::Value>) -> Option<u64> {
    ["total_gpus", "gpus"].iter().find_map(|k| match context.get(*k)? {
        serde_json::Value::Number(n) => n.as_u64().filter(|g| *g > 0),
        serde_json::Value::String(s) => s.trim().parse().ok().filter(|g: &u64| *g > 0),
        _ => None,
    })
}

/// `context.confirmation`: the 1-based number of a confirmation re-run (a number or a numeric
/// string).
pub fn confirmation_of(context: &BTreeMap<String, serde_json::Value>) -> Option<u32> {
    match context.get("confirmation")? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|k| u32::try_from(k).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|k| *k > 0)
}

/// Run fields a record carries in its context (strings and numbers).
fn run_info(context: &BTreeMap<String, serde_json::Value>) -> Vec<(String, String)> {
    RUN_FIELDS
        .iter()
        .filter_map(|f| {
            let v = match context.get(*f)? {
                serde_json::Value::String(s) if !s.is_empty() => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((f.to_string(), v))
        })
        .collect()
}

/// Adds metric records to the history, runs in order of first appearance.
pub fn add_records(history: &mut History, records: Vec<MetricRecord>, file_name: &str) {
    for r in records {
        let run = history.run_index(&run_key_of(&r, file_name));
        history.fill_info(run, run_info(&r.context));
        if let Some(a) = r.attempt.as_ref().filter(|a| !a.is_empty()) {
            history.fill_info(run, [("attempt".to_string(), a.clone())]);
        }
        if history.runs[run].confirmation.is_none() {
            history.runs[run].confirmation = confirmation_of(&r.context);
        }
        let ok = r.status == Status::Ok;
        let sample = Sample {
            run,
            ok,
            metrics: if ok { r.metrics } else { BTreeMap::new() },
            units: r.units,
            reasons: r.reasons,
            log_tail: r.log_tail,
            concurrency: r.concurrency,
            gpus: gpus_of(&r.context),
        };
        history.add(CaseKey::new(&r.test_id, r.server.as_deref(), r.client.as_deref()), sample);
    }
}

/// Checks what the records cannot say themselves: a verdict's metric must not be empty.
pub fn check_verdicts(verdicts: &[VerdictRecord], source: &str) -> Result<()> {
    match verdicts.iter().position(|v| v.metric.is_empty() || v.test_id.is_empty()) {
        Some(i) => {
            Err(Failure::data(format!("{source}: record {}: empty test_id or metric", i + 1)))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> MetricRecord {
        perfline::jsonl::parse(json).unwrap()
    }

    #[test]
    fn run_key_context_then_attempt_then_file() {
        let mut r = record(perfline::wire::metrics::EXAMPLE);
        assert_eq!(run_key_of(&r, "f.jsonl"), "20261129T120000.000Z");
        r.context.insert("run_key".into(), "r07".into());
        assert_eq!(run_key_of(&r, "f.jsonl"), "r07");
        r.context.clear();
        r.attempt = None;
        assert_eq!(run_key_of(&r, "f.jsonl"), "f.jsonl");
    }

    #[test]
    fn gpus_from_context() {
        let ctx = |j: &str| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(j).unwrap();
        assert_eq!(gpus_of(&ctx(r#"{"total_gpus":8,"gpus":4}"#)), Some(8));
        assert_eq!(gpus_of(&ctx(r#"{"gpus":"4"}"#)), Some(4));
        assert_eq!(gpus_of(&ctx(r#"{"gpus":0}"#)), None);
        assert_eq!(gpus_of(&ctx(r#"{}"#)), None);
    }

    #[test]
    fn failed_records_keep_no_numbers() {
        let mut h = History::default();
        let failed = r#"{"test_id":"t","client":"c","status":"failed","reasons":["dead"],"metrics":{"seq_throughput":0.5},"log_tail":["boom"],"context":{"run_key":"r1","gpu":"H100","gpus":2}}"#;
        add_records(&mut h, vec![record(failed)], "x");
        let s = &h.cases[&CaseKey::new("t", None, Some("c"))][0];
        assert!(!s.ok && s.metrics.is_empty());
        assert_eq!(
            (s.reasons.clone(), s.log_tail.clone(), s.gpus),
            (vec!["dead".into()], vec!["boom".into()], Some(2))
        );
        assert_eq!(h.runs[0].key, "r1");
        assert_eq!(h.runs[0].info["gpu"], "H100");
        assert_eq!(h.runs[0].confirmation, None);
    }

    #[test]
    fn confirmation_runs_and_attempts() {
        let mut h = History::default();
        let mut r = record(perfline::wire::metrics::EXAMPLE);
        r.context.insert("confirmation".into(), serde_json::json!(2));
        add_records(&mut h, vec![r], "x");
        assert_eq!(h.runs[0].confirmation, Some(2));
        assert_eq!(h.runs[0].label(), "2026-11-29 12:00");
        let ctx = |j: &str| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(j).unwrap();
        assert_eq!(confirmation_of(&ctx(r#"{"confirmation":"1"}"#)), Some(1));
        assert_eq!(confirmation_of(&ctx(r#"{"confirmation":0}"#)), None);
        assert_eq!(confirmation_of(&ctx(r#"{"confirmation":true}"#)), None);
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let input = format!("{}\nnot json\n", perfline::wire::metrics::EXAMPLE);
        let err = read_all::<MetricRecord, _>(std::io::Cursor::new(input.into_bytes()), "m.jsonl")
            .unwrap_err();
        assert!(err.message.starts_with("m.jsonl:2: invalid record"), "{}", err.message);
        assert_eq!(err.exit, perfline::Exit::DataErr);
    }
}
