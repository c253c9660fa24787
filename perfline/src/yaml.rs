//! YAML loading, behind one module: parse errors carry `FILE:LINE:COL`, anchors and aliases
//! are resolved, and merge keys (`<<: *anchor`) are applied at every level.

use crate::cli::{Failure, Result};
use crate::exit::Exit;
pub use serde_yaml::{Mapping, Value};
use std::path::Path;

/// Reads and parses a YAML file (a UTF-8 BOM is allowed).
pub fn load(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::io(path.display(), &e))?;
    parse(&text, &path.display().to_string())
}

/// Parses YAML text; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| {
        let at = match e.location() {
            Some(l) => format!("{source}:{}:{}", l.line(), l.column()),
            None => source.to_string(),
        };
        Failure::new(Exit::DataErr, format!("{at}: invalid YAML: {}", first_line(&e.to_string())))
    })?;
    apply_merges(&mut value, 0)
        .map_err(|e| Failure::new(Exit::DataErr, format!("{source}: invalid merge key: {e}")))?;
    Ok(value)
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
    fn converts_to_json() {
        let v = parse("a: [1, 2.5, x, true, null]\n1: y\n", "t").unwrap();
        assert_eq!(to_json(&v), serde_json::json!({"a": [1, 2.5, "x", true, null], "1": "y"}));
    }
}
