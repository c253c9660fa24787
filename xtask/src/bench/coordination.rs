//! `cargo xtask bench coordination`: how much time perfline's job coordination costs and how fast
//! a dead server ends a job, measured on the Slurm test cluster (`cargo xtask cluster up`).
//!
//! 1. **Coordination overhead** of the disaggregated case (`testlists/configs/
//!    local_disagg_ctx1_tp4_gen2_tp4.yaml`: 2 GEN + 1 CTX + router + benchmark, 3 nodes):
//!    `classify | nodecount | launch --wait` N times. Job wall time comes from the job's own
//!    timestamps: the birth time of `logs/slurm-<id>.out` (created by slurmstepd when the batch
//!    step starts, before the script's first line) to its last write (the script's final
//!    `perfline: ID done` line, after `benchmark.done` and the drain of the roles). Slurm's own
//!    times have a 1 s resolution and there is no accounting (`sacct`) on the test cluster; the
//!    wall time of `launch --wait --poll 0.1` (submission → COMPLETED seen) is shown next to it
//!    and includes Slurm's scheduling latency and other users' jobs. Overhead = wall −
//!    (`SIMSERVE_STARTUP_DELAY` of the config + the sum of the client runs' `Benchmark duration
//!    (s)` in `results/trtllm-benchmark.*.log`). Target ≤ 2 s; the incumbent's floor is ≥ 30 s
//!    (reference/incumbent.md §7.4: `sleep 5` after each step; §4: the router's 10 s address
//!    poll and the workers' 10 s `benchmark_status` poll).
//! 2. **Fault detection**: the same disagg shape with a ~10 s client run (a generated config,
//!    `SIMSERVE_DECODE_MS_PER_STEP=40`, output 64, 4 rounds), submitted; once `coord/CTX_0.addr`
//!    exists, its server answers `/health` and the benchmark has started, the CTX simserve
//!    process is killed with SIGKILL and `squeue -h -j ID` is polled every 50 ms until the job
//!    is gone. Detection = gone − kill; target ≤ 3 s; the incumbent scans logs every 30 s and
//!    waits up to 3600 s for readiness (§4). Afterwards: no process whose command line names the
//!    job directory may be left, and `results/metrics.jsonl` must hold `failed` records naming
//!    CTX_0, one per client run. The breakdown shows kill → `coord/CTX_0.failed` (the role saw
//!    it), kill → the job no longer RUNNING (the script's `scancel`), and COMPLETING → gone
//!    (Slurm's teardown of the steps).
//! 3. **Liveness after ready**: the same shape with one GEN server whose engine dies after 6
//!    requests while its process lives on (`SIMSERVE_HEALTH_503_AFTER_REQUESTS=6`: /health 503,
//!    requests hang; the role's process watch sees nothing). GEN_0's /health is polled every
//!    50 ms; from the first non-200 answer, `squeue` is polled until the job is gone. Detection
//!    = gone − first 503 seen; target ≤ 3 s (the role polls every second and fails after 3 bad answers, 0.5 s apart
//!    once bad); the
//!    incumbent never notices (it watches the process and the log) and runs until the client
//!    gives up. The same checks follow, with failed records naming GEN_0.
//! 4. **Hung server**: the same shape with one GEN server, frozen with SIGSTOP once the
//!    benchmark is under way (alive, its port accepts connections, nothing answers, its log
//!    stops: a deadlocked engine). Detection = gone − SIGSTOP; target ≤ 15 s (the role calls a
//!    server hung after the profile's `hung_after`, 10 s by default, without an answer or log
//!    growth; before: 30 unanswered polls of 2 s, ~61 s). The same checks follow, with failed
//!    records naming GEN_0.
//!
//!    With `--baseline-bin DIR` the freeze runs alternate with runs of the tools in DIR (e.g.
//!    the role before `hung_after`), so both figures come from the same session. To build that
//!    DIR: `git checkout e5a2864 -- tools/role/src/{liveness,server,job}.rs && cargo build -p
//!    role && mkdir -p target/baseline-bin && cp target/debug/role target/baseline-bin/ && git
//!    checkout HEAD -- tools/role/src`, then build the tools again and copy the six others
//!    (`classify nodecount launch simserve bench parse-metrics`) beside it.
//!    `freeze-aggr` does the same with one aggregated server (no router).
//!
//! `--only` picks some of the measurements (`overhead`, `kill`, `health`, `freeze`).
//!
//! The table goes to stdout, progress to stderr. Timings are reported, never asserted; the
//! functional checks (left-over processes, failed records) fail the task after the table.

use crate::util::{project_root, Section};
use anyhow::{bail, ensure, Context};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

#[derive(clap::Args)]
pub struct Coordination {
    /// Runs of each measurement, at least 5 (medians are reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Do not build the tools first (they must already be in target/debug).
    #[arg(long)]
    no_build: bool,
    /// The freeze measured side by side with a previous build: a directory holding the seven
    /// tools (e.g. this tree's, with the `role` of the commit before `hung_after`); runs
    /// alternate between the two.
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// Only these measurements (default: all), e.g. `--only freeze`.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Measure>,
}

/// The measurements of the bench.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Measure {
    /// Coordination overhead of a disagg job.
    Overhead,
    /// SIGKILL of CTX_0's server → job gone.
    Kill,
    /// GEN_0's /health turns 503 → job gone.
    Health,
    /// GEN_0's server frozen with SIGSTOP → job gone.
    Freeze,
    /// The aggregated SERVER_0 frozen with SIGSTOP → job gone (no router).
    FreezeAggr,
}

/// How a fault run injects its fault.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    Health,
    Freeze,
    FreezeAggr,
}

/// The tools the chain runs.
const TOOLS: [&str; 7] =
    ["classify", "nodecount", "launch", "role", "simserve", "bench", "parse-metrics"];
/// The disagg case of the overhead measurement (in testlists/configs).
const OVERHEAD_CONFIG: &str = "local_disagg_ctx1_tp4_gen2_tp4";
/// The generated config of the fault measurement: the same shape as OVERHEAD_CONFIG with a client
/// run of ~10 s (4 rounds × 4 requests of 64 tokens at 40 ms per decode step).
const FAULT_CONFIG: &str = "bench_coord_fault";
const FAULT_YAML: &str = r#"# Generated by `cargo xtask bench coordination`: the disagg e2e shape (1 ctx tp4, 2 gen tp4,
# 3 nodes) with a ~10 s client run, so the ctx server can be killed while the benchmark runs.
metadata:
  model_name: tiny_sim
  precision: bf16
  supported_gpus:
  - SIM
  benchmark_type: 64i64o
slurm:
  job_time: 00:05:00
  job_name: perfline-bench-coord
benchmark:
  mode: e2e
  use_nv_sa_benchmark: false
  multi_round: 4
  benchmark_ratio: 0.0
  streaming: true
  concurrency_list: '4'
  input_length: 64
  output_length: 64
hardware:
  gpus_per_node: 4
  num_ctx_servers: 1
  num_gen_servers: 2
environment:
  worker_env_var: "SIMSERVE_STARTUP_DELAY=0.3 SIMSERVE_TTFT_MS=5 SIMSERVE_DECODE_MS_PER_STEP=40"
  server_env_var: ""
worker_config:
  gen: &worker
    tensor_parallel_size: 4
    moe_expert_parallel_size: 4
    pipeline_parallel_size: 1
    max_batch_size: 64
    max_num_tokens: 4096
    cache_transceiver_config:
      backend: UCX
      max_tokens_in_buffer: 4096
  ctx:
    <<: *worker
    max_batch_size: 8
    disable_overlap_scheduler: true
    cuda_graph_config: null
"#;

/// The generated config of the /health fault: FAULT_YAML with one GEN server whose engine dies
/// after 6 requests while its process lives (/health 503, requests hang).
const HEALTH_CONFIG: &str = "bench_coord_health";

/// The generated config of the freeze: FAULT_YAML with one GEN server (frozen by the bench).
const FREEZE_CONFIG: &str = "bench_coord_freeze";

/// The generated aggregated config of the freeze without a router: one simserve server
/// (`SERVER_0`) with a client run of ~10 s.
const AGGR_CONFIG: &str = "bench_coord_freeze_aggr";
const AGGR_SERVER: &str = "frozen_tp1";
const AGGR_YAML: &str = r#"# Generated by `cargo xtask bench coordination`: one aggregated simserve server with a
# ~10 s client run, frozen with SIGSTOP mid-benchmark.
metadata:
  model_name: tiny_sim
  supported_gpus:
  - SIM
hardware:
  gpus_per_node: 4
server_configs:
  - name: "frozen_tp1"
    model_name: "tiny_sim"
    tensor_parallel_size: 1
    max_batch_size: 64
    server_env_var: "SIMSERVE_STARTUP_DELAY=0.3 SIMSERVE_TTFT_MS=5 SIMSERVE_DECODE_MS_PER_STEP=40"
    client_configs:
      - name: "con4_iter4_64_64"
        concurrency: 4
        iterations: 4
        isl: 64
        osl: 64
        backend: "openai"
"#;

fn freeze_yaml() -> String {
    FAULT_YAML.replace("num_gen_servers: 2", "num_gen_servers: 1")
}

fn health_yaml() -> String {
    FAULT_YAML.replace("num_gen_servers: 2", "num_gen_servers: 1").replace(
        "  server_env_var: \"\"",
        "  server_env_var: \"\"\n  gen_worker_env_var: \"SIMSERVE_HEALTH_503_AFTER_REQUESTS=6\"",
    )
}

const OVERHEAD_TARGET_S: f64 = 2.0;
const OVERHEAD_INCUMBENT_S: f64 = 30.0;
const DETECT_TARGET_S: f64 = 3.0;
const DETECT_INCUMBENT_S: f64 = 30.0;
const HUNG_TARGET_S: f64 = 15.0;
/// Bound on a job getting its nodes (other users may hold the test cluster).
const START_BOUND: Duration = Duration::from_secs(90);
/// Bound on the job disappearing from squeue after the kill.
const GONE_BOUND: Duration = Duration::from_secs(120);
const SQUEUE_POLL: Duration = Duration::from_millis(50);

/// One overhead run.
struct OverheadRun {
    wall_s: f64,
    startup_s: f64,
    client_s: f64,
    launch_s: f64,
}

impl OverheadRun {
    fn overhead(&self) -> f64 {
        self.wall_s - (self.startup_s + self.client_s)
    }
}

/// One fault run.
struct FaultRun {
    detect_s: f64,
    marker_s: Option<f64>,
    cancelled_s: f64,
    duplicates: usize,
    state: String,
    leftovers: Vec<String>,
    /// Failed records whose reasons name the faulty role.
    failed_named: usize,
    /// The role `coord/first.failed` names (the first to fail), or `-`.
    blamed: String,
    records: usize,
}

struct Ctx {
    bin: PathBuf,
    work: PathBuf,
}

impl Coordination {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        ensure!(self.runs >= 5, "--runs must be at least 5 (medians of 5 or more runs)");
        let root = project_root();
        if !self.no_build {
            let _s = Section::new("build the tools");
            let packages: Vec<String> =
                TOOLS.iter().flat_map(|t| ["-p".to_string(), t.to_string()]).collect();
            xshell::cmd!(sh, "cargo build --quiet {packages...}").run()?;
        }
        {
            let _s = Section::new("Slurm test cluster up");
            let xtask = std::env::current_exe()?;
            xshell::cmd!(sh, "{xtask} cluster up").run()?;
        }
        if std::env::var_os("SLURM_CONF").is_none() {
            let conf = Path::new("/var/tmp/perfline-slurm/slurm.conf");
            if conf.exists() {
                std::env::set_var("SLURM_CONF", conf);
            }
        }
        let work = root.join("target/bench-coordination");
        if work.exists() {
            std::fs::remove_dir_all(&work).with_context(|| format!("clean {}", work.display()))?;
        }
        let configs = work.join("configs");
        std::fs::create_dir_all(&configs)?;
        std::fs::write(configs.join(format!("{FAULT_CONFIG}.yaml")), FAULT_YAML)?;
        std::fs::write(configs.join(format!("{HEALTH_CONFIG}.yaml")), health_yaml())?;
        std::fs::write(configs.join(format!("{FREEZE_CONFIG}.yaml")), freeze_yaml())?;
        std::fs::write(configs.join(format!("{AGGR_CONFIG}.yaml")), AGGR_YAML)?;
        let base = root.join("testlists/configs").join(format!("{OVERHEAD_CONFIG}.yaml"));
        let base_yaml =
            std::fs::read_to_string(&base).with_context(|| format!("read {}", base.display()))?;
        let startup_s = startup_delay(&base_yaml)
            .with_context(|| format!("{}: no SIMSERVE_STARTUP_DELAY", base.display()))?;
        std::fs::write(configs.join(format!("{OVERHEAD_CONFIG}.yaml")), &base_yaml)?;
        let ctx = Ctx { bin: root.join("target/debug"), work };

        let overhead_plan = ctx.plan(OVERHEAD_CONFIG, &configs)?;
        let fault_plan = ctx.plan(FAULT_CONFIG, &configs)?;
        let health_plan = ctx.plan(HEALTH_CONFIG, &configs)?;
        let freeze_plan = ctx.plan(FREEZE_CONFIG, &configs)?;
        let aggr_plan =
            ctx.plan_line(&format!("aggr-{AGGR_CONFIG}-{AGGR_SERVER}"), AGGR_CONFIG, &configs)?;
        let wanted = |m: Measure| self.only.is_empty() || self.only.contains(&m);

        let mut overhead = Vec::new();
        for i in (1..=self.runs).filter(|_| wanted(Measure::Overhead)) {
            let _s = Section::new(format!("coordination overhead, run {i}/{}", self.runs));
            let r = ctx.overhead_run(i, &overhead_plan, startup_s)?;
            eprintln!(
                "bench coordination: wall {:.2}s = startup {:.2}s + client {:.2}s + overhead {:.2}s \
                 (launch --wait {:.2}s)",
                r.wall_s,
                r.startup_s,
                r.client_s,
                r.overhead(),
                r.launch_s
            );
            overhead.push(r);
        }
        let mut faults = Vec::new();
        let mut health = Vec::new();
        let mut frozen = Vec::new();
        let mut frozen_base = Vec::new();
        let mut aggr = Vec::new();
        let mut aggr_base = Vec::new();
        for (fault, kind, role, plan, out) in [
            (Fault::Kill, "kill", "CTX_0", &fault_plan, &mut faults),
            (Fault::Health, "/health 503", "GEN_0", &health_plan, &mut health),
            (Fault::Freeze, "SIGSTOP", "GEN_0", &freeze_plan, &mut frozen),
            (Fault::FreezeAggr, "SIGSTOP aggregated", "SERVER_0", &aggr_plan, &mut aggr),
        ] {
            let measure = match fault {
                Fault::Kill => Measure::Kill,
                Fault::Health => Measure::Health,
                Fault::Freeze => Measure::Freeze,
                Fault::FreezeAggr => Measure::FreezeAggr,
            };
            if !wanted(measure) {
                continue;
            }
            for i in 1..=self.runs {
                let frozen_fault = matches!(fault, Fault::Freeze | Fault::FreezeAggr);
                if let (true, Some(dir)) = (frozen_fault, &self.baseline_bin) {
                    let _s = Section::new(format!("baseline ({kind}), run {i}/{}", self.runs));
                    let base = Ctx { bin: dir.clone(), work: ctx.work.join("baseline") };
                    let r = base.fault_run(i, plan, fault)?;
                    eprintln!(
                        "bench coordination: baseline {kind} → job gone {:.2}s (→ {role}.failed \
                         {})",
                        r.detect_s,
                        r.marker_s.map_or("-".into(), |s| format!("{s:.2}s")),
                    );
                    if fault == Fault::Freeze {
                        frozen_base.push(r)
                    } else {
                        aggr_base.push(r)
                    }
                }
                let _s = Section::new(format!("fault detection ({kind}), run {i}/{}", self.runs));
                let r = ctx.fault_run(i, plan, fault)?;
                eprintln!(
                    "bench coordination: {kind} → job gone {:.2}s (→ {role}.failed {}, → not \
                     RUNNING {:.2}s), job {}, {} left-over process(es), {}/{} failed records \
                     name {role}",
                    r.detect_s,
                    r.marker_s.map_or("-".into(), |s| format!("{s:.2}s")),
                    r.cancelled_s,
                    r.state,
                    r.leftovers.len(),
                    r.failed_named,
                    r.records
                );
                out.push(r);
            }
        }
        print_table(self.runs, &overhead, &faults, &health);
        let base_dir = self.baseline_bin.as_deref();
        print_frozen(FREEZE_SHAPE, "GEN_0", &frozen, &frozen_base, base_dir);
        print_frozen(AGGR_SHAPE, "SERVER_0", &aggr, &aggr_base, base_dir);
        let mut problems = Vec::new();
        let runs = faults
            .iter()
            .map(|f| ("CTX_0", f))
            .chain(health.iter().map(|f| ("GEN_0", f)))
            .chain(frozen.iter().map(|f| ("GEN_0", f)))
            .chain(aggr.iter().map(|f| ("SERVER_0", f)));
        for (i, (role, f)) in runs.enumerate() {
            if !f.leftovers.is_empty() {
                problems.push(format!(
                    "fault run {}: processes left after the job was gone: {}",
                    i + 1,
                    f.leftovers.join(" | ")
                ));
            }
            if f.duplicates > 0 {
                problems.push(format!(
                    "fault run {}: {} duplicate metric record(s) for one client run ({} records)",
                    i + 1,
                    f.duplicates,
                    f.records
                ));
            }
            if f.failed_named == 0 {
                problems.push(format!(
                    "fault run {}: no failed metric record names {role} ({} records)",
                    i + 1,
                    f.records
                ));
            }
        }
        if !problems.is_empty() {
            bail!(
                "bench coordination: {} check(s) failed:\n  {}",
                problems.len(),
                problems.join("\n  ")
            );
        }
        Ok(())
    }
}

impl Ctx {
    fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// `classify | nodecount` for the list line `disagg-e2e-CONFIG`.
    fn plan(&self, config: &str, config_dir: &Path) -> anyhow::Result<Vec<u8>> {
        self.plan_line(&format!("disagg-e2e-{config}"), config, config_dir)
    }

    /// `classify | nodecount` for the list line `TEST_ID TIMEOUT (5)`.
    fn plan_line(&self, id: &str, config: &str, config_dir: &Path) -> anyhow::Result<Vec<u8>> {
        let line = format!("{id} TIMEOUT (5)\n");
        let tests = crate::util::pipe(&self.tool("classify"), &["-"], line.as_bytes())?;
        let dir = config_dir.to_str().context("config dir is not UTF-8")?;
        let planned = crate::util::pipe(&self.tool("nodecount"), &["--config-dir", dir], &tests)?;
        ensure!(
            planned.iter().filter(|b| **b == b'\n').count() == 1,
            "nodecount gave no single planned record for {config}"
        );
        Ok(planned)
    }

    fn overhead_run(&self, i: usize, plan: &[u8], startup_s: f64) -> anyhow::Result<OverheadRun> {
        let job_root = self.work.join(format!("overhead-{i}"));
        let start = Instant::now();
        let out = self.launch(&job_root, &["--wait", "--poll", "0.1", "--timeout", "180"], plan)?;
        let launch_s = start.elapsed().as_secs_f64();
        let job = job_record(&out)?;
        ensure!(
            out.status.success() && job.state.as_deref() == Some("COMPLETED"),
            "overhead run {i}: job {} ended {:?} ({}); logs in {}/logs",
            job.job_id,
            job.state,
            out.status,
            job.dir.display()
        );
        let slurm_out = job.dir.join(format!("logs/slurm-{}.out", job.job_id));
        let meta =
            std::fs::metadata(&slurm_out).with_context(|| format!("{}", slurm_out.display()))?;
        let born = meta.created().with_context(|| {
            format!("{}: no birth time on this filesystem", slurm_out.display())
        })?;
        let wall_s = seconds_between(born, meta.modified()?);
        let client_s = client_seconds(&job.dir.join("results"))?;
        let metrics = std::fs::read_to_string(job.dir.join("results/metrics.jsonl"))?;
        ensure!(
            !metrics.trim().is_empty() && !metrics.contains("\"status\":\"failed\""),
            "overhead run {i}: metric records missing or failed in {}/results",
            job.dir.display()
        );
        Ok(OverheadRun { wall_s, startup_s, client_s, launch_s })
    }

    fn fault_run(&self, i: usize, plan: &[u8], fault: Fault) -> anyhow::Result<FaultRun> {
        let name = match fault {
            Fault::Kill => "fault",
            Fault::Health => "health",
            Fault::Freeze => "freeze",
            Fault::FreezeAggr => "freeze-aggr",
        };
        let job_root = self.work.join(format!("{name}-{i}"));
        let out = self.launch(&job_root, &[], plan)?;
        let job = job_record(&out)?;
        ensure!(out.status.success(), "fault run {i}: launch failed ({})", out.status);
        let result = match fault {
            Fault::Kill => self.kill_and_watch(&job, "CTX_0", "ctx", "-9"),
            Fault::Health => self.health_fault_and_watch(&job),
            Fault::Freeze => self.kill_and_watch(&job, "GEN_0", "gen", "-STOP"),
            Fault::FreezeAggr => self.kill_and_watch(&job, "SERVER_0", "aggr", "-STOP"),
        };
        if result.is_err() {
            // Never leave a job of ours behind on the shared cluster.
            let _ = Command::new("scancel").arg(&job.job_id).status();
        }
        result
    }

    /// Sends `signal` to `role`'s server (`kind`: its config's kind) once the benchmark runs.
    fn kill_and_watch(
        &self,
        job: &Job,
        role: &str,
        kind: &str,
        signal: &str,
    ) -> anyhow::Result<FaultRun> {
        let dir = &job.dir;
        serving(job, role)?;
        let results = dir.join("results");
        wait_for(Duration::from_secs(20), "the benchmark's first client log", || {
            Ok(std::fs::read_dir(&results)?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("trtllm-benchmark.")))
        })?;
        // The role watches its server once it has seen it ready (its line in logs/ROLE.log).
        let role_log = dir.join(format!("logs/{role}.log"));
        let ready = format!("role: {role}: ready after");
        wait_for(Duration::from_secs(20), &format!("{ready} in {}", role_log.display()), || {
            Ok(std::fs::read_to_string(&role_log).unwrap_or_default().contains(&ready))
        })?;
        std::thread::sleep(Duration::from_millis(500)); // requests in flight
        ensure!(
            !dir.join("coord/benchmark.done").exists(),
            "the benchmark ended before the kill; make the client run longer"
        );
        let pattern = format!("simserve .*{}/extra-llm-api-config\\.{kind}\\.", dir.display());
        let pids = pgrep(&pattern)?;
        ensure!(
            pids.len() == 1,
            "expected one {kind} simserve process for {pattern}, found {pids:?}"
        );
        let pid = pids[0].0.clone();
        eprintln!(
            "bench coordination: kill {signal} {pid} ({role} simserve of job {})",
            job.job_id
        );
        let killed_at = SystemTime::now();
        let kill = Instant::now();
        let status = Command::new("kill").args([signal, &pid]).status()?;
        ensure!(status.success(), "kill {signal} {pid} failed");
        self.watch_gone(job, role, kill, killed_at)
    }

    /// The /health fault: GEN_0's engine dies after some requests while its process lives
    /// (`SIMSERVE_HEALTH_503_AFTER_REQUESTS`); the fault time is when this poll (every 50 ms)
    /// first sees its /health answer anything but 200.
    fn health_fault_and_watch(&self, job: &Job) -> anyhow::Result<FaultRun> {
        let addr = serving(job, "GEN_0")?;
        wait_for(Duration::from_secs(60), &format!("http://{addr}/health turning bad"), || {
            Ok(!health_ok(&addr))
        })?;
        let seen_at = SystemTime::now();
        let seen = Instant::now();
        eprintln!("bench coordination: GEN_0 /health of job {} is no longer 200", job.job_id);
        self.watch_gone(job, "GEN_0", seen, seen_at)
    }

    /// From the fault (`fault`, `fault_at`) until the job is gone from squeue; then the checks.
    fn watch_gone(
        &self,
        job: &Job,
        role: &str,
        kill: Instant,
        killed_at: SystemTime,
    ) -> anyhow::Result<FaultRun> {
        let dir = &job.dir;
        let (mut gone, mut cancelled) = (None, None);
        while kill.elapsed() < GONE_BOUND {
            let state = job_listed(&job.job_id)?;
            if cancelled.is_none() && state.as_deref() != Some("RUNNING") {
                cancelled = Some(kill.elapsed().as_secs_f64());
            }
            if state.is_none() {
                gone = Some(kill.elapsed().as_secs_f64());
                break;
            }
            std::thread::sleep(SQUEUE_POLL);
        }
        let Some(detect_s) = gone else {
            bail!("job {} still in squeue {}s after the kill", job.job_id, GONE_BOUND.as_secs());
        };
        let mut leftovers = pgrep(&dir.display().to_string())?;
        if !leftovers.is_empty() {
            // A grace period for processes being torn down; what is still there is left behind.
            std::thread::sleep(Duration::from_secs(2));
            leftovers = pgrep(&dir.display().to_string())?;
            for (p, _) in &leftovers {
                eprintln!("bench coordination: killing left-over process {p}");
                let _ = Command::new("kill").args(["-9", p]).status();
            }
        }
        let marker_s = std::fs::metadata(dir.join(format!("coord/{role}.failed")))
            .and_then(|m| m.created())
            .ok()
            .map(|t| seconds_between(killed_at, t));
        let metrics =
            std::fs::read_to_string(dir.join("results/metrics.jsonl")).unwrap_or_default();
        let records: Vec<Value> =
            metrics.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let failed_named = records
            .iter()
            .filter(|r| r.get("status").and_then(Value::as_str) == Some("failed"))
            .filter(|r| {
                r.get("reasons")
                    .and_then(Value::as_array)
                    .is_some_and(|rs| rs.iter().filter_map(Value::as_str).any(|s| s.contains(role)))
            })
            .count();
        let mut keys: Vec<String> = records
            .iter()
            .map(|r| {
                ["test_id", "server", "client", "concurrency"]
                    .map(|k| r.get(k).map_or(String::new(), Value::to_string))
                    .join("|")
            })
            .collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        Ok(FaultRun {
            detect_s,
            marker_s,
            cancelled_s: cancelled.unwrap_or(detect_s),
            duplicates: before - keys.len(),
            state: job_state(&job.job_id),
            leftovers: leftovers.into_iter().map(|(p, c)| format!("{p} {c}")).collect(),
            failed_named,
            blamed: std::fs::read_to_string(dir.join("coord/first.failed"))
                .ok()
                .and_then(|t| t.split_once(':').map(|(r, _)| r.to_string()))
                .unwrap_or_else(|| "-".into()),
            records: records.len(),
        })
    }

    fn launch(&self, job_root: &Path, extra: &[&str], plan: &[u8]) -> anyhow::Result<Output> {
        let root = job_root.to_str().context("job root is not UTF-8")?;
        let mut args = vec!["--cluster", "local", "--job-root", root];
        args.extend_from_slice(extra);
        let mut child = Command::new(self.tool("launch"))
            .args(&args)
            .env_remove("PERFLINE_CLUSTER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("run launch")?;
        child.stdin.take().context("stdin")?.write_all(plan)?;
        Ok(child.wait_with_output()?)
    }
}

struct Job {
    job_id: String,
    dir: PathBuf,
    state: Option<String>,
}

fn job_record(out: &Output) -> anyhow::Result<Job> {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| !l.trim().is_empty()).with_context(|| {
        format!("launch wrote no job record ({}); see its messages above", out.status)
    })?;
    let v: Value = serde_json::from_str(line).context("launch output is not JSON")?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    Ok(Job {
        job_id: s("job_id").context("job record without job_id")?,
        dir: PathBuf::from(s("workdir").context("job record without workdir")?),
        state: s("state"),
    })
}

/// `SIMSERVE_STARTUP_DELAY=X` from the config text (the workers' env).
fn startup_delay(yaml: &str) -> Option<f64> {
    let at = yaml.find("SIMSERVE_STARTUP_DELAY=")? + "SIMSERVE_STARTUP_DELAY=".len();
    let value: String =
        yaml[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    value.parse().ok()
}

/// Sum of `Benchmark duration (s):` over every result block of the client logs.
fn client_seconds(results: &Path) -> anyhow::Result<f64> {
    let mut total = 0.0;
    let mut blocks = 0;
    for entry in std::fs::read_dir(results)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if !(name.starts_with("trtllm-benchmark.") && name.ends_with(".log")) {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Some(v) = line.strip_prefix("Benchmark duration (s):") {
                total += v
                    .trim()
                    .parse::<f64>()
                    .with_context(|| format!("{}: {line}", path.display()))?;
                blocks += 1;
            }
        }
    }
    ensure!(
        blocks > 0,
        "no `Benchmark duration (s)` in {}/trtllm-benchmark.*.log",
        results.display()
    );
    Ok(total)
}

fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Waits until `role`'s server of `job` has written its address and answers `/health` with
/// 200; its address.
fn serving(job: &Job, role: &str) -> anyhow::Result<String> {
    let addr_file = job.dir.join(format!("coord/{role}.addr"));
    wait_for(
        START_BOUND,
        &format!("{} (job {} started?)", addr_file.display(), job.job_id),
        || Ok(addr_file.exists()),
    )?;
    let addr = std::fs::read_to_string(&addr_file)?.trim().to_string();
    wait_for(Duration::from_secs(20), &format!("http://{addr}/health answering 200"), || {
        Ok(health_ok(&addr))
    })?;
    Ok(addr)
}

/// Polls `ready` every 50 ms for at most `bound`.
fn wait_for(
    bound: Duration,
    what: &str,
    mut ready: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < bound {
        if ready()? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("waited {}s for {what}", bound.as_secs())
}

/// One `GET /health`: true on HTTP 200.
fn health_ok(addr: &str) -> bool {
    let probe = || -> std::io::Result<bool> {
        let sock = addr.to_socket_addrs()?.next().ok_or(std::io::ErrorKind::NotFound)?;
        let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        s.write_all(format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
        let mut head = [0u8; 16];
        let n = s.read(&mut head)?;
        let status = String::from_utf8_lossy(&head[..n]).to_string();
        Ok(status.starts_with("HTTP/1.") && status.get(9..12) == Some("200"))
    };
    probe().unwrap_or(false)
}

/// `pgrep -af PATTERN`: (pid, command line) pairs.
fn pgrep(pattern: &str) -> anyhow::Result<Vec<(String, String)>> {
    let out = Command::new("pgrep").args(["-af", pattern]).output().context("run pgrep")?;
    ensure!(out.status.code().is_some_and(|c| c <= 1), "pgrep -af {pattern}: {}", out.status);
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(p, c)| (p.to_string(), c.to_string())))
        .collect())
}

/// The job's state while `squeue` lists it (pending, running or completing), else None.
fn job_listed(job_id: &str) -> anyhow::Result<Option<String>> {
    let out = Command::new("squeue")
        .args(["-h", "-j", job_id, "-o", "%T"])
        .output()
        .context("run squeue")?;
    if out.status.success() {
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return Ok((!state.is_empty()).then_some(state));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    // Purged from slurmctld: gone.
    ensure!(err.contains("Invalid job id"), "squeue -j {job_id}: {}", err.trim());
    Ok(None)
}

/// Slurm's final state of the job (`scontrol show job`), or `?`.
fn job_state(job_id: &str) -> String {
    Command::new("scontrol")
        .args(["show", "job", "-o", job_id])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .find_map(|w| w.strip_prefix("JobState=").map(String::from))
        })
        .unwrap_or_else(|| "?".into())
}

/// (median, min, max).
fn stats(values: impl IntoIterator<Item = f64>) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    (median, v[0], v[n - 1])
}

const FREEZE_SHAPE: &str = "1 CTX tp4 + 1 GEN tp4 + router + benchmark (2 nodes), GEN_0";
const AGGR_SHAPE: &str = "1 aggregated server + benchmark (1 node), SERVER_0";

/// The hung-server rows of one shape (nothing when it was not measured); `base`: the same
/// fault with the baseline tools.
fn print_frozen(
    shape: &str,
    role: &str,
    frozen: &[FaultRun],
    base: &[FaultRun],
    base_dir: Option<&Path>,
) {
    if frozen.is_empty() {
        return;
    }
    println!(
        "hung server: {shape}'s simserve frozen with SIGSTOP mid-benchmark, {} run(s)",
        frozen.len()
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>9}  first to fail (coord/first.failed)",
        "figure (s)", "median", "min", "max", "target"
    );
    let blamed = |runs: &[FaultRun]| {
        let mut names: Vec<&str> = runs.iter().map(|r| r.blamed.as_str()).collect();
        names.sort_unstable();
        let mut out: Vec<String> = Vec::new();
        for n in &names {
            let count = names.iter().filter(|m| *m == n).count();
            let item = format!("{n} {count}/{}", runs.len());
            if !out.contains(&item) {
                out.push(item);
            }
        }
        out.join(", ")
    };
    let row = |name: &str, (med, min, max): (f64, f64, f64), target: &str, who: &str| {
        println!("{name:<44} {med:>8.2} {min:>8.2} {max:>8.2} {target:>9}  {who}");
    };
    if let Some(dir) = base_dir.filter(|_| !base.is_empty()) {
        let det = stats(base.iter().map(|r| r.detect_s));
        row("baseline: SIGSTOP → job gone", det, "", &blamed(base));
        println!("  (baseline: the tools in {})", dir.display());
    }
    let det = stats(frozen.iter().map(|r| r.detect_s));
    row("SIGSTOP → job gone", det, &format!("<= {HUNG_TARGET_S}"), &blamed(frozen));
    let markers: Vec<f64> = frozen.iter().filter_map(|r| r.marker_s).collect();
    row(&format!("  SIGSTOP → coord/{role}.failed written"), stats(markers), "", "");
    row(
        "  SIGSTOP → job no longer RUNNING (scancel)",
        stats(frozen.iter().map(|r| r.cancelled_s)),
        "",
        "",
    );
    let clean = frozen.iter().filter(|r| r.leftovers.is_empty()).count();
    let named = frozen.iter().filter(|r| r.failed_named > 0).count();
    println!(
        "hung runs ({}): {clean} without left-over processes, {named} with failed records naming \
         {role}; target hung → job gone <= {HUNG_TARGET_S} s (median): {}",
        frozen.len(),
        if det.0 <= HUNG_TARGET_S { "met" } else { "MISSED" }
    );
}

fn print_table(runs: usize, overhead: &[OverheadRun], faults: &[FaultRun], health: &[FaultRun]) {
    if overhead.is_empty() && faults.is_empty() && health.is_empty() {
        return;
    }
    println!(
        "bench coordination: disagg case on the Slurm test cluster (1 CTX tp4 + 2 GEN tp4 + router \
         + benchmark, 3 nodes), {runs} run(s) each"
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>9} {:>26}",
        "figure (s)", "median", "min", "max", "target", "incumbent (NOT MEASURED)"
    );
    let row = |name: &str, (med, min, max): (f64, f64, f64), target: &str, incumbent: &str| {
        println!("{name:<44} {med:>8.2} {min:>8.2} {max:>8.2} {target:>9} {incumbent:>26}");
    };
    let ov = stats(overhead.iter().map(OverheadRun::overhead));
    row(
        "coordination overhead",
        ov,
        &format!("<= {OVERHEAD_TARGET_S}"),
        &format!("cited: >= {OVERHEAD_INCUMBENT_S}"),
    );
    row(
        "  job wall (slurm-<id>.out birth→last write)",
        stats(overhead.iter().map(|r| r.wall_s)),
        "",
        "",
    );
    row("  simserve startup delay (config)", stats(overhead.iter().map(|r| r.startup_s)), "", "");
    row(
        "  client run time (sum of Benchmark duration)",
        stats(overhead.iter().map(|r| r.client_s)),
        "",
        "",
    );
    row(
        "  launch --wait --poll 0.1, submit→COMPLETED",
        stats(overhead.iter().map(|r| r.launch_s)),
        "",
        "",
    );
    let det = stats(faults.iter().map(|r| r.detect_s));
    row(
        "fault detection: kill CTX_0 → job gone",
        det,
        &format!("<= {DETECT_TARGET_S}"),
        &format!("cited: {DETECT_INCUMBENT_S} scan"),
    );
    let markers: Vec<f64> = faults.iter().filter_map(|r| r.marker_s).collect();
    row("  kill → coord/CTX_0.failed written", stats(markers), "", "");
    row(
        "  kill → job no longer RUNNING (scancel)",
        stats(faults.iter().map(|r| r.cancelled_s)),
        "",
        "",
    );
    row(
        "  job COMPLETING → gone (Slurm teardown)",
        stats(faults.iter().map(|r| r.detect_s - r.cancelled_s)),
        "",
        "",
    );
    let hdet = stats(health.iter().map(|r| r.detect_s));
    row(
        "fault detection: GEN_0 /health 503 → job gone",
        hdet,
        &format!("<= {DETECT_TARGET_S}"),
        "cited: never (process lives)",
    );
    let markers: Vec<f64> = health.iter().filter_map(|r| r.marker_s).collect();
    row("  503 seen → coord/GEN_0.failed written", stats(markers), "", "");
    let clean = health.iter().filter(|r| r.leftovers.is_empty()).count();
    let named = health.iter().filter(|r| r.failed_named > 0).count();
    println!(
        "/health fault runs: {clean}/{} without left-over processes, {named}/{} with failed \
         records naming GEN_0",
        health.len(),
        health.len()
    );
    let clean = faults.iter().filter(|r| r.leftovers.is_empty()).count();
    let named = faults.iter().filter(|r| r.failed_named > 0).count();
    let states: Vec<&str> = faults.iter().map(|r| r.state.as_str()).collect();
    println!("fault runs: final job state {}", states.join(", "));
    println!("fault runs without left-over processes (pgrep -f JOBDIR): {clean}/{}", faults.len());
    println!("fault runs with failed metric records naming CTX_0: {named}/{}", faults.len());
    let dup = faults.iter().filter(|r| r.duplicates == 0).count();
    println!("fault runs with one metric record per client run: {dup}/{}", faults.len());
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "targets: overhead <= {OVERHEAD_TARGET_S} s (median): {}; fault detection <= \
         {DETECT_TARGET_S} s (median): kill {}, /health 503 {}",
        verdict(ov.0 <= OVERHEAD_TARGET_S),
        verdict(det.0 <= DETECT_TARGET_S),
        verdict(hdet.0 <= DETECT_TARGET_S)
    );
    println!(
        "incumbent column: NOT MEASURED, figures cited from reference/incumbent.md §4, §7.4: \
         >= 30 s of sleeps and polls per disagg job \
         (sleep 5 after each step, 10 s address poll); a dead server is found by a 30 s log scan \
         or a ready timeout of up to 3600 s"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_startup_delay_and_stats() {
        assert_eq!(startup_delay("worker_env_var: \"SIMSERVE_STARTUP_DELAY=0.3 X=1\""), Some(0.3));
        assert_eq!(startup_delay("worker_env_var: \"\""), None);
        assert_eq!(stats([3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats([4.0, 1.0]), (2.5, 1.0, 4.0));
    }

    #[test]
    fn the_freeze_configs_have_one_server_and_no_fault_setting() {
        let y = freeze_yaml();
        assert!(y.contains("  num_gen_servers: 1\n") && !y.contains("HEALTH_503"), "{y}");
        assert!(AGGR_YAML.contains(&format!("  - name: \"{AGGR_SERVER}\"\n")));
        assert_eq!(AGGR_YAML.matches("\n  - name:").count(), 1);
        assert!(!AGGR_YAML.contains("SIMSERVE_HANG") && !y.contains("SIMSERVE_HANG"));
    }

    #[test]
    fn the_health_config_has_one_faulty_gen_server() {
        let y = health_yaml();
        assert!(y.contains("  num_gen_servers: 1\n"), "{y}");
        assert!(
            y.contains("  server_env_var: \"\"\n  gen_worker_env_var: \"SIMSERVE_HEALTH_503_AFTER_REQUESTS=6\"\n"),
            "{y}"
        );
    }
}
