//! Lowe's cache of configurations already explored: `(operations linearized, state)` pairs.
//!
//! A configuration is found again by a hash built in O(1): the set's Zobrist hash (kept up to
//! date as operations are placed and undone) mixed with the state's hash. Pairs with the same
//! hash are compared exactly, so a hash collision costs time, never a wrong verdict. Sets are
//! stored in short form ([`Bitset::window`]) in one shared array, so an entry costs a few
//! words and no allocation of its own.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::entries::Bitset;

/// No entry: the end of a chain.
const NONE: u32 = u32::MAX;

/// One cached pair; its set's window is `words[start..start + len]`.
struct Entry<S> {
    full_words: usize,
    start: usize,
    len: usize,
    state: S,
    /// The next entry with the same hash.
    next: u32,
}

/// The explored configurations of one partition's search.
pub(crate) struct Cache<S> {
    /// The first entry of each hash's chain.
    heads: HashMap<u64, u32, BuildHasherDefault<MixHasher>>,
    entries: Vec<Entry<S>>,
    words: Vec<u64>,
}

impl<S> Default for Cache<S> {
    fn default() -> Self {
        Self {
            heads: HashMap::default(),
            entries: Vec::new(),
            words: Vec::new(),
        }
    }
}

impl<S: Clone + Eq + Hash> Cache<S> {
    /// Adds `(set, state)` and returns true, or returns false if it is already there.
    pub(crate) fn insert_if_new(&mut self, set: &Bitset, state: &S) -> bool {
        let mut hasher = MixHasher::default();
        state.hash(&mut hasher);
        let key = hasher.finish() ^ set.zobrist();
        let (full_words, window) = set.window();
        let head = self.heads.get(&key).copied().unwrap_or(NONE);
        let mut at = head;
        while at != NONE {
            let e = &self.entries[at as usize];
            if e.full_words == full_words
                && &self.words[e.start..e.start + e.len] == window
                && e.state == *state
            {
                return false;
            }
            at = e.next;
        }
        let index = u32::try_from(self.entries.len()).expect("cache entries fit in u32");
        assert!(index != NONE, "cache entries fit in u32");
        self.entries.push(Entry {
            full_words,
            start: self.words.len(),
            len: window.len(),
            state: state.clone(),
            next: head,
        });
        self.words.extend_from_slice(window);
        self.heads.insert(key, index);
        true
    }

    /// Pairs cached.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A fast non-cryptographic hasher for states (a multiply-rotate mix in the style of rustc's
/// FxHasher): the keys are our own states, not adversarial input, and SipHash would dominate
/// the search's time.
#[derive(Default)]
pub(crate) struct MixHasher {
    hash: u64,
}

/// An odd constant with well spread bits (from the golden ratio).
const MIX_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl MixHasher {
    fn mix(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(MIX_MULTIPLIER);
    }
}

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(tail) ^ bytes.len() as u64);
    }

    fn write_u64(&mut self, word: u64) {
        self.mix(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.mix(word as u64);
    }

    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown takes its bucket from the low bits.
        self.hash ^ (self.hash >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_new_once_and_sets_and_states_both_count() {
        let mut cache: Cache<u32> = Cache::default();
        let mut set = Bitset::new(200);
        set.set(3);
        assert!(cache.insert_if_new(&set, &7));
        assert!(!cache.insert_if_new(&set, &7), "the same pair again");
        assert!(cache.insert_if_new(&set, &8), "same set, another state");
        set.set(130);
        assert!(cache.insert_if_new(&set, &7), "another set, same state");
        set.clear(130);
        assert!(!cache.insert_if_new(&set, &7), "the first set again");
        assert_eq!(cache.len(), 3);
    }
}
