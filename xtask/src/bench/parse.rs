//! `cargo xtask bench parse`: parse-metrics against Python's `re` on the same files, in one run.
//!
//! Files (generated once under `target/bench-parse/`, reused while their size matches):
//! * `gen_server_0.log`: a gen-worker log of `--gen-mb` MiB (default 1024): py_executor
//!   iteration lines (ramping `num_generation_tokens`, `N/A` at iter 1) among HTTP access
//!   lines, warnings, KV-cache stats and progress bars;
//! * `client.log`: `--blocks` (default 100,000) `benchmark_serving` result blocks, each with its
//!   printed namespace and noise around it.
//!
//! The baseline is a Python script (written by this task). The gen-worker log is scanned the
//! way the incumbent does, which is already competent (reference/incumbent.md §5: the fast `in`
//! reject, the iteration regexes, iter ≥ 5, the mode bucket's mean). The client log has two
//! baselines: the competent one splits each line at its label's colon and looks the label up in
//! a dict (one regex only on `Namespace(` lines), and, labelled apart, the incumbent's way runs
//! every PERF_METRIC_LOG_QUERIES regex on every line (first match wins, one result per block).
//! Every side gets one untimed warm-up run, then `--runs` timed runs (median). Wall time is
//! taken here; CPU time and peak RSS of each child come from GNU time (the Debian `time`
//! package is installed when missing). Results are checked to agree before the table is
//! printed.

use crate::util::{apt_install_if_missing, project_root, Section};
use anyhow::{ensure, Context};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Parse {
    /// Size of the generated gen-worker log, in MiB.
    #[arg(long, default_value_t = 1024)]
    gen_mb: u64,
    /// Number of result blocks in the generated client log.
    #[arg(long, default_value_t = 100_000)]
    blocks: u64,
    /// Use this parse-metrics binary instead of building one (e.g. on a machine without cargo).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Timed runs per side, at least 5 (the median is reported), after one warm-up run each.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// One measured run.
struct Measure {
    wall_s: f64,
    /// User + system CPU time: robust when the machine is shared.
    cpu_s: f64,
    rss_mb: f64,
}

impl Parse {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        ensure!(self.runs >= 5, "--runs must be at least 5 (medians of 5 or more runs per side)");
        let runs = self.runs;
        let dir = project_root().join("target/bench-parse");
        std::fs::create_dir_all(&dir)?;
        let gen_log = dir.join("gen_server_0.log");
        let client_log = dir.join("client.log");
        ensure_file(&gen_log, &format!("gen {}", self.gen_mb), |w| {
            write_gen_log(w, self.gen_mb << 20)
        })?;
        ensure_file(&client_log, &format!("client {}", self.blocks), |w| {
            write_client_log(w, self.blocks)
        })?;
        std::fs::write(dir.join("baseline.py"), BASELINE_PY)?;
        apt_install_if_missing(sh, "/usr/bin/time", &["time"])?;
        let bin = match &self.bin {
            Some(bin) => bin.clone(),
            None => {
                let _s = Section::new("cargo build --release -p parse-metrics");
                xshell::cmd!(sh, "cargo build --release -q -p parse-metrics").run()?;
                project_root().join("target/release/parse-metrics")
            }
        };
        let py = dir.join("baseline.py");
        let out = |name: &str| dir.join(name);
        // One side: `cmd` with its stdout to `name` under `dir`.
        let side = |name: &str, cmd: Vec<String>| measure(&dir, &out(name), &cmd, runs);
        let rust = |args: &[&str], input: &Path| -> Vec<String> {
            [p(&bin)]
                .into_iter()
                .chain(args.iter().map(|a| a.to_string()))
                .chain([p(input)])
                .collect()
        };
        let python =
            |mode: &str, input: &Path| vec!["python3".into(), p(&py), mode.into(), p(input)];

        warm(&gen_log)?;
        warm(&client_log)?;
        let _s = Section::new(format!("gen-worker log scan (1 warm-up + {runs} runs each)"));
        let rust_gen = side("rust-gen.jsonl", rust(&["--format", "gen-log"], &gen_log))?;
        let py_gen = side("py-gen.json", python("gen", &gen_log))?;
        let rust_value =
            first_number(&out("rust-gen.jsonl"), "\"mean_gen_worker_per_iter_device_step_time\":")?;
        let py_value =
            first_number(&out("py-gen.json"), "\"mean_gen_worker_per_iter_device_step_time\": ")?;
        ensure!(
            ((rust_value - py_value) / py_value).abs() < 1e-9,
            "gen-log results differ: parse-metrics {rust_value} vs Python {py_value}"
        );
        drop(_s);

        let _s = Section::new(format!("client log, result blocks (1 warm-up + {runs} runs each)"));
        let rust_client = side("rust-client.jsonl", rust(&["--test-id", "bench"], &client_log))?;
        let dict_client = side("py-dict-client.jsonl", python("client-dict", &client_log))?;
        let py_client = side("py-client.jsonl", python("client", &client_log))?;
        let rust_sum = sum_of(&out("rust-client.jsonl"), "\"seq_throughput\":")?;
        for name in ["py-dict-client.jsonl", "py-client.jsonl"] {
            let py_sum = sum_of(&out(name), "\"seq_throughput\": ")?;
            ensure!(
                rust_sum.0 == self.blocks
                    && py_sum.0 == self.blocks
                    && (rust_sum.1 - py_sum.1).abs() < 1e-6 * py_sum.1.abs().max(1.0),
                "client results differ: parse-metrics {rust_sum:?} vs {name} {py_sum:?} (blocks {})",
                self.blocks
            );
        }
        drop(_s);

        let gib = std::fs::metadata(&gen_log)?.len() as f64 / f64::from(1u32 << 30);
        println!(
            "bench parse: parse-metrics vs Python on the same files, warm cache, \
             1 warm-up + median of {runs} runs per side; ratio = baseline / perfline"
        );
        println!("gen-worker log: {gib:.2} GiB, step time {rust_value:.6} ms (both); client log: {} blocks", self.blocks);
        println!("| figure | parse-metrics | baseline | value | ratio |");
        println!("|---|---|---|---|---|");
        let row = |name: &str, base: &str, r: f64, b: f64, unit: &str| {
            println!("| {name} | {r:.2} {unit} | {base} | {b:.2} {unit} | {:.1}x |", b / r);
        };
        let gen_base = "python re, `in` reject (incumbent, competent)";
        row("gen-log scan wall time", gen_base, rust_gen.wall_s, py_gen.wall_s, "s");
        row("gen-log scan CPU time (user+sys)", gen_base, rust_gen.cpu_s, py_gen.cpu_s, "s");
        row("gen-log scan peak RSS", gen_base, rust_gen.rss_mb, py_gen.rss_mb, "MB");
        println!(
            "| gen-log throughput | {:.2} GiB/s | {gen_base} | {:.3} GiB/s | |",
            gib / rust_gen.wall_s,
            gib / py_gen.wall_s
        );
        for (base, m) in [
            ("python label dict (competent)", &dict_client),
            ("python 21 regexes per line (incumbent)", &py_client),
        ] {
            row("client log wall time", base, rust_client.wall_s, m.wall_s, "s");
            row("client log CPU time (user+sys)", base, rust_client.cpu_s, m.cpu_s, "s");
            row("client log peak RSS", base, rust_client.rss_mb, m.rss_mb, "MB");
        }
        let target = |ok: bool| if ok { "met" } else { "MISSED" };
        println!(
            "targets: >= 20x the competent Python: gen-log {} ({:.1}x), client {} ({:.1}x); RSS < 64 MB: {} ({:.1} / {:.1} MB)",
            target(py_gen.wall_s / rust_gen.wall_s >= 20.0),
            py_gen.wall_s / rust_gen.wall_s,
            target(dict_client.wall_s / rust_client.wall_s >= 20.0),
            dict_client.wall_s / rust_client.wall_s,
            target(rust_gen.rss_mb < 64.0 && rust_client.rss_mb < 64.0),
            rust_gen.rss_mb,
            rust_client.rss_mb
        );
        Ok(())
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Runs `cmd` with stdout to `out`: wall time from here, peak RSS from GNU time (`%M`).
/// Reads a file once so that neither side pays for a cold page cache (the files are bigger
/// than what a build leaves cached).
fn warm(path: &Path) -> anyhow::Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// One untimed warm-up run, then the run with the median wall time of `runs` runs.
fn measure(dir: &Path, out: &Path, cmd: &[String], runs: usize) -> anyhow::Result<Measure> {
    measure_once(dir, out, cmd)?;
    let mut all =
        (0..runs).map(|_| measure_once(dir, out, cmd)).collect::<anyhow::Result<Vec<_>>>()?;
    all.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    Ok(all.swap_remove(runs / 2))
}

fn measure_once(dir: &Path, out: &Path, cmd: &[String]) -> anyhow::Result<Measure> {
    let (wall_s, status, fields) =
        super::gnu_time(cmd, "%M %U %S", out, &dir.join("rss.txt"), false)?;
    ensure!(status.success(), "{} failed: {status}", cmd.join(" "));
    let [rss_kb, user, sys] = fields[..] else { anyhow::bail!("GNU time output: {fields:?}") };
    eprintln!("    {}: {wall_s:.3} s wall, {:.3} s cpu, {rss_kb} KB", cmd.join(" "), user + sys);
    Ok(Measure { wall_s, cpu_s: user + sys, rss_mb: rss_kb / 1024.0 })
}

/// The first number after `key` in a file.
fn first_number(path: &Path, key: &str) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(path)?;
    let at = text.find(key).with_context(|| format!("{}: no {key}", path.display()))? + key.len();
    let num: String =
        text[at..].chars().take_while(|c| c.is_ascii_digit() || ".-e".contains(*c)).collect();
    Ok(num.parse()?)
}

/// (lines holding `key`, sum of the numbers after it).
fn sum_of(path: &Path, key: &str) -> anyhow::Result<(u64, f64)> {
    let text = std::fs::read_to_string(path)?;
    let mut n = 0;
    let mut sum = 0.0;
    for line in text.lines() {
        if let Some(at) = line.find(key) {
            let num: String = line[at + key.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || ".-e".contains(*c))
                .collect();
            sum += num.parse::<f64>()?;
            n += 1;
        }
    }
    Ok((n, sum))
}

/// Generates `path` unless a stamp says the same generator already wrote it at this size.
fn ensure_file(
    path: &Path,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let stamp = PathBuf::from(format!("{}.stamp", path.display()));
    let size = std::fs::metadata(path).map(|m| m.len()).ok();
    let expected = size.map(|s| format!("{what} {s}"));
    if expected.is_some() && std::fs::read_to_string(&stamp).ok() == expected {
        eprintln!("    reusing {}", path.display());
        return Ok(());
    }
    let _s = Section::new(format!("generate {}", path.display()));
    let file = std::fs::File::create(path)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write(&mut w)?;
    w.flush()?;
    drop(w);
    let size = std::fs::metadata(path)?.len();
    std::fs::write(&stamp, format!("{what} {size}"))?;
    Ok(())
}

/// A small deterministic generator (xorshift64*): the files are the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn write_gen_log(w: &mut dyn Write, bytes: u64) -> std::io::Result<()> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut written = 0u64;
    let mut iter = 0u64;
    let mut line = String::with_capacity(512);
    while written < bytes {
        line.clear();
        use std::fmt::Write as _;
        let (mm, ss) = (iter / 60 % 60, iter % 60);
        if rng.below(100) < 55 {
            // Batches ramp up to 512, hold, and drain, so buckets other than the mode exist.
            let phase = iter % 1000;
            let ngen = if phase < 50 {
                phase * 10 + 12
            } else if phase > 950 {
                (1000 - phase) * 10
            } else {
                512
            };
            let host = 6.0 + rng.unit() * 2.0;
            let device =
                if iter == 1 { "N/A".to_string() } else { format!("{}", 6.0 + rng.unit() * 3.0) };
            let _ = write!(
                line,
                "[TRT-LLM] [I] [_torch][RANK 0] iter = {iter}, global_rank = 0, rank = 0, currank_total_requests = {ngen}/{ngen}, host_step_time = {host}ms, prev_device_step_time = {device}ms, timestamp = 2026-11-22 07:{mm:02}:{ss:02}, num_scheduled_requests: {ngen}, states = {{'num_ctx_requests': 0, 'num_ctx_tokens': 0, 'num_generation_tokens': {ngen}}}"
            );
            iter += 1;
        } else {
            let _ = match rng.below(5) {
                0 => write!(line, "INFO:     10.0.{}.{}:{} - \"POST /v1/completions HTTP/1.1\" 200 OK", rng.below(255), rng.below(255), 30000 + rng.below(30000)),
                1 => write!(line, "[11/22/2026-07:{mm:02}:{ss:02}] [TRT-LLM] [W] Request {} exceeded max_tokens; iteration stats delayed", rng.next()),
                2 => write!(line, "[TRT-LLM] [I] [_torch] KV cache: used blocks {}/{}, free {} (max_iter = {})", rng.below(40000), 40000, rng.below(40000), rng.below(100)),
                3 => write!(line, "Loading safetensors checkpoint shards: {}% Completed | {}/163 [00:{:02}<00:{:02},  3.21it/s]", rng.below(100), rng.below(163), rng.below(60), rng.below(60)),
                _ => write!(line, "[TRT-LLM] [I] [_torch][RANK 0] scheduler: {} context requests pending, {} generation requests active", rng.below(64), rng.below(1024)),
            };
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    Ok(())
}

fn write_client_log(w: &mut dyn Write, blocks: u64) -> std::io::Result<()> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for b in 0..blocks {
        let c = 1u64 << (b % 11);
        let n = c * 10;
        let mut text = format!(
            "Namespace(backend='openai', base_url=None, host='10.0.0.1', port=8000, endpoint='/v1/completions', dataset_name='random', dataset_path=None, max_concurrency={c}, model='/models/DeepSeek-R1-0528-FP4-v2', tokenizer='/models/DeepSeek-R1-0528-FP4-v2', use_beam_search=False, num_prompts={n}, logprobs=None, request_rate=inf, burstiness=1.0, seed=0, trust_remote_code=True, disable_tqdm=False, profile=False, save_result=False, ignore_eos=True, percentile_metrics='ttft,tpot,itl,e2el', metric_percentiles='99', random_input_len=1024, random_output_len=1024, random_range_ratio=0.8, random_ids=True)\n\
             Starting initial single prompt test run...\nInitial test run completed. Starting main benchmark run...\n\
             100%|██████████| {n}/{n} [00:42<00:00,  2.41it/s]\n\
             ============ Serving Benchmark Result ============\n"
        );
        let row = |label: &str, v: String| format!("{label:<40} {v:<10}\n");
        let f = |rng: &mut Rng, scale: f64| format!("{:.2}", rng.unit() * scale + 0.01);
        text += &row("Total requests:", n.to_string());
        text += &row("Successful requests:", n.to_string());
        text += &row("Failed requests:", "0".into());
        text += &row("Benchmark duration (s):", f(&mut rng, 100.0));
        text += &row("Total input tokens:", (n * 1024).to_string());
        text += &row("Total generated tokens:", (n * 1024).to_string());
        text += &row("Request throughput (req/s):", f(&mut rng, 50.0));
        text += &row("Output token throughput (tok/s):", f(&mut rng, 50000.0));
        text += &row("Total Token throughput (tok/s):", f(&mut rng, 100000.0));
        text += &row("User throughput (tok/s):", f(&mut rng, 200.0));
        for (header, word) in [
            ("---------------Time to First Token----------------", "TTFT"),
            ("-----Time per Output Token (excl. 1st token)------", "TPOT"),
            ("---------------Inter-token Latency----------------", "ITL"),
            ("----------------End-to-end Latency----------------", "E2EL"),
        ] {
            text += header;
            text += "\n";
            for stat in ["Mean", "Median", "P99"] {
                text += &row(&format!("{stat} {word} (ms):"), f(&mut rng, 1000.0));
            }
        }
        text += "==================================================\n";
        for _ in 0..rng.below(4) {
            text += &format!(
                "INFO:     10.0.0.1:{} - \"GET /health HTTP/1.1\" 200 OK\n",
                30000 + rng.below(30000)
            );
        }
        w.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// The incumbent's scans (reference/incumbent.md §5), line by line with `re`.
const BASELINE_PY: &str = r#"import json, re, sys

def gen(path):
    step_re = re.compile(r"iter\s*=\s*(\d+),.*?prev_device_step_time\s*=\s*([\d.]+)\s*ms")
    ngen_re = re.compile(r"'num_generation_tokens':\s*(\d+)")
    buckets, all_n, all_sum = {}, 0, 0.0
    with open(path, errors="replace") as f:
        for line in f:
            if "prev_device_step_time" not in line:
                continue
            m = step_re.search(line)
            if m is None or int(m.group(1)) < 5:
                continue
            try:
                value = float(m.group(2))
            except ValueError:
                continue
            all_n += 1
            all_sum += value
            g = ngen_re.search(line)
            if g is not None:
                b = buckets.setdefault(int(g.group(1)), [0, 0.0])
                b[0] += 1
                b[1] += value
    if buckets:
        _, (n, s) = max(buckets.items(), key=lambda kv: (kv[1][0], kv[0]))
        result = s / n
    else:
        result = all_sum / all_n if all_n else None
    print(json.dumps({"mean_gen_worker_per_iter_device_step_time": result, "rows": all_n}))

QUERIES = {
    "seq_throughput": r"Request throughput \(req\/s\):\s+(-?[\d\.]+)",
    "token_throughput": r"Output token throughput \(tok\/s\):\s+(-?[\d\.]+)",
    "total_token_throughput": r"Total Token throughput \(tok\/s\):\s+(-?[\d\.]+)",
    "user_throughput": r"User throughput \(tok\/s\):\s+(-?[\d\.]+)",
    "mean_ttft": r"Mean TTFT \(ms\):\s+(-?[\d\.]+)",
    "median_ttft": r"Median TTFT \(ms\):\s+(-?[\d\.]+)",
    "p99_ttft": r"P99 TTFT \(ms\):\s+(-?[\d\.]+)",
    "mean_itl": r"Mean ITL \(ms\):\s+(-?[\d\.]+)",
    "median_itl": r"Median ITL \(ms\):\s+(-?[\d\.]+)",
    "p99_itl": r"P99 ITL \(ms\):\s+(-?[\d\.]+)",
    "mean_tpot": r"Mean TPOT \(ms\):\s+(-?[\d\.]+)",
    "median_tpot": r"Median TPOT \(ms\):\s+(-?[\d\.]+)",
    "p99_tpot": r"P99 TPOT \(ms\):\s+(-?[\d\.]+)",
    "mean_e2el": r"Mean E2EL \(ms\):\s+(-?[\d\.]+)",
    "median_e2el": r"Median E2EL \(ms\):\s+(-?[\d\.]+)",
    "p99_e2el": r"P99 E2EL \(ms\):\s+(-?[\d\.]+)",
    "al": r"Mean Avg Decoded Tokens per Iter:\s+(-?[\d\.]+)",
    "mean_gen_worker_per_iter_device_step_time": r"Average Per Iter Device Step Time \(ms\):\s+(-?[\d\.]+)",
}
CHECKS = {
    "failed_requests": r"Failed requests:\s+(\d+)",
    "successful_requests": r"Successful requests:\s+(\d+)",
    "num_prompts": r"num_prompts=(\d+)",
}

def emit(metrics, counts):
    """Prints one block's result line (both client baselines)."""
    failed = counts.get("failed_requests", 0) > 0 or counts.get("marker", False)
    if counts.get("successful_requests", 0) < counts.get("num_prompts", 0):
        failed = True
    print(json.dumps({"metrics": metrics, "counts": counts, "failed": failed}))

def client(path):
    queries = [(k, re.compile(v)) for k, v in QUERIES.items()]
    checks = [(k, re.compile(v)) for k, v in CHECKS.items()]
    metrics, counts = None, {}
    with open(path, errors="replace") as f:
        for line in f:
            if "Namespace(" in line and metrics is not None:
                emit(metrics, counts)
                metrics, counts = None, {}
            if "Serving Benchmark Result" in line:
                metrics = {}
            if "!FAILED REQUESTS!" in line or "!CHECK LOG FOR ERRORS!" in line:
                counts["marker"] = True
            for key, rx in checks:
                m = rx.search(line)
                if m and key not in counts:
                    counts[key] = int(m.group(1))
            if metrics is None:
                continue
            for key, rx in queries:
                m = rx.search(line)
                if m and key not in metrics:
                    metrics[key] = float(m.group(1))
    if metrics is not None:
        emit(metrics, counts)

# The competent way: a result line is `LABEL:` padded to 40 columns, then the value, so the
# label is everything up to the first colon and one dict lookup finds its metric.
LABELS = {q.split(r"\s+")[0].replace("\\", ""): k for k, q in QUERIES.items()}
COUNT_LABELS = {"Failed requests:": "failed_requests", "Successful requests:": "successful_requests"}
NUM_PROMPTS = re.compile(r"num_prompts=(\d+)")

def client_dict(path):
    metrics, counts = None, {}
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("Namespace("):
                if metrics is not None:
                    emit(metrics, counts)
                    metrics, counts = None, {}
                m = NUM_PROMPTS.search(line)
                if m and "num_prompts" not in counts:
                    counts["num_prompts"] = int(m.group(1))
                continue
            if "Serving Benchmark Result" in line:
                metrics = {}
            if "!FAILED REQUESTS!" in line or "!CHECK LOG FOR ERRORS!" in line:
                counts["marker"] = True
            colon = line.find(":")
            if colon < 0:
                continue
            label = line[:colon + 1]
            key = COUNT_LABELS.get(label)
            if key is not None:
                if key not in counts:
                    counts[key] = int(line[colon + 1:].split()[0])
                continue
            key = LABELS.get(label)
            if key is not None and metrics is not None and key not in metrics:
                try:
                    metrics[key] = float(line[colon + 1:].split()[0])
                except (ValueError, IndexError):
                    pass
    if metrics is not None:
        emit(metrics, counts)

{"gen": gen, "client": client, "client-dict": client_dict}[sys.argv[1]](sys.argv[2])
"#;
