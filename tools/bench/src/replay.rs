//! Trace replay (`--dataset-name mooncake`) and agentic mode (`--agentic`).
//!
//! Replay: every conversation ([`Chain`]) is a task started shortly before its first turn is
//! due. A turn is due at its timestamp (scaled), and never before the previous turn's answer
//! plus the trace's gap between the two; the task waits on [`PreciseTimer`] (a futex wait, not
//! tokio's millisecond wheel), so the dispatch delay (send − intended) stays well under a
//! millisecond. `--max-concurrency`, when given, caps the requests in flight; a turn that waits
//! for a slot is intended when it got one.
//!
//! Agentic: `lanes` tasks each take conversations from the trace back to back (cycling through
//! it while a duration is set), a turn going out after the previous answer plus the trace's gap;
//! a conversation ends when its next turn's context (input + output tokens) would exceed
//! `max_ctx`; each lane's first `warmup_per_lane` turns are sent but not measured; no turn
//! starts after the duration.
//!
//! With the chat backend the conversation's history grows as messages: the previous user
//! message and the assistant's answer stay, and the new user message holds the turn's tokens
//! after the blocks it shares with the previous turn.

use crate::client::{chat_body, request_body, Backend, Client, Outcome, Target};
use crate::dataset::{Prompt, Request};
use crate::timer::PreciseTimer;
use crate::trace::{Blocks, Chain, Row};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// A checked trace and how to make its prompts.
pub struct Trace {
    pub rows: Vec<Row>,
    pub chains: Vec<Chain>,
    pub blocks: Blocks,
}

/// Agentic mode's settings.
#[derive(Debug, Clone, Copy)]
pub struct Agentic {
    pub lanes: usize,
    pub duration: Option<Duration>,
    pub warmup_per_lane: usize,
    pub max_ctx: Option<usize>,
}

/// One measured request and its input length (an estimate the server's usage replaces).
pub type Measured = (Outcome, usize);

/// Conversation tasks start this long before their first turn is due (the prompt is built
/// in between, off the dispatch path).
pub const LEAD: Duration = Duration::from_millis(100);

impl Trace {
    /// The test request and `--warmup`'s: the first row's lengths, with tokens of another seed,
    /// so that they do not put the trace's blocks into the server's prefix cache (the first
    /// turn would then count as cached and its TTFT as a hit).
    pub fn first_body(&self, target: &Target) -> Option<Bytes> {
        let row = self.chains.first().and_then(|c| c.turns.first()).map(|t| &self.rows[t.index])?;
        let other = Blocks { seed: !self.blocks.seed, ..self.blocks.clone() };
        Some(request_body(target, &request(&other, row, 0)))
    }

    fn request(&self, row: &Row, from: usize) -> Request {
        request(&self.blocks, row, from)
    }

    /// Whether a turn fits `max_ctx`.
    fn fits(&self, index: usize, max_ctx: Option<usize>) -> bool {
        let r = &self.rows[index];
        max_ctx.is_none_or(|m| r.input_length + r.output_length <= m)
    }

    /// Whether any conversation can start under `max_ctx`.
    pub fn any_fits(&self, max_ctx: Option<usize>) -> bool {
        self.chains.iter().any(|c| c.turns.first().is_some_and(|t| self.fits(t.index, max_ctx)))
    }
}

/// `row`'s prompt from token `from` on, made by `blocks`.
fn request(blocks: &Blocks, row: &Row, from: usize) -> Request {
    let prompt = blocks.prompt(row, from);
    let prompt_len = match &prompt {
        Prompt::Ids(ids) => ids.len(),
        Prompt::Text(t) => t.split(' ').count(),
    };
    Request { prompt, prompt_len, output_len: row.output_length.max(1) }
}

/// One conversation's state: the chat history, when the previous turn ended.
struct Conversation<'a> {
    trace: &'a Trace,
    target: &'a Target,
    history: Vec<Value>,
}

impl Conversation<'_> {
    /// The body of turn `k` (0-based) of `chain` and its input estimate.
    fn body(&mut self, chain: &Chain, k: usize) -> (Bytes, usize) {
        let turn = &chain.turns[k];
        let row = &self.trace.rows[turn.index];
        if self.target.backend == Backend::Openai {
            let req = self.trace.request(row, 0);
            return (request_body(self.target, &req), req.prompt_len);
        }
        let bs = self.trace.blocks.block_size;
        let mut from = if k == 0 { 0 } else { turn.shared_blocks * bs };
        if from >= row.input_length {
            // Nothing new: the turn repeats its last block.
            from = (row.input_length - 1) / bs * bs;
        }
        let req = self.trace.request(row, from);
        let content = match req.prompt {
            Prompt::Text(t) => json!(t),
            Prompt::Ids(ids) => json!(ids),
        };
        self.history.push(json!({"role": "user", "content": content}));
        let words: usize = self
            .history
            .iter()
            .map(|m| m["content"].as_str().map_or(0, |c| c.split_whitespace().count()))
            .sum();
        (chat_body(self.target, &self.history, req.output_len), words)
    }

    fn answered(&mut self, out: &Outcome) {
        if self.target.backend == Backend::OpenaiChat {
            self.history.push(json!({"role": "assistant", "content": out.text}));
        }
    }
}

/// Replays the trace on its timestamps; outcomes in trace order.
pub async fn replay(
    client: &Arc<Client>,
    target: &Target,
    trace: Arc<Trace>,
    max_concurrency: Option<usize>,
    start: Instant,
) -> Vec<Measured> {
    let timer = PreciseTimer::start();
    let slots = max_concurrency.map(|n| Arc::new(Semaphore::new(n.max(1))));
    let mut tasks = Vec::with_capacity(trace.chains.len());
    for c in 0..trace.chains.len() {
        let first = trace.chains[c].turns.first().map_or(Duration::ZERO, |t| t.at);
        timer.sleep_until(start + first.saturating_sub(LEAD)).await;
        let (client, target, trace) = (Arc::clone(client), target.clone(), Arc::clone(&trace));
        let (timer, slots) = (timer.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            let chain = &trace.chains[c];
            let mut conv = Conversation { trace: &trace, target: &target, history: Vec::new() };
            let mut prev_end: Option<Instant> = None;
            let mut done = Vec::with_capacity(chain.turns.len());
            for (k, turn) in chain.turns.iter().enumerate() {
                let due = start + turn.at;
                let mut intended = prev_end.map_or(due, |e| due.max(e + turn.gap));
                // Scheduled: when the turn was due as far as its conversation allowed (the
                // wait for the previous answer is not queueing for --include-queueing).
                let scheduled = intended;
                let (body, len) = conv.body(chain, k);
                timer.sleep_until(intended).await;
                let _permit = match &slots {
                    None => None,
                    Some(s) => match Arc::clone(s).try_acquire_owned() {
                        Ok(p) => Some(p),
                        Err(_) => {
                            let p = Arc::clone(s).acquire_owned().await.ok();
                            intended = intended.max(Instant::now());
                            p
                        }
                    },
                };
                let session = chain.session.as_deref();
                let mut out = client.one(body, session, (scheduled, intended), start).await;
                prev_end = Some(Instant::now());
                conv.answered(&out);
                (out.turn, out.conversation) = (k + 1, c);
                done.push((turn.index, out, len));
            }
            done
        }));
    }
    let mut all: Vec<(usize, Outcome, usize)> = Vec::with_capacity(trace.rows.len());
    for t in tasks {
        match t.await {
            Ok(v) => all.extend(v),
            Err(e) => all.push((
                usize::MAX,
                Outcome { error: Some(format!("request task failed: {e}")), ..Outcome::default() },
                0,
            )),
        }
    }
    all.sort_by_key(|r| r.0);
    all.into_iter().map(|(_, o, l)| (o, l)).collect()
}

/// Agentic mode: `lanes` conversations back to back; measured outcomes in completion order.
pub async fn agentic(
    client: &Arc<Client>,
    target: &Target,
    trace: Arc<Trace>,
    cfg: Agentic,
    start: Instant,
) -> Vec<Measured> {
    let timer = PreciseTimer::start();
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = cfg.duration.map(|d| start + d);
    let mut lanes = Vec::with_capacity(cfg.lanes);
    for _ in 0..cfg.lanes.max(1) {
        let (client, target, trace) = (Arc::clone(client), target.clone(), Arc::clone(&trace));
        let (timer, next) = (timer.clone(), Arc::clone(&next));
        lanes.push(tokio::spawn(async move {
            let n = trace.chains.len();
            let mut measured = Vec::new();
            let (mut sent, mut skipped) = (0usize, 0usize);
            let over = |at: Instant| deadline.is_some_and(|d| at >= d);
            'lane: loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if (deadline.is_none() && i >= n) || skipped >= n || over(Instant::now()) {
                    break;
                }
                let chain = &trace.chains[i % n];
                let cycle = i / n;
                let session: Option<Arc<str>> = chain.session.as_ref().map(|s| match cycle {
                    0 => Arc::clone(s),
                    k => Arc::from(format!("{s}-r{k}")),
                });
                let mut conv = Conversation { trace: &trace, target: &target, history: Vec::new() };
                let mut prev_end: Option<Instant> = None;
                for (k, turn) in chain.turns.iter().enumerate() {
                    if !trace.fits(turn.index, cfg.max_ctx) {
                        break;
                    }
                    if prev_end.is_some_and(|e| over(e + turn.gap)) {
                        break 'lane;
                    }
                    let (body, len) = conv.body(chain, k);
                    // A session's first turn is due once its body is ready; a later one after
                    // the previous answer plus the trace's gap.
                    let intended = prev_end.map_or_else(Instant::now, |e| e + turn.gap);
                    timer.sleep_until(intended).await;
                    let mut out =
                        client.one(body, session.as_deref(), (intended, intended), start).await;
                    prev_end = Some(Instant::now());
                    conv.answered(&out);
                    (out.turn, out.conversation) = (k + 1, i);
                    if sent >= cfg.warmup_per_lane {
                        measured.push((out, len));
                    }
                    sent += 1;
                }
                skipped = if prev_end.is_none() { skipped + 1 } else { 0 };
            }
            measured
        }));
    }
    let mut all = Vec::new();
    for l in lanes {
        if let Ok(v) = l.await {
            all.extend(v);
        }
    }
    all.sort_by(|a, b| a.0.sent.total_cmp(&b.0.sent));
    all
}
