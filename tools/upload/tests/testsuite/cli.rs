//! upload's command line against SQLite and a local HTTP endpoint standing in for OpenSearch
//! (no live OpenSearch is tested).

use crate::common::{
    big_input, bulk_reply, failed_record, http_server, mixed_expected, mixed_input, received,
    record, signal, upload, wait_until,
};
use predicates::prelude::*;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn count(db: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A query's rows as `|`-joined text, NULL as `NULL`.
fn dump(db: &std::path::Path, sql: &str) -> Vec<String> {
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..columns)
            .map(|i| match r.get_ref(i).unwrap() {
                ValueRef::Null => "NULL".to_string(),
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Real(f) => f.to_string(),
                ValueRef::Text(t) => String::from_utf8(t.to_vec()).unwrap(),
                ValueRef::Blob(_) => panic!("blob in {sql}"),
            })
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn input() -> String {
    format!(
        "{}\n{}\n",
        record("aggr-cfg-srv", 4, &[("mean_ttft", 12.5), ("seq_throughput", 3.25)]),
        record("aggr-cfg-srv", 8, &[("mean_ttft", 20.0)])
    )
}

#[test]
fn sqlite_upload_prints_the_run_and_second_upload_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--run-key",
        "job42",
        "--link-template",
        "https://perf.example.com/trt/run?run_id={run_id}",
    ];
    upload(dir.path()).args(args).write_stdin(input()).assert().code(0).stdout(
        "{\"run_id\":1,\"run_key\":\"job42\",\"store\":\"sqlite:perf.db\",\"rows\":3,\
         \"link\":\"https://perf.example.com/trt/run?run_id=1\",\"status\":\"uploaded\"}\n",
    ).stderr("upload: run 1 uploaded in sqlite:perf.db (3 rows): https://perf.example.com/trt/run?run_id=1\n");
    upload(dir.path()).args(args).write_stdin(input()).assert().code(0).stdout(
        "{\"run_id\":1,\"run_key\":\"job42\",\"store\":\"sqlite:perf.db\",\"rows\":0,\
         \"link\":\"https://perf.example.com/trt/run?run_id=1\",\"status\":\"already-present\"}\n",
    );
    let db = dir.path().join("perf.db");
    assert_eq!(count(&db, "SELECT count(*) FROM runs"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM cases"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM perf_result"), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM run_cases WHERE status = 'ok'"), 2);
    assert_eq!(count(&db, "SELECT max(version) FROM schema_version"), 4);
    assert_eq!(count(&db, "SELECT count(*) FROM series"), 2);
}

#[test]
fn a_failed_record_without_metrics_gets_its_run_cases_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "{}\n{}\n",
        record("aggr-ok", 4, &[("mean_ttft", 12.5), ("seq_throughput", 3.25)]),
        failed_record("aggr-failed", 8)
    );
    let args = ["--job-id", "99", "--commit", "abc"];
    upload(dir.path())
        .args(args)
        .write_stdin(input.clone())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"rows\":2,\"link\":null,\"status\":\"uploaded\""))
        .stderr("upload: run 1 uploaded in sqlite:perf.db (2 rows)\n");
    upload(dir.path()).args(args).write_stdin(input).assert().code(0).stdout(
        predicate::str::contains("\"rows\":0,\"link\":null,\"status\":\"already-present\""),
    );
    let db = dir.path().join("perf.db");
    assert_eq!(count(&db, "SELECT count(*) FROM runs"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM run_cases"), 2);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let failed: Vec<(i64, i64, String, String, String, Option<String>)> = conn
        .prepare(
            "SELECT rc.run_id, rc.case_id, rc.status, rc.reasons, rc.log_tail, rc.source
             FROM run_cases rc JOIN cases c ON c.id = rc.case_id WHERE c.network = 'aggr-failed'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let (run_id, case_id, status, reasons, log_tail, source) = &failed[0];
    assert_eq!(*run_id, 1);
    assert_eq!(status, "failed");
    assert_eq!(reasons, "server exited with code 1; no result block in 'client.log'");
    assert_eq!(log_tail, "Traceback (most recent call last):\nRuntimeError: CUDA out of memory");
    assert_eq!(source.as_deref(), Some("trtllm-benchmark.0.0.log"));
    assert_eq!(
        count(&db, &format!("SELECT count(*) FROM perf_result WHERE case_id = {case_id}")),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM run_cases rc JOIN cases c ON c.id = rc.case_id \
             WHERE c.network = 'aggr-ok' AND rc.status = 'ok' AND rc.reasons = '' \
             AND rc.log_tail = '' AND rc.source IS NULL"
        ),
        1
    );
    assert_eq!(count(&db, "SELECT count(*) FROM perf_result"), 2);
}

#[test]
fn ok_and_failed_records_fill_every_table_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--run-key", "mix", "--job-id", "5"];
    upload(dir.path()).args(args).write_stdin(mixed_input()).assert().code(0).stdout(
        "{\"run_id\":1,\"run_key\":\"mix\",\"store\":\"sqlite:perf.db\",\"rows\":3,\
             \"link\":null,\"status\":\"uploaded\"}\n",
    );
    upload(dir.path()).args(args).write_stdin(mixed_input()).assert().code(0).stdout(
        predicate::str::contains("\"rows\":0,\"link\":null,\"status\":\"already-present\""),
    );
    let db = dir.path().join("perf.db");
    for (sql, expected) in mixed_expected() {
        assert_eq!(dump(&db, sql), expected, "{sql}");
    }
}

#[test]
fn a_version_1_store_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("perf.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        perfline_store::schema::create_at(&mut perfline_store::schema::Sqlite(&conn), 1).unwrap();
        conn.execute("INSERT INTO runs (run_key) VALUES ('v1-run')", []).unwrap();
    }
    upload(dir.path())
        .args(["--run-key", "v2-run"])
        .write_stdin(failed_record("aggr-failed", 1))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"run_id\":2,"));
    assert_eq!(count(&db, "SELECT count(*) FROM runs"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM schema_version WHERE version IN (1, 2, 3, 4)"), 4);
    assert_eq!(count(&db, "SELECT count(*) FROM series"), 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM run_cases WHERE run_id = 2 AND status = 'failed'"),
        1
    );
}

#[test]
fn a_newer_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("perf.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let current = perfline_store::schema::SCHEMA_VERSION;
        perfline_store::schema::create_at(&mut perfline_store::schema::Sqlite(&conn), current)
            .unwrap();
        conn.execute("INSERT INTO schema_version VALUES (5)", []).unwrap();
    }
    upload(dir.path())
        .args(["--run-key", "new-run"])
        .write_stdin(failed_record("aggr-failed", 1))
        .assert()
        .code(78)
        .stdout("")
        .stderr(
            "upload: error: sqlite:perf.db: store schema version 5 is newer than this \
             perfline's (4); upgrade perfline\n",
        );
    assert_eq!(count(&db, "SELECT count(*) FROM runs"), 0);
    assert!(!dir.path().join(".perfline").exists(), "a refused store is not spooled");
}

#[test]
fn derived_run_key_makes_reuploads_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let first = upload(dir.path())
        .args(["--job-id", "7", "--commit", "abc"])
        .write_stdin(input())
        .output()
        .unwrap();
    let second = upload(dir.path())
        .args(["--job-id", "7", "--commit", "abc"])
        .write_stdin(input())
        .output()
        .unwrap();
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let second: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(first["run_key"], second["run_key"]);
    assert_eq!(
        (first["status"].as_str(), second["status"].as_str()),
        (Some("uploaded"), Some("already-present"))
    );
    upload(dir.path())
        .args(["--job-id", "8", "--commit", "abc"])
        .write_stdin(input())
        .assert()
        .code(0);
    let db = dir.path().join("perf.db");
    assert_eq!(count(&db, "SELECT count(*) FROM runs"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM perf_result"), 6);
}

#[test]
fn names_full_of_quotes_and_sql_keywords_are_stored_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let nasty = "x'); DROP TABLE runs; -- \"SELECT\" `precision` \\ é";
    let rec = record(nasty, 1, &[("mean_ttft", 1.0), ("WHERE 1=1; --'", 2.0)]);
    upload(dir.path()).args(["--notes", nasty]).write_stdin(rec).assert().code(0);
    let conn = rusqlite::Connection::open(dir.path().join("perf.db")).unwrap();
    let network: String = conn.query_row("SELECT network FROM cases", [], |r| r.get(0)).unwrap();
    let notes: String = conn.query_row("SELECT notes FROM runs", [], |r| r.get(0)).unwrap();
    let metric: String = conn
        .query_row("SELECT metric FROM perf_result WHERE value = 2.0", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        (network.as_str(), notes.as_str(), metric.as_str()),
        (nasty, nasty, "WHERE 1=1; --'")
    );
}

/// One bad record fails the whole input: exit 65, one line naming the input and line,
/// nothing stored (not even the store file); the corrected input then stores every row once.
#[test]
fn one_bad_record_stores_nothing_and_the_corrected_input_stores_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let good = |c: u64| record("aggr-a", c, &[("mean_ttft", 1.0), ("seq_throughput", 2.0)]);
    let nan = good(3).replace("1.0", "NaN");
    let cases = [
        ("not json".to_string(), "invalid record: expected ident (column 2)"),
        (nan, "invalid record: metrics.mean_ttft: not a finite number (column 105)"),
        (good(3).replace("2.0", "-2.0"), "metrics.seq_throughput: negative value -2"),
        (good(1), "aggr-a: same case and metric \"mean_ttft\" as line 1"),
    ];
    for (bad, reason) in cases {
        std::fs::write(
            dir.path().join("run.jsonl"),
            format!("{}\n{}\n{bad}\n{}\n", good(1), good(2), good(4)),
        )
        .unwrap();
        upload(dir.path())
            .args(["--run-key", "k", "-i", "run.jsonl"])
            .assert()
            .code(65)
            .stdout("")
            .stderr(format!("upload: error: run.jsonl:3: {reason}\n"));
        assert!(!dir.path().join("perf.db").exists(), "{reason}");
    }
    std::fs::write(
        dir.path().join("run.jsonl"),
        format!("{}\n{}\n{}\n{}\n", good(1), good(2), good(3), good(4)),
    )
    .unwrap();
    for status in ["uploaded", "already-present"] {
        upload(dir.path())
            .args(["--run-key", "k", "-i", "run.jsonl"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains(format!("\"status\":\"{status}\"")));
    }
    let db = dir.path().join("perf.db");
    assert_eq!(count(&db, "SELECT count(*) FROM perf_result"), 8);
    assert_eq!(count(&db, "SELECT count(DISTINCT case_id || metric) FROM perf_result"), 8);
    assert_eq!(count(&db, "SELECT count(*) FROM runs"), 1);
}

/// Two attempts of one test are two runs; the same attempt again is already present.
#[test]
fn each_attempt_is_a_run_and_reuploading_one_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let attempt = |a: &str| {
        let mut r: serde_json::Value =
            serde_json::from_str(&record("aggr-a", 4, &[("mean_ttft", 1.0)])).unwrap();
        r["attempt"] = a.into();
        r.to_string()
    };
    let run = |input: String, status: &str, run_id: u32| {
        let out = upload(dir.path())
            .args(["--job-id", "7"])
            .write_stdin(input)
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (out["status"].as_str(), out["run_id"].as_u64()),
            (Some(status), Some(run_id.into()))
        );
        out["run_key"].as_str().unwrap().to_string()
    };
    let first = run(attempt("20260501T120000.000Z"), "uploaded", 1);
    assert_eq!(run(attempt("20260501T120000.000Z"), "already-present", 1), first);
    let second = run(attempt("20260501T130000.000Z"), "uploaded", 2);
    assert_ne!(first, second);
    let db = dir.path().join("perf.db");
    assert_eq!(count(&db, "SELECT count(*) FROM runs"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM cases"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM perf_result"), 2);
}

/// A pipe whose reading end is closed: every write to it fails with EPIPE.
fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

/// The upload binary as a plain command (stdout and stderr set by the caller), no retries.
fn upload_plain(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("upload"));
    cmd.current_dir(dir)
        .arg("--no-gather")
        .env_remove("PERFLINE_MYSQL_PASSWORD")
        .env_remove("PERFLINE_UPLOAD_LINK_TEMPLATE")
        .env("PERFLINE_UPLOAD_RETRIES", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

#[test]
fn a_closed_stdout_or_stderr_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), input()).unwrap();
    // stderr closed (`upload 2>&1 >/dev/null | head -0`): the run is stored, exit 0.
    let out = upload_plain(dir.path())
        .args(["--run-key", "a", "-i", "in.jsonl"])
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().contains("\"status\":\"uploaded\""));
    // stdout closed (`upload | head -0`): stored, exit 0.
    let out = upload_plain(dir.path())
        .args(["--run-key", "b", "-i", "in.jsonl"])
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Both closed, and a dry run's many lines.
    let out = upload_plain(dir.path())
        .args(["--run-key", "c", "--dry-run", "-i", "in.jsonl"])
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(0));
    let db = dir.path().join("perf.db");
    assert_eq!(count(&db, "SELECT count(*) FROM runs WHERE run_key IN ('a', 'b')"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM runs WHERE run_key = 'c'"), 0);
}

/// A closed stderr only loses the final error line (`perfline::cli` never panics on it): the
/// exit code is still 65, not a panic's 101, and nothing is stored.
#[test]
fn a_bad_record_with_stderr_closed_still_exits_65() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "not json\n").unwrap();
    let status = upload_plain(dir.path())
        .args(["-i", "in.jsonl"])
        .stdout(std::process::Stdio::null())
        .stderr(closed_pipe())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(65));
    assert!(!dir.path().join("perf.db").exists());
}

#[test]
fn dry_run_prints_rows_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = upload(dir.path())
        .args(["--dry-run", "--run-key", "k", "--gpu", "H100"])
        .write_stdin(record("aggr-a", 2, &[("mean_ttft", 1.5)]))
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    let tables: Vec<&str> = lines.iter().map(|l| l["table"].as_str().unwrap()).collect();
    assert_eq!(tables, ["runs", "cases", "series", "run_cases", "perf_result"]);
    assert_eq!(lines[0]["row"]["gpu"], "H100");
    assert_eq!(lines[1]["row"]["command"], "srv-con2");
    assert_eq!(
        lines[2]["row"],
        serde_json::json!({"case_key": lines[1]["row"]["case_key"], "test_id": "aggr-a",
            "server": "srv", "client": "con2"})
    );
    assert_eq!(lines[3]["row"]["status"], "ok");
    assert_eq!(lines[3]["row"]["case_key"], lines[1]["row"]["case_key"]);
    assert_eq!(lines[4]["row"]["value"], 1.5);
    let out = upload(dir.path())
        .args(["--dry-run", "--run-key", "k"])
        .write_stdin(failed_record("aggr-failed", 8))
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .stdout
        .clone();
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    let tables: Vec<&str> = lines.iter().map(|l| l["table"].as_str().unwrap()).collect();
    assert_eq!(tables, ["runs", "cases", "series", "run_cases"]);
    assert_eq!(
        lines[3]["row"],
        serde_json::json!({
            "run_key": "k", "case_key": lines[1]["row"]["case_key"], "status": "failed",
            "reasons": "server exited with code 1; no result block in 'client.log'",
            "log_tail": "Traceback (most recent call last):\nRuntimeError: CUDA out of memory",
            "source": "trtllm-benchmark.0.0.log",
        })
    );
    assert!(!dir.path().join("perf.db").exists());
}

#[test]
fn credentials_are_checked_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    upload(dir.path())
        .arg("mysql://perf:hunter2@127.0.0.1:1/TRT_perf")
        .write_stdin(record("a", 1, &[("m", 1.0)]))
        .assert()
        .code(78)
        .stderr(
            predicate::str::contains("must not contain a password")
                .and(predicate::str::contains("hunter2").not()),
        );
    upload(dir.path())
        .arg("mysql://perf@127.0.0.1:1/TRT_perf")
        .write_stdin(record("a", 1, &[("m", 1.0)]))
        .assert()
        .code(78)
        .stderr("upload: error: no MySQL password: set PERFLINE_MYSQL_PASSWORD or pass --password-file FILE (mode 0600)\n");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "hunter2\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    upload(dir.path())
        .arg("mysql://perf@127.0.0.1:1/TRT_perf")
        .arg("--password-file")
        .arg(&pw)
        .write_stdin(record("a", 1, &[("m", 1.0)]))
        .assert()
        .code(77)
        .stderr(
            predicate::str::contains("mode 0644 lets others read")
                .and(predicate::str::contains("hunter2").not()),
        );
    assert!(!dir.path().join(".perfline").exists(), "configuration errors are not spooled");
}

/// The uploader is stopped (SIGSTOP) once its run transaction has written rows to the
/// database file, then killed: the next open rolls the hot journal back, and the run is
/// stored whole by the next upload. No hook in the binary: the transaction is observed from
/// outside (a journal exists and the file grew past the earlier runs' size).
#[test]
fn killed_mid_run_leaves_no_partial_run_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    upload(dir.path()).args(["--run-key", "pre"]).write_stdin(input()).assert().code(0);
    let db = dir.path().join("perf.db");
    let journal = dir.path().join("perf.db-journal");
    let before = std::fs::metadata(&db).unwrap().len();
    assert!(!journal.exists());
    let big = big_input(100, 1000);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("upload"))
        .current_dir(dir.path())
        .args(["--no-gather", "--run-key", "big"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), big.as_bytes()).unwrap();
    let mid_run =
        || journal.exists() && std::fs::metadata(&db).is_ok_and(|m| m.len() > before + (1 << 20));
    wait_until(&mut child, "rows written in the open transaction", mid_run);
    signal(&child, libc::SIGSTOP);
    // Stopped, it cannot commit: the journal still there means the transaction is open.
    assert!(mid_run(), "the run committed before it could be stopped");
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM runs WHERE run_key <> 'pre'"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM perf_result"), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM run_cases"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM cases"), 2);
    assert_eq!(count(&db, "SELECT count(*) FROM series"), 2);
    assert!(!journal.exists(), "the hot journal was rolled back");
    for status in ["uploaded", "already-present"] {
        upload(dir.path())
            .args(["--run-key", "big"])
            .write_stdin(big.clone())
            .assert()
            .code(0)
            .stdout(predicate::str::contains(format!("\"status\":\"{status}\"")));
    }
    assert_eq!(count(&db, "SELECT count(*) FROM perf_result"), 100_003);
    assert_eq!(count(&db, "SELECT count(*) FROM runs"), 2);
}

#[test]
fn opensearch_bulk_retries_429_and_5xx_items_with_deterministic_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (base, rx) = http_server(vec![
        (429, "{}".into()),
        (200, bulk_reply(&[201, 503])),
        (200, bulk_reply(&[201])),
    ]);
    let url = format!("opensearch+{base}/perf_sanity_info");
    upload(dir.path())
        .arg(&url)
        .args(["--run-key", "k"])
        .env("PERFLINE_OPENSEARCH_USER", "u")
        .env("PERFLINE_OPENSEARCH_PASSWORD", "p")
        .write_stdin(input())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"rows\":2,\"link\":null,\"status\":\"uploaded\""));
    let requests = received(&rx, 3);
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert!(r.head.starts_with("POST /_bulk HTTP/1.1\r\n"), "{}", r.head);
        assert!(r.head.to_ascii_lowercase().contains("content-type: application/x-ndjson"));
        assert!(r.head.contains("Authorization: Basic dTpw"), "{}", r.head);
    }
    let lines: Vec<serde_json::Value> =
        requests[0].body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["create"]["_index"], "perf_sanity_info");
    assert_eq!(lines[1]["s_test_case_name"], "srv-con4");
    assert_eq!(lines[1]["l_concurrency"], 4);
    assert_eq!(lines[1]["d_mean_ttft"], 12.5);
    assert_eq!(lines[1]["b_is_valid"], true);
    assert_eq!(lines[1]["s_run_key"], "k");
    // Only the item that got 503 is sent again, with the same id.
    assert_eq!(requests[1].body, requests[0].body);
    let retried: Vec<&str> = requests[2].body.lines().collect();
    assert_eq!(retried, requests[0].body.lines().skip(2).collect::<Vec<_>>());
}

#[test]
fn opensearch_4xx_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (base, rx) = http_server(vec![(400, "{\"error\":\"mapper_parsing_exception\"}".into())]);
    upload(dir.path())
        .arg(format!("opensearch+{base}/idx"))
        .write_stdin(input())
        .assert()
        .code(65)
        .stderr(predicate::str::contains("HTTP 400: {\"error\":\"mapper_parsing_exception\"}"));
    assert_eq!(received(&rx, 1).len(), 1);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn store_down_spools_and_flush_delivers_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // Down for the three attempts of the upload, back for the flush.
    let (base, rx) = http_server(vec![
        (503, "{}".into()),
        (502, "{}".into()),
        (503, "{}".into()),
        (200, bulk_reply(&[201, 201])),
    ]);
    let url = format!("opensearch+{base}/idx");
    upload(dir.path())
        .arg(&url)
        .args(["--run-key", "k"])
        .write_stdin(input())
        .assert()
        .code(69)
        .stdout(predicate::str::contains("\"status\":\"spooled\""))
        .stderr(predicate::str::contains("spooled to .perfline/spool/k."));
    assert_eq!(received(&rx, 3).len(), 3);
    let spool = dir.path().join(".perfline/spool");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 1);
    // A flush for another store leaves the batch alone.
    upload(dir.path()).args(["--flush", "sqlite:other.db"]).assert().code(0).stdout("");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 1);
    upload(dir.path()).args(["--flush", &url]).assert().code(0).stdout(
        predicate::str::contains("\"run_key\":\"k\",")
            .and(predicate::str::contains("\"rows\":2,\"link\":null,\"status\":\"uploaded\"")),
    );
    let delivered = received(&rx, 1);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].body.lines().count(), 4);
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
    upload(dir.path())
        .args(["--flush"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("upload: nothing to flush in .perfline/spool\n");
}
