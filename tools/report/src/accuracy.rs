//! The footer's "how accurate is perf-check": the figures `cargo xtask eval perf-check`
//! publishes in `docs/perf-check-accuracy.json`, built into the binary (a report shows the
//! accuracy of the perf-check it was built with). A figure that is `null` reads "not measured".

use serde::{Deserialize, Serialize};

/// `docs/perf-check-accuracy.json` at build time.
pub const PUBLISHED: &str = include_str!("../../../docs/perf-check-accuracy.json");

#[derive(Deserialize, Debug, Default)]
struct File {
    #[serde(default)]
    generated_by: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    sets: Vec<Set>,
}

#[derive(Deserialize, Debug, Default)]
struct Set {
    #[serde(default)]
    name: String,
    series: Option<f64>,
    runs: Option<f64>,
    recall_3sigma: Option<f64>,
    false_alarms_per_1000: Option<f64>,
    delay_runs: Option<f64>,
    delay_runs_confirm: Option<f64>,
    precision: Option<f64>,
    recall: Option<f64>,
    f1: Option<f64>,
}

/// The footer: where the figures come from and one row per evaluation set.
#[derive(Serialize, Debug, Default, PartialEq)]
pub struct Accuracy {
    /// `measured by cargo xtask eval perf-check at abc1234 on 2026-12-06`, or why there are none.
    pub source: String,
    pub rows: Vec<AccuracyRow>,
}

/// One evaluation set, every figure formatted (`not measured` for `null`).
#[derive(Serialize, Debug, Default, PartialEq)]
pub struct AccuracyRow {
    pub name: String,
    pub size: String,
    pub recall_3sigma: String,
    pub false_alarms_per_1000: String,
    pub delay_runs: String,
    pub delay_runs_confirm: String,
    pub precision: String,
    pub recall: String,
    pub f1: String,
}

const NOT_MEASURED: &str = "not measured";

fn fig(v: Option<f64>, decimals: usize) -> String {
    match v.filter(|v| v.is_finite()) {
        Some(v) => format!("{v:.decimals$}"),
        None => NOT_MEASURED.to_string(),
    }
}

/// Parses the published figures; a file that does not parse says so instead of failing the
/// report.
pub fn parse(text: &str) -> Accuracy {
    let file: File = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            return Accuracy {
                source: format!("perf-check's accuracy: not measured (unreadable figures: {e})"),
                rows: Vec::new(),
            }
        }
    };
    let by = file.generated_by.unwrap_or_else(|| "an unnamed evaluation".into());
    let mut source = format!("measured by {by}");
    if let Some(c) = file.commit.filter(|c| !c.is_empty()) {
        source.push_str(&format!(" at {c}"));
    }
    if let Some(d) = file.date.filter(|d| !d.is_empty()) {
        source.push_str(&format!(" on {d}"));
    }
    let rows = file
        .sets
        .into_iter()
        .map(|s| AccuracyRow {
            size: match (s.series, s.runs) {
                (Some(n), Some(r)) => format!("{n:.0} series, {r:.0} runs"),
                (Some(n), None) => format!("{n:.0} series"),
                _ => NOT_MEASURED.to_string(),
            },
            name: s.name,
            recall_3sigma: fig(s.recall_3sigma, 2),
            false_alarms_per_1000: fig(s.false_alarms_per_1000, 1),
            delay_runs: fig(s.delay_runs, 1),
            delay_runs_confirm: fig(s.delay_runs_confirm, 1),
            precision: fig(s.precision, 2),
            recall: fig(s.recall, 2),
            f1: fig(s.f1, 2),
        })
        .collect();
    Accuracy { source, rows }
}

/// The figures this binary was built with.
pub fn published() -> Accuracy {
    parse(PUBLISHED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_and_nulls() {
        let a = parse(
            r#"{"generated_by":"cargo xtask eval perf-check","commit":"abc1234","date":"2026-12-06",
                "sets":[{"name":"synthetic","series":600,"runs":60,"recall_3sigma":0.934,"false_alarms_per_1000":1.25,
                "delay_runs":1.5,"delay_runs_confirm":0.2,"precision":0.9,"recall":0.85,"f1":null},
                {"name":"perfherder","series":null,"runs":null}]}"#,
        );
        assert_eq!(a.source, "measured by cargo xtask eval perf-check at abc1234 on 2026-12-06");
        assert_eq!(
            a.rows[0],
            AccuracyRow {
                name: "synthetic".into(),
                size: "600 series, 60 runs".into(),
                recall_3sigma: "0.93".into(),
                false_alarms_per_1000: "1.2".into(),
                delay_runs: "1.5".into(),
                delay_runs_confirm: "0.2".into(),
                precision: "0.90".into(),
                recall: "0.85".into(),
                f1: "not measured".into(),
            }
        );
        assert_eq!(
            (a.rows[1].size.as_str(), a.rows[1].f1.as_str()),
            ("not measured", "not measured")
        );
        assert!(parse("{").source.starts_with("perf-check's accuracy: not measured (unreadable"));
    }

    #[test]
    fn the_built_in_file_parses() {
        let a = published();
        assert!(a.source.starts_with("measured by "), "{}", a.source);
        assert!(!a.rows.is_empty());
    }
}
