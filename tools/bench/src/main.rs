//! bench: sends OpenAI-compatible requests (random or file prompts) to a server and writes
//! benchmark_serving's result block to stdout (and its JSON with `--save-result`).
//!
//! `args` holds the command line, `plan` checks it and makes the prompts before any request,
//! `run` sends them and writes the results.

mod args;
mod plan;
mod run;

use perfline::cli::Result;
use perfline::Exit;

fn main() {
    perfline::cli::main("bench", run)
}

fn run() -> Result<Exit> {
    let Some(args) = perfline::cli::parse_args::<args::Args>()? else { return Ok(Exit::Ok) };
    if let Some(format) = args.convert_trace {
        return run::convert(&args, format);
    }
    let plan = plan::Plan::from_args(&args)?;
    run::run(&args, &plan)
}
