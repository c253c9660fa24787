//! The load generator: sends the requests on schedule over HTTP/1.1 (one connection per
//! in-flight stream, reused when idle, never capped below `--max-concurrency`) and timestamps
//! every SSE event when its frame is read.

use crate::dataset::{Prompt, Request};
use crate::sse::SseParser;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `/v1/completions` with `prompt`.
    Openai,
    /// `/v1/chat/completions` with `messages`.
    OpenaiChat,
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` to connect to.
    pub authority: String,
    /// Request path, e.g. `/v1/completions`.
    pub path: String,
    pub backend: Backend,
    pub model: String,
    pub stream: bool,
    pub ignore_eos: bool,
    /// `Authorization: Bearer …` from the environment, never from argv.
    pub api_key: Option<String>,
    pub timeout: Duration,
}

/// What happened to one request. Times are seconds; `scheduled` and `sent` are offsets from
/// the benchmark start, the latencies are measured from `sent` (or from `scheduled` with
/// `--include-queueing`, applied by the caller).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub error: Option<String>,
    pub scheduled: f64,
    pub sent: f64,
    pub ttft: f64,
    pub itls: Vec<f64>,
    pub latency: f64,
    /// Output tokens: the server's `usage.completion_tokens`, else the number of content events.
    pub output_tokens: usize,
    /// The server's `usage.prompt_tokens`, when sent.
    pub prompt_tokens: Option<usize>,
    /// Seconds spent opening a new connection (0 when an idle one was reused); part of TTFT.
    pub connect: f64,
    /// `CLOCK_MONOTONIC` (ns) when the frame with the first content event was read; 0: none.
    pub first_token_mono_ns: u64,
    /// The `id` of the first content event (the server's completion id), when it has one.
    pub response_id: Option<String>,
}

/// The JSON body of one request, serialised before the run so dispatch costs nothing.
pub fn request_body(target: &Target, req: &Request) -> Bytes {
    let prompt = match &req.prompt {
        Prompt::Text(t) => json!(t),
        Prompt::Ids(ids) => json!(ids),
    };
    let mut body = match target.backend {
        Backend::Openai => {
            json!({"model": target.model, "prompt": prompt, "max_tokens": req.output_len})
        }
        Backend::OpenaiChat => json!({
            "model": target.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_completion_tokens": req.output_len,
        }),
    };
    if let Some(obj) = body.as_object_mut() {
        obj.insert("temperature".into(), json!(0.0));
        obj.insert("stream".into(), json!(target.stream));
        if target.stream {
            obj.insert("stream_options".into(), json!({"include_usage": true}));
        }
        if target.ignore_eos {
            obj.insert("ignore_eos".into(), json!(true));
        }
    }
    Bytes::from(body.to_string())
}

/// Idle connections, reused by the next request; their number is bounded by the number of
/// requests in flight, i.e. by `--max-concurrency`.
#[derive(Default)]
struct Pool(Mutex<Vec<SendRequest<Full<Bytes>>>>);

impl Pool {
    fn take(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.0.lock().ok()?;
        while let Some(s) = idle.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }
    fn put(&self, s: SendRequest<Full<Bytes>>) {
        if let Ok(mut idle) = self.0.lock() {
            idle.push(s);
        }
    }
}

/// Shared state of one run.
pub struct Client {
    target: Target,
    pool: Pool,
    pub done: AtomicUsize,
    pub failed: AtomicUsize,
}

impl Client {
    pub fn new(target: Target) -> Arc<Client> {
        Arc::new(Client {
            target,
            pool: Pool::default(),
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        })
    }

    /// Sends every body at `start + arrivals[i]`, at most `max_concurrency` at a time, and
    /// returns the outcomes in request order.
    pub async fn run(
        self: &Arc<Client>,
        bodies: Vec<Bytes>,
        arrivals: &[Duration],
        max_concurrency: Option<usize>,
        start: Instant,
    ) -> Vec<Outcome> {
        let limit = max_concurrency.map(|n| Arc::new(Semaphore::new(n.max(1))));
        let mut tasks = Vec::with_capacity(bodies.len());
        for (body, &at) in bodies.into_iter().zip(arrivals) {
            let due = start + at;
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
            let client = Arc::clone(self);
            let limit = limit.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = match limit {
                    Some(sem) => sem.acquire_owned().await.ok(),
                    None => None,
                };
                client.one(body, due, start).await
            }));
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        for t in tasks {
            outcomes.push(t.await.unwrap_or_else(|e| Outcome {
                error: Some(format!("request task failed: {e}")),
                ..Outcome::default()
            }));
        }
        outcomes
    }

    /// One request with its deadline; never fails, errors land in the outcome.
    async fn one(&self, body: Bytes, due: Instant, start: Instant) -> Outcome {
        let sent = Instant::now();
        let mut out = Outcome {
            scheduled: due.saturating_duration_since(start).as_secs_f64(),
            sent: sent.saturating_duration_since(start).as_secs_f64(),
            ..Outcome::default()
        };
        let result = tokio::time::timeout(self.target.timeout, self.exchange(body, sent, &mut out))
            .await
            .unwrap_or_else(|_| {
                Err(format!("no complete response within {} s", self.target.timeout.as_secs_f64()))
            });
        if let Err(e) = result {
            out.error = Some(e);
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        out
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(&self.target.authority)
            .await
            .map_err(|e| format!("connect {}: {e}", self.target.authority))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(conn);
        Ok(sender)
    }

    async fn exchange(&self, body: Bytes, sent: Instant, out: &mut Outcome) -> Result<(), String> {
        let mut sender = match self.pool.take() {
            Some(s) => s,
            None => {
                let sender = self.connect().await?;
                out.connect = sent.elapsed().as_secs_f64();
                sender
            }
        };
        let t = &self.target;
        let mut req = hyper::Request::post(t.path.as_str())
            .header(hyper::header::HOST, t.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &t.api_key {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let req = req.body(Full::new(body)).map_err(|e| format!("request: {e}"))?;
        let resp = sender.send_request(req).await.map_err(|e| format!("send: {e}"))?;
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(format!("HTTP {}: {}", status.as_u16(), text.trim()));
        }
        if t.stream {
            read_stream(&mut body, t.backend, sent, out).await?;
        } else {
            let bytes = body.collect().await.map_err(|e| format!("read: {e}"))?.to_bytes();
            let elapsed = sent.elapsed().as_secs_f64();
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("response: {e}"))?;
            if let Some(err) = v.get("error") {
                return Err(format!("server error: {err}"));
            }
            read_usage(&v, out);
            if out.output_tokens == 0 {
                out.output_tokens = choice_text(&v, t.backend).split_whitespace().count();
            }
            out.ttft = elapsed;
            out.latency = elapsed;
        }
        self.pool.put(sender);
        Ok(())
    }
}

/// Reads an SSE body; TTFT, ITL and latency as benchmark_serving defines them: TTFT = first
/// content event − send, ITL = gaps between content events, latency = last content event − send.
async fn read_stream(
    body: &mut hyper::body::Incoming,
    backend: Backend,
    sent: Instant,
    out: &mut Outcome,
) -> Result<(), String> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut last: Option<Instant> = None;
    let mut chunks = 0;
    let mut usage_tokens = None;
    let mut done = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("read: {e}"))?;
        let now = Instant::now();
        // Until the first token: the same instant on a clock another process can read.
        let mono_ns = if last.is_none() { crate::clock::monotonic_ns() } else { 0 };
        let Ok(data) = frame.into_data() else { continue };
        parser.push(&data, &mut events);
        for payload in events.drain(..) {
            if payload == "[DONE]" {
                done = true;
                continue;
            }
            let v: Value = serde_json::from_str(&payload)
                .map_err(|e| format!("bad SSE event {:?}: {e}", truncate(&payload)))?;
            if let Some(err) = v.get("error") {
                return Err(format!("server error: {err}"));
            }
            if is_content(&v, backend) {
                match last {
                    None => {
                        out.ttft = (now - sent).as_secs_f64();
                        out.first_token_mono_ns = mono_ns;
                        out.response_id = v.get("id").and_then(Value::as_str).map(str::to_string);
                    }
                    Some(prev) => out.itls.push((now - prev).as_secs_f64()),
                }
                last = Some(now);
                chunks += 1;
            }
            let before = out.output_tokens;
            read_usage(&v, out);
            if out.output_tokens != before {
                usage_tokens = Some(out.output_tokens);
            }
        }
    }
    let _ = done; // streams without [DONE] (some servers) are complete at end of body
    let Some(last) = last else { return Err("stream ended without a token".into()) };
    out.latency = (last - sent).as_secs_f64();
    out.output_tokens = usage_tokens.unwrap_or(chunks);
    Ok(())
}

/// A token event: completions with choices (benchmark_serving counts every such chunk); chat
/// deltas that carry content (the role-only first delta is not a token).
fn is_content(v: &Value, backend: Backend) -> bool {
    let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else { return false };
    match backend {
        Backend::Openai => true,
        Backend::OpenaiChat => choice.get("delta").is_some_and(|d| {
            ["content", "reasoning_content", "reasoning"]
                .iter()
                .any(|k| d.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty()))
        }),
    }
}

fn read_usage(v: &Value, out: &mut Outcome) {
    let Some(usage) = v.get("usage").filter(|u| u.is_object()) else { return };
    if let Some(n) = usage.get("completion_tokens").and_then(Value::as_u64) {
        out.output_tokens = n as usize;
    }
    if let Some(n) = usage.get("prompt_tokens").and_then(Value::as_u64) {
        out.prompt_tokens = Some(n as usize);
    }
}

fn choice_text(v: &Value, backend: Backend) -> &str {
    let choice = v.get("choices").and_then(|c| c.get(0));
    let text = match backend {
        Backend::Openai => choice.and_then(|c| c.get("text")),
        Backend::OpenaiChat => choice.and_then(|c| c.get("message")).and_then(|m| m.get("content")),
    };
    text.and_then(Value::as_str).unwrap_or("")
}

fn truncate(s: &str) -> &str {
    let end = s.char_indices().nth(80).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(backend: Backend) -> Target {
        Target {
            authority: "127.0.0.1:1".into(),
            path: "/v1/completions".into(),
            backend,
            model: "m".into(),
            stream: true,
            ignore_eos: true,
            api_key: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn bodies() {
        let req = Request { prompt: Prompt::Ids(vec![5, 6]), prompt_len: 2, output_len: 3 };
        let v: Value =
            serde_json::from_slice(&request_body(&target(Backend::Openai), &req)).unwrap();
        assert_eq!(
            v,
            json!({"model":"m","prompt":[5,6],"max_tokens":3,"temperature":0.0,"stream":true,
                   "stream_options":{"include_usage":true},"ignore_eos":true})
        );
        let req = Request { prompt: Prompt::Text("hi".into()), prompt_len: 1, output_len: 3 };
        let v: Value =
            serde_json::from_slice(&request_body(&target(Backend::OpenaiChat), &req)).unwrap();
        assert_eq!(v["messages"], json!([{"role":"user","content":"hi"}]));
        assert_eq!(v["max_completion_tokens"], 3);
    }

    #[test]
    fn content_events() {
        let chunk = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert!(is_content(&chunk(r#"{"choices":[{"text":""}]}"#), Backend::Openai));
        assert!(!is_content(&chunk(r#"{"choices":[],"usage":{}}"#), Backend::Openai));
        assert!(!is_content(
            &chunk(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#),
            Backend::OpenaiChat
        ));
        assert!(is_content(
            &chunk(r#"{"choices":[{"delta":{"content":"x"}}]}"#),
            Backend::OpenaiChat
        ));
        let mut o = Outcome::default();
        read_usage(&chunk(r#"{"usage":{"prompt_tokens":4,"completion_tokens":7}}"#), &mut o);
        assert_eq!((o.output_tokens, o.prompt_tokens), (7, Some(4)));
    }
}
