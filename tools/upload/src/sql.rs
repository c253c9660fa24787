//! The SQL stores' shared part: the rows a batch becomes and the one-transaction delivery that
//! SQLite and MySQL both run through the small [`Conn`] trait. The schema (tables, version,
//! migrations) is `perfline_store::schema`'s, described in docs/SCHEMA.md; upload brings a
//! store to it through [`ensure_schema`] before every delivery.

use crate::batch::{case_of, series_of, Batch, Case, Series};
use crate::retry::StoreError;
use perfline::cli::Failure;
use perfline_store::schema::{self, Backend, Session};
use std::collections::HashMap;

pub use perfline_store::schema::SCHEMA_VERSION;
/// A bound parameter or column value (the store crate's, shared with the reader).
pub use perfline_store::Value;

fn json_of(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Int(i) => (*i).into(),
        Value::Real(f) => (*f).into(),
        Value::Text(s) => s.clone().into(),
    }
}

/// What differs between SQL dialects when delivering (the DDL is the schema's).
pub struct Dialect {
    pub name: &'static str,
    pub backend: Backend,
    /// `INSERT OR IGNORE` / `INSERT IGNORE`.
    pub insert_ignore: &'static str,
    pub begin: &'static str,
    /// Most bound parameters in one statement.
    pub max_params: usize,
}

/// A connection the delivery runs on. `exec` returns the last insert id.
pub trait Conn {
    fn dialect(&self) -> &'static Dialect;
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<i64, StoreError>;
    /// The first column of each row as integers (`NULL` skipped).
    fn query_ints(&mut self, sql: &str, params: &[Value]) -> Result<Vec<i64>, StoreError>;
    /// Rows of (integer, text) — ids and keys.
    fn query_pairs(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<(i64, String)>, StoreError>;
    /// Rows of (integer, text, text, text), e.g. a case id and its series identity.
    fn query_id_texts(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<(i64, String, String, String)>, StoreError>;
}

/// Column names of `runs` after `id`, in insert order: the key, then every run field
/// (backquoted when rendered: `commit` is a keyword).
fn run_columns() -> Vec<&'static str> {
    std::iter::once("run_key").chain(crate::batch::CONTEXT_FIELDS).collect()
}
const CASE_COLUMNS: [&str; 6] =
    ["case_key", "network", "batch_size", "precision", "framework", "command"];
const RESULT_COLUMNS: [&str; 6] = ["run_id", "case_id", "metric", "value", "unit", "status"];
const RUN_CASE_COLUMNS: [&str; 6] =
    ["run_id", "case_id", "status", "reasons", "log_tail", "source"];
const SERIES_COLUMNS: [&str; 4] = ["case_id", "test_id", "server", "client"];
/// Rows per multi-row INSERT (bounded by the dialect's parameter limit too).
const ROWS_PER_INSERT: usize = 1000;

/// One `perf_result` row before ids are known: index into the cases, metric, value, unit, status.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    pub case: usize,
    pub metric: String,
    pub value: f64,
    pub unit: Option<String>,
    pub status: &'static str,
}

/// One `run_cases` row: how a case of the run ended, whether or not it has metrics.
/// `reasons` are the records' reasons joined with `"; "`, `log_tail` their log tails joined
/// with `"\n"`; several records of one case are folded into one row (failed if any failed).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunCaseRow {
    pub status: &'static str,
    pub reasons: String,
    pub log_tail: String,
    pub source: Option<String>,
}

/// The rows a batch becomes (the `link` column is filled once the run id is known).
/// Failed records add no `perf_result` rows: their cases are in `run_cases` only.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub run: Vec<Value>,
    pub cases: Vec<Case>,
    /// One per case, in `cases` order: the series of the case's first record.
    pub series: Vec<Series>,
    /// One per case, in `cases` order.
    pub run_cases: Vec<RunCaseRow>,
    pub results: Vec<ResultRow>,
}

/// How a case ended, gathered over its records.
#[derive(Default)]
struct CaseOutcome<'a> {
    failed: bool,
    reasons: Vec<&'a str>,
    log_tail: Vec<&'a str>,
    source: Option<&'a String>,
}

pub fn rows(batch: &Batch) -> Rows {
    let mut info = batch.run.clone();
    let run = std::iter::once(Value::Text(info.run_key.clone()))
        .chain(
            crate::batch::CONTEXT_FIELDS
                .iter()
                .map(|name| info.field_mut(name).map_or(Value::Null, |v| Value::from(&*v))),
        )
        .collect();
    let mut cases: Vec<Case> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut series: Vec<Series> = Vec::new();
    let mut outcomes: Vec<CaseOutcome> = Vec::new();
    let mut results = Vec::new();
    for record in &batch.records {
        let case = case_of(record);
        let i = *index.entry(case.case_key.clone()).or_insert_with(|| {
            cases.push(case);
            series.push(series_of(record));
            outcomes.push(CaseOutcome::default());
            cases.len() - 1
        });
        let failed = record.status == perfline::wire::metrics::Status::Failed;
        if let Some(o) = outcomes.get_mut(i) {
            o.failed |= failed;
            o.reasons.extend(record.reasons.iter().map(String::as_str));
            o.log_tail.extend(record.log_tail.iter().map(String::as_str));
            o.source = o.source.or(record.source.as_ref());
        }
        if failed {
            // A failed record's numbers are not results: its case is in `run_cases` only.
            continue;
        }
        for (metric, value) in &record.metrics {
            results.push(ResultRow {
                case: i,
                metric: metric.clone(),
                value: *value,
                unit: record.units.get(metric).cloned(),
                status: "ok",
            });
        }
    }
    let run_cases = outcomes
        .into_iter()
        .map(|o| RunCaseRow {
            status: if o.failed { "failed" } else { "ok" },
            reasons: o.reasons.join("; "),
            log_tail: o.log_tail.join("\n"),
            source: o.source.cloned(),
        })
        .collect();
    Rows { run, cases, series, run_cases, results }
}

/// The rows as JSON Lines records `{"table":…,"row":{…}}`, for `--dry-run`.
pub fn dry_run(rows: &Rows) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let run: serde_json::Map<_, _> =
        run_columns().iter().zip(&rows.run).map(|(c, v)| (c.to_string(), json_of(v))).collect();
    out.push(serde_json::json!({"table": "runs", "row": run}));
    for case in &rows.cases {
        out.push(serde_json::json!({"table": "cases", "row": case}));
    }
    for (case, s) in rows.cases.iter().zip(&rows.series) {
        out.push(serde_json::json!({"table": "series", "row": {
            "case_key": case.case_key, "test_id": s.test_id, "server": s.server,
            "client": s.client,
        }}));
    }
    for (case, rc) in rows.cases.iter().zip(&rows.run_cases) {
        out.push(serde_json::json!({"table": "run_cases", "row": {
            "run_key": rows.run.first().map(json_of), "case_key": case.case_key,
            "status": rc.status, "reasons": rc.reasons, "log_tail": rc.log_tail,
            "source": rc.source,
        }}));
    }
    for r in &rows.results {
        let case_key = rows.cases.get(r.case).map(|c| c.case_key.as_str());
        out.push(serde_json::json!({"table": "perf_result", "row": {
            "run_key": rows.run.first().map(json_of), "case_key": case_key,
            "metric": r.metric, "value": r.value, "unit": r.unit, "status": r.status,
        }}));
    }
    out
}

/// Brings the store `name` (its URL, for messages) to the current schema through
/// [`schema::migrate`]: creates the tables when missing, refuses a newer schema (exit 78) and
/// migrates an older one.
pub fn ensure_schema(conn: &mut dyn Conn, name: &str) -> Result<(), StoreError> {
    schema::migrate(&mut Schema { conn, name }).map(drop)
}

/// upload's connection as the schema sees it.
struct Schema<'a> {
    conn: &'a mut dyn Conn,
    name: &'a str,
}

impl Session for Schema<'_> {
    type Error = StoreError;
    fn backend(&self) -> Backend {
        self.conn.dialect().backend
    }
    fn store_name(&self) -> String {
        self.name.to_string()
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<(), StoreError> {
        self.conn.exec(sql, params).map(drop)
    }
    fn query_ints(&mut self, sql: &str, params: &[Value]) -> Result<Vec<i64>, StoreError> {
        self.conn.query_ints(sql, params)
    }
}

/// What a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub run_id: i64,
    /// perf_result rows written (0 when the run was already present).
    pub rows: usize,
    pub already_present: bool,
}

/// Writes the whole run in one transaction; a run whose key is present already is left alone.
pub fn deliver(
    conn: &mut dyn Conn,
    rows: &Rows,
    link: Option<&str>,
) -> Result<Delivered, StoreError> {
    let begin = conn.dialect().begin;
    conn.exec(begin, &[])?;
    let result = write_run(conn, rows, link);
    match result {
        Ok(delivered) if !delivered.already_present => {
            conn.exec("COMMIT", &[])?;
            Ok(delivered)
        }
        Ok(delivered) => {
            let _ = conn.exec("ROLLBACK", &[]);
            Ok(delivered)
        }
        Err(StoreError::Duplicate) => {
            // Another uploader committed the same run key between our look-up and insert.
            let _ = conn.exec("ROLLBACK", &[]);
            let run_id = find_run(conn, rows)?.ok_or_else(|| {
                StoreError::Fatal(Failure::software("duplicate run key but no such run"))
            })?;
            Ok(Delivered { run_id, rows: 0, already_present: true })
        }
        Err(e) => {
            let _ = conn.exec("ROLLBACK", &[]);
            Err(e)
        }
    }
}

fn find_run(conn: &mut dyn Conn, rows: &Rows) -> Result<Option<i64>, StoreError> {
    let key = rows.run.first().cloned().unwrap_or(Value::Null);
    let found = conn.query_pairs("SELECT id, run_key FROM runs WHERE run_key = ?", &[key])?;
    Ok(found.first().map(|(id, _)| *id))
}

fn placeholders(columns: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

fn column_list(columns: &[&str]) -> String {
    columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
}

fn write_run(
    conn: &mut dyn Conn,
    rows: &Rows,
    link: Option<&str>,
) -> Result<Delivered, StoreError> {
    if let Some(run_id) = find_run(conn, rows)? {
        return Ok(Delivered { run_id, rows: 0, already_present: true });
    }
    let d = conn.dialect();
    let columns = run_columns();
    let insert_run = format!(
        "INSERT INTO runs ({}) VALUES {}",
        column_list(&columns),
        placeholders(columns.len(), 1)
    );
    let run_id = conn.exec(&insert_run, &rows.run)?;
    if let Some(template) = link {
        let link = render_link(template, Some(run_id), &rows_key(rows));
        conn.exec(
            "UPDATE runs SET link = ? WHERE id = ?",
            &[Value::Text(link), Value::Int(run_id)],
        )?;
    }
    let case_ids = upsert_cases(conn, &rows.cases)?;
    insert_series(conn, &case_ids, &rows.series)?;
    insert_run_cases(conn, run_id, &case_ids, &rows.run_cases)?;
    let per_insert = ROWS_PER_INSERT.min(d.max_params / RESULT_COLUMNS.len()).max(1);
    let mut written = 0;
    for chunk in rows.results.chunks(per_insert) {
        let mut params = Vec::with_capacity(chunk.len() * RESULT_COLUMNS.len());
        for r in chunk {
            let case_id = case_ids.get(r.case).copied().ok_or_else(|| {
                StoreError::Fatal(Failure::software("result row without its case"))
            })?;
            params.extend([
                Value::Int(run_id),
                Value::Int(case_id),
                Value::Text(r.metric.clone()),
                Value::Real(r.value),
                r.unit.as_ref().map_or(Value::Null, |u| Value::Text(u.clone())),
                Value::Text(r.status.to_string()),
            ]);
        }
        let sql = format!(
            "INSERT INTO perf_result ({}) VALUES {}",
            column_list(&RESULT_COLUMNS),
            placeholders(RESULT_COLUMNS.len(), chunk.len())
        );
        conn.exec(&sql, &params)?;
        written += chunk.len();
    }
    Ok(Delivered { run_id, rows: written, already_present: false })
}

fn rows_key(rows: &Rows) -> String {
    match rows.run.first() {
        Some(Value::Text(k)) => k.clone(),
        _ => String::new(),
    }
}

/// Inserts the run's `run_cases` rows, one per case (`case_ids` in the same order).
fn insert_run_cases(
    conn: &mut dyn Conn,
    run_id: i64,
    case_ids: &[i64],
    run_cases: &[RunCaseRow],
) -> Result<(), StoreError> {
    if case_ids.len() != run_cases.len() {
        return Err(StoreError::Fatal(Failure::software("run_cases rows do not match the cases")));
    }
    let d = conn.dialect();
    let per_insert = ROWS_PER_INSERT.min(d.max_params / RUN_CASE_COLUMNS.len()).max(1);
    let pairs: Vec<(&i64, &RunCaseRow)> = case_ids.iter().zip(run_cases).collect();
    for chunk in pairs.chunks(per_insert) {
        let mut params = Vec::with_capacity(chunk.len() * RUN_CASE_COLUMNS.len());
        for (case_id, rc) in chunk {
            params.extend([
                Value::Int(run_id),
                Value::Int(**case_id),
                Value::Text(rc.status.to_string()),
                Value::Text(rc.reasons.clone()),
                Value::Text(rc.log_tail.clone()),
                (&rc.source).into(),
            ]);
        }
        let sql = format!(
            "INSERT INTO run_cases ({}) VALUES {}",
            column_list(&RUN_CASE_COLUMNS),
            placeholders(RUN_CASE_COLUMNS.len(), chunk.len())
        );
        conn.exec(&sql, &params)?;
    }
    Ok(())
}

/// Inserts the `series` rows of cases that have none yet (`case_ids` in `series` order), then
/// checks that every case's stored series is this batch's: a case key shared by two series
/// (say server `a-b` client `c` and server `a` client `b-c`) would mix their histories.
fn insert_series(
    conn: &mut dyn Conn,
    case_ids: &[i64],
    series: &[Series],
) -> Result<(), StoreError> {
    if case_ids.len() != series.len() {
        return Err(StoreError::Fatal(Failure::software("series rows do not match the cases")));
    }
    let d = conn.dialect();
    let per_insert = ROWS_PER_INSERT.min(d.max_params / SERIES_COLUMNS.len()).max(1);
    let pairs: Vec<(&i64, &Series)> = case_ids.iter().zip(series).collect();
    for chunk in pairs.chunks(per_insert) {
        let mut params = Vec::with_capacity(chunk.len() * SERIES_COLUMNS.len());
        for (case_id, s) in chunk {
            params.extend([
                Value::Int(**case_id),
                Value::Text(s.test_id.clone()),
                Value::Text(s.server.clone()),
                Value::Text(s.client.clone()),
            ]);
        }
        let sql = format!(
            "{} INTO series ({}) VALUES {}",
            d.insert_ignore,
            column_list(&SERIES_COLUMNS),
            placeholders(SERIES_COLUMNS.len(), chunk.len())
        );
        conn.exec(&sql, &params)?;
        // The identity each case has in the store now, compared with ours.
        let ids: Vec<Value> = chunk.iter().map(|(id, _)| Value::Int(**id)).collect();
        let select = format!(
            "SELECT case_id, test_id, server, client FROM series WHERE case_id IN ({})",
            vec!["?"; ids.len()].join(", ")
        );
        let stored: HashMap<i64, Series> = conn
            .query_id_texts(&select, &ids)?
            .into_iter()
            .map(|(id, test_id, server, client)| (id, Series { test_id, server, client }))
            .collect();
        for (case_id, s) in chunk {
            match stored.get(case_id) {
                Some(found) if found == *s => {}
                Some(found) => {
                    return Err(StoreError::Fatal(Failure::data(format!(
                        "test {:?} server {:?} client {:?}: its case (id {case_id}) already \
                         belongs to test {:?} server {:?} client {:?}; set a distinct \
                         context \"command\" for one of them",
                        s.test_id, s.server, s.client, found.test_id, found.server, found.client
                    ))))
                }
                None => {
                    return Err(StoreError::Fatal(Failure::software(format!(
                        "series of case {case_id} not found after insert"
                    ))))
                }
            }
        }
    }
    Ok(())
}

/// Inserts the cases that are new and returns every case's id, in `cases` order.
fn upsert_cases(conn: &mut dyn Conn, cases: &[Case]) -> Result<Vec<i64>, StoreError> {
    let d = conn.dialect();
    let per_insert = ROWS_PER_INSERT.min(d.max_params / CASE_COLUMNS.len()).max(1);
    let mut ids: HashMap<String, i64> = HashMap::new();
    for chunk in cases.chunks(per_insert) {
        let mut params = Vec::with_capacity(chunk.len() * CASE_COLUMNS.len());
        for c in chunk {
            params.extend([
                Value::Text(c.case_key.clone()),
                Value::Text(c.network.clone()),
                Value::Int(c.batch_size),
                Value::Text(c.precision.clone()),
                Value::Text(c.framework.clone()),
                Value::Text(c.command.clone()),
            ]);
        }
        let insert = format!(
            "{} INTO cases ({}) VALUES {}",
            d.insert_ignore,
            column_list(&CASE_COLUMNS),
            placeholders(CASE_COLUMNS.len(), chunk.len())
        );
        conn.exec(&insert, &params)?;
        let keys: Vec<Value> = chunk.iter().map(|c| Value::Text(c.case_key.clone())).collect();
        let select = format!(
            "SELECT id, case_key FROM cases WHERE case_key IN ({})",
            vec!["?"; keys.len()].join(", ")
        );
        ids.extend(conn.query_pairs(&select, &keys)?.into_iter().map(|(id, key)| (key, id)));
    }
    cases
        .iter()
        .map(|c| {
            ids.get(&c.case_key).copied().ok_or_else(|| {
                StoreError::Fatal(Failure::software(format!(
                    "case {} not found after insert",
                    c.case_key
                )))
            })
        })
        .collect()
}

/// Renders a link template with perfline's one renderer: `{run_id}` and `{run_key}` are
/// replaced in a single pass, e.g. `https://perf.example.com/trt/run?run_id={run_id}` (the old
/// perf site's shape).
pub fn render_link(template: &str, run_id: Option<i64>, run_key: &str) -> String {
    let run_id = run_id.map_or_else(String::new, |id| id.to_string());
    perfline::template::render_with(template, &[("run_id", &run_id), ("run_key", run_key)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::RunInfo;

    fn batch() -> Batch {
        let record = perfline::jsonl::parse(perfline::wire::metrics::EXAMPLE).unwrap();
        Batch {
            run: RunInfo { run_key: "k1".into(), gpu: Some("H100".into()), ..RunInfo::default() },
            records: vec![record],
        }
    }

    #[test]
    fn link_values_are_inserted_once() {
        let t = "https://perf/run?id={run_id}&key={run_key}&{other}";
        assert_eq!(
            render_link(t, Some(7), "k{run_id}"),
            "https://perf/run?id=7&key=k{run_id}&{other}"
        );
        assert_eq!(render_link(t, None, "k"), "https://perf/run?id=&key=k&{other}");
    }

    #[test]
    fn a_record_becomes_one_case_and_a_row_per_metric() {
        let rows = rows(&batch());
        assert_eq!(rows.cases.len(), 1);
        let metrics: Vec<_> =
            rows.results.iter().map(|r| (r.metric.as_str(), r.value, r.unit.as_deref())).collect();
        assert_eq!(
            metrics,
            [
                ("mean_ttft", 12.5, Some("ms")),
                ("seq_throughput", 3.2, Some("req/s")),
                ("token_throughput", 204.8, Some("tok/s"))
            ]
        );
        assert_eq!(
            rows.run_cases,
            [RunCaseRow {
                status: "ok",
                reasons: String::new(),
                log_tail: String::new(),
                source: Some("trtllm-benchmark.0.0.log".into())
            }]
        );
        assert_eq!(
            rows.series,
            [Series {
                test_id: "aggr-cfg-srv".into(),
                server: "srv".into(),
                client: "con4_iter2_isl128_osl64".into()
            }]
        );
        let dry = dry_run(&rows);
        let tables: Vec<_> = dry.iter().map(|d| d["table"].as_str().unwrap()).collect();
        assert_eq!(
            tables,
            ["runs", "cases", "series", "run_cases", "perf_result", "perf_result", "perf_result"]
        );
        assert_eq!(dry[0]["row"]["gpu"], "H100");
        assert_eq!(dry[0]["row"]["commit"], serde_json::Value::Null);
        let case_key = rows.cases[0].case_key.as_str();
        assert_eq!(
            dry[2]["row"],
            serde_json::json!({"case_key": case_key, "test_id": "aggr-cfg-srv", "server": "srv",
                "client": "con4_iter2_isl128_osl64"})
        );
        assert_eq!(dry[3]["row"]["status"], "ok");
        assert_eq!(dry[3]["row"]["case_key"], case_key);
        assert_eq!(dry[4]["row"]["metric"], "mean_ttft");
        assert_eq!(dry[4]["row"]["run_key"], "k1");
    }

    #[test]
    fn trace_replay_metrics_become_rows_with_their_units() {
        let mut b = batch();
        b.records[0].metrics.clear();
        b.records[0].units.clear();
        for (m, v, u) in [
            ("cache_hit_rate", 27.59, "%"),
            ("mean_ttft_turn_1", 2.6, "ms"),
            ("sessions", 3.0, "count"),
            ("total_cached_tokens", 8.0, "tokens"),
            ("turns", 4.0, "count"),
        ] {
            b.records[0].metrics.insert(m.into(), v);
            b.records[0].units.insert(m.into(), u.into());
        }
        let rows = rows(&b);
        let metrics: Vec<_> =
            rows.results.iter().map(|r| (r.metric.as_str(), r.value, r.unit.as_deref())).collect();
        assert_eq!(
            metrics,
            [
                ("cache_hit_rate", 27.59, Some("%")),
                ("mean_ttft_turn_1", 2.6, Some("ms")),
                ("sessions", 3.0, Some("count")),
                ("total_cached_tokens", 8.0, Some("tokens")),
                ("turns", 4.0, Some("count")),
            ]
        );
    }

    #[test]
    fn a_failed_record_has_no_result_rows_even_with_numbers() {
        let mut b = batch();
        b.records[0].status = perfline::wire::metrics::Status::Failed;
        b.records[0].reasons = vec!["client exited with code 1".into()];
        b.records[0].server = None;
        let rows = rows(&b);
        assert_eq!(rows.results, []);
        assert_eq!(rows.run_cases.len(), 1);
        assert_eq!(rows.run_cases[0].status, "failed");
        assert_eq!(rows.run_cases[0].reasons, "client exited with code 1");
        assert_eq!(rows.series[0].server, "");
    }

    #[test]
    fn records_of_one_case_fold_into_one_run_case() {
        let mut b = batch();
        let mut failed = b.records[0].clone();
        failed.status = perfline::wire::metrics::Status::Failed;
        failed.metrics.clear();
        failed.reasons = vec!["server died".into(), "exit 1".into()];
        failed.log_tail = vec!["line a".into(), "line b".into()];
        b.records.push(failed);
        let rows = rows(&b);
        assert_eq!(rows.cases.len(), 1);
        assert_eq!(rows.results.len(), 3);
        assert_eq!(
            rows.run_cases,
            [RunCaseRow {
                status: "failed",
                reasons: "server died; exit 1".into(),
                log_tail: "line a\nline b".into(),
                source: Some("trtllm-benchmark.0.0.log".into())
            }]
        );
    }

    #[test]
    fn placeholders_and_links() {
        assert_eq!(placeholders(2, 2), "(?, ?), (?, ?)");
        assert_eq!(
            render_link("https://perf/run?run_id={run_id}&k={run_key}", Some(7), "ab"),
            "https://perf/run?run_id=7&k=ab"
        );
    }
}
