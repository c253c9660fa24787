//! `perf-check` output: one verdict per series `(test_id, server, client, metric)`.

use serde::{Deserialize, Serialize};

/// What perf-check concluded about one series' current value.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A level change in the worse direction that the current run shares with earlier runs.
    Regression,
    /// A level change in the better direction that the current run shares with earlier runs.
    Improvement,
    /// Nothing moved beyond the noise.
    NoChange,
    /// Only the current run differs: rerun it before believing it.
    Suspect,
    /// Too little history to judge.
    InsufficientData,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Regression,
        Verdict::Improvement,
        Verdict::NoChange,
        Verdict::Suspect,
        Verdict::InsufficientData,
    ];

    /// The wire name (`no-change`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::NoChange => "no-change",
            Verdict::Suspect => "suspect",
            Verdict::InsufficientData => "insufficient-data",
        }
    }
}

/// One series' verdict: perf-check's output line, report's input.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VerdictRecord {
    pub test_id: String,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    pub metric: String,
    pub verdict: Verdict,
    /// The current run's value (`null` when the current record has no such metric).
    pub current: Option<f64>,
    /// The baseline the current value is judged against (`null` without history).
    pub baseline: Option<f64>,
    /// `(current − baseline) / baseline × 100`, signed as measured (not by direction).
    pub delta_pct: Option<f64>,
    /// The method's score: a p-value for `change-point`, the threshold hit for `incumbent`.
    #[serde(default)]
    pub p_value: Option<f64>,
    /// Run key of the first run at the new level (`null` when nothing changed).
    #[serde(default)]
    pub change_run: Option<String>,
    /// `change-point` or `incumbent`.
    pub method: String,
    /// How many earlier runs the history held (at most `--window`).
    pub window: u32,
    /// `higher` or `lower`: which way is better for this metric.
    pub better: String,
    /// Run key of the current run, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_key: Option<String>,
}

/// An example `perf-check` record.
pub const EXAMPLE: &str = r#"{"test_id":"aggr-cfg-srv","server":"srv","client":"con4_iter2_isl128_osl64","metric":"token_throughput","verdict":"regression","current":180.2,"baseline":204.8,"delta_pct":-12.01,"p_value":0.0004,"change_run":"r27","method":"change-point","window":30,"better":"higher","run_key":"r28"}"#;

#[cfg(test)]
mod tests {
    #[test]
    fn example_round_trips() {
        super::super::assert_round_trip::<super::VerdictRecord>(super::EXAMPLE);
    }
}
