//! The report in a real browser (Debian's headless Chromium): it loads with no console
//! message, every chart is there and drawn, our sort script ran, hostile data stayed text, the
//! legend is there, a worse Δ is red and a better one green as rendered (computed style), the
//! undecided badge says how many runs, an empty store says so, and a screenshot is written to
//! target/report-check/report.png for people to look at.
//!
//! Without chromium this test fails when `CI` is set (to anything but "") and otherwise skips,
//! saying how to install it: the rule is [`browser_rule`], tested on its own below.

use crate::common;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

const INSTALL: &str = "apt-get install -y chromium";

/// What a browser test does given whether `CI` is set and whether Chromium was found.
#[derive(Debug, PartialEq, Eq)]
enum Browser {
    Run,
    /// Outside CI: skip, printing the reason.
    Skip,
    /// Under CI a missing browser is a failure, never a silent pass.
    Fail,
}

fn browser_rule(ci_set: bool, chromium_found: bool) -> Browser {
    match (chromium_found, ci_set) {
        (true, _) => Browser::Run,
        (false, true) => Browser::Fail,
        (false, false) => Browser::Skip,
    }
}

#[test]
fn a_missing_browser_fails_under_ci_and_skips_outside() {
    assert_eq!(browser_rule(true, true), Browser::Run);
    assert_eq!(browser_rule(false, true), Browser::Run);
    assert_eq!(browser_rule(true, false), Browser::Fail);
    assert_eq!(browser_rule(false, false), Browser::Skip);
}

/// `CI` set to a non-empty value (`CI=true`, `CI=1`, GitHub's and GitLab's `true`, …).
fn ci_is_set() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The browser, or `None` (outside CI) after saying how to install it; panics under CI.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    match browser_rule(ci_is_set(), found.is_some()) {
        Browser::Run => {}
        Browser::Fail => {
            panic!("chromium is missing and CI is set: install it with `{INSTALL}` (xtask ci does)")
        }
        Browser::Skip => {
            // Straight to stderr, not `eprintln!`, which the test harness captures: a skip is
            // seen in a plain `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED browser check: chromium not found; install it with `{INSTALL}`"
            );
        }
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
    let (m, v) = common::write_case_fixture(dir.path());
    let html_path = dir.path().join("report.html");
    let run = assert_cmd::cargo_bin_cmd!("report")
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
        &[&format!("--screenshot={}", shot.display()), "--window-size=1400,1600"],
    );
    assert_eq!(console(&out.stderr), Vec::<String>::new(), "console messages");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "screenshot: {} bytes", png.len());
    println!("screenshot: {}", shot.canonicalize().unwrap().display());
    eprintln!("screenshot: {}", shot.canonicalize().unwrap().display());
}

/// What a probe script, appended to a copy of the page, read from the rendered page.
fn probe(browser: &Path, html_path: &Path, script: &str) -> serde_json::Value {
    let html = std::fs::read_to_string(html_path).unwrap();
    let probe = html_path.with_file_name("probe.html");
    let script = format!(
        "<pre id=\"probe\"></pre><script>document.getElementById('probe').textContent = JSON.stringify((function () {{ {script} }})());</script></body>"
    );
    std::fs::write(&probe, html.replace("</body>", &script)).unwrap();
    let out = browse(browser, &probe, &["--dump-dom"]);
    assert_eq!(console(&out.stderr), Vec::<String>::new(), "console messages");
    let dom = String::from_utf8(out.stdout).unwrap();
    let text =
        dom.split("<pre id=\"probe\">").nth(1).and_then(|r| r.split("</pre>").next()).unwrap();
    let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Reads, from the rendered page: the legend's verdicts, the computed colour of the Δ of
/// the regressed throughput (worse) and the improved TTFT (better), the undecided badge and
/// its hover text, the headline.
const READ_PAGE: &str = r#"
  var row = function (metric, verdict) {
    return Array.prototype.find.call(document.querySelectorAll('#verdict-table tbody tr'), function (r) {
      return r.cells[3].textContent.indexOf(metric) === 0 && r.cells[0].textContent === verdict;
    });
  };
  var colour = function (r) { return r ? getComputedStyle(r.cells[6]).color : null; };
  var legend = document.getElementById('legend');
  var badge = Array.prototype.find.call(document.querySelectorAll('#verdict-table .tag'), function (t) {
    return t.textContent.indexOf('undecided') === 0;
  });
  var shown = function (e) { return !!e && e.getBoundingClientRect().height > 0; };
  return {
    legend: legend ? Array.prototype.map.call(legend.querySelectorAll('dl.verdicts dt'), function (d) { return d.textContent; }) : null,
    legend_shown: shown(legend),
    settings: legend ? Array.prototype.map.call(legend.querySelectorAll('dl.settings dt'), function (d) { return d.textContent; }) : null,
    worse: colour(row('token_throughput', 'regression')),
    better: colour(row('mean_ttft', 'improvement')),
    worse_text: row('token_throughput', 'regression').cells[6].textContent,
    better_text: row('mean_ttft', 'improvement').cells[6].textContent,
    badge: badge ? badge.textContent : null,
    badge_title: badge ? badge.title : null,
    headline: document.getElementById('headline').textContent,
    headline_colour: getComputedStyle(document.getElementById('headline')).backgroundColor,
    key_numbers_top: document.getElementById('key-numbers') ? Math.round(document.getElementById('key-numbers').getBoundingClientRect().top) : null,
  };
"#;

#[test]
fn report_explains_itself_in_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (m, v) = common::write_case_fixture(dir.path());
    let html_path = dir.path().join("report.html");
    let run = assert_cmd::cargo_bin_cmd!("report")
        .args(["--metrics", m.to_str().unwrap(), "--verdicts", v.to_str().unwrap()])
        .args(["-o", html_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let got = probe(&browser, &html_path, READ_PAGE);
    assert_eq!(
        got["legend"],
        serde_json::json!([
            "regression",
            "improvement",
            "no-change",
            "undecided",
            "suspect",
            "insufficient-data"
        ])
    );
    assert_eq!(got["legend_shown"], true);
    assert_eq!(
        got["settings"],
        serde_json::json!([
            "method",
            "minimum history",
            "α",
            "false-discovery rate",
            "min-change",
            "window"
        ])
    );
    // --bad #d62728 and --good #2ca02c.
    assert_eq!(
        (&got["worse"], &got["worse_text"]),
        (&serde_json::json!("rgb(214, 39, 40)"), &serde_json::json!("-12.0 %"))
    );
    assert_eq!(
        (&got["better"], &got["better_text"]),
        (&serde_json::json!("rgb(44, 160, 44)"), &serde_json::json!("-34.3 %"))
    );
    assert_eq!(got["badge"], "undecided — 2 more runs");
    assert_eq!(
        got["badge_title"],
        "mean_tpot +3.7 % is inside the noise (±5.1 % resolvable): about 2 more runs decide it"
    );
    assert_eq!(got["headline"], "1 case regressed, 1 case failed");
    assert_eq!(got["headline_colour"], "rgb(214, 39, 40)");
    let top = got["key_numbers_top"].as_i64().expect("the key numbers are on the page");
    assert!(top < 400, "the key numbers are on the first screen: top at {top} px");

    // An empty store says so, in grey.
    let db = dir.path().join("empty.db");
    common::empty_store(&db);
    let empty = dir.path().join("empty.html");
    let run = assert_cmd::cargo_bin_cmd!("report")
        .args(["--store", &format!("sqlite:{}", db.display()), "-o", empty.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let got = probe(
        &browser,
        &empty,
        "var h = document.getElementById('headline'); return { text: h.innerText, colour: getComputedStyle(h).backgroundColor, notice: document.getElementById('notice').innerText };",
    );
    assert_eq!(
        got,
        serde_json::json!({
            "text": "No runs yet: the store (or input) holds no results to report",
            "colour": "rgb(107, 114, 128)",
            "notice": "Upload a run (upload --store URL), then judge it (perf-check --store URL) and write this report again.",
        })
    );
}
