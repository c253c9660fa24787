//! The corpus' agentx config end to end, scaled down: the copy in testlists/configs/
//! local_agentx_ctx2_gen1_tp4.yaml (list testlists/agentx.txt, profile
//! ci/clusters/local-agentx.yaml) through `classify | nodecount | launch` with `--local` and on
//! the Slurm test cluster (`--wait`), and the corpus file itself with `--local`, scaled down by
//! its profile's client template (testlists/agentx-corpus.txt, ci/clusters/local-agentx-corpus.yaml). Two context servers with a prefix cache behind a router that
//! routes by conversation, bench in agentic mode replaying the trace the profile resolves; the
//! job must end in `ok` metric records carrying the agentic metrics.

use chain_tests::{bin, corpus_root, workspace_root};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CORPUS_CONFIG: &str = "tests/scripts/perf-sanity/disaggregated/gb300_deepseek-v4-pro-dspark_agentx_con1156_ctx2_dep8_gen1_dep8_eplb0_dspark3_ccb-NIXL.yaml";
const SCALED_CONFIG: &str = "testlists/configs/local_agentx_ctx2_gen1_tp4.yaml";
const TRACE: &str = "semianalysis_cc_traces_weka_062126.jsonl";
const SLURM_CONF: &str = "/var/tmp/perfline-slurm/slurm.conf";

fn pipe(exe: &Path, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> (Vec<u8>, i32) {
    let mut child = Command::new(exe)
        .args(args)
        .env_remove("PERFLINE_CLUSTER")
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

fn yaml(path: &Path) -> Value {
    perfline::yaml::to_json(&perfline::yaml::load(path).unwrap())
}

#[test]
fn the_scaled_config_is_the_corpus_config_but_for_its_scale() {
    let mut corpus = yaml(&corpus_root().join(CORPUS_CONFIG));
    let scaled = yaml(&workspace_root().join(SCALED_CONFIG));
    // What the scaled copy changes, and nothing else.
    corpus["slurm"]["job_time"] = "00:10:00".into();
    corpus["benchmark"]["concurrency_list"] = "4".into();
    corpus["environment"]["client_env_var"] =
        "AGENTX_MAX_CTX=8192 AGENTX_DURATION=2 AGENTX_WARMUP_PER_LANE=1".into();
    for server in ["ctx", "gen"] {
        corpus["worker_config"][server]["tensor_parallel_size"] = 4.into();
        corpus["worker_config"][server]["moe_expert_parallel_size"] = 4.into();
    }
    assert_eq!(scaled, corpus);
    assert_eq!(scaled["benchmark"]["benchmark_client"], "agentx");
    assert_eq!(scaled["ctx_router_config"]["type"], "conversation");
}

/// Runs the agentx list with launch (`mode`: `--local`, or `--wait` on the Slurm test
/// cluster); the job record and the attempt's directory.
fn run(tmp: &Path, mode: &str) -> (Value, PathBuf) {
    let root = workspace_root();
    let configs = root.join("testlists/configs");
    let lookup = ["--config-dir", configs.to_str().unwrap()];
    run_list(tmp, mode, ("agentx.txt", &lookup), "local-agentx")
}

/// Runs `testlists/LIST` (configs found by `nodecount ARGS`) with launch and cluster profile
/// `ci/clusters/PROFILE.yaml`.
fn run_list(
    tmp: &Path,
    mode: &str,
    (list, nodecount_args): (&str, &[&str]),
    profile: &str,
) -> (Value, PathBuf) {
    for tool in ["role", "simserve", "bench", "parse-metrics"] {
        bin(tool);
    }
    let root = workspace_root();
    let models_root = root.join("testlists/agentx");
    let env = [("LLM_MODELS_ROOT", models_root.to_str().unwrap()), ("SLURM_CONF", SLURM_CONF)];
    let list = root.join("testlists").join(list);
    let tests = pipe(&bin("classify"), &[list.to_str().unwrap()], &[], b"").0;
    let planned = pipe(&bin("nodecount"), nodecount_args, &[], &tests).0;
    let profile = root.join(format!("ci/clusters/{profile}.yaml"));
    let jobs = tmp.join("jobs");
    let mut args = vec![mode, "--cluster", profile.to_str().unwrap()];
    args.extend(["--job-root", jobs.to_str().unwrap(), "--timeout", "240"]);
    if mode == "--wait" {
        args.extend(["--poll", "0.5"]);
    }
    let (out, code) = pipe(&bin("launch"), &args, &env, &planned);
    let job: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!((code, job["state"].as_str()), (0, Some("COMPLETED")), "{job}");
    let dir = PathBuf::from(job["workdir"].as_str().unwrap());
    (job, dir)
}

/// The job ended in one ok record with the agentic metrics, measured against a router that
/// routed by conversation over two context servers with a prefix cache, from the trace the
/// profile resolved, by bench in agentic mode with 4 lanes.
fn check_agentic_job(dir: &Path, client: &str) {
    let text = std::fs::read_to_string(dir.join("results/metrics.jsonl")).unwrap();
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 1, "{text}");
    let r = &records[0];
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["client"], client, "{r}");
    let m = &r["metrics"];
    let metric = |k: &str| m[k].as_f64().unwrap_or_else(|| panic!("no {k}: {r}"));
    assert!(metric("total_cached_tokens") > 0.0, "{r}");
    assert!(metric("cache_hit_rate") > 0.0 && metric("cache_hit_rate") <= 100.0, "{r}");
    assert!(metric("sessions") >= 1.0 && metric("turns") >= metric("sessions"), "{r}");
    assert!(metric("mean_ttft") > 0.0 && metric("mean_ttft_turn_1") > 0.0, "{r}");

    let router = std::fs::read_to_string(dir.join("server_config.yaml")).unwrap();
    let router = perfline::yaml::to_json(&perfline::yaml::parse(&router, "r").unwrap());
    assert_eq!(router["ctx_router_config"]["type"], "conversation");
    assert_eq!(router["gen_strip_message_history"], true);
    assert_eq!(router["context_servers"]["num_instances"], 2);
    let router_log = std::fs::read_to_string(dir.join("logs/trtllm-serve.DISAGG_SERVER.log"))
        .unwrap_or_default();
    assert!(router_log.contains("(Conversation)"), "{router_log}");

    let benchmark = std::fs::read_to_string(dir.join("logs/BENCHMARK.log")).unwrap();
    let trace = workspace_root().join("testlists/agentx").join(TRACE);
    let model = workspace_root().join("testlists/agentx/DeepSeek-V4-Pro-nvfp4-DSpark");
    for flags in [
        "/bench --agentic --model ".to_string(),
        format!("--model {m} --tokenizer {m} ", m = model.display()),
        "--max-concurrency 4 ".to_string(),
    ] {
        assert!(benchmark.contains(&flags), "{flags}: {benchmark}");
    }
    let dataset = format!("--dataset-name mooncake --dataset-path {} ", trace.display());
    assert!(benchmark.contains(&dataset), "{benchmark}");
}

#[test]
fn the_scaled_agentx_config_runs_locally_into_ok_agentic_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, dir) = run(tmp.path(), "--local");
    check_agentic_job(&dir, "con4_iter1_isl990016_osl6579");
}

#[test]
fn the_scaled_agentx_config_runs_on_the_slurm_test_cluster() {
    let ok = Command::new("sinfo")
        .env("SLURM_CONF", SLURM_CONF)
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    assert!(ok, "Slurm test cluster not running: run `cargo xtask cluster up`");
    let tmp = tempfile::tempdir().unwrap();
    let (job, dir) = run(tmp.path(), "--wait");
    assert!(job["job_id"].as_u64().is_some() || job["job_id"].as_str().is_some(), "{job}");
    check_agentic_job(&dir, "con4_iter1_isl990016_osl6579");
}

#[test]
fn the_corpus_agentx_config_itself_runs_locally_scaled_down_by_its_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus_root();
    let lookup = ["--root", corpus.to_str().unwrap()];
    let (_, dir) =
        run_list(tmp.path(), "--local", ("agentx-corpus.txt", &lookup), "local-agentx-corpus");
    let plan = std::fs::read_to_string(dir.join("plan.json")).unwrap();
    let plan: Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["config_path"].as_str(), corpus.join(CORPUS_CONFIG).to_str());
    assert_eq!(plan["total_nodes"], 6);
    // The config asks for 1156 lanes; the profile's client template runs 4.
    check_agentic_job(&dir, "con1156_iter1_isl990016_osl6579");
}

#[test]
fn an_unknown_client_or_a_missing_trace_stops_launch_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let root = workspace_root();
    let configs = tmp.path().join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    let config = std::fs::read_to_string(root.join(SCALED_CONFIG)).unwrap();
    let unknown = config.replace("benchmark_client: agentx", "benchmark_client: locust");
    std::fs::write(configs.join("local_agentx_ctx2_gen1_tp4.yaml"), unknown).unwrap();
    let list = root.join("testlists/agentx.txt");
    let tests = pipe(&bin("classify"), &[list.to_str().unwrap()], &[], b"").0;
    let planned =
        pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &[], &tests).0;
    let profile = root.join("ci/clusters/local-agentx.yaml");
    let jobs = tmp.path().join("jobs");
    let models_root = root.join("testlists/agentx");
    let env = [("LLM_MODELS_ROOT", models_root.to_str().unwrap())];
    for mode in ["--dry-run", "--local"] {
        let args = [mode, "--cluster", profile.to_str().unwrap(), "--job-root"];
        let mut args = args.to_vec();
        args.push(jobs.to_str().unwrap());
        let (out, code) = pipe(&bin("launch"), &args, &env, &planned);
        assert_eq!((code, out.len()), (78, 0), "{mode}");
    }
    // agentx with a trace the models root does not hold.
    let missing = config.replace("semianalysis_cc_traces_weka_062126", "no_such_trace");
    std::fs::write(configs.join("local_agentx_ctx2_gen1_tp4.yaml"), missing).unwrap();
    let planned =
        pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &[], &tests).0;
    let args = ["--local", "--cluster", profile.to_str().unwrap(), "--job-root"];
    let mut args = args.to_vec();
    args.push(jobs.to_str().unwrap());
    let (out, code) = pipe(&bin("launch"), &args, &env, &planned);
    assert_eq!((code, out.len()), (78, 0));
    assert!(!jobs.exists(), "nothing written");
}
