//! bench: OpenAI-compatible load generator with benchmark_serving's flags and output.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// OpenAI-compatible load generator with benchmark_serving's flags and output.
#[derive(Parser, Debug)]
#[command(name = "bench", version)]
struct Args {}

fn main() {
    perfline::cli::main("bench", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
