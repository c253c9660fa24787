//! simserve: Simulated trtllm-serve: OpenAI-compatible server and disagg router with fault injection.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Simulated trtllm-serve: OpenAI-compatible server and disagg router with fault injection.
#[derive(Parser, Debug)]
#[command(name = "simserve", version)]
struct Args {}

fn main() {
    perfline::cli::main("simserve", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
