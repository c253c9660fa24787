//! Arbitrary bytes → the text-log parser, streamed and split into pieces on two threads: it
//! must never panic, both must write the same bytes, and every record must be honest (no
//! unmeasured value: metrics finite and in range, none in a record without a success).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parse_metrics::input::parse_both;
use perfline::wire::metrics::{MetricRecord, Status};

fuzz_target!(|data: &[u8]| {
    // A small window makes the split parse cut the input in many places.
    let window = 1 + data.first().map_or(0, |b| *b as usize % 64);
    let (streamed, split) = parse_both(data, window);
    assert_eq!(streamed, split, "window {window}");
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
