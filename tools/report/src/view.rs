//! From history and verdicts to what the page shows: the summary, what moved (regressions
//! first), one section per test with its trend and Pareto charts, the verdict table and the
//! failed cases. Pure: no I/O.

use crate::chart::{self, Pareto, Tone, Trend};
use crate::model::{CaseKey, History, Sample, RUN_FIELDS};
use perfline::cli::{Failure, Result};
use perfline::metric::{better, Better};
use perfline::wire::verdict::{Verdict, VerdictRecord};
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
    pub runs_shown: usize,
    pub first_run: String,
    pub info: Vec<(String, String)>,
    pub counts: Vec<Count>,
    pub headline: String,
    pub headline_class: &'static str,
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

#[derive(Serialize, Debug)]
pub struct Card {
    pub verdict: &'static str,
    pub class: &'static str,
    pub test_id: String,
    pub case: String,
    pub metric: String,
    pub delta: String,
    pub detail: String,
    pub anchor: String,
    pub svg: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct FailedCase {
    pub test_id: String,
    pub case: String,
    pub run_key: String,
    pub reasons: Vec<String>,
    pub log_tail: String,
    pub log_lines: usize,
}

#[derive(Serialize, Debug)]
pub struct Row {
    pub rank: usize,
    pub verdict: &'static str,
    pub class: &'static str,
    pub test_id: String,
    pub case: String,
    pub metric: String,
    pub baseline: String,
    pub current: String,
    pub delta: String,
    /// Sort key of the delta column: the change in the worse direction, in percent.
    pub worse_pct: f64,
    pub change_run: String,
    pub p_value: String,
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
    pub charts: Vec<ChartView>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ChartView {
    pub metric: String,
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

/// The change in the worse direction, in percent (positive = worse), for sorting.
fn worse_pct(v: &VerdictRecord) -> f64 {
    let d = v.delta_pct.unwrap_or(0.0);
    let higher = match better(&v.metric) {
        Some(b) => b == Better::Higher,
        None => v.better == "higher",
    };
    if higher {
        -d
    } else {
        d
    }
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

/// `p`-th quantile (0..=1) of sorted values, linear interpolation.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + (next - sorted[i]) * frac,
        None => sorted[i],
    }
}

struct Ctx<'a> {
    history: &'a History,
    /// Shown run indices, oldest first; the last is the current run.
    shown: Vec<usize>,
    current: Option<usize>,
    verdicts: HashMap<(CaseKey, &'a str), &'a VerdictRecord>,
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

    /// Trend chart of one series; registers it for `--charts`.
    fn trend(&mut self, case: &CaseKey, metric: &str) -> Result<ChartView> {
        let verdict = self.verdicts.get(&(case.clone(), metric)).copied();
        let mut t = Trend {
            title: match self.unit(case, metric) {
                Some(u) if !u.is_empty() => format!("{metric} ({u})"),
                _ => metric.to_string(),
            },
            runs: self.shown.iter().map(|&r| self.history.runs[r].key.clone()).collect(),
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
                t.band = Some((quantile(&base, 0.1), quantile(&base, 0.9)));
            }
            if moved(v.verdict) {
                caption = format!("{} {}", v.verdict.as_str(), fmt_delta(v.delta_pct));
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
    let mut ctx = Ctx {
        history,
        shown,
        current,
        verdicts: verdicts
            .iter()
            .map(|v| {
                let key = CaseKey::new(&v.test_id, v.server.as_deref(), v.client.as_deref());
                ((key, v.metric.as_str()), v)
            })
            .collect(),
        charts: Vec::new(),
    };
    let mut page = Page { title: opts.title.clone(), ..Page::default() };
    if let Some(c) = current {
        let run = &history.runs[c];
        page.run_key = run.key.clone();
        page.runs_shown = ctx.shown.len();
        page.first_run = history.runs[ctx.shown[0]].key.clone();
        page.info = RUN_FIELDS
            .iter()
            .filter_map(|f| run.info.get(*f).map(|v| (f.to_string(), v.clone())))
            .collect();
    } else if let Some(k) = verdicts.iter().find_map(|v| v.run_key.clone()) {
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

    // Verdicts: worst first.
    let mut sorted: Vec<&VerdictRecord> = verdicts.iter().collect();
    sorted.sort_by(|a, b| {
        rank(a.verdict).cmp(&rank(b.verdict)).then(worse_pct(b).total_cmp(&worse_pct(a))).then_with(
            || (&a.test_id, &a.client, &a.metric).cmp(&(&b.test_id, &b.client, &b.metric)),
        )
    });
    let mut by_verdict: BTreeMap<usize, usize> = BTreeMap::new();
    for v in &sorted {
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
    let (headline, headline_class) = match (n(0), failed.len()) {
        (0, 0) if n(1) > 0 => {
            (format!("{} suspect series: rerun before believing them", n(1)), "warn")
        }
        (0, 0) if verdicts.is_empty() => ("no verdicts given: trends only".to_string(), "neutral"),
        (0, 0) => ("nothing regressed".to_string(), "good"),
        (r, f) => {
            let mut parts = Vec::new();
            if r > 0 {
                parts.push(format!("{r} series regressed"));
            }
            if f > 0 {
                parts.push(format!("{f} case{} failed", if f == 1 { "" } else { "s" }));
            }
            (parts.join(", "), "bad")
        }
    };
    page.headline = headline;
    page.headline_class = headline_class;
    page.failed = failed;
    page.earlier_failed = earlier_failed;

    // What moved: cards with the series' trend.
    let movers: Vec<&VerdictRecord> = sorted.iter().copied().filter(|v| moved(v.verdict)).collect();
    page.moved_more = movers.len().saturating_sub(MAX_CARDS);
    for v in movers.iter().take(MAX_CARDS) {
        let case = CaseKey::new(&v.test_id, v.server.as_deref(), v.client.as_deref());
        let svg = match history.cases.contains_key(&case) && current.is_some() {
            true => Some(ctx.trend(&case, &v.metric)?.svg),
            false => None,
        };
        let unit = ctx.unit(&case, &v.metric).map(|u| format!(" {u}")).unwrap_or_default();
        let since = v.change_run.as_deref().map(|k| format!(", since {}", chart::shorten(k, 16)));
        page.moved.push(Card {
            verdict: v.verdict.as_str(),
            class: class(v.verdict),
            test_id: v.test_id.clone(),
            case: case.label(),
            metric: v.metric.clone(),
            delta: fmt_delta(v.delta_pct),
            detail: format!(
                "{} → {}{unit}{} ({} is better)",
                fmt_val(v.baseline),
                fmt_val(v.current),
                since.unwrap_or_default(),
                v.better
            ),
            anchor: anchor[v.test_id.as_str()].clone(),
            svg,
        });
    }
    page.verdicts = sorted
        .iter()
        .map(|v| Row {
            rank: rank(v.verdict),
            verdict: v.verdict.as_str(),
            class: class(v.verdict),
            test_id: v.test_id.clone(),
            case: CaseKey::new(&v.test_id, v.server.as_deref(), v.client.as_deref()).label(),
            metric: v.metric.clone(),
            baseline: fmt_val(v.baseline),
            current: fmt_val(v.current),
            delta: fmt_delta(v.delta_pct),
            worse_pct: if v.delta_pct.is_some() { worse_pct(v) } else { f64::MIN },
            change_run: v.change_run.clone().unwrap_or_default(),
            p_value: v.p_value.map(|p| format!("{p:.2e}")).unwrap_or_default(),
            method: v.method.clone(),
            anchor: anchor[v.test_id.as_str()].clone(),
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
        views.push(CaseView { label: case.label(), class, status, charts });
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
    let key = |r: usize| chart::shorten(&ctx.history.runs[r].key, 16);
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
