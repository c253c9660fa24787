//! The simulated trtllm-serve worker: `/health` (503 until ready), `/v1/models`,
//! `/v1/completions` and `/v1/chat/completions` with the timing model and fault injection of
//! [`Settings`].

use crate::http::{self, Body};
use crate::kvcache::{block_keys, KvCache};
use crate::openai::{self, Endpoint, GenRequest, Meta, Phase};
use crate::settings::Settings;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio::time::sleep_until;

/// Requests bodies larger than this are refused (a 1M-token id prompt is ~8 MB).
const MAX_BODY: usize = 64 << 20;

/// How long a crash waits for the response that triggered it to reach the client.
const CRASH_GRACE: Duration = Duration::from_millis(100);

pub struct Worker {
    model: String,
    settings: Settings,
    ready: AtomicBool,
    /// The `--health-503-after-requests` fault fired: the engine is dead, the process lives.
    engine_dead: AtomicBool,
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
    completed: AtomicU64,
    dice: Mutex<StdRng>,
    /// `--api openai-strict`: refuse non-standard requests ([`openai::check_strict`]).
    strict: bool,
    /// The prefix cache (`--kv-cache-blocks`).
    cache: Mutex<KvCache>,
}

impl Worker {
    pub fn new(model: String, settings: Settings) -> Worker {
        Worker {
            model,
            slots: Arc::new(Semaphore::new(settings.max_batch)),
            dice: Mutex::new(StdRng::seed_from_u64(settings.seed)),
            cache: Mutex::new(KvCache::new(settings.kv_cache_blocks)),
            settings,
            ready: AtomicBool::new(false),
            engine_dead: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            strict: false,
        }
    }

    /// Refuses requests a strict OpenAI server refuses (`--api openai-strict`).
    pub fn strict(mut self, strict: bool) -> Worker {
        self.strict = strict;
        self
    }

    /// Starts the background faults and the readiness timer, relative to `started`.
    pub fn start_timers(self: &Arc<Self>, started: Instant) {
        let s = &self.settings;
        if s.hang {
            crate::log::note("--hang: this server will never become healthy");
        } else {
            let worker = self.clone();
            let at = tokio::time::Instant::now() + s.startup_delay;
            tokio::spawn(async move {
                sleep_until(at).await;
                worker.ready.store(true, Ordering::SeqCst);
                crate::log::info("Application startup complete.");
            });
        }
        if let Some(crash_at) = s.crash_at {
            tokio::spawn(async move {
                sleep_until((started + crash_at).into()).await;
                crash(&format!("simulated crash at {} s (--crash-at)", crash_at.as_secs_f64()));
            });
        }
        if let Some(keyword) = s.log_error_keyword.clone() {
            let at = started + s.log_error_at;
            tokio::spawn(async move {
                sleep_until(at.into()).await;
                crate::log::raw(format_args!("{keyword}: simulated error (--log-error-keyword)"));
            });
        }
    }

    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let endpoint = match (req.method(), req.uri().path()) {
            (&Method::GET, "/health") => return self.health(),
            (&Method::GET, "/v1/models") => return self.models(),
            (&Method::POST, "/v1/completions") => Endpoint::Completions,
            (&Method::POST, "/v1/chat/completions") => Endpoint::Chat,
            (_, "/health" | "/v1/models" | "/v1/completions" | "/v1/chat/completions") => {
                return http::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid_request_error",
                    "method not allowed",
                )
            }
            (_, path) => {
                return http::error(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    &format!("no route {path}"),
                )
            }
        };
        if !self.ready.load(Ordering::SeqCst) {
            return http::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the model is still loading",
            );
        }
        let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return http::error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    &e.to_string(),
                )
            }
        };
        if self.settings.hang_requests || self.engine_dead.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.roll_error() {
            return http::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "simulated internal error (--error-rate)",
            );
        }
        if self.strict {
            if let Err((status, why)) = openai::check_strict(endpoint, &body) {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                return http::error(status, "invalid_request_error", &why);
            }
        }
        match GenRequest::parse(endpoint, &body) {
            Ok(request) => self.generate(request).await,
            Err(why) => http::error(StatusCode::BAD_REQUEST, "invalid_request_error", &why),
        }
    }

    fn health(&self) -> Response<Body> {
        let mut response = Response::new(http::full(""));
        if !self.ready.load(Ordering::SeqCst) || self.engine_dead.load(Ordering::SeqCst) {
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        response
    }

    fn models(&self) -> Response<Body> {
        let created = unix_now();
        http::json(
            StatusCode::OK,
            &json!({"object": "list", "data": [
                {"id": self.model, "object": "model", "created": created, "owned_by": "simserve"}
            ]}),
        )
    }

    fn roll_error(&self) -> bool {
        let rate = self.settings.error_rate;
        rate > 0.0 && self.dice.lock().unwrap_or_else(|e| e.into_inner()).gen::<f64>() < rate
    }

    async fn generate(self: Arc<Self>, mut request: GenRequest) -> Response<Body> {
        let n = request.completion_tokens(self.settings.eos_after);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let meta = Meta::new(request.endpoint, id, unix_now(), &self.model);
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return http::error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "shutting down");
        };
        let start = tokio::time::Instant::now();
        if request.phase != Phase::GenerationOnly {
            request.cached_tokens = self.cached_prefix(&request.tokens);
        }
        let schedule = Schedule::new(&self.settings, &request);
        if !request.stream {
            sleep_until(start + schedule.token(n.saturating_sub(1))).await;
            drop(slot);
            self.finished();
            return http::json(StatusCode::OK, &openai::full_response(&request, &meta, n));
        }
        let (response, tx) = http::sse();
        tokio::spawn(async move {
            let _slot = slot;
            let frames = openai::Stream::new(&request, &meta, n);
            for i in 0..n {
                sleep_until(start + schedule.token(i)).await;
                if tx.send(Bytes::from(frames.token(i, n))).await.is_err() {
                    return; // the client went away: free the slot
                }
            }
            if tx.send(Bytes::from(frames.end())).await.is_ok() {
                self.finished();
            }
        });
        response
    }

    /// Looks a prompt's blocks up in the prefix cache (then holds them): the cached tokens
    /// (never the last one, which is always computed).
    fn cached_prefix(&self, tokens: &[u64]) -> u64 {
        if self.settings.kv_cache_blocks == 0 {
            return 0;
        }
        let block = self.settings.kv_block_size;
        let keys = block_keys(tokens, block);
        let hits = self.cache.lock().unwrap_or_else(|e| e.into_inner()).lookup_insert(&keys);
        crate::kvcache::cached_tokens(hits, block, tokens.len()) as u64
    }

    /// Counts a completed request; crashes (or kills the engine) after the configured number.
    fn finished(&self) {
        let done = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        if self.settings.health_503_after_requests == Some(done) {
            self.engine_dead.store(true, Ordering::SeqCst);
            // No error keyword: the role must notice by /health alone.
            crate::log::note(format_args!(
                "fault: the engine stopped after {done} requests; /health answers 503 and new \
                 requests hang (--health-503-after-requests)"
            ));
        }
        if self.settings.crash_after_requests == Some(done) {
            tokio::spawn(async move {
                tokio::time::sleep(CRASH_GRACE).await;
                crash(&format!("simulated crash after {done} requests (--crash-after-requests)"));
            });
        }
    }
}

/// When each output token of a request is due, counted from the moment it got a batch slot:
/// the timing model, kept apart from the clock so it is tested exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// When token 0 is due (the time to first token).
    pub first: Duration,
    /// Time between tokens (one decode step).
    pub step: Duration,
}

impl Schedule {
    pub fn new(s: &Settings, request: &GenRequest) -> Schedule {
        let first = match request.phase {
            // The KV cache came from the context server: the first token is one decode step.
            Phase::GenerationOnly => s.decode_per_step,
            // Prefill only for the tokens the prefix cache did not hold.
            Phase::Full | Phase::ContextOnly => {
                let uncached = request.prompt_tokens.saturating_sub(request.cached_tokens);
                s.ttft + s.prefill_per_token.saturating_mul(steps(uncached))
            }
        };
        Schedule { first, step: s.decode_per_step }
    }

    /// When token `i` (0-based) is due.
    pub fn token(&self, i: u64) -> Duration {
        self.first + self.step.saturating_mul(steps(i))
    }
}

/// A simulated crash: a message in the log, then exit status 1 at once.
pub fn crash(why: &str) -> ! {
    crate::log::note(format_args!("fatal: {why}"));
    std::process::exit(1)
}

/// A count as a `Duration` multiplier.
fn steps(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Knobs;

    fn request(phase: Phase, prompt_tokens: u64) -> GenRequest {
        GenRequest {
            endpoint: Endpoint::Completions,
            prompt_tokens,
            tokens: (0..prompt_tokens).collect(),
            cached_tokens: 0,
            max_tokens: 11,
            ignore_eos: true,
            stream: true,
            phase,
        }
    }

    #[test]
    fn decode_steps_follow_the_first_token() {
        let knobs = Knobs {
            ttft_ms: Some(5.0),
            prefill_ms_per_token: Some(0.5),
            decode_ms_per_step: Some(20.0),
            ..Knobs::default()
        };
        let s = Settings::resolve(&knobs, &Knobs::default(), &Default::default()).unwrap();
        let full = Schedule::new(&s, &request(Phase::Full, 4));
        assert_eq!(full.first, Duration::from_millis(7));
        // 11 tokens: the last is due 10 decode steps after the first.
        assert_eq!(full.token(10), Duration::from_millis(207));
        assert_eq!(Schedule::new(&s, &request(Phase::ContextOnly, 4)), full);
        // A generation-only request's KV cache is already there: one step to the first token.
        let gen = Schedule::new(&s, &request(Phase::GenerationOnly, 4));
        assert_eq!(
            (gen.first, gen.token(10)),
            (Duration::from_millis(20), Duration::from_millis(220))
        );
        // Cached prompt tokens cost no prefill: 4 tokens, 2 cached → 5 + 2 × 0.5 ms.
        let mut cached = request(Phase::Full, 4);
        cached.cached_tokens = 2;
        assert_eq!(Schedule::new(&s, &cached).first, Duration::from_millis(6));
    }
}
