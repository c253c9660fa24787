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

/// Builds `package` (whose binary has its name) in release mode and empties
/// `target/bench-NAME`: (the binary, the folder).
pub(crate) fn release_bin_and_dir(
    sh: &xshell::Shell,
    package: &str,
    name: &str,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    {
        let _s = crate::util::Section::new(format!("cargo build --release -p {package}"));
        xshell::cmd!(sh, "cargo build --release -q -p {package}").run()?;
    }
    let root = crate::util::project_root();
    let dir = root.join(format!("target/bench-{name}"));
    sh.remove_path(&dir)?;
    sh.create_dir(&dir)?;
    Ok((root.join("target/release").join(package), dir))
}

/// Runs `cmd` under GNU time (`/usr/bin/time -f FORMAT`) with stdout to `out` (stderr kept
/// unless `quiet`); returns the wall time, the exit status and the numbers of the format's
/// last line (e.g. `%U %S`).
pub(crate) fn gnu_time(
    cmd: &[String],
    format: &str,
    out: &std::path::Path,
    report: &std::path::Path,
    quiet: bool,
) -> anyhow::Result<(f64, std::process::ExitStatus, Vec<f64>)> {
    use anyhow::Context;
    let start = std::time::Instant::now();
    let mut child = std::process::Command::new("/usr/bin/time");
    child.args(["-f", format, "-o"]).arg(report).args(cmd).stdout(std::fs::File::create(out)?);
    if quiet {
        child.stderr(std::process::Stdio::null());
    }
    let status = child.status()?;
    let wall_s = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(report)?;
    let fields = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<f64>, _>>()
        .with_context(|| format!("GNU time output: {text}"))?;
    Ok((wall_s, status, fields))
}
