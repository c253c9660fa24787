//! perf-check's command line: exit codes, outputs, --junit, --accept, --baseline, and stores
//! built by the schema's own DDL (`perfline_store::schema`), current or older.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn perf_check() -> Command {
    let mut c = assert_cmd::cargo_bin_cmd!("perf-check");
    c.env_remove("PERFLINE_MYSQL_PASSWORD");
    c
}

/// Deterministic run-to-run noise of about 1 %.
const NOISE: [f64; 8] = [0.010, -0.012, 0.004, -0.003, 0.008, -0.009, 0.002, -0.006];

fn record(test: &str, metrics: &[(&str, f64)]) -> String {
    let m: Vec<String> = metrics.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!(
        "{{\"test_id\":\"{test}\",\"server\":\"srv\",\"client\":\"c1\",\"status\":\"ok\",\"metrics\":{{{}}}}}\n",
        m.join(",")
    )
}

/// A store of `runs` runs r01… (no start time: upload order) with two series of test `t1`:
/// token_throughput at 200 (× `step` from run `from` on) and mean_ttft at 10.
struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    fn new(runs: usize, from: usize, step: f64) -> Store {
        Store::at(perfline_store::schema::SCHEMA_VERSION, runs, from, step)
    }
    /// [`Store::new`] in a store of schema `version` (before 2 no `run_cases`, before 3 no
    /// `series`: the case is known by its incumbent name `srv-c1`).
    fn at(version: i64, runs: usize, from: usize, step: f64) -> Store {
        use perfline_store::schema;
        let dir = tempfile::tempdir().unwrap();
        let db = rusqlite::Connection::open(dir.path().join("perf.db")).unwrap();
        schema::create_at(&mut schema::Sqlite(&db), version).unwrap();
        db.execute_batch(
            "INSERT INTO cases (id, case_key, network, batch_size, `precision`, framework, \
             command) VALUES (1, 'k', 't1', 1, '', 'trtllm-serve', 'srv-c1')",
        )
        .unwrap();
        if version >= 3 {
            db.execute_batch("INSERT INTO series VALUES (1, 't1', 'srv', 'c1')").unwrap();
        }
        for i in 1..=runs {
            db.execute("INSERT INTO runs (run_key) VALUES (?1)", [format!("r{i:02}")]).unwrap();
            if version >= 2 {
                db.execute(
                    "INSERT INTO run_cases (run_id, case_id, status, reasons, log_tail) \
                     VALUES (?1, 1, 'ok', '[]', '')",
                    [i],
                )
                .unwrap();
            }
            let n = NOISE[i % NOISE.len()].exp();
            let tput = 200.0 * n * if i >= from { step } else { 1.0 };
            for (metric, value) in [("token_throughput", tput), ("mean_ttft", 10.0 * n)] {
                db.execute(
                    "INSERT INTO perf_result (run_id, case_id, metric, value, status) \
                     VALUES (?1, 1, ?2, ?3, 'ok')",
                    rusqlite::params![i, metric, value],
                )
                .unwrap();
            }
        }
        Store { dir }
    }
    fn url(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("perf.db").display())
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn verdicts(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn pick<'a>(v: &'a [serde_json::Value], metric: &str) -> &'a serde_json::Value {
    v.iter().find(|r| r["metric"] == metric).unwrap()
}

#[test]
fn a_shared_step_is_a_regression_with_its_line_and_junit() {
    let s = Store::new(20, 16, 0.88);
    let current = s.file(
        "cur.jsonl",
        &record("t1", &[("token_throughput", 176.0), ("mean_ttft", 10.0), ("total_requests", 8.0)]),
    );
    let junit = s.dir.path().join("junit.xml");
    let out = perf_check()
        .args(["--store", &s.url(), "-i"])
        .arg(&current)
        .args(["--run-key", "r21", "--junit"])
        .arg(&junit)
        .assert()
        .code(1)
        .stderr(
            "perf-check: regression: t1 srv-c1 token_throughput: 176.0 vs 199.4 (-11.7 %) since r16\n\
             perf-check: cases: 1 regression; series: 1 regression, 1 no-change\n",
        )
        .get_output()
        .stdout
        .clone();
    let v = verdicts(&out);
    assert_eq!(v.len(), 3, "total_requests has no direction: not judged; then the case");
    let case = &v[2];
    assert_eq!((case["metric"].as_str(), case["scope"].as_str()), (Some("*"), Some("case")));
    assert_eq!(case["verdict"], "regression");
    assert_eq!(case["supporting"], serde_json::json!(["token_throughput"]));
    let t = pick(&v, "token_throughput");
    assert_eq!(t["verdict"], "regression");
    assert_eq!(t["change_run"], "r16");
    assert_eq!(t["window"], 20);
    assert_eq!(t["method"], "change-point");
    assert_eq!(t["better"], "higher");
    assert_eq!(t["run_key"], "r21");
    assert_eq!(pick(&v, "mean_ttft")["verdict"], "no-change");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\""), "{xml}");
    assert!(xml.contains("<testcase classname=\"t1\" name=\"c1\">"), "{xml}");
}

/// Stores of every older version are judged from as they are (read-only: not migrated), and
/// `--accept` migrates one to the current version first.
#[test]
fn older_stores_are_read_and_accept_migrates_them() {
    use perfline_store::schema::SCHEMA_VERSION;
    for version in 1..SCHEMA_VERSION {
        let s = Store::at(version, 20, 16, 0.88);
        let current = s.file("cur.jsonl", &record("t1", &[("token_throughput", 176.0)]));
        let version_of = || -> i64 {
            let db = rusqlite::Connection::open(s.dir.path().join("perf.db")).unwrap();
            db.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0)).unwrap()
        };
        perf_check()
            .args(["--store", &s.url(), "--run-key", "r21", "-i"])
            .arg(&current)
            .assert()
            .code(1)
            .stderr(predicate::str::starts_with(
                "perf-check: regression: t1 srv-c1 token_throughput: 176.0 vs 199.4 (-11.7 %) \
                 since r16\n",
            ));
        assert_eq!(version_of(), version, "a read is not a migration");
        perf_check()
            .args(["--store", &s.url(), "--accept", "r16", "-i"])
            .arg(&current)
            .assert()
            .code(0);
        assert_eq!(version_of(), SCHEMA_VERSION, "v{version}");
    }
}

#[test]
fn a_newer_store_is_refused() {
    let s = Store::new(3, 99, 1.0);
    let db = rusqlite::Connection::open(s.dir.path().join("perf.db")).unwrap();
    db.execute("INSERT INTO schema_version VALUES (5)", []).unwrap();
    let current = s.file("cur.jsonl", &record("t1", &[("token_throughput", 200.0)]));
    perf_check()
        .args(["--store", &s.url(), "-i"])
        .arg(&current)
        .assert()
        .code(78)
        .stdout("")
        .stderr(format!(
            "perf-check: error: {}: store schema version 5 is newer than this perfline's (4); \
             upgrade perfline\n",
            s.url()
        ));
}

#[test]
fn accept_makes_the_new_level_the_baseline() {
    let s = Store::new(24, 16, 0.88);
    let current = s.file("cur.jsonl", &record("t1", &[("token_throughput", 176.0)]));
    perf_check().args(["--store", &s.url(), "-i"]).arg(&current).assert().code(1);
    perf_check()
        .args(["--store", &s.url(), "--accept", "r16", "-i"])
        .arg(&current)
        .assert()
        .code(0)
        .stderr(predicate::str::starts_with(
            "perf-check: accepted r16 as the baseline of 1 series",
        ));
    let out = perf_check()
        .args(["--store", &s.url(), "--min-change", "3", "-i"])
        .arg(&current)
        .assert()
        .code(0);
    let v = verdicts(&out.get_output().stdout);
    assert_eq!(v[0]["verdict"], "no-change", "{v:?}");
    assert_eq!(v[0]["window"], 9);
    perf_check()
        .args(["--store", &s.url(), "--accept", "r99", "-i"])
        .arg(&current)
        .assert()
        .code(65)
        .stderr(predicate::str::contains("r99: no such run"));
}

#[test]
fn the_current_run_is_not_its_own_history_and_little_history_is_insufficient() {
    let s = Store::new(5, 99, 1.0);
    let current = s.file("cur.jsonl", &record("t1", &[("token_throughput", 150.0)]));
    let out = perf_check()
        .args(["--store", &s.url(), "--run-key", "r05", "-i"])
        .arg(&current)
        .assert()
        .code(0);
    let v = verdicts(&out.get_output().stdout);
    assert_eq!(
        (v[0]["verdict"].as_str(), v[0]["window"].as_u64()),
        (Some("insufficient-data"), Some(4))
    );
    let out = perf_check().args(["--store", &s.url(), "-i"]).arg(&current).assert().code(0);
    assert_eq!(verdicts(&out.get_output().stdout)[0]["verdict"], "suspect");
}

#[test]
fn incumbent_method_and_baseline_file() {
    let s = Store::new(10, 99, 1.0);
    let current = s.file("cur.jsonl", &record("t1", &[("token_throughput", 180.0)]));
    let out = perf_check()
        .args(["--store", &s.url(), "--method", "incumbent", "-i"])
        .arg(&current)
        .assert()
        .code(1);
    let v = verdicts(&out.get_output().stdout);
    assert_eq!(
        (v[0]["verdict"].as_str(), v[0]["method"].as_str()),
        (Some("regression"), Some("incumbent"))
    );
    assert_eq!(v[0]["p_value"], 0.05);
    let base = s.file("base.jsonl", &record("t1", &[("token_throughput", 200.0)]));
    let out = perf_check().arg("--baseline").arg(&base).arg("-i").arg(&current).assert().code(1);
    let v = verdicts(&out.get_output().stdout);
    assert_eq!((v[0]["baseline"].as_f64(), v[0]["delta_pct"].as_f64()), (Some(200.0), Some(-10.0)));
    perf_check()
        .arg("--baseline")
        .arg(&base)
        .args(["--threshold", "15", "-i"])
        .arg(&current)
        .assert()
        .code(0);
    perf_check()
        .arg("--baseline")
        .arg(&base)
        .args(["--method", "change-point", "-i"])
        .arg(&current)
        .assert()
        .code(64);
}

#[test]
fn failed_current_records_fail_the_check() {
    let s = Store::new(10, 99, 1.0);
    let text = format!(
        "{}{}",
        record("t1", &[("token_throughput", 200.0)]),
        "{\"test_id\":\"t2\",\"client\":\"c9\",\"status\":\"failed\",\"reasons\":[\"server died\"],\"metrics\":{}}\n"
    );
    let current = s.file("cur.jsonl", &text);
    perf_check().args(["--store", &s.url(), "-i"]).arg(&current).assert().code(1).stderr(format!(
        "perf-check: error: {}:2: t2 c9: failed record: server died\n\
         perf-check: cases: 1 undecided; series: 1 undecided\n",
        current.display()
    ));
}

#[test]
fn bad_usage_input_and_stores_are_classified() {
    let s = Store::new(3, 99, 1.0);
    let good = s.file("cur.jsonl", &record("t1", &[("token_throughput", 200.0)]));
    perf_check().arg("--help").assert().code(0).stdout(predicate::str::contains("Exit status"));
    perf_check().arg("-i").arg(&good).assert().code(64);
    perf_check().args(["--store", &s.url(), "--window", "0"]).assert().code(64);
    perf_check().args(["--store", &s.url(), "--run-key", "a b"]).assert().code(64);
    perf_check().args(["--store", "postgres://x/y"]).arg("-i").arg(&good).assert().code(78);
    perf_check()
        .args(["--store", "mysql://perf:hunter2@127.0.0.1:9/perf", "-i"])
        .arg(&good)
        .assert()
        .code(78)
        .stderr(predicate::str::contains("hunter2").not());
    perf_check()
        .args(["--store", "mysql://perf@127.0.0.1:9/perf", "-i"])
        .arg(&good)
        .assert()
        .code(78);
    perf_check()
        .env("PERFLINE_MYSQL_PASSWORD", "pw")
        .args(["--store", "mysql://perf@127.0.0.1:9/perf", "-i"])
        .arg(&good)
        .assert()
        .code(69);
    let missing = Path::new("/nonexistent/perf.db");
    perf_check()
        .arg("--store")
        .arg(format!("sqlite:{}", missing.display()))
        .arg("-i")
        .arg(&good)
        .assert()
        .code(66);
    perf_check().args(["--store", &s.url(), "-i", "/nonexistent/cur.jsonl"]).assert().code(66);
    // A store not created yet, in a directory that exists: the first run has no history.
    let first = s.dir.path().join("first.db");
    let out = perf_check()
        .arg("--store")
        .arg(format!("sqlite:{}", first.display()))
        .arg("-i")
        .arg(&good)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        !text.is_empty() && text.lines().all(|l| l.contains("\"insufficient-data\"")),
        "{text}"
    );
    assert!(!first.exists(), "perf-check only reads");
    let bad =
        s.file("bad.jsonl", &format!("{}{{oops\n", record("t1", &[("token_throughput", 1.0)])));
    perf_check().args(["--store", &s.url(), "-i"]).arg(&bad).assert().code(65).stdout("").stderr(
        predicate::str::starts_with(format!(
            "perf-check: error: {}:2: invalid record",
            bad.display()
        )),
    );
}

#[test]
fn three_way_answers_anchoring_and_explain() {
    // 12 runs at ±1 %; then a drop of 12 % from run 10 on, and a current run at the new level.
    let s = Store::new(12, 10, 0.88);
    let cur =
        s.file("cur.jsonl", &record("t1", &[("token_throughput", 176.0), ("mean_ttft", 10.05)]));
    let out = perf_check()
        .args(["--store", &s.url(), "-i"])
        .arg(&cur)
        .args(["--explain", "t1/c1/token_throughput"])
        .assert()
        .code(1);
    let o = out.get_output();
    let v = verdicts(&o.stdout);
    assert_eq!(pick(&v, "token_throughput")["verdict"], "regression", "{v:?}");
    assert!(pick(&v, "token_throughput")["q_value"].as_f64().unwrap() <= 0.05);
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "perf-check: explain t1 srv-c1 token_throughput (higher is better), method change-point",
        "perf-check:   history (12 runs, oldest first; * outlier left out): r01=",
        "perf-check:   segmentation (values left after outliers): before value 9 (p ",
        "perf-check:   noise: ±",
        "perf-check:   move: -11.",
        "perf-check:   verdict: regression — ",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
    assert!(!err.contains("explain t1 srv-c1 mean_ttft"), "{err}");
    // The window no longer holds the old level, but the baseline is anchored: still a
    // regression until accepted.
    let out =
        perf_check().args(["--store", &s.url(), "--window", "2", "-i"]).arg(&cur).assert().code(1);
    let v = verdicts(&out.get_output().stdout);
    assert_eq!(pick(&v, "token_throughput")["verdict"], "regression", "{v:?}");
    // The current run alone 8 % down in ±1 % noise: suspect; 3 % down: undecided, with how
    // many more runs decide it; 2 % down (the --min-change itself): undecided, and the
    // baseline limits it (every undecided carries runs_needed).
    let s = Store::new(12, 99, 1.0);
    let one = |tput: f64| {
        let f = s.file("one.jsonl", &record("t1", &[("token_throughput", tput)]));
        let out = perf_check().args(["--store", &s.url(), "-i"]).arg(&f).assert().code(0);
        verdicts(&out.get_output().stdout).remove(0)
    };
    assert_eq!(one(184.0)["verdict"], "suspect");
    let u = one(194.0);
    assert_eq!(u["verdict"], "undecided", "{u}");
    assert!(u["runs_needed"].as_u64().is_some_and(|n| (1..50).contains(&n)), "{u}");
    assert!(u["min_detectable_pct"].as_f64().unwrap() > 1.0, "{u}");
    assert!(u["reason"].as_str().unwrap().contains("more run(s) at this level decide it"), "{u}");
    let u = one(196.0);
    assert_eq!((u["verdict"].as_str(), u["runs_needed"].as_u64()), (Some("undecided"), Some(50)));
    assert!(u["reason"].as_str().unwrap().contains("the baseline (12 runs) limits it"), "{u}");
    // At the level, ±3 % is ruled out; ±2 % is not, from one run in ±1.1 % noise.
    assert_eq!(one(200.0)["verdict"], "undecided");
    let f = s.file("one.jsonl", &record("t1", &[("token_throughput", 200.0)]));
    let out = perf_check()
        .args(["--store", &s.url(), "--min-change", "3", "-i"])
        .arg(&f)
        .assert()
        .code(0);
    assert_eq!(verdicts(&out.get_output().stdout)[0]["verdict"], "no-change");
}

#[test]
fn pending_inputs_are_the_newest_history_and_empty_input_is_66() {
    let s = Store::new(12, 99, 1.0);
    let f = |name: &str, tput: f64, attempt: &str| {
        let r = record("t1", &[("token_throughput", tput)])
            .replace("\"status\"", &format!("\"attempt\":\"{attempt}\",\"status\""));
        s.file(name, &r)
    };
    let (a, b, c) =
        (f("a.jsonl", 176.0, "A1"), f("b.jsonl", 175.0, "A2"), f("c.jsonl", 177.0, "A3"));
    // Alone, 12 % down is suspect, to be confirmed; with two confirmation runs at that level
    // it is a regression.
    let rerun = s.dir.path().join("rerun.txt");
    let out = perf_check()
        .args(["--store", &s.url(), "-i"])
        .arg(&c)
        .arg("--rerun-list")
        .arg(&rerun)
        .assert()
        .code(0);
    assert_eq!(verdicts(&out.get_output().stdout)[0]["verdict"], "suspect");
    assert_eq!(std::fs::read_to_string(&rerun).unwrap(), "t1\n");
    let out = perf_check()
        .args(["--store", &s.url(), "-i"])
        .arg(&a)
        .arg("-i")
        .arg(&b)
        .arg("-i")
        .arg(&c)
        .assert()
        .code(1);
    let v = verdicts(&out.get_output().stdout);
    assert_eq!(v[0]["verdict"], "regression", "{v:?}");
    assert_eq!(v[0]["window"], 14, "12 stored + 2 pending: {v:?}");
    // The first pending run starts the new level: its key is the one upload will store it
    // under (derived from its records).
    let a_record: perfline::wire::metrics::MetricRecord =
        perfline::jsonl::parse(std::fs::read_to_string(&a).unwrap().trim()).unwrap();
    assert_eq!(v[0]["change_run"], perfline_store::runkey::of_records(&[a_record]), "{v:?}");
    // A confirmation input holding another test only: t1's current value is still c's.
    let other = s.file("d.jsonl", &record("t9", &[("token_throughput", 5.0)]));
    let out = perf_check()
        .args(["--store", &s.url(), "-i"])
        .arg(&a)
        .arg("-i")
        .arg(&b)
        .arg("-i")
        .arg(&c)
        .arg("-i")
        .arg(&other)
        .arg("--rerun-list")
        .arg(&rerun)
        .assert()
        .code(1);
    let v = verdicts(&out.get_output().stdout);
    let t1 = v.iter().find(|r| r["test_id"] == "t1" && r["metric"] != "*").unwrap();
    assert_eq!((t1["verdict"].as_str(), t1["current"].as_f64()), (Some("regression"), Some(177.0)));
    assert_eq!(std::fs::read_to_string(&rerun).unwrap(), "", "nothing left to confirm");
    // Zero records: 66 with one line; --allow-empty: 0, nothing written.
    let empty = s.file("empty.jsonl", "");
    perf_check().args(["--store", &s.url(), "-i"]).arg(&empty).assert().code(66).stdout("").stderr(
        format!(
            "perf-check: error: {}: no metric records to judge (--allow-empty accepts that)\n",
            empty.display()
        ),
    );
    perf_check()
        .args(["--store", &s.url(), "--allow-empty", "-i"])
        .arg(&empty)
        .assert()
        .code(0)
        .stdout("");
}
