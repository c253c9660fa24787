//! JUnit XML, written in one place (tidy `junit-writer`): perf-check's verdicts and
//! parse-metrics' report both go through [`write`]. The XML is produced by quick-xml, which
//! escapes text and attribute values (a newline in an attribute is `&#10;`, so a multi-line
//! failure message survives attribute normalisation); characters XML 1.0 cannot hold (control
//! characters other than tab, newline and carriage return; U+FFFE, U+FFFF) are dropped first.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// One `<testcase>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Case {
    pub classname: String,
    pub name: String,
    pub outcome: Outcome,
    /// The `<system-out>` text (always written, empty or not).
    pub system_out: String,
}

/// How a case ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Outcome {
    #[default]
    Passed,
    /// `<failure type=KIND message=MESSAGE>TEXT</failure>` (self-closing when `text` is empty).
    Failure { kind: String, message: String, text: String },
    /// `<skipped message=MESSAGE/>`.
    Skipped { message: String },
}

/// The JUnit document of one `<testsuite name=NAME>` holding `cases` in order, with its
/// `tests`, `failures`, `errors` (always 0) and `skipped` counts; ends with a newline.
pub fn write(name: &str, cases: &[Case]) -> String {
    let count = |f: fn(&Outcome) -> bool| cases.iter().filter(|c| f(&c.outcome)).count();
    let failures = count(|o| matches!(o, Outcome::Failure { .. }));
    let skipped = count(|o| matches!(o, Outcome::Skipped { .. }));
    let mut xml = Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut put = |event: Event<'_>| xml.write_event(event).expect("a Vec takes every write");
    put(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    put(Event::Start(element(
        "testsuite",
        &[
            ("name", name),
            ("tests", &cases.len().to_string()),
            ("failures", &failures.to_string()),
            ("errors", "0"),
            ("skipped", &skipped.to_string()),
        ],
    )));
    for case in cases {
        put(Event::Start(element(
            "testcase",
            &[("classname", &case.classname), ("name", &case.name)],
        )));
        match &case.outcome {
            Outcome::Passed => {}
            Outcome::Failure { kind, message, text } => {
                let failure = element("failure", &[("type", kind), ("message", message)]);
                if text.is_empty() {
                    put(Event::Empty(failure));
                } else {
                    put(Event::Start(failure));
                    put(Event::Text(BytesText::new(&xml_chars(text))));
                    put(Event::End(BytesEnd::new("failure")));
                }
            }
            Outcome::Skipped { message } => {
                put(Event::Empty(element("skipped", &[("message", message)])));
            }
        }
        put(Event::Start(BytesStart::new("system-out")));
        put(Event::Text(BytesText::new(&xml_chars(&case.system_out))));
        put(Event::End(BytesEnd::new("system-out")));
        put(Event::End(BytesEnd::new("testcase")));
    }
    put(Event::End(BytesEnd::new("testsuite")));
    let mut text = String::from_utf8(xml.into_inner()).expect("quick-xml writes the UTF-8 it got");
    text.push('\n');
    text
}

fn element<'a>(name: &'a str, attributes: &[(&str, &str)]) -> BytesStart<'a> {
    let mut start = BytesStart::new(name);
    for (key, value) in attributes {
        start.push_attribute((*key, xml_chars(value).as_str()));
    }
    start
}

/// `text` without the characters XML 1.0 cannot hold.
pub fn xml_chars(text: &str) -> String {
    text.chars()
        .filter(|c| {
            matches!(*c, '\t' | '\n' | '\r')
                || (*c >= ' ' && !matches!(*c, '\u{fffe}' | '\u{ffff}'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_outcome_escaped() {
        let case = |name: &str, outcome: Outcome, out: &str| Case {
            classname: "t<1>".into(),
            name: name.into(),
            outcome,
            system_out: out.into(),
        };
        let xml = write(
            "suite \"q\"",
            &[
                case("ok", Outcome::Passed, "a & b\nc"),
                case(
                    "bad",
                    Outcome::Failure {
                        kind: "failed".into(),
                        message: "one\ntwo\t'x'".into(),
                        text: String::new(),
                    },
                    "",
                ),
                case(
                    "worse",
                    Outcome::Failure {
                        kind: "regression".into(),
                        message: "m".into(),
                        text: "x < y\u{1b}[0m\u{ffff}".into(),
                    },
                    "",
                ),
                case("later", Outcome::Skipped { message: "undecided: 2 > 1".into() }, "s"),
            ],
        );
        let want = [
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<testsuite name="suite &quot;q&quot;" tests="4" failures="2" errors="0" skipped="1">"#,
            r#"  <testcase classname="t&lt;1&gt;" name="ok">"#,
            "    <system-out>a &amp; b\nc</system-out>",
            r#"  </testcase>"#,
            r#"  <testcase classname="t&lt;1&gt;" name="bad">"#,
            r#"    <failure type="failed" message="one&#10;two&#9;&apos;x&apos;"/>"#,
            r#"    <system-out></system-out>"#,
            r#"  </testcase>"#,
            r#"  <testcase classname="t&lt;1&gt;" name="worse">"#,
            r#"    <failure type="regression" message="m">x &lt; y[0m</failure>"#,
            r#"    <system-out></system-out>"#,
            r#"  </testcase>"#,
            r#"  <testcase classname="t&lt;1&gt;" name="later">"#,
            r#"    <skipped message="undecided: 2 &gt; 1"/>"#,
            r#"    <system-out>s</system-out>"#,
            r#"  </testcase>"#,
            r#"</testsuite>"#,
        ];
        assert_eq!(xml, want.join("\n") + "\n");
        assert_eq!(write("empty", &[]), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"empty\" tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\">\n</testsuite>\n");
    }
}
