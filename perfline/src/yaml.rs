//! YAML loading, behind one module: parse errors carry `FILE:LINE:COL`, anchors and aliases
//! are resolved, and merge keys (`<<: *anchor`) are applied at every level.

use crate::cli::{Failure, Result};
use crate::exit::Exit;
pub use serde_yaml::{Mapping, Value};
use std::path::Path;

/// Reads and parses a YAML file (a UTF-8 BOM is allowed). A file that cannot be read is an
/// I/O failure of its kind (missing 66, permission 77, other 74); one that is not UTF-8 is bad
/// data naming the line and column of the first bad byte.
pub fn load(path: &Path) -> Result<Value> {
    // Bounded, never hangs on a FIFO, a directory said (h-bad2: fsutil::read_input).
    let bytes = crate::fsutil::read_input(path, 256 << 20)?;
    let source = path.display().to_string();
    parse(utf8(&bytes, &source)?, &source)
}

/// `bytes` as text, or a `DataErr` `SOURCE:LINE:COL: not UTF-8 text` at the first bad byte
/// (line and column 1-based, the column in bytes).
pub fn utf8<'a>(bytes: &'a [u8], source: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let col = good.len() - good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) + 1;
        Failure::data(format!("{source}:{line}:{col}: not UTF-8 text"))
    })
}

/// Parses YAML text; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| {
        let message = e.to_string();
        let mut why = first_line(&message);
        let at = match e.location() {
            Some(l) => {
                why = why
                    .strip_suffix(&format!(" at line {} column {}", l.line(), l.column()))
                    .unwrap_or(why);
                // serde_yaml puts a duplicate key at its mapping's start: find the key itself.
                let (line, col) = duplicate_key_at(text, why, (l.line(), l.column()))
                    .unwrap_or((l.line(), l.column()));
                format!("{source}:{line}:{col}")
            }
            None => source.to_string(),
        };
        Failure::new(Exit::DataErr, format!("{at}: invalid YAML: {why}"))
    })?;
    apply_merges(&mut value, 0)
        .map_err(|e| Failure::new(Exit::DataErr, format!("{source}: invalid merge key: {e}")))?;
    Ok(value)
}

/// The line and column of the second `KEY:` of the mapping that starts at `start`, for
/// serde_yaml's `duplicate entry with key "KEY"` (block mappings: keys at the start column;
/// flow mappings: keys after `{` or `,`).
fn duplicate_key_at(text: &str, why: &str, start: (usize, usize)) -> Option<(usize, usize)> {
    let quoted = why.split("duplicate entry with key ").nth(1)?;
    let key: String = serde_json::from_str(quoted).ok()?;
    let lines: Vec<&str> = text.split('\n').collect();
    let (first, col) = (start.0.checked_sub(1)?, start.1.checked_sub(1)?);
    let is_key_at = |line: &str, at: usize| {
        line.get(at..)
            .and_then(|rest| rest.strip_prefix(key.as_str()))
            .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with(':'))
            || line
                .get(at..)
                .and_then(|rest| rest.strip_prefix(quoted))
                .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with(':'))
    };
    let flow = lines.get(first)?.get(col..)?.starts_with('{');
    let mut seen = 0;
    for (idx, line) in lines.iter().enumerate().skip(first) {
        let from = if idx == first { col } else { 0 };
        if flow {
            for (i, _) in line.char_indices().filter(|(i, _)| *i >= from) {
                let before = line[..i].trim_end_matches([' ', '\t']);
                let after_sep = before.ends_with('{') || before.ends_with(',') || before.is_empty();
                if after_sep && is_key_at(line, i) {
                    seen += 1;
                    if seen == 2 {
                        return Some((idx + 1, i + 1));
                    }
                }
            }
        } else if line.get(..col).is_some_and(|pad| idx == first || pad.bytes().all(|b| b == b' '))
            && is_key_at(line, col)
        {
            seen += 1;
            if seen == 2 {
                return Some((idx + 1, col + 1));
            }
        }
    }
    None
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Depth bound: hostile inputs (alias bombs) must not blow the stack.
const MAX_DEPTH: usize = 256;

fn apply_merges(value: &mut Value, depth: usize) -> std::result::Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nesting too deep".into());
    }
    match value {
        Value::Mapping(_) => {
            value.apply_merge().map_err(|e| e.to_string())?;
            if let Value::Mapping(map) = value {
                for (_, v) in map.iter_mut() {
                    apply_merges(v, depth + 1)?;
                }
            }
        }
        Value::Sequence(seq) => {
            for v in seq {
                apply_merges(v, depth + 1)?;
            }
        }
        Value::Tagged(t) => apply_merges(&mut t.value, depth + 1)?,
        _ => {}
    }
    Ok(())
}

/// Looks up a dotted path (`worker_config.ctx.tensor_parallel_size`) in mappings.
pub fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.as_mapping()?.get(key))
}

/// Converts to JSON; non-string keys become their YAML text, and non-finite floats `null`.
pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(serde_json::Value::Null, Into::into)
            }
        }
        Value::String(s) => s.clone().into(),
        Value::Sequence(seq) => seq.iter().map(to_json).collect(),
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => {
                        serde_yaml::to_string(other).unwrap_or_default().trim_end().to_string()
                    }
                };
                (key, to_json(v))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Value::Tagged(t) => to_json(&t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_and_anchors_apply_at_depth() {
        let v = parse(
            "base: &b {tp: 4, pp: 1}\nworker_config:\n  gen:\n    <<: *b\n    pp: 2\n  spec: &s {k: 3}\n  ctx: {spec: *s}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(get(&v, "worker_config.gen.tp").and_then(Value::as_u64), Some(4));
        assert_eq!(get(&v, "worker_config.gen.pp").and_then(Value::as_u64), Some(2));
        assert_eq!(get(&v, "worker_config.ctx.spec.k").and_then(Value::as_u64), Some(3));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let err = parse("a: 1\nb: [1, 2\n", "x.yaml").unwrap_err();
        assert_eq!(err.exit, Exit::DataErr);
        assert!(err.message.starts_with("x.yaml:"), "{}", err.message);
        assert!(!err.message.contains('\n'));
    }

    #[test]
    fn not_utf8_names_line_and_column() {
        let err = utf8(b"a: 1\nb: \xff\n", "x.yaml").unwrap_err();
        assert_eq!((err.exit, err.message.as_str()), (Exit::DataErr, "x.yaml:2:4: not UTF-8 text"));
        assert_eq!(utf8(b"\xfe", "-").unwrap_err().message, "-:1:1: not UTF-8 text");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(&file, b"# c\nk: [\xc3]\n").unwrap();
        let err = load(&file).unwrap_err();
        assert_eq!(err.message, format!("{}:2:5: not UTF-8 text", file.display()));
        assert_eq!(err.exit, Exit::DataErr);
        let err = load(dir.path()).unwrap_err();
        let want = format!("{}: is a directory; give a file", dir.path().display());
        assert_eq!((err.exit, err.message), (Exit::NoInput, want));
    }

    #[test]
    fn a_duplicate_key_is_reported_at_its_own_line() {
        let cases = [
            ("a: 1\nb: 2\na: 3\n", "x.yaml:3:1: invalid YAML: duplicate entry with key \"a\""),
            (
                "x:\n  y: 1\n  z:\n    q: 1\n    # q: 0\n    r: {q: 1}\n    q: 2\n",
                "x.yaml:7:5: invalid YAML: x.z: duplicate entry with key \"q\"",
            ),
            (
                "- a\n- {k: 1, j: 2,\n   k: 3}\n",
                "x.yaml:3:4: invalid YAML: .[1]: duplicate entry with key \"k\"",
            ),
            (
                "l:\n- a: 1\n  a: 2\n",
                "x.yaml:3:3: invalid YAML: l[0]: duplicate entry with key \"a\"",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, "x.yaml").unwrap_err().message, want, "{text:?}");
        }
    }

    #[test]
    fn converts_to_json() {
        let v = parse("a: [1, 2.5, x, true, null]\n1: y\n", "t").unwrap();
        assert_eq!(to_json(&v), serde_json::json!({"a": [1, 2.5, "x", true, null], "1": "y"}));
    }
}
