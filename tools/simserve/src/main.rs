//! simserve: a simulated trtllm-serve (reads OpenAI-compatible HTTP requests, writes synthetic
//! completions with a timing model and injected faults) and its disaggregated router; writes
//! its `host:port` to --report-addr and its log to stderr.

mod http;
mod openai;
mod router;
mod settings;
mod worker;

use clap::builder::FalseyValueParser;
use clap::{Parser, Subcommand};
use perfline::cli::Result;
use perfline::{Exit, Failure};
use settings::{Knobs, Settings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const EXAMPLES: &str = "\
Every timing and fault flag can also be set by its SIMSERVE_* environment variable (e.g.
SIMSERVE_CRASH_AT=30), or under a `simserve:` mapping of the --config YAML with the flag's
name in snake_case; flags beat the environment, which beats the config.

Examples:
  # an aggregated server, as trtllm-serve is started (port 0: pick one, report it)
  simserve /models/llama --backend pytorch --config extra.yml --host localhost --port 0 \\
      --report_addr out/trtllm-serve.0.addr
  # slow decode, healthy after 5 s, crashes after 100 requests
  simserve llama --port 8001 --startup-delay 5 --decode-ms-per-step 30 --crash-after-requests 100
  # the disaggregated router over the workers listed in the router config
  simserve disaggregated -c out/server_config.0.yaml --report_addr out/DISAGG_SERVER.0.addr";

/// Simulated trtllm-serve: OpenAI-compatible server and disaggregated router, with a timing
/// model and fault injection, for running the perfline chain where there are no GPUs.
#[derive(Parser, Debug)]
#[command(name = "simserve", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve MODEL (the same as giving no subcommand).
    Serve(Box<ServeArgs>),
    /// Run the disaggregated router over the context and generation servers of a config.
    Disaggregated(RouterArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// The model name or path; only its name is used (in /v1/models and responses).
    model: Option<String>,
    /// Host name or address to listen on.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Port to listen on; 0 picks a free one (see --report-addr).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// trtllm extra-llm-api config YAML; its optional `simserve:` mapping sets knobs, and its
    /// `max_batch_size` the batch limit.
    #[arg(long, visible_alias = "extra_llm_api_options", value_name = "YAML")]
    config: Option<PathBuf>,
    /// Write `host:port` to this file (atomically) once listening.
    #[arg(long = "report-addr", visible_alias = "report_addr", value_name = "FILE")]
    report_addr: Option<PathBuf>,
    /// trtllm-serve's batch limit, used when --max-batch is not given.
    #[arg(long = "max_batch_size", alias = "max-batch-size", value_name = "N")]
    max_batch_size: Option<usize>,
    #[command(flatten)]
    knobs: Knobs,
    #[command(flatten)]
    ignored: IgnoredTrtllmArgs,
}

/// trtllm-serve options accepted so its command lines work unchanged, and otherwise ignored.
#[derive(clap::Args, Debug)]
struct IgnoredTrtllmArgs {
    #[arg(long, hide = true)]
    backend: Option<String>,
    #[arg(long, hide = true)]
    tokenizer: Option<String>,
    #[arg(long = "tp_size", hide = true)]
    tp_size: Option<String>,
    #[arg(long = "pp_size", hide = true)]
    pp_size: Option<String>,
    #[arg(long = "ep_size", hide = true)]
    ep_size: Option<String>,
    #[arg(long = "cluster_size", hide = true)]
    cluster_size: Option<String>,
    #[arg(long = "gpus_per_node", hide = true)]
    gpus_per_node: Option<String>,
    #[arg(long = "max_num_tokens", hide = true)]
    max_num_tokens: Option<String>,
    #[arg(long = "max_seq_len", hide = true)]
    max_seq_len: Option<String>,
    #[arg(long = "kv_cache_free_gpu_memory_fraction", hide = true)]
    kv_cache_free_gpu_memory_fraction: Option<String>,
    #[arg(long = "num_postprocess_workers", hide = true)]
    num_postprocess_workers: Option<String>,
    #[arg(long = "log_level", hide = true)]
    log_level: Option<String>,
    #[arg(long = "server_role", hide = true)]
    server_role: Option<String>,
    #[arg(long = "metadata_server_config_file", hide = true)]
    metadata_server_config_file: Option<String>,
    #[arg(long = "reasoning_parser", hide = true)]
    reasoning_parser: Option<String>,
    #[arg(long = "trust_remote_code", hide = true)]
    trust_remote_code: bool,
}

#[derive(clap::Args, Debug)]
struct RouterArgs {
    /// The router config YAML (hostname, port, context_servers, generation_servers).
    #[arg(short = 'c', long = "config_file", alias = "config-file", value_name = "YAML")]
    config: PathBuf,
    /// trtllm's server start timeout (accepted, ignored: /health tells readiness).
    #[arg(short = 't', long = "server_start_timeout", value_name = "SECS")]
    server_start_timeout: Option<u64>,
    /// trtllm's request timeout (accepted, ignored).
    #[arg(short = 'r', long = "request_timeout", value_name = "SECS")]
    request_timeout: Option<u64>,
    /// Write `host:port` to this file (atomically) once listening.
    #[arg(long = "report-addr", visible_alias = "report_addr", value_name = "FILE")]
    report_addr: Option<PathBuf>,
    /// Exit 1 as soon as a backend that answered before can no longer be reached.
    #[arg(long, env = "SIMSERVE_EXIT_ON_BACKEND_LOSS", value_parser = FalseyValueParser::new())]
    exit_on_backend_loss: bool,
}

fn main() {
    perfline::cli::main("simserve", run)
}

fn run() -> Result<Exit> {
    let started = Instant::now();
    let Some(cli) = perfline::cli::parse_args::<Cli>()? else { return Ok(Exit::Ok) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::software(format!("cannot start the runtime: {e}")))?;
    match cli.command {
        Some(Command::Disaggregated(args)) => runtime.block_on(run_router(args)),
        Some(Command::Serve(args)) => runtime.block_on(run_worker(*args, started)),
        None => runtime.block_on(run_worker(cli.serve, started)),
    }
}

async fn run_worker(args: ServeArgs, started: Instant) -> Result<Exit> {
    let model = args.model.ok_or_else(|| Failure::usage("missing MODEL (or a subcommand)"))?;
    let (config, max_batch_size) = match &args.config {
        Some(path) => {
            let (knobs, mbs) = settings::config_knobs(path, &perfline::yaml::load(path)?)?;
            (knobs, mbs)
        }
        None => (Knobs::default(), None),
    };
    let settings = Settings::resolve(&args.knobs, &config, args.max_batch_size.or(max_batch_size))
        .map_err(Failure::usage)?;
    eprintln!("simserve: serving {model} (simulated trtllm-serve): {}", describe(&settings));
    if settings.fail_at_start {
        return Err(Failure::new(
            Exit::Failed,
            "RuntimeError: simulated failure at start (--fail-at-start)",
        ));
    }
    tokio::time::sleep(settings.slow_start).await;
    let listener = listen(&args.host, args.port, args.report_addr.as_deref()).await?;
    let worker = Arc::new(worker::Worker::new(model, settings));
    worker.start_timers(started);
    http::serve(listener, Arc::new(move |req| worker.clone().handle(req))).await;
    Ok(Exit::Ok)
}

async fn run_router(args: RouterArgs) -> Result<Exit> {
    let config =
        router::RouterConfig::from_yaml(&args.config, &perfline::yaml::load(&args.config)?)?;
    eprintln!(
        "simserve: disaggregated router: context servers {:?}, generation servers {:?}",
        config.context_servers, config.generation_servers
    );
    let listener = listen(&config.hostname, config.port, args.report_addr.as_deref()).await?;
    let router = Arc::new(router::Router::new(&config, args.exit_on_backend_loss));
    router.watch_backends();
    http::serve(listener, Arc::new(move |req| router.clone().handle(req))).await;
    Ok(Exit::Ok)
}

/// Binds `host:port`, reports the address, and logs it like trtllm-serve's uvicorn.
async fn listen(host: &str, port: u16, report_addr: Option<&Path>) -> Result<TcpListener> {
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|e| Failure::new(Exit::IoErr, format!("cannot listen on {host}:{port}: {e}")))?;
    let port = listener.local_addr().map_err(|e| Failure::io("listener", &e))?.port();
    let reported = format!("{}:{port}", reported_host(host));
    if let Some(path) = report_addr {
        perfline::fsutil::write_atomic(path, reported.as_bytes())?;
    }
    eprintln!("INFO:     Uvicorn running on http://{reported} (Press CTRL+C to quit)");
    Ok(listener)
}

/// The host peers should connect to: the machine's name when listening on all addresses.
fn reported_host(host: &str) -> String {
    if host == "0.0.0.0" || host == "::" || host == "[::]" {
        if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            if !name.trim().is_empty() {
                return name.trim().to_string();
            }
        }
    }
    host.to_string()
}

fn describe(s: &Settings) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut text = format!(
        "ttft {} ms + prefill {} ms/token, decode {} ms/step, max batch {}, ready after {} s",
        ms(s.ttft),
        ms(s.prefill_per_token),
        ms(s.decode_per_step),
        s.max_batch,
        s.startup_delay.as_secs_f64()
    );
    let faults = [
        s.fail_at_start.then(|| "fail at start".to_string()),
        s.crash_after_requests.map(|n| format!("crash after {n} requests")),
        s.crash_at.map(|t| format!("crash at {} s", t.as_secs_f64())),
        s.hang.then(|| "never healthy".to_string()),
        s.hang_requests.then(|| "requests hang".to_string()),
        (s.error_rate > 0.0).then(|| format!("error rate {}", s.error_rate)),
        s.log_error_keyword
            .as_ref()
            .map(|k| format!("logs {k:?} at {} s", s.log_error_at.as_secs_f64())),
    ];
    let faults: Vec<String> = faults.into_iter().flatten().collect();
    if !faults.is_empty() {
        text.push_str(&format!("; faults: {}", faults.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_trtllm_serve_command_lines() {
        let cli = Cli::try_parse_from([
            "simserve",
            "/models/llama",
            "--backend",
            "pytorch",
            "--config",
            "x.yml",
            "--host",
            "localhost",
            "--port",
            "0",
            "--report_addr",
            "a.addr",
            "--tp_size",
            "4",
            "--trust_remote_code",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.model.as_deref(), Some("/models/llama"));
        assert_eq!(cli.serve.report_addr, Some(PathBuf::from("a.addr")));
        assert_eq!(cli.serve.config, Some(PathBuf::from("x.yml")));
        let cli = Cli::try_parse_from([
            "simserve",
            "disaggregated",
            "-c",
            "s.yaml",
            "-t",
            "3600",
            "-r",
            "3600",
            "--report_addr",
            "r.addr",
        ])
        .unwrap();
        let Some(Command::Disaggregated(r)) = cli.command else { panic!("{cli:?}") };
        assert_eq!(
            (r.config, r.report_addr),
            (PathBuf::from("s.yaml"), Some(PathBuf::from("r.addr")))
        );
        let cli =
            Cli::try_parse_from(["simserve", "serve", "m", "--extra_llm_api_options", "e.yml"])
                .unwrap();
        let Some(Command::Serve(s)) = cli.command else { panic!() };
        assert_eq!(s.config, Some(PathBuf::from("e.yml")));
    }

    #[test]
    fn describes_faults() {
        let mut s = Settings::resolve(&Knobs::default(), &Knobs::default(), None).unwrap();
        s.crash_after_requests = Some(3);
        assert_eq!(
            describe(&s),
            "ttft 20 ms + prefill 0.05 ms/token, decode 10 ms/step, max batch 512, ready after 0 s; \
             faults: crash after 3 requests"
        );
    }
}
