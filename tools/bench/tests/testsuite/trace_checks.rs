//! Regressions found replaying traces as a user would (issue 18's held-out checks): the test
//! request and `--warmup` must not put the trace's blocks into the server's prefix cache,
//! whole numbers written as floats are whole numbers, and agentic mode has no fixed request
//! count (`num_prompts` is None/null) and fails a run that measured nothing. Against the
//! in-process test server, which records every request (`GET /requests`).

use assert_cmd::Command;
use bench::testserver::{spawn_background, Timing};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

fn server() -> String {
    let timing = Timing {
        ttft: Duration::from_millis(2),
        itl: Duration::from_millis(1),
        fail_every: 0,
        record: true,
    };
    format!("http://{}", spawn_background(timing).expect("test server starts"))
}

fn bench(url: &str, trace: &tempfile::NamedTempFile, extra: &[&str]) -> Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("bench");
    cmd.args(["--model", "m", "--base-url", url, "--request-timeout", "30"]);
    cmd.args(["--dataset-name", "mooncake", "--block-size", "4", "--dataset-path"]);
    cmd.arg(trace.path());
    cmd.args(extra);
    for k in ["AGENTX_DURATION", "AGENTX_WARMUP_PER_LANE", "AGENTX_MAX_CTX"] {
        cmd.env_remove(k);
    }
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// `GET /requests` of the test server: `[{"session": …, "body": …}]` in arrival order.
fn requests(url: &str) -> Vec<Value> {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /requests HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str::<Value>(body).unwrap().as_array().unwrap().clone()
}

fn trace_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn prompt_ids(r: &Value) -> Vec<u64> {
    r["body"]["prompt"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect()
}

/// Session a (2 turns, the second extending the first), b sharing block 1 with a.
const TRACE: &str = r#"{"timestamp": 0, "input_length": 8, "output_length": 3, "hash_ids": [1, 2], "session_id": "a"}
{"timestamp": 10, "input_length": 6, "output_length": 2, "hash_ids": [1, 7], "session_id": "b"}
{"timestamp": 30, "input_length": 10, "output_length": 4, "hash_ids": [1, 2, 3], "session_id": "a"}
"#;

#[test]
fn the_test_request_and_warmup_share_no_token_block_with_the_trace() {
    let url = server();
    let f = trace_file(TRACE);
    let out = bench(&url, &f, &["--warmup", "2", "--trace-speed", "4"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = requests(&url);
    assert_eq!(reqs.len(), 1 + 2 + 3, "test request, 2 warm-up requests, 3 turns");
    let (before, trace) = reqs.split_at(3);
    let a1 = trace.iter().find(|r| r["body"]["max_tokens"] == 3).unwrap();
    let first = prompt_ids(a1);
    assert_eq!(first.len(), 8);
    for r in before {
        assert!(r["session"].is_null(), "{r}");
        let ids = prompt_ids(r);
        assert_eq!((ids.len(), r["body"]["max_tokens"].as_u64()), (8, Some(3)), "{r}");
        // A prefix cache keyed by blocks would find none of the trace's blocks.
        for block in 0..2 {
            let span = block * 4..block * 4 + 4;
            assert_ne!(ids[span.clone()], first[span], "block {block} of {r}");
        }
    }
}

#[test]
fn whole_numbers_written_as_floats_replay() {
    let url = server();
    let f = trace_file(
        "{\"timestamp\": 0.0, \"input_length\": 6.0, \"output_length\": 2.0, \"hash_ids\": [5.0], \
         \"session_id\": 3.0, \"extra\": [1, {\"x\": null}]}\n",
    );
    let out = bench(&url, &f, &["--no-test-input"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = requests(&url);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["session"], "3");
    assert_eq!((prompt_ids(&reqs[0]).len(), reqs[0]["body"]["max_tokens"].as_u64()), (6, Some(2)));
    let bad = trace_file(
        "{\"timestamp\": 0, \"input_length\": 6, \"output_length\": 2, \"hash_ids\": []}\n\
         {\"timestamp\": 1, \"input_length\": 6.5, \"output_length\": 2, \"hash_ids\": []}\n",
    );
    let out = bench(&url, &bad, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8(out.stderr).unwrap();
    let want = format!(
        "bench: error: {}:2: `input_length` is not a whole number of tokens: 6.5\n",
        bad.path().display()
    );
    assert_eq!(err, want);
    assert!(out.stdout.is_empty());
}

#[test]
fn agentic_mode_has_no_fixed_request_count_for_readers_to_compare_with() {
    let url = server();
    let f = trace_file(TRACE);
    let dir = tempfile::tempdir().unwrap();
    // One lane, 1 warm-up turn: 3 turns sent, 2 measured (fewer than the trace's 3 rows).
    let out = bench(&url, &f, &["--agentic", "--max-concurrency", "1", "--trace-speed", "100"])
        .args(["--no-test-input", "--save-result", "--result-filename", "a.json", "--result-dir"])
        .arg(dir.path())
        .env("AGENTX_WARMUP_PER_LANE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let ns = text.lines().next().unwrap();
    assert!(ns.contains(", num_prompts=None, "), "{ns}");
    assert!(
        text.lines().any(|l| l == "Total requests:                          2         "),
        "{text}"
    );
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a.json")).unwrap()).unwrap();
    assert_eq!((v["num_prompts"].clone(), v["completed"].as_u64()), (Value::Null, Some(2)));
    assert_eq!(requests(&url).len(), 3);
    // A plain replay of the same trace still says how many requests it makes.
    let out = bench(&url, &f, &["--no-test-input", "--num-prompts", "2"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().next().unwrap().contains(", num_prompts=2, "), "{text}");
}

#[test]
fn an_agentic_run_that_measured_nothing_fails() {
    let url = server();
    let f = trace_file(TRACE);
    let dir = tempfile::tempdir().unwrap();
    // 2 lanes × 5 warm-up turns > the trace's 3 turns: nothing is measured.
    let out = bench(&url, &f, &["--agentic", "--max-concurrency", "2", "--trace-speed", "100"])
        .args(["--agentic-warmup-per-lane", "5", "--no-test-input", "--save-result"])
        .args(["--result-filename", "a.json", "--result-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "bench: error: agentic mode measured no request: every turn sent was one of the first 5 \
         warm-up turns of its lane (--agentic-warmup-per-lane, AGENTX_WARMUP_PER_LANE)\n"
    );
    assert_eq!(requests(&url).len(), 3, "every turn was sent");
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a.json")).unwrap()).unwrap();
    assert_eq!((v["completed"].as_u64(), v["turns"].as_u64()), (Some(0), Some(0)));
}

#[test]
fn a_trace_that_is_not_utf8_is_a_data_error_naming_its_line() {
    let url = server();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(
        b"{\"timestamp\": 0, \"input_length\": 6, \"output_length\": 2, \"hash_ids\": []}\n",
    )
    .unwrap();
    f.write_all(b"{\"timestamp\": 1, \"input_length\": 6, \"output_length\": 2, \"hash_ids\": [], \"x\": \"\xff\"}\n")
        .unwrap();
    let out = bench(&url, &f, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    let want = format!("bench: error: {}:2: not UTF-8 text\n", f.path().display());
    assert_eq!(String::from_utf8(out.stderr).unwrap(), want);
    assert!(out.stdout.is_empty());
    assert!(requests(&url).is_empty(), "nothing is sent");
}

#[test]
fn agentic_progress_lines_claim_no_total() {
    let url = server();
    let f = trace_file(TRACE);
    let out = bench(&url, &f, &["--agentic", "--max-concurrency", "2", "--no-test-input"])
        .args(["--progress-interval", "0.1", "--agentic-duration", "0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8(out.stderr).unwrap();
    let progress: Vec<&str> =
        err.lines().filter_map(|l| l.strip_prefix("bench: progress: ")).collect();
    assert!(!progress.is_empty(), "{err}");
    for line in progress {
        // "N done, 0 failed, S s": the lanes cycle through the 3 rows, so no "/3".
        let (done, rest) = line.split_once(" done, 0 failed, ").expect(line);
        assert!(done.parse::<u64>().is_ok() && rest.ends_with(" s"), "{line}");
    }
}

#[test]
fn include_queueing_does_not_count_the_wait_for_the_previous_answer() {
    let url = server();
    // Turn 2 is due 1 ms after turn 1, whose 50-token answer takes longer than that.
    let f = trace_file(
        "{\"timestamp\": 0, \"input_length\": 4, \"output_length\": 50, \"hash_ids\": [1], \"session_id\": \"a\"}\n\
         {\"timestamp\": 1, \"input_length\": 8, \"output_length\": 2, \"hash_ids\": [1, 2], \"session_id\": \"a\"}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&url, &f, &["--no-test-input", "--include-queueing", "--save-detailed"])
        .args(["--save-result", "--result-filename", "q.json", "--result-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("q.json")).unwrap()).unwrap();
    let ms = |k: &str| -> Vec<f64> {
        v[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
    };
    let (scheduled, intended, sent, e2el) =
        (ms("scheduled_ms"), ms("intended_ms"), ms("sent_ms"), ms("e2els"));
    // Turn 2 was intended after turn 1's answer (plus the 1 ms gap), and that is its scheduled
    // time too: its latencies count from there, not from the trace's 1 ms.
    assert!(intended[1] >= sent[0] + e2el[0] * 1000.0, "{intended:?} {sent:?} {e2el:?}");
    assert_eq!(scheduled[1], intended[1]);
    assert_eq!(scheduled[0], 0.0);
}
