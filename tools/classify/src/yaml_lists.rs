//! The two YAML list layouts: upstream test-db lists (`<list>: [{condition, tests}]`,
//! incumbent.md §10) and grouped lists (`single_agg_tests: [...]`, …).
//!
//! perfline::yaml values keep no positions, so each test's line is found by scanning the raw
//! text in document order ([`LineFinder`]).

use crate::{glob, test_at, Filter, Item};
use perfline::yaml::{self, Value};
use perfline::Failure;

/// True when a mapping is a grouped list: some key ends in `_tests` and holds tests, not
/// test-db blocks (a test-db list may be named `…_tests` too).
pub fn is_grouped(doc: &Value) -> bool {
    let holds_blocks = |v: &Value| v.as_sequence().is_some_and(|s| s.iter().any(Value::is_mapping));
    doc.as_mapping().is_some_and(|map| {
        map.iter().any(|(k, v)| key_text(k).ends_with("_tests") && !holds_blocks(v))
    })
}

/// Test-db: every test of every list, keeping the list name and the block's condition.
pub fn testdb(
    doc: &Value,
    text: &str,
    source: &str,
    filter: &Filter,
) -> Result<Vec<Item>, Failure> {
    let entries = top_entries(doc, source, "a mapping of list names to {condition, tests} blocks")?;
    let mut finder = LineFinder::new(text);
    let mut items = Vec::new();
    for (list, blocks) in entries {
        let Some(blocks) = blocks.as_sequence() else {
            items.push(Err(layout(
                source,
                &finder,
                &list,
                "expected a list of {condition, tests} blocks",
            )));
            continue;
        };
        for block in blocks {
            if !block.is_mapping() {
                items.push(Err(layout(
                    source,
                    &finder,
                    &list,
                    "expected a list of {condition, tests} blocks",
                )));
                continue;
            }
            let condition = block.get("condition");
            let keep = filter.keeps(condition);
            let tests = match block.get("tests") {
                Some(Value::Sequence(tests)) => tests.as_slice(),
                None | Some(Value::Null) => &[],
                Some(_) => {
                    items.push(Err(layout(source, &finder, &list, "`tests` must be a list")));
                    continue;
                }
            };
            for test in tests {
                // Located even when filtered out, so later tests are found after it.
                let item = test_item(test, source, &mut finder);
                if keep {
                    items.push(item.map(|mut record| {
                        record.list = Some(list.clone());
                        record.condition = condition.map(yaml::to_json);
                        record
                    }));
                }
            }
        }
    }
    Ok(items)
}

/// Grouped: every test of every `*_tests` key, keeping the key as `group`.
pub fn grouped(doc: &Value, text: &str, source: &str) -> Result<Vec<Item>, Failure> {
    let entries = top_entries(doc, source, "a mapping of `*_tests` keys to lists of tests")?;
    let mut finder = LineFinder::new(text);
    let mut items = Vec::new();
    for (group, tests) in entries {
        if !group.ends_with("_tests") {
            items.push(Err(layout(source, &finder, &group, "not a `*_tests` group")));
            continue;
        }
        let tests = match tests {
            Value::Sequence(tests) => tests.as_slice(),
            Value::Null => &[],
            _ => {
                items.push(Err(layout(source, &finder, &group, "expected a list of tests")));
                continue;
            }
        };
        for test in tests {
            items.push(test_item(test, source, &mut finder).map(|mut record| {
                record.group = Some(group.clone());
                record
            }));
        }
    }
    Ok(items)
}

/// The top-level entries of a list file as (key text, value), in order, without the
/// `version` key; an empty document has none.
fn top_entries<'a>(
    doc: &'a Value,
    source: &str,
    expected: &str,
) -> Result<Vec<(String, &'a Value)>, Failure> {
    match doc {
        Value::Mapping(map) => {
            Ok(map.iter().map(|(k, v)| (key_text(k), v)).filter(|(k, _)| k != "version").collect())
        }
        Value::Null => Ok(Vec::new()),
        _ => Err(Failure::data(format!("{source}: not a test list: expected {expected}"))),
    }
}

fn test_item(test: &Value, source: &str, finder: &mut LineFinder) -> Item {
    let Some(text) = test.as_str() else {
        // Located by its own text (a scalar, or a mapping's first key), not the cursor's line
        // (the previous item's).
        let needle = match test {
            Value::Mapping(map) => map.keys().next().map(key_text),
            Value::Sequence(_) => None,
            scalar => Some(key_text(scalar)),
        };
        let line = needle
            .and_then(|n| finder.find_item(&n))
            .or_else(|| finder.next_item())
            .unwrap_or_else(|| finder.current_line());
        let shown = yaml::to_json(test).to_string();
        let shown = perfline::cli::shorten(&shown, 80);
        return Err(Failure::data(format!("{source}:{line}: test must be a string, got {shown}")));
    };
    let needle = text.trim();
    let line = finder
        .find(needle)
        .or_else(|| multi_line_item(finder, needle))
        .unwrap_or_else(|| finder.current_line());
    test_at(text, source, line)
}

/// The first line of a scalar that spans lines (folded, so its text is on no single line):
/// the item starting with its first word, plain or quoted, else the next sequence item.
fn multi_line_item(finder: &mut LineFinder, needle: &str) -> Option<usize> {
    let first = needle.split_whitespace().next().unwrap_or_default();
    [first.to_string(), format!("\"{first}"), format!("'{first}")]
        .iter()
        .find_map(|n| finder.find_item(n))
        .or_else(|| finder.next_item())
}

/// A layout error names the key and, when it can be found, its line.
fn layout(source: &str, finder: &LineFinder, key: &str, reason: &str) -> Failure {
    match finder.line_of_key(key) {
        Some(line) => Failure::data(format!("{source}:{line}: {key}: {reason}")),
        None => Failure::data(format!("{source}: {key}: {reason}")),
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => yaml::to_json(other).to_string(),
    }
}

/// Finds texts in the raw YAML in document order, skipping comment lines (commented-out
/// tests are not tests). A cursor (line, column) keeps repeated tests apart.
pub struct LineFinder<'a> {
    lines: Vec<&'a str>,
    line: usize,
    col: usize,
}

impl<'a> LineFinder<'a> {
    pub fn new(text: &'a str) -> LineFinder<'a> {
        LineFinder { lines: text.split('\n').collect(), line: 0, col: 0 }
    }

    /// The 1-based line of the next occurrence of `needle` at or after the cursor, which then
    /// moves past it. Falls back to a search from the start (aliases repeat earlier tests)
    /// without moving the cursor.
    pub fn find(&mut self, needle: &str) -> Option<usize> {
        if needle.is_empty() {
            return None;
        }
        self.scan(needle, |rest| rest.find(needle)).or_else(|| {
            self.lines
                .iter()
                .position(|line| !is_comment(line) && line.contains(needle))
                .map(|i| i + 1)
        })
    }

    /// The line of the next sequence item `- NEEDLE` (or a flow item `[NEEDLE`, `, NEEDLE`)
    /// at or after the cursor, which then moves past it.
    pub fn find_item(&mut self, needle: &str) -> Option<usize> {
        self.scan(needle, |rest| {
            rest.match_indices(needle).map(|(i, _)| i).find(|&i| {
                let before = rest.get(..i).unwrap_or_default().trim_end();
                before.ends_with('-') || before.ends_with('[') || before.ends_with(',')
            })
        })
    }

    /// The cursor walk both searches share: the first non-comment line at or after the cursor
    /// (from the cursor's column on its own line) where `hit` finds `needle`'s byte offset;
    /// the cursor then moves past it. `None` (cursor unmoved) when no line has one.
    fn scan(&mut self, needle: &str, hit: impl Fn(&str) -> Option<usize>) -> Option<usize> {
        if needle.is_empty() {
            return None;
        }
        for (idx, line) in self.lines.iter().enumerate().skip(self.line) {
            if is_comment(line) {
                continue;
            }
            let from = if idx == self.line { self.col } else { 0 };
            let Some(rest) = line.get(from..) else { continue };
            if let Some(pos) = hit(rest) {
                self.line = idx;
                self.col = from + pos + needle.len();
                return Some(idx + 1);
            }
        }
        None
    }

    /// The line of the next block sequence item (`- …`) after the cursor's line, which then
    /// moves to it; a flow item on the cursor's line (`, …`) is on that line.
    pub fn next_item(&mut self) -> Option<usize> {
        let rest = self.lines.get(self.line).and_then(|l| l.get(self.col..)).unwrap_or_default();
        if rest.trim_start().starts_with(',') {
            return Some(self.line + 1);
        }
        let idx = (self.line + 1..self.lines.len()).find(|&i| {
            let t = self.lines[i].trim_start();
            !is_comment(t) && (t == "-" || t.starts_with("- "))
        })?;
        self.line = idx;
        self.col = self.lines[idx].len() - self.lines[idx].trim_start().len() + 1;
        Some(idx + 1)
    }

    pub fn current_line(&self) -> usize {
        self.line + 1
    }

    /// The line of a top-level `key:`.
    pub fn line_of_key(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| {
                line.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':'))
            })
            .map(|i| i + 1)
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

impl Filter {
    /// Whether a test-db block passes `--stage` and `--gpu`.
    pub fn keeps(&self, condition: Option<&Value>) -> bool {
        let field = |path: &str| condition.and_then(|c| yaml::get(c, path));
        if let Some(stage) = &self.stage {
            if !strings(field("terms.stage")).iter().any(|s| s == stage) {
                return false;
            }
        }
        if let Some(gpu) = &self.gpu {
            let patterns = strings(field("wildcards.gpu"));
            let gpu = gpu.to_lowercase();
            // Blocks that do not restrict the GPU run on any.
            if !patterns.is_empty()
                && !patterns.iter().any(|p| glob::matches(&p.to_lowercase(), &gpu))
            {
                return false;
            }
        }
        true
    }
}

/// A string, or a list's strings.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(seq)) => {
            seq.iter().filter_map(Value::as_str).map(str::to_string).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finder_skips_comments_and_keeps_repeats_apart() {
        let text = "a:\n  # - t1\n  - t1\n  - t2\nb:\n  - t1\n  tests: [t3, t3]\n";
        let mut f = LineFinder::new(text);
        assert_eq!(f.find("t1"), Some(3));
        assert_eq!(f.find("t2"), Some(4));
        assert_eq!(f.find("t1"), Some(6));
        assert_eq!(f.find("t3"), Some(7));
        assert_eq!(f.find("t3"), Some(7));
        // Not after the cursor: the first occurrence, cursor unchanged.
        assert_eq!(f.find("t2"), Some(4));
        assert_eq!(f.find("nope"), None);
        assert_eq!(f.current_line(), 7);
        assert_eq!(f.line_of_key("b"), Some(5));
    }

    #[test]
    fn a_bad_item_is_reported_at_its_own_line() {
        let text = "single_agg_tests:\n  - aggr-a\n  # - 5\n\n  - 5\n  - {x: 1}\n  - aggr-b\n  - [1]\nmulti_agg_tests: [aggr-c, 7]\n";
        let doc = yaml::parse(text, "g.yaml").unwrap();
        let items = grouped(&doc, text, "g.yaml").unwrap();
        let got: Vec<String> = items
            .iter()
            .map(|i| match i {
                Ok(r) => format!("{} ok", r.source),
                Err(f) => f.message.clone(),
            })
            .collect();
        assert_eq!(
            got,
            [
                "g.yaml:2 ok",
                "g.yaml:5: test must be a string, got 5",
                "g.yaml:6: test must be a string, got {\"x\":1}",
                "g.yaml:7 ok",
                "g.yaml:8: test must be a string, got [1]",
                "g.yaml:9 ok",
                "g.yaml:9: test must be a string, got 7",
            ]
        );
    }

    #[test]
    fn a_multi_line_test_id_is_reported_at_its_first_line() {
        let text = "l0:\n- condition:\n    terms: {stage: post_merge}\n  tests:\n  - aggr-one\n  - \"aggr-two\n    60\"\n  - \"three::a\n    b\n    c\"\n  - four::plain\n    folded\n  - aggr-five\n";
        let doc = yaml::parse(text, "db.yaml").unwrap();
        let items = testdb(&doc, text, "db.yaml", &filter(None, None)).unwrap();
        let got: Vec<String> = items
            .iter()
            .map(|i| match i {
                Ok(r) => r.source.clone(),
                Err(f) => f.message.split(": ").next().unwrap_or_default().to_string(),
            })
            .collect();
        assert_eq!(got, ["db.yaml:5", "db.yaml:6", "db.yaml:8", "db.yaml:11", "db.yaml:13"]);
    }

    fn filter(stage: Option<&str>, gpu: Option<&str>) -> Filter {
        Filter { stage: stage.map(str::to_string), gpu: gpu.map(str::to_string) }
    }

    #[test]
    fn stage_and_gpu_filters() {
        let cond = yaml::parse("terms: {stage: post_merge}\nwildcards: {gpu: ['*gb200*']}\n", "t")
            .unwrap();
        assert!(filter(None, None).keeps(Some(&cond)));
        assert!(filter(Some("post_merge"), None).keeps(Some(&cond)));
        assert!(!filter(Some("pre_merge"), None).keeps(Some(&cond)));
        assert!(filter(None, Some("gb200")).keeps(Some(&cond)));
        assert!(filter(None, Some("GB200")).keeps(Some(&cond)));
        assert!(!filter(None, Some("h100")).keeps(Some(&cond)));
        assert!(filter(Some("post_merge"), Some("gb200")).keeps(Some(&cond)));
        // No gpu wildcard: any GPU; no stage: no --stage match.
        let bare = yaml::parse("terms: {backend: pytorch}\n", "t").unwrap();
        assert!(filter(None, Some("h100")).keeps(Some(&bare)));
        assert!(!filter(Some("post_merge"), None).keeps(Some(&bare)));
        assert!(filter(None, Some("h100")).keeps(None));
        assert!(!filter(Some("x"), None).keeps(None));
    }
}
