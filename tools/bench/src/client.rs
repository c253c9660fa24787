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
use tokio::sync::mpsc;

/// What the server accepts beyond the standard OpenAI request (`--api`, the profile's `api`).
///
/// | flavour         | `ignore_eos` | token-id prompts | `stream_options` | chat length field       |
/// |-----------------|--------------|------------------|------------------|-------------------------|
/// | `trtllm`        | yes          | yes              | yes              | `max_completion_tokens` |
/// | `vllm`          | yes          | yes              | yes              | `max_completion_tokens` |
/// | `openai-strict` | no           | no (text only)   | no               | `max_tokens`            |
///
/// `openai-strict` is what `transformers serve` 5.x accepts: unknown fields are a 422, token
/// ids a 400, `max_completion_tokens` and `stream_options` are refused (older versions ignored
/// `max_completion_tokens` and generated up to the model's default length), `max_tokens` is
/// honoured and usage is sent at the end of a stream without being asked.
pub use perfline_slurm::Api;

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
    pub api: Api,
    pub model: String,
    pub stream: bool,
    pub ignore_eos: bool,
    /// `Authorization: Bearer …` from the environment, never from argv.
    pub api_key: Option<String>,
    pub timeout: Duration,
    /// Keep each response's text in [`Outcome::text`] (to count its tokens with a tokenizer).
    pub keep_text: bool,
}

/// What happened to one request. Times are seconds; `scheduled`, `intended` and `sent` are
/// offsets from the benchmark start, the latencies are measured from `sent` (or from
/// `scheduled` with `--include-queueing`, applied by the caller).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub error: Option<String>,
    /// When the request was due by its arrival time.
    pub scheduled: f64,
    /// When it should have been sent: the later of `scheduled` and the moment a concurrency
    /// slot became free (the end of the request that held it). `sent − intended` is the
    /// client's dispatch delay, its own lateness; `intended − scheduled` is queueing.
    pub intended: f64,
    pub sent: f64,
    pub ttft: f64,
    pub itls: Vec<f64>,
    pub latency: f64,
    /// Output tokens: the server's `usage.completion_tokens`, else the number of content events
    /// (or the tokens of `text` counted by the caller's tokenizer).
    pub output_tokens: usize,
    /// `output_tokens` came from the server's usage.
    pub usage_output: bool,
    /// The generated text, when [`Target::keep_text`].
    pub text: String,
    /// The server's `usage.prompt_tokens`, when sent.
    pub prompt_tokens: Option<usize>,
    /// Seconds spent opening a new connection (0 when an idle one was reused); part of TTFT.
    pub connect: f64,
    /// `CLOCK_MONOTONIC` (ns) when the frame with the first content event was read; 0: none.
    pub first_token_mono_ns: u64,
    /// The `id` of the first content event (the server's completion id), when it has one.
    pub response_id: Option<String>,
    /// The server's `usage.prompt_tokens_details.cached_tokens`, when sent.
    pub cached_tokens: Option<usize>,
    /// Trace replay: the turn's 1-based index in its session (0: not a trace request).
    pub turn: usize,
    /// Trace replay: which conversation (session replay) the request belongs to.
    pub conversation: usize,
}

/// The JSON body of one request, serialised before the run so dispatch costs nothing.
pub fn request_body(target: &Target, req: &Request) -> Bytes {
    let prompt = match &req.prompt {
        Prompt::Text(t) => json!(t),
        Prompt::Ids(ids) => json!(ids),
    };
    let messages = json!([{"role": "user", "content": prompt}]);
    body(target, prompt, messages, req.output_len)
}

/// A chat request's body with the whole conversation so far (trace replay's history), the
/// same fields as [`request_body`]'s chat body; the history is serialised in place, not copied
/// (it can be a million tokens per lane).
pub fn chat_body(target: &Target, messages: &[Value], output_len: usize) -> Bytes {
    #[derive(serde::Serialize)]
    struct Chat<'a> {
        model: &'a str,
        messages: &'a [Value],
        #[serde(skip_serializing_if = "Option::is_none")]
        max_tokens: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_completion_tokens: Option<usize>,
        temperature: f64,
        stream: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        stream_options: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ignore_eos: Option<bool>,
    }
    let strict = target.api == Api::OpenaiStrict;
    let chat = Chat {
        model: &target.model,
        messages,
        max_tokens: strict.then_some(output_len),
        max_completion_tokens: (!strict).then_some(output_len),
        temperature: 0.0,
        stream: target.stream,
        stream_options: (target.stream && target.api.extensions())
            .then(|| json!({"include_usage": true})),
        ignore_eos: target.ignore_eos.then_some(true),
    };
    Bytes::from(serde_json::to_vec(&chat).unwrap_or_default())
}

/// The body: `prompt` for completions, `messages` for chat, with the flavour's fields.
fn body(target: &Target, prompt: Value, messages: Value, output_len: usize) -> Bytes {
    let mut body = match (target.backend, target.api) {
        (Backend::Openai, _) => {
            json!({"model": target.model, "prompt": prompt, "max_tokens": output_len})
        }
        (Backend::OpenaiChat, Api::OpenaiStrict) => json!({
            "model": target.model,
            "messages": messages,
            "max_tokens": output_len,
        }),
        (Backend::OpenaiChat, _) => json!({
            "model": target.model,
            "messages": messages,
            "max_completion_tokens": output_len,
        }),
    };
    if let Some(obj) = body.as_object_mut() {
        obj.insert("temperature".into(), json!(0.0));
        obj.insert("stream".into(), json!(target.stream));
        if target.stream && target.api.extensions() {
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
    /// returns the outcomes in request order. A request waiting for a slot is due when the
    /// request that held the slot ended (its `intended` time).
    pub async fn run(
        self: &Arc<Client>,
        bodies: Vec<Bytes>,
        arrivals: &[Duration],
        max_concurrency: Option<usize>,
        start: Instant,
    ) -> Vec<Outcome> {
        // Free slots, each with the instant it became free.
        let (free_tx, mut free_rx) = mpsc::unbounded_channel::<Instant>();
        if let Some(n) = max_concurrency {
            for _ in 0..n.clamp(1, bodies.len().max(1)) {
                let _ = free_tx.send(start);
            }
        }
        let mut tasks = Vec::with_capacity(bodies.len());
        for (body, &at) in bodies.into_iter().zip(arrivals) {
            let due = start + at;
            let intended = match max_concurrency {
                Some(_) => free_rx.recv().await.map_or(due, |freed| due.max(freed)),
                None => due,
            };
            if intended > Instant::now() {
                tokio::time::sleep_until(intended.into()).await;
            }
            let client = Arc::clone(self);
            // Gives the slot back when the request ends, even if its task panics.
            let release = Release(max_concurrency.map(|_| free_tx.clone()));
            tasks.push(tokio::spawn(async move {
                let _release = release;
                client.one(body, None, (due, intended), start).await
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

    /// One request with its deadline, sent now; never fails, errors land in the outcome.
    /// `session` goes out as the `X-Session-Id` header (conversation routing).
    pub async fn one(
        &self,
        body: Bytes,
        session: Option<&str>,
        (due, intended): (Instant, Instant),
        start: Instant,
    ) -> Outcome {
        let sent = Instant::now();
        let mut out = Outcome {
            scheduled: due.saturating_duration_since(start).as_secs_f64(),
            intended: intended.saturating_duration_since(start).as_secs_f64(),
            sent: sent.saturating_duration_since(start).as_secs_f64(),
            ..Outcome::default()
        };
        let result =
            tokio::time::timeout(self.target.timeout, self.exchange(body, session, sent, &mut out))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no complete response within {} s",
                        self.target.timeout.as_secs_f64()
                    ))
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

    async fn exchange(
        &self,
        body: Bytes,
        session: Option<&str>,
        sent: Instant,
        out: &mut Outcome,
    ) -> Result<(), String> {
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
        if let Some(id) = session {
            req = req.header("X-Session-Id", id);
        }
        let req = req.body(Full::new(body)).map_err(|e| format!("request: {e}"))?;
        let resp = sender.send_request(req).await.map_err(|e| format!("send: {e}"))?;
        let status = resp.status();
        let resp_type = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(format!("HTTP {}: {}", status.as_u16(), text.trim()));
        }
        let content_type = resp_type.as_deref().map(str::trim).unwrap_or_default();
        let (wanted, what) =
            if t.stream { ("text/event-stream", "an event stream") } else { ("json", "JSON") };
        if !content_type.is_empty() && !content_type.to_ascii_lowercase().contains(wanted) {
            return Err(format!(
                "server answered {}, not {what}",
                truncate(content_type.split(';').next().unwrap_or_default())
            ));
        }
        if t.stream {
            read_stream(&mut body, t, sent, out).await?;
        } else {
            let bytes = body.collect().await.map_err(|e| format!("read: {e}"))?.to_bytes();
            let elapsed = sent.elapsed().as_secs_f64();
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("response: {e}"))?;
            if let Some(err) = v.get("error") {
                return Err(format!("server error: {err}"));
            }
            read_usage(&v, out)?;
            let text = choice_text(&v, t.backend)?;
            if !out.usage_output {
                out.output_tokens = text.split_whitespace().count();
            }
            if t.keep_text {
                out.text = text.to_string();
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
    target: &Target,
    sent: Instant,
    out: &mut Outcome,
) -> Result<(), String> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut last: Option<Instant> = None;
    let mut chunks = 0;
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
            if let Some(text) = event_text(&v, target.backend)? {
                if target.keep_text {
                    out.text.push_str(text);
                }
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
            read_usage(&v, out)?;
        }
    }
    let _ = done; // streams without [DONE] (some servers) are complete at end of body
    let Some(last) = last else { return Err("stream ended without a token".into()) };
    out.latency = (last - sent).as_secs_f64();
    if !out.usage_output {
        out.output_tokens = chunks;
    }
    Ok(())
}

/// The JSON type of `v`, for errors.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `v[key]` when present and not null: it must be `want` (`Err` names the field and type).
fn typed<'a>(
    v: &'a Value,
    path: &str,
    key: &str,
    want: fn(&Value) -> bool,
    what: &str,
) -> Result<Option<&'a Value>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) if want(x) => Ok(Some(x)),
        Some(x) => Err(format!("bad response: `{path}{key}` is {}, not {what}", kind(x))),
    }
}

/// The first choice of an event or response: `choices` must be a list of objects.
fn first_choice(v: &Value) -> Result<Option<&Value>, String> {
    let Some(choices) = typed(v, "", "choices", Value::is_array, "a list")? else {
        return Ok(None);
    };
    match choices.get(0) {
        None => Ok(None),
        Some(c) if c.is_object() => Ok(Some(c)),
        Some(c) => Err(format!("bad response: `choices[0]` is {}, not an object", kind(c))),
    }
}

/// The text of a token event, `None` when the event is none: completions with choices
/// (benchmark_serving counts every such chunk); chat deltas that carry content (the role-only
/// first delta is not a token). A field of the wrong JSON type (`"choices": 5`, a number as
/// `text`) fails the request.
fn event_text(v: &Value, backend: Backend) -> Result<Option<&str>, String> {
    let Some(choice) = first_choice(v)? else { return Ok(None) };
    match backend {
        Backend::Openai => {
            let text = typed(choice, "choices[0].", "text", Value::is_string, "a string")?;
            Ok(Some(text.and_then(Value::as_str).unwrap_or("")))
        }
        Backend::OpenaiChat => {
            let Some(delta) = typed(choice, "choices[0].", "delta", Value::is_object, "an object")?
            else {
                return Ok(None);
            };
            let mut content = None;
            for k in ["content", "reasoning_content", "reasoning"] {
                let path = "choices[0].delta.";
                if let Some(s) = typed(delta, path, k, Value::is_string, "a string")? {
                    content = content.or(s.as_str().filter(|s| !s.is_empty()));
                }
            }
            Ok(content)
        }
    }
}

#[cfg(test)]
fn is_content(v: &Value, backend: Backend) -> Result<bool, String> {
    event_text(v, backend).map(|t| t.is_some())
}

/// Sends the instant it is dropped on, to give a concurrency slot back.
struct Release(Option<mpsc::UnboundedSender<Instant>>);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(Instant::now());
        }
    }
}

fn read_usage(v: &Value, out: &mut Outcome) -> Result<(), String> {
    let Some(usage) = typed(v, "", "usage", Value::is_object, "an object")? else { return Ok(()) };
    let count = |x: &Value| x.as_u64().is_some_and(|n| n <= 1 << 40);
    if let Some(n) = typed(usage, "usage.", "completion_tokens", count, "a token count")? {
        out.output_tokens = n.as_u64().unwrap_or_default() as usize;
        out.usage_output = true;
    }
    if let Some(n) = typed(usage, "usage.", "prompt_tokens", count, "a token count")? {
        out.prompt_tokens = n.as_u64().map(|n| n as usize);
    }
    let path = "usage.prompt_tokens_details.";
    if let Some(d) = typed(usage, "usage.", "prompt_tokens_details", Value::is_object, "an object")?
    {
        if let Some(n) = typed(d, path, "cached_tokens", count, "a token count")? {
            out.cached_tokens = n.as_u64().map(|n| n as usize);
        }
    }
    Ok(())
}

/// The generated text of a whole (non-streamed) response; a missing text is empty.
fn choice_text(v: &Value, backend: Backend) -> Result<&str, String> {
    let Some(choice) = first_choice(v)? else { return Ok("") };
    let text = match backend {
        Backend::Openai => typed(choice, "choices[0].", "text", Value::is_string, "a string")?,
        Backend::OpenaiChat => {
            match typed(choice, "choices[0].", "message", Value::is_object, "an object")? {
                Some(m) => {
                    typed(m, "choices[0].message.", "content", Value::is_string, "a string")?
                }
                None => None,
            }
        }
    };
    Ok(text.and_then(Value::as_str).unwrap_or(""))
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
            api: Api::Trtllm,
            model: "m".into(),
            stream: true,
            ignore_eos: true,
            api_key: None,
            timeout: Duration::from_secs(1),
            keep_text: false,
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
        // openai-strict: standard fields only, and the length field transformers serve honours.
        let strict =
            Target { api: Api::OpenaiStrict, ignore_eos: false, ..target(Backend::OpenaiChat) };
        let v: Value = serde_json::from_slice(&request_body(&strict, &req)).unwrap();
        assert_eq!(
            v,
            json!({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3,
                   "temperature":0.0,"stream":true})
        );
        let strict = Target { backend: Backend::Openai, ..strict };
        let v: Value = serde_json::from_slice(&request_body(&strict, &req)).unwrap();
        assert_eq!(
            v,
            json!({"model":"m","prompt":"hi","max_tokens":3,"temperature":0.0,"stream":true})
        );
    }

    #[test]
    fn chat_history_bodies_match_single_message_bodies() {
        let req = Request { prompt: Prompt::Text("hi".into()), prompt_len: 1, output_len: 3 };
        let messages = [json!({"role": "user", "content": "hi"})];
        for t in [
            target(Backend::OpenaiChat),
            Target { api: Api::OpenaiStrict, ignore_eos: false, ..target(Backend::OpenaiChat) },
            Target { stream: false, ignore_eos: false, ..target(Backend::OpenaiChat) },
        ] {
            let one: Value = serde_json::from_slice(&request_body(&t, &req)).unwrap();
            let history: Value = serde_json::from_slice(&chat_body(&t, &messages, 3)).unwrap();
            assert_eq!(one, history, "{t:?}");
        }
    }

    #[test]
    fn content_events() {
        let chunk = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        let content = |s: &str, b| is_content(&chunk(s), b);
        assert_eq!(content(r#"{"choices":[{"text":""}]}"#, Backend::Openai), Ok(true));
        assert_eq!(content(r#"{"choices":[],"usage":{}}"#, Backend::Openai), Ok(false));
        assert_eq!(
            content(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#, Backend::OpenaiChat),
            Ok(false)
        );
        assert_eq!(
            content(r#"{"choices":[{"delta":{"content":"x"}}]}"#, Backend::OpenaiChat),
            Ok(true)
        );
        let mut o = Outcome::default();
        read_usage(&chunk(r#"{"usage":{"prompt_tokens":4,"completion_tokens":7}}"#), &mut o)
            .unwrap();
        assert_eq!((o.output_tokens, o.prompt_tokens), (7, Some(4)));
    }

    #[test]
    fn wrong_json_types_fail_the_request() {
        let chunk = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        let content = |s: &str, b| is_content(&chunk(s), b).unwrap_err();
        assert_eq!(
            content(r#"{"choices":5}"#, Backend::Openai),
            "bad response: `choices` is a number, not a list"
        );
        assert_eq!(
            content(r#"{"choices":[7]}"#, Backend::Openai),
            "bad response: `choices[0]` is a number, not an object"
        );
        assert_eq!(
            content(r#"{"choices":[{"text":42}]}"#, Backend::Openai),
            "bad response: `choices[0].text` is a number, not a string"
        );
        assert_eq!(
            content(r#"{"choices":[{"delta":"x"}]}"#, Backend::OpenaiChat),
            "bad response: `choices[0].delta` is a string, not an object"
        );
        assert_eq!(
            content(r#"{"choices":[{"delta":{"content":[1]}}]}"#, Backend::OpenaiChat),
            "bad response: `choices[0].delta.content` is a list, not a string"
        );
        let mut o = Outcome::default();
        assert_eq!(
            read_usage(&chunk(r#"{"usage":{"completion_tokens":-1}}"#), &mut o).unwrap_err(),
            "bad response: `usage.completion_tokens` is a number, not a token count"
        );
        assert_eq!(
            read_usage(&chunk(r#"{"usage":"x"}"#), &mut o).unwrap_err(),
            "bad response: `usage` is a string, not an object"
        );
        assert_eq!(
            choice_text(
                &chunk(r#"{"choices":[{"message":{"content":1.5}}]}"#),
                Backend::OpenaiChat
            )
            .unwrap_err(),
            "bad response: `choices[0].message.content` is a number, not a string"
        );
        assert_eq!(
            choice_text(&chunk(r#"{"choices":[{"text":"a b"}]}"#), Backend::Openai),
            Ok("a b")
        );
    }
}
