//! The whole command once its arguments are checked: read the inputs (pending runs, then the
//! current one: for each series, the last input that has it holds its current value), the
//! history, judge, explain, write.

use crate::check::{self, Input, Method};
use crate::judge::Rule;
use crate::{explain, history, note};
use perfline::cli::{Failure, Result};
use perfline::Exit;
use perfline_store::read::SeriesKey;
use perfline_store::url::Store;
use std::collections::HashSet;
use std::path::PathBuf;

/// What to do (main's checked arguments).
pub struct Options {
    /// Input files: earlier ones are pending runs (oldest first), the last the current run.
    pub inputs: Vec<PathBuf>,
    pub store: Option<Store>,
    pub password: Option<String>,
    pub baseline: Option<PathBuf>,
    pub method: Method,
    pub window: usize,
    pub run_key: Option<String>,
    pub accept: Option<String>,
    pub junit: Option<PathBuf>,
    pub allow_empty: bool,
    /// `TEST[/CLIENT[/METRIC]]`: print how these series were judged (stderr).
    pub explain: Option<String>,
    /// Write the test ids to re-run for confirmation (cases suspect or undecided) here.
    pub rerun_list: Option<PathBuf>,
}

/// The numbers of the command line.
pub struct Numbers {
    pub window: usize,
    /// Percent.
    pub threshold: f64,
    pub alpha: f64,
    pub fdr: f64,
    /// Percent.
    pub min_change: f64,
}

/// The method: `incumbent` is `--method` (Some(true) incumbent, Some(false) change-point),
/// `baseline` whether `--baseline FILE` was given; every number checked (64 when out of range).
pub fn method(n: &Numbers, incumbent: Option<bool>, baseline: bool) -> Result<Method> {
    let bad = |m: &str| Err(Failure::usage(m.to_string()));
    if n.window == 0 {
        return bad("--window must be at least 1");
    }
    if !(n.threshold > 0.0 && n.threshold < 100.0) {
        return bad("--threshold must be a percentage between 0 and 100");
    }
    if !(n.alpha > 0.0 && n.alpha < 1.0 && n.fdr > 0.0 && n.fdr < 0.5) {
        return bad("--alpha must be between 0 and 1, --fdr between 0 and 0.5");
    }
    if !(n.min_change >= 0.0 && n.min_change < 100.0) {
        return bad("--min-change must be a percentage from 0 to 100");
    }
    let rule =
        Rule { alpha: n.alpha, fdr: n.fdr, min_change: n.min_change / 100.0, ..Rule::default() };
    match (incumbent, baseline) {
        (Some(false), true) => {
            bad("--method change-point needs a history (--store); a baseline file is one run")
        }
        (Some(true), _) | (None, true) => Ok(Method::Incumbent(n.threshold / 100.0)),
        (_, false) => Ok(Method::ChangePoint(rule)),
    }
}

pub fn run(o: Options) -> Result<Exit> {
    let mut inputs = Vec::with_capacity(o.inputs.len());
    for path in &o.inputs {
        inputs.push(history::read(path)?);
    }
    let Some(last) = inputs.last() else {
        return Err(Failure::usage("give at least one -i FILE"));
    };
    if last.count == 0 {
        let path = o.inputs.last().map(|p| p.display().to_string()).unwrap_or_default();
        let name = perfline::cli::one_line(&path);
        if o.allow_empty {
            note(&format!("{name}: no metric records; nothing judged (--allow-empty)"));
            return Ok(Exit::Ok);
        }
        return Err(Failure::new(
            Exit::NoInput,
            format!("{name}: no metric records to judge (--allow-empty accepts that)"),
        ));
    }
    let run_key = o.run_key.clone().unwrap_or_else(|| last.run_key.clone());
    // Every series of every input: the history query asks for all of them.
    let mut all_keys: Vec<SeriesKey> = Vec::new();
    let mut seen: HashSet<SeriesKey> = HashSet::new();
    for i in &inputs {
        for k in check::keys(i) {
            if seen.insert(k.clone()) {
                all_keys.push(k);
            }
        }
    }
    let (history, stored) = match (&o.store, &o.baseline) {
        (Some(store), _) => history::from_store(
            store,
            o.password.as_deref(),
            &all_keys,
            o.window,
            Some(&run_key),
            o.accept.as_deref(),
        )?,
        (None, Some(file)) => (check::from_baseline(&history::read(file)?), HashSet::new()),
        (None, None) => return Err(Failure::usage("give --store URL or --baseline FILE")),
    };
    let already = inputs[..inputs.len() - 1].iter().filter(|i| stored.contains(&i.run_key)).count();
    if already > 0 {
        note(&format!(
            "{already} earlier input(s) already stored (same run key): judged as history"
        ));
    }
    let input = check::merge(&inputs, &stored, &run_key);
    let (metrics, outcomes) = check::judge_all(&input, &history, &o.method, Some(&run_key));
    let cases = check::cases(&metrics);
    if let Some(spec) = &o.explain {
        explain_all(spec, &input, &history, &metrics, &outcomes);
    }
    if let Some(path) = &o.rerun_list {
        let mut text = check::to_confirm(&cases).join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        perfline::fsutil::write_atomic(path, text.as_bytes())?;
    }
    history::write(&metrics, &cases, &input, o.junit.as_deref())
}

fn explain_all(
    spec: &str,
    input: &Input,
    history: &check::Histories,
    metrics: &[perfline::wire::verdict::VerdictRecord],
    outcomes: &[crate::judge::Outcome],
) {
    let mut shown = 0;
    for ((c, v), o) in input.series.iter().zip(metrics).zip(outcomes) {
        if !explain::matches(spec, &c.key) {
            continue;
        }
        shown += 1;
        let earlier = history.get(&c.key).map_or(&[][..], Vec::as_slice);
        for line in explain::lines(c, earlier, &c.pending, v, o) {
            note(&line);
        }
    }
    if shown == 0 {
        note(&format!("--explain {spec}: no such series in the input"));
    }
}
