//! mkprefix's command line: the prefix it adds, the old files, and its errors.

use assert_cmd::Command;
use predicates::prelude::*;
use std::time::Duration;

const ID: &str = "disagg-e2e-cfg_ctx1_tp1_gen1_tp8";

fn mkprefix() -> Command {
    let mut c = assert_cmd::cargo_bin_cmd!("mkprefix");
    c.env_remove("PERFLINE_CLUSTER").timeout(Duration::from_secs(30));
    c
}

fn example() -> String {
    let v: serde_json::Value = serde_json::from_str(perfline::wire::plan::EXAMPLE).unwrap();
    format!("{v}\n")
}

fn profiles() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/clusters")
}

#[test]
fn adds_the_prefix_of_the_test_cluster() {
    let out = mkprefix()
        .args(["--cluster", "local", "--job-root", "/jobs"])
        .env("PERFLINE_CLUSTERS_DIR", profiles())
        .write_stdin(example())
        .assert()
        .success()
        .stderr("")
        .get_output()
        .stdout
        .clone();
    let rec: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let want = [
        "#SBATCH --nodes=3".to_string(),
        "#SBATCH --ntasks=12".into(),
        "#SBATCH --ntasks-per-node=4".into(),
        "#SBATCH --gres=gpu:4".into(),
        "#SBATCH --time=01:00:00".into(),
        format!("#SBATCH --job-name={ID}"),
        format!("#SBATCH --output=/jobs/{ID}/logs/slurm-%j.out"),
        format!("#SBATCH --error=/jobs/{ID}/logs/slurm-%j.out"),
    ];
    assert_eq!(rec["sbatch"], serde_json::json!(want));
    assert_eq!(rec["srun_args"], serde_json::json!([]));
    assert_eq!(rec["workdir"], format!("/jobs/{ID}"));
    assert_eq!(rec["exports"][0], format!("PERFLINE_TEST_ID={ID}"));
    // Everything upstream said is kept.
    assert_eq!(rec["roles"][0]["llm_config"]["tensor_parallel_size"], 8);
    assert_eq!(rec["check"]["ok"], true);
}

/// The example record with a model name the example profile's map knows.
fn deepseek() -> String {
    example().replace("\"model\":\"m\"", "\"model\":\"deepseek_r1_0528_fp4_v2\"")
}

#[test]
fn example_profile_adds_pyxis_flags_and_writes_the_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = mkprefix()
        .arg("--cluster")
        .arg(profiles().join("gb200-pyxis.yaml"))
        .args(["--job-root", "/jobs", "--write"])
        .arg(dir.path())
        .env_remove("LLM_MODELS_ROOT")
        .write_stdin(deepseek())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rec: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(rec["srun_args"][0], "--container-image=nvcr.io/nvidia/tensorrt-llm/release:1.2.0");
    // The profile's model map and GPU isolation, resolved into the record.
    let path = "/lustre/fsw/models/DeepSeek-R1/DeepSeek-R1-0528-FP4-v2/";
    for (i, gpus) in [(0, serde_json::json!([0, 1, 2, 3])), (1, serde_json::json!([0]))] {
        assert_eq!(rec["roles"][i]["model_path"], path);
        assert_eq!(rec["roles"][i]["served_model"], path);
        assert_eq!(rec["roles"][i]["cuda_visible_devices"], gpus);
    }
    let script =
        std::fs::read_to_string(dir.path().join(ID).join("slurm_launch_prefix.sh")).unwrap();
    assert!(script.starts_with("#!/bin/bash\n#SBATCH --nodes=3\n"), "{script}");
    assert!(script.contains("\n#SBATCH --segment=3\n#SBATCH --exclusive\n"), "{script}");
    assert!(script.contains("\n#SBATCH --partition=batch\n#SBATCH --account=my_account\n"));
    assert!(script.ends_with("export UCX_TLS=cuda_copy,cuda_ipc,sm,self,tcp\n"), "{script}");
    let args = std::fs::read_to_string(dir.path().join(ID).join("slurm_srun_args.txt")).unwrap();
    assert_eq!(
        args.lines().next(),
        Some("--container-image=nvcr.io/nvidia/tensorrt-llm/release:1.2.0")
    );
    assert!(args.contains("\n--container-env=HF_TOKEN\n"), "{args}");
}

#[test]
fn bad_lines_are_reported_and_the_stream_goes_on() {
    let input = format!("{{\"id\":\"x\"}}\n{}", example());
    let out = mkprefix()
        .write_stdin(input)
        .assert()
        .code(65)
        .stderr(predicate::str::starts_with(
            "mkprefix: error: -:1: not a planned record: missing field",
        ))
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8_lossy(&out).lines().count(), 1);
}

#[test]
fn unknown_models_are_config_errors_naming_the_config_and_field() {
    mkprefix()
        .arg("--cluster")
        .arg(profiles().join("gb200-pyxis.yaml"))
        .env_remove("LLM_MODELS_ROOT")
        .write_stdin(example())
        .assert()
        .code(78)
        .stdout("")
        .stderr(
            "mkprefix: error: -:1: configs/cfg_ctx1_tp1_gen1_tp8.yaml: model_name \"m\" (GEN_0): not in the models map of cluster profile gb200-pyxis (4 entries): add `m: PATH` under `models:` or use an absolute path\n",
        );
}

#[test]
fn clients_perfline_cannot_run_are_config_errors() {
    let mut v: serde_json::Value = serde_json::from_str(perfline::wire::plan::EXAMPLE).unwrap();
    v["clients"][0]["benchmark_client"] = "locust".into();
    v["clients"][0]["dataset_file"] = "trace".into();
    mkprefix()
        .args(["--cluster", "local", "--job-root", "/jobs"])
        .env("PERFLINE_CLUSTERS_DIR", profiles())
        .env("LLM_MODELS_ROOT", "/nonexistent/models")
        .write_stdin(format!("{v}\n"))
        .assert()
        .code(78)
        .stdout("")
        .stderr(
            "mkprefix: error: -:1: configs/cfg_ctx1_tp1_gen1_tp8.yaml: benchmark.benchmark_client \"locust\" (client con1_iter8_isl1024_osl1024): perfline cannot run this client (cluster profile local runs: agentx); map it to a command under `clients:` in the profile\n",
        );
    v["clients"][0]["benchmark_client"] = "agentx".into();
    let out = mkprefix()
        .args(["--cluster", "local", "--job-root", "/jobs"])
        .env("PERFLINE_CLUSTERS_DIR", profiles())
        .env("LLM_MODELS_ROOT", "/nonexistent/models")
        .write_stdin(format!("{v}\n"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["clients"][0]["dataset_path"], "/nonexistent/models/trace");
}

#[test]
fn profile_errors() {
    mkprefix()
        .args(["--cluster", "nope"])
        .write_stdin(example())
        .assert()
        .code(66)
        .stdout("")
        .stderr(predicate::str::contains("cluster profile \"nope\" not found"));
    mkprefix().args(["--cluster", "a;b"]).write_stdin(example()).assert().code(64);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("small.yaml");
    std::fs::write(&p, "gpus_per_node: 2\n").unwrap();
    mkprefix().arg("--cluster").arg(&p).write_stdin(example()).assert().code(65).stderr(format!(
        "mkprefix: error: -:1: {ID}: plan needs 4 GPUs per node; cluster small has 2\n"
    ));
}

#[test]
fn the_environment_chooses_the_profile() {
    let out = mkprefix()
        .env("PERFLINE_CLUSTER", profiles().join("gb200-pyxis.yaml"))
        .write_stdin(deepseek())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("#SBATCH --account=my_account"));
}
