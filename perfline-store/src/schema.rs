//! The one owner of the store schema: its version, the DDL of both dialects (SQLite, MySQL /
//! MariaDB), the migrations between versions, and the check every opener runs. upload writes
//! through [`migrate`]; the history reader checks with [`version`] (and migrates only when it
//! may write, for `perf-check --accept`). `docs/SCHEMA.md` describes every table and column and
//! the version rule; a test keeps it in step with the DDL below.
//!
//! The version rule: a store's version is the highest row of `schema_version` (0 for a store
//! that has perfline's `runs` table but no `schema_version`, i.e. written before versions or
//! by the incumbent). A store newer than [`SCHEMA_VERSION`] is refused by everyone ([`newer`],
//! exit 78); an older one is migrated by writers and read as it is by readers.
//!
//! ```
//! use perfline_store::schema::{self, Backend, SCHEMA_VERSION};
//! assert_eq!(Backend::Sqlite.ddl().migrations.last().map(|m| m.0), Some(SCHEMA_VERSION));
//! assert_eq!(schema::since("series"), Some(3));
//! ```

use crate::value::Value;
use perfline::cli::Failure;

/// The schema this perfline reads and writes.
///
/// 1: `runs`, `cases`, `perf_result`. 2: `run_cases` (one row per case of a run, failed cases
/// included, with their reasons and log tails). 3: `series` (each case's series identity).
/// 4: `perf_accept` (a reviewer's accepted baselines, `perf-check --accept`).
pub const SCHEMA_VERSION: i64 = 4;

/// Every table and the version that added it, in creation order.
pub const TABLES: [(&str, i64); 7] = [
    ("schema_version", 1),
    ("runs", 1),
    ("cases", 1),
    ("perf_result", 1),
    ("run_cases", 2),
    ("series", 3),
    ("perf_accept", 4),
];

/// The version that added `table` (`None`: not a perfline table).
pub fn since(table: &str) -> Option<i64> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, v)| *v)
}

/// The SQL dialect of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Mysql,
}

/// A dialect's DDL.
pub struct Ddl {
    /// The version-1 tables (`CREATE TABLE IF NOT EXISTS`), `schema_version` first.
    pub create: &'static [&'static str],
    /// (version, statements) in ascending order: what takes a store from the version before
    /// to this one. Each statement is idempotent (`IF NOT EXISTS`), since two uploaders may
    /// migrate the same store at once. The last one is [`SCHEMA_VERSION`].
    pub migrations: &'static [(i64, &'static [&'static str])],
}

impl Backend {
    pub fn ddl(self) -> &'static Ddl {
        match self {
            Backend::Sqlite => &SQLITE,
            Backend::Mysql => &MYSQL,
        }
    }
    /// `INSERT OR IGNORE` / `INSERT IGNORE`.
    pub fn insert_ignore(self) -> &'static str {
        match self {
            Backend::Sqlite => "INSERT OR IGNORE",
            Backend::Mysql => "INSERT IGNORE",
        }
    }
    /// Counts the tables named `?` (one row, one integer).
    fn count_tables(self) -> &'static str {
        match self {
            Backend::Sqlite => {
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
            }
            Backend::Mysql => {
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?"
            }
        }
    }
}

pub static SQLITE: Ddl = Ddl {
    create: &[
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_key TEXT NOT NULL UNIQUE,
            job_id TEXT, tensorrt TEXT, trtllm TEXT, driver TEXT, gpu TEXT, cuda TEXT, os TEXT,
            hostname TEXT, start_time TEXT, end_time TEXT, `commit` TEXT, link TEXT, notes TEXT,
            uploaded_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        "CREATE TABLE IF NOT EXISTS cases (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            case_key TEXT NOT NULL UNIQUE,
            network TEXT NOT NULL, batch_size INTEGER NOT NULL, `precision` TEXT NOT NULL,
            framework TEXT NOT NULL, command TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS perf_result (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            case_id INTEGER NOT NULL REFERENCES cases(id),
            metric TEXT NOT NULL, value REAL NOT NULL, unit TEXT, status TEXT NOT NULL,
            UNIQUE (run_id, case_id, metric))",
    ],
    migrations: &[
        (
            2,
            &["CREATE TABLE IF NOT EXISTS run_cases (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            case_id INTEGER NOT NULL REFERENCES cases(id),
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            reasons TEXT NOT NULL, log_tail TEXT NOT NULL, source TEXT,
            UNIQUE (run_id, case_id))"],
        ),
        (
            3,
            &["CREATE TABLE IF NOT EXISTS series (
            case_id INTEGER PRIMARY KEY REFERENCES cases(id),
            test_id TEXT NOT NULL,
            server TEXT NOT NULL DEFAULT '',
            client TEXT NOT NULL DEFAULT '')"],
        ),
        (
            4,
            &["CREATE TABLE IF NOT EXISTS perf_accept (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            test_id TEXT NOT NULL, server TEXT NOT NULL DEFAULT '',
            client TEXT NOT NULL DEFAULT '', metric TEXT NOT NULL,
            run_key TEXT NOT NULL,
            accepted_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"],
        ),
    ],
};

pub static MYSQL: Ddl = Ddl {
    create: &[
        "CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL PRIMARY KEY)
            ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS runs (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            run_key VARCHAR(64) NOT NULL,
            job_id TEXT, tensorrt TEXT, trtllm TEXT, driver TEXT, gpu TEXT, cuda TEXT, os TEXT,
            hostname TEXT, start_time VARCHAR(64), end_time VARCHAR(64), `commit` TEXT,
            link TEXT, notes TEXT,
            uploaded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            UNIQUE KEY run_key (run_key)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        "CREATE TABLE IF NOT EXISTS cases (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            case_key CHAR(32) NOT NULL,
            network TEXT NOT NULL, batch_size BIGINT NOT NULL, `precision` TEXT NOT NULL,
            framework TEXT NOT NULL, command TEXT NOT NULL,
            UNIQUE KEY case_key (case_key)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        "CREATE TABLE IF NOT EXISTS perf_result (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            run_id BIGINT NOT NULL, case_id BIGINT NOT NULL,
            metric VARCHAR(191) NOT NULL, value DOUBLE NOT NULL, unit VARCHAR(64),
            status VARCHAR(16) NOT NULL,
            UNIQUE KEY run_case_metric (run_id, case_id, metric),
            KEY case_id (case_id),
            CONSTRAINT perf_result_run FOREIGN KEY (run_id) REFERENCES runs (id),
            CONSTRAINT perf_result_case FOREIGN KEY (case_id) REFERENCES cases (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    ],
    migrations: &[
        (
            2,
            &["CREATE TABLE IF NOT EXISTS run_cases (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            run_id BIGINT NOT NULL, case_id BIGINT NOT NULL,
            status VARCHAR(16) NOT NULL CHECK (status IN ('ok', 'failed')),
            reasons MEDIUMTEXT NOT NULL,
            log_tail MEDIUMTEXT NOT NULL, source TEXT,
            UNIQUE KEY run_case (run_id, case_id),
            KEY case_id (case_id),
            CONSTRAINT run_cases_run FOREIGN KEY (run_id) REFERENCES runs (id),
            CONSTRAINT run_cases_case FOREIGN KEY (case_id) REFERENCES cases (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"],
        ),
        (
            3,
            &["CREATE TABLE IF NOT EXISTS series (
            case_id BIGINT NOT NULL PRIMARY KEY,
            test_id VARCHAR(1024) NOT NULL,
            server VARCHAR(1024) NOT NULL DEFAULT '',
            client VARCHAR(1024) NOT NULL DEFAULT '',
            CONSTRAINT series_case FOREIGN KEY (case_id) REFERENCES cases (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"],
        ),
        (
            4,
            &["CREATE TABLE IF NOT EXISTS perf_accept (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            test_id TEXT NOT NULL, server TEXT NOT NULL, client TEXT NOT NULL,
            metric VARCHAR(191) NOT NULL, run_key VARCHAR(64) NOT NULL,
            accepted_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"],
        ),
    ],
};

/// What schema management needs of a connection; upload's writer and the history reader
/// each implement it over their own connection.
pub trait Session {
    type Error: From<Failure>;
    fn backend(&self) -> Backend;
    /// The store as messages name it: its URL, which never holds a secret.
    fn store_name(&self) -> String;
    /// Runs one statement that returns no rows.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<(), Self::Error>;
    /// The first column of each row, as integers (`NULL` skipped).
    fn query_ints(&mut self, sql: &str, params: &[Value]) -> Result<Vec<i64>, Self::Error>;
}

/// Whether the store has a table named `table`.
pub fn has_table<S: Session + ?Sized>(s: &mut S, table: &str) -> Result<bool, S::Error> {
    let sql = s.backend().count_tables();
    let n = s.query_ints(sql, &[Value::Text(table.into())])?;
    Ok(n.first().is_some_and(|n| *n > 0))
}

/// The store's schema version (module docs): `None` for a store without perfline's tables
/// (neither `schema_version` nor `runs`), `Some(0)` for one with `runs` but no version.
pub fn version<S: Session + ?Sized>(s: &mut S) -> Result<Option<i64>, S::Error> {
    if has_table(s, "schema_version")? {
        let versions = s.query_ints("SELECT version FROM schema_version", &[])?;
        return Ok(Some(versions.into_iter().max().unwrap_or(0)));
    }
    Ok(has_table(s, "runs")?.then_some(0))
}

/// The one refusal of a store newer than this perfline (exit 78, config): names the store,
/// the version found and the version supported.
pub fn newer(store: &str, found: i64) -> Failure {
    Failure::config(format!(
        "{store}: store schema version {found} is newer than this perfline's \
         ({SCHEMA_VERSION}); upgrade perfline"
    ))
}

/// [`newer`] when `found` is newer than [`SCHEMA_VERSION`].
pub fn check(store: &str, found: Option<i64>) -> Result<(), Failure> {
    match found {
        Some(v) if v > SCHEMA_VERSION => Err(newer(store, v)),
        _ => Ok(()),
    }
}

/// Brings the store to [`SCHEMA_VERSION`]: refuses a newer one, creates the tables of a new
/// one, runs the migrations an older one lacks (each adds its `schema_version` row). Safe to
/// run again and by two writers at once. Returns the version found (`None`: a new store).
pub fn migrate<S: Session + ?Sized>(s: &mut S) -> Result<Option<i64>, S::Error> {
    let found = version(s)?;
    check(&s.store_name(), found)?;
    upgrade(s, found.unwrap_or(0), SCHEMA_VERSION)?;
    Ok(found)
}

/// Creates the tables of schema `version` (1 to [`SCHEMA_VERSION`]) exactly as the perfline
/// of that version did, `schema_version` rows included: an older store for migration tests
/// and fixtures, built by the DDL itself.
pub fn create_at<S: Session + ?Sized>(s: &mut S, version: i64) -> Result<(), S::Error> {
    if !(1..=SCHEMA_VERSION).contains(&version) {
        return Err(Failure::software(format!(
            "schema version {version} does not exist (1 to {SCHEMA_VERSION})"
        ))
        .into());
    }
    upgrade(s, 0, version)
}

fn upgrade<S: Session + ?Sized>(s: &mut S, from: i64, to: i64) -> Result<(), S::Error> {
    let backend = s.backend();
    let ddl = backend.ddl();
    for stmt in ddl.create {
        s.execute(stmt, &[])?;
    }
    let insert = format!("{} INTO schema_version (version) VALUES (?)", backend.insert_ignore());
    for (version, statements) in ddl.migrations.iter().filter(|(v, _)| *v > from && *v <= to) {
        for stmt in *statements {
            s.execute(stmt, &[])?;
        }
        s.execute(&insert, &[Value::Int(*version)])?;
    }
    if from < to {
        s.execute(&insert, &[Value::Int(to)])?;
    }
    Ok(())
}

/// A [`Session`] over a plain SQLite connection: for tests and fixtures that build stores
/// (`schema::create_at(&mut schema::Sqlite(&conn), 3)`).
pub struct Sqlite<'a>(pub &'a rusqlite::Connection);

impl Session for Sqlite<'_> {
    type Error = Failure;
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    fn store_name(&self) -> String {
        format!("sqlite:{}", self.0.path().unwrap_or(""))
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<(), Failure> {
        self.0
            .execute(sql, rusqlite::params_from_iter(params))
            .map(drop)
            .map_err(|e| Failure::software(format!("{}: {e}", self.store_name())))
    }
    fn query_ints(&mut self, sql: &str, params: &[Value]) -> Result<Vec<i64>, Failure> {
        let fail = |e: rusqlite::Error| Failure::software(format!("{}: {e}", self.store_name()));
        let mut stmt = self.0.prepare(sql).map_err(fail)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, Option<i64>>(0))
            .map_err(fail)?;
        let rows: Vec<Option<i64>> = rows.collect::<rusqlite::Result<_>>().map_err(fail)?;
        Ok(rows.into_iter().flatten().collect())
    }
}

/// A [`Session`] over a plain MySQL connection with its database selected: for tests and
/// fixtures that build stores.
pub struct Mysql<'a>(pub &'a mut mysql::Conn);

impl Session for Mysql<'_> {
    type Error = Failure;
    fn backend(&self) -> Backend {
        Backend::Mysql
    }
    fn store_name(&self) -> String {
        "mysql".into()
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<(), Failure> {
        use mysql::prelude::Queryable;
        let result = if params.is_empty() {
            self.0.query_drop(sql)
        } else {
            self.0.exec_drop(sql, Value::mysql_params(params))
        };
        result.map_err(|e| Failure::software(format!("mysql: {e}")))
    }
    fn query_ints(&mut self, sql: &str, params: &[Value]) -> Result<Vec<i64>, Failure> {
        use mysql::prelude::Queryable;
        let rows: Vec<Option<i64>> = self
            .0
            .exec(sql, Value::mysql_params(params))
            .map_err(|e| Failure::software(format!("mysql: {e}")))?;
        Ok(rows.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfline::Exit;

    fn tables(conn: &rusqlite::Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        let names = stmt.query_map([], |r| r.get(0)).unwrap();
        names.collect::<rusqlite::Result<_>>().unwrap()
    }

    fn columns(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid").unwrap();
        let names = stmt.query_map([table], |r| r.get(0)).unwrap();
        names.collect::<rusqlite::Result<_>>().unwrap()
    }

    fn versions(conn: &rusqlite::Connection) -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT version FROM schema_version ORDER BY version").unwrap();
        let v = stmt.query_map([], |r| r.get(0)).unwrap();
        v.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn both_dialects_list_the_same_versions_ending_at_the_current_one() {
        for ddl in [&SQLITE, &MYSQL] {
            let versions: Vec<i64> = ddl.migrations.iter().map(|m| m.0).collect();
            assert_eq!(versions, (2..=SCHEMA_VERSION).collect::<Vec<_>>());
            assert_eq!(ddl.create.len(), 4);
        }
        // Each table is created by the version TABLES says, in both dialects.
        for (table, version) in TABLES {
            for ddl in [&SQLITE, &MYSQL] {
                let stmts: Vec<&str> = match version {
                    1 => ddl.create.to_vec(),
                    v => ddl
                        .migrations
                        .iter()
                        .filter(|m| m.0 == v)
                        .flat_map(|m| m.1.to_vec())
                        .collect(),
                };
                let head = format!("CREATE TABLE IF NOT EXISTS {table} (");
                assert!(stmts.iter().any(|s| s.starts_with(&head)), "{table} v{version}");
            }
        }
    }

    #[test]
    fn each_version_has_its_tables_and_migrates_to_the_current_one() {
        for v in 1..=SCHEMA_VERSION {
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            create_at(&mut Sqlite(&conn), v).unwrap();
            let mut want: Vec<&str> = TABLES.iter().filter(|t| t.1 <= v).map(|t| t.0).collect();
            want.sort();
            assert_eq!(tables(&conn), want, "v{v}");
            assert_eq!(version(&mut Sqlite(&conn)).unwrap(), Some(v));
            assert_eq!(migrate(&mut Sqlite(&conn)).unwrap(), Some(v));
            assert_eq!(migrate(&mut Sqlite(&conn)).unwrap(), Some(SCHEMA_VERSION));
            assert_eq!(tables(&conn).len(), TABLES.len());
            assert_eq!(*versions(&conn).last().unwrap(), SCHEMA_VERSION);
        }
        // A new store: every table, the migrations' rows.
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        assert_eq!(version(&mut Sqlite(&conn)).unwrap(), None);
        assert_eq!(migrate(&mut Sqlite(&conn)).unwrap(), None);
        assert_eq!(versions(&conn), [2, 3, 4]);
        assert_eq!(
            columns(&conn, "perf_accept"),
            ["id", "test_id", "server", "client", "metric", "run_key", "accepted_at"]
        );
        assert_eq!(create_at(&mut Sqlite(&conn), 9).unwrap_err().exit, Exit::Software);
    }

    #[test]
    fn a_newer_store_is_refused_with_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("perf.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        migrate(&mut Sqlite(&conn)).unwrap();
        conn.execute("INSERT INTO schema_version VALUES (7)", []).unwrap();
        let err = migrate(&mut Sqlite(&conn)).unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        assert_eq!(
            err.message,
            format!(
                "sqlite:{}: store schema version 7 is newer than this perfline's (4); \
                 upgrade perfline",
                path.display()
            )
        );
        // Nothing was created or recorded by the refused migration.
        assert_eq!(versions(&conn), [2, 3, 4, 7]);
    }

    #[test]
    fn an_unversioned_store_is_version_0_and_gains_the_later_tables() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(SQLITE.create[1]).unwrap();
        assert_eq!(version(&mut Sqlite(&conn)).unwrap(), Some(0));
        assert_eq!(migrate(&mut Sqlite(&conn)).unwrap(), Some(0));
        assert_eq!(tables(&conn).len(), TABLES.len());
    }

    /// docs/SCHEMA.md lists every table and column the DDL creates, and no other: for each
    /// table a `### \`table\` (vN)` heading, then a row `| \`column\` |` per column.
    #[test]
    fn the_schema_doc_lists_every_table_and_column() {
        let doc = include_str!("../../docs/SCHEMA.md");
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate(&mut Sqlite(&conn)).unwrap();
        let mut documented: Vec<(String, Vec<String>)> = Vec::new();
        for line in doc.lines() {
            if let Some(rest) = line.strip_prefix("### `") {
                let (name, tail) = rest.split_once('`').unwrap();
                let version =
                    since(name).unwrap_or_else(|| panic!("SCHEMA.md: unknown table {name}"));
                assert_eq!(tail.trim(), format!("(v{version})"), "SCHEMA.md: {name}'s version");
                documented.push((name.to_string(), Vec::new()));
            } else if line.starts_with("## ") {
                documented.push((String::new(), Vec::new()));
            } else if let (Some(rest), Some((_, cols))) =
                (line.strip_prefix("| `"), documented.last_mut())
            {
                cols.push(rest.split_once('`').unwrap().0.to_string());
            }
        }
        documented.retain(|(name, _)| !name.is_empty());
        let created: Vec<(String, Vec<String>)> =
            TABLES.iter().map(|(t, _)| (t.to_string(), columns(&conn, t))).collect();
        assert_eq!(documented, created);
        assert!(doc.contains(&format!("The current version is {SCHEMA_VERSION}.")));
        for (v, _) in SQLITE.migrations {
            assert!(doc.contains(&format!("\n- **{v}**")), "SCHEMA.md: migration {v}");
        }
    }
}
