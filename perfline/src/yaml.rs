//! YAML, behind one module: the only code that names the YAML crate (saphyr-parser, a pure-Rust
//! YAML 1.2 event parser). It builds perfline's own [`Value`] from the parser's events:
//!
//! - scalars resolve as serde_yaml 0.9 resolved them (the YAML 1.2 core schema: `~`, `null`,
//!   empty → null; `true`/`True`/`TRUE`…; `0x`/`0o`/`0b` integers; `.inf`/`.nan`; a leading-zero
//!   digit string like `0123` stays a string), so every real config loads exactly as before
//!   (`tests/data/yaml_json.md5`);
//! - anchors and aliases are resolved (copies, at most [`MAX_ALIAS_NODES`] nodes in all), merge
//!   keys (`<<: *anchor`, `<<: [*a, *b]`) applied at every level, tags dropped (`!!str`,
//!   `!!int`, `!!float`, `!!bool` and `!!null` decide a scalar's type);
//! - errors are `DataErr` `FILE:LINE:COL: invalid YAML: …`, the position taken from the
//!   parser's markers (its API, never its messages); a duplicate key is reported at the key
//!   itself, a multi-line scalar's problems at its first line.

use crate::cli::{Failure, Result};
use crate::exit::Exit;
use indexmap::IndexMap;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Collections nested deeper than this are refused (hostile inputs must not blow the stack).
pub const MAX_DEPTH: usize = 128;
/// Nodes that aliases may copy in one document, in all (alias bombs).
pub const MAX_ALIAS_NODES: usize = 1_000_000;

/// A YAML value: what [`load`] and [`parse`] return.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Sequence(Sequence),
    Mapping(Mapping),
}

/// A YAML sequence.
pub type Sequence = Vec<Value>;

/// A YAML number: an integer that fits `u64` or `i64`, else a float.
#[derive(Clone, Copy, Debug)]
pub struct Number(N);

#[derive(Clone, Copy, Debug)]
enum N {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

/// A YAML mapping, keys in document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mapping(IndexMap<Value, Value>);

/// A line and column (both 1-based, the column in characters) in a YAML text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Value {
    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_mapping()?.get(key)
    }
    pub fn as_mapping(&self) -> Option<&Mapping> {
        match self {
            Value::Mapping(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_mapping_mut(&mut self) -> Option<&mut Mapping> {
        match self {
            Value::Mapping(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_sequence(&self) -> Option<&Sequence> {
        match self {
            Value::Sequence(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn is_mapping(&self) -> bool {
        matches!(self, Value::Mapping(_))
    }
    pub fn is_sequence(&self) -> bool {
        matches!(self, Value::Sequence(_))
    }
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }
}

static NULL: Value = Value::Null;

/// `value["key"]`: the value under `key`, or null (not a mapping, or no such key).
impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[i]`: the `i`th item, or null (not a sequence, or too short).
impl std::ops::Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        self.as_sequence().and_then(|s| s.get(i)).unwrap_or(&NULL)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Number(n) => n.hash(state),
            Value::String(s) => s.hash(state),
            Value::Sequence(s) => s.hash(state),
            // Equal mappings have equal lengths (their order may differ).
            Value::Mapping(m) => m.len().hash(state),
        }
    }
}

impl Number {
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            N::PosInt(u) => Some(u),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            N::PosInt(u) => i64::try_from(u).ok(),
            N::NegInt(i) => Some(i),
            N::Float(_) => None,
        }
    }
    /// Always some: integers convert (possibly rounding).
    pub fn as_f64(&self) -> Option<f64> {
        Some(match self.0 {
            N::PosInt(u) => u as f64,
            N::NegInt(i) => i as f64,
            N::Float(f) => f,
        })
    }
    pub fn is_f64(&self) -> bool {
        matches!(self.0, N::Float(_))
    }
}

impl From<u64> for Number {
    fn from(u: u64) -> Number {
        Number(N::PosInt(u))
    }
}

impl From<f64> for Number {
    fn from(f: f64) -> Number {
        Number(N::Float(f))
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self.0, other.0) {
            (N::PosInt(a), N::PosInt(b)) => a == b,
            (N::NegInt(a), N::NegInt(b)) => a == b,
            // NaN equals NaN, so that a NaN key can be looked up.
            (N::Float(a), N::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            _ => false,
        }
    }
}

impl Hash for Number {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.0 {
            N::PosInt(u) => (0u8, u).hash(state),
            N::NegInt(i) => (1u8, i).hash(state),
            // 0.0 == -0.0 and NaN == NaN: hash them alike.
            N::Float(f) if f.is_nan() => 2u8.hash(state),
            N::Float(f) => (3u8, (f + 0.0).to_bits()).hash(state),
        }
    }
}

/// YAML's spelling: `1`, `-2`, `2.5`, `1e20`, `.inf`, `-.inf`, `.nan`.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            N::PosInt(u) => write!(f, "{u}"),
            N::NegInt(i) => write!(f, "{i}"),
            N::Float(x) if x.is_nan() => f.write_str(".nan"),
            N::Float(x) if x.is_infinite() => f.write_str(if x > 0.0 { ".inf" } else { "-.inf" }),
            N::Float(x) => write!(f, "{x:?}"),
        }
    }
}

impl Mapping {
    pub fn new() -> Mapping {
        Mapping::default()
    }
    /// The value under the string key `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(&Value::String(key.to_string()))
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.get_mut(&Value::String(key.to_string()))
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Inserts or replaces (keeping the key's place); returns the old value.
    pub fn insert(&mut self, key: Value, value: Value) -> Option<Value> {
        self.0.insert(key, value)
    }
    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.shift_remove(&Value::String(key.to_string()))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> indexmap::map::Iter<'_, Value, Value> {
        self.0.iter()
    }
    pub fn iter_mut(&mut self) -> indexmap::map::IterMut<'_, Value, Value> {
        self.0.iter_mut()
    }
    pub fn keys(&self) -> indexmap::map::Keys<'_, Value, Value> {
        self.0.keys()
    }
    pub fn values(&self) -> indexmap::map::Values<'_, Value, Value> {
        self.0.values()
    }
}

impl<'a> IntoIterator for &'a Mapping {
    type Item = (&'a Value, &'a Value);
    type IntoIter = indexmap::map::Iter<'a, Value, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Mapping {
    type Item = (Value, Value);
    type IntoIter = indexmap::map::IntoIter<Value, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(Value, Value)> for Mapping {
    fn from_iter<I: IntoIterator<Item = (Value, Value)>>(iter: I) -> Mapping {
        Mapping(iter.into_iter().collect())
    }
}

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

/// Parses YAML text (one document; none is null); `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Loader::new(text).document().map_err(|e| {
        let why = crate::cli::shorten(&e.why, 200);
        Failure::new(
            Exit::DataErr,
            format!("{source}:{}:{}: invalid YAML: {why}", e.at.line, e.at.column),
        )
    })
}

/// Types a loaded value (through its JSON, [`to_json`]); the error is serde's message.
pub fn from_value<T: serde::de::DeserializeOwned>(value: &Value) -> std::result::Result<T, String> {
    serde_json::from_value(to_json(value)).map_err(|e| e.to_string())
}

/// Looks up a dotted path (`worker_config.ctx.tensor_parallel_size`) in mappings.
pub fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// A key as text: a string as is, another scalar as YAML spells it, a collection as JSON.
pub fn key_text(key: &Value) -> String {
    match key {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => to_json(other).to_string(),
    }
}

/// Converts to JSON; non-string keys become their YAML text, and non-finite floats `null`.
pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.0 {
            N::PosInt(u) => u.into(),
            N::NegInt(i) => i.into(),
            N::Float(f) => {
                serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
            }
        },
        Value::String(s) => s.clone().into(),
        Value::Sequence(seq) => seq.iter().map(to_json).collect(),
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| (key_text(k), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

/// Writes JSON as block-style YAML that reads back (here and in PyYAML's YAML 1.1) as the same
/// value: strings that could read as anything else are double-quoted.
pub fn to_string(value: &serde_json::Value) -> String {
    let mut out = String::new();
    emit(value, 0, &mut out);
    out
}

fn emit(value: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value as J;
    let pad = " ".repeat(indent);
    match value {
        J::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                out.push_str(&pad);
                out.push_str(&scalar_text(&J::String(k.clone())));
                out.push(':');
                match v {
                    J::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        emit(v, indent + 2, out);
                    }
                    J::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        emit(v, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar_text(v));
                        out.push('\n');
                    }
                }
            }
        }
        J::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    J::Object(m) if !m.is_empty() => {
                        // The first key on the dash's line, the others under it.
                        let mut nested = String::new();
                        emit(item, indent + 2, &mut nested);
                        out.push(' ');
                        out.push_str(&nested[indent + 2..]);
                    }
                    J::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        emit(item, indent + 2, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar_text(item));
                        out.push('\n');
                    }
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn scalar_text(value: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match value {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        // `1e+20` is a string to YAML 1.1 (PyYAML): a float needs a dot before its exponent.
        J::Number(n) => match n.to_string() {
            t if t.contains(['e', 'E']) && !t.contains('.') => t.replacen(['e', 'E'], ".0e", 1),
            t => t,
        },
        J::String(s) if plain_is_string(s) => s.clone(),
        // A JSON string is a YAML double-quoted scalar; DEL, the C1 controls (NEL reads as a
        // line break) and U+FFFE/U+FFFF are escaped too.
        J::String(s) => {
            let raw = |c: char| matches!(c, '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}');
            J::String(s.clone()).to_string().chars().fold(String::new(), |mut out, c| {
                if raw(c) {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push(c);
                }
                out
            })
        }
        J::Array(_) => "[]".into(),
        J::Object(_) => "{}".into(),
    }
}

/// True when `s` written plain reads back as this string in YAML 1.2 and 1.1 alike.
fn plain_is_string(s: &str) -> bool {
    const WORDS: [&str; 12] =
        ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf"];
    let first = s.chars().next();
    first.is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str())
        && !s.contains("//")
}

/// Where and why a text is not the YAML we take.
struct Error {
    at: Location,
    why: String,
}

fn at(marker: &saphyr_parser::Marker) -> Location {
    Location { line: marker.line(), column: marker.col() + 1 }
}

fn error(span: &Span, why: impl Into<String>) -> Error {
    Error { at: at(&span.start), why: why.into() }
}

impl From<ScanError> for Error {
    fn from(e: ScanError) -> Error {
        Error { at: at(e.marker()), why: e.info().to_string() }
    }
}

/// Where a node sits, for messages (`x.z`, `l[0]`, `.[1]`), as serde_yaml wrote it.
enum Step {
    Key(String),
    Index(usize),
}

struct Loader<'a> {
    parser: Parser<'a, StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    copied: usize,
    path: Vec<Step>,
}

impl<'a> Loader<'a> {
    fn new(text: &'a str) -> Loader<'a> {
        Loader {
            parser: Parser::new_from_str(text),
            anchors: HashMap::new(),
            copied: 0,
            path: Vec::new(),
        }
    }

    fn next(&mut self) -> std::result::Result<(Event<'a>, Span), Error> {
        match self.parser.next_event() {
            Some(event) => Ok(event?),
            None => Err(Error {
                at: Location { line: 1, column: 1 },
                why: "unexpected end of input".into(),
            }),
        }
    }

    fn document(mut self) -> std::result::Result<Value, Error> {
        let mut value = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(value.unwrap_or(Value::Null)),
                Event::DocumentStart(_) if value.is_some() => {
                    return Err(error(&span, "more than one document (perfline reads one)"));
                }
                Event::DocumentStart(_) => {
                    let (event, span) = self.next()?;
                    value = Some(self.node(event, span, 0)?);
                }
                other => return Err(error(&span, format!("unexpected {other:?}"))),
            }
        }
    }

    fn where_(&self) -> String {
        let mut out = String::new();
        for (i, step) in self.path.iter().enumerate() {
            match step {
                Step::Key(k) if i == 0 => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(n) if i == 0 => out.push_str(&format!(".[{n}]")),
                Step::Index(n) => out.push_str(&format!("[{n}]")),
            }
        }
        out
    }

    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        depth: usize,
    ) -> std::result::Result<Value, Error> {
        let (value, anchor) = match event {
            Event::Alias(id) => {
                let Some(value) = self.anchors.get(&id) else {
                    return Err(error(&span, "unknown anchor"));
                };
                self.copied += size(value);
                if self.copied > MAX_ALIAS_NODES {
                    return Err(error(
                        &span,
                        format!("aliases copy more than {MAX_ALIAS_NODES} nodes"),
                    ));
                }
                return Ok(value.clone());
            }
            Event::Scalar(text, style, anchor, tag) => {
                (scalar(&text, style, tag.as_deref(), &span)?, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                if depth >= MAX_DEPTH {
                    return Err(error(&span, format!("nested deeper than {MAX_DEPTH}")));
                }
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    self.path.push(Step::Index(items.len()));
                    let item = self.node(event, span, depth + 1);
                    self.path.pop();
                    items.push(item?);
                }
                (Value::Sequence(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                if depth >= MAX_DEPTH {
                    return Err(error(&span, format!("nested deeper than {MAX_DEPTH}")));
                }
                (Value::Mapping(self.mapping(depth)?), anchor)
            }
            other => return Err(error(&span, format!("unexpected {other:?}"))),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }

    fn mapping(&mut self, depth: usize) -> std::result::Result<Mapping, Error> {
        let mut map = IndexMap::new();
        let mut merge = None;
        loop {
            let (event, key_span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let key = self.node(event, key_span, depth + 1)?;
            if map.contains_key(&key) {
                let shown = serde_json::Value::String(key_text(&key)).to_string();
                let path = self.where_();
                let sep = if path.is_empty() { "" } else { ": " };
                return Err(error(
                    &key_span,
                    format!("{path}{sep}duplicate entry with key {shown}"),
                ));
            }
            let (event, span) = self.next()?;
            self.path.push(Step::Key(key_text(&key)));
            let value = self.node(event, span, depth + 1);
            self.path.pop();
            let value = value?;
            if key.as_str() == Some("<<") {
                merge = Some((key_span, value.clone()));
            }
            map.insert(key, value);
        }
        let mut map = Mapping(map);
        if let Some((span, with)) = merge {
            // serde_yaml 0.9's order, kept so configs read as before: the last key takes the
            // place of `<<`, merged keys not already present follow.
            map.0.swap_remove(&Value::from("<<"));
            let merged: Vec<Mapping> = match with {
                Value::Mapping(m) => vec![m],
                Value::Sequence(items) => items
                    .into_iter()
                    .map(|v| match v {
                        Value::Mapping(m) => Ok(m),
                        _ => {
                            Err(error(&span, "merge key: expected a mapping or a list of mappings"))
                        }
                    })
                    .collect::<std::result::Result<_, _>>()?,
                _ => {
                    return Err(error(&span, "merge key: expected a mapping or a list of mappings"))
                }
            };
            for m in merged {
                for (k, v) in m {
                    map.0.entry(k).or_insert(v);
                }
            }
        }
        Ok(map)
    }
}

/// Nodes in a value (aliases' cost).
fn size(value: &Value) -> usize {
    1 + match value {
        Value::Sequence(s) => s.iter().map(size).sum(),
        Value::Mapping(m) => m.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

/// A scalar's value: plain ones resolved by the core schema as serde_yaml did, quoted and
/// block ones strings, core tags (`!!int` …) obeyed.
fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: &Span,
) -> std::result::Result<Value, Error> {
    let plain = style == ScalarStyle::Plain;
    let Some(tag) = tag else {
        return Ok(if plain { resolve(text) } else { Value::String(text.to_string()) });
    };
    if !tag.is_yaml_core_schema() {
        // A local tag (`!x`) is dropped; serde_yaml resolved its plain value.
        return Ok(if plain && tag.handle == "!" {
            resolve(text)
        } else {
            Value::String(text.into())
        });
    }
    let typed = |v: Option<Value>, what: &str| {
        v.ok_or_else(|| {
            error(
                span,
                format!(
                    "!!{} {} is not {what}",
                    tag.suffix,
                    serde_json::Value::String(text.into())
                ),
            )
        })
    };
    match tag.suffix.as_str() {
        "bool" => typed(parse_bool(text).map(Value::Bool), "a boolean"),
        "int" => typed(parse_int(text).map(Value::Number), "an integer"),
        "float" => typed(parse_f64(text).map(|f| Value::Number(f.into())), "a float"),
        "null" => typed(is_null(text).then_some(Value::Null), "null"),
        _ => Ok(Value::String(text.to_string())),
    }
}

fn resolve(text: &str) -> Value {
    if text.is_empty() || is_null(text) {
        return Value::Null;
    }
    if let Some(b) = parse_bool(text) {
        return Value::Bool(b);
    }
    if let Some(n) = parse_int(text) {
        return Value::Number(n);
    }
    if !digits_but_not_number(text) {
        if let Some(f) = parse_f64(text) {
            return Value::Number(f.into());
        }
    }
    Value::String(text.to_string())
}

fn is_null(text: &str) -> bool {
    matches!(text, "null" | "Null" | "NULL" | "~")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// serde_yaml's integers: `+`/`-`, `0x`/`0o`/`0b` prefixes, decimal without leading zeros;
/// beyond `u64`/`i64` a float.
fn parse_int(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match digits.get(..2) {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ => (10, digits),
    };
    if digits.starts_with(['+', '-']) || (radix == 10 && digits_but_not_number(text)) {
        return None;
    }
    if negative {
        let n = i128::from_str_radix(digits, radix).ok()?;
        return Some(match i64::try_from(-n) {
            Ok(i) if n != 0 => Number(N::NegInt(i)),
            Ok(_) => Number(N::PosInt(0)),
            Err(_) => Number(N::Float(-(n as f64))),
        });
    }
    let n = u128::from_str_radix(digits, radix).ok()?;
    Some(match u64::try_from(n) {
        Ok(u) => Number(N::PosInt(u)),
        Err(_) => Number(N::Float(n as f64)),
    })
}

fn parse_f64(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    match (unsigned, text) {
        (".inf" | ".Inf" | ".INF", _) => return Some(f64::INFINITY),
        (_, "-.inf" | "-.Inf" | "-.INF") => return Some(f64::NEG_INFINITY),
        (_, ".nan" | ".NaN" | ".NAN") => return Some(f64::NAN),
        _ => {}
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A leading zero followed by digits is a string (YAML 1.2).
fn digits_but_not_number(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    t.len() > 1 && t.starts_with('0') && t[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_and_anchors_apply_at_depth() {
        let v = parse(
            "base: &b {tp: 4, pp: 1}\nworker_config:\n  gen:\n    <<: *b\n    pp: 2\n  spec: &s {k: 3}\n  ctx: {spec: *s}\n  both: {<<: [{a: 1}, {a: 2, b: 3}], c: 4}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(get(&v, "worker_config.gen.tp").and_then(Value::as_u64), Some(4));
        assert_eq!(get(&v, "worker_config.gen.pp").and_then(Value::as_u64), Some(2));
        assert_eq!(get(&v, "worker_config.ctx.spec.k").and_then(Value::as_u64), Some(3));
        // The last key takes the place of `<<`, merged keys follow; earlier merges win.
        let both = to_json(get(&v, "worker_config.both").unwrap());
        assert_eq!(both.to_string(), r#"{"c":4,"a":1,"b":3}"#);
        let v = parse(
            "m: &m {a: 1, b: 2}
x: {<<: *m, c: 3, d: 4, a: 0}
",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(to_json(&v["x"]).to_string(), r#"{"a":0,"c":3,"d":4,"b":2}"#);
        let err = parse("a: {<<: 3}\n", "m.yaml").unwrap_err();
        assert_eq!(
            err.message,
            "m.yaml:1:5: invalid YAML: merge key: expected a mapping or a list of mappings"
        );
    }

    #[test]
    fn scalars_resolve_as_serde_yaml_did() {
        let v = parse(
            "[~, null, '', true, False, 0x1F, -0o17, +5, 0123, -0, 1e3, .inf, -.INF, .nan, '12', !!str 12, !!float 2, !x 7, 1_000, 99999999999999999999, yes, 2.50]",
            "s",
        )
        .unwrap();
        let json = to_json(&v).to_string();
        assert_eq!(
            json,
            r#"[null,null,"",true,false,31,-15,5,"0123",0,1000.0,null,null,null,"12","12",2.0,7,"1_000",1e+20,"yes",2.5]"#
        );
        let items = v.as_sequence().unwrap();
        assert_eq!(items[11].as_f64(), Some(f64::INFINITY));
        assert!(items[13].as_f64().unwrap().is_nan());
        assert_eq!(items[12].to_owned(), Value::Number(f64::NEG_INFINITY.into()));
        let err = parse("x: !!int ten\n", "s.yaml").unwrap_err();
        assert_eq!(err.message, "s.yaml:1:4: invalid YAML: !!int \"ten\" is not an integer");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let err = parse("a: 1\nb: [1, 2\n", "x.yaml").unwrap_err();
        assert_eq!(err.exit, Exit::DataErr);
        assert!(err.message.starts_with("x.yaml:3:1: invalid YAML: "), "{}", err.message);
        assert!(!err.message.contains('\n'));
        let err = parse("a: 1\n---\nb: 2\n", "d.yaml").unwrap_err();
        assert_eq!(
            err.message,
            "d.yaml:2:1: invalid YAML: more than one document (perfline reads one)"
        );
        let err = parse("a: *nope\n", "u.yaml").unwrap_err();
        assert_eq!(
            err.message,
            "u.yaml:1:4: invalid YAML: while parsing node, found unknown anchor"
        );
        assert_eq!(parse("", "e").unwrap(), Value::Null);
        assert_eq!(parse("# only a comment\n", "e").unwrap(), Value::Null);
    }

    #[test]
    fn hostile_nesting_and_alias_bombs_are_refused() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let err = parse(&deep, "n").unwrap_err();
        assert_eq!(
            err.message,
            format!("n:1:{}: invalid YAML: nested deeper than 128", MAX_DEPTH + 1)
        );
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            bomb += &format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n");
        }
        let err = parse(&bomb, "b").unwrap_err();
        assert!(err.message.starts_with("b:6:"), "{}", err.message);
        assert!(err.message.ends_with("aliases copy more than 1000000 nodes"), "{}", err.message);
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
            // A multi-line quoted key is reported at its first line.
            (
                "? \"a\n  b\"\n: 1\n? \"a\n  b\"\n: 2\n",
                "x.yaml:4:3: invalid YAML: duplicate entry with key \"a b\"",
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

    #[test]
    fn writes_yaml_that_reads_back() {
        let value = serde_json::json!({
            "backend": "pytorch", "tp": 4, "ratio": 0.5, "on": true, "none": null,
            "words": ["yes", "No", "", " pad", "a: b", "#x", "12", "0123", "1e3", "-", "a//b", "ok/path-1.2", "del\u{7f}\u{9f}\u{85}é\u{1b}"], "big": 1e20, "small": -2.5e-7,
            "servers": {"urls": ["h:1", "h:2"], "num_instances": 2, "empty": [], "nothing": {}},
            "list": [{"a": 1, "b": {"c": [1, [2, 3]]}}, [4], "multi\nline"],
            "odd key: #": 1
        });
        let text = to_string(&value);
        assert_eq!(to_json(&parse(&text, "w").unwrap()), value, "{text}");
        assert!(
            text.starts_with("backend: pytorch\ntp: 4\nratio: 0.5\n\"on\": true\nnone: null\n"),
            "{text}"
        );
        assert!(text.contains("servers:\n  urls:\n  - \"h:1\"\n"), "{text}");
        assert!(text.contains("- \"del\\u007f\\u009f\\u0085é\\u001b\"\n"), "{text}");
        assert!(text.contains("big: 1.0e+20\nsmall: -2.5e-7\n"), "{text}");
        assert!(
            text.contains("list:\n- a: 1\n  b:\n    c:\n    - 1\n    -\n      - 2\n"),
            "{text}"
        );
    }

    #[test]
    fn types_a_value_through_serde() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct P {
            name: String,
            gpus: Option<u32>,
        }
        let v = parse("name: x\ngpus: 4\n", "p").unwrap();
        assert_eq!(from_value::<P>(&v).unwrap(), P { name: "x".into(), gpus: Some(4) });
        let v = parse("name: x\ncpus: 4\n", "p").unwrap();
        assert_eq!(
            from_value::<P>(&v).unwrap_err(),
            "unknown field `cpus`, expected `name` or `gpus`"
        );
    }
}
