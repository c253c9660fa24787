//! perf-check: reads the current run's metric records (JSON Lines) and each series' history
//! (an SQLite or MySQL store, read only, or a baseline file); writes one verdict record per
//! series on stdout, a line per regression on stderr, and optionally JUnit XML.

use clap::{Parser, ValueEnum};
use perf_check::check::Method;
use perf_check::run::{Numbers, Options};
use perfline::cli::{Failure, Result};
use perfline::Exit;
use perfline_store::{secret, url::Store};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Verdicts: regression | improvement (the current level moved by --min-change or more, significant
after false-discovery control over all series, --fdr), no-change (the interval of the move lies
inside ±--min-change), undecided (neither yet: runs_needed more runs at this level decide),
suspect (only the current run moved: rerun it), insufficient-data. One case record (metric
\"*\") per test, server and client follows the metric records. Several -i files: runs of this
invocation not stored yet (e.g. confirmation re-runs), oldest first; each series' current value
is its value in the last file that has it, the earlier ones are pending runs.

Examples:
  perf-check --store sqlite:perf.db -i metrics.jsonl --junit perf-check.xml
  perf-check --store sqlite:perf.db -i run1.jsonl -i run2.jsonl   # run2 current, run1 pending
  perf-check --store sqlite:perf.db -i metrics.jsonl --explain aggr-cfg-srv/c1/token_throughput
  perf-check --store mysql://perf@db:3306/TRT_perf --password-file ~/.perf-pw < metrics.jsonl
  perf-check --store sqlite:perf.db --method incumbent --threshold 10 -i metrics.jsonl
  perf-check --baseline reference.jsonl -i metrics.jsonl
  perf-check --store sqlite:perf.db --accept r42 -i metrics.jsonl   # r42's level is the baseline

Exit status: 0 nothing regressed; 1 a case regressed or a current record failed; 64 bad usage;
65 bad input; 66 missing input or store, or no records (--allow-empty: 0); 69 store
unavailable; 77 permission; 78 bad store URL or credentials.";

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MethodArg {
    /// E-divisive change points with a t-test, on log values (default with --store).
    ChangePoint,
    /// The incumbent's rule: P95/P5 of rolling daily means, ± --threshold percent.
    Incumbent,
}

/// Judge the current run's metrics against their history, one verdict per series and case.
#[derive(Parser, Debug)]
#[command(name = "perf-check", version, after_help = AFTER_HELP)]
struct Args {
    /// Metric records (JSON Lines; `-` is stdin). Repeatable: earlier files are pending runs,
    /// the last one the current run.
    #[arg(short, long, value_name = "FILE")]
    input: Vec<PathBuf>,
    /// History: the store upload writes (sqlite:PATH or mysql://USER@HOST:PORT/DB), read only.
    #[arg(long, value_name = "URL", required_unless_present = "baseline")]
    store: Option<String>,
    /// Instead of a store: metric records of a reference run (judged by the incumbent's rule).
    #[arg(long, value_name = "FILE", conflicts_with = "store")]
    baseline: Option<PathBuf>,
    /// How to judge (change-point with --store; incumbent is the only one with --baseline).
    #[arg(long, value_enum)]
    method: Option<MethodArg>,
    /// Recent runs per series, at most; the accepted (or oldest) baseline is kept besides.
    #[arg(long, default_value_t = 30, value_name = "N")]
    window: usize,
    /// incumbent: percent worse than the baseline that is a regression.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    threshold: f64,
    /// change-point: significance of a change point and of a lone run (suspect).
    #[arg(long, default_value_t = 0.001, value_name = "P")]
    alpha: f64,
    /// change-point: false-discovery rate over all series of the run (Benjamini–Hochberg).
    #[arg(long, default_value_t = 0.05, value_name = "Q")]
    fdr: f64,
    /// change-point: smallest move called, in percent; no-change means the interval of the
    /// move lies inside ± this.
    #[arg(long, default_value_t = 2.0, value_name = "PCT")]
    min_change: f64,
    /// Key of the current run (default: derived from the input as upload derives it).
    #[arg(long, value_name = "KEY")]
    run_key: Option<String>,
    /// Record in the store that from RUN_KEY on, the input's series are at their new baseline
    /// (history before it is ignored from then on), then judge.
    #[arg(long, value_name = "RUN_KEY", requires = "store")]
    accept: Option<String>,
    /// Also write JUnit XML: one testcase per case (test, client).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print how the series TEST[/CLIENT[/METRIC]] were judged, as text on stderr.
    #[arg(long, value_name = "SERIES")]
    explain: Option<String>,
    /// Write the test ids whose case is suspect or undecided here, one a line (what
    /// `ci/run-perf-tests --confirm N` re-runs).
    #[arg(long, value_name = "FILE")]
    rerun_list: Option<PathBuf>,
    /// An input without records is no error (exit 0, nothing judged).
    #[arg(long)]
    allow_empty: bool,
    /// File holding the MySQL password (mode 0600); else PERFLINE_MYSQL_PASSWORD.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

fn main() {
    perfline::cli::main("perf-check", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    let method = method(&args)?;
    let store = args.store.as_deref().map(Store::parse).transpose()?;
    let password = match &store {
        Some(Store::Mysql { .. }) => Some(secret::mysql_password(args.password_file.as_deref())?),
        _ => None,
    };
    let inputs = if args.input.is_empty() { vec![PathBuf::from("-")] } else { args.input };
    perf_check::run::run(Options {
        inputs,
        store,
        password,
        baseline: args.baseline,
        method,
        window: args.window,
        run_key: args.run_key,
        accept: args.accept,
        junit: args.junit,
        allow_empty: args.allow_empty,
        explain: args.explain,
        rerun_list: args.rerun_list,
    })
}

/// The method, after checking every number and key of the command line.
fn method(args: &Args) -> Result<Method> {
    for (flag, key) in [("--run-key", &args.run_key), ("--accept", &args.accept)] {
        if let Some(k) = key {
            perfline::shell::check_id(k).map_err(|e| Failure::usage(format!("{flag}: {e}")))?;
        }
    }
    let numbers = Numbers {
        window: args.window,
        threshold: args.threshold,
        alpha: args.alpha,
        fdr: args.fdr,
        min_change: args.min_change,
    };
    let incumbent = args.method.map(|m| matches!(m, MethodArg::Incumbent));
    perf_check::run::method(&numbers, incumbent, args.baseline.is_some())
}
