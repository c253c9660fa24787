//! launch: reads planned records (nodecount's or mkprefix's JSON Lines) and writes one job record
//! per test: with `--dry-run` the rendered sbatch script and step commands (no side effects);
//! by default the job submitted with `sbatch` (`--wait` follows it to its end); with `--local`
//! the same roles run as local processes. Job directories: docs/job-layout.md.

mod each;
mod job;
mod jobdir;
mod local;
mod submit;
mod view;

use clap::Parser;
use perfline::cli::Result;
use perfline::{jsonl, Exit, Failure};
use perfline_slurm as slurm;
use std::path::PathBuf;

/// Render, submit, or run locally the job of each planned test.
#[derive(Parser, Debug)]
#[command(
    name = "launch",
    version,
    after_help = "Examples:\n  \
        classify < list.txt | nodecount | launch --dry-run\n  \
        classify < list.txt | nodecount | launch --cluster local --wait\n  \
        classify < list.txt | nodecount | launch --wait --metrics metrics.jsonl && upload < metrics.jsonl\n  \
        classify < list.txt | nodecount | mkprefix --cluster gb200-pyxis | launch --nodes n1,n2,n3\n  \
        launch --local --role-command 'echo {role} ran' < planned.jsonl\n\n\
        On a terminal, jobs are shown as a table (test, job, state, time); piped, or with --json,\n\
        as job records (JSON Lines).\n\n\
        Exit status: 0 all jobs submitted (or, with --wait/--local, COMPLETED); 1 a job failed\n\
        (its first failure and log tail on stderr); 64 bad usage; 65 a bad record (a test\n\
        record: pipe through nodecount first); 66 no such profile, an input file missing, or\n\
        --metrics got no record, or no planned record on the input (--allow-empty: 0); 69 Slurm unavailable; 73 a job directory cannot be created;\n\
        75 --wait timed out; 78 bad profile, or a model name the profile cannot resolve\n\
        (docs/profiles.md)."
)]
struct Args {
    /// Planned or prefixed records; the shared options of mkprefix and launch.
    #[command(flatten)]
    common: slurm::PrefixArgs,
    /// Print each job (script, commands, workdir) without submitting or writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Run the roles as local processes instead of submitting to Slurm.
    #[arg(long, conflicts_with = "wait", group = "ends")]
    local: bool,
    /// Follow submitted jobs to their end; exit with their result.
    #[arg(long, group = "ends")]
    wait: bool,
    /// Seconds between Slurm state queries with --wait.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    poll: f64,
    /// Give up waiting (--wait, --local) after this many seconds (default: the test's timeout
    /// plus 10 minutes, or 2 hours).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Role command template (overrides the profile's commands.role), e.g.
    /// `"$PERFLINE_BIN/role" {role} --plan {plan} --job-dir {job_dir}`.
    #[arg(long, value_name = "TEMPLATE")]
    role_command: Option<String>,
    /// --local: one process per task (SLURM_PROCID set) instead of one per role.
    #[arg(long)]
    per_task: bool,
    /// Only tests whose plan mode is one of these (single-agg, multi-agg, disagg); the others
    /// are skipped with a note on stderr.
    #[arg(long, value_name = "MODES", value_delimiter = ',', value_parser = ["single-agg", "multi-agg", "disagg"])]
    mode: Vec<String>,
    /// With --wait or --local: when every job has ended, write the metric records of all of
    /// them (each attempt's `results/metrics.jsonl`, in launch order) to FILE, atomically.
    #[arg(long, value_name = "FILE", requires = "ends")]
    metrics: Option<PathBuf>,
    /// With --metrics: set `context.KEY` of every gathered record to VALUE (JSON when it
    /// parses as a number or boolean, else text), e.g. `--context confirmation=1`.
    #[arg(long, value_name = "KEY=VALUE", requires = "metrics", value_parser = jobdir::context_pair)]
    context: Vec<(String, serde_json::Value)>,
    /// Exit 0 (with a warning) when the input holds no planned record; with --metrics, write
    /// an empty FILE and exit 0 when no job wrote a metric record (without it: exit 66,
    /// nothing written).
    #[arg(long)]
    allow_empty: bool,
    /// How jobs are shown on stdout: `auto` is a table (test, job, state, time) when stdout is
    /// a terminal and job records (JSON Lines) otherwise.
    #[arg(long, value_enum, default_value = "auto")]
    format: view::Format,
    /// Job records (JSON Lines) even on a terminal: the same as --format json.
    #[arg(long)]
    json: bool,
}

fn main() {
    perfline::cli::main("launch", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    if !(args.poll.is_finite() && (0.1..=3600.0).contains(&args.poll)) {
        return Err(Failure::usage("--poll must be between 0.1 and 3600 seconds"));
    }
    let (profile, opts) = args.common.resolve(|profile| {
        if let Some(t) = &args.role_command {
            profile.commands.role = t.clone();
            profile.check().map_err(|m| Failure::usage(format!("--role-command: {m}")))?;
        }
        Ok(())
    })?;
    let (reader, source) = jsonl::open(args.common.input.as_deref())?;
    let mut out = view::View::stdout(args.format, args.json);
    if args.local && !args.dry_run {
        local::install_signal_handlers();
    }
    let mut launcher = each::Launcher::new(&args, &profile, &opts);
    let mut lines = 0;
    for line in jsonl::read::<serde_json::Value, _>(reader, &source) {
        lines += 1;
        let at = format!("{source}:{}", line.line);
        if let Ok(record) = &line.record {
            let mode = record.get("mode").and_then(|m| m.as_str()).unwrap_or_default();
            if !args.mode.is_empty() && !args.mode.iter().any(|m| m == mode) {
                let id = record.get("id").and_then(|m| m.as_str()).unwrap_or_default();
                perfline::cli::say(format_args!("launch: {at}: {id}: skipped (mode {mode})"));
                continue;
            }
        }
        launcher.record(line.record, &at, &mut out)?;
    }
    // With --metrics, gathering says it (and removes an earlier FILE): no second line here.
    if lines == 0 && args.metrics.is_none() {
        let mut reporter = perfline::Reporter::new("launch");
        reporter.no_records(&source, "planned records", "did nodecount fail?", args.allow_empty);
        if reporter.exit() != Exit::Ok {
            return Ok(reporter.exit());
        }
    }
    launcher.finish(&mut out)
}
