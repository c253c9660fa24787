//! `cargo xtask bench launch`: `launch --dry-run` rendering for every corpus case, side by side
//! with a Python renderer in the incumbent's style (string templates over the same planned
//! records, as `submit.py` does). Each side: one untimed warm-up run, then `--runs` timed runs
//! (median); ratios are baseline time / perfline time. Target: under 2 ms per case.

use crate::util::{project_root, Section};
use anyhow::Context;
use std::path::{Path, PathBuf};

use std::time::Instant;

#[derive(clap::Args)]
pub struct Launch {
    /// How many times the corpus is fed through one process (amortises start-up).
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Cargo profile of the measured binaries.
    #[arg(long, default_value = "release")]
    profile: String,
    /// Timed runs per side, at least 5 (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// The baseline: render an sbatch script per planned record with Python string templates.
const PYTHON_RENDERER: &str = r##"
import json, shlex, sys
out = []
for line in sys.stdin:
    r = json.loads(line)
    wd = "/shared/jobs/" + r["id"]
    s = ["#!/bin/bash", "#SBATCH --nodes=%d" % r["total_nodes"],
         "#SBATCH --ntasks=%d" % (r["total_nodes"] * r["gpus_per_node"]),
         "#SBATCH --ntasks-per-node=%d" % r["gpus_per_node"],
         "#SBATCH --gpus-per-node=%d" % r["gpus_per_node"], "#SBATCH --time=02:00:00",
         "#SBATCH -J %s" % r["id"], "#SBATCH -o %s/logs/slurm-%%j.out" % wd,
         "export jobWorkspace=%s" % shlex.quote(wd), "srunArgs=( )"]
    for role in r["roles"]:
        s.append("srun \"${srunArgs[@]}\" --kill-on-bad-exit=1 -N %d --ntasks=%d --ntasks-per-node=%d %s &> %s/%s.log &"
                 % (role["nodes"], role["nodes"] * role["tasks_per_node"], role["tasks_per_node"],
                    shlex.quote("role " + role["role"]), shlex.quote(wd), role["role"]))
    s.append("srun \"${srunArgs[@]}\" --overlap -N 1 --ntasks=1 --ntasks-per-node=1 role BENCHMARK")
    out.append(json.dumps({"id": r["id"], "script": "\n".join(s) + "\n", "workdir": wd}))
sys.stdout.write("\n".join(out) + "\n")
"##;

impl Launch {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        let profile = &self.profile;
        {
            let _s = Section::new(format!(
                "cargo build --profile {profile} (classify, nodecount, launch)"
            ));
            xshell::cmd!(
                sh,
                "cargo build --quiet --profile {profile} -p classify -p nodecount -p launch"
            )
            .run()?;
        }
        let dir = if profile == "dev" { "debug" } else { profile.as_str() };
        let bins = project_root().join("target").join(dir);
        let corpus = corpus_root();
        // The one corpus list (every form the incumbent generates), shared with the corpus tests.
        let list = std::fs::read_to_string("testlists/corpus/plan_forms.txt")
            .context("testlists/corpus/plan_forms.txt")?;
        let tests = crate::util::pipe(&bins.join("classify"), &["-"], list.as_bytes())?;
        let planned = crate::util::pipe(
            &bins.join("nodecount"),
            &["--root", corpus.to_str().unwrap_or(".")],
            &tests,
        )?;
        let cases = planned.iter().filter(|b| **b == b'\n').count();
        anyhow::ensure!(cases > 0, "no planned records");
        let input: Vec<u8> = planned.repeat(self.repeat);
        let n = cases * self.repeat;

        let launch = bins.join("launch");
        let args = ["--dry-run", "--job-root", "/shared/jobs"];
        anyhow::ensure!(self.runs >= 5, "--runs must be at least 5");
        let runs = self.runs;
        let perfline_batch =
            median_ms(runs, || crate::util::pipe(&launch, &args, &input).map(drop))? / n as f64;
        let python = Path::new("python3");
        let py_args = ["-c", PYTHON_RENDERER];
        let python_batch =
            median_ms(runs, || crate::util::pipe(python, &py_args, &input).map(drop))? / n as f64;

        // One process per case, as a shell loop over tests would do.
        let first_lines: Vec<&[u8]> = planned.split_inclusive(|b| *b == b'\n').take(20).collect();
        let perfline_single = per_process_ms(&launch, &args, &first_lines)?;
        let python_single = per_process_ms(python, &py_args, &first_lines)?;

        println!(
            "bench launch: {cases} corpus cases × {} = {n} renderings ({profile} build); one \
             process: 1 warm-up + median of {runs} runs per side; one process per case: 1 warm-up \
             + median of {} cases per side",
            self.repeat,
            first_lines.len()
        );
        println!(
            "{:<44} {:>10} {:>10} {:>22}",
            "figure", "perfline", "python", "ratio python/perfline"
        );
        for (name, ours, theirs) in [
            ("dry-run per case, one process (ms)", perfline_batch, python_batch),
            ("dry-run, one process per case (ms)", perfline_single, python_single),
        ] {
            println!("{name:<44} {ours:>10.3} {theirs:>10.3} {:>21.1}x", theirs / ours);
        }
        println!(
            "target: < 2 ms per case: {}",
            if perfline_batch < 2.0 { "met" } else { "MISSED" }
        );
        Ok(())
    }
}

fn corpus_root() -> PathBuf {
    std::env::var_os("PERFLINE_CORPUS")
        .map_or_else(|| project_root().join("../shared/corpus/trtllm"), PathBuf::from)
}

/// One warm-up run (page cache, Python byte code), then the median of `runs` timed runs.
fn median_ms(runs: usize, f: impl Fn() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[runs / 2])
}

/// Median wall time of one process per record, after one warm-up process.
fn per_process_ms(program: &Path, args: &[&str], records: &[&[u8]]) -> anyhow::Result<f64> {
    if let Some(first) = records.first() {
        crate::util::pipe(program, args, first)?;
    }
    let mut times = Vec::with_capacity(records.len());
    for r in records {
        let start = Instant::now();
        crate::util::pipe(program, args, r)?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times.get(times.len() / 2).copied().unwrap_or(f64::NAN))
}
