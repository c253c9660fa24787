//! bench against the in-process fixed-timing server (bench::testserver): exact counts, exit
//! codes and the definitions of the metrics (per-request identities from `--save-detailed`),
//! never a wall-clock duration.

use assert_cmd::Command;
use bench::testserver::{spawn_background, Timing};
use predicates::prelude::*;
use regex::Regex;
use std::time::Duration;

fn server(ttft_ms: u64, itl_ms: u64, fail_every: u64) -> String {
    let timing = Timing {
        ttft: Duration::from_millis(ttft_ms),
        itl: Duration::from_millis(itl_ms),
        fail_every,
        record: false,
    };
    let addr = spawn_background(timing).expect("test server starts");
    format!("http://{addr}")
}

fn bench(url: &str, extra: &[&str]) -> Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("bench");
    cmd.args(["--model", "m", "--base-url", url, "--no-test-input", "--request-timeout", "30"]);
    cmd.args(extra);
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// The value of a §5 regex (reference/incumbent.md) applied line by line, first match wins.
fn metric(out: &str, pattern: &str) -> f64 {
    let re = Regex::new(pattern).unwrap();
    out.lines()
        .find_map(|l| re.captures(l).map(|c| c[1].parse::<f64>().unwrap()))
        .unwrap_or_else(|| panic!("{pattern} not in:\n{out}"))
}

const RANDOM: &[&str] = &[
    "--random-ids",
    "--random-input-len",
    "16",
    "--random-output-len",
    "8",
    "--ignore-eos",
    "--percentile-metrics",
    "ttft,tpot,itl,e2el",
];

#[test]
fn streams_are_counted_exactly_and_timed_from_the_events() {
    let url = server(30, 3, 0);
    let out = bench(&url, RANDOM)
        .args(["--num-prompts", "12", "--max-concurrency", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().next().unwrap().starts_with("Namespace(backend='openai'"));
    assert!(text.contains(", num_prompts=12, "));
    for line in [
        "============ Serving Benchmark Result ============",
        "Total requests:                          12        ",
        "Successful requests:                     12        ",
        "Failed requests:                         0         ",
        "Total input tokens:                      192       ",
        "Total generated tokens:                  96        ",
        "---------------Time to First Token----------------",
        "----------------End-to-end Latency----------------",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    // Every §5 regex finds its line.
    for p in [
        r"Request throughput \(req\/s\):\s+(-?[\d\.]+)",
        r"Output token throughput \(tok\/s\):\s+(-?[\d\.]+)",
        r"Total Token throughput \(tok\/s\):\s+(-?[\d\.]+)",
        r"User throughput \(tok\/s\):\s+(-?[\d\.]+)",
        r"Mean TTFT \(ms\):\s+(-?[\d\.]+)",
        r"Median TTFT \(ms\):\s+(-?[\d\.]+)",
        r"P99 TTFT \(ms\):\s+(-?[\d\.]+)",
        r"Mean ITL \(ms\):\s+(-?[\d\.]+)",
        r"Median ITL \(ms\):\s+(-?[\d\.]+)",
        r"P99 ITL \(ms\):\s+(-?[\d\.]+)",
        r"Mean TPOT \(ms\):\s+(-?[\d\.]+)",
        r"Median TPOT \(ms\):\s+(-?[\d\.]+)",
        r"P99 TPOT \(ms\):\s+(-?[\d\.]+)",
        r"Mean E2EL \(ms\):\s+(-?[\d\.]+)",
        r"Median E2EL \(ms\):\s+(-?[\d\.]+)",
        r"P99 E2EL \(ms\):\s+(-?[\d\.]+)",
    ] {
        metric(&text, p);
    }
    assert!(text.contains("--------Dispatch Delay (sent - intended)---------"));
    // The client's lateness is in the block (parse-metrics keeps it as p99_dispatch_delay).
    metric(&text, r"^P99 dispatch delay \(ms\):\s+(-?[\d\.]+)");
    // The server saw exactly the 12 streams and reports its own first-token lateness.
    let stats = get(&url, "/stats");
    assert!(stats.contains("\"first_tokens\":12,"), "{stats}");
}

#[test]
fn each_request_is_timed_by_the_definitions() {
    let url = server(5, 1, 0);
    let dir = tempfile::tempdir().unwrap();
    bench(&url, RANDOM)
        .args(["--num-prompts", "6", "--max-concurrency", "2", "--save-result", "--save-detailed"])
        .args(["--result-dir", dir.path().to_str().unwrap(), "--result-filename", "r.json"])
        .assert()
        .code(0);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    let f = |k: &str| -> Vec<f64> {
        v[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
    };
    let (ttft, e2el, sent, intended) = (f("ttfts"), f("e2els"), f("sent_ms"), f("intended_ms"));
    for (i, itls) in v["itls"].as_array().unwrap().iter().enumerate() {
        let itls: Vec<f64> = itls.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        // 8 token events: 7 gaps; E2EL = TTFT + the gaps (benchmark_serving's definitions).
        assert_eq!(itls.len(), 7, "request {i}");
        assert!((e2el[i] - ttft[i] - itls.iter().sum::<f64>()).abs() < 1e-9, "request {i}");
        // Sent no earlier than due (a slot freed or its arrival): the delay is never negative.
        assert!(sent[i] >= intended[i], "request {i}: {} < {}", sent[i], intended[i]);
    }
    assert_eq!(v["output_lens"], serde_json::json!([8, 8, 8, 8, 8, 8]));
}

/// A plain HTTP/1.1 GET; the whole answer, headers included.
fn get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn failed_requests_are_counted_shown_and_gate_the_exit_code() {
    let url = server(0, 0, 4); // every 4th request answers 500
    let args = ["--num-prompts", "20", "--max-concurrency", "1"];
    bench(&url, RANDOM)
        .args(args)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Failed requests:                         5         \n"))
        .stdout(predicate::str::contains("Successful requests:                     15        \n"))
        .stdout(predicate::str::contains(
            "=======================!FAILED REQUESTS!=======================\nTotal failed requests: 5\n",
        ))
        .stdout(predicate::str::contains("       5 x HTTP 500: "))
        .stderr(predicate::str::contains(
            "bench: error: 5 of 20 requests failed, error rate 0.2500 > --max-error-rate 0",
        ));
    let url = server(0, 0, 4);
    bench(&url, RANDOM).args(args).args(["--max-error-rate", "0.25"]).assert().code(0);
}

#[test]
fn unreachable_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    // All requests fail: counted, exit 1.
    bench(&url, RANDOM)
        .args(["--num-prompts", "3"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Failed requests:                         3"));
    // The test request fails first: the server is unavailable (69).
    assert_cmd::cargo_bin_cmd!("bench")
        .args(["--model", "m", "--base-url", &url, "--num-prompts", "3"])
        .assert()
        .code(69)
        .stderr(predicate::str::starts_with("bench: error: test request to 127.0.0.1:"));
}

#[test]
fn chat_non_streaming_and_dataset_file() {
    let url = server(20, 1, 0);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("prompts.jsonl");
    std::fs::write(&data, "{\"prompt\":\"one two three\",\"output_tokens\":4}\n\"a b\"\n").unwrap();
    let out = bench(&url, &["--backend", "openai-chat", "--non-streaming"])
        .args(["--dataset-name", "trtllm_custom", "--dataset-path", data.to_str().unwrap()])
        .args([
            "--random-output-len",
            "6",
            "--num-prompts",
            "4",
            "--percentile-metrics",
            "ttft,e2el",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Total input tokens:                      10        \n"), "{text}");
    assert!(text.contains("Total generated tokens:                  20        \n"), "{text}");
    let ttft = metric(&text, r"Mean TTFT \(ms\):\s+(-?[\d\.]+)");
    let e2el = metric(&text, r"Mean E2EL \(ms\):\s+(-?[\d\.]+)");
    assert_eq!(ttft, e2el, "non-streaming: TTFT is the whole response");
    assert!(!text.contains("Inter-token Latency"));
}

#[test]
fn include_queueing_counts_the_wait_for_a_slot() {
    let url = server(5, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| {
        bench(&url, RANDOM)
            .args(["--num-prompts", "4", "--max-concurrency", "1", "--save-result"])
            .args(["--save-detailed", "--result-dir", dir.path().to_str().unwrap()])
            .args(["--result-filename", name])
            .args(extra)
            .assert()
            .code(0);
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap();
        let f = |k: &str| -> Vec<f64> {
            v[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
        };
        (f("scheduled_ms"), f("intended_ms"), f("sent_ms"), f("ttfts"))
    };
    // One slot, four requests due at once: request k is due when request k − 1 ended, so its
    // wait is queueing (intended − scheduled), not the client's lateness (sent − intended).
    let (scheduled, intended, sent, _) = run("plain.json", &[]);
    assert_eq!(scheduled, [0.0; 4]);
    for k in 1..4 {
        assert!(intended[k] >= sent[k - 1], "request {k} due after request {} was sent", k - 1);
    }
    // --include-queueing: TTFT counts from the scheduled time, so it holds the whole wait.
    let (scheduled, _, sent, ttft) = run("queued.json", &["--include-queueing"]);
    for k in 0..4 {
        let waited = (sent[k] - scheduled[k]) / 1000.0;
        assert!(ttft[k] >= waited, "request {k}: TTFT {} < its wait {waited}", ttft[k]);
    }
}

#[test]
fn save_result_writes_benchmark_serving_keys() {
    let url = server(0, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    bench(&url, RANDOM)
        .args(["--num-prompts", "3", "--max-concurrency", "2", "--request-rate", "50"])
        .args(["--save-result", "--save-detailed", "--result-dir", dir.path().to_str().unwrap()])
        .args(["--result-filename", "r.json", "--metadata", "run=7", "--goodput", "ttft:1000"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Request goodput (req/s):"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    for key in [
        "date",
        "backend",
        "model_id",
        "tokenizer_id",
        "num_prompts",
        "run",
        "duration",
        "completed",
        "total_input_tokens",
        "total_output_tokens",
        "request_throughput",
        "request_goodput:",
        "output_throughput",
        "total_token_throughput",
        "user_throughput",
        "mean_ttft_ms",
        "median_tpot_ms",
        "p99_itl_ms",
        "std_e2el_ms",
        "request_rate",
        "burstiness",
        "max_concurrency",
        "ttfts",
        "scheduled_ms",
        "sent_ms",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["completed"], 3);
    assert_eq!(v["total_output_tokens"], 24);
    assert_eq!(v["request_rate"], 50.0);
    assert_eq!(v["run"], "7");
    assert_eq!(v["request_goodput:"].as_f64().map(|g| g > 0.0), Some(true));
    // Each first-token read time joins the server's write time of that stream by its id, on the
    // same monotonic clock. No order is asserted: the server stamps after write() returns, and
    // the client may read before that (a timing race, not a property).
    let answer = get(&url, "/first_tokens");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let server: serde_json::Value = serde_json::from_str(body).unwrap();
    let written = server["first_tokens"].as_array().unwrap();
    assert_eq!(written.len(), 3, "{server}");
    let ids = v["response_ids"].as_array().unwrap();
    let reads = v["first_token_mono_ns"].as_array().unwrap();
    assert_eq!((ids.len(), reads.len()), (3, 3));
    for (id, read) in ids.iter().zip(reads) {
        let w = written.iter().find(|w| w["id"] == *id).unwrap_or_else(|| panic!("{id} {server}"));
        let (read, wrote) = (read.as_u64().unwrap(), w["mono_ns"].as_u64().unwrap());
        assert!(wrote > 0 && read > 0 && read.abs_diff(wrote) < 5_000_000_000, "{read} {wrote}");
        assert!(w["real_ns"].as_u64().unwrap() > 1_600_000_000_000_000_000);
    }
}

#[test]
fn bad_command_lines_are_usage_errors() {
    for bad in [
        &["--request-rate", "fast"][..],
        &["--backend", "openai-chat", "--random-ids"],
        &["--percentile-metrics", "ttft,latency"],
        &["--base-url", "https://x"],
    ] {
        assert_cmd::cargo_bin_cmd!("bench")
            .args(["--model", "m"])
            .args(bad)
            .assert()
            .code(64)
            .stderr(predicate::str::starts_with("bench: error: "));
    }
}

#[test]
fn warmup_requests_are_sent_but_not_reported() {
    let url = server(0, 0, 0);
    bench(&url, RANDOM)
        .args(["--num-prompts", "3", "--warmup", "2", "--max-concurrency", "2"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Total requests:                          3         \n"));
    assert!(get(&url, "/stats").contains("\"first_tokens\":5,"));
}

#[test]
fn long_runs_print_progress_on_stderr() {
    let url = server(600, 0, 0);
    bench(&url, RANDOM)
        .args(["--num-prompts", "1", "--progress-interval", "0.1"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("bench: progress: 0/1 done, 0 failed, "));
}

/// A server that answers every request with `response` (raw HTTP, `Connection: close`).
fn raw_server(response: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // The request head, then its body (Content-Length).
            let (head_end, length) = loop {
                let Ok(n) = conn.read(&mut buf) else { break (0, 0) };
                if n == 0 {
                    break (0, 0);
                }
                got.extend_from_slice(&buf[..n]);
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (end + 4, length);
                }
            };
            while head_end > 0 && got.len() < head_end + length {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[test]
fn an_html_answer_is_a_failed_request_saying_what_came() {
    let url = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\n<html>login</html>\r\n",
    );
    for mode in [&[][..], &["--non-streaming"]] {
        let what = if mode.is_empty() { "an event stream" } else { "JSON" };
        bench(&url, RANDOM)
            .args(["--num-prompts", "2"])
            .args(mode)
            .assert()
            .code(1)
            .stdout(predicate::str::contains("Successful requests:                     0 "))
            .stdout(predicate::str::contains(format!("2 x server answered text/html, not {what}")));
    }
}

#[test]
fn wrong_json_types_make_requests_failed_not_successful() {
    let streams = [
        "data: {\"choices\":5}\n\ndata: [DONE]\n\n",
        "data: {\"choices\":[{\"text\":42}]}\n\ndata: [DONE]\n\n",
    ];
    let whys = [
        "bad response: `choices` is a number, not a list",
        "bad response: `choices[0].text` is a number, not a string",
    ];
    for (body, why) in streams.into_iter().zip(whys) {
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let url = raw_server(Box::leak(response.into_boxed_str()));
        bench(&url, RANDOM)
            .args(["--num-prompts", "2"])
            .assert()
            .code(1)
            .stdout(predicate::str::contains("Failed requests:                         2 "))
            .stdout(predicate::str::contains(format!("2 x {why}")));
    }
}

#[test]
fn absurd_sizes_bad_addresses_and_bad_metadata_are_usage_errors_up_front() {
    // Nothing listens on port 9 of a closed host: a usage error must come before any request.
    for (args, why) in [
        (
            &["--num-prompts", "1000000000000"][..],
            "--num-prompts 1000000000000: must be in 1..=10000000",
        ),
        (&["--num-prompts", "0"], "--num-prompts 0: must be in 1..=10000000"),
        (
            &["--random-input-len", "100000000"],
            "--random-input-len 100000000: must be in 1..=1000000",
        ),
        (&["--base-url", "http://h:99999"], "--base-url h:99999: the port must be in 1..=65535"),
        (&["--port", "0"], "--host/--port 127.0.0.1:0: the port must be in 1..=65535"),
        (&["--host", "a b"], "--host/--port a b:8000: not a host name or address"),
        (
            &["--save-result", "--metadata", "gpu=h200", "typo"],
            "--metadata \"typo\": expected KEY=VALUE",
        ),
        (
            &["--api", "openai-strict", "--ignore-eos"],
            "--ignore-eos: the server flavour --api openai-strict takes standard OpenAI fields \
             only (text prompts, no ignore_eos); drop it (--tokenizer gives text prompts of exact \
             length)",
        ),
    ] {
        assert_cmd::cargo_bin_cmd!("bench")
            .args(["--model", "m", "--no-test-input"])
            .args(args)
            .timeout(Duration::from_secs(30))
            .assert()
            .code(64)
            .stdout("")
            .stderr(format!("bench: error: {why}\n"));
    }
}

#[test]
fn a_closed_stdout_ends_quietly_and_keeps_the_result_json() {
    let url = server(0, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("bench"))
        .args(["--model", "m", "--base-url", &url, "--no-test-input", "--num-prompts", "2"])
        .args(RANDOM)
        .args(["--save-result", "--result-dir"])
        .arg(dir.path())
        .args(["--result-filename", "r.json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is written
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(saved["completed"], 2);
}

#[test]
fn a_tokenizer_counts_output_tokens_when_the_server_sends_no_usage() {
    // One event carrying four words, no usage: 1 token by events, 4 by the tokenizer.
    let body = "data: {\"choices\":[{\"text\":\"a b c d\"}]}\n\ndata: [DONE]\n\n";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let url = raw_server(Box::leak(response.into_boxed_str()));
    let dir = tempfile::tempdir().unwrap();
    let json = bench::tokenizer::word_level_json(&["a", "b", "c", "d"]);
    std::fs::write(dir.path().join("tokenizer.json"), json).unwrap();
    let run = |tokenizer: &std::path::Path| {
        let out = bench(&url, &["--random-input-len", "16", "--random-output-len", "4"])
            .args(["--num-prompts", "3", "--tokenizer", tokenizer.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (text, err) = run(dir.path());
    assert_eq!(err, "");
    assert!(text.contains("Total generated tokens:                  12        \n"), "{text}");
    // The prompts were made with the tokenizer: exactly 16 of its tokens each.
    assert!(text.contains("Total input tokens:                      48        \n"), "{text}");
    // A directory without tokenizer.json (a model name): today's behaviour, one warning line.
    let empty = dir.path().join("model");
    std::fs::create_dir(&empty).unwrap();
    let (text, err) = run(&empty);
    assert!(text.contains("Total generated tokens:                  3         \n"), "{text}");
    assert_eq!(
        err,
        format!(
            "bench: warning: --tokenizer {}: no tokenizer.json there; prompts are words (about a \
             token each) and output tokens are the server's usage or the number of events\n",
            empty.display()
        )
    );
}

#[test]
fn strict_flavour_sends_standard_fields_only() {
    // The server answers like any other; what matters is that bench accepts the flavour and
    // the requests succeed (the request bodies are checked in client.rs's unit tests and
    // against simserve --api openai-strict in the chain tests).
    let url = server(0, 0, 0);
    bench(&url, &["--api", "openai-strict", "--backend", "openai-chat"])
        .args(["--random-input-len", "8", "--random-output-len", "3", "--num-prompts", "2"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Namespace(backend='openai-chat', api='openai-strict', "))
        .stdout(predicate::str::contains("Total generated tokens:                  6         \n"));
}
