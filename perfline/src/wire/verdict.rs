//! `perf-check` output: one verdict per series `(test_id, server, client, metric)`.

use serde::{Deserialize, Serialize};

/// What perf-check concluded about one series' current value.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A level change in the worse direction that the current run shares with earlier runs.
    Regression,
    /// A level change in the better direction that the current run shares with earlier runs.
    Improvement,
    /// The data rule out a move of `--min-change` or more (the interval lies inside ±min-change).
    NoChange,
    /// The data cannot tell yet: `runs_needed` more runs at this level would decide.
    Undecided,
    /// Only the current run differs: rerun it before believing it.
    Suspect,
    /// Too little history to judge.
    #[default]
    InsufficientData,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Regression,
        Verdict::Improvement,
        Verdict::NoChange,
        Verdict::Undecided,
        Verdict::Suspect,
        Verdict::InsufficientData,
    ];

    /// The wire name (`no-change`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::NoChange => "no-change",
            Verdict::Undecided => "undecided",
            Verdict::Suspect => "suspect",
            Verdict::InsufficientData => "insufficient-data",
        }
    }
}

/// What a verdict record judges: one metric series, or a whole case (test, server, client)
/// combining its metrics.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    #[default]
    Metric,
    Case,
}

impl Scope {
    fn is_metric(&self) -> bool {
        *self == Scope::Metric
    }
}

/// One series' verdict (or, with `scope: case`, one case's): perf-check's output line,
/// report's input.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
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
    /// `case` for a case-level verdict (its `metric` is `*`); absent for a metric's.
    #[serde(default, skip_serializing_if = "Scope::is_metric")]
    pub scope: Scope,
    /// `undecided`: how many more runs at the current level would decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_needed: Option<u32>,
    /// The smallest move (percent) this series can resolve with one more run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_detectable_pct: Option<f64>,
    /// The p-value after false-discovery control over all series of the run (Benjamini–Hochberg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q_value: Option<f64>,
    /// A case verdict: the metrics that support it (e.g. throughput down, TPOT and E2EL up).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supporting: Vec<String>,
    /// Why perf-check decided so, in one line (JUnit's skip message, the report's tooltip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An example `perf-check` record.
pub const EXAMPLE: &str = r#"{"test_id":"aggr-cfg-srv","server":"srv","client":"con4_iter2_isl128_osl64","metric":"token_throughput","verdict":"regression","current":180.2,"baseline":204.8,"delta_pct":-12.01,"p_value":0.0004,"change_run":"r27","method":"change-point","window":30,"better":"higher","run_key":"r28","min_detectable_pct":3.1,"q_value":0.004}"#;

/// An example undecided case-level record.
pub const EXAMPLE_CASE: &str = r#"{"test_id":"aggr-cfg-srv","server":"srv","client":"con4_iter2_isl128_osl64","metric":"*","verdict":"undecided","current":null,"baseline":null,"delta_pct":-7.5,"p_value":0.03,"change_run":null,"method":"change-point","window":12,"better":"higher","run_key":"r28","scope":"case","runs_needed":2,"min_detectable_pct":9.8,"q_value":0.21,"supporting":["output_throughput","mean_tpot"],"reason":"output_throughput -7.5 % is inside the noise (±9.8 % resolvable): about 2 more runs at this level decide it"}"#;

#[cfg(test)]
mod tests {
    #[test]
    fn example_round_trips() {
        super::super::assert_round_trip::<super::VerdictRecord>(super::EXAMPLE);
    }

    #[test]
    fn case_example_round_trips() {
        super::super::assert_round_trip::<super::VerdictRecord>(super::EXAMPLE_CASE);
    }
}
