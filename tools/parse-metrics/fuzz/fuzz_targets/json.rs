//! Arbitrary bytes → the `--save-result` JSON reader (Python's NaN/Infinity included): it
//! must never panic, and what it keeps must be in range (out-of-range values are named in
//! `invalid`, never kept as numbers).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parse_metrics::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let quoted = json::python_literals(text);
    if !text.contains("NaN") && !text.contains("Infinity") {
        assert_eq!(quoted, text);
    }
    let Ok(blocks) = json::parse(text) else { return };
    for b in blocks {
        for (name, v) in &b.metrics {
            assert!(v.is_finite() && *v >= 0.0 && *v <= 1e15, "{name} = {v}");
            assert!(!b.invalid.contains_key(name.as_ref()));
        }
        let c = &b.counts;
        for n in [c.total_requests, c.successful_requests, c.total_input_tokens, c.num_prompts] {
            assert!(n.is_none_or(|n| n <= 1 << 53));
        }
    }
});
