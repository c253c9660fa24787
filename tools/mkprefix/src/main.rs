//! mkprefix: Planned records + cluster profile → records with the sbatch header and srun arguments.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Planned records + cluster profile → records with the sbatch header and srun arguments.
#[derive(Parser, Debug)]
#[command(name = "mkprefix", version)]
struct Args {}

fn main() {
    perfline::cli::main("mkprefix", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
