//! The search's working structures: the time-ordered list of call and return entries, which
//! the search unlinks operations from as it linearizes them (Lowe's "lift"), and the bitset of
//! linearized operations.

/// Whether an entry is an operation's call or its return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// The operation was invoked here.
    Call,
    /// The operation's response arrived here.
    Return,
}

/// The calls and returns of one partition, sorted by time, as a doubly linked list over an
/// array. Node 0 is the head sentinel and the last node the tail sentinel; nodes between hold
/// the entries in time order. Unlinking keeps a node's own links, so relinking nodes in the
/// reverse order of their unlinking restores the list exactly (Knuth's dancing links).
pub(crate) struct EntryList {
    next: Vec<usize>,
    prev: Vec<usize>,
    kind: Vec<EntryKind>,
    /// The partition-local operation index of each node (unused for the sentinels).
    operation: Vec<usize>,
    /// For a call node, the node of the same operation's return.
    return_node: Vec<usize>,
}

/// The head sentinel's node.
pub(crate) const HEAD: usize = 0;

impl EntryList {
    /// Builds the list for operations given as `(call_time, return_time)`, indexed 0..n.
    ///
    /// Order: by time; on equal times calls before returns, so closed intervals that touch
    /// overlap; remaining ties by operation index, so the order, and with it the search, is
    /// the same on every run.
    pub(crate) fn new(times: &[(u64, u64)]) -> Self {
        let mut entries: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * times.len());
        for (op, &(call_time, return_time)) in times.iter().enumerate() {
            assert!(call_time <= return_time, "operation {op} returns before its call");
            entries.push((call_time, 0, op));
            entries.push((return_time, 1, op));
        }
        entries.sort_unstable();
        let nodes = entries.len() + 2;
        let mut list = Self {
            next: (1..=nodes).collect(),
            prev: (0..nodes).map(|i| i.wrapping_sub(1)).collect(),
            kind: vec![EntryKind::Call; nodes],
            operation: vec![usize::MAX; nodes],
            return_node: vec![usize::MAX; nodes],
        };
        let mut call_node = vec![usize::MAX; times.len()];
        for (i, &(_, rank, op)) in entries.iter().enumerate() {
            let node = i + 1;
            list.operation[node] = op;
            if rank == 0 {
                list.kind[node] = EntryKind::Call;
                call_node[op] = node;
            } else {
                list.kind[node] = EntryKind::Return;
                list.return_node[call_node[op]] = node;
            }
        }
        list
    }

    /// The tail sentinel's node.
    pub(crate) fn tail(&self) -> usize {
        self.next.len() - 1
    }

    /// The first entry still linked (the tail when every operation is linearized).
    pub(crate) fn first(&self) -> usize {
        self.next[HEAD]
    }

    /// The node after `node`.
    pub(crate) fn next(&self, node: usize) -> usize {
        self.next[node]
    }

    /// Whether `node` is a call or a return.
    pub(crate) fn kind(&self, node: usize) -> EntryKind {
        self.kind[node]
    }

    /// The partition-local operation of `node`.
    pub(crate) fn operation(&self, node: usize) -> usize {
        self.operation[node]
    }

    /// Unlinks a call node and its return node: the operation is linearized.
    pub(crate) fn lift(&mut self, call: usize) {
        debug_assert_eq!(self.kind[call], EntryKind::Call, "only a call is lifted");
        self.unlink(call);
        self.unlink(self.return_node[call]);
    }

    /// Relinks what [`EntryList::lift`] unlinked; lifts are undone last first.
    pub(crate) fn unlift(&mut self, call: usize) {
        self.relink(self.return_node[call]);
        self.relink(call);
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        self.prev[next] = node;
    }
}

/// A fixed-size set of operation indices, one bit each, with a Zobrist hash (the XOR of a
/// fixed random word per member) kept up to date in O(1) per change, so the cache never
/// hashes the whole set.
///
/// The search numbers operations by call time, so the set it builds is nearly a prefix: all
/// operations below some point plus a few in flight. [`Bitset::window`] is that shape, the
/// count of leading all-ones words and the words from there to the last non-zero one, which
/// is what the cache copies and compares instead of the whole set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Box<[u64]>,
    zobrist: u64,
    /// Words `0..full_words` are all ones (and `full_words` is not, if it exists).
    full_words: usize,
    /// Words `top..` are all zero (and `top - 1` is not, if `top > 0`).
    top: usize,
}

impl Bitset {
    /// An empty set able to hold `0..bits`.
    pub(crate) fn new(bits: usize) -> Self {
        let words = vec![0; bits.div_ceil(64)].into_boxed_slice();
        Self {
            words,
            zobrist: 0,
            full_words: 0,
            top: 0,
        }
    }

    /// Adds `bit`, which must not be in the set.
    pub(crate) fn set(&mut self, bit: usize) {
        let w = bit / 64;
        debug_assert_eq!(self.words[w] & (1 << (bit % 64)), 0, "bit {bit} already set");
        self.words[w] |= 1 << (bit % 64);
        self.zobrist ^= zobrist_key(bit);
        self.top = self.top.max(w + 1);
        while self.full_words < self.words.len() && self.words[self.full_words] == u64::MAX {
            self.full_words += 1;
        }
    }

    /// Removes `bit`, which must be in the set.
    pub(crate) fn clear(&mut self, bit: usize) {
        let w = bit / 64;
        debug_assert_ne!(self.words[w] & (1 << (bit % 64)), 0, "bit {bit} not set");
        self.words[w] &= !(1 << (bit % 64));
        self.zobrist ^= zobrist_key(bit);
        self.full_words = self.full_words.min(w);
        while self.top > 0 && self.words[self.top - 1] == 0 {
            self.top -= 1;
        }
    }

    /// A hash of the members, independent of the order they were added in.
    pub(crate) fn zobrist(&self) -> u64 {
        self.zobrist
    }

    /// The set in short: the number of leading all-ones words, and the words after them up
    /// to the last non-zero one. Two sets of the same size are equal iff their windows are.
    pub(crate) fn window(&self) -> (usize, &[u64]) {
        let end = self.top.max(self.full_words);
        (self.full_words, &self.words[self.full_words..end])
    }
}

/// The fixed pseudo-random word of member `bit` (SplitMix64's finalizer of the index).
fn zobrist_key(bit: usize) -> u64 {
    let mut z = (bit as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(list: &EntryList) -> Vec<(EntryKind, usize)> {
        let mut out = Vec::new();
        let mut node = list.first();
        while node != list.tail() {
            out.push((list.kind(node), list.operation(node)));
            node = list.next(node);
        }
        out
    }

    #[test]
    fn equal_times_put_calls_before_returns_and_order_ties_by_operation() {
        // op 0 returns at 5 when op 1 is called at 5; op 2 takes no time at all.
        let list = EntryList::new(&[(0, 5), (5, 9), (5, 5)]);
        let expected = vec![
            (EntryKind::Call, 0),
            (EntryKind::Call, 1),
            (EntryKind::Call, 2),
            (EntryKind::Return, 0),
            (EntryKind::Return, 2),
            (EntryKind::Return, 1),
        ];
        assert_eq!(walk(&list), expected);
    }

    #[test]
    fn unlift_restores_the_list_exactly() {
        let mut list = EntryList::new(&[(0, 3), (1, 4), (2, 5)]);
        let before = walk(&list);
        let call1 = list.next(list.first());
        let call0 = list.first();
        list.lift(call1);
        assert_eq!(walk(&list).len(), 4, "op 1's two entries are gone");
        list.lift(call0);
        assert_eq!(walk(&list), vec![(EntryKind::Call, 2), (EntryKind::Return, 2)]);
        list.unlift(call0);
        list.unlift(call1);
        assert_eq!(walk(&list), before);
    }

    #[test]
    fn the_window_is_the_set_without_its_full_prefix_and_empty_tail() {
        let mut set = Bitset::new(64 * 5);
        for bit in 0..64 {
            set.set(bit);
        }
        set.set(64 * 2 + 1);
        assert_eq!(set.window(), (1, &[0, 2][..]));
        for bit in 64..128 {
            set.set(bit);
        }
        assert_eq!(set.window(), (2, &[2][..]));
        set.clear(64 * 2 + 1);
        assert_eq!(set.window(), (2, &[][..]));
        set.clear(3);
        assert_eq!(set.window(), (0, &[!(1 << 3), u64::MAX][..]));
    }

    #[test]
    fn bitset_sets_and_clears_across_words() {
        let mut set = Bitset::new(130);
        set.set(0);
        set.set(129);
        let mut other = Bitset::new(130);
        assert_ne!(set, other);
        other.set(129);
        other.set(0);
        assert_eq!(set, other);
        assert_eq!(set.zobrist(), other.zobrist(), "the hash ignores insertion order");
        set.clear(129);
        other.clear(129);
        assert_eq!(set, other);
        set.clear(0);
        assert_eq!((set.zobrist(), set), (0, Bitset::new(130)), "empty again");
    }
}
