//! parse-metrics end to end: exact records and exit codes for each input kind.

use assert_cmd::Command;
use chain_tests::with_closed;
use serde_json::Value;
use std::path::PathBuf;

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name).display().to_string()
}

fn corpus_sample() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/trtllm/docs/source/commands/trtllm-serve/run-benchmark-with-trtllm-serve.example-output.txt")
        .display()
        .to_string()
}

fn cmd() -> Command {
    assert_cmd::cargo_bin_cmd!("parse-metrics")
}

/// Runs and returns (exit code, records, stderr).
fn run(args: &[&str], stdin: &str) -> (i32, Vec<Value>, String) {
    let out = cmd().args(args).write_stdin(stdin).output().unwrap();
    let records = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code().unwrap(), records, String::from_utf8(out.stderr).unwrap())
}

fn metric(r: &Value, name: &str) -> Option<f64> {
    r["metrics"][name].as_f64()
}

#[test]
fn upstream_doc_sample_is_ok() {
    let (code, recs, err) = run(&["--test-id", "aggr-doc", &corpus_sample()], "");
    assert_eq!((code, recs.len(), err.as_str()), (0, 1, ""));
    let r = &recs[0];
    assert_eq!(r["status"], "ok");
    assert_eq!(metric(r, "seq_throughput"), Some(0.61));
    assert_eq!(metric(r, "token_throughput"), Some(622.56));
    assert_eq!(metric(r, "total_token_throughput"), Some(1245.12));
    assert_eq!(metric(r, "user_throughput"), Some(623.08));
    assert_eq!(metric(r, "p99_itl"), Some(1.77));
    assert_eq!(metric(r, "mean_e2el"), Some(1643.44));
    assert_eq!(r["units"]["mean_ttft"], "ms");
    assert_eq!(r["counts"]["total_output_tokens"], 1024);
    assert_eq!(r["metrics"].as_object().unwrap().len(), 18); // 16 + Mean/Median Request AR
}

#[test]
fn role_runner_call_is_exact() {
    let (code, recs, err) = run(
        &[
            "--test-id",
            "aggr-cfg-srv",
            "--server",
            "srv",
            "--client",
            "con4_iter2_isl128_osl64",
            "--concurrency",
            "4",
            "--isl",
            "128",
            "--osl",
            "64",
            "--exit-code",
            "0",
            &data("modern_ok.txt"),
        ],
        "",
    );
    assert_eq!((code, err.as_str()), (0, ""));
    let expected: Value = serde_json::json!({
        "test_id": "aggr-cfg-srv", "server": "srv", "client": "con4_iter2_isl128_osl64",
        "concurrency": 4, "isl": 128, "osl": 64, "status": "ok", "reasons": [],
        "metrics": {"seq_throughput": 3.2, "token_throughput": 204.8, "total_token_throughput": 614.4,
            "user_throughput": 55.1, "mean_ttft": 12.5, "median_ttft": 12.0, "p99_ttft": 20.1,
            "mean_tpot": 1.59, "median_tpot": 1.58, "p99_tpot": 1.77, "mean_itl": 1.6,
            "median_itl": 1.59, "p99_itl": 1.9, "mean_e2el": 112.3, "median_e2el": 110.0, "p99_e2el": 130.25},
        "units": {"seq_throughput": "req/s", "token_throughput": "tok/s", "total_token_throughput": "tok/s",
            "user_throughput": "tok/s", "mean_ttft": "ms", "median_ttft": "ms", "p99_ttft": "ms",
            "mean_tpot": "ms", "median_tpot": "ms", "p99_tpot": "ms", "mean_itl": "ms",
            "median_itl": "ms", "p99_itl": "ms", "mean_e2el": "ms", "median_e2el": "ms", "p99_e2el": "ms"},
        "counts": {"total_requests": 8, "successful_requests": 8, "failed_requests": 0, "num_prompts": 8,
            "total_input_tokens": 1024, "total_output_tokens": 512, "duration_s": 2.5},
        "source": data("modern_ok.txt") + ":2"
    });
    assert_eq!(recs, [expected]);
    // The same with a failing client exit code.
    let (code, recs, err) =
        run(&["--test-id", "aggr-cfg-srv", "--exit-code", "-9", &data("modern_ok.txt")], "");
    assert_eq!(code, 1);
    assert_eq!(recs[0]["reasons"], serde_json::json!(["client exit code -9"]));
    assert_eq!(recs[0]["log_tail"].as_array().unwrap().len(), 20);
    assert_eq!(
        err,
        format!(
            "parse-metrics: error: {}:2: aggr-cfg-srv: client exit code -9\n",
            data("modern_ok.txt")
        )
    );
}

#[test]
fn modern_block_with_failures() {
    let (code, recs, _) = run(&["--test-id", "t", &data("modern_failures.txt")], "");
    assert_eq!(code, 1);
    let r = &recs[0];
    assert_eq!(r["status"], "failed");
    assert_eq!(
        r["reasons"],
        serde_json::json!([
            "2 failed requests",
            "failure marker !FAILED REQUESTS!",
            "failure marker !CHECK LOG FOR ERRORS!",
            "14 successful requests of 16 prompts"
        ])
    );
    assert_eq!(r["client"], "con8_iter2_isl1024_osl1024");
    assert_eq!(r["concurrency"], 8);
    assert_eq!(metric(r, "al"), Some(2.41));
    assert_eq!(metric(r, "std_al"), Some(0.31));
    assert_eq!(metric(r, "p99_al"), Some(3.9));
    assert_eq!(r["units"]["al"], "tokens/iter");
    assert_eq!(metric(r, "std_ttft"), Some(20.0));
    assert_eq!(metric(r, "min_itl"), Some(0.01));
    assert_eq!(metric(r, "max_e2el"), Some(7600.0));
    assert_eq!(metric(r, "p90_ttft"), Some(375.75));
    assert_eq!(metric(r, "p99_9_tpot"), Some(17.02));
    assert_eq!(metric(r, "total_energy"), Some(5123.4567));
    assert_eq!(r["units"]["output_tokens_per_second_per_watt"], "tps/W");
    assert_eq!(metric(r, "mean_gen_worker_per_iter_device_step_time"), Some(7.31));
    assert_eq!(r["counts"]["failed_requests"], 2);
}

#[test]
fn sa_client_without_user_throughput_is_ok() {
    let (code, recs, _) = run(&["--test-id", "disagg-e2e-cfg", &data("sa_client.txt")], "");
    assert_eq!(code, 0);
    assert_eq!(recs[0]["status"], "ok");
    assert!(recs[0]["metrics"].get("user_throughput").is_none());
    assert_eq!(recs[0]["counts"]["num_prompts"], 10);
    // Requiring it makes the record fail, with the rule named.
    let (code, recs, _) = run(&["--required", "user_throughput,al", &data("sa_client.txt")], "");
    assert_eq!(code, 1);
    assert_eq!(recs[0]["reasons"], serde_json::json!(["missing metrics: user_throughput, al"]));
    assert_eq!(recs[0]["test_id"], "sa_client.txt");
}

#[test]
fn fewer_successes_than_prompts_fails_without_failed_line() {
    let text = std::fs::read_to_string(data("sa_client.txt"))
        .unwrap()
        .replace("num_prompts=10", "num_prompts=12");
    let (code, recs, _) = run(&["--test-id", "x"], &text);
    assert_eq!(code, 1);
    assert_eq!(recs[0]["reasons"], serde_json::json!(["10 successful requests of 12 prompts"]));
}

#[test]
fn zero_output_tokens_fails() {
    let text = std::fs::read_to_string(data("modern_ok.txt"))
        .unwrap()
        .replace("Total generated tokens:                  512", "Total generated tokens: 0");
    let (code, recs, _) = run(&[], &text);
    assert_eq!(code, 1);
    assert_eq!(recs[0]["reasons"], serde_json::json!(["zero output tokens"]));
    assert_eq!(recs[0]["test_id"], "stdin");
}

#[test]
fn truncated_log_fails_with_missing_metrics_and_tail() {
    let (code, recs, _) = run(&["--test-id", "t", &data("truncated.txt")], "");
    assert_eq!(code, 1);
    let reasons = recs[0]["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1);
    assert_eq!(
        reasons[0],
        "missing metrics: total_token_throughput, median_ttft, p99_ttft, mean_itl, median_itl, p99_itl, mean_tpot, median_tpot, p99_tpot, mean_e2el, median_e2el, p99_e2el"
    );
    assert_eq!(recs[0]["log_tail"].as_array().unwrap().last().unwrap(), "Mean TTFT (ms):      9");
}

#[test]
fn garbage_is_a_data_error_with_a_failed_record() {
    let (code, recs, err) = run(&["--test-id", "g", &data("garbage.bin")], "");
    assert_eq!(code, 65);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0]["reasons"],
        serde_json::json!([format!("no benchmark result block in {}", data("garbage.bin"))])
    );
    assert_eq!(err.lines().count(), 1);
    // Without a test id: no record, one diagnostic.
    let (code, recs, err) = run(&[], "Traceback (most recent call last):\n  boom\n");
    assert_eq!((code, recs.len()), (65, 0));
    assert_eq!(err, "parse-metrics: error: stdin: no benchmark result block\n");
}

#[test]
fn missing_file_still_yields_failed_record() {
    let (code, recs, _) = run(&["--test-id", "t", "/nonexistent/client.log"], "");
    assert_eq!(code, 66);
    assert_eq!(recs[0]["status"], "failed");
    assert!(recs[0]["reasons"][0].as_str().unwrap().starts_with("cannot read client output: "));
}

#[test]
fn several_blocks_give_one_record_each() {
    let (code, recs, _) = run(&["--test-id", "disagg-e2e-cfg", &data("sweep.txt")], "");
    assert_eq!(code, 0);
    let names: Vec<_> =
        recs.iter().map(|r| (r["client"].clone(), r["concurrency"].clone())).collect();
    assert_eq!(
        names,
        [
            (Value::from("con1_iter2_isl128_osl64"), Value::from(1)),
            (Value::from("con4_iter2_isl128_osl64"), Value::from(4))
        ]
    );
    assert_eq!(metric(&recs[1], "seq_throughput"), Some(1.5));
    assert_eq!(metric(&recs[1], "p99_e2el"), Some(3.75));
}

#[test]
fn save_result_json() {
    let (code, recs, _) = run(&["--test-id", "t", &data("save_result.json")], "");
    assert_eq!(code, 0, "{recs:?}");
    assert_eq!(metric(&recs[0], "seq_throughput"), Some(3.2));
    assert_eq!(metric(&recs[0], "token_throughput"), Some(204.8));
    assert_eq!(metric(&recs[0], "std_ttft"), Some(0.1));
    assert_eq!(recs[0]["concurrency"], 4);
    // The same JSON on stdin.
    let text = std::fs::read_to_string(data("save_result.json")).unwrap();
    let (code, recs, _) = run(&["--test-id", "t"], &text);
    assert_eq!((code, recs[0]["source"].clone()), (0, Value::from("stdin")));
}

#[test]
fn junit_input_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.xml");
    let (code, recs, _) = run(&["--junit", report.to_str().unwrap(), &data("pytest.xml")], "");
    assert_eq!(code, 1);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["test_id"], "aggr_upload-cfg-srv");
    assert_eq!(recs[0]["reasons"][0], "junit failure: RuntimeError: benchmark failed");
    assert_eq!(recs[1]["test_id"], "disagg-e2e-cfg2");
    assert_eq!(recs[1]["status"], "ok");
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(
        xml.contains(
            r#"<testsuite name="parse-metrics" tests="2" failures="1" errors="0" skipped="0">"#
        ),
        "{xml}"
    );
    assert!(xml.contains(r#"<failure type="failed" message="con8_iter2_isl1024_osl1024: junit failure: RuntimeError: benchmark failed; 2 failed requests;"#), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1);
}

#[test]
fn gen_logs_mode_bucket_mean() {
    let (code, recs, _) = run(
        &["--test-id", "disagg-gen_only-cfg", "--format", "gen-log", &data("gen_server_0.log")],
        "",
    );
    assert_eq!(code, 0);
    assert_eq!(metric(&recs[0], "mean_gen_worker_per_iter_device_step_time"), Some(7.6));
    // Auto-detected, and added to a client record with --gen-log.
    let (code, recs, _) =
        run(&["--gen-log", &data("gen_server_0.log"), &data("sa_client.txt")], "");
    assert_eq!(code, 0);
    assert_eq!(metric(&recs[0], "mean_gen_worker_per_iter_device_step_time"), Some(7.6));
    // gen_only ids require it.
    let (code, recs, _) = run(&["--test-id", "disagg-gen_only-cfg", &data("sa_client.txt")], "");
    assert_eq!(code, 1);
    assert_eq!(
        recs[0]["reasons"],
        serde_json::json!(["missing metrics: mean_gen_worker_per_iter_device_step_time"])
    );
}

#[test]
fn context_records_on_stdin() {
    let stdin = format!(
        "{{\"id\":\"aggr-a\",\"log\":\"{}\",\"hints\":{{\"isl\":128}}}}\n{{\"id\":\"aggr-b\",\"exit_code\":1,\"log\":\"{}\"}}\n{{\"id\":\"aggr-c\"}}\n",
        data("modern_ok.txt"),
        data("sa_client.txt")
    );
    let (code, recs, _) = run(&[], &stdin);
    assert_eq!(code, 66);
    let got: Vec<_> = recs.iter().map(|r| (r["test_id"].clone(), r["status"].clone())).collect();
    assert_eq!(
        got,
        [
            (Value::from("aggr-a"), Value::from("ok")),
            (Value::from("aggr-b"), Value::from("failed")),
            (Value::from("aggr-c"), Value::from("failed"))
        ]
    );
    // A metric record re-checked: the rules apply again.
    let rec = serde_json::json!({"test_id":"t","status":"ok","reasons":[],"metrics":{"mean_ttft":1.0},"counts":{"failed_requests":3}});
    let (code, recs, _) = run(&["--required", "mean_ttft"], &format!("{rec}\n"));
    assert_eq!(code, 1);
    assert_eq!(recs[0]["reasons"], serde_json::json!(["3 failed requests"]));
}

#[test]
fn usage_errors_exit_64() {
    cmd().arg("--concurrency").arg("x").assert().code(64);
    cmd().args(["--isl", "99999999999999999", "x.log"]).assert().code(64).stdout("").stderr(
        "parse-metrics: error: invalid value '99999999999999999' for '--isl <ISL>': must be in 0..=9007199254740992 (see --help)\n",
    );
    cmd().arg("--help").assert().code(0).stdout(predicates::str::contains("Examples:"));
}

#[test]
fn attempt_is_on_every_record_and_checked() {
    let args = ["--test-id", "disagg-e2e-cfg", "--attempt", "20261129T120000.000Z"];
    // A sweep (ok records, the fast writer), a failed one, and no result at all.
    let sweep = data("sweep.txt");
    let failed = data("modern_failures.txt");
    let (code, recs, _) = run(&[&args[..], &[&sweep, &failed, "/nonexistent.log"]].concat(), "");
    assert_eq!(code, 66);
    let statuses: Vec<_> = recs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["ok", "ok", "failed", "failed"]);
    assert!(recs.iter().all(|r| r["attempt"] == "20261129T120000.000Z"), "{recs:?}");
    // The attempt comes right after the test id, as serde writes it.
    let out = cmd().args(args).arg(&sweep).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(
        "{\"test_id\":\"disagg-e2e-cfg\",\"attempt\":\"20261129T120000.000Z\",\"client\":"
    ));
    // Without --attempt: no attempt field.
    let (_, recs, _) = run(&["--test-id", "t", &sweep], "");
    assert!(recs.iter().all(|r| r.get("attempt").is_none()));
    // It becomes a path component: checked like an id.
    cmd().args(["--attempt", "../x", &sweep]).assert().code(64).stdout("").stderr(
        predicates::str::starts_with("parse-metrics: error: invalid value '../x' for '--attempt"),
    );
}

#[test]
fn a_failed_record_carries_no_unmeasured_values() {
    // Every request failed: benchmark_serving prints 0.00 for every figure.
    let text = std::fs::read_to_string(data("modern_ok.txt")).unwrap();
    let zeros: String = text
        .lines()
        .map(|l| match l.split_once(':') {
            Some((label, v))
                if v.trim().parse::<f64>().is_ok() && !label.contains("Total requests") =>
            {
                let v = if label.contains("Failed requests") { "8" } else { "0.00" };
                format!("{label}: {v}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let (code, recs, _) = run(&["--test-id", "t"], &zeros);
    assert_eq!(code, 1);
    let r = &recs[0];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["metrics"], serde_json::json!({}), "{r}");
    assert_eq!(r["units"], serde_json::json!({}));
    assert_eq!(r["counts"]["failed_requests"], 8);
    assert_eq!(r["counts"]["successful_requests"], 0);
    // Some requests succeeded: the printed figures stay, a printed zero does not.
    let some = text
        .replace("Failed requests:                         0", "Failed requests: 1")
        .replace("Mean TTFT (ms):                          12.50", "Mean TTFT (ms): 0.00");
    let (code, recs, _) = run(&["--test-id", "t"], &some);
    assert_eq!(code, 1);
    assert_eq!(metric(&recs[0], "seq_throughput"), Some(3.2));
    assert_eq!(metric(&recs[0], "mean_ttft"), None);
}

#[test]
fn out_of_range_values_fail_the_record_naming_the_field() {
    let text = std::fs::read_to_string(data("modern_ok.txt")).unwrap();
    for (from, to, reason) in [
        (
            "Successful requests:                     8",
            "Successful requests: -8",
            "invalid successful_requests: -8 (negative)",
        ),
        (
            "Total requests:                          8",
            "Total requests: 7.5",
            "invalid total_requests: 7.5 (not a whole number)",
        ),
        (
            "Total input tokens:                      1024",
            "Total input tokens: 18446744073709551615",
            "invalid total_input_tokens: 18446744073709551615 (too large: over 2^53)",
        ),
        (
            "Total generated tokens:                  512",
            "Total generated tokens: 1e30",
            "invalid total_output_tokens: 1e30 (too large: over 2^53)",
        ),
        (
            "Mean TTFT (ms):                          12.50",
            "Mean TTFT (ms): -12.5",
            "invalid mean_ttft: -12.5 (negative)",
        ),
        (
            "P99 ITL (ms):                            1.90",
            "P99 ITL (ms): nan",
            "invalid p99_itl: nan (not a number)",
        ),
        (
            "Median E2EL (ms):                        110.00",
            "Median E2EL (ms): inf",
            "invalid median_e2el: inf (not a number)",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let (code, recs, err) = run(&["--test-id", "t"], &text.replace(from, to));
        assert_eq!(code, 1, "{to}");
        assert_eq!(recs[0]["status"], "failed");
        let reasons: Vec<&str> =
            recs[0]["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert!(reasons.contains(&reason), "{to}: {reasons:?}");
        assert_eq!(err.lines().count(), 1);
    }
}

#[test]
fn python_nan_in_save_result_json_is_a_named_reason_not_a_rejection() {
    let text = std::fs::read_to_string(data("save_result.json")).unwrap();
    let nan = text.replacen("\"mean_ttft_ms\": 12.5", "\"mean_ttft_ms\": NaN", 1);
    assert_ne!(nan, text);
    let (code, recs, err) = run(&["--test-id", "t"], &nan);
    assert_eq!(code, 1, "{err}");
    assert_eq!(recs[0]["status"], "failed");
    assert_eq!(recs[0]["reasons"], serde_json::json!(["invalid mean_ttft: NaN (not a number)"]));
    assert!(recs[0]["metrics"].get("mean_ttft").is_none());
    // An optional figure as Infinity: named too.
    let inf = text.replacen("\"std_ttft_ms\": 0.1", "\"std_ttft_ms\": -Infinity", 1);
    assert_ne!(inf, text);
    let (_, recs, _) = run(&["--test-id", "t"], &inf);
    assert_eq!(
        recs[0]["reasons"],
        serde_json::json!(["invalid std_ttft: -Infinity (not a number)"])
    );
}

#[test]
fn closed_stdout_or_stderr_ends_quietly_even_with_many_errors() {
    let cmd = || {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("parse-metrics"));
        c.args(["--test-id", "t"]);
        c
    };
    let ok = std::fs::read_to_string(data("modern_ok.txt")).unwrap();
    let bad = ok.replace("Failed requests:                         0", "Failed requests: 1");
    let log = [ok.as_str(), bad.as_str()].concat().repeat(3_000);
    let (code, err) = with_closed(cmd(), log.clone().into_bytes(), true, false);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    let (code, out) = with_closed(cmd(), log.clone().into_bytes(), false, true);
    assert_eq!(code, Some(1));
    assert_eq!(out.lines().count(), 6_000);
    let (code, _) = with_closed(cmd(), log.into_bytes(), true, true);
    assert_eq!(code, Some(0));
}

#[test]
fn bench_trace_replay_lines_become_metrics() {
    let (code, recs, err) = run(&["--test-id", "agentx", &data("bench_trace.txt")], "");
    assert_eq!((code, err.as_str()), (0, ""));
    let expected: Value = serde_json::json!({
        "test_id": "agentx", "status": "ok", "reasons": [],
        "metrics": {"seq_throughput": 80.0, "token_throughput": 220.0, "total_token_throughput": 800.0,
            "user_throughput": 700.0, "mean_ttft": 2.5, "median_ttft": 2.4, "p99_ttft": 3.1,
            "mean_tpot": 1.0, "median_tpot": 1.1, "p99_tpot": 1.2, "mean_itl": 1.0, "median_itl": 1.0,
            "p99_itl": 1.5, "mean_e2el": 5.0, "median_e2el": 4.9, "p99_e2el": 7.0,
            "p99_dispatch_delay": 0.08, "total_cached_tokens": 8.0, "cache_hit_rate": 27.59,
            "sessions": 3.0, "turns": 4.0, "mean_ttft_turn_1": 2.6, "mean_ttft_turn_2": 2.2},
        "units": {"seq_throughput": "req/s", "token_throughput": "tok/s", "total_token_throughput": "tok/s",
            "user_throughput": "tok/s", "mean_ttft": "ms", "median_ttft": "ms", "p99_ttft": "ms",
            "mean_tpot": "ms", "median_tpot": "ms", "p99_tpot": "ms", "mean_itl": "ms",
            "median_itl": "ms", "p99_itl": "ms", "mean_e2el": "ms", "median_e2el": "ms", "p99_e2el": "ms",
            "p99_dispatch_delay": "ms", "total_cached_tokens": "tokens", "cache_hit_rate": "%",
            "sessions": "count", "turns": "count", "mean_ttft_turn_1": "ms", "mean_ttft_turn_2": "ms"},
        "counts": {"total_requests": 4, "successful_requests": 4, "failed_requests": 0, "num_prompts": 4,
            "total_input_tokens": 29, "total_output_tokens": 11, "duration_s": 0.05},
        "source": data("bench_trace.txt") + ":2"
    });
    assert_eq!(recs, [expected]);
    // The same figures from bench's --save-result JSON.
    let json = r#"{"num_prompts":4,"duration":0.05,"completed":4,"failed":0,"total_input_tokens":29,
        "total_output_tokens":11,"request_throughput":80.0,"mean_ttft_ms":2.5,"p99_dispatch_delay_ms":0.08,
        "total_cached_tokens":8,"cache_hit_rate":27.59,"sessions":3,"turns":4,"mean_ttft_by_turn_ms":[2.6,2.2]}"#;
    // (Failed for its missing latency keys: only the metrics are checked here.)
    let (_, recs, _) = run(&["--test-id", "agentx", "--format", "json", "-"], json);
    let m = &recs[0]["metrics"];
    for (k, v) in [
        ("p99_dispatch_delay", 0.08),
        ("total_cached_tokens", 8.0),
        ("cache_hit_rate", 27.59),
        ("sessions", 3.0),
        ("turns", 4.0),
        ("mean_ttft_turn_1", 2.6),
        ("mean_ttft_turn_2", 2.2),
    ] {
        assert_eq!(m[k].as_f64(), Some(v), "{k}: {m}");
    }
    assert_eq!(recs[0]["units"]["cache_hit_rate"], "%");
    assert_eq!(recs[0]["units"]["sessions"], "count");
    // A server that never said how many tokens were cached: null, and no metric.
    let json = r#"{"num_prompts":1,"duration":1.0,"completed":1,"failed":0,"request_throughput":1.0,
        "total_cached_tokens":null,"cache_hit_rate":null,"sessions":1,"turns":1,"mean_ttft_by_turn_ms":[5.0]}"#;
    let (_, recs, _) = run(&["--test-id", "agentx", "--format", "json", "-"], json);
    assert!(recs[0]["metrics"].get("total_cached_tokens").is_none(), "{}", recs[0]);
    assert!(recs[0]["metrics"].get("cache_hit_rate").is_none());
    assert_eq!(metric(&recs[0], "mean_ttft_turn_1"), Some(5.0));
}
