//! `parse-metrics` output: one record per (test, server, client) run.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a run's numbers can be trusted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
}

/// Request and token counts of a run, as the client reported them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Counts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_requests: Option<u64>,
    /// `num_prompts=` of the printed argument namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_prompts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
}

/// One client run's metrics.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MetricRecord {
    pub test_id: String,
    /// The launch attempt that produced the record (`JOB_ROOT/ID/ATTEMPT`, docs/job-layout.md):
    /// a re-run of a test is a new attempt and a new run in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isl: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osl: Option<u64>,
    pub status: Status,
    /// Why the record is `failed` (empty when `ok`).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Metric name (incumbent names: `seq_throughput`, `mean_ttft`, …) → value.
    pub metrics: BTreeMap<String, f64>,
    /// Metric name → unit (`req/s`, `tok/s`, `ms`, …).
    #[serde(default)]
    pub units: BTreeMap<String, String>,
    #[serde(default)]
    pub counts: Counts,
    /// Where the numbers came from (`FILE` or `FILE:LINE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Last lines of the client log, kept for failed runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Free-form context carried to the store (job id, GPU type, commit, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, serde_json::Value>,
}

/// An example `parse-metrics` record.
pub const EXAMPLE: &str = r#"{"test_id":"aggr-cfg-srv","attempt":"20261129T120000.000Z","server":"srv","client":"con4_iter2_isl128_osl64","concurrency":4,"isl":128,"osl":64,"status":"ok","reasons":[],"metrics":{"mean_ttft":12.5,"seq_throughput":3.2,"token_throughput":204.8},"units":{"mean_ttft":"ms","seq_throughput":"req/s","token_throughput":"tok/s"},"counts":{"total_requests":8,"successful_requests":8,"failed_requests":0,"num_prompts":8,"total_input_tokens":1024,"total_output_tokens":512,"duration_s":2.5},"source":"trtllm-benchmark.0.0.log"}"#;

#[cfg(test)]
mod tests {
    #[test]
    fn example_round_trips() {
        super::super::assert_round_trip::<super::MetricRecord>(super::EXAMPLE);
    }
}
