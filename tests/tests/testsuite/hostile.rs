//! Hostile input through the whole chain: values are data, never code, and a failing write
//! leaves no half-written attempt.

use chain_tests::{bin, workspace_root};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn pipe(exe: &Path, args: &[&str], input: &[u8]) -> (Vec<u8>, i32) {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.stdout, out.status.code().unwrap_or(-1))
}

/// A model name holding a command, in a job root whose path holds `{model}`: the role runner
/// renders templates in one pass, so the value stays one quoted word and nothing runs.
#[test]
fn a_command_in_a_model_name_never_runs_even_with_placeholders_in_paths() {
    for tool in ["role", "simserve", "bench", "parse-metrics"] {
        bin(tool);
    }
    let tmp = tempfile::tempdir().unwrap();
    let pwned = tmp.path().join("pwned");
    let config =
        std::fs::read_to_string(workspace_root().join("testlists/configs/local_agg_tiny.yaml"))
            .unwrap()
            .replace(
                "model_name: \"tiny_sim\"",
                &format!(
                    "model_name: \"tiny {{job_dir}} $(touch {}) `touch {}`\"",
                    pwned.display(),
                    pwned.display()
                ),
            );
    let configs = tmp.path().join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::write(configs.join("local_agg_tiny.yaml"), config).unwrap();
    let tests = pipe(&bin("classify"), &[], b"aggr-local_agg_tiny-tiny_tp1_64_16\n").0;
    let planned = pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &tests).0;
    let root = tmp.path().join("{model} {job_dir} jobs");
    let (out, _code) = pipe(
        &bin("launch"),
        &["--cluster", "local", "--local", "--timeout", "60", "--job-root", root.to_str().unwrap()],
        &planned,
    );
    let job: serde_json::Value = serde_json::from_slice(&out).expect("a job record");
    assert!(job["workdir"].as_str().unwrap().contains("{model} {job_dir} jobs"), "{job}");
    assert!(!pwned.exists(), "a value from the config was executed");
}

/// A write that fails halfway (here: a file-size limit, as a full disk would) leaves no
/// attempt behind: never a `job.sh` without its `plan.json`.
#[test]
fn a_failed_write_leaves_no_partial_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let configs = workspace_root().join("testlists/configs");
    let tests = pipe(&bin("classify"), &[], b"aggr-local_agg_tiny-tiny_tp1_64_16\n").0;
    let planned = pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &tests).0;
    let root = tmp.path().join("jobs");
    let planned_file = tmp.path().join("planned.jsonl");
    std::fs::write(&planned_file, &planned).unwrap();
    // 2 blocks of 512 bytes: every file over 1 KiB fails with EFBIG (SIGXFSZ ignored).
    let script = format!(
        "trap '' XFSZ; ulimit -f 2; exec {} --cluster local --job-root {} < {}",
        bin("launch").display(),
        root.display(),
        planned_file.display()
    );
    let out = Command::new("/bin/bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let code = out.status.code();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(code, Some(73) | Some(74)), "exit {code:?}: {stderr}");
    assert_eq!(out.stdout, b"", "no job record for a job that was not written");
    let test_dir = root.join("aggr-local_agg_tiny-tiny_tp1_64_16");
    let left: Vec<String> = std::fs::read_dir(&test_dir)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<String>::new(), "nothing of the attempt is left: {left:?}");
}

/// Runs `exe` with `input` on stdin (written by a thread, so a tool that stops reading or
/// writes a long diagnostic cannot dead-lock the test): stdout, stderr and the exit code.
fn run_all(exe: &Path, args: &[&str], input: &[u8]) -> (Vec<u8>, String, i32) {
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A tool may stop reading early (a broken pipe here is fine).
    let writer = std::thread::spawn(move || drop(stdin.write_all(&input)));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

fn longest_line(stderr: &str) -> usize {
    stderr.lines().map(str::len).max().unwrap_or(0)
}

/// A planned record of the tiny local config (classify | nodecount).
fn planned_tiny() -> Vec<u8> {
    let configs = workspace_root().join("testlists/configs");
    let tests = pipe(&bin("classify"), &[], b"aggr-local_agg_tiny-tiny_tp1_64_16\n").0;
    let planned = pipe(&bin("nodecount"), &["--config-dir", configs.to_str().unwrap()], &tests).0;
    assert!(!planned.is_empty());
    planned
}

/// A 10 MB config name or test id, and a long profile value or profile name: each tool fails
/// with its usual exit code and one error line of a few hundred bytes, never an echo of it.
#[test]
fn a_huge_value_is_never_echoed_whole() {
    let big = "y".repeat(10_000_000);
    let configs = workspace_root().join("testlists/configs");
    let configs = configs.to_str().unwrap();
    let check = |what: &str, (out, err, code): (Vec<u8>, String, i32), want: i32| {
        assert_eq!(code, want, "{what}: exit code");
        assert!(out.is_empty(), "{what}: output on failure");
        assert_eq!(err.lines().count(), 1, "{what}: one error line");
        assert!(longest_line(&err) <= 500, "{what}: a {} byte error line", longest_line(&err));
        assert!(err.contains("… ("), "{what}: shortened: {err}");
    };
    let id = format!("aggr-local_agg_tiny{big}-tiny_tp1_64_16\n");
    check("classify", run_all(&bin("classify"), &[], id.as_bytes()), 65);

    let tiny =
        String::from_utf8(pipe(&bin("classify"), &[], b"aggr-local_agg_tiny-tiny_tp1_64_16\n").0)
            .unwrap();
    let mut test: serde_json::Value = serde_json::from_str(&tiny).unwrap();
    test["config"] = format!("local_agg_tiny{big}").into();
    test["id"] = format!("aggr-local_agg_tiny{big}-tiny_tp1_64_16").into();
    let input = format!("{test}\n");
    let got = run_all(&bin("nodecount"), &["--config-dir", configs], input.as_bytes());
    check("nodecount", got, 65);

    let mut plan: serde_json::Value =
        serde_json::from_slice(planned_tiny().split(|b| *b == b'\n').next().unwrap()).unwrap();
    plan["id"] = format!("aggr-{big}").into();
    plan["config"] = big.clone().into();
    let input = format!("{plan}\n");
    for tool in ["launch", "mkprefix"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = vec!["--cluster", "local", "--job-root", tmp.path().to_str().unwrap()];
        if tool == "launch" {
            args.push("--dry-run");
        }
        check(tool, run_all(&bin(tool), &args, input.as_bytes()), 65);
    }

    // A profile name, and a profile value (arguments are capped at 128 KiB by the kernel).
    let name = format!("local{}", "x".repeat(100_000));
    let got = run_all(&bin("launch"), &["--cluster", &name, "--dry-run"], &planned_tiny());
    check("launch --cluster", got, 64);
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("p.yaml");
    std::fs::write(&profile, format!("time: \"b{}\"\n", "x".repeat(1_000_000))).unwrap();
    let got = run_all(&bin("mkprefix"), &["--cluster", profile.to_str().unwrap()], &planned_tiny());
    check("mkprefix time", got, 78);
}

/// One profile validation: a `time:` launch rejects, mkprefix rejects too, with the same
/// exit code (78, config) and the same message.
#[test]
fn mkprefix_and_launch_reject_the_same_profile_time() {
    let planned = planned_tiny();
    let local = std::fs::read_to_string(workspace_root().join("ci/clusters/local.yaml")).unwrap();
    assert!(local.contains("\ntime: "), "local.yaml has a time: line");
    for bad in ["banana", "\"1-2-3\"", "\"10:\""] {
        let tmp = tempfile::tempdir().unwrap();
        let profile = tmp.path().join("p.yaml");
        let text: String = local
            .lines()
            .map(|l| if l.starts_with("time:") { format!("time: {bad}") } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&profile, text).unwrap();
        let p = profile.to_str().unwrap();
        let root = tmp.path().join("jobs");
        let r = root.to_str().unwrap();
        let (out, launch_err, code) =
            run_all(&bin("launch"), &["--cluster", p, "--dry-run", "--job-root", r], &planned);
        assert_eq!((code, out.is_empty()), (78, true), "launch, time: {bad}: {launch_err}");
        let (out, mkprefix_err, code) =
            run_all(&bin("mkprefix"), &["--cluster", p, "--job-root", r], &planned);
        assert_eq!((code, out.is_empty()), (78, true), "mkprefix, time: {bad}: {mkprefix_err}");
        let unquoted = bad.trim_matches('"');
        assert_eq!(
            launch_err,
            format!("launch: error: {p}: time: \"{unquoted}\": not a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)\n")
        );
        assert_eq!(mkprefix_err.strip_prefix("mkprefix"), launch_err.strip_prefix("launch"));
    }
}

/// One JSON Lines reader for every tool: stdin is `-`, a line that is not UTF-8 is bad data
/// (65) at its byte, a column is `(column N)`, a byte-order mark is skipped and a deep field
/// path is capped; each tool says it in one line.
#[test]
fn every_jsonl_reader_says_bad_lines_alike() {
    let not_utf8 = b"{\"test_id\":\"\xff\"}\n".to_vec();
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().to_str().unwrap();
    let tools: [(&str, &[&str]); 5] = [
        ("upload", &["--dry-run"]),
        ("to-csv", &[]),
        ("launch", &["--cluster", "local", "--dry-run", "--job-root", r]),
        ("mkprefix", &["--cluster", "local", "--job-root", r]),
        ("parse-metrics", &[]),
    ];
    for (tool, args) in tools {
        let (out, err, code) = run_all(&bin(tool), args, &not_utf8);
        assert_eq!(
            (code, out.is_empty(), err.as_str()),
            (65, true, &*format!("{tool}: error: -:1: not UTF-8 text (byte 13 of the line)\n")),
            "{tool}"
        );
    }
    // Binary input: one line (the first bad one), not one per "line" of it (parse-metrics
    // reads a binary stdin as a client log: "no benchmark result block").
    let binary = b"\xff\x00\n\xfe\n\xfd\n{}\n".to_vec();
    for (tool, args) in tools[..4].iter().chain([("nodecount", &[][..])].iter()) {
        let (out, err, code) = run_all(&bin(tool), args, &binary);
        assert_eq!(
            (code, out.is_empty(), err.as_str()),
            (65, true, &*format!("{tool}: error: -:1: not UTF-8 text (byte 1 of the line)\n")),
            "{tool}"
        );
    }
    let deep = format!("{}{}\n", "[".repeat(200), "]".repeat(200));
    for (tool, args) in tools {
        let (out, err, code) = run_all(&bin(tool), args, deep.as_bytes());
        assert_eq!((code, out.is_empty()), (65, true), "{tool}: {err}");
        assert_eq!(err.lines().count(), 1, "{tool}: {err}");
        assert!(longest_line(&err) <= 200, "{tool}: {err}");
        assert!(err.starts_with(&format!("{tool}: error: -:1: invalid record: ")), "{tool}: {err}");
    }
    // A byte-order mark before the first record (and before a later one) is skipped.
    let planned = planned_tiny();
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&planned);
    bom.extend_from_slice(b"\xef\xbb\xbf\n");
    for (tool, args) in &tools[2..4] {
        let (with_bom, err, code) = run_all(&bin(tool), args, &bom);
        assert_eq!((code, err.as_str()), (0, ""), "{tool}");
        let records = |out: &[u8]| String::from_utf8_lossy(out).lines().count();
        assert_eq!(records(&with_bom), 1, "{tool}");
    }
    let mkprefix = |input: &[u8]| run_all(&bin("mkprefix"), tools[3].1, input).0;
    assert_eq!(mkprefix(&bom), mkprefix(&planned), "mkprefix: the same records");
    // upload's columns are said like every tool's, not "at line 1 column 2".
    let (_, err, code) = run_all(&bin("upload"), &["--dry-run"], b"not json\n");
    assert_eq!(
        (code, err.as_str()),
        (65, "upload: error: -:1: invalid record: expected ident (column 2)\n")
    );
}

/// launch and mkprefix given no planned record: exit 66 with one line naming the likely
/// cause, as to-csv, upload and perf-check do; --allow-empty: a warning and exit 0.
#[test]
fn launch_and_mkprefix_refuse_an_empty_input() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("jobs");
    let r = r.to_str().unwrap();
    for tool in ["launch", "mkprefix"] {
        let mut args = vec!["--cluster", "local", "--job-root", r];
        if tool == "launch" {
            args.push("--dry-run");
        }
        for input in [&b""[..], b"\n  \n"] {
            let (out, err, code) = run_all(&bin(tool), &args, input);
            assert_eq!(
                (code, out.is_empty(), err.as_str()),
                (66, true, &*format!("{tool}: error: no planned records on stdin; nothing done (did nodecount fail? --allow-empty exits 0)\n")),
            );
        }
        args.push("--allow-empty");
        let (out, err, code) = run_all(&bin(tool), &args, b"");
        assert_eq!(
            (code, out.is_empty(), err.as_str()),
            (
                0,
                true,
                &*format!(
                    "{tool}: warning: no planned records on stdin; nothing to do (--allow-empty)\n"
                )
            ),
        );
    }
    // launch --local with no record does not create the job root either.
    let (_, _, code) =
        run_all(&bin("launch"), &["--cluster", "local", "--local", "--job-root", r], b"");
    assert_eq!(code, 66);
    assert!(!tmp.path().join("jobs").exists());
}

/// role's plan.json, bench's dataset and perf-check's inputs: a directory, a binary file, an empty file or a
/// file of many bad lines is one error line naming the file, with a data or no-input code.
#[test]
fn role_plans_and_perf_check_inputs_fail_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bin_file = tmp.path().join("bin.dat");
    let mut junk: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect();
    junk.extend_from_slice(b"\n\xff\n\xfe\n{\n");
    std::fs::write(&bin_file, &junk).unwrap();
    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let job = tmp.path().join("job");
    let d = tmp.path().to_str().unwrap();
    let j = job.to_str().unwrap();
    let b = bin_file.to_str().unwrap();
    let e = empty.to_str().unwrap();
    let good = tmp.path().join("m.jsonl");
    std::fs::write(&good, "{\"test_id\":\"t\",\"status\":\"ok\",\"metrics\":{\"mean_ttft\":1}}\n")
        .unwrap();
    let g = good.to_str().unwrap();
    let bench = |path: &'static str| {
        let mut args = vec!["--model", "m", "--base-url", "http://127.0.0.1:9", "--num-prompts"];
        args.extend(["2", "--dataset-name", "trtllm_custom", "--dataset-path", path]);
        args
    };
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let cases: [(&str, Vec<&str>, i32, String); 6] = [
        ("bench", bench(leak(d)), 66, format!("{d}: is a directory; give a file")),
        ("bench", bench(leak(b)), 65, format!("{b}:1: not UTF-8 text")),
        (
            "role",
            vec!["BENCHMARK", "--plan", d, "--job-dir", j],
            66,
            format!("{d}: is a directory; give a file"),
        ),
        (
            "role",
            vec!["BENCHMARK", "--plan", b, "--job-dir", j],
            65,
            format!("{b}: not UTF-8 text (byte 2)"),
        ),
        (
            "role",
            vec!["BENCHMARK", "--plan", e, "--job-dir", j],
            65,
            format!("{e}: invalid record: EOF while parsing a value (column 0)"),
        ),
        (
            "perf-check",
            vec!["--baseline", b, "-i", g],
            65,
            format!("{b}:1: not UTF-8 text (byte 2 of the line); nothing judged"),
        ),
    ];
    for (tool, args, want_code, want) in cases {
        let (out, err, code) = run_all(&bin(tool), &args, b"");
        assert_eq!(
            (code, out.is_empty(), err),
            (want_code, true, format!("{tool}: error: {want}\n"))
        );
    }
}

/// A 100 000-digit "number" in a client log: the failed record's reason and the error line
/// show its first 40 characters, not the whole value.
#[test]
fn a_huge_number_in_a_log_is_not_carried_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("client.log");
    let digits = "9".repeat(100_000);
    std::fs::write(
        &log,
        format!("============ Serving Benchmark Result ============\nMean TTFT (ms): {digits}\n"),
    )
    .unwrap();
    let (out, err, code) =
        run_all(&bin("parse-metrics"), &["--test-id", "t", log.to_str().unwrap()], b"");
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(longest_line(&err) <= 500, "{err}");
    let record: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(out.len() < 2000, "a {} byte record", out.len());
    let shown = format!("invalid mean_ttft: {}… (100000 bytes) (not a number)", &digits[..40]);
    assert!(record["reasons"].as_array().unwrap().contains(&shown.into()), "{record}");
}

/// Numbers past their range are usage errors before anything is submitted, never a
/// conversion panic (`--poll 1e300` once panicked after submitting the job).
#[test]
fn out_of_range_numbers_are_refused_before_any_work() {
    let planned = planned_tiny();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("jobs");
    for poll in ["1e300", "inf", "0.01", "-1"] {
        let poll_arg = format!("--poll={poll}");
        let args =
            ["--cluster", "local", "--wait", &poll_arg, "--job-root", root.to_str().unwrap()];
        let (out, err, code) = run_all(&bin("launch"), &args, &planned);
        assert_eq!(
            (code, out.is_empty(), err.as_str()),
            (64, true, "launch: error: --poll must be between 0.1 and 3600 seconds\n"),
            "--poll {poll}"
        );
        assert!(!root.exists(), "--poll {poll}: nothing created");
    }
    let (_, err, code) = run_all(&bin("waitfiles"), &["--file", "x", "--timeout", "1e300"], b"");
    assert_eq!(
        (code, err.as_str()),
        (64, "waitfiles: error: --timeout 1e300: at most 604800 seconds (7 days)\n")
    );
}

/// Every number of a planned record set to u64::MAX, u32::MAX, 2^31, -1 and 0: launch
/// --dry-run and mkprefix answer with a classified code and at most one line, never an
/// overflow panic (total_nodes × gpus_per_node and first_node + nodes once overflowed).
#[test]
fn every_number_of_a_plan_at_its_limits_is_handled() {
    fn leaves(
        v: &serde_json::Value,
        path: &mut Vec<serde_json::Value>,
        out: &mut Vec<Vec<serde_json::Value>>,
    ) {
        match v {
            serde_json::Value::Number(_) => out.push(path.clone()),
            serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| {
                path.push(k.as_str().into());
                leaves(x, path, out);
                path.pop();
            }),
            serde_json::Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
                path.push(i.into());
                leaves(x, path, out);
                path.pop();
            }),
            _ => {}
        }
    }
    let plan: serde_json::Value =
        serde_json::from_slice(planned_tiny().split(|b| *b == b'\n').next().unwrap()).unwrap();
    let mut paths = Vec::new();
    leaves(&plan, &mut Vec::new(), &mut paths);
    assert!(paths.len() >= 10, "{paths:?}");
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().to_str().unwrap();
    let values: [serde_json::Value; 5] =
        [u64::MAX.into(), u32::MAX.into(), (1u64 << 31).into(), (-1).into(), 0.into()];
    for path in &paths {
        for value in &values {
            let mut bad = plan.clone();
            let mut at = &mut bad;
            for key in path {
                at = match key {
                    serde_json::Value::String(k) => &mut at[k.as_str()],
                    k => &mut at[k.as_u64().unwrap() as usize],
                };
            }
            *at = value.clone();
            let input = format!("{bad}\n");
            for (tool, args) in [
                ("launch", vec!["--cluster", "local", "--dry-run", "--job-root", r]),
                ("mkprefix", vec!["--cluster", "local", "--job-root", r]),
            ] {
                let (_, err, code) = run_all(&bin(tool), &args, input.as_bytes());
                let what = format!("{tool}: {path:?} = {value}");
                assert!([0, 65, 78].contains(&code), "{what}: exit {code}: {err}");
                assert!(err.lines().count() <= 1, "{what}: {err}");
                assert!(longest_line(&err) <= 500, "{what}: {err}");
            }
        }
    }
}

/// Store URLs and password files that cannot work: one line naming them, a classified code.
#[test]
fn unusable_stores_and_password_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let m = tmp.path().join("m.jsonl");
    std::fs::write(&m, "{\"test_id\":\"t\",\"status\":\"ok\",\"metrics\":{\"mean_ttft\":1}}\n")
        .unwrap();
    let m = m.to_str().unwrap();
    let store = format!("sqlite:{d}");
    let junk = tmp.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let junk = format!("sqlite:{}", junk.display());
    let cases: [(&str, Vec<&str>, i32, String); 5] = [
        ("upload", vec![&junk, "-i", m], 65, format!("{junk}: file is not a database")),
        (
            "upload",
            vec![&store, "-i", m],
            73,
            format!("sqlite:{d}: is a directory; give a file path in it"),
        ),
        (
            "perf-check",
            vec!["--store", &store, "-i", m],
            66,
            format!("sqlite:{d}: is a directory; give the database file"),
        ),
        (
            "report",
            vec!["--store", &store, "--metrics", m, "-o", "/dev/null"],
            66,
            format!("sqlite:{d}: is a directory; give the database file"),
        ),
        (
            "upload",
            vec!["mysql://u@127.0.0.1:1/db", "--password-file", d, "-i", m],
            78,
            format!("{d}: not a regular file; give the file holding the password"),
        ),
    ];
    for (tool, args, want_code, want) in cases {
        let (out, err, code) = run_all(&bin(tool), &args, b"");
        assert_eq!(
            (code, out.is_empty(), err),
            (want_code, true, format!("{tool}: error: {want}\n")),
            "{args:?}"
        );
    }
}
