//! Running a worker or the router: settings, listening socket, reported address.

use crate::args::{RouterArgs, ServeArgs};
use crate::settings::{self, Knobs, Settings};
use crate::{http, log, router, worker};
use perfline::cli::Result;
use perfline::{Exit, Failure};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

pub async fn run_worker(args: ServeArgs, started: Instant) -> Result<Exit> {
    let model = args.model.ok_or_else(|| Failure::usage("missing MODEL (or a subcommand)"))?;
    let (config, mut engine) = match &args.config {
        Some(path) => settings::config_knobs(path, &perfline::yaml::load(path)?)?,
        None => (Knobs::default(), settings::Engine::default()),
    };
    engine.max_batch_size = args.max_batch_size.or(engine.max_batch_size);
    let settings = Settings::resolve(&args.knobs, &config, &engine).map_err(Failure::usage)?;
    log::note(format_args!("serving {model} (simulated trtllm-serve): {}", settings.describe()));
    if settings.fail_at_start {
        return Err(Failure::new(
            Exit::Failed,
            "RuntimeError: simulated failure at start (--fail-at-start)",
        ));
    }
    tokio::time::sleep(settings.slow_start).await;
    let listener = listen(&args.host, args.port, args.report_addr.as_deref()).await?;
    let strict = args.api == crate::args::Api::OpenaiStrict;
    let worker = Arc::new(worker::Worker::new(model, settings).strict(strict));
    worker.start_timers(started);
    http::serve(listener, Arc::new(move |req| worker.clone().handle(req))).await;
    Ok(Exit::Ok)
}

pub async fn run_router(args: RouterArgs) -> Result<Exit> {
    let config =
        router::RouterConfig::from_yaml(&args.config, &perfline::yaml::load(&args.config)?)?;
    log::note(format_args!(
        "disaggregated router: context servers {:?} ({:?}), generation servers {:?}",
        config.context_servers, config.ctx_routing, config.generation_servers
    ));
    let listener = listen(&config.hostname, config.port, args.report_addr.as_deref()).await?;
    let router =
        Arc::new(router::Router::new(&config, args.exit_on_backend_loss, args.plain_backends));
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
    log::info(format_args!("Uvicorn running on http://{reported} (Press CTRL+C to quit)"));
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
