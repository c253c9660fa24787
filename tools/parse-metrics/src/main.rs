//! parse-metrics: Benchmark client output → metric records.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Benchmark client output → metric records.
#[derive(Parser, Debug)]
#[command(name = "parse-metrics", version)]
struct Args {}

fn main() {
    perfline::cli::main("parse-metrics", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
