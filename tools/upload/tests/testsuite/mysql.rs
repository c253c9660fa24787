//! upload against the real MariaDB of `cargo xtask db up` (CI brings it up before the tests).
//! Each test uses its own database; the outage test stops and restarts the server, so it
//! holds the server lock exclusively.

use crate::common::{
    big_input, failed_record, mixed_expected, mixed_input, record, signal, upload, wait_until,
};
use mysql::prelude::Queryable;
use predicates::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// The bound on every polling loop here: a hang fails the test instead of stalling CI.
const DEADLINE: Duration = Duration::from_secs(60);

static SERVER: RwLock<()> = RwLock::new(());

/// The state `cargo xtask db up` wrote.
struct Instance {
    env: HashMap<String, String>,
}

impl Instance {
    fn get() -> Instance {
        let path =
            std::env::var_os("PERFLINE_TEST_MYSQL_ENV").map(PathBuf::from).unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/mariadb/env")
            });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "needs the MariaDB test instance, which is not running: run `cargo xtask db up` \
                 (`cargo xtask ci` sets it up) ({} missing)",
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
        self.env
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{name} missing from state"))
    }
    /// The store URL for a database of this test's own, emptied first.
    fn fresh_url(&self, db: &str) -> String {
        let url = self.var("PERFLINE_TEST_MYSQL_URL");
        let base = url.rsplit_once('/').unwrap().0;
        let mut conn = self.conn(None);
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`")).unwrap();
        format!("{base}/{db}")
    }
    fn password_file(&self) -> &str {
        self.var("PERFLINE_TEST_MYSQL_PASSWORD_FILE")
    }
    fn conn(&self, db: Option<&str>) -> mysql::Conn {
        let url = self.var("PERFLINE_TEST_MYSQL_URL");
        let port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
        let password = std::fs::read_to_string(self.password_file()).unwrap();
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(port)
            .user(Some("perfline"))
            .pass(Some(password.trim()))
            .prefer_socket(false)
            .db_name(db);
        mysql::Conn::new(opts).unwrap()
    }
    fn count(&self, db: &str, sql: &str) -> i64 {
        self.conn(Some(db)).query_first(sql).unwrap().unwrap()
    }
    /// A query's rows as `|`-joined text (text protocol), NULL as `NULL`.
    fn dump(&self, db: &str, sql: &str) -> Vec<String> {
        let rows: Vec<mysql::Row> = self.conn(Some(db)).query(sql).unwrap();
        rows.into_iter()
            .map(|row| {
                row.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql::Value::NULL => "NULL".to_string(),
                        mysql::Value::Bytes(b) => String::from_utf8(b).unwrap(),
                        other => panic!("{other:?} from the text protocol in {sql}"),
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    }
}

fn input() -> String {
    format!(
        "{}\n{}\n",
        record("aggr-cfg-srv", 4, &[("mean_ttft", 12.5), ("seq_throughput", 3.25)]),
        record("aggr-cfg-srv", 8, &[("mean_ttft", 20.0)])
    )
}

#[test]
fn mysql_upload_is_idempotent_and_stores_names_verbatim() {
    let _shared = SERVER.read().unwrap();
    let db = Instance::get();
    let url = db.fresh_url("perfline_test_verbatim");
    let dir = tempfile::tempdir().unwrap();
    let nasty = "x'); DROP TABLE runs; -- \"SELECT\" `precision` \\ é";
    let rec = format!(
        "{}\n{}\n",
        record(nasty, 1, &[("mean_ttft", 1.0), ("WHERE 1=1; --'", 2.0)]),
        record("b", 2, &[("mean_ttft", 3.0)])
    );
    let store = url.clone();
    let run = |expected: &str| {
        upload(dir.path())
            .args([
                store.as_str(),
                "--password-file",
                db.password_file(),
                "--notes",
                nasty,
                "--job-id",
                "1",
            ])
            .write_stdin(rec.clone())
            .assert()
            .code(0)
            .stdout(predicate::str::contains(expected));
    };
    run("\"rows\":3,\"link\":null,\"status\":\"uploaded\"}");
    run("\"rows\":0,\"link\":null,\"status\":\"already-present\"}");
    let name = "perfline_test_verbatim";
    assert_eq!(db.count(name, "SELECT count(*) FROM runs"), 1);
    assert_eq!(db.count(name, "SELECT count(*) FROM cases"), 2);
    assert_eq!(db.count(name, "SELECT count(*) FROM perf_result"), 3);
    let mut conn = db.conn(Some(name));
    let network: String =
        conn.query_first("SELECT network FROM cases WHERE batch_size = 1").unwrap().unwrap();
    let notes: String = conn.query_first("SELECT notes FROM runs").unwrap().unwrap();
    let metric: String =
        conn.query_first("SELECT metric FROM perf_result WHERE value = 2").unwrap().unwrap();
    assert_eq!(
        (network.as_str(), notes.as_str(), metric.as_str()),
        (nasty, nasty, "WHERE 1=1; --'")
    );
    // The password comes from the environment just as well.
    let password = std::fs::read_to_string(db.password_file()).unwrap();
    upload(dir.path())
        .args([url.as_str(), "--job-id", "2"])
        .env("PERFLINE_MYSQL_PASSWORD", password.trim())
        .write_stdin(input())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"run_id\":2,"));
}

#[test]
fn mysql_failed_record_without_metrics_gets_its_run_cases_row_once() {
    let _shared = SERVER.read().unwrap();
    let db = Instance::get();
    let name = "perfline_test_failed";
    let url = db.fresh_url(name);
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "{}\n{}\n",
        record("aggr-ok", 4, &[("mean_ttft", 12.5), ("seq_throughput", 3.25)]),
        failed_record("aggr-failed", 8)
    );
    let run = |expected: &str| {
        upload(dir.path())
            .args([url.as_str(), "--password-file", db.password_file(), "--job-id", "99"])
            .write_stdin(input.clone())
            .assert()
            .code(0)
            .stdout(predicate::str::contains(expected))
            .stderr(predicate::str::contains("no metrics").not());
    };
    run("\"rows\":2,\"link\":null,\"status\":\"uploaded\"}");
    run("\"rows\":0,\"link\":null,\"status\":\"already-present\"}");
    assert_eq!(db.count(name, "SELECT count(*) FROM runs"), 1);
    assert_eq!(db.count(name, "SELECT count(*) FROM run_cases"), 2);
    assert_eq!(db.count(name, "SELECT max(version) FROM schema_version"), 4);
    let mut conn = db.conn(Some(name));
    let failed: Vec<(i64, i64, String, String, String, Option<String>)> = conn
        .query(
            "SELECT rc.run_id, rc.case_id, rc.status, rc.reasons, rc.log_tail, rc.source
             FROM run_cases rc JOIN cases c ON c.id = rc.case_id WHERE c.network = 'aggr-failed'",
        )
        .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let (run_id, case_id, status, reasons, log_tail, source) = &failed[0];
    assert_eq!(*run_id, 1);
    assert_eq!(status, "failed");
    assert_eq!(reasons, "server exited with code 1; no result block in 'client.log'");
    assert_eq!(log_tail, "Traceback (most recent call last):\nRuntimeError: CUDA out of memory");
    assert_eq!(source.as_deref(), Some("trtllm-benchmark.0.0.log"));
    assert_eq!(
        db.count(name, &format!("SELECT count(*) FROM perf_result WHERE case_id = {case_id}")),
        0
    );
    assert_eq!(
        db.count(
            name,
            "SELECT count(*) FROM run_cases rc JOIN cases c ON c.id = rc.case_id \
             WHERE c.network = 'aggr-ok' AND rc.status = 'ok' AND rc.reasons = '' \
             AND rc.log_tail = '' AND rc.source IS NULL"
        ),
        1
    );
    assert_eq!(db.count(name, "SELECT count(*) FROM perf_result"), 2);
}

#[test]
fn mysql_ok_and_failed_records_fill_every_table_exactly() {
    let _shared = SERVER.read().unwrap();
    let db = Instance::get();
    let name = "perfline_test_mixed";
    let url = db.fresh_url(name);
    let dir = tempfile::tempdir().unwrap();
    let run = |expected: &str| {
        upload(dir.path())
            .args([url.as_str(), "--password-file", db.password_file()])
            .args(["--run-key", "mix", "--job-id", "5"])
            .write_stdin(mixed_input())
            .assert()
            .code(0)
            .stdout(predicate::str::contains(expected));
    };
    run("\"rows\":3,\"link\":null,\"status\":\"uploaded\"}");
    run("\"rows\":0,\"link\":null,\"status\":\"already-present\"}");
    for (sql, expected) in mixed_expected() {
        assert_eq!(db.dump(name, sql), expected, "{sql}");
    }
}

/// A refused password is a permission error (77), not retried or spooled, and never echoed.
#[test]
fn mysql_wrong_password_is_refused_and_never_echoed() {
    let _shared = SERVER.read().unwrap();
    let db = Instance::get();
    let url = db.fresh_url("perfline_test_password");
    let dir = tempfile::tempdir().unwrap();
    let secret = "hunter2-not-the-password";
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let via_file = upload(dir.path())
        .args([url.as_str(), "--password-file"])
        .arg(&pw)
        .write_stdin(input())
        .assert()
        .code(77)
        .stdout("")
        .get_output()
        .clone();
    let via_env = upload(dir.path())
        .arg(&url)
        .env("PERFLINE_MYSQL_PASSWORD", secret)
        .write_stdin(input())
        .assert()
        .code(77)
        .stdout("")
        .get_output()
        .clone();
    for out in [via_file, via_env] {
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with("upload: error: mysql: "), "{stderr}");
        assert!(stderr.contains("Access denied"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert!(!dir.path().join(".perfline").exists(), "a refused password is not spooled");
}

#[test]
fn mysql_version_1_store_is_migrated_in_place() {
    let _shared = SERVER.read().unwrap();
    let db = Instance::get();
    let name = "perfline_test_migrate";
    let url = db.fresh_url(name);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut conn = db.conn(None);
        conn.query_drop(format!("CREATE DATABASE `{name}`")).unwrap();
        conn.select_db(name).unwrap();
        perfline_store::schema::create_at(&mut perfline_store::schema::Mysql(&mut conn), 1)
            .unwrap();
        conn.query_drop("INSERT INTO runs (run_key) VALUES ('v1-run')").unwrap();
    }
    assert_eq!(
        db.count(
            name,
            &format!(
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = '{name}' AND table_name = 'run_cases'"
            )
        ),
        0
    );
    upload(dir.path())
        .args([url.as_str(), "--password-file", db.password_file(), "--run-key", "v2-run"])
        .write_stdin(failed_record("aggr-failed", 1))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"run_id\":2,"));
    assert_eq!(db.count(name, "SELECT count(*) FROM runs"), 2);
    assert_eq!(
        db.count(name, "SELECT count(*) FROM schema_version WHERE version IN (1, 2, 3, 4)"),
        4
    );
    assert_eq!(db.count(name, "SELECT count(*) FROM series"), 1);
    assert_eq!(
        db.count(name, "SELECT count(*) FROM run_cases WHERE run_id = 2 AND status = 'failed'"),
        1
    );
}

/// Stores of every older version, made by that version's DDL, are migrated to the current one
/// by the next upload, keeping their runs; a newer store is refused with one line, exit 78.
#[test]
fn mysql_older_stores_are_migrated_and_a_newer_one_refused() {
    use perfline_store::schema::{self, SCHEMA_VERSION};
    let _shared = SERVER.read().unwrap();
    let db = Instance::get();
    let dir = tempfile::tempdir().unwrap();
    for version in 1..SCHEMA_VERSION {
        let name = format!("perfline_test_v{version}");
        let url = db.fresh_url(&name);
        {
            let mut conn = db.conn(None);
            conn.query_drop(format!("CREATE DATABASE `{name}`")).unwrap();
            conn.select_db(&name).unwrap();
            schema::create_at(&mut schema::Mysql(&mut conn), version).unwrap();
            conn.query_drop("INSERT INTO runs (run_key) VALUES ('old-run')").unwrap();
        }
        upload(dir.path())
            .args([url.as_str(), "--password-file", db.password_file(), "--run-key", "new-run"])
            .write_stdin(failed_record("aggr-failed", 1))
            .assert()
            .code(0)
            .stdout(predicate::str::contains("\"run_id\":2,"));
        assert_eq!(db.count(&name, "SELECT max(version) FROM schema_version"), SCHEMA_VERSION);
        assert_eq!(db.count(&name, "SELECT count(*) FROM runs"), 2, "v{version}");
        let tables =
            format!("SELECT count(*) FROM information_schema.tables WHERE table_schema = '{name}'");
        assert_eq!(db.count(&name, &tables), schema::TABLES.len() as i64, "v{version}");
    }
    let name = "perfline_test_newer";
    let url = db.fresh_url(name);
    {
        let mut conn = db.conn(None);
        conn.query_drop(format!("CREATE DATABASE `{name}`")).unwrap();
        conn.select_db(name).unwrap();
        schema::create_at(&mut schema::Mysql(&mut conn), SCHEMA_VERSION).unwrap();
        conn.query_drop("INSERT INTO schema_version VALUES (5)").unwrap();
    }
    let url_shown = url.clone();
    upload(dir.path())
        .args([url.as_str(), "--password-file", db.password_file(), "--run-key", "new-run"])
        .write_stdin(failed_record("aggr-failed", 1))
        .assert()
        .code(78)
        .stdout("")
        .stderr(format!(
            "upload: error: {url_shown}: store schema version 5 is newer than this perfline's \
             (4); upgrade perfline\n"
        ));
    assert_eq!(db.count(name, "SELECT count(*) FROM runs"), 0);
    assert!(!dir.path().join(".perfline").exists(), "a refused store is not spooled");
}

/// The uploader is stopped (SIGSTOP) while its transaction holds uncommitted rows (seen
/// through READ UNCOMMITTED), then killed: the server rolls the transaction back, and the
/// next upload stores the run whole. No hook in the binary.
#[test]
fn mysql_uploader_killed_mid_run_leaves_no_rows() {
    let _shared = SERVER.read().unwrap();
    let db = Instance::get();
    let name = "perfline_test_killed";
    let url = db.fresh_url(name);
    let dir = tempfile::tempdir().unwrap();
    let pw = db.password_file().to_string();
    upload(dir.path())
        .args(["--run-key", "pre", &url, "--password-file", &pw])
        .write_stdin(input())
        .assert()
        .code(0);
    let big = big_input(20, 1000);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("upload"))
        .current_dir(dir.path())
        .args(["--no-gather", "--run-key", "big", &url, "--password-file", &pw])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), big.as_bytes()).unwrap();
    let mut dirty = db.conn(Some(name));
    dirty.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED").unwrap();
    let mut uncommitted =
        || -> i64 { dirty.query_first("SELECT count(*) FROM perf_result").unwrap().unwrap() };
    wait_until(&mut child, "uncommitted rows", || uncommitted() >= 1003);
    signal(&child, libc::SIGSTOP);
    // Stopped, it cannot commit: no committed run `big` means the transaction is open.
    assert_eq!(db.count(name, "SELECT count(*) FROM runs WHERE run_key = 'big'"), 0);
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    let start = Instant::now();
    while uncommitted() != 3 {
        assert!(start.elapsed() < DEADLINE, "no rollback within a minute");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(db.count(name, "SELECT count(*) FROM runs"), 1);
    assert_eq!(db.count(name, "SELECT count(*) FROM perf_result"), 3);
    assert_eq!(db.count(name, "SELECT count(*) FROM run_cases"), 2);
    assert_eq!(db.count(name, "SELECT count(*) FROM series"), 2);
    for status in ["uploaded", "already-present"] {
        upload(dir.path())
            .args(["--run-key", "big", &url, "--password-file", &pw])
            .write_stdin(big.clone())
            .assert()
            .code(0)
            .stdout(predicate::str::contains(format!("\"status\":\"{status}\"")));
    }
    assert_eq!(db.count(name, "SELECT count(*) FROM perf_result"), 20_003);
}

#[test]
fn mysql_stopped_then_spooled_restarted_flushed_exactly_once() {
    let _exclusive = SERVER.write().unwrap_or_else(|e| e.into_inner());
    let db = Instance::get();
    let name = "perfline_test_outage";
    let url = db.fresh_url(name);
    let dir = tempfile::tempdir().unwrap();
    let pw = db.password_file().to_string();

    stop_server(&db);
    let restart = Restart(db.var("PERFLINE_TEST_MYSQL_START").to_string());
    upload(dir.path())
        .args(["--run-key", "k", &url, "--password-file", &pw])
        .write_stdin(input())
        .assert()
        .code(69)
        .stdout(predicate::str::contains("\"status\":\"spooled\""))
        .stderr(
            predicate::str::contains("attempt 1 failed")
                .and(predicate::str::contains("spooled to")),
        );
    drop(restart);

    upload(dir.path()).args(["--flush", &url, "--password-file", &pw]).assert().code(0).stdout(
        predicate::str::contains("\"run_key\":\"k\",")
            .and(predicate::str::contains("\"rows\":3,\"link\":null,\"status\":\"uploaded\"")),
    );
    upload(dir.path())
        .args(["--run-key", "k", &url, "--password-file", &pw])
        .write_stdin(input())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"status\":\"already-present\""));
    upload(dir.path()).args(["--flush", "--password-file", &pw]).assert().code(0).stdout("");
    assert_eq!(db.count(name, "SELECT count(*) FROM runs"), 1);
    assert_eq!(db.count(name, "SELECT count(*) FROM perf_result"), 3);
}

/// Stops the server through its pid file and waits (bounded) until it is gone.
fn stop_server(db: &Instance) {
    let pid: i32 = std::fs::read_to_string(db.var("PERFLINE_TEST_MYSQL_PID_FILE"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill(2) with a pid read from the pid file of the server `db up` started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let start = Instant::now();
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z")
        })
    };
    while alive() {
        assert!(start.elapsed() < DEADLINE, "mariadb pid {pid} did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Restarts the server when dropped, so a failing assertion does not leave it down.
struct Restart(String);

impl Drop for Restart {
    fn drop(&mut self) {
        let status = std::process::Command::new("sh").arg(&self.0).status().unwrap();
        assert!(status.success(), "restarting mariadb failed");
    }
}
