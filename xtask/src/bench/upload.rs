//! `cargo xtask bench upload`: 100,000 metric rows (1000 records × 100 metrics) uploaded by
//! the release `upload` into a fresh SQLite file and into the private MariaDB of
//! `cargo xtask db up`, side by side with Python's `sqlite3.executemany` of the same rows and
//! against the targets (SQLite < 1 s, MariaDB < 5 s).

use crate::db::Instance;
use crate::util::{project_root, which, Section};
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
        {
            let _s = Section::new("cargo build --release -p upload");
            cmd!(sh, "cargo build --release -q -p upload").run()?;
        }
        let root = project_root();
        let bin = root.join("target/release/upload");
        let dir = root.join("target/bench-upload");
        sh.remove_path(&dir)?;
        sh.create_dir(&dir)?;
        let input = dir.join("metrics.jsonl");
        sh.write_file(&input, records(self.records, self.metrics))?;
        let rows = self.records * self.metrics;

        let db = dir.join("perf.db");
        let store = format!("sqlite:{}", db.display());
        let sqlite = timed(|| {
            cmd!(sh, "{bin} {store} --no-gather --input {input}").quiet().ignore_stderr().read()
        })?;
        check_rows(&sqlite.1, rows)?;

        let python = if which("python3") {
            let py_db = dir.join("python.db");
            let (secs, out) =
                timed(|| cmd!(sh, "python3 -c {PYTHON_BASELINE} {input} {py_db}").quiet().read())?;
            anyhow::ensure!(out.trim() == rows.to_string(), "python baseline wrote {out} rows");
            Some(secs)
        } else {
            None
        };

        let instance = Instance::new();
        instance.up(sh)?;
        let url = instance.url().ok_or_else(|| anyhow::anyhow!("db up wrote no URL"))?;
        let url = format!("{}/perfline_bench", url.rsplit_once('/').map_or(url.as_str(), |u| u.0));
        let socket = instance.socket();
        cmd!(sh, "mariadb --no-defaults --socket={socket} -uroot -e 'DROP DATABASE IF EXISTS perfline_bench'")
            .quiet()
            .run()?;
        let password_file = instance.password_file();
        let mariadb = timed(|| {
            cmd!(sh, "{bin} {url} --password-file {password_file} --no-gather --input {input}")
                .quiet()
                .ignore_stderr()
                .read()
        })?;
        check_rows(&mariadb.1, rows)?;

        let mut table = String::new();
        writeln!(table, "{:<38} {:>10} {:>12} {:>7}", "figure", "perfline", "baseline", "ratio")?;
        let mut line = |figure: &str, ours: f64, base: f64, what: &str| {
            writeln!(
                table,
                "{figure:<38} {:>9.3}s {:>11} {:>7.2}",
                ours,
                format!("{base:.3}s {what}"),
                ours / base
            )
        };
        line(&format!("SQLite, {rows} rows"), sqlite.0, 1.0, "target")?;
        if let Some(py) = python {
            line(&format!("SQLite, {rows} rows vs python"), sqlite.0, py, "py")?;
        }
        line(&format!("MariaDB, {rows} rows"), mariadb.0, 5.0, "target")?;
        print!("{table}");
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

fn timed<T>(f: impl FnOnce() -> Result<T, xshell::Error>) -> anyhow::Result<(f64, T)> {
    let start = Instant::now();
    let out = f()?;
    Ok((start.elapsed().as_secs_f64(), out))
}

fn check_rows(output: &str, rows: usize) -> anyhow::Result<()> {
    let record: serde_json::Value = serde_json::from_str(output.trim())?;
    anyhow::ensure!(
        record["status"] == "uploaded" && record["rows"] == rows,
        "upload did not store {rows} rows: {output}"
    );
    Ok(())
}
