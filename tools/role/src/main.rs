//! role: runs one role of a perfline job inside its step; reads the job's `plan.json` and
//! `profile.json`, writes coordination files (`coord/`), server logs (`logs/`) and results
//! (`results/metrics.jsonl`, `results/status.json`).

mod benchmark;
mod gpus;
mod job;
mod liveness;
mod process;
mod server;
mod telemetry;

use clap::Parser;
use perfline::cli::{Failure, Result};
use perfline::Exit;
use std::path::PathBuf;

/// Runs one role of a job: every srun step (and every `launch --local` process) runs this.
#[derive(Parser, Debug)]
#[command(
    name = "role",
    version,
    after_help = "Roles:\n  CTX_i, GEN_i     disaggregated context / generation server i\n  SERVER_i         aggregated server i (rank 0 serves; other ranks wait)\n  DISAGG_SERVER    waits for all worker addresses, writes server_config.yaml, starts the router\n  BENCHMARK        waits for /health, runs every client run, parses metrics, writes status\n  FINALIZE         (job failure trap) writes failed records for runs that did not finish\n\nEnvironment: PERFLINE_BIN (binaries), PERFLINE_HOST (advertised host), PERFLINE_READY_TIMEOUT_S,\nPERFLINE_JOB_TIMEOUT_S, PERFLINE_COORD_DIR, PERFLINE_TARGET (BENCHMARK: the one server it measures),\nSLURM_PROCID (rank).\n\nExample:\n  role GEN_0 --plan job/plan.json --job-dir job"
)]
struct Args {
    /// The role to run.
    role: String,
    /// The job's plan record (JSON).
    #[arg(long)]
    plan: PathBuf,
    /// The job directory.
    #[arg(long)]
    job_dir: PathBuf,
}

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "--exec-as-subreaper") {
        exec_as_subreaper(&argv[2..]);
    }
    perfline::cli::main("role", run)
}

/// `role --exec-as-subreaper CMD ARGS...`: becomes a child subreaper (kept across exec) and
/// execs CMD, so orphaned grandchildren are reparented to CMD, which reaps them. Job scripts
/// use it so that no zombie outlives its parent in the job's process group.
fn exec_as_subreaper(cmd: &[std::ffi::OsString]) -> ! {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = cmd.split_first() else {
        perfline::cli::diag("role", "error", "--exec-as-subreaper needs a command");
        std::process::exit(Exit::Usage.code());
    };
    // SAFETY: prctl on this process only.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    let err = std::process::Command::new(program).args(args).exec();
    perfline::cli::diag("role", "error", format_args!("{}: {err}", program.to_string_lossy()));
    std::process::exit(Exit::of_io(&err).code())
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<Args>()? else { return Ok(Exit::Ok) };
    perfline::shell::check_id(&args.role)
        .map_err(|e| Failure::usage(format!("role {:?}: {e}", args.role)))?;
    let job = job::Job::load(&args.plan, &args.job_dir)?;
    match args.role.as_str() {
        "BENCHMARK" => benchmark::run_benchmark(&job),
        "DISAGG_SERVER" => server::run_router(&job),
        "FINALIZE" => benchmark::finalize(&job),
        r if ["CTX_", "GEN_", "SERVER_"].iter().any(|p| r.starts_with(p)) => server::run_worker(&job, r),
        r => Err(Failure::usage(format!("unknown role {r:?}: expected CTX_i, GEN_i, SERVER_i, DISAGG_SERVER, BENCHMARK or FINALIZE"))),
    }
}
