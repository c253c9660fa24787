//! Hostile input through the whole chain: values are data, never code, and a failing write
//! leaves no half-written attempt.

use chain_tests::{bin, workspace_root};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn pipe(exe: &Path, args: &[&str], input: &[u8]) -> (Vec<u8>, i32) {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.stdout, out.status.code().unwrap_or(-1))
}

/// A model name holding a command, in a job root whose path holds `{model}`: the role runner
/// renders templates in one pass, so the value stays one quoted word and nothing runs.
#[test]
fn a_command_in_a_model_name_never_runs_even_with_placeholders_in_paths() {
    for tool in ["role", "simserve", "bench", "parse-metrics"] {
        bin(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let pwned = tmp.path().join("pwned");
    let config =
        std::fs::read_to_string(workspace_root().join("testlists/configs/local_agg_tiny.yaml"))
            .unwrap()
            .replace(
                "model_name: \"tiny_sim\"",
                &format!(
                    "model_name: \"tiny {{job_dir}} $(touch {}) `touch {}`\"",
                    pwned.display(),
                    pwned.display()
                ),
            );
    let configs = tmp.path().join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::write(configs.join("local_agg_tiny.yaml"), config).unwrap();
    let tests = pipe(&bin("classify"), &[], b"aggr-local_agg_tiny-tiny_tp1_64_16\n").0;
    let planned = pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &tests).0;
    let root = tmp.path().join("{model} {job_dir} jobs");
    let (out, _code) = pipe(
        &bin("launch"),
        &["--cluster", "local", "--local", "--timeout", "60", "--job-root", root.to_str().unwrap()],
        &planned,
    );
    let job: serde_json::Value = serde_json::from_slice(&out).expect("a job record");
    assert!(job["workdir"].as_str().unwrap().contains("{model} {job_dir} jobs"), "{job}");
    assert!(!pwned.exists(), "a value from the config was executed");
}

/// A write that fails halfway (here: a file-size limit, as a full disk would) leaves no
/// attempt behind: never a `job.sh` without its `plan.json`.
#[test]
fn a_failed_write_leaves_no_partial_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let configs = workspace_root().join("testlists/configs");
    let tests = pipe(&bin("classify"), &[], b"aggr-local_agg_tiny-tiny_tp1_64_16\n").0;
    let planned = pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &tests).0;
    let root = tmp.path().join("jobs");
    let planned_file = tmp.path().join("planned.jsonl");
    std::fs::write(&planned_file, &planned).unwrap();
    // 2 blocks of 512 bytes: every file over 1 KiB fails with EFBIG (SIGXFSZ ignored).
    let script = format!(
        "trap '' XFSZ; ulimit -f 2; exec {} --cluster local --job-root {} < {}",
        bin("launch").display(),
        root.display(),
        planned_file.display()
    );
    let out = Command::new("/bin/bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(code, Some(73) | Some(74)), "exit {code:?}: {stderr}");
    assert_eq!(out.stdout, b"", "no job record for a job that was not written");
    let test_dir = root.join("aggr-local_agg_tiny-tiny_tp1_64_16");
    let left: Vec<String> = std::fs::read_dir(&test_dir)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<String>::new(), "nothing of the attempt is left: {left:?}");
}
