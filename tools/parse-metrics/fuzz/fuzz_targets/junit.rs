//! Arbitrary bytes → the JUnit XML reader, and the cases it found → perfline's JUnit writer →
//! the reader again: no panic, and every case's output reads back as written (less the
//! characters XML cannot hold).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parse_metrics::junit;
use perfline::junit::{write, xml_chars, Case};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let outs: Vec<String> = junit::cases(&text)
        .iter()
        .map(|case| xml_chars(&case.system_out))
        .filter(|out| !out.is_empty())
        .collect();
    let written: Vec<Case> = outs
        .iter()
        .map(|out| Case { name: "c".into(), system_out: out.clone(), ..Case::default() })
        .collect();
    let read: Vec<String> =
        junit::cases(&write("fuzz", &written)).into_iter().map(|c| c.system_out).collect();
    assert_eq!(read, outs);
});
