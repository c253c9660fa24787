//! launch on the real Slurm test cluster (`cargo xtask cluster up`: nodes n1..n4, 4 fake GPUs
//! each). These tests fail, not skip, when the cluster is down. Jobs run one at a time so each
//! test's job starts at once; every wait has a deadline.

use crate::common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

static CLUSTER: Mutex<()> = Mutex::new(());
const DEADLINE: Duration = Duration::from_secs(45);

/// `SLURM_CONF` of the test cluster (its default directory, or `PERFLINE_SLURM_DIR`).
fn slurm_conf() -> PathBuf {
    let dir = std::env::var_os("PERFLINE_SLURM_DIR")
        .map_or_else(|| PathBuf::from("/var/tmp/perfline-slurm"), PathBuf::from);
    dir.join("slurm.conf")
}

fn require_cluster() {
    let ok = std::process::Command::new("sinfo")
        .env("SLURM_CONF", slurm_conf())
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| {
            let states = String::from_utf8_lossy(&o.stdout);
            o.status.success() && ["idle", "mix", "alloc"].iter().any(|s| states.contains(s))
        });
    assert!(
        ok,
        "needs the Slurm test cluster, which is not running: run `cargo xtask cluster up` \
         (`cargo xtask ci` sets it up)"
    );
}

fn profile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/clusters/local.yaml")
}

/// Runs `launch --wait` on the test cluster; returns (exit code, record, stderr).
fn launch_wait(
    record: serde_json::Value,
    template: &str,
    extra: &[&str],
) -> (i32, serde_json::Value, String, tempfile::TempDir) {
    require_cluster();
    // Job directories must be visible to slurmd (same host here) and outlive the test's asserts.
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::cargo_bin_cmd!("launch")
        .env("SLURM_CONF", slurm_conf())
        .env_remove("PERFLINE_CLUSTER")
        .arg("--cluster")
        .arg(profile())
        .args([
            "--wait",
            "--poll",
            "0.5",
            "--timeout",
            "40",
            "--role-command",
            template,
            "--job-root",
        ])
        .arg(dir.path())
        .args(extra)
        .write_stdin(lines(&[record]))
        .timeout(DEADLINE)
        .output()
        .unwrap();
    let recs = records(&out.stdout);
    let rec = recs.into_iter().next().unwrap_or_default();
    (out.status.code().unwrap_or(-1), rec, String::from_utf8_lossy(&out.stderr).into_owned(), dir)
}

/// Node names that each role's tasks wrote into results/ROLE.PROCID.
fn placements(workdir: &Path, role: &str) -> Vec<String> {
    let mut found: Vec<(u32, String)> = std::fs::read_dir(workdir.join("results"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let procid = name.strip_prefix(&format!("{role}."))?.parse().ok()?;
            let node = std::fs::read_to_string(workdir.join("results").join(&name)).ok()?;
            Some((procid, node.trim().to_string()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

fn distinct(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

#[test]
fn disagg_steps_land_on_disjoint_node_slices() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let (code, rec, stderr, _dir) = launch_wait(disagg(), WHERE_TEMPLATE, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rec["state"], "COMPLETED");
    assert_eq!(rec["exit_code"], 0);
    assert!(rec["job_id"].as_str().is_some_and(|j| j.parse::<u64>().is_ok()), "{rec}");
    let workdir = PathBuf::from(rec["workdir"].as_str().unwrap());
    let gen = placements(&workdir, "GEN_0");
    let ctx = placements(&workdir, "CTX_0");
    assert_eq!(gen.len(), 8, "{gen:?}");
    assert_eq!(ctx.len(), 1, "{ctx:?}");
    // 4 tasks per node: ranks 0-3 on the first node of the slice, 4-7 on the second.
    assert_eq!(distinct(&gen[..4]).len(), 1, "{gen:?}");
    assert_eq!(distinct(&gen[4..]).len(), 1, "{gen:?}");
    assert_eq!(distinct(&gen).len(), 2, "{gen:?}");
    assert!(!distinct(&gen).contains(&ctx[0]), "CTX_0 shares a node with GEN_0: {gen:?} {ctx:?}");
    assert_eq!(placements(&workdir, "DISAGG_SERVER").len(), 1);
    assert_eq!(placements(&workdir, "BENCHMARK").len(), 1);
    assert!(workdir.join("coord/benchmark.done").exists());
    let job_id = rec["job_id"].as_str().unwrap();
    assert!(workdir.join(format!("logs/slurm-{job_id}.out")).exists());
}

#[test]
fn aggregated_server_spans_two_nodes() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let plan = aggregated("aggr-two-nodes", &[(2, 4)]);
    let (code, rec, stderr, _dir) = launch_wait(plan, WHERE_TEMPLATE, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rec["state"], "COMPLETED");
    let workdir = PathBuf::from(rec["workdir"].as_str().unwrap());
    let server = placements(&workdir, "SERVER_0");
    assert_eq!(server.len(), 8, "{server:?}");
    assert_eq!(distinct(&server).len(), 2, "{server:?}");
    assert!(workdir.join("coord/SERVER_0.done").exists());
}

#[test]
fn failing_step_cancels_the_job() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let template = "if [ {role} = CTX_0 ]; then echo boom; exit 3; fi; sleep 60";
    let (code, rec, stderr, _dir) = launch_wait(disagg(), template, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(rec["state"], "FAILED", "{rec}");
    assert!(stderr.contains("ended FAILED"), "{stderr}");
    let workdir = PathBuf::from(rec["workdir"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(workdir.join("coord/CTX_0.failed")).unwrap(),
        "CTX_0: step exited with status 3\n"
    );
    let job_id = rec["job_id"].as_str().unwrap();
    let log = std::fs::read_to_string(workdir.join(format!("logs/slurm-{job_id}.out"))).unwrap();
    assert!(log.contains("perfline: step CTX_0 failed with status 3"), "{log}");
    assert!(log.contains("boom"), "{log}");
}

#[test]
fn node_list_pins_the_allocation() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let (code, rec, stderr, _dir) = launch_wait(disagg(), WHERE_TEMPLATE, &["--nodes", "n2,n3,n4"]);
    assert_eq!(code, 0, "{stderr}");
    let workdir = PathBuf::from(rec["workdir"].as_str().unwrap());
    let mut used = distinct(&placements(&workdir, "GEN_0"));
    used.extend(placements(&workdir, "CTX_0"));
    assert_eq!(used, distinct(&["n2".into(), "n3".into(), "n4".into()]));
}
