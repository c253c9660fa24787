//! launch: Planned records → job scripts: dry-run, sbatch submission, or local execution.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Planned records → job scripts: dry-run, sbatch submission, or local execution.
#[derive(Parser, Debug)]
#[command(name = "launch", version)]
struct Args {}

fn main() {
    perfline::cli::main("launch", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
