//! The Lab 3 key/value model: the sequential specification the 6.824 tester checks a kvraft
//! service against (the lab's `models/kv.go`, written here).
//!
//! Operations: `Get(key)` returns the key's value, `Put(key, value)` replaces it,
//! `Append(key, value)` extends it. A key never written reads as `""`, and an append to it
//! acts as a put, so one empty string is the initial state. Operations on different keys never
//! constrain each other, so the history is partitioned by key (in sorted key order) and each
//! key is checked on its own, with the key's value as the state ([`KvState`]).

use std::collections::BTreeMap;
use std::hash::Hash;
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

/// The service's answer: the value read for a `Get`; empty for `Put` and `Append`.
///
/// A value is kept as its [`Fingerprint`], and its text only up to [`KV_TEXT_KEPT_MAX`]
/// bytes (a longer one keeps its head and tail, for reports): the 6.824 tests read values
/// that grow with every append, and a history of tens of thousands of such reads would
/// otherwise hold gigabytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvOutput {
    fingerprint: Fingerprint,
    /// The whole text, or its head and tail when longer than [`KV_TEXT_KEPT_MAX`].
    shown: Arc<str>,
}

/// The longest value whose whole text a [`KvOutput`] keeps.
pub const KV_TEXT_KEPT_MAX: usize = 4096;

/// Bytes of a longer value's head, and of its tail, that a [`KvOutput`] keeps for reports.
const KV_TEXT_END_BYTES: usize = 64;

impl KvOutput {
    /// The answer `value`.
    pub fn new(value: &str) -> Self {
        let shown: Arc<str> = if value.len() <= KV_TEXT_KEPT_MAX {
            Arc::from(value)
        } else {
            let head = floor_char_boundary(value, KV_TEXT_END_BYTES);
            let tail = ceil_char_boundary(value, value.len() - KV_TEXT_END_BYTES);
            Arc::from(format!(
                "{}…[{} bytes]…{}",
                &value[..head],
                value.len(),
                &value[tail..]
            ))
        };
        Self {
            fingerprint: Fingerprint::of(value),
            shown,
        }
    }

    /// The value's whole text, if it was short enough to keep ([`KV_TEXT_KEPT_MAX`]).
    pub fn text(&self) -> Option<&str> {
        (self.fingerprint.len <= KV_TEXT_KEPT_MAX as u64).then_some(&*self.shown)
    }

    /// The value as reports show it: whole, or its head and tail.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The value's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

impl Default for KvOutput {
    fn default() -> Self {
        Self::new("")
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// A string as the checker compares it: its length and a polynomial hash modulo the Mersenne
/// prime 2^61 - 1, which extends in constant time when text is appended (the hash of `a + b`
/// is `hash(a) * BASE^len(b) + hash(b)`). The checker never copies a value: an append costs
/// the same whatever the value's length, where comparing and copying text costs its length
/// (quadratic over a history of appends to one key). Two different strings of one length
/// have the same hash for at most len of the 2^61 - 1 possible bases (the difference is a
/// nonzero polynomial of degree below len, over a field). The base is a fixed constant, not
/// drawn per check, so this is a heuristic bound: sound for values that are not chosen to
/// collide with this base, as the values of a test's history are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    len: u64,
    hash: u64,
    /// BASE^len modulo the prime: what appending this string multiplies a prefix's hash by.
    shift: u64,
}

/// The prime modulus of [`Fingerprint`]'s hash: 2^61 - 1.
const FINGERPRINT_PRIME: u64 = (1 << 61) - 1;
/// The base of [`Fingerprint`]'s polynomial: a fixed odd constant below the prime.
const FINGERPRINT_BASE: u64 = 0x1d3f_6a1c_b5e9_0a37 % FINGERPRINT_PRIME;

fn mul_mod(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    let folded = (product & u128::from(FINGERPRINT_PRIME)) + (product >> 61);
    let folded = (folded & u128::from(FINGERPRINT_PRIME)) + (folded >> 61);
    (folded as u64) % FINGERPRINT_PRIME
}

fn add_mod(a: u64, b: u64) -> u64 {
    (a + b) % FINGERPRINT_PRIME
}

impl Fingerprint {
    /// The empty string's.
    pub const EMPTY: Fingerprint = Fingerprint {
        len: 0,
        hash: 0,
        shift: 1,
    };

    /// The fingerprint of `text`.
    pub fn of(text: &str) -> Self {
        let mut hash = 0;
        let mut shift = 1;
        for &b in text.as_bytes() {
            hash = add_mod(mul_mod(hash, FINGERPRINT_BASE), u64::from(b) + 1);
            shift = mul_mod(shift, FINGERPRINT_BASE);
        }
        Self {
            len: text.len() as u64,
            hash,
            shift,
        }
    }

    /// The fingerprint of this string followed by `suffix`'s.
    #[must_use]
    pub fn then(self, suffix: Fingerprint) -> Self {
        Self {
            len: self.len + suffix.len,
            hash: add_mod(mul_mod(self.hash, suffix.shift), suffix.hash),
            shift: mul_mod(self.shift, suffix.shift),
        }
    }

    /// The string's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
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
            output: KvOutput::new(value),
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

/// The value of one key, as the checker holds it: its [`Fingerprint`] (what equality and the
/// search's cache look at), so that cloning, appending and comparing cost the same whatever the
/// value's length (the search clones a state per choice and per cached configuration); and,
/// for reports, its text while it is at most [`KV_STATE_TEXT_MAX`] bytes.
#[derive(Clone, Debug)]
pub struct KvState {
    fingerprint: Fingerprint,
    text: Option<Arc<str>>,
}

/// The longest value whose text a [`KvState`] keeps for reports.
pub const KV_STATE_TEXT_MAX: usize = 256;

impl KvState {
    /// The state holding `value`.
    pub fn new(value: &str) -> Self {
        Self {
            fingerprint: Fingerprint::of(value),
            text: (value.len() <= KV_STATE_TEXT_MAX).then(|| Arc::from(value)),
        }
    }

    /// The value's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The value's text, if it is short enough to be kept ([`KV_STATE_TEXT_MAX`]).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// This value with `suffix` appended.
    fn appended(&self, suffix: &str) -> Self {
        let fingerprint = self.fingerprint.then(Fingerprint::of(suffix));
        let text = match &self.text {
            Some(text) if fingerprint.len <= KV_STATE_TEXT_MAX as u64 => {
                Some(Arc::from(format!("{text}{suffix}")))
            }
            _ => None,
        };
        Self { fingerprint, text }
    }
}

impl PartialEq for KvState {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for KvState {}

impl Hash for KvState {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
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
            KvInput::Get { .. } => (output.fingerprint == state.fingerprint).then(|| state.clone()),
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
            KvInput::Get { key } => format!("get('{key}') -> '{}'", output.shown()),
            KvInput::Put { key, value } => format!("put('{key}', '{value}')"),
            KvInput::Append { key, value } => format!("append('{key}', '{value}')"),
        }
    }

    fn describe_state(&self, state: &KvState) -> String {
        match state.text() {
            Some(text) => format!("'{text}'"),
            None => format!("a value of {} bytes", state.fingerprint.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_follows_the_lab_semantics() {
        let m = KvModel;
        let get = |k: &str| KvInput::Get { key: k.into() };
        let out = KvOutput::new;
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
    fn a_state_built_by_appends_equals_the_same_value_put_at_once() {
        let built = KvState::new("x 1").appended(" y").appended("");
        let put = KvState::new("x 1 y");
        assert_eq!(built, put);
        assert_ne!(built, KvState::new("x 1 z"));
        assert_ne!(
            built,
            KvState::new("x 1 y "),
            "the length is part of the fingerprint"
        );
        assert_ne!(
            KvState::new("ab").appended("c"),
            KvState::new("a").appended("bc").appended("d")
        );
    }

    #[test]
    fn fingerprints_of_concatenations_agree_with_fingerprints_of_the_whole_text() {
        let pieces = ["", "x 0 0 y", "é", "x 12 345 y", "\u{0}", "long piece of text"];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let whole = format!("{a}{b}{c}");
                    let built = Fingerprint::of(a)
                        .then(Fingerprint::of(b))
                        .then(Fingerprint::of(c));
                    assert_eq!(built, Fingerprint::of(&whole), "{a:?} {b:?} {c:?}");
                }
            }
        }
        assert_ne!(Fingerprint::of("ab"), Fingerprint::of("ba"));
        assert_ne!(Fingerprint::of("\u{0}"), Fingerprint::of(""));
    }

    #[test]
    fn a_long_output_keeps_its_fingerprint_and_only_its_ends_as_text() {
        let long = "x 1 2 y".repeat(1000);
        let out = KvOutput::new(&long);
        assert_eq!(out.fingerprint(), Fingerprint::of(&long));
        assert_eq!(out.text(), None);
        assert!(out.shown().len() < 200 && out.shown().contains("7000 bytes"));
        let short = KvOutput::new("x 1 2 y");
        assert_eq!(short.text(), Some("x 1 2 y"));
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
