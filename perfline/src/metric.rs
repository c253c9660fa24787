//! What each metric means for a verdict: which direction is better. One table for every tool
//! (perf-check judges with it, report draws with it).

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

impl Better {
    pub fn as_str(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
        }
    }
}

/// Metric names (parse-metrics' names) and which way is better. Throughput-like metrics and
/// speculative decoding's acceptance length are better higher; latencies and step times lower.
/// Unlike the incumbent's table (reference/incumbent.md §9), TPOT is a latency here.
pub const DIRECTIONS: &[(&str, Better)] = &[
    ("seq_throughput", Better::Higher),
    ("token_throughput", Better::Higher),
    ("total_token_throughput", Better::Higher),
    ("user_throughput", Better::Higher),
    ("al", Better::Higher),
    // Trace replay (bench --dataset-name mooncake): more of the prompt served from the cache.
    ("cache_hit_rate", Better::Higher),
    ("mean_ttft", Better::Lower),
    ("median_ttft", Better::Lower),
    ("p99_ttft", Better::Lower),
    ("mean_tpot", Better::Lower),
    ("median_tpot", Better::Lower),
    ("p99_tpot", Better::Lower),
    ("mean_itl", Better::Lower),
    ("median_itl", Better::Lower),
    ("p99_itl", Better::Lower),
    ("mean_e2el", Better::Lower),
    ("median_e2el", Better::Lower),
    ("p99_e2el", Better::Lower),
    ("mean_gen_worker_per_iter_device_step_time", Better::Lower),
    // GPU telemetry (role's telemetry): energy, power and memory are costs. Utilisation has no
    // direction: a busier GPU is not better or worse by itself.
    ("gpu_energy_per_token", Better::Lower),
    ("gpu_power_mean", Better::Lower),
    ("gpu_mem_used_max", Better::Lower),
];

/// Which way `metric` improves: the table above, else by name (`*throughput*` higher;
/// `*_ttft`, `*_tpot`, `*_itl`, `*_e2el`, `*_time`, `*latency*` lower); `None` for a metric
/// with no direction (counts, utilisation), which is not judged.
pub fn better(metric: &str) -> Option<Better> {
    if let Some((_, b)) = DIRECTIONS.iter().find(|(m, _)| *m == metric) {
        return Some(*b);
    }
    if metric.contains("throughput") {
        return Some(Better::Higher);
    }
    // bench's mean TTFT by turn of a session: `mean_ttft_turn_1`, …
    if metric.starts_with("mean_ttft_turn_") {
        return Some(Better::Lower);
    }
    let lower = ["_ttft", "_tpot", "_itl", "_e2el", "_time", "latency"];
    lower.iter().any(|s| metric.ends_with(s) || metric.contains("latency")).then_some(Better::Lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_names() {
        assert_eq!(better("token_throughput"), Some(Better::Higher));
        assert_eq!(better("p99_tpot"), Some(Better::Lower));
        assert_eq!(better("p95_ttft"), Some(Better::Lower));
        assert_eq!(better("output_throughput_per_gpu"), Some(Better::Higher));
        assert_eq!(better("al"), Some(Better::Higher));
        assert_eq!(better("cache_hit_rate"), Some(Better::Higher));
        assert_eq!(better("mean_ttft_turn_3"), Some(Better::Lower));
        assert_eq!(better("sessions"), None);
        assert_eq!(better("total_cached_tokens"), None);
        assert_eq!(better("total_requests"), None);
        assert_eq!(better("gpu_energy_per_token"), Some(Better::Lower));
        assert_eq!(better("gpu_power_mean"), Some(Better::Lower));
        assert_eq!(better("gpu_mem_used_max"), Some(Better::Lower));
        assert_eq!(better("gpu_util_mean"), None);
        assert_eq!(better("gpu_util_max"), None);
    }
}
