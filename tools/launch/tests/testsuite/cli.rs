//! launch's command line: dry-run rendering, errors, quoting, secrets, and the local executor.

use crate::common::*;
use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;
use std::time::Duration;

fn launch() -> Command {
    let mut c = assert_cmd::cargo_bin_cmd!("launch");
    c.env_remove("PERFLINE_CLUSTER").timeout(Duration::from_secs(60));
    c
}

fn script_of(record: &serde_json::Value) -> String {
    record["script"].as_str().unwrap().to_string()
}

fn roles(record: &serde_json::Value) -> Vec<String> {
    record["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["role"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dry_run_prints_one_job_per_test_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("jobs");
    let out = launch()
        .args(["--dry-run", "--job-root"])
        .arg(&root)
        .write_stdin(lines(&[disagg()]))
        .assert()
        .success()
        .stderr("")
        .get_output()
        .stdout
        .clone();
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["id"], "disagg-e2e-cfg_ctx1_tp1_gen1_tp8");
    assert_eq!(r["job_id"], serde_json::Value::Null);
    let attempt = r["attempt"].as_str().expect("an attempt id");
    let test_dir = root.join("disagg-e2e-cfg_ctx1_tp1_gen1_tp8");
    assert_eq!(r["workdir"], test_dir.join(attempt).to_str().unwrap());
    assert_eq!(roles(r), ["GEN_0", "CTX_0", "DISAGG_SERVER", "BENCHMARK"]);
    let script = script_of(r);
    assert!(
        script.starts_with("#!/bin/bash\n#SBATCH --nodes=3\n#SBATCH --ntasks=12\n"),
        "{script}"
    );
    assert!(script.contains(
        "perfline_background GEN_0 GEN_0.log benchmark.done --kill-on-bad-exit=1 --nodes=2 --ntasks=8 --ntasks-per-node=4 --nodelist=\"$(perfline_slice 0 2)\" bash -c "
    ));
    assert!(script.contains("--nodelist=\"$(perfline_slice 2 1)\""));
    assert!(script.contains(
        "perfline_foreground BENCHMARK BENCHMARK.log --overlap --kill-on-bad-exit=1 --nodes=1 --ntasks=1 --ntasks-per-node=1 bash -c "
    ));
    assert!(!root.exists(), "dry-run created {}", root.display());
}

#[test]
fn aggregated_servers_run_one_after_another() {
    let plan = aggregated("aggr-cfg", &[(1, 4), (1, 2)]);
    let out = launch()
        .args(["--dry-run", "--job-root", "/jobs"])
        .write_stdin(lines(&[plan]))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r = &records(&out)[0];
    assert_eq!(roles(r), ["SERVER_0", "BENCHMARK", "SERVER_1", "BENCHMARK"]);
    let script = script_of(r);
    let order: Vec<usize> = [
        "perfline_background SERVER_0 SERVER_0.log SERVER_0.done",
        "export PERFLINE_TARGET=SERVER_0\nperfline_foreground BENCHMARK BENCHMARK.SERVER_0.log",
        "touch \"$PERFLINE_COORD_DIR\"/SERVER_0.done\nperfline_drain 60",
        "perfline_background SERVER_1 SERVER_1.log SERVER_1.done",
        "touch \"$PERFLINE_COORD_DIR\"/SERVER_1.done\ntouch \"$PERFLINE_COORD_DIR\"/benchmark.done",
    ]
    .iter()
    .map(|s| script.find(s).unwrap_or_else(|| panic!("{s:?} missing in\n{script}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(script.contains("#SBATCH --time=00:10:00\n"));
}

#[test]
fn bad_records_are_reported_and_the_stream_goes_on() {
    let mut bad = disagg();
    bad["id"] = "x;rm -rf /".into();
    let input =
        format!("not json\n{}{}", lines(&[bad]), lines(&[aggregated("aggr-ok", &[(1, 1)])]));
    let out = launch()
        .arg("--dry-run")
        .write_stdin(input)
        .assert()
        .code(65)
        .stderr(predicate::str::starts_with("launch: error: -:1: invalid record"))
        .stderr(predicate::str::contains(
            "launch: error: -:2: x;rm -rf /: id contains character ';'",
        ))
        .get_output()
        .stdout
        .clone();
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["id"], "aggr-ok");
}

#[test]
fn short_node_list_is_an_error_before_submission() {
    launch()
        .args(["--nodes", "n1,n2", "--job-root", "/nonexistent/never-created"])
        .write_stdin(lines(&[disagg()]))
        .assert()
        .code(64)
        .stdout("")
        .stderr(
            "launch: error: -:1: disagg-e2e-cfg_ctx1_tp1_gen1_tp8: --nodes lists 2 nodes; the plan needs 3\n",
        );
}

#[test]
fn node_list_pins_the_job() {
    let out = launch()
        .args(["--dry-run", "--nodes", "n4,n3,n2"])
        .write_stdin(lines(&[disagg()]))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(script_of(&records(&out)[0]).contains("\n#SBATCH --nodelist=n4,n3,n2\n"));
}

#[test]
fn bad_profiles_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("typo.yaml");
    std::fs::write(&p, "partiton: batch\n").unwrap();
    launch()
        .arg("--dry-run")
        .arg("--cluster")
        .arg(&p)
        .write_stdin(lines(&[disagg()]))
        .assert()
        .code(78)
        .stderr(predicate::str::contains("unknown field `partiton`"));
    launch()
        .args(["--dry-run", "--cluster", "no-such-cluster"])
        .write_stdin(lines(&[disagg()]))
        .assert()
        .code(66)
        .stderr(predicate::str::starts_with(
            "launch: error: cluster profile \"no-such-cluster\" not found",
        ));
}

/// Fake Slurm commands: srun drops its options and runs the command, so job.sh runs here.
fn fake_slurm(dir: &Path) -> String {
    let bin = dir.join("fake-slurm");
    std::fs::create_dir_all(&bin).unwrap();
    let scripts = [
        ("srun", "#!/bin/bash\nwhile [ $# -gt 0 ] && [ \"${1#-}\" != \"$1\" ]; do shift; done\nexec \"$@\"\n"),
        ("scontrol", "#!/bin/bash\nprintf 'n1\\nn2\\nn3\\nn4\\n'\n"),
        ("scancel", "#!/bin/bash\nexit 0\n"),
    ];
    for (name, text) in scripts {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::process::Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    }
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn hostile_config_values_never_execute_and_the_script_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    let pwned = dir.path().join("pwned");
    let p = pwned.display();
    let profile = dir.path().join("evil.yaml");
    // YAML single quotes: every value is literal text.
    std::fs::write(
        &profile,
        format!(
            "account: '$(touch {p})'\nsbatch_extra: ['--comment=`touch {p}`']\nsrun_extra: ['--x=$(touch {p})']\n\
             env:\n  EVIL_A: '$(touch {p})'\n  EVIL_B: \"`touch {p}` it's \\\"q\\\"\\nnext line\"\n\
             container: {{image: 'img$(touch {p})', mounts: ['/a:/b''$(touch {p})']}}\n"
        ),
    )
    .unwrap();
    let out = launch()
        .args(["--dry-run", "--role-command", "echo {role} ok"])
        .arg("--cluster")
        .arg(&profile)
        .arg("--job-root")
        .arg(dir.path().join("jobs"))
        .write_stdin(lines(&[disagg()]))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let script = script_of(&records(&out)[0]);
    let file = dir.path().join("job.sh");
    std::fs::write(&file, &script).unwrap();
    let n = std::process::Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(n.success(), "bash -n failed:\n{script}");
    let sc = std::process::Command::new("shellcheck").arg(&file).output().unwrap();
    assert!(sc.status.success(), "{}", String::from_utf8_lossy(&sc.stdout));
    // Run it for real (Slurm faked): the exports, the srun array and the steps all expand.
    let run = std::process::Command::new("bash")
        .arg(&file)
        .env("PATH", fake_slurm(dir.path()))
        .env("SLURM_JOB_NODELIST", "n[1-4]")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(!pwned.exists(), "a config value was executed");
}

#[test]
fn job_script_runs_its_steps_and_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_slurm(dir.path());
    let render = |template: &str| {
        let out = launch()
            .args(["--dry-run", "--role-command", template, "--job-root"])
            .arg(dir.path().join("jobs"))
            .write_stdin(lines(&[disagg()]))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let rec = records(&out).remove(0);
        let file = dir.path().join("job.sh");
        std::fs::write(&file, script_of(&rec)).unwrap();
        let run = std::process::Command::new("bash")
            .arg(&file)
            .env("PATH", &path)
            .env("SLURM_JOB_NODELIST", "n[1-4]")
            .env_remove("SLURM_JOB_ID")
            .env("SLURMD_NODENAME", "fake")
            .env("SLURM_PROCID", "0")
            .output()
            .unwrap();
        (rec["workdir"].as_str().unwrap().to_string(), run)
    };
    let (workdir, run) = render(WHERE_TEMPLATE);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut results: Vec<String> = std::fs::read_dir(Path::new(&workdir).join("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    results.sort();
    assert_eq!(results, ["BENCHMARK.0", "CTX_0.0", "DISAGG_SERVER.0", "GEN_0.0"]);
    assert!(Path::new(&workdir).join("coord/benchmark.done").exists());

    let (workdir, run) = render("if [ {role} = GEN_0 ]; then echo dying; exit 7; fi; sleep 20");
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("perfline: step GEN_0 failed with status 7"), "{stderr}");
    assert!(stderr.contains("dying"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(Path::new(&workdir).join("coord/GEN_0.failed")).unwrap(),
        "GEN_0: step exited with status 7\n"
    );
}

#[test]
fn local_runs_every_role_and_per_task() {
    let dir = tempfile::tempdir().unwrap();
    let out = launch()
        .args(["--local", "--per-task", "--role-command", WHERE_TEMPLATE, "--job-root"])
        .arg(dir.path())
        .write_stdin(lines(&[disagg()]))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r = &records(&out)[0];
    assert_eq!(r["state"], "COMPLETED");
    assert_eq!(r["exit_code"], 0);
    let jobdir = Path::new(r["workdir"].as_str().unwrap());
    for f in ["job.sh", "plan.json", "profile.json", "coord/benchmark.done", "logs/GEN_0.log"] {
        assert!(jobdir.join(f).exists(), "{f} missing");
    }
    let gen: Vec<_> = (0..8).map(|i| jobdir.join(format!("results/GEN_0.{i}"))).collect();
    assert!(gen.iter().all(|p| std::fs::read_to_string(p).unwrap() == "localhost\n"));
    assert!(!jobdir.join("results/GEN_0.8").exists());
    // plan.json: the input record with the profile's resolutions (default profile: the model
    // name as is, every server isolated on its GPUs).
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(jobdir.join("plan.json")).unwrap()).unwrap();
    let mut want = disagg();
    for (role, gpus) in [(0, serde_json::json!([0, 1, 2, 3])), (1, serde_json::json!([0]))] {
        want["roles"][role]["model_path"] = "m".into();
        want["roles"][role]["served_model"] = "m".into();
        want["roles"][role]["cuda_visible_devices"] = gpus;
    }
    assert_eq!(plan, want);
}

#[test]
fn unknown_models_stop_the_launch_naming_the_config_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("models.yaml");
    std::fs::write(&p, "models_root: /lustre/models\nmodels: {other: Other-1}\n").unwrap();
    let root = dir.path().join("jobs");
    launch()
        .arg("--dry-run")
        .arg("--cluster")
        .arg(&p)
        .write_stdin(lines(&[disagg()]))
        .assert()
        .code(78)
        .stdout("")
        .stderr(
            "launch: error: -:1: configs/cfg_ctx1_tp1_gen1_tp8.yaml: model_name \"m\" (GEN_0): not in the models map of cluster profile models (1 entries): add `m: PATH` under `models:` or use an absolute path\n",
        );
    // Nothing is written or submitted (no sbatch here either: it would be exit 69).
    launch()
        .arg("--cluster")
        .arg(&p)
        .arg("--job-root")
        .arg(&root)
        .env("PATH", "/nonexistent")
        .write_stdin(lines(&[disagg()]))
        .assert()
        .code(78);
    assert!(!root.exists());
}

/// The worked example with an alternative client and a trace name.
fn with_client(client: &str, trace: &str) -> serde_json::Value {
    let mut v = disagg();
    v["clients"][0]["benchmark_client"] = client.into();
    v["clients"][0]["dataset_file"] = trace.into();
    v
}

#[test]
fn clients_perfline_cannot_run_stop_dry_runs_local_runs_and_submissions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trace.jsonl"), "").unwrap();
    let p = dir.path().join("p.yaml");
    std::fs::write(&p, format!("models_root: {}\n", dir.path().display())).unwrap();
    let root = dir.path().join("jobs");
    let expected = "launch: error: -:1: configs/cfg_ctx1_tp1_gen1_tp8.yaml: benchmark.benchmark_client \"locust\" (client con1_iter8_isl1024_osl1024): perfline cannot run this client (cluster profile p runs: agentx); map it to a command under `clients:` in the profile\n";
    for mode in [&["--dry-run"][..], &["--local"], &[]] {
        launch()
            .args(mode)
            .arg("--cluster")
            .arg(&p)
            .arg("--job-root")
            .arg(&root)
            .env("PATH", "/nonexistent")
            .write_stdin(lines(&[with_client("locust", "trace")]))
            .assert()
            .code(78)
            .stdout("")
            .stderr(expected);
    }
    assert!(!root.exists(), "nothing written");
    // agentx is known; its trace must resolve (NAME or NAME.jsonl under models_root).
    let out = launch()
        .args(["--dry-run", "--cluster"])
        .arg(&p)
        .write_stdin(lines(&[with_client("agentx", "trace")]))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(records(&out)[0]["id"], "disagg-e2e-cfg_ctx1_tp1_gen1_tp8");
    launch()
        .args(["--dry-run", "--cluster"])
        .arg(&p)
        .write_stdin(lines(&[with_client("agentx", "missing_trace")]))
        .assert()
        .code(78)
        .stdout("")
        .stderr(predicate::str::contains(
            "benchmark.dataset_file \"missing_trace\" (client con1_iter8_isl1024_osl1024, benchmark_client agentx): no such trace: ",
        ));
}

#[test]
fn a_trace_missing_where_the_clients_would_read_it_stops_a_local_run() {
    // No models root: on a cluster the trace name is the nodes' business (the dry run renders
    // it as written); with --local the clients run here, so it must exist here.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("jobs");
    let input = lines(&[with_client("agentx", "semianalysis_trace")]);
    launch()
        .current_dir(dir.path())
        .env_remove("LLM_MODELS_ROOT")
        .arg("--dry-run")
        .write_stdin(input.clone())
        .assert()
        .success();
    launch()
        .current_dir(dir.path())
        .env_remove("LLM_MODELS_ROOT")
        .args(["--local", "--job-root"])
        .arg(&root)
        .write_stdin(input.clone())
        .assert()
        .code(78)
        .stdout("")
        .stderr(
            "launch: error: -:1: configs/cfg_ctx1_tp1_gen1_tp8.yaml: benchmark.dataset_file \"semianalysis_trace\" (client con1_iter8_isl1024_osl1024, benchmark_client agentx): no such trace: semianalysis_trace or semianalysis_trace.jsonl (cluster profile default has no models_root)\n",
        );
    assert!(!root.exists(), "nothing written");
}

#[test]
fn dry_run_shows_the_resolved_models_and_gpus() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("models.yaml");
    std::fs::write(&p, "models_root: /lustre/models/\nmodels: {m: DeepSeek-R1/R1-FP4/}\n").unwrap();
    let run = |extra: &[(&str, &str)]| {
        let mut c = launch();
        c.args(["--dry-run", "--job-root", "/jobs", "--cluster"]).arg(&p);
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = c.write_stdin(lines(&[disagg()])).assert().success().get_output().stdout.clone();
        script_of(&records(&out)[0])
    };
    let script = run(&[]);
    assert!(script.contains(
        "\n# GEN_0: model /lustre/models/DeepSeek-R1/R1-FP4/; GPUs 0,1,2,3 of each node (CUDA_VISIBLE_DEVICES)\n\
         # CTX_0: model /lustre/models/DeepSeek-R1/R1-FP4/; GPUs 0 of each node (CUDA_VISIBLE_DEVICES)\n"
    ), "{script}");
    // LLM_MODELS_ROOT replaces the profile's root.
    let script = run(&[("LLM_MODELS_ROOT", "/scratch/m")]);
    assert!(script.contains("# CTX_0: model /scratch/m/DeepSeek-R1/R1-FP4/; GPUs 0 "), "{script}");
    // Served by name, no isolation.
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("served_model: name\ngpu_isolation: false\n");
    std::fs::write(&p, text).unwrap();
    let script = run(&[]);
    assert!(script.contains(
        "# CTX_0: model /lustre/models/DeepSeek-R1/R1-FP4/ (clients request m); all GPUs of each node (gpu_isolation: false)\n"
    ), "{script}");
}

#[test]
fn local_failure_stops_the_job_and_keeps_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let out = launch()
        .args(["--local", "--role-command"])
        .arg("if [ {role} = CTX_0 ]; then echo boom; exit 3; fi; sleep 30")
        .arg("--job-root")
        .arg(dir.path())
        .write_stdin(lines(&[disagg()]))
        .assert()
        .code(1)
        .stderr(predicate::str::is_match("^launch: error: disagg-e2e-cfg_ctx1_tp1_gen1_tp8: step CTX_0 failed with status 3 \\(log .*/logs/CTX_0.log\\)\nlaunch: note: disagg-e2e-cfg_ctx1_tp1_gen1_tp8: \\| boom\nlaunch: note: disagg-e2e-cfg_ctx1_tp1_gen1_tp8: logs in .*/logs\n$").unwrap())
        .get_output()
        .stdout
        .clone();
    let r = &records(&out)[0];
    assert_eq!(r["state"], "FAILED");
    assert_eq!(r["exit_code"], 3);
    let jobdir = Path::new(r["workdir"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(jobdir.join("coord/CTX_0.failed")).unwrap(),
        "CTX_0: step exited with status 3\n"
    );
    assert!(!jobdir.join("coord/benchmark.done").exists());
}

#[test]
fn local_with_a_container_builds_a_docker_command() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("c.yaml");
    std::fs::write(
        &profile,
        "container: {image: 'nvcr.io/x:1', mounts: ['/m:/m'], workdir: /w}\nenv_forward: [HF_TOKEN]\nbin_dir: /opt/pl\n",
    )
    .unwrap();
    let out = launch()
        .args(["--dry-run", "--local", "--job-root", "/jobs", "--cluster"])
        .arg(&profile)
        .write_stdin(lines(&[aggregated("aggr-c", &[(1, 2)])]))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r = &records(&out)[0];
    let w = r["workdir"].as_str().unwrap();
    assert_eq!(w, format!("/jobs/aggr-c/{}", r["attempt"].as_str().unwrap()));
    assert_eq!(
        r["commands"][0]["command"],
        format!("docker run --rm --gpus all --network host --name=perfline-aggr-c-server_0-0 \
         --volume={w}:{w} --volume=/opt/pl:/opt/pl:ro --volume=/m:/m --workdir=/w \
         --env=PERFLINE_TEST_ID --env=PERFLINE_JOB_DIR --env=PERFLINE_COORD_DIR --env=PERFLINE_ATTEMPT --env=PERFLINE_BIN \
         --env=PERFLINE_ROLE --env=PERFLINE_TASKS --env=SLURM_PROCID --env=SLURM_LOCALID \
         --env=SLURM_NODEID --env=SLURM_NTASKS --env=SLURMD_NODENAME --env=HF_TOKEN nvcr.io/x:1 \
         bash -c '\"$PERFLINE_BIN\"/role SERVER_0 --plan \"$PERFLINE_JOB_DIR/plan.json\" --job-dir \"$PERFLINE_JOB_DIR\"'")
    );
}

#[test]
fn secrets_are_forwarded_by_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-value-4711";
    let profile = dir.path().join("s.yaml");
    std::fs::write(&profile, "env_forward: [PERFLINE_TEST_SECRET]\n").unwrap();
    let out = launch()
        .args(["--local", "--role-command"])
        .arg(r#"[ -n "$PERFLINE_TEST_SECRET" ] && echo forwarded > "$PERFLINE_JOB_DIR/results/{role}""#)
        .arg("--cluster")
        .arg(&profile)
        .arg("--job-root")
        .arg(dir.path().join("jobs"))
        .env("PERFLINE_TEST_SECRET", secret)
        .write_stdin(lines(&[disagg()]))
        .assert()
        .success()
        .get_output()
        .clone();
    let r = &records(&out.stdout)[0];
    let jobdir = Path::new(r["workdir"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(jobdir.join("results/BENCHMARK")).unwrap(), "forwarded\n");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    for entry in walk(jobdir) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(!text.contains(secret), "secret in {}", entry.display());
    }
    assert!(
        script_of(r).contains("# From the submitting environment, by name: PERFLINE_TEST_SECRET\n")
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn a_prefix_from_mkprefix_is_used_as_edited() {
    let mut rec = disagg();
    rec["sbatch"] = serde_json::json!(["#SBATCH --nodes=3", "#SBATCH --comment=edited"]);
    rec["srun_args"] = serde_json::json!(["--cpu-bind=none"]);
    rec["workdir"] = "/custom/dir".into();
    let mut bad = disagg();
    bad["sbatch"] = serde_json::json!(["#SBATCH --nodes=3\ntouch /tmp/x"]);
    bad["srun_args"] = serde_json::json!([]);
    let out = launch()
        .arg("--dry-run")
        .write_stdin(lines(&[rec, bad]))
        .assert()
        .code(65)
        .stderr(predicate::str::starts_with(
            "launch: error: -:2: sbatch line \"#SBATCH --nodes=3\\ntouch /tmp/x\" is not one #SBATCH line",
        ))
        .get_output()
        .stdout
        .clone();
    let recs = records(&out);
    assert_eq!(recs.len(), 1);
    let script = script_of(&recs[0]);
    assert!(
        script.starts_with("#!/bin/bash\n#SBATCH --nodes=3\n#SBATCH --comment=edited\n# perfline")
    );
    assert!(script.contains("\nsrun_args=( --cpu-bind=none )\n"));
    let attempt = recs[0]["attempt"].as_str().unwrap();
    assert!(script.contains(&format!("\nexport PERFLINE_JOB_DIR=/custom/dir/{attempt}\n")));
    assert_eq!(recs[0]["workdir"], format!("/custom/dir/{attempt}"));
}

#[test]
fn missing_slurm_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    launch()
        .env("PATH", dir.path())
        .arg("--job-root")
        .arg(dir.path())
        .write_stdin(lines(&[disagg()]))
        .assert()
        .code(69)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "launch: error: disagg-e2e-cfg_ctx1_tp1_gen1_tp8: cannot run \"sbatch\":",
        ));
    // The job directory is there for a retry: script, plan and profile.
    assert!(dir.path().join("disagg-e2e-cfg_ctx1_tp1_gen1_tp8/latest/job.sh").exists());
}
