//! JUnit XML: reading client output from `<system-out>`, and the report for Jenkins (written by
//! `perfline::junit`).
//!
//! Reading is a small scanner, not a full XML parser: it finds each `<testcase>` (and the
//! suite-level `<system-out>`), its `<failure>`/`<error>` messages, and decodes the usual
//! entities and CDATA sections. pytest's `test_e2e[ID]` names give the test id.

use perfline::junit::{self, Outcome};
use perfline::wire::metrics::{MetricRecord, Status};

/// One testcase of an input report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Case {
    /// The test id: the text in `[...]` of the name, else the name.
    pub id: Option<String>,
    pub system_out: String,
    /// `<failure message=…>` / `<error message=…>` texts.
    pub failures: Vec<String>,
}

/// Every testcase with a `<system-out>` or a failure, plus suite-level output as a case
/// without id.
pub fn cases(xml: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut rest = xml;
    let mut outside = String::new();
    while let Some(start) = rest.find("<testcase") {
        outside.push_str(&rest[..start]);
        let after = &rest[start..];
        let open_end = after.find('>').map_or(after.len(), |p| p + 1);
        let open = &after[..open_end];
        let (body, consumed) = if open.ends_with("/>") {
            ("", open_end)
        } else {
            // The closing tag is searched after the opening one (found by the fuzz target:
            // an opening tag whose first `>` is the closing tag's).
            match after[open_end..].find("</testcase>") {
                Some(len) => {
                    (&after[open_end..open_end + len], open_end + len + "</testcase>".len())
                }
                None => (&after[open_end..], after.len()),
            }
        };
        let name = attr(open, "name");
        let id = name.map(|n| match (n.rfind('['), n.rfind(']')) {
            (Some(a), Some(b)) if a < b => n[a + 1..b].to_string(),
            _ => n,
        });
        let case =
            Case { id, system_out: element_text(body, "system-out"), failures: failures(body) };
        if !case.system_out.is_empty() || !case.failures.is_empty() {
            out.push(case);
        }
        rest = &after[consumed..];
    }
    outside.push_str(rest);
    let suite_out = element_text(&outside, "system-out");
    if !suite_out.is_empty() {
        out.push(Case { id: None, system_out: suite_out, failures: Vec::new() });
    }
    out
}

fn failures(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in ["<failure", "<error"] {
        let mut rest = body;
        while let Some(p) = rest.find(tag) {
            let after = &rest[p..];
            let end = after.find('>').map_or(after.len(), |e| e + 1);
            let kind = &tag[1..];
            out.push(match attr(&after[..end], "message") {
                Some(m) => format!("junit {kind}: {m}"),
                None => format!("junit {kind}"),
            });
            rest = &after[end..];
        }
    }
    out
}

/// The decoded text of every `<tag>…</tag>` in `xml`, joined by newlines.
fn element_text(xml: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = String::new();
    let mut rest = xml;
    while let Some(p) = rest.find(&open) {
        let after = &rest[p..];
        let Some(gt) = after.find('>') else { break };
        if after[..gt].ends_with('/') {
            rest = &after[gt + 1..];
            continue;
        }
        let content = &after[gt + 1..];
        let end = content.find(&close).unwrap_or(content.len());
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&decode(&content[..end]));
        rest = &content[end..];
    }
    out
}

/// `name="value"` in an opening tag, decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    loop {
        let p = rest.find(name)?;
        let before_ok = rest[..p].ends_with(char::is_whitespace);
        let after = rest[p + name.len()..].trim_start();
        if before_ok {
            if let Some(v) = after.strip_prefix('=') {
                let v = v.trim_start();
                let quote = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
                let body = &v[1..];
                let end = body.find(quote)?;
                return Some(decode(&body[..end]));
            }
        }
        rest = &rest[p + name.len()..];
    }
}

/// Decodes entities and CDATA sections.
pub fn decode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find(['&', '<']) {
        out.push_str(&rest[..p]);
        let at = &rest[p..];
        if let Some(cdata) = at.strip_prefix("<![CDATA[") {
            let end = cdata.find("]]>").unwrap_or(cdata.len());
            out.push_str(&cdata[..end]);
            rest = cdata.get(end + 3..).unwrap_or("");
            continue;
        }
        if let Some(after) = at.strip_prefix('<') {
            out.push('<');
            rest = after;
            continue;
        }
        let semi = at.find(';').filter(|s| *s <= 10);
        let decoded = semi.and_then(|s| {
            let ent = &at[1..s];
            let c = match ent {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let code = match ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => ent.strip_prefix('#').and_then(|d| d.parse().ok()),
                    };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, s + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &at[len..];
            }
            None => {
                out.push('&');
                rest = &at[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What the report keeps of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub test_id: String,
    pub client: Option<String>,
    pub failed: bool,
    pub reasons: Vec<String>,
    pub metrics: Vec<(String, f64)>,
}

impl Summary {
    pub fn of(r: &MetricRecord) -> Summary {
        Summary {
            test_id: r.test_id.clone(),
            client: r.client.clone(),
            failed: r.status == Status::Failed,
            reasons: r.reasons.clone(),
            metrics: r.metrics.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        }
    }
}

/// The report: one testcase per test id (its records' reasons joined in the failure message).
pub fn report(summaries: &[Summary]) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for s in summaries {
        if !ids.contains(&s.test_id.as_str()) {
            ids.push(&s.test_id);
        }
    }
    let cases: Vec<junit::Case> = ids
        .into_iter()
        .map(|id| {
            let runs: Vec<&Summary> = summaries.iter().filter(|s| s.test_id == id).collect();
            let label = |s: &Summary| s.client.clone().unwrap_or_else(|| "run".to_string());
            let reasons: Vec<String> = runs
                .iter()
                .filter(|s| s.failed)
                .map(|s| format!("{}: {}", label(s), s.reasons.join("; ")))
                .collect();
            let outcome = if reasons.is_empty() {
                Outcome::Passed
            } else {
                let message = reasons.join(" | ");
                Outcome::Failure { kind: "failed".into(), text: message.clone(), message }
            };
            let mut out = String::new();
            for s in &runs {
                out += &format!("[{}]\n", label(s));
                for (k, v) in &s.metrics {
                    out += &format!("{k}: {v}\n");
                }
            }
            junit::Case { classname: "perfline".into(), name: id.into(), outcome, system_out: out }
        })
        .collect();
    junit::write("parse-metrics", &cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `junit` fuzz target (tests/data/fuzz/junit-*): must not panic.
    #[test]
    fn a_closing_tag_inside_the_opening_one() {
        assert_eq!(
            cases("<testcase name=\"x\" testcase</testcase><system-out>a</system-out>"),
            [Case { id: Some("x".into()), system_out: "a".into(), failures: vec![] }]
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with("junit-") {
                let _ = cases(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }

    #[test]
    fn reads_cases_with_entities_and_cdata() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite name="pytest">
<testcase classname="perf.test_perf_sanity" name="test_e2e[aggr-cfg-srv]" time="1.0"><failure message="boom &amp; more">trace</failure><system-out><![CDATA[Mean TTFT (ms): 1 <ok>]]>
P99 &lt;x&gt; &#65;&#x42;</system-out></testcase>
<testcase name="plain" /><testcase name="quiet"></testcase>
</testsuite><system-out>suite level</system-out></testsuites>"#;
        let cases = cases(xml);
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].id.as_deref(), Some("aggr-cfg-srv"));
        assert_eq!(cases[0].system_out, "Mean TTFT (ms): 1 <ok>\nP99 <x> AB");
        assert_eq!(cases[0].failures, ["junit failure: boom & more"]);
        assert_eq!(cases[1], Case { id: None, system_out: "suite level".into(), failures: vec![] });
    }

    #[test]
    fn report_groups_by_test_and_escapes() {
        let s = |id: &str, client: &str, failed: bool| Summary {
            test_id: id.into(),
            client: Some(client.into()),
            failed,
            reasons: if failed { vec!["2 failed requests".into(), "a<b".into()] } else { vec![] },
            metrics: vec![("mean_ttft".into(), 1.5)],
        };
        let xml = report(&[s("t1", "c1", false), s("t2", "c1", true), s("t1", "c2", false)]);
        assert!(xml.contains(r#"tests="2" failures="1""#), "{xml}");
        assert!(
            xml.contains(r#"<failure type="failed" message="c1: 2 failed requests; a&lt;b">"#),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert!(xml.contains("[c1]\nmean_ttft: 1.5\n[c2]\nmean_ttft: 1.5\n"), "{xml}");
    }
}
