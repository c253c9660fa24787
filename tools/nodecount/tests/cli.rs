//! nodecount's command line: exact records, error lines and exit codes over small configs in
//! tests/data (`root/` has the upstream layout, `flat/` is a plain folder).

use assert_cmd::Command;
use chain_tests::with_closed;
use serde_json::{json, Value};
use std::path::Path;

fn data() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

fn nodecount(args: &[&str]) -> Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("nodecount");
    cmd.current_dir(data()).env_remove("PERFLINE_CONFIG_ROOTS").args(args);
    cmd
}

/// A classify-style record.
fn record(id: &str, family: &str, mode: Option<&str>, config: &str, select: &[&str]) -> String {
    json!({
        "id": id, "family": family, "benchmark_mode": mode, "config": config, "select": select,
        "upload": false, "timeout_s": 3600, "source": format!("list.txt:{}", id.len())
    })
    .to_string()
}

fn worked(mode: &str) -> String {
    let id = format!("disagg-{mode}-worked_ctx1_tp1_gen1_tp8");
    record(&id, "disagg", Some(mode), "worked_ctx1_tp1_gen1_tp8", &[])
}

fn tiny(select: &[&str]) -> String {
    let id = if select.is_empty() {
        "aggr-tiny".to_string()
    } else {
        format!("aggr-tiny-{}", select.join(","))
    };
    record(&id, "aggr", None, "tiny", select)
}

struct Run {
    code: i32,
    records: Vec<Value>,
    stderr: String,
}

fn run(args: &[&str], input: String) -> Run {
    let out = nodecount(args).write_stdin(input).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    Run {
        code: out.status.code().unwrap(),
        records: stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn aggregated_record_is_exact() {
    let r = run(&["--root", "root"], tiny(&[]) + "\n");
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let want = json!({
        "id": "aggr-tiny", "family": "aggr", "benchmark_mode": null, "config": "tiny",
        "select": [], "upload": false, "timeout_s": 3600, "source": "list.txt:9",
        "mode": "multi-agg",
        "config_path": "root/tests/scripts/perf-sanity/aggregated/tiny.yaml",
        "gpus_per_node": 4, "total_nodes": 2, "total_gpus": 8, "used_gpus": 8,
        "roles": [
            {"role": "SERVER_0", "kind": "server", "index": 0, "name": "tp2", "gpus": 2,
             "nodes": 1, "tasks_per_node": 2, "first_node": 0, "model": "m",
             "llm_config": {"tensor_parallel_size": 2}},
            {"role": "SERVER_1", "kind": "server", "index": 1, "name": "tp8", "gpus": 8,
             "nodes": 2, "tasks_per_node": 4, "first_node": 0, "model": "m",
             "llm_config": {"tensor_parallel_size": 8}}
        ],
        "clients": [
            {"server": "SERVER_0", "name": "c4", "concurrency": 4, "iterations": 2,
             "num_prompts": 8, "isl": 1024, "osl": 1024, "random_range_ratio": 0.0,
             "backend": "openai", "streaming": true, "use_chat_template": false, "warmup": false},
            {"server": "SERVER_1", "name": "c1", "concurrency": 1, "iterations": 1,
             "num_prompts": 1, "isl": 1024, "osl": 1024, "random_range_ratio": 0.0,
             "backend": "openai", "streaming": true, "use_chat_template": false, "warmup": false}
        ],
        "job_timeout_s": 3600
    });
    assert_eq!(r.records, [want]);
}

#[test]
fn worked_example_and_selection() {
    let input = [worked("e2e"), worked("gen_only"), tiny(&["tp2"])].join("\n");
    let r = run(&["--root", "root"], input);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let counts: Vec<_> = r
        .records
        .iter()
        .map(|p| {
            (
                p["mode"].as_str().unwrap(),
                p["total_nodes"].as_u64().unwrap(),
                p["total_gpus"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [("disagg", 3, 12), ("disagg", 3, 12), ("single-agg", 1, 4)]);
    let roles: Vec<_> = r.records[0]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|role| (role["role"].as_str().unwrap(), role["first_node"].as_u64().unwrap()))
        .collect();
    assert_eq!(roles, [("GEN_0", 0), ("CTX_0", 2)]);
    assert_eq!(r.records[0]["roles"][0]["env"], json!(["A=1"]));
    let names: Vec<_> =
        r.records[0]["clients"].as_array().unwrap().iter().map(|c| c["name"].clone()).collect();
    assert_eq!(names, [json!("con1_iter2_isl128_osl16"), json!("con4_iter2_isl128_osl16")]);
    assert_eq!(r.records[1]["clients"][0]["warmup"], json!(true));
}

#[test]
fn pack_reports_offsets_and_savings() {
    let r = run(&["--root", "root", "--pack"], worked("e2e"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let p = &r.records[0];
    assert_eq!((p["total_nodes"].clone(), p["total_gpus"].clone()), (json!(3), json!(12)));
    assert_eq!((p["packed"].clone(), p["gpus_saved"].clone()), (json!(true), json!(0)));
    assert_eq!(p["roles"][1]["gpu_offset"], json!(0));
}

#[test]
fn bad_field_names_config_path_and_field() {
    let bad = record("disagg-e2e-bad_tp", "disagg", Some("e2e"), "bad_tp", &[]);
    let input = [bad, tiny(&[])].join("\n");
    let r = run(&["--root", "root", "--config-dir", "flat"], input);
    assert_eq!(r.code, 65);
    assert_eq!(
        r.stderr,
        "nodecount: error: flat/bad_tp.yaml: worker_config.gen.tensor_parallel_size: must be an integer ≥ 1, got \"x\"\n"
    );
    assert_eq!(r.records.len(), 1, "the stream goes on");
    assert_eq!(r.records[0]["id"], json!("aggr-tiny"));
}

#[test]
fn missing_config_names_test_and_folders_and_first_class_wins() {
    let missing = record("aggr-nope", "aggr", None, "nope", &[]);
    let bad = record("disagg-e2e-bad_tp", "disagg", Some("e2e"), "bad_tp", &[]);
    let r = run(&["--config-dir", "flat"], [missing, bad].join("\n"));
    assert_eq!(r.code, 66, "the first error's class");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        "nodecount: error: list.txt:9: aggr-nope: config nope.yaml not found (looked in: flat); use --config-dir DIR or --root CHECKOUT"
    );
    assert!(lines[1].starts_with("nodecount: error: flat/bad_tp.yaml: "), "{}", lines[1]);
    assert!(r.records.is_empty());
}

#[test]
fn search_order_falls_back_to_the_other_family() {
    // A disagg lookup for an aggregated file name finds it in the aggregated folders last.
    let r = run(&["--root", "root"], record("disagg-e2e-tiny", "disagg", Some("e2e"), "tiny", &[]));
    assert_eq!(r.code, 65);
    assert_eq!(
        r.stderr,
        "nodecount: error: root/tests/scripts/perf-sanity/aggregated/tiny.yaml: hardware.num_ctx_servers: required field is missing\n"
    );
    let r = run(&[], record("aggr-missing", "aggr", None, "missing", &[]));
    assert_eq!(r.code, 66);
    assert!(r.stderr.contains("(looked in: ./tests/scripts/perf-sanity/aggregated, ./tests/scripts/perf/aggregated, 6 more; none of them exists)"), "{}", r.stderr);
}

#[test]
fn roots_come_from_the_environment() {
    let out = nodecount(&[])
        .env("PERFLINE_CONFIG_ROOTS", "elsewhere:root")
        .write_stdin(tiny(&["tp8"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["total_nodes"], json!(2));
}

#[test]
fn bad_input_lines_and_ids_are_data_errors() {
    let traversal = record("aggr-x", "aggr", None, "../flat/bad_tp", &[]);
    let unknown = record("aggr-tiny-nope", "aggr", None, "tiny", &["nope"]);
    let input = ["{\"id\":".to_string(), traversal, unknown, tiny(&[])].join("\n");
    let r = run(&["--root", "root"], input);
    assert_eq!(r.code, 65);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stderr);
    assert!(lines[0].starts_with("nodecount: error: -:1: invalid record: "), "{}", lines[0]);
    assert_eq!(
        lines[1],
        "nodecount: error: list.txt:6: aggr-x: config name \"../flat/bad_tp\": id contains '/'; allowed: letters, digits and _ - . , + ="
    );
    assert_eq!(
        lines[2],
        "nodecount: error: root/tests/scripts/perf-sanity/aggregated/tiny.yaml: server_configs: no server config named \"nope\" (have: tp2, tp8)"
    );
    assert_eq!(r.records.len(), 1);
}

#[test]
fn invalid_yaml_names_file_line_and_column() {
    let r = run(&["--config-dir", "flat"], tiny(&[]).replace("\"tiny\"", "\"broken\""));
    assert_eq!(r.code, 65);
    assert!(r.stderr.starts_with("nodecount: error: flat/broken.yaml:2:"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
}

#[test]
fn check_adds_a_check_object_and_fails_on_mismatch() {
    let mut good: Value = serde_json::from_str(&worked("e2e")).unwrap();
    good["list"] = json!("l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu1_gen1_node2_gpu8");
    good["condition"] = json!({"ranges": {"system_gpu_count": {"gte": 12, "lte": 12}}});
    let r = run(&["--root", "root", "--check"], good.to_string());
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.records[0]["check"]["ok"], json!(true));
    assert_eq!(r.records[0]["check"]["expected"]["total_nodes"], json!(3));

    let mut bad = good.clone();
    bad["list"] = json!("l0_gb200_multi_nodes_perf_sanity_node2_gpu8");
    let r = run(&["--root", "root", "--check"], bad.to_string());
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "nodecount: error: list.txt:35: disagg-e2e-worked_ctx1_tp1_gen1_tp8: total_nodes is 3 but list l0_gb200_multi_nodes_perf_sanity_node2_gpu8 expects 2\n\
         nodecount: error: list.txt:35: disagg-e2e-worked_ctx1_tp1_gen1_tp8: total_gpus is 12 but list l0_gb200_multi_nodes_perf_sanity_node2_gpu8 expects 8\n"
    );
    assert_eq!(r.records.len(), 1, "a mismatching record is still written");
    assert_eq!(r.records[0]["check"]["ok"], json!(false));
    assert_eq!(r.records[0]["check"]["mismatches"].as_array().unwrap().len(), 2);
}

#[test]
fn usage_errors_exit_64() {
    nodecount(&["--bogus"])
        .assert()
        .code(64)
        .stdout("")
        .stderr("nodecount: error: unexpected argument '--bogus' found (see --help)\n");
}

#[test]
fn help_has_examples() {
    let out = nodecount(&["--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Examples:") && help.contains("--check"), "{help}");
}

#[test]
fn records_and_errors_keep_input_order() {
    let bad = record("disagg-e2e-bad_tp", "disagg", Some("e2e"), "bad_tp", &[]);
    let missing = record("aggr-nope", "aggr", None, "nope", &[]);
    let input =
        [worked("e2e"), bad, tiny(&[]), missing, worked("gen_only"), tiny(&["tp8"])].join("\n");
    let r = run(&["--root", "root", "--config-dir", "flat"], input);
    assert_eq!(r.code, 65);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert!(lines[0].starts_with("nodecount: error: flat/bad_tp.yaml: "), "{}", lines[0]);
    assert!(lines[1].starts_with("nodecount: error: list.txt:9: aggr-nope: "), "{}", lines[1]);
    let ids: Vec<&str> = r.records.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "disagg-e2e-worked_ctx1_tp1_gen1_tp8",
            "aggr-tiny",
            "disagg-gen_only-worked_ctx1_tp1_gen1_tp8",
            "aggr-tiny-tp8"
        ]
    );
}

#[test]
fn a_server_without_client_runs_is_an_error_naming_file_and_field() {
    let input = [
        record("aggr-no_clients-b", "aggr", None, "no_clients", &["b"]),
        record("aggr-no_clients-a", "aggr", None, "no_clients", &["a"]),
    ]
    .join("\n");
    let r = run(&["--config-dir", "flat"], input);
    assert_eq!(r.code, 65);
    assert_eq!(
        r.stderr,
        "nodecount: error: flat/no_clients.yaml: server_configs[1].client_configs: no client run: a server needs at least one client config (else it is benchmarked with no metric)\n"
    );
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0]["id"], json!("aggr-no_clients-a"));
}

#[test]
fn unreadable_directory_and_looping_configs_keep_their_class() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let flat = dir.path();
    std::fs::copy(data().join("flat/no_clients.yaml"), flat.join("locked.yaml")).unwrap();
    std::fs::set_permissions(flat.join("locked.yaml"), std::fs::Permissions::from_mode(0o000))
        .unwrap();
    std::fs::create_dir(flat.join("dir.yaml")).unwrap();
    std::os::unix::fs::symlink(flat.join("loop.yaml"), flat.join("loop.yaml")).unwrap();
    let flat_s = flat.display().to_string();
    let one = |config: &str| {
        let input = record(&format!("aggr-{config}-a"), "aggr", None, config, &["a"]);
        run(&["--config-dir", &flat_s], input)
    };
    // Root reads any file: only check EACCES where it applies.
    if std::fs::read(flat.join("locked.yaml")).is_err() {
        let r = one("locked");
        assert_eq!(r.code, 77, "{}", r.stderr);
        assert!(r.stderr.contains("Permission denied"), "{}", r.stderr);
    }
    let r = one("dir");
    assert_eq!(r.code, 66);
    assert_eq!(
        r.stderr,
        format!("nodecount: error: list.txt:10: aggr-dir-a: config {flat_s}/dir.yaml: not a file (a directory?)\n")
    );
    let r = one("loop");
    assert_eq!(r.code, 66);
    assert!(r.stderr.contains("symbolic links") && !r.stderr.contains("not found"), "{}", r.stderr);
}

#[test]
fn closed_stdout_or_stderr_ends_quietly_even_with_many_errors() {
    let cmd = || {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("nodecount"));
        cmd.current_dir(data()).env_remove("PERFLINE_CONFIG_ROOTS").args(["--root", "root"]);
        cmd
    };
    let mut input = String::new();
    for _ in 0..5_000 {
        input.push_str(&tiny(&["tp2"]));
        input.push_str("\nnot json\n");
    }
    // `nodecount | head -0`: stops at the first write, status 0, nothing said.
    let (code, err) = with_closed(cmd(), input.clone().into_bytes(), true, false);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    // `nodecount 2>&1 >/dev/null | head -0` with 5000 errors: it used to hang forever here.
    let (code, out) = with_closed(cmd(), input.clone().into_bytes(), false, true);
    assert_eq!(code, Some(65));
    assert_eq!(out.lines().count(), 5_000);
    let (code, _) = with_closed(cmd(), input.into_bytes(), true, true);
    assert_eq!(code, Some(0));
}
