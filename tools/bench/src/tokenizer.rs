//! `--tokenizer`: a Hugging Face `tokenizer.json` (the `tokenizers` crate, pure Rust), used to
//! build text prompts of an exact token length and to count the output tokens of a response
//! when the server sends no usage.
//!
//! The path is a `tokenizer.json` file or a model directory holding one (the incumbent passes
//! `--tokenizer MODEL`). A path without one (a model name, a hub id, a directory with only a
//! sentencepiece model) gives `None`: bench then behaves as without `--tokenizer` and the
//! caller says so in one warning line. A `tokenizer.json` that cannot be read or parsed is an
//! error (66 / 65), never silently ignored.

use perfline::{Exit, Failure};
use rand::rngs::StdRng;
use rand::Rng;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// A loaded tokenizer and the token ids prompts are drawn from.
pub struct Tok {
    inner: Tokenizer,
    /// Ids of the base vocabulary, ascending (added and special tokens left out).
    vocab: Vec<u32>,
    pub path: PathBuf,
}

/// Rounds of decode → re-encode → trim/extend before a prompt is taken as it is.
const ROUNDS: usize = 8;

impl Tok {
    /// `Ok(None)` when `path` names no `tokenizer.json` (see the module docs).
    pub fn load(path: &Path) -> Result<Option<Tok>, Failure> {
        let file = if path.is_dir() { path.join("tokenizer.json") } else { path.to_path_buf() };
        if !file.is_file() {
            return Ok(None);
        }
        let text = std::fs::read(&file).map_err(|e| Failure::io(file.display(), &e))?;
        let inner = Tokenizer::from_bytes(&text).map_err(|e| {
            Failure::new(Exit::DataErr, format!("{}: not a tokenizer.json: {e}", file.display()))
        })?;
        let added = inner.get_added_tokens_decoder();
        let mut vocab: Vec<u32> =
            inner.get_vocab(false).into_values().filter(|id| !added.contains_key(id)).collect();
        vocab.sort_unstable();
        if vocab.is_empty() {
            return Err(Failure::data(format!("{}: the vocabulary is empty", file.display())));
        }
        Ok(Some(Tok { inner, vocab, path: file }))
    }

    /// Tokens of `text`, without special tokens.
    pub fn count(&self, text: &str) -> usize {
        self.inner.encode(text, false).map_or(0, |e| e.len())
    }

    /// The base vocabulary, each token decoded alone and trimmed (for trace prompts).
    pub fn words(&self) -> impl Iterator<Item = String> + '_ {
        self.vocab
            .iter()
            .filter_map(|&id| self.inner.decode(&[id], true).ok())
            .map(|w| w.trim().to_string())
    }

    /// A text of `n` tokens (as this tokenizer encodes it) from random vocabulary ids, and its
    /// length: random ids are decoded, the text re-encoded, then cut or extended until it
    /// encodes to `n` tokens. After [`ROUNDS`] rounds the closest text is taken (its true
    /// length is returned, so the input count stays honest).
    pub fn prompt(&self, rng: &mut StdRng, n: usize) -> (String, usize) {
        let draw = |rng: &mut StdRng| self.vocab[rng.gen_range(0..self.vocab.len())];
        let mut ids: Vec<u32> = (0..n).map(|_| draw(rng)).collect();
        let mut best: Option<(String, usize)> = None;
        for _ in 0..ROUNDS {
            let text = self.inner.decode(&ids, true).unwrap_or_default();
            let encoded = self.inner.encode(text.as_str(), false).map(|e| e.get_ids().to_vec());
            let encoded = encoded.unwrap_or_default();
            let got = encoded.len();
            if best.as_ref().is_none_or(|(_, b)| got.abs_diff(n) < b.abs_diff(n)) {
                best = Some((text, got));
            }
            if got == n {
                break;
            }
            ids = encoded;
            if got > n {
                ids.truncate(n);
            } else {
                ids.extend((got..n).map(|_| draw(rng)));
            }
        }
        best.unwrap_or_default()
    }
}

/// A `tokenizer.json` for tests: WordLevel over `words` (ids from 2; 0 = `[UNK]`, 1 = a special `[BOS]`),
/// splitting on whitespace: a text of n vocabulary words is n tokens.
pub fn word_level_json(words: &[&str]) -> String {
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), 0.into());
    vocab.insert("[BOS]".into(), 1.into());
    for (i, w) in words.iter().enumerate() {
        vocab.insert((*w).into(), (i + 2).into());
    }
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [{"id": 1, "content": "[BOS]", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn prompts_have_the_exact_length_and_outputs_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), word_level_json(&["a", "b", "c"]))
            .unwrap();
        let tok = Tok::load(dir.path()).unwrap().expect("a directory with tokenizer.json");
        assert_eq!(tok.vocab, [0, 2, 3, 4], "the special [BOS] is never drawn");
        assert_eq!(tok.count("a b  c\nzz"), 4);
        let mut rng = StdRng::seed_from_u64(1);
        for n in [1, 7, 100] {
            let (text, len) = tok.prompt(&mut rng, n);
            assert_eq!((len, tok.count(&text)), (n, n), "{text:?}");
        }
    }

    #[test]
    fn paths_without_a_tokenizer_json_are_none_and_bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Tok::load(dir.path()).unwrap().is_none());
        assert!(Tok::load(&dir.path().join("meta-llama/Llama-3")).unwrap().is_none());
        let bad = dir.path().join("tokenizer.json");
        std::fs::write(&bad, "{\"model\": 5}").unwrap();
        let err = Tok::load(dir.path()).err().unwrap();
        assert_eq!(err.exit, Exit::DataErr);
        assert!(err.message.starts_with(&format!("{}: not a tokenizer.json: ", bad.display())));
    }
}
