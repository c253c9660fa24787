//! Model paths and GPU isolation through the real chain (`classify | nodecount | launch
//! --local`, role, simserve, bench): the profile maps the config's model name to a path, the
//! server command records the model and `CUDA_VISIBLE_DEVICES` it got before it execs simserve,
//! and the client command records its arguments before it execs bench (docs/profiles.md).

use chain_tests::{bin, workspace_root};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Two aggregated servers, one after another: tiny_tp1_64_16 (1 GPU), tiny_tp2_32_8 (2 GPUs).
const TEST: &str = "aggr-local_agg_tiny";

fn pipe(exe: &Path, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> (Vec<u8>, i32) {
    let mut child = Command::new(exe)
        .args(args)
        .env_remove("PERFLINE_CLUSTER")
        .env_remove("LLM_MODELS_ROOT")
        .env_remove("CUDA_VISIBLE_DEVICES")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.stdout, out.status.code().unwrap_or(-1))
}

/// A profile like ci/clusters/local.yaml whose server and client commands record what they got.
fn profile(dir: &Path) -> PathBuf {
    let server = "sh -c 'printf \"%s|%s\\n\" \"${CUDA_VISIBLE_DEVICES-unset}\" \"$1\" > \"$2\"; shift 2; exec \"$@\"' \
                  _ {model} {job_dir}/seen.{role} \
                  {bin}/simserve {model} --backend pytorch --config {config} --host {host} --port {port}";
    let client = "sh -c 'f=$1; shift; echo \"$*\" >> \"$f\"; exec \"$@\"' _ {job_dir}/client.args \
                  {bin}/bench {client_args}";
    let p = json!({
        "name": "seen",
        "gpus_per_node": 4,
        "models_root": "/models",
        "models": {"tiny_sim": "Tiny-Sim-1"},
        "env": {"PERFLINE_JOB_TIMEOUT_S": "60", "PERFLINE_READY_TIMEOUT_S": "20"},
        "commands": {"server": server, "client": client},
    });
    let path = dir.join("seen.yaml");
    std::fs::write(&path, p.to_string()).unwrap();
    path
}

/// Runs the test with `launch --local` (launch's environment plus `env`); the job directory.
fn run(tmp: &Path, env: &[(&str, &str)]) -> PathBuf {
    for tool in ["role", "simserve", "bench", "parse-metrics"] {
        bin(tool);
    }
    let configs = workspace_root().join("testlists/configs");
    let tests = pipe(&bin("classify"), &[], &[], format!("{TEST}\n").as_bytes()).0;
    let planned =
        pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &[], &tests).0;
    let profile = profile(tmp);
    let jobs = tmp.join("jobs");
    let args = [
        "--local",
        "--cluster",
        profile.to_str().unwrap(),
        "--job-root",
        jobs.to_str().unwrap(),
        "--timeout",
        "90",
    ];
    let (out, code) = pipe(&bin("launch"), &args, env, &planned);
    let job: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((code, job["state"].as_str()), (0, Some("COMPLETED")), "{job}");
    PathBuf::from(job["workdir"].as_str().unwrap())
}

fn seen(dir: &Path, role: &str) -> String {
    std::fs::read_to_string(dir.join(format!("seen.{role}"))).unwrap()
}

#[test]
fn each_server_gets_its_model_path_and_exactly_its_gpus() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run(tmp.path(), &[]);
    assert_eq!(seen(&dir, "SERVER_0"), "0|/models/Tiny-Sim-1\n");
    assert_eq!(seen(&dir, "SERVER_1"), "0,1|/models/Tiny-Sim-1\n");
    // The client requests the path (served_model: path) and tokenizes with it.
    let args = std::fs::read_to_string(dir.join("client.args")).unwrap();
    assert_eq!(args.lines().count(), 2, "{args}");
    for line in args.lines() {
        assert!(
            line.contains(" --model /models/Tiny-Sim-1 --tokenizer /models/Tiny-Sim-1 "),
            "{line}"
        );
    }
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["roles"][1]["model_path"], "/models/Tiny-Sim-1");
    assert_eq!(plan["roles"][1]["cuda_visible_devices"], json!([0, 1]));
}

#[test]
fn servers_get_their_slice_of_the_gpus_the_step_sees() {
    let tmp = tempfile::tempdir().unwrap();
    // As when Slurm hands the job GPUs 4..7 of a node; LLM_MODELS_ROOT moves the models.
    let env = [("CUDA_VISIBLE_DEVICES", "4,5,6,7"), ("LLM_MODELS_ROOT", "/scratch/models")];
    let dir = run(tmp.path(), &env);
    assert_eq!(seen(&dir, "SERVER_0"), "4|/scratch/models/Tiny-Sim-1\n");
    assert_eq!(seen(&dir, "SERVER_1"), "4,5|/scratch/models/Tiny-Sim-1\n");
}
