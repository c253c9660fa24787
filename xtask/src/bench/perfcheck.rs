//! `cargo xtask bench perfcheck`: 10,000 series (2,500 cases × 4 metrics) × 100 runs of
//! history in SQLite (perfline's schema, filled by `perfcheck_store.py`), judged by the release
//! `perf-check` (change-point method, window 30, 10 anchor runs) and, side by side in the same
//! run, by a Python baseline doing the same judgement with sqlite3 (one query), numpy and
//! scipy.special (`perfcheck.py`: robust noise with the effective-sample-size correction,
//! search-corrected change points, Benjamini–Hochberg over all series, the three-way answer
//! with runs_needed, case verdicts), run by the Python of a virtual environment
//! (`target/bench-venv`, numpy and scipy from PyPI). Each side: one warm-up run, then the
//! median of `--repeat` (≥ 5) timed runs; wall time is taken here, CPU time (user + system)
//! of each child from GNU time. The verdict counts of both sides, per verdict for series and
//! for cases, are printed with whether they are identical; the load average before and after.
//! Target: < 1 s.

use crate::util::{apt_install_if_missing, is_root, project_root, Section};
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;
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
    /// Timed runs per side, at least 5 (the median is reported), after one warm-up run each.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

impl Perfcheck {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        anyhow::ensure!(self.repeat >= 5, "--repeat must be at least 5 (medians of 5 or more)");
        apt_install_if_missing(sh, "/usr/bin/time", &["time"])?;
        let (bin, dir) = super::release_bin_and_dir(sh, "perf-check", "perfcheck")?;
        let root = project_root();
        let (db, current) = (dir.join("perf.db"), dir.join("current.jsonl"));
        let (cases, runs) = (self.cases.to_string(), self.runs.to_string());
        let python = venv(sh, &root.join("target/bench-venv"))?;
        let series = {
            let _s = Section::new(format!("store: {cases} cases × 4 metrics × {runs} runs"));
            create_store(&db)?;
            cmd!(sh, "{python} -c {STORE_PY} {db} {current} {cases} {runs}").read()?
        };
        let script = dir.join("perfcheck.py");
        std::fs::write(&script, BASELINE_PY)?;
        let store = format!("sqlite:{}", db.display());
        let ours: Vec<String> = [p(&bin), "--store".into(), store, "-i".into(), p(&current)].into();
        let theirs: Vec<String> = [p(&python), p(&script), p(&db), p(&current), "30".into()].into();
        let load_before = loadavg();
        let _s = Section::new(format!("1 warm-up + {} timed runs per side", self.repeat));
        let (ours_out, theirs_out) = (dir.join("ours.jsonl"), dir.join("theirs.json"));
        measure_once(&ours, &ours_out, &dir)?;
        measure_once(&theirs, &theirs_out, &dir)?;
        let ours_counts = counts_of_verdicts(&std::fs::read_to_string(&ours_out)?);
        let theirs_counts = counts_of_baseline(&std::fs::read_to_string(&theirs_out)?)?;
        let mut ours_t = Vec::new();
        let mut theirs_t = Vec::new();
        for _ in 0..self.repeat {
            ours_t.push(measure_once(&ours, &ours_out, &dir)?);
            theirs_t.push(measure_once(&theirs, &theirs_out, &dir)?);
        }
        let load_after = loadavg();
        drop(_s);
        let (ow, oc) = medians(&ours_t);
        let (tw, tc) = medians(&theirs_t);
        println!("series judged: {}, history runs: {runs}, window 30", series.trim());
        println!(
            "{:<20} {:>14} {:>14} {:>14} {:>14}",
            "verdict", "series: ours", "python", "cases: ours", "python"
        );
        for verdict in VERDICTS {
            let n = |c: &Counts, scope: &str| {
                c.get(scope).and_then(|m| m.get(verdict)).copied().unwrap_or(0)
            };
            println!(
                "{verdict:<20} {:>14} {:>14} {:>14} {:>14}",
                n(&ours_counts, "series"),
                n(&theirs_counts, "series"),
                n(&ours_counts, "cases"),
                n(&theirs_counts, "cases")
            );
        }
        let same = |scope: &str| ours_counts.get(scope) == theirs_counts.get(scope);
        let yes = |b: bool| if b { "yes" } else { "NO" };
        println!(
            "identical verdict counts per verdict: series {}, cases {}",
            yes(same("series")),
            yes(same("cases"))
        );
        println!(
            "{:<44} {:>9} {:>9}  wall of each run",
            format!("median of {} (after one warm-up run)", self.repeat),
            "wall s",
            "CPU s"
        );
        let row = |name: &str, w: f64, c: f64, all: &[Measure]| {
            println!("{name:<44} {w:>9.3} {c:>9.3}  {}", fmt(all));
        };
        row("perf-check (release, change-point)", ow, oc, &ours_t);
        row("python3 sqlite3 + numpy + scipy", tw, tc, &theirs_t);
        println!("load average (1, 5, 15 min): before {load_before}, after {load_after}");
        println!(
            "ratio python / perf-check: {:.1}x wall, {:.1}x CPU; target perf-check < 1 s: {}",
            tw / ow,
            tc / oc,
            if ow < 1.0 { "met" } else { "MISSED" }
        );
        Ok(())
    }
}

/// Creates the empty store at `db` with perfline's schema (its one owner, perfline_store::schema)
/// for `perfcheck_store.py` to fill.
fn create_store(db: &Path) -> anyhow::Result<()> {
    use perfline_store::schema::{self, SCHEMA_VERSION};
    let conn = rusqlite::Connection::open(db).with_context(|| db.display().to_string())?;
    schema::create_at(&mut schema::Sqlite(&conn), SCHEMA_VERSION)
        .map_err(|f| anyhow::anyhow!(f.message))
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

const VERDICTS: [&str; 6] =
    ["regression", "suspect", "undecided", "improvement", "no-change", "insufficient-data"];

/// Verdict counts by scope (`series`, `cases`), then by verdict.
type Counts = BTreeMap<String, BTreeMap<String, usize>>;

/// Verdict counts of perf-check's output: records with `scope: case` are cases, the others
/// series.
fn counts_of_verdicts(out: &str) -> Counts {
    let mut counts = Counts::new();
    for line in out.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            let scope = if v["scope"] == "case" { "cases" } else { "series" };
            let verdict = v["verdict"].as_str().unwrap_or("?").to_string();
            *counts.entry(scope.into()).or_default().entry(verdict).or_default() += 1;
        }
    }
    counts
}

/// The baseline's one JSON line: `{"series": {verdict: n}, "cases": {verdict: n}}`.
fn counts_of_baseline(out: &str) -> anyhow::Result<Counts> {
    serde_json::from_str(out.trim()).with_context(|| format!("python baseline output: {out}"))
}

/// One measured run of a side.
struct Measure {
    wall_s: f64,
    /// User + system CPU time of the child (GNU time): robust when the machine is shared.
    cpu_s: f64,
}

/// Runs `cmd` under GNU time with stdout to `out`. perf-check exits 1 when a case regressed:
/// 0 and 1 are both a completed judgement.
fn measure_once(cmd: &[String], out: &Path, dir: &Path) -> anyhow::Result<Measure> {
    let (wall_s, status, fields) = super::gnu_time(cmd, "%U %S", out, &dir.join("time.txt"), true)?;
    anyhow::ensure!(matches!(status.code(), Some(0 | 1)), "{} failed: {status}", cmd.join(" "));
    let [user, sys] = fields[..] else { anyhow::bail!("GNU time output: {fields:?}") };
    Ok(Measure { wall_s, cpu_s: user + sys })
}

/// Median wall and median CPU time.
fn medians(all: &[Measure]) -> (f64, f64) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(all.iter().map(|m| m.wall_s).collect()), median(all.iter().map(|m| m.cpu_s).collect()))
}

fn fmt(v: &[Measure]) -> String {
    v.iter().map(|m| format!("{:.2}", m.wall_s)).collect::<Vec<_>>().join(" ")
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), as `uptime` prints them.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
