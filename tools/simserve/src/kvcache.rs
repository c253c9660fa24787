//! The simulated prefix (KV) cache of one server: token blocks keyed by the prompt's prefix,
//! least recently used blocks evicted first, as trtllm's block reuse does.
//!
//! A prompt's tokens (token ids, or a hash of each whitespace-separated word of a text
//! prompt: simserve counts words as tokens) are cut into blocks of `block_size`; block `i`'s
//! key is a hash of block `i - 1`'s key and block `i`'s tokens, so equal keys mean equal
//! prefixes. A trailing partial block is never cached. A lookup counts the leading blocks
//! already cached (the cached tokens), then stores or refreshes every full block.

use std::collections::{BTreeMap, HashMap};

/// FNV-1a, 64 bits: stable across builds and platforms, so equal prompts hit on every server.
pub fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The FNV-1a offset basis: the hash of nothing.
pub const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// The chained keys of the full blocks of `tokens` (one key per token).
pub fn block_keys(tokens: &[u64], block_size: usize) -> Vec<u64> {
    if block_size == 0 {
        return Vec::new();
    }
    let mut prev = FNV_BASIS;
    tokens
        .chunks_exact(block_size)
        .map(|block| {
            let mut h = prev;
            for t in block {
                h = fnv1a(h, &t.to_le_bytes());
            }
            prev = h;
            h
        })
        .collect()
}

/// Cached tokens of a prompt of `prompt` tokens whose first `hits` blocks of `block` tokens
/// were cached: at least the last token is always computed (its logits give the first output
/// token), so a prompt held whole reuses every block but the one holding its last token, as
/// vLLM and trtllm count it.
pub fn cached_tokens(hits: usize, block: usize, prompt: usize) -> usize {
    (hits * block).min(prompt.saturating_sub(1) / block.max(1) * block)
}

/// An LRU cache of block keys.
#[derive(Debug)]
pub struct KvCache {
    capacity: usize,
    /// key → the tick it was last used.
    used: HashMap<u64, u64>,
    /// tick → key: the eviction order.
    order: BTreeMap<u64, u64>,
    tick: u64,
}

impl KvCache {
    /// A cache of `capacity` blocks (0: no cache).
    pub fn new(capacity: usize) -> KvCache {
        KvCache { capacity, used: HashMap::new(), order: BTreeMap::new(), tick: 0 }
    }

    /// Blocks held now.
    #[cfg(test)]
    pub fn blocks(&self) -> usize {
        self.used.len()
    }

    /// How many leading blocks of `keys` were cached; then every block of `keys` is stored
    /// (or refreshed) as the most recently used, evicting the least recently used beyond the
    /// capacity. Blocks of the same prompt are never evicted by each other unless the prompt
    /// alone is larger than the cache (then its first blocks go).
    pub fn lookup_insert(&mut self, keys: &[u64]) -> usize {
        if self.capacity == 0 {
            return 0;
        }
        let hits = keys.iter().take_while(|k| self.used.contains_key(k)).count();
        for key in keys {
            self.tick += 1;
            if let Some(old) = self.used.insert(*key, self.tick) {
                self.order.remove(&old);
            }
            self.order.insert(self.tick, *key);
            while self.used.len() > self.capacity {
                let Some((_, oldest)) = self.order.pop_first() else { break };
                self.used.remove(&oldest);
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_prefixes_share_keys_and_partial_blocks_do_not_count() {
        let a = block_keys(&[1, 2, 3, 4, 5, 6, 7], 2);
        let b = block_keys(&[1, 2, 3, 4, 9, 9], 2);
        assert_eq!(a.len(), 3);
        assert_eq!(b.len(), 3);
        assert_eq!(a[..2], b[..2]);
        assert_ne!(a[2], b[2]);
        // The same block after a different prefix has a different key.
        let c = block_keys(&[9, 9, 3, 4], 2);
        assert_ne!(c[1], a[1]);
        assert!(block_keys(&[1, 2, 3], 0).is_empty());
        // Stable across builds: FNV-1a of "a" is a published value.
        assert_eq!(fnv1a(FNV_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_last_prompt_token_is_always_computed() {
        // 32 tokens in blocks of 16, both cached: the block with the last token is recomputed.
        assert_eq!(cached_tokens(2, 16, 32), 16);
        assert_eq!(cached_tokens(2, 16, 33), 32);
        assert_eq!(cached_tokens(1, 16, 40), 16);
        assert_eq!(cached_tokens(1, 16, 16), 0);
        assert_eq!((cached_tokens(0, 16, 0), cached_tokens(3, 0, 8)), (0, 0));
    }

    #[test]
    fn hits_are_the_leading_cached_blocks_and_lru_evicts_the_oldest() {
        let mut cache = KvCache::new(4);
        assert_eq!(cache.lookup_insert(&[1, 2, 3]), 0);
        assert_eq!(cache.lookup_insert(&[1, 2, 3, 4]), 3);
        // A miss in the middle ends the prefix.
        assert_eq!(cache.lookup_insert(&[1, 9, 3]), 1);
        // Capacity 4: {1,2,3,4,9} minus the least recently used (2).
        assert_eq!(cache.blocks(), 4);
        assert_eq!(cache.lookup_insert(&[1, 2]), 1);
        let mut off = KvCache::new(0);
        assert_eq!(off.lookup_insert(&[1]), 0);
        assert_eq!(off.lookup_insert(&[1]), 0);
        assert_eq!(off.blocks(), 0);
    }
}
