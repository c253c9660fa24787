//! The `benchmark_serving` text block (reference/incumbent.md §6), parsed line by line.
//!
//! Lines are matched by label, not position: labels padded to 40 columns or not, trailing
//! spaces, any order, extra or missing lines, and a prefix before the label (`0: ` from
//! `srun --label`, a logger's timestamp) are all accepted, as the incumbent's unanchored §5
//! regexes accept them. A log may hold several result blocks; each becomes one [`Block`].
//!
//! Block boundaries: the `Serving Benchmark Result` header starts a block; a line of `=` ends
//! it; a known metric line outside a block, or one already seen in the open block, starts a
//! new (headerless) block. The `Namespace(... num_prompts=N ... max_concurrency=C ...)` line
//! and `Maximum request concurrency: C` apply to the next block. Lines that are not known
//! metrics count only inside a headered block (`Label (unit): number` → snake_case name).

use memchr::memmem::Finder;
use perfline::wire::metrics::Counts;
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::LazyLock;

// Built once: every line is checked for these.
static HEADER: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new("Serving Benchmark Result"));
static NAMESPACE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("Namespace("));
static NS_PROMPTS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("num_prompts="));
static NS_CONCURRENCY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new("max_concurrency="));
static NS_ISL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("random_input_len="));
static NS_OSL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("random_output_len="));

/// A metric name or unit: `'static` for the known lines, owned for generic ones.
pub type Name = Cow<'static, str>;

/// How many trailing log lines a block keeps for failed records.
pub const TAIL_LINES: usize = 20;

/// One result block with everything the verdict needs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Block {
    /// Names and units are borrowed for the known lines (no allocation per block).
    pub metrics: BTreeMap<Name, f64>,
    pub units: BTreeMap<Name, Name>,
    pub counts: Counts,
    /// `max_concurrency=` of the namespace or `Maximum request concurrency:`.
    pub concurrency: Option<u64>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    /// What the namespace says was asked, for the validity gates.
    pub requested: crate::gates::Requested,
    /// `!FAILED REQUESTS!`, `!CHECK LOG FOR ERRORS!` as found.
    pub markers: Vec<String>,
    /// Values printed but out of their range ([`count`], [`metric_value`]), kept out of
    /// `metrics` and `counts`: field name → `TEXT (WHY)`, e.g. `nan (not a number)`.
    pub invalid: BTreeMap<String, String>,
    /// 1-based line of the block's first line (0 when not from a text log).
    pub line: usize,
    /// The log lines before the block was finalised (at most [`TAIL_LINES`]); the caller
    /// copies [`TextParser::tail`] here for failed blocks only (most blocks never need it).
    pub log_tail: Vec<String>,
    /// The verdict's reasons when the caller already worked them out (in its context, with
    /// the gen-log value applied): `record::build` then uses them instead of redoing it.
    pub reasons: Option<Vec<String>>,
}

impl Block {
    fn is_empty(&self) -> bool {
        self.metrics.is_empty() && self.counts == Counts::default() && self.invalid.is_empty()
    }
    fn has(&self, key: &Key) -> bool {
        match key {
            Key::Metric(name, _) => {
                self.metrics.contains_key(name.as_ref()) || self.invalid.contains_key(name.as_ref())
            }
            Key::Count(c) => c.get(&self.counts).is_some() || self.invalid.contains_key(c.name()),
            Key::Concurrency => false,
        }
    }
}

/// Streaming parser: feed lines with [`TextParser::line`], collect finished blocks, then call
/// [`TextParser::finish`].
#[derive(Debug, Default)]
pub struct TextParser {
    current: Option<Block>,
    /// The current block is still open (no closing `=====` rule yet).
    open: bool,
    headered: bool,
    pending: Pending,
    tail: VecDeque<String>,
    line_no: usize,
    blocks: usize,
    /// Failure markers seen outside any block (reported when no block is found).
    pub stray_markers: Vec<String>,
}

/// Context printed before a block, applied to the next one.
#[derive(Debug, Default, Clone)]
struct Pending {
    num_prompts: Option<u64>,
    concurrency: Option<u64>,
    isl: Option<u64>,
    osl: Option<u64>,
    requested: crate::gates::Requested,
}

impl TextParser {
    pub fn new() -> TextParser {
        TextParser::default()
    }

    /// Blocks finalised so far (including any returned by `finish`).
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// The last lines seen (before the current one when called right after [`TextParser::line`]
    /// returned a block).
    /// The last lines, each at most [`TAIL_LINE_SHOWN`] characters (a 100 KB line is not
    /// carried whole into a record and the store).
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().map(|l| perfline::cli::shorten(l, TAIL_LINE_SHOWN).into_owned()).collect()
    }

    /// Feeds one line (without its newline); returns a block when one is complete.
    pub fn line(&mut self, raw: &str) -> Option<Block> {
        self.line_no += 1;
        let line = raw.trim_ascii_end();
        let done = self.classify(line);
        // Reuse the oldest line's buffer: no allocation per line once the ring is full.
        let mut slot = if self.tail.len() == TAIL_LINES {
            self.tail.pop_front().unwrap_or_default()
        } else {
            String::new()
        };
        slot.clear();
        slot.push_str(line);
        self.tail.push_back(slot);
        done
    }

    /// Ends the input; returns the last block, if any.
    pub fn finish(&mut self) -> Option<Block> {
        self.finalize()
    }

    fn classify(&mut self, line: &str) -> Option<Block> {
        let bytes = line.as_bytes();
        // Cheap necessary conditions first: the header holds a `v`, the namespace an `N`, and
        // most lines hold neither (a substring search costs more than a byte search).
        let maybe_header = memchr::memchr(b'v', bytes).is_some();
        if maybe_header && HEADER.find(bytes).is_some() {
            let done = self.finalize();
            self.start(true);
            return done;
        }
        let trimmed = line.trim_ascii_start();
        if trimmed.len() >= 10 && trimmed.bytes().all(|b| b == b'=') {
            if self.current.as_ref().is_some_and(|b| !b.is_empty()) {
                self.open = false;
            }
            return None;
        }
        let marker = memchr::memchr(b'!', bytes).and_then(|_| {
            ["!FAILED REQUESTS!", "!CHECK LOG FOR ERRORS!"].into_iter().find(|m| line.contains(m))
        });
        if let Some(marker) = marker {
            match &mut self.current {
                Some(block) => block.markers.push(marker.to_string()),
                None => self.stray_markers.push(marker.to_string()),
            }
            return None;
        }
        if memchr::memchr(b'N', bytes).is_some() && NAMESPACE.find(bytes).is_some() {
            let done = if self.current.is_some() { self.finalize() } else { None };
            self.pending = Pending {
                num_prompts: namespace_u64(line, &NS_PROMPTS),
                concurrency: namespace_u64(line, &NS_CONCURRENCY),
                isl: namespace_u64(line, &NS_ISL),
                osl: namespace_u64(line, &NS_OSL),
                requested: crate::gates::Requested::from_namespace(line),
            };
            return done;
        }
        let (label, value) = split_label(line)?;
        match known_key(label) {
            Some(Key::Concurrency) => {
                let c = value.parse::<u64>().ok()?;
                match &mut self.current {
                    Some(block) if self.open && block.concurrency.is_none() => {
                        block.concurrency = Some(c)
                    }
                    _ => self.pending.concurrency = Some(c),
                }
                None
            }
            Some(key) => self.known(key, value),
            None if self.open && self.headered => {
                let (name, unit) = generic_name(label)?;
                let block = self.current.as_mut()?;
                if name == "mean_ttft_by_turn" {
                    by_turn(block, value.split(',').map(parse_number));
                    return None;
                }
                let unit = unit.or_else(|| trace_unit(&name).map(str::to_string));
                if !block.metrics.contains_key(name.as_str()) {
                    // Not a known metric: a value out of range (`inf` for "Request rate
                    // configured", a negative) is left out, never kept.
                    if let Some(v) = parse_number(value).and_then(|v| metric_value(v).ok()) {
                        let name = Name::Owned(name);
                        block.metrics.insert(name.clone(), v);
                        if let Some(unit) = unit {
                            block.units.insert(name, Name::Owned(unit));
                        }
                    }
                }
                None
            }
            None => None,
        }
    }

    fn known(&mut self, key: Key, value: &str) -> Option<Block> {
        let number = parse_number(value)?;
        let mut done = None;
        let attach_to_closed = !self.open
            && matches!(&key, Key::Metric(n, _) if n == STEP_TIME)
            && self.current.as_ref().is_some_and(|b| !b.has(&key));
        let new_block = !self.open || self.current.as_ref().is_some_and(|b| b.has(&key));
        if !attach_to_closed && new_block {
            done = self.finalize();
            self.start(false);
        }
        let block = self.current.as_mut()?;
        match key {
            Key::Metric(name, unit) => match metric_value(number) {
                Ok(v) => {
                    block.units.insert(name.clone(), Name::Borrowed(unit));
                    block.metrics.insert(name, v);
                }
                Err(why) => {
                    block.invalid.insert(name.into_owned(), format!("{} ({why})", shown(value)));
                }
            },
            Key::Count(count) => {
                if let Err(why) = count.set(&mut block.counts, number) {
                    let shown = shown(value);
                    block.invalid.insert(count.name().to_string(), format!("{shown} ({why})"));
                }
            }
            Key::Concurrency => {}
        }
        done
    }

    fn start(&mut self, headered: bool) {
        let pending = std::mem::take(&mut self.pending);
        self.current = Some(Block {
            counts: Counts { num_prompts: pending.num_prompts, ..Counts::default() },
            concurrency: pending.concurrency,
            isl: pending.isl,
            osl: pending.osl,
            requested: pending.requested,
            line: self.line_no,
            ..Block::default()
        });
        self.open = true;
        self.headered = headered;
    }

    fn finalize(&mut self) -> Option<Block> {
        self.open = false;
        let mut block = self.current.take()?;
        if block.is_empty() {
            // A header with nothing after it: keep its markers for the no-block report.
            self.stray_markers.append(&mut block.markers);
            return None;
        }
        self.blocks += 1;
        Some(block)
    }
}

/// Units of bench's trace-replay lines that print none (`Total cached tokens:`, …).
pub fn trace_unit(name: &str) -> Option<&'static str> {
    match name {
        "total_cached_tokens" => Some("tokens"),
        "sessions" | "turns" => Some("count"),
        "cache_hit_rate" => Some("%"),
        _ => None,
    }
}

/// Turns of bench's `Mean TTFT by turn (ms)` kept as metrics (`mean_ttft_turn_1` …); later
/// turns are left out so a long session cannot flood the record.
pub const MAX_TURNS: usize = 32;

/// bench's mean TTFT by turn → `mean_ttft_turn_{k}` (ms) for k in 1..=[`MAX_TURNS`]; a value
/// that is not a number or out of range is left out (with its field in `invalid`).
pub fn by_turn(block: &mut Block, values: impl Iterator<Item = Option<f64>>) {
    for (k, v) in values.take(MAX_TURNS).enumerate() {
        let name = format!("mean_ttft_turn_{}", k + 1);
        match v.map(|x| (x, metric_value(x))) {
            Some((_, Ok(x))) => {
                block.units.insert(Name::Owned(name.clone()), Name::Borrowed("ms"));
                block.metrics.insert(Name::Owned(name), x);
            }
            Some((x, Err(why))) => {
                block.invalid.insert(name, format!("{x} ({why})"));
            }
            None => {
                block.invalid.insert(name, "not a number".into());
            }
        }
    }
}

/// The gen-worker device step time line the incumbent appends after the block.
pub const STEP_TIME: &str = "mean_gen_worker_per_iter_device_step_time";

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Metric(Cow<'static, str>, &'static str),
    Count(Count),
    Concurrency,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Count {
    Total,
    Successful,
    Failed,
    TotalFailed,
    Duration,
    Input,
    Output,
}

impl Count {
    fn get(self, c: &Counts) -> Option<f64> {
        let u = |v: Option<u64>| v.map(|v| v as f64);
        match self {
            Count::Total => u(c.total_requests),
            Count::Successful => u(c.successful_requests),
            Count::Failed => u(c.failed_requests),
            // The failure block repeats the count: never a reason to start a new block.
            Count::TotalFailed => None,
            Count::Duration => c.duration_s,
            Count::Input => u(c.total_input_tokens),
            Count::Output => u(c.total_output_tokens),
        }
    }
    /// The record field the count goes to.
    fn name(self) -> &'static str {
        match self {
            Count::Total => "total_requests",
            Count::Successful => "successful_requests",
            Count::Failed | Count::TotalFailed => "failed_requests",
            Count::Duration => "duration_s",
            Count::Input => "total_input_tokens",
            Count::Output => "total_output_tokens",
        }
    }
    /// Sets the count, or says why `v` is out of range (and leaves it unset).
    fn set(self, c: &mut Counts, v: f64) -> Result<(), &'static str> {
        if self == Count::Duration {
            c.duration_s = Some(metric_value(v)?);
            return Ok(());
        }
        let int = Some(count(v)?);
        match self {
            Count::Total => c.total_requests = int,
            Count::Successful => c.successful_requests = int,
            Count::Failed => c.failed_requests = int,
            Count::TotalFailed => c.failed_requests = c.failed_requests.or(int),
            Count::Duration => {}
            Count::Input => c.total_input_tokens = int,
            Count::Output => c.total_output_tokens = int,
        }
        Ok(())
    }
}

/// Labels of the fixed lines (suffix-matched, case-sensitive like the incumbent's regexes).
const FIXED: &[(&str, Fixed)] = &[
    ("Total requests", Fixed::Count(Count::Total)),
    ("Successful requests", Fixed::Count(Count::Successful)),
    ("Failed requests", Fixed::Count(Count::Failed)),
    ("Total failed requests", Fixed::Count(Count::TotalFailed)),
    ("Benchmark duration (s)", Fixed::Count(Count::Duration)),
    ("Total input tokens", Fixed::Count(Count::Input)),
    ("Total generated tokens", Fixed::Count(Count::Output)),
    ("Total output tokens", Fixed::Count(Count::Output)),
    ("Request throughput (req/s)", Fixed::Metric("seq_throughput", "req/s")),
    ("Request goodput (req/s)", Fixed::Metric("request_goodput", "req/s")),
    ("Output token throughput (tok/s)", Fixed::Metric("token_throughput", "tok/s")),
    ("Total Token throughput (tok/s)", Fixed::Metric("total_token_throughput", "tok/s")),
    ("User throughput (tok/s)", Fixed::Metric("user_throughput", "tok/s")),
    ("Average Per Iter Device Step Time (ms)", Fixed::Metric(STEP_TIME, "ms")),
    ("Maximum request concurrency", Fixed::Concurrency),
    ("Max request concurrency", Fixed::Concurrency),
];

#[derive(Debug, Clone, Copy)]
enum Fixed {
    Count(Count),
    Metric(&'static str, &'static str),
    Concurrency,
}

/// The incumbent's latency names and their `(ms)` label words.
const LATENCIES: [(&str, &str); 4] =
    [("TTFT", "ttft"), ("TPOT", "tpot"), ("ITL", "itl"), ("E2EL", "e2el")];

fn known_key(label: &str) -> Option<Key> {
    // Latencies first: they are most of a block's lines.
    if let Some(rest) = label.strip_suffix(" (ms)") {
        if let Some((head, word)) = rest.rsplit_once(' ') {
            if let Some((_, name)) = LATENCIES.iter().find(|(w, _)| *w == word) {
                return Some(Key::Metric(latency_name(&stat_prefix(head)?, name), "ms"));
            }
        }
    }
    for (text, fixed) in FIXED {
        if ends_with_word(label, text) {
            return Some(match *fixed {
                Fixed::Count(c) => Key::Count(c),
                Fixed::Metric(name, unit) => Key::Metric(Cow::Borrowed(name), unit),
                Fixed::Concurrency => Key::Concurrency,
            });
        }
    }
    if let Some(head) = label.strip_suffix(" Avg Decoded Tokens per Iter") {
        let stat = stat_prefix(head)?;
        let name = if stat == "mean" { "al".to_string() } else { format!("{stat}_al") };
        return Some(Key::Metric(Cow::Owned(name), "tokens/iter"));
    }
    None
}

/// `{stat}_{name}`, without formatting for the names every block prints.
fn latency_name(stat: &str, name: &'static str) -> Cow<'static, str> {
    const COMMON: [[&str; 4]; 3] = [
        ["mean_ttft", "mean_tpot", "mean_itl", "mean_e2el"],
        ["median_ttft", "median_tpot", "median_itl", "median_e2el"],
        ["p99_ttft", "p99_tpot", "p99_itl", "p99_e2el"],
    ];
    let row = ["mean", "median", "p99"].iter().position(|s| *s == stat);
    let col = LATENCIES.iter().position(|(_, n)| *n == name);
    match (row, col) {
        (Some(r), Some(c)) => Cow::Borrowed(COMMON[r][c]),
        _ => Cow::Owned(format!("{stat}_{name}")),
    }
}

/// The statistic word(s) at the end of `head`: `Mean`, `Median`, `Std Dev`, `Min`, `Max`,
/// `P<p>` (a fractional percentile's `.` becomes `_`: `P99.9` → `p99_9`).
fn stat_prefix(head: &str) -> Option<String> {
    if ends_with_word(head, "Std Dev") {
        return Some("std".into());
    }
    let word = head.rsplit(' ').next()?;
    match word {
        "Mean" => Some("mean".into()),
        "Median" => Some("median".into()),
        "Min" => Some("min".into()),
        "Max" => Some("max".into()),
        _ => {
            let p = word.strip_prefix('P')?;
            let valid = !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && p.parse::<f64>().is_ok_and(|v| v <= 100.0);
            valid.then(|| format!("p{}", p.replace('.', "_")))
        }
    }
}

/// `label` ends with `word`, which starts at the beginning or after a non-alphanumeric byte.
fn ends_with_word(label: &str, word: &str) -> bool {
    // Cheap rejects first: most labels differ in length or in the word's first or last byte.
    let (l, w) = (label.as_bytes(), word.as_bytes());
    if l.len() < w.len() || w.first() != l.get(l.len() - w.len()) || w.last() != l.last() {
        return false;
    }
    label
        .strip_suffix(word)
        .is_some_and(|head| head.as_bytes().last().is_none_or(|b| !b.is_ascii_alphanumeric()))
}

/// Splits `Label: value` at the last colon; the value must be one token.
fn split_label(line: &str) -> Option<(&str, &str)> {
    let colon = memchr::memrchr(b':', line.as_bytes())?;
    // `:` is ASCII, so both sides are on char boundaries.
    let (label, value) = (line.get(..colon)?, line.get(colon + 1..)?.trim_ascii());
    if value.is_empty() || value.bytes().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    Some((label.trim_ascii(), value))
}

/// The largest count accepted: 2^53, the last integer a JSON reader's `f64` holds exactly.
pub const MAX_COUNT: u64 = 1 << 53;
/// The largest metric value accepted (ms, req/s, tok/s, s, …): anything larger is garbage.
pub const MAX_VALUE: f64 = 1e15;

/// A request or token count: a whole number in `0..=MAX_COUNT`, else why not.
pub fn count(v: f64) -> Result<u64, &'static str> {
    if !v.is_finite() {
        Err("not a number")
    } else if v < 0.0 {
        Err("negative")
    } else if v.fract() != 0.0 {
        Err("not a whole number")
    } else if v > MAX_COUNT as f64 {
        Err("too large: over 2^53")
    } else {
        Ok(v as u64)
    }
}

/// A metric value (latency, throughput, duration): finite, in `0..=MAX_VALUE`, else why not.
pub fn metric_value(v: f64) -> Result<f64, &'static str> {
    if !v.is_finite() {
        Err("not a number")
    } else if v < 0.0 {
        Err("negative")
    } else if v > MAX_VALUE {
        Err("too large: over 1e15")
    } else {
        Ok(v)
    }
}

/// A number as printed by Python: ints, floats, `nan`, `inf`, `-inf`.
pub fn parse_number(text: &str) -> Option<f64> {
    let first = *text.as_bytes().first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return match text {
            "nan" | "NaN" => Some(f64::NAN),
            "inf" | "Infinity" => Some(f64::INFINITY),
            "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        };
    }
    text.parse::<f64>().ok()
}

/// A generic `Label (unit)` → (`label`, `unit`), snake_case.
fn generic_name(label: &str) -> Option<(String, Option<String>)> {
    let (name, unit) = match label.strip_suffix(')').and_then(|l| l.rsplit_once(" (")) {
        Some((name, unit)) => (name, Some(unit.to_string())),
        None => (label, None),
    };
    let mut snake = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            snake.push(c.to_ascii_lowercase());
        } else if !snake.ends_with('_') && !snake.is_empty() {
            snake.push('_');
        }
    }
    let snake = snake.trim_end_matches('_').to_string();
    (!snake.is_empty() && snake.len() <= 64).then_some((snake, unit))
}

/// `key=<digits>` inside a printed argparse namespace.
fn namespace_u64(line: &str, key: &Finder) -> Option<u64> {
    let mut from = 0;
    let key_len = key.needle().len();
    while let Some(pos) = key.find(&line.as_bytes()[from..]) {
        let at = from + pos;
        let boundary =
            line[..at].bytes().last().is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'));
        let rest = &line[at + key_len..];
        if boundary {
            let digits: &str = &rest[..rest.bytes().take_while(u8::is_ascii_digit).count()];
            return digits.parse().ok();
        }
        from = at + key_len;
    }
    None
}

/// Parses a whole text.
pub fn parse_all(text: &str) -> (Vec<Block>, TextParser) {
    let mut parser = TextParser::new();
    let mut blocks: Vec<Block> = text.lines().filter_map(|l| parser.line(l)).collect();
    blocks.extend(parser.finish());
    (blocks, parser)
}

/// The most characters of one log-tail line kept in a record.
const TAIL_LINE_SHOWN: usize = 500;

/// A value as echoed in a reason: at most 40 characters (as the JSON reader keeps), so a
/// 100 000-digit "number" does not ride along in every record and error line.
fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    perfline::cli::shorten(value, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_map_to_incumbent_names() {
        let key = |l: &str| known_key(l);
        assert_eq!(key("Mean TTFT (ms)"), Some(Key::Metric("mean_ttft".into(), "ms")));
        assert_eq!(key("Median E2EL (ms)"), Some(Key::Metric("median_e2el".into(), "ms")));
        assert_eq!(key("0: P99.9 E2EL (ms)"), Some(Key::Metric("p99_9_e2el".into(), "ms")));
        assert_eq!(key("Std Dev ITL (ms)"), Some(Key::Metric("std_itl".into(), "ms")));
        assert_eq!(
            key("Mean Avg Decoded Tokens per Iter"),
            Some(Key::Metric("al".into(), "tokens/iter"))
        );
        assert_eq!(key("Total failed requests"), Some(Key::Count(Count::TotalFailed)));
        assert_eq!(key("Failed requests"), Some(Key::Count(Count::Failed)));
        assert_eq!(key("XMean TTFT (ms)"), None);
        assert_eq!(key("P1000 TTFT (ms)"), None);
    }

    #[test]
    fn namespace_values() {
        let ns = "Namespace(backend='openai', num_prompts=8, max_concurrency=4, random_input_len=128, xnum_prompts=9)";
        assert_eq!(namespace_u64(ns, &NS_PROMPTS), Some(8));
        assert_eq!(namespace_u64(ns, &NS_CONCURRENCY), Some(4));
        assert_eq!(namespace_u64("Namespace(max_concurrency=None)", &NS_CONCURRENCY), None);
    }

    #[test]
    fn generic_lines_inside_headered_block_only() {
        let (blocks, _) = parse_all(
            "Peak concurrent requests: 7\n===== Serving Benchmark Result =====\nMean TTFT (ms): 1.5\nTotal Energy (J):   12.5000\nRequest rate configured (RPS): inf\n=====================\nAfter (x): 3\n",
        );
        assert_eq!(blocks.len(), 1);
        let b = &blocks[0];
        assert_eq!(b.metrics.get("total_energy"), Some(&12.5));
        assert_eq!(b.units.get("total_energy").map(|u| u.as_ref()), Some("J"));
        assert!(!b.metrics.contains_key("request_rate_configured"));
        assert!(!b.metrics.contains_key("peak_concurrent_requests"));
        assert!(!b.metrics.contains_key("after"));
    }

    #[test]
    fn generic_lines_out_of_range_are_left_out() {
        // Found by the `text` fuzz target: a padded known label read as a generic line.
        let (blocks, _) = parse_all(
            "===== Serving Benchmark Result =====\nMean TTFT (ms): 1\nP99 ITL      (ms): -.75\nTotal Energy (J): 1e16\nPeak (W): 3\n",
        );
        let got: Vec<_> = blocks[0].metrics.iter().map(|(k, v)| (k.as_ref(), *v)).collect();
        assert_eq!(got, [("mean_ttft", 1.0), ("peak", 3.0)]);
    }

    #[test]
    fn duplicate_metric_starts_new_headerless_block() {
        let (blocks, _) = parse_all("Mean TTFT (ms): 1\nMedian TTFT (ms): 2\nMean TTFT (ms): 3\n");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].metrics.get("mean_ttft"), Some(&3.0));
        assert_eq!(blocks[1].line, 3);
    }

    #[test]
    fn step_time_after_rule_attaches_to_block() {
        let (blocks, _) = parse_all(
            "=== Serving Benchmark Result ===\nMean TTFT (ms): 1\n==================\nAverage Per Iter Device Step Time (ms): 7.25\n",
        );
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].metrics.get(STEP_TIME), Some(&7.25));
    }

    #[test]
    fn nan_is_kept_apart() {
        let (blocks, _) = parse_all("Mean TTFT (ms): nan\nMedian TTFT (ms): 2\n");
        assert_eq!(
            blocks[0].invalid.get("mean_ttft").map(String::as_str),
            Some("nan (not a number)")
        );
        assert!(!blocks[0].metrics.contains_key("mean_ttft"));
    }

    #[test]
    fn out_of_range_values_are_invalid_not_zero() {
        let (blocks, _) = parse_all(
            "Total requests: -3\nSuccessful requests: 1.5\nTotal input tokens: 18446744073709551615\nTotal generated tokens: 1e30\nFailed requests: inf\nBenchmark duration (s): -inf\nMean TTFT (ms): -2.5\nMedian TTFT (ms): 1e300\nP99 TTFT (ms): -Infinity\nMean ITL (ms): 0\n",
        );
        assert_eq!(blocks.len(), 1);
        let b = &blocks[0];
        let got: Vec<(&str, &str)> =
            b.invalid.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("duration_s", "-inf (not a number)"),
                ("failed_requests", "inf (not a number)"),
                ("mean_ttft", "-2.5 (negative)"),
                ("median_ttft", "1e300 (too large: over 1e15)"),
                ("p99_ttft", "-Infinity (not a number)"),
                ("successful_requests", "1.5 (not a whole number)"),
                ("total_input_tokens", "18446744073709551615 (too large: over 2^53)"),
                ("total_output_tokens", "1e30 (too large: over 2^53)"),
                ("total_requests", "-3 (negative)"),
            ]
        );
        assert_eq!(b.counts, Counts::default());
        let metrics: Vec<_> = b.metrics.iter().map(|(k, v)| (k.as_ref(), *v)).collect();
        assert_eq!(metrics, [("mean_itl", 0.0)]);
        assert_eq!(count(9007199254740992.0), Ok(1 << 53));
        assert_eq!(count(0.0), Ok(0));
    }
}
