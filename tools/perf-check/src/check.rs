//! From input records and history to verdict records: reading the current run, gathering each
//! series' history (store or baseline file), judging, and the regression lines for stderr.

use crate::judge::{self, ChangePointRule, Day, Outcome};
use perfline::cli::{Failure, Result};
use perfline::metric::{self, Better};
use perfline::wire::metrics::{MetricRecord, Status};
use perfline::wire::verdict::{Scope, Verdict, VerdictRecord};
use perfline_store::read::{History, SeriesKey};
use std::collections::HashMap;
use std::io::BufRead;

/// One value of the current run to judge.
#[derive(Clone, Debug, PartialEq)]
pub struct Current {
    pub key: SeriesKey,
    pub value: f64,
    pub better: Better,
    /// Earlier values of this invocation not in the store (pending runs), oldest first.
    pub pending: Vec<f64>,
    /// The run keys of the pending values (derived as upload derives them).
    pub pending_keys: Vec<String>,
    /// Run key of the input the current value comes from (when several inputs were given).
    pub run_key: Option<String>,
}

/// A `failed` record of the current run: reported, never judged.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedRecord {
    pub at: String,
    pub test_id: String,
    pub server: String,
    pub client: String,
    pub reasons: Vec<String>,
}

/// The current run as read from the input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Input {
    pub series: Vec<Current>,
    pub failed: Vec<FailedRecord>,
    /// Records read (ok and failed).
    pub count: usize,
    /// The run key upload derives for these records ([`perfline_store::runkey::of_records`]).
    pub run_key: String,
}

/// `SERVER-CLIENT` as upload names a case; one of them alone; `-` when neither.
pub fn case_name(server: &str, client: &str) -> String {
    match (server.is_empty(), client.is_empty()) {
        (false, false) => format!("{server}-{client}"),
        (false, true) => server.to_string(),
        (true, false) => client.to_string(),
        (true, true) => "-".to_string(),
    }
}

/// Reads metric records. Every bad line is an error (all are returned, nothing is judged):
/// invalid JSON, a non-finite value, the same series twice. Metrics with no direction
/// ([`perfline::metric::better`]) are not judged.
pub fn read_input(
    reader: Box<dyn BufRead>,
    source: &str,
) -> std::result::Result<Input, Vec<Failure>> {
    let mut input = Input::default();
    let mut errors = Vec::new();
    let mut seen: HashMap<SeriesKey, usize> = HashMap::new();
    let mut records: Vec<MetricRecord> = Vec::new();
    for line in perfline::jsonl::read::<MetricRecord, _>(reader, source) {
        let at = format!("{source}:{}", line.line);
        let record = match line.record {
            Ok(r) => r,
            Err(f) if f.exit == perfline::Exit::IoErr => return Err(vec![f]),
            Err(f) => {
                errors.push(f);
                continue;
            }
        };
        records.push(record.clone());
        let server = record.server.clone().unwrap_or_default();
        let client = record.client.clone().unwrap_or_default();
        if record.test_id.trim().is_empty() {
            errors.push(Failure::data(format!("{at}: empty test_id")));
            continue;
        }
        if record.status == Status::Failed {
            input.failed.push(FailedRecord {
                at,
                test_id: record.test_id.clone(),
                server: server.clone(),
                client: client.clone(),
                reasons: record.reasons.clone(),
            });
            continue;
        }
        for (name, value) in &record.metrics {
            let key = SeriesKey::new(&record.test_id, &server, &client, name);
            if !value.is_finite() {
                errors.push(Failure::data(format!(
                    "{at}: {}: {name}: not a finite number",
                    record.test_id
                )));
                continue;
            }
            if let Some(first) = seen.insert(key.clone(), line.line) {
                errors.push(Failure::data(format!(
                    "{at}: {} {} {name}: same series as line {first}",
                    record.test_id,
                    case_name(&server, &client)
                )));
                continue;
            }
            if let Some(better) = metric::better(name) {
                input.series.push(Current {
                    key,
                    value: *value,
                    better,
                    pending: Vec::new(),
                    pending_keys: Vec::new(),
                    run_key: None,
                });
            }
        }
    }
    if errors.is_empty() {
        input.count = records.len();
        input.run_key = perfline_store::runkey::of_records(&records);
        Ok(input)
    } else {
        Err(errors)
    }
}

/// Each series' earlier values, oldest first.
pub type Histories = HashMap<SeriesKey, Vec<Earlier>>;

/// One earlier value of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct Earlier {
    pub value: f64,
    pub run_key: Option<String>,
    pub day: Day,
}

/// Each series' earlier values, oldest first, from the store's history.
pub fn from_store(history: &History) -> HashMap<SeriesKey, Vec<Earlier>> {
    history
        .series
        .iter()
        .map(|s| {
            let points = s
                .points
                .iter()
                .map(|p| {
                    let run = &history.runs[p.run];
                    Earlier {
                        value: p.value,
                        run_key: Some(run.run_key.clone()),
                        day: Day::of(run.start_time.as_deref(), p.run),
                    }
                })
                .collect();
            (s.key.clone(), points)
        })
        .collect()
}

/// Each series' value in a reference run (`--baseline FILE`): one earlier value per series.
pub fn from_baseline(baseline: &Input) -> HashMap<SeriesKey, Vec<Earlier>> {
    baseline
        .series
        .iter()
        .map(|c| {
            let e = Earlier { value: c.value, run_key: None, day: Day::Run(0) };
            (c.key.clone(), vec![e])
        })
        .collect()
}

/// Which rule judges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    ChangePoint(ChangePointRule),
    /// The incumbent's rule with this threshold (a fraction).
    Incumbent(f64),
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::ChangePoint(_) => "change-point",
            Method::Incumbent(_) => "incumbent",
        }
    }
}

/// Judges every current value against its history and its pending runs ([`Current::pending`]);
/// one verdict per series, in input order, with its outcome. Change-point: Benjamini–Hochberg
/// over all series, then a case whose current run moved several coherent metrics
/// overwhelmingly is decided at once.
pub fn judge_all(
    input: &Input,
    history: &Histories,
    method: &Method,
    run_key: Option<&str>,
) -> (Vec<VerdictRecord>, Vec<Outcome>) {
    let empty = Vec::new();
    let mut outcomes: Vec<Outcome> = input
        .series
        .iter()
        .map(|c| {
            let earlier = history.get(&c.key).unwrap_or(&empty);
            match method {
                Method::ChangePoint(rule) => {
                    let values: Vec<f64> = earlier.iter().map(|e| e.value).collect();
                    judge::judge_series(&values, &c.pending, c.value, c.better, rule)
                }
                Method::Incumbent(threshold) => {
                    let days: Vec<(f64, Day)> =
                        earlier.iter().map(|e| (e.value, e.day.clone())).collect();
                    judge::incumbent(&days, c.value, c.better, *threshold)
                }
            }
        })
        .collect();
    if let Method::ChangePoint(rule) = method {
        judge::apply_fdr(&mut outcomes, rule);
        decide_overwhelming(input, &mut outcomes, rule);
    }
    let records = input
        .series
        .iter()
        .zip(&outcomes)
        .map(|(c, o)| {
            let earlier = history.get(&c.key).unwrap_or(&empty);
            let key = c.run_key.as_deref().or(run_key);
            verdict_record(c, earlier, c.pending.len(), o, method.name(), key)
        })
        .collect();
    (records, outcomes)
}

/// The current run of several inputs (oldest first): each series' current value is its value
/// in the last input that has it, its pending runs its values in the earlier inputs whose run
/// key is not `stored` (those are history already). A failed record is kept unless a later
/// input has its case. `last_key` names the last input's run.
pub fn merge(
    inputs: &[Input],
    stored: &std::collections::HashSet<String>,
    last_key: &str,
) -> Input {
    let mut merged = Input::default();
    let Some(last) = inputs.last() else { return merged };
    merged.count = last.count;
    merged.run_key = last_key.to_string();
    let mut seen: std::collections::HashSet<&SeriesKey> = std::collections::HashSet::new();
    let mut cases_later: std::collections::HashSet<(String, String, String)> =
        std::collections::HashSet::new();
    let values: Vec<HashMap<&SeriesKey, f64>> =
        inputs.iter().map(|i| i.series.iter().map(|c| (&c.key, c.value)).collect()).collect();
    let mut series: Vec<(usize, usize, Current)> = Vec::new();
    let mut failed: Vec<(usize, usize, FailedRecord)> = Vec::new();
    for (f, input) in inputs.iter().enumerate().rev() {
        let key = if f + 1 == inputs.len() { last_key } else { input.run_key.as_str() };
        let mut cases_here = Vec::new();
        for (pos, c) in input.series.iter().enumerate() {
            cases_here.push((c.key.test_id.clone(), c.key.server.clone(), c.key.client.clone()));
            if !seen.insert(&c.key) {
                continue;
            }
            let (pending, pending_keys) = values[..f]
                .iter()
                .zip(inputs)
                .filter(|(_, p)| !stored.contains(&p.run_key) && p.run_key != key)
                .filter_map(|(v, p)| v.get(&c.key).map(|x| (*x, p.run_key.clone())))
                .unzip();
            let run_key = Some(key.to_string());
            series.push((f, pos, Current { pending, pending_keys, run_key, ..c.clone() }));
        }
        for (pos, r) in input.failed.iter().enumerate() {
            let case = (r.test_id.clone(), r.server.clone(), r.client.clone());
            if !cases_later.contains(&case) {
                failed.push((f, pos, r.clone()));
            }
            cases_here.push(case);
        }
        cases_later.extend(cases_here);
    }
    // Input order: by input, then by position in it.
    series.sort_by_key(|(f, pos, _)| (*f, *pos));
    failed.sort_by_key(|(f, pos, _)| (*f, *pos));
    merged.series = series.into_iter().map(|(_, _, c)| c).collect();
    merged.failed = failed.into_iter().map(|(_, _, r)| r).collect();
    merged
}

/// The test ids (first-seen order, once each) of the cases a confirmation re-run should
/// decide: case verdict `suspect` or `undecided`.
pub fn to_confirm(cases: &[VerdictRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cases {
        if matches!(c.verdict, Verdict::Suspect | Verdict::Undecided) && !out.contains(&c.test_id) {
            out.push(c.test_id.clone());
        }
    }
    out
}

/// (test, server, client) of a series.
fn case_of(key: &SeriesKey) -> (&str, &str, &str) {
    (&key.test_id, &key.server, &key.client)
}

/// Item 5 of issue 17: the run that introduces a large move of several coherent metrics of a
/// case is a regression (or improvement) at once ([`judge::overwhelming`]).
fn decide_overwhelming(input: &Input, outcomes: &mut [Outcome], rule: &ChangePointRule) {
    let mut by_case: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
    for (i, c) in input.series.iter().enumerate() {
        by_case.entry(case_of(&c.key)).or_default().push(i);
    }
    for idx in by_case.into_values() {
        let refs: Vec<&Outcome> = idx.iter().map(|i| &outcomes[*i]).collect();
        let Some(verdict) = judge::overwhelming(&refs, rule) else { continue };
        let strong: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|i| judge::overwhelming(&[&outcomes[*i], &outcomes[*i]], rule) == Some(verdict))
            .collect();
        let n = strong.len();
        for i in strong {
            let o = &mut outcomes[i];
            let z = o.stats.as_ref().map_or(0.0, judge::Stats::z);
            let pct = o.stats.as_ref().map_or(0.0, judge::Stats::effect_pct);
            o.verdict = verdict;
            o.reason = format!(
                "decided on the run that introduces it: {pct:+.1} % ({z:.0} standard errors), \
                 one of {n} metrics of the case that moved together far outside the noise"
            );
        }
    }
}

fn verdict_record(
    c: &Current,
    earlier: &[Earlier],
    n_pending: usize,
    o: &Outcome,
    method: &str,
    run_key: Option<&str>,
) -> VerdictRecord {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    // Index past the stored history: a pending run, then the current run.
    let change_run = o.change_at.and_then(|i| match earlier.get(i) {
        Some(e) => e.run_key.clone(),
        None if i >= earlier.len() + n_pending => run_key.map(str::to_string),
        None => c.pending_keys.get(i - earlier.len()).cloned(),
    });
    VerdictRecord {
        test_id: c.key.test_id.clone(),
        server: some(&c.key.server),
        client: some(&c.key.client),
        metric: c.key.metric.clone(),
        verdict: o.verdict,
        current: Some(c.value),
        baseline: o.baseline.map(significant),
        delta_pct: o
            .baseline
            .filter(|b| *b != 0.0)
            .map(|b| ((c.value - b) / b * 100.0 * 100.0).round() / 100.0),
        p_value: o.score.map(significant),
        change_run,
        method: method.to_string(),
        window: u32::try_from(earlier.len() + n_pending).unwrap_or(u32::MAX),
        better: c.better.as_str().to_string(),
        run_key: run_key.map(str::to_string),
        runs_needed: o.runs_needed,
        min_detectable_pct: o.min_detectable_pct,
        q_value: o.q_value.map(significant),
        reason: (!o.reason.is_empty()).then(|| o.reason.clone()),
        ..Default::default()
    }
}

/// How strongly a verdict speaks for its case: the case takes its most urgent metric verdict.
fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Regression => 0,
        Verdict::Suspect => 1,
        Verdict::Undecided => 2,
        Verdict::Improvement => 3,
        Verdict::NoChange => 4,
        Verdict::InsufficientData => 5,
    }
}

/// One verdict per case (test, server, client), in first-seen order: `metric: "*"`,
/// `scope: case`. The case takes the most urgent verdict among its metrics (regression,
/// suspect, undecided, improvement, no-change, insufficient-data); `supporting` lists the
/// metrics with that verdict (smallest q first); the leading one gives delta, p, q,
/// runs_needed and min_detectable_pct.
pub fn cases(metrics: &[VerdictRecord]) -> Vec<VerdictRecord> {
    type Key<'a> = (&'a str, Option<&'a str>, Option<&'a str>);
    let mut order: Vec<Key> = Vec::new();
    let mut groups: HashMap<Key, Vec<&VerdictRecord>> = HashMap::new();
    for v in metrics {
        let k = (v.test_id.as_str(), v.server.as_deref(), v.client.as_deref());
        let members = groups.entry(k).or_default();
        if members.is_empty() {
            order.push(k);
        }
        members.push(v);
    }
    order
        .into_iter()
        .filter_map(|k| {
            let members = groups.remove(&k)?;
            let verdict = members.iter().map(|v| v.verdict).min_by_key(|v| rank(*v))?;
            let mut support: Vec<&VerdictRecord> =
                members.iter().copied().filter(|v| v.verdict == verdict).collect();
            support.sort_by(|a, b| a.q_value.unwrap_or(1.0).total_cmp(&b.q_value.unwrap_or(1.0)));
            let lead = support[0];
            let reason = match (verdict, &lead.reason) {
                (Verdict::NoChange | Verdict::InsufficientData, _) => {
                    format!("{} of {} metric(s) {}", support.len(), members.len(), verdict.as_str())
                }
                (_, Some(r)) => format!("{}: {r}", lead.metric),
                (_, None) => format!("{}: {}", lead.metric, verdict.as_str()),
            };
            let also = if support.len() > 1
                && !matches!(verdict, Verdict::NoChange | Verdict::InsufficientData)
            {
                format!(" (and {} more metric(s))", support.len() - 1)
            } else {
                String::new()
            };
            Some(VerdictRecord {
                test_id: lead.test_id.clone(),
                server: lead.server.clone(),
                client: lead.client.clone(),
                metric: "*".into(),
                verdict,
                current: None,
                baseline: None,
                delta_pct: lead.delta_pct,
                p_value: lead.p_value,
                change_run: lead.change_run.clone(),
                method: lead.method.clone(),
                window: members.iter().map(|v| v.window).max().unwrap_or(0),
                better: lead.better.clone(),
                run_key: lead.run_key.clone(),
                scope: Scope::Case,
                runs_needed: lead.runs_needed,
                min_detectable_pct: lead.min_detectable_pct,
                q_value: lead.q_value,
                supporting: support.iter().map(|v| v.metric.clone()).collect(),
                reason: Some(reason + &also),
            })
        })
        .collect()
}

/// The stderr summary: verdict counts of the cases, then of the metric series.
pub fn summary(metrics: &[VerdictRecord], cases: &[VerdictRecord]) -> String {
    let count = |vs: &[VerdictRecord]| {
        let parts: Vec<String> = Verdict::ALL
            .iter()
            .filter_map(|k| {
                let n = vs.iter().filter(|v| v.verdict == *k).count();
                (n > 0).then(|| format!("{n} {}", k.as_str()))
            })
            .collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    };
    format!("cases: {}; series: {}", count(cases), count(metrics))
}

/// `x` to 6 significant digits (stable output, no float noise).
fn significant(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.5e}").parse().unwrap_or(x)
}

/// `v` with 4 significant digits, at least one decimal (`180.2`, `12.50`, `0.01234`).
pub fn short(v: f64) -> String {
    let digits = if v == 0.0 { 0 } else { v.abs().log10().floor() as i32 };
    let decimals = (3 - digits).clamp(1, 9) as usize;
    format!("{v:.decimals$}")
}

/// The stderr line of a regression:
/// `regression: TEST SERVER-CLIENT METRIC: 180.2 vs 204.8 (-12.0 %) since r27`.
pub fn regression_line(v: &VerdictRecord) -> Option<String> {
    if v.verdict != Verdict::Regression {
        return None;
    }
    let case = case_name(v.server.as_deref().unwrap_or(""), v.client.as_deref().unwrap_or(""));
    let (cur, base) = (v.current?, v.baseline?);
    let delta = v.delta_pct.map_or_else(String::new, |d| format!(" ({d:+.1} %)"));
    let since = v.change_run.as_deref().map_or_else(String::new, |r| format!(" since {r}"));
    Some(format!(
        "regression: {} {case} {}: {} vs {}{delta}{since}",
        v.test_id,
        v.metric,
        short(cur),
        short(base)
    ))
}

/// The stderr line of a failed current record.
pub fn failed_line(f: &FailedRecord) -> String {
    let why =
        if f.reasons.is_empty() { "no reason given".to_string() } else { f.reasons.join("; ") };
    format!("{}: {} {}: failed record: {why}", f.at, f.test_id, case_name(&f.server, &f.client))
}

/// The series keys of the input (what `--accept` and the history query name).
pub fn keys(input: &Input) -> Vec<SeriesKey> {
    input.series.iter().map(|c| c.key.clone()).collect()
}

/// Errors as one `Failure` for `run`, one line: the first one (its class and message) and how
/// many more there are (a binary file would print one line per "line" otherwise).
pub fn first_class(errors: &[Failure]) -> Result<()> {
    match errors {
        [] => Ok(()),
        [f] => Err(Failure::new(f.exit, format!("{}; nothing judged", f.message))),
        [f, more @ ..] => Err(Failure::new(
            f.exit,
            format!("{}; and {} more bad line(s); nothing judged", f.message, more.len()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> std::result::Result<Input, Vec<Failure>> {
        read_input(Box::new(std::io::Cursor::new(text.to_string())), "in.jsonl")
    }

    /// Every bad line makes one error line: the first, and how many more.
    #[test]
    fn bad_lines_are_one_error_line() {
        let errors = input("not json\n{\n").err().unwrap();
        let one = first_class(&errors[..1]).unwrap_err();
        assert_eq!(
            one.message,
            "in.jsonl:1: invalid record: expected ident (column 2); nothing judged"
        );
        let all = first_class(&errors).unwrap_err();
        assert_eq!(
            (all.exit, all.message.as_str()),
            (
                perfline::Exit::DataErr,
                "in.jsonl:1: invalid record: expected ident (column 2); and 1 more bad line(s); nothing judged"
            )
        );
        assert!(first_class(&[]).is_ok());
    }

    #[test]
    fn reads_ok_failed_and_rejects_bad_lines() {
        let text = format!(
            "{}\n{}\n",
            perfline::wire::metrics::EXAMPLE,
            r#"{"test_id":"t2","status":"failed","reasons":["server died"],"metrics":{}}"#
        );
        let i = input(&text).unwrap();
        let names: Vec<&str> = i.series.iter().map(|c| c.key.metric.as_str()).collect();
        assert_eq!(names, ["mean_ttft", "seq_throughput", "token_throughput"]);
        assert_eq!(i.failed.len(), 1);
        assert_eq!(failed_line(&i.failed[0]), "in.jsonl:2: t2 -: failed record: server died");
        let dup = format!("{0}\n\n{0}\nnot json\n", perfline::wire::metrics::EXAMPLE);
        let errors = input(&dup).unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].starts_with("in.jsonl:3: aggr-cfg-srv srv-con4_iter2_isl128_osl64 mean_ttft: same series as line 1"), "{messages:?}");
        assert!(messages[3].starts_with("in.jsonl:4: invalid record"), "{messages:?}");
    }

    #[test]
    fn regression_line_format() {
        let mut v: VerdictRecord =
            perfline::jsonl::parse(perfline::wire::verdict::EXAMPLE).unwrap();
        v.delta_pct = Some(-12.01);
        assert_eq!(
            regression_line(&v).unwrap(),
            "regression: aggr-cfg-srv srv-con4_iter2_isl128_osl64 token_throughput: 180.2 vs 204.8 (-12.0 %) since r27"
        );
        v.verdict = Verdict::Improvement;
        assert_eq!(regression_line(&v), None);
        assert_eq!(short(0.012345), "0.01235");
        assert_eq!(short(12.5), "12.50");
        assert_eq!(short(20480.0), "20480.0");
    }
}
