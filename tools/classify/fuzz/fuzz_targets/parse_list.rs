//! Arbitrary bytes → the list parser in every format, with and without filters: it must
//! never panic, and every record it returns must have an id that passes check_id.
#![no_main]

use classify::{classify, Filter, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let filters = [
        Filter::default(),
        Filter { stage: Some("post_merge".into()), gpu: Some("gb200".into()) },
    ];
    for format in [Format::Auto, Format::Text, Format::Testdb, Format::Grouped] {
        for filter in &filters {
            let Ok(classified) = classify(text, "fuzz.txt", format, filter) else { continue };
            for record in classified.items.into_iter().flatten() {
                assert!(perfline::shell::check_id(&record.id).is_ok(), "{:?}", record.id);
                assert!(!record.config.is_empty() && !record.config.ends_with(".yaml"));
                assert!(serde_json::to_string(&record).is_ok());
            }
        }
    }
});
