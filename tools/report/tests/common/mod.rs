//! Fixtures shared by the CLI and browser tests: a small history of metric records with a
//! regression, an improvement, a suspect value and a failed case, plus perf-check verdicts.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

pub const RUNS: usize = 8;
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

/// Metric records of `RUNS` runs (`r1`…`r8`, the last is current), in one JSON Lines text:
/// test `aggr-sweep` (3 concurrencies, 8 GPUs; con4's token throughput drops 12 % from r7),
/// the hostile test (TTFT improves from r7; fails in r3), the long-id test (its current run
/// fails, with a hostile reason and log tail).
pub fn history() -> String {
    let (hostile, long) = hostile_ids();
    let mut out = String::new();
    for run in 1..=RUNS {
        let wiggle = [0.0, 1.5, -1.0, 0.5, -0.5, 1.0, 0.2, -0.3][run - 1];
        let ctx = format!(
            "\"context\":{{\"run_key\":\"r{run}\",\"gpu\":\"NVIDIA H100 80GB HBM3\",\"driver\":\"575.57.08\",\"cuda\":\"12.9\",\"trtllm\":\"1.1.0rc{run}\",\"commit\":\"abc{run:03}\",\"total_gpus\":8}}"
        );
        for (c, base) in [(1u64, 420.0), (4, 1400.0), (16, 3900.0)] {
            let drop = if c == 4 && run >= 7 { 0.88 } else { 1.0 };
            let spike = if c == 16 && run == RUNS { 1.08 } else { 1.0 };
            let tput = (base + wiggle * 4.0) * drop;
            let tpot = 1000.0 * c as f64 / base;
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

/// perf-check verdicts for the current run `r8`.
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

/// Writes the fixture files into `dir`; returns (metrics path, verdicts path).
pub fn write_fixture(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let m = dir.join("history.jsonl");
    let v = dir.join("verdicts.jsonl");
    std::fs::write(&m, history()).unwrap();
    std::fs::write(&v, verdicts()).unwrap();
    (m, v)
}
