//! `cargo xtask eval perf-check`: perf-check's published accuracy.
//!
//! Each labelled series is walked forward as CI meets it ([`walk::walk`]: at run t, the
//! stored runs since the last accepted alarm, at most `--window` 30, against value t; every
//! alarm accepted at once), then the alarms are scored against the labels: recall at ≥ 3σ
//! steps, false alarms per 1,000 judged series-runs, detection delay in runs (without and
//! with `--confirm N` confirmation runs on `undecided`/`suspect`), and precision, recall and
//! F1 with a 5-run margin. perf-check's change-point rule (its library, default settings) is
//! scored side by side with a detector that never alarms and the incumbent's 5 % threshold
//! rule. Data sets: (a) synthetic ([`synth`]), (b) Perfherder alerts, (c) a real H100
//! history ([`data`]); the Turing change-point dataset is deliberately not used (an
//! independent check uses it).

use super::walk::{self, Detector, Score, Series, Settings};
use super::{data, synth};
use crate::util::project_root;
use perf_check::judge::{self, Day, Rule};
use perfline::metric::Better;
use perfline::wire::verdict::Verdict;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  cargo xtask eval perf-check                 # the table, 2,000 synthetic series
  cargo xtask eval perf-check --json docs/perf-check-accuracy.json
  cargo xtask eval perf-check --series 200 --confirm 3")]
pub struct PerfCheck {
    /// Confirmation runs, at most, on `undecided`/`suspect` for the delay with confirmation
    /// (synthetic: drawn at the run's level; real data: the following points). 0: none.
    #[arg(long, default_value_t = 2, value_name = "N")]
    confirm: usize,
    /// Also write perf-check's figures as JSON (docs/perf-check-accuracy.json is the one the
    /// report's footer shows).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Synthetic series to generate.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    series: usize,
    /// Seed of the synthetic series.
    #[arg(long, default_value_t = 20261206)]
    seed: u64,
}

/// Earlier runs judged against, at most: perf-check's default `--window`.
const WINDOW: usize = 30;
/// An alarm this many runs after a change, at most, detects it.
const MARGIN: usize = 5;
/// The incumbent's default threshold (reference/incumbent.md §9).
const INCUMBENT_THRESHOLD: f64 = 0.05;

/// perf-check's verdict on one series through its library (its stable entry point, default
/// rule): the only place that names it.
fn perf_check_verdict(history: &[f64], pending: &[f64], current: f64, better: Better) -> Verdict {
    judge::judge_series(history, pending, current, better, &Rule::default()).verdict
}

struct PerfCheckRule;
impl Detector for PerfCheckRule {
    fn name(&self) -> String {
        "perf-check".into()
    }
    fn judge(&self, history: &[f64], pending: &[f64], current: f64, better: Better) -> Verdict {
        perf_check_verdict(history, pending, current, better)
    }
}

struct Never;
impl Detector for Never {
    fn name(&self) -> String {
        "never alarms".into()
    }
    fn judge(&self, _: &[f64], _: &[f64], _: f64, _: Better) -> Verdict {
        Verdict::NoChange
    }
}

/// The incumbent's threshold rule, each run its own day.
struct Incumbent;
impl Detector for Incumbent {
    fn name(&self) -> String {
        format!("incumbent {:.0} %", INCUMBENT_THRESHOLD * 100.0)
    }
    fn judge(&self, history: &[f64], pending: &[f64], current: f64, better: Better) -> Verdict {
        let days: Vec<(f64, Day)> =
            history.iter().chain(pending).enumerate().map(|(i, v)| (*v, Day::Run(i))).collect();
        judge::incumbent(&days, current, better, INCUMBENT_THRESHOLD).verdict
    }
}

/// One detector's scores on one data set.
pub struct Row {
    pub detector: String,
    pub plain: Score,
    /// With confirmation runs (`None` with `--confirm 0`).
    pub confirmed: Option<Score>,
}

/// One data set's rows, perf-check first.
pub struct SetReport {
    pub name: &'static str,
    pub rows: Vec<Row>,
}

/// The three data sets: `synthetic` series from `seed`, and the kept real ones.
pub fn data_sets(synthetic: usize, seed: u64) -> anyhow::Result<Vec<(&'static str, Vec<Series>)>> {
    let dir = project_root().join("xtask/data/eval");
    Ok(vec![
        ("synthetic", synth::generate(synthetic, seed)),
        ("perfherder", data::perfherder(&dir.join("perfherder.json"))?),
        ("gpu-history", data::gpu_history(&dir.join("h100-transformers-serve-12-runs.jsonl"))?),
    ])
}

/// Scores every detector on every set.
pub fn evaluate(sets: &[(&'static str, Vec<Series>)], confirm: usize) -> Vec<SetReport> {
    let detectors: [&dyn Detector; 3] = [&PerfCheckRule, &Never, &Incumbent];
    let plain = Settings { window: WINDOW, confirm: 0, margin: MARGIN };
    let with = Settings { confirm, ..plain };
    sets.iter()
        .map(|(name, series)| SetReport {
            name,
            rows: detectors
                .iter()
                .map(|d| Row {
                    detector: d.name(),
                    plain: walk::evaluate(series, *d, &plain),
                    confirmed: (confirm > 0).then(|| walk::evaluate(series, *d, &with)),
                })
                .collect(),
        })
        .collect()
}

fn cell(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// The side-by-side table.
pub fn table(reports: &[SetReport], confirm: usize) -> String {
    let mut out = format!(
        "{:<12} {:<13} {:>6} {:>6} {:>7} {:>9} {:>8} {:>6} {:>9} {:>9} {:>7} {:>6} {:>8}\n",
        "set",
        "detector",
        "series",
        "runs",
        "changes",
        "recall3σ",
        "FA/1000",
        "delay",
        format!("delay+c{confirm}"),
        format!("FA+c{confirm}"),
        "prec",
        "recall",
        "F1"
    );
    for r in reports {
        for row in &r.rows {
            let (p, c) = (&row.plain, row.confirmed.as_ref());
            out += &format!(
                "{:<12} {:<13} {:>6} {:>6} {:>7} {:>9} {:>8} {:>6} {:>9} {:>9} {:>7} {:>6} {:>8}\n",
                r.name,
                row.detector,
                p.series,
                p.runs,
                p.changes,
                cell(p.recall_3sigma(), 3),
                cell(p.false_alarms_per_1000(), 1),
                cell(p.delay(), 2),
                cell(c.and_then(Score::delay), 2),
                cell(c.and_then(Score::false_alarms_per_1000), 1),
                cell(p.precision(), 3),
                cell(p.recall(), 3),
                cell(p.f1(), 3),
            );
        }
    }
    out
}

/// perf-check on the synthetic series without a step (drift, AR(1) noise, node effects and
/// outliers only): how many of them it ever calls a regression or improvement.
fn flat(series: &[Series], confirm: usize) -> String {
    let flat: Vec<&Series> = series.iter().filter(|s| s.changes.is_empty()).collect();
    let count = |confirm| {
        let s = Settings { window: WINDOW, confirm, margin: MARGIN };
        flat.iter().filter(|one| !walk::walk(one, &PerfCheckRule, &s).alarms.is_empty()).count()
    };
    format!(
        "synthetic series without a step: {} of {}; perf-check alarms at least once on {} ({} \
         with --confirm {confirm})",
        flat.len(),
        series.len(),
        count(0),
        count(confirm)
    )
}

/// Where perf-check alarmed on each series of a set, against its labelled changes.
fn alarms(set: &str, series: &[Series], confirm: usize) -> String {
    let s = Settings { window: WINDOW, confirm, margin: MARGIN };
    let mut out = String::new();
    for one in series {
        let w = walk::walk(one, &PerfCheckRule, &s);
        if w.alarms.is_empty() && one.changes.is_empty() {
            continue;
        }
        let list = |v: Vec<String>| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        let alarms = w.alarms.iter().map(|a| {
            let how = if a.confirmed { " (confirmed)" } else { "" };
            format!("{} {}{how}", a.at, if a.up { "up" } else { "down" })
        });
        let changes =
            one.changes.iter().map(|c| format!("{} {}", c.index, if c.up { "up" } else { "down" }));
        out += &format!(
            "  {set} {}: changes {}; alarms {}\n",
            one.name,
            list(changes.collect()),
            list(alarms.collect())
        );
    }
    out
}

fn round(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |v| json!((v * 1e4).round() / 1e4))
}

/// perf-check's figures in the shape the report's footer reads.
pub fn figures(reports: &[SetReport], commit: &str, date: &str) -> Value {
    let sets: Vec<Value> = reports
        .iter()
        .map(|r| {
            let row = &r.rows[0];
            let p = &row.plain;
            json!({
                "name": r.name,
                "series": p.series,
                "runs": p.runs,
                "recall_3sigma": round(p.recall_3sigma()),
                "false_alarms_per_1000": round(p.false_alarms_per_1000()),
                "delay_runs": round(p.delay()),
                "delay_runs_confirm": round(row.confirmed.as_ref().and_then(Score::delay)),
                "precision": round(p.precision()),
                "recall": round(p.recall()),
                "f1": round(p.f1()),
            })
        })
        .collect();
    json!({
        "generated_by": "cargo xtask eval perf-check",
        "commit": commit,
        "date": date,
        "sets": sets,
    })
}

/// `YYYY-MM-DD` (UTC) of a Unix time (days-from-civil inverted, Howard Hinnant's algorithm).
fn ymd(unix_secs: u64) -> String {
    let z = (unix_secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl PerfCheck {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        let sets = data_sets(self.series, self.seed)?;
        let reports = evaluate(&sets, self.confirm);
        println!(
            "walk-forward, every alarm accepted; window {WINDOW}, margin {MARGIN} runs; \
             synthetic seed {}",
            self.seed
        );
        print!("{}", table(&reports, self.confirm));
        println!("{}", flat(&sets[0].1, self.confirm));
        println!(
            "perf-check's alarms on the real series (run index from 0), --confirm {}:",
            self.confirm
        );
        for (name, series) in sets.iter().filter(|(name, _)| *name != "synthetic") {
            print!("{}", alarms(name, series, self.confirm));
        }
        if let Some(path) = self.json {
            let commit = xshell::cmd!(sh, "git rev-parse --short HEAD")
                .quiet()
                .read()
                .unwrap_or_else(|_| "unknown".into());
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            let doc = figures(&reports, commit.trim(), &ymd(now.as_secs()));
            let text = serde_json::to_string_pretty(&doc)? + "\n";
            perfline::fsutil::write_atomic(&path, text.as_bytes())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(ymd(0), "1970-01-01");
        assert_eq!(ymd(951_782_400), "2000-02-29");
        assert_eq!(ymd(1_796_515_200), "2026-12-06");
    }

    /// The eval on a small slice, as CI runs it. Asserted: what must hold of the harness (the
    /// never-alarming detector raises nothing; the figures are reproducible; the JSON has the
    /// report's shape) and what perf-check must satisfy on the real H100 history: the 2.5×
    /// energy and power moves are found within the margin, with and without confirmation runs.
    /// The rest is printed (`cargo test -p xtask eval -- --nocapture`).
    #[test]
    fn eval_on_a_small_slice() {
        let sets = data_sets(150, 1).unwrap();
        let reports = evaluate(&sets, 2);
        println!("{}", table(&reports, 2));
        let names: Vec<&str> = reports.iter().map(|r| r.name).collect();
        assert_eq!(names, ["synthetic", "perfherder", "gpu-history"]);
        for r in &reports {
            let never = &r.rows[1];
            assert_eq!(never.detector, "never alarms");
            for s in [&never.plain, never.confirmed.as_ref().unwrap()] {
                assert_eq!((s.true_alarms, s.false_alarms), (0, 0), "{}", r.name);
                assert_eq!(s.recall(), (s.changes > 0).then_some(0.0));
            }
        }
        let gpu = &reports[2].rows[0];
        assert_eq!(gpu.detector, "perf-check");
        let c = gpu.confirmed.as_ref().unwrap();
        assert_eq!((c.changes, c.true_alarms), (2, 2), "gpu-history with --confirm 2");
        assert_eq!((gpu.plain.changes, gpu.plain.true_alarms), (2, 2), "gpu-history");
        // Reproducible: the same slice scores the same.
        let again = evaluate(&data_sets(150, 1).unwrap(), 2);
        assert_eq!(table(&again, 2), table(&reports, 2));
        let doc = figures(&reports, "abc1234", "2026-12-06");
        let keys: Vec<&str> =
            doc["sets"][0].as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "name",
                "series",
                "runs",
                "recall_3sigma",
                "false_alarms_per_1000",
                "delay_runs",
                "delay_runs_confirm",
                "precision",
                "recall",
                "f1"
            ]
        );
        assert_eq!(doc["sets"][1]["recall_3sigma"], Value::Null);
        assert_eq!(doc["sets"][2]["runs"], 19 * 12);
    }
}
