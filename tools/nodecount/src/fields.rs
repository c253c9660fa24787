//! Typed access to config fields. Every error names the field by its dotted path
//! (`worker_config.gen.tensor_parallel_size`, `server_configs[2].name`) and shows the value.

use perfline::yaml::{Mapping, Value};
use std::fmt;

/// A config field that is missing or has the wrong type or range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the field; empty for the whole document.
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError { field: field.into(), reason: reason.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

pub type Result<T> = std::result::Result<T, ConfigError>;

/// A mapping of the config together with its dotted path, for error messages.
#[derive(Clone)]
pub struct Section<'a> {
    pub map: &'a Mapping,
    pub path: String,
}

/// Shows a value the way the user wrote it, short: `"x"`, `4.5`, `null`, `a list`.
pub fn show(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            let ell = if short.len() < s.len() { "…" } else { "" };
            serde_json::Value::String(format!("{short}{ell}")).to_string()
        }
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
    }
}

impl<'a> Section<'a> {
    /// The document root, which must be a mapping.
    pub fn root(value: &'a Value) -> Result<Section<'a>> {
        match value {
            Value::Mapping(map) => Ok(Section { map, path: String::new() }),
            other => Err(ConfigError::new("", format!("must be a mapping, got {}", show(other)))),
        }
    }

    /// The dotted path of `key` inside this section.
    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`, `None` when absent (a `null` value is present).
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// A required sub-mapping.
    pub fn section(&self, key: &str) -> Result<Section<'a>> {
        match self.get(key) {
            Some(Value::Mapping(map)) => Ok(Section { map, path: self.field(key) }),
            Some(other) => Err(ConfigError::new(
                self.field(key),
                format!("must be a mapping, got {}", show(other)),
            )),
            None => Err(ConfigError::new(self.field(key), "required section is missing")),
        }
    }

    /// An optional sub-mapping (`null` counts as absent).
    pub fn opt_section(&self, key: &str) -> Result<Option<Section<'a>>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.section(key).map(Some),
        }
    }

    /// An optional integer in `min..=u32::MAX`.
    pub fn opt_u32(&self, key: &str, min: u32) -> Result<Option<u32>> {
        self.get(key)
            .map(|v| as_u32(v, min).map_err(|r| ConfigError::new(self.field(key), r)))
            .transpose()
    }

    /// A required integer in `min..=u32::MAX`.
    pub fn req_u32(&self, key: &str, min: u32) -> Result<u32> {
        self.opt_u32(key, min)?
            .ok_or_else(|| ConfigError::new(self.field(key), "required field is missing"))
    }

    /// An optional integer ≥ `min`.
    pub fn opt_u64(&self, key: &str, min: u64) -> Result<Option<u64>> {
        self.get(key)
            .map(|v| as_u64(v, min).map_err(|r| ConfigError::new(self.field(key), r)))
            .transpose()
    }

    /// An optional string (`null` counts as absent).
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        self.opt_as(key, "a string", |v| match v {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// An optional boolean (`null` counts as absent).
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.opt_as(key, "true or false", |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })
    }

    /// An optional number in `0..=1` (a ratio).
    pub fn opt_ratio(&self, key: &str) -> Result<Option<f64>> {
        self.opt_as(key, "a number between 0 and 1", |v| match v {
            Value::Number(n) => n.as_f64().filter(|r| (0.0..=1.0).contains(r)),
            _ => None,
        })
    }

    /// An optional value that `pick` takes (`null` counts as absent); any other is an error
    /// saying it `must be {want}`.
    fn opt_as<T>(
        &self,
        key: &str,
        want: &str,
        pick: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => pick(v).map(Some).ok_or_else(|| {
                ConfigError::new(self.field(key), format!("must be {want}, got {}", show(v)))
            }),
        }
    }

    /// `K=V` words of an environment string, split like a shell would (`"K=a b"` is one
    /// word); absent or `null` → none.
    pub fn env_words(&self, key: &str) -> Result<Vec<String>> {
        let Some(text) = self.opt_str(key)? else { return Ok(Vec::new()) };
        let words = shlex::split(text)
            .ok_or_else(|| ConfigError::new(self.field(key), "has an unterminated quote"))?;
        for word in &words {
            if !word.split_once('=').is_some_and(|(name, _)| is_env_name(name)) {
                return Err(ConfigError::new(
                    self.field(key),
                    format!("{} is not a NAME=VALUE word", show(&Value::String(word.clone()))),
                ));
            }
        }
        Ok(words)
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An integer in `min..=u32::MAX`, or the reason it is not.
pub fn as_u32(value: &Value, min: u32) -> std::result::Result<u32, String> {
    match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
        Some(n) if n >= min => Ok(n),
        _ if value.as_u64().is_some_and(|n| n > u64::from(u32::MAX)) => {
            Err(format!("must be an integer between {min} and {}, got {}", u32::MAX, show(value)))
        }
        _ => Err(format!("must be an integer ≥ {min}, got {}", show(value))),
    }
}

/// An integer ≥ `min`, or the reason it is not.
pub fn as_u64(value: &Value, min: u64) -> std::result::Result<u64, String> {
    match value.as_u64() {
        Some(n) if n >= min => Ok(n),
        _ => Err(format!("must be an integer ≥ {min}, got {}", show(value))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Value {
        perfline::yaml::parse(text, "t.yaml").unwrap()
    }

    #[test]
    fn optional_strings_booleans_and_ratios_name_what_they_must_be() {
        let v = doc(
            "s: x\nb: true\nr: 0.5\nn: null\nbad_s: 3\nbad_b: yes please\nbig_r: 2\nlist_r: [1]\n",
        );
        let s = Section::root(&v).unwrap();
        assert_eq!(
            (s.opt_str("s"), s.opt_bool("b"), s.opt_ratio("r")),
            (Ok(Some("x")), Ok(Some(true)), Ok(Some(0.5)))
        );
        assert_eq!(
            (s.opt_str("n"), s.opt_bool("n"), s.opt_ratio("n")),
            (Ok(None), Ok(None), Ok(None))
        );
        assert_eq!(
            (s.opt_str("zz"), s.opt_bool("zz"), s.opt_ratio("zz")),
            (Ok(None), Ok(None), Ok(None))
        );
        assert_eq!(s.opt_str("bad_s").unwrap_err().to_string(), "bad_s: must be a string, got 3");
        assert_eq!(
            s.opt_bool("bad_b").unwrap_err().to_string(),
            "bad_b: must be true or false, got \"yes please\""
        );
        assert_eq!(
            s.opt_ratio("big_r").unwrap_err().to_string(),
            "big_r: must be a number between 0 and 1, got 2"
        );
        assert_eq!(
            s.opt_ratio("list_r").unwrap_err().reason,
            "must be a number between 0 and 1, got a list"
        );
    }

    #[test]
    fn integers_are_checked_with_field_and_value() {
        let v = doc("a: 4\nb: x\nc: 0\nd: 2.5\ne: null\nf: 99999999999\ng: -1\n");
        let s = Section::root(&v).unwrap();
        assert_eq!(s.req_u32("a", 1), Ok(4));
        assert_eq!(
            s.req_u32("b", 1).unwrap_err().to_string(),
            "b: must be an integer ≥ 1, got \"x\""
        );
        assert_eq!(s.req_u32("c", 1).unwrap_err().to_string(), "c: must be an integer ≥ 1, got 0");
        assert_eq!(s.req_u32("c", 0), Ok(0));
        assert_eq!(s.req_u32("d", 1).unwrap_err().reason, "must be an integer ≥ 1, got 2.5");
        assert_eq!(s.req_u32("e", 1).unwrap_err().reason, "must be an integer ≥ 1, got null");
        assert_eq!(
            s.req_u32("f", 1).unwrap_err().reason,
            "must be an integer between 1 and 4294967295, got 99999999999"
        );
        assert_eq!(s.req_u32("g", 0).unwrap_err().reason, "must be an integer ≥ 0, got -1");
        assert_eq!(s.req_u32("zz", 1).unwrap_err().reason, "required field is missing");
        assert_eq!(s.opt_u32("zz", 1), Ok(None));
    }

    #[test]
    fn sections_strings_bools_ratios() {
        let v = doc("hw: {n: 1}\nlist: [1]\ns: x\nb: yes\nr: 1.5\nq: 0.8\n");
        let s = Section::root(&v).unwrap();
        let hw = s.section("hw").unwrap();
        assert_eq!(hw.field("n"), "hw.n");
        assert_eq!(
            s.section("list").err().unwrap().to_string(),
            "list: must be a mapping, got a list"
        );
        assert_eq!(
            s.section("nope").err().unwrap().to_string(),
            "nope: required section is missing"
        );
        assert_eq!(s.opt_str("s"), Ok(Some("x")));
        assert_eq!(s.opt_str("hw").unwrap_err().reason, "must be a string, got a mapping");
        // YAML 1.2: `yes` is a string, not a boolean.
        assert_eq!(s.opt_bool("b").unwrap_err().reason, "must be true or false, got \"yes\"");
        assert_eq!(s.opt_ratio("q"), Ok(Some(0.8)));
        assert_eq!(
            s.opt_ratio("r").unwrap_err().reason,
            "must be a number between 0 and 1, got 1.5"
        );
        assert!(Section::root(&doc("[1]")).is_err());
    }

    #[test]
    fn env_words_must_be_name_value() {
        let v = doc(
            "ok: A=1  B_2=x=y C= \"P=ignore::D:c.d\" 'Q=a b'\nbad: \"A=1 $(x)=2\"\nnone: null\nq: \"A='1\"\n",
        );
        let s = Section::root(&v).unwrap();
        assert_eq!(
            s.env_words("ok").unwrap(),
            ["A=1", "B_2=x=y", "C=", "P=ignore::D:c.d", "Q=a b"]
        );
        assert_eq!(s.env_words("q").unwrap_err().to_string(), "q: has an unterminated quote");
        assert_eq!(s.env_words("none").unwrap(), Vec::<String>::new());
        assert_eq!(s.env_words("bad").unwrap_err().reason, "\"$(x)=2\" is not a NAME=VALUE word");
    }
}
