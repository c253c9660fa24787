//! report end to end: the JSON summary, the page's content and escaping, chart files, exit codes.

use crate::common;
use std::path::Path;

fn report(args: &[&str]) -> (i32, String, String) {
    let out = assert_cmd::cargo_bin_cmd!("report").args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn writes_report_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (m, v) = common::write_fixture(dir.path());
    let out = dir.path().join("report.html");
    let charts = dir.path().join("charts");
    let (code, stdout, stderr) =
        report(&["--metrics", s(&m), "--verdicts", s(&v), "-o", s(&out), "--charts", s(&charts)]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let html = std::fs::read_to_string(&out).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({
            "report": s(&out), "bytes": html.len(), "charts": 5 + 3 * 7 + 7 + 7 + 2,
            "chart_dir": s(&charts), "run_key": "r8", "runs_shown": 8,
            "regressed": 2, "failed": 1, "suspect": 1, "improved": 1, "undecided": 1,
            "counting": "series",
        })
    );
    // Every chart file is an SVG document with a safe name; the hostile id is a slug.
    let mut names: Vec<String> = std::fs::read_dir(&charts)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 42);
    assert!(
        names.iter().all(|n| n.ends_with(".svg")
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))),
        "{names:?}"
    );
    assert_eq!(names[0], "0000-aggr-sweep-srv-con4-seq_throughput.svg");
    assert!(
        names.contains(
            &"0003-aggr-x_script_document.title__pwned___script_____b_q-con2-mean_ttft.svg"
                .to_string()
        ),
        "{names:?}"
    );
    for n in &names {
        let svg = std::fs::read_to_string(charts.join(n)).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{n}");
    }
    // The headline and the order: regressions before improvements, the failed case with reasons.
    assert!(html.contains("2 series regressed, 1 case failed"), "headline");
    let pos = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("{needle} missing"));
    assert!(pos(">regression<") < pos(">improvement<"));
    assert!(pos("-12.0 %") < pos(">improvement<"));
    assert!(
        html.contains("1400 → 1232 tok&#x2f;s, since 2026-11-27 07:30 · abc007"),
        "card detail"
    );
    assert!(html.contains("RuntimeError: CUDA out of memory"));
    // The key numbers: the regressed throughput red, the failed case said so.
    assert!(html.contains("1231<span class=\"u\">tok&#x2f;s</span><span class=\"delta worse\" title=\"against perf-check&#x27;s baseline 1400 (regression)\">-12.0 %</span>"), "key numbers");
    assert!(html.contains("title=\"&lt;img src=x onerror=&quot;document.title=&#x27;pwned2&#x27;&quot;&gt;; 2 failed requests\">failed</span></td><td class=\"v\">–</td>"), "failed case in the key numbers");
    assert!(
        html.contains("575.57.08")
            && html.contains("1.1.0rc8")
            && html.contains("NVIDIA H100 80GB HBM3")
    );
    // Nothing from the data is markup.
    assert!(!html.contains(common::HOSTILE_SCRIPT), "raw hostile script");
    assert!(!html.contains("<img") && !html.contains("</pre><script>"));
    assert_eq!(html.matches("<script").count(), 1, "only the sort script");
    assert!(html.contains("&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;&#x2f;script&gt;"));
}

#[test]
fn bad_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (m, v) = common::write_fixture(dir.path());
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}{{\"test_id\":1}}\n", common::verdicts())).unwrap();
    let out = dir.path().join("report.html");
    let (code, stdout, stderr) =
        report(&["--metrics", s(&m), "--verdicts", s(&bad), "-o", s(&out)]);
    assert_eq!((code, stdout.as_str()), (65, ""));
    assert!(
        stderr.starts_with(&format!("report: error: {}:7: invalid record", bad.display())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert!(!out.exists());

    let (code, _, stderr) =
        report(&["--metrics", s(&dir.path().join("nope.jsonl")), "-o", s(&out)]);
    assert_eq!(code, 66, "{stderr}");
    let (code, _, stderr) = report(&["-o", s(&out)]);
    assert_eq!(
        (code, stderr.as_str()),
        (64, "report: error: nothing to report: give --store, --metrics or --verdicts (see --help)\n")
    );
    let (code, _, stderr) =
        report(&["--metrics", s(&m), "--verdicts", s(&v), "--run-key", "r99", "-o", s(&out)]);
    assert_eq!(
        (code, stderr.as_str()),
        (65, "report: error: --run-key r99: no such run in the input\n")
    );
    let (code, _, _) = report(&["--metrics", s(&m), "-o", "/nonexistent/dir/r.html"]);
    assert_eq!(code, 73);
    assert!(!out.exists());
}

#[test]
fn window_and_run_key_choose_the_runs_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = common::write_fixture(dir.path());
    let out = dir.path().join("r.html");
    let (code, stdout, _) =
        report(&["--metrics", s(&m), "--run-key", "r5", "--window", "3", "-o", s(&out)]);
    assert_eq!(code, 0);
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (summary["run_key"].as_str(), summary["runs_shown"].as_u64(), summary["failed"].as_u64()),
        (Some("r5"), Some(3), Some(0))
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("no verdicts given: trends only"));
    assert!(html.contains(
        "run <b title=\"r5\" id=\"run-name\">2026-11-25 05:30 · abc005</b> · history: 3 runs from <b title=\"r3\">2026-11-23 03:30 · abc003</b>"
    ));
}

/// An SQLite store as upload writes it (schema `version`): runs r1…r5 (no start time: upload
/// order), one case with two metrics, its r5 result failed with reasons and a log tail (from
/// schema 2 on; before, r5 simply has no results).
fn store(path: &Path) {
    store_v(path, perfline_store::schema::SCHEMA_VERSION);
}

fn store_v(path: &Path, version: i64) {
    common::store_at(path, version);
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "INSERT INTO cases (case_key, network, batch_size, `precision`, framework, command) \
         VALUES ('k1', 'aggr-db', 4, '', 'trtllm-serve', 'srv-con4');",
    )
    .unwrap();
    if version >= 3 {
        db.execute_batch("INSERT INTO series VALUES (1, 'aggr-db', 'srv', 'con4');").unwrap();
    }
    for run in 1..=5i64 {
        db.execute(
            "INSERT INTO runs (run_key, gpu, driver, `commit`, notes, uploaded_at) \
             VALUES (?1, 'GB200', '580.1', ?2, ?3, ?4)",
            rusqlite::params![
                format!("r{run}"),
                format!("c{run}"),
                (run == 4).then_some("confirmation 1"),
                format!("2026-12-0{run} 10:00:00")
            ],
        )
        .unwrap();
        let status = if run == 5 { "failed" } else { "ok" };
        if version >= 2 {
            db.execute(
                "INSERT INTO run_cases (run_id, case_id, status, reasons, log_tail) VALUES (?1, 1, ?2, ?3, ?4)",
                rusqlite::params![run, status, if run == 5 { "[\"server <died>\"]" } else { "[]" }, "line 1\nOOM at step 3"],
            )
            .unwrap();
        }
        if run < 5 {
            for (metric, value, unit) in
                [("token_throughput", 1000.0 + run as f64, "tok/s"), ("mean_tpot", 5.0, "ms")]
            {
                db.execute(
                    "INSERT INTO perf_result (run_id, case_id, metric, value, unit, status) VALUES (?1, 1, ?2, ?3, ?4, 'ok')",
                    rusqlite::params![run, metric, value, unit],
                )
                .unwrap();
            }
        }
    }
}

/// Stores of every older version are read as they are (not migrated); a newer one is refused
/// with one line, exit 78, and no report.
#[test]
fn older_stores_are_read_and_a_newer_one_refused() {
    use perfline_store::schema::SCHEMA_VERSION;
    let dir = tempfile::tempdir().unwrap();
    for version in 1..SCHEMA_VERSION {
        let db = dir.path().join(format!("v{version}.db"));
        store_v(&db, version);
        let out = dir.path().join(format!("v{version}.html"));
        let url = format!("sqlite:{}", db.display());
        let (code, stdout, stderr) = report(&["--store", &url, "-o", s(&out)]);
        assert_eq!((code, stderr.as_str()), (0, ""), "v{version}");
        let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        // Two charts (the case's two metrics); r5's failure is known from schema 2 on.
        let failed = if version >= 2 { 1 } else { 0 };
        assert_eq!(
            (&summary["charts"], &summary["failed"]),
            (&2.into(), &failed.into()),
            "v{version}"
        );
        let db = rusqlite::Connection::open(&db).unwrap();
        let found: i64 =
            db.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(found, version, "a read is not a migration");
    }
    let db = dir.path().join("newer.db");
    store(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("INSERT INTO schema_version VALUES (5)", [])
        .unwrap();
    let out = dir.path().join("newer.html");
    let url = format!("sqlite:{}", db.display());
    let (code, stdout, stderr) = report(&["--store", &url, "-o", s(&out)]);
    assert_eq!(
        (code, stdout.as_str(), stderr),
        (
            78,
            "",
            format!(
                "report: error: {url}: store schema version 5 is newer than this perfline's (4); \
                 upgrade perfline\n"
            )
        )
    );
    assert!(!out.exists());
}

#[test]
fn reads_history_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("perf.db");
    store(&db);
    let out = dir.path().join("r.html");
    let url = format!("sqlite:{}", db.display());
    let (code, stdout, stderr) = report(&["--store", &url, "-o", s(&out)]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (&summary["run_key"], &summary["runs_shown"], &summary["failed"], &summary["charts"]),
        (
            &serde_json::json!("r5"),
            &serde_json::json!(5),
            &serde_json::json!(1),
            &serde_json::json!(2)
        )
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("gpu <b>GB200</b> · driver <b>580.1</b> · commit <b>c5</b>"),
        "system info"
    );
    // Runs named by upload time and commit; r4 (notes "confirmation 1") tagged.
    assert!(
        html.contains("run <b title=\"r5\" id=\"run-name\">uploaded 2026-12-05 10:00 · c5</b>"),
        "run name"
    );
    assert!(
        html.contains("<li><span title=\"r4\">uploaded 2026-12-04 10:00 · c4</span> <span class=\"tag confirm\">confirmation 1</span></li>"),
        "confirmation run listed"
    );
    assert!(
        html.contains("<li>server &lt;died&gt;</li>") && html.contains("OOM at step 3"),
        "failed case"
    );
    assert!(html.contains("1 case failed"));

    // Store errors are classified and write nothing.
    let missing = format!("sqlite:{}", dir.path().join("none.db").display());
    let (code, _, _) = report(&["--store", &missing, "-o", s(&out)]);
    assert_eq!(code, 66);
    let (code, _, stderr) = report(&["--store", "postgres://x/y", "-o", s(&out)]);
    assert_eq!(code, 78, "{stderr}");
    let cmd = assert_cmd::cargo_bin_cmd!("report")
        .env_remove("PERFLINE_MYSQL_PASSWORD")
        .args(["--store", "mysql://u@127.0.0.1:1/db", "-o", s(&dir.path().join("m.html"))])
        .output()
        .unwrap();
    assert_eq!(cmd.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&cmd.stderr).contains("no MySQL password"));
    assert!(!dir.path().join("m.html").exists());
}

#[test]
fn an_empty_store_and_a_first_run_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    common::empty_store(&db);
    let out = dir.path().join("r.html");
    let (code, stdout, stderr) =
        report(&["--store", &format!("sqlite:{}", db.display()), "-o", s(&out)]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (&summary["run_key"], &summary["charts"]),
        (&serde_json::Value::Null, &serde_json::json!(0))
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("<div class=\"headline neutral\" id=\"headline\">No runs yet: the store (or input) holds no results to report</div>"),
        "{html}"
    );
    assert!(!html.contains("nothing regressed"));

    // The first run of its series: its values, no verdicts, no green.
    let first: String = common::history()
        .lines()
        .filter(|l| l.contains("\"run_key\":\"r1\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let m = dir.path().join("first.jsonl");
    std::fs::write(&m, first).unwrap();
    let (code, _, stderr) = report(&["--metrics", s(&m), "-o", s(&out)]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains(
        "id=\"headline\">First run of these series: nothing to compare against yet (perf-check needs 5 earlier runs)</div>"
    ));
    assert!(html.contains("<table id=\"key-numbers\">"), "the run's numbers are shown");
    assert!(html.contains("run <b title=\"r1\" id=\"run-name\">2026-11-21 01:30 · abc001</b>"));
}
