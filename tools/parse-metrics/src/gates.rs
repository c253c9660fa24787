//! Validity gates: a record whose numbers were measured at the wrong lengths, or by a client
//! that could not keep its schedule, is not the performance that was asked for.
//!
//! The lengths asked for come from the client's printed argument namespace (`Namespace(...)`:
//! `random_input_len`, `random_output_len`, `random_range_ratio`, `ignore_eos`,
//! `dataset_name`, `backend`), else from `--isl`/`--osl`. They are checked for `random`
//! datasets only (a `--dataset-path` file has its own lengths) and only when requests
//! succeeded. With a range ratio r each request's length is drawn uniformly from
//! `⌊L(1−r)⌋..=⌊L(1+r)⌋` (at least 1), so the gates compare the **mean** per successful request
//! with that range's mean, and widen the tolerance by three standard errors of a mean of n such
//! draws (0 when r = 0).
//!
//! - **Output length** (`failed`): with `ignore_eos=True` every request must yield its
//!   `max_tokens`, so a mean output per request more than [`OUTPUT_TOLERANCE`] (5 %) off the
//!   expected mean fails (a server that ignored the length field and generated 1024 tokens for
//!   128 asked). Without ignore_eos a request may stop early, so only a mean *above* it fails.
//! - **Input length** (`failed`): a mean input per request more than [`INPUT_TOLERANCE`] (10 %)
//!   off the expected mean fails (prompts of words counted as tokens, a truncating server). The
//!   count is the server's `usage.prompt_tokens` when bench got one, else the client's own
//!   count (then it matches by construction). Chat requests may exceed it by a template's
//!   tokens, up to [`CHAT_TEMPLATE_TOKENS`] more.
//! - **Schedule** (a warning, not a failure): bench prints `P99 dispatch delay (ms)` in its block
//!   (kept as the metric `p99_dispatch_delay`): how late requests left against when they were
//!   due (their arrival time, or when a concurrency slot freed; queueing is not lateness). Above
//!   [`DISPATCH_LIMIT_MS`] the latencies include the client's own lateness: the record gets a
//!   line in `context.warnings` and stays `ok`.

use crate::record::Context;
use crate::text::Block;

/// Largest relative difference of the mean output per request from the requested OSL.
pub const OUTPUT_TOLERANCE: f64 = 0.05;
/// Largest relative difference of the mean input per request from the requested ISL.
pub const INPUT_TOLERANCE: f64 = 0.10;
/// Tokens a chat template may add to each prompt on top of [`INPUT_TOLERANCE`].
pub const CHAT_TEMPLATE_TOKENS: f64 = 64.0;
/// P99 dispatch delay (ms) above which the client did not keep its schedule.
pub const DISPATCH_LIMIT_MS: f64 = 10.0;

/// What the client's namespace line says was asked (absent: not printed).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Requested {
    pub ignore_eos: Option<bool>,
    pub range_ratio: Option<f64>,
    pub dataset: Option<String>,
    pub backend: Option<String>,
}

impl Requested {
    /// Reads the keys the gates need from a printed `Namespace(k=v, ...)` line.
    pub fn from_namespace(line: &str) -> Requested {
        Requested {
            ignore_eos: value(line, "ignore_eos").and_then(|v| match v {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            }),
            range_ratio: value(line, "random_range_ratio").and_then(|v| v.parse().ok()),
            dataset: value(line, "dataset_name").map(str::to_string),
            backend: value(line, "backend").map(str::to_string),
        }
    }
}

/// `key=VALUE` of a namespace line (quotes stripped), `key` starting after `(` or `, `.
fn value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}=");
    let mut from = 0;
    while let Some(pos) = line[from..].find(&needle) {
        let at = from + pos;
        if line[..at].ends_with('(') || line[..at].ends_with(", ") {
            let rest = &line[at + needle.len()..];
            let end = rest.find([',', ')']).unwrap_or(rest.len());
            return Some(rest[..end].trim().trim_matches(|c| c == '\'' || c == '"'));
        }
        from = at + needle.len();
    }
    None
}

/// Mean and standard deviation of a length drawn uniformly from `⌊L(1−r)⌋..=⌊L(1+r)⌋`.
fn expected(len: u64, ratio: f64) -> (f64, f64) {
    let len = len as f64;
    let lo = (len * (1.0 - ratio)).floor().max(1.0);
    let hi = (len * (1.0 + ratio)).floor().max(lo);
    let width = hi - lo + 1.0;
    ((lo + hi) / 2.0, ((width * width - 1.0) / 12.0).sqrt())
}

/// Why the block's lengths are not the ones asked for; empty when they are (or unknown).
pub fn reasons(block: &Block, ctx: &Context) -> Vec<String> {
    let mut out = Vec::new();
    let asked = &block.requested;
    let random = asked.dataset.as_deref().is_none_or(|d| d == "random");
    let n = block.counts.successful_requests.unwrap_or(0);
    if !random || n == 0 {
        return out;
    }
    let ratio = asked.range_ratio.unwrap_or(0.0).clamp(0.0, 1.0);
    let margin = |len: u64| {
        let (mean, sd) = expected(len, ratio);
        (mean, 3.0 * sd / (n as f64).sqrt())
    };
    let ignore_eos = asked.ignore_eos == Some(true);
    if let (Some(osl), Some(total)) = (block.osl.or(ctx.osl), block.counts.total_output_tokens) {
        let (want, se) = margin(osl);
        let got = total as f64 / n as f64;
        let off = got - want;
        let limit = OUTPUT_TOLERANCE * want + se;
        if (ignore_eos && off.abs() > limit) || (!ignore_eos && off > limit) {
            let how = if ignore_eos { "with ignore_eos" } else { "above the maximum asked" };
            out.push(format!(
                "output length: {got:.1} tokens per request, requested {want:.1} (OSL {osl}{}): \
                 {:+.1} % {how} (limit {:.0} %)",
                ratio_note(ratio),
                100.0 * off / want,
                100.0 * OUTPUT_TOLERANCE
            ));
        }
    }
    if let (Some(isl), Some(total)) = (block.isl.or(ctx.isl), block.counts.total_input_tokens) {
        let (want, se) = margin(isl);
        let got = total as f64 / n as f64;
        let off = got - want;
        let chat = asked.backend.as_deref().is_some_and(|b| b.contains("chat"));
        let limit = INPUT_TOLERANCE * want + se;
        let over = if chat { limit + CHAT_TEMPLATE_TOKENS } else { limit };
        if off < -limit || off > over {
            out.push(format!(
                "input length: {got:.1} tokens per request, requested {want:.1} (ISL {isl}{}): \
                 {:+.1} % (limit {:.0} %{})",
                ratio_note(ratio),
                100.0 * off / want,
                100.0 * INPUT_TOLERANCE,
                if chat { " + a chat template's 64 tokens" } else { "" }
            ));
        }
    }
    out
}

fn ratio_note(ratio: f64) -> String {
    if ratio > 0.0 {
        format!(", range ratio {ratio}")
    } else {
        String::new()
    }
}

/// Warnings that leave the record `ok` (see the module docs).
pub fn warnings(block: &Block) -> Vec<String> {
    match block.metrics.get("p99_dispatch_delay") {
        Some(&p99) if p99 > DISPATCH_LIMIT_MS => vec![format!(
            "client behind schedule: P99 dispatch delay {p99:.2} ms > {DISPATCH_LIMIT_MS} ms \
             (latencies include the client's own lateness)"
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_all;

    /// A bench-style block: `n` requests of `input`/`output` tokens each, with `ns` appended to
    /// the namespace and the given P99 dispatch delay.
    fn block(ns: &str, n: u64, input: u64, output: u64, delay: f64) -> Block {
        let text = format!(
            "Namespace(backend='openai', dataset_name='random', num_prompts={n}, \
             random_input_len=128, random_output_len=64{ns})\n\
             ============ Serving Benchmark Result ============\n\
             Successful requests:                     {n}\n\
             Total input tokens:                      {}\n\
             Total generated tokens:                  {}\n\
             P99 dispatch delay (ms):                 {delay}\n\
             ==================================================\n",
            n * input,
            n * output
        );
        let (mut blocks, _) = parse_all(&text);
        blocks.remove(0)
    }

    #[test]
    fn the_namespace_says_what_was_asked() {
        let r = Requested::from_namespace(
            "Namespace(backend='openai-chat', dataset_name='random', random_range_ratio=0.5, \
             xignore_eos=False, ignore_eos=True, seed=0)",
        );
        assert_eq!(
            r,
            Requested {
                ignore_eos: Some(true),
                range_ratio: Some(0.5),
                dataset: Some("random".into()),
                backend: Some("openai-chat".into()),
            }
        );
        assert_eq!(Requested::from_namespace("Namespace(num_prompts=3)"), Requested::default());
        assert_eq!(block(", ignore_eos=True", 8, 128, 64, 0.1).requested.ignore_eos, Some(true));
    }

    #[test]
    fn output_length_gate() {
        let ctx = Context::default();
        assert!(reasons(&block(", ignore_eos=True", 8, 128, 64, 0.1), &ctx).is_empty());
        // The case: 1024 tokens each for 64 asked, with ignore_eos.
        assert_eq!(
            reasons(&block(", ignore_eos=True", 8, 128, 1024, 0.1), &ctx),
            ["output length: 1024.0 tokens per request, requested 64.0 (OSL 64): +1500.0 % \
              with ignore_eos (limit 5 %)"]
        );
        // 5 % is the limit: 67 of 64 passes (+4.7 %), 68 fails.
        assert!(reasons(&block(", ignore_eos=True", 8, 128, 67, 0.1), &ctx).is_empty());
        assert_eq!(reasons(&block(", ignore_eos=True", 8, 128, 60, 0.1), &ctx).len(), 1);
        // Without ignore_eos a request may stop early; more than asked still fails.
        assert!(reasons(&block(", ignore_eos=False", 8, 128, 20, 0.1), &ctx).is_empty());
        assert_eq!(
            reasons(&block("", 8, 128, 1024, 0.1), &ctx),
            ["output length: 1024.0 tokens per request, requested 64.0 (OSL 64): +1500.0 % \
              above the maximum asked (limit 5 %)"]
        );
    }

    #[test]
    fn input_length_gate_and_chat_templates() {
        let ctx = Context::default();
        assert!(reasons(&block("", 8, 140, 64, 0.1), &ctx).is_empty(), "+9.4 %");
        assert_eq!(
            reasons(&block("", 8, 166, 64, 0.1), &ctx),
            ["input length: 166.0 tokens per request, requested 128.0 (ISL 128): +29.7 % \
              (limit 10 %)"]
        );
        assert_eq!(reasons(&block("", 8, 100, 64, 0.1), &ctx).len(), 1, "too short");
        let mut chat = block("", 8, 166, 64, 0.1);
        chat.requested.backend = Some("openai-chat".into());
        assert!(reasons(&chat, &ctx).is_empty(), "a chat template's tokens");
    }

    #[test]
    fn range_ratio_gates_the_mean_with_its_sampling_error() {
        let ctx = Context::default();
        // r = 0.5: OSL 64 → 32..=96, mean 64; 8 draws: 3 standard errors = 19.9 tokens.
        let b = |out| block(", ignore_eos=True, random_range_ratio=0.5", 8, 128, out, 0.1);
        assert!(reasons(&b(80), &ctx).is_empty(), "within 5 % + 3 SE");
        assert_eq!(
            reasons(&b(90), &ctx),
            ["output length: 90.0 tokens per request, requested 64.0 (OSL 64, range ratio \
              0.5): +40.6 % with ignore_eos (limit 5 %)"]
        );
        assert_eq!(expected(64, 0.0), (64.0, 0.0));
        assert_eq!(expected(3, 0.9).0, 3.0, "⌊0.3⌋ = 0 → 1 ..= ⌊5.7⌋ = 5");
    }

    #[test]
    fn other_datasets_and_failed_runs_are_not_gated() {
        let ctx = Context::default();
        let mut file = block(", ignore_eos=True", 8, 500, 1024, 0.1);
        file.requested.dataset = Some("trtllm_custom".into());
        assert!(reasons(&file, &ctx).is_empty());
        assert!(reasons(&block(", ignore_eos=True", 0, 0, 0, 0.1), &ctx).is_empty());
        // Without a namespace the lengths come from the context.
        let mut bare = block(", ignore_eos=True", 8, 128, 1024, 0.1);
        (bare.isl, bare.osl) = (None, None);
        assert!(reasons(&bare, &ctx).is_empty());
        let ctx = Context { osl: Some(1024), isl: Some(128), ..Context::default() };
        assert!(reasons(&bare, &ctx).is_empty());
    }

    #[test]
    fn schedule_gate_warns() {
        assert!(warnings(&block("", 8, 128, 64, 9.99)).is_empty());
        assert_eq!(
            warnings(&block("", 8, 128, 64, 12.5)),
            ["client behind schedule: P99 dispatch delay 12.50 ms > 10 ms (latencies include \
              the client's own lateness)"]
        );
    }
}
