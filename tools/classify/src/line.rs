//! One test line: `[path::]test_e2e[ID]` or a bare `ID`, an optional ` TIMEOUT (N)` in
//! minutes, and an optional trailing ` # comment`.

/// A test line split into its id and timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestLine<'a> {
    pub id: &'a str,
    pub timeout_s: Option<u64>,
}

/// Why a line is not a test: the id as far as it could be read (for the diagnostic) and
/// the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub shown: String,
    pub reason: String,
}

/// True for lines that hold no test: blank, or a `#` comment.
pub fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#')
}

/// Parses one non-blank, non-comment line.
pub fn parse(line: &str) -> Result<TestLine<'_>, LineError> {
    let text = strip_comment(line).trim();
    let (test, timeout_s) = split_timeout(text)?;
    if let Some(extra) = test.find(char::is_whitespace) {
        return Err(LineError {
            shown: test.get(..extra).unwrap_or(test).to_string(),
            reason: format!(
                "unexpected text after the test: {:?} (only ` TIMEOUT (MINUTES)` and ` # comment` may follow)",
                test.get(extra..).unwrap_or_default().trim()
            ),
        });
    }
    Ok(TestLine { id: bracketed_id(test)?, timeout_s })
}

/// A comment starts at a `#` that begins the line or follows whitespace (ids never hold `#`).
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_is_space {
            return line.get(..i).unwrap_or(line);
        }
        previous_is_space = c.is_whitespace();
    }
    line
}

/// The longest ` TIMEOUT (N)` accepted, in minutes: one week.
pub const MAX_TIMEOUT_MIN: u64 = 7 * 24 * 60;

/// Splits off ` TIMEOUT (N)` (the incumbent's `\s+TIMEOUT\s*\(\d+\)\s*$`); N minutes → seconds.
fn split_timeout(text: &str) -> Result<(&str, Option<u64>), LineError> {
    let Some(at) = find_word(text, "TIMEOUT") else {
        return Ok((text, None));
    };
    let test = text.get(..at).unwrap_or_default().trim_end();
    let bad = |reason: &str| LineError {
        shown: test.to_string(),
        reason: format!("bad TIMEOUT {:?}: {reason}", text.get(at..).unwrap_or_default()),
    };
    let args = text.get(at + "TIMEOUT".len()..).unwrap_or_default().trim();
    let digits = args
        .strip_prefix('(')
        .and_then(|a| a.strip_suffix(')'))
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad("expected `TIMEOUT (MINUTES)` at the end of the line"))?;
    let minutes: u64 = digits.parse().unwrap_or(u64::MAX);
    if !(1..=MAX_TIMEOUT_MIN).contains(&minutes) {
        return Err(bad(&format!("minutes must be in 1..={MAX_TIMEOUT_MIN} (one week)")));
    }
    Ok((test, Some(minutes * 60)))
}

/// The byte offset of the last `word` that follows whitespace.
fn find_word(text: &str, word: &str) -> Option<usize> {
    text.match_indices(word)
        .filter(|(i, _)| {
            text.get(..*i)
                .and_then(|before| before.chars().next_back())
                .is_some_and(char::is_whitespace)
        })
        .map(|(i, _)| i)
        .last()
}

/// `path::func[ID]` → `ID`; a text without brackets is the id itself.
fn bracketed_id(test: &str) -> Result<&str, LineError> {
    let unbalanced =
        |reason: &str| LineError { shown: test.to_string(), reason: reason.to_string() };
    let (Some(open), Some(close)) = (test.rfind('['), test.rfind(']')) else {
        return match test.contains(['[', ']']) {
            true => Err(unbalanced("unbalanced brackets")),
            false => Ok(test),
        };
    };
    if close < open || test.matches('[').count() != 1 || test.matches(']').count() != 1 {
        return Err(unbalanced("unbalanced brackets"));
    }
    if close + 1 != test.len() {
        return Err(unbalanced("unexpected text after ']'"));
    }
    if open == 0 {
        return Err(unbalanced("missing test function name before '['"));
    }
    Ok(test.get(open + 1..close).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(line: &str, id: &str, timeout_s: Option<u64>) {
        assert_eq!(parse(line), Ok(TestLine { id, timeout_s }), "{line:?}");
    }

    #[track_caller]
    fn err(line: &str, shown: &str, reason: &str) {
        match parse(line) {
            Ok(t) => panic!("{line:?} accepted as {t:?}"),
            Err(e) => {
                assert_eq!(e.shown, shown, "{line:?}");
                assert!(e.reason.contains(reason), "{line:?}: {:?} lacks {reason:?}", e.reason);
            }
        }
    }

    #[test]
    fn three_spellings_of_a_test() {
        ok("perf/test_perf_sanity.py::test_e2e[aggr-x]", "aggr-x", None);
        ok("test_e2e[aggr-x]", "aggr-x", None);
        ok("aggr-x", "aggr-x", None);
    }

    #[test]
    fn timeout_forms() {
        ok("test_e2e[aggr-x] TIMEOUT (90)", "aggr-x", Some(5400));
        ok("aggr-x TIMEOUT(1)", "aggr-x", Some(60));
        ok("aggr-x\tTIMEOUT  (2)  ", "aggr-x", Some(120));
        ok("aggr-x TIMEOUT (120) # Failed requests", "aggr-x", Some(7200));
        // Glued to the id, TIMEOUT is part of the id, as in the incumbent's regex.
        ok("aggr-x-TIMEOUT", "aggr-x-TIMEOUT", None);
    }

    #[test]
    fn bad_timeouts() {
        err("aggr-x TIMEOUT", "aggr-x", "bad TIMEOUT");
        err("aggr-x TIMEOUT (abc)", "aggr-x", "expected `TIMEOUT (MINUTES)`");
        err("aggr-x TIMEOUT (-5)", "aggr-x", "bad TIMEOUT");
        err("aggr-x TIMEOUT ( 5 )", "aggr-x", "bad TIMEOUT");
        err("aggr-x TIMEOUT (90) extra", "aggr-x", "bad TIMEOUT");
        err("aggr-x TIMEOUT (0)", "aggr-x", "minutes must be in 1..=10080 (one week)");
        err("aggr-x TIMEOUT (99999999999999999999)", "aggr-x", "must be in 1..=10080");
        err("aggr-x TIMEOUT (307445734561825861)", "aggr-x", "must be in 1..=10080");
        err("aggr-x TIMEOUT (10081)", "aggr-x", "must be in 1..=10080");
        ok("aggr-x TIMEOUT (10080)", "aggr-x", Some(604_800));
    }

    #[test]
    fn comments_and_whitespace() {
        ok("  aggr-x  ", "aggr-x", None);
        ok("aggr-x # note", "aggr-x", None);
        ok("aggr-x\t#note", "aggr-x", None);
        ok("aggr-x\r", "aggr-x", None);
        assert!(is_blank_or_comment("   # - test_e2e[aggr-x]"));
        assert!(is_blank_or_comment(" \t\r"));
        assert!(!is_blank_or_comment("aggr-x # c"));
        // A '#' glued to the id is not a comment: check_id rejects it later.
        ok("aggr-x#y", "aggr-x#y", None);
    }

    #[test]
    fn brackets() {
        err("test_e2e[aggr-x", "test_e2e[aggr-x", "unbalanced brackets");
        err("test_e2e]aggr-x[", "test_e2e]aggr-x[", "unbalanced brackets");
        err("aggr-x]", "aggr-x]", "unbalanced brackets");
        err("t[a[b]]", "t[a[b]]", "unbalanced brackets");
        err("t[aggr-x]y", "t[aggr-x]y", "after ']'");
        err("[aggr-x]", "[aggr-x]", "missing test function");
        ok("t[]", "", None);
    }

    #[test]
    fn extra_words() {
        err("test_e2e[aggr-x] aggr-y", "test_e2e[aggr-x]", "unexpected text after the test");
        err("aggr-x timeout (5)", "aggr-x", "unexpected text");
    }
}
