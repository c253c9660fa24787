//! waitfiles end to end: exit codes 0/75/76/64 and the JSON result.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;

fn waitfiles() -> Command {
    let mut cmd = assert_cmd::cargo_bin_cmd!("waitfiles");
    cmd.timeout(Duration::from_secs(30));
    cmd
}

/// The JSON result without its timing (checked to be a number).
fn result(stdout: &[u8]) -> Value {
    let text = std::str::from_utf8(stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    let mut v: Value = serde_json::from_str(text).unwrap();
    let seconds = v.as_object_mut().unwrap().remove("elapsed_s").unwrap();
    assert!(seconds.as_f64().is_some_and(|s| s >= 0.0), "elapsed_s: {seconds}");
    v
}

/// The files are written only once waitfiles has said (its first progress line) that it is
/// watching, so they really appear during the wait: no sleep orders the writes.
#[test]
fn ready_when_the_files_appear() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/*.txt", dir.path().display());
    let (child, rx) =
        started(&["--glob", &pattern, "--count", "2", "--timeout", "20", "--interval", "0.05"]);
    std::fs::write(dir.path().join("CTX_0.txt"), "n1:8001").unwrap();
    std::fs::write(dir.path().join("GEN_0.txt"), "n2:8002").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let d = dir.path().display();
    assert_eq!(
        result(&out.stdout),
        json!({"status": "ready", "reason": null,
               "matched": [format!("{d}/CTX_0.txt"), format!("{d}/GEN_0.txt")], "pending": []})
    );
    let rest: Vec<String> = rx.iter().filter(|l| !l.contains(" s: waiting for ")).collect();
    assert_eq!(rest, Vec::<String>::new());
}

#[test]
fn times_out_with_75_naming_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let addr = dir.path().join("DISAGG_SERVER.0.addr");
    let a = addr.display();
    let out = waitfiles()
        .args(["--file", &addr.to_string_lossy(), "--timeout", "0.1", "--interval", "0.02"])
        .assert()
        .code(75)
        .stderr(format!("waitfiles: error: timed out after 0.1 s waiting for: file {a}: missing\n"))
        .get_output()
        .clone();
    assert_eq!(
        result(&out.stdout),
        json!({"status": "timeout",
               "reason": format!("timed out after 0.1 s waiting for: file {a}: missing"),
               "matched": [], "pending": [format!("file {a}: missing")]})
    );
}

#[test]
fn dead_pid_fails_with_76_and_the_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ctx_server_0.log");
    std::fs::write(&log, "loading weights\nSegmentation fault\n").unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let l = log.display();
    let out = waitfiles()
        .args(["--file", &dir.path().join("never").to_string_lossy()])
        .args(["--watch-pid", &pid.to_string(), "--watch-log", &log.to_string_lossy()])
        .args(["--timeout", "20", "--interval", "0.05"])
        .assert()
        .code(76)
        .stderr(format!(
            "waitfiles: error: watched pid {pid} exited\nwaitfiles: | ==> {l} <==\n\
             waitfiles: | loading weights\nwaitfiles: | Segmentation fault\n"
        ))
        .get_output()
        .clone();
    assert_eq!(
        result(&out.stdout),
        json!({"status": "peer_failed", "reason": format!("watched pid {pid} exited"),
               "matched": [], "pending": []})
    );
}

/// Starts waitfiles with `--progress` and returns once it has printed its first progress
/// line, i.e. once every watch is in place (no sleeps order the test's writes after it).
fn started(args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_waitfiles"))
        .args(args)
        .arg("--progress")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).expect("a first progress line");
    assert!(first.starts_with("waitfiles: 0 s: waiting for "), "{first}");
    (child, rx)
}

#[test]
fn error_keyword_in_a_new_line_fails_with_76() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gen_server_0.log");
    std::fs::write(&log, "starting\n").unwrap();
    let never = dir.path().join("never");
    let (child, rx) = started(&[
        "--file",
        &never.to_string_lossy(),
        "--watch-log",
        &log.to_string_lossy(),
        "--timeout",
        "60",
        "--interval",
        "0.02",
    ]);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"torch.OutOfMemoryError: CUDA out of memory\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(76));
    let l = log.display();
    let reason = format!(
        "{l}:2: error keyword \"out of memory\": torch.OutOfMemoryError: CUDA out of memory"
    );
    assert_eq!(
        result(&out.stdout),
        json!({"status": "peer_failed", "reason": reason, "matched": [], "pending": []})
    );
    let rest: Vec<String> = rx.iter().filter(|l| !l.contains(" s: waiting for ")).collect();
    assert_eq!(
        rest,
        [
            format!("waitfiles: error: {reason}"),
            "waitfiles: | starting".into(),
            "waitfiles: | torch.OutOfMemoryError: CUDA out of memory".into()
        ]
    );
}

#[test]
fn a_log_created_after_the_start_is_watched_from_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("late.log");
    let never = dir.path().join("never");
    let (child, _rx) = started(&[
        "--file",
        &never.to_string_lossy(),
        "--watch-log",
        &log.to_string_lossy(),
        "--timeout",
        "60",
        "--interval",
        "0.02",
    ]);
    std::fs::write(&log, "ValueError: bad\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(76));
    assert_eq!(
        result(&out.stdout)["reason"],
        format!("{}:1: error keyword \"ValueError\": ValueError: bad", log.display())
    );
}

#[test]
fn lines_an_earlier_run_left_are_ignored_unless_from_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    std::fs::write(&log, "ok\nRuntimeError: from the last run\n").unwrap();
    let never = dir.path().join("never");
    waitfiles()
        .args(["--file", &never.to_string_lossy(), "--watch-log", &log.to_string_lossy()])
        .args(["--timeout", "0.2", "--interval", "0.02"])
        .assert()
        .code(75);
    let l = log.display();
    waitfiles()
        .args(["--file", &never.to_string_lossy(), "--watch-log", &log.to_string_lossy()])
        .args(["--from-start", "--timeout", "20", "--interval", "0.02"])
        .assert()
        .code(76)
        .stderr(predicate::str::starts_with(format!(
            "waitfiles: error: {l}:2: error keyword \"RuntimeError\": RuntimeError: from the last run\n"
        )));
}

#[test]
fn custom_keywords_replace_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    std::fs::write(&log, "ValueError: ignored here\n").unwrap();
    waitfiles()
        .args(["--file", &dir.path().join("never").to_string_lossy()])
        .args(["--watch-log", &log.to_string_lossy(), "--keyword", "Traceback", "--from-start"])
        .args(["--timeout", "0.1", "--interval", "0.02"])
        .assert()
        .code(75);
    std::fs::write(&log, "Traceback (most recent call last):\n").unwrap();
    waitfiles()
        .args(["--file", &dir.path().join("never").to_string_lossy()])
        .args(["--watch-log", &log.to_string_lossy(), "--keywords", "CUDA error,Traceback"])
        .arg("--from-start")
        .args(["--timeout", "20", "--interval", "0.02"])
        .assert()
        .code(76)
        .stderr(predicate::str::contains("error keyword \"Traceback\""));
}

#[test]
fn failure_marker_fails_with_76() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("FAILED");
    std::fs::write(&marker, "GEN_0: trtllm-serve exited with status 1\n").unwrap();
    let reason =
        format!("failure marker {}: GEN_0: trtllm-serve exited with status 1", marker.display());
    let out = waitfiles()
        .args(["--glob", &format!("{}/*.txt", dir.path().display()), "--count", "2"])
        .args(["--watch-file", &marker.to_string_lossy(), "--timeout", "20"])
        .assert()
        .code(76)
        .stderr(format!("waitfiles: error: {reason}\n"))
        .get_output()
        .clone();
    assert_eq!(
        result(&out.stdout),
        json!({"status": "peer_failed", "reason": reason, "matched": [], "pending": []})
    );
}

/// A tiny HTTP server: 503 for the first `unready` requests, then 200.
fn health_server(unready: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let status = if n < unready { "503 Service Unavailable" } else { "200 OK" };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    url
}

#[test]
fn http_endpoint_ready_once_it_answers_200() {
    let url = health_server(2);
    let out = waitfiles()
        .args(["--http", &url, "--timeout", "20", "--interval", "0.02"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(
        result(&out.stdout),
        json!({"status": "ready", "reason": null, "matched": [url], "pending": []})
    );
}

#[test]
fn http_503_times_out() {
    let url = health_server(usize::MAX);
    waitfiles()
        .args(["--http", &url, "--timeout", "0.2", "--interval", "0.05"])
        .assert()
        .code(75)
        .stdout(predicate::str::contains(format!("\"pending\":[\"http {url}: status 503\"]")));
}

#[test]
fn bad_usage_is_64() {
    waitfiles()
        .assert()
        .code(64)
        .stdout("")
        .stderr("waitfiles: error: nothing to wait for: give --glob, --file or --http\n");
    waitfiles().args(["--file", "f", "--timeout", "soon"]).assert().code(64).stdout("");
    let bad: &[(&[&str], &str)] = &[
        (
            &["--http", "http://127.0.0.1:99999/health"],
            "--http \"http://127.0.0.1:99999/health\": port \"99999\" is not 1..65535",
        ),
        (&["--http", "http://:80/"], "--http \"http://:80/\": no host"),
        (&["--http", "https://h/"], "--http \"https://h/\": only http:// URLs are supported"),
        (&["--glob", ""], "--glob: empty pattern"),
        (
            &["--file", "f", "--timeout", "1e12"],
            "--timeout 1000000000000: at most 604800 seconds (7 days)",
        ),
        (&["--file", "f", "--interval", "0"], "--interval 0: between 0.001 and 60 seconds"),
        (&["--file", "f", "--watch-log", "/dev/null"], "--watch-log /dev/null: not a regular file"),
    ];
    for (args, why) in bad {
        waitfiles()
            .args(*args)
            .assert()
            .code(64)
            .stdout("")
            .stderr(format!("waitfiles: error: {why}\n"));
    }
    waitfiles()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Exit status: 0 ready"));
}

/// A pattern that walks the whole filesystem still ends at the deadline (exit 75), never
/// waits for its scan without end.
#[test]
fn a_filesystem_wide_glob_still_times_out() {
    waitfiles()
        .args(["--glob", "/**/**/no-such-perfline-file", "--timeout", "1", "--interval", "0.1"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(75);
}
