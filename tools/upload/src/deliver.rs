//! What `upload` does once its arguments are checked: deliver a batch with retries (or spool
//! it when the store stays down), show it (`--dry-run`), deliver the spool (`--flush`), and
//! print one run record per delivered batch.

use crate::batch::Batch;
use crate::mysql_store::{self, Mysql};
use crate::retry::{Policy, StoreError};
use crate::sqlite::Sqlite;
use crate::store::Store;
use crate::{opensearch, secret, spool, sql};
use perfline::cli::{Failure, Result};
use perfline::{Exit, Reporter};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How batches are delivered.
#[derive(Debug, Clone)]
pub struct Settings {
    /// File holding the MySQL password (else PERFLINE_MYSQL_PASSWORD).
    pub password_file: Option<PathBuf>,
    /// Link stored and printed with each run; `{run_id}` and `{run_key}` are replaced.
    pub link_template: Option<String>,
    /// Where batches wait while their store is down.
    pub spool_dir: PathBuf,
    pub policy: Policy,
    /// Connect and request timeout.
    pub timeout: Duration,
}

/// The record printed for each run.
#[derive(serde::Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub run_id: Option<i64>,
    pub run_key: String,
    pub store: String,
    pub rows: usize,
    pub link: Option<String>,
    pub status: &'static str,
}

/// Delivers `batch` and prints its run record; a store that stays down gets the batch
/// spooled (exit 69, reported).
pub fn upload(
    settings: &Settings,
    store: &Store,
    batch: &Batch,
    reporter: &mut Reporter,
) -> Result<Exit> {
    let outcome = match deliver(settings, store, batch, reporter) {
        Ok(outcome) => outcome,
        Err(StoreError::Transient(f)) => {
            let spooled = spool::Spooled { store: store.to_string(), batch: batch.clone() };
            let path = spool::write(&settings.spool_dir, &spooled)?;
            reporter.error(
                Exit::Unavailable,
                format!(
                    "{store}: {}; spooled to {}: deliver it with `upload --flush`",
                    f.message,
                    path.display()
                ),
            );
            Outcome {
                run_id: None,
                run_key: batch.run.run_key.clone(),
                store: store.to_string(),
                rows: 0,
                link: None,
                status: "spooled",
            }
        }
        Err(StoreError::Fatal(f)) => return Err(f),
        Err(StoreError::Duplicate) => return Err(Failure::software("unresolved duplicate run")),
    };
    report(&outcome)?;
    Ok(reporter.exit())
}

/// `--dry-run`: the rows (SQL) or documents (OpenSearch) that would be written, on stdout.
pub fn dry_run(store: &Store, batch: &Batch) -> Result<()> {
    let mut out = perfline::jsonl::stdout();
    match store {
        Store::OpenSearch { index, .. } => {
            for d in opensearch::documents(batch) {
                out.write(&serde_json::json!({"_index": index, "_id": d.id, "doc": d.doc}))?;
            }
        }
        Store::Sqlite { .. } | Store::Mysql { .. } => {
            for row in sql::dry_run(&sql::rows(batch)) {
                out.write(&row)?;
            }
        }
    }
    Ok(())
}

/// Delivers one batch with retries. Configuration problems (credentials, files) are found
/// before the first attempt and are never spooled.
pub fn deliver(
    settings: &Settings,
    store: &Store,
    batch: &Batch,
    reporter: &Reporter,
) -> std::result::Result<Outcome, StoreError> {
    let timeout = settings.timeout;
    let policy = &settings.policy;
    let link = settings.link_template.as_deref();
    let note = |n: u32, f: &Failure, pause: Duration| {
        reporter.warn(format!(
            "{store}: attempt {n} failed: {}; retrying in {:.1}s",
            f.message,
            pause.as_secs_f64()
        ));
    };
    let run_key = batch.run.run_key.clone();
    let outcome = |run_id: Option<i64>, rows: usize, present: bool| Outcome {
        run_id,
        link: link.map(|t| sql::render_link(t, run_id, &run_key)),
        run_key: run_key.clone(),
        store: store.to_string(),
        rows,
        status: if present { "already-present" } else { "uploaded" },
    };
    let rows = sql::rows(batch);
    let name = store.to_string();
    let into_sql = |conn: &mut dyn sql::Conn| {
        sql::ensure_schema(conn, &name)?;
        sql::deliver(conn, &rows, link)
    };
    let done = match store {
        Store::Sqlite { path } => policy.run(
            |_| {
                let mut db = Sqlite::open(path, timeout)?;
                into_sql(&mut db)
            },
            note,
        )?,
        Store::Mysql { user, host, port, db } => {
            let password = secret::mysql_password(settings.password_file.as_deref())
                .map_err(StoreError::Fatal)?;
            let target =
                mysql_store::Target { user, host, port: *port, db, password: &password, timeout };
            policy.run(
                |_| {
                    let mut conn = Mysql::connect(&target)?;
                    into_sql(&mut conn)
                },
                note,
            )?
        }
        Store::OpenSearch { base, index } => {
            let credentials = secret::opensearch_credentials().map_err(StoreError::Fatal)?;
            let endpoint = opensearch::Endpoint { base, index, credentials, timeout };
            let docs = opensearch::documents(batch);
            let d = opensearch::deliver(&endpoint, &docs, policy, note)?;
            return Ok(outcome(None, d.created, d.created == 0 && d.already_present > 0));
        }
    };
    Ok(outcome(Some(done.run_id), done.rows, done.already_present))
}

/// Prints the run record on stdout and one human line on stderr.
pub fn report(o: &Outcome) -> Result<()> {
    perfline::jsonl::stdout().write(o)?;
    let run = o.run_id.map_or_else(|| format!("key {}", o.run_key), |id| format!("run {id}"));
    let link = o.link.as_deref().map_or_else(String::new, |l| format!(": {l}"));
    note(format_args!("{run} {} in {} ({} rows){link}", o.status, o.store, o.rows));
    Ok(())
}

/// One human line on stderr; a closed stderr is not an error (and never a panic).
fn note(line: std::fmt::Arguments<'_>) {
    perfline::cli::say(format_args!("upload: {line}"));
}

/// `--flush`: delivers the spooled batches (only those for `only`, when given), deleting each
/// once delivered; a batch whose store is still down stays.
pub fn flush(settings: &Settings, only: Option<&Store>, reporter: &mut Reporter) -> Result<Exit> {
    let files = spool::list(&settings.spool_dir)?;
    let mut delivered = 0;
    for path in &files {
        let spooled = match spool::read(path) {
            Ok(s) => s,
            Err(f) => {
                reporter.failure(&f);
                continue;
            }
        };
        let store = match Store::parse(&spooled.store) {
            Ok(s) => s,
            Err(f) => {
                reporter.failure(&f.context(path.display()));
                continue;
            }
        };
        if only.is_some_and(|o| *o != store) {
            continue;
        }
        match deliver(settings, &store, &spooled.batch, reporter) {
            Ok(outcome) => {
                remove_delivered(path)?;
                report(&outcome)?;
                delivered += 1;
            }
            Err(StoreError::Transient(f)) => reporter.error(
                Exit::Unavailable,
                format!("{store}: {}; kept {}", f.message, path.display()),
            ),
            Err(StoreError::Fatal(f)) => reporter.failure(&f.context(path.display())),
            Err(StoreError::Duplicate) => {
                reporter.error(Exit::Software, format!("{}: unresolved duplicate", path.display()))
            }
        }
    }
    if delivered == 0 && reporter.errors() == 0 {
        note(format_args!("nothing to flush in {}", settings.spool_dir.display()));
    }
    Ok(reporter.exit())
}

fn remove_delivered(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Failure::io(path.display(), &e))
}
