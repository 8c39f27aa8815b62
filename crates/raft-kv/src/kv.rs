//! The key/value store of 6.824 Lab 3: one [`StateMachine`].
//!
//! Three operations on a map from string keys to string values (handout, kvraft): `Put`
//! replaces a value, `Append` concatenates to it, `Get` reads it. "An Append to a missing key
//! acts like a Put" and a Get of a missing key returns "". The map is a `BTreeMap`, so equal
//! stores encode to equal bytes.

use crate::state_machine::{DecodeError, StateMachine};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One key/value operation, as the Clerk's `Get`, `Put` and `Append`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    /// Read the value of `key` ("" when missing).
    Get {
        /// The key read.
        key: String,
    },
    /// Replace the value of `key` with `value`.
    Put {
        /// The key written.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Concatenate `value` to the value of `key` (a missing key counts as "").
    Append {
        /// The key appended to.
        key: String,
        /// What is appended.
        value: String,
    },
}

/// What a key/value operation answers: the value read for a `Get`, "" for `Put` and `Append`.
pub type KvOutput = String;

/// The replicated map.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStore {
    map: BTreeMap<String, String>,
}

impl KvStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// The value of `key`, if any (a read outside Raft, for tests and inspection only: a
    /// client's `Get` goes through the log or a confirmed ReadIndex, so that it is never
    /// stale).
    #[must_use]
    pub fn value(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// The number of keys stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl StateMachine for KvStore {
    type Op = KvOp;
    type Output = KvOutput;

    fn apply(&mut self, op: &KvOp) -> KvOutput {
        match op {
            KvOp::Get { key } => self.map.get(key).cloned().unwrap_or_default(),
            KvOp::Put { key, value } => {
                self.map.insert(key.clone(), value.clone());
                String::new()
            }
            KvOp::Append { key, value } => {
                self.map.entry(key.clone()).or_default().push_str(value);
                String::new()
            }
        }
    }

    /// A `Get` only reads.
    fn is_read_only(op: &KvOp) -> bool {
        matches!(op, KvOp::Get { .. })
    }

    /// A `Get` reads the map in place; `Put` and `Append` write, so they have no output here.
    fn read(&self, op: &KvOp) -> Option<KvOutput> {
        match op {
            KvOp::Get { key } => Some(self.map.get(key).cloned().unwrap_or_default()),
            KvOp::Put { .. } | KvOp::Append { .. } => None,
        }
    }

    fn encode(&self) -> Vec<u8> {
        // A map of strings always serializes; an error here would be a bug in postcard.
        postcard::to_allocvec(self).expect("a map of strings always encodes")
    }

    fn restore(bytes: &[u8]) -> Result<KvStore, DecodeError> {
        postcard::from_bytes(bytes).map_err(|e| DecodeError::new("kv state", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> KvOp {
        KvOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    fn append(key: &str, value: &str) -> KvOp {
        KvOp::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    fn get(key: &str) -> KvOp {
        KvOp::Get { key: key.into() }
    }

    #[test]
    fn get_of_a_missing_key_is_empty_and_append_to_a_missing_key_acts_like_put() {
        let mut kv = KvStore::new();
        assert_eq!(kv.apply(&get("x")), "");
        assert_eq!(kv.apply(&append("x", "a")), "");
        assert_eq!(kv.apply(&get("x")), "a");
        assert_eq!(kv.apply(&append("x", "b")), "");
        assert_eq!(kv.apply(&get("x")), "ab");
        assert_eq!(kv.apply(&put("x", "c")), "");
        assert_eq!(kv.apply(&get("x")), "c");
        assert_eq!(kv.len(), 1);
    }

    #[test]
    fn only_get_is_read_only() {
        assert!(KvStore::is_read_only(&get("x")));
        assert!(!KvStore::is_read_only(&put("x", "1")));
        assert!(!KvStore::is_read_only(&append("x", "1")));
        // And a Get indeed changes nothing.
        let mut kv = KvStore::new();
        kv.apply(&put("x", "1"));
        let before = kv.clone();
        assert_eq!(kv.apply(&get("x")), "1");
        assert_eq!(kv, before);
    }

    #[test]
    fn read_answers_a_get_as_apply_does_and_nothing_else() {
        let mut kv = KvStore::new();
        kv.apply(&append("x", "ab"));
        assert_eq!(kv.read(&get("x")), Some(kv.clone().apply(&get("x"))));
        assert_eq!(kv.read(&get("missing")), Some(String::new()));
        assert_eq!(kv.read(&put("x", "1")), None);
        assert_eq!(kv.read(&append("x", "1")), None);
        assert_eq!(kv.value("x"), Some("ab"), "reading changed nothing");
    }

    /// A state machine with only the trait's defaults besides what it must have.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    struct Counter(u64);

    impl StateMachine for Counter {
        type Op = bool;
        type Output = u64;
        fn apply(&mut self, increment: &bool) -> u64 {
            self.0 += u64::from(*increment);
            self.0
        }
        fn encode(&self) -> Vec<u8> {
            postcard::to_allocvec(self).expect("a u64 encodes")
        }
        fn restore(bytes: &[u8]) -> Result<Counter, DecodeError> {
            postcard::from_bytes(bytes).map_err(|e| DecodeError::new("counter", e))
        }
    }

    #[test]
    fn the_default_read_answers_from_a_copy_and_leaves_the_state_alone() {
        let counter = Counter(4);
        assert_eq!(counter.read(&false), Some(4));
        assert_eq!(counter.read(&true), Some(5), "the copy applied it");
        assert_eq!(counter, Counter(4), "the state did not");
    }

    #[test]
    fn state_round_trips_and_garbage_is_an_error() {
        let mut kv = KvStore::new();
        kv.apply(&put("a", "1"));
        kv.apply(&append("b", "2"));
        let restored = KvStore::restore(&kv.encode()).expect("own encoding decodes");
        assert_eq!(restored, kv);
        let err = KvStore::restore(&[0xff, 0xff, 0xff]).expect_err("garbage must not decode");
        assert_eq!(err.what, "kv state");
    }
}
