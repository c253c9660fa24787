//! Every corpus config through `classify | nodecount | launch --dry-run`: each rendered job
//! script passes `bash -n` and `shellcheck` with no finding, asks for the plan's nodes, and has
//! one srun step per server.

use chain_tests::{bin, corpus_root, workspace_root};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn pipe(program: &Path, args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("PERFLINE_CLUSTER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer").expect("write stdin");
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_corpus_case_renders_a_valid_script() {
    let root = corpus_root();
    // Every form the incumbent generates for every corpus config (one list for all corpus
    // tests and benches; tests/tests/testsuite/corpus_plan.rs checks it is complete and current).
    let list_file = workspace_root().join("testlists/corpus/plan_forms.txt");
    let cases = std::fs::read_to_string(&list_file).unwrap().lines().count();
    assert!(cases >= 300, "only {cases} cases");
    let dir = tempfile::tempdir().unwrap();

    let (code, tests, err) = pipe(&bin("classify"), &[list_file.to_str().unwrap()], b"");
    assert_eq!(code, 0, "classify: {err}");
    let root_arg = root.to_str().unwrap();
    let (code, planned, err) = pipe(&bin("nodecount"), &["--root", root_arg], &tests);
    assert_eq!(code, 0, "nodecount: {err}");
    let (code, jobs, err) =
        pipe(&bin("launch"), &["--dry-run", "--job-root", "/shared/jobs"], &planned);
    assert_eq!(code, 0, "launch: {err}");
    assert_eq!(err, "");

    let planned: Vec<serde_json::Value> = String::from_utf8_lossy(&planned)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let jobs: Vec<serde_json::Value> =
        String::from_utf8_lossy(&jobs).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(jobs.len(), cases);
    assert_eq!(planned.len(), cases);
    // Scripts that differ only in the test id get the same shellcheck verdict: check each
    // distinct text once (the id is a checked, quote-free word).
    let mut distinct = std::collections::BTreeSet::new();
    for (i, (plan, job)) in planned.iter().zip(&jobs).enumerate() {
        let id = plan["id"].as_str().unwrap();
        assert_eq!(job["id"], plan["id"]);
        let script = job["script"].as_str().unwrap();
        let nodes = plan["total_nodes"].as_u64().unwrap();
        assert!(script.contains(&format!("\n#SBATCH --nodes={nodes}\n")), "{id}: nodes");
        let roles = plan["roles"].as_array().unwrap();
        let server_steps =
            script.lines().filter(|l| l.contains("--nodelist=\"$(perfline_slice ")).count();
        assert_eq!(server_steps, roles.len(), "{id}: one srun step per server");
        for r in roles {
            let role = r["role"].as_str().unwrap();
            assert!(
                script.contains(&format!("\nperfline_background {role} {role}.log ")),
                "{id}: {role}"
            );
        }
        let file = dir.path().join(format!("{i:03}.sh"));
        std::fs::write(&file, script).unwrap();
        let syntax = Command::new("bash").arg("-n").arg(&file).output().unwrap();
        assert!(
            syntax.status.success(),
            "{id}: bash -n: {}",
            String::from_utf8_lossy(&syntax.stderr)
        );
        distinct.insert(script.replace(id, "TEST_ID"));
    }
    let files: Vec<_> = distinct
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let file = dir.path().join(format!("distinct-{i:03}.sh"));
            std::fs::write(&file, text).unwrap();
            file
        })
        .collect();
    // Two shellcheck processes over all distinct scripts: fast on 2 cores.
    let half = files.len().div_ceil(2);
    let runs: Vec<_> = files
        .chunks(half.max(1))
        .map(|chunk| {
            Command::new("shellcheck")
                .args(chunk)
                .stdout(Stdio::piped())
                .spawn()
                .expect("shellcheck (apt install shellcheck)")
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "shellcheck:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// A few corpus cases rendered against job scripts in the repository (tests/data/jobs/NAME.sh,
/// NAME.commands: the record's `commands`, `ROLE<TAB>COMMAND` per line), the attempt id written
/// as ATTEMPT: any change to the rendered text shows here. `PERFLINE_BLESS=1` rewrites them.
#[test]
fn job_scripts_match_the_golden_files() {
    let root = corpus_root();
    let data = workspace_root().join("tests/data/jobs");
    let all_options = data.join("all_options.yaml");
    let cases: [(&str, &str, Option<&Path>); 3] = [
        (
            "disagg",
            "perf/test_perf_sanity.py::test_e2e[disagg-e2e-Qwen3-235B-A22B-FP4_1k1k_ctx2_gen1_dep16_bs128_eplb0_mtp1_ccb-NIXL]",
            None,
        ),
        (
            "multi_agg",
            "perf/test_perf_sanity.py::test_e2e[aggr-deepseek_r1_fp4_v2_2_nodes_grace_blackwell]",
            None,
        ),
        (
            "all_options",
            "perf/test_perf_sanity.py::test_e2e[aggr-host_perf_llama8b_spec_decode]",
            Some(&all_options),
        ),
    ];
    let bless = std::env::var_os("PERFLINE_BLESS").is_some();
    let dir = tempfile::tempdir().unwrap();
    let mut scripts = Vec::new();
    let mut prefix_script = None;
    for (name, line, profile) in cases {
        let list = dir.path().join(format!("{name}.txt"));
        std::fs::write(&list, format!("{line}\n")).unwrap();
        let (code, tests, err) = pipe(&bin("classify"), &[list.to_str().unwrap()], b"");
        assert_eq!(code, 0, "classify: {err}");
        let (code, planned, err) =
            pipe(&bin("nodecount"), &["--root", root.to_str().unwrap()], &tests);
        assert_eq!(code, 0, "nodecount: {err}");
        let mut args = vec!["--dry-run", "--job-root", "/shared/jobs"];
        if let Some(p) = profile {
            args.extend(["--cluster", p.to_str().unwrap()]);
        }
        let (code, job, err) = pipe(&bin("launch"), &args, &planned);
        assert_eq!((code, err.as_str()), (0, ""), "{name}: launch");
        let job: serde_json::Value = serde_json::from_slice(&job).unwrap();
        let attempt = job["attempt"].as_str().unwrap();
        // The default profile's PERFLINE_BIN is the directory of the launch binary: the
        // checkout's, so the golden files name it BIN_DIR.
        let bin_dir = bin("launch").parent().unwrap().to_str().unwrap().to_string();
        let script = job["script"]
            .as_str()
            .unwrap()
            .replace(attempt, "ATTEMPT")
            .replace(&bin_dir, "BIN_DIR");
        let commands: String = job["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let command = c["command"].as_str().unwrap().replace(&bin_dir, "BIN_DIR");
                format!("{}\t{}\n", c["role"].as_str().unwrap(), command)
            })
            .collect();
        for (file, text) in
            [(format!("{name}.sh"), &script), (format!("{name}.commands"), &commands)]
        {
            let path = data.join(&file);
            if bless {
                std::fs::write(&path, text).unwrap();
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                *text == want,
                "{file} differs from the rendered text (PERFLINE_BLESS=1 rewrites it):\n{text}"
            );
        }
        let file = dir.path().join(format!("{name}.sh"));
        std::fs::write(&file, &script).unwrap();
        scripts.push(file);
        if profile.is_some() {
            // mkprefix's old prefix script, from its own template, gets shellcheck too.
            let out = dir.path().join("old");
            let mut args = vec!["--job-root", "/shared/jobs", "--write", out.to_str().unwrap()];
            args.extend(["--cluster", all_options.to_str().unwrap()]);
            let (code, _, err) = pipe(&bin("mkprefix"), &args, &planned);
            assert_eq!((code, err.as_str()), (0, ""), "{name}: mkprefix");
            let id = job["id"].as_str().unwrap();
            prefix_script = Some(out.join(id).join("slurm_launch_prefix.sh"));
        }
    }
    // The scripts with every optional part pass shellcheck too (the corpus test checks the
    // default profile's), and so does mkprefix's prefix script.
    let out = Command::new("shellcheck").args(&scripts).output().expect("shellcheck");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Its values are single-quoted on purpose (`$HOME` stays literal): SC2016 is the point.
    let prefix_script = prefix_script.expect("the all-options case ran mkprefix");
    let out = Command::new("shellcheck").args(["-e", "SC2016"]).arg(&prefix_script).output();
    let out = out.expect("shellcheck");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
