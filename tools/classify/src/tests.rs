//! Whole-list tests: formats, input quirks and exact records.

use super::*;
use perfline::Exit;
use serde_json::json;

/// Classifies `text` and returns each item as JSON (records) or `"error: MESSAGE"`.
fn run(text: &str, format: Format, filter: &Filter) -> (Format, Vec<serde_json::Value>) {
    let got = classify(text, "l.txt", format, filter).unwrap_or_else(|f| panic!("{}", f.message));
    let items = got
        .items
        .into_iter()
        .map(|item| match item {
            Ok(record) => serde_json::to_value(record).unwrap(),
            Err(f) => {
                assert_eq!(f.exit, Exit::DataErr);
                json!(format!("error: {}", f.message))
            }
        })
        .collect();
    (got.format, items)
}

fn text(text: &str) -> Vec<serde_json::Value> {
    let (format, items) = run(text, Format::Auto, &Filter::default());
    assert_eq!(format, Format::Text);
    items
}

fn ids(items: &[serde_json::Value]) -> Vec<String> {
    items.iter().map(|v| v.get("id").map_or_else(|| v.to_string(), |id| id.to_string())).collect()
}

#[test]
fn exact_record_of_a_plain_line() {
    let items = text(
        "perf/test_perf_sanity.py::test_e2e[aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_1k1k] TIMEOUT (90)\n",
    );
    assert_eq!(
        items,
        vec![json!({
            "id": "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_1k1k",
            "family": "aggr", "benchmark_mode": null,
            "config": "deepseek_r1_fp4_v2_grace_blackwell",
            "select": ["r1_fp4_v2_dep4_mtp1_1k1k"], "upload": true, "timeout_s": 5400,
            "source": "l.txt:1", "prefix": "aggr_upload",
            "hints": {"isl": 1024, "osl": 1024, "parallel": "dep4", "mtp": 1}
        })]
    );
}

#[test]
fn exact_record_of_a_bare_config_file() {
    assert_eq!(
        text("gb200_m_8k1k_ctx2_tp1_gen1_tp2_ccb-NIXL.yaml\n"),
        vec![json!({
            "id": "gb200_m_8k1k_ctx2_tp1_gen1_tp2_ccb-NIXL.yaml", "family": "disagg",
            "benchmark_mode": null, "config": "gb200_m_8k1k_ctx2_tp1_gen1_tp2_ccb-NIXL",
            "select": [], "upload": false, "timeout_s": null, "source": "l.txt:1",
            "hints": {"gpu": "gb200", "isl": 8192, "osl": 1024, "ctx_servers": 2,
                "ctx_parallel": "tp1", "gen_servers": 1, "gen_parallel": "tp2", "transport": "NIXL"}
        })]
    );
}

#[test]
fn crlf_bom_comments_blank_lines_and_whitespace() {
    let items = text(
        "\u{feff}# header\r\n\r\n  test_e2e[aggr-a]  \r\n\taggr-b # why\r\n   # aggr-c\r\n\r\nperf/t.py::test_e2e[disagg-e2e-d] TIMEOUT (2)\r\n",
    );
    assert_eq!(ids(&items), ["\"aggr-a\"", "\"aggr-b\"", "\"disagg-e2e-d\""]);
    let sources: Vec<_> = items.iter().map(|v| v["source"].clone()).collect();
    assert_eq!(sources, [json!("l.txt:3"), json!("l.txt:4"), json!("l.txt:7")]);
    assert_eq!(items[2]["timeout_s"], json!(120));
}

#[test]
fn errors_do_not_stop_the_list() {
    let items =
        text("aggr-a\nfoo-b\naggr-c TIMEOUT (x)\ntest_e2e[aggr-d\naggr-$(x)\naggr-e\nt[]\n");
    assert_eq!(
        items.iter().map(|v| v.get("id").cloned().unwrap_or(v.clone())).collect::<Vec<_>>(),
        [
            json!("aggr-a"),
            json!("error: l.txt:2: foo-b: unknown prefix \"foo\": expected aggr, aggr_upload, disagg, disagg_upload, profiling, benchmark, or a CFG.yaml file name"),
            json!("error: l.txt:3: aggr-c: bad TIMEOUT \"TIMEOUT (x)\": expected `TIMEOUT (MINUTES)` at the end of the line"),
            json!("error: l.txt:4: test_e2e[aggr-d: unbalanced brackets"),
            json!("error: l.txt:5: aggr-$(x): id contains character '$'; allowed: letters, digits and _ - . , + ="),
            json!("aggr-e"),
            json!("error: l.txt:7: t[]: empty id"),
        ]
    );
}

#[test]
fn control_characters_are_escaped_in_errors() {
    let items = text("aggr-\u{1b}[31mred\n");
    assert_eq!(items, [json!("error: l.txt:1: aggr-\\u{1b}[31mred: unbalanced brackets")]);
}

#[test]
fn empty_and_comment_only_lists_have_no_tests() {
    assert!(text("").is_empty());
    assert!(text("\u{feff}\n# only\n\n").is_empty());
}

const TESTDB: &str = "version: 0.0.1
l0_x:
- condition:
    wildcards:
      gpu:
      - '*gb200*'
    terms:
      stage: pre_merge
  tests:
  - perf/test_perf_sanity.py::test_e2e[aggr-a] TIMEOUT (90)
  # - perf/test_perf_sanity.py::test_e2e[aggr-b] TIMEOUT (90)
  - perf/test_perf_sanity.py::test_e2e[aggr-b] TIMEOUT (60) # why
- condition:
    terms:
      stage: post_merge
  tests:
  - perf/test_perf_sanity.py::test_e2e[aggr-a] TIMEOUT (90)
  - 'test_e2e[bad-x]'
";

#[test]
fn testdb_keeps_list_condition_and_real_lines() {
    let (format, items) = run(TESTDB, Format::Auto, &Filter::default());
    assert_eq!(format, Format::Testdb);
    assert_eq!(
        items[0],
        json!({"id": "aggr-a", "family": "aggr", "benchmark_mode": null, "config": "a",
            "select": [], "upload": false, "timeout_s": 5400, "source": "l.txt:10", "prefix": "aggr",
            "list": "l0_x",
            "condition": {"wildcards": {"gpu": ["*gb200*"]}, "terms": {"stage": "pre_merge"}}})
    );
    assert_eq!(items[1]["source"], json!("l.txt:12"));
    assert_eq!(items[1]["timeout_s"], json!(3600));
    assert_eq!(items[2]["source"], json!("l.txt:17"));
    assert_eq!(items[2]["condition"], json!({"terms": {"stage": "post_merge"}}));
    assert_eq!(items[3], json!("error: l.txt:18: bad-x: unknown prefix \"bad\": expected aggr, aggr_upload, disagg, disagg_upload, profiling, benchmark, or a CFG.yaml file name"));
    assert_eq!(items.len(), 4);
}

#[test]
fn testdb_filters_by_stage_and_gpu() {
    let sources = |stage: Option<&str>, gpu: Option<&str>| {
        let filter = Filter { stage: stage.map(str::to_string), gpu: gpu.map(str::to_string) };
        let (_, items) = run(TESTDB, Format::Testdb, &filter);
        items
            .iter()
            .map(|v| v.get("source").map_or("error".into(), |s| s.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(sources(Some("pre_merge"), None), ["\"l.txt:10\"", "\"l.txt:12\""]);
    assert_eq!(sources(Some("post_merge"), None), ["\"l.txt:17\"", "error"]);
    // The second block has no gpu wildcard: it matches any GPU.
    assert_eq!(sources(None, Some("h100")), ["\"l.txt:17\"", "error"]);
    assert_eq!(sources(Some("pre_merge"), Some("gb200")), ["\"l.txt:10\"", "\"l.txt:12\""]);
    assert!(sources(Some("nightly"), None).is_empty());
}

#[test]
fn grouped_lists_keep_their_group() {
    let (format, items) = run(
        "# team list\nsingle_agg_tests:\n  - aggr-a\n  # - aggr-x\nmulti_agg_2nodes_tests: []\ndisagg_3nodes_tests:\n  - test_e2e[disagg-e2e-b] TIMEOUT (5)\nnotes: x\n",
        Format::Auto,
        &Filter::default(),
    );
    assert_eq!(format, Format::Grouped);
    assert_eq!(items[0]["group"], json!("single_agg_tests"));
    assert_eq!(items[0]["source"], json!("l.txt:3"));
    assert_eq!(items[1]["group"], json!("disagg_3nodes_tests"));
    assert_eq!(items[1]["source"], json!("l.txt:7"));
    assert_eq!(items[1]["timeout_s"], json!(300));
    assert_eq!(items[2], json!("error: l.txt:8: notes: not a `*_tests` group"));
    assert_eq!(items.len(), 3);
}

#[test]
fn a_testdb_list_named_like_a_group_is_still_testdb() {
    let (format, items) =
        run("l0_perf_tests:\n- tests:\n  - aggr-a\n", Format::Auto, &Filter::default());
    assert_eq!(format, Format::Testdb);
    assert_eq!(items[0]["list"], json!("l0_perf_tests"));
    assert_eq!(items[0]["source"], json!("l.txt:3"));
}

#[test]
fn yaml_layout_errors() {
    let (_, items) =
        run("l0: 5\nl1:\n- tests: x\n- tests: [1]\n", Format::Testdb, &Filter::default());
    assert_eq!(
        items,
        [
            json!("error: l.txt:1: l0: expected a list of {condition, tests} blocks"),
            json!("error: l.txt:2: l1: `tests` must be a list"),
            json!("error: l.txt:4: test must be a string, got 1"),
        ]
    );
    let err = classify("- a\n- b\n", "l.yml", Format::Auto, &Filter::default()).unwrap_err();
    assert_eq!(err.exit, Exit::DataErr);
    assert_eq!(
        err.message,
        "l.yml: not a test list: expected a mapping of list names to {condition, tests} blocks"
    );
}

#[test]
fn yaml_syntax_errors_name_line_and_column() {
    let err =
        classify("l0:\n- tests: [a\n", "l.yml", Format::Auto, &Filter::default()).unwrap_err();
    assert_eq!(err.exit, Exit::DataErr);
    assert!(err.message.starts_with("l.yml:3:1: invalid YAML"), "{}", err.message);
}

#[test]
fn forced_formats() {
    // A text list forced as text even though its first line looks like a key.
    let (format, items) = run("aggr-a\n", Format::Text, &Filter::default());
    assert_eq!((format, items.len()), (Format::Text, 1));
    let (format, items) = run("x_tests: [aggr-a]\n", Format::Testdb, &Filter::default());
    assert_eq!(format, Format::Testdb);
    assert_eq!(
        items,
        [json!("error: l.txt:1: x_tests: expected a list of {condition, tests} blocks")]
    );
}

#[test]
fn yaml_detection() {
    assert!(looks_like_yaml("# c\nversion: 0.0.1\n"));
    assert!(looks_like_yaml("single_agg_tests:\n"));
    assert!(looks_like_yaml("---\n"));
    assert!(looks_like_yaml("- aggr-a\n"));
    assert!(!looks_like_yaml("perf/test_perf_sanity.py::test_e2e[aggr-a]\n"));
    assert!(!looks_like_yaml("test_perf_sanity.py::test_e2e[aggr-a]\n"));
    assert!(!looks_like_yaml("cfg.yaml\n"));
    assert!(!looks_like_yaml(""));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const SPECIAL: [&str; 3] = ["e2e", "gen_only", "ctx_only"];

    fn label() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_]{0,10}".prop_filter("not a mode word", |l| !SPECIAL.contains(&l.as_str()))
    }

    /// An id built from the grammar, and the fields it must classify to.
    #[derive(Debug, Clone)]
    struct Case {
        id: String,
        family: &'static str,
        mode: Option<&'static str>,
        config: String,
        select: Vec<String>,
        upload: bool,
        prefix: Option<String>,
    }

    fn case() -> impl Strategy<Value = Case> {
        let disagg = (
            any::<bool>(),
            prop::option::of(prop::sample::select(vec!["e2e", "gen_only"])),
            prop::collection::vec(label(), 1..4),
            any::<bool>(),
        )
            .prop_map(|(upload, mode, labels, yaml)| {
                let prefix = if upload { "disagg_upload" } else { "disagg" };
                let config = labels.join("-");
                let mut id = match mode {
                    Some(m) => format!("{prefix}-{m}-{config}"),
                    None => format!("{prefix}-{config}"),
                };
                if yaml {
                    id.push_str(".yaml");
                }
                Case {
                    id,
                    family: "disagg",
                    mode,
                    config,
                    select: vec![],
                    upload,
                    prefix: Some(prefix.into()),
                }
            });
        let aggr_prefix =
            prop::sample::select(vec!["aggr", "aggr_upload", "profiling", "benchmark"]);
        let aggr = (aggr_prefix.clone(), label(), prop::collection::vec(label(), 0..3)).prop_map(
            |(prefix, config, select)| {
                let mut id = format!("{prefix}-{config}");
                if !select.is_empty() {
                    id = format!("{id}-{}", select.join(","));
                }
                Case {
                    id,
                    family: "aggr",
                    mode: None,
                    config,
                    select,
                    upload: prefix.contains("upload"),
                    prefix: Some(prefix.into()),
                }
            },
        );
        let ctx_only =
            (aggr_prefix, prop::collection::vec(label(), 1..4)).prop_map(|(prefix, labels)| {
                let config = labels.join("-");
                Case {
                    id: format!("{prefix}-ctx_only-{config}"),
                    family: "aggr",
                    mode: Some("ctx_only"),
                    config,
                    select: vec![],
                    upload: prefix.contains("upload"),
                    prefix: Some(prefix.into()),
                }
            });
        prop_oneof![disagg, aggr, ctx_only]
    }

    fn spelled(id: &str, form: u8, timeout: Option<u64>, comment: bool) -> String {
        let mut line = match form % 3 {
            0 => format!("perf/test_perf_sanity.py::test_e2e[{id}]"),
            1 => format!("test_e2e[{id}]"),
            _ => id.to_string(),
        };
        if let Some(minutes) = timeout {
            line.push_str(&format!(" TIMEOUT ({minutes})"));
        }
        if comment {
            line.push_str(" # note");
        }
        line
    }

    proptest! {
        #[test]
        fn grammar_ids_round_trip(c in case(), form in 0u8..3, timeout in prop::option::of(1u64..=10_080), comment: bool, crlf: bool) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let text = format!("# list{eol}{}{eol}", spelled(&c.id, form, timeout, comment));
            let got = classify(&text, "p.txt", Format::Auto, &Filter::default()).unwrap();
            prop_assert_eq!(got.items.len(), 1);
            let record = got.items.into_iter().next().unwrap().map_err(|f| TestCaseError::fail(f.message))?;
            let json = serde_json::to_value(&record).unwrap();
            prop_assert_eq!(&record.id, &c.id);
            prop_assert_eq!(&json["family"], c.family);
            prop_assert_eq!(json["benchmark_mode"].as_str(), c.mode);
            prop_assert_eq!(&record.config, &c.config);
            prop_assert_eq!(&record.select, &c.select);
            prop_assert_eq!(record.upload, c.upload);
            prop_assert_eq!(&record.prefix, &c.prefix);
            prop_assert_eq!(record.timeout_s, timeout.map(|m| m * 60));
            prop_assert_eq!(record.source, "p.txt:2");
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            for format in [Format::Auto, Format::Text, Format::Testdb, Format::Grouped] {
                let _ = classify(&text, "p", format, &Filter { stage: Some("s".into()), gpu: Some("g".into()) });
            }
        }

        #[test]
        fn list_like_text_never_panics(text in r"[\[\]#() \t\r\n:\-_a-z0-9'{}]{0,80}(TIMEOUT)?[ (0-9)]{0,8}") {
            for format in [Format::Auto, Format::Text, Format::Testdb, Format::Grouped] {
                if let Ok(got) = classify(&text, "p", format, &Filter::default()) {
                    for record in got.items.into_iter().flatten() {
                        prop_assert!(perfline::shell::check_id(&record.id).is_ok());
                        prop_assert!(!record.config.is_empty() && !record.config.ends_with(".yaml"));
                    }
                }
            }
        }
    }
}
