//! From history and verdicts to what the page shows: the summary, what moved (regressions
//! first), one section per test with its trend and Pareto charts, the verdict table and the
//! failed cases. Pure: no I/O.

use crate::accuracy::{self, Accuracy};
use crate::chart::{self, Pareto, Tone, Trend};
use crate::model::{CaseKey, History, Run, Sample, RUN_FIELDS};
use perfline::cli::{Failure, Result};
use perfline::metric::{better, Better};
use perfline::wire::verdict::{Scope, Verdict, VerdictRecord};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Metrics that get a trend chart per case (when present), in display order; any other metric
/// whose verdict moved gets one too.
pub const KEY_METRICS: [&str; 10] = [
    "seq_throughput",
    "token_throughput",
    "mean_ttft",
    "p99_ttft",
    "mean_tpot",
    "p99_tpot",
    "mean_itl",
    "p99_itl",
    "mean_e2el",
    "p99_e2el",
];

/// The headline row: the key numbers of every case of the current run.
pub const HEADLINE_METRICS: [(&str, &str); 4] = [
    ("token_throughput", "output throughput"),
    ("mean_ttft", "TTFT (mean)"),
    ("mean_tpot", "TPOT (mean)"),
    ("mean_e2el", "E2EL (mean)"),
];
/// Cases in the headline row (the test sections have the rest).
const MAX_HEADLINE_ROWS: usize = 24;

/// perf-check's defaults, stated in the legend where the verdicts do not carry the setting.
/// Keep in step with tools/perf-check (its `--help`).
pub const DEFAULT_MIN_HISTORY: u32 = 5;
pub const DEFAULT_ALPHA: f64 = 0.001;
pub const DEFAULT_FDR: f64 = 0.05;
pub const DEFAULT_MIN_CHANGE_PCT: f64 = 2.0;
pub const DEFAULT_WINDOW: u32 = 30;

/// Cards in "what moved" (the verdict table lists every series).
const MAX_CARDS: usize = 40;
/// Log lines kept per failed case.
const MAX_LOG_LINES: usize = 60;

#[derive(Clone, Debug)]
pub struct Options {
    /// Runs shown per chart, the current one included.
    pub window: usize,
    /// The current run; default: the verdicts' run key, else the last run.
    pub run_key: Option<String>,
    pub title: String,
}

#[derive(Serialize, Debug, Default)]
pub struct Page {
    pub title: String,
    pub run_key: String,
    /// The current run's readable name (date · commit); the key is its hover text.
    pub run_label: String,
    /// `confirmation N` when the current run is a confirmation re-run.
    pub run_tag: String,
    pub runs_shown: usize,
    pub first_run: String,
    pub first_run_label: String,
    pub info: Vec<(String, String)>,
    pub counts: Vec<Count>,
    /// What the counts count: `cases` (case verdicts) or `series`.
    pub counting: &'static str,
    pub headline: String,
    pub headline_class: &'static str,
    /// A plain sentence under the headline when there is nothing (or nothing yet) to judge.
    pub notice: String,
    pub key_numbers: KeyNumbers,
    pub legend: Legend,
    pub case_verdicts: Vec<CaseRow>,
    pub runs: Vec<RunView>,
    pub accuracy: Accuracy,
    pub moved: Vec<Card>,
    pub moved_more: usize,
    pub failed: Vec<FailedCase>,
    pub earlier_failed: Vec<FailedCase>,
    pub verdicts: Vec<Row>,
    pub tests: Vec<TestView>,
    pub notes: Vec<String>,
    pub charts: usize,
}

#[derive(Serialize, Debug)]
pub struct Count {
    pub label: &'static str,
    pub n: usize,
    pub class: &'static str,
}

/// A verdict badge: its text (`undecided — 2 more runs`), colour class and hover text (the
/// verdict's reason, else what the verdict means).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Badge {
    pub text: String,
    pub class: &'static str,
    pub title: String,
}

/// The headline row: one column per key metric, one row per case of the current run.
#[derive(Serialize, Debug, Default)]
pub struct KeyNumbers {
    pub headers: Vec<KeyHeader>,
    pub rows: Vec<KeyRow>,
    pub more: usize,
}

#[derive(Serialize, Debug)]
pub struct KeyHeader {
    pub name: &'static str,
    pub direction: &'static str,
}

#[derive(Serialize, Debug)]
pub struct KeyRow {
    pub test_id: String,
    pub case: String,
    pub anchor: String,
    pub badge: Option<Badge>,
    pub cells: Vec<KeyCell>,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct KeyCell {
    pub value: String,
    pub unit: String,
    pub delta: String,
    pub delta_class: &'static str,
    /// What the Δ compares against.
    pub delta_title: String,
}

/// The legend: what each verdict means and the method's settings.
#[derive(Serialize, Debug, Default)]
pub struct Legend {
    pub verdicts: Vec<LegendItem>,
    pub settings: Vec<(String, String)>,
    pub settings_note: String,
}

#[derive(Serialize, Debug)]
pub struct LegendItem {
    pub verdict: &'static str,
    pub class: &'static str,
    pub meaning: String,
}

/// A case-level verdict (perf-check's `scope: case`).
#[derive(Serialize, Debug)]
pub struct CaseRow {
    pub badge: Badge,
    pub rank: usize,
    pub test_id: String,
    pub case: String,
    pub anchor: String,
    pub delta: String,
    pub delta_class: &'static str,
    pub supporting: String,
    pub reason: String,
}

/// A run shown, newest first.
#[derive(Serialize, Debug, PartialEq)]
pub struct RunView {
    pub label: String,
    pub key: String,
    pub tag: String,
    pub current: bool,
}

#[derive(Serialize, Debug)]
pub struct Card {
    pub verdict: &'static str,
    pub badge: Badge,
    pub class: &'static str,
    pub test_id: String,
    pub case: String,
    pub metric: String,
    /// `↑ better` / `↓ better` (empty for a case card).
    pub direction: &'static str,
    pub delta: String,
    pub delta_class: &'static str,
    pub detail: String,
    pub anchor: String,
    pub svg: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct FailedCase {
    pub test_id: String,
    pub case: String,
    pub run_key: String,
    pub run_label: String,
    pub reasons: Vec<String>,
    pub log_tail: String,
    pub log_lines: usize,
}

#[derive(Serialize, Debug)]
pub struct Row {
    pub rank: usize,
    pub verdict: &'static str,
    pub badge: Badge,
    pub class: &'static str,
    pub test_id: String,
    pub case: String,
    pub metric: String,
    pub direction: &'static str,
    /// The metric backs its case's verdict (the case record lists it in `supporting`).
    pub supporting: bool,
    pub baseline: String,
    pub current: String,
    pub delta: String,
    pub delta_class: &'static str,
    /// Sort key of the delta column: the change in the worse direction, in percent.
    pub worse_pct: f64,
    pub change_run: String,
    pub change_run_label: String,
    pub p_value: String,
    /// The p-value after false-discovery control, when perf-check gave one.
    pub q_value: String,
    pub method: String,
    pub anchor: String,
}

#[derive(Serialize, Debug)]
pub struct TestView {
    pub test_id: String,
    pub anchor: String,
    pub class: &'static str,
    pub status: String,
    pub open: bool,
    pub pareto: Option<String>,
    pub cases: Vec<CaseView>,
}

#[derive(Serialize, Debug)]
pub struct CaseView {
    pub label: String,
    pub class: &'static str,
    pub status: String,
    /// The case-level verdict, when perf-check gave one.
    pub badge: Option<Badge>,
    pub charts: Vec<ChartView>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ChartView {
    pub metric: String,
    pub direction: &'static str,
    /// The metric backs its case's verdict.
    pub supporting: bool,
    pub class: &'static str,
    pub caption: String,
    pub svg: String,
}

/// One chart for `--charts DIR`: a safe file name and the SVG document.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartFile {
    pub name: String,
    pub svg: String,
}

fn rank(v: Verdict) -> usize {
    match v {
        Verdict::Regression => 0,
        Verdict::Suspect => 1,
        Verdict::Improvement => 2,
        Verdict::Undecided => 3,
        Verdict::NoChange => 4,
        Verdict::InsufficientData => 5,
    }
}

fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "bad",
        Verdict::Suspect | Verdict::Undecided => "warn",
        Verdict::Improvement => "good",
        Verdict::NoChange | Verdict::InsufficientData => "neutral",
    }
}

fn tone(v: Verdict) -> Tone {
    match v {
        Verdict::Regression => Tone::Bad,
        Verdict::Suspect | Verdict::Undecided => Tone::Warn,
        Verdict::Improvement => Tone::Good,
        Verdict::NoChange | Verdict::InsufficientData => Tone::Neutral,
    }
}

fn moved(v: Verdict) -> bool {
    rank(v) < 4
}

/// Which way a metric improves: perfline's table, else the record's `better`.
pub fn direction_of(metric: &str, record_better: &str) -> Option<Better> {
    better(metric).or(match record_better {
        "higher" => Some(Better::Higher),
        "lower" => Some(Better::Lower),
        _ => None,
    })
}

/// `↑ better` or `↓ better`; empty without a direction.
pub fn arrow(b: Option<Better>) -> &'static str {
    match b {
        Some(Better::Higher) => "↑ better",
        Some(Better::Lower) => "↓ better",
        None => "",
    }
}

/// A change signed so that positive is worse, in percent.
fn worse_signed(delta_pct: f64, b: Option<Better>) -> f64 {
    match b {
        Some(Better::Higher) => -delta_pct,
        _ => delta_pct,
    }
}

/// The change in the worse direction, in percent (positive = worse), for sorting.
fn worse_pct(v: &VerdictRecord) -> f64 {
    worse_signed(v.delta_pct.unwrap_or(0.0), direction_of(&v.metric, &v.better))
}

/// Changes smaller than this (percent) are coloured as no move.
const FLAT_PCT: f64 = 0.05;

/// The colour class of a Δ: `better` (green), `worse` (red) or `flat` (grey, also without a
/// direction); `muted` added when the verdict did not call it a move (lighter colour).
pub fn delta_class(delta_pct: Option<f64>, b: Option<Better>, moved: bool) -> &'static str {
    let Some(d) = delta_pct.filter(|d| d.is_finite() && d.abs() >= FLAT_PCT) else { return "flat" };
    if b.is_none() {
        return "flat";
    }
    match (worse_signed(d, b) > 0.0, moved) {
        (true, true) => "worse",
        (true, false) => "worse muted",
        (false, true) => "better",
        (false, false) => "better muted",
    }
}

/// What a verdict means, for the legend and as a badge's hover text.
pub fn meaning(v: Verdict) -> String {
    match v {
        Verdict::Regression => format!(
            "a move in the worse direction, significant after false-discovery control and at least min-change ({} %)",
            fmt_val(Some(DEFAULT_MIN_CHANGE_PCT))
        ),
        Verdict::Improvement => format!(
            "a move in the better direction, significant after false-discovery control and at least min-change ({} %)",
            fmt_val(Some(DEFAULT_MIN_CHANGE_PCT))
        ),
        Verdict::NoChange => format!(
            "the data rule out a move of min-change ({} %) or more: the confidence interval lies inside ±min-change",
            fmt_val(Some(DEFAULT_MIN_CHANGE_PCT))
        ),
        Verdict::Undecided => "the data cannot tell yet: the badge says how many more runs at this level would decide (e.g. undecided — 2 more runs)".to_string(),
        Verdict::Suspect => "only this run differs from the history (a lone outlier): rerun it before believing it".to_string(),
        Verdict::InsufficientData => format!(
            "fewer than {DEFAULT_MIN_HISTORY} earlier runs: not judged yet"
        ),
    }
}

/// A verdict's badge: `undecided — N more runs` when perf-check said how many; the reason
/// (else the verdict's meaning) on hover.
pub fn badge(v: &VerdictRecord) -> Badge {
    let text = match (v.verdict, v.runs_needed) {
        (Verdict::Undecided, Some(1)) => "undecided — 1 more run".to_string(),
        (Verdict::Undecided, Some(n)) => format!("undecided — {n} more runs"),
        (verdict, _) => verdict.as_str().to_string(),
    };
    let title = match v.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => match v.min_detectable_pct.filter(|m| m.is_finite()) {
            Some(m) => format!(
                "{}: {}; one more run resolves moves of {} % or more",
                v.verdict.as_str(),
                meaning(v.verdict),
                fmt_val(Some(m))
            ),
            None => format!("{}: {}", v.verdict.as_str(), meaning(v.verdict)),
        },
    };
    Badge { text, class: class(v.verdict), title }
}

/// A value for tables: up to 4 significant digits.
pub fn fmt_val(v: Option<f64>) -> String {
    let Some(v) = v else { return "–".to_string() };
    let a = v.abs();
    let s = if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 1.0 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn fmt_delta(d: Option<f64>) -> String {
    d.map_or_else(|| "–".to_string(), |d| format!("{d:+.1} %"))
}

/// A file-name-safe slug: ASCII letters, digits, `.`, `_`, `-`; at most 80 characters.
pub fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(80)
        .collect();
    while out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    out
}

/// Every run's readable name ([`Run::label`]); names that several runs share (runs uploaded
/// in the same minute, or of one commit) get the key's first 8 characters: `… · #7b8e11ab`.
pub fn run_labels(runs: &[Run]) -> Vec<String> {
    let labels: Vec<String> = runs.iter().map(Run::label).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for l in &labels {
        *seen.entry(l.as_str()).or_default() += 1;
    }
    labels
        .iter()
        .zip(runs)
        .map(|(l, r)| match seen[l.as_str()] {
            1 => l.clone(),
            _ if *l == chart::shorten(&r.key, 16) => l.clone(),
            _ => format!("{l} · #{}", chart::shorten(&r.key, 8).trim_end_matches('…')),
        })
        .collect()
}

struct Ctx<'a> {
    history: &'a History,
    /// Shown run indices, oldest first; the last is the current run.
    shown: Vec<usize>,
    current: Option<usize>,
    /// Metric verdicts by series.
    verdicts: HashMap<(CaseKey, &'a str), &'a VerdictRecord>,
    /// Case verdicts by case.
    case_verdicts: HashMap<CaseKey, &'a VerdictRecord>,
    /// Every run's readable name, by run index ([`run_labels`]).
    labels: Vec<String>,
    charts: Vec<ChartFile>,
}

impl Ctx<'_> {
    fn position(&self, run_key: &str) -> Option<usize> {
        self.shown.iter().position(|&r| self.history.runs[r].key == run_key)
    }

    fn sample(&self, case: &CaseKey, run: usize) -> Option<&Sample> {
        let samples = self.history.cases.get(case)?;
        samples.binary_search_by_key(&run, |s| s.run).ok().map(|i| &samples[i])
    }

    fn unit(&self, case: &CaseKey, metric: &str) -> Option<&str> {
        let samples = self.history.cases.get(case)?;
        samples.iter().rev().find_map(|s| s.units.get(metric)).map(String::as_str)
    }

    /// The readable name of a run key (date · commit), the key itself when not in the history.
    fn run_label(&self, key: &str) -> String {
        match self.history.runs.iter().position(|r| r.key == key) {
            Some(i) => self.labels[i].clone(),
            None => key.to_string(),
        }
    }

    /// Whether `metric` backs the case verdict of `case`.
    fn supporting(&self, case: &CaseKey, metric: &str) -> bool {
        self.case_verdicts.get(case).is_some_and(|v| v.supporting.iter().any(|m| m == metric))
    }

    /// Trend chart of one series; registers it for `--charts`.
    fn trend(&mut self, case: &CaseKey, metric: &str) -> Result<ChartView> {
        let verdict = self.verdicts.get(&(case.clone(), metric)).copied();
        let runs = &self.history.runs;
        let mut t = Trend {
            title: match self.unit(case, metric) {
                Some(u) if !u.is_empty() => format!("{metric} ({u})"),
                _ => metric.to_string(),
            },
            runs: self.shown.iter().map(|&r| runs[r].short_label()).collect(),
            confirmations: (0..self.shown.len())
                .filter(|&p| runs[self.shown[p]].confirmation.is_some())
                .collect(),
            current: self.current.map(|_| self.shown.len() - 1),
            ..Trend::default()
        };
        for (pos, &run) in self.shown.iter().enumerate() {
            match self.sample(case, run) {
                Some(s) if s.ok => {
                    if let Some(v) = s.metrics.get(metric) {
                        t.points.push((pos, *v));
                    }
                }
                Some(_) => t.failed.push(pos),
                None => {}
            }
        }
        let mut caption = String::new();
        if let Some(v) = verdict {
            t.tone = Some(tone(v.verdict));
            t.baseline = v.baseline;
            t.change = v.change_run.as_deref().and_then(|k| self.position(k));
            let end = t.change.or(t.current).unwrap_or(t.runs.len());
            let keep = if v.window > 0 { v.window as usize } else { usize::MAX };
            let mut base: Vec<f64> =
                t.points.iter().filter(|p| p.0 < end).map(|p| p.1).rev().take(keep).collect();
            base.sort_by(f64::total_cmp);
            if base.len() >= 2 {
                let p = |p| perfline_stats::percentile(&base, p);
                t.band = p(10.0).zip(p(90.0));
            }
            if moved(v.verdict) {
                caption = format!("{} {}", badge(v).text, fmt_delta(v.delta_pct));
            }
        }
        let svg = chart::trend_svg(&t)?;
        let name = format!(
            "{:04}-{}.svg",
            self.charts.len(),
            slug(&format!("{}-{}-{metric}", case.test_id, case.label()))
        );
        self.charts.push(ChartFile { name, svg: svg.clone() });
        Ok(ChartView {
            metric: metric.to_string(),
            direction: arrow(
                verdict.map_or_else(|| better(metric), |v| direction_of(metric, &v.better)),
            ),
            supporting: self.supporting(case, metric),
            class: verdict.map_or("neutral", |v| class(v.verdict)),
            caption,
            svg,
        })
    }
}

/// Builds the page and the chart files.
pub fn build(
    history: &History,
    verdicts: &[VerdictRecord],
    opts: &Options,
) -> Result<(Page, Vec<ChartFile>)> {
    let current =
        match &opts.run_key {
            Some(k) => Some(history.runs.iter().position(|r| &r.key == k).ok_or_else(|| {
                Failure::data(format!("--run-key {k}: no such run in the input"))
            })?),
            None => verdicts
                .iter()
                .filter_map(|v| v.run_key.as_deref())
                .find_map(|k| history.runs.iter().position(|r| r.key == k))
                .or(history.runs.len().checked_sub(1)),
        };
    let shown: Vec<usize> = match current {
        Some(c) => (c.saturating_sub(opts.window.max(1) - 1)..=c).collect(),
        None => Vec::new(),
    };
    let case_key =
        |v: &VerdictRecord| CaseKey::new(&v.test_id, v.server.as_deref(), v.client.as_deref());
    let (case_records, metric_records): (Vec<&VerdictRecord>, Vec<&VerdictRecord>) =
        verdicts.iter().partition(|v| v.scope == Scope::Case);
    let mut ctx = Ctx {
        history,
        shown,
        current,
        verdicts: metric_records.iter().map(|v| ((case_key(v), v.metric.as_str()), *v)).collect(),
        case_verdicts: case_records.iter().map(|v| (case_key(v), *v)).collect(),
        labels: run_labels(&history.runs),
        charts: Vec::new(),
    };
    let mut page = Page {
        title: opts.title.clone(),
        accuracy: accuracy::published(),
        legend: legend(verdicts),
        ..Page::default()
    };
    if let Some(c) = current {
        let run = &history.runs[c];
        page.run_key = run.key.clone();
        page.run_label = ctx.labels[c].clone();
        page.run_tag = run.confirmation.map(|k| format!("confirmation {k}")).unwrap_or_default();
        page.runs_shown = ctx.shown.len();
        page.first_run = history.runs[ctx.shown[0]].key.clone();
        page.first_run_label = ctx.labels[ctx.shown[0]].clone();
        page.info = RUN_FIELDS
            .iter()
            .filter_map(|f| run.info.get(*f).map(|v| (f.to_string(), v.clone())))
            .collect();
        page.runs = ctx
            .shown
            .iter()
            .rev()
            .map(|&r| {
                let run = &history.runs[r];
                RunView {
                    label: ctx.labels[r].clone(),
                    key: run.key.clone(),
                    tag: run.confirmation.map(|k| format!("confirmation {k}")).unwrap_or_default(),
                    current: r == c,
                }
            })
            .collect();
    } else if let Some(k) = verdicts.iter().find_map(|v| v.run_key.clone()) {
        page.run_label = k.clone();
        page.run_key = k;
    }

    // Test anchors: by first appearance in sorted test order.
    let tests: BTreeSet<&str> = history
        .cases
        .keys()
        .map(|k| k.test_id.as_str())
        .chain(verdicts.iter().map(|v| v.test_id.as_str()))
        .collect();
    let anchor: HashMap<&str, String> =
        tests.iter().enumerate().map(|(i, t)| (*t, format!("t{i}"))).collect();

    // Current run: ok and failed cases.
    let mut failed = Vec::new();
    let mut earlier_failed = Vec::new();
    let mut ok_cases = 0;
    for (case, samples) in &history.cases {
        for s in samples.iter().filter(|s| ctx.shown.contains(&s.run)) {
            let is_current = Some(s.run) == current;
            if s.ok {
                ok_cases += usize::from(is_current);
                continue;
            }
            let tail = &s.log_tail[s.log_tail.len().saturating_sub(MAX_LOG_LINES)..];
            let f = FailedCase {
                test_id: case.test_id.clone(),
                case: case.label(),
                run_key: history.runs[s.run].key.clone(),
                run_label: ctx.labels[s.run].clone(),
                reasons: s.reasons.clone(),
                log_tail: tail.join("\n"),
                log_lines: tail.len(),
            };
            if is_current {
                failed.push(f);
            } else {
                earlier_failed.push(f);
            }
        }
    }
    earlier_failed.reverse();

    // Verdicts: worst first. The headline and counts count cases when perf-check gave case
    // verdicts, else series.
    let order = |a: &&VerdictRecord, b: &&VerdictRecord| {
        rank(a.verdict).cmp(&rank(b.verdict)).then(worse_pct(b).total_cmp(&worse_pct(a))).then_with(
            || (&a.test_id, &a.client, &a.metric).cmp(&(&b.test_id, &b.client, &b.metric)),
        )
    };
    let mut sorted = metric_records.clone();
    sorted.sort_by(order);
    let mut sorted_cases = case_records.clone();
    sorted_cases.sort_by(order);
    let case_level = !sorted_cases.is_empty();
    let counted = if case_level { &sorted_cases } else { &sorted };
    page.counting = if case_level { "cases" } else { "series" };
    let mut by_verdict: BTreeMap<usize, usize> = BTreeMap::new();
    for v in counted {
        *by_verdict.entry(rank(v.verdict)).or_default() += 1;
    }
    let n = |r: usize| by_verdict.get(&r).copied().unwrap_or(0);
    page.counts = vec![
        Count { label: "regressed", n: n(0), class: if n(0) > 0 { "bad" } else { "neutral" } },
        Count {
            label: "failed",
            n: failed.len(),
            class: if failed.is_empty() { "neutral" } else { "bad" },
        },
        Count { label: "suspect", n: n(1), class: if n(1) > 0 { "warn" } else { "neutral" } },
        Count { label: "improved", n: n(2), class: if n(2) > 0 { "good" } else { "neutral" } },
        Count { label: "undecided", n: n(3), class: if n(3) > 0 { "warn" } else { "neutral" } },
        Count { label: "no change", n: n(4), class: "neutral" },
        Count { label: "too little history", n: n(5), class: "neutral" },
        Count { label: "ok cases", n: ok_cases, class: "neutral" },
    ];
    let facts = Facts {
        unit: if case_level { Unit::Case } else { Unit::Series },
        regressed: n(0),
        failed: failed.len(),
        suspect: n(1),
        undecided: n(3),
        most_runs_needed: counted
            .iter()
            .filter(|v| v.verdict == Verdict::Undecided)
            .filter_map(|v| v.runs_needed)
            .max(),
        judged: counted.len() - n(5),
        unjudged: n(5),
        verdicts: counted.len(),
        runs: history.runs.len(),
        earlier_runs: ctx.shown.len().saturating_sub(1),
        history_held: counted.iter().map(|v| v.window).max(),
    };
    (page.headline, page.headline_class, page.notice) = headline(&facts);
    page.failed = failed;
    page.earlier_failed = earlier_failed;

    // The key numbers of this run.
    page.key_numbers = key_numbers(&ctx, &anchor);

    // What moved: cards with the series' trend (cases' cards when case verdicts exist).
    let movers: Vec<&VerdictRecord> =
        counted.iter().copied().filter(|v| moved(v.verdict)).collect();
    page.moved_more = movers.len().saturating_sub(MAX_CARDS);
    for v in movers.iter().take(MAX_CARDS) {
        let case = case_key(v);
        page.moved.push(card(&mut ctx, v, &case, anchor[v.test_id.as_str()].clone())?);
    }
    page.case_verdicts = sorted_cases
        .iter()
        .map(|v| {
            let case = case_key(v);
            CaseRow {
                badge: badge(v),
                rank: rank(v.verdict),
                test_id: v.test_id.clone(),
                case: case.label(),
                anchor: anchor[v.test_id.as_str()].clone(),
                delta: fmt_delta(v.delta_pct),
                delta_class: delta_class(
                    v.delta_pct,
                    direction_of("*", &v.better),
                    moved(v.verdict),
                ),
                supporting: supporting_text(&ctx, &case, &v.supporting),
                reason: v.reason.clone().unwrap_or_default(),
            }
        })
        .collect();
    page.verdicts = sorted
        .iter()
        .map(|v| {
            let case = case_key(v);
            let dir = direction_of(&v.metric, &v.better);
            Row {
                rank: rank(v.verdict),
                verdict: v.verdict.as_str(),
                badge: badge(v),
                class: class(v.verdict),
                test_id: v.test_id.clone(),
                case: case.label(),
                metric: v.metric.clone(),
                direction: arrow(dir),
                supporting: ctx.supporting(&case, &v.metric),
                baseline: fmt_val(v.baseline),
                current: fmt_val(v.current),
                delta: fmt_delta(v.delta_pct),
                delta_class: delta_class(v.delta_pct, dir, moved(v.verdict)),
                worse_pct: if v.delta_pct.is_some() { worse_pct(v) } else { f64::MIN },
                change_run: v.change_run.clone().unwrap_or_default(),
                change_run_label: v
                    .change_run
                    .as_deref()
                    .map(|k| ctx.run_label(k))
                    .unwrap_or_default(),
                p_value: v.p_value.map(|p| format!("{p:.2e}")).unwrap_or_default(),
                q_value: v.q_value.map(|q| format!("{q:.2e}")).unwrap_or_default(),
                method: v.method.clone(),
                anchor: anchor[v.test_id.as_str()].clone(),
            }
        })
        .collect();
    // One section per test, the most worrying first.
    let mut sections = Vec::new();
    for test in &tests {
        let cases: Vec<&CaseKey> = history.cases.keys().filter(|k| k.test_id == *test).collect();
        if cases.is_empty() {
            continue;
        }
        sections.push(test_view(&mut ctx, test, &cases, anchor[test].clone(), &mut page.notes)?);
    }
    sections.sort_by_key(|t| (worst(t.class), t.test_id.clone()));
    page.tests = sections;
    page.charts = ctx.charts.len();
    Ok((page, ctx.charts))
}

/// What the headline is decided from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Case,
    Series,
}

impl Unit {
    fn of(self, n: usize) -> String {
        match (self, n) {
            (Unit::Case, 1) => "1 case".to_string(),
            (Unit::Case, n) => format!("{n} cases"),
            (Unit::Series, n) => format!("{n} series"),
        }
    }
}

/// The counts the headline is decided from.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub unit: Unit,
    pub regressed: usize,
    /// Failed cases of the current run.
    pub failed: usize,
    pub suspect: usize,
    pub undecided: usize,
    /// The largest `runs_needed` of the undecided verdicts.
    pub most_runs_needed: Option<u32>,
    /// Verdicts other than insufficient-data.
    pub judged: usize,
    pub unjudged: usize,
    pub verdicts: usize,
    /// Runs in the history.
    pub runs: usize,
    /// Runs shown before the current one.
    pub earlier_runs: usize,
    /// The most earlier runs a verdict's history held.
    pub history_held: Option<u32>,
}

/// The headline, its colour class and a plain notice: worst first; never green over
/// series nobody judged.
pub fn headline(f: &Facts) -> (String, &'static str, String) {
    let none = String::new();
    if f.regressed > 0 || f.failed > 0 {
        let mut parts = Vec::new();
        if f.regressed > 0 {
            parts.push(format!("{} regressed", f.unit.of(f.regressed)));
        }
        if f.failed > 0 {
            parts.push(Unit::Case.of(f.failed) + " failed");
        }
        return (parts.join(", "), "bad", none);
    }
    if f.suspect > 0 {
        let what = match f.unit {
            Unit::Series => format!("{} suspect series", f.suspect),
            Unit::Case if f.suspect == 1 => "1 suspect case".to_string(),
            Unit::Case => format!("{} suspect cases", f.suspect),
        };
        return (format!("{what}: rerun before believing them"), "warn", none);
    }
    if f.undecided > 0 {
        let more = match f.most_runs_needed {
            Some(1) => "1 more run decides".to_string(),
            Some(n) => format!("up to {n} more runs decide"),
            None => "more runs decide".to_string(),
        };
        return (format!("{} undecided: {more}", f.unit.of(f.undecided)), "warn", none);
    }
    let needs = format!("perf-check needs {DEFAULT_MIN_HISTORY} earlier runs");
    if f.runs == 0 {
        return (
            "No runs yet: the store (or input) holds no results to report".to_string(),
            "neutral",
            "Upload a run (upload --store URL), then judge it (perf-check --store URL) and write this report again.".to_string(),
        );
    }
    if f.judged == 0 && f.earlier_runs == 0 {
        return (
            format!("First run of these series: nothing to compare against yet ({needs})"),
            "neutral",
            "Below are this run's values; verdicts come once the series have history.".to_string(),
        );
    }
    if f.verdicts == 0 {
        return ("no verdicts given: trends only".to_string(), "neutral", none);
    }
    if f.judged == 0 {
        let so_far = f.history_held.map(|w| format!(", at most {w} so far")).unwrap_or_default();
        return (
            format!("Too little history to judge: {needs} per series{so_far}"),
            "neutral",
            format!("{} not judged yet.", f.unit.of(f.unjudged)),
        );
    }
    let mut text = "nothing regressed".to_string();
    if f.unjudged > 0 {
        text.push_str(&format!(" ({} not judged yet: too little history)", f.unit.of(f.unjudged)));
    }
    (text, "good", none)
}

/// The legend: every verdict's meaning and the method's settings (method and history from
/// the verdicts; the rest perf-check's defaults).
pub fn legend(verdicts: &[VerdictRecord]) -> Legend {
    let items = Verdict::ALL;
    let methods: BTreeSet<&str> =
        verdicts.iter().map(|v| v.method.as_str()).filter(|m| !m.is_empty()).collect();
    let method = if methods.is_empty() {
        "change-point (perf-check's default with --store)".to_string()
    } else {
        methods.into_iter().collect::<Vec<_>>().join(", ")
    };
    let held = verdicts.iter().map(|v| v.window).max();
    let window = match held {
        Some(w) => format!(
            "up to {DEFAULT_WINDOW} earlier runs per series (default --window); these verdicts used at most {w}"
        ),
        None => format!("up to {DEFAULT_WINDOW} earlier runs per series (default --window)"),
    };
    let fdr = if verdicts.iter().any(|v| v.q_value.is_some()) {
        format!("Benjamini–Hochberg at {DEFAULT_FDR} over all series of the run (default --fdr; q-values in the verdicts)")
    } else {
        format!("Benjamini–Hochberg at {DEFAULT_FDR} over all series of the run (default --fdr)")
    };
    Legend {
        verdicts: items
            .iter()
            .map(|v| LegendItem { verdict: v.as_str(), class: class(*v), meaning: meaning(*v) })
            .collect(),
        settings: vec![
            ("method".to_string(), method),
            (
                "minimum history".to_string(),
                format!("{DEFAULT_MIN_HISTORY} earlier runs before a series is judged"),
            ),
            ("α".to_string(), format!("{DEFAULT_ALPHA} per series (default --alpha)")),
            ("false-discovery rate".to_string(), fdr),
            (
                "min-change".to_string(),
                format!(
                    "{} % (default --min-change): smaller moves are never a regression or improvement",
                    fmt_val(Some(DEFAULT_MIN_CHANGE_PCT))
                ),
            ),
            ("window".to_string(), window),
        ],
        settings_note: "Method and history are read from the verdicts; the other settings are perf-check's defaults (a run given other flags differs).".to_string(),
    }
}

/// The key numbers of every case of the current run (a failed one says so), Δ from its
/// verdict (else against the case's previous ok run).
fn key_numbers(ctx: &Ctx<'_>, anchor: &HashMap<&str, String>) -> KeyNumbers {
    let headers = HEADLINE_METRICS
        .iter()
        .map(|(m, name)| KeyHeader { name, direction: arrow(better(m)) })
        .collect();
    let Some(current) = ctx.current else { return KeyNumbers { headers, ..KeyNumbers::default() } };
    let mut cases: Vec<(&CaseKey, &Sample)> = ctx
        .history
        .cases
        .keys()
        .filter_map(|k| Some((k, ctx.sample(k, current)?)))
        .filter(|(_, s)| !s.ok || HEADLINE_METRICS.iter().any(|(m, _)| s.metrics.contains_key(*m)))
        .collect();
    cases.sort_by(|a, b| {
        (&a.0.test_id, a.1.concurrency.unwrap_or(u64::MAX), a.0.label()).cmp(&(
            &b.0.test_id,
            b.1.concurrency.unwrap_or(u64::MAX),
            b.0.label(),
        ))
    });
    let more = cases.len().saturating_sub(MAX_HEADLINE_ROWS);
    let rows = cases
        .into_iter()
        .take(MAX_HEADLINE_ROWS)
        .map(|(case, s)| KeyRow {
            test_id: case.test_id.clone(),
            case: case.label(),
            anchor: anchor.get(case.test_id.as_str()).cloned().unwrap_or_default(),
            badge: match s.ok {
                true => ctx.case_verdicts.get(case).map(|v| badge(v)),
                false => {
                    Some(Badge { text: "failed".into(), class: "bad", title: s.reasons.join("; ") })
                }
            },
            cells: HEADLINE_METRICS.iter().map(|(m, _)| key_cell(ctx, case, s, m)).collect(),
        })
        .collect();
    KeyNumbers { headers, rows, more }
}

fn key_cell(ctx: &Ctx<'_>, case: &CaseKey, s: &Sample, metric: &str) -> KeyCell {
    let Some(&value) = s.metrics.get(metric) else {
        return KeyCell {
            value: "–".into(),
            unit: String::new(),
            delta: String::new(),
            delta_class: "flat",
            delta_title: String::new(),
        };
    };
    let dir = better(metric);
    let (delta, moved, title) = match ctx.verdicts.get(&(case.clone(), metric)) {
        Some(v) => (
            v.delta_pct,
            moved(v.verdict),
            format!("against perf-check's baseline {} ({})", fmt_val(v.baseline), badge(v).text),
        ),
        None => {
            let previous = ctx.history.cases[case]
                .iter()
                .rev()
                .filter(|p| p.run < s.run && p.ok && ctx.shown.contains(&p.run))
                .find_map(|p| Some((p.run, *p.metrics.get(metric)?)));
            match previous {
                Some((run, before)) if before != 0.0 => (
                    Some((value - before) / before.abs() * 100.0),
                    false,
                    format!("against the previous run {} (not judged)", ctx.labels[run]),
                ),
                _ => (None, false, String::new()),
            }
        }
    };
    KeyCell {
        value: fmt_val(Some(value)),
        unit: s.units.get(metric).cloned().unwrap_or_default(),
        delta: delta.map(|d| fmt_delta(Some(d))).unwrap_or_default(),
        delta_class: delta_class(delta, dir, moved),
        delta_title: title,
    }
}

/// `token_throughput −12.0 %, mean_tpot +13.6 %`: a case verdict's supporting metrics with
/// their own Δ where perf-check gave one.
fn supporting_text(ctx: &Ctx<'_>, case: &CaseKey, metrics: &[String]) -> String {
    metrics
        .iter()
        .map(|m| match ctx.verdicts.get(&(case.clone(), m.as_str())).and_then(|v| v.delta_pct) {
            Some(d) => format!("{m} {}", fmt_delta(Some(d))),
            None => m.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A "what moved" card: a series, or a case with its supporting metrics (its chart: the
/// first supporting metric's trend).
fn card(ctx: &mut Ctx<'_>, v: &VerdictRecord, case: &CaseKey, anchor: String) -> Result<Card> {
    let is_case = v.scope == Scope::Case;
    let chart_metric = if is_case { v.supporting.first().cloned() } else { Some(v.metric.clone()) };
    let has_case = ctx.history.cases.contains_key(case) && ctx.current.is_some();
    let svg = match chart_metric.as_deref() {
        Some(m) if has_case => Some(ctx.trend(case, m)?.svg),
        _ => None,
    };
    let since = v.change_run.as_deref().map(|k| format!(", since {}", ctx.run_label(k)));
    let dir =
        if is_case { direction_of("*", &v.better) } else { direction_of(&v.metric, &v.better) };
    let detail = if is_case {
        match supporting_text(ctx, case, &v.supporting) {
            s if s.is_empty() => format!("whole case{}", since.unwrap_or_default()),
            s => format!("supported by {s}{}", since.unwrap_or_default()),
        }
    } else {
        let unit = ctx.unit(case, &v.metric).map(|u| format!(" {u}")).unwrap_or_default();
        format!(
            "{} → {}{unit}{}",
            fmt_val(v.baseline),
            fmt_val(v.current),
            since.unwrap_or_default(),
        )
    };
    Ok(Card {
        verdict: v.verdict.as_str(),
        badge: badge(v),
        class: class(v.verdict),
        test_id: v.test_id.clone(),
        case: case.label(),
        metric: if is_case { "whole case".to_string() } else { v.metric.clone() },
        direction: if is_case { "" } else { arrow(dir) },
        delta: fmt_delta(v.delta_pct),
        delta_class: delta_class(v.delta_pct, dir, moved(v.verdict)),
        detail,
        anchor,
        svg,
    })
}

fn worst(class: &str) -> usize {
    ["bad", "warn", "good", "neutral"].iter().position(|c| *c == class).unwrap_or(4)
}

fn test_view(
    ctx: &mut Ctx<'_>,
    test: &str,
    cases: &[&CaseKey],
    anchor: String,
    notes: &mut Vec<String>,
) -> Result<TestView> {
    let mut cases = cases.to_vec();
    let concurrency = |k: &CaseKey| {
        ctx.history.cases[k].iter().rev().find_map(|s| s.concurrency).unwrap_or(u64::MAX)
    };
    cases.sort_by_key(|k| (concurrency(k), k.label()));
    let mut views = Vec::new();
    let mut test_class = "neutral";
    let mut moved_n = BTreeMap::<&'static str, usize>::new();
    for case in &cases {
        let mut metrics: Vec<String> = Vec::new();
        let present: BTreeSet<&str> = ctx.history.cases[*case]
            .iter()
            .filter(|s| ctx.shown.contains(&s.run))
            .flat_map(|s| s.metrics.keys().map(String::as_str))
            .collect();
        for m in KEY_METRICS.iter().filter(|m| present.contains(**m)) {
            metrics.push(m.to_string());
        }
        let mut extra: Vec<&str> = ctx
            .verdicts
            .iter()
            .filter(|((k, m), v)| k == *case && moved(v.verdict) && !KEY_METRICS.contains(m))
            .map(|((_, m), _)| *m)
            .collect();
        extra.sort_unstable();
        metrics.extend(extra.into_iter().map(str::to_string));
        let mut charts = Vec::new();
        if ctx.current.is_some() {
            for m in &metrics {
                charts.push(ctx.trend(case, m)?);
            }
        }
        let mut class =
            charts.iter().map(|c| c.class).min_by_key(|c| worst(c)).unwrap_or("neutral");
        for c in &charts {
            if c.class != "neutral" {
                *moved_n.entry(c.class).or_default() += 1;
            }
        }
        let failed_now = ctx.current.and_then(|c| ctx.sample(case, c)).is_some_and(|s| !s.ok);
        let status = if failed_now {
            class = "bad";
            "failed in this run".to_string()
        } else {
            charts
                .iter()
                .filter(|c| !c.caption.is_empty() && c.class != "neutral")
                .map(|c| format!("{} {}", c.metric, c.caption))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if failed_now {
            *moved_n.entry("failed").or_default() += 1;
        }
        if worst(class) < worst(test_class) {
            test_class = class;
        }
        let badge = ctx.case_verdicts.get(*case).map(|v| badge(v));
        if let Some(b) = &badge {
            if worst(b.class) < worst(class) {
                class = b.class;
            }
        }
        views.push(CaseView { label: case.label(), class, status, badge, charts });
    }
    let status =
        [("bad", "regressed"), ("failed", "failed"), ("warn", "suspect"), ("good", "improved")]
            .iter()
            .filter_map(|(k, word)| moved_n.get(k).map(|n| format!("{n} {word}")))
            .collect::<Vec<_>>()
            .join(", ");
    let pareto = pareto(ctx, test, &cases, notes)?;
    Ok(TestView {
        test_id: test.to_string(),
        anchor,
        class: test_class,
        status,
        open: test_class != "neutral",
        pareto,
        cases: views,
    })
}

/// Tokens/s per user: `user_throughput`, else 1000 / `mean_tpot` (ms).
fn per_user(s: &Sample) -> Option<f64> {
    s.metrics.get("user_throughput").copied().or_else(|| {
        let tpot = *s.metrics.get("mean_tpot")?;
        (tpot > 0.0).then(|| 1000.0 / tpot)
    })
}

/// The Pareto chart of a test's sweep: current run against its baseline run (the latest
/// earlier run, shown, with ok results for the test; before the earliest change point of the
/// test's moved series when there is one).
fn pareto(
    ctx: &mut Ctx<'_>,
    test: &str,
    cases: &[&CaseKey],
    notes: &mut Vec<String>,
) -> Result<Option<String>> {
    let Some(current) = ctx.current else { return Ok(None) };
    let mut assumed = false;
    let mut points = |run: usize| -> Vec<(f64, f64, String)> {
        cases
            .iter()
            .filter_map(|k| {
                let s = ctx.sample(k, run).filter(|s| s.ok)?;
                let (x, tput) = (per_user(s)?, *s.metrics.get("token_throughput")?);
                assumed |= s.gpus.is_none();
                let label = s.concurrency.map_or_else(|| k.client.clone(), |c| format!("c{c}"));
                Some((x, tput / s.gpus.unwrap_or(1) as f64, label))
            })
            .collect()
    };
    let now = points(current);
    if now.is_empty() {
        return Ok(None);
    }
    let change = ctx
        .verdicts
        .iter()
        .filter(|((k, _), v)| {
            k.test_id == test && matches!(v.verdict, Verdict::Regression | Verdict::Improvement)
        })
        .filter_map(|(_, v)| ctx.position(v.change_run.as_deref()?))
        .min();
    let end = change.unwrap_or(ctx.shown.len() - 1);
    let base_run = ctx.shown[..end].iter().rev().copied().find(|&r| !points(r).is_empty());
    let base = base_run.map(&mut points).unwrap_or_default();
    let key = |r: usize| chart::shorten(&ctx.labels[r], 36);
    let p = Pareto {
        title: format!("{} — throughput vs interactivity", chart::shorten(test, 40)),
        note: assumed
            .then(|| "per GPU: 1 GPU assumed (no total_gpus/gpus in the records)".to_string()),
        current: now,
        baseline: base,
        current_label: format!("current {}", key(current)),
        baseline_label: base_run.map_or_else(String::new, |r| format!("baseline {}", key(r))),
    };
    if assumed && !notes.iter().any(|n| n.starts_with("Pareto")) {
        notes.push("Pareto charts: tokens/s per GPU assume 1 GPU where records carry no context.total_gpus/gpus.".to_string());
    }
    let svg = chart::pareto_svg(&p)?;
    let name = format!("{:04}-{}-pareto.svg", ctx.charts.len(), slug(test));
    ctx.charts.push(ChartFile { name, svg: svg.clone() });
    Ok(Some(svg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input;

    fn parse_verdict(json: &str) -> VerdictRecord {
        perfline::jsonl::parse(json).unwrap()
    }

    fn metric_verdict(client: &str, metric: &str, verdict: &str, delta: f64) -> VerdictRecord {
        parse_verdict(&format!(
            r#"{{"test_id":"t","server":"s","client":"{client}","metric":"{metric}","verdict":"{verdict}","current":null,"baseline":100.0,"delta_pct":{delta},"method":"change-point","window":6,"better":"higher","run_key":"k3"}}"#
        ))
    }

    /// Three runs of one case (`t`, `s`, `c1`): dates and commits, the last a confirmation.
    fn history() -> History {
        let mut h = History::default();
        let mut records = Vec::new();
        for (i, (tput, ttft)) in [(100.0, 20.0), (102.0, 21.0), (90.0, 25.0)].iter().enumerate() {
            let n = i + 1;
            let confirmation = if n == 3 { r#","confirmation":1"# } else { "" };
            records.push(
                perfline::jsonl::parse(&format!(
                    r#"{{"test_id":"t","server":"s","client":"c1","concurrency":1,"status":"ok","metrics":{{"token_throughput":{tput},"mean_ttft":{ttft}}},"units":{{"token_throughput":"tok/s","mean_ttft":"ms"}},"context":{{"run_key":"k{n}","commit":"c0ffee{n}","start_time":"2026-12-0{n}T10:00:00Z"{confirmation}}}}}"#
                ))
                .unwrap(),
            );
        }
        input::add_records(&mut h, records, "f");
        h
    }

    fn opts() -> Options {
        Options { window: 100, run_key: None, title: "t".into() }
    }

    #[test]
    fn delta_colour_follows_the_direction() {
        let (up, down) = (Some(Better::Higher), Some(Better::Lower));
        assert_eq!(delta_class(Some(-12.0), up, true), "worse");
        assert_eq!(delta_class(Some(-12.0), down, true), "better");
        assert_eq!(delta_class(Some(21.1), down, false), "worse muted");
        assert_eq!(delta_class(Some(3.0), up, false), "better muted");
        assert_eq!(delta_class(Some(0.01), up, true), "flat");
        assert_eq!(delta_class(Some(5.0), None, true), "flat");
        assert_eq!(delta_class(None, up, true), "flat");
        assert_eq!((arrow(up), arrow(down), arrow(None)), ("↑ better", "↓ better", ""));
        assert_eq!(direction_of("mean_tpot", "higher"), down, "perfline's table wins");
        assert_eq!(direction_of("*", "higher"), up);
        assert_eq!(direction_of("gpu_util_mean", ""), None);
    }

    #[test]
    fn badges_say_how_many_runs_and_why() {
        let mut v = metric_verdict("c1", "mean_tpot", "undecided", 21.1);
        assert_eq!(
            badge(&v),
            Badge {
                text: "undecided".into(),
                class: "warn",
                title: "undecided: the data cannot tell yet: the badge says how many more runs at this level would decide (e.g. undecided — 2 more runs)".into(),
            }
        );
        v.runs_needed = Some(2);
        v.reason = Some("+21.1 % is inside the noise (±25 % resolvable)".into());
        let b = badge(&v);
        assert_eq!(
            (b.text.as_str(), b.title.as_str()),
            ("undecided — 2 more runs", "+21.1 % is inside the noise (±25 % resolvable)")
        );
        v.runs_needed = Some(1);
        assert_eq!(badge(&v).text, "undecided — 1 more run");
        v.reason = None;
        v.min_detectable_pct = Some(9.84);
        assert!(
            badge(&v).title.ends_with("; one more run resolves moves of 9.84 % or more"),
            "{}",
            badge(&v).title
        );
        let r = metric_verdict("c1", "token_throughput", "regression", -12.0);
        assert_eq!((badge(&r).text.as_str(), badge(&r).class), ("regression", "bad"));
        assert_eq!(
            meaning(Verdict::NoChange),
            "the data rule out a move of min-change (2 %) or more: the confidence interval lies inside ±min-change"
        );
    }

    fn facts() -> Facts {
        Facts {
            unit: Unit::Series,
            regressed: 0,
            failed: 0,
            suspect: 0,
            undecided: 0,
            most_runs_needed: None,
            judged: 0,
            unjudged: 0,
            verdicts: 0,
            runs: 1,
            earlier_runs: 0,
            history_held: None,
        }
    }

    #[test]
    fn headline_is_never_green_over_unjudged_series() {
        let h = |f: Facts| {
            let (text, class, _) = headline(&f);
            (text, class)
        };
        assert_eq!(
            headline(&Facts { runs: 0, ..facts() }),
            (
                "No runs yet: the store (or input) holds no results to report".into(),
                "neutral",
                "Upload a run (upload --store URL), then judge it (perf-check --store URL) and write this report again.".into()
            )
        );
        let first = "First run of these series: nothing to compare against yet (perf-check needs 5 earlier runs)";
        assert_eq!(h(facts()), (first.into(), "neutral"));
        assert_eq!(h(Facts { verdicts: 4, unjudged: 4, ..facts() }), (first.into(), "neutral"));
        assert_eq!(
            h(Facts { verdicts: 4, unjudged: 4, earlier_runs: 2, history_held: Some(2), ..facts() }),
            ("Too little history to judge: perf-check needs 5 earlier runs per series, at most 2 so far".into(), "neutral")
        );
        assert_eq!(
            h(Facts { earlier_runs: 2, ..facts() }),
            ("no verdicts given: trends only".into(), "neutral")
        );
        assert_eq!(
            h(Facts { verdicts: 5, judged: 3, unjudged: 2, earlier_runs: 9, ..facts() }),
            ("nothing regressed (2 series not judged yet: too little history)".into(), "good")
        );
        assert_eq!(
            h(Facts {
                unit: Unit::Case,
                verdicts: 3,
                judged: 3,
                undecided: 2,
                most_runs_needed: Some(4),
                earlier_runs: 9,
                ..facts()
            }),
            ("2 cases undecided: up to 4 more runs decide".into(), "warn")
        );
        assert_eq!(
            h(Facts { unit: Unit::Case, regressed: 1, failed: 2, ..facts() }),
            ("1 case regressed, 2 cases failed".into(), "bad")
        );
        assert_eq!(
            h(Facts { suspect: 3, ..facts() }),
            ("3 suspect series: rerun before believing them".into(), "warn")
        );
    }

    #[test]
    fn legend_takes_method_and_window_from_the_verdicts() {
        let none = legend(&[]);
        assert_eq!(none.verdicts.len(), 6);
        assert_eq!(
            none.settings.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["method", "minimum history", "α", "false-discovery rate", "min-change", "window"]
        );
        assert_eq!(none.settings[0].1, "change-point (perf-check's default with --store)");
        let mut v = metric_verdict("c1", "mean_tpot", "no-change", 0.5);
        v.method = "incumbent".into();
        v.q_value = Some(0.3);
        let l = legend(&[v]);
        assert_eq!(l.settings[0].1, "incumbent");
        assert_eq!(
            l.settings[5].1,
            "up to 30 earlier runs per series (default --window); these verdicts used at most 6"
        );
        assert!(
            l.settings[3].1.ends_with("(default --fdr; q-values in the verdicts)"),
            "{}",
            l.settings[3].1
        );
    }

    #[test]
    fn page_names_runs_counts_cases_and_shows_key_numbers() {
        let h = history();
        let mut tput = metric_verdict("c1", "token_throughput", "regression", -11.76);
        tput.baseline = Some(102.0);
        let mut case = metric_verdict("c1", "*", "regression", -11.76);
        case.scope = Scope::Case;
        case.supporting = vec!["token_throughput".into()];
        case.reason = Some("throughput down".into());
        let (page, _) = build(&h, &[tput, case], &opts()).unwrap();
        assert_eq!(
            (page.run_key.as_str(), page.run_label.as_str(), page.run_tag.as_str()),
            ("k3", "2026-12-03 10:00 · c0ffee3", "confirmation 1")
        );
        assert_eq!(page.first_run_label, "2026-12-01 10:00 · c0ffee1");
        assert_eq!(
            page.runs,
            [
                RunView {
                    label: "2026-12-03 10:00 · c0ffee3".into(),
                    key: "k3".into(),
                    tag: "confirmation 1".into(),
                    current: true
                },
                RunView {
                    label: "2026-12-02 10:00 · c0ffee2".into(),
                    key: "k2".into(),
                    tag: String::new(),
                    current: false
                },
                RunView {
                    label: "2026-12-01 10:00 · c0ffee1".into(),
                    key: "k1".into(),
                    tag: String::new(),
                    current: false
                },
            ]
        );
        assert_eq!(
            (page.headline.as_str(), page.headline_class, page.counting),
            ("1 case regressed", "bad", "cases")
        );
        assert_eq!(page.counts[0].n, 1);
        // Key numbers: throughput against perf-check's baseline, TTFT against the previous run.
        let row = &page.key_numbers.rows[0];
        assert_eq!((row.test_id.as_str(), row.case.as_str()), ("t", "s-c1"));
        assert_eq!(row.badge.as_ref().map(|b| b.title.as_str()), Some("throughput down"));
        assert_eq!(
            row.cells[0],
            KeyCell {
                value: "90".into(),
                unit: "tok/s".into(),
                delta: "-11.8 %".into(),
                delta_class: "worse",
                delta_title: "against perf-check's baseline 102 (regression)".into(),
            }
        );
        assert_eq!(
            row.cells[1],
            KeyCell {
                value: "25".into(),
                unit: "ms".into(),
                delta: "+19.0 %".into(),
                delta_class: "worse muted",
                delta_title: "against the previous run 2026-12-02 10:00 · c0ffee2 (not judged)"
                    .into(),
            }
        );
        assert_eq!(row.cells[2].value, "–");
        assert_eq!(
            page.key_numbers.headers.iter().map(|h| (h.name, h.direction)).collect::<Vec<_>>(),
            [
                ("output throughput", "↑ better"),
                ("TTFT (mean)", "↓ better"),
                ("TPOT (mean)", "↓ better"),
                ("E2EL (mean)", "↓ better")
            ]
        );
        // The case card lists its supporting metric; the metric row is marked supporting.
        assert_eq!(page.moved.len(), 1);
        let card = &page.moved[0];
        assert_eq!(
            (card.metric.as_str(), card.detail.as_str(), card.delta_class, card.direction),
            ("whole case", "supported by token_throughput -11.8 %", "worse", "")
        );
        assert_eq!(page.verdicts.len(), 1);
        let row = &page.verdicts[0];
        assert_eq!((row.supporting, row.direction, row.delta_class), (true, "↑ better", "worse"));
        assert_eq!(page.case_verdicts[0].supporting, "token_throughput -11.8 %");
        // The test section: the case's badge, the supporting chart marked.
        let case_view = &page.tests[0].cases[0];
        assert_eq!(case_view.badge.as_ref().map(|b| b.text.as_str()), Some("regression"));
        let marks: Vec<(&str, bool, &str)> = case_view
            .charts
            .iter()
            .map(|c| (c.metric.as_str(), c.supporting, c.direction))
            .collect();
        assert_eq!(
            marks,
            [("token_throughput", true, "↑ better"), ("mean_ttft", false, "↓ better")]
        );
    }

    #[test]
    fn shared_run_names_get_the_key() {
        let run = |key: &str, at: &str| Run {
            key: key.into(),
            info: [("uploaded_at".to_string(), at.to_string())].into(),
            confirmation: None,
        };
        let runs = [
            run("7b8e11ab49a68dcb", "2026-12-06 10:15:01"),
            run("66554c6afd598b77", "2026-12-06 10:15:40"),
            run("2dfeeec4409f9c8c", "2026-12-06 10:16:00"),
        ];
        assert_eq!(
            run_labels(&runs),
            [
                "uploaded 2026-12-06 10:15 · #7b8e11ab",
                "uploaded 2026-12-06 10:15 · #66554c6a",
                "uploaded 2026-12-06 10:16",
            ]
        );
    }

    #[test]
    fn empty_and_first_runs_say_so() {
        let (page, charts) = build(&History::default(), &[], &opts()).unwrap();
        assert_eq!(
            (page.headline.as_str(), page.headline_class, charts.len()),
            ("No runs yet: the store (or input) holds no results to report", "neutral", 0)
        );
        assert!(page.key_numbers.rows.is_empty() && page.runs.is_empty());
        let mut one = History::default();
        let first = history();
        one.runs.push(first.runs[0].clone());
        for (k, samples) in &first.cases {
            one.cases.insert(k.clone(), samples.iter().filter(|s| s.run == 0).cloned().collect());
        }
        let insufficient = metric_verdict("c1", "token_throughput", "insufficient-data", 0.0);
        let (page, _) = build(&one, &[insufficient], &opts()).unwrap();
        assert_eq!(
            (page.headline.as_str(), page.headline_class),
            ("First run of these series: nothing to compare against yet (perf-check needs 5 earlier runs)", "neutral")
        );
        assert_eq!(page.key_numbers.rows[0].cells[1].delta, "", "nothing to compare against");
    }
}
