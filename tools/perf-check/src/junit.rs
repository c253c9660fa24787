//! `--junit FILE`: one testcase per case (test, client) of the current run, failing when the
//! case regressed (or its record failed), skipped with the reason when it is undecided, so
//! Jenkins counts cases and shows which regressed.

use crate::check::{self, FailedRecord};
use perfline::junit::{self, Outcome};
use perfline::wire::verdict::{Verdict, VerdictRecord};
use std::collections::HashMap;

#[derive(Default)]
struct Case {
    test: String,
    client: String,
    lines: Vec<String>,
    regressions: Vec<String>,
    failed: Vec<String>,
    /// The case verdict's reason when it is a regression (`supporting` metrics) or undecided.
    verdict: Option<VerdictRecord>,
}

/// The JUnit XML document: testcases in first-seen order (classname = test id, name = client,
/// `-` when none); a case fails when its case verdict is a regression or its record failed,
/// and is skipped (`<skipped message="undecided: …"/>`) when undecided.
pub fn report(
    verdicts: &[VerdictRecord],
    cases_: &[VerdictRecord],
    failed: &[FailedRecord],
) -> String {
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
    for c in cases_ {
        let i = slot(&mut cases, &c.test_id, c.client.as_deref().unwrap_or("-"));
        cases[i].verdict = Some(c.clone());
    }
    for f in failed {
        let client = if f.client.is_empty() { "-" } else { f.client.as_str() };
        let i = slot(&mut cases, &f.test_id, client);
        cases[i].failed.push(check::failed_line(f));
    }
    let cases: Vec<junit::Case> = cases
        .into_iter()
        .map(|c| {
            let verdict = c.verdict.as_ref();
            let outcome = if !c.failed.is_empty() {
                Outcome::Failure {
                    kind: "failed".into(),
                    message: c.failed.join("\n"),
                    text: String::new(),
                }
            } else if let Some(v) = verdict.filter(|v| v.verdict == Verdict::Regression) {
                let text = if c.regressions.is_empty() {
                    v.reason.clone().unwrap_or_default()
                } else {
                    c.regressions.join("\n")
                };
                let message = format!("regression: {}", v.supporting.join(", "));
                Outcome::Failure { kind: "regression".into(), message, text }
            } else if let Some(v) = verdict.filter(|v| v.verdict == Verdict::Undecided) {
                let why = v.reason.as_deref().unwrap_or("more runs needed");
                let message = match v.runs_needed {
                    Some(n) => {
                        format!("undecided: about {n} more run(s) at this level decide it ({why})")
                    }
                    None => format!("undecided: {why}"),
                };
                Outcome::Skipped { message }
            } else {
                Outcome::Passed
            };
            junit::Case {
                classname: c.test,
                name: c.client,
                outcome,
                system_out: c.lines.join("\n"),
            }
        })
        .collect();
    junit::write("perf-check", &cases)
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
        let mut undecided = ok.clone();
        undecided.test_id = "t4".into();
        undecided.verdict = Verdict::Undecided;
        undecided.runs_needed = Some(2);
        undecided.reason = Some("mean_ttft: -7.5 % is inside the noise".into());
        let metrics = [v, ok, other, undecided];
        let cases = check::cases(&metrics);
        assert_eq!(cases[0].verdict, Verdict::Regression);
        assert_eq!(cases[0].supporting, ["token_throughput"]);
        let xml = report(&metrics, &cases, &[failed]);
        let want = [
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<testsuite name="perf-check" tests="4" failures="2" errors="0" skipped="1">"#,
            r#"  <testcase classname="aggr-cfg-srv" name="con4_iter2_isl128_osl64">"#,
            r#"    <failure type="regression" message="regression: token_throughput">regression: aggr-cfg-srv srv-con4_iter2_isl128_osl64 token_throughput: 180.2 vs 204.8 (-12.0 %) since r27</failure>"#,
            r#"    <system-out>token_throughput: regression (180.2 vs 204.8)"#,
            r#"mean_ttft: no-change (180.2 vs 204.8)</system-out>"#,
            r#"  </testcase>"#,
            r#"  <testcase classname="t&lt;2&gt;" name="con4_iter2_isl128_osl64">"#,
            r#"    <system-out>mean_ttft: no-change (180.2 vs 204.8)</system-out>"#,
            r#"  </testcase>"#,
            r#"  <testcase classname="t4" name="con4_iter2_isl128_osl64">"#,
            r#"    <skipped message="undecided: about 2 more run(s) at this level decide it (mean_ttft: mean_ttft: -7.5 % is inside the noise)"/>"#,
            r#"    <system-out>mean_ttft: undecided (180.2 vs 204.8)</system-out>"#,
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
