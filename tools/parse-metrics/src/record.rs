//! Block + context → a [`MetricRecord`] with its verdict.
//!
//! A record is `failed`, with one reason each, when: the client exit code is non-zero; failed
//! requests > 0; a failure marker (`!FAILED REQUESTS!`, `!CHECK LOG FOR ERRORS!`) was printed;
//! fewer successful requests than prompts (`num_prompts=`) or than total requests; no
//! successful requests; zero output tokens; a value out of its range (`invalid FIELD: TEXT
//! (WHY)`: a count that is negative, fractional, not a number or over 2^53; a metric value that
//! is negative, `nan`/`inf` or over 1e15); a required metric is missing.
//!
//! # Values in failed records
//! A record carries only values that were measured, never a stand-in: a value that was not
//! printed, or was out of range, is absent (not 0). A `failed` record also drops what its client
//! printed without measuring anything: when no request succeeded (0 successful requests) or no
//! output token came back, the client's figures summarise an empty sample (benchmark_serving
//! and `bench` print 0.00), so the record's `metrics` and `units` are empty; otherwise it keeps
//! the values printed for the requests that did complete, except zeros (what the clients print
//! for an empty sample). Its `counts` are kept: they are what the client counted.
//!
//! Required metrics, by default ([`DEFAULT_REQUIRED`]): the incumbent's 16
//! PERF_METRIC_LOG_QUERIES keys except `user_throughput`, which the SA client never prints
//! (stored absent, not failed). `gen_only` test ids and `--gen-log` add
//! `mean_gen_worker_per_iter_device_step_time`. `--required` replaces the list.
//!
//! The validity gates ([`crate::gates`]) add theirs: lengths other than those asked for fail
//! the record; a client behind its schedule puts a line in `context.warnings`.

use crate::text::{Block, STEP_TIME};
use perfline::wire::metrics::{MetricRecord, Status};
use std::collections::BTreeMap;

/// The incumbent's PERF_METRIC_LOG_QUERIES keys, in its order.
pub const PERF_METRICS: [&str; 16] = [
    "seq_throughput",
    "token_throughput",
    "total_token_throughput",
    "user_throughput",
    "mean_ttft",
    "median_ttft",
    "p99_ttft",
    "mean_itl",
    "median_itl",
    "p99_itl",
    "mean_tpot",
    "median_tpot",
    "p99_tpot",
    "mean_e2el",
    "median_e2el",
    "p99_e2el",
];

/// Required unless `--required` says otherwise: [`PERF_METRICS`] without `user_throughput`.
pub fn default_required() -> Vec<String> {
    PERF_METRICS.iter().filter(|m| **m != "user_throughput").map(|m| m.to_string()).collect()
}

/// What the caller knows about the run (flags, or a record on stdin).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Context {
    pub test_id: Option<String>,
    /// The launch attempt (`--attempt`), put on every record.
    pub attempt: Option<String>,
    pub server: Option<String>,
    pub client: Option<String>,
    pub concurrency: Option<u64>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    pub exit_code: Option<i32>,
    /// `None`: the default rule.
    pub required: Option<Vec<String>>,
    /// Extra reasons known before parsing (a JUnit `<failure>`).
    pub reasons: Vec<String>,
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Context {
    /// The metrics this run must have.
    pub fn required(&self, gen_log: bool) -> Vec<String> {
        if let Some(list) = &self.required {
            return list.clone();
        }
        let mut list = default_required();
        let gen_only = self.test_id.as_deref().is_some_and(|id| id.contains("-gen_only-"));
        if gen_log || gen_only {
            list.push(STEP_TIME.to_string());
        }
        list
    }
}

/// Where a block sits in its input, for naming.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    /// The input's name (a path or `stdin`).
    pub source: &'a str,
    /// 1-based block index within the input.
    pub index: usize,
    /// The input holds several blocks.
    pub several: bool,
}

/// Builds the record of one block; `required` is [`Context::required`].
pub fn build(mut block: Block, ctx: &Context, required: &[String], at: Position) -> MetricRecord {
    let reasons = block.reasons.take().unwrap_or_else(|| reasons(&block, ctx, required));
    let warnings = crate::gates::warnings(&block);
    let concurrency = block.concurrency.or(ctx.concurrency);
    let isl = ctx.isl.or(block.isl);
    let osl = ctx.osl.or(block.osl);
    let derived = concurrency.map(|c| match (block.counts.num_prompts, isl, osl) {
        (Some(n), Some(i), Some(o)) if c > 0 && n % c == 0 => {
            format!("con{c}_iter{}_isl{i}_osl{o}", n / c)
        }
        _ => format!("con{c}"),
    });
    let client = if at.several {
        derived
            .or_else(|| Some(format!("{}-{}", ctx.client.as_deref().unwrap_or("block"), at.index)))
    } else {
        ctx.client.clone().or(derived)
    };
    let status = if reasons.is_empty() { Status::Ok } else { Status::Failed };
    if status == Status::Failed {
        unmeasured_out(&mut block);
    }
    let source = if block.line > 0 {
        format!("{}:{}", at.source, block.line)
    } else {
        at.source.to_string()
    };
    MetricRecord {
        attempt: ctx.attempt.clone(),
        test_id: test_id(ctx, at.source),
        server: ctx.server.clone(),
        client,
        concurrency,
        isl,
        osl,
        status,
        reasons,
        metrics: block.metrics.into_iter().map(|(k, v)| (k.into_owned(), v)).collect(),
        units: block.units.into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        counts: block.counts,
        source: Some(source),
        log_tail: if status == Status::Failed { block.log_tail } else { Vec::new() },
        context: with_warnings(&ctx.extra, warnings),
    }
}

/// The caller's context plus the gates' warnings (`warnings`: a list of lines), if any.
fn with_warnings(
    extra: &BTreeMap<String, serde_json::Value>,
    warnings: Vec<String>,
) -> BTreeMap<String, serde_json::Value> {
    let mut context = extra.clone();
    if !warnings.is_empty() {
        context.insert("warnings".into(), warnings.into());
    }
    context
}

/// Drops the values a failed run's client printed without measuring them (module docs).
fn unmeasured_out(block: &mut Block) {
    let c = &block.counts;
    if c.successful_requests == Some(0) || c.total_output_tokens == Some(0) {
        block.metrics.clear();
        block.units.clear();
        return;
    }
    block.metrics.retain(|_, v| *v != 0.0);
    let metrics = &block.metrics;
    block.units.retain(|k, _| metrics.contains_key(k));
}

/// A failed record for an input without any result block (or unreadable).
pub fn no_result(
    ctx: &Context,
    source: &str,
    why: String,
    mut extra: Vec<String>,
    log_tail: Vec<String>,
) -> MetricRecord {
    let mut reasons = ctx.reasons.clone();
    if let Some(code) = ctx.exit_code.filter(|c| *c != 0) {
        reasons.push(format!("client exit code {code}"));
    }
    reasons.push(why);
    reasons.append(&mut extra);
    MetricRecord {
        attempt: ctx.attempt.clone(),
        test_id: test_id(ctx, source),
        server: ctx.server.clone(),
        client: ctx.client.clone(),
        concurrency: ctx.concurrency,
        isl: ctx.isl,
        osl: ctx.osl,
        status: Status::Failed,
        reasons,
        metrics: BTreeMap::new(),
        units: BTreeMap::new(),
        counts: Default::default(),
        source: Some(source.to_string()),
        log_tail,
        context: ctx.extra.clone(),
    }
}

fn test_id(ctx: &Context, source: &str) -> String {
    ctx.test_id.clone().unwrap_or_else(|| {
        std::path::Path::new(source)
            .file_name()
            .map_or_else(|| source.to_string(), |n| n.to_string_lossy().into_owned())
    })
}

/// Why a block is not a trustworthy result; empty when it is.
pub fn reasons(block: &Block, ctx: &Context, required: &[String]) -> Vec<String> {
    let mut out = ctx.reasons.clone();
    let c = &block.counts;
    if let Some(code) = ctx.exit_code.filter(|c| *c != 0) {
        out.push(format!("client exit code {code}"));
    }
    if let Some(n) = c.failed_requests.filter(|n| *n > 0) {
        out.push(format!("{n} failed requests"));
    }
    let mut markers = block.markers.clone();
    markers.dedup();
    for m in markers {
        out.push(format!("failure marker {m}"));
    }
    if let Some(ok) = c.successful_requests {
        if let Some(n) = c.num_prompts.filter(|n| ok < *n) {
            out.push(format!("{ok} successful requests of {n} prompts"));
        } else if let Some(total) = c.total_requests.filter(|t| ok < *t) {
            out.push(format!("{ok} successful requests of {total} total"));
        }
        if ok == 0 {
            out.push("no successful requests".to_string());
        }
    }
    let zero_tokens = match c.total_output_tokens {
        Some(t) => t == 0,
        None => block.metrics.get("token_throughput") == Some(&0.0),
    };
    if zero_tokens {
        out.push("zero output tokens".to_string());
    }
    for (field, text) in &block.invalid {
        out.push(format!("invalid {field}: {text}"));
    }
    out.extend(crate::gates::reasons(block, ctx));
    let missing: Vec<String> = required
        .iter()
        .filter(|m| !block.metrics.contains_key(m.as_str()) && !block.invalid.contains_key(*m))
        .cloned()
        .collect();
    if !missing.is_empty() {
        out.push(format!("missing metrics: {}", missing.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_all;

    const AT: Position = Position { source: "client.log", index: 1, several: false };

    fn full_block() -> Block {
        let (mut blocks, _) = parse_all(include_str!("../tests/data/modern_ok.txt"));
        blocks.remove(0)
    }

    #[test]
    fn ok_block_is_ok_and_named_from_namespace() {
        let rec = build(full_block(), &Context::default(), &default_required(), AT);
        assert_eq!(rec.status, Status::Ok, "{:?}", rec.reasons);
        assert_eq!(rec.test_id, "client.log");
        assert_eq!(rec.client.as_deref(), Some("con4_iter2_isl128_osl64"));
        assert_eq!(rec.source.as_deref(), Some("client.log:2"));
        assert!(rec.log_tail.is_empty());
    }

    #[test]
    fn each_rule_gives_its_reason() {
        let mut b = full_block();
        b.counts.failed_requests = Some(2);
        b.counts.successful_requests = Some(6);
        b.counts.total_input_tokens = Some(6 * 128); // the successful requests' prompts
        b.counts.total_output_tokens = Some(0);
        b.metrics.remove("p99_itl");
        b.invalid.insert("mean_ttft".into(), "nan (not a number)".into());
        b.metrics.remove("mean_ttft");
        let ctx = Context { exit_code: Some(3), ..Context::default() };
        assert_eq!(
            reasons(&b, &ctx, &ctx.required(true)),
            [
                "client exit code 3",
                "2 failed requests",
                "6 successful requests of 8 prompts",
                "zero output tokens",
                "invalid mean_ttft: nan (not a number)",
                "missing metrics: p99_itl, mean_gen_worker_per_iter_device_step_time",
            ]
        );
    }

    #[test]
    fn failed_records_carry_no_unmeasured_values() {
        let ctx = Context::default();
        let build = |b: Block| build(b, &ctx, &default_required(), AT);
        // No request succeeded: the printed 0.00s are no measurement.
        let mut none = full_block();
        none.counts.successful_requests = Some(0);
        none.counts.failed_requests = Some(8);
        for v in none.metrics.values_mut() {
            *v = 0.0;
        }
        let rec = build(none);
        assert_eq!(rec.status, Status::Failed);
        assert!(rec.metrics.is_empty(), "{:?}", rec.metrics);
        assert!(rec.units.is_empty());
        assert_eq!(rec.counts.failed_requests, Some(8));
        // No output token: nothing measured either, even with non-zero figures printed.
        let mut silent = full_block();
        silent.counts.total_output_tokens = Some(0);
        let rec = build(silent);
        assert_eq!(rec.reasons, ["zero output tokens"]);
        assert!(rec.metrics.is_empty() && rec.units.is_empty());
        // Some succeeded: their printed figures stay, a printed zero does not.
        let mut some = full_block();
        some.counts.failed_requests = Some(1);
        some.metrics.insert("p99_itl".into(), 0.0);
        let mean_ttft = some.metrics["mean_ttft"];
        let rec = build(some);
        assert_eq!(rec.status, Status::Failed);
        assert_eq!(rec.metrics.get("mean_ttft"), Some(&mean_ttft));
        assert!(!rec.metrics.contains_key("p99_itl") && !rec.units.contains_key("p99_itl"));
        assert!(rec.metrics.values().all(|v| *v != 0.0));
        // An ok record keeps a measured zero.
        let mut zero = full_block();
        zero.metrics.insert("std_itl".into(), 0.0);
        assert_eq!(build(zero).metrics.get("std_itl"), Some(&0.0));
    }

    #[test]
    fn gen_only_ids_require_step_time() {
        let ctx = Context { test_id: Some("disagg-gen_only-cfg".into()), ..Context::default() };
        assert!(ctx.required(false).iter().any(|m| m == STEP_TIME));
        let custom = Context { required: Some(vec![]), ..ctx };
        assert!(custom.required(true).is_empty());
    }
}
