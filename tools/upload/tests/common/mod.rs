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

/// The upload binary with fast retries and no host probing.
pub fn upload(dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("upload").unwrap();
    cmd.current_dir(dir)
        .arg("--no-gather")
        .env_remove("PERFLINE_MYSQL_PASSWORD")
        .env_remove("PERFLINE_UPLOAD_LINK_TEMPLATE")
        .env_remove("PERFLINE_UPLOAD_TEST_PAUSE_AFTER_ROWS")
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
