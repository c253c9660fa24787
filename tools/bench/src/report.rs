//! benchmark_serving's result: the printed block (reference/incumbent.md §6, parsed by the §5
//! regexes) and the `--save-result` JSON keys, plus bench's own dispatch-delay and error
//! sections printed after the standard block so that block stays byte-compatible.

use crate::client::Outcome;
use crate::stats::{mean, Summary};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// A latency metric of `--percentile-metrics` and `--goodput`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Ttft,
    Tpot,
    Itl,
    E2el,
}

impl Metric {
    pub fn parse(name: &str) -> Option<Metric> {
        match name.trim() {
            "ttft" => Some(Metric::Ttft),
            "tpot" => Some(Metric::Tpot),
            "itl" => Some(Metric::Itl),
            "e2el" => Some(Metric::E2el),
            _ => None,
        }
    }
    fn key(self) -> &'static str {
        match self {
            Metric::Ttft => "ttft",
            Metric::Tpot => "tpot",
            Metric::Itl => "itl",
            Metric::E2el => "e2el",
        }
    }
    fn header(self) -> &'static str {
        match self {
            Metric::Ttft => "Time to First Token",
            Metric::Tpot => "Time per Output Token (excl. 1st token)",
            Metric::Itl => "Inter-token Latency",
            Metric::E2el => "End-to-end Latency",
        }
    }
}

/// How to summarise.
#[derive(Debug, Clone)]
pub struct Options {
    pub percentile_metrics: Vec<Metric>,
    pub percentiles: Vec<f64>,
    /// SLOs in ms for `--goodput`.
    pub goodput: Vec<(Metric, f64)>,
}

/// The figures of one run (latencies in ms).
#[derive(Debug, Clone)]
pub struct Results {
    pub total: usize,
    pub completed: usize,
    pub failed: usize,
    pub duration: f64,
    pub total_input: usize,
    pub total_output: usize,
    pub request_throughput: f64,
    pub request_goodput: Option<f64>,
    pub output_throughput: f64,
    pub total_token_throughput: f64,
    pub user_throughput: f64,
    pub ttft: Summary,
    pub tpot: Summary,
    pub itl: Summary,
    pub e2el: Summary,
    /// `sent − intended` of every request: the client's own lateness (not queueing).
    pub dispatch_delay: Summary,
    /// Its 99th percentile, printed in the block whatever `--metric-percentiles` asks.
    pub p99_dispatch_delay: f64,
    /// Distinct error messages with their counts, most frequent first.
    pub errors: Vec<(String, usize)>,
    /// Trace replay's figures (`--dataset-name mooncake`), else `None`.
    pub trace: Option<TraceStats>,
}

/// Trace replay's figures over the measured requests.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceStats {
    /// Sum of the server's `usage.prompt_tokens_details.cached_tokens`; `None` when no
    /// response carried it.
    pub total_cached_tokens: Option<usize>,
    /// Conversations with at least one measured turn (a request without a session is a
    /// conversation of one turn).
    pub sessions: usize,
    /// Measured requests (every request is a turn of its conversation).
    pub turns: usize,
    /// Mean TTFT (ms) of the successful turns by their index in the session: `[0]` is turn 1.
    pub mean_ttft_by_turn_ms: Vec<f64>,
    /// Cached / input tokens of the successful requests, in %; `None` without cached counts.
    pub cache_hit_rate: Option<f64>,
}

impl TraceStats {
    /// `total_input` is the block's total input tokens (the server's counts where sent).
    pub fn compute(outcomes: &[Outcome], total_input: usize) -> TraceStats {
        let ok = || outcomes.iter().filter(|o| o.error.is_none());
        let cached: Vec<usize> = ok().filter_map(|o| o.cached_tokens).collect();
        let total_cached_tokens = (!cached.is_empty()).then(|| cached.iter().sum::<usize>());
        let mut conversations: Vec<usize> = outcomes.iter().map(|o| o.conversation).collect();
        conversations.sort_unstable();
        conversations.dedup();
        let max_turn = ok().map(|o| o.turn).max().unwrap_or(0);
        let mut sums = vec![(0.0, 0usize); max_turn];
        for o in ok().filter(|o| o.turn > 0) {
            sums[o.turn - 1].0 += o.ttft * 1000.0;
            sums[o.turn - 1].1 += 1;
        }
        let mean_ttft_by_turn_ms =
            sums.iter().map(|&(s, n)| if n == 0 { 0.0 } else { s / n as f64 }).collect();
        let cache_hit_rate = total_cached_tokens.map(|c| {
            if total_input == 0 {
                0.0
            } else {
                c as f64 * 100.0 / total_input as f64
            }
        });
        TraceStats {
            total_cached_tokens,
            sessions: conversations.len(),
            turns: outcomes.len(),
            mean_ttft_by_turn_ms,
            cache_hit_rate,
        }
    }

    /// The block's lines (inside the block, so parse-metrics keeps them as metrics).
    fn lines(&self, s: &mut String) {
        if let Some(c) = self.total_cached_tokens {
            int(s, "Total cached tokens:", c);
        }
        if let Some(r) = self.cache_hit_rate {
            float(s, "Cache hit rate (%):", r);
        }
        int(s, "Sessions:", self.sessions);
        int(s, "Turns:", self.turns);
        let by_turn: Vec<String> =
            self.mean_ttft_by_turn_ms.iter().map(|v| format!("{v:.2}")).collect();
        let _ = writeln!(s, "{:<40} {}", "Mean TTFT by turn (ms):", by_turn.join(","));
    }

    fn json(&self, m: &mut Map<String, Value>) {
        m.insert("total_cached_tokens".into(), json!(self.total_cached_tokens));
        m.insert("cache_hit_rate".into(), json!(self.cache_hit_rate));
        m.insert("sessions".into(), json!(self.sessions));
        m.insert("turns".into(), json!(self.turns));
        m.insert("mean_ttft_by_turn_ms".into(), json!(self.mean_ttft_by_turn_ms));
    }
}

impl Results {
    /// `prompt_lens[i]` is request i's input length, replaced by the server's count when it
    /// sent one. Failed requests count in `total` and dispatch delay only.
    pub fn compute(
        outcomes: &[Outcome],
        prompt_lens: &[usize],
        duration: f64,
        opts: &Options,
    ) -> Results {
        let (mut ttfts, mut tpots, mut itls, mut e2els, mut user) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut total_input, mut total_output, mut good) = (0, 0, 0);
        let mut errors: Vec<(String, usize)> = Vec::new();
        for (i, o) in outcomes.iter().enumerate() {
            if let Some(e) = &o.error {
                match errors.iter_mut().find(|(m, _)| m == e) {
                    Some((_, n)) => *n += 1,
                    None => errors.push((e.clone(), 1)),
                }
                continue;
            }
            total_input += o.prompt_tokens.or(prompt_lens.get(i).copied()).unwrap_or(0);
            total_output += o.output_tokens;
            let tpot = if o.output_tokens > 1 {
                (o.latency - o.ttft) / (o.output_tokens - 1) as f64
            } else {
                0.0
            };
            let ms = |s: f64| s * 1000.0;
            if o.output_tokens > 1 {
                tpots.push(ms(tpot));
            }
            ttfts.push(ms(o.ttft));
            itls.extend(o.itls.iter().map(|&s| ms(s)));
            e2els.push(ms(o.latency));
            if o.latency > 0.0 {
                user.push(o.output_tokens as f64 / o.latency);
            }
            let within = |m: Metric, slo: f64| match m {
                Metric::Ttft => ms(o.ttft) <= slo,
                Metric::Tpot => ms(tpot) <= slo,
                Metric::E2el => ms(o.latency) <= slo,
                Metric::Itl => true, // benchmark_serving has no ITL SLO
            };
            if opts.goodput.iter().all(|&(m, slo)| within(m, slo)) {
                good += 1;
            }
        }
        errors.sort_by_key(|e| std::cmp::Reverse(e.1));
        let failed = errors.iter().map(|e| e.1).sum();
        let completed = outcomes.len() - failed;
        let per_s = |n: f64| if duration > 0.0 { n / duration } else { 0.0 };
        let delays: Vec<f64> = outcomes.iter().map(|o| (o.sent - o.intended) * 1000.0).collect();
        let p99_dispatch_delay = Summary::of(&delays, &[99.0]).percentiles[0].1;
        let p = &opts.percentiles;
        Results {
            total: outcomes.len(),
            completed,
            failed,
            duration,
            total_input,
            total_output,
            request_throughput: per_s(completed as f64),
            request_goodput: (!opts.goodput.is_empty()).then(|| per_s(good as f64)),
            output_throughput: per_s(total_output as f64),
            total_token_throughput: per_s((total_input + total_output) as f64),
            user_throughput: mean(&user),
            ttft: Summary::of(&ttfts, p),
            tpot: Summary::of(&tpots, p),
            itl: Summary::of(&itls, p),
            e2el: Summary::of(&e2els, p),
            dispatch_delay: Summary::of(&delays, p),
            p99_dispatch_delay,
            errors,
            trace: None,
        }
    }

    fn summary(&self, m: Metric) -> &Summary {
        match m {
            Metric::Ttft => &self.ttft,
            Metric::Tpot => &self.tpot,
            Metric::Itl => &self.itl,
            Metric::E2el => &self.e2el,
        }
    }

    /// The block benchmark_serving prints, then bench's extra sections.
    pub fn block(&self, opts: &Options) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{:=^50}", " Serving Benchmark Result ");
        int(&mut s, "Total requests:", self.total);
        int(&mut s, "Successful requests:", self.completed);
        int(&mut s, "Failed requests:", self.failed);
        float(&mut s, "Benchmark duration (s):", self.duration);
        int(&mut s, "Total input tokens:", self.total_input);
        int(&mut s, "Total generated tokens:", self.total_output);
        float(&mut s, "Request throughput (req/s):", self.request_throughput);
        if let Some(g) = self.request_goodput {
            float(&mut s, "Request goodput (req/s):", g);
        }
        float(&mut s, "Output token throughput (tok/s):", self.output_throughput);
        float(&mut s, "Total Token throughput (tok/s):", self.total_token_throughput);
        float(&mut s, "User throughput (tok/s):", self.user_throughput);
        if self.failed > 0 {
            s.push_str("=======================!FAILED REQUESTS!=======================\n");
            let _ = writeln!(s, "Total failed requests: {}", self.failed);
            s.push_str("=====================!CHECK LOG FOR ERRORS!====================\n");
        }
        for &m in &opts.percentile_metrics {
            let sum = self.summary(m);
            let name = m.key().to_uppercase();
            let _ = writeln!(s, "{:-^50}", m.header());
            float(&mut s, &format!("Mean {name} (ms):"), sum.mean);
            float(&mut s, &format!("Median {name} (ms):"), sum.median);
            for &(p, v) in &sum.percentiles {
                float(&mut s, &format!("P{} {name} (ms):", percentile_label(p)), v);
            }
        }
        // A generic line inside the block, so parse-metrics keeps it as `p99_dispatch_delay`
        // (its gate flags a client that fell behind its schedule); no §5 regex matches it.
        float(&mut s, "P99 dispatch delay (ms):", self.p99_dispatch_delay);
        if let Some(t) = &self.trace {
            t.lines(&mut s);
        }
        s.push_str(&"=".repeat(50));
        s.push('\n');
        // bench's own sections: labels chosen to match none of the §5 regexes.
        let d = &self.dispatch_delay;
        let _ = writeln!(s, "{:-^50}", "Dispatch Delay (sent - intended)");
        float(&mut s, "Mean dispatch delay (ms):", d.mean);
        float(&mut s, "Median dispatch delay (ms):", d.median);
        for &(p, v) in &d.percentiles {
            float(&mut s, &format!("P{} dispatch delay (ms):", percentile_label(p)), v);
        }
        float(&mut s, "Max dispatch delay (ms):", d.max);
        if !self.errors.is_empty() {
            let _ = writeln!(s, "{:-^50}", "Errors");
            for (msg, n) in &self.errors {
                let _ = writeln!(s, "{n:>8} x {msg}");
            }
        }
        s.push_str(&"=".repeat(50));
        s.push('\n');
        s
    }

    /// The benchmark result keys of `--save-result` (§6); `detailed` adds the per-request
    /// arrays.
    pub fn json(&self, opts: &Options, outcomes: &[Outcome], detailed: bool) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("duration".into(), json!(self.duration));
        m.insert("completed".into(), json!(self.completed));
        m.insert("failed".into(), json!(self.failed));
        m.insert("total_input_tokens".into(), json!(self.total_input));
        m.insert("total_output_tokens".into(), json!(self.total_output));
        m.insert("request_throughput".into(), json!(self.request_throughput));
        m.insert("request_goodput:".into(), json!(self.request_goodput));
        m.insert("output_throughput".into(), json!(self.output_throughput));
        m.insert("total_token_throughput".into(), json!(self.total_token_throughput));
        m.insert("user_throughput".into(), json!(self.user_throughput));
        for &metric in &opts.percentile_metrics {
            insert_summary(&mut m, metric.key(), self.summary(metric));
        }
        insert_summary(&mut m, "dispatch_delay", &self.dispatch_delay);
        m.insert("p99_dispatch_delay_ms".into(), json!(self.p99_dispatch_delay));
        if let Some(t) = &self.trace {
            t.json(&mut m);
        }
        if detailed {
            let ms = |f: fn(&Outcome) -> f64| -> Vec<f64> {
                outcomes.iter().map(|o| f(o) * 1000.0).collect()
            };
            m.insert(
                "output_lens".into(),
                json!(outcomes.iter().map(|o| o.output_tokens).collect::<Vec<_>>()),
            );
            m.insert("ttfts".into(), json!(outcomes.iter().map(|o| o.ttft).collect::<Vec<_>>()));
            m.insert("itls".into(), json!(outcomes.iter().map(|o| &o.itls).collect::<Vec<_>>()));
            m.insert("e2els".into(), json!(outcomes.iter().map(|o| o.latency).collect::<Vec<_>>()));
            m.insert(
                "errors".into(),
                json!(outcomes
                    .iter()
                    .map(|o| o.error.clone().unwrap_or_default())
                    .collect::<Vec<_>>()),
            );
            m.insert("scheduled_ms".into(), json!(ms(|o| o.scheduled)));
            m.insert("intended_ms".into(), json!(ms(|o| o.intended)));
            m.insert("sent_ms".into(), json!(ms(|o| o.sent)));
            m.insert("connect_ms".into(), json!(ms(|o| o.connect)));
            // For joining with a server's own first-token write times (same machine).
            m.insert(
                "first_token_mono_ns".into(),
                json!(outcomes.iter().map(|o| o.first_token_mono_ns).collect::<Vec<_>>()),
            );
            m.insert(
                "response_ids".into(),
                json!(outcomes.iter().map(|o| o.response_id.clone()).collect::<Vec<_>>()),
            );
            if self.trace.is_some() {
                // Trace replay: each request's turn (1-based) and conversation, and the
                // server's cached tokens (null where it did not say).
                m.insert(
                    "turn_index".into(),
                    json!(outcomes.iter().map(|o| o.turn).collect::<Vec<_>>()),
                );
                m.insert(
                    "conversation".into(),
                    json!(outcomes.iter().map(|o| o.conversation).collect::<Vec<_>>()),
                );
                m.insert(
                    "cached_tokens".into(),
                    json!(outcomes.iter().map(|o| o.cached_tokens).collect::<Vec<_>>()),
                );
            }
        }
        m
    }
}

fn insert_summary(m: &mut Map<String, Value>, key: &str, s: &Summary) {
    m.insert(format!("mean_{key}_ms"), json!(s.mean));
    m.insert(format!("median_{key}_ms"), json!(s.median));
    m.insert(format!("std_{key}_ms"), json!(s.std));
    m.insert(format!("min_{key}_ms"), json!(s.min));
    m.insert(format!("max_{key}_ms"), json!(s.max));
    for &(p, v) in &s.percentiles {
        m.insert(format!("p{}_{key}_ms", percentile_label(p)), json!(v));
    }
}

/// `P{int(p) if integral else p}` as benchmark_serving labels percentiles.
pub fn percentile_label(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

/// A Python float as `str()` prints it: `10.0`, `0.5`, `inf`.
pub fn py_float(x: f64) -> String {
    if x.is_infinite() {
        "inf".into()
    } else if x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

fn int(s: &mut String, label: &str, v: usize) {
    let _ = writeln!(s, "{label:<40} {v:<10}");
}

fn float(s: &mut String, label: &str, v: f64) {
    let _ = writeln!(s, "{label:<40} {v:<10.2}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ttft: f64, itls: &[f64], tokens: usize) -> Outcome {
        Outcome {
            ttft,
            itls: itls.to_vec(),
            latency: ttft + itls.iter().sum::<f64>(),
            output_tokens: tokens,
            ..Outcome::default()
        }
    }

    fn opts() -> Options {
        Options {
            percentile_metrics: vec![Metric::Ttft, Metric::Tpot, Metric::Itl, Metric::E2el],
            percentiles: vec![99.0],
            goodput: vec![],
        }
    }

    #[test]
    fn metrics_follow_benchmark_serving() {
        let outs = [
            ok(0.1, &[0.01, 0.03], 3),
            ok(0.3, &[], 1),
            Outcome { error: Some("HTTP 500: x".into()), sent: 0.002, ..Outcome::default() },
        ];
        let mut o = opts();
        o.goodput = vec![(Metric::Ttft, 200.0)];
        let r = Results::compute(&outs, &[10, 20, 30], 2.0, &o);
        assert_eq!((r.total, r.completed, r.failed), (3, 2, 1));
        assert_eq!((r.total_input, r.total_output), (30, 4));
        assert!((r.ttft.mean - 200.0).abs() < 1e-9);
        assert!((r.tpot.mean - 20.0).abs() < 1e-9, "only requests with > 1 token: {:?}", r.tpot);
        assert!((r.itl.median - 20.0).abs() < 1e-9);
        assert!((r.e2el.max - 300.0).abs() < 1e-9);
        assert_eq!(r.request_goodput, Some(0.5));
        assert!((r.user_throughput - (3.0 / 0.14 + 1.0 / 0.3) / 2.0).abs() < 1e-9);
        assert!((r.dispatch_delay.max - 2.0).abs() < 1e-9);
        assert_eq!(r.errors, vec![("HTTP 500: x".to_string(), 1)]);
    }

    #[test]
    fn block_layout_is_exact() {
        let r = Results::compute(&[ok(0.1, &[0.02], 2)], &[4], 1.0, &opts());
        let block = r.block(&opts());
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0], "============ Serving Benchmark Result ============");
        assert_eq!(lines[1], "Total requests:                          1         ");
        assert_eq!(lines[4], "Benchmark duration (s):                  1.00      ");
        assert_eq!(lines[7], "Request throughput (req/s):              1.00      ");
        assert_eq!(lines[11], "---------------Time to First Token----------------");
        assert_eq!(lines[12], "Mean TTFT (ms):                          100.00    ");
        assert_eq!(lines[15], "-----Time per Output Token (excl. 1st token)------");
        assert!(block.contains("\nP99 E2EL (ms):                           120.00    \n"));
        assert!(!block.contains("FAILED"));
        let with_failure = Results::compute(
            &[Outcome { error: Some("x".into()), ..Outcome::default() }],
            &[1],
            1.0,
            &opts(),
        )
        .block(&opts());
        assert!(with_failure.contains(
            "=======================!FAILED REQUESTS!=======================\nTotal failed requests: 1\n"
        ));
    }

    #[test]
    fn labels() {
        assert_eq!(percentile_label(99.0), "99");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(py_float(f64::INFINITY), "inf");
        assert_eq!(py_float(10.0), "10.0");
        assert_eq!(py_float(2.5), "2.5");
    }

    #[test]
    fn json_keys() {
        let r = Results::compute(&[ok(0.1, &[0.02], 2)], &[4], 1.0, &opts());
        let m = r.json(&opts(), &[], false);
        for k in [
            "duration",
            "completed",
            "request_goodput:",
            "p99_ttft_ms",
            "std_e2el_ms",
            "median_itl_ms",
        ] {
            assert!(m.contains_key(k), "{k}");
        }
        assert!(!m.contains_key("ttfts"));
    }
}
