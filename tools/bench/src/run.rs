//! The run: test request, warm-up, the measured requests with progress lines, then the result
//! block on stdout and `--save-result`'s JSON (named as benchmark_serving names it).

use crate::args::{backend_name, dataset_name, Args, ConvertArg};
use crate::plan::Plan;
use bench::client::{request_body, Client, Outcome};
use bench::dataset;
use bench::replay::{self, Measured};
use bench::report::{py_float, Results, TraceStats};
use perfline::cli::Result;
use perfline::{Exit, Failure};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the planned benchmark: the namespace line, the requests, the result block (and JSON).
pub fn run(args: &Args, plan: &Plan) -> Result<Exit> {
    // Sockets in flight: the concurrency cap, or every request; plus the runtime's own.
    let n = num_prompts(args, plan);
    let in_flight = sockets(args.max_concurrency, n, plan.agentic.is_some());
    bench::fds::reserve(in_flight.saturating_add(64));
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().map_err(|e| Failure::software(format!("runtime: {e}")))?;
    // With --save-result the run goes on when stdout is closed: the JSON is the result.
    let printed = print(&format!("{}\n", namespace(args, plan)));
    if !args.save_result {
        printed.clone()?;
    }
    let (measured, duration) = rt.block_on(execute(args, plan))?;
    let (mut outcomes, prompt_lens): (Vec<Outcome>, Vec<usize>) = measured.into_iter().unzip();
    if args.include_queueing {
        for o in &mut outcomes {
            let queued = o.sent - o.scheduled;
            o.ttft += queued;
            o.latency += queued;
        }
    }
    if let Some(tok) = &plan.tokenizer {
        for o in outcomes.iter_mut().filter(|o| !o.usage_output && o.error.is_none()) {
            o.output_tokens = tok.count(&o.text);
        }
    }
    let mut results = Results::compute(&outcomes, &prompt_lens, duration, &plan.options);
    if plan.trace.is_some() {
        results.trace = Some(TraceStats::compute(&outcomes, results.total_input));
    }
    // A closed stdout must not lose the result JSON: save it whatever printing gave.
    let printed = printed.and_then(|()| print(&results.block(&plan.options)));
    if args.save_result {
        save(args, plan, &results, &outcomes)?;
    }
    printed?;
    if let Some(cfg) = plan.agentic.filter(|_| results.total == 0) {
        // Every turn sent was a warm-up turn (or none fitted): a run that measured nothing.
        let why = format!(
            "agentic mode measured no request: every turn sent was one of the first {} warm-up \
             turns of its lane (--agentic-warmup-per-lane, AGENTX_WARMUP_PER_LANE)",
            cfg.warmup_per_lane
        );
        perfline::cli::diag("bench", "error", why);
        return Ok(Exit::Failed);
    }
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

/// Requests in flight at most: the concurrency cap, or every request; in agentic mode every
/// lane, however few rows the trace has (lanes cycle through it while a duration is set).
fn sockets(max_concurrency: Option<usize>, requests: usize, agentic: bool) -> usize {
    match max_concurrency {
        Some(lanes) if agentic => lanes,
        c => c.unwrap_or(requests).min(requests),
    }
}

/// `--convert-trace`: the whole converted trace to stdout, or an error and no output.
pub fn convert(args: &Args, format: ConvertArg) -> Result<Exit> {
    let (bytes, source) =
        args.read_trace("--convert-trace needs --dataset-path (the input trace)")?;
    let text = bench::trace::decode(&bytes, &source)?;
    let out = match format {
        ConvertArg::QwenBailian => bench::convert::qwen_bailian(text, &source)?,
    };
    print(&out)?;
    Ok(Exit::Ok)
}

/// Writes `text` to stdout now (a closed stdout is a broken-pipe `Failure`, never a panic).
fn print(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| Failure::io("stdout", &e))
}

/// The requests of the run: the prompts, or the trace's rows.
fn num_prompts(a: &Args, plan: &Plan) -> usize {
    plan.trace.as_ref().map_or(a.prompts(), |t| t.rows.len())
}

/// `num_prompts` of the namespace line and the result JSON: the requests the run is to make,
/// `None` in agentic mode, where the lanes, the duration, the warm-up turns and the context cap
/// decide how many are measured (a reader comparing the successful requests with it would fail
/// every run that cuts the trace short or leaves out warm-up turns).
fn prompts_field(a: &Args, plan: &Plan) -> Option<usize> {
    plan.agentic.is_none().then(|| num_prompts(a, plan))
}

/// Test request, warm-up, then the measured run with progress lines on stderr. All three
/// share one client, so the measured run reuses the connections the warm-up opened.
async fn execute(a: &Args, plan: &Plan) -> Result<(Vec<Measured>, f64)> {
    let client = Client::new(plan.target.clone());
    let first_body = match &plan.trace {
        Some(t) => t.first_body(&plan.target),
        None => plan.requests.first().map(|r| request_body(&plan.target, r)),
    };
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
    if let Some(trace) = &plan.trace {
        let total = trace.rows.len();
        // Agentic mode has no fixed count: the lanes cycle while a duration is set.
        let total = if plan.agentic.is_some() { String::new() } else { format!("/{total}") };
        let progress = spawn_progress(Arc::clone(&client), total, a.progress_interval);
        // The trace's time 0 is a moment ahead, so the first requests' bodies are ready then.
        let lead = if plan.agentic.is_some() { Duration::ZERO } else { replay::LEAD };
        let start = Instant::now() + lead;
        let (trace, target) = (Arc::clone(trace), &plan.target);
        let measured = match plan.agentic {
            Some(cfg) => replay::agentic(&client, target, trace, cfg, start).await,
            None => replay::replay(&client, target, trace, a.max_concurrency, start).await,
        };
        let duration = start.elapsed().as_secs_f64();
        progress.abort();
        return Ok((measured, duration));
    }
    let bodies: Vec<_> = plan.requests.iter().map(|r| request_body(&plan.target, r)).collect();
    let arrivals = dataset::arrivals(bodies.len(), plan.rate, a.burstiness, a.seed)?;
    let total = format!("/{}", bodies.len());
    let progress = spawn_progress(Arc::clone(&client), total, a.progress_interval);
    let start = Instant::now();
    let outcomes = client.run(bodies, &arrivals, a.max_concurrency, start).await;
    let duration = start.elapsed().as_secs_f64();
    progress.abort();
    let lens = plan.requests.iter().map(|r| r.prompt_len);
    Ok((outcomes.into_iter().zip(lens).collect(), duration))
}

/// Progress lines `DONE{total} done, …` (`total`: `/N`, or empty where there is no fixed N).
fn spawn_progress(client: Arc<Client>, total: String, every: f64) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs_f64(every);
    tokio::spawn(async move {
        let start = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            let line = format!(
                "{}{total} done, {} failed, {:.0} s",
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
        ("api", s(plan.target.api.name())),
        ("base_url", opt(a.base_url.as_deref().map(s))),
        ("host", s(&a.host)),
        ("port", a.port.to_string()),
        ("endpoint", s(&plan.target.path)),
        ("dataset_name", s(dataset_name(a.dataset_name))),
        ("dataset_path", opt(a.dataset_path.as_ref().map(|p| s(&p.display().to_string())))),
        ("max_concurrency", opt(a.max_concurrency.map(|c| c.to_string()))),
        ("model", s(&a.model)),
        ("tokenizer", opt(a.tokenizer.as_deref().map(s))),
        ("num_prompts", opt(prompts_field(a, plan).map(|n| n.to_string()))),
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
    // A trace has its own lengths: the random ones would read as the run's ISL/OSL.
    let trace = plan.trace.is_some();
    let body: Vec<String> = fields
        .iter()
        .filter(|(k, _)| !(trace && k.starts_with("random_")))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("Namespace({})", body.join(", "))
}

/// `--save-result`: benchmark_serving's JSON (reference/incumbent.md §6), written atomically.
fn save(a: &Args, plan: &Plan, r: &Results, outcomes: &[Outcome]) -> Result<()> {
    let date = local_date();
    let mut m = Map::new();
    m.insert("date".into(), json!(date));
    m.insert("backend".into(), json!(backend_name(a.backend)));
    m.insert("model_id".into(), json!(a.model));
    m.insert("tokenizer_id".into(), json!(a.tokenizer.as_deref().unwrap_or(&a.model)));
    m.insert("num_prompts".into(), json!(prompts_field(a, plan)));
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
    #[test]
    fn agentic_lanes_all_get_sockets_however_short_the_trace() {
        assert_eq!(super::sockets(Some(1156), 12, true), 1156);
        assert_eq!(super::sockets(Some(1156), 12, false), 12);
        assert_eq!(super::sockets(None, 12, false), 12);
        assert_eq!(super::sockets(Some(4), 12, false), 4);
    }
}
