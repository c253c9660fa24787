//! to-csv: Metric records → the legacy perf-DB CSV.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Metric records → the legacy perf-DB CSV.
#[derive(Parser, Debug)]
#[command(name = "to-csv", version)]
struct Args {}

fn main() {
    perfline::cli::main("to-csv", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
