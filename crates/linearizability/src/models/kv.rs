//! The Lab 3 key/value model: the sequential specification the 6.824 tester checks a kvraft
//! service against (the lab's `models/kv.go`, written here).
//!
//! Operations: `Get(key)` returns the key's value, `Put(key, value)` replaces it,
//! `Append(key, value)` extends it. A key never written reads as `""`, and an append to it
//! acts as a put, so one empty string is the initial state. Operations on different keys never
//! constrain each other, so the history is partitioned by key (in sorted key order) and each
//! key is checked on its own, with the key's value as the state.

use std::collections::BTreeMap;

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

impl Model for KvModel {
    type Input = KvInput;
    type Output = KvOutput;
    /// The value of the partition's one key.
    type State = String;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: &KvOutput) -> Option<String> {
        match input {
            KvInput::Get { .. } => (output.value == *state).then(|| state.clone()),
            KvInput::Put { value, .. } => Some(value.clone()),
            KvInput::Append { value, .. } => Some(format!("{state}{value}")),
        }
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

    fn describe_state(&self, state: &String) -> String {
        format!("'{state}'")
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
        assert_eq!(
            m.step(&m.init(), &get("k"), &out("")),
            Some(String::new()),
            "missing key reads ''"
        );
        assert_eq!(
            m.step(&"ab".into(), &get("k"), &out("a")),
            None,
            "a read must see the state"
        );
        let append = KvInput::Append {
            key: "k".into(),
            value: "c".into(),
        };
        assert_eq!(m.step(&"ab".into(), &append, &out("")), Some("abc".into()));
        let put = KvInput::Put {
            key: "k".into(),
            value: "z".into(),
        };
        assert_eq!(m.step(&"ab".into(), &put, &out("")), Some("z".into()));
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
