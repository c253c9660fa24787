//! simserve end to end: real processes on port 0, reached over HTTP.

use assert_cmd::cargo::cargo_bin;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every wait in these tests ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(20);

/// A running simserve, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::start_env(args, &[])
    }

    fn start_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let addr_file = dir.path().join("server.addr");
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(cargo_bin!("simserve"));
        cmd.args(args)
            .arg("--report-addr")
            .arg(&addr_file)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().unwrap();
        let start = Instant::now();
        let addr = loop {
            if let Ok(a) = std::fs::read_to_string(&addr_file) {
                break a;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("simserve exited with {status}: {}", read(&log));
            }
            assert!(start.elapsed() < DEADLINE, "no address reported");
            std::thread::sleep(Duration::from_millis(10));
        };
        Server { child, addr, log, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn wait_healthy(&self) {
        let start = Instant::now();
        while get(&self.url("/health")).0 != 200 {
            assert!(start.elapsed() < DEADLINE, "never healthy: {}", read(&self.log));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status, waiting at most DEADLINE.
    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "still running: {}", read(&self.log));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(DEADLINE).build()
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

fn get(url: &str) -> (u16, String) {
    answer(agent().get(url).call())
}

fn post(url: &str, body: &Value) -> (u16, String) {
    answer(agent().post(url).set("content-type", "application/json").send_string(&body.to_string()))
}

/// A JSON body without its creation time (checked to be there).
fn without_created(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(v.as_object_mut().unwrap().remove("created").unwrap().is_u64());
    v
}

/// The `data:` payloads of an SSE body, checking its framing.
fn events(body: &str) -> Vec<String> {
    assert!(body.ends_with("\n\n"), "{body:?}");
    body.trim_end_matches("\n\n")
        .split("\n\n")
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"))
                .to_string()
        })
        .collect()
}

const FAST: [&str; 6] =
    ["--ttft-ms", "1", "--decode-ms-per-step", "1", "--prefill-ms-per-token", "0"];

fn fast(model: &str, extra: &[&str]) -> Vec<String> {
    let mut args =
        vec![model.to_string(), "--host".into(), "127.0.0.1".into(), "--port".into(), "0".into()];
    args.extend(FAST.iter().map(|s| s.to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn start_fast(model: &str, extra: &[&str]) -> Server {
    start_env_fast(model, extra, &[])
}

fn start_env_fast(model: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let args = fast(model, extra);
    Server::start_env(&args.iter().map(String::as_str).collect::<Vec<_>>(), env)
}

#[test]
fn health_is_503_until_the_startup_delay_has_passed() {
    let server = start_fast("llama", &["--startup-delay", "2"]);
    assert_eq!(get(&server.url("/health")).0, 503);
    let (status, body) = post(&server.url("/v1/completions"), &json!({"prompt": "hi"}));
    assert_eq!(status, 503, "{body}");
    server.wait_healthy();
    let log = read(&server.log);
    assert!(log.contains("INFO:     Application startup complete."), "{log}");
    let (status, models) = get(&server.url("/v1/models"));
    assert_eq!(status, 200);
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["data"][0]["id"], "llama");
    assert_eq!(models["object"], "list");
}

#[test]
fn non_streaming_completions_count_tokens_exactly() {
    let server = start_fast("m", &[]);
    server.wait_healthy();
    let (status, body) = post(
        &server.url("/v1/completions"),
        &json!({"model": "m", "prompt": [101, 102, 103, 104, 105], "max_tokens": 3, "ignore_eos": true}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        without_created(&body),
        json!({"id": "cmpl-0", "object": "text_completion", "model": "m",
               "choices": [{"index": 0, "text": " the of and", "logprobs": null, "finish_reason": "length"}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8,
               "prompt_tokens_details": {"cached_tokens": 0}}})
    );
    let (_, body) = post(&server.url("/v1/completions"), &json!({"prompt": "four words of text"}));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 16, "total_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 0}})
    );
    let (status, body) =
        post(&server.url("/v1/completions"), &json!({"prompt": "x", "max_tokens": 0}));
    assert_eq!(status, 400);
    assert!(body.contains("max_tokens"), "{body}");
    assert_eq!(get(&server.url("/nope")).0, 404);
}

#[test]
fn streaming_completions_are_sse_chunks_then_usage_then_done() {
    let server = start_fast("m", &[]);
    server.wait_healthy();
    let (status, body) = post(
        &server.url("/v1/completions"),
        &json!({"prompt": [1, 2, 3], "max_tokens": 4, "stream": true, "ignore_eos": true}),
    );
    assert_eq!(status, 200);
    let events = events(&body);
    assert_eq!(events.len(), 6, "{body}");
    let texts: Vec<Value> =
        events[..4].iter().map(|e| without_created(e)["choices"][0]["text"].clone()).collect();
    assert_eq!(texts, vec![" the", " of", " and", " to"]);
    assert_eq!(without_created(&events[2])["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(
        without_created(&events[3]),
        json!({"id": "cmpl-0", "object": "text_completion", "model": "m",
               "choices": [{"index": 0, "text": " to", "logprobs": null, "finish_reason": "length"}]})
    );
    assert_eq!(
        without_created(&events[4]),
        json!({"id": "cmpl-0", "object": "text_completion", "model": "m", "choices": [],
               "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
               "prompt_tokens_details": {"cached_tokens": 0}}})
    );
    assert_eq!(events[5], "[DONE]");
}

#[test]
fn chat_streams_deltas_and_eos_stops_early_unless_ignored() {
    let server = start_fast("m", &["--eos-after", "2"]);
    server.wait_healthy();
    let messages = json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "say three words"}]);
    let (status, body) = post(
        &server.url("/v1/chat/completions"),
        &json!({"messages": messages, "max_tokens": 5, "stream": true}),
    );
    assert_eq!(status, 200);
    let events = events(&body);
    assert_eq!(events.len(), 4, "{body}");
    let first = without_created(&events[0]);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"], json!({"role": "assistant", "content": " the"}));
    let second = without_created(&events[1]);
    assert_eq!(second["choices"][0]["delta"], json!({"content": " of"}));
    assert_eq!(second["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        without_created(&events[2])["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 0}})
    );
    let (_, body) = post(
        &server.url("/v1/chat/completions"),
        &json!({"messages": messages, "max_tokens": 5, "ignore_eos": true}),
    );
    let v = without_created(&body);
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": " the of and to in"})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 0}})
    );
}

/// The decode time per token is the worker's `Schedule` (unit-tested exactly); here the flag
/// is taken and every token is streamed.
#[test]
fn a_paced_stream_delivers_every_token() {
    let server = start_fast("m", &["--decode-ms-per-step", "20"]);
    server.wait_healthy();
    let (status, body) = post(
        &server.url("/v1/completions"),
        &json!({"prompt": "a", "max_tokens": 11, "stream": true}),
    );
    assert_eq!(status, 200);
    let events = events(&body);
    // 11 tokens, the usage chunk, [DONE].
    assert_eq!(events.len(), 13, "{events:?}");
    assert!(events[10].contains(r#""finish_reason":"length""#), "{}", events[10]);
    assert_eq!(events[12], "[DONE]");
}

#[test]
fn error_rate_one_fails_every_request_with_500() {
    let server = start_fast("m", &["--error-rate", "1.0"]);
    server.wait_healthy();
    for _ in 0..5 {
        let (status, body) = post(&server.url("/v1/completions"), &json!({"prompt": "a"}));
        assert_eq!(status, 500);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], 500);
    }
}

#[test]
fn environment_sets_faults_and_flags_override_it() {
    let args = fast("m", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_env(&args, &[("SIMSERVE_ERROR_RATE", "1")]);
    server.wait_healthy();
    assert_eq!(post(&server.url("/v1/completions"), &json!({"prompt": "a"})).0, 500);
    let mut args = args.clone();
    args.extend(["--error-rate", "0"]);
    let server = Server::start_env(&args, &[("SIMSERVE_ERROR_RATE", "1"), ("SIMSERVE_HANG", "0")]);
    server.wait_healthy();
    assert_eq!(post(&server.url("/v1/completions"), &json!({"prompt": "a"})).0, 200);
}

#[test]
fn config_file_simserve_keys_set_knobs() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("extra-llm-api-config.yml");
    std::fs::write(&config, "max_batch_size: 8\nsimserve:\n  error_rate: 1.0\n").unwrap();
    let server = start_fast("m", &["--backend", "pytorch", "--config", &config.to_string_lossy()]);
    server.wait_healthy();
    assert_eq!(post(&server.url("/v1/completions"), &json!({"prompt": "a"})).0, 500);
    assert!(read(&server.log).contains("max batch 8"), "{}", read(&server.log));
}

#[test]
fn crash_after_requests_exits_non_zero() {
    let mut server = start_fast("m", &["--crash-after-requests", "2"]);
    server.wait_healthy();
    for _ in 0..2 {
        assert_eq!(
            post(&server.url("/v1/completions"), &json!({"prompt": "a", "max_tokens": 2})).0,
            200
        );
    }
    assert_eq!(server.wait_exit().code(), Some(1));
    assert!(read(&server.log).contains("simserve: fatal: simulated crash after 2 requests"));
}

#[test]
fn health_turns_503_after_requests_while_the_process_lives() {
    let mut server = start_env_fast("m", &[], &[("SIMSERVE_HEALTH_503_AFTER_REQUESTS", "2")]);
    server.wait_healthy();
    for _ in 0..2 {
        assert_eq!(
            post(&server.url("/v1/completions"), &json!({"prompt": "a", "max_tokens": 2})).0,
            200
        );
    }
    assert_eq!(get(&server.url("/health")).0, 503);
    // New requests are never answered: the client's own short timeout ends the wait.
    let short = ureq::AgentBuilder::new().timeout(Duration::from_millis(300)).build();
    let hung = short
        .post(&server.url("/v1/completions"))
        .set("content-type", "application/json")
        .send_string(&json!({"prompt": "a", "max_tokens": 2}).to_string());
    assert!(matches!(hung, Err(ureq::Error::Transport(_))), "{hung:?}");
    assert_eq!(server.child.try_wait().unwrap(), None, "the process lives on");
    let log = read(&server.log);
    assert!(log.contains("simserve: fault: the engine stopped after 2 requests"), "{log}");
    // No error keyword (RuntimeError, …) gives it away: only /health tells.
    assert!(!log.contains("Error"), "{log}");
    server.kill();
}

#[test]
fn fail_at_start_exits_1_with_an_error_keyword_in_the_log() {
    let out = Command::new(cargo_bin!("simserve"))
        .args(["m", "--port", "0", "--fail-at-start"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.ends_with(
            "simserve: error: RuntimeError: simulated failure at start (--fail-at-start)\n"
        ),
        "{stderr}"
    );
}

#[test]
fn log_error_keyword_is_written_to_the_log() {
    let server = start_fast("m", &["--log-error-keyword", "RuntimeError"]);
    server.wait_healthy();
    let start = Instant::now();
    while !read(&server.log).contains("RuntimeError: simulated error (--log-error-keyword)\n") {
        assert!(start.elapsed() < DEADLINE, "{}", read(&server.log));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_usage_is_64() {
    let out = Command::new(cargo_bin!("simserve")).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "simserve: error: missing MODEL (or a subcommand)\n"
    );
    let out =
        Command::new(cargo_bin!("simserve")).args(["m", "--error-rate", "2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
}

fn router_config(dir: &Path, ctx: &[&Server], gen: &[&Server]) -> PathBuf {
    let urls = |servers: &[&Server]| {
        servers.iter().map(|s| format!("\"{}\"", s.addr)).collect::<Vec<_>>().join(", ")
    };
    let path = dir.join("server_config.0.yaml");
    std::fs::write(
        &path,
        format!(
            "hostname: 127.0.0.1\nport: 0\nbackend: pytorch\n\
             context_servers:\n  num_instances: {}\n  urls: [{}]\n\
             generation_servers:\n  num_instances: {}\n  urls: [{}]\n",
            ctx.len(),
            urls(ctx),
            gen.len(),
            urls(gen)
        ),
    )
    .unwrap();
    path
}

#[test]
fn router_forwards_prefill_to_ctx_and_decode_to_gen_and_502s_when_ctx_is_gone() {
    // The ctx server crashes after its first (prefill) request: that proves the router used it.
    let mut ctx = start_fast("m", &["--crash-after-requests", "1"]);
    let gen = start_fast("m", &[]);
    let dir = tempfile::tempdir().unwrap();
    let config = router_config(dir.path(), &[&ctx], &[&gen]);
    let router = Server::start(&[
        "disaggregated",
        "-c",
        &config.to_string_lossy(),
        "-t",
        "3600",
        "-r",
        "3600",
    ]);
    router.wait_healthy();
    let (status, body) = post(
        &router.url("/v1/completions"),
        &json!({"prompt": [1, 2, 3, 4], "max_tokens": 3, "stream": true, "ignore_eos": true}),
    );
    assert_eq!(status, 200, "{body}");
    let events = events(&body);
    assert_eq!(events.len(), 5, "{body}");
    assert_eq!(
        without_created(&events[3])["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 0}})
    );
    assert_eq!(events[4], "[DONE]");
    assert_eq!(ctx.wait_exit().code(), Some(1));

    let (status, body) =
        post(&router.url("/v1/completions"), &json!({"prompt": "a", "max_tokens": 2}));
    assert_eq!(status, 502, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("context server {} is unreachable: ", ctx.addr)),
        "{message}"
    );
    let log = read(&router.log);
    assert!(
        log.contains(&format!("simserve: error: router: context server {} is gone: ", ctx.addr)),
        "{log}"
    );
    assert_eq!(get(&router.url("/health")).0, 503);
}

#[test]
fn router_chat_goes_through_and_exit_on_backend_loss_ends_the_router() {
    let ctx = start_fast("m", &[]);
    let mut gen = start_fast("m", &[]);
    let dir = tempfile::tempdir().unwrap();
    let config = router_config(dir.path(), &[&ctx], &[&gen]);
    let mut router = Server::start(&[
        "disaggregated",
        "-c",
        &config.to_string_lossy(),
        "--exit-on-backend-loss",
    ]);
    router.wait_healthy();
    let (status, body) = post(
        &router.url("/v1/chat/completions"),
        &json!({"messages": [{"role": "user", "content": "two words"}], "max_tokens": 2}),
    );
    assert_eq!(status, 200, "{body}");
    let v = without_created(&body);
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 0}})
    );
    gen.kill();
    assert_eq!(router.wait_exit().code(), Some(1));
    let log = read(&router.log);
    assert!(log.contains(&format!("generation server {} is gone", gen.addr)), "{log}");
}

#[test]
fn hang_never_becomes_healthy_and_crash_at_exits_1() {
    let mut server = start_fast("m", &["--hang", "--crash-at", "1"]);
    assert_eq!(get(&server.url("/health")).0, 503);
    assert_eq!(server.wait_exit().code(), Some(1));
    let log = read(&server.log);
    assert!(log.contains("simserve: --hang: this server will never become healthy\n"), "{log}");
    assert!(log.contains("simserve: fatal: simulated crash at 1 s (--crash-at)\n"), "{log}");
    assert!(!log.contains("Application startup complete"), "{log}");
}

#[test]
fn the_prefix_cache_reports_cached_tokens_in_every_usage() {
    let server = start_fast("m", &["--kv-cache-blocks", "64", "--kv-block-size", "4"]);
    server.wait_healthy();
    let usage = |body: &Value| {
        let (status, text) = post(&server.url("/v1/completions"), body);
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["usage"].clone()
    };
    let ids: Vec<u64> = (1..=10).collect();
    let first = usage(&json!({"prompt": ids, "max_tokens": 1}));
    assert_eq!(first["prompt_tokens_details"], json!({"cached_tokens": 0}));
    // The same 10 tokens and two more: the two full blocks of 4 are cached.
    let longer: Vec<u64> = (1..=12).collect();
    let second = usage(&json!({"prompt": longer, "max_tokens": 1}));
    assert_eq!(
        second,
        json!({"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13,
               "prompt_tokens_details": {"cached_tokens": 8}})
    );
    // The same 12 tokens again, all 3 blocks held: the last token is always computed, so the
    // block holding it is not counted (vLLM and trtllm count so), and its prefill is paid.
    let again = usage(&json!({"prompt": longer, "max_tokens": 1}));
    assert_eq!(again["prompt_tokens_details"], json!({"cached_tokens": 8}));
    let thirteen: Vec<u64> = (1..=13).collect();
    let more = usage(&json!({"prompt": thirteen, "max_tokens": 1}));
    assert_eq!(more["prompt_tokens_details"], json!({"cached_tokens": 12}));
    // Text prompts: equal words, equal blocks; the streaming usage chunk says so too.
    let text = "w1 w2 w3 w4 w5 w6 w7 w8 w9";
    usage(&json!({"prompt": text, "max_tokens": 1}));
    let chat = json!({"messages": [{"role": "user", "content": format!("{text} next")}],
                      "max_tokens": 2, "stream": true});
    let (status, body) = post(&server.url("/v1/chat/completions"), &chat);
    assert_eq!(status, 200, "{body}");
    let events = events(&body);
    let last = without_created(&events[events.len() - 2]);
    assert_eq!(last["usage"]["prompt_tokens_details"], json!({"cached_tokens": 8}));
    assert_eq!(last["usage"]["prompt_tokens"], 10);
}

/// One streamed request through `router` for `session`: (time to the first token, usage).
fn timed_turn(router: &Server, session: &str, prompt: &[u64]) -> (Duration, Value) {
    use std::io::Read;
    let body = json!({"prompt": prompt, "max_tokens": 2, "stream": true, "ignore_eos": true});
    let start = Instant::now();
    let response = agent()
        .post(&router.url("/v1/completions"))
        .set("content-type", "application/json")
        .set("X-Session-Id", session)
        .send_string(&body.to_string())
        .unwrap();
    let mut reader = response.into_reader();
    let mut text = Vec::new();
    let mut byte = [0u8; 1];
    let mut ttft = None;
    while reader.read(&mut byte).unwrap() == 1 {
        text.push(byte[0]);
        if ttft.is_none() && text.ends_with(b"\n\n") {
            ttft = Some(start.elapsed());
        }
    }
    let events = events(&String::from_utf8(text).unwrap());
    let usage = without_created(&events[events.len() - 2])["usage"].clone();
    (ttft.unwrap(), usage)
}

/// Replays the same small trace (3 sessions × 4 turns, round by round; each session has a
/// 1000-token prefix of its own and each turn adds 100 tokens) through a router over two
/// context servers with a prefix cache: (cache hit rate, mean time to first token).
fn replay_through_router(routing: &str) -> (f64, Duration) {
    // Prefill is slow (0.5 ms per uncached token) so the cache decides the TTFT.
    let ctx_args =
        ["--kv-cache-blocks", "4096", "--kv-block-size", "50", "--prefill-ms-per-token", "0.5"];
    let ctx = [start_fast("m", &ctx_args), start_fast("m", &ctx_args)];
    let gen = start_fast("m", &[]);
    let dir = tempfile::tempdir().unwrap();
    let config = router_config(dir.path(), &[&ctx[0], &ctx[1]], &[&gen]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("ctx_router_config:\n  type: {routing}\n"));
    std::fs::write(&config, text).unwrap();
    let router = Server::start(&["disaggregated", "-c", &config.to_string_lossy()]);
    router.wait_healthy();
    for c in &ctx {
        c.wait_healthy();
    }
    let (mut cached, mut prompt, mut ttft) = (0u64, 0u64, Duration::ZERO);
    let mut turns = 0u32;
    for turn in 0..4u64 {
        for session in 0..3u64 {
            let len = 1000 + 100 * turn;
            let tokens: Vec<u64> = (0..len).map(|i| session * 100_000 + i).collect();
            let (t, usage) = timed_turn(&router, &format!("s{session}"), &tokens);
            assert_eq!(usage["prompt_tokens"], len, "{usage}");
            cached += usage["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap();
            prompt += len;
            ttft += t;
            turns += 1;
        }
    }
    (cached as f64 / prompt as f64, ttft / turns)
}

#[test]
fn conversation_routing_raises_the_hit_rate_and_lowers_ttft_against_round_robin() {
    let (conversation_hits, conversation_ttft) = replay_through_router("conversation");
    let (round_robin_hits, round_robin_ttft) = replay_through_router("round_robin");
    // Exact hit rates: every session stays on one server, against alternating servers (a
    // turn finds the prefix of the session's turn before last).
    let prompt = 3.0 * (1000.0 + 1100.0 + 1200.0 + 1300.0);
    assert_eq!(conversation_hits, 3.0 * (1000.0 + 1100.0 + 1200.0) / prompt);
    assert_eq!(round_robin_hits, 3.0 * (1000.0 + 1100.0) / prompt);
    assert!(
        conversation_ttft < round_robin_ttft,
        "mean TTFT: conversation {conversation_ttft:?}, round robin {round_robin_ttft:?}"
    );
}

#[test]
fn the_prefix_cache_is_on_by_default_as_in_trtllm_and_off_when_the_config_says() {
    let ids: Vec<u64> = (1..=40).collect();
    let body = json!({"prompt": ids, "max_tokens": 1});
    let cached = |server: &Server| {
        let (status, text) = post(&server.url("/v1/completions"), &body);
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap()
    };
    let default = start_fast("m", &[]);
    default.wait_healthy();
    // One full block of 32 tokens (trtllm's default tokens_per_block) is cached.
    assert_eq!((cached(&default), cached(&default)), (0, 32));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("extra.yml");
    std::fs::write(&config, "kv_cache_config:\n  enable_block_reuse: false\n").unwrap();
    let off = start_fast("m", &["--config", config.to_str().unwrap()]);
    off.wait_healthy();
    assert_eq!((cached(&off), cached(&off)), (0, 0));
}
