//! Server flavours end to end: `simserve --api openai-strict` refuses what a strict OpenAI
//! server (`transformers serve`) refuses; `bench --api openai-strict` sends only standard
//! fields and succeeds against it, while the default flavour fails clearly, naming the field.

use chain_tests::bin;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Longest wait for simserve to report its address.
const DEADLINE: Duration = Duration::from_secs(30);

/// simserve on a free port; stopped (killed) when dropped.
struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn simserve(dir: &Path, api: &str) -> Server {
    let addr = dir.join(format!("{api}.addr"));
    let child = Command::new(bin("simserve"))
        .args(["m", "--host", "127.0.0.1", "--port", "0", "--api", api])
        .args(["--ttft-ms", "1", "--decode-ms-per-step", "1"])
        .arg("--report-addr")
        .arg(&addr)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut server = Server(child, String::new());
    while start.elapsed() < DEADLINE {
        if let Ok(a) = std::fs::read_to_string(&addr) {
            server.1 = a.trim().to_string();
            return server;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("simserve --api {api} reported no address within {DEADLINE:?}");
}

fn bench(server: &Server, extra: &[&str]) -> Output {
    Command::new(bin("bench"))
        .args(["--model", "m", "--base-url", &format!("http://{}", server.1)])
        .args(["--num-prompts", "4", "--max-concurrency", "2", "--random-input-len", "32"])
        .args(["--random-output-len", "8", "--percentile-metrics", "ttft,tpot,itl,e2el"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn strict_servers_take_the_strict_flavour_and_refuse_the_default_one_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let strict = simserve(dir.path(), "openai-strict");
    // The incumbent's flags, default flavour: the test request is refused, naming the field.
    let out = bench(&strict, &["--random-ids", "--ignore-eos"]);
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("bench: error: test request to 127.0.0.1:"), "{err}");
    assert!(
        err.contains("HTTP 422: ") && err.contains("Unexpected fields in the request: ignore_eos")
    );
    // Chat, default flavour, no extensions asked: still a length field it does not honour.
    let out = bench(&strict, &["--backend", "openai-chat"]);
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unsupported fields in the request: max_completion_tokens, stream_options"),
        "{err}"
    );
    // Token ids are not a prompt there (no stream_options when not streaming).
    let out = bench(&strict, &["--random-ids", "--non-streaming"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("prompt must be a string"));
    // The strict flavour: every request succeeds, at the asked lengths.
    for backend in ["openai", "openai-chat"] {
        let out = bench(&strict, &["--api", "openai-strict", "--backend", backend]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Successful requests:                     4 "), "{text}");
        assert!(text.contains("Total generated tokens:                  32 "), "{text}");
        assert!(text.contains("Total input tokens:                      128 "), "{text}");
        // parse-metrics finds the record valid (lengths as asked).
        let log = dir.path().join(format!("{backend}.log"));
        std::fs::write(&log, text.as_bytes()).unwrap();
        let parsed = Command::new(bin("parse-metrics"))
            .args(["--test-id", "t", "--isl", "32", "--osl", "8"])
            .arg(&log)
            .output()
            .unwrap();
        let record: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
        assert_eq!(record["status"], "ok", "{record}");
        assert!(record["metrics"]["p99_dispatch_delay"].is_number(), "{record}");
    }
    // The default flavour still works against the default (trtllm) server.
    let trtllm = simserve(dir.path(), "trtllm");
    let out = bench(&trtllm, &["--random-ids", "--ignore-eos"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
