//! nodecount: Test records + config YAML → records with the allocation plan.
//! (Skeleton: being built.)

use clap::Parser;
use perfline::cli::Result;
use perfline::Exit;

/// Test records + config YAML → records with the allocation plan.
#[derive(Parser, Debug)]
#[command(name = "nodecount", version)]
struct Args {}

fn main() {
    perfline::cli::main("nodecount", run)
}

fn run() -> Result<Exit> {
    let _args = Args::parse();
    Err(perfline::Failure::software("not implemented yet"))
}
