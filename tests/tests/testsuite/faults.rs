//! Fault tests on the real Slurm test cluster (`cargo xtask cluster up`): a disaggregated job
//! (1 ctx + 1 gen simserve, router, bench) with one fault injected (a crash, a hang, 500s, or
//! a /health that turns 503 while the process lives, a server frozen with SIGSTOP — the last
//! also on `launch --local`). Each job must end failed,
//! leave no process behind, keep every log, and leave `failed` metric records that name the
//! role and the cause. How fast that happens is measured by `cargo xtask bench coordination`;
//! here every wait is only bounded.

use chain_tests::{bin, workspace_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fault job may take at most (the incumbent would wait up to hours).
const JOB_LIMIT_S: &str = "90";

fn require_cluster() {
    let ok = Command::new("sinfo")
        .env("SLURM_CONF", "/var/tmp/perfline-slurm/slurm.conf")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    assert!(
        ok,
        "needs the Slurm test cluster, which is not running: run `cargo xtask cluster up` \
         (`cargo xtask ci` sets it up)"
    );
}

struct Fault {
    name: &'static str,
    ctx_env: &'static str,
    gen_env: &'static str,
    router_env: &'static str,
    /// Extra profile `env` lines (e.g. a short ready timeout).
    profile_env: &'static str,
}

struct Ran {
    exit: Option<i32>,
    job: serde_json::Value,
    dir: PathBuf,
    records: Vec<serde_json::Value>,
    _tmp: tempfile::TempDir,
}

/// Plans and submits the fault job with `launch --wait`; `during` runs while it is in flight.
fn run(fault: &Fault, during: impl FnOnce(&Path)) -> Ran {
    run_on(fault, false, during)
}

/// [`run`] on the Slurm test cluster, or (`local`) with `launch --local`.
fn run_on(fault: &Fault, local: bool, during: impl FnOnce(&Path)) -> Ran {
    if !local {
        require_cluster();
    }
    for tool in ["role", "simserve", "bench", "parse-metrics"] {
        bin(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = workspace_root();
    let config = std::fs::read_to_string(root.join("tests/data/fault_disagg.yaml"))
        .unwrap()
        .replace("@CTX_ENV@", fault.ctx_env)
        .replace("@GEN_ENV@", fault.gen_env)
        .replace("@ROUTER_ENV@", fault.router_env);
    let configs = tmp.path().join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    let cfg_name = format!("fault_{}", fault.name);
    std::fs::write(configs.join(format!("{cfg_name}.yaml")), config).unwrap();
    let profile = std::fs::read_to_string(root.join("ci/clusters/local.yaml")).unwrap()
        + &format!("env:\n  PERFLINE_JOB_TIMEOUT_S: \"60\"\n{}", fault.profile_env);
    let profile_path = tmp.path().join("fault.yaml");
    std::fs::write(&profile_path, profile).unwrap();

    let list = format!("disagg-e2e-{cfg_name}\n");
    let tests = pipe(&bin("classify"), &[], list.as_bytes());
    let planned = pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &tests);
    let jobs = tmp.path().join("jobs");
    let mut launch = Command::new(bin("launch"))
        .args(["--cluster", profile_path.to_str().unwrap(), "--job-root", jobs.to_str().unwrap()])
        .args(if local {
            ["--local", "--timeout", JOB_LIMIT_S].as_slice()
        } else {
            ["--wait", "--poll", "0.2", "--timeout", JOB_LIMIT_S].as_slice()
        })
        .env("SLURM_CONF", "/var/tmp/perfline-slurm/slurm.conf")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    launch.stdin.take().unwrap().write_all(&planned).unwrap();
    // The attempt's directory, through the link launch points at it before submitting.
    during(&jobs.join(format!("disagg-e2e-{cfg_name}")).join("latest"));
    let out = launch.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let job: serde_json::Value =
        serde_json::from_str(stdout.lines().next().unwrap_or("{}")).unwrap();
    let dir = PathBuf::from(job["workdir"].as_str().expect("the job record names its attempt"));
    let records = std::fs::read_to_string(dir.join("results/metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Ran { exit: out.status.code(), job, dir, records, _tmp: tmp }
}

fn pipe(exe: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{} failed", exe.display());
    out.stdout
}

/// Pids of processes whose command line mentions `dir` (the job's servers, router, client).
fn processes_of(dir: &Path) -> Vec<String> {
    let out = Command::new("pgrep").args(["-f", &dir.display().to_string()]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// Waits (bounded) until the file exists.
fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The common checks: failed job, failed records naming `role` and one of `causes`, logs
/// kept, no process left. Several causes where the fault shows two ways at once (a crashing
/// server logs its error and exits: whichever the role sees first is the reason).
fn check(ran: &Ran, role: &str, causes: &[&str]) {
    assert_ne!(ran.exit, Some(0), "the job must fail: {}", ran.job);
    assert_ne!(ran.job["state"], "COMPLETED", "{}", ran.job);
    assert!(!ran.records.is_empty(), "no metric records in {}", ran.dir.display());
    for r in &ran.records {
        assert_eq!(r["status"], "failed", "{r}");
    }
    let reasons: Vec<String> = ran
        .records
        .iter()
        .flat_map(|r| r["reasons"].as_array().cloned().unwrap_or_default())
        .map(|v| v.to_string())
        .collect();
    let all = reasons.join(" | ");
    assert!(all.contains(role), "reasons do not name {role}: {all}");
    assert!(
        causes.iter().any(|c| all.contains(c)),
        "reasons do not name the cause (one of {causes:?}): {all}"
    );
    for log in ["logs/trtllm-serve.CTX_0.log", "logs/trtllm-serve.GEN_0.log", "job.sh", "plan.json"]
    {
        assert!(ran.dir.join(log).exists(), "{log} was not kept");
    }
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let left = processes_of(&ran.dir);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < until, "processes of the job are left: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const NONE: &str = "";

#[test]
fn ctx_server_crashes_at_start() {
    let f = Fault {
        name: "ctx_crash",
        ctx_env: "SIMSERVE_FAIL_AT_START=1",
        gen_env: NONE,
        router_env: NONE,
        profile_env: NONE,
    };
    let ran = run(&f, |_| {});
    check(
        &ran,
        "CTX_0",
        &["server exited with status 1", "RuntimeError: simulated failure at start"],
    );
    let marker = std::fs::read_to_string(ran.dir.join("coord/CTX_0.failed")).unwrap();
    assert!(marker.contains("simulated"), "the marker keeps the server's last words: {marker}");
}

#[test]
fn gen_server_crashes_mid_benchmark() {
    let f = Fault {
        name: "gen_crash",
        ctx_env: NONE,
        gen_env: "SIMSERVE_CRASH_AFTER_REQUESTS=5",
        router_env: NONE,
        profile_env: NONE,
    };
    let ran = run(&f, |_| {});
    check(&ran, "GEN_0", &["server exited with status 1"]);
}

#[test]
fn router_crashes() {
    let f = Fault {
        name: "router_crash",
        ctx_env: NONE,
        gen_env: "SIMSERVE_DECODE_MS_PER_STEP=50",
        router_env: NONE,
        profile_env: NONE,
    };
    let ran = run(&f, |dir| {
        // Kill the router once the benchmark is under way.
        wait_for(&dir.join("results/trtllm-benchmark.0.0.log"));
        // `dir` is the `latest` link; the router's command line names the attempt itself.
        let config = dir.canonicalize().unwrap().join("server_config.yaml");
        let out = Command::new("pkill")
            .args(["-9", "-f", &format!("disaggregated -c {}", config.display())])
            .output()
            .unwrap();
        assert!(out.status.success(), "no router process to kill");
    });
    check(&ran, "DISAGG_SERVER", &["server killed by signal 9"]);
}

#[test]
fn server_hangs_before_health() {
    let f = Fault {
        name: "gen_hang",
        ctx_env: NONE,
        gen_env: "SIMSERVE_HANG=1",
        router_env: NONE,
        profile_env: "  PERFLINE_READY_TIMEOUT_S: \"3\"\n",
    };
    let ran = run(&f, |_| {});
    check(&ran, "GEN_0", &["not ready within 3s"]);
}

#[test]
fn server_returns_500s() {
    let f = Fault {
        name: "gen_500",
        ctx_env: NONE,
        gen_env: "SIMSERVE_ERROR_RATE=1.0",
        router_env: NONE,
        profile_env: NONE,
    };
    let ran = run(&f, |_| {});
    check(&ran, "BENCHMARK: client", &["failed requests"]);
}

#[test]
fn server_health_turns_503_while_the_process_lives() {
    // The worker's engine dies after 5 requests: the process lives on, /health answers 503 and
    // new requests hang (what a real GPU showed). Only the liveness poll can end this job.
    let f = Fault {
        name: "gen_health_503",
        ctx_env: NONE,
        gen_env: "SIMSERVE_HEALTH_503_AFTER_REQUESTS=5",
        router_env: NONE,
        profile_env: NONE,
    };
    let ran = run(&f, |_| {});
    check(&ran, "GEN_0", &["/health 503 for "]);
    let marker = std::fs::read_to_string(ran.dir.join("coord/GEN_0.failed")).unwrap();
    assert!(
        marker.starts_with("GEN_0: /health 503 for ") && marker.contains("3 bad answers"),
        "the marker names the role and the cause: {marker}"
    );
    assert!(
        marker.contains("the engine stopped after 5 requests"),
        "the marker keeps the server's log tail: {marker}"
    );
}

/// Freezes GEN_0's simserve (SIGSTOP: alive, its port accepts connections, nothing answers)
/// once the benchmark is under way; the role must call it hung (no answer to /health and no
/// log growth for the profile's `hung_after`, 10 s by default) and end the job.
fn freeze_gen_server(dir: &Path) {
    wait_for(&dir.join("results/trtllm-benchmark.0.0.log"));
    // The role watches for hangs once it has seen its server ready (before that, silence is
    // loading): wait (bounded) for its line in the role's log.
    let role_log = dir.join("logs/GEN_0.log");
    let until = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&role_log)
        .unwrap_or_default()
        .contains("role: GEN_0: ready after")
    {
        assert!(
            Instant::now() < until,
            "GEN_0 never logged its ready line: {}",
            role_log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // `dir` is the `latest` link; the server's command line names the attempt itself.
    let config = dir.canonicalize().unwrap().join("extra-llm-api-config.gen.");
    let pattern = format!("simserve .*{}", config.display());
    let out = Command::new("pgrep").args(["-f", &pattern]).output().unwrap();
    let pids: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(pids.len(), 1, "one GEN_0 simserve to freeze ({pattern}): {pids:?}");
    assert!(!dir.join("coord/benchmark.done").exists(), "the benchmark ended before the freeze");
    let status = Command::new("kill").args(["-STOP", &pids[0]]).status().unwrap();
    assert!(status.success(), "kill -STOP {}", pids[0]);
}

/// A slow client run (64 decode steps of 50 ms, 8 rounds), so the freeze comes mid-benchmark.
const FREEZE: Fault = Fault {
    name: "gen_freeze",
    ctx_env: NONE,
    gen_env: "SIMSERVE_DECODE_MS_PER_STEP=50",
    router_env: NONE,
    profile_env: NONE,
};

/// The hung checks: the records and the marker name GEN_0 and "hung", the log tail is kept.
fn check_hung(ran: &Ran) {
    check(ran, "GEN_0", &["server hung: /health gave no answer for "]);
    let marker = std::fs::read_to_string(ran.dir.join("coord/GEN_0.failed")).unwrap();
    assert!(
        marker.starts_with("GEN_0: server hung: /health gave no answer for ")
            && marker.contains(", its log has not grown for ")
            && marker.contains("(limit hung_after 10 s; the process lives)"),
        "the marker names the role and the cause: {marker}"
    );
    assert!(!ran.dir.join("coord/DISAGG_SERVER.failed").exists(), "the router was blamed");
}

#[test]
fn a_frozen_server_is_hung_on_slurm() {
    let ran = run_on(&FREEZE, false, freeze_gen_server);
    check_hung(&ran);
}

#[test]
fn a_frozen_server_is_hung_on_launch_local() {
    let ran = run_on(&FREEZE, true, freeze_gen_server);
    check_hung(&ran);
}
