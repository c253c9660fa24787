//! Re-runs: every launch of a test is its own attempt (`JOB_ROOT/ID/ATTEMPT`). Fail then
//! succeed, succeed then fail, succeed twice — on `launch --local` and on the Slurm test
//! cluster: each attempt keeps its own records, nothing is lost, nothing stale is reported,
//! and the store gets one run per attempt (failed cases without numbers).

use chain_tests::{bin, workspace_root};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TEST: &str = "aggr-local_agg_tiny-tiny_tp1_64_16";
const SLURM_CONF: &str = "/var/tmp/perfline-slurm/slurm.conf";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Local,
    Slurm,
}

struct Bench {
    tmp: tempfile::TempDir,
    planned: Vec<u8>,
    mode: Mode,
}

impl Bench {
    fn new(mode: Mode) -> Bench {
        if mode == Mode::Slurm {
            let ok = Command::new("sinfo")
                .env("SLURM_CONF", SLURM_CONF)
                .args(["-h", "-o", "%t"])
                .output()
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
            assert!(
                ok,
                "needs the Slurm test cluster, which is not running: run `cargo xtask cluster up` \
         (`cargo xtask ci` sets it up)"
            );
        }
        for tool in ["role", "simserve", "bench", "parse-metrics"] {
            bin(tool);
        }
        let tmp = tempfile::tempdir().unwrap();
        let configs = workspace_root().join("testlists/configs");
        let tests = pipe(&bin("classify"), &[], format!("{TEST}\n").as_bytes()).0;
        let planned =
            pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &tests).0;
        Bench { tmp, planned, mode }
    }

    fn jobs(&self) -> PathBuf {
        self.tmp.path().join("jobs")
    }

    /// Launches the test once (`fail`: its server crashes at start); returns the job record
    /// and launch's exit code.
    fn launch(&self, fail: bool) -> (Value, i32) {
        let mut profile = std::fs::read_to_string(workspace_root().join("ci/clusters/local.yaml"))
            .unwrap()
            + "env:\n  PERFLINE_JOB_TIMEOUT_S: \"60\"\n  PERFLINE_READY_TIMEOUT_S: \"20\"\n";
        if fail {
            profile += "  SIMSERVE_FAIL_AT_START: \"1\"\n";
        }
        let path = self.tmp.path().join(if fail { "fail.yaml" } else { "ok.yaml" });
        std::fs::write(&path, profile).unwrap();
        let mut args = vec!["--cluster", path.to_str().unwrap()];
        let jobs = self.jobs();
        args.extend(["--job-root", jobs.to_str().unwrap(), "--timeout", "90"]);
        args.extend(match self.mode {
            Mode::Local => ["--local"].as_slice(),
            Mode::Slurm => ["--wait", "--poll", "0.2"].as_slice(),
        });
        let (out, code) = pipe(&bin("launch"), &args, &self.planned);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "one job record: {text}");
        (serde_json::from_str(text.trim()).unwrap(), code)
    }
}

fn pipe(exe: &Path, args: &[&str], input: &[u8]) -> (Vec<u8>, i32) {
    let mut child = Command::new(exe)
        .args(args)
        .env("SLURM_CONF", SLURM_CONF)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.stdout, out.status.code().unwrap_or(-1))
}

fn records(workdir: &Path) -> Vec<Value> {
    std::fs::read_to_string(workdir.join("results/metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn workdir(job: &Value) -> PathBuf {
    PathBuf::from(job["workdir"].as_str().expect("workdir"))
}

/// Checks one attempt: its directory, its records (all `ok` or all `failed`), each carrying
/// the attempt id, and the status file agreeing.
fn check_attempt(job: &Value, code: i32, ok: bool) -> String {
    let attempt = job["attempt"].as_str().expect("the job record names its attempt").to_string();
    let dir = workdir(job);
    assert_eq!(dir.file_name().unwrap().to_str().unwrap(), attempt);
    assert_eq!(code == 0, ok, "launch exit {code} for {job}");
    let recs = records(&dir);
    assert_eq!(recs.len(), 1, "one record per client run: {recs:?}");
    for r in &recs {
        assert_eq!(r["attempt"], attempt.as_str(), "{r}");
        assert_eq!(r["status"], if ok { "ok" } else { "failed" }, "{r}");
        if ok {
            assert!(r["metrics"]["seq_throughput"].as_f64().unwrap() > 0.0, "{r}");
        } else {
            assert_eq!(r["metrics"], serde_json::json!({}), "a failed run has no numbers: {r}");
        }
    }
    // status.json (the whole job), or status.SERVER_i.json per aggregated server.
    let statuses: Vec<Value> = std::fs::read_dir(dir.join("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("status"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    assert!(!statuses.is_empty(), "no status file in {}", dir.display());
    let want = if ok { "ok" } else { "failed" };
    assert!(statuses.iter().any(|s| s["status"] == want), "{statuses:?}");
    if ok {
        assert!(statuses.iter().all(|s| s["status"] == "ok"), "{statuses:?}");
    }
    attempt
}

/// Uploads an attempt's records into `db`; returns upload's status word.
fn upload(db: &Path, job: &Value) -> String {
    let input = std::fs::read(workdir(job).join("results/metrics.jsonl")).unwrap();
    let store = format!("sqlite:{}", db.display());
    let (out, code) = pipe(&bin("upload"), &[&store, "--no-gather"], &input);
    assert_eq!(code, 0, "upload failed");
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["status"].as_str().unwrap().to_string()
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn scenario(mode: Mode, first_ok: bool, second_ok: bool) {
    let b = Bench::new(mode);
    let (j1, c1) = b.launch(!first_ok);
    let a1 = check_attempt(&j1, c1, first_ok);
    // An error line left in the first attempt's log must not fail the second.
    let old_log = workdir(&j1).join("logs");
    for entry in std::fs::read_dir(&old_log).unwrap() {
        let p = entry.unwrap().path();
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        writeln!(f, "RuntimeError: left over from an earlier run").unwrap();
    }
    let (j2, c2) = b.launch(!second_ok);
    let a2 = check_attempt(&j2, c2, second_ok);
    assert_ne!(a1, a2);
    assert!(a1 < a2, "attempt ids sort by launch time: {a1} {a2}");
    // The first attempt is untouched; `latest` names the second.
    check_attempt(&j1, c1, first_ok);
    let test_dir = b.jobs().join(TEST);
    assert_eq!(std::fs::read_link(test_dir.join("latest")).unwrap(), PathBuf::from(&a2));
    let mut listed: Vec<String> = std::fs::read_dir(&test_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, [a1.clone(), a2.clone(), "latest".into()]);

    let db = b.tmp.path().join("perf.db");
    assert_eq!(upload(&db, &j1), "uploaded");
    assert_eq!(upload(&db, &j2), "uploaded", "a re-run is a new run");
    assert_eq!(upload(&db, &j1), "already-present", "the same attempt again adds nothing");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM runs"), 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM run_cases"), 2);
    let ok_runs = [first_ok, second_ok].iter().filter(|o| **o).count() as i64;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM run_cases WHERE status = 'ok'"), ok_runs);
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT run_id) FROM perf_result"),
        ok_runs,
        "failed runs are never stored as numbers"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM perf_result WHERE value = 0"), 0);
}

#[test]
fn local_fail_then_succeed() {
    scenario(Mode::Local, false, true);
}

#[test]
fn local_succeed_then_fail() {
    scenario(Mode::Local, true, false);
}

#[test]
fn local_succeed_twice() {
    scenario(Mode::Local, true, true);
}

#[test]
fn slurm_fail_then_succeed() {
    scenario(Mode::Slurm, false, true);
}

#[test]
fn slurm_succeed_then_fail() {
    scenario(Mode::Slurm, true, false);
}

#[test]
fn slurm_succeed_twice() {
    scenario(Mode::Slurm, true, true);
}
