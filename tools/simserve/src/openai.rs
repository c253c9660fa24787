//! The OpenAI-compatible wire format simserve speaks: request parsing (text or token-id prompts,
//! chat messages, `max_tokens`, `ignore_eos`, `stream`, trtllm's `disaggregated_params`) and
//! response rendering (whole JSON bodies and SSE chunks).

use serde_json::{json, Map, Value};

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Completions,
    Chat,
}

/// The part of a disaggregated request a worker serves (trtllm's `disaggregated_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Prefill and decode (aggregated serving).
    Full,
    /// Prefill only: the router's request to a context server.
    ContextOnly,
    /// Decode only: the KV cache "arrived" from the context server, so no prefill time.
    GenerationOnly,
}

/// A parsed generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRequest {
    pub endpoint: Endpoint,
    pub prompt_tokens: u64,
    /// One key per prompt token (the id, or a hash of the word), for the prefix cache.
    pub tokens: Vec<u64>,
    /// Prompt tokens found in the prefix cache (set by the worker; for a generation-only
    /// request, what the context server found, passed on by the router).
    pub cached_tokens: u64,
    pub max_tokens: u64,
    pub ignore_eos: bool,
    pub stream: bool,
    pub phase: Phase,
}

/// Standard OpenAI request fields (`openai-strict`); `generation_config` is transformers'.
#[rustfmt::skip]
const CHAT_FIELDS: &[&str] = &[
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
    "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key", "reasoning_effort",
    "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
    "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
    "verbosity", "web_search_options", "generation_config",
];
#[rustfmt::skip]
const COMPLETION_FIELDS: &[&str] = &[
    "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs",
    "max_tokens", "n", "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix",
    "temperature", "top_p", "user", "generation_config",
];
/// Standard fields `transformers serve` 5.x refuses rather than ignore (a subset of its list).
#[rustfmt::skip]
const UNSUPPORTED: &[&str] = &[
    "audio", "function_call", "functions", "logprobs", "max_completion_tokens", "metadata",
    "modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty", "reasoning_effort",
    "response_format", "service_tier", "store", "stream_options", "tool_choice", "top_logprobs",
    "user", "web_search_options",
];

/// `--api openai-strict`: refuses what a strict OpenAI server (`transformers serve` 5.x)
/// refuses, as it refuses it: a non-standard field (`ignore_eos`, `min_tokens`) is a 422
/// `Unexpected fields in the request: …`, a standard one it does not implement
/// (`max_completion_tokens`, `stream_options`) a 422 `Unsupported fields in the request: …`,
/// and a completions prompt that is not a string a 400 `prompt must be a string`.
pub fn check_strict(endpoint: Endpoint, body: &[u8]) -> Result<(), (u16, String)> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Ok(()); // GenRequest::parse explains a body that is no JSON object
    };
    let known = match endpoint {
        Endpoint::Completions => COMPLETION_FIELDS,
        Endpoint::Chat => CHAT_FIELDS,
    };
    let list = |keep: &dyn Fn(&str) -> bool| {
        obj.keys().filter(|k| keep(k)).map(String::as_str).collect::<Vec<_>>().join(", ")
    };
    let unexpected = list(&|k| !known.contains(&k));
    if !unexpected.is_empty() {
        return Err((422, format!("Unexpected fields in the request: {unexpected}")));
    }
    let unsupported = list(&|k| UNSUPPORTED.contains(&k));
    if !unsupported.is_empty() {
        return Err((422, format!("Unsupported fields in the request: {unsupported}")));
    }
    if endpoint == Endpoint::Completions && !obj.get("prompt").is_some_and(Value::is_string) {
        return Err((400, "prompt must be a string".into()));
    }
    Ok(())
}

/// OpenAI's default when `max_tokens` is absent.
const DEFAULT_MAX_TOKENS: u64 = 16;

/// Bounds a request's output so one request cannot keep a slot for days.
const MAX_MAX_TOKENS: u64 = 1 << 20;

impl GenRequest {
    pub fn parse(endpoint: Endpoint, body: &[u8]) -> Result<GenRequest, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
        let obj = value.as_object().ok_or("the body must be a JSON object")?;
        let prompt_tokens = match endpoint {
            Endpoint::Completions => prompt_tokens(obj.get("prompt").ok_or("missing 'prompt'")?)?,
            Endpoint::Chat => chat_tokens(obj.get("messages").ok_or("missing 'messages'")?)?,
        };
        let tokens = prompt_tokens;
        let prompt_tokens = tokens.len() as u64;
        let max_tokens = match obj.get("max_tokens").or_else(|| obj.get("max_completion_tokens")) {
            None | Some(Value::Null) => DEFAULT_MAX_TOKENS,
            Some(v) => {
                v.as_u64().filter(|n| (1..=MAX_MAX_TOKENS).contains(n)).ok_or_else(|| {
                    format!("'max_tokens' must be an integer from 1 to {MAX_MAX_TOKENS}, got {v}")
                })?
            }
        };
        let flag = |key: &str| obj.get(key).and_then(Value::as_bool).unwrap_or(false);
        let params = obj.get("disaggregated_params");
        let phase = match params.and_then(|p| p.get("request_type")) {
            Some(Value::String(t)) if t == "context_only" => Phase::ContextOnly,
            Some(Value::String(t)) if t == "generation_only" => Phase::GenerationOnly,
            None | Some(Value::Null) => Phase::Full,
            Some(other) => return Err(format!("unknown disaggregated request_type {other}")),
        };
        // simserve's router passes on what the context server found in its cache.
        let cached_tokens = match phase {
            Phase::GenerationOnly => params
                .and_then(|p| p.get("ctx_cached_tokens"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(prompt_tokens),
            _ => 0,
        };
        Ok(GenRequest {
            endpoint,
            prompt_tokens,
            tokens,
            cached_tokens,
            max_tokens,
            ignore_eos: flag("ignore_eos"),
            stream: flag("stream"),
            phase,
        })
    }

    /// Output tokens: `max_tokens`, or fewer when a simulated EOS comes first (`eos_after`)
    /// and the client did not ask to ignore it. A context-only request yields one token.
    pub fn completion_tokens(&self, eos_after: Option<u64>) -> u64 {
        if self.phase == Phase::ContextOnly {
            return 1;
        }
        match eos_after {
            Some(n) if !self.ignore_eos => n.clamp(1, self.max_tokens),
            _ => self.max_tokens,
        }
    }
}

/// Prompt tokens: token ids count one each, text counts whitespace-separated words.
/// A batch of one (`["text"]`, `[[1,2]]`) is accepted; larger batches are not simulated.
fn prompt_tokens(prompt: &Value) -> Result<Vec<u64>, String> {
    match prompt {
        Value::String(text) => Ok(words(text).collect()),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_u64) => {
            Ok(items.iter().filter_map(Value::as_u64).collect())
        }
        Value::Array(items) if items.len() == 1 => match items.first() {
            Some(inner @ (Value::String(_) | Value::Array(_))) => prompt_tokens(inner),
            _ => Err("'prompt' must be text or token ids".into()),
        },
        Value::Array(items) if items.len() > 1 => {
            Err(format!("batched prompts ({} of them) are not supported", items.len()))
        }
        _ => Err("'prompt' must be text or a non-empty array of token ids".into()),
    }
}

/// Chat prompt tokens: the words of every message's content (text or `{type: text}` parts),
/// in order, so a conversation's growing history keeps its prefix.
fn chat_tokens(messages: &Value) -> Result<Vec<u64>, String> {
    let messages = messages
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("'messages' must be a non-empty array")?;
    let mut tokens = Vec::new();
    for message in messages {
        match message.get("content") {
            Some(Value::String(text)) => tokens.extend(words(text)),
            Some(Value::Array(parts)) => {
                for text in parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)) {
                    tokens.extend(words(text));
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err("a message's 'content' must be text or parts".into()),
        }
    }
    Ok(tokens)
}

/// The words of a text (simserve's tokens), each as a stable hash.
fn words(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split_whitespace().map(|w| crate::kvcache::fnv1a(crate::kvcache::FNV_BASIS, w.as_bytes()))
}

/// The synthetic output vocabulary: common words, each one token in usual tokenizers.
const VOCAB: [&str; 16] = [
    " the", " of", " and", " to", " in", " a", " is", " that", " for", " it", " as", " was",
    " with", " be", " by", " on",
];

/// The text of output token `i`.
pub fn token_text(i: u64) -> &'static str {
    VOCAB[(i % VOCAB.len() as u64) as usize]
}

pub fn finish_reason(request: &GenRequest, completion_tokens: u64) -> &'static str {
    if completion_tokens < request.max_tokens {
        "stop"
    } else {
        "length"
    }
}

/// The usage object; `prompt_tokens_details.cached_tokens` is what the prefix cache held.
pub fn usage(prompt_tokens: u64, completion_tokens: u64, cached_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    })
}

/// Identity of one response: `cmpl-N`/`chatcmpl-N`, creation time, model.
#[derive(Debug, Clone)]
pub struct Meta {
    pub id: String,
    pub created: u64,
    pub model: String,
}

impl Meta {
    pub fn new(endpoint: Endpoint, n: u64, created: u64, model: &str) -> Meta {
        let prefix = match endpoint {
            Endpoint::Completions => "cmpl",
            Endpoint::Chat => "chatcmpl",
        };
        Meta { id: format!("{prefix}-{n}"), created, model: model.to_string() }
    }
}

/// The whole (non-streaming) response body.
pub fn full_response(request: &GenRequest, meta: &Meta, completion_tokens: u64) -> Value {
    let text: String = (0..completion_tokens).map(token_text).collect();
    let finish = finish_reason(request, completion_tokens);
    let usage = usage(request.prompt_tokens, completion_tokens, request.cached_tokens);
    match request.endpoint {
        Endpoint::Completions => json!({
            "id": meta.id, "object": "text_completion", "created": meta.created,
            "model": meta.model,
            "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}],
            "usage": usage,
        }),
        Endpoint::Chat => json!({
            "id": meta.id, "object": "chat.completion", "created": meta.created,
            "model": meta.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": null, "finish_reason": finish}],
            "usage": usage,
        }),
    }
}

/// SSE frames of a streaming response: one `data:` chunk per token, a usage chunk, `[DONE]`.
/// Token chunks are rendered from a prefix and suffix computed once, since a loaded server
/// renders hundreds of thousands of them per second.
pub struct Stream {
    prefix: String,
    suffix: String,
    last_suffix: String,
    usage_frame: String,
    first_prefix: String,
}

impl Stream {
    pub fn new(request: &GenRequest, meta: &Meta, completion_tokens: u64) -> Stream {
        let head = |object: &str| {
            let mut m = Map::new();
            m.insert("id".into(), meta.id.clone().into());
            m.insert("object".into(), object.into());
            m.insert("created".into(), meta.created.into());
            m.insert("model".into(), meta.model.clone().into());
            m
        };
        let finish = finish_reason(request, completion_tokens);
        let (object, text_key) = match request.endpoint {
            Endpoint::Completions => ("text_completion", "\"text\":"),
            Endpoint::Chat => ("chat.completion.chunk", "\"delta\":{\"content\":"),
        };
        // `{"id":…,"model":…,"choices":[{"index":0,` with the object's closing brace cut off.
        let open = serde_json::to_string(&Value::Object(head(object))).unwrap_or_default();
        let open = open.strip_suffix('}').unwrap_or(&open);
        let close_delta = if request.endpoint == Endpoint::Chat { "}" } else { "" };
        let prefix = format!("data: {open},\"choices\":[{{\"index\":0,{text_key}\"");
        let first_prefix = match request.endpoint {
            Endpoint::Completions => prefix.clone(),
            Endpoint::Chat => format!(
                "data: {open},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\""
            ),
        };
        let suffix = format!("\"{close_delta},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n");
        let last_suffix =
            format!("\"{close_delta},\"logprobs\":null,\"finish_reason\":\"{finish}\"}}]}}\n\n");
        let mut tail = head(object);
        tail.insert("choices".into(), json!([]));
        tail.insert(
            "usage".into(),
            usage(request.prompt_tokens, completion_tokens, request.cached_tokens),
        );
        let usage_frame = format!("data: {}\n\n", Value::Object(tail));
        Stream { prefix, suffix, last_suffix, usage_frame, first_prefix }
    }

    /// The frame of output token `i` of `n`.
    pub fn token(&self, i: u64, n: u64) -> String {
        let prefix = if i == 0 { &self.first_prefix } else { &self.prefix };
        let suffix = if i + 1 >= n { &self.last_suffix } else { &self.suffix };
        format!("{prefix}{}{suffix}", token_text(i))
    }

    /// The usage frame and the end marker.
    pub fn end(&self) -> String {
        format!("{}data: [DONE]\n\n", self.usage_frame)
    }
}

/// An OpenAI-style error body.
pub fn error_body(status: u16, kind: &str, message: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "code": status}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(endpoint: Endpoint, body: &str) -> Result<GenRequest, String> {
        GenRequest::parse(endpoint, body.as_bytes())
    }

    #[test]
    fn prompts_count_token_ids_or_words() {
        let r = parse(Endpoint::Completions, r#"{"prompt":[1,2,3,4],"max_tokens":5}"#).unwrap();
        assert_eq!((r.prompt_tokens, r.max_tokens, r.stream, r.ignore_eos), (4, 5, false, false));
        let r = parse(Endpoint::Completions, r#"{"prompt":"a b  c\nd","stream":true}"#).unwrap();
        assert_eq!((r.prompt_tokens, r.max_tokens, r.stream), (4, 16, true));
        assert_eq!(parse(Endpoint::Completions, r#"{"prompt":[[7,8]]}"#).unwrap().prompt_tokens, 2);
        assert_eq!(parse(Endpoint::Completions, r#"{"prompt":["x y"]}"#).unwrap().prompt_tokens, 2);
        let chat = r#"{"messages":[{"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"one two three"}]}],
            "max_completion_tokens":3,"ignore_eos":true}"#;
        let r = parse(Endpoint::Chat, chat).unwrap();
        assert_eq!((r.prompt_tokens, r.max_tokens, r.ignore_eos), (5, 3, true));
    }

    #[test]
    fn equal_text_and_equal_ids_give_equal_token_keys() {
        let a = parse(Endpoint::Completions, r#"{"prompt":"x y  z"}"#).unwrap();
        let chat = r#"{"messages":[{"role":"system","content":"x y"},{"role":"user","content":[{"type":"text","text":"z w"}]}]}"#;
        let b = parse(Endpoint::Chat, chat).unwrap();
        assert_eq!(a.tokens[..], b.tokens[..3]);
        assert_eq!(b.prompt_tokens, 4);
        let ids = parse(Endpoint::Completions, r#"{"prompt":[5,6,7]}"#).unwrap();
        assert_eq!(ids.tokens, [5, 6, 7]);
        let gen = r#"{"prompt":[5,6,7],"disaggregated_params":{"request_type":"generation_only","ctx_cached_tokens":2}}"#;
        assert_eq!(parse(Endpoint::Completions, gen).unwrap().cached_tokens, 2);
        assert_eq!(ids.cached_tokens, 0);
    }

    #[test]
    fn bad_requests_are_explained() {
        let err = |e, b| parse(e, b).unwrap_err();
        assert_eq!(err(Endpoint::Completions, "{}"), "missing 'prompt'");
        assert_eq!(err(Endpoint::Completions, "[1]"), "the body must be a JSON object");
        assert_eq!(
            err(Endpoint::Completions, r#"{"prompt":["a","b"]}"#),
            "batched prompts (2 of them) are not supported"
        );
        assert!(
            err(Endpoint::Completions, r#"{"prompt":"a","max_tokens":0}"#).contains("max_tokens")
        );
        assert!(
            err(Endpoint::Completions, r#"{"prompt":"a","max_tokens":-3}"#).contains("max_tokens")
        );
        assert!(err(Endpoint::Completions, "{").starts_with("invalid JSON body"));
        assert_eq!(
            err(Endpoint::Chat, r#"{"messages":[]}"#),
            "'messages' must be a non-empty array"
        );
    }

    #[test]
    fn strict_mode_refuses_what_transformers_serve_refuses() {
        let strict = |e, b: &str| check_strict(e, b.as_bytes());
        let chat = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"stream":true,"temperature":0.0}"#;
        assert_eq!(strict(Endpoint::Chat, chat), Ok(()));
        assert_eq!(
            strict(Endpoint::Chat, r#"{"messages":[],"ignore_eos":true,"min_tokens":3}"#),
            Err((422, "Unexpected fields in the request: ignore_eos, min_tokens".into()))
        );
        assert_eq!(
            strict(Endpoint::Chat, r#"{"messages":[],"max_completion_tokens":3}"#),
            Err((422, "Unsupported fields in the request: max_completion_tokens".into()))
        );
        assert_eq!(
            strict(Endpoint::Completions, r#"{"prompt":"a b","stream_options":{}}"#),
            Err((422, "Unsupported fields in the request: stream_options".into()))
        );
        assert_eq!(
            strict(Endpoint::Completions, r#"{"prompt":[1,2],"max_tokens":2}"#),
            Err((400, "prompt must be a string".into()))
        );
        assert_eq!(strict(Endpoint::Completions, r#"{"prompt":"a","max_tokens":2}"#), Ok(()));
    }

    #[test]
    fn eos_only_stops_early_without_ignore_eos() {
        let mut r = parse(Endpoint::Completions, r#"{"prompt":"a","max_tokens":10}"#).unwrap();
        assert_eq!(r.completion_tokens(None), 10);
        assert_eq!(r.completion_tokens(Some(4)), 4);
        assert_eq!(finish_reason(&r, 4), "stop");
        r.ignore_eos = true;
        assert_eq!(r.completion_tokens(Some(4)), 10);
        assert_eq!(finish_reason(&r, 10), "length");
        let ctx = r#"{"prompt":"a","max_tokens":1,"disaggregated_params":{"request_type":"context_only"}}"#;
        assert_eq!(parse(Endpoint::Completions, ctx).unwrap().phase, Phase::ContextOnly);
    }

    #[test]
    fn stream_frames_are_valid_openai_chunks() {
        let r = parse(Endpoint::Completions, r#"{"prompt":[1,2],"max_tokens":2,"stream":true}"#)
            .unwrap();
        let meta = Meta::new(Endpoint::Completions, 7, 100, "m\"x");
        let s = Stream::new(&r, &meta, 2);
        assert_eq!(
            s.token(0, 2),
            "data: {\"id\":\"cmpl-7\",\"object\":\"text_completion\",\"created\":100,\"model\":\"m\\\"x\",\
             \"choices\":[{\"index\":0,\"text\":\" the\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        );
        let last: Value =
            serde_json::from_str(s.token(1, 2).strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "length");
        assert_eq!(last["choices"][0]["text"], " of");
        let end = s.end();
        let (usage_frame, done) = end.split_once("\n\n").unwrap();
        assert_eq!(done, "data: [DONE]\n\n");
        let u: Value = serde_json::from_str(usage_frame.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(u["usage"], usage(2, 2, 0));
        assert_eq!(u["choices"], json!([]));
    }

    #[test]
    fn chat_frames_carry_deltas() {
        let r = parse(
            Endpoint::Chat,
            r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}"#,
        )
        .unwrap();
        let s = Stream::new(&r, &Meta::new(Endpoint::Chat, 1, 5, "m"), 2);
        let first: Value =
            serde_json::from_str(s.token(0, 2).strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"], json!({"role": "assistant", "content": " the"}));
        let second: Value =
            serde_json::from_str(s.token(1, 2).strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(second["choices"][0]["delta"], json!({"content": " of"}));
        let full = full_response(&r, &Meta::new(Endpoint::Chat, 1, 5, "m"), 2);
        assert_eq!(full["choices"][0]["message"]["content"], " the of");
        assert_eq!(full["usage"], usage(1, 2, 0));
    }
}
