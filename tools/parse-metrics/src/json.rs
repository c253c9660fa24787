//! `benchmark_serving --save-result` JSON (reference/incumbent.md §6) → blocks.
//!
//! A file may hold one result object, an array of them, or several objects one after another.
//! Keys map to the text block's names: `request_throughput` → `seq_throughput`,
//! `output_throughput` → `token_throughput`, `{mean,median,std,min,max,pNN}_{ttft,tpot,itl,e2el}_ms`
//! → `{stat}_{name}` (`p99.9` → `p99_9`), `avg_decoded_tokens_per_iter.mean` → `al`, `completed`
//! → successful requests, `num_prompts`, `max_concurrency`, `duration` → counts.
//!
//! Python's `json.dump` writes `NaN`, `Infinity` and `-Infinity` for non-finite floats (not
//! JSON): they are read as values that are not numbers, so the field is reported (`invalid
//! mean_ttft: NaN (not a number)`) instead of the whole file being rejected. Counts and metric
//! values out of range (text::count, text::metric_value) are reported the same way, by field.

use crate::text::{self, Block};
use serde_json::Value;
use std::borrow::Cow;

/// True when `v` looks like a save-result object.
pub fn is_result(v: &Value) -> bool {
    ["request_throughput", "output_throughput", "completed", "duration"]
        .iter()
        .any(|k| v.get(k).is_some())
}

/// Parses every result object in `text`; `Err` when the text is not JSON.
pub fn parse(text: &str) -> Result<Vec<Block>, String> {
    let text = python_literals(text);
    let mut blocks = Vec::new();
    for doc in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
        let doc = doc.map_err(|e| format!("invalid JSON: {e}"))?;
        match doc {
            Value::Array(items) => blocks.extend(items.iter().filter(|v| is_result(v)).map(block)),
            v if is_result(&v) => blocks.push(block(&v)),
            _ => {}
        }
    }
    Ok(blocks)
}

/// The text with Python's `NaN`, `Infinity`, `-Infinity` tokens (outside strings) quoted, so
/// that it parses as JSON and the fields holding them can be named. Borrowed when none occur.
pub fn python_literals(text: &str) -> Cow<'_, str> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped, mut from, mut i) = (false, false, 0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let word = ["-Infinity", "Infinity", "NaN"].into_iter().find(|w| {
            bytes[i..].starts_with(w.as_bytes())
                && !bytes.get(i + w.len()).is_some_and(|c| c.is_ascii_alphanumeric())
                && !(i > 0 && bytes[i - 1].is_ascii_alphanumeric())
        });
        match word {
            Some(w) => {
                // The words and the quotes are ASCII: `i` is on a char boundary.
                out.push_str(&text[from..i]);
                out.push('"');
                out.push_str(w);
                out.push('"');
                i += w.len();
                from = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[from..]);
    Cow::Owned(out)
}

/// A JSON field read as a number; `Err(text)` when present but not one (`null` is absent).
fn number(v: &Value, key: &str) -> Option<Result<f64, String>> {
    match v.get(key)? {
        Value::Null => None,
        Value::Number(n) => Some(n.as_f64().ok_or_else(|| n.to_string())),
        Value::String(s) => Some(Err(s.clone())),
        other => Some(Err(other.to_string())),
    }
}

/// `obj[key]` as a number that passes `check` (a count, a metric value); else, when present,
/// its text (at most 40 characters) and why it failed go into `b.invalid` under `name`.
fn checked<T>(
    b: &mut Block,
    obj: &Value,
    key: &str,
    name: &str,
    check: fn(f64) -> Result<T, &'static str>,
) -> Option<T> {
    let (text, why) = match number(obj, key)? {
        Ok(x) => match check(x) {
            Ok(x) => return Some(x),
            Err(why) => (obj.get(key).map_or(String::new(), Value::to_string), why),
        },
        Err(text) => (text, "not a number"),
    };
    let text: String = text.chars().take(40).collect();
    b.invalid.insert(name.to_string(), format!("{text} ({why})"));
    None
}

/// One result object → a block.
pub fn block(v: &Value) -> Block {
    let mut b = Block::default();
    let int = |b: &mut Block, key: &str, name: &str| checked(b, v, key, name, text::count);
    b.counts.successful_requests = int(&mut b, "completed", "successful_requests");
    b.counts.failed_requests = int(&mut b, "failed", "failed_requests").or_else(|| {
        v.get("errors").and_then(Value::as_array).map(|errs| {
            errs.iter().filter(|e| e.as_str().is_some_and(|s| !s.is_empty())).count() as u64
        })
    });
    b.counts.total_requests = int(&mut b, "total_requests", "total_requests");
    b.counts.total_input_tokens = int(&mut b, "total_input_tokens", "total_input_tokens");
    b.counts.total_output_tokens = int(&mut b, "total_output_tokens", "total_output_tokens");
    b.counts.num_prompts = int(&mut b, "num_prompts", "num_prompts");
    b.concurrency = int(&mut b, "max_concurrency", "concurrency");
    // A metric value from `obj[key]`, or its field in `invalid`.
    let value = |b: &mut Block, obj: &Value, key: &str, name: &str| {
        checked(b, obj, key, name, text::metric_value)
    };
    b.counts.duration_s = value(&mut b, v, "duration", "duration_s");
    let put = |b: &mut Block, name: String, unit: &'static str, value: Option<f64>| {
        if let Some(x) = value {
            b.metrics.insert(name.clone().into(), x);
            b.units.insert(name.into(), unit.into());
        }
    };
    for (name, unit, key) in [
        ("seq_throughput", "req/s", "request_throughput"),
        ("request_goodput", "req/s", "request_goodput:"),
        ("request_goodput", "req/s", "request_goodput"),
        ("token_throughput", "tok/s", "output_throughput"),
        ("total_token_throughput", "tok/s", "total_token_throughput"),
        ("user_throughput", "tok/s", "user_throughput"),
        ("p99_dispatch_delay", "ms", "p99_dispatch_delay_ms"),
    ] {
        if !b.metrics.contains_key(name) {
            let x = value(&mut b, v, key, name);
            put(&mut b, name.into(), unit, x);
        }
    }
    if let Some(obj) = v.as_object() {
        for key in obj.keys() {
            if let Some(name) = latency_name(key) {
                let x = value(&mut b, v, key, &name);
                put(&mut b, name, "ms", x);
            }
        }
    }
    if let Some(al) = v.get("avg_decoded_tokens_per_iter") {
        // The text block prints this section only when the mean is > 0.
        if al.get("mean").and_then(Value::as_f64).is_some_and(|m| m > 0.0) {
            let x = value(&mut b, al, "mean", "al");
            put(&mut b, "al".into(), "tokens/iter", x);
            for s in ["median", "std", "min", "max"] {
                let name = format!("{s}_al");
                let x = value(&mut b, al, s, &name);
                put(&mut b, name, "tokens/iter", x);
            }
            if let Some(pcts) = al.get("percentiles") {
                let words: Vec<(String, String)> = pcts
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .filter_map(|p| Some((p.clone(), format!("{}_al", percentile_word(p)?))))
                    .collect();
                for (p, name) in words {
                    let x = value(&mut b, pcts, &p, &name);
                    put(&mut b, name, "tokens/iter", x);
                }
            }
        }
    }
    // bench's trace replay (--dataset-name mooncake).
    for key in ["total_cached_tokens", "cache_hit_rate", "sessions", "turns"] {
        let x = value(&mut b, v, key, key);
        put(&mut b, key.into(), text::trace_unit(key).unwrap_or_default(), x);
    }
    if let Some(turns) = v.get("mean_ttft_by_turn_ms").and_then(Value::as_array) {
        text::by_turn(&mut b, turns.iter().map(Value::as_f64));
    }
    if let Some(energy) = v.get("energy") {
        for (name, unit, key) in [
            ("total_energy", "J", "total_energy_j"),
            ("output_tokens_per_second_per_watt", "tps/W", "output_tps_per_w"),
            ("total_gpu_power", "W", "total_gpu_power_w"),
        ] {
            let x = value(&mut b, energy, key, name);
            put(&mut b, name.into(), unit, x);
        }
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
    fn python_nan_and_bad_values_are_named_not_fatal() {
        let text = r#"{"completed":-1,"num_prompts":1.5,"total_output_tokens":1e30,"failed":"x","duration":NaN,"request_throughput":Infinity,"mean_ttft_ms":-Infinity,"median_ttft_ms":-2,"p99_ttft_ms":5,"model_id":"NaN Infinity","max_concurrency":18446744073709551615}"#;
        let blocks = parse(text).unwrap();
        assert_eq!(blocks.len(), 1);
        let b = &blocks[0];
        let got: Vec<(&str, &str)> =
            b.invalid.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("concurrency", "18446744073709551615 (too large: over 2^53)"),
                ("duration_s", "NaN (not a number)"),
                ("failed_requests", "x (not a number)"),
                ("mean_ttft", "-Infinity (not a number)"),
                ("median_ttft", "-2 (negative)"),
                ("num_prompts", "1.5 (not a whole number)"),
                ("seq_throughput", "Infinity (not a number)"),
                ("successful_requests", "-1 (negative)"),
                ("total_output_tokens", "1e+30 (too large: over 2^53)"),
            ]
        );
        assert_eq!(b.metrics.keys().map(|k| k.as_ref()).collect::<Vec<_>>(), ["p99_ttft"]);
        assert_eq!(b.counts, Default::default());
        assert_eq!(
            python_literals(r#"{"a":NaN,"b":"NaN","c":[-Infinity,Infinity],"NaNx":1}"#),
            r#"{"a":"NaN","b":"NaN","c":["-Infinity","Infinity"],"NaNx":1}"#
        );
        assert_eq!(python_literals(r#"{"a":"x\"NaN"}"#), r#"{"a":"x\"NaN"}"#);
    }

    #[test]
    fn several_documents_and_garbage() {
        let two = r#"{"completed":1} [{"completed":2},{"x":1}]"#;
        assert_eq!(parse(two).unwrap().len(), 2);
        assert!(parse("{not json").is_err());
    }
}
