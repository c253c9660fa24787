//! waitfiles: polls files (glob counts, non-empty files) and HTTP endpoints until ready, bounded
//! by a deadline, while watching peers (pids, error keywords in logs, failure markers); writes
//! one JSON result to stdout and exits 0 ready, 75 timed out, 76 a peer failed.

mod progress;
mod report;
mod spec;

use clap::{CommandFactory, FromArgMatches, Parser};
use perfline::cli::Result;
use perfline::{Exit, Failure};
use perfline_slurm::wait::{self, Outcome};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Exit status: 0 ready, 75 timed out, 76 a watched peer died or logged an error, 64 bad usage.

Examples:
  # DISAGG_SERVER: wait for 1 ctx + 2 gen addresses, failing fast if a worker logs an error
  waitfiles --glob 'hostnames/*.txt' --count 3 --timeout 3600 \\
      --watch-log ctx_server_0.log --watch-log gen_server_0.log --watch-file hostnames/FAILED
  # BENCHMARK: wait for the router address, then its /health
  waitfiles --file hostnames/DISAGG_SERVER.0.addr --timeout 600
  waitfiles --http http://node1:8000/health --timeout 600 --watch-pid \"$SERVER_PID\"
  # custom error keywords (replace the default list)
  waitfiles --file out/done --watch-log server.log --keywords 'Traceback,CUDA error'";

/// Waits until files or endpoints are ready, bounded by a deadline, while watching peers.
///
/// Conditions (all must hold): `--glob` with its `--count`, `--file`, `--http`. Watches (any
/// failing ends the wait with status 76): `--watch-pid`, `--watch-log`, `--watch-file`.
/// Polls (no inotify): the coordination directory may be on a shared filesystem.
#[derive(Parser, Debug)]
#[command(name = "waitfiles", version, after_help = EXAMPLES)]
struct Args {
    /// Wait until at least --count paths match this glob (hidden files never count).
    #[arg(long = "glob", value_name = "PATTERN")]
    globs: Vec<String>,
    /// How many paths the preceding --glob needs [default: 1].
    #[arg(long = "count", value_name = "N")]
    counts: Vec<usize>,
    /// Wait until this file exists and is not empty.
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Wait until GET URL answers HTTP 200 (each try is bounded to 1 s).
    #[arg(long = "http", value_name = "URL")]
    urls: Vec<String>,
    /// Give up after this many seconds (exit 75).
    #[arg(long, value_name = "SECS", default_value_t = 3600.0)]
    timeout: f64,
    /// Seconds between polls (at most the default on shared filesystems is wise).
    #[arg(long, value_name = "SECS", default_value_t = 0.5)]
    interval: f64,
    /// Fail (exit 76) as soon as this process has exited.
    #[arg(long = "watch-pid", value_name = "PID")]
    pids: Vec<i32>,
    /// Fail (exit 76) as soon as a line written to this log after the wait started contains
    /// an error keyword (what an earlier run left in it is ignored; see --from-start). A log
    /// that does not exist yet is watched from its first line once it appears.
    #[arg(long = "watch-log", value_name = "FILE")]
    logs: Vec<PathBuf>,
    /// Error keywords for --watch-log, comma-separated; replaces the default list
    /// (the incumbent's: RuntimeError, out of memory, ValueError, FileNotFoundError,
    /// ConnectionRefusedError, ClientConnectorError, CancelledError, TimeoutError,
    /// PMI2_Init failed to initialize, OSError).
    #[arg(long, value_name = "K1,K2", value_delimiter = ',')]
    keywords: Vec<String>,
    /// One error keyword (may contain commas); repeatable; replaces the default list.
    #[arg(long = "keyword", value_name = "K")]
    keyword: Vec<String>,
    /// Scan every --watch-log from its first line, old lines included.
    #[arg(long)]
    from_start: bool,
    /// Fail (exit 76) as soon as this failure marker (written by a peer) exists.
    #[arg(long = "watch-file", value_name = "FILE")]
    markers: Vec<PathBuf>,
    /// Never print progress (it goes to stderr only when stderr is a terminal).
    #[arg(long, short, conflicts_with = "progress")]
    quiet: bool,
    /// Print progress as plain lines on stderr (for logs): one as soon as every watch is in
    /// place, then one every 10 s.
    #[arg(long)]
    progress: bool,
}

fn main() {
    perfline::cli::main("waitfiles", run)
}

fn run() -> Result<Exit> {
    // Not perfline::cli::parse_args: pairing each --count with the --glob before it needs
    // clap's ArgMatches (argument indices), which the derived struct alone does not keep.
    let matches = match Args::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) if !e.use_stderr() => {
            // --help, --version: clap prints them to stdout
            let _ = e.print();
            return Ok(Exit::Ok);
        }
        Err(e) => return Err(usage_error(&e)),
    };
    let args = Args::from_arg_matches(&matches).map_err(|e| usage_error(&e))?;
    let spec = spec::spec(&args, &spec::count_per_glob(&matches, &args)?)?;
    if std::env::var_os(perfline::cli::CHECK_ARGS_ENV).is_some_and(|v| v == "1") {
        return Ok(Exit::Ok); // parse only (perfline::cli::parse_args)
    }
    let terminal = !args.quiet && !args.progress && perfline::cli::stderr_is_terminal();
    let mut shown = progress::Shown::new(args.progress, terminal);
    let outcome = wait::wait(&spec, &mut |p| shown.show(p));
    shown.finish();
    let report = report::report(&outcome, spec.timeout);
    if let Some(reason) = &report.reason {
        perfline::cli::diag("waitfiles", "error", reason);
    }
    if let Outcome::PeerFailed { log_tail, .. } = &outcome {
        for line in log_tail {
            perfline::cli::say(format_args!("waitfiles: | {line}"));
        }
    }
    perfline::jsonl::stdout().write(&report)?;
    Ok(outcome.exit())
}

/// Clap's error as one line, classified as bad usage (64).
fn usage_error(e: &clap::Error) -> Failure {
    Failure::usage(perfline::cli::clap_message(&e.to_string()))
}
