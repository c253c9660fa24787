//! Fixtures shared by the CLI and browser tests: a small history of metric records with a
//! regression, an improvement, a suspect value and a failed case, plus perf-check verdicts.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

pub const RUNS: usize = 8;

/// Creates an empty store (the current schema's tables, made by its own DDL; no runs) at
/// `path`.
pub fn empty_store(path: &Path) {
    store_at(path, perfline_store::schema::SCHEMA_VERSION);
}

/// Creates an empty store of schema `version` at `path`.
pub fn store_at(path: &Path, version: i64) {
    let db = rusqlite::Connection::open(path).unwrap();
    perfline_store::schema::create_at(&mut perfline_store::schema::Sqlite(&db), version).unwrap();
}

pub const HOSTILE_SCRIPT: &str = "<script>document.title='pwned'</script>";

/// A test id that tries to break out of HTML, attributes and SVG, and a 5000-character one.
pub fn hostile_ids() -> (String, String) {
    (format!("aggr-x{HOSTILE_SCRIPT}\"'&<b>q"), format!("disagg-{}", "y".repeat(5000)))
}

fn metrics(tput: f64, ttft: f64, tpot: f64) -> String {
    format!(
        "\"metrics\":{{\"seq_throughput\":{:.3},\"token_throughput\":{tput:.2},\"mean_ttft\":{ttft:.2},\"p99_ttft\":{:.2},\"mean_tpot\":{tpot:.3},\"p99_tpot\":{:.3},\"mean_e2el\":{:.1}}},\
         \"units\":{{\"seq_throughput\":\"req/s\",\"token_throughput\":\"tok/s\",\"mean_ttft\":\"ms\",\"p99_ttft\":\"ms\",\"mean_tpot\":\"ms\",\"p99_tpot\":\"ms\",\"mean_e2el\":\"ms\"}}",
        tput / 64.0,
        ttft * 1.8,
        tpot * 1.3,
        ttft + 64.0 * tpot
    )
}

/// Metric records of `RUNS` runs (`r1`…`r8` started 2026-11-2N 0N:30 on commit abc00N; the
/// last is current and a confirmation re-run), in one JSON Lines text:
/// test `aggr-sweep` (3 concurrencies, 8 GPUs; con4's token throughput drops 12 % from r7),
/// the hostile test (TTFT improves from r7; fails in r3), the long-id test (its current run
/// fails, with a hostile reason and log tail).
pub fn history() -> String {
    let (hostile, long) = hostile_ids();
    let mut out = String::new();
    for run in 1..=RUNS {
        let wiggle = [0.0, 1.5, -1.0, 0.5, -0.5, 1.0, 0.2, -0.3][run - 1];
        // r8 is the first confirmation re-run of r7.
        let confirmation = if run == RUNS { ",\"confirmation\":1" } else { "" };
        let ctx = format!(
            "\"context\":{{\"run_key\":\"r{run}\",\"gpu\":\"NVIDIA H100 80GB HBM3\",\"driver\":\"575.57.08\",\"cuda\":\"12.9\",\"trtllm\":\"1.1.0rc{run}\",\"commit\":\"abc{run:03}\",\"start_time\":\"2026-11-2{run}T0{run}:30:00Z\",\"total_gpus\":8{confirmation}}}"
        );
        for (c, base) in [(1u64, 420.0), (4, 1400.0), (16, 3900.0)] {
            let drop = if c == 4 && run >= 7 { 0.88 } else { 1.0 };
            let spike = if c == 16 && run == RUNS { 1.08 } else { 1.0 };
            let tput = (base + wiggle * 4.0) * drop;
            // con16's TPOT moves +3.7 % in r8 (undecided).
            let tpot = 1000.0 * c as f64 / base * if c == 16 && run == RUNS { 1.037 } else { 1.0 };
            let _ = writeln!(
                out,
                "{{\"test_id\":\"aggr-sweep\",\"server\":\"srv\",\"client\":\"con{c}\",\"concurrency\":{c},\"status\":\"ok\",{},{ctx}}}",
                metrics(tput, (20.0 + c as f64 + wiggle * 0.1) * spike, tpot)
            );
        }
        if run == 3 {
            let _ = writeln!(
                out,
                "{{\"test_id\":{},\"client\":\"con2\",\"concurrency\":2,\"status\":\"failed\",\"reasons\":[\"server died\"],\"metrics\":{{}},\"log_tail\":[\"Traceback\"],{ctx}}}",
                json(&hostile)
            );
        } else {
            let ttft = if run >= 7 { 30.0 } else { 45.0 } + wiggle;
            let _ = writeln!(
                out,
                "{{\"test_id\":{},\"client\":\"con2\",\"concurrency\":2,\"status\":\"ok\",{},{ctx}}}",
                json(&hostile),
                metrics(700.0 + wiggle, ttft, 6.0)
            );
        }
        if run == RUNS {
            let _ = writeln!(
                out,
                "{{\"test_id\":{},\"client\":\"con1\",\"concurrency\":1,\"status\":\"failed\",\"reasons\":[{},\"2 failed requests\"],\"metrics\":{{}},\"log_tail\":[\"INFO ready\",{},\"</pre><script>document.title='pwned3'</script>\"],{ctx}}}",
                json(&long),
                json("<img src=x onerror=\"document.title='pwned2'\">"),
                json("RuntimeError: CUDA out of memory")
            );
        } else {
            let _ = writeln!(
                out,
                "{{\"test_id\":{},\"client\":\"con1\",\"concurrency\":1,\"status\":\"ok\",{},{ctx}}}",
                json(&long),
                metrics(300.0 + wiggle, 15.0 + wiggle, 3.3)
            );
        }
    }
    out
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// perf-check verdicts for the current run `r8` (metric verdicts only): two regressions, an
/// improvement, a suspect, an undecided (2 more runs) and a no-change.
pub fn verdicts() -> String {
    let (hostile, _) = hostile_ids();
    let mut out = String::new();
    let line = |out: &mut String,
                test: &str,
                server: Option<&str>,
                client: &str,
                metric: &str,
                verdict: &str,
                cur: f64,
                base: f64,
                change: Option<&str>,
                better: &str| {
        let _ = writeln!(
            out,
            "{{\"test_id\":{},\"server\":{},\"client\":\"{client}\",\"metric\":\"{metric}\",\"verdict\":\"{verdict}\",\"current\":{cur},\"baseline\":{base},\"delta_pct\":{:.3},\"p_value\":0.001,\"change_run\":{},\"method\":\"change-point\",\"window\":7,\"better\":\"{better}\",\"run_key\":\"r8\"}}",
            json(test),
            server.map_or("null".to_string(), json),
            (cur - base) / base * 100.0,
            change.map_or("null".to_string(), json),
        );
    };
    line(
        &mut out,
        "aggr-sweep",
        Some("srv"),
        "con4",
        "token_throughput",
        "regression",
        1231.7,
        1400.0,
        Some("r7"),
        "higher",
    );
    line(
        &mut out,
        "aggr-sweep",
        Some("srv"),
        "con4",
        "seq_throughput",
        "regression",
        19.0,
        21.88,
        Some("r7"),
        "higher",
    );
    line(
        &mut out,
        &hostile,
        None,
        "con2",
        "mean_ttft",
        "improvement",
        29.7,
        45.2,
        Some("r7"),
        "lower",
    );
    line(
        &mut out,
        "aggr-sweep",
        Some("srv"),
        "con16",
        "p99_ttft",
        "suspect",
        69.93,
        64.8,
        None,
        "lower",
    );
    let _ = writeln!(
        out,
        "{{\"test_id\":\"aggr-sweep\",\"server\":\"srv\",\"client\":\"con16\",\"metric\":\"mean_tpot\",\"verdict\":\"undecided\",\"current\":4.25,\"baseline\":4.1,\"delta_pct\":3.659,\"p_value\":0.04,\"change_run\":null,\"method\":\"change-point\",\"window\":7,\"better\":\"lower\",\"run_key\":\"r8\",\"runs_needed\":2,\"min_detectable_pct\":5.1,\"reason\":\"mean_tpot +3.7 % is inside the noise (±5.1 % resolvable): about 2 more runs decide it\"}}"
    );
    line(
        &mut out,
        "aggr-sweep",
        Some("srv"),
        "con1",
        "token_throughput",
        "no-change",
        419.0,
        420.5,
        None,
        "higher",
    );
    out
}

/// [`verdicts`] plus perf-check's case verdicts: aggr-sweep con4 a regression backed by both
/// throughputs, con16 undecided (2 more runs), the hostile test's con2 an improvement.
pub fn verdicts_with_cases() -> String {
    let (hostile, _) = hostile_ids();
    let case = |test: &str,
                server: Option<&str>,
                client: &str,
                verdict: &str,
                (delta, better): (f64, &str),
                extra: &str| {
        format!(
            "{{\"test_id\":{},\"server\":{},\"client\":\"{client}\",\"metric\":\"*\",\"verdict\":\"{verdict}\",\"current\":null,\"baseline\":null,\"delta_pct\":{delta},\"p_value\":0.001,\"change_run\":null,\"method\":\"change-point\",\"window\":7,\"better\":\"{better}\",\"run_key\":\"r8\",\"scope\":\"case\"{extra}}}\n",
            json(test),
            server.map_or("null".to_string(), json),
        )
    };
    let mut out = verdicts();
    out += &case("aggr-sweep", Some("srv"), "con4", "regression", (-12.02, "higher"), ",\"supporting\":[\"token_throughput\",\"seq_throughput\"],\"reason\":\"throughput down 12 % on 2 metrics\"");
    out += &case("aggr-sweep", Some("srv"), "con16", "undecided", (3.66, "lower"), ",\"runs_needed\":2,\"supporting\":[\"mean_tpot\"],\"reason\":\"inside the noise: about 2 more runs decide it\"");
    out += &case("aggr-sweep", Some("srv"), "con1", "no-change", (-0.36, "higher"), "");
    out += &case(
        &hostile,
        None,
        "con2",
        "improvement",
        (-34.3, "lower"),
        ",\"supporting\":[\"mean_ttft\"]",
    );
    out
}

/// Writes the fixture files into `dir`; returns (metrics path, verdicts path).
pub fn write_fixture(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let m = dir.join("history.jsonl");
    let v = dir.join("verdicts.jsonl");
    std::fs::write(&m, history()).unwrap();
    std::fs::write(&v, verdicts()).unwrap();
    (m, v)
}

/// Writes the fixture with case verdicts into `dir`; returns (metrics path, verdicts path).
pub fn write_case_fixture(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (m, v) = write_fixture(dir);
    std::fs::write(&v, verdicts_with_cases()).unwrap();
    (m, v)
}
