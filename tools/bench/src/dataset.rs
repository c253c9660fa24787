//! Prompts (random or from a file) and their arrival times.

use crate::tokenizer::Tok;
use perfline::Failure;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Gamma};
use serde_json::Value;
use std::time::Duration;

/// What is sent as the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Text(String),
    /// Token ids (`--random-ids`): exact input lengths without a tokenizer.
    Ids(Vec<u32>),
}

/// One request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub prompt: Prompt,
    /// Input tokens: exact for token ids and with a tokenizer, else an estimate (words) until
    /// the server's `usage.prompt_tokens` replaces it.
    pub prompt_len: usize,
    pub output_len: usize,
}

/// How random prompts are made.
#[derive(Clone, Copy)]
pub enum Kind<'a> {
    /// Token ids (`--random-ids`): exact lengths, no tokenizer.
    Ids,
    /// Common words, about one token each (no tokenizer).
    Words,
    /// Text of exact token length for this tokenizer (`--tokenizer`).
    Tokenizer(&'a Tok),
}

/// Words for text prompts: short common words are one token in the usual tokenizers.
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "it", "for", "on", "with", "as", "at", "by", "from",
    "this", "that", "be", "are", "was", "or", "an", "not", "but", "all", "can", "one", "time",
    "we", "you", "they", "have", "has", "more", "will", "so", "if", "no", "out", "up", "what",
];

/// Token ids are drawn from this range: clear of the special tokens at the start of common
/// vocabularies and inside every vocabulary of 32k tokens or more.
const TOKEN_IDS: std::ops::Range<u32> = 1000..30000;

/// `num` random requests with lengths uniform in `len × [1 − ratio, 1 + ratio]`
/// (vLLM's `--random-range-ratio` meaning).
pub fn random(
    num: usize,
    input_len: usize,
    output_len: usize,
    range_ratio: f64,
    kind: Kind,
    seed: u64,
) -> Vec<Request> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..num)
        .map(|_| {
            let n_in = draw_len(&mut rng, input_len, range_ratio);
            let n_out = draw_len(&mut rng, output_len, range_ratio);
            let (prompt, prompt_len) = match kind {
                Kind::Ids => {
                    (Prompt::Ids((0..n_in).map(|_| rng.gen_range(TOKEN_IDS)).collect()), n_in)
                }
                Kind::Words => {
                    let words: Vec<&str> =
                        (0..n_in).map(|_| WORDS[rng.gen_range(0..WORDS.len())]).collect();
                    (Prompt::Text(words.join(" ")), n_in)
                }
                Kind::Tokenizer(tok) => {
                    let (text, len) = tok.prompt(&mut rng, n_in);
                    (Prompt::Text(text), len)
                }
            };
            Request { prompt, prompt_len, output_len: n_out }
        })
        .collect()
}

fn draw_len(rng: &mut StdRng, len: usize, ratio: f64) -> usize {
    let lo = ((len as f64) * (1.0 - ratio)).floor().max(1.0) as usize;
    let hi = ((len as f64) * (1.0 + ratio)).floor().max(lo as f64) as usize;
    rng.gen_range(lo..=hi)
}

/// Requests from a JSON array or JSON Lines file (`--dataset-name trtllm_custom`). Each item
/// is a string, or an object with the prompt in `prompt`, `text`, `messages` (last user
/// message) or `input.{prompt,messages}`, and optionally the output length in `output_tokens`,
/// `max_tokens`, `output_len` or `input.max_tokens` (else `default_output_len`). Items are
/// cycled when the file holds fewer than `num`.
pub fn from_file(
    text: &str,
    source: &str,
    num: usize,
    default_output_len: usize,
    tok: Option<&Tok>,
) -> Result<Vec<Request>, Failure> {
    let items: Vec<(usize, Value)> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items.into_iter().map(|v| (1, v)).collect(),
        _ => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                perfline::jsonl::parse(l)
                    .map(|v| (i + 1, v))
                    .map_err(|f| Failure::data(format!("{source}:{}: {}", i + 1, f.message)))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut requests: Vec<Request> = items
        .iter()
        .map(|(line, item)| {
            parse_item(item, default_output_len)
                .ok_or_else(|| Failure::data(format!("{source}:{line}: no prompt in item")))
        })
        .collect::<Result<_, _>>()?;
    if let Some(tok) = tok {
        for r in &mut requests {
            if let Prompt::Text(t) = &r.prompt {
                r.prompt_len = tok.count(t);
            }
        }
    }
    if requests.is_empty() {
        return Err(Failure::data(format!("{source}: no prompts")));
    }
    Ok(requests.iter().cycle().take(num).cloned().collect())
}

fn parse_item(item: &Value, default_output_len: usize) -> Option<Request> {
    let input = item.get("input").unwrap_or(item);
    let prompt = match item {
        Value::String(s) => s.clone(),
        _ => [item, input]
            .iter()
            .find_map(|v| v.get("prompt").or_else(|| v.get("text")).and_then(Value::as_str))
            .map(str::to_string)
            .or_else(|| last_user_message(item).or_else(|| last_user_message(input)))?,
    };
    let output_len = ["output_tokens", "max_tokens", "output_len", "max_completion_tokens"]
        .iter()
        .find_map(|k| item.get(k).or_else(|| input.get(k)).and_then(Value::as_u64))
        .map_or(default_output_len, |n| n as usize);
    let prompt_len = prompt.split_whitespace().count().max(1);
    Some(Request { prompt: Prompt::Text(prompt), prompt_len, output_len })
}

fn last_user_message(v: &Value) -> Option<String> {
    let messages = v.get("messages")?.as_array()?;
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str).unwrap_or("user") == "user")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Offsets from the start at which each request is due. `rate` None = all at once; else the
/// gaps are gamma(shape = burstiness, scale = 1 / (rate × burstiness)), so the mean rate is
/// `rate` and burstiness 1 is a Poisson process (benchmark_serving's model; the first request
/// is due at 0).
pub fn arrivals(
    num: usize,
    rate: Option<f64>,
    burstiness: f64,
    seed: u64,
) -> Result<Vec<Duration>, Failure> {
    let Some(rate) = rate else { return Ok(vec![Duration::ZERO; num]) };
    let gamma = Gamma::new(burstiness, 1.0 / (rate * burstiness)).map_err(|e| {
        Failure::usage(format!("--request-rate {rate} --burstiness {burstiness}: {e}"))
    })?;
    // A stream of its own, so the same seed gives the same prompts whatever the rate.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_a771_7a15);
    let mut at = 0.0_f64;
    Ok((0..num)
        .map(|i| {
            if i > 0 {
                at += gamma.sample(&mut rng);
            }
            Duration::from_secs_f64(at)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_have_exact_lengths_and_are_reproducible() {
        let a = random(5, 16, 8, 0.0, Kind::Ids, 7);
        assert_eq!(a, random(5, 16, 8, 0.0, Kind::Ids, 7));
        for r in &a {
            assert_eq!((r.prompt_len, r.output_len), (16, 8));
            assert!(matches!(&r.prompt, Prompt::Ids(ids) if ids.len() == 16));
        }
        let text = random(1, 10, 4, 0.0, Kind::Words, 0);
        assert!(matches!(&text[0].prompt, Prompt::Text(t) if t.split(' ').count() == 10));
    }

    #[test]
    fn range_ratio_bounds_lengths() {
        for r in random(200, 100, 10, 0.5, Kind::Ids, 1) {
            assert!((50..=150).contains(&r.prompt_len), "{}", r.prompt_len);
            assert!((5..=15).contains(&r.output_len));
        }
    }

    #[test]
    fn file_formats() {
        let jsonl = "{\"prompt\":\"a b c\",\"output_tokens\":5}\n\n\"plain\"\n\
            {\"input\":{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"hi there\"}],\"max_tokens\":9}}\n";
        let r = from_file(jsonl, "d.jsonl", 4, 3, None).unwrap();
        assert_eq!(
            r[0],
            Request { prompt: Prompt::Text("a b c".into()), prompt_len: 3, output_len: 5 }
        );
        assert_eq!(r[1].prompt, Prompt::Text("plain".into()));
        assert_eq!(r[1].output_len, 3);
        assert_eq!((r[2].prompt.clone(), r[2].output_len), (Prompt::Text("hi there".into()), 9));
        assert_eq!(r[3], r[0], "cycled");
        let arr = from_file("[{\"text\":\"x\"}]", "d.json", 1, 2, None).unwrap();
        assert_eq!(arr[0].prompt, Prompt::Text("x".into()));
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = from_file("{\"prompt\":\"a\"}\n{oops\n", "d.jsonl", 1, 1, None).unwrap_err();
        assert!(e.message.starts_with("d.jsonl:2: "), "{}", e.message);
        let e = from_file("{\"x\":1}\n", "d.jsonl", 1, 1, None).unwrap_err();
        assert_eq!(e.message, "d.jsonl:1: no prompt in item");
        assert!(from_file("", "e.jsonl", 1, 1, None).is_err());
    }

    #[test]
    fn arrivals_follow_the_rate() {
        assert_eq!(arrivals(3, None, 1.0, 0).unwrap(), vec![Duration::ZERO; 3]);
        let a = arrivals(20_000, Some(100.0), 1.0, 0).unwrap();
        assert_eq!(a[0], Duration::ZERO);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        let mean_rate = 19_999.0 / a[19_999].as_secs_f64();
        assert!((95.0..105.0).contains(&mean_rate), "{mean_rate}");
        assert_eq!(a, arrivals(20_000, Some(100.0), 1.0, 0).unwrap());
        assert!(arrivals(2, Some(1.0), 0.0, 0).is_err());
    }
}
