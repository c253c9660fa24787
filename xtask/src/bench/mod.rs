//! `cargo xtask bench <name>`: each benchmark runs perfline side by side with its named
//! baseline in one run and prints the ratio.

mod client;
mod coordination;
mod launch;
mod parse;
mod perfcheck;
mod plan;
mod report;
mod upload;

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct Bench {
    #[command(subcommand)]
    which: Which,
}

#[derive(Subcommand)]
enum Which {
    /// classify | nodecount over the corpus vs a Python + PyYAML planner.
    Plan(plan::Plan),
    /// parse-metrics on a 1 GB gen-worker log and 100k result blocks vs Python `re`.
    Parse(parse::Parse),
    /// launch --dry-run rendering per corpus case.
    Launch(launch::Launch),
    /// upload of 100,000 metric rows into SQLite and MariaDB.
    Upload(upload::Upload),
    /// bench vs aiperf and guidellm against one local server.
    Client(client::Client),
    /// Coordination overhead and fault detection on the Slurm test cluster.
    Coordination(coordination::Coordination),
    /// report: 500 series × 100 runs into one HTML page vs a Python string-formatting baseline.
    Report(report::Report),
    /// perf-check on 10,000 series × 100 runs in SQLite vs a numpy + sqlite3 baseline.
    Perfcheck(perfcheck::Perfcheck),
}

impl Bench {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        match self.which {
            Which::Plan(b) => b.run(sh),
            Which::Parse(b) => b.run(sh),
            Which::Launch(b) => b.run(sh),
            Which::Upload(b) => b.run(sh),
            Which::Client(b) => b.run(sh),
            Which::Coordination(b) => b.run(sh),
            Which::Report(b) => b.run(sh),
            Which::Perfcheck(b) => b.run(sh),
        }
    }
}
