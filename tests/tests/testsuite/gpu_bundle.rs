//! The GPU acceptance run's inputs (ci/gpu: test list, configs, profile) as CI can check them
//! without a GPU: they plan with `nodecount --pack`, and `launch --dry-run` through the
//! profile resolves the model under `LLM_MODELS_ROOT` and gives each server its own GPU.

use chain_tests::{bin, workspace_root};
use std::io::Write;
use std::process::{Command, Stdio};

fn pipe(cmd: &mut Command, input: &[u8]) -> std::process::Output {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn gpu_run_plans_and_isolates_each_server_on_its_gpu() {
    let root = workspace_root();
    let models = tempfile::tempdir().unwrap();
    std::fs::create_dir(models.path().join("llama-1b-random")).unwrap();
    let tests = Command::new(bin("classify")).arg(root.join("ci/gpu/tests.txt")).output().unwrap();
    assert!(tests.status.success(), "{}", String::from_utf8_lossy(&tests.stderr));
    let planned = pipe(
        Command::new(bin("nodecount"))
            .args(["--pack", "--config-dir"])
            .arg(root.join("ci/gpu/configs"))
            .current_dir(&root),
        &tests.stdout,
    );
    assert!(planned.status.success(), "{}", String::from_utf8_lossy(&planned.stderr));
    let jobs = tempfile::tempdir().unwrap();
    let dry = pipe(
        Command::new(bin("launch"))
            .args(["--dry-run", "--cluster"])
            .arg(root.join("ci/gpu/transformers-h200.yaml"))
            .arg("--job-root")
            .arg(jobs.path())
            .env("LLM_MODELS_ROOT", models.path()),
        &planned.stdout,
    );
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let model = models.path().join("llama-1b-random");
    let roles: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .flat_map(|job| {
            let script = job["script"].as_str().unwrap().to_string();
            script
                .lines()
                .filter(|l| l.contains(": model "))
                .map(|l| format!("{} {l}", job["id"].as_str().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    let m = model.display();
    assert_eq!(
        roles,
        [
            format!("aggr-gpu_agg_llama1b # SERVER_0: model {m}; GPUs 0 of each node (CUDA_VISIBLE_DEVICES)"),
            format!("disagg-e2e-gpu_disagg_llama1b # GEN_0: model {m}; GPUs 0 of each node (CUDA_VISIBLE_DEVICES)"),
            format!("disagg-e2e-gpu_disagg_llama1b # CTX_0: model {m}; GPUs 1 of each node (CUDA_VISIBLE_DEVICES)"),
        ]
    );
    // The model must exist on the GPU machine: the profile checks before any job starts.
    let missing = pipe(
        Command::new(bin("launch"))
            .args(["--dry-run", "--cluster"])
            .arg(root.join("ci/gpu/transformers-h200.yaml"))
            .arg("--job-root")
            .arg(jobs.path())
            .env("LLM_MODELS_ROOT", jobs.path()),
        &planned.stdout,
    );
    assert_eq!(missing.status.code(), Some(78), "{}", String::from_utf8_lossy(&missing.stderr));
    assert!(missing.stdout.is_empty());
}
