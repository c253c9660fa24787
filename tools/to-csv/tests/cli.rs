//! to-csv end to end: exact CSV text and exit codes.

use chain_tests::with_closed;

fn to_csv(args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = assert_cmd::cargo_bin_cmd!("to-csv").args(args).write_stdin(stdin).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const OK: &str = r#"{"test_id":"aggr_upload-deepseek_r1_fp4_v2_blackwell-srv","server":"srv","client":"con4","concurrency":4,"isl":128,"osl":64,"status":"ok","reasons":[],"metrics":{"seq_throughput":3.2,"token_throughput":204.8,"total_token_throughput":614.4,"mean_ttft":12.5,"p90_ttft":15.25},"units":{"seq_throughput":"req/s","token_throughput":"tok/s","total_token_throughput":"tok/s","mean_ttft":"ms","p90_ttft":"ms"},"counts":{"successful_requests":8,"duration_s":2.5}}"#;
const FAILED: &str = r#"{"test_id":"disagg-e2e-cfg","client":"con1","concurrency":1,"status":"failed","reasons":["2 failed requests","failure marker !FAILED REQUESTS!"],"metrics":{"seq_throughput":0.5},"context":{"precision":"fp8, \"e4m3\""}}"#;

#[test]
fn legacy_columns_values_and_quoting() {
    let (code, csv, err) = to_csv(
        &["--columns", "throughput__qps,tokens_per__sec,mean_ttft,duration__sec"],
        &format!("{OK}\n{FAILED}\n"),
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        csv,
        "network,batchsize,precision,framework,command,throughput__qps,tokens_per__sec,mean_ttft__ms,duration__sec,status,reasons\n\
         aggr_upload-deepseek_r1_fp4_v2_blackwell-srv,4,fp4,trtllm,srv-con4,3.2,204.8,12.5,2.5,ok,\n\
         disagg-e2e-cfg,1,\"fp8, \"\"e4m3\"\"\",trtllm,con1,,,,,failed,2 failed requests; failure marker !FAILED REQUESTS!\n"
    );
}

#[test]
fn throughput_qps_is_request_throughput_not_tokens() {
    let (_, csv, _) = to_csv(&[], &format!("{OK}\n"));
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("throughput__qps"), "3.2");
    assert_eq!(col("tokens_per__sec"), "204.8");
    assert_eq!(col("total_tokens_per__sec"), "614.4");
}

#[test]
fn default_header_is_stable() {
    let (code, csv, _) = to_csv(&["--allow-empty"], "");
    assert_eq!(code, 0);
    assert_eq!(
        csv,
        "network,batchsize,precision,framework,command,throughput__qps,tokens_per__sec,total_tokens_per__sec,user_tokens_per__sec,mean_ttft__ms,median_ttft__ms,p99_ttft__ms,mean_tpot__ms,median_tpot__ms,p99_tpot__ms,mean_itl__ms,median_itl__ms,p99_itl__ms,mean_e2el__ms,median_e2el__ms,p99_e2el__ms,al__tokens_per_iter,mean_gen_worker_per_iter_device_step_time__ms,goodput__qps,gpu_util_mean__pct,gpu_util_max__pct,gpu_mem_used_max__mib,gpu_power_mean__w,gpu_energy_per_token__j_per_token,cache_hit_rate__pct,cached_tokens__count,sessions__count,turns__count,duration__sec,total_requests__count,successful_requests__count,failed_requests__count,input_tokens__count,output_tokens__count,status,reasons\n"
    );
}

#[test]
fn no_record_is_no_input_and_writes_nothing() {
    let (code, csv, err) = to_csv(&[], "\n");
    assert_eq!(code, 66);
    assert_eq!(csv, "");
    assert_eq!(
        err,
        "to-csv: error: no metric records on stdin; nothing written (did the step before fail? --allow-empty writes the header alone)\n"
    );
}

#[test]
fn wide_rows_sorted_with_all_metrics() {
    let (code, csv, _) =
        to_csv(&["--wide", "--columns", "throughput__qps,p90_ttft"], &format!("{OK}\n{FAILED}\n"));
    assert_eq!(code, 0);
    assert_eq!(
        csv,
        "test_id,server,client,concurrency,isl,osl,precision,status,reasons,throughput__qps,p90_ttft__ms\n\
         aggr_upload-deepseek_r1_fp4_v2_blackwell-srv,srv,con4,4,128,64,fp4,ok,,3.2,15.25\n\
         disagg-e2e-cfg,,con1,1,,,\"fp8, \"\"e4m3\"\"\",failed,2 failed requests; failure marker !FAILED REQUESTS!,,\n"
    );
    let (_, all, _) = to_csv(&["--wide"], &format!("{OK}\n"));
    assert!(all.lines().next().unwrap().ends_with(",output_tokens__count,p90_ttft__ms"), "{all}");
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let (code, csv, err) = to_csv(&["--columns", "throughput__qps"], &format!("not json\n{OK}\n"));
    assert_eq!(code, 65);
    assert_eq!(csv.lines().count(), 2);
    assert!(err.starts_with("to-csv: error: -:1: invalid record"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

/// Only bad lines: each is reported once (stdin is `-` as in every tool), exit 65, nothing
/// written, no second "no metric records" line.
#[test]
fn only_bad_lines_give_one_line_each_and_no_output() {
    let (code, csv, err) = to_csv(&[], "{\"test_id\":\"t\"\n");
    assert_eq!((code, csv.as_str()), (65, ""));
    assert_eq!(
        err,
        "to-csv: error: -:1: invalid record: EOF while parsing an object (column 14)\n"
    );
}

#[test]
fn unknown_column_is_a_usage_error() {
    let (code, csv, err) = to_csv(&["--columns", "bogus"], &format!("{OK}\n"));
    assert_eq!((code, csv.as_str()), (64, ""));
    assert_eq!(
        err,
        "to-csv: error: unknown column \"bogus\" (not in the mapping table nor in the input)\n"
    );
}

#[test]
fn failed_rows_have_empty_metric_cells_not_zeros() {
    let failed = r#"{"test_id":"aggr-x","concurrency":2,"status":"failed","reasons":["no successful requests"],"metrics":{"seq_throughput":0.0,"mean_ttft":0.0,"p90_ttft":0.0},"units":{"p90_ttft":"ms"},"counts":{"total_requests":4,"successful_requests":0,"failed_requests":4}}"#;
    let (code, csv, err) = to_csv(
        &["--columns", "throughput__qps,mean_ttft,p90_ttft,failed_requests__count"],
        &format!("{failed}\n"),
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        csv,
        "network,batchsize,precision,framework,command,throughput__qps,mean_ttft__ms,p90_ttft__ms,failed_requests__count,status,reasons\n\
         aggr-x,2,,trtllm,,,,,4,failed,no successful requests\n"
    );
}

#[test]
fn spreadsheet_formulas_are_neutralised() {
    let evil = r#"{"test_id":"=HYPERLINK(\"http://evil\",\"x\")","server":"@SUM(A1:A2)","client":"c","concurrency":1,"status":"failed","reasons":["-2+3","+cmd|' /C calc'!A0","\tx"],"metrics":{},"context":{"precision":"=1+1"}}"#;
    let (code, csv, _) = to_csv(&["--columns", "throughput__qps"], &format!("{evil}\n"));
    assert_eq!(code, 0);
    assert_eq!(
        csv.lines().nth(1).unwrap(),
        "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",1,'=1+1,trtllm,'@SUM(A1:A2)-c,,failed,'-2+3; +cmd|' /C calc'!A0; \tx"
    );
    let (_, wide, _) = to_csv(&["--wide"], &format!("{evil}\n"));
    let row = wide.lines().nth(1).unwrap();
    assert!(row.starts_with("\"'=HYPERLINK("), "{row}");
    assert!(row.contains(",'@SUM(A1:A2),c,1,"), "{row}");
    assert!(row.contains(",'=1+1,failed,'-2+3; "), "{row}");
}

#[test]
fn closed_stdout_or_stderr_ends_quietly_even_with_many_errors() {
    let cmd = || std::process::Command::new(assert_cmd::cargo::cargo_bin!("to-csv"));
    let input: String = (0..20_000).map(|_| format!("{OK}\nnot json\n")).collect();
    let (code, err) = with_closed(cmd(), input.clone().into_bytes(), true, false);
    // The bad lines were reported before the CSV was written, and that write found no reader.
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err.lines().count(), 20_000);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    let (code, out) = with_closed(cmd(), input.clone().into_bytes(), false, true);
    assert_eq!(code, Some(65));
    assert_eq!(out.lines().count(), 20_001);
    let (code, _) = with_closed(cmd(), input.into_bytes(), true, true);
    assert_eq!(code, Some(0));
}
