//! `cargo xtask e2e [--slurm]`: the main job. Runs the whole chain over a test list —
//! `classify | nodecount | launch` (local processes, or the Slurm test cluster with `--wait`),
//! where every job's roles start simserve servers and the bench client and parse the results —
//! then `to-csv` and `upload` into SQLite, and prints a results table and the run id.

use crate::util::{project_root, Section};
use anyhow::Context;
use std::path::PathBuf;
use xshell::cmd;

#[derive(clap::Args)]
pub struct E2e {
    /// Run on the Slurm test cluster (brought up when needed) instead of as local processes.
    #[arg(long)]
    slurm: bool,
    /// The test list (default: testlists/e2e.txt, or testlists/e2e-slurm.txt with --slurm).
    #[arg(long)]
    list: Option<PathBuf>,
}

/// The tools the chain runs, checked present after the build.
const TOOLS: [&str; 11] = [
    "classify",
    "nodecount",
    "launch",
    "role",
    "simserve",
    "bench",
    "parse-metrics",
    "to-csv",
    "upload",
    "perf-check",
    "report",
];

impl E2e {
    pub fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        let root = project_root();
        let name = if self.slurm { "e2e-slurm" } else { "e2e" };
        let list = self.list.unwrap_or_else(|| root.join(format!("testlists/{name}.txt")));
        let out = root.join("target").join(name);
        {
            // The tools exactly as `cargo test --workspace` builds them: the same packages and
            // targets resolve the same dependency features, so after the tests (CI's order) this
            // is a no-op. `cargo build -p TOOL…` resolves features differently and rebuilt
            // perfline and every tool (CONTRIBUTING.md, "Build and test").
            let _s = Section::new("build the tools (cargo test --workspace --no-run)");
            cmd!(sh, "cargo test --workspace --no-run --quiet").run()?;
            for t in TOOLS {
                let path = root.join("target/debug").join(t);
                anyhow::ensure!(path.is_file(), "{} missing after the build", path.display());
            }
        }
        if self.slurm {
            let xtask = std::env::current_exe()?;
            cmd!(sh, "{xtask} cluster up").run()?;
        }
        if out.exists() {
            std::fs::remove_dir_all(&out).with_context(|| format!("clean {}", out.display()))?;
        }
        std::fs::create_dir_all(&out)?;
        let bin = root.join("target/debug");
        let tool = |t: &str| bin.join(t);
        let (classify, nodecount, launch) = (tool("classify"), tool("nodecount"), tool("launch"));
        let jobs_dir = out.join("jobs");
        let configs = root.join("testlists/configs");

        let _s =
            Section::new(format!("{name}: classify | nodecount | launch over {}", list.display()));
        let tests = cmd!(sh, "{classify} {list}").read()?;
        let planned = cmd!(sh, "{nodecount} --config-dir {configs}").stdin(&tests).read()?;
        std::fs::write(out.join("planned.jsonl"), &planned)?;
        let mode: Vec<&str> = if self.slurm { vec!["--wait"] } else { vec!["--local"] };
        let metrics_file = out.join("metrics.jsonl");
        let launched = cmd!(
            sh,
            "{launch} --cluster local --job-root {jobs_dir} {mode...} --metrics {metrics_file}"
        )
        .stdin(&planned)
        .ignore_status()
        .output()?;
        let jobs = String::from_utf8_lossy(&launched.stdout).to_string();
        std::fs::write(out.join("jobs.jsonl"), &jobs)?;
        let metrics = std::fs::read_to_string(&metrics_file)
            .with_context(|| format!("launch --metrics wrote no {}", metrics_file.display()))?;
        let to_csv = tool("to-csv");
        let csv = cmd!(sh, "{to_csv}").stdin(&metrics).ignore_status().read()?;
        std::fs::write(out.join("results.csv"), &csv)?;
        print_table(&metrics);

        // The history lives beside the run's directory, so it grows from one e2e run to the
        // next: perf-check judges this run against the earlier ones, then it is uploaded.
        let history = root.join("target").join(format!("{name}-history"));
        std::fs::create_dir_all(&history)?;
        let store = format!("sqlite:{}", history.join("perf.db").display());
        let perf_check = tool("perf-check");
        let verdicts_file = out.join("verdicts.jsonl");
        let checked =
            cmd!(sh, "{perf_check} --store {store} -i {metrics_file}").ignore_status().output()?;
        std::fs::write(&verdicts_file, &checked.stdout)?;
        print_verdicts(&String::from_utf8_lossy(&checked.stdout));
        anyhow::ensure!(
            matches!(checked.status.code(), Some(0) | Some(1)),
            "{name}: perf-check could not judge the run ({})",
            checked.status
        );

        let upload = tool("upload");
        let uploaded = cmd!(sh, "{upload} {store}").stdin(&metrics).ignore_status().output()?;
        let record = String::from_utf8_lossy(&uploaded.stdout).to_string();
        let run_id = record
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("run_id").map(|id| id.to_string()))
            .collect::<Vec<_>>();
        println!("results: {}", out.join("results.csv").display());
        println!("uploaded to {store}: run id {}", run_id.join(", "));
        let report = tool("report");
        let (html, charts) = (out.join("report.html"), out.join("charts"));
        let reported = cmd!(
            sh,
            "{report} --store {store} --verdicts {verdicts_file} -o {html} --charts {charts}"
        )
        .ignore_status()
        .output()?;
        anyhow::ensure!(
            reported.status.success(),
            "{name}: report failed ({}): {}",
            reported.status,
            String::from_utf8_lossy(&reported.stderr).trim()
        );
        println!("report: {}", html.display());

        anyhow::ensure!(
            launched.status.success(),
            "{name}: launch failed ({}); logs under {}",
            launched.status,
            jobs_dir.display()
        );
        anyhow::ensure!(uploaded.status.success(), "{name}: upload failed ({})", uploaded.status);
        let failed = metrics.lines().filter(|l| l.contains("\"status\":\"failed\"")).count();
        anyhow::ensure!(!metrics.trim().is_empty(), "{name}: no metric records were produced");
        anyhow::ensure!(
            failed == 0,
            "{name}: {failed} failed metric record(s); see {}",
            metrics_file.display()
        );
        Ok(())
    }
}

/// The verdicts, counted, with one line per series that moved.
fn print_verdicts(verdicts: &str) {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut moved = Vec::new();
    for line in verdicts.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let verdict = v["verdict"].as_str().unwrap_or("?").to_string();
        if matches!(verdict.as_str(), "regression" | "improvement" | "suspect") {
            moved.push(format!(
                "  {verdict:<12} {} {}-{} {}: {} vs {} ({:+.1} %)",
                v["test_id"].as_str().unwrap_or("-"),
                v["server"].as_str().unwrap_or("-"),
                v["client"].as_str().unwrap_or("-"),
                v["metric"].as_str().unwrap_or("-"),
                v["current"],
                v["baseline"],
                v["delta_pct"].as_f64().unwrap_or(0.0)
            ));
        }
        *counts.entry(verdict).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "perf-check: {}",
        if summary.is_empty() { "no verdicts".into() } else { summary.join(", ") }
    );
    for line in moved {
        println!("{line}");
    }
}

/// One line per metric record: test, server, client, concurrency, status and key numbers.
fn print_table(metrics: &str) {
    println!(
        "{:<46} {:<22} {:>5} {:>7} {:>9} {:>10} {:>10}",
        "test", "client", "conc", "status", "req/s", "out tok/s", "mean TTFT"
    );
    for line in metrics.lines() {
        let Ok(r) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_string();
        let m = |k: &str| {
            r.pointer(&format!("/metrics/{k}"))
                .and_then(|v| v.as_f64())
                .map_or("-".into(), |v| format!("{v:.2}"))
        };
        let conc = r.get("concurrency").map_or("-".into(), |v| v.to_string());
        println!(
            "{:<46} {:<22} {:>5} {:>7} {:>9} {:>10} {:>10}",
            s("test_id"),
            s("client"),
            conc,
            s("status"),
            m("seq_throughput"),
            m("token_throughput"),
            m("mean_ttft")
        );
    }
}
