//! Mooncake trace replay and agentic mode against the in-process test server, which records
//! every request (`GET /requests`) and answers a stand-in `cached_tokens` (the tokens a prompt
//! shares with the previous prompt of its session): prompts, session headers, counts and
//! the new result lines are checked exactly; no wall-clock duration is asserted.

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

fn bench(url: &str, extra: &[&str]) -> Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("bench");
    cmd.args(["--model", "m", "--base-url", url, "--no-test-input", "--request-timeout", "30"]);
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

/// Session a: turns at 0 and 30 ms, the second extending the first (blocks 1, 2 then 1, 2, 3,
/// its last block cut to 2 tokens); b shares block 1 only; a request without a session.
const TRACE: &str = r#"{"timestamp": 0, "input_length": 8, "output_length": 3, "hash_ids": [1, 2], "session_id": "a"}
{"timestamp": 10, "input_length": 6, "output_length": 2, "hash_ids": [1, 7], "session_id": "b"}
{"timestamp": 20, "input_length": 5, "output_length": 2, "hash_ids": [9]}
{"timestamp": 30, "input_length": 10, "output_length": 4, "hash_ids": [1, 2, 3], "session_id": "a"}
"#;

fn trace_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn prompt_ids(r: &Value) -> Vec<u64> {
    r["body"]["prompt"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect()
}

#[test]
fn completions_share_exact_token_prefixes_and_carry_sessions() {
    let url = server();
    let f = trace_file(TRACE);
    let dir = tempfile::tempdir().unwrap();
    let out =
        bench(&url, &["--dataset-name", "mooncake", "--block-size", "4", "--trace-speed", "2"])
            .arg("--dataset-path")
            .arg(f.path())
            .args([
                "--save-result",
                "--save-detailed",
                "--result-filename",
                "r.json",
                "--result-dir",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut reqs = requests(&url);
    assert_eq!(reqs.len(), 4);
    reqs.sort_by_key(|r| r["body"]["max_tokens"].as_u64());
    // max_tokens 2, 2, 3, 4: b or the sessionless one, then a's turns in order.
    let by_len: Vec<usize> = reqs.iter().map(|r| prompt_ids(r).len()).collect();
    let a1 = reqs.iter().find(|r| r["body"]["max_tokens"] == 3).unwrap();
    let a2 = reqs.iter().find(|r| r["body"]["max_tokens"] == 4).unwrap();
    let b = reqs.iter().find(|r| r["session"] == "b").unwrap();
    let none = reqs.iter().find(|r| r["session"].is_null()).unwrap();
    assert_eq!(by_len.iter().sum::<usize>(), 8 + 6 + 5 + 10);
    let (pa1, pa2, pb, pn) = (prompt_ids(a1), prompt_ids(a2), prompt_ids(b), prompt_ids(none));
    assert_eq!((pa1.len(), pa2.len(), pb.len(), pn.len()), (8, 10, 6, 5));
    assert_eq!(pa2[..8], pa1[..], "turn 2 extends turn 1 exactly");
    assert_eq!(pb[..4], pa1[..4], "block 1 is the same tokens everywhere");
    assert_ne!(pb[4..6], pa1[4..6]);
    assert_eq!((a1["session"].as_str(), a2["session"].as_str()), (Some("a"), Some("a")));
    for line in [
        "Total requests:                          4         ",
        "Total input tokens:                      29        ",
        "Total cached tokens:                     8         ",
        "Cache hit rate (%):                      27.59     ",
        "Sessions:                                3         ",
        "Turns:                                   4         ",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("\nMean TTFT by turn (ms):                  "), "{text}");
    let by_turn = text.lines().find(|l| l.starts_with("Mean TTFT by turn")).unwrap();
    assert_eq!(by_turn.rsplit(' ').next().unwrap().split(',').count(), 2, "{by_turn}");
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(v["total_cached_tokens"], 8);
    assert_eq!(v["sessions"], 3);
    assert_eq!(v["turns"], 4);
    assert_eq!(v["num_prompts"], 4);
    assert_eq!(v["mean_ttft_by_turn_ms"].as_array().unwrap().len(), 2);
    assert!((v["cache_hit_rate"].as_f64().unwrap() - 800.0 / 29.0).abs() < 1e-9);
    assert!(v["p99_dispatch_delay_ms"].as_f64().is_some());
    // --save-detailed: per request in trace order (a1, b, the sessionless one, a2).
    assert_eq!(v["turn_index"], serde_json::json!([1, 1, 1, 2]));
    assert_eq!(v["conversation"], serde_json::json!([0, 1, 2, 0]));
    assert_eq!(v["cached_tokens"], serde_json::json!([0, 0, 0, 8]));
}

#[test]
fn chat_history_grows_as_messages_with_the_answers() {
    let url = server();
    let f = trace_file(TRACE);
    let out = bench(&url, &["--dataset-name", "mooncake", "--block-size", "4"])
        .args(["--backend", "openai-chat", "--trace-speed", "4"])
        .arg("--dataset-path")
        .arg(f.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = requests(&url);
    let a: Vec<&Value> = reqs.iter().filter(|r| r["session"] == "a").collect();
    assert_eq!(a.len(), 2);
    let m1 = a[0]["body"]["messages"].as_array().unwrap();
    let m2 = a[1]["body"]["messages"].as_array().unwrap();
    assert_eq!(m1.len(), 1);
    assert_eq!(m2.len(), 3);
    assert_eq!(m2[0], m1[0], "the first user message is kept byte for byte");
    assert_eq!(m2[1]["role"], "assistant");
    assert_eq!(m2[1]["content"], "tok tok tok ", "the test server's answer of 3 tokens");
    let words = |m: &Value| m["content"].as_str().unwrap().split(' ').count();
    assert_eq!((words(&m1[0]), words(&m2[2])), (8, 2), "turn 2 adds its 2 new tokens");
    // The test server's stand-in cache: the 8 words of the session's previous prompt.
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l == "Total cached tokens:                     8         "),
        "{text}"
    );
}

#[test]
fn agentic_lanes_replay_sessions_with_warmup_and_max_context() {
    let url = server();
    let f = trace_file(TRACE);
    let dir = tempfile::tempdir().unwrap();
    // Max context 12: a's second turn (10 + 4) is over it, so session a ends after turn 1.
    let out = bench(&url, &["--dataset-name", "mooncake", "--block-size", "4", "--agentic"])
        .args(["--max-concurrency", "1", "--trace-speed", "1000", "--save-result"])
        .args(["--result-filename", "a.json", "--result-dir"])
        .arg(dir.path())
        .arg("--dataset-path")
        .arg(f.path())
        .env("AGENTX_WARMUP_PER_LANE", "1")
        .env("AGENTX_MAX_CTX", "12")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = requests(&url);
    let sessions: Vec<Option<&str>> = reqs.iter().map(|r| r["session"].as_str()).collect();
    assert_eq!(sessions, [Some("a"), Some("b"), None], "one lane: sessions back to back");
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a.json")).unwrap()).unwrap();
    assert_eq!((v["completed"].as_u64(), v["turns"].as_u64()), (Some(2), Some(2)), "1 warm-up");
    assert_eq!(v["sessions"], 2);
}

#[test]
fn agentic_duration_caps_the_run_cycling_through_the_trace() {
    let url = server();
    let f = trace_file(TRACE);
    let out = bench(&url, &["--dataset-name", "mooncake", "--block-size", "4", "--agentic"])
        .args(["--max-concurrency", "2", "--trace-speed", "1000"])
        .arg("--dataset-path")
        .arg(f.path())
        .env("AGENTX_DURATION", "0.5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = requests(&url);
    assert!(reqs.len() > 4, "the trace is replayed more than once: {}", reqs.len());
    let replayed = reqs.iter().filter(|r| r["session"] == "a-r1").count();
    assert!(replayed >= 1, "a replay of session a gets its own session id");
}

#[test]
fn bad_traces_name_the_file_line_and_field() {
    let url = server();
    for (text, why) in [
        (
            "{\"timestamp\":0,\"input_length\":4,\"output_length\":1,\"hash_ids\":[1]}\n{\"timestamp\":1,\"input_length\":4,\"output_length\":1}\n",
            ":2: `hash_ids` is missing",
        ),
        (
            "{\"timestamp\":0,\"input_length\":-4,\"output_length\":1,\"hash_ids\":[1]}\n",
            ":1: `input_length` is negative: -4",
        ),
        ("{\"timestamp\":0,", ":1: invalid record: "),
    ] {
        let f = trace_file(text);
        let out = bench(&url, &["--dataset-name", "mooncake"])
            .arg("--dataset-path")
            .arg(f.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(65));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(&format!("{}{why}", f.path().display())), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty());
    }
    assert!(requests(&url).is_empty(), "nothing was sent");
    for (args, code) in [
        (&["--dataset-name", "mooncake"][..], 64),
        (&["--agentic"], 64),
        (&["--dataset-name", "mooncake", "--dataset-path", "/nonexistent/t.jsonl"], 66),
        (&["--dataset-name", "mooncake", "--dataset-path", "x", "--trace-speed", "0"], 64),
        (&["--dataset-name", "mooncake", "--dataset-path", "x", "--block-size", "0"], 64),
    ] {
        let out = bench(&url, args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
    }
}

#[test]
fn a_converted_qwen_bailian_trace_replays_with_its_sessions() {
    let input = trace_file(
        r#"{"chat_id": 10, "parent_chat_id": -1, "timestamp": 0.0, "input_length": 40, "output_length": 2, "type": "text", "turn": 1, "hash_ids": [1, 2, 3]}
{"chat_id": 12, "parent_chat_id": 10, "timestamp": 0.01, "input_length": 70, "output_length": 2, "type": "text", "turn": 2, "hash_ids": [1, 2, 3, 4, 5]}
"#,
    );
    let out = assert_cmd::cargo_bin_cmd!("bench")
        .args(["--convert-trace", "qwen-bailian", "--dataset-path"])
        .arg(input.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let converted = String::from_utf8(out.stdout).unwrap();
    assert_eq!(converted.lines().count(), 2);
    let url = server();
    let f = trace_file(&converted);
    let out = bench(&url, &["--dataset-name", "mooncake", "--block-size", "16"])
        .arg("--dataset-path")
        .arg(f.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = requests(&url);
    let sessions: Vec<&str> = reqs.iter().map(|r| r["session"].as_str().unwrap()).collect();
    assert_eq!(sessions, ["10", "10"]);
    let (p1, p2) = (prompt_ids(&reqs[0]), prompt_ids(&reqs[1]));
    assert_eq!((p1.len(), p2.len()), (40, 70));
    assert_eq!(p2[..40], p1[..], "3 shared blocks of 16 tokens, the third cut at 40");
    let bad = trace_file("{\"chat_id\": 1}\n");
    let out = assert_cmd::cargo_bin_cmd!("bench")
        .args(["--convert-trace", "qwen-bailian", "--dataset-path"])
        .arg(bad.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_server_that_never_says_cached_tokens_gives_no_line_and_null() {
    let timing = Timing {
        ttft: Duration::from_millis(1),
        itl: Duration::ZERO,
        fail_every: 0,
        record: false,
    };
    let url = format!("http://{}", spawn_background(timing).unwrap());
    let f = trace_file(TRACE);
    let dir = tempfile::tempdir().unwrap();
    let out =
        bench(&url, &["--dataset-name", "mooncake", "--block-size", "4", "--trace-speed", "4"])
            .arg("--dataset-path")
            .arg(f.path())
            .args(["--save-result", "--result-filename", "n.json", "--result-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("Total cached tokens"), "{text}");
    assert!(!text.contains("Cache hit rate"), "{text}");
    assert!(text.lines().any(|l| l == "Sessions:                                3         "));
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("n.json")).unwrap()).unwrap();
    assert!(v["total_cached_tokens"].is_null() && v.get("total_cached_tokens").is_some());
    assert!(v["cache_hit_rate"].is_null());
    assert_eq!(v["turns"], 4);
}

#[test]
fn with_a_tokenizer_strict_chat_prompts_are_text_of_exact_token_length() {
    // A WordLevel tokenizer that splits on whitespace: its vocabulary words are one token each,
    // and so are the test server's words.
    let words: Vec<String> = (0..20).map(|i| format!("tok{}x", (b'a' + i) as char)).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), bench::tokenizer::word_level_json(&words))
        .unwrap();
    let url = server();
    let f = trace_file(TRACE);
    let out =
        bench(&url, &["--dataset-name", "mooncake", "--block-size", "4", "--trace-speed", "4"])
            .args(["--api", "openai-strict", "--backend", "openai-chat", "--tokenizer"])
            .arg(dir.path())
            .arg("--dataset-path")
            .arg(f.path())
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reqs = requests(&url);
    let b = reqs.iter().find(|r| r["session"] == "b").unwrap();
    let content = b["body"]["messages"][0]["content"].as_str().unwrap();
    assert_eq!(content.split(' ').count(), 6, "{content}");
    assert!(content.split(' ').all(|w| words.contains(&w)), "vocabulary words only: {content}");
    assert!(b["body"].get("stream_options").is_none(), "strict: standard fields only");
    let a1 = reqs.iter().find(|r| r["session"] == "a").unwrap();
    let a_first: Vec<&str> =
        a1["body"]["messages"][0]["content"].as_str().unwrap().split(' ').collect();
    let b_words: Vec<&str> = content.split(' ').collect();
    assert_eq!(a_first[..4], b_words[..4], "hash id 1 is the same 4 tokens in both sessions");
}
