//! `--convert-trace FORMAT`: other public trace formats → Mooncake JSON Lines (docs/agentic.md).
//!
//! `qwen-bailian`: the Alibaba Bailian (Qwen) usage traces (`qwen_traceA_blksz_16.jsonl`,
//! `qwen_traceB_…`, `qwen_thinking_…`, `qwen_coder_…`), one JSON object a line with
//! `chat_id` (integer), `parent_chat_id` (the previous turn's `chat_id`, −1 for a session's
//! first turn), `timestamp` (seconds from the start), `input_length`, `output_length`,
//! `type`, `turn` and `hash_ids` (one id per block of 16 tokens). Conversion: the session is
//! the root `chat_id` of the `parent_chat_id` chain (a parent outside the file starts a session
//! keyed by the parent's id), `timestamp` becomes milliseconds, lengths and `hash_ids` are
//! kept; replay it with `--block-size 16`.

use perfline::Failure;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The block size of the Bailian traces' hash ids (their file names say `blksz_16`).
pub const QWEN_BAILIAN_BLOCK: usize = 16;

/// Converts a Qwen Bailian trace to Mooncake JSON Lines. A bad line is a data error naming
/// `source:LINE` and the field; nothing is returned then.
pub fn qwen_bailian(text: &str, source: &str) -> Result<String, Failure> {
    let mut root_of: HashMap<i64, i64> = HashMap::new();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |why: String| Failure::data(format!("{source}:{}: {why}", i + 1));
        let v: Value = perfline::jsonl::parse(line).map_err(|f| at(f.message))?;
        let field = |k: &str| {
            v.get(k).filter(|x| !x.is_null()).ok_or_else(|| at(format!("`{k}` is missing")))
        };
        let int = |k: &str, min: i64| -> Result<i64, Failure> {
            let x = field(k)?;
            match x.as_i64() {
                Some(n) if n >= min => Ok(n),
                Some(n) => Err(at(format!("`{k}` {n}: must be >= {min}"))),
                None => Err(at(format!("`{k}` is not a whole number: {x}"))),
            }
        };
        let chat_id = int("chat_id", 0)?;
        let parent = int("parent_chat_id", -1)?;
        let ts = field("timestamp")?;
        let seconds = ts
            .as_f64()
            .filter(|t| (0.0..=1e12).contains(t))
            .ok_or_else(|| at(format!("`timestamp` is not a number of seconds >= 0: {ts}")))?;
        let input_length = int("input_length", 1)?;
        let output_length = int("output_length", 0)?;
        let hash_ids = match field("hash_ids")? {
            Value::Array(ids) => ids
                .iter()
                .enumerate()
                .map(|(j, h)| {
                    h.as_u64().ok_or_else(|| {
                        at(format!("`hash_ids[{j}]` is not a whole number >= 0: {h}"))
                    })
                })
                .collect::<Result<Vec<u64>, Failure>>()?,
            x => return Err(at(format!("`hash_ids` is not a list: {x}"))),
        };
        let root = if parent < 0 {
            chat_id
        } else {
            // A parent outside the file (a cut window) starts a session keyed by its id.
            root_of.get(&parent).copied().unwrap_or(parent)
        };
        root_of.insert(chat_id, root);
        let ms = (seconds * 1000.0 * 1000.0).round() / 1000.0;
        let row = json!({"timestamp": ms, "input_length": input_length,
                         "output_length": output_length, "hash_ids": hash_ids,
                         "session_id": root});
        out.push_str(&row.to_string());
        out.push('\n');
    }
    if out.is_empty() {
        return Err(Failure::data(format!("{source}: no requests in the trace")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_follow_the_parent_chain_and_times_become_ms() {
        // Written from the dataset's documented schema: two sessions, one continuing a turn
        // outside the file.
        let text = r#"{"chat_id": 10, "parent_chat_id": -1, "timestamp": 0.0, "input_length": 40, "output_length": 8, "type": "text", "turn": 1, "hash_ids": [1, 2, 3]}
{"chat_id": 11, "parent_chat_id": -1, "timestamp": 0.25, "input_length": 20, "output_length": 4, "type": "search", "turn": 1, "hash_ids": [7, 8]}
{"chat_id": 12, "parent_chat_id": 10, "timestamp": 1.5005, "input_length": 70, "output_length": 9, "type": "text", "turn": 2, "hash_ids": [1, 2, 3, 4, 5]}
{"chat_id": 13, "parent_chat_id": 12, "timestamp": 2, "input_length": 90, "output_length": 1, "type": "text", "turn": 3, "hash_ids": [1, 2, 3, 4, 5, 6]}
{"chat_id": 14, "parent_chat_id": 5, "timestamp": 3, "input_length": 16, "output_length": 2, "type": "file", "turn": 4, "hash_ids": [9]}
"#;
        let out = qwen_bailian(text, "q.jsonl").unwrap();
        assert_eq!(
            out,
            r#"{"timestamp":0.0,"input_length":40,"output_length":8,"hash_ids":[1,2,3],"session_id":10}
{"timestamp":250.0,"input_length":20,"output_length":4,"hash_ids":[7,8],"session_id":11}
{"timestamp":1500.5,"input_length":70,"output_length":9,"hash_ids":[1,2,3,4,5],"session_id":10}
{"timestamp":2000.0,"input_length":90,"output_length":1,"hash_ids":[1,2,3,4,5,6],"session_id":10}
{"timestamp":3000.0,"input_length":16,"output_length":2,"hash_ids":[9],"session_id":5}
"#
        );
        // The output is a valid Mooncake trace.
        let rows = crate::trace::parse(&out, "m.jsonl", None).unwrap();
        let chains = crate::trace::chains(&rows, 1.0);
        assert_eq!(chains.len(), 3);
        assert_eq!(chains[0].turns.len(), 3);
        assert_eq!(chains[0].turns[2].shared_blocks, 5);
    }

    #[test]
    fn bad_lines_name_the_line_and_field() {
        for (line, why) in [
            ("{\"chat_id\": 1}", "q.jsonl:1: `parent_chat_id` is missing"),
            (
                "{\"chat_id\":1,\"parent_chat_id\":-1,\"timestamp\":-2,\"input_length\":1,\"output_length\":1,\"hash_ids\":[]}",
                "q.jsonl:1: `timestamp` is not a number of seconds >= 0: -2",
            ),
            (
                "{\"chat_id\":1,\"parent_chat_id\":-1,\"timestamp\":0,\"input_length\":-1,\"output_length\":1,\"hash_ids\":[]}",
                "q.jsonl:1: `input_length` -1: must be >= 1",
            ),
            (
                "{\"chat_id\":1,\"parent_chat_id\":-1,\"timestamp\":0,\"input_length\":1,\"output_length\":1,\"hash_ids\":[\"a\"]}",
                "q.jsonl:1: `hash_ids[0]` is not a whole number >= 0: \"a\"",
            ),
            ("nope", "q.jsonl:1: invalid record: expected ident (column 2)"),
        ] {
            let e = qwen_bailian(line, "q.jsonl").unwrap_err();
            assert_eq!((e.exit, e.message.as_str()), (perfline::Exit::DataErr, why));
        }
        assert!(qwen_bailian("\n", "q.jsonl").is_err());
    }
}
