//! classify: Test list (text, test-db YAML, grouped YAML) → one JSON record per test.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Test list (text, test-db YAML, grouped YAML) → one JSON record per test.
#[derive(Parser, Debug)]
#[command(name = "classify", version)]
struct Args {}

fn main() {
    perfline::cli::main("classify", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
