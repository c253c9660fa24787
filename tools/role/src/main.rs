//! role: Role runner inside a job: CTX/GEN/SERVER workers, DISAGG_SERVER router, BENCHMARK client.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Role runner inside a job: CTX/GEN/SERVER workers, DISAGG_SERVER router, BENCHMARK client.
#[derive(Parser, Debug)]
#[command(name = "role", version)]
struct Args {}

fn main() {
    perfline::cli::main("role", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
