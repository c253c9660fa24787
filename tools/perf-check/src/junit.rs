//! `--junit FILE`: one testcase per (test, client) of the current run, failing with its
//! regressed metrics (or its failed record), so Jenkins shows which cases regressed.

use crate::check::{self, FailedRecord};
use perfline::wire::verdict::{Verdict, VerdictRecord};
use std::collections::HashMap;

/// XML text and attribute escaping.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct Case {
    test: String,
    client: String,
    lines: Vec<String>,
    regressions: Vec<String>,
    failed: Vec<String>,
}

/// The JUnit XML document: testcases in first-seen order (classname = test id, name = client,
/// `-` when none); a case fails when a metric regressed or its record failed.
pub fn report(verdicts: &[VerdictRecord], failed: &[FailedRecord]) -> String {
    let mut cases: Vec<Case> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut slot = |cases: &mut Vec<Case>, test: &str, client: &str| -> usize {
        *index.entry((test.to_string(), client.to_string())).or_insert_with(|| {
            cases.push(Case { test: test.into(), client: client.into(), ..Case::default() });
            cases.len() - 1
        })
    };
    for v in verdicts {
        let i = slot(&mut cases, &v.test_id, v.client.as_deref().unwrap_or("-"));
        let line = format!(
            "{}: {} ({} vs {})",
            v.metric,
            v.verdict.as_str(),
            v.current.map_or("-".into(), check::short),
            v.baseline.map_or("-".into(), check::short)
        );
        if v.verdict == Verdict::Regression {
            cases[i].regressions.push(check::regression_line(v).unwrap_or_default());
        }
        cases[i].lines.push(line);
    }
    for f in failed {
        let client = if f.client.is_empty() { "-" } else { f.client.as_str() };
        let i = slot(&mut cases, &f.test_id, client);
        cases[i].failed.push(check::failed_line(f));
    }
    let failures =
        cases.iter().filter(|c| !c.regressions.is_empty() || !c.failed.is_empty()).count();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"perf-check\" tests=\"{}\" \
         failures=\"{failures}\" errors=\"0\">\n",
        cases.len()
    );
    for c in &cases {
        xml += &format!(
            "  <testcase classname=\"{}\" name=\"{}\">\n",
            escape(&c.test),
            escape(&c.client)
        );
        if !c.failed.is_empty() {
            xml += &format!(
                "    <failure type=\"failed\" message=\"{}\"/>\n",
                escape(&c.failed.join("\n"))
            );
        } else if !c.regressions.is_empty() {
            xml += &format!(
                "    <failure type=\"regression\" message=\"{}\">{}</failure>\n",
                escape(&format!("{} regressed metric(s)", c.regressions.len())),
                escape(&c.regressions.join("\n"))
            );
        }
        xml += &format!(
            "    <system-out>{}</system-out>\n  </testcase>\n",
            escape(&c.lines.join("\n"))
        );
    }
    xml + "</testsuite>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_case_per_test_and_client() {
        let v: VerdictRecord = perfline::jsonl::parse(perfline::wire::verdict::EXAMPLE).unwrap();
        let mut ok = v.clone();
        ok.metric = "mean_ttft".into();
        ok.verdict = Verdict::NoChange;
        let mut other = ok.clone();
        other.test_id = "t<2>".into();
        let failed = FailedRecord {
            at: "in:3".into(),
            test_id: "t3".into(),
            server: "srv".into(),
            client: "c1".into(),
            reasons: vec!["a&b".into()],
        };
        let xml = report(&[v, ok, other], &[failed]);
        let want = [
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<testsuite name="perf-check" tests="3" failures="2" errors="0">"#,
            r#"  <testcase classname="aggr-cfg-srv" name="con4_iter2_isl128_osl64">"#,
            r#"    <failure type="regression" message="1 regressed metric(s)">regression: aggr-cfg-srv srv-con4_iter2_isl128_osl64 token_throughput: 180.2 vs 204.8 (-12.0 %) since r27</failure>"#,
            r#"    <system-out>token_throughput: regression (180.2 vs 204.8)"#,
            r#"mean_ttft: no-change (180.2 vs 204.8)</system-out>"#,
            r#"  </testcase>"#,
            r#"  <testcase classname="t&lt;2&gt;" name="con4_iter2_isl128_osl64">"#,
            r#"    <system-out>mean_ttft: no-change (180.2 vs 204.8)</system-out>"#,
            r#"  </testcase>"#,
            r#"  <testcase classname="t3" name="c1">"#,
            r#"    <failure type="failed" message="in:3: t3 srv-c1: failed record: a&amp;b"/>"#,
            r#"    <system-out></system-out>"#,
            r#"  </testcase>"#,
            r#"</testsuite>"#,
        ];
        assert_eq!(xml, want.join("\n") + "\n");
    }
}
