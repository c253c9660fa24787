//! Conversation routing against round robin, measured by bench replaying one Mooncake trace
//! through simserve's disaggregated router over two context servers with a prefix cache:
//! keeping each session on one context server must raise the cache hit rate and lower the mean
//! time to first token. The timing model makes prefill dominate (0.3 ms per uncached token),
//! so the gap is hundreds of ms per turn, far beyond scheduling noise; only the ordering of
//! the two measured values is asserted.

use chain_tests::bin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

fn start(dir: &Path, name: &str, args: &[&str]) -> Sim {
    let addr_file = dir.join(format!("{name}.addr"));
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let mut child = Command::new(bin("simserve"))
        .args(args)
        .arg("--report-addr")
        .arg(&addr_file)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            break a;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("simserve {name} exited with {status}");
        }
        assert!(start.elapsed() < DEADLINE, "simserve {name} reported no address");
        std::thread::sleep(Duration::from_millis(20));
    };
    Sim { child, addr }
}

/// 3 sessions × 4 turns, round by round, 400 ms apart; blocks of 64 tokens. Each session has a
/// 1024-token history of its own (16 hash ids) and each turn adds one block.
fn trace(dir: &Path) -> PathBuf {
    let mut text = String::new();
    let mut at = 0;
    for turn in 0..4u64 {
        for session in 0..3u64 {
            let ids: Vec<String> =
                (0..16 + turn + 1).map(|i| (session * 1000 + i).to_string()).collect();
            text.push_str(&format!(
                "{{\"timestamp\": {at}, \"input_length\": {}, \"output_length\": 2, \"hash_ids\": [{}], \"session_id\": \"s{session}\"}}\n",
                64 * ids.len(),
                ids.join(", ")
            ));
            at += 400;
        }
    }
    let path = dir.join("trace.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

/// Replays the trace with bench through a fresh router of `routing`: bench's result JSON.
fn replay(dir: &Path, routing: &str) -> Value {
    let dir = dir.join(routing);
    std::fs::create_dir_all(&dir).unwrap();
    let fast =
        ["--host", "127.0.0.1", "--port", "0", "--ttft-ms", "1", "--decode-ms-per-step", "1"];
    let cache = ["--kv-cache-blocks", "4096", "--kv-block-size", "64"];
    let ctx_args: Vec<&str> =
        [&["m"][..], &fast, &cache, &["--prefill-ms-per-token", "0.3"]].concat();
    let ctx = [start(&dir, "ctx0", &ctx_args), start(&dir, "ctx1", &ctx_args)];
    let gen = start(&dir, "gen", &[&["m"][..], &fast].concat());
    let config = dir.join("server_config.yaml");
    std::fs::write(
        &config,
        format!(
            "hostname: 127.0.0.1\nport: 0\ncontext_servers:\n  num_instances: 2\n  urls: [\"{}\", \"{}\"]\n\
             generation_servers:\n  num_instances: 1\n  urls: [\"{}\"]\nctx_router_config:\n  type: {routing}\n",
            ctx[0].addr, ctx[1].addr, gen.addr
        ),
    )
    .unwrap();
    let router = start(&dir, "router", &["disaggregated", "-c", config.to_str().unwrap()]);
    let (host, port) = router.addr.rsplit_once(':').unwrap();
    let trace = trace(&dir);
    let out = Command::new(bin("bench"))
        .args(["--model", "m", "--host", host, "--port", port, "--ignore-eos"])
        .args(["--dataset-name", "mooncake", "--block-size", "64", "--dataset-path"])
        .arg(&trace)
        .args(["--save-result", "--result-filename", "result.json", "--result-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "bench: {}", String::from_utf8_lossy(&out.stderr));
    let result = std::fs::read_to_string(dir.join("result.json")).unwrap();
    let result: Value = serde_json::from_str(&result).unwrap();
    drop((ctx, gen, router));
    result
}

#[test]
fn conversation_routing_raises_the_hit_rate_and_lowers_mean_ttft_on_one_trace() {
    for tool in ["simserve", "bench"] {
        bin(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let conversation = replay(tmp.path(), "conversation");
    let round_robin = replay(tmp.path(), "round_robin");
    let figure = |r: &Value, k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k}: {r}"));
    for r in [&conversation, &round_robin] {
        assert_eq!((figure(r, "turns"), figure(r, "sessions")), (12.0, 3.0), "{r}");
    }
    let (hits_c, hits_r) =
        (figure(&conversation, "cache_hit_rate"), figure(&round_robin, "cache_hit_rate"));
    let (ttft_c, ttft_r) =
        (figure(&conversation, "mean_ttft_ms"), figure(&round_robin, "mean_ttft_ms"));
    eprintln!(
        "cache hit rate: conversation {hits_c:.1} %, round robin {hits_r:.1} %; \
         mean TTFT: conversation {ttft_c:.1} ms, round robin {ttft_r:.1} ms"
    );
    assert!(hits_c > hits_r, "hit rate: conversation {hits_c}, round robin {hits_r}");
    assert!(ttft_c < ttft_r, "mean TTFT: conversation {ttft_c}, round robin {ttft_r}");
}
