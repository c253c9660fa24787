//! The held-out evaluation's shape, with the real upload: `upload STORE --run-key rNN
//! --no-gather -i run_NN.jsonl` for r01…r24, then `perf-check --store STORE -i current.jsonl`,
//! then the current run uploaded and perf-check again: both orders judge alike.
//! Needs the upload binary of the same profile: `cargo test --workspace` builds it
//! (`cargo build -p upload` before `cargo test -p perf-check`).

use assert_cmd::Command;

/// Deterministic run-to-run noise of about 1 %, a different phase per series.
const NOISE: [f64; 8] = [0.010, -0.012, 0.004, -0.003, 0.008, -0.009, 0.002, -0.006];

/// (test, metric, base level, first run at the new level, factor)
const SERIES: [(&str, &str, f64, usize, f64); 8] = [
    ("t1", "token_throughput", 2000.0, 99, 1.0),
    ("t1", "mean_ttft", 25.0, 99, 1.0),
    ("t2", "token_throughput", 900.0, 18, 0.90),
    ("t2", "mean_ttft", 40.0, 99, 1.0),
    ("t3", "token_throughput", 300.0, 99, 1.0),
    ("t3", "mean_ttft", 12.0, 20, 1.15),
    ("t4", "token_throughput", 5000.0, 22, 1.12),
    ("t4", "mean_ttft", 80.0, 25, 0.80),
];

/// Run `i`'s records (run 25 is the current run).
fn run_records(i: usize) -> String {
    let mut out = String::new();
    for test in ["t1", "t2", "t3", "t4"] {
        let metrics: Vec<String> = SERIES
            .iter()
            .enumerate()
            .filter(|(_, s)| s.0 == test)
            .map(|(k, (_, metric, level, from, factor))| {
                let step = if i >= *from { *factor } else { 1.0 };
                let v = level * step * NOISE[(i + 3 * k) % NOISE.len()].exp();
                format!("\"{metric}\":{v:.4}")
            })
            .collect();
        out += &format!(
            "{{\"test_id\":\"{test}\",\"server\":\"srv\",\"client\":\"con8_isl1k\",\"concurrency\":8,\
             \"status\":\"ok\",\"metrics\":{{{}}}}}\n",
            metrics.join(",")
        );
    }
    out
}

/// The key upload derives for run 25 (no job id, start time or commit: content digest).
const CURRENT: &str = "d6015ab4c20a343a62f9176729717ac4";

#[test]
fn uploaded_history_then_perf_check() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("perf.db").display());
    for i in 1..=24 {
        let file = dir.path().join(format!("run_{i:02}.jsonl"));
        std::fs::write(&file, run_records(i)).unwrap();
        Command::new(chain_tests::bin("upload"))
            .args([&store, "--run-key", &format!("r{i:02}"), "--no-gather", "-i"])
            .arg(&file)
            .env("PERFLINE_UPLOAD_SPOOL_DIR", dir.path().join("spool"))
            .assert()
            .code(0);
    }
    let current = dir.path().join("current.jsonl");
    std::fs::write(&current, run_records(25)).unwrap();
    let check = || {
        assert_cmd::cargo_bin_cmd!("perf-check")
            .args(["--store", &store, "-i"])
            .arg(&current)
            .assert()
            .code(1)
            .get_output()
            .clone()
    };
    let out = check();
    // Upload then perf-check: the run key perf-check derives is upload's, so the stored copy
    // of the current run is not its own history — the same verdicts.
    Command::new(chain_tests::bin("upload"))
        .args([&store, "--no-gather", "-i"])
        .arg(&current)
        .env("PERFLINE_UPLOAD_SPOOL_DIR", dir.path().join("spool"))
        .assert()
        .code(0)
        .stdout(predicates::str::contains(format!("\"run_key\":\"{CURRENT}\"")));
    let after = check();
    assert_eq!(
        String::from_utf8_lossy(&after.stdout),
        String::from_utf8_lossy(&out.stdout),
        "perf-check after upload judges the same"
    );
    let verdicts: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(String, String, String, String)> = verdicts
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
            (s("test_id"), s("metric"), s("verdict"), s("change_run"))
        })
        .collect();
    // ±1 % noise cannot rule out a 2 % move from one run: flat series are undecided.
    let want = [
        ("t1", "mean_ttft", "undecided", "-"),
        ("t1", "token_throughput", "undecided", "-"),
        ("t2", "mean_ttft", "undecided", "-"),
        ("t2", "token_throughput", "regression", "r18"),
        ("t3", "mean_ttft", "regression", "r20"),
        ("t3", "token_throughput", "undecided", "-"),
        ("t4", "mean_ttft", "suspect", CURRENT),
        ("t4", "token_throughput", "improvement", "r22"),
        ("t1", "*", "undecided", "-"),
        ("t2", "*", "regression", "r18"),
        ("t3", "*", "regression", "r20"),
        ("t4", "*", "suspect", CURRENT),
    ];
    let want: Vec<(String, String, String, String)> = want
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, want, "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
    assert!(
        stderr.contains("perf-check: regression: t2 srv-con8_isl1k token_throughput: "),
        "{stderr}"
    );
}
