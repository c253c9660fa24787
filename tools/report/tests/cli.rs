//! report end to end: the JSON summary, the page's content and escaping, chart files, exit codes.

mod common;

use assert_cmd::Command;
use std::path::Path;

fn report(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("report").unwrap().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn writes_report_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (m, v) = common::write_fixture(dir.path());
    let out = dir.path().join("report.html");
    let charts = dir.path().join("charts");
    let (code, stdout, stderr) =
        report(&["--metrics", s(&m), "--verdicts", s(&v), "-o", s(&out), "--charts", s(&charts)]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let html = std::fs::read_to_string(&out).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({
            "report": s(&out), "bytes": html.len(), "charts": 4 + 3 * 7 + 7 + 7 + 2,
            "chart_dir": s(&charts), "run_key": "r8", "runs_shown": 8,
            "regressed": 2, "failed": 1, "suspect": 1, "improved": 1,
        })
    );
    // Every chart file is an SVG document with a safe name; the hostile id is a slug.
    let mut names: Vec<String> = std::fs::read_dir(&charts)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 41);
    assert!(
        names.iter().all(|n| n.ends_with(".svg")
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))),
        "{names:?}"
    );
    assert_eq!(names[0], "0000-aggr-sweep-srv-con4-seq_throughput.svg");
    assert!(
        names.contains(
            &"0003-aggr-x_script_document.title__pwned___script_____b_q-con2-mean_ttft.svg"
                .to_string()
        ),
        "{names:?}"
    );
    for n in &names {
        let svg = std::fs::read_to_string(charts.join(n)).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{n}");
    }
    // The headline and the order: regressions before improvements, the failed case with reasons.
    assert!(html.contains("2 series regressed, 1 case failed"), "headline");
    let pos = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("{needle} missing"));
    assert!(pos(">regression<") < pos(">improvement<"));
    assert!(pos("-12.0 %") < pos(">improvement<"));
    assert!(html.contains("1400 → 1232 tok&#x2f;s, since r7 (higher is better)"), "card detail");
    assert!(html.contains("RuntimeError: CUDA out of memory"));
    assert!(
        html.contains("575.57.08")
            && html.contains("1.1.0rc8")
            && html.contains("NVIDIA H100 80GB HBM3")
    );
    // Nothing from the data is markup.
    assert!(!html.contains(common::HOSTILE_SCRIPT), "raw hostile script");
    assert!(!html.contains("<img") && !html.contains("</pre><script>"));
    assert_eq!(html.matches("<script").count(), 1, "only the sort script");
    assert!(html.contains("&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;&#x2f;script&gt;"));
}

#[test]
fn bad_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (m, v) = common::write_fixture(dir.path());
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}{{\"test_id\":1}}\n", common::verdicts())).unwrap();
    let out = dir.path().join("report.html");
    let (code, stdout, stderr) =
        report(&["--metrics", s(&m), "--verdicts", s(&bad), "-o", s(&out)]);
    assert_eq!((code, stdout.as_str()), (65, ""));
    assert!(
        stderr.starts_with(&format!("report: error: {}:6: invalid record", bad.display())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert!(!out.exists());

    let (code, _, stderr) =
        report(&["--metrics", s(&dir.path().join("nope.jsonl")), "-o", s(&out)]);
    assert_eq!(code, 66, "{stderr}");
    let (code, _, stderr) = report(&["-o", s(&out)]);
    assert_eq!(
        (code, stderr.as_str()),
        (64, "report: error: nothing to report: give --metrics or --verdicts (see --help)\n")
    );
    let (code, _, stderr) =
        report(&["--metrics", s(&m), "--verdicts", s(&v), "--run-key", "r99", "-o", s(&out)]);
    assert_eq!(
        (code, stderr.as_str()),
        (65, "report: error: --run-key r99: no such run in the input\n")
    );
    let (code, _, _) = report(&["--metrics", s(&m), "-o", "/nonexistent/dir/r.html"]);
    assert_eq!(code, 73);
    assert!(!out.exists());
}

#[test]
fn window_and_run_key_choose_the_runs_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = common::write_fixture(dir.path());
    let out = dir.path().join("r.html");
    let (code, stdout, _) =
        report(&["--metrics", s(&m), "--run-key", "r5", "--window", "3", "-o", s(&out)]);
    assert_eq!(code, 0);
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (summary["run_key"].as_str(), summary["runs_shown"].as_u64(), summary["failed"].as_u64()),
        (Some("r5"), Some(3), Some(0))
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("no verdicts given: trends only"));
    assert!(html.contains("history: 3 runs from <b>r3</b>"));
}
