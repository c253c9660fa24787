//! simserve: a simulated trtllm-serve (reads OpenAI-compatible HTTP requests, writes synthetic
//! completions with a timing model and injected faults) and its disaggregated router; writes
//! its `host:port` to --report-addr and its log to stderr.
//!
//! The command line is in `args` (it mirrors trtllm-serve's); `serve` runs a worker or the
//! router; `worker`, `router` and `openai` hold the behaviour, `settings` the timing model,
//! `kvcache` the prefix cache.

mod args;
mod http;
mod kvcache;
mod log;
mod openai;
mod router;
mod serve;
mod settings;
mod worker;

use args::{Cli, Command};
use perfline::cli::Result;
use perfline::{Exit, Failure};
use std::time::Instant;

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
        Some(Command::Disaggregated(args)) => runtime.block_on(serve::run_router(args)),
        Some(Command::Serve(args)) => runtime.block_on(serve::run_worker(*args, started)),
        None => runtime.block_on(serve::run_worker(cli.serve, started)),
    }
}
