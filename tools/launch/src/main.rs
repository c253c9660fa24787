//! launch: reads planned records (nodecount's or mkprefix's JSON Lines) and writes one job record
//! per test: with `--dry-run` the rendered sbatch script and step commands (no side effects);
//! by default the job submitted with `sbatch` (`--wait` follows it to its end); with `--local`
//! the same roles run as local processes. Job directories: docs/job-layout.md.

mod job;
mod local;
mod submit;

use clap::Parser;
use perfline::cli::Result;
use perfline::slurm::{self, Profile};
use perfline::wire::job::{JobRecord, RoleCommand};
use perfline::{fsutil, jsonl, shell, Exit, Failure, Reporter};

use std::path::Path;
use std::time::Duration;

/// Render, submit, or run locally the job of each planned test.
#[derive(Parser, Debug)]
#[command(
    name = "launch",
    version,
    after_help = "Examples:\n  \
        classify < list.txt | nodecount | launch --dry-run\n  \
        classify < list.txt | nodecount | launch --cluster local --wait\n  \
        classify < list.txt | nodecount | mkprefix --cluster gb200 | launch --nodes n1,n2,n3\n  \
        launch --local --role-command 'echo {role} ran' < planned.jsonl\n\n\
        Exit: 0 all jobs submitted (or, with --wait/--local, COMPLETED); 1 a job failed;\n\
        65 a bad record; 69 Slurm unavailable; 75 --wait timed out; 78 bad profile."
)]
struct Args {
    /// Planned or prefixed records; the shared options of mkprefix and launch.
    #[command(flatten)]
    common: slurm::PrefixArgs,
    /// Print each job (script, commands, workdir) without submitting or writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Run the roles as local processes instead of submitting to Slurm.
    #[arg(long, conflicts_with = "wait")]
    local: bool,
    /// Follow submitted jobs to their end; exit with their result.
    #[arg(long)]
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
}

fn main() {
    perfline::cli::main("launch", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    if !(args.poll.is_finite() && args.poll >= 0.1) {
        return Err(Failure::usage("--poll must be at least 0.1 seconds"));
    }
    let (profile, opts) = args.common.resolve(|profile| {
        if let Some(t) = &args.role_command {
            profile.commands.role = t.clone();
            profile.check().map_err(|m| Failure::usage(format!("--role-command: {m}")))?;
        }
        Ok(())
    })?;
    let (reader, source) = jsonl::open(args.common.input.as_deref())?;
    let mut out = jsonl::stdout();
    let mut reporter = Reporter::new("launch");
    if args.local && !args.dry_run {
        local::install_signal_handlers();
    }
    let mut submitted: Vec<(JobRecord, Duration)> = Vec::new();
    for line in jsonl::read::<serde_json::Value, _>(reader, &source) {
        let at = format!("{source}:{}", line.line);
        let result = line.record.and_then(|record| {
            let job = job::build(&record, &profile, &opts, &profile.commands.role)
                .map_err(|f| f.context(&at))?;
            let timeout = Duration::from_secs(args.timeout.unwrap_or_else(|| {
                let plan = &job.planned;
                plan.plan.timeout_s.or(plan.test.timeout_s).map_or(7200, |t| t + 600)
            }));
            Ok((record, job, timeout))
        });
        let (record, job, timeout) = match result {
            Ok(x) => x,
            Err(f) => {
                reporter.failure(&f);
                continue;
            }
        };
        let mut rec = JobRecord {
            id: job.id.clone(),
            job_id: None,
            script: job.script.clone(),
            workdir: job.prefix.workdir.clone(),
            commands: if args.local {
                local_commands(&job, &profile, args.per_task || profile.local.per_task)
            } else {
                job::commands(&job, &profile)?
            },
            state: None,
            exit_code: None,
        };
        if args.dry_run {
            out.write(&rec)?;
            continue;
        }
        if let Err(f) = write_job_dir(&job, &record, &profile) {
            reporter.failure(&f.context(&job.id));
            continue;
        }
        if args.local {
            let per_task = args.per_task || profile.local.per_task;
            match local::run(&job, &profile, per_task, timeout) {
                Ok(outcome) => {
                    if let Some(why) = &outcome.reason {
                        let exit =
                            if outcome.state == "TIMEOUT" { Exit::TempFail } else { Exit::Failed };
                        reporter.error(exit, format!("{}: {why}", job.id));
                    }
                    rec.state = Some(outcome.state);
                    rec.exit_code = Some(outcome.exit_code);
                    out.write(&rec)?;
                }
                Err(f) => reporter.failure(&f.context(&job.id)),
            }
            continue;
        }
        let script = Path::new(&job.prefix.workdir).join("job.sh");
        match submit::sbatch(&script, Path::new(&job.prefix.workdir)) {
            Ok(id) => {
                eprintln!("launch: {}: submitted job {id}", job.id);
                rec.job_id = Some(id);
                if args.wait {
                    submitted.push((rec, timeout));
                } else {
                    out.write(&rec)?;
                }
            }
            Err(f) => reporter.failure(&f.context(&job.id)),
        }
    }
    let poll = Duration::from_secs_f64(args.poll);
    for (mut rec, timeout) in submitted {
        let job_id = rec.job_id.clone().unwrap_or_default();
        match submit::wait(&rec.id, &job_id, poll, timeout) {
            Ok(state) => {
                if state.exit() != Exit::Ok {
                    reporter.error(
                        state.exit(),
                        format!(
                            "{}: job {job_id} ended {}; logs in {}/logs",
                            rec.id, state.state, rec.workdir
                        ),
                    );
                }
                rec.state = Some(state.state);
                rec.exit_code = state.exit_code;
                out.write(&rec)?;
            }
            Err(f) => reporter.failure(&f),
        }
    }
    Ok(reporter.exit())
}

/// Opens the input file, or stdin for `-`/none; returns the reader and its name for errors.
/// The commands `--local` runs, as shell text.
fn local_commands(job: &job::Job, profile: &Profile, per_task: bool) -> Vec<RoleCommand> {
    job.install
        .iter()
        .chain(job.groups.iter().flatten())
        .map(|step| {
            let n = local::processes(step, per_task);
            let argv = local::argv(job, step, profile, 0, n);
            let command = shell::join(&argv).unwrap_or_default();
            RoleCommand { role: step.role.clone(), command }
        })
        .collect()
}

/// Creates the job directory: `job.sh`, `plan.json` (the input record), `profile.json`,
/// `logs/`, `coord/`, `results/`. Stale coordination files of an earlier run are removed.
fn write_job_dir(job: &job::Job, record: &serde_json::Value, profile: &Profile) -> Result<()> {
    let dir = Path::new(&job.prefix.workdir);
    for sub in ["logs", "coord", "results"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p)
            .map_err(|e| Failure::new(Exit::CantCreat, format!("{}: {e}", p.display())))?;
    }
    let coord = dir.join("coord");
    for entry in std::fs::read_dir(&coord).map_err(|e| Failure::io(coord.display(), &e))? {
        let path = entry?.path();
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| Failure::io(path.display(), &e))?;
        }
    }
    fsutil::write_atomic_mode(&dir.join("job.sh"), job.script.as_bytes(), 0o755)?;
    let plan = serde_json::to_vec_pretty(record)
        .map_err(|e| Failure::software(format!("cannot serialize plan: {e}")))?;
    fsutil::write_atomic(&dir.join("plan.json"), &plan)?;
    let prof = serde_json::to_vec_pretty(profile)
        .map_err(|e| Failure::software(format!("cannot serialize profile: {e}")))?;
    fsutil::write_atomic(&dir.join("profile.json"), &prof)
}
