//! Property: any metric set rendered in the `benchmark_serving` layout parses back exactly.

use parse_metrics::text::parse_all;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// (label, metric name) of every line the layout can print.
fn catalogue() -> Vec<(String, String)> {
    let mut lines: Vec<(String, String)> = [
        ("Request throughput (req/s):", "seq_throughput"),
        ("Request goodput (req/s):", "request_goodput"),
        ("Output token throughput (tok/s):", "token_throughput"),
        ("Total Token throughput (tok/s):", "total_token_throughput"),
        ("User throughput (tok/s):", "user_throughput"),
        ("Mean Avg Decoded Tokens per Iter:", "al"),
        ("Median Avg Decoded Tokens per Iter:", "median_al"),
        ("P99 Avg Decoded Tokens per Iter:", "p99_al"),
    ]
    .iter()
    .map(|(l, n)| (l.to_string(), n.to_string()))
    .collect();
    for (word, name) in [("TTFT", "ttft"), ("TPOT", "tpot"), ("ITL", "itl"), ("E2EL", "e2el")] {
        for (stat, key) in [
            ("Mean", "mean"),
            ("Median", "median"),
            ("Std Dev", "std"),
            ("Min", "min"),
            ("Max", "max"),
            ("P50", "p50"),
            ("P90", "p90"),
            ("P99", "p99"),
            ("P99.9", "p99_9"),
        ] {
            lines.push((format!("{stat} {word} (ms):"), format!("{key}_{name}")));
        }
    }
    lines
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn rendered_blocks_parse_back(
        picks in proptest::collection::vec((any::<bool>(), 0u64..10_000_000, any::<bool>()), catalogue().len()),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        header in any::<bool>(),
        successful in 0u64..100_000,
    ) {
        let all = catalogue();
        let mut chosen: Vec<(String, String, u64, bool)> = all
            .iter()
            .zip(&picks)
            .filter(|(_, (keep, _, _))| *keep)
            .map(|((label, name), (_, hundredths, padded))| (label.clone(), name.clone(), *hundredths, *padded))
            .collect();
        // Any line order: a deterministic shuffle from the generated seed.
        let mut seed = order;
        for i in (1..chosen.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            chosen.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let mut text = String::new();
        if header {
            text += "============ Serving Benchmark Result ============\n";
        }
        text += &format!("{:<40} {:<10}\n", "Successful requests:", successful);
        let mut expected = BTreeMap::new();
        for (label, name, hundredths, padded) in &chosen {
            let value = format!("{}.{:02}", hundredths / 100, hundredths % 100);
            if *padded {
                text += &format!("{label:<40} {value:<10}\n");
            } else {
                text += &format!("{label} {value}\n");
            }
            expected.insert(std::borrow::Cow::from(name.clone()), value.parse::<f64>().unwrap());
        }
        text += "==================================================\n";
        let (blocks, _) = parse_all(&text);
        prop_assert_eq!(blocks.len(), 1);
        prop_assert_eq!(&blocks[0].metrics, &expected);
        prop_assert_eq!(blocks[0].counts.successful_requests, Some(successful));
    }
}
