//! The classify command line: exact output, exit codes, diagnostics, and the corpus lists.

use assert_cmd::Command;
use chain_tests::with_closed;
use predicates::prelude::*;
use std::path::PathBuf;

fn classify() -> Command {
    assert_cmd::cargo_bin_cmd!("classify")
}

fn corpus() -> PathBuf {
    std::env::var_os("PERFLINE_CORPUS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/trtllm")
    })
}

fn testdb(name: &str) -> PathBuf {
    corpus().join("tests/integration/test_lists/test-db").join(name)
}

const SMALL_LIST: &str = "\
# two tests
perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-gb200_m_1k1k_con8_ctx1_dep4_gen2_tep8_ccb-UCX] TIMEOUT (120)
test_e2e[aggr-llama_fp8-s1,s2]
";

#[test]
fn exact_records_from_stdin() {
    classify().write_stdin(SMALL_LIST).assert().success().stderr("").stdout(concat!(
        r#"{"id":"disagg_upload-e2e-gb200_m_1k1k_con8_ctx1_dep4_gen2_tep8_ccb-UCX","family":"disagg","benchmark_mode":"e2e","config":"gb200_m_1k1k_con8_ctx1_dep4_gen2_tep8_ccb-UCX","select":[],"upload":true,"timeout_s":7200,"source":"-:2","prefix":"disagg_upload","hints":{"gpu":"gb200","isl":1024,"osl":1024,"concurrency":8,"ctx_servers":1,"ctx_parallel":"dep4","gen_servers":2,"gen_parallel":"tep8","transport":"UCX"}}"#,
        "\n",
        r#"{"id":"aggr-llama_fp8-s1,s2","family":"aggr","benchmark_mode":null,"config":"llama_fp8","select":["s1","s2"],"upload":false,"timeout_s":null,"source":"-:3","prefix":"aggr"}"#,
        "\n",
    ));
}

#[test]
fn dash_is_stdin_and_files_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l.txt");
    std::fs::write(&file, "profiling-cfg\n").unwrap();
    let out = classify().arg(&file).arg("-").write_stdin("aggr-x\n").assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let sources: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["source"].to_string())
        .collect();
    assert_eq!(sources, [format!("\"{}:1\"", file.display()), "\"-:1\"".to_string()]);
}

#[test]
fn bad_tests_are_reported_one_line_each_and_the_stream_goes_on() {
    classify()
        .write_stdin("aggr-a\nnope-x\naggr-b TIMEOUT (soon)\naggr-c/../d\naggr-e\n")
        .assert()
        .code(65)
        .stdout(predicate::function(|out: &str| {
            let ids: Vec<_> = out.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].clone()).collect();
            ids == ["aggr-a", "aggr-e"]
        }))
        .stderr(
            "classify: error: -:2: nope-x: unknown prefix \"nope\": expected aggr, aggr_upload, disagg, disagg_upload, profiling, benchmark, or a CFG.yaml file name\n\
             classify: error: -:3: aggr-b: bad TIMEOUT \"TIMEOUT (soon)\": expected `TIMEOUT (MINUTES)` at the end of the line\n\
             classify: error: -:4: aggr-c/../d: id contains '/'; allowed: letters, digits and _ - . , + =\n",
        );
}

#[test]
fn missing_config_uses_the_incumbent_message() {
    classify()
        .write_stdin("test_e2e[disagg_upload]\n")
        .assert()
        .code(65)
        .stdout("")
        .stderr("classify: error: -:1: disagg_upload: perf_sanity test must have a config file\n");
}

#[test]
fn unreadable_file_is_no_input_and_other_files_still_run() {
    classify()
        .arg("/nonexistent/list.txt")
        .arg("-")
        .write_stdin("aggr-x\n")
        .assert()
        .code(66)
        .stdout(predicate::str::contains("\"id\":\"aggr-x\""))
        .stderr("classify: error: /nonexistent/list.txt: No such file or directory (os error 2)\n");
}

#[test]
fn a_directory_is_no_input() {
    let dir = tempfile::tempdir().unwrap();
    classify().arg(dir.path()).assert().code(66).stdout("").stderr(format!(
        "classify: error: {}: is a directory; give a file\n",
        dir.path().display()
    ));
}

/// A named pipe is read like a file (`classify <(…)`, `mkfifo`); opening one never blocks
/// for ever (perfline::fsutil::open_input bounds the wait for its writer).
#[test]
fn a_named_pipe_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("list");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "aggr-x\n").unwrap())
    };
    classify()
        .arg(&fifo)
        .assert()
        .code(0)
        .stderr("")
        .stdout(predicate::str::contains("\"id\":\"aggr-x\""));
    writer.join().unwrap();
}

#[test]
fn yaml_syntax_error_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yml");
    std::fs::write(&file, "l0:\n- tests: [aggr-a\n").unwrap();
    classify().arg(&file).assert().code(65).stdout("").stderr(predicate::str::starts_with(
        format!("classify: error: {}:3:1: invalid YAML: ", file.display()),
    ));
}

#[test]
fn non_utf8_input_is_bad_data() {
    classify()
        .write_stdin(&b"aggr-a\n\xff\xfe\n"[..])
        .assert()
        .code(65)
        .stdout("")
        .stderr("classify: error: -:2:1: not UTF-8 text\n");
}

#[test]
fn filters_on_a_text_list_warn() {
    classify()
        .args(["--stage", "post_merge"])
        .write_stdin("aggr-a\n")
        .assert()
        .success()
        .stderr("classify: warning: -: --stage and --gpu apply to test-db lists only\n");
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    classify()
        .arg("--bogus")
        .assert()
        .code(64)
        .stdout("")
        .stderr(predicate::str::contains("--bogus"));
    classify().args(["--format", "xml"]).assert().code(64);
    classify()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("has both ctx<N> and gen<N> tokens"))
        .stdout(predicate::str::contains("Examples:"));
}

#[test]
fn a_list_without_tests_exits_66_unless_allowed() {
    classify().write_stdin("# only a comment\n\n").assert().code(66).stdout("").stderr(
        "classify: error: no tests on stdin; nothing done (is the list empty or all comments? --allow-empty exits 0)\n",
    );
    classify()
        .arg("--allow-empty")
        .write_stdin("")
        .assert()
        .success()
        .stdout("")
        .stderr("classify: warning: no tests on stdin; nothing to do (--allow-empty)\n");
    // A bad line is the error to report, not the empty output.
    classify().write_stdin("garbage\n").assert().code(65);
}

#[test]
fn forced_text_format_reads_yaml_looking_lines_as_tests() {
    classify().args(["--format", "text"]).write_stdin("version: 1\n").assert().code(65).stderr(
        predicate::str::starts_with(
            "classify: error: -:1: version:: unexpected text after the test",
        ),
    );
}

/// Runs classify on a corpus list and returns its records. A filter that keeps no test exits
/// 66 naming the filter; `--allow-empty` makes that a warning and exit 0.
fn records(args: &[&str], list: &str) -> Vec<serde_json::Value> {
    let plain = classify().args(args).arg(testdb(list)).output().unwrap();
    if plain.stdout.is_empty() {
        assert_eq!(plain.status.code(), Some(66), "{list} {args:?}");
        let want = format!(
            "classify: error: no tests in {}; nothing done (did --stage/--gpu match no block? --allow-empty exits 0)\n",
            testdb(list).display()
        );
        assert_eq!(String::from_utf8_lossy(&plain.stderr), want);
        let warned = format!(
            "classify: warning: no tests in {}; nothing to do (--allow-empty)\n",
            testdb(list).display()
        );
        classify()
            .args(args)
            .arg("--allow-empty")
            .arg(testdb(list))
            .assert()
            .success()
            .stdout("")
            .stderr(warned);
        return Vec::new();
    }
    let out = classify().args(args).arg(testdb(list)).assert().success().stderr("");
    String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const LISTS: [(&str, usize, usize); 3] = [
    // (list, pre_merge tests, post_merge tests)
    ("l0_gb200_multi_gpus_perf_sanity.yml", 14, 14),
    ("l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen1_node2_gpu8.yml", 0, 7),
    ("l0_gb200_multi_nodes_perf_sanity_node2_gpu8.yml", 0, 7),
];

#[test]
fn corpus_lists_have_the_right_counts_per_stage_and_gpu() {
    for (list, pre, post) in LISTS {
        assert_eq!(records(&[], list).len(), pre + post, "{list}");
        assert_eq!(records(&["--stage", "pre_merge"], list).len(), pre, "{list}");
        assert_eq!(records(&["--stage", "post_merge"], list).len(), post, "{list}");
        assert_eq!(records(&["--gpu", "GB200"], list).len(), pre + post, "{list}");
        assert_eq!(records(&["--gpu", "h100"], list).len(), 0, "{list}");
    }
}

#[test]
fn corpus_sources_point_at_lines_holding_the_id() {
    for (list, _, _) in LISTS {
        let text = std::fs::read_to_string(testdb(list)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let list_name = list.trim_end_matches(".yml");
        let mut previous = 0;
        for record in records(&[], list) {
            let id = record["id"].as_str().unwrap();
            let source = record["source"].as_str().unwrap();
            let line: usize = source.rsplit(':').next().unwrap().parse().unwrap();
            let held = lines[line - 1];
            assert!(
                held.contains(&format!("[{id}]")) && !held.trim_start().starts_with('#'),
                "{source}: {held}"
            );
            assert!(line > previous, "{source} is not after line {previous}");
            previous = line;
            assert_eq!(record["list"], list_name);
            assert!(record["condition"]["terms"]["stage"].is_string());
            assert!(record["timeout_s"].as_u64().unwrap() >= 3600);
        }
    }
}

#[test]
fn corpus_ids_classify_as_written() {
    let disagg = records(&[], LISTS[1].0);
    assert!(disagg.iter().all(|r| r["family"] == "disagg" && r["benchmark_mode"] == "gen_only"));
    assert!(disagg.iter().all(|r| r["upload"] == true && r["hints"]["gpu"] == "gb200"));
    let ctx_only: Vec<_> = records(&[], LISTS[2].0)
        .into_iter()
        .filter(|r| r["benchmark_mode"] == "ctx_only")
        .map(|r| r["config"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ctx_only,
        [
            "gb200_deepseek-r1-fp4_128k8k_con128_ctx1_pp8_gen1_dep16_eplb0_mtp2_ccb-UCX",
            "gb200_deepseek-r1-fp4_128k8k_con1_ctx1_pp8_gen1_tep8_eplb0_mtp3_ccb-UCX"
        ]
    );
}

#[test]
fn example_grammar_list_classifies_cleanly() {
    let list =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testlists/examples/grammar.txt");
    let out = classify().arg(&list).assert().success().stderr("");
    let count = String::from_utf8(out.get_output().stdout.clone()).unwrap().lines().count();
    assert_eq!(count, 13);
}

#[test]
fn cmd_cases() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}

#[test]
fn closed_stdout_or_stderr_ends_quietly_even_with_many_errors() {
    let cmd = || std::process::Command::new(assert_cmd::cargo::cargo_bin!("classify"));
    let list: String = (0..20_000).map(|i| format!("aggr-cfg{i}\nbad id {i}\n")).collect();
    // `classify | head -0`: the first write fails, the tool stops with status 0 and says nothing.
    let (code, err) = with_closed(cmd(), list.clone().into_bytes(), true, false);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    // `classify 2>&1 >/dev/null | head -0`: the errors are lost, their class is kept.
    let (code, out) = with_closed(cmd(), list.clone().into_bytes(), false, true);
    assert_eq!(code, Some(65));
    assert_eq!(out.lines().count(), 20_000);
    // Both closed.
    let (code, _) = with_closed(cmd(), list.into_bytes(), true, true);
    assert_eq!(code, Some(0));
}

#[test]
fn a_huge_id_and_an_absurd_timeout_are_one_line_errors() {
    let huge = format!(
        "test_e2e[aggr-{}]\naggr-ok TIMEOUT (99999999)\naggr-b TIMEOUT (10080)\n",
        "x".repeat(10 << 20)
    );
    classify()
        .write_stdin(huge)
        .assert()
        .code(65)
        .stdout(predicate::str::contains("\"id\":\"aggr-b\""))
        .stderr(predicate::function(|e: &str| {
            let lines: Vec<&str> = e.lines().collect();
            lines.len() == 2
                && lines[0].starts_with("classify: error: -:1: ")
                && lines[0].contains("at most 200 allowed")
                && lines[0].len() < 400
                && lines[1].starts_with("classify: error: -:2: aggr-ok: bad TIMEOUT")
                && lines[1].ends_with("minutes must be in 1..=10080 (one week)")
        }));
}
