//! The whole command once its arguments are checked: read the inputs (pending runs, then the
//! current one), the history, judge, explain, write.

use crate::check::{self, Earlier, Input, Method};
use crate::{explain, history, note};
use perfline::cli::{Failure, Result};
use perfline::store::read::SeriesKey;
use perfline::store::url::Store;
use perfline::Exit;
use std::collections::HashMap;
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
}

pub fn run(o: Options) -> Result<Exit> {
    let mut inputs = Vec::with_capacity(o.inputs.len());
    for path in &o.inputs {
        inputs.push((path, history::read(path)?));
    }
    let Some((current_path, input)) = inputs.pop() else {
        return Err(Failure::usage("give at least one -i FILE"));
    };
    if input.count == 0 {
        let name = perfline::cli::one_line(&current_path.display().to_string());
        if o.allow_empty {
            note(&format!("{name}: no metric records; nothing judged (--allow-empty)"));
            return Ok(Exit::Ok);
        }
        return Err(Failure::new(
            Exit::NoInput,
            format!("{name}: no metric records to judge (--allow-empty accepts that)"),
        ));
    }
    let run_key = o.run_key.clone().unwrap_or_else(|| input.run_key.clone());
    let (history, stored) = match (&o.store, &o.baseline) {
        (Some(store), _) => history::from_store(
            store,
            o.password.as_deref(),
            &check::keys(&input),
            o.window,
            Some(&run_key),
            o.accept.as_deref(),
        )?,
        (None, Some(file)) => {
            (check::from_baseline(&history::read(file)?), std::collections::HashSet::new())
        }
        (None, None) => return Err(Failure::usage("give --store URL or --baseline FILE")),
    };
    // Pending runs already in the store are history there; the current run never is.
    let pending: Vec<&Input> = inputs
        .iter()
        .map(|(_, i)| i)
        .filter(|i| !stored.contains(&i.run_key) && i.run_key != run_key)
        .collect();
    if pending.len() < inputs.len() {
        note(&format!(
            "{} earlier input(s) already stored (same run key): judged as history",
            inputs.len() - pending.len()
        ));
    }
    let (metrics, outcomes) =
        check::judge_all(&input, &pending, &history, &o.method, Some(&run_key));
    let cases = check::cases(&metrics);
    if let Some(spec) = &o.explain {
        explain_all(spec, &input, &pending, &history, &metrics, &outcomes);
    }
    history::write(&metrics, &cases, &input, o.junit.as_deref())
}

fn explain_all(
    spec: &str,
    input: &Input,
    pending: &[&Input],
    history: &HashMap<SeriesKey, Vec<Earlier>>,
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
        let more: Vec<f64> = pending
            .iter()
            .filter_map(|p| p.series.iter().find(|s| s.key == c.key).map(|s| s.value))
            .collect();
        for line in explain::lines(c, earlier, &more, v, o) {
            note(&line);
        }
    }
    if shown == 0 {
        note(&format!("--explain {spec}: no such series in the input"));
    }
}
