//! A newcomer's first hour (issue 19): the mistakes a new user makes, each answered by one
//! classified error line that says what to do next. Exact stderr lines (paths normalised), and
//! every exit code seen here is one the tool's `--help` documents.

use chain_tests::{bin, workspace_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The directory of the tools' binaries.
fn bin_dir() -> PathBuf {
    bin("classify").parent().unwrap().to_path_buf()
}

/// Runs a shell line in `cwd` with the tools first on PATH (`bash -c`, no pipefail: the last
/// command's status is the line's).
fn sh(cwd: &Path, line: &str) -> Run {
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-c", line])
        .current_dir(cwd)
        .env("PATH", path)
        .env_remove("PERFLINE_CLUSTER")
        .env_remove("PERFLINE_CLUSTERS_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The exit codes `tool --help` documents.
fn documented(tool: &str) -> Vec<i32> {
    let out = Command::new(bin(tool)).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let para: String = help
        .lines()
        .skip_while(|l| !l.starts_with("Exit"))
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let re = regex::Regex::new(r"(?:^Exit(?: status| codes)?:|[;,])\s+(\d{1,3})\s").unwrap();
    re.captures_iter(&para).map(|c| c[1].parse().unwrap()).collect()
}

/// Asserts the exact stderr and status, and that `tool --help` documents the status.
#[track_caller]
fn expect(run: &Run, tool: &str, code: i32, stderr: &str) {
    assert_eq!(run.stderr, stderr, "stderr");
    assert_eq!(run.code, code, "exit status; stderr: {}", run.stderr);
    assert!(documented(tool).contains(&code), "{tool} --help does not document exit {code}");
}

fn root() -> PathBuf {
    workspace_root()
}

fn metrics_example() -> String {
    format!("{}\n", perfline::wire::metrics::EXAMPLE)
}

#[test]
fn skipping_nodecount_says_pipe_through_nodecount() {
    let r = sh(&root(), "classify testlists/e2e.txt | launch --dry-run");
    expect(&r, "launch", 65, "launch: error: -:1: aggr-local_agg_tiny: a test record (classify's), not a planned record: pipe through nodecount first (classify LIST | nodecount --config-dir DIR | launch)\n");
    assert_eq!(r.stdout, "");
    let r = sh(&root(), "classify testlists/e2e.txt | mkprefix --cluster local");
    expect(&r, "mkprefix", 65, "mkprefix: error: -:1: aggr-local_agg_tiny: a test record (classify's), not a planned record: pipe through nodecount first (classify LIST | nodecount --config-dir DIR | launch)\n");
}

#[test]
fn a_forgotten_config_dir_names_config_dir_and_root() {
    let dir = tempfile::tempdir().unwrap();
    let list = root().join("testlists/e2e.txt");
    let r = sh(dir.path(), &format!("classify {} | nodecount", list.display()));
    let looked = "./tests/scripts/perf-sanity/aggregated, ./tests/scripts/perf/aggregated, 6 more";
    let looked_disagg =
        "./tests/scripts/perf-sanity/disaggregated, ./tests/scripts/perf/disaggregated, 6 more";
    let src = list.display();
    expect(&r, "nodecount", 66, &format!(
        "nodecount: error: {src}:3: aggr-local_agg_tiny: config local_agg_tiny.yaml not found (looked in: {looked}; none of them exists); use --config-dir DIR or --root CHECKOUT\n\
         nodecount: error: {src}:4: disagg-e2e-local_disagg_ctx1_tp4_gen2_tp4: config local_disagg_ctx1_tp4_gen2_tp4.yaml not found (looked in: {looked_disagg}; none of them exists); use --config-dir DIR or --root CHECKOUT\n"
    ));
}

#[test]
fn a_test_id_typo_suggests_the_near_config() {
    let r = sh(
        &root(),
        "echo aggr-local_agg_tine | classify | nodecount --config-dir testlists/configs",
    );
    expect(&r, "nodecount", 66, "nodecount: error: -:1: aggr-local_agg_tine: config local_agg_tine.yaml not found (looked in: testlists/configs); did you mean local_agg_tiny.yaml? (a typo in the test id)\n");
}

#[test]
fn a_misspelled_list_suggests_the_file() {
    let r = sh(&root(), "classify testlists/e2e-slurm.tx");
    expect(&r, "classify", 66, "classify: error: testlists/e2e-slurm.tx: No such file or directory (os error 2); did you mean testlists/e2e-slurm.txt?\n");
}

fn profiles() -> String {
    let mut names: Vec<String> = std::fs::read_dir(root().join("ci/clusters"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".yaml").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.iter().any(|n| n == "gb200-pyxis"), "{names:?}");
    names.join(", ")
}

#[test]
fn an_unknown_profile_lists_the_profiles_found() {
    for tool in ["launch", "mkprefix"] {
        let r = sh(&root(), &format!("{tool} --cluster gb200 < /dev/null"));
        expect(&r, tool, 66, &format!("{tool}: error: cluster profile \"gb200\" not found (looked for gb200.yaml in $PERFLINE_CLUSTERS_DIR, ./ci/clusters and beside the binary); profiles found: {}\n", profiles()));
    }
    let r = sh(&root(), "launch --cluster ci/clusters/gb200.yaml < /dev/null");
    expect(&r, "launch", 66, &format!("launch: error: ci/clusters/gb200.yaml: No such file or directory (os error 2); profiles found in ci/clusters: {}\n", profiles()));
}

#[test]
fn clap_errors_keep_the_missing_arguments_and_tips() {
    let r = sh(&root(), "launch --clustr local");
    expect(&r, "launch", 64, "launch: error: unexpected argument '--clustr' found; a similar argument exists: '--cluster' (see --help)\n");
    let r = sh(&root(), "waitfiles --fil x");
    expect(&r, "waitfiles", 64, "waitfiles: error: unexpected argument '--fil' found; a similar argument exists: '--file' (see --help)\n");
    let r = sh(&root(), "launch --metrics m.jsonl");
    expect(&r, "launch", 64, "launch: error: the following required arguments were not provided: <--local|--wait> (see --help)\n");
    // perf-check's own arguments are another change's; what clap lists must survive.
    let r = sh(&root(), "perf-check < /dev/null");
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(
            "perf-check: error: the following required arguments were not provided: --"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn nothing_is_not_success() {
    let dir = tempfile::tempdir().unwrap();
    // An earlier run's file must not pass for this run's results.
    std::fs::write(dir.path().join("m.jsonl"), metrics_example()).unwrap();
    let r = sh(dir.path(), "launch --local --metrics m.jsonl < /dev/null");
    expect(&r, "launch", 66, "launch: error: --metrics m.jsonl: no metric records: no job ran (no planned record on input: see the errors above it in the pipe); nothing written (--allow-empty writes an empty file)\n");
    assert!(!dir.path().join("m.jsonl").exists());
    let r = sh(dir.path(), "launch --local --metrics m.jsonl --allow-empty < /dev/null");
    expect(&r, "launch", 0, "");
    assert_eq!(std::fs::read_to_string(dir.path().join("m.jsonl")).unwrap(), "");

    let r = sh(dir.path(), "to-csv < m.jsonl");
    expect(&r, "to-csv", 66, "to-csv: error: no metric records on stdin; nothing written (did the step before fail? --allow-empty writes the header alone)\n");
    assert_eq!(r.stdout, "");
    let r = sh(dir.path(), "upload sqlite:perf.db < m.jsonl");
    expect(&r, "upload", 66, "upload: error: no metric records on stdin; nothing uploaded (did the step before fail? --allow-empty exits 0)\n");
    let r = sh(dir.path(), "upload sqlite:perf.db -i m.jsonl --allow-empty");
    expect(&r, "upload", 0, "upload: warning: no metric records on m.jsonl; nothing uploaded\n");
    assert!(!dir.path().join("perf.db").exists());
}

#[test]
fn upload_names_the_real_cause_of_an_unusable_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.jsonl"), metrics_example()).unwrap();
    let r = sh(dir.path(), "upload sqlite:no-such-dir/perf.db < m.jsonl");
    expect(&r, "upload", 66, "upload: error: sqlite:no-such-dir/perf.db: directory no-such-dir does not exist (create it: mkdir -p no-such-dir)\n");

    // A directory the user cannot write: as root, the check runs as `nobody`.
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.path().join("m.jsonl"), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let root_user = perfline::fsutil::effective_user() == "root";
    let (prefix, user) = if root_user {
        ("setpriv --reuid=nobody --regid=nogroup --clear-groups ", "nobody".to_string())
    } else {
        ("", perfline::fsutil::effective_user())
    };
    let r = sh(dir.path(), &format!("{prefix}upload sqlite:ro/perf.db < m.jsonl"));
    expect(
        &r,
        "upload",
        77,
        &format!("upload: error: sqlite:ro/perf.db: directory ro is not writable by user {user}\n"),
    );
}

#[test]
fn a_store_url_without_a_scheme_gets_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.jsonl"), metrics_example()).unwrap();
    let r = sh(dir.path(), "upload perf.db < m.jsonl");
    expect(&r, "upload", 78, "upload: error: perf.db: unknown store; did you mean sqlite:perf.db? use sqlite:PATH, mysql://USER@HOST:PORT/DB or opensearch+https://HOST/INDEX\n");
    let r = sh(dir.path(), "upload https://os.example:9200/perf < m.jsonl");
    expect(&r, "upload", 78, "upload: error: https://os.example:9200/perf: unknown store; did you mean opensearch+https://os.example:9200/perf? use sqlite:PATH, mysql://USER@HOST:PORT/DB or opensearch+https://HOST/INDEX\n");
}

#[test]
fn no_slurm_commands_says_install_or_local() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!(
        "classify {root}/testlists/e2e.txt | nodecount --config-dir {root}/testlists/configs > p.jsonl && \
         PATH={bin} launch --cluster {root}/ci/clusters/local.yaml --job-root jobs < p.jsonl",
        root = root().display(),
        bin = bin_dir().display()
    );
    let r = sh(dir.path(), &line);
    let why = "cannot run \"sbatch\": No such file or directory (os error 2) (Slurm's client commands are not on PATH: install them, or run here with --local)";
    expect(&r, "launch", 69, &format!(
        "launch: error: aggr-local_agg_tiny: {why}\nlaunch: error: disagg-e2e-local_disagg_ctx1_tp4_gen2_tp4: {why}\n"
    ));
}

#[test]
fn a_server_that_is_not_installed_shows_its_own_log_on_launch_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let profile = std::fs::read_to_string(root().join("ci/clusters/local.yaml")).unwrap();
    let profile = profile.replace("server: \"{bin}/simserve", "server: \"perfline-no-such-server");
    assert!(profile.contains("perfline-no-such-server {model}"));
    std::fs::write(dir.path().join("p.yaml"), profile).unwrap();
    let line = format!(
        "echo 'aggr-local_agg_tiny TIMEOUT (5)' | classify | nodecount --config-dir {root}/testlists/configs \
         | launch --cluster p.yaml --local --job-root jobs --metrics m.jsonl",
        root = root().display()
    );
    let r = sh(dir.path(), &line);
    let record: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let workdir = record["workdir"].as_str().unwrap();
    let stderr = r.stderr.replace(workdir, "WORKDIR");
    let r = Run { stderr, ..r };
    expect(&r, "launch", 1, "launch: error: aggr-local_agg_tiny: step SERVER_0 failed with status 1: SERVER_0: server exited with status 127 (WORKDIR/logs/trtllm-serve.SERVER_0.log)\n\
        launch: note: aggr-local_agg_tiny: | bash: line 1: exec: perfline-no-such-server: not found\n\
        launch: note: aggr-local_agg_tiny: logs in WORKDIR/logs\n");
}

#[test]
fn launch_shows_a_table_on_a_terminal_and_records_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let planned = format!(
        "classify {root}/testlists/e2e.txt | nodecount --config-dir {root}/testlists/configs",
        root = root().display()
    );
    // Piped: records. Forced: the table. A real terminal (script(1)'s pty): the table too.
    let piped =
        sh(dir.path(), &format!("{planned} | launch --cluster local --dry-run --job-root jobs"));
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert_eq!(piped.stdout.lines().count(), 2);
    assert!(piped.stdout.lines().all(|l| l.starts_with("{\"id\":")), "{}", piped.stdout);
    let table = format!(
        "{:<44}       JOB  STATE           TIME\n{:<44}         -  RENDERED           -\n{:<44}         -  RENDERED           -\n",
        "TEST", "aggr-local_agg_tiny", "disagg-e2e-local_disagg_ctx1_tp4_gen2_tp4"
    );
    let forced = sh(
        dir.path(),
        &format!("{planned} | launch --cluster local --dry-run --job-root jobs --format table"),
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(forced.stdout, table);
    let json = sh(
        dir.path(),
        &format!(
            "{planned} | launch --cluster local --dry-run --job-root jobs --format table --json"
        ),
    );
    assert_eq!(json.stdout, piped.stdout.replace(&piped.stdout, &json.stdout));
    assert!(json.stdout.lines().all(|l| l.starts_with("{\"id\":")), "{}", json.stdout);
    std::fs::write(dir.path().join("p.jsonl"), sh(dir.path(), &planned).stdout).unwrap();
    let tty = sh(
        dir.path(),
        "script -qec 'launch --cluster local --dry-run --job-root jobs < p.jsonl' /dev/null",
    );
    assert_eq!(tty.code, 0, "{}", tty.stderr);
    assert_eq!(tty.stdout.replace("\r\n", "\n"), table);
    let tty = sh(
        dir.path(),
        "script -qec 'launch --cluster local --dry-run --job-root jobs --json < p.jsonl' /dev/null",
    );
    assert!(tty.stdout.starts_with("{\"id\":\"aggr-local_agg_tiny\""), "{}", tty.stdout);
}

#[test]
fn a_tool_reading_a_terminal_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // stdin is script(1)'s pty; `timeout` bounds the wait for input that never comes.
    let r = sh(dir.path(), "script -qec 'timeout 5 nodecount --config-dir .' /dev/null");
    assert!(
        r.stdout.replace("\r\n", "\n").starts_with("nodecount: note: reading test records from the terminal: pipe them in (e.g. classify LIST | nodecount | launch) or end with Ctrl-D\n"),
        "{:?}",
        r.stdout
    );
}

/// The README's "One pipeline" block as a script: the tools of this build instead of
/// `cargo build --release` and its PATH, the corpus where this checkout has it, and the
/// Slurm test cluster checked (`sinfo`) instead of started.
fn readme_pipeline() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("## One pipeline").nth(1).expect("README has One pipeline");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    let mut script = String::from("set -e\n");
    for line in block.lines() {
        let line = match line.trim() {
            "cargo build --release" | "export PATH=$PWD/target/release:$PATH" => continue,
            "cargo xtask cluster up" => "sinfo > /dev/null".to_string(),
            l if l.starts_with("CORPUS=") => {
                format!("CORPUS={}", chain_tests::corpus_root().display())
            }
            _ => line.to_string(),
        };
        script.push_str(&line);
        script.push('\n');
    }
    script
}

#[test]
fn the_readme_pipeline_runs_as_written() {
    let script = readme_pipeline();
    assert!(
        script.contains("set -o pipefail\n") || script.contains("set -o pipefail "),
        "{script}"
    );
    assert!(script.contains("report --store"), "{script}");
    let dir = tempfile::tempdir().unwrap();
    for link in ["ci", "testlists"] {
        std::os::unix::fs::symlink(root().join(link), dir.path().join(link)).unwrap();
    }
    std::fs::write(dir.path().join("pipeline.sh"), &script).unwrap();
    let r = sh(dir.path(), "timeout 900 bash pipeline.sh");
    assert_eq!(r.code, 0, "README pipeline failed:\n{script}\nstderr:\n{}", r.stderr);
    let out = dir.path().join("perf-run");
    for file in [
        "dry-run.jsonl",
        "metrics.jsonl",
        "perf.csv",
        "perf.db",
        "verdicts.jsonl",
        "report.html",
        "junit.xml",
    ] {
        let meta =
            std::fs::metadata(out.join(file)).unwrap_or_else(|e| panic!("perf-run/{file}: {e}"));
        assert!(meta.len() > 0, "perf-run/{file} is empty");
    }
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(metrics.lines().all(|l| l.contains("\"status\":\"ok\"")), "{metrics}");
    // Nothing landed in the checkout's root: outputs are in perf-run/.
    for stray in ["metrics.jsonl", "perf.csv", "junit.xml", "perf.db"] {
        assert!(!dir.path().join(stray).exists(), "{stray} written outside perf-run/");
    }
}

#[test]
fn a_server_that_is_not_installed_on_slurm_shows_its_log_too() {
    let dir = tempfile::tempdir().unwrap();
    let profile = std::fs::read_to_string(root().join("ci/clusters/local.yaml")).unwrap();
    let profile = profile.replace("server: \"{bin}/simserve", "server: \"perfline-no-such-server");
    std::fs::write(dir.path().join("p.yaml"), profile).unwrap();
    let line = format!(
        "echo 'aggr-local_agg_tiny TIMEOUT (5)' | classify | nodecount --config-dir {root}/testlists/configs \
         | timeout 300 launch --cluster p.yaml --wait --poll 0.2 --job-root jobs --metrics m.jsonl",
        root = root().display()
    );
    let r = sh(dir.path(), &line);
    let record: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let (workdir, job) = (record["workdir"].as_str().unwrap(), record["job_id"].as_str().unwrap());
    // The progress lines (`job N PENDING (0s)`) vary; the error and its notes do not.
    let stderr: String = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("launch: error:") || l.starts_with("launch: note:"))
        .map(|l| {
            format!("{}\n", l.replace(workdir, "WORKDIR").replace(&format!("job {job} "), "job N "))
        })
        .collect();
    let r = Run { stderr, ..r };
    expect(&r, "launch", 1, "launch: error: aggr-local_agg_tiny: job N ended FAILED: SERVER_0: server exited with status 127 (WORKDIR/logs/trtllm-serve.SERVER_0.log)\n\
        launch: note: aggr-local_agg_tiny: | bash: line 1: exec: perfline-no-such-server: not found\n\
        launch: note: aggr-local_agg_tiny: logs in WORKDIR/logs\n");
}
