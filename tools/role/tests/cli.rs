//! role's command line: usage errors, and FINALIZE (what a failing job's trap runs) writing
//! exactly one failed record per client run that has none, naming the first role to fail.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

/// A job dir holding the plan example of the wire types (GEN_0, CTX_0, one client run).
fn job_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.json"), perfline::wire::plan::EXAMPLE).unwrap();
    std::fs::create_dir_all(dir.path().join("coord")).unwrap();
    dir
}

fn role(dir: &Path, name: &str) -> Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("role");
    cmd.arg(name).arg("--plan").arg(dir.join("plan.json")).arg("--job-dir").arg(dir);
    cmd.env_remove("PERFLINE_COORD_DIR").env_remove("PERFLINE_TARGET");
    cmd
}

fn records(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("results/metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn unknown_roles_and_bad_arguments_are_usage_errors() {
    let dir = job_dir();
    role(dir.path(), "LEADER")
        .assert()
        .code(64)
        .stdout("")
        .stderr(predicate::str::starts_with("role: error: unknown role \"LEADER\""));
    role(dir.path(), "GEN_0;x").assert().code(64);
    assert_cmd::cargo_bin_cmd!("role").arg("GEN_0").assert().code(64);
}

#[test]
fn finalize_names_the_first_failed_role_once() {
    let dir = job_dir();
    let coord = dir.path().join("coord");
    // GEN_0 fails first: its marker claims `first.failed` (a hard link, as roles do). CTX_0,
    // stopping because of it, fails later and must not be named, although it sorts first by
    // name: the order comes from the link, never from a sleep, clock or mtime.
    perfline_slurm::coord::mark_failed(
        &coord,
        "GEN_0",
        "GEN_0: server exited with status 1 (log)\nTraceback: boom\n",
    )
    .unwrap();
    perfline_slurm::coord::mark_failed(&coord, "CTX_0", "CTX_0: step exited with status 76\n")
        .unwrap();

    role(dir.path(), "FINALIZE").assert().success().stdout("");
    let got = records(dir.path());
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(r["test_id"], "disagg-e2e-cfg_ctx1_tp1_gen1_tp8");
    assert_eq!(r["client"], "con1_iter8_isl1024_osl1024");
    assert_eq!(r["status"], "failed");
    assert_eq!(r["reasons"], serde_json::json!(["GEN_0: server exited with status 1 (log)"]));
    assert_eq!(r["log_tail"], serde_json::json!(["Traceback: boom"]));
    let status: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results/status.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(status["status"], "failed");

    // Run again (a second failing step's trap): nothing twice.
    role(dir.path(), "FINALIZE").assert().success();
    assert_eq!(records(dir.path()).len(), 1);
}

#[test]
fn finalize_keeps_records_the_benchmark_wrote() {
    let dir = job_dir();
    std::fs::create_dir_all(dir.path().join("results")).unwrap();
    let ok = r#"{"test_id":"disagg-e2e-cfg_ctx1_tp1_gen1_tp8","server":"e2e-cfg_ctx1_tp1_gen1_tp8","client":"con1_iter8_isl1024_osl1024","status":"ok","reasons":[],"metrics":{"mean_ttft":1.0},"units":{},"counts":{}}"#;
    std::fs::write(dir.path().join("results/metrics.jsonl"), format!("{ok}\n")).unwrap();
    role(dir.path(), "FINALIZE").assert().success();
    let got = records(dir.path());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["status"], "ok");
}
