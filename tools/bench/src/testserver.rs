//! A fixed-timing OpenAI-compatible SSE server for bench's tests and `cargo xtask bench
//! client`: the first token leaves `ttft` after the request body was read (on a precise timer
//! thread, not tokio's millisecond wheel), then one token every `itl`. It answers
//! `/v1/completions`, `/v1/chat/completions` (streaming or not) and `/health`, and can fail
//! every Nth request with a 500.
//!
//! For each stream it records when the first token event was written to the socket (right
//! after the `write(2)` that carried it returned), on `CLOCK_MONOTONIC` and `CLOCK_REALTIME`,
//! keyed by the completion `id` it sent (`cmpl-N`) and the request's `x-request-id` header:
//! `GET /first_tokens` returns them (then resets), so a harness can subtract them from the
//! client's own first-token read times and separate the client's error from the server's.

use crate::clock;
use crate::stats::Summary;
pub use crate::timer::PreciseTimer;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Longer requests are cut to this (keeps the timing arithmetic in range).
const MAX_TOKENS: u64 = 1 << 20;

/// The server's known timing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub ttft: Duration,
    pub itl: Duration,
    /// Answer every Nth request (1-based count) with HTTP 500; 0 = never.
    pub fail_every: u64,
    /// Keep every completion request (`GET /requests` returns them) and answer
    /// `usage.prompt_tokens_details.cached_tokens`: the prompt's tokens in common with the
    /// previous prompt of the same `X-Session-Id` (0 without one), a stand-in prefix cache.
    pub record: bool,
}

/// Serves until the listener fails; one task per connection.
pub async fn serve(listener: TcpListener, timing: Timing) {
    let state = Arc::new(State {
        timing,
        count: AtomicU64::new(0),
        timer: PreciseTimer::start(),
        first_token_late_us: Mutex::new(Vec::new()),
        first_request_wait_us: Mutex::new(Vec::new()),
        first_tokens: Mutex::new(Vec::new()),
        requests: Mutex::new(Vec::new()),
        last_prompt: Mutex::new(std::collections::HashMap::new()),
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let accepted = Instant::now();
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
            let slot: Slot = Arc::default();
            let io = Stamped { inner: stream, slot: Arc::clone(&slot), state: Arc::clone(&state) };
            let service = hyper::service::service_fn(move |req| {
                // The first request's wait after accept: server-side delay the TTFT clock misses.
                if first.swap(false, Ordering::Relaxed) {
                    if let Ok(mut w) = state.first_request_wait_us.lock() {
                        w.push(accepted.elapsed().as_micros() as f64);
                    }
                }
                handle(Arc::clone(&state), Arc::clone(&slot), req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(io), service)
                .await;
        });
    }
}

pub struct State {
    timing: Timing,
    count: AtomicU64,
    timer: PreciseTimer,
    first_token_late_us: Mutex<Vec<f64>>,
    first_request_wait_us: Mutex<Vec<f64>>,
    first_tokens: Mutex<Vec<FirstToken>>,
    /// `Timing::record`: `{"session": …, "body": …}` of each request.
    requests: Mutex<Vec<Value>>,
    last_prompt: Mutex<std::collections::HashMap<String, Vec<String>>>,
}

/// One stream's first token as written: its keys and the clocks right after the write.
struct FirstToken {
    id: String,
    x_request_id: Option<String>,
    mono_ns: u64,
    real_ns: u64,
    late_us: f64,
}

/// The first token a connection's body handed to hyper, waiting for the write that carries
/// it (HTTP/1.1: one response at a time per connection).
struct Pending {
    id: String,
    x_request_id: Option<String>,
    due: Instant,
}

type Slot = Arc<Mutex<Option<Pending>>>;

/// The connection's socket; the first successful write after a body filled the slot carries
/// that stream's first token, and is timestamped when it returns.
struct Stamped {
    inner: TcpStream,
    slot: Slot,
    state: Arc<State>,
}

impl Stamped {
    fn stamp(&self) {
        let Some(p) = self.slot.lock().ok().and_then(|mut s| s.take()) else { return };
        let mono_ns = clock::monotonic_ns();
        let real_ns = clock::realtime_ns();
        let late_us = Instant::now().saturating_duration_since(p.due).as_micros() as f64;
        if let Ok(mut late) = self.state.first_token_late_us.lock() {
            late.push(late_us);
        }
        if let Ok(mut v) = self.state.first_tokens.lock() {
            v.push(FirstToken {
                id: p.id,
                x_request_id: p.x_request_id,
                mono_ns,
                real_ns,
                late_us,
            });
        }
    }
}

impl AsyncRead for Stamped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(_))) {
            self.stamp();
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(_))) {
            self.stamp();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body fed through a channel by the task that paces the tokens. For streams its
/// first frame fills the connection's slot, so the write that carries it is timestamped: how
/// late the first token left against its due time is the server's own share of any TTFT
/// error (`/stats`), and the write time itself is `/first_tokens`'s.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    first: Option<(Pending, Slot)>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let polled = self.rx.poll_recv(cx);
        if matches!(polled, Poll::Ready(Some(_))) {
            if let Some((pending, slot)) = self.first.take() {
                if let Ok(mut s) = slot.lock() {
                    *s = Some(pending);
                }
            }
        }
        polled.map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// `/stats`: percentiles of the first tokens' lateness, and of the wait from accepting a
/// connection to its first request, since the last call (then reset).
fn stats(state: &State) -> String {
    let take =
        |m: &Mutex<Vec<f64>>| m.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
    let late = take(&state.first_token_late_us);
    let wait = take(&state.first_request_wait_us);
    let (l, w) = (Summary::of(&late, &[50.0, 99.0]), Summary::of(&wait, &[50.0, 99.0]));
    let p = |s: &Summary, i: usize| s.percentiles.get(i).map_or(0.0, |p| p.1);
    json!({"first_tokens": late.len(), "late_us_p50": p(&l, 0), "late_us_p99": p(&l, 1),
           "late_us_max": l.max, "connections": wait.len(),
           "accept_to_request_us_p99": p(&w, 1), "accept_to_request_us_max": w.max})
    .to_string()
}

/// `/first_tokens`: every stream's first-token write since the last call (then reset):
/// `{"first_tokens": [{"id", "x_request_id", "mono_ns", "real_ns", "late_us"}, …]}`.
fn first_tokens(state: &State) -> String {
    let v = state.first_tokens.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
    let rows: Vec<Value> = v
        .into_iter()
        .map(|f| {
            json!({"id": f.id, "x_request_id": f.x_request_id, "mono_ns": f.mono_ns,
                   "real_ns": f.real_ns, "late_us": f.late_us})
        })
        .collect();
    json!({ "first_tokens": rows }).to_string()
}

fn whole(status: StatusCode, content_type: &str, body: String) -> Response<ChannelBody> {
    let (tx, rx) = mpsc::channel(1);
    let len = body.len();
    let _ = tx.try_send(Bytes::from(body));
    let mut resp = Response::new(ChannelBody { rx, first: None });
    resp.headers_mut().insert(hyper::header::CONTENT_LENGTH, len.into());
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

async fn handle(
    state: Arc<State>,
    slot: Slot,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<ChannelBody>, Infallible> {
    let path = req.uri().path().to_string();
    let chat = path == "/v1/chat/completions";
    if path == "/health" {
        return Ok(whole(StatusCode::OK, "text/plain", String::new()));
    }
    if path == "/stats" {
        return Ok(whole(StatusCode::OK, "application/json", stats(&state)));
    }
    if path == "/first_tokens" {
        return Ok(whole(StatusCode::OK, "application/json", first_tokens(&state)));
    }
    if path == "/requests" {
        let v = state.requests.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        return Ok(whole(StatusCode::OK, "application/json", Value::Array(v).to_string()));
    }
    if path != "/v1/completions" && !chat {
        return Ok(whole(StatusCode::NOT_FOUND, "text/plain", format!("no route {path}")));
    }
    let header = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let x_request_id = header("x-request-id");
    let session = header("x-session-id");
    let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let received = Instant::now();
    let n = state.count.fetch_add(1, Ordering::Relaxed) + 1;
    let t = state.timing;
    if t.fail_every > 0 && n.is_multiple_of(t.fail_every) {
        let err = json!({"error": {"message": "injected failure", "code": 500}});
        return Ok(whole(StatusCode::INTERNAL_SERVER_ERROR, "application/json", err.to_string()));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(whole(StatusCode::BAD_REQUEST, "text/plain", "bad JSON".into()));
    };
    let max_tokens = ["max_tokens", "max_completion_tokens"]
        .iter()
        .find_map(|k| body.get(k).and_then(Value::as_u64))
        .unwrap_or(16)
        .min(MAX_TOKENS);
    let prompt_tokens = match body.get("prompt") {
        Some(Value::Array(ids)) => ids.len(),
        Some(Value::String(s)) => s.split_whitespace().count(),
        _ => body["messages"].as_array().map_or(0, |m| {
            m.iter()
                .map(|m| m["content"].as_str().map_or(0, |c| c.split_whitespace().count()))
                .sum()
        }),
    } as u64;
    let model = body["model"].as_str().unwrap_or("model").to_string();
    let mut usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": max_tokens,
                       "total_tokens": prompt_tokens + max_tokens});
    if t.record {
        let units = prompt_units(&body);
        let cached = match (&session, state.last_prompt.lock()) {
            (Some(s), Ok(mut last)) => {
                let prev = last.insert(s.clone(), units.clone()).unwrap_or_default();
                prev.iter().zip(&units).take_while(|(a, b)| a == b).count()
            }
            _ => 0,
        };
        usage["prompt_tokens_details"] = json!({ "cached_tokens": cached });
        if let Ok(mut r) = state.requests.lock() {
            r.push(json!({"session": session, "body": body}));
        }
    }
    let first = received + t.ttft;
    if !body["stream"].as_bool().unwrap_or(false) {
        let done = first + t.itl * (max_tokens.saturating_sub(1) as u32);
        state.timer.sleep_until(done).await;
        let text = "tok ".repeat(max_tokens as usize);
        let choice = if chat {
            json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"})
        } else {
            json!({"index": 0, "text": text, "finish_reason": "length"})
        };
        let object = if chat { "chat.completion" } else { "text_completion" };
        let resp = json!({"id": format!("cmpl-{n}"), "object": object, "created": 0,
                          "model": model, "choices": [choice], "usage": usage});
        return Ok(whole(StatusCode::OK, "application/json", resp.to_string()));
    }
    // Every token event is the same bytes: build them once.
    let choice = if chat {
        json!({"index": 0, "delta": {"content": "tok "}, "finish_reason": null})
    } else {
        json!({"index": 0, "text": "tok ", "finish_reason": null})
    };
    let object = if chat { "chat.completion.chunk" } else { "text_completion" };
    let id = format!("cmpl-{n}");
    let event = Bytes::from(format!(
        "data: {}\n\n",
        json!({"id": id, "object": object, "created": 0, "model": model, "choices": [choice]})
    ));
    let include_usage = body["stream_options"]["include_usage"].as_bool().unwrap_or(false);
    let (tx, rx) = mpsc::channel(4);
    let timer = state.timer.clone();
    tokio::spawn(async move {
        timer.sleep_until(first).await;
        for i in 0..max_tokens {
            if i > 0 && !t.itl.is_zero() {
                tokio::time::sleep_until((first + t.itl * i as u32).into()).await;
            }
            if tx.send(event.clone()).await.is_err() {
                return; // client went away
            }
        }
        if include_usage {
            let tail = json!({"id": id, "object": object, "created": 0, "model": model,
                               "choices": [], "usage": usage});
            let _ = tx.send(Bytes::from(format!("data: {tail}\n\n"))).await;
        }
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    let pending = Pending { id: format!("cmpl-{n}"), x_request_id, due: first };
    let mut resp = Response::new(ChannelBody { rx, first: Some((pending, slot)) });
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    Ok(resp)
}

/// A prompt's tokens as the test server counts them: token ids, or whitespace-separated words
/// of the prompt or of every message in order.
fn prompt_units(body: &Value) -> Vec<String> {
    let words = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(ids) => ids.iter().map(Value::to_string).collect(),
            Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        }
    };
    match body.get("prompt") {
        Some(p) => words(p),
        None => body["messages"]
            .as_array()
            .map(|m| m.iter().flat_map(|m| words(&m["content"])).collect())
            .unwrap_or_default(),
    }
}

/// Binds 127.0.0.1:0 and serves on a runtime of its own in a background thread (for tests);
/// returns the bound address.
pub fn spawn_background(timing: Timing) -> std::io::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            if let Ok(l) = TcpListener::from_std(listener) {
                serve(l, timing).await;
            }
        })
    });
    Ok(addr)
}
