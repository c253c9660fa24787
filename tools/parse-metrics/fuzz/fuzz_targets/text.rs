//! Arbitrary bytes → the text-log parser: it must never panic, and every record must be
//! honest (no unmeasured value: metrics finite and in range, none in a record without a
//! success).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parse_metrics::input::parse_text;
use perfline::wire::metrics::{MetricRecord, Status};

fuzz_target!(|data: &[u8]| {
    let streamed = parse_text(data);
    for line in streamed.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let rec: MetricRecord = serde_json::from_slice(line).expect("a record per line");
        for (name, v) in &rec.metrics {
            assert!(v.is_finite() && *v >= 0.0 && *v <= 1e15, "{name} = {v}");
        }
        if rec.status == Status::Failed {
            assert!(rec.metrics.values().all(|v| *v != 0.0), "a zero in a failed record");
            if rec.counts.successful_requests == Some(0) {
                assert!(rec.metrics.is_empty());
            }
        } else {
            assert!(rec.reasons.is_empty());
        }
    }
});
