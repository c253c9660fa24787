//! Where the history comes from: the store (read only; `--accept` writes its one table), or a
//! new SQLite store that has no history yet.

use crate::check::{self, Input};
use crate::note;
use perfline::cli::Result;
use perfline_store::read::SeriesKey;
use perfline_store::read::{Access, Query, Reader};
use perfline_store::url::Store;
use std::collections::HashSet;
use std::path::Path;

/// Runs of the accepted (or oldest) baseline kept in view beyond the window.
pub const ANCHOR_RUNS: usize = 10;

/// Each series' earlier values in `store`, after recording `accept` when given.
pub fn from_store(
    store: &Store,
    password: Option<&str>,
    keys: &[SeriesKey],
    window: usize,
    run_key: Option<&str>,
    accept: Option<&str>,
) -> Result<(check::Histories, HashSet<String>)> {
    if let Some(run_key) = accept {
        let n = Reader::open(store, password, Access::Accept)?.accept(keys, run_key)?;
        note(&format!("accepted {run_key} as the baseline of {n} series in {store}"));
    }
    if matches!(store, Store::Sqlite { path } if new_store(path)) && accept.is_none() {
        // The first run of a new store: no history yet, which is a verdict, not an error
        // (a missing directory is still "no such store", 66: likely a typo).
        note(&format!("{store} does not exist yet: no history, nothing can be judged"));
        return Ok((check::from_store(&Default::default()), HashSet::new()));
    }
    let mut reader = Reader::open(store, password, Access::ReadOnly)?;
    let query = Query { series: keys, window, exclude_run_key: run_key };
    // The accepted (or oldest) baseline is kept beyond the window: a regression stays
    // until accepted or the level returns.
    let history = reader.history_anchored(&query, ANCHOR_RUNS)?;
    let stored = history.runs.iter().map(|r| r.run_key.clone()).collect();
    Ok((check::from_store(&history), stored))
}

/// An SQLite store that does not exist yet, in a directory that does.
fn new_store(path: &std::path::Path) -> bool {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    !path.exists() && dir.is_none_or(|d| d.is_dir())
}

/// Reads metric records; the first bad line (and how many more) ends the run, in one line.
pub fn read(path: &Path) -> Result<Input> {
    let (reader, source) = perfline::jsonl::open(Some(path))?;
    check::read_input(reader, &source)
        .or_else(|errors| check::first_class(&errors).map(|()| Input::default()))
}

/// Writes the verdicts (stdout: metric records, then case records), the JUnit file when
/// asked, one stderr line per failed record and per regressed metric, and the summary; the
/// exit status: 1 when a case regressed or a record failed.
pub fn write(
    metrics: &[perfline::wire::verdict::VerdictRecord],
    cases: &[perfline::wire::verdict::VerdictRecord],
    input: &Input,
    junit: Option<&Path>,
) -> Result<perfline::Exit> {
    use perfline::wire::verdict::Verdict;
    use perfline::Exit;
    if let Some(path) = junit {
        let xml = crate::junit::report(metrics, cases, &input.failed);
        perfline::fsutil::write_atomic(path, xml.as_bytes())?;
    }
    let mut out = perfline::jsonl::stdout();
    for v in metrics.iter().chain(cases) {
        out.write(v)?;
    }
    for f in &input.failed {
        note(&format!("error: {}", check::failed_line(f)));
    }
    for line in metrics.iter().filter_map(check::regression_line) {
        note(&line);
    }
    note(&check::summary(metrics, cases));
    let regressed = cases.iter().any(|c| c.verdict == Verdict::Regression);
    Ok(if !regressed && input.failed.is_empty() { Exit::Ok } else { Exit::Failed })
}
