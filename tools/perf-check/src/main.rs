//! perf-check: reads the current run's metric records (JSON Lines) and each series' history
//! (an SQLite or MySQL store, read only, or a baseline file); writes one verdict record per
//! series on stdout, a line per regression on stderr, and optionally JUnit XML.

use clap::{Parser, ValueEnum};
use perf_check::check::{self, Method};
use perf_check::judge::ChangePointRule;
use perfline::cli::{Failure, Result};
use perfline::store::{secret, url::Store};
use perfline::Exit;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Verdicts: regression | improvement (a level change the current run shares with earlier runs),
suspect (only the current run moved: rerun it), no-change, insufficient-data (fewer than 5
earlier runs for change-point, none for incumbent). Metrics with no direction are not judged.

Examples:
  perf-check --store sqlite:perf.db -i metrics.jsonl --run-key r42 --junit perf-check.xml
  perf-check --store mysql://perf@db:3306/TRT_perf --password-file ~/.perf-pw < metrics.jsonl
  perf-check --store sqlite:perf.db --method incumbent --threshold 10 -i metrics.jsonl
  perf-check --baseline reference.jsonl -i metrics.jsonl
  perf-check --store sqlite:perf.db --accept r42 -i metrics.jsonl   # r42's level is the baseline

Exit status: 0 nothing regressed; 1 a regression or a failed current record; 64 bad usage;
65 bad input; 66 missing input or store; 69 store unavailable; 77 permission; 78 bad store URL
or credentials.";

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MethodArg {
    /// E-divisive change points with a t-test, on log values (default with --store).
    ChangePoint,
    /// The incumbent's rule: P95/P5 of rolling daily means, ± --threshold percent.
    Incumbent,
}

/// Judge the current run's metrics against their history, one verdict per series.
#[derive(Parser, Debug)]
#[command(name = "perf-check", version, after_help = AFTER_HELP)]
struct Args {
    /// Metric records of the current run (JSON Lines); `-` is stdin.
    #[arg(short, long, default_value = "-", value_name = "FILE")]
    input: PathBuf,
    /// History: the store upload writes (sqlite:PATH or mysql://USER@HOST:PORT/DB), read only.
    #[arg(long, value_name = "URL", required_unless_present = "baseline")]
    store: Option<String>,
    /// Instead of a store: metric records of a reference run (judged by the incumbent's rule).
    #[arg(long, value_name = "FILE", conflicts_with = "store")]
    baseline: Option<PathBuf>,
    /// How to judge (change-point with --store; incumbent is the only one with --baseline).
    #[arg(long, value_enum)]
    method: Option<MethodArg>,
    /// Earlier runs per series, at most (the most recent ones).
    #[arg(long, default_value_t = 30, value_name = "N")]
    window: usize,
    /// incumbent: percent worse than the baseline that is a regression.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    threshold: f64,
    /// change-point: significance level of a change.
    #[arg(long, default_value_t = 0.001, value_name = "P")]
    alpha: f64,
    /// change-point: smallest level change reported, in percent.
    #[arg(long, default_value_t = 2.0, value_name = "PCT")]
    min_change: f64,
    /// Key of the current run: a stored run with this key is not its own history.
    #[arg(long, value_name = "KEY")]
    run_key: Option<String>,
    /// Record in the store that from RUN_KEY on, the input's series are at their new baseline
    /// (history before it is ignored from then on), then judge.
    #[arg(long, value_name = "RUN_KEY", requires = "store")]
    accept: Option<String>,
    /// Also write JUnit XML: one testcase per (test, client).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
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
    let input = perf_check::history::read(&args.input)?;
    let history = match (&store, &args.baseline) {
        (Some(store), _) => perf_check::history::from_store(
            store,
            password.as_deref(),
            &check::keys(&input),
            args.window,
            args.run_key.as_deref(),
            args.accept.as_deref(),
        )?,
        (None, Some(file)) => check::from_baseline(&perf_check::history::read(file)?),
        (None, None) => return Err(Failure::usage("give --store URL or --baseline FILE")),
    };
    let verdicts = check::judge_all(&input, &history, &method, args.run_key.as_deref());
    perf_check::history::write(&verdicts, &input, args.junit.as_deref())
}

/// The method, after checking every number and key of the command line.
fn method(args: &Args) -> Result<Method> {
    let bad = |m: &str| Err(Failure::usage(m.to_string()));
    if args.window == 0 {
        return bad("--window must be at least 1");
    }
    if !(args.threshold > 0.0 && args.threshold < 100.0) {
        return bad("--threshold must be a percentage between 0 and 100");
    }
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        return bad("--alpha must be between 0 and 1");
    }
    if !(args.min_change >= 0.0 && args.min_change < 100.0) {
        return bad("--min-change must be a percentage from 0 to 100");
    }
    for (flag, key) in [("--run-key", &args.run_key), ("--accept", &args.accept)] {
        if let Some(k) = key {
            perfline::shell::check_id(k).map_err(|e| Failure::usage(format!("{flag}: {e}")))?;
        }
    }
    let rule = ChangePointRule {
        alpha: args.alpha,
        min_change: args.min_change / 100.0,
        ..Default::default()
    };
    match (args.method, &args.baseline) {
        (Some(MethodArg::ChangePoint), Some(_)) => {
            bad("--method change-point needs a history (--store); a baseline file is one run")
        }
        (Some(MethodArg::Incumbent), _) | (None, Some(_)) => {
            Ok(Method::Incumbent(args.threshold / 100.0))
        }
        (_, None) => Ok(Method::ChangePoint(rule)),
    }
}
