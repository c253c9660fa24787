//! `cargo xtask bench perfcheck`: 10,000 series (2,500 cases × 4 metrics) × 100 runs of
//! history in SQLite (upload's schema v3, built by `perfcheck_store.py`), judged by the release
//! `perf-check` (change-point method, window 30) and, side by side in the same run, by a
//! Python baseline doing the same judgement with sqlite3, numpy and scipy (`perfcheck.py`),
//! run by the Python of a virtual environment (`target/bench-venv`, numpy and scipy from PyPI).
//! Each side: one warm-up run, then the median of `--repeat` timed runs; the verdict counts
//! of both sides are printed so a reader can see they did the same work. Target: < 1 s.

use crate::util::{is_root, project_root, Section};
use std::time::Instant;
use xshell::{cmd, Shell};

const STORE_PY: &str = include_str!("perfcheck_store.py");
const BASELINE_PY: &str = include_str!("perfcheck.py");

#[derive(clap::Args)]
pub struct Perfcheck {
    /// Cases in the store (4 metrics each: 4 × cases series).
    #[arg(long, default_value_t = 2500)]
    cases: usize,
    /// Runs of history.
    #[arg(long, default_value_t = 100)]
    runs: usize,
    /// Timed runs per side (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

impl Perfcheck {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        {
            let _s = Section::new("cargo build --release -p perf-check");
            cmd!(sh, "cargo build --release -q -p perf-check").run()?;
        }
        let root = project_root();
        let bin = root.join("target/release/perf-check");
        let dir = root.join("target/bench-perfcheck");
        sh.remove_path(&dir)?;
        sh.create_dir(&dir)?;
        let (db, current) = (dir.join("perf.db"), dir.join("current.jsonl"));
        let (cases, runs) = (self.cases.to_string(), self.runs.to_string());
        let python = venv(sh, &root.join("target/bench-venv"))?;
        let series = {
            let _s = Section::new(format!("store: {cases} cases × 4 metrics × {runs} runs"));
            cmd!(sh, "{python} -c {STORE_PY} {db} {current} {cases} {runs}").read()?
        };
        let store = format!("sqlite:{}", db.display());
        let ours = || {
            cmd!(sh, "{bin} --store {store} -i {current}")
                .quiet()
                .ignore_stderr()
                .ignore_status()
                .read()
                .map(|out| counts(&out))
        };
        let theirs = || cmd!(sh, "{python} -c {BASELINE_PY} {db} {current} 30").quiet().read();
        let (ours_counts, theirs_counts) = (ours()?, theirs()?);
        let mut ours_t = Vec::new();
        let mut theirs_t = Vec::new();
        for _ in 0..self.repeat.max(1) {
            ours_t.push(timed(ours)?);
            theirs_t.push(timed(theirs)?);
        }
        let (o, t) = (median(&mut ours_t), median(&mut theirs_t));
        println!("series judged: {}, history runs: {runs}, window 30", series.trim());
        println!("perf-check verdicts:      {ours_counts}");
        println!("python baseline verdicts: {}", theirs_counts.trim());
        println!(
            "{:<44} {:>10} {:>10}",
            format!("median of {} (after one warm-up run)", self.repeat.max(1)),
            "seconds",
            "runs"
        );
        println!("{:<44} {:>10.3} {:>10}", "perf-check (release, change-point)", o, fmt(&ours_t));
        println!("{:<44} {:>10.3} {:>10}", "python3 sqlite3 + numpy + scipy", t, fmt(&theirs_t));
        println!(
            "ratio python / perf-check: {:.1}x; target perf-check < 1 s: {}",
            t / o,
            if o < 1.0 { "met" } else { "MISSED" }
        );
        Ok(())
    }
}

/// The Python of a virtual environment at `dir` with numpy and scipy (the baseline's
/// imports), created and filled from PyPI when missing; `python3-venv` is apt-installed
/// first when the system Python cannot make one. The system Python is never changed.
fn venv(sh: &Shell, dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let python = dir.join("bin/python");
    if !python.exists() {
        let _s = Section::new(format!("python3 -m venv {}", dir.display()));
        if cmd!(sh, "python3 -m venv {dir}").quiet().ignore_stderr().run().is_err() {
            anyhow::ensure!(
                is_root(),
                "python3 -m venv failed and installing python3-venv needs root"
            );
            cmd!(sh, "apt-get update -qq").run()?;
            cmd!(sh, "apt-get install -y -qq --no-install-recommends python3-venv")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run()?;
            sh.remove_path(dir)?;
            cmd!(sh, "python3 -m venv {dir}").run()?;
        }
    }
    if cmd!(sh, "{python} -c 'import numpy, scipy'").quiet().ignore_stderr().run().is_err() {
        let _s = Section::new("pip install numpy scipy into the venv (Python baseline)");
        cmd!(sh, "{python} -m pip install -q numpy scipy").run()?;
    }
    Ok(python)
}

/// Verdict counts of perf-check's output, as one sorted JSON object.
fn counts(out: &str) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for line in out.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            *counts.entry(v["verdict"].as_str().unwrap_or("?").to_string()).or_default() += 1;
        }
    }
    serde_json::to_string(&counts).unwrap_or_default()
}

fn timed<T>(f: impl Fn() -> Result<T, xshell::Error>) -> anyhow::Result<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fmt(v: &[f64]) -> String {
    v.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(" ")
}
