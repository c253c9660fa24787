//! The report in a real browser (Debian's headless Chromium): it loads with no console
//! message, every chart is there and drawn, our sort script ran, hostile data stayed text, and
//! a screenshot is written to target/report-check/report.png for people to look at.
//!
//! Without chromium this test fails under CI=true and otherwise says how to install it.

mod common;

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::process::Output;

const INSTALL: &str = "apt-get install -y chromium";

/// The browser, or `None` (outside CI) after saying how to install it.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing and CI=true: install it with `{INSTALL}` (xtask ci does)"
        );
        eprintln!("SKIPPED browser check: chromium not found; install it with `{INSTALL}`");
    }
    found
}

/// Runs headless Chromium on `page` with `extra` arguments, killed after 120 s.
fn browse(browser: &Path, page: &Path, extra: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("timeout")
        .args(["120", browser.to_str().unwrap()])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Console messages Chromium logged (`…:INFO:CONSOLE:LINE] "message", source: …`): every
/// level (log, warning, error, uncaught exception) is logged this way.
fn console(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("CONSOLE("))
        .map(str::to_string)
        .collect()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

#[test]
fn console_capture_sees_errors() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><title>x</title><script>console.error('deliberate'); nope();</script>",
    )
    .unwrap();
    let out = browse(&browser, &page, &["--dump-dom"]);
    let msgs = console(&out.stderr);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("\"deliberate\"") && msgs[1].contains("Uncaught ReferenceError"),
        "{msgs:?}"
    );
}

#[test]
fn report_renders_in_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (m, v) = common::write_fixture(dir.path());
    let html_path = dir.path().join("report.html");
    let run = Command::cargo_bin("report")
        .unwrap()
        .args(["--metrics", m.to_str().unwrap(), "--verdicts", v.to_str().unwrap()])
        .args(["-o", html_path.to_str().unwrap(), "--title", "perfline report"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let charts = summary["charts"].as_u64().unwrap() as usize;
    let html = std::fs::read_to_string(&html_path).unwrap();
    for remote in [" src=\"", " href=\"http", "url(", "@import"] {
        assert!(!html.contains(remote), "the page must not load anything: {remote}");
    }

    let out = browse(&browser, &html_path, &["--dump-dom"]);
    assert_eq!(console(&out.stderr), Vec::<String>::new(), "console messages");
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("<title>perfline report — r8</title>"), "the title was not changed");
    assert!(!dom.contains("pwned</title>") && !dom.contains("<img"), "hostile markup ran");
    assert!(dom.contains("data-script=\"ready\""), "the sort script ran to its end");
    assert_eq!(dom.matches("<script").count(), 1, "only our script is an element");
    assert!(
        dom.contains("aggr-x&lt;script&gt;document.title='pwned'&lt;/script&gt;\"'&amp;&lt;b&gt;q")
    );
    assert!(dom.contains(&"y".repeat(5000)), "the long id is shown whole");
    // Every chart is in the DOM and drawn: a line or points in each SVG.
    let svgs: Vec<&str> =
        dom.split("<svg").skip(1).map(|s| s.split("</svg>").next().unwrap()).collect();
    assert_eq!(svgs.len(), charts, "charts in the DOM");
    for svg in &svgs {
        assert!(svg.contains("<polyline") || svg.contains("<circle"), "empty chart: {svg}");
    }

    let shot_dir = target_dir().join("report-check");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    std::fs::copy(&html_path, shot_dir.join("report.html")).unwrap();
    let out = browse(
        &browser,
        &html_path,
        &[&format!("--screenshot={}", shot.display()), "--window-size=1400,2000"],
    );
    assert_eq!(console(&out.stderr), Vec::<String>::new(), "console messages");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "screenshot: {} bytes", png.len());
    println!("screenshot: {}", shot.canonicalize().unwrap().display());
    eprintln!("screenshot: {}", shot.canonicalize().unwrap().display());
}
