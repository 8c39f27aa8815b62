//! The Lab 3 key/value model: the sequential specification the 6.824 tester checks a kvraft
//! service against (the lab's `models/kv.go`, written here).
//!
//! Operations: `Get(key)` returns the key's value, `Put(key, value)` replaces it,
//! `Append(key, value)` extends it. A key never written reads as `""`, and an append to it
//! acts as a put, so one empty string is the initial state. Operations on different keys never
//! constrain each other, so the history is partitioned by key (in sorted key order) and each
//! key is checked on its own, with the key's value as the state ([`KvState`]).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::history::Operation;
use crate::model::Model;

/// A client's request to the key/value service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvInput {
    /// Read the key's value.
    Get {
        /// The key.
        key: String,
    },
    /// Replace the key's value.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Append to the key's value.
    Append {
        /// The key.
        key: String,
        /// What is appended.
        value: String,
    },
}

impl KvInput {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            Self::Get { key } | Self::Put { key, .. } | Self::Append { key, .. } => key,
        }
    }
}

/// The service's answer: the value read for a `Get`; ignored for `Put` and `Append`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvOutput {
    /// The value a `Get` returned.
    pub value: String,
}

/// The Lab 3 key/value model (porcupine's `KvModel`).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

/// One operation of a key/value history.
pub type KvOperation = Operation<KvInput, KvOutput>;

impl KvModel {
    /// A `Get(key) -> value` operation, for building histories.
    pub fn get(client_id: usize, key: &str, value: &str, call: u64, ret: u64) -> KvOperation {
        Operation {
            client_id,
            input: KvInput::Get { key: key.to_owned() },
            call_time: call,
            output: KvOutput {
                value: value.to_owned(),
            },
            return_time: ret,
        }
    }

    /// A `Put(key, value)` operation, for building histories.
    pub fn put(client_id: usize, key: &str, value: &str, call: u64, ret: u64) -> KvOperation {
        let input = KvInput::Put {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        Operation {
            client_id,
            input,
            call_time: call,
            output: KvOutput::default(),
            return_time: ret,
        }
    }

    /// An `Append(key, value)` operation, for building histories.
    pub fn append(client_id: usize, key: &str, value: &str, call: u64, ret: u64) -> KvOperation {
        let input = KvInput::Append {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        Operation {
            client_id,
            input,
            call_time: call,
            output: KvOutput::default(),
            return_time: ret,
        }
    }
}

/// The value of one key, as the checker holds it: shared, so that cloning it (the search
/// keeps one per cached configuration and per choice) costs a reference count, and hashed once
/// as it is built (FNV-1a, extended by each append), so the cache never rehashes a value that
/// may be thousands of bytes long. Equality compares the hash, then the text.
#[derive(Clone, Debug)]
pub struct KvState {
    value: Arc<str>,
    hash: u64,
}

/// FNV-1a's offset basis and prime (64-bit).
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    hash
}

impl KvState {
    /// The state holding `value`.
    pub fn new(value: &str) -> Self {
        Self {
            value: Arc::from(value),
            hash: fnv1a(FNV_OFFSET_BASIS, value.as_bytes()),
        }
    }

    /// The key's value.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// This value with `suffix` appended.
    fn appended(&self, suffix: &str) -> Self {
        let mut value = String::with_capacity(self.value.len() + suffix.len());
        value.push_str(&self.value);
        value.push_str(suffix);
        // Kept as one allocation (count and text together): a large cache is freed quickly
        // when a check ends, which a check stopped by its time limit waits for.
        Self {
            value: Arc::from(value),
            hash: fnv1a(self.hash, suffix.as_bytes()),
        }
    }
}

impl PartialEq for KvState {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.value, &other.value) || self.value == other.value)
    }
}

impl Eq for KvState {}

impl Hash for KvState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Model for KvModel {
    type Input = KvInput;
    type Output = KvOutput;
    type State = KvState;

    fn init(&self) -> KvState {
        KvState::new("")
    }

    fn step(&self, state: &KvState, input: &KvInput, output: &KvOutput) -> Option<KvState> {
        match input {
            KvInput::Get { .. } => (*output.value == *state.value).then(|| state.clone()),
            KvInput::Put { value, .. } => Some(KvState::new(value)),
            KvInput::Append { value, .. } => Some(state.appended(value)),
        }
    }

    fn may_leave_state_unchanged(&self, input: &KvInput) -> bool {
        matches!(input, KvInput::Get { .. })
    }

    fn partition(&self, history: &[KvOperation]) -> Vec<Vec<usize>> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, op) in history.iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(i);
        }
        by_key.into_values().collect()
    }

    fn describe_operation(&self, input: &KvInput, output: &KvOutput) -> String {
        match input {
            KvInput::Get { key } => format!("get('{key}') -> '{}'", output.value),
            KvInput::Put { key, value } => format!("put('{key}', '{value}')"),
            KvInput::Append { key, value } => format!("append('{key}', '{value}')"),
        }
    }

    fn describe_state(&self, state: &KvState) -> String {
        format!("'{}'", state.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_follows_the_lab_semantics() {
        let m = KvModel;
        let get = |k: &str| KvInput::Get { key: k.into() };
        let out = |v: &str| KvOutput { value: v.into() };
        let ab = KvState::new("ab");
        assert_eq!(
            m.step(&m.init(), &get("k"), &out("")),
            Some(m.init()),
            "missing key reads ''"
        );
        assert_eq!(
            m.step(&ab, &get("k"), &out("a")),
            None,
            "a read must see the state"
        );
        assert_eq!(m.step(&ab, &get("k"), &out("ab")), Some(ab.clone()));
        let append = KvInput::Append {
            key: "k".into(),
            value: "c".into(),
        };
        assert_eq!(m.step(&ab, &append, &out("")), Some(KvState::new("abc")));
        let put = KvInput::Put {
            key: "k".into(),
            value: "z".into(),
        };
        assert_eq!(m.step(&ab, &put, &out("")), Some(KvState::new("z")));
    }

    #[test]
    fn a_state_built_by_appends_equals_and_hashes_as_the_same_value_put_at_once() {
        let built = KvState::new("x 1").appended(" y").appended("");
        let put = KvState::new("x 1 y");
        assert_eq!(built, put);
        assert_eq!(built.hash, put.hash);
        assert_ne!(built, KvState::new("x 1 z"));
    }

    #[test]
    fn partitions_by_key_in_key_order() {
        let h = vec![
            KvModel::put(0, "b", "1", 0, 1),
            KvModel::get(1, "a", "", 0, 1),
            KvModel::append(0, "b", "2", 2, 3),
        ];
        assert_eq!(KvModel.partition(&h), vec![vec![1], vec![0, 2]]);
    }

    #[test]
    fn describes_operations_like_the_lab() {
        let h = [
            KvModel::get(0, "k", "v", 0, 1),
            KvModel::append(0, "k", "x", 0, 1),
        ];
        assert_eq!(
            KvModel.describe_operation(&h[0].input, &h[0].output),
            "get('k') -> 'v'"
        );
        assert_eq!(
            KvModel.describe_operation(&h[1].input, &h[1].output),
            "append('k', 'x')"
        );
    }
}
