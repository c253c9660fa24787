//! GPU telemetry through a whole job (`launch --local`): with a fake `nvidia-smi` on PATH the
//! server role samples its GPUs, BENCHMARK writes `results/gpu.<server>.<client>.csv` and adds
//! the summary metrics to the record; without any `nvidia-smi` nothing is sampled and the job
//! passes as before.

use chain_tests::{bin, workspace_root};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TEST: &str = "aggr-local_agg_tiny-tiny_tp1_64_16";

/// Two GPUs at 50 % / 70 %, 1000 / 800 MiB, 100 W each, whatever the time.
const FAKE: &str = r#"#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
echo "2026/11/30 01:40:00.000, 0, GPU-fake-0, Fake GPU, 50, 1000, 80000, 100.00, 40"
echo "2026/11/30 01:40:00.000, 1, GPU-fake-1, Fake GPU, 70, 800, 80000, 100.00, 41"
"#;

/// Runs the test locally with PATH = `path`; the job record and the job's metric records.
fn run(tmp: &Path, path: &str) -> (Value, Vec<Value>) {
    for tool in ["role", "simserve", "bench", "parse-metrics"] {
        bin(tool);
    }
    let configs = workspace_root().join("testlists/configs");
    let tests = pipe(&bin("classify"), &[], format!("{TEST}\n").as_bytes(), path);
    let planned =
        pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &tests, path);
    let profile = std::fs::read_to_string(workspace_root().join("ci/clusters/local.yaml")).unwrap()
        + "env:\n  PERFLINE_JOB_TIMEOUT_S: \"60\"\n  PERFLINE_READY_TIMEOUT_S: \"20\"\n  \
           PERFLINE_GPU_SAMPLE_MS: \"100\"\n";
    let profile_path = tmp.join("profile.yaml");
    std::fs::write(&profile_path, profile).unwrap();
    let jobs = tmp.join("jobs");
    let args = [
        "--cluster",
        profile_path.to_str().unwrap(),
        "--job-root",
        jobs.to_str().unwrap(),
        "--timeout",
        "90",
        "--local",
    ];
    let out = pipe(&bin("launch"), &args, &planned, path);
    let job: Value = serde_json::from_slice(&out).unwrap();
    let dir = PathBuf::from(job["workdir"].as_str().unwrap());
    let records = std::fs::read_to_string(dir.join("results/metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (job, records)
}

fn pipe(exe: &Path, args: &[&str], input: &[u8], path: &str) -> Vec<u8> {
    let mut child = Command::new(exe)
        .args(args)
        .env("PATH", path)
        .env_remove("PERFLINE_NVIDIA_SMI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{} failed: {:?}", exe.display(), out.status);
    out.stdout
}

/// PATH without any directory holding an `nvidia-smi` (the host may have real GPUs).
fn path_without_nvidia_smi() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> =
        std::env::split_paths(&path).filter(|d| !d.join("nvidia-smi").exists()).collect();
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

fn gpu_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gpu"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_fake_nvidia_smi_is_sampled_and_summarised() {
    let tmp = tempfile::tempdir().unwrap();
    let fake_dir = tmp.path().join("fakebin");
    std::fs::create_dir(&fake_dir).unwrap();
    let fake = fake_dir.join("nvidia-smi");
    std::fs::write(&fake, FAKE).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", fake_dir.display(), path_without_nvidia_smi());
    let (job, records) = run(tmp.path(), &path);
    assert_eq!(job["state"], "COMPLETED", "{job}");
    let dir = PathBuf::from(job["workdir"].as_str().unwrap());

    // Sampled with the standard query, exactly the server's GPU (GPU isolation: the tp1
    // server's CUDA_VISIBLE_DEVICES is 0).
    let calls = std::fs::read_to_string(fake_dir.join("calls")).unwrap();
    assert_eq!(
        calls.lines().next().unwrap(),
        "--query-gpu=timestamp,index,uuid,name,utilization.gpu,memory.used,memory.total,\
         power.draw,temperature.gpu --format=csv,noheader,nounits -i 0"
    );
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["status"], "ok", "{r}");
    let window =
        format!("gpu.{}.{}.csv", r["server"].as_str().unwrap(), r["client"].as_str().unwrap());
    let files = gpu_files(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.contains(&window), "{files:?}");
    assert!(files.iter().any(|f| f.starts_with("gpu-samples.SERVER_0.")), "{files:?}");
    let csv = std::fs::read_to_string(dir.join("results").join(&window)).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "unix_ms,host,role,timestamp,index,uuid,name,utilization.gpu [%],memory.used [MiB],\
         memory.total [MiB],power.draw [W],temperature.gpu [C]"
    );
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty() && rows.len().is_multiple_of(2), "{csv}");
    assert!(
        rows[0].ends_with(
            ",SERVER_0,2026/11/30 01:40:00.000,0,GPU-fake-0,Fake GPU,50,1000,80000,100.00,40"
        ),
        "{csv}"
    );

    let m = &r["metrics"];
    let u = &r["units"];
    assert_eq!(m["gpu_util_mean"], 60.0);
    assert_eq!(m["gpu_util_max"], 70.0);
    assert_eq!(m["gpu_mem_used_max"], 1000.0);
    // Two GPUs of 100 W each.
    assert_eq!(m["gpu_power_mean"], 200.0);
    let duration = r["counts"]["duration_s"].as_f64().unwrap();
    let tokens = r["counts"]["total_output_tokens"].as_f64().unwrap();
    assert_eq!(m["gpu_energy_per_token"].as_f64().unwrap(), 200.0 * duration / tokens);
    for (metric, unit) in [
        ("gpu_util_mean", "%"),
        ("gpu_util_max", "%"),
        ("gpu_mem_used_max", "MiB"),
        ("gpu_power_mean", "W"),
        ("gpu_energy_per_token", "J/token"),
    ] {
        assert_eq!(u[metric], unit, "{r}");
    }
}

#[test]
fn without_nvidia_smi_nothing_is_sampled_and_the_job_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let (job, records) = run(tmp.path(), &path_without_nvidia_smi());
    assert_eq!(job["state"], "COMPLETED", "{job}");
    let dir = PathBuf::from(job["workdir"].as_str().unwrap());
    assert_eq!(gpu_files(&dir), Vec::<String>::new());
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["status"], "ok");
    let metrics = records[0]["metrics"].as_object().unwrap();
    assert!(metrics.keys().all(|k| !k.starts_with("gpu_")), "{metrics:?}");
    assert!(metrics.contains_key("seq_throughput"), "{metrics:?}");
}
