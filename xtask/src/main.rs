//! perfline's automation, run as `cargo xtask <task>` (see the cargo-xtask convention).
//!
//! Tasks: `ci` (everything CI runs), `e2e` (the main job), `bench <name>`, `eval <name>`
//! (accuracy on labelled data), `cluster up|down|status` (a real Slurm test cluster on this
//! host), `db up|down|status` (a private MariaDB).

mod bench;
mod ci;
mod cluster;
mod db;
mod e2e;
mod eval;
mod util;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "perfline's automation tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Everything CI runs: set-up, fmt --check, clippy -D warnings, tests, e2e.
    Ci(ci::Ci),
    /// The main job: classify | nodecount | launch over a test list, then parse, CSV, upload.
    E2e(e2e::E2e),
    /// Benchmarks, each side by side with its baseline.
    Bench(bench::Bench),
    /// Accuracy on labelled data (perf-check's published figures).
    Eval(eval::Eval),
    /// The Slurm test cluster on this host.
    Cluster(cluster::Cluster),
    /// The private MariaDB instance used by upload's tests.
    Db(db::Db),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `cargo run` (the `cargo xtask` alias) describes xtask in the environment (CARGO_PKG_*,
    // CARGO_MANIFEST_DIR, …). Cargo records some of those as inputs of `ring`, so every cargo
    // run from here would rebuild ring, ureq, the slurm layer and the tools, which a build from
    // a shell then rebuilds back (CONTRIBUTING.md). Still one thread: nothing reads it meanwhile.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let run_set = ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_CRATE_NAME", "CARGO_BIN_NAME"];
        if run_set.iter().any(|p| key.starts_with(p)) || key == "CARGO_PRIMARY_PACKAGE" {
            std::env::remove_var(&*key);
        }
    }
    let sh = xshell::Shell::new()?;
    sh.change_dir(util::project_root());
    match cli.task {
        Task::Ci(t) => t.run(&sh),
        Task::E2e(t) => t.run(&sh),
        Task::Bench(t) => t.run(&sh),
        Task::Eval(t) => t.run(&sh),
        Task::Cluster(t) => t.run(&sh),
        Task::Db(t) => t.run(&sh),
    }
}
