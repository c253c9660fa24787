//! Mooncake traces (`--dataset-name mooncake`): one JSON object a line with `timestamp` (ms;
//! replay counts from the trace's earliest timestamp, so epoch-stamped traces work as they are), `input_length` and `output_length` (tokens), `hash_ids` (one id per block of
//! `--block-size` tokens) and an optional `session_id` (a string or an integer). A later turn
//! of a session may give `delay` (ms after the session's previous turn) instead of `timestamp`,
//! as AIPerf's multi-turn Mooncake traces do.
//!
//! Each hash id stands for one fixed block of tokens, made from the id alone (and `--seed`),
//! so requests that share hash ids share exact token prefixes: token ids where the server
//! flavour takes them, else words that are one token each (`--tokenizer`'s vocabulary when
//! given, so the text is of exact token length). The last block of a request is cut when
//! `input_length` is not a multiple of the block size; tokens beyond the hash ids are the
//! request's own.
//!
//! Requests of one session are its turns, sent in timestamp order (see [`Chain`]).

use crate::dataset::Prompt;
use crate::tokenizer::Tok;
use perfline::Failure;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One line of the trace, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line in the file.
    pub line: usize,
    pub timestamp_ms: f64,
    pub input_length: usize,
    pub output_length: usize,
    pub hash_ids: Vec<u64>,
    pub session_id: Option<String>,
}

/// The longest prompt or output of one trace row, in tokens.
const MAX_LEN: u64 = 10_000_000;

/// A trace file's text: UTF-8, a leading byte-order mark dropped; else a data error naming the
/// first line that is not UTF-8.
pub fn decode<'a>(bytes: &'a [u8], source: &str) -> Result<&'a str, Failure> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        Failure::data(format!("{source}:{line}: not UTF-8 text"))
    })
}

/// Parses and checks a Mooncake JSONL file: bad JSON, a missing field, a negative or
/// non-integer length, a bad hash id or session id is a data error naming `FILE:LINE` and the
/// field. Blank lines are skipped. At most `cap` rows are kept (`--num-prompts`).
pub fn parse(text: &str, source: &str, cap: Option<usize>) -> Result<Vec<Row>, Failure> {
    let mut rows = Vec::new();
    // Each session's last timestamp, for turns given by `delay` (AIPerf's multi-turn form).
    let mut last_ts: HashMap<String, f64> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if cap.is_some_and(|c| rows.len() >= c) {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let at = |why: String| Failure::data(format!("{source}:{}: {why}", i + 1));
        let v: Value = perfline::jsonl::parse(line).map_err(|f| at(f.message))?;
        if !v.is_object() {
            return Err(at("not a JSON object".into()));
        }
        let field = |k: &str| {
            v.get(k).filter(|x| !x.is_null()).ok_or_else(|| at(format!("`{k}` is missing")))
        };
        let session_id = match v.get("session_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 && is_header_safe(s) => {
                Some(s.clone())
            }
            Some(n @ Value::Number(_)) if whole(n).is_some() => whole(n).map(|n| n.to_string()),
            Some(x) => {
                return Err(at(format!(
                    "`session_id` must be an integer or a printable string of 1..=256 \
                     characters: {x}"
                )))
            }
        };
        // A later turn may give `delay` (ms after the previous turn) instead of `timestamp`.
        let prev = session_id.as_ref().and_then(|s| last_ts.get(s)).copied();
        let (key, base) = match (v.get("timestamp").filter(|x| !x.is_null()), prev) {
            (None, Some(p)) if v.get("delay").is_some_and(|d| !d.is_null()) => ("delay", p),
            _ => ("timestamp", 0.0),
        };
        let ts = field(key)?;
        let timestamp_ms = match ts.as_f64() {
            Some(t) if (0.0..=1e15).contains(&t) => base + t,
            Some(t) if t < 0.0 => return Err(at(format!("`{key}` is negative: {ts}"))),
            _ => return Err(at(format!("`{key}` is not a number of ms >= 0: {ts}"))),
        };
        if let Some(s) = &session_id {
            last_ts.insert(s.clone(), timestamp_ms);
        }
        let length = |k: &str, min: u64| -> Result<usize, Failure> {
            let x = field(k)?;
            match whole(x) {
                Some(n) if n < 0 => Err(at(format!("`{k}` is negative: {n}"))),
                Some(n) if (i128::from(min)..=i128::from(MAX_LEN)).contains(&n) => Ok(n as usize),
                Some(n) => Err(at(format!("`{k}` {n}: must be in {min}..={MAX_LEN}"))),
                None => Err(at(format!("`{k}` is not a whole number of tokens: {x}"))),
            }
        };
        let input_length = length("input_length", 1)?;
        let output_length = length("output_length", 0)?;
        let hash_ids = match field("hash_ids")? {
            Value::Array(ids) => ids
                .iter()
                .enumerate()
                .map(|(j, h)| match whole(h) {
                    Some(n) if n < 0 => Err(at(format!("`hash_ids[{j}]` is negative: {n}"))),
                    Some(n) if n <= i128::from(u64::MAX) => Ok(n as u64),
                    _ => Err(at(format!("`hash_ids[{j}]` is not a whole number: {h}"))),
                })
                .collect::<Result<Vec<u64>, Failure>>()?,
            x => return Err(at(format!("`hash_ids` is not a list: {x}"))),
        };
        rows.push(Row {
            line: i + 1,
            timestamp_ms,
            input_length,
            output_length,
            hash_ids,
            session_id,
        });
    }
    if rows.is_empty() {
        return Err(Failure::data(format!("{source}: no requests in the trace")));
    }
    Ok(rows)
}

/// `x` as an integer when it is one: written as such, or as a float without a fraction
/// (`512.0`, as Python and pandas write traces) below 2^53, where floats are still exact.
fn whole(x: &Value) -> Option<i128> {
    match (x.as_i64(), x.as_u64(), x.as_f64()) {
        (Some(n), _, _) => Some(i128::from(n)),
        (_, Some(n), _) => Some(i128::from(n)),
        (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Some(f as i128),
        _ => None,
    }
}

/// Visible ASCII and spaces only: the session id goes into an HTTP header.
fn is_header_safe(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Index of the row in the trace (its outcome's slot in trace order).
    pub index: usize,
    /// Due time: the row's timestamp (scaled by `--trace-speed`), from the run's start.
    pub at: Duration,
    /// The trace's gap since the previous turn of the session (scaled); zero for the first.
    pub gap: Duration,
    /// Blocks shared with the previous turn (common prefix of hash ids): with the chat backend
    /// the new user message starts after them.
    pub shared_blocks: usize,
}

/// A session's turns in timestamp order, or a single request without a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub session: Option<Arc<str>>,
    pub turns: Vec<Turn>,
}

/// Groups `rows` into chains (sessions in order of their first turn, requests without a
/// session as chains of one) with times scaled by `speed` (2.0 = twice as fast). Times count
/// from the trace's earliest timestamp, so a trace stamped in Unix-epoch milliseconds replays
/// from its first request instead of waiting until that date.
pub fn chains(rows: &[Row], speed: f64) -> Vec<Chain> {
    let t0 = rows.iter().map(|r| r.timestamp_ms).fold(f64::INFINITY, f64::min);
    let t0 = if t0.is_finite() { t0 } else { 0.0 };
    let scale = |ms: f64| Duration::from_secs_f64((ms / 1000.0 / speed).max(0.0));
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[a].timestamp_ms.total_cmp(&rows[b].timestamp_ms));
    let mut chains: Vec<Chain> = Vec::new();
    let mut by_session: HashMap<&str, usize> = HashMap::new();
    for i in order {
        let row = &rows[i];
        let turn = Turn {
            index: i,
            at: scale(row.timestamp_ms - t0),
            gap: Duration::ZERO,
            shared_blocks: 0,
        };
        match &row.session_id {
            Some(s) => match by_session.get(s.as_str()) {
                Some(&c) => {
                    let chain = &mut chains[c];
                    let prev = &rows[chain.turns.last().map_or(i, |t| t.index)];
                    let shared =
                        prev.hash_ids.iter().zip(&row.hash_ids).take_while(|(a, b)| a == b).count();
                    chain.turns.push(Turn {
                        gap: scale(row.timestamp_ms - prev.timestamp_ms),
                        shared_blocks: shared,
                        ..turn
                    });
                }
                None => {
                    by_session.insert(s, chains.len());
                    chains.push(Chain { session: Some(Arc::from(s.as_str())), turns: vec![turn] });
                }
            },
            None => chains.push(Chain { session: None, turns: vec![turn] }),
        }
    }
    chains
}

/// How prompt tokens are written.
#[derive(Debug, Clone)]
pub enum Tokens {
    /// Token ids (completions on a flavour that takes them).
    Ids,
    /// Words that are one token each, joined by single spaces.
    Words(Arc<Vec<String>>),
}

/// Token ids are drawn from this range (as `dataset`'s random ids).
const TOKEN_IDS: std::ops::Range<u32> = 1000..30000;

/// Common words, about one token each, when there is no tokenizer.
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "it", "for", "on", "with", "as", "at", "by", "from",
    "this", "that", "be", "are", "was", "or", "an", "not", "but", "all", "can", "one", "time",
    "we", "you", "they", "have", "has", "more", "will", "so", "if", "no", "out", "up", "what",
];

impl Tokens {
    /// Words without a tokenizer (about one token each).
    pub fn plain_words() -> Tokens {
        Tokens::Words(Arc::new(WORDS.iter().map(|w| w.to_string()).collect()))
    }

    /// Words of `tok`'s vocabulary that encode to exactly one token alone, after a space and
    /// in a pair, so a text of n such words joined by spaces is n tokens. `None` when the
    /// vocabulary has fewer than 16 such words.
    pub fn tokenizer_words(tok: &Tok) -> Option<Tokens> {
        let mut words = Vec::new();
        for w in tok.words() {
            if words.len() >= 4096 {
                break;
            }
            let ok = (2..=10).contains(&w.len())
                && w.bytes().all(|b| b.is_ascii_lowercase())
                && tok.count(&w) == 1
                && tok.count(&format!(" {w}")) == 1
                && tok.count(&format!("{w} {w}")) == 2;
            if ok {
                words.push(w);
            }
        }
        (words.len() >= 16).then(|| Tokens::Words(Arc::new(words)))
    }
}

/// Makes the prompts of trace rows: each hash id is one fixed block.
#[derive(Debug, Clone)]
pub struct Blocks {
    pub tokens: Tokens,
    pub block_size: usize,
    pub seed: u64,
}

/// splitmix64: spreads (seed, kind, key) over the seed space of a block's generator.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Blocks {
    /// Generator of the block of hash id `h` (kind 0) or of row `r`'s own tokens (kind 1).
    fn rng(&self, kind: u64, key: u64) -> StdRng {
        StdRng::seed_from_u64(mix(mix(self.seed ^ (kind << 62)) ^ key))
    }

    /// Token positions `from..to` of `row`'s prompt, as token ids or word indices.
    fn units(&self, row: &Row, from: usize, to: usize, n_units: u32) -> Vec<u32> {
        let bs = self.block_size;
        let mut out = Vec::with_capacity(to.saturating_sub(from));
        let mut pos = from;
        while pos < to {
            let b = pos / bs;
            let (mut rng, skip) = match row.hash_ids.get(b) {
                Some(&h) => (self.rng(0, h), pos - b * bs),
                // Beyond the hash ids: the row's own tokens, one stream from the first such
                // position.
                None => {
                    let first = row.hash_ids.len() * bs;
                    (self.rng(1, row.line as u64), pos - first)
                }
            };
            let end = match row.hash_ids.get(b) {
                Some(_) => ((b + 1) * bs).min(to),
                None => to,
            };
            let draw = |rng: &mut StdRng| match &self.tokens {
                Tokens::Ids => rng.gen_range(TOKEN_IDS),
                Tokens::Words(_) => rng.gen_range(0..n_units),
            };
            for _ in 0..skip {
                draw(&mut rng);
            }
            for _ in pos..end {
                out.push(draw(&mut rng));
            }
            pos = end;
        }
        out
    }

    /// Tokens `from..input_length` of `row`'s prompt (the whole prompt from 0).
    pub fn prompt(&self, row: &Row, from: usize) -> Prompt {
        let to = row.input_length;
        let from = from.min(to);
        match &self.tokens {
            Tokens::Ids => Prompt::Ids(self.units(row, from, to, 0)),
            Tokens::Words(words) => {
                let idx = self.units(row, from, to, words.len() as u32);
                let mut s = String::with_capacity(idx.len() * 6);
                for (k, i) in idx.iter().enumerate() {
                    if k > 0 {
                        s.push(' ');
                    }
                    s.push_str(&words[*i as usize]);
                }
                Prompt::Text(s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: usize, ts: f64, len: usize, ids: &[u64], session: Option<&str>) -> Row {
        Row {
            line,
            timestamp_ms: ts,
            input_length: len,
            output_length: 4,
            hash_ids: ids.to_vec(),
            session_id: session.map(str::to_string),
        }
    }

    #[test]
    fn parses_and_names_bad_lines_and_fields() {
        let text = "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 2, \"hash_ids\": [1, 2]}\n\n\
                    {\"timestamp\": 12.5, \"input_length\": 3, \"output_length\": 0, \"hash_ids\": [], \"session_id\": 7}\n";
        let rows = parse(text, "t.jsonl", None).unwrap();
        assert_eq!(rows[0], row(1, 0.0, 5, &[1, 2], None).with_output(2));
        assert_eq!(rows[1], row(3, 12.5, 3, &[], Some("7")).with_output(0));
        assert_eq!(parse(text, "t.jsonl", Some(1)).unwrap().len(), 1);
        // Whole numbers written as floats (Python, pandas) and unknown fields are fine.
        let floats = "{\"timestamp\": 1.5, \"input_length\": 20.0, \"output_length\": 3.0, \
                      \"hash_ids\": [1.0, 2], \"session_id\": 7.0, \"type\": \"text\", \"x\": {}}\n";
        let rows = parse(floats, "t.jsonl", None).unwrap();
        assert_eq!(rows, [row(1, 1.5, 20, &[1, 2], Some("7")).with_output(3)]);
        for (bad, why) in [
            ("{oops", "t.jsonl:1: invalid record: key must be a string (column 2)"),
            ("[1]", "t.jsonl:1: not a JSON object"),
            ("{\"input_length\":1,\"output_length\":1,\"hash_ids\":[]}", "t.jsonl:1: `timestamp` is missing"),
            ("{\"timestamp\":-1,\"input_length\":1,\"output_length\":1,\"hash_ids\":[]}", "t.jsonl:1: `timestamp` is negative: -1"),
            ("{\"timestamp\":0,\"input_length\":-3,\"output_length\":1,\"hash_ids\":[]}", "t.jsonl:1: `input_length` is negative: -3"),
            ("{\"timestamp\":0,\"input_length\":0,\"output_length\":1,\"hash_ids\":[]}", "t.jsonl:1: `input_length` 0: must be in 1..=10000000"),
            ("{\"timestamp\":0,\"input_length\":2.5,\"output_length\":1,\"hash_ids\":[]}", "t.jsonl:1: `input_length` is not a whole number of tokens: 2.5"),
            ("{\"timestamp\":0,\"input_length\":1,\"hash_ids\":[]}", "t.jsonl:1: `output_length` is missing"),
            ("{\"timestamp\":0,\"input_length\":1,\"output_length\":1}", "t.jsonl:1: `hash_ids` is missing"),
            ("{\"timestamp\":0,\"input_length\":1,\"output_length\":1,\"hash_ids\":[3,-1]}", "t.jsonl:1: `hash_ids[1]` is negative: -1"),
            ("{\"timestamp\":0,\"input_length\":1,\"output_length\":1,\"hash_ids\":[3,1.5]}", "t.jsonl:1: `hash_ids[1]` is not a whole number: 1.5"),
            ("{\"timestamp\":0,\"input_length\":-2.0,\"output_length\":1,\"hash_ids\":[]}", "t.jsonl:1: `input_length` is negative: -2"),
            ("{\"timestamp\":0,\"input_length\":1,\"output_length\":1,\"hash_ids\":[],\"session_id\":1.5}", "t.jsonl:1: `session_id` must be an integer or a printable string of 1..=256 characters: 1.5"),
            ("{\"timestamp\":0,\"input_length\":1,\"output_length\":1,\"hash_ids\":[],\"session_id\":[1]}", "t.jsonl:1: `session_id` must be an integer or a printable string of 1..=256 characters: [1]"),
        ] {
            let e = parse(&format!("{bad}\n"), "t.jsonl", None).unwrap_err();
            assert_eq!((e.exit, e.message.as_str()), (perfline::Exit::DataErr, why), "{bad}");
        }
        let e = parse("\n\n", "t.jsonl", None).unwrap_err();
        assert_eq!(e.message, "t.jsonl: no requests in the trace");
    }

    #[test]
    fn epoch_stamped_traces_replay_from_their_first_request() {
        let text = "{\"timestamp\": 1733480000500, \"input_length\": 4, \"output_length\": 1, \"hash_ids\": [1]}\n\
                    {\"timestamp\": 1733480000000, \"input_length\": 4, \"output_length\": 1, \"hash_ids\": [1]}\n";
        let rows = parse(text, "t.jsonl", None).unwrap();
        let at: Vec<u128> = chains(&rows, 2.0).iter().map(|c| c.turns[0].at.as_millis()).collect();
        assert_eq!(at, [0, 250]);
    }

    #[test]
    fn later_turns_may_give_a_delay_instead_of_a_timestamp() {
        let text = "{\"session_id\": \"s\", \"timestamp\": 100, \"input_length\": 4, \"output_length\": 1, \"hash_ids\": [1]}\n\
                    {\"session_id\": \"s\", \"delay\": 250, \"input_length\": 8, \"output_length\": 1, \"hash_ids\": [1, 2]}\n";
        let rows = parse(text, "t.jsonl", None).unwrap();
        assert_eq!(rows[1].timestamp_ms, 350.0);
        let c = chains(&rows, 1.0);
        assert_eq!(c[0].turns[1].gap, Duration::from_millis(250));
        // A first turn (or a request without a session) needs its timestamp.
        let e = parse(
            "{\"delay\": 5, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": []}\n",
            "t.jsonl",
            None,
        )
        .unwrap_err();
        assert_eq!(e.message, "t.jsonl:1: `timestamp` is missing");
    }

    impl Row {
        fn with_output(mut self, n: usize) -> Row {
            self.output_length = n;
            self
        }
    }

    #[test]
    fn a_byte_order_mark_is_dropped_and_bad_utf8_names_its_line() {
        let line =
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 2, \"hash_ids\": []}";
        let bom = format!("\u{feff}{line}\r\n{line}\r\n");
        let rows = parse(decode(bom.as_bytes(), "t").unwrap(), "t", None).unwrap();
        assert_eq!(rows.len(), 2);
        let bad = [line.as_bytes(), b"\n\n{\"x\": \"\xff\"}\n"].concat();
        let e = decode(&bad, "t.jsonl").unwrap_err();
        assert_eq!(
            (e.exit, e.message.as_str()),
            (perfline::Exit::DataErr, "t.jsonl:3: not UTF-8 text")
        );
    }

    #[test]
    fn sessions_become_ordered_chains_with_gaps_and_shared_blocks() {
        let rows = vec![
            row(1, 0.0, 4, &[1], Some("a")),
            row(2, 500.0, 4, &[9], None),
            row(3, 1000.0, 8, &[1, 2], Some("a")),
            row(4, 200.0, 4, &[5], Some("b")),
        ];
        let c = chains(&rows, 2.0);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].session.as_deref(), Some("a"));
        assert_eq!(c[0].turns.iter().map(|t| t.index).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(c[0].turns[1].at, Duration::from_millis(500));
        assert_eq!(c[0].turns[1].gap, Duration::from_millis(500));
        assert_eq!(c[0].turns[1].shared_blocks, 1);
        assert_eq!(c[1].session.as_deref(), Some("b"));
        assert_eq!((c[2].session.clone(), c[2].turns[0].index), (None, 1));
    }

    #[test]
    fn shared_hash_ids_give_identical_prefixes_and_exact_lengths() {
        let blocks = Blocks { tokens: Tokens::Ids, block_size: 4, seed: 3 };
        let a = row(1, 0.0, 10, &[7, 8, 9], None);
        let b = row(2, 0.0, 6, &[7, 8], None);
        let c = row(3, 0.0, 9, &[7], None);
        let (Prompt::Ids(pa), Prompt::Ids(pb), Prompt::Ids(pc)) =
            (blocks.prompt(&a, 0), blocks.prompt(&b, 0), blocks.prompt(&c, 0))
        else {
            panic!("ids")
        };
        assert_eq!((pa.len(), pb.len(), pc.len()), (10, 6, 9));
        assert_eq!(pa[..6], pb[..], "blocks 7 and (partly) 8 are shared");
        assert_eq!(pa[..4], pc[..4]);
        assert_ne!(pa[4..8], pc[4..8], "row 3's own tokens after block 7");
        assert_eq!(blocks.prompt(&a, 4), Prompt::Ids(pa[4..].to_vec()));
        assert_eq!(blocks.prompt(&c, 6), Prompt::Ids(pc[6..].to_vec()));
        let words = Blocks { tokens: Tokens::plain_words(), ..blocks };
        let (Prompt::Text(ta), Prompt::Text(tb)) = (words.prompt(&a, 0), words.prompt(&b, 0))
        else {
            panic!("text")
        };
        assert_eq!(ta.split(' ').count(), 10);
        assert!(ta.starts_with(&tb), "{ta:?} / {tb:?}");
    }

    #[test]
    fn tokenizer_words_make_text_of_exact_token_length() {
        let words: Vec<String> = (0..20)
            .map(|i| format!("w{}x", "abcdefghijklmnopqrst".as_bytes()[i] as char))
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, crate::tokenizer::word_level_json(&words)).unwrap();
        let tok = Tok::load(&path).unwrap().unwrap();
        let Some(Tokens::Words(list)) = Tokens::tokenizer_words(&tok) else { panic!("words") };
        assert_eq!(list.len(), 20, "every vocabulary word is one token");
        let blocks = Blocks { tokens: Tokens::Words(list), block_size: 8, seed: 1 };
        let r = row(1, 0.0, 21, &[4, 5], None);
        let Prompt::Text(t) = blocks.prompt(&r, 0) else { panic!("text") };
        assert_eq!(tok.count(&t), 21);
        let small = crate::tokenizer::word_level_json(&["ab", "cd"]);
        std::fs::write(&path, small).unwrap();
        let tok = Tok::load(&path).unwrap().unwrap();
        assert!(Tokens::tokenizer_words(&tok).is_none(), "fewer than 16 words");
    }
}
