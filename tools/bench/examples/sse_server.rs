//! sse_server: a fixed-timing OpenAI-compatible SSE server (bench's test server) for
//! `cargo xtask bench client`. Prints its `host:port` on stdout, then serves until killed.
//!
//! Usage: sse_server [--port P] [--ttft-ms MS] [--itl-ms MS] [--fail-every N] [--threads N] [--record 0|1]

use bench::testserver::{serve, Timing};
use std::time::Duration;

fn main() {
    let mut timing = Timing::default();
    let (mut port, mut threads) = (0u16, 1usize);
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let (flag, value) = match pair {
            [f, v] => (f.as_str(), v.as_str()),
            _ => usage(),
        };
        let ms = || value.parse::<f64>().map(Duration::from_secs_f64).map(|d| d / 1000);
        match flag {
            "--port" => port = value.parse().unwrap_or_else(|_| usage()),
            "--ttft-ms" => timing.ttft = ms().unwrap_or_else(|_| usage()),
            "--itl-ms" => timing.itl = ms().unwrap_or_else(|_| usage()),
            "--fail-every" => timing.fail_every = value.parse().unwrap_or_else(|_| usage()),
            "--threads" => threads = value.parse().unwrap_or_else(|_| usage()),
            // 1: keep requests (GET /requests) and answer a stand-in cached_tokens.
            "--record" => timing.record = value == "1",
            _ => usage(),
        }
    }
    bench::fds::reserve(65536); // before any thread: see bench::fds
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| fail(&format!("bind 127.0.0.1:{port}: {e}")));
        let addr = listener.local_addr().unwrap_or_else(|e| fail(&e.to_string()));
        let _ = perfline::cli::out_line(addr);
        serve(listener, timing).await;
    });
}

fn usage() -> ! {
    fail("usage: sse_server [--port P] [--ttft-ms MS] [--itl-ms MS] [--fail-every N] [--threads N] [--record 0|1]")
}

fn fail(msg: &str) -> ! {
    perfline::cli::diag("sse_server", "error", msg);
    std::process::exit(64)
}
