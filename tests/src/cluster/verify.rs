//! The read-back check: after the last fault is healed and every node restarted, the value of
//! every key must account for every write the clients saw acknowledged.
//!
//! Every write carries a value no other write has ([`write_value`]: `[client.n]`), so a key's
//! final value reads as the list of writes that built it. A put replaces the value, an append
//! adds to it, so the final value is the last put to take effect (if any) followed by the
//! appends after it. For each key, with `W` the put whose value opens the final value:
//! - the value must be a list of `[..]` values each written to this key, none twice, and only
//!   the first may be a put's;
//! - an acknowledged append must be in the value, unless `W` may have come after it (it did
//!   not end before the append began), which would have erased it;
//! - an acknowledged put must be `W`, or be erased by `W` under the same rule;
//! - an append in the value must not have ended before `W` began (it would precede `W`'s
//!   erasure);
//! - one client's acknowledged appends in the value appear in the order the client made them.
//!
//! A write the client gave up on (recorded [`crate::kv::INDEFINITE`]) may be there or not, at
//! most once. An acknowledged write that is neither there nor erased is *lost*; anything else
//! wrong is an *anomaly*. Both fail the run. This needs no search: it is a direct account of
//! acknowledged writes, independent of the linearizability check, which judges the reads too.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use linearizability::models::kv::{KvInput, KvOperation};

use crate::kv::INDEFINITE;

/// The value the `n`th operation of client `client` writes: unique in the run, and
/// self-delimiting, so a key's value splits back into the writes that built it.
#[must_use]
pub fn write_value(client: usize, n: u64) -> String {
    format!("[{client}.{n}]")
}

/// Splits a value into its `[..]` pieces; `None` if it is not such a list.
fn pieces(value: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        if !rest.starts_with('[') {
            return None;
        }
        let end = rest.find(']')?;
        if rest[1..end].contains('[') {
            return None;
        }
        out.push(&rest[..=end]);
        rest = &rest[end + 1..];
    }
    Some(out)
}

/// What the read-back found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadBack {
    /// Keys read back.
    pub keys: usize,
    /// Writes acknowledged to their client (puts and appends).
    pub acknowledged: usize,
    /// Of the writes given up after reaching a server, how many took effect.
    pub uncertain_applied: usize,
    /// Of the writes given up after reaching a server, how many did not (or were erased).
    pub uncertain_absent: usize,
    /// Every acknowledged write that is missing without a put to explain it, described.
    pub lost: Vec<String>,
    /// Everything else wrong: an unknown or repeated value, a put in the middle, an order
    /// broken, described.
    pub anomalies: Vec<String>,
}

impl ReadBack {
    /// True if nothing was lost and nothing is wrong.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.lost.is_empty() && self.anomalies.is_empty()
    }
}

impl fmt::Display for ReadBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} keys, {} acknowledged writes, {} lost, {} anomalies; writes given up: {} took \
             effect, {} did not",
            self.keys,
            self.acknowledged,
            self.lost.len(),
            self.anomalies.len(),
            self.uncertain_applied,
            self.uncertain_absent
        )
    }
}

/// One write of the history, as the check sees it.
struct Write<'a> {
    index: usize,
    client: usize,
    value: &'a str,
    put: bool,
    call: u64,
    ret: u64,
}

impl Write<'_> {
    fn acknowledged(&self) -> bool {
        self.ret != INDEFINITE
    }

    fn describe(&self) -> String {
        let what = if self.put { "put" } else { "append" };
        let ret = if self.acknowledged() {
            format!("{:.3} s", self.ret as f64 / 1e9)
        } else {
            "never".to_owned()
        };
        format!(
            "{what} {} by client {} (operation {}, called at {:.3} s, acknowledged {ret})",
            self.value,
            self.client,
            self.index,
            self.call as f64 / 1e9
        )
    }
}

/// Checks the final value of every key in `finals` against the writes of `history`; see the
/// [module](self) documentation. Writes to keys missing from `finals` count as lost.
#[must_use]
pub fn verify_read_back(history: &[KvOperation], finals: &BTreeMap<String, String>) -> ReadBack {
    let mut by_key: BTreeMap<&str, Vec<Write<'_>>> = BTreeMap::new();
    for (index, op) in history.iter().enumerate() {
        let (key, value, put) = match &op.input {
            KvInput::Get { .. } => continue,
            KvInput::Put { key, value } => (key, value, true),
            KvInput::Append { key, value } => (key, value, false),
        };
        by_key.entry(key).or_default().push(Write {
            index,
            client: op.client_id,
            value,
            put,
            call: op.call_time,
            ret: op.return_time,
        });
    }
    let mut out = ReadBack {
        keys: finals.len(),
        ..ReadBack::default()
    };
    for (key, writes) in &by_key {
        out.acknowledged += writes.iter().filter(|w| w.acknowledged()).count();
        match finals.get(*key) {
            Some(value) => verify_key(key, value, writes, &mut out),
            None => {
                for w in writes.iter().filter(|w| w.acknowledged()) {
                    out.lost
                        .push(format!("key {key:?} was not read back: {}", w.describe()));
                }
            }
        }
    }
    for (key, value) in finals {
        if !by_key.contains_key(key.as_str()) && !value.is_empty() {
            out.anomalies
                .push(format!("key {key:?} was never written but reads {value:?}"));
        }
    }
    out
}

fn verify_key(key: &str, value: &str, writes: &[Write<'_>], out: &mut ReadBack) {
    let Some(pieces) = pieces(value) else {
        out.anomalies.push(format!(
            "key {key:?} reads {value:?}, which is not a list of written values"
        ));
        return;
    };
    let by_value: HashMap<&str, &Write<'_>> = writes.iter().map(|w| (w.value, w)).collect();
    // Where each write's value is in the final value.
    let mut position: HashMap<usize, usize> = HashMap::new();
    for (at, piece) in pieces.iter().enumerate() {
        let Some(w) = by_value.get(piece) else {
            out.anomalies
                .push(format!("key {key:?} holds {piece}, which no client wrote to it"));
            continue;
        };
        if position.insert(w.index, at).is_some() {
            out.anomalies
                .push(format!("key {key:?} holds {piece} twice: {}", w.describe()));
        }
        if w.put && at > 0 {
            out.anomalies.push(format!(
                "key {key:?} holds the value of a put after other values: {}",
                w.describe()
            ));
        }
    }
    // The put whose value opens the final value: the last to take effect.
    let last_put = pieces
        .first()
        .and_then(|piece| by_value.get(piece))
        .filter(|w| w.put);
    // `w` may have taken effect before the last put, which then erased it: the put did not
    // end before `w` began.
    let erasable = |w: &Write<'_>| last_put.is_some_and(|p| p.index != w.index && p.ret >= w.call);
    for w in writes {
        let present = position.contains_key(&w.index);
        if !w.acknowledged() {
            if present {
                out.uncertain_applied += 1;
            } else {
                out.uncertain_absent += 1;
            }
            continue;
        }
        if !present && !erasable(w) {
            out.lost
                .push(format!("key {key:?} lost the acknowledged {}", w.describe()));
        }
    }
    if let Some(p) = last_put {
        for w in writes
            .iter()
            .filter(|w| !w.put && position.contains_key(&w.index))
        {
            if w.acknowledged() && w.ret < p.call {
                out.anomalies.push(format!(
                    "key {key:?} holds {} after the put {}, yet the append ended before the put \
                     began",
                    w.describe(),
                    p.value
                ));
            }
        }
    }
    // One client's acknowledged appends, in the order it made them (one at a time).
    let mut per_client: BTreeMap<usize, Vec<&Write<'_>>> = BTreeMap::new();
    for w in writes.iter().filter(|w| !w.put && w.acknowledged()) {
        if position.contains_key(&w.index) {
            per_client.entry(w.client).or_default().push(w);
        }
    }
    for (client, mut appends) in per_client {
        appends.sort_by_key(|w| w.call);
        for pair in appends.windows(2) {
            if position[&pair[0].index] > position[&pair[1].index] {
                out.anomalies.push(format!(
                    "key {key:?} holds client {client}'s appends out of order: {} after {}",
                    pair[0].value, pair[1].value
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use linearizability::models::kv::KvModel;

    use super::*;

    fn finals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn append(client: usize, n: u64, call: u64, ret: u64) -> KvOperation {
        KvModel::append(client, "k", &write_value(client, n), call, ret)
    }

    fn put(client: usize, n: u64, call: u64, ret: u64) -> KvOperation {
        KvModel::put(client, "k", &write_value(client, n), call, ret)
    }

    #[test]
    fn values_split_back_into_the_writes_that_built_them() {
        assert_eq!(pieces("[0.1][12.3]"), Some(vec!["[0.1]", "[12.3]"]));
        assert_eq!(pieces(""), Some(vec![]));
        assert_eq!(pieces("[0.1]x"), None);
        assert_eq!(pieces("[0.1"), None);
        assert_eq!(pieces("[0.[1]"), None);
    }

    #[test]
    fn every_acknowledged_append_present_once_in_order_passes() {
        let history = vec![
            append(0, 0, 10, 20),
            append(1, 0, 15, 30),
            append(0, 1, 25, 40),
            KvModel::get(2, "k", "[0.0]", 21, 22),
        ];
        let got = verify_read_back(&history, &finals(&[("k", "[0.0][1.0][0.1]"), ("other", "")]));
        assert!(got.ok(), "{got:?}");
        assert_eq!((got.keys, got.acknowledged), (2, 3));
    }

    #[test]
    fn a_missing_acknowledged_append_is_lost() {
        let history = vec![append(0, 0, 10, 20), append(0, 1, 25, 40)];
        let got = verify_read_back(&history, &finals(&[("k", "[0.0]")]));
        assert_eq!(got.lost.len(), 1, "{got:?}");
        assert!(got.lost[0].contains("[0.1]"), "{got:?}");
        // A key not read back at all loses all its acknowledged writes.
        let got = verify_read_back(&history, &finals(&[]));
        assert_eq!(got.lost.len(), 2);
    }

    #[test]
    fn duplicates_unknown_values_garbage_and_misordered_appends_are_anomalies() {
        let history = vec![append(0, 0, 10, 20), append(0, 1, 25, 40)];
        for (value, expected) in [
            ("[0.0][0.1][0.0]", "twice"),
            ("[0.0][0.1][7.7]", "no client wrote"),
            ("[0.0][0.1]junk", "not a list"),
            ("[0.1][0.0]", "out of order"),
        ] {
            let got = verify_read_back(&history, &finals(&[("k", value)]));
            assert!(
                got.anomalies.iter().any(|a| a.contains(expected)),
                "{value}: {got:?}"
            );
            assert!(!got.ok());
        }
        let got = verify_read_back(&[], &finals(&[("k", "[0.0]")]));
        assert!(got.anomalies[0].contains("never written"), "{got:?}");
    }

    #[test]
    fn a_put_explains_the_writes_it_may_have_erased_and_no_others() {
        // Append [0.0] ends at 20; put [1.0] runs 15..30, so it may come after the append.
        let history = vec![append(0, 0, 10, 20), put(1, 0, 15, 30), append(0, 1, 35, 40)];
        let got = verify_read_back(&history, &finals(&[("k", "[1.0][0.1]")]));
        assert!(got.ok(), "{got:?}");
        // An append that began after the put ended cannot have been erased by it.
        let history = vec![put(1, 0, 15, 30), append(0, 1, 35, 40)];
        let got = verify_read_back(&history, &finals(&[("k", "[1.0]")]));
        assert_eq!(got.lost.len(), 1, "{got:?}");
        // A put in the middle of the value is impossible.
        let history = vec![append(0, 0, 10, 20), put(1, 0, 25, 30)];
        let got = verify_read_back(&history, &finals(&[("k", "[0.0][1.0]")]));
        assert!(
            got.anomalies.iter().any(|a| a.contains("after other values")),
            "{got:?}"
        );
        // An append that ended before the put began cannot follow the put's value.
        let got = verify_read_back(&history, &finals(&[("k", "[1.0][0.0]")]));
        assert!(
            got.anomalies.iter().any(|a| a.contains("ended before the put")),
            "{got:?}"
        );
    }

    #[test]
    fn an_acknowledged_put_must_be_the_last_or_erased_by_it() {
        // Two puts: [0.0] ends at 20 before [1.0] begins at 25: [1.0] erased it.
        let history = vec![put(0, 0, 10, 20), put(1, 0, 25, 30)];
        assert!(verify_read_back(&history, &finals(&[("k", "[1.0]")])).ok());
        // But [1.0] cannot be erased by [0.0], which ended before [1.0] began.
        let got = verify_read_back(&history, &finals(&[("k", "[0.0]")]));
        assert_eq!(got.lost.len(), 1, "{got:?}");
        assert!(got.lost[0].contains("put [1.0]"), "{got:?}");
        // Nor by nothing: the value does not open with a put.
        let history = vec![put(0, 0, 10, 20), append(1, 0, 25, 30)];
        let got = verify_read_back(&history, &finals(&[("k", "[1.0]")]));
        assert_eq!(got.lost.len(), 1, "{got:?}");
    }

    #[test]
    fn writes_given_up_may_be_there_or_not_but_are_counted() {
        let history = vec![
            append(0, 0, 10, INDEFINITE),
            append(0, 1, 20, 30),
            append(1, 0, 12, INDEFINITE),
        ];
        let got = verify_read_back(&history, &finals(&[("k", "[0.0][0.1]")]));
        assert!(got.ok(), "{got:?}");
        assert_eq!(
            (got.acknowledged, got.uncertain_applied, got.uncertain_absent),
            (1, 1, 1)
        );
        // At most once, still.
        let got = verify_read_back(&history, &finals(&[("k", "[0.0][0.1][0.0]")]));
        assert!(!got.ok());
        // An indefinite put may be the last and erase anything it overlaps.
        let history = vec![append(0, 0, 10, 20), put(1, 0, 5, INDEFINITE)];
        assert!(verify_read_back(&history, &finals(&[("k", "[1.0]")])).ok());
    }
}
