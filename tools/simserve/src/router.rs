//! The simulated disaggregated router (`trtllm-serve disaggregated -c server_config.yaml`):
//! each generation request is sent to a context server as a prefill (max_tokens 1,
//! non-streaming), then to a generation server for the decode, whose response is streamed back.
//! A backend that cannot be reached gives HTTP 502 and a log line naming it.

use crate::http::{self, Backend, Body};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use perfline::cli::{Failure, Result};
use perfline::yaml::Value;
use serde_json::{json, Map};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The router config the DISAGG_SERVER role writes (incumbent.md §3).
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    pub hostname: String,
    pub port: u16,
    pub context_servers: Vec<String>,
    pub generation_servers: Vec<String>,
}

impl RouterConfig {
    pub fn from_yaml(path: &Path, yaml: &Value) -> Result<RouterConfig> {
        let field =
            |name: &str, why: &str| Failure::config(format!("{}: {name}: {why}", path.display()));
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

    pub async fn handle(self: std::sync::Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
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
                    Ok(body) => self.generate(&path, body.to_bytes()).await,
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

    async fn generate(&self, path: &str, body: Bytes) -> Response<Body> {
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
        if let Some(ctx) = Self::pick(&self.context, &self.next_context) {
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
            ctx_request_id = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("id").cloned())
                .unwrap_or_default();
        }
        let Some(gen) = Self::pick(&self.generation, &self.next_generation) else {
            return gone_error("generation", "(none)", "no generation servers");
        };
        let decode = decode_request(request, ctx_request_id, self.plain);
        match gen.send(Method::POST, path, json_bytes(decode)).await {
            Ok(response) => relay(response),
            Err(why) => self.lost("generation", gen, &why),
        }
    }

    /// A backend is gone: log it, answer 502, and exit if asked to.
    fn lost(&self, role: &str, backend: &Backend, why: &str) -> Response<Body> {
        eprintln!("simserve: error: router: {role} server {} is gone: {why}", backend.addr);
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
fn decode_request(
    mut request: Map<String, serde_json::Value>,
    ctx_request_id: serde_json::Value,
    plain: bool,
) -> Map<String, serde_json::Value> {
    if !plain {
        request.insert(
            "disaggregated_params".into(),
            json!({"request_type": "generation_only", "ctx_request_id": ctx_request_id}),
        );
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
            }
        );
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
        let decode = decode_request(request.clone(), id.clone(), false);
        assert_eq!(
            decode["disaggregated_params"],
            json!({"request_type": "generation_only", "ctx_request_id": "cmpl-1"})
        );
        assert_eq!(decode_request(request.clone(), id, true), request);
    }
}
