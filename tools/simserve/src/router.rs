//! The simulated disaggregated router (`trtllm-serve disaggregated -c server_config.yaml`):
//! each generation request is sent to a context server as a prefill (max_tokens 1,
//! non-streaming), then to a generation server for the decode, whose response is streamed back.
//! A backend that cannot be reached gives HTTP 502 and a log line naming it.
//!
//! Context servers are picked round robin, or, with `ctx_router_config: {type: conversation}`,
//! by conversation: every request of a session (the client's `X-Session-Id` header) goes to
//! the context server its first request went to (new sessions round robin), so the session's
//! growing prefix stays in one server's prefix cache. The context server's cached tokens
//! reach the generation server (and so the client's usage) in `disaggregated_params`.
//! `server_config_extra` keys (merged into the config at the top level by the DISAGG_SERVER
//! role, or given as a `server_config_extra:` mapping) are read like top-level keys.

use crate::http::{self, Backend, Body};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use perfline::cli::{Failure, Result};
use perfline::yaml::Value;
use serde_json::{json, Map};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The router config the DISAGG_SERVER role writes (incumbent.md §3).
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    pub hostname: String,
    pub port: u16,
    pub context_servers: Vec<String>,
    pub generation_servers: Vec<String>,
    /// How context servers are picked (`ctx_router_config.type`).
    pub ctx_routing: Routing,
}

/// A router policy (`ctx_router_config.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// `round_robin` (the default).
    #[default]
    RoundRobin,
    /// `conversation`: a session sticks to one server (by `X-Session-Id`).
    Conversation,
}

/// The header naming a request's session (conversation).
pub const SESSION_HEADER: &str = "x-session-id";

impl RouterConfig {
    pub fn from_yaml(path: &Path, yaml: &Value) -> Result<RouterConfig> {
        let field =
            |name: &str, why: &str| Failure::config(format!("{}: {name}: {why}", path.display()));
        // `server_config_extra:` given as a mapping: its keys count as top-level keys.
        let mut merged;
        let yaml = match perfline::yaml::get(yaml, "server_config_extra") {
            Some(Value::Mapping(extra)) => {
                merged = yaml.clone();
                if let Value::Mapping(m) = &mut merged {
                    for (k, v) in extra {
                        m.insert(k.clone(), v.clone());
                    }
                }
                &merged
            }
            None | Some(Value::Null) => yaml,
            Some(_) => return Err(field("server_config_extra", "not a mapping")),
        };
        let ctx_routing = match perfline::yaml::get(yaml, "ctx_router_config") {
            None | Some(Value::Null) => Routing::RoundRobin,
            Some(router) => match perfline::yaml::get(router, "type") {
                None | Some(Value::Null) => Routing::RoundRobin,
                Some(Value::String(t)) if t == "round_robin" => Routing::RoundRobin,
                Some(Value::String(t)) if t == "conversation" => Routing::Conversation,
                Some(other) => {
                    let shown =
                        other.as_str().map_or_else(|| format!("{other:?}"), |t| format!("{t:?}"));
                    return Err(field(
                        "ctx_router_config.type",
                        &format!("{shown} is not simulated (round_robin or conversation)"),
                    ));
                }
            },
        };
        let hostname = match perfline::yaml::get(yaml, "hostname") {
            None | Some(Value::Null) => "0.0.0.0".to_string(),
            Some(Value::String(h)) if !h.is_empty() => h.clone(),
            Some(_) => return Err(field("hostname", "not a host name")),
        };
        let port = match perfline::yaml::get(yaml, "port") {
            None | Some(Value::Null) => 8000,
            Some(v) => v
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| field("port", "not a port number"))?,
        };
        let urls = |key: &str| -> Result<Vec<String>> {
            let Some(section) = perfline::yaml::get(yaml, key).filter(|v| !v.is_null()) else {
                return Ok(Vec::new());
            };
            let urls: Vec<String> = match perfline::yaml::get(section, "urls") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Sequence(items)) => items
                    .iter()
                    .map(|u| u.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| field(&format!("{key}.urls"), "not a list of host:port"))?,
                Some(_) => return Err(field(&format!("{key}.urls"), "not a list of host:port")),
            };
            if let Some(n) = perfline::yaml::get(section, "num_instances").and_then(Value::as_u64) {
                if n != urls.len() as u64 {
                    let why = format!("num_instances is {n} but {} urls are given", urls.len());
                    return Err(field(key, &why));
                }
            }
            Ok(urls)
        };
        let config = RouterConfig {
            hostname,
            port,
            context_servers: urls("context_servers")?,
            generation_servers: urls("generation_servers")?,
            ctx_routing,
        };
        if config.generation_servers.is_empty() {
            return Err(field("generation_servers", "at least one url is needed"));
        }
        Ok(config)
    }
}

pub struct Router {
    context: Vec<Backend>,
    generation: Vec<Backend>,
    next_context: AtomicUsize,
    next_generation: AtomicUsize,
    exit_on_backend_loss: bool,
    /// `--plain-backends`: no `disaggregated_params` in the requests to the workers.
    plain: bool,
    routing: Routing,
    /// Conversation routing: session id → context server index.
    sessions: Mutex<HashMap<String, usize>>,
}

/// Limit of one backend health check.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

const MAX_BODY: usize = 64 << 20;

impl Router {
    pub fn new(config: &RouterConfig, exit_on_backend_loss: bool, plain: bool) -> Router {
        Router {
            context: config.context_servers.iter().map(|u| Backend::new(u)).collect(),
            generation: config.generation_servers.iter().map(|u| Backend::new(u)).collect(),
            next_context: AtomicUsize::new(0),
            next_generation: AtomicUsize::new(0),
            exit_on_backend_loss,
            plain,
            routing: config.ctx_routing,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn backends(&self) -> impl Iterator<Item = (&'static str, &Backend)> {
        let ctx = self.context.iter().map(|b| ("context", b));
        ctx.chain(self.generation.iter().map(|b| ("generation", b)))
    }

    fn pick<'a>(list: &'a [Backend], next: &AtomicUsize) -> Option<&'a Backend> {
        let n = list.len();
        (n > 0).then(|| &list[next.fetch_add(1, Ordering::Relaxed) % n])
    }

    /// The context server for a request of `session`: its session's server under
    /// conversation routing (a new session takes the next one round robin), else round robin.
    fn pick_context(&self, session: Option<&str>) -> Option<&Backend> {
        let n = self.context.len();
        match (self.routing, session) {
            (_, _) if n == 0 => None,
            (Routing::Conversation, Some(id)) => {
                let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
                let i = *sessions
                    .entry(id.to_string())
                    .or_insert_with(|| self.next_context.fetch_add(1, Ordering::Relaxed) % n);
                Some(&self.context[i])
            }
            _ => Self::pick(&self.context, &self.next_context),
        }
    }

    pub async fn handle(self: std::sync::Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let session = req
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        match (req.method(), path.as_str()) {
            (&Method::GET, "/health") => self.health().await,
            (&Method::GET, "/v1/models") => {
                let Some(gen) = Self::pick(&self.generation, &self.next_generation) else {
                    return gone_error("generation", "(none)", "no generation servers");
                };
                match gen.send(Method::GET, "/v1/models", Bytes::new()).await {
                    Ok(response) => relay(response),
                    Err(why) => self.lost("generation", gen, &why),
                }
            }
            (&Method::POST, "/v1/completions" | "/v1/chat/completions") => {
                match http_body_util::Limited::new(req.into_body(), MAX_BODY).collect().await {
                    Ok(body) => self.generate(&path, body.to_bytes(), session.as_deref()).await,
                    Err(e) => http::error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        &e.to_string(),
                    ),
                }
            }
            (_, "/health" | "/v1/models" | "/v1/completions" | "/v1/chat/completions") => {
                http::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid_request_error",
                    "method not allowed",
                )
            }
            (_, other) => http::error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("no route {other}"),
            ),
        }
    }

    /// 200 only when every backend answers its /health with 200 (checked concurrently).
    async fn health(&self) -> Response<Body> {
        let checks: Vec<_> = self
            .backends()
            .map(|(role, backend)| {
                let backend = backend.clone();
                tokio::spawn(async move {
                    match backend.health(HEALTH_TIMEOUT).await {
                        Ok(200) => None,
                        Ok(code) => Some(format!("{role} server {}: status {code}", backend.addr)),
                        Err(why) => Some(format!("{role} server {}: {why}", backend.addr)),
                    }
                })
            })
            .collect();
        let mut unhealthy = Vec::new();
        for check in checks {
            match check.await {
                Ok(None) => {}
                Ok(Some(why)) => unhealthy.push(why),
                Err(e) => unhealthy.push(format!("health check failed: {e}")),
            }
        }
        if unhealthy.is_empty() {
            Response::new(http::full(""))
        } else {
            http::json(StatusCode::SERVICE_UNAVAILABLE, &json!({"unhealthy": unhealthy}))
        }
    }

    async fn generate(&self, path: &str, body: Bytes, session: Option<&str>) -> Response<Body> {
        let Ok(serde_json::Value::Object(request)) =
            serde_json::from_slice::<serde_json::Value>(&body)
        else {
            return http::error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "the body must be a JSON object",
            );
        };
        let mut ctx_request_id = serde_json::Value::Null;
        let mut ctx_cached = serde_json::Value::Null;
        if let Some(ctx) = self.pick_context(session) {
            let prefill = prefill_request(&request, self.plain);
            let response = match ctx.send(Method::POST, path, json_bytes(prefill)).await {
                Ok(response) => response,
                Err(why) => return self.lost("context", ctx, &why),
            };
            let status = response.status();
            let bytes = match response.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return self.lost("context", ctx, &e.to_string()),
            };
            if status != StatusCode::OK {
                let mut relayed = Response::new(http::full(bytes));
                *relayed.status_mut() = status;
                return relayed;
            }
            let answer = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default();
            ctx_request_id = answer.get("id").cloned().unwrap_or_default();
            ctx_cached = answer
                .pointer("/usage/prompt_tokens_details/cached_tokens")
                .cloned()
                .unwrap_or_default();
        }
        let Some(gen) = Self::pick(&self.generation, &self.next_generation) else {
            return gone_error("generation", "(none)", "no generation servers");
        };
        let decode = decode_request(request, (ctx_request_id, ctx_cached), self.plain);
        match gen.send(Method::POST, path, json_bytes(decode)).await {
            Ok(response) => relay(response),
            Err(why) => self.lost("generation", gen, &why),
        }
    }

    /// A backend is gone: log it, answer 502, and exit if asked to.
    fn lost(&self, role: &str, backend: &Backend, why: &str) -> Response<Body> {
        crate::log::note(format_args!(
            "error: router: {role} server {} is gone: {why}",
            backend.addr
        ));
        if self.exit_on_backend_loss {
            let message =
                format!("{role} server {} is gone (--exit-on-backend-loss)", backend.addr);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                crate::worker::crash(&message);
            });
        }
        gone_error(role, &backend.addr, why)
    }

    /// With --exit-on-backend-loss, polls the backends and exits once one that answered before
    /// can no longer be reached, so the job fails fast even without traffic.
    pub fn watch_backends(self: &std::sync::Arc<Self>) {
        if !self.exit_on_backend_loss {
            return;
        }
        let router = self.clone();
        tokio::spawn(async move {
            let mut seen = vec![false; router.backends().count()];
            loop {
                for (i, (role, backend)) in router.backends().enumerate() {
                    match backend.health(HEALTH_TIMEOUT).await {
                        Ok(_) => seen[i] = true,
                        Err(why) if seen[i] => {
                            let _ = router.lost(role, backend, &why);
                        }
                        Err(_) => {}
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
}

fn gone_error(role: &str, addr: &str, why: &str) -> Response<Body> {
    http::error(
        StatusCode::BAD_GATEWAY,
        "bad_gateway",
        &format!("{role} server {addr} is unreachable: {why}"),
    )
}

/// Streams a backend's response back, with its status and content type.
fn relay(response: Response<Incoming>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let mut relayed = Response::new(body.map_err(Into::into).boxed());
    *relayed.status_mut() = parts.status;
    if let Some(ct) = parts.headers.get("content-type") {
        relayed.headers_mut().insert("content-type", ct.clone());
    }
    relayed
}

fn json_bytes(map: serde_json::Map<String, serde_json::Value>) -> Bytes {
    Bytes::from(serde_json::Value::Object(map).to_string())
}

/// The context server's request: a one-token, non-streaming prefill of the client's request;
/// trtllm's `disaggregated_params` unless the workers are plain OpenAI servers.
fn prefill_request(
    request: &Map<String, serde_json::Value>,
    plain: bool,
) -> Map<String, serde_json::Value> {
    let mut prefill = request.clone();
    prefill.insert("max_tokens".into(), 1.into());
    if prefill.contains_key("max_completion_tokens") {
        prefill.insert("max_completion_tokens".into(), 1.into());
    }
    prefill.insert("stream".into(), false.into());
    prefill.remove("stream_options");
    if !plain {
        prefill.insert("disaggregated_params".into(), json!({"request_type": "context_only"}));
    }
    prefill
}

/// The generation server's request: the client's request, with trtllm's
/// `disaggregated_params` naming the context request unless the workers are plain.
/// `(ctx_request_id, ctx_cached)`: the context request's id and the prompt tokens its
/// server found cached (simserve's own field, `ctx_cached_tokens`, left out when unknown).
fn decode_request(
    mut request: Map<String, serde_json::Value>,
    (ctx_request_id, ctx_cached): (serde_json::Value, serde_json::Value),
    plain: bool,
) -> Map<String, serde_json::Value> {
    if !plain {
        let mut params =
            json!({"request_type": "generation_only", "ctx_request_id": ctx_request_id});
        if !ctx_cached.is_null() {
            params["ctx_cached_tokens"] = ctx_cached;
        }
        request.insert("disaggregated_params".into(), params);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RouterConfig> {
        let p = Path::new("server_config.0.yaml");
        RouterConfig::from_yaml(p, &perfline::yaml::parse(text, "server_config.0.yaml")?)
    }

    #[test]
    fn reads_the_incumbent_router_config() {
        let c = parse(
            "hostname: node1\nport: 0\nbackend: pytorch\n\
             context_servers: {num_instances: 1, urls: [\"node2:8001\"]}\n\
             generation_servers:\n  num_instances: 2\n  urls: [\"node3:8002\", \"node3:8003\"]\n",
        )
        .unwrap();
        assert_eq!(
            c,
            RouterConfig {
                hostname: "node1".into(),
                port: 0,
                context_servers: vec!["node2:8001".into()],
                generation_servers: vec!["node3:8002".into(), "node3:8003".into()],
                ctx_routing: Routing::RoundRobin,
            }
        );
    }

    #[test]
    fn conversation_routing_and_server_config_extra() {
        let gen = "generation_servers: {urls: [\"g:1\"]}\n";
        let c = parse(&format!(
            "{gen}ctx_router_config: {{type: conversation}}\nserver_keep_alive_timeout: 3600\n"
        ))
        .unwrap();
        assert_eq!(c.ctx_routing, Routing::Conversation);
        let c = parse(&format!(
            "{gen}server_config_extra: {{ctx_router_config: {{type: conversation}}}}\n"
        ))
        .unwrap();
        assert_eq!(c.ctx_routing, Routing::Conversation);
        assert_eq!(
            parse(&format!("{gen}ctx_router_config: {{type: round_robin}}\n")).unwrap().ctx_routing,
            Routing::RoundRobin
        );
        let err =
            parse(&format!("{gen}ctx_router_config: {{type: kv_cache_aware}}\n")).unwrap_err();
        assert_eq!(err.exit, perfline::Exit::Config);
        assert_eq!(
            err.message,
            "server_config.0.yaml: ctx_router_config.type: \"kv_cache_aware\" is not simulated (round_robin or conversation)"
        );
        // Sessions stick to the server their first request went to; new ones spread.
        let mut config =
            parse(&format!("{gen}context_servers: {{urls: [\"c:1\", \"c:2\"]}}\n")).unwrap();
        config.ctx_routing = Routing::Conversation;
        let router = Router::new(&config, false, false);
        let at = |s: Option<&str>| router.pick_context(s).unwrap().addr.clone();
        assert_eq!(
            [at(Some("a")), at(Some("b")), at(Some("a")), at(Some("a")), at(Some("b"))],
            ["c:1", "c:2", "c:1", "c:1", "c:2"]
        );
        // Without a session id: round robin.
        assert_eq!([at(None), at(None)], ["c:1", "c:2"]);
        config.ctx_routing = Routing::RoundRobin;
        let rr = Router::new(&config, false, false);
        let at = |s: Option<&str>| rr.pick_context(s).unwrap().addr.clone();
        assert_eq!([at(Some("a")), at(Some("a")), at(Some("a"))], ["c:1", "c:2", "c:1"]);
    }

    #[test]
    fn gen_only_has_no_context_servers_but_needs_generation() {
        let c = parse("hostname: h\nport: 1\ngeneration_servers: {urls: [\"g:1\"]}\n").unwrap();
        assert!(c.context_servers.is_empty());
        let err = parse("hostname: h\nport: 1\ncontext_servers: {urls: [\"c:1\"]}\n").unwrap_err();
        assert_eq!(
            err.message,
            "server_config.0.yaml: generation_servers: at least one url is needed"
        );
        let err = parse("generation_servers: {num_instances: 2, urls: [\"g:1\"]}\n").unwrap_err();
        assert_eq!(
            err.message,
            "server_config.0.yaml: generation_servers: num_instances is 2 but 1 urls are given"
        );
        assert_eq!(
            parse("port: 70000\ngeneration_servers: {urls: [\"g:1\"]}").unwrap_err().exit,
            perfline::Exit::Config
        );
    }

    #[test]
    fn plain_backends_get_no_trtllm_fields() {
        let request = json!({"model": "m", "prompt": "hi", "max_tokens": 64, "stream": true,
            "stream_options": {"include_usage": true}});
        let serde_json::Value::Object(request) = request else { unreachable!() };
        let trtllm = prefill_request(&request, false);
        assert_eq!(
            serde_json::Value::Object(trtllm),
            json!({"model": "m", "prompt": "hi", "max_tokens": 1, "stream": false,
                "disaggregated_params": {"request_type": "context_only"}})
        );
        let plain = prefill_request(&request, true);
        assert_eq!(
            serde_json::Value::Object(plain),
            json!({"model": "m", "prompt": "hi", "max_tokens": 1, "stream": false})
        );
        let id = json!("cmpl-1");
        let decode = decode_request(request.clone(), (id.clone(), json!(null)), false);
        assert_eq!(
            decode["disaggregated_params"],
            json!({"request_type": "generation_only", "ctx_request_id": "cmpl-1"})
        );
        let decode = decode_request(request.clone(), (id.clone(), json!(64)), false);
        assert_eq!(decode["disaggregated_params"]["ctx_cached_tokens"], 64);
        assert_eq!(decode_request(request.clone(), (id, json!(64)), true), request);
    }
}
