//! `classify | nodecount` over the whole corpus: every test form the incumbent generates
//! (incumbent.md §1 "Test-case generation") plans without error, and the node counts agree
//! with an independent computation and with the ctx/gen counts in disagg file names; the
//! three upstream test-db lists pass `--check` except for configs the corpus lacks.

use chain_tests::{bin, corpus_root};
use perfline::yaml::{self, Value as Yaml};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const AGGR_DIR: &str = "tests/scripts/perf-sanity/aggregated";
const DISAGG_DIRS: [&str; 3] = [
    "tests/scripts/perf-sanity/disaggregated",
    "tests/integration/defs/perf/disagg/test_configs/disagg/perf",
    "tests/integration/defs/perf/disagg/test_configs/wideep/perf",
];
const TEST_DB: &str = "tests/integration/test_lists/test-db";
/// Every generated form, one test per line, committed for the benchmark.
const FORMS_LIST: &str = "testlists/corpus/plan_forms.txt";

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

struct Chain {
    classify_ok: bool,
    code: i32,
    records: Vec<Value>,
    stderr: String,
}

/// Runs `classify LIST | nodecount --root CORPUS ARGS…`.
fn chain(list: &Path, args: &[&str]) -> Chain {
    let mut classify = Command::new(bin("classify"))
        .arg(list)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run classify");
    let out = Command::new(bin("nodecount"))
        .arg("--root")
        .arg(corpus_root())
        .args(args)
        .env_remove("PERFLINE_CONFIG_ROOTS")
        .stdin(classify.stdout.take().expect("piped"))
        .output()
        .expect("run nodecount");
    let classify_ok = classify.wait().expect("classify exits").success();
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    Chain {
        classify_ok,
        code: out.status.code().expect("exit code"),
        records: stdout.lines().map(|l| serde_json::from_str(l).expect("JSON record")).collect(),
        stderr: String::from_utf8(out.stderr).expect("UTF-8"),
    }
}

fn int(map: &Yaml, key: &str) -> Option<u64> {
    map.get(key).and_then(Yaml::as_u64)
}

/// GPUs of one server, computed here independently of nodecount.
fn gpus(server: &Yaml) -> u64 {
    int(server, "gpus").or(int(server, "world_size")).unwrap_or_else(|| {
        ["tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size"]
            .iter()
            .map(|k| int(server, k).unwrap_or(1))
            .product()
    })
}

/// (total_nodes, gpus_per_node) the incumbent's formula gives for a generated test.
fn expected_nodes(form: &Form, config: &Yaml) -> (u64, u64) {
    let per_node = yaml::get(config, "hardware.gpus_per_node").and_then(Yaml::as_u64).unwrap();
    let nodes = |server: &Yaml| gpus(server).div_ceil(per_node);
    let hw = |k: &str| yaml::get(config, &format!("hardware.{k}")).and_then(Yaml::as_u64).unwrap();
    let worker = |k: &str| yaml::get(config, &format!("worker_config.{k}")).unwrap();
    let total = match form {
        Form::Disagg { gen_only } => {
            let no_ctx = *gen_only
                && yaml::get(config, "benchmark.mode")
                    .and_then(Yaml::as_str)
                    .is_some_and(|m| m.contains("gen_only_no_context"));
            let ctx = if no_ctx { 0 } else { hw("num_ctx_servers") };
            ctx * nodes(worker("ctx")) + hw("num_gen_servers") * nodes(worker("gen"))
        }
        Form::CtxOnly => nodes(worker("ctx")),
        Form::Aggr { server } => config["server_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|s| server.as_ref().is_none_or(|name| s["name"].as_str() == Some(name)))
            .map(nodes)
            .max()
            .unwrap(),
    };
    (total, per_node)
}

/// `ctx<N>` and `gen<M>` tokens of a disagg config file name.
fn name_counts(config: &str) -> Option<(u64, u64)> {
    let token = |prefix: &str| {
        config.split(['_', '-']).find_map(|t| {
            let digits = t.strip_prefix(prefix)?;
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse().ok())?
        })
    };
    Some((token("ctx")?, token("gen")?))
}

#[derive(Debug)]
enum Form {
    Disagg { gen_only: bool },
    CtxOnly,
    Aggr { server: Option<String> },
}

#[test]
fn every_generated_form_plans_and_matches_the_formula() {
    let corpus = corpus_root();
    // id → (form, config file)
    let mut cases: BTreeMap<String, (Form, PathBuf)> = BTreeMap::new();
    for dir in DISAGG_DIRS {
        for path in yaml_files(&corpus.join(dir)) {
            let cfg = stem(&path);
            cases.insert(
                format!("disagg-e2e-{cfg}"),
                (Form::Disagg { gen_only: false }, path.clone()),
            );
            cases.insert(
                format!("disagg-gen_only-{cfg}"),
                (Form::Disagg { gen_only: true }, path.clone()),
            );
            cases.insert(format!("aggr-ctx_only-{cfg}"), (Form::CtxOnly, path));
        }
    }
    for path in yaml_files(&corpus.join(AGGR_DIR)) {
        let cfg = stem(&path);
        let config = yaml::load(&path).unwrap();
        for server in config["server_configs"].as_sequence().unwrap() {
            let name = server["name"].as_str().unwrap().to_string();
            cases.insert(
                format!("aggr-{cfg}-{name}"),
                (Form::Aggr { server: Some(name) }, path.clone()),
            );
        }
        cases.insert(format!("aggr-{cfg}"), (Form::Aggr { server: None }, path));
    }
    assert!((300..=340).contains(&cases.len()), "{} cases", cases.len());

    let text: String =
        cases.keys().map(|id| format!("perf/test_perf_sanity.py::test_e2e[{id}]\n")).collect();
    // The committed copy (used by `cargo xtask bench plan`) must list exactly these cases;
    // PERFLINE_BLESS=1 rewrites it.
    let list = chain_tests::workspace_root().join(FORMS_LIST);
    if std::env::var_os("PERFLINE_BLESS").is_some() {
        std::fs::write(&list, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&list).unwrap_or_default();
    assert!(committed == text, "{FORMS_LIST} is stale: rerun with PERFLINE_BLESS=1");
    let run = chain(&list, &[]);
    assert!(run.classify_ok);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(run.records.len(), cases.len());

    let mut with_name_counts = 0;
    for record in &run.records {
        let id = record["id"].as_str().unwrap();
        let (form, path) = &cases[id];
        let config = yaml::load(path).unwrap();
        let (nodes, per_node) = expected_nodes(form, &config);
        assert_eq!(record["total_nodes"], nodes, "{id}");
        assert_eq!(record["gpus_per_node"], per_node, "{id}");
        assert_eq!(record["total_gpus"], nodes * per_node, "{id}");
        assert!(record["config_path"].as_str().unwrap().ends_with(&format!("{}.yaml", stem(path))));
        let mode = record["mode"].as_str().unwrap();
        match form {
            Form::Disagg { .. } => assert_eq!(mode, "disagg", "{id}"),
            _ => assert_eq!(mode, if nodes == 1 { "single-agg" } else { "multi-agg" }, "{id}"),
        }
        let roles = record["roles"].as_array().unwrap();
        let role_nodes: u64 = roles.iter().map(|r| r["nodes"].as_u64().unwrap()).sum();
        if let Form::Disagg { gen_only } = form {
            assert_eq!(role_nodes, nodes, "{id}: disagg roles tile the allocation");
            assert!(!record["clients"].as_array().unwrap().is_empty(), "{id}");
            if let (false, Some((ctx, gen))) = (gen_only, name_counts(&stem(path))) {
                assert_eq!(record["num_ctx_servers"], ctx, "{id}");
                assert_eq!(record["num_gen_servers"], gen, "{id}");
                with_name_counts += 1;
            }
        }
    }
    // All but the three numbered old-style configs (`_000`, `_005`, `_016`) name their counts.
    assert_eq!(with_name_counts, 85);
}

/// The ids of records nodecount could not find a config for, from its error lines.
fn missing_configs(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains(": config ") && l.contains(" not found (looked in: "))
        .map(|l| l.split(": ").nth(3).unwrap_or_default().to_string())
        .collect()
}

#[test]
fn upstream_test_db_lists_pass_check() {
    let db = corpus_root().join(TEST_DB);
    let run = chain(&db.join("l0_gb200_multi_gpus_perf_sanity.yml"), &["--check"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(run.records.len(), 28);
    assert!(run.records.iter().all(|r| r["check"]["ok"] == true && r["total_nodes"] == 1));

    let run = chain(&db.join("l0_gb200_multi_nodes_perf_sanity_node2_gpu8.yml"), &["--check"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(run.records.len(), 7);
    for r in &run.records {
        assert_eq!(
            r["check"],
            serde_json::json!({"ok": true, "expected": {"total_nodes": 2, "total_gpus": 8, "min_gpus": 8, "max_gpus": 8}, "mismatches": []})
        );
    }

    let list = db.join("l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen1_node2_gpu8.yml");
    let run = chain(&list, &["--check"]);
    assert_eq!(run.code, 66, "configs missing from the corpus are NoInput: {}", run.stderr);
    assert_eq!(
        missing_configs(&run.stderr),
        [
            "disagg_upload-gen_only-gb200_deepseek-r1-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-UCX",
            "disagg_upload-gen_only-gb200_deepseek-v32-fp4_1k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-UCX",
            "disagg_upload-gen_only-gb200_deepseek-v32-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-UCX",
            "disagg_upload-gen_only-gb200_kimi-k25-thinking-fp4_1k1k_con4096_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
        ]
    );
    assert_eq!(run.stderr.lines().count(), 4, "no other errors: {}", run.stderr);
    let planned: Vec<&str> = run.records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        planned,
        [
            "disagg_upload-gen_only-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
            "disagg_upload-gen_only-gb200_deepseek-r1-fp4_1k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-UCX",
            "disagg_upload-gen_only-gb200_deepseek-v32-fp4_32k4k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-UCX",
        ]
    );
    for r in &run.records {
        assert_eq!(r["check"]["ok"], true, "{}", r["id"]);
        assert_eq!((r["total_nodes"].as_u64(), r["total_gpus"].as_u64()), (Some(3), Some(12)));
    }
}

/// Every YAML file of the corpus (configs and test lists), with the MD5 of its JSON
/// (`perfline::yaml::to_json`, keys in document order).
fn yaml_digests() -> String {
    use md5::Digest;
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(path);
            }
        }
    }
    let (dir, mut files, mut lines) = (corpus_root(), Vec::new(), Vec::new());
    walk(&dir, &mut files);
    for file in files {
        let json = yaml::to_json(&yaml::load(&file).unwrap()).to_string();
        let rel = file.strip_prefix(&dir).unwrap().display();
        lines.push(format!("{:x}  corpus/{rel}", md5::Md5::digest(json.as_bytes())));
    }
    lines.sort();
    lines.join("\n") + "\n"
}

/// The YAML loader reads every corpus file exactly as serde_yaml 0.9 did: the digests were
/// written by that loader before perfline moved to saphyr-parser (`tests/data/yaml_json.md5`;
/// at the move, this repository's testlists/ and ci/ YAML matched as well).
/// `PERFLINE_BLESS=1` rewrites the file.
#[test]
fn every_yaml_file_loads_to_the_same_json() {
    let golden = chain_tests::workspace_root().join("tests/data/yaml_json.md5");
    let got = yaml_digests();
    if std::env::var_os("PERFLINE_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    let differ: Vec<&str> = got.lines().filter(|l| !want.lines().any(|w| w == *l)).collect();
    assert!(
        differ.is_empty() && got.lines().count() == want.lines().count(),
        "changed: {differ:#?}"
    );
}
