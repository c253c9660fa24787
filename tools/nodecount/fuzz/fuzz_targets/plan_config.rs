//! Arbitrary bytes as a config YAML → a plan for every benchmark mode, with and without
//! `--pack`, then `--check` against list names: nothing may panic, overflow or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodecount::{check, plan, Options};
use perfline::wire::test::{BenchmarkMode, Family, TestRecord};

fn record(family: Family, mode: Option<BenchmarkMode>, select: &[&str]) -> TestRecord {
    TestRecord {
        id: "fuzz".into(),
        family,
        benchmark_mode: mode,
        config: "fuzz".into(),
        select: select.iter().map(|s| s.to_string()).collect(),
        upload: false,
        timeout_s: Some(60),
        source: "fuzz:1".into(),
        prefix: None,
        list: Some("l0_x_ctx1_node1_gpu4_gen1_node2_gpu8".into()),
        group: None,
        condition: Some(serde_json::json!({"ranges": {"system_gpu_count": {"gte": 4, "lte": 12}}})),
        hints: Default::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = perfline::yaml::parse(text, "fuzz.yaml") else { return };
    let tests = [
        record(Family::Aggr, None, &[]),
        record(Family::Aggr, None, &["a", "b"]),
        record(Family::Aggr, Some(BenchmarkMode::CtxOnly), &[]),
        record(Family::Disagg, Some(BenchmarkMode::E2e), &[]),
        record(Family::Disagg, Some(BenchmarkMode::GenOnly), &[]),
        record(Family::Disagg, None, &[]),
    ];
    for test in &tests {
        for pack in [false, true] {
            if let Ok(p) = plan(test, &config, "fuzz.yaml", Options { pack }) {
                assert!(p.total_nodes <= nodecount::planner::MAX_NODES || p.mode != perfline::wire::plan::Mode::Disagg);
                let c = check::check(&p, check::expected(test), "l0");
                assert_eq!(c.ok, c.mismatches.is_empty());
                serde_json::to_string(&p).expect("a plan serializes");
            }
        }
    }
});
