//! upload: Metric records → SQLite, MySQL or OpenSearch, idempotently.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Metric records → SQLite, MySQL or OpenSearch, idempotently.
#[derive(Parser, Debug)]
#[command(name = "upload", version)]
struct Args {}

fn main() {
    perfline::cli::main("upload", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
