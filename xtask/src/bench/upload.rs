//! `cargo xtask bench upload`: 100,000 metric rows (1000 records × 100 metrics) uploaded by
//! the release `upload` into a fresh SQLite file and into the private MariaDB of
//! `cargo xtask db up`, side by side with Python's `sqlite3.executemany` of the same rows and
//! against the targets (SQLite < 1 s, MariaDB < 5 s). Each side: one untimed warm-up upload,
//! then `--runs` timed uploads (median), each into a fresh store; ratios are baseline time /
//! perfline time. Targets are printed as targets, never as a baseline.

use crate::db::Instance;
use crate::util::which;
use std::fmt::Write as _;
use std::time::Instant;
use xshell::{cmd, Shell};

#[derive(clap::Args)]
pub struct Upload {
    /// Metric records (cases) to upload.
    #[arg(long, default_value_t = 1000)]
    records: usize,
    /// Metrics per record.
    #[arg(long, default_value_t = 100)]
    metrics: usize,
    /// Timed uploads per side, at least 5 (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Python's stdlib uploading the same rows into the same three tables, one transaction.
const PYTHON_BASELINE: &str = r#"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
db.executescript("""
CREATE TABLE runs (id INTEGER PRIMARY KEY, run_key TEXT UNIQUE);
CREATE TABLE cases (id INTEGER PRIMARY KEY, network TEXT, batch_size INT, command TEXT,
  UNIQUE (network, batch_size, command));
CREATE TABLE perf_result (id INTEGER PRIMARY KEY, run_id INT, case_id INT, metric TEXT,
  value REAL, unit TEXT, UNIQUE (run_id, case_id, metric));""")
with db:
    run = db.execute("INSERT INTO runs (run_key) VALUES ('bench')").lastrowid
    rows = []
    for line in open(sys.argv[1]):
        r = json.loads(line)
        case = db.execute("INSERT INTO cases (network, batch_size, command) VALUES (?, ?, ?)",
                          (r["test_id"], r["concurrency"], r["server"] + "-" + r["client"])).lastrowid
        rows += [(run, case, m, v, r["units"].get(m)) for m, v in r["metrics"].items()]
    db.executemany("INSERT INTO perf_result (run_id, case_id, metric, value, unit) VALUES (?, ?, ?, ?, ?)", rows)
print(len(rows))
"#;

impl Upload {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let (bin, dir) = super::release_bin_and_dir(sh, "upload", "upload")?;
        let input = dir.join("metrics.jsonl");
        sh.write_file(&input, records(self.records, self.metrics))?;
        let rows = self.records * self.metrics;

        anyhow::ensure!(self.runs >= 5, "--runs must be at least 5");
        let runs = self.runs;
        let db = dir.join("perf.db");
        let store = format!("sqlite:{}", db.display());
        let fresh_file = |path: &std::path::Path| {
            let _ = std::fs::remove_file(path);
            Ok(())
        };
        let sqlite = median(
            runs,
            || fresh_file(&db),
            || {
                let out = cmd!(sh, "{bin} {store} --no-gather --input {input}")
                    .quiet()
                    .ignore_stderr()
                    .read()?;
                check_rows(&out, rows)
            },
        )?;

        let python = if which("python3") {
            let py_db = dir.join("python.db");
            Some(median(
                runs,
                || fresh_file(&py_db),
                || {
                    let out =
                        cmd!(sh, "python3 -c {PYTHON_BASELINE} {input} {py_db}").quiet().read()?;
                    anyhow::ensure!(
                        out.trim() == rows.to_string(),
                        "python baseline wrote {out} rows"
                    );
                    Ok(())
                },
            )?)
        } else {
            None
        };

        let instance = Instance::new();
        instance.up(sh)?;
        let url = instance.url().ok_or_else(|| anyhow::anyhow!("db up wrote no URL"))?;
        let url = format!("{}/perfline_bench", url.rsplit_once('/').map_or(url.as_str(), |u| u.0));
        let socket = instance.socket();
        let password_file = instance.password_file();
        let drop_db = || {
            cmd!(sh, "mariadb --no-defaults --socket={socket} -uroot -e 'DROP DATABASE IF EXISTS perfline_bench'")
                .quiet()
                .run()?;
            Ok(())
        };
        let mariadb = median(runs, drop_db, || {
            let out =
                cmd!(sh, "{bin} {url} --password-file {password_file} --no-gather --input {input}")
                    .quiet()
                    .ignore_stderr()
                    .read()?;
            check_rows(&out, rows)
        })?;

        println!("bench upload: {rows} rows, 1 warm-up + median of {runs} uploads per side, each into a fresh store");
        println!("{:<30} {:>10} {:>24} {:>10}", "figure", "perfline", "baseline", "ratio");
        match python {
            Some(py) => println!(
                "{:<30} {:>9.3}s {:>23} {:>9.2}x",
                "SQLite",
                sqlite,
                format!("{py:.3}s python sqlite3"),
                py / sqlite
            ),
            None => println!("{:<30} {:>9.3}s {:>24} {:>10}", "SQLite", sqlite, "(no python3)", ""),
        }
        println!("{:<30} {:>9.3}s {:>24} {:>10}", "MariaDB", mariadb, "(none)", "");
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        println!(
            "targets: SQLite < 1 s: {}; MariaDB < 5 s: {}",
            verdict(sqlite < 1.0),
            verdict(mariadb < 5.0)
        );
        Ok(())
    }
}

/// `records` metric records of `metrics` metrics each, as parse-metrics writes them.
fn records(records: usize, metrics: usize) -> String {
    let mut out = String::new();
    for i in 0..records {
        let values: Vec<String> =
            (0..metrics).map(|m| format!("\"metric_{m}\":{}.{m}", i + m)).collect();
        let units: Vec<String> = (0..metrics).map(|m| format!("\"metric_{m}\":\"ms\"")).collect();
        let _ = writeln!(
            out,
            "{{\"test_id\":\"bench-case-{i}\",\"server\":\"srv\",\"client\":\"con{i}\",\
             \"concurrency\":{i},\"status\":\"ok\",\"metrics\":{{{}}},\"units\":{{{}}}}}",
            values.join(","),
            units.join(",")
        );
    }
    out
}

/// One warm-up run, then the median seconds of `runs` timed runs; `fresh` (untimed) empties
/// the store before each run.
fn median(
    runs: usize,
    fresh: impl Fn() -> anyhow::Result<()>,
    f: impl Fn() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    fresh()?;
    f()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        fresh()?;
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[runs / 2])
}

fn check_rows(output: &str, rows: usize) -> anyhow::Result<()> {
    let record: serde_json::Value = serde_json::from_str(output.trim())?;
    anyhow::ensure!(
        record["status"] == "uploaded" && record["rows"] == rows,
        "upload did not store {rows} rows: {output}"
    );
    Ok(())
}
