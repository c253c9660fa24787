//! bench: sends OpenAI-compatible requests (random or file prompts) to a server and writes
//! benchmark_serving's result block to stdout (and its JSON with `--save-result`).

use bench::client::{request_body, Backend, Client, Target};
use bench::dataset;
use bench::report::{py_float, Metric, Options, Results};
use clap::{Parser, ValueEnum};
use perfline::cli::Result;
use perfline::{Exit, Failure};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// OpenAI-compatible load generator with benchmark_serving's flags and output.
///
/// Timestamps are taken when each SSE event is read; TTFT, TPOT, ITL and E2EL are defined as
/// benchmark_serving defines them. Output tokens come from the server's `usage` when it sends
/// it, else from the number of content events.
#[derive(Parser, Debug)]
#[command(name = "bench", version, after_help = EXAMPLES)]
struct Args {
    /// Model name sent in each request.
    #[arg(long)]
    model: String,
    /// Accepted for compatibility; bench needs no tokenizer (use --random-ids for exact lengths).
    #[arg(long)]
    tokenizer: Option<String>,
    /// API flavour: `openai` (/v1/completions) or `openai-chat` (/v1/chat/completions).
    #[arg(long, value_enum, default_value = "openai")]
    backend: BackendArg,
    /// Server URL, e.g. http://10.0.0.1:8000 (overrides --host/--port); http only.
    #[arg(long)]
    base_url: Option<String>,
    /// Server host name or address (IPv6 in brackets).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port: 1..=65535.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Request path; default /v1/completions, or /v1/chat/completions for openai-chat.
    #[arg(long)]
    endpoint: Option<String>,
    /// Number of requests to send: 1..=10000000.
    #[arg(long, default_value_t = 1000)]
    num_prompts: usize,
    /// Most requests in flight at once (default: no limit).
    #[arg(long)]
    max_concurrency: Option<usize>,
    /// Requests per second, `inf` to send all at once.
    #[arg(long, default_value = "inf")]
    request_rate: String,
    /// Gamma shape of the arrival gaps: 1 = Poisson, lower = burstier.
    #[arg(long, default_value_t = 1.0)]
    burstiness: f64,
    /// Seed of the prompts and arrival times.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `random` prompts, or `trtllm_custom` prompts from --dataset-path (JSON or JSON Lines).
    #[arg(long, value_enum, default_value = "random")]
    dataset_name: DatasetArg,
    #[arg(long)]
    dataset_path: Option<PathBuf>,
    /// Prompt length in tokens: 1..=1000000.
    #[arg(long, default_value_t = 1024)]
    random_input_len: usize,
    /// Output length in tokens (max_tokens): 1..=1000000.
    #[arg(long, default_value_t = 128)]
    random_output_len: usize,
    /// Lengths are drawn uniformly from len × [1 − ratio, 1 + ratio].
    #[arg(long, default_value_t = 0.0)]
    random_range_ratio: f64,
    /// Send token-id prompts: exact input lengths, no tokenizer needed (openai backend).
    #[arg(long)]
    random_ids: bool,
    /// Metrics with percentiles in the block: any of ttft,tpot,itl,e2el.
    #[arg(long, default_value = "ttft,tpot,itl")]
    percentile_metrics: String,
    /// Percentiles to print, comma separated, e.g. 50,90,99.
    #[arg(long, default_value = "99")]
    metric_percentiles: String,
    /// Ask the server to ignore EOS so every request yields its full output length.
    #[arg(long)]
    ignore_eos: bool,
    /// Wait for the whole response instead of streaming (TTFT = E2EL).
    #[arg(long)]
    non_streaming: bool,
    /// Write the result JSON.
    #[arg(long)]
    save_result: bool,
    /// Add the per-request arrays (lengths, latencies, errors, scheduled and sent times).
    #[arg(long)]
    save_detailed: bool,
    #[arg(long)]
    result_dir: Option<PathBuf>,
    /// Default: {backend}-{rate}qps[-concurrency{C}]-{model}-{date}.json.
    #[arg(long)]
    result_filename: Option<String>,
    /// KEY=VALUE pairs added to the result JSON (checked before the run).
    #[arg(long, num_args = 1..)]
    metadata: Vec<String>,
    /// SLOs for the goodput line, e.g. `ttft:500 tpot:50 e2el:10000` (ms).
    #[arg(long, num_args = 1..)]
    goodput: Vec<String>,
    /// Warm-up requests (default when given alone: the concurrency) sent before measuring.
    #[arg(long, num_args = 0..=1)]
    warmup: Option<Option<usize>>,
    /// Skip the single test request sent before the run.
    #[arg(long)]
    no_test_input: bool,
    /// Count client queueing in the latencies: measure from the scheduled time, not the send.
    #[arg(long)]
    include_queueing: bool,
    /// Per-request deadline in seconds.
    #[arg(long, default_value_t = 21600.0)]
    request_timeout: f64,
    /// Exit 1 when failed/total exceeds this fraction.
    #[arg(long, default_value_t = 0.0)]
    max_error_rate: f64,
    /// Seconds between progress lines on stderr.
    #[arg(long, default_value_t = 10.0)]
    progress_interval: f64,
    /// Runtime worker threads: 1..=1024 (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Accepted for compatibility (no tokenizer is used).
    #[arg(long)]
    tokenize_on_client: bool,
    /// Accepted for compatibility.
    #[arg(long)]
    trust_remote_code: bool,
    /// Accepted for compatibility (chat prompts are sent as one user message).
    #[arg(long)]
    use_chat_template: bool,
    /// Accepted for compatibility.
    #[arg(long)]
    disable_tqdm: bool,
}

const EXAMPLES: &str = "\
Examples:
  bench --model m --host 127.0.0.1 --port 8000 --dataset-name random --random-ids \\
        --random-input-len 1024 --random-output-len 128 --num-prompts 64 --max-concurrency 16 \\
        --percentile-metrics ttft,tpot,itl,e2el --ignore-eos
  bench --model m --base-url http://10.0.0.5:8000 --backend openai-chat --request-rate 20 \\
        --burstiness 0.5 --num-prompts 500 --save-result --result-dir out/ --max-error-rate 0.01

The API key, if the server needs one, is read from OPENAI_API_KEY.

Exit status: 0 done (failed requests within --max-error-rate); 1 too many requests failed; 64 bad
usage (a value out of its range, a bad URL or port, --metadata without KEY=VALUE), checked
before any request; 66 a dataset file cannot be read; 65 a bad dataset; 73 the result JSON
cannot be written.";

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Openai,
    OpenaiChat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DatasetArg {
    Random,
    #[value(name = "trtllm_custom")]
    TrtllmCustom,
}

fn main() {
    perfline::cli::main("bench", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let plan = Plan::from_args(&args)?;
    // Sockets in flight: the concurrency cap, or every request; plus the runtime's own.
    let in_flight = args.max_concurrency.unwrap_or(args.num_prompts).min(args.num_prompts);
    bench::fds::reserve(in_flight.saturating_add(64));
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().map_err(|e| Failure::software(format!("runtime: {e}")))?;
    // With --save-result the run goes on when stdout is closed: the JSON is the result.
    let printed = print(&format!("{}\n", namespace(&args, &plan)));
    if !args.save_result {
        printed.clone()?;
    }
    let (outcomes, duration) = rt.block_on(execute(&args, &plan))?;
    let mut outcomes = outcomes;
    if args.include_queueing {
        for o in &mut outcomes {
            let queued = o.sent - o.scheduled;
            o.ttft += queued;
            o.latency += queued;
        }
    }
    let prompt_lens: Vec<usize> = plan.requests.iter().map(|r| r.prompt_len).collect();
    let results = Results::compute(&outcomes, &prompt_lens, duration, &plan.options);
    // A closed stdout must not lose the result JSON: save it whatever printing gave.
    let printed = printed.and_then(|()| print(&results.block(&plan.options)));
    if args.save_result {
        save(&args, &plan, &results, &outcomes)?;
    }
    printed?;
    let rate = if results.total == 0 { 0.0 } else { results.failed as f64 / results.total as f64 };
    if rate > args.max_error_rate {
        let first = results.errors.first().map_or(String::new(), |(m, _)| format!(" (first: {m})"));
        let why = format!(
            "{} of {} requests failed, error rate {rate:.4} > --max-error-rate {}{first}",
            results.failed, results.total, args.max_error_rate
        );
        perfline::cli::diag("bench", "error", why);
        return Ok(Exit::Failed);
    }
    Ok(Exit::Ok)
}

/// Writes `text` to stdout now (a closed stdout is a broken-pipe `Failure`, never a panic).
fn print(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| Failure::io("stdout", &e))
}

/// Everything decided before the first request.
struct Plan {
    target: Target,
    /// `--metadata`, checked.
    metadata: Vec<(String, String)>,
    requests: Vec<dataset::Request>,
    rate: Option<f64>,
    options: Options,
}

impl Plan {
    fn from_args(a: &Args) -> Result<Plan> {
        let backend = match a.backend {
            BackendArg::Openai => Backend::Openai,
            BackendArg::OpenaiChat => Backend::OpenaiChat,
        };
        if a.random_ids && backend == Backend::OpenaiChat {
            return Err(Failure::usage("--random-ids needs --backend openai (chat takes text)"));
        }
        let rate = match a.request_rate.trim() {
            "inf" | "Inf" | "INF" => None,
            s => match s.parse::<f64>() {
                Ok(r) if (0.001..1e9).contains(&r) => Some(r),
                _ => {
                    return Err(Failure::usage(format!(
                        "--request-rate {s}: expected inf or a positive number"
                    )))
                }
            },
        };
        if !(a.burstiness.is_finite() && a.burstiness > 0.0) {
            return Err(Failure::usage(format!("--burstiness {}: must be > 0", a.burstiness)));
        }
        if !(0.0..=1.0).contains(&a.random_range_ratio) {
            return Err(Failure::usage("--random-range-ratio must be in 0..1"));
        }
        if a.max_error_rate.is_nan() || a.max_error_rate < 0.0 {
            return Err(Failure::usage("--max-error-rate must be a fraction >= 0"));
        }
        if !(0.1..=86400.0).contains(&a.progress_interval) {
            return Err(Failure::usage("--progress-interval must be 0.1..86400 seconds"));
        }
        if !(a.request_timeout.is_finite() && a.request_timeout > 0.0 && a.request_timeout < 1e9) {
            return Err(Failure::usage("--request-timeout must be a positive number of seconds"));
        }
        in_range("--num-prompts", a.num_prompts, MAX_PROMPTS)?;
        in_range("--random-input-len", a.random_input_len, MAX_LEN)?;
        in_range("--random-output-len", a.random_output_len, MAX_LEN)?;
        let tokens =
            a.num_prompts as f64 * a.random_input_len as f64 * (1.0 + a.random_range_ratio);
        if tokens > MAX_TOKENS {
            return Err(Failure::usage(format!(
                "--num-prompts {} × --random-input-len {}: over {MAX_TOKENS:e} prompt tokens",
                a.num_prompts, a.random_input_len
            )));
        }
        if let Some(c) = a.max_concurrency {
            in_range("--max-concurrency", c, MAX_PROMPTS)?;
        }
        if let Some(w) = a.warmup.flatten() {
            in_range("--warmup", w, MAX_PROMPTS)?;
        }
        if let Some(t) = a.threads {
            in_range("--threads", t, 1024)?;
        }
        let metadata = a
            .metadata
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().into(), v.trim().into())),
                _ => Err(Failure::usage(format!("--metadata {kv:?}: expected KEY=VALUE"))),
            })
            .collect::<Result<Vec<(String, String)>>>()?;
        let (authority, prefix) = match &a.base_url {
            Some(url) => split_url(url)?,
            None => (authority(&a.host, &a.port.to_string(), "--host/--port")?, String::new()),
        };
        let endpoint = a.endpoint.clone().unwrap_or_else(|| match backend {
            Backend::Openai => "/v1/completions".into(),
            Backend::OpenaiChat => "/v1/chat/completions".into(),
        });
        let target = Target {
            authority,
            path: format!("{prefix}{endpoint}"),
            backend,
            model: a.model.clone(),
            stream: !a.non_streaming,
            ignore_eos: a.ignore_eos,
            api_key: std::env::var("OPENAI_API_KEY").ok().filter(|k| !k.is_empty()),
            timeout: Duration::from_secs_f64(a.request_timeout),
        };
        let requests = match a.dataset_name {
            DatasetArg::Random => dataset::random(
                a.num_prompts,
                a.random_input_len,
                a.random_output_len,
                a.random_range_ratio,
                a.random_ids,
                a.seed,
            ),
            DatasetArg::TrtllmCustom => {
                let path = a.dataset_path.as_ref().ok_or_else(|| {
                    Failure::usage("--dataset-name trtllm_custom needs --dataset-path")
                })?;
                let text =
                    std::fs::read_to_string(path).map_err(|e| Failure::io(path.display(), &e))?;
                dataset::from_file(
                    &text,
                    &path.display().to_string(),
                    a.num_prompts,
                    a.random_output_len,
                )?
            }
        };
        let percentile_metrics = a
            .percentile_metrics
            .split(',')
            .map(|m| {
                Metric::parse(m).ok_or_else(|| {
                    Failure::usage(format!("--percentile-metrics: unknown metric {m:?}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let percentiles = a
            .metric_percentiles
            .split(',')
            .map(|p| match p.trim().parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
                _ => Err(Failure::usage(format!("--metric-percentiles: {p:?} is not in 0..100"))),
            })
            .collect::<Result<Vec<_>>>()?;
        let goodput = a
            .goodput
            .iter()
            .map(|g| {
                let bad = || {
                    Failure::usage(format!("--goodput {g:?}: expected ttft|tpot|e2el:MILLISECONDS"))
                };
                let (k, v) = g.split_once(':').ok_or_else(bad)?;
                let m = Metric::parse(k).filter(|m| *m != Metric::Itl).ok_or_else(bad)?;
                let v: f64 = v.parse().ok().filter(|v: &f64| *v >= 0.0).ok_or_else(bad)?;
                Ok((m, v))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Plan {
            target,
            metadata,
            requests,
            rate,
            options: Options { percentile_metrics, percentiles, goodput },
        })
    }
}

/// The most requests (and concurrency, warm-up) bench sends in one run.
const MAX_PROMPTS: usize = 10_000_000;
/// The longest prompt or output, in tokens.
const MAX_LEN: usize = 1_000_000;
/// The most prompt tokens of one run (all prompts are made before the first request).
const MAX_TOKENS: f64 = 1e9;

fn in_range(flag: &str, value: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(Failure::usage(format!("{flag} {value}: must be in 1..={max}")))
    }
}

/// `host:port` to connect to, checked: a host name or address without spaces, `/`, `@` or
/// `?` (IPv6 in brackets), and a port in 1..=65535.
fn authority(host: &str, port: &str, what: &str) -> Result<String> {
    let bad = |why: &str| Failure::usage(format!("{what} {host}:{port}: {why}"));
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let host_ok = match bare {
        Some(v6) => !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'),
        None => {
            !host.is_empty()
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        }
    };
    if !host_ok {
        return Err(bad("not a host name or address"));
    }
    match port.parse::<u16>() {
        Ok(p) if p >= 1 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(format!("{host}:{p}")),
        _ => Err(bad("the port must be in 1..=65535")),
    }
}

/// `http://host[:port][/prefix]` → (`host:port`, `/prefix`); the port defaults to 80.
fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        Failure::usage(format!("--base-url {url}: only http:// URLs are supported"))
    })?;
    let (hostport, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if hostport.is_empty() {
        return Err(Failure::usage(format!("--base-url {url}: no host")));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => (h, p),
        _ => (hostport, "80"),
    };
    let authority = authority(host, port, "--base-url")?;
    if path.contains(['?', '#', ' ']) || path.chars().any(char::is_control) {
        return Err(Failure::usage(format!("--base-url {url}: the path must be a plain path")));
    }
    let path = path.trim_end_matches('/');
    Ok((authority, if path.is_empty() { String::new() } else { format!("/{path}") }))
}

/// Test request, warm-up, then the measured run with progress lines on stderr. All three
/// share one client, so the measured run reuses the connections the warm-up opened.
async fn execute(a: &Args, plan: &Plan) -> Result<(Vec<bench::client::Outcome>, f64)> {
    let client = Client::new(plan.target.clone());
    let first_body = plan.requests.first().map(|r| request_body(&plan.target, r));
    if let (false, Some(body)) = (a.no_test_input, first_body.clone()) {
        let out = client.run(vec![body], &[Duration::ZERO], Some(1), Instant::now()).await;
        if let Some(err) = out.first().and_then(|o| o.error.as_ref()) {
            return Err(Failure::new(
                Exit::Unavailable,
                format!(
                    "test request to {}{} failed: {err}",
                    plan.target.authority, plan.target.path
                ),
            ));
        }
    }
    if let (Some(n), Some(body)) = (a.warmup, first_body) {
        let n = n.unwrap_or(a.max_concurrency.unwrap_or(1));
        client
            .run(vec![body; n], &vec![Duration::ZERO; n], a.max_concurrency, Instant::now())
            .await;
    }
    client.done.store(0, Ordering::Relaxed);
    client.failed.store(0, Ordering::Relaxed);
    let bodies: Vec<_> = plan.requests.iter().map(|r| request_body(&plan.target, r)).collect();
    let arrivals = dataset::arrivals(bodies.len(), plan.rate, a.burstiness, a.seed)?;
    let progress = spawn_progress(Arc::clone(&client), bodies.len(), a.progress_interval);
    let start = Instant::now();
    let outcomes = client.run(bodies, &arrivals, a.max_concurrency, start).await;
    let duration = start.elapsed().as_secs_f64();
    progress.abort();
    Ok((outcomes, duration))
}

fn spawn_progress(client: Arc<Client>, total: usize, every: f64) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs_f64(every);
    tokio::spawn(async move {
        let start = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            let line = format!(
                "{}/{total} done, {} failed, {:.0} s",
                client.done.load(Ordering::Relaxed),
                client.failed.load(Ordering::Relaxed),
                start.elapsed().as_secs_f64()
            );
            perfline::cli::diag("bench", "progress", line);
        }
    })
}

/// The `print(args)` line benchmark_serving starts with (the incumbent reads `num_prompts=N`).
fn namespace(a: &Args, plan: &Plan) -> String {
    let s = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let opt = |v: Option<String>| v.unwrap_or_else(|| "None".into());
    let py_bool = |b: bool| if b { "True" } else { "False" };
    let fields = [
        ("backend", s(backend_name(a.backend))),
        ("base_url", opt(a.base_url.as_deref().map(s))),
        ("host", s(&a.host)),
        ("port", a.port.to_string()),
        ("endpoint", s(&plan.target.path)),
        ("dataset_name", s(dataset_name(a.dataset_name))),
        ("dataset_path", opt(a.dataset_path.as_ref().map(|p| s(&p.display().to_string())))),
        ("max_concurrency", opt(a.max_concurrency.map(|c| c.to_string()))),
        ("model", s(&a.model)),
        ("tokenizer", opt(a.tokenizer.as_deref().map(s))),
        ("num_prompts", a.num_prompts.to_string()),
        ("request_rate", plan.rate.map_or("inf".into(), py_float)),
        ("burstiness", py_float(a.burstiness)),
        ("seed", a.seed.to_string()),
        ("random_input_len", a.random_input_len.to_string()),
        ("random_output_len", a.random_output_len.to_string()),
        ("random_range_ratio", py_float(a.random_range_ratio)),
        ("random_ids", py_bool(a.random_ids).into()),
        ("ignore_eos", py_bool(a.ignore_eos).into()),
        ("non_streaming", py_bool(a.non_streaming).into()),
        ("percentile_metrics", s(&a.percentile_metrics)),
        ("metric_percentiles", s(&a.metric_percentiles)),
        ("include_queueing", py_bool(a.include_queueing).into()),
        ("max_error_rate", py_float(a.max_error_rate)),
    ];
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("Namespace({})", body.join(", "))
}

fn backend_name(b: BackendArg) -> &'static str {
    match b {
        BackendArg::Openai => "openai",
        BackendArg::OpenaiChat => "openai-chat",
    }
}

fn dataset_name(d: DatasetArg) -> &'static str {
    match d {
        DatasetArg::Random => "random",
        DatasetArg::TrtllmCustom => "trtllm_custom",
    }
}

/// `--save-result`: benchmark_serving's JSON (reference/incumbent.md §6), written atomically.
fn save(a: &Args, plan: &Plan, r: &Results, outcomes: &[bench::client::Outcome]) -> Result<()> {
    let date = local_date();
    let mut m = Map::new();
    m.insert("date".into(), json!(date));
    m.insert("backend".into(), json!(backend_name(a.backend)));
    m.insert("model_id".into(), json!(a.model));
    m.insert("tokenizer_id".into(), json!(a.tokenizer.as_deref().unwrap_or(&a.model)));
    m.insert("num_prompts".into(), json!(a.num_prompts));
    for (k, v) in &plan.metadata {
        m.insert(k.clone(), json!(v));
    }
    m.extend(r.json(&plan.options, outcomes, a.save_detailed));
    m.insert("request_rate".into(), plan.rate.map_or(json!("inf"), |x| json!(x)));
    m.insert("burstiness".into(), json!(a.burstiness));
    m.insert("max_concurrency".into(), json!(a.max_concurrency));
    let name = a.result_filename.clone().unwrap_or_else(|| {
        let model = a.model.rsplit('/').next().unwrap_or(&a.model);
        let conc = a.max_concurrency.map_or(String::new(), |c| format!("-concurrency{c}"));
        let rate = plan.rate.map_or("inf".into(), py_float);
        format!("{}-{rate}qps{conc}-{model}-{date}.json", backend_name(a.backend))
    });
    let path = a.result_dir.clone().unwrap_or_default().join(name);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::new(Exit::CantCreat, format!("{}: {e}", dir.display())))?;
    }
    let text = serde_json::to_string_pretty(&Value::Object(m))
        .map_err(|e| Failure::software(format!("result JSON: {e}")))?;
    perfline::fsutil::write_atomic(&path, text.as_bytes())
}

/// `%Y%m%d-%H%M%S` in local time, as benchmark_serving names its results.
fn local_date() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: localtime_r writes only into the zeroed `tm` we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&now, &mut tm) };
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(split_url("http://h:9/").unwrap(), ("h:9".into(), String::new()));
        assert_eq!(split_url("http://h/api/").unwrap(), ("h:80".into(), "/api".into()));
        assert_eq!(split_url("https://h").unwrap_err().exit, Exit::Usage);
        assert!(split_url("http:///x").is_err());
        assert_eq!(split_url("http://[::1]:8000/v").unwrap(), ("[::1]:8000".into(), "/v".into()));
        assert_eq!(split_url("http://[::1]").unwrap().0, "[::1]:80");
        for (url, why) in [
            ("http://h:99999", "--base-url h:99999: the port must be in 1..=65535"),
            ("http://h:0", "--base-url h:0: the port must be in 1..=65535"),
            ("http://h:+80", "--base-url h:+80: the port must be in 1..=65535"),
            ("http://h:", "--base-url h:: the port must be in 1..=65535"),
            ("http://u@h:80", "--base-url u@h:80: not a host name or address"),
            ("http://h h:80", "--base-url h h:80: not a host name or address"),
            ("http://h:80/a?b", "--base-url http://h:80/a?b: the path must be a plain path"),
        ] {
            let err = split_url(url).unwrap_err();
            assert_eq!((err.exit, err.message.as_str()), (Exit::Usage, why), "{url}");
        }
        assert_eq!(authority("127.0.0.1", "8000", "--host/--port").unwrap(), "127.0.0.1:8000");
        assert_eq!(
            authority("a/b", "80", "--host/--port").unwrap_err().message,
            "--host/--port a/b:80: not a host name or address"
        );
        assert_eq!(
            in_range("--num-prompts", 1_000_000_000_000, MAX_PROMPTS).unwrap_err().message,
            "--num-prompts 1000000000000: must be in 1..=10000000"
        );
        assert!(in_range("--num-prompts", 0, MAX_PROMPTS).is_err());
        assert!(in_range("--num-prompts", MAX_PROMPTS, MAX_PROMPTS).is_ok());
    }

    #[test]
    fn args_validate() {
        let parse = |extra: &[&str]| {
            let mut v = vec!["bench", "--model", "m"];
            v.extend_from_slice(extra);
            Plan::from_args(&Args::try_parse_from(v).unwrap())
        };
        assert!(parse(&["--num-prompts", "2"]).unwrap().rate.is_none());
        assert_eq!(
            parse(&["--request-rate", "2.5", "--num-prompts", "1"]).unwrap().rate,
            Some(2.5)
        );
        for bad in [
            &["--request-rate", "fast"][..],
            &["--percentile-metrics", "ttft,foo"],
            &["--goodput", "itl:5"],
            &["--metric-percentiles", "101"],
            &["--backend", "openai-chat", "--random-ids"],
            &["--dataset-name", "trtllm_custom"],
            &["--progress-interval", "nan"],
            &["--max-error-rate", "nan"],
            &["--random-range-ratio", "2"],
            &["--request-rate", "1e-9"],
        ] {
            assert_eq!(parse(bad).err().map(|f| f.exit), Some(Exit::Usage), "{bad:?}");
        }
        let p = parse(&["--goodput", "ttft:500", "e2el:10", "--num-prompts", "1"]).unwrap();
        assert_eq!(p.options.goodput, vec![(Metric::Ttft, 500.0), (Metric::E2el, 10.0)]);
    }
}
