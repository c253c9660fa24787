//! `benchmark_serving --save-result` JSON (reference/incumbent.md §6) → blocks.
//!
//! A file may hold one result object, an array of them, or several objects one after another.
//! Keys map to the text block's names: `request_throughput` → `seq_throughput`,
//! `output_throughput` → `token_throughput`, `{mean,median,std,min,max,pNN}_{ttft,tpot,itl,e2el}_ms`
//! → `{stat}_{name}` (`p99.9` → `p99_9`), `avg_decoded_tokens_per_iter.mean` → `al`, `completed`
//! → successful requests, `num_prompts`, `max_concurrency`, `duration` → counts.

use crate::text::Block;
use serde_json::Value;

/// True when `v` looks like a save-result object.
pub fn is_result(v: &Value) -> bool {
    ["request_throughput", "output_throughput", "completed", "duration"]
        .iter()
        .any(|k| v.get(k).is_some())
}

/// Parses every result object in `text`; `Err` when the text is not JSON.
pub fn parse(text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let doc = doc.map_err(|e| format!("invalid JSON: {e}"))?;
        match doc {
            Value::Array(items) => blocks.extend(items.iter().filter(|v| is_result(v)).map(block)),
            v if is_result(&v) => blocks.push(block(&v)),
            _ => {}
        }
    }
    Ok(blocks)
}

/// One result object → a block.
pub fn block(v: &Value) -> Block {
    let mut b = Block::default();
    let num = |k: &str| v.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
    let int = |k: &str| v.get(k).and_then(Value::as_u64);
    b.counts.duration_s = num("duration");
    b.counts.successful_requests = int("completed");
    b.counts.failed_requests = int("failed").or_else(|| {
        v.get("errors").and_then(Value::as_array).map(|errs| {
            errs.iter().filter(|e| e.as_str().is_some_and(|s| !s.is_empty())).count() as u64
        })
    });
    b.counts.total_requests = int("total_requests");
    b.counts.total_input_tokens = int("total_input_tokens");
    b.counts.total_output_tokens = int("total_output_tokens");
    b.counts.num_prompts = int("num_prompts");
    b.concurrency = int("max_concurrency");
    let mut put = |name: String, unit: &'static str, value: Option<f64>| {
        if let Some(x) = value {
            b.metrics.insert(name.clone().into(), x);
            b.units.insert(name.into(), unit.into());
        }
    };
    put("seq_throughput".into(), "req/s", num("request_throughput"));
    put("request_goodput".into(), "req/s", num("request_goodput:").or(num("request_goodput")));
    put("token_throughput".into(), "tok/s", num("output_throughput"));
    put("total_token_throughput".into(), "tok/s", num("total_token_throughput"));
    put("user_throughput".into(), "tok/s", num("user_throughput"));
    if let Some(obj) = v.as_object() {
        for (key, value) in obj {
            if let Some(name) = latency_name(key) {
                put(name, "ms", value.as_f64().filter(|x| x.is_finite()));
            }
        }
    }
    if let Some(al) = v.get("avg_decoded_tokens_per_iter") {
        let stat = |k: &str| al.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
        // The text block prints this section only when the mean is > 0.
        if stat("mean").is_some_and(|m| m > 0.0) {
            put("al".into(), "tokens/iter", stat("mean"));
            for s in ["median", "std", "min", "max"] {
                put(format!("{s}_al"), "tokens/iter", stat(s));
            }
            if let Some(pcts) = al.get("percentiles").and_then(Value::as_object) {
                for (p, value) in pcts {
                    if let Some(p) = percentile_word(p) {
                        put(format!("{p}_al"), "tokens/iter", value.as_f64());
                    }
                }
            }
        }
    }
    if let Some(energy) = v.get("energy") {
        let e = |k: &str| energy.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
        put("total_energy".into(), "J", e("total_energy_j"));
        put("output_tokens_per_second_per_watt".into(), "tps/W", e("output_tps_per_w"));
        put("total_gpu_power".into(), "W", e("total_gpu_power_w"));
    }
    b
}

/// `mean_ttft_ms` → `mean_ttft`, `p99.9_itl_ms` → `p99_9_itl`.
fn latency_name(key: &str) -> Option<String> {
    let rest = key.strip_suffix("_ms")?;
    let (stat, name) = rest.rsplit_once('_')?;
    if !["ttft", "tpot", "itl", "e2el"].contains(&name) {
        return None;
    }
    let stat = match stat {
        "mean" | "median" | "std" | "min" | "max" => stat.to_string(),
        p => percentile_word(p)?,
    };
    Some(format!("{stat}_{name}"))
}

/// `p99` / `p99.9` → `p99` / `p99_9`.
fn percentile_word(p: &str) -> Option<String> {
    let digits = p.strip_prefix('p')?;
    let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    ok.then(|| format!("p{}", digits.replace('.', "_")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_result_keys_map_to_names() {
        let v: Value = serde_json::from_str(
            r#"{"date":"20250101-000000","num_prompts":8,"duration":2.5,"completed":7,"total_input_tokens":1024,"total_output_tokens":448,"request_throughput":2.8,"request_goodput:":null,"output_throughput":179.2,"total_token_throughput":588.8,"user_throughput":null,"mean_ttft_ms":12.5,"p99.9_ttft_ms":30.0,"std_itl_ms":0.2,"avg_decoded_tokens_per_iter":{"mean":2.5,"percentiles":{"p99":3.0}},"max_concurrency":4,"mean_foo_ms":1}"#,
        )
        .unwrap();
        let b = block(&v);
        assert_eq!(b.metrics.get("seq_throughput"), Some(&2.8));
        assert_eq!(b.metrics.get("token_throughput"), Some(&179.2));
        assert_eq!(b.metrics.get("p99_9_ttft"), Some(&30.0));
        assert_eq!(b.metrics.get("std_itl"), Some(&0.2));
        assert_eq!(b.metrics.get("al"), Some(&2.5));
        assert_eq!(b.metrics.get("p99_al"), Some(&3.0));
        assert!(!b.metrics.contains_key("user_throughput"));
        assert!(!b.metrics.contains_key("request_goodput"));
        assert!(!b.metrics.contains_key("mean_foo"));
        assert_eq!(b.counts.successful_requests, Some(7));
        assert_eq!(b.concurrency, Some(4));
    }

    #[test]
    fn several_documents_and_garbage() {
        let two = r#"{"completed":1} [{"completed":2},{"x":1}]"#;
        assert_eq!(parse(two).unwrap().len(), 2);
        assert!(parse("{not json").is_err());
    }
}
