//! The embedded default store: an SQLite file (bundled SQLite).

use crate::retry::StoreError;
use crate::sql::{Conn, Dialect, Value};
use perfline::cli::Failure;
use perfline::Exit;
use perfline_store::schema::Backend;
use std::path::Path;
use std::time::Duration;

pub static DIALECT: Dialect = Dialect {
    name: "sqlite",
    backend: Backend::Sqlite,
    insert_ignore: "INSERT OR IGNORE",
    // IMMEDIATE takes the write lock at once: two uploaders never interleave a run.
    begin: "BEGIN IMMEDIATE",
    max_params: 32_766,
};

pub struct Sqlite {
    conn: rusqlite::Connection,
    /// `sqlite:PATH`, naming the store in errors.
    name: String,
}

impl Sqlite {
    /// Opens (creating when missing) the database file.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Sqlite, StoreError> {
        perfline::fsutil::check_writable(path).map_err(|f| {
            StoreError::Fatal(Failure { message: format!("sqlite:{}", f.message), ..f })
        })?;
        let conn = rusqlite::Connection::open(path).map_err(|e| classify(&path.display(), e))?;
        conn.busy_timeout(busy_timeout).map_err(|e| classify(&path.display(), e))?;
        Ok(Sqlite { conn, name: format!("sqlite:{}", path.display()) })
    }

    /// The rows `sql` with `params` selects, each read by `row`.
    fn rows<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| classify(&self.name, e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), row)
            .map_err(|e| classify(&self.name, e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| classify(&self.name, e))
    }
}

impl Conn for Sqlite {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<i64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| classify(&self.name, e))?;
        stmt.execute(rusqlite::params_from_iter(params)).map_err(|e| classify(&self.name, e))?;
        Ok(self.conn.last_insert_rowid())
    }
    fn query_ints(&mut self, sql: &str, params: &[Value]) -> Result<Vec<i64>, StoreError> {
        let rows = self.rows(sql, params, |r| r.get::<_, Option<i64>>(0))?;
        Ok(rows.into_iter().flatten().collect())
    }
    fn query_pairs(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.rows(sql, params, |r| Ok((r.get(0)?, r.get(1)?)))
    }
    fn query_id_texts(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<(i64, String, String, String)>, StoreError> {
        self.rows(sql, params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
    }
}

/// Busy/locked is worth retrying; a unique-key clash on the run key is a duplicate; a file
/// that cannot be opened or written is final.
fn classify(what: &dyn std::fmt::Display, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    let code = e.sqlite_error_code();
    let message = format!("{what}: {e}");
    match code {
        Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::transient(message),
        Some(C::ConstraintViolation) if message.contains("runs.run_key") => StoreError::Duplicate,
        Some(C::CannotOpen) => StoreError::Fatal(Failure::new(Exit::CantCreat, message)),
        Some(C::ReadOnly | C::PermissionDenied) => {
            StoreError::Fatal(Failure::new(Exit::NoPerm, message))
        }
        Some(C::DiskFull | C::SystemIoFailure) => {
            StoreError::Fatal(Failure::new(Exit::IoErr, message))
        }
        Some(C::NotADatabase | C::DatabaseCorrupt) => StoreError::Fatal(Failure::data(message)),
        _ => StoreError::Fatal(Failure::software(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, RunInfo};
    use crate::sql;

    fn batch(key: &str, network: &str) -> Batch {
        let mut record: perfline::wire::metrics::MetricRecord =
            perfline::jsonl::parse(perfline::wire::metrics::EXAMPLE).unwrap();
        record.context.insert("network".into(), network.into());
        Batch { run: RunInfo { run_key: key.into(), ..RunInfo::default() }, records: vec![record] }
    }

    fn count(db: &Sqlite, table: &str) -> i64 {
        db.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn delivers_once_and_shares_cases() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Sqlite::open(&dir.path().join("perf.db"), Duration::from_secs(1)).unwrap();
        sql::ensure_schema(&mut db, "sqlite:perf.db").unwrap();
        sql::ensure_schema(&mut db, "sqlite:perf.db").unwrap();
        let nasty = "x'); DROP TABLE runs; --\"SELECT`";
        let rows = sql::rows(&batch("k1", nasty));
        let first = sql::deliver(&mut db, &rows, Some("l/{run_id}")).unwrap();
        assert_eq!(first, sql::Delivered { run_id: 1, rows: 3, already_present: false });
        let again = sql::deliver(&mut db, &rows, None).unwrap();
        assert_eq!(again, sql::Delivered { run_id: 1, rows: 0, already_present: true });
        let second_run = sql::deliver(&mut db, &sql::rows(&batch("k2", nasty)), None).unwrap();
        assert_eq!(second_run.run_id, 2);
        assert_eq!((count(&db, "runs"), count(&db, "cases"), count(&db, "perf_result")), (2, 1, 6));
        assert_eq!(count(&db, "run_cases"), 2);
        let series: (i64, String, String, String) = db
            .conn
            .query_row("SELECT case_id, test_id, server, client FROM series", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(
            series,
            (1, "aggr-cfg-srv".into(), "srv".into(), "con4_iter2_isl128_osl64".into())
        );
        let version: i64 =
            db.conn.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, sql::SCHEMA_VERSION);
        let network: String =
            db.conn.query_row("SELECT network FROM cases", [], |r| r.get(0)).unwrap();
        assert_eq!(network, nasty);
        let link: String =
            db.conn.query_row("SELECT link FROM runs WHERE id = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(link, "l/1");
    }

    #[test]
    fn a_version_1_store_is_migrated_and_keeps_its_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Sqlite::open(&dir.path().join("perf.db"), Duration::from_secs(1)).unwrap();
        // A store as upload's schema version 1 left it, with one run.
        perfline_store::schema::create_at(&mut perfline_store::schema::Sqlite(&db.conn), 1)
            .unwrap();
        db.conn.execute("INSERT INTO runs (run_key) VALUES ('old')", []).unwrap();
        let tables = |db: &Sqlite| -> i64 {
            db.conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                     AND name IN ('run_cases', 'series')",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(tables(&db), 0);
        sql::ensure_schema(&mut db, "sqlite:perf.db").unwrap();
        sql::ensure_schema(&mut db, "sqlite:perf.db").unwrap();
        assert_eq!(tables(&db), 2);
        let versions: Vec<i64> = db
            .conn
            .prepare("SELECT version FROM schema_version ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(versions, [1, 2, 3, 4]);
        let d = sql::deliver(&mut db, &sql::rows(&batch("k1", "n")), None).unwrap();
        assert_eq!(d, sql::Delivered { run_id: 2, rows: 3, already_present: false });
        assert_eq!((count(&db, "runs"), count(&db, "run_cases"), count(&db, "series")), (2, 1, 1));
    }

    #[test]
    fn a_case_already_in_another_series_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Sqlite::open(&dir.path().join("perf.db"), Duration::from_secs(1)).unwrap();
        sql::ensure_schema(&mut db, "sqlite:perf.db").unwrap();
        // Same test, concurrency and command `a-b-c`: one case, two series.
        let mut first = batch("k1", "n");
        first.records[0].server = Some("a-b".into());
        first.records[0].client = Some("c".into());
        let mut second = batch("k2", "n");
        second.records[0].server = Some("a".into());
        second.records[0].client = Some("b-c".into());
        sql::deliver(&mut db, &sql::rows(&first), None).unwrap();
        match sql::deliver(&mut db, &sql::rows(&second), None) {
            Err(StoreError::Fatal(f)) => {
                assert_eq!(f.exit, Exit::DataErr);
                assert_eq!(
                    f.message,
                    "test \"aggr-cfg-srv\" server \"a\" client \"b-c\": its case (id 1) already \
                     belongs to test \"aggr-cfg-srv\" server \"a-b\" client \"c\"; set a \
                     distinct context \"command\" for one of them"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((count(&db, "runs"), count(&db, "perf_result")), (1, 3));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Sqlite::open(&dir.path().join("perf.db"), Duration::from_secs(1)).unwrap();
        sql::ensure_schema(&mut db, "sqlite:perf.db").unwrap();
        db.conn.execute("INSERT INTO schema_version VALUES (99)", []).unwrap();
        match sql::ensure_schema(&mut db, "sqlite:perf.db") {
            Err(StoreError::Fatal(f)) => assert_eq!(
                (f.exit, f.message.as_str()),
                (
                    Exit::Config,
                    "sqlite:perf.db: store schema version 99 is newer than this perfline's (4); \
                     upgrade perfline"
                )
            ),
            other => panic!("{other:?}"),
        }
    }
}
