//! The CI face end to end on the Slurm test cluster: `ci/run-perf-tests --confirm 2` builds a
//! clean history (a clean run exits 0, whatever confirmation re-runs it took), then simserve
//! is made 30 % slower through its timing environment: within that one invocation the case is
//! a regression — decided on the run itself when several metrics moved far outside the noise,
//! else after confirmation re-runs of the test — the JUnit file shows it, the wrapper exits 2,
//! and every attempt (confirmation runs too, tagged `context.confirmation`) is stored as its
//! own run. A failed role then makes the wrapper exit 1: the test's failure wins.

use chain_tests::{bin, workspace_root};
use std::path::Path;
use std::process::Command;

const TEST: &str = "aggr-perf_agg-gate_tp1";

fn require_cluster() {
    let ok = Command::new("sinfo")
        .env("SLURM_CONF", "/var/tmp/perfline-slurm/slurm.conf")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    assert!(ok, "Slurm test cluster not running: run `cargo xtask cluster up`");
}

/// Runs the wrapper once (`--confirm 2`) with simserve's decode step at `decode_ms` (or a
/// server that fails at start); returns its exit code.
fn run(dir: &Path, n: usize, decode_ms: u32, fail: bool) -> i32 {
    let profile = std::fs::read_to_string(workspace_root().join("ci/clusters/local.yaml")).unwrap()
        + &format!(
            "env:\n  PERFLINE_JOB_TIMEOUT_S: \"60\"\n  PERFLINE_READY_TIMEOUT_S: \"20\"\n  \
             SIMSERVE_TTFT_MS: \"{}\"\n  SIMSERVE_DECODE_MS_PER_STEP: \"{decode_ms}\"\n{}",
            decode_ms * 2,
            if fail { "  SIMSERVE_FAIL_AT_START: \"1\"\n" } else { "" }
        );
    let profile_path = dir.join(format!("profile{n}.yaml"));
    std::fs::write(&profile_path, profile).unwrap();
    let configs = dir.join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::copy(workspace_root().join("tests/data/perf_agg.yaml"), configs.join("perf_agg.yaml"))
        .unwrap();
    let bin_dir = bin("perf-check").parent().unwrap().to_path_buf();
    let status = Command::new(workspace_root().join("ci/run-perf-tests"))
        .args(["--test", TEST, "--cluster", profile_path.to_str().unwrap()])
        .args(["--config-dir", configs.to_str().unwrap()])
        .args(["--store", &format!("sqlite:{}", dir.join("perf.db").display()), "--upload"])
        .args(["--junit", dir.join(format!("junit{n}.xml")).to_str().unwrap()])
        .args(["--out", dir.join(format!("run{n}")).to_str().unwrap()])
        .args(["--confirm", "2"])
        .env("PERFLINE_BIN", &bin_dir)
        .env("SLURM_CONF", "/var/tmp/perfline-slurm/slurm.conf")
        .current_dir(dir)
        .status()
        .unwrap();
    status.code().unwrap_or(-1)
}

fn verdicts(dir: &Path, n: usize) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(format!("run{n}/verdicts.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verdict_of<'a>(v: &'a [serde_json::Value], metric: &str) -> &'a serde_json::Value {
    v.iter().find(|r| r["metric"] == metric).unwrap_or_else(|| panic!("no {metric} in {v:?}"))
}

/// Confirmation runs the invocation `n` made (`OUT/confirm-K.jsonl`).
fn confirmations(dir: &Path, n: usize) -> usize {
    (1..=2).filter(|k| dir.join(format!("run{n}/confirm-{k}.jsonl")).exists()).count()
}

/// Runs stored so far, and how many of their records are tagged as confirmation runs.
fn stored_runs(dir: &Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join("perf.db")).unwrap();
    db.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_slowdown_is_a_regression_within_one_confirming_invocation_and_a_failed_test_wins() {
    require_cluster();
    for tool in ["classify", "nodecount", "launch", "role", "simserve", "bench"] {
        bin(tool);
    }
    bin("parse-metrics");
    bin("upload");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let history = 6;
    let mut runs = 0;
    // The scenario controls the server's decode time, which moves the means and the
    // throughput; tail metrics (p99 ITL, …) of simserve on a shared 2-core CI box carry their
    // own noise, so the early runs (little history) may be undecided and re-run.
    for n in 0..history {
        let code = run(dir, n, 20, false);
        let k = confirmations(dir, n);
        runs += 1 + k as i64;
        assert_eq!(stored_runs(dir), runs, "history run {n}: every attempt is its own run");
        let v = verdicts(dir, n);
        for metric in ["mean_e2el", "token_throughput"] {
            let verdict = &verdict_of(&v, metric)["verdict"];
            assert_ne!(verdict, "regression", "history run {n}, {metric}: {v:?}");
        }
        if n == history - 1 {
            assert_eq!(code, 0, "a clean run with --confirm 2 exits 0: {v:?}");
        }
    }
    // 30 % slower: a regression within this one invocation, exit 2.
    let slow = history;
    assert_eq!(run(dir, slow, 26, false), 2, "the wrapper exits with the regression");
    let v = verdicts(dir, slow);
    let case = v.iter().find(|r| r["scope"] == "case").unwrap_or_else(|| panic!("{v:?}"));
    assert_eq!(case["verdict"], "regression", "{case}");
    let supporting: Vec<&str> =
        case["supporting"].as_array().unwrap().iter().filter_map(|m| m.as_str()).collect();
    assert!(
        supporting.contains(&"mean_e2el") || supporting.contains(&"token_throughput"),
        "{case}"
    );
    let e2el = verdict_of(&v, "mean_e2el");
    assert_eq!(e2el["verdict"], "regression", "{v:?}");
    assert_eq!(e2el["better"], "lower", "{e2el}");
    assert_eq!(verdict_of(&v, "token_throughput")["verdict"], "regression", "{v:?}");
    let k = confirmations(dir, slow);
    runs += 1 + k as i64;
    assert_eq!(stored_runs(dir), runs, "the slow run and its {k} confirmation run(s) are stored");
    if k == 0 {
        let reason = e2el["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("decided on the run that introduces it"), "{e2el}");
    } else {
        let text =
            std::fs::read_to_string(dir.join(format!("run{slow}/confirm-{k}.jsonl"))).unwrap();
        assert!(text.contains(&format!("\"confirmation\":{k}")), "{text}");
    }
    let junit = std::fs::read_to_string(dir.join(format!("junit{slow}.xml"))).unwrap();
    assert!(junit.contains("<failure type=\"regression\""), "{junit}");
    assert!(junit.contains("mean_e2el"), "{junit}");
    // A failed role: the test's failure wins over the verdict.
    assert_eq!(run(dir, slow + 1, 26, true), 1);
}
