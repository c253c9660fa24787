//! Helpers shared by upload's integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// A metric record as parse-metrics writes it; `network` goes to the case's network column.
pub fn record(test_id: &str, concurrency: u64, metrics: &[(&str, f64)]) -> String {
    let metrics: serde_json::Map<String, serde_json::Value> =
        metrics.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
    serde_json::json!({
        "test_id": test_id, "server": "srv", "client": format!("con{concurrency}"),
        "concurrency": concurrency, "status": "ok", "metrics": metrics,
        "units": {"mean_ttft": "ms"},
    })
    .to_string()
}

/// A failed record as parse-metrics writes it: reasons, log tail, no metrics.
pub fn failed_record(test_id: &str, concurrency: u64) -> String {
    serde_json::json!({
        "test_id": test_id, "server": "srv", "client": format!("con{concurrency}"),
        "concurrency": concurrency, "status": "failed",
        "reasons": ["server exited with code 1", "no result block in 'client.log'"],
        "metrics": {}, "source": "trtllm-benchmark.0.0.log",
        "log_tail": ["Traceback (most recent call last):", "RuntimeError: CUDA out of memory"],
    })
    .to_string()
}

/// Ok and failed records mixed: an ok record, a failed one that still carries numbers (they
/// must not be stored), and an ok record without server and client.
pub fn mixed_input() -> String {
    let mut failed: serde_json::Value =
        serde_json::from_str(&failed_record("aggr-failed", 8)).unwrap();
    failed["metrics"] = serde_json::json!({"mean_ttft": 99.0});
    let solo = serde_json::json!({
        "test_id": "aggr-solo", "concurrency": 1, "status": "ok",
        "metrics": {"mean_ttft": 5.5}, "units": {"mean_ttft": "ms"},
    });
    format!(
        "{}\n{failed}\n{solo}\n",
        record("aggr-ok", 4, &[("mean_ttft", 12.5), ("seq_throughput", 3.25)])
    )
}

/// Every table's rows after uploading [`mixed_input`] with `--run-key mix --job-id 5` into an
/// empty store: (query, rows as `|`-joined text, NULL as `NULL`). The queries run on SQLite
/// and MariaDB alike.
pub fn mixed_expected() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        // A new store starts at the current version (the rows of the migrations it ran).
        ("SELECT version FROM schema_version ORDER BY version", vec!["2", "3", "4"]),
        (
            "SELECT id, run_key, job_id, `commit`, start_time, link FROM runs ORDER BY id",
            vec!["1|mix|5|NULL|NULL|NULL"],
        ),
        (
            "SELECT id, network, batch_size, `precision`, framework, command FROM cases \
             ORDER BY id",
            vec![
                "1|aggr-ok|4||trtllm-serve|srv-con4",
                "2|aggr-failed|8||trtllm-serve|srv-con8",
                "3|aggr-solo|1||trtllm-serve|aggr-solo",
            ],
        ),
        (
            "SELECT case_id, test_id, server, client FROM series ORDER BY case_id",
            vec!["1|aggr-ok|srv|con4", "2|aggr-failed|srv|con8", "3|aggr-solo||"],
        ),
        (
            "SELECT run_id, case_id, status, reasons, log_tail, source FROM run_cases \
             ORDER BY case_id",
            vec![
                "1|1|ok|||NULL",
                "1|2|failed|server exited with code 1; no result block in 'client.log'|\
                 Traceback (most recent call last):\nRuntimeError: CUDA out of memory|\
                 trtllm-benchmark.0.0.log",
                "1|3|ok|||NULL",
            ],
        ),
        (
            "SELECT run_id, case_id, metric, value, unit, status FROM perf_result \
             ORDER BY case_id, metric",
            vec![
                "1|1|mean_ttft|12.5|ms|ok",
                "1|1|seq_throughput|3.25|NULL|ok",
                "1|3|mean_ttft|5.5|ms|ok",
            ],
        ),
    ]
}

/// `records` ok records of `metrics` metrics each: a batch big enough that its transaction
/// stays open while a test watches it.
pub fn big_input(records: u64, metrics: usize) -> String {
    let names: Vec<String> = (0..metrics).map(|m| format!("m{m:05}")).collect();
    let mut out = String::new();
    for r in 0..records {
        let values: Vec<(&str, f64)> =
            names.iter().enumerate().map(|(i, n)| (n.as_str(), i as f64)).collect();
        out.push_str(&record("aggr-big", r + 1, &values));
        out.push('\n');
    }
    out
}

/// Sends `signal` to the child.
pub fn signal(child: &std::process::Child, signal: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of a child this test spawned and has not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// Polls `ready` (every millisecond, for at most a minute) until it holds; panics when the
/// child exits first or the deadline passes.
pub fn wait_until(child: &mut std::process::Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("upload exited ({status}) before {what}");
        }
        assert!(std::time::Instant::now() < deadline, "no {what} within a minute");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The upload binary with fast retries and no host probing.
pub fn upload(dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("upload");
    cmd.current_dir(dir)
        .arg("--no-gather")
        .env_remove("PERFLINE_MYSQL_PASSWORD")
        .env_remove("PERFLINE_UPLOAD_LINK_TEMPLATE")
        .env("PERFLINE_UPLOAD_RETRIES", "3")
        .env("PERFLINE_UPLOAD_RETRY_BASE_MS", "10")
        .env("PERFLINE_UPLOAD_RETRY_DEADLINE_S", "10")
        .env("PERFLINE_UPLOAD_TIMEOUT_S", "5")
        .timeout(Duration::from_secs(60));
    cmd
}

/// One HTTP request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: String,
    pub body: String,
}

/// A local HTTP endpoint that answers each request with the next (status, body) of `script`
/// and reports requests on the returned channel. Returns the base URL `http://127.0.0.1:PORT`.
pub fn http_server(script: Vec<(u16, String)>) -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, body) in script {
            let Ok((stream, _)) = listener.accept() else { return };
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            let mut buf = vec![0; length];
            reader.read_exact(&mut buf).unwrap();
            let _ = tx.send(Request { head, body: String::from_utf8(buf).unwrap() });
            let mut stream = reader.into_inner();
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (base, rx)
}

/// A bulk reply with these per-item statuses.
pub fn bulk_reply(statuses: &[u16]) -> String {
    let items: Vec<_> =
        statuses.iter().map(|s| serde_json::json!({"create": {"status": s}})).collect();
    serde_json::json!({"errors": statuses.iter().any(|s| *s >= 300), "items": items}).to_string()
}

/// The requests received so far, waiting a bounded time for `n` of them.
pub fn received(rx: &mpsc::Receiver<Request>, n: usize) -> Vec<Request> {
    (0..n).map_while(|_| rx.recv_timeout(Duration::from_secs(10)).ok()).collect()
}
