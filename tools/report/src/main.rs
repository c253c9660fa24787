//! report: reads history from a store (`--store`, read-only) and/or metric records
//! (`--metrics`), and perf-check verdicts (`--verdicts`); writes one self-contained HTML report (`-o`), optionally one SVG per chart (`--charts DIR`);
//! prints one JSON line describing what it wrote.

use clap::Parser;
use perfline::cli::Result;
use perfline::wire::metrics::MetricRecord;
use perfline::wire::verdict::VerdictRecord;
use perfline::{fsutil, Exit, Failure};
use report::{html, input, model::History, store, view};
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = "\
Runs and history: the store's runs come first, in its history order (start time, then upload
order), at most --window per series, ok values only, and its failed cases. Then each metric record belongs to the run named by its context.run_key, else its
attempt, else the name of its file; runs are ordered by first appearance. The current run is
--run-key, else the verdicts' run_key, else the last run. Charts show the last --window runs up
to the current one.

Runs are named by date (start_time, else the launch attempt) and commit, the key on hover;
confirmation re-runs (context.confirmation, or 'confirmation N' in a stored run's notes) are
tagged and marked with a purple triangle on trend charts.

The page: a headline (regressions and failures first; counting cases when perf-check gave
case verdicts; plain grey 'No runs yet' / 'First run of these series' when nothing could be
judged), the system info of the current run, counts, the key numbers of this run (output
throughput, TTFT, TPOT, E2EL per case, with Δ), a legend of the verdicts and perf-check's
settings, 'what moved' cards (regression, suspect, improvement, undecided; worst first) with
their trend, the failed cases with reasons and log tails, the case verdicts, a sortable
verdict table (Δ green when better, red when worse; ↑/↓ better by each metric), and per test its
Pareto chart (output tokens/s per GPU against tokens/s per user: user_throughput, else
1000 / mean_tpot; GPUs from context.total_gpus or context.gpus, else 1, said on the chart) and
a trend chart per key metric; a footer with perf-check's published accuracy. No network is
needed to view it.

Examples:
  report --metrics run.jsonl -o report.html
  report --store sqlite:perf.db --verdicts verdicts.jsonl -o report.html
  perf-check --store sqlite:perf.db -i run.jsonl > verdicts.jsonl
  report --metrics history.jsonl --metrics run.jsonl --verdicts verdicts.jsonl \\
      -o report.html --charts charts/

MySQL: the password comes from PERFLINE_MYSQL_PASSWORD or --password-file (mode 0600), never
from the URL.

Exit status: 0 report written; 64 bad usage; 65 a bad input line, an unknown --run-key or not
a store (nothing written); 66 an input file or the SQLite store missing; 69 the store server is
down; 73 the report or a chart cannot be written; 77 a password file others can read;
78 a bad store URL or no MySQL password.";

/// History, metric records and perf-check verdicts → one self-contained HTML report.
#[derive(Parser, Debug)]
#[command(name = "report", version, after_help = AFTER_HELP)]
struct Args {
    /// Store to read history from (read-only): `sqlite:PATH` or `mysql://USER@HOST[:PORT]/DB`.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// File holding the MySQL password (mode 0600); else PERFLINE_MYSQL_PASSWORD.
    #[arg(long, value_name = "FILE", requires = "store")]
    password_file: Option<PathBuf>,
    /// Metric records, JSON Lines (repeatable; `-` for stdin).
    #[arg(long, value_name = "FILE")]
    metrics: Vec<PathBuf>,
    /// perf-check verdicts, JSON Lines (repeatable).
    #[arg(long, value_name = "FILE")]
    verdicts: Vec<PathBuf>,
    /// The current run (default: the verdicts' run_key, else the last run).
    #[arg(long, value_name = "KEY")]
    run_key: Option<String>,
    /// Runs shown per trend chart, the current one included.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    window: u32,
    /// Page title.
    #[arg(long, default_value = "perfline report")]
    title: String,
    /// The HTML file to write (atomically).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Also write each chart as an SVG file into DIR (created when missing).
    #[arg(long, value_name = "DIR")]
    charts: Option<PathBuf>,
}

fn main() {
    perfline::cli::main("report", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    if args.store.is_none() && args.metrics.is_empty() && args.verdicts.is_empty() {
        return Err(Failure::usage(
            "nothing to report: give --store, --metrics or --verdicts (see --help)",
        ));
    }
    if args.metrics.iter().chain(&args.verdicts).filter(|p| *p == Path::new("-")).count() > 1 {
        return Err(Failure::usage("stdin (-) can be read only once"));
    }
    let mut history = History::default();
    if let Some(url) = &args.store {
        store::load(url, args.password_file.as_deref(), args.window as usize, &mut history)?;
    }
    for path in &args.metrics {
        let records: Vec<MetricRecord> = input::read_file(path)?;
        let name = path.file_name().map_or("-".into(), |n| n.to_string_lossy().into_owned());
        input::add_records(&mut history, records, &name);
    }
    let mut verdicts: Vec<VerdictRecord> = Vec::new();
    for path in &args.verdicts {
        let read: Vec<VerdictRecord> = input::read_file(path)?;
        input::check_verdicts(&read, &path.display().to_string())?;
        verdicts.extend(read);
    }
    let opts =
        view::Options { window: args.window as usize, run_key: args.run_key, title: args.title };
    let (page, charts) = view::build(&history, &verdicts, &opts)?;
    let html = html::render(&page)?;
    if let Some(dir) = &args.charts {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::new(Exit::CantCreat, format!("{}: {e}", dir.display())))?;
        for c in &charts {
            fsutil::write_atomic(&dir.join(&c.name), c.svg.as_bytes())?;
        }
    }
    fsutil::write_atomic(&args.output, html.as_bytes())?;
    let count = |label: &str| page.counts.iter().find(|c| c.label == label).map_or(0, |c| c.n);
    let summary = serde_json::json!({
        "report": args.output.display().to_string(),
        "bytes": html.len(),
        "charts": charts.len(),
        "chart_dir": args.charts.as_ref().map(|d| d.display().to_string()),
        "run_key": (!page.run_key.is_empty()).then_some(&page.run_key),
        "runs_shown": page.runs_shown,
        "regressed": count("regressed"),
        "failed": count("failed"),
        "suspect": count("suspect"),
        "improved": count("improved"),
        "undecided": count("undecided"),
        "counting": page.counting,
    });
    perfline::jsonl::stdout().write(&summary)?;
    Ok(Exit::Ok)
}
