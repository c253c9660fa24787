//! Arbitrary bytes inside the two YAML list layouts (a test-db block's `tests:` and a grouped
//! `*_tests:` list, each fuzz line one item): the YAML paths must never panic, every record
//! must pass check_id, and every error must be one line naming a line of the input.
#![no_main]

use classify::{classify, Filter, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let items: String = body.lines().map(|l| format!("  - {l}\n")).collect();
    let docs = [
        (
            Format::Testdb,
            format!("l0_x:\n- condition:\n    terms: {{stage: post_merge}}\n  tests:\n{items}"),
        ),
        (Format::Grouped, format!("single_agg_tests:\n{items}multi_agg_tests: [{body}]\n")),
        (Format::Auto, body.to_string()),
    ];
    let filter = Filter { stage: Some("post_merge".into()), gpu: None };
    for (format, doc) in docs {
        let lines = doc.lines().count().max(1);
        let Ok(classified) = classify(&doc, "f.yaml", format, &filter) else { continue };
        for item in classified.items {
            match item {
                Ok(record) => assert!(perfline::shell::check_id(&record.id).is_ok()),
                Err(f) => {
                    assert!(!f.message.contains('\n'), "{:?}", f.message);
                    let line = f
                        .message
                        .strip_prefix("f.yaml:")
                        .and_then(|r| r.split(':').next().and_then(|n| n.parse::<usize>().ok()));
                    if let Some(line) = line {
                        assert!(
                            (1..=lines + 1).contains(&line),
                            "{line} of {lines}: {}",
                            f.message
                        );
                    }
                }
            }
        }
    }
});
