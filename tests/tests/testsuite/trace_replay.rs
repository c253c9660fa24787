//! Traces of a user's own replayed by bench against simserve (a fresh server each time, its
//! prefix cache of 16-token blocks), as issue 18's held-out checks do: the server's usage must
//! show the exact prompt lengths and exactly the shared prefixes of the trace (the test request
//! must not prime the cache), and agentic runs that leave out warm-up turns or cut sessions at
//! the context cap must end in `ok` records through parse-metrics.

use chain_tests::bin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every wait here ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(60);

/// A simserve process, killed when dropped.
struct Sim {
    child: Child,
    addr: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn simserve(dir: &Path) -> Sim {
    let addr_file = dir.join("sim.addr");
    let mut child = Command::new(bin("simserve"))
        .args(["m", "--host", "127.0.0.1", "--port", "0", "--kv-block-size", "16"])
        .args(["--ttft-ms", "1", "--decode-ms-per-step", "1", "--report-addr"])
        .arg(&addr_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            break a;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("simserve exited with {status}");
        }
        assert!(start.elapsed() < DEADLINE, "simserve reported no address");
        std::thread::sleep(Duration::from_millis(20));
    };
    Sim { child, addr }
}

/// 3 sessions × 3 turns with hash ids from 1000 on; turn t has 3 + 2t blocks of 16 tokens,
/// the last one cut by 5 (43, 75, 107 tokens), each turn extending the previous one. Written
/// newest first (the file is not in time order) with two turns due at the same time.
fn growing_sessions(dir: &Path) -> PathBuf {
    let mut lines = Vec::new();
    for s in 0..3u64 {
        for t in 0..3u64 {
            let n = 3 + 2 * t;
            let ids: Vec<String> = (0..n).map(|j| (1000 + s * 100 + j).to_string()).collect();
            lines.push(format!(
                "{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": 3.0, \"hash_ids\": [{}], \"session_id\": \"s{s}\", \"note\": \"x\"}}",
                (s.min(1)) * 10 + t * 60,
                16 * n - 5,
                ids.join(", ")
            ));
        }
    }
    lines.reverse();
    let path = dir.join("trace.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn bench(sim: &Sim, trace: &Path, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("bench"));
    cmd.args(["--model", "m", "--base-url", &format!("http://{}", sim.addr)])
        .args(["--dataset-name", "mooncake", "--block-size", "16", "--dataset-path"])
        .arg(trace)
        .args(["--percentile-metrics", "ttft,tpot,itl,e2el", "--request-timeout", "30"])
        .args(["--save-result", "--result-filename", "r.json", "--result-dir"])
        .arg(dir)
        .args(extra);
    for k in ["AGENTX_DURATION", "AGENTX_WARMUP_PER_LANE", "AGENTX_MAX_CTX"] {
        cmd.env_remove(k);
    }
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "bench: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("bench.log"), &out.stdout).unwrap();
    out
}

fn result(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("r.json")).unwrap()).unwrap()
}

/// parse-metrics' records of `file`, and its exit code.
fn parse_metrics(file: &Path) -> (Vec<Value>, Option<i32>) {
    let out = Command::new(bin("parse-metrics"))
        .args(["--test-id", "agentx"])
        .arg(file)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(), out.status.code())
}

#[test]
fn the_server_sees_exact_lengths_and_exactly_the_traces_shared_prefixes() {
    for backend in ["openai", "openai-chat"] {
        let tmp = tempfile::tempdir().unwrap();
        let sim = simserve(tmp.path());
        let trace = growing_sessions(tmp.path());
        // With the test request (bench's default): it must not prime the cache.
        bench(&sim, &trace, tmp.path(), &["--backend", backend, "--trace-speed", "4"], &[]);
        let v = result(tmp.path());
        // Completions send every turn whole: 43 + 75 + 107 tokens a session; the server
        // cached the previous turn's full blocks: 2 (of 43 tokens) then 4 (of 75).
        // Chat sends the history and the new tokens after the shared blocks: turn 2 is
        // 43 + 3 (answer) + 27, turn 3 is 73 + 3 + 27; cached: 2 then 4 full blocks again.
        let input = if backend == "openai" { 3 * (43 + 75 + 107) } else { 3 * (43 + 73 + 103) };
        assert_eq!(v["total_input_tokens"], input, "{backend}");
        assert_eq!(v["total_cached_tokens"], 3 * (32 + 64), "{backend}");
        assert_eq!((v["sessions"].as_u64(), v["turns"].as_u64()), (Some(3), Some(9)));
        assert_eq!(v["num_prompts"], 9);
        assert_eq!(v["mean_ttft_by_turn_ms"].as_array().unwrap().len(), 3);
        let (records, code) = parse_metrics(&tmp.path().join("r.json"));
        assert_eq!((records.len(), code), (1, Some(0)), "{records:?}");
        assert_eq!(records[0]["status"], "ok", "{}", records[0]);
        let want = 100.0 * 288.0 / input as f64;
        let rate = records[0]["metrics"]["cache_hit_rate"].as_f64().unwrap();
        assert!((rate - want).abs() < 1e-9, "{rate} {want}");
    }
}

#[test]
fn agentic_runs_with_warmup_turns_or_cut_sessions_end_in_ok_records() {
    // (environment, turns measured): 2 lanes × 2 warm-up turns of the 9; a context cap of 80
    // tokens ends each session after its second turn (107 + 3 > 80).
    for (env, measured) in [(("AGENTX_WARMUP_PER_LANE", "2"), 5u64), (("AGENTX_MAX_CTX", "80"), 6)]
    {
        let tmp = tempfile::tempdir().unwrap();
        let sim = simserve(tmp.path());
        let trace = growing_sessions(tmp.path());
        let extra = ["--agentic", "--max-concurrency", "2", "--trace-speed", "10"];
        let out = bench(&sim, &trace, tmp.path(), &extra, &[env]);
        let log = String::from_utf8(out.stdout).unwrap();
        assert!(log.lines().next().unwrap().contains(" num_prompts=None,"), "{log}");
        let v = result(tmp.path());
        assert_eq!(
            (v["completed"].as_u64(), v["turns"].as_u64()),
            (Some(measured), Some(measured))
        );
        assert_eq!(v["sessions"], 3, "{env:?}");
        for file in [tmp.path().join("r.json"), tmp.path().join("bench.log")] {
            let (records, code) = parse_metrics(&file);
            assert_eq!((records.len(), code), (1, Some(0)), "{env:?} {records:?}");
            let r = &records[0];
            assert_eq!(r["status"], "ok", "{env:?}: {r}");
            assert_eq!(r["counts"]["successful_requests"], measured, "{r}");
            assert_eq!(r["metrics"]["turns"], measured as f64, "{r}");
        }
    }
}
