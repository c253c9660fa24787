//! The schema and the history reader against the real MariaDB of `cargo xtask db up` (CI
//! brings it up first; `PERFLINE_TEST_MYSQL_ENV` names its state file when it is not this
//! checkout's `target/mariadb/env`). Each test uses databases of its own.

use mysql::prelude::Queryable;
use perfline::Exit;
use perfline_store::read::{Access, Query, Reader, SeriesKey};
use perfline_store::schema::{self, SCHEMA_VERSION};
use perfline_store::url::Store;
use std::collections::HashMap;
use std::path::PathBuf;

/// The state `cargo xtask db up` wrote.
struct Instance {
    env: HashMap<String, String>,
}

impl Instance {
    fn get() -> Instance {
        let path =
            std::env::var_os("PERFLINE_TEST_MYSQL_ENV").map(PathBuf::from).unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/mariadb/env")
            });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "needs the MariaDB test instance, which is not running: run `cargo xtask db up` \
                 ({} missing)",
                path.display()
            )
        });
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Instance { env }
    }
    fn var(&self, name: &str) -> &str {
        self.env.get(name).map(String::as_str).unwrap_or_else(|| panic!("{name} missing"))
    }
    fn password(&self) -> String {
        let file = self.var("PERFLINE_TEST_MYSQL_PASSWORD_FILE");
        std::fs::read_to_string(file).unwrap().trim().to_string()
    }
    fn port(&self) -> u16 {
        let url = self.var("PERFLINE_TEST_MYSQL_URL");
        url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap()
    }
    fn conn(&self, db: Option<&str>) -> mysql::Conn {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port())
            .user(Some("perfline"))
            .pass(Some(self.password()))
            .prefer_socket(false)
            .db_name(db);
        mysql::Conn::new(opts).unwrap()
    }
    /// A new database `name` (dropped first) holding a store of schema `version`, with runs
    /// r1…r3 of one case (`t1`, server `srv`, client `c1`), tput 1, 2, 3.
    fn store_at(&self, name: &str, version: i64) -> Store {
        let mut conn = self.conn(None);
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`")).unwrap();
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")).unwrap();
        conn.select_db(name).unwrap();
        schema::create_at(&mut schema::Mysql(&mut conn), version).unwrap();
        conn.query_drop(
            "INSERT INTO cases (case_key, network, batch_size, `precision`, framework, command) \
             VALUES ('k1', 't1', 1, '', 'trtllm-serve', 'srv-c1')",
        )
        .unwrap();
        if version >= 3 {
            conn.query_drop("INSERT INTO series VALUES (1, 't1', 'srv', 'c1')").unwrap();
        }
        for i in 1..=3 {
            conn.exec_drop("INSERT INTO runs (run_key) VALUES (?)", (format!("r{i}"),)).unwrap();
            if version >= 2 {
                conn.exec_drop(
                    "INSERT INTO run_cases (run_id, case_id, status, reasons, log_tail) \
                     VALUES (?, 1, 'ok', '', '')",
                    (i,),
                )
                .unwrap();
            }
            conn.exec_drop(
                "INSERT INTO perf_result (run_id, case_id, metric, value, status) \
                 VALUES (?, 1, 'tput', ?, 'ok')",
                (i, f64::from(i)),
            )
            .unwrap();
        }
        Store::parse(&format!("mysql://perfline@127.0.0.1:{}/{name}", self.port())).unwrap()
    }
    fn version(&self, name: &str) -> i64 {
        self.conn(Some(name))
            .query_first("SELECT max(version) FROM schema_version")
            .unwrap()
            .unwrap()
    }
    fn columns(&self, name: &str, table: &str) -> Vec<String> {
        self.conn(None)
            .exec(
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                (name, table),
            )
            .unwrap()
    }
}

fn tput(reader: &mut Reader) -> Vec<f64> {
    let key = SeriesKey::new("t1", "srv", "c1", "tput");
    let q = Query { series: std::slice::from_ref(&key), window: 30, exclude_run_key: None };
    reader.history(&q).unwrap().series[0].points.iter().map(|p| p.value).collect()
}

#[test]
fn older_stores_are_read_as_they_are_and_migrated_to_accept() {
    let db = Instance::get();
    let password = db.password();
    for version in 1..SCHEMA_VERSION {
        let name = format!("perfline_store_test_v{version}");
        let store = db.store_at(&name, version);
        let mut reader = Reader::open(&store, Some(&password), Access::ReadOnly).unwrap();
        assert_eq!(reader.version(), version);
        assert_eq!(tput(&mut reader), [1.0, 2.0, 3.0], "v{version}");
        drop(reader);
        assert_eq!(db.version(&name), version, "a read is not a migration");
        let mut writer = Reader::open(&store, Some(&password), Access::Accept).unwrap();
        assert_eq!(db.version(&name), SCHEMA_VERSION);
        let key = SeriesKey::new("t1", "srv", "c1", "tput");
        assert_eq!(writer.accept(std::slice::from_ref(&key), "r2").unwrap(), 1);
        assert_eq!(tput(&mut writer), [2.0, 3.0], "v{version}");
    }
}

#[test]
fn a_newer_store_is_refused_with_one_clear_error() {
    let db = Instance::get();
    let name = "perfline_store_test_newer";
    let store = db.store_at(name, SCHEMA_VERSION);
    db.conn(Some(name)).query_drop("INSERT INTO schema_version VALUES (5)").unwrap();
    for access in [Access::ReadOnly, Access::Accept] {
        let err = Reader::open(&store, Some(&db.password()), access).err().unwrap();
        assert_eq!(err.exit, Exit::Config);
        assert_eq!(
            err.message,
            format!(
                "mysql://perfline@127.0.0.1:{}/{name}: store schema version 5 is newer than \
                 this perfline's (4); upgrade perfline",
                db.port()
            )
        );
    }
    assert_eq!(db.version(name), 5);
}

/// Both dialects create the same tables with the same columns in the same order (so
/// docs/SCHEMA.md, checked against SQLite, describes MySQL too).
#[test]
fn mysql_and_sqlite_ddl_create_the_same_columns() {
    let db = Instance::get();
    let name = "perfline_store_test_columns";
    db.store_at(name, SCHEMA_VERSION);
    let sqlite = rusqlite::Connection::open_in_memory().unwrap();
    schema::migrate(&mut schema::Sqlite(&sqlite)).unwrap();
    for (table, _) in schema::TABLES {
        let mut stmt =
            sqlite.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid").unwrap();
        let want: Vec<String> =
            stmt.query_map([table], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        assert_eq!(db.columns(name, table), want, "{table}");
    }
}
