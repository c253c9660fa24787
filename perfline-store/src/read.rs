//! The history reader: what perf-check judges and report draws, read from an SQLite or
//! MySQL/MariaDB store that upload wrote (the schema is [`crate::schema`], described in
//! docs/SCHEMA.md).
//!
//! - **Versions**: opening checks the store's `schema_version` ([`crate::schema::version`]):
//!   a newer store is refused ([`crate::schema::newer`], exit 78). An older one is read as it
//!   is, without writing: the tables its version has decide what is read (no `run_cases`
//!   before 2: no failed cases, every case ok; no `series` before 3: see below). A reader
//!   opened with [`Access::Accept`] may write, so it migrates the store to the current version
//!   first.
//! - A **series** is `(test_id, server, client, metric)`; the first three come from the
//!   `series` table (one row per case), `''` when the record had none. A case without a
//!   `series` row (a store before schema 3, or a case last uploaded before its migration to
//!   3) is matched by upload's case names (`cases.network` = test id, `cases.command` =
//!   `SERVER-CLIENT`) and listed as `(network, "", command)`.
//! - **Runs** are ordered `(start_time IS NULL), start_time, id`: by start time (ISO text
//!   order), runs without one after those with one, in upload order.
//! - A series' **history** holds only `ok` values (`perf_result.status = 'ok'` and the case's
//!   `run_cases.status = 'ok'`), at most `window` runs (the most recent), and nothing before
//!   the run a reviewer accepted for it (`perf_accept`, written by `perf-check --accept`).
//!
//! The reader only reads, except [`Reader::accept`] on a store opened with
//! [`Access::Accept`].
//!
//! ```no_run
//! use perfline_store::{read::{Access, Query, Reader, SeriesKey}, url::Store};
//! # fn f() -> perfline::cli::Result<Vec<(String, f64)>> {
//! let store = Store::parse("sqlite:perf.db")?;
//! let mut reader = Reader::open(&store, None, Access::ReadOnly)?;
//! let key = SeriesKey::new("aggr-cfg-srv", "srv", "con4", "token_throughput");
//! let history = reader.history(&Query { series: &[key], window: 30, exclude_run_key: None })?;
//! let points = history.series[0].points.iter();
//! let values = points.map(|p| (history.runs[p.run].run_key.clone(), p.value)).collect();
//! # Ok(values) }
//! ```

use crate::schema::{self, Backend, Session, SCHEMA_VERSION};
use crate::url::Store;
use crate::value::Value;
use perfline::cli::{Failure, Result};
use perfline::Exit;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

/// How long to wait for a busy SQLite file or a MySQL connection.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// One series' identity. `server` and `client` are `""` when the record had none.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SeriesKey {
    pub test_id: String,
    pub server: String,
    pub client: String,
    pub metric: String,
}

impl SeriesKey {
    pub fn new(test_id: &str, server: &str, client: &str, metric: &str) -> SeriesKey {
        SeriesKey {
            test_id: test_id.into(),
            server: server.into(),
            client: client.into(),
            metric: metric.into(),
        }
    }
    fn case(&self) -> (&str, &str, &str) {
        (&self.test_id, &self.server, &self.client)
    }
}

/// One stored run: its key and system info (the `runs` row).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Run {
    pub id: i64,
    pub run_key: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub job_id: Option<String>,
    pub commit: Option<String>,
    pub gpu: Option<String>,
    pub driver: Option<String>,
    pub cuda: Option<String>,
    pub tensorrt: Option<String>,
    pub trtllm: Option<String>,
    pub os: Option<String>,
    pub hostname: Option<String>,
    pub link: Option<String>,
    pub notes: Option<String>,
    /// When upload wrote the run (`runs.uploaded_at`, UTC `YYYY-MM-DD HH:MM:SS`); `None` for a
    /// store without that column.
    pub uploaded_at: Option<String>,
}

/// One value of a series: `run` indexes [`History::runs`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub run: usize,
    pub value: f64,
}

/// A series and its history, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub key: SeriesKey,
    pub unit: Option<String>,
    pub points: Vec<Point>,
    /// The run key a reviewer accepted as this series' new baseline (history starts there).
    pub accepted_from: Option<String>,
}

/// Every run of the store in history order, and the series asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub runs: Vec<Run>,
    pub series: Vec<Series>,
}

/// What [`Reader::history`] reads.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// The series wanted, answered in this order (a series absent from the store gets no
    /// points); empty: every series of the store, sorted by key.
    pub series: &'a [SeriesKey],
    /// At most this many runs per series: the most recent ones.
    pub window: usize,
    /// A run never counted as history (the current run, when it was uploaded already).
    pub exclude_run_key: Option<&'a str>,
}

/// A failed case of a run, with why it failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailedCase {
    pub run_key: String,
    pub test_id: String,
    pub server: String,
    pub client: String,
    pub reasons: Vec<String>,
    pub log_tail: String,
    pub source: Option<String>,
}

/// Whether the store may be written ([`Reader::accept`] only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    Accept,
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Mysql(Box<mysql::Conn>),
}

/// A connection to a store, for reading history.
pub struct Reader {
    conn: Conn,
    name: String,
    access: Access,
    /// The store's schema version (0: unversioned); the current one once migrated.
    version: i64,
}

impl Reader {
    /// Opens `store` (SQLite or MySQL; `password` for MySQL). A missing SQLite file is
    /// `NoInput`; a server that cannot be reached is `Unavailable`; an OpenSearch URL is
    /// `Config` (it holds no history to read); a store of a newer schema is `Config`
    /// ([`schema::newer`]); one without perfline's tables is `DataErr`. [`Access::Accept`]
    /// migrates an older store to [`SCHEMA_VERSION`].
    pub fn open(store: &Store, password: Option<&str>, access: Access) -> Result<Reader> {
        let name = store.to_string();
        let conn = match store {
            Store::Sqlite { path } => Conn::Sqlite(open_sqlite(path, access)?),
            Store::Mysql { user, host, port, db } => {
                let opts = mysql::OptsBuilder::new()
                    .ip_or_hostname(Some(host.as_str()))
                    .tcp_port(*port)
                    .user(Some(user.as_str()))
                    .pass(password)
                    .db_name(Some(db.as_str()))
                    .prefer_socket(false)
                    .tcp_connect_timeout(Some(TIMEOUT))
                    .read_timeout(Some(TIMEOUT))
                    .write_timeout(Some(TIMEOUT))
                    .stmt_cache_size(32);
                let conn = mysql::Conn::new(opts).map_err(|e| mysql_failure(&name, e))?;
                Conn::Mysql(Box::new(conn))
            }
            Store::OpenSearch { .. } => {
                return Err(Failure::config(format!(
                    "{name}: history is read from SQL stores only (sqlite:PATH or mysql://…)"
                )))
            }
        };
        let mut reader = Reader { conn, name, access, version: 0 };
        let found = schema::version(&mut reader)?;
        schema::check(&reader.name, found)?;
        if !schema::has_table(&mut reader, "runs")? {
            return Err(Failure::data(format!(
                "{}: not a perfline store (no runs table)",
                reader.name
            )));
        }
        reader.version = match access {
            Access::ReadOnly => found.unwrap_or(0),
            Access::Accept => {
                schema::migrate(&mut reader)?;
                SCHEMA_VERSION
            }
        };
        Ok(reader)
    }

    /// The store's schema version as read (0: unversioned); after a migration, the current.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Every run, in history order (module docs).
    pub fn runs(&mut self) -> Result<Vec<Run>> {
        let uploaded_at =
            if self.has_column("runs", "uploaded_at")? { "uploaded_at" } else { "NULL" };
        let sql = format!(
            "SELECT id, run_key, start_time, end_time, job_id, `commit`, gpu, driver, cuda, \
             tensorrt, trtllm, os, hostname, link, notes, {uploaded_at} FROM runs \
             ORDER BY (start_time IS NULL), start_time, id"
        );
        let mut runs = Vec::new();
        self.each(&sql, &[], &mut |r| {
            let t = |i: usize| r.get(i).and_then(Value::text);
            runs.push(Run {
                id: r.first().and_then(Value::int).unwrap_or_default(),
                run_key: t(1).unwrap_or_default(),
                start_time: t(2),
                end_time: t(3),
                job_id: t(4),
                commit: t(5),
                gpu: t(6),
                driver: t(7),
                cuda: t(8),
                tensorrt: t(9),
                trtllm: t(10),
                os: t(11),
                hostname: t(12),
                link: t(13),
                notes: t(14),
                uploaded_at: t(15),
            });
        })?;
        Ok(runs)
    }

    /// The history of the series `query` names (module docs for what counts).
    pub fn history(&mut self, query: &Query<'_>) -> Result<History> {
        self.read_history(query, 0)
    }

    /// [`Reader::history`], plus for each series the first `anchor` runs of its baseline —
    /// from the run a reviewer accepted, else from its oldest run — even when they are older
    /// than the window: the baseline a regression is judged against does not leave the
    /// view until it is accepted away. Points stay in history order (anchor runs first).
    pub fn history_anchored(&mut self, query: &Query<'_>, anchor: usize) -> Result<History> {
        self.read_history(query, anchor)
    }

    fn read_history(&mut self, query: &Query<'_>, anchor: usize) -> Result<History> {
        // Stores written before schema 3 have no `series` table: a case is then identified
        // by `cases.network` (the test id) and `cases.command` (`SERVER-CLIENT`, upload's
        // case name), and reported as (network, "", command).
        let has_series = self.has_table("series")?;
        let runs = self.runs()?;
        let position: HashMap<&str, usize> =
            runs.iter().enumerate().map(|(i, r)| (r.run_key.as_str(), i)).collect();
        let accepted = self.accepts()?;
        let all = query.series.is_empty();

        // Which series each case holds (explicit mode) or may hold (all mode). A case without
        // a `series` row (a store before schema 3, or a case uploaded before its migration) is
        // matched by its legacy identity.
        type Slots = HashMap<(String, String, String), Vec<(String, usize)>>;
        let mut by_case: Slots = HashMap::new();
        let mut by_legacy: Slots = HashMap::new();
        let mut series: Vec<Series> = Vec::new();
        for key in query.series {
            let (t, s, c) = key.case();
            let slot = by_case.entry((t.into(), s.into(), c.into())).or_default();
            if !slot.iter().any(|(m, _)| *m == key.metric) {
                slot.push((key.metric.clone(), series.len()));
                let legacy = by_legacy.entry(legacy_case(t, s, c)).or_default();
                legacy.push((key.metric.clone(), series.len()));
                series.push(new_series(key.clone(), &accepted));
            }
        }
        let mut cases: HashMap<i64, Vec<(String, usize)>> = HashMap::new();
        let mut identity: HashMap<i64, (String, String, String)> = HashMap::new();
        let sql = if has_series {
            "SELECT c.id, s.test_id, s.server, s.client, c.network, c.command \
             FROM cases c LEFT JOIN series s ON s.case_id = c.id"
        } else {
            "SELECT id, NULL, NULL, NULL, network, command FROM cases"
        };
        self.each(sql, &[], &mut |r| {
            let Some(id) = r.first().and_then(Value::int) else { return };
            let (case, slots) = if r[1] == Value::Null {
                ((r[4].str().to_string(), String::new(), r[5].str().to_string()), &by_legacy)
            } else {
                let case = (r[1].str().to_string(), r[2].str().to_string(), r[3].str().to_string());
                (case, &by_case)
            };
            if all {
                cases.insert(id, Vec::new());
                identity.insert(id, case);
            } else if let Some(slot) = slots.get(&case) {
                cases.insert(id, slot.clone());
            }
        })?;
        // Lowest run position each series may use (its accepted run).
        let floor = |s: &Series| {
            s.accepted_from.as_deref().and_then(|k| position.get(k).copied()).unwrap_or(0)
        };
        let mut floors: Vec<usize> = series.iter().map(floor).collect();
        let mut open = series.len();
        let has_run_cases = self.has_table("run_cases")?;
        let window = query.window.max(1);
        // Per series: the oldest points of its baseline beyond the window, oldest first
        // (anchor mode only). Two scans: newest first until every window is full (or every
        // floor passed), then, for the anchor, oldest first from the floors up to where the
        // first scan stopped, until every full series has its anchor.
        let mut older: Vec<Vec<Point>> = Vec::new();
        let mut newest = (0..runs.len()).rev();
        let mut scanning_new = true;
        let mut lowest = runs.len();
        let mut up = usize::MAX;
        loop {
            let pos = if scanning_new {
                match newest.next() {
                    Some(pos) if all || !(open == 0 || floors.iter().all(|f| *f > pos)) => {
                        lowest = pos;
                        pos
                    }
                    _ => {
                        scanning_new = false;
                        if anchor == 0 || all {
                            break;
                        }
                        up = floors.iter().copied().min().unwrap_or(0);
                        continue;
                    }
                }
            } else {
                older.resize_with(series.len(), Vec::new);
                let done = series
                    .iter()
                    .zip(&older)
                    .all(|(s, o)| s.points.len() < window || o.len() >= anchor);
                if up >= lowest || done {
                    break;
                }
                up += 1;
                up - 1
            };
            let run = &runs[pos];
            if Some(run.run_key.as_str()) == query.exclude_run_key {
                continue;
            }
            let mut failed: HashSet<i64> = HashSet::new();
            if has_run_cases {
                self.each(
                    "SELECT case_id FROM run_cases WHERE run_id = ? AND status <> 'ok'",
                    &[Value::Int(run.id)],
                    &mut |r| {
                        failed.extend(r.first().and_then(Value::int));
                    },
                )?;
            }
            let sql = "SELECT case_id, metric, value, unit FROM perf_result \
                       WHERE run_id = ? AND status = 'ok'";
            self.each(sql, &[Value::Int(run.id)], &mut |r| {
                let Some(case_id) = r.first().and_then(Value::int) else { return };
                let Some(slot) = cases.get_mut(&case_id) else { return };
                if failed.contains(&case_id) {
                    return;
                }
                let metric = r[1].str();
                let idx = match slot.iter().find(|(m, _)| m == metric) {
                    Some((_, i)) => *i,
                    None if all => {
                        let Some((t, s, c)) = identity.get(&case_id) else { return };
                        let key = SeriesKey::new(t, s, c, metric);
                        series.push(new_series(key, &accepted));
                        floors.push(series.last().map(floor).unwrap_or(0));
                        slot.push((metric.to_string(), series.len() - 1));
                        series.len() - 1
                    }
                    None => return,
                };
                let (Some(s), Some(value)) = (series.get_mut(idx), r[2].real()) else { return };
                if pos < floors[idx] {
                    return;
                }
                if !scanning_new {
                    // The anchor scan: oldest first, below the window's oldest point.
                    let below = s.points.last().is_some_and(|p| pos < p.run);
                    if s.points.len() >= window && below && older[idx].len() < anchor {
                        older[idx].push(Point { run: pos, value });
                    }
                    return;
                }
                if s.points.len() >= window {
                    return;
                }
                s.points.push(Point { run: pos, value });
                if s.unit.is_none() {
                    s.unit = r[3].text();
                }
                if s.points.len() == window {
                    open = open.saturating_sub(1);
                }
            })?;
        }
        for (i, s) in series.iter_mut().enumerate() {
            s.points.reverse();
            if let Some(older) = older.get_mut(i).filter(|o| !o.is_empty()) {
                older.append(&mut s.points);
                std::mem::swap(older, &mut s.points);
            }
        }
        if all {
            series.sort_by(|a, b| a.key.cmp(&b.key));
        }
        Ok(History { runs, series })
    }

    /// The failed cases of the given runs, in run-key then case order.
    pub fn failed_cases(&mut self, run_keys: &[String]) -> Result<Vec<FailedCase>> {
        if run_keys.is_empty() || !self.has_table("run_cases")? {
            return Ok(Vec::new());
        }
        let has_series = self.has_table("series")?;
        let identity = if has_series {
            "COALESCE(s.test_id, c.network), COALESCE(s.server, ''), COALESCE(s.client, c.command)"
        } else {
            "c.network, '', c.command"
        };
        let join = if has_series { "LEFT JOIN series s ON s.case_id = rc.case_id" } else { "" };
        let mut out = Vec::new();
        for chunk in run_keys.chunks(500) {
            let sql = format!(
                "SELECT r.run_key, {identity}, rc.reasons, rc.log_tail, rc.source \
                 FROM run_cases rc JOIN runs r ON r.id = rc.run_id \
                 JOIN cases c ON c.id = rc.case_id {join} \
                 WHERE rc.status <> 'ok' AND r.run_key IN ({}) ORDER BY r.run_key, rc.case_id",
                vec!["?"; chunk.len()].join(", ")
            );
            let params: Vec<Value> = chunk.iter().map(|k| Value::Text(k.clone())).collect();
            self.each(&sql, &params, &mut |r| {
                let t = |i: usize| r.get(i).and_then(Value::text);
                out.push(FailedCase {
                    run_key: t(0).unwrap_or_default(),
                    test_id: t(1).unwrap_or_default(),
                    server: t(2).unwrap_or_default(),
                    client: t(3).unwrap_or_default(),
                    reasons: parse_reasons(&t(4).unwrap_or_default()),
                    log_tail: t(5).unwrap_or_default(),
                    source: t(6),
                });
            })?;
        }
        Ok(out)
    }

    /// Records that from `run_key` on, the level of each of `series` is the baseline
    /// (`perf_accept`, schema 4). The run must be in the store. Returns the rows written.
    /// Needs [`Access::Accept`] (which migrated the store, so the table is there).
    pub fn accept(&mut self, series: &[SeriesKey], run_key: &str) -> Result<usize> {
        if self.access != Access::Accept {
            return Err(Failure::new(
                Exit::NoPerm,
                format!("{}: opened read-only; accepting writes the store", self.name),
            ));
        }
        let known = self.runs()?.iter().any(|r| r.run_key == run_key);
        if !known {
            return Err(Failure::data(format!(
                "{run_key}: no such run in {}; upload it before accepting it",
                self.name
            )));
        }
        let begin = match self.conn {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Mysql(_) => "START TRANSACTION",
        };
        self.exec(begin, &[])?;
        let insert = "INSERT INTO perf_accept (test_id, server, client, metric, run_key) \
                      VALUES (?, ?, ?, ?, ?)";
        for key in series {
            let params = [&key.test_id, &key.server, &key.client, &key.metric]
                .map(|s| Value::Text(s.clone()));
            let mut params = params.to_vec();
            params.push(Value::Text(run_key.to_string()));
            if let Err(f) = self.exec(insert, &params) {
                let _ = self.exec("ROLLBACK", &[]);
                return Err(f);
            }
        }
        self.exec("COMMIT", &[])?;
        Ok(series.len())
    }

    /// The accepted run key of each series (the latest acceptance wins).
    fn accepts(&mut self) -> Result<HashMap<SeriesKey, String>> {
        let mut out = HashMap::new();
        if !self.has_table("perf_accept")? {
            return Ok(out);
        }
        let sql = "SELECT test_id, server, client, metric, run_key FROM perf_accept ORDER BY id";
        self.each(sql, &[], &mut |r| {
            let key = SeriesKey::new(r[0].str(), r[1].str(), r[2].str(), r[3].str());
            out.insert(key, r[4].str().to_string());
        })?;
        Ok(out)
    }

    /// Whether the store holds `table`: decided by its schema version ([`schema::since`]),
    /// except `perf_accept`, which perfline before schema 4 created on the first `--accept`.
    fn has_table(&mut self, table: &str) -> Result<bool> {
        match schema::since(table) {
            Some(v) if v <= self.version.max(1) => Ok(true),
            _ if table == "perf_accept" => schema::has_table(self, table),
            _ => Ok(false),
        }
    }

    fn has_column(&mut self, table: &str, column: &str) -> Result<bool> {
        let sql = match self.conn {
            Conn::Sqlite(_) => "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?",
            Conn::Mysql(_) => {
                "SELECT count(*) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?"
            }
        };
        let mut n = 0;
        let params = [Value::Text(table.into()), Value::Text(column.into())];
        self.each(sql, &params, &mut |r| {
            n = r.first().and_then(Value::int).unwrap_or(0);
        })?;
        Ok(n > 0)
    }

    /// Runs `sql` with `params` and calls `f` with each row.
    fn each(&mut self, sql: &str, params: &[Value], f: &mut dyn FnMut(&[Value])) -> Result<()> {
        let name = &self.name;
        match &mut self.conn {
            Conn::Sqlite(conn) => {
                let fail = |e| sqlite_failure(name, e);
                let mut stmt = conn.prepare_cached(sql).map_err(fail)?;
                let columns = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(params)).map_err(fail)?;
                let mut buf = Vec::with_capacity(columns);
                while let Some(row) = rows.next().map_err(fail)? {
                    buf.clear();
                    for i in 0..columns {
                        buf.push(from_sqlite(row.get_ref(i).map_err(fail)?));
                    }
                    f(&buf);
                }
            }
            Conn::Mysql(conn) => {
                use mysql::prelude::Queryable;
                let fail = |e| mysql_failure(name, e);
                let params = Value::mysql_params(params);
                let result = conn.exec_iter(sql, params).map_err(fail)?;
                let mut buf = Vec::new();
                for row in result {
                    let row = row.map_err(fail)?;
                    buf.clear();
                    buf.extend(row.unwrap().into_iter().map(from_mysql));
                    f(&buf);
                }
            }
        }
        Ok(())
    }

    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        let name = &self.name;
        match &mut self.conn {
            Conn::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql).map_err(|e| sqlite_failure(name, e))?;
                stmt.execute(rusqlite::params_from_iter(params))
                    .map_err(|e| sqlite_failure(name, e))?;
            }
            Conn::Mysql(conn) => {
                use mysql::prelude::Queryable;
                if params.is_empty() {
                    conn.query_drop(sql).map_err(|e| mysql_failure(name, e))?;
                } else {
                    conn.exec_drop(sql, Value::mysql_params(params))
                        .map_err(|e| mysql_failure(name, e))?;
                }
            }
        }
        Ok(())
    }
}

/// The `cases` identity upload gives a record without the `series` table: network = test id,
/// command = `SERVER-CLIENT` (one of them alone when the other is absent, else the test id).
fn legacy_case(test: &str, server: &str, client: &str) -> (String, String, String) {
    let command = match (server.is_empty(), client.is_empty()) {
        (false, false) => format!("{server}-{client}"),
        (false, true) => server.to_string(),
        (true, false) => client.to_string(),
        (true, true) => test.to_string(),
    };
    (test.to_string(), String::new(), command)
}

fn new_series(key: SeriesKey, accepted: &HashMap<SeriesKey, String>) -> Series {
    let accepted_from = accepted.get(&key).cloned();
    Series { key, unit: None, points: Vec::new(), accepted_from }
}

/// `run_cases.reasons`: a JSON array of strings (schema v3), or older stores' `"; "`-joined text.
fn parse_reasons(text: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(text) {
        return list;
    }
    text.split("; ").filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn open_sqlite(path: &Path, access: Access) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags as F;
    // Opening never creates a store: a missing file is missing input.
    let meta = std::fs::metadata(path).map_err(|e| Failure::io(path.display(), &e))?;
    if meta.is_dir() {
        let why = format!("sqlite:{}: is a directory; give the database file", path.display());
        return Err(Failure::new(Exit::NoInput, why));
    }
    let mode = match access {
        Access::ReadOnly => F::SQLITE_OPEN_READ_ONLY,
        Access::Accept => F::SQLITE_OPEN_READ_WRITE,
    };
    let name = format!("sqlite:{}", path.display());
    let conn = rusqlite::Connection::open_with_flags(path, mode | F::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| sqlite_failure(&name, e))?;
    conn.busy_timeout(TIMEOUT).map_err(|e| sqlite_failure(&name, e))?;
    Ok(conn)
}

fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef as V;
    match v {
        V::Null => Value::Null,
        V::Integer(i) => Value::Int(i),
        V::Real(f) => Value::Real(f),
        V::Text(t) | V::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

fn from_mysql(v: mysql::Value) -> Value {
    use mysql::Value as V;
    match v {
        V::NULL => Value::Null,
        V::Int(i) => Value::Int(i),
        V::UInt(u) => Value::Int(i64::try_from(u).unwrap_or(i64::MAX)),
        V::Float(f) => Value::Real(f64::from(f)),
        V::Double(f) => Value::Real(f),
        V::Bytes(b) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
        other => Value::Text(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

impl Session for Reader {
    type Error = Failure;
    fn backend(&self) -> Backend {
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Mysql(_) => Backend::Mysql,
        }
    }
    fn store_name(&self) -> String {
        self.name.clone()
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        self.exec(sql, params)
    }
    fn query_ints(&mut self, sql: &str, params: &[Value]) -> Result<Vec<i64>> {
        let mut out = Vec::new();
        self.each(sql, params, &mut |r| out.extend(r.first().and_then(Value::int)))?;
        Ok(out)
    }
}

/// Busy or locked: unavailable (try later); not a database: bad data; cannot open or
/// read-only: permission; anything else: internal.
fn sqlite_failure(name: &str, e: rusqlite::Error) -> Failure {
    use rusqlite::ErrorCode as C;
    let exit = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => Exit::Unavailable,
        Some(C::NotADatabase | C::DatabaseCorrupt) => Exit::DataErr,
        Some(C::CannotOpen) => Exit::NoInput,
        Some(C::ReadOnly | C::PermissionDenied) => Exit::NoPerm,
        Some(C::SystemIoFailure) => Exit::IoErr,
        _ => Exit::Software,
    };
    Failure::new(exit, format!("{name}: {e}"))
}

/// Cannot connect or lost the connection: unavailable; access denied: permission; unknown
/// database: missing input; anything else: internal.
fn mysql_failure(name: &str, e: mysql::Error) -> Failure {
    let exit = match &e {
        mysql::Error::IoError(_) | mysql::Error::DriverError(_) | mysql::Error::CodecError(_) => {
            Exit::Unavailable
        }
        mysql::Error::MySqlError(se) => match se.code {
            1044 | 1045 | 1142 => Exit::NoPerm,
            1049 => Exit::NoInput,
            1040 | 1053 | 1205 | 1213 | 2006 | 2013 => Exit::Unavailable,
            _ => Exit::Software,
        },
        _ => Exit::Software,
    };
    Failure::new(exit, format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of the current schema or an older one, made by the schema's own DDL.
    pub(crate) struct Fixture {
        pub dir: tempfile::TempDir,
        conn: rusqlite::Connection,
    }

    impl Fixture {
        pub fn new() -> Fixture {
            Fixture::at(SCHEMA_VERSION)
        }
        pub fn at(version: i64) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let conn = rusqlite::Connection::open(dir.path().join("perf.db")).unwrap();
            schema::create_at(&mut schema::Sqlite(&conn), version).unwrap();
            Fixture { dir, conn }
        }
        pub fn store(&self) -> Store {
            Store::Sqlite { path: self.dir.path().join("perf.db") }
        }
        pub fn case(&self, test: &str, server: &str, client: &str) -> i64 {
            self.conn
                .execute(
                    "INSERT INTO cases (case_key, network, batch_size, `precision`, framework, \
                     command) VALUES (?1, ?2, 1, '', 'trtllm', ?3)",
                    [
                        format!("{test}|{server}|{client}"),
                        test.into(),
                        format!("{server}-{client}"),
                    ],
                )
                .unwrap();
            let id = self.conn.last_insert_rowid();
            if schema::since("series") <= Some(self.version()) {
                self.conn
                    .execute(
                        "INSERT INTO series VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![id, test, server, client],
                    )
                    .unwrap();
            }
            id
        }
        fn version(&self) -> i64 {
            self.conn
                .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
                .unwrap()
        }
        pub fn run(&self, key: &str, start: Option<&str>) -> i64 {
            self.conn
                .execute(
                    "INSERT INTO runs (run_key, start_time) VALUES (?1, ?2)",
                    rusqlite::params![key, start],
                )
                .unwrap();
            self.conn.last_insert_rowid()
        }
        /// One case of a run: its status and metric values (stored with the case's status).
        pub fn result(&self, run: i64, case: i64, status: &str, metrics: &[(&str, f64)]) {
            if schema::since("run_cases") <= Some(self.version()) {
                self.conn
                    .execute(
                        "INSERT INTO run_cases (run_id, case_id, status, reasons, log_tail) \
                         VALUES (?1, ?2, ?3, '[\"server died\"]', 'tail')",
                        rusqlite::params![run, case, status],
                    )
                    .unwrap();
            }
            for (m, v) in metrics {
                self.conn
                    .execute(
                        "INSERT INTO perf_result (run_id, case_id, metric, value, unit, status) \
                         VALUES (?1, ?2, ?3, ?4, 'tok/s', ?5)",
                        rusqlite::params![run, case, m, v, status],
                    )
                    .unwrap();
            }
        }
    }

    fn values(h: &History, i: usize) -> Vec<(String, f64)> {
        h.series[i].points.iter().map(|p| (h.runs[p.run].run_key.clone(), p.value)).collect()
    }

    #[test]
    fn history_is_ordered_windowed_and_ok_only() {
        let f = Fixture::new();
        let a = f.case("t1", "srv", "c1");
        let b = f.case("t1", "", "");
        // r3 has no start time: after the timed ones; r2 started before r1.
        let r1 = f.run("r1", Some("2026-05-02T00:00:00Z"));
        let r2 = f.run("r2", Some("2026-05-01T00:00:00Z"));
        let r3 = f.run("r3", None);
        let r4 = f.run("r4", None);
        f.result(r1, a, "ok", &[("tput", 1.0), ("ttft", 9.0)]);
        f.result(r2, a, "ok", &[("tput", 2.0)]);
        f.result(r3, a, "failed", &[("tput", 3.0)]);
        f.result(r4, a, "ok", &[("tput", 4.0)]);
        f.result(r4, b, "ok", &[("tput", 5.0)]);
        let mut reader = Reader::open(&f.store(), None, Access::ReadOnly).unwrap();
        let keys: Vec<String> = reader.runs().unwrap().into_iter().map(|r| r.run_key).collect();
        assert_eq!(keys, ["r2", "r1", "r3", "r4"]);
        let wanted = [
            SeriesKey::new("t1", "srv", "c1", "tput"),
            SeriesKey::new("t1", "", "", "tput"),
            SeriesKey::new("t9", "", "", "tput"),
        ];
        let q = Query { series: &wanted, window: 30, exclude_run_key: None };
        let h = reader.history(&q).unwrap();
        assert_eq!(
            values(&h, 0),
            [("r2".to_string(), 2.0), ("r1".to_string(), 1.0), ("r4".to_string(), 4.0)]
        );
        assert_eq!(values(&h, 1), [("r4".to_string(), 5.0)]);
        assert!(h.series[2].points.is_empty());
        assert_eq!(h.series[0].unit.as_deref(), Some("tok/s"));
        let q = Query { series: &wanted[..1], window: 2, exclude_run_key: Some("r4") };
        let h = reader.history(&q).unwrap();
        assert_eq!(values(&h, 0), [("r2".to_string(), 2.0), ("r1".to_string(), 1.0)]);
        // Every series of the store, sorted by key.
        let h = reader.history(&Query { series: &[], window: 1, exclude_run_key: None }).unwrap();
        let keys: Vec<_> =
            h.series.iter().map(|s| (s.key.server.as_str(), s.key.metric.as_str())).collect();
        assert_eq!(keys, [("", "tput"), ("srv", "tput"), ("srv", "ttft")]);
        assert_eq!(values(&h, 1), [("r4".to_string(), 4.0)]);
        assert_eq!(values(&h, 2), [("r1".to_string(), 9.0)]);
    }

    #[test]
    fn the_baseline_is_anchored_beyond_the_window() {
        let f = Fixture::new();
        let a = f.case("t1", "srv", "c1");
        for i in 1..=9 {
            let r = f.run(&format!("r{i}"), None);
            f.result(r, a, "ok", &[("tput", i as f64)]);
        }
        let mut reader = Reader::open(&f.store(), None, Access::Accept).unwrap();
        let key = SeriesKey::new("t1", "srv", "c1", "tput");
        let keys = |h: &History| -> Vec<String> {
            h.series[0].points.iter().map(|p| h.runs[p.run].run_key.clone()).collect()
        };
        let q =
            Query { series: std::slice::from_ref(&key), window: 3, exclude_run_key: Some("r9") };
        // The oldest 2 runs stay in view besides the latest 3 (r9 excluded); none twice.
        assert_eq!(keys(&reader.history_anchored(&q, 2).unwrap()), ["r1", "r2", "r6", "r7", "r8"]);
        assert_eq!(keys(&reader.history_anchored(&q, 9).unwrap()).len(), 8);
        assert_eq!(keys(&reader.history(&q).unwrap()), ["r6", "r7", "r8"]);
        // From an accepted run on.
        reader.accept(std::slice::from_ref(&key), "r3").unwrap();
        assert_eq!(keys(&reader.history_anchored(&q, 2).unwrap()), ["r3", "r4", "r6", "r7", "r8"]);
    }

    #[test]
    fn runs_carry_their_upload_time_when_stored() {
        let f = Fixture::new();
        let r1 = f.run("r1", None);
        f.conn
            .execute("UPDATE runs SET uploaded_at = '2026-12-06 10:13:06' WHERE id = ?1", [r1])
            .unwrap();
        let r2 = f.run("r2", None);
        f.conn
            .execute("UPDATE runs SET uploaded_at = '2026-12-06 10:14:00' WHERE id = ?1", [r2])
            .unwrap();
        let mut reader = Reader::open(&f.store(), None, Access::ReadOnly).unwrap();
        let times: Vec<Option<String>> =
            reader.runs().unwrap().into_iter().map(|r| r.uploaded_at).collect();
        assert_eq!(times, [Some("2026-12-06 10:13:06".into()), Some("2026-12-06 10:14:00".into())]);
        drop(reader);
        // A store without the column (not written by upload) still reads.
        f.conn.execute_batch("ALTER TABLE runs DROP COLUMN uploaded_at").unwrap();
        let mut reader = Reader::open(&f.store(), None, Access::ReadOnly).unwrap();
        let runs = reader.runs().unwrap();
        assert_eq!((runs.len(), runs[0].uploaded_at.as_deref()), (2, None));
    }

    #[test]
    fn failed_cases_and_accepts() {
        let f = Fixture::new();
        let a = f.case("t1", "srv", "c1");
        let runs: Vec<i64> = (1..=4).map(|i| f.run(&format!("r{i}"), None)).collect();
        for (i, r) in runs.iter().enumerate() {
            let status = if i == 1 { "failed" } else { "ok" };
            f.result(*r, a, status, &[("tput", i as f64)]);
        }
        let store = f.store();
        let mut reader = Reader::open(&store, None, Access::ReadOnly).unwrap();
        let failed = reader.failed_cases(&["r2".into(), "r3".into()]).unwrap();
        assert_eq!(
            failed,
            [FailedCase {
                run_key: "r2".into(),
                test_id: "t1".into(),
                server: "srv".into(),
                client: "c1".into(),
                reasons: vec!["server died".into()],
                log_tail: "tail".into(),
                source: None,
            }]
        );
        let key = SeriesKey::new("t1", "srv", "c1", "tput");
        // A read-only reader cannot accept.
        assert_eq!(reader.accept(std::slice::from_ref(&key), "r3").unwrap_err().exit, Exit::NoPerm);
        let mut writer = Reader::open(&store, None, Access::Accept).unwrap();
        assert_eq!(
            writer.accept(std::slice::from_ref(&key), "r9").unwrap_err().exit,
            Exit::DataErr
        );
        assert_eq!(writer.accept(std::slice::from_ref(&key), "r3").unwrap(), 1);
        let q = Query { series: std::slice::from_ref(&key), window: 30, exclude_run_key: None };
        let h = reader.history(&q).unwrap();
        assert_eq!(values(&h, 0), [("r3".to_string(), 2.0), ("r4".to_string(), 3.0)]);
        assert_eq!(h.series[0].accepted_from.as_deref(), Some("r3"));
    }

    #[test]
    fn stores_without_the_series_table_match_upload_case_names() {
        // Schema 2: no `series` table.
        let f = Fixture::at(2);
        let a = f.case("t1", "srv", "c1");
        let r1 = f.run("r1", None);
        f.result(r1, a, "ok", &[("tput", 7.0)]);
        let mut reader = Reader::open(&f.store(), None, Access::ReadOnly).unwrap();
        let key = SeriesKey::new("t1", "srv", "c1", "tput");
        let q = Query { series: std::slice::from_ref(&key), window: 30, exclude_run_key: None };
        assert_eq!(values(&reader.history(&q).unwrap(), 0), [("r1".to_string(), 7.0)]);
        let all = reader.history(&Query { series: &[], window: 3, exclude_run_key: None });
        assert_eq!(all.unwrap().series[0].key, SeriesKey::new("t1", "", "srv-c1", "tput"));
    }

    #[test]
    fn bad_stores_are_classified() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Store::Sqlite { path: dir.path().join("none.db") };
        let err = Reader::open(&missing, None, Access::ReadOnly).err().unwrap();
        assert_eq!(err.exit, Exit::NoInput);
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, "this is not a database, not at all, no").unwrap();
        let err =
            Reader::open(&Store::Sqlite { path: junk }, None, Access::ReadOnly).err().unwrap();
        assert_eq!(err.exit, Exit::DataErr);
        // A database without tables (the header written, nothing else).
        let empty = dir.path().join("empty.db");
        rusqlite::Connection::open(&empty)
            .unwrap()
            .execute_batch("PRAGMA user_version = 1")
            .unwrap();
        let err = Reader::open(&Store::Sqlite { path: empty.clone() }, None, Access::ReadOnly)
            .err()
            .unwrap();
        let want = format!("sqlite:{}: not a perfline store (no runs table)", empty.display());
        assert_eq!((err.exit, err.message), (Exit::DataErr, want));
        let os = Store::parse("opensearch+https://h/idx").unwrap();
        assert_eq!(Reader::open(&os, None, Access::ReadOnly).err().unwrap().exit, Exit::Config);
        // Nothing listens on port 9 of localhost: unavailable, never a hang or a panic.
        let down = Store::parse("mysql://perf@127.0.0.1:9/perf").unwrap();
        assert_eq!(
            Reader::open(&down, Some("pw"), Access::ReadOnly).err().unwrap().exit,
            Exit::Unavailable
        );
        assert_eq!(parse_reasons("a; b"), ["a", "b"]);
        assert_eq!(parse_reasons("[\"x; y\"]"), ["x; y"]);
    }

    #[test]
    fn a_newer_store_is_refused_by_readers_and_acceptors() {
        let f = Fixture::new();
        f.conn.execute("INSERT INTO schema_version VALUES (5)", []).unwrap();
        let want = format!(
            "sqlite:{}: store schema version 5 is newer than this perfline's (4); upgrade \
             perfline",
            f.dir.path().join("perf.db").display()
        );
        for access in [Access::ReadOnly, Access::Accept] {
            let err = Reader::open(&f.store(), None, access).err().unwrap();
            assert_eq!((err.exit, err.message.as_str()), (Exit::Config, want.as_str()));
        }
    }

    #[test]
    fn older_stores_are_read_as_they_are_and_migrated_only_to_accept() {
        let f = Fixture::at(1);
        let a = f.case("t1", "srv", "c1");
        for i in 1..=3 {
            let r = f.run(&format!("r{i}"), None);
            f.result(r, a, "ok", &[("tput", f64::from(i))]);
        }
        let mut reader = Reader::open(&f.store(), None, Access::ReadOnly).unwrap();
        assert_eq!(reader.version(), 1);
        // Schema 1: no series (legacy case names), no run_cases (no failed cases).
        let key = SeriesKey::new("t1", "srv", "c1", "tput");
        let q = Query { series: std::slice::from_ref(&key), window: 30, exclude_run_key: None };
        let got: Vec<f64> =
            reader.history(&q).unwrap().series[0].points.iter().map(|p| p.value).collect();
        assert_eq!(got, [1.0, 2.0, 3.0]);
        assert_eq!(reader.failed_cases(&["r1".into()]).unwrap(), []);
        drop(reader);
        assert_eq!(f.version(), 1, "a read-only reader never migrates");
        let mut writer = Reader::open(&f.store(), None, Access::Accept).unwrap();
        assert_eq!((writer.version(), f.version()), (SCHEMA_VERSION, SCHEMA_VERSION));
        assert_eq!(writer.accept(std::slice::from_ref(&key), "r2").unwrap(), 1);
        let h = writer.history(&q).unwrap();
        assert_eq!(
            (h.series[0].points.len(), h.series[0].accepted_from.as_deref()),
            (2, Some("r2"))
        );
    }

    #[test]
    fn accepts_made_before_schema_4_are_read() {
        // perfline before schema 4 created perf_accept on the first --accept, at version 3.
        let f = Fixture::new();
        f.conn.execute("DELETE FROM schema_version WHERE version = 4", []).unwrap();
        let a = f.case("t1", "", "");
        for i in 1..=3 {
            let r = f.run(&format!("r{i}"), None);
            f.result(r, a, "ok", &[("tput", f64::from(i))]);
        }
        f.conn
            .execute(
                "INSERT INTO perf_accept (test_id, metric, run_key) VALUES ('t1', 'tput', 'r3')",
                [],
            )
            .unwrap();
        let mut reader = Reader::open(&f.store(), None, Access::ReadOnly).unwrap();
        assert_eq!(reader.version(), 3);
        let key = SeriesKey::new("t1", "", "", "tput");
        let q = Query { series: std::slice::from_ref(&key), window: 30, exclude_run_key: None };
        assert_eq!(values(&reader.history(&q).unwrap(), 0), [("r3".to_string(), 3.0)]);
    }
}
