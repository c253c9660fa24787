//! waitfiles: Waits for coordination files or endpoints, bounded, watching peers.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Waits for coordination files or endpoints, bounded, watching peers.
#[derive(Parser, Debug)]
#[command(name = "waitfiles", version)]
struct Args {}

fn main() {
    perfline::cli::main("waitfiles", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
