//! The `classify` parser: a test list's text → one [`TestRecord`] (or one error) per test.
//!
//! Three list formats, detected from the text ([`looks_like_yaml`], then the YAML's keys): plain text lists, upstream test-db
//! YAML and grouped YAML. Each test line goes through [`line::parse`] (brackets, TIMEOUT,
//! comments), then [`id::parse`] (the id grammar), then [`hints::parse`].

pub mod glob;
pub mod hints;
pub mod id;
pub mod line;
pub mod yaml_lists;

use perfline::wire::test::TestRecord;
use perfline::Failure;
use std::sync::LazyLock;

/// A list format (`--format`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Detect from the content: YAML when the first non-comment line is a YAML key or list item.
    #[default]
    Auto,
    /// One test per line.
    Text,
    /// Upstream test-db YAML: `<list>: [{condition: …, tests: […]}]`.
    Testdb,
    /// Grouped YAML: `<group>_tests: […]`.
    Grouped,
}

/// `--stage` and `--gpu` (test-db lists only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub stage: Option<String>,
    pub gpu: Option<String>,
}

/// One test, or the error (`FILE:LINE: ID: reason`, class DataErr) that replaced it.
pub type Item = Result<TestRecord, Failure>;

/// The tests of one list, in list order, and the format they were read as.
#[derive(Debug)]
pub struct Classified {
    pub format: Format,
    pub items: Vec<Item>,
}

/// Classifies one list. `source` names it in records and errors (`-` for stdin).
/// A YAML syntax or layout error fails the whole list (`FILE:LINE:COL`); bad tests are items.
pub fn classify(
    text: &str,
    source: &str,
    format: Format,
    filter: &Filter,
) -> Result<Classified, Failure> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if format == Format::Text || (format == Format::Auto && !looks_like_yaml(text)) {
        return Ok(Classified { format: Format::Text, items: text_list(text, source) });
    }
    let doc = perfline::yaml::parse(text, source)?;
    let format = match format {
        Format::Auto if yaml_lists::is_grouped(&doc) => Format::Grouped,
        Format::Auto => Format::Testdb,
        chosen => chosen,
    };
    let items = match format {
        Format::Grouped => yaml_lists::grouped(&doc, text, source)?,
        _ => yaml_lists::testdb(&doc, text, source, filter)?,
    };
    Ok(Classified { format, items })
}

/// Whether the first line that is not blank or a comment looks like YAML structure
/// (`key:`, `- item`, `---`). Test lines never do: ids hold no `:` and no leading `-`.
pub fn looks_like_yaml(text: &str) -> bool {
    static YAML_START: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"^(?:---|-(?:\s|$)|(?:[\w.\-]+|"[^"]*"|'[^']*')\s*:(?:\s|$)|%YAML)"#)
            .expect("valid regex")
    });
    text.lines()
        .find(|l| !line::is_blank_or_comment(l))
        .is_some_and(|first| YAML_START.is_match(first.trim_start()))
}

fn text_list(text: &str, source: &str) -> Vec<Item> {
    text.split('\n')
        .enumerate()
        .filter(|(_, raw)| !line::is_blank_or_comment(raw))
        .map(|(idx, raw)| test_at(raw, source, idx + 1))
        .collect()
}

/// Classifies one test line found at `source:line`.
pub fn test_at(raw: &str, source: &str, line: usize) -> Item {
    let at = format!("{source}:{line}");
    let error = |shown: &str, reason: &str| {
        Failure::data(format!("{at}: {}: {reason}", printable(shown, raw)))
    };
    let test = line::parse(raw).map_err(|e| error(&e.shown, &e.reason))?;
    let id = id::parse(test.id).map_err(|reason| error(test.id, &reason))?;
    let hints = hints::parse(&id.config, &id.select);
    Ok(TestRecord {
        id: test.id.to_string(),
        family: id.family,
        benchmark_mode: id.benchmark_mode,
        config: id.config,
        select: id.select,
        upload: id.upload,
        timeout_s: test.timeout_s,
        source: at,
        prefix: id.prefix,
        list: None,
        group: None,
        condition: None,
        hints,
    })
}

/// The id as shown in a diagnostic: the raw line when the id is empty, escaped when it holds
/// control characters (a diagnostic must not drive the terminal).
/// The text shown in an error: control characters escaped, at most [`SHOWN`] characters
/// (a 10 MB id must not make a 10 MB diagnostic).
fn printable(shown: &str, raw: &str) -> String {
    let shown = if shown.is_empty() { raw.trim() } else { shown };
    let out = perfline::cli::shorten(shown, SHOWN).into_owned();
    if out.chars().any(char::is_control) {
        out.escape_debug().to_string()
    } else {
        out
    }
}

/// The most characters of a test shown in an error.
const SHOWN: usize = 120;

#[cfg(test)]
mod tests;
