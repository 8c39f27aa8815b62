//! A bounded queue that drops its oldest items when full: for messages to a peer, the newest
//! is worth the most (a newer heartbeat or vote request supersedes an older one, and Raft
//! resends whatever is lost).
//!
//! It is bounded twice: by a count of items, and by a budget of bytes (what the items hold,
//! as [`Queued::cost`] reckons it), so that a few large items (snapshots of up to
//! [`crate::FRAME_MAX`]) cannot pile up into gigabytes behind a slow connection. And an item
//! may make older ones useless ([`Queued::supersedes`]): those are dropped when it is queued.
//!
//! Items are dropped (freed) only after the queue's lock is released, so freeing a large one
//! never holds up the other side of the queue.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What the queue needs to know of an item.
pub(crate) trait Queued {
    /// About how many bytes the item holds while queued (for the byte budget): an upper
    /// bound of its frame is a good measure.
    fn cost(&self) -> usize;

    /// Whether this item, queued after `older`, makes `older` useless (it carries all that
    /// `older` did): `older` is then dropped. None do by default.
    fn supersedes(&self, older: &Self) -> bool {
        let _ = older;
        false
    }
}

/// A bounded multi-producer queue with one consumer that waits with a timeout.
#[derive(Debug)]
pub(crate) struct DropOldest<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    max_items: usize,
    max_bytes: usize,
}

#[derive(Debug)]
struct State<T> {
    /// Each item with its cost (reckoned once, when it was queued).
    items: VecDeque<(T, usize)>,
    /// The sum of the costs of `items`.
    bytes: usize,
    closed: bool,
}

/// What [`DropOldest::push`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// The queue is closed: the item was dropped (and nothing else).
    pub(crate) closed: bool,
    /// Older items dropped because the new one supersedes them.
    pub(crate) superseded: usize,
    /// Oldest items dropped to keep within the count and the byte budget.
    pub(crate) overflowed: usize,
}

impl<T: Queued> DropOldest<T> {
    /// An empty queue of at most `max_items` items (at least one) costing at most
    /// `max_bytes` together. One item is always admitted, whatever its cost: the newest.
    pub(crate) fn new(max_items: usize, max_bytes: usize) -> DropOldest<T> {
        DropOldest {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            max_items: max_items.max(1),
            max_bytes,
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item`: first drops the queued items it supersedes, then the oldest ones while
    /// the queue would hold too many or cost too much with it. Never blocks for long; what is
    /// dropped is freed after the lock is released.
    pub(crate) fn push(&self, item: T) -> Pushed {
        let cost = item.cost();
        let mut dropped: Vec<(T, usize)> = Vec::new();
        let mut pushed = Pushed::default();
        let mut state = self.state();
        if state.closed {
            drop(state);
            drop(item);
            pushed.closed = true;
            return pushed;
        }
        if state.items.iter().any(|(older, _)| item.supersedes(older)) {
            let items = std::mem::take(&mut state.items);
            for (older, older_cost) in items {
                if item.supersedes(&older) {
                    state.bytes -= older_cost;
                    dropped.push((older, older_cost));
                    pushed.superseded += 1;
                } else {
                    state.items.push_back((older, older_cost));
                }
            }
        }
        while !state.items.is_empty()
            && (state.items.len() >= self.max_items || state.bytes.saturating_add(cost) > self.max_bytes)
        {
            if let Some((oldest, oldest_cost)) = state.items.pop_front() {
                state.bytes -= oldest_cost;
                dropped.push((oldest, oldest_cost));
                pushed.overflowed += 1;
            }
        }
        state.bytes += cost;
        state.items.push_back((item, cost));
        drop(state);
        self.ready.notify_one();
        drop(dropped);
        pushed
    }

    /// The oldest item, waiting at most `wait` for one.
    pub(crate) fn pop(&self, wait: Duration) -> Option<T> {
        let mut state = self.state();
        if state.items.is_empty() && !state.closed {
            state = self
                .ready
                .wait_timeout(state, wait)
                .map_or_else(|e| e.into_inner().0, |(guard, _)| guard);
        }
        let (item, cost) = state.items.pop_front()?;
        state.bytes -= cost;
        Some(item)
    }

    /// Drops every queued item (freed after the lock is released); returns how many.
    pub(crate) fn clear(&self) -> usize {
        let mut state = self.state();
        let items = std::mem::take(&mut state.items);
        state.bytes = 0;
        drop(state);
        items.len()
    }

    /// Drops every queued item and refuses new ones.
    pub(crate) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        let items = std::mem::take(&mut state.items);
        state.bytes = 0;
        drop(state);
        self.ready.notify_all();
        drop(items);
    }

    /// Wakes the consumer (to look at a stop flag).
    pub(crate) fn wake(&self) {
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test item: a name, a cost, and the names of the items it supersedes.
    #[derive(Debug, PartialEq, Eq)]
    struct Item {
        name: u32,
        cost: usize,
        supersedes: Vec<u32>,
    }

    fn item(name: u32, cost: usize) -> Item {
        Item {
            name,
            cost,
            supersedes: Vec::new(),
        }
    }

    impl Queued for Item {
        fn cost(&self) -> usize {
            self.cost
        }

        fn supersedes(&self, older: &Item) -> bool {
            self.supersedes.contains(&older.name)
        }
    }

    fn names(queue: &DropOldest<Item>) -> Vec<u32> {
        let mut names = Vec::new();
        while let Some(item) = queue.pop(Duration::ZERO) {
            names.push(item.name);
        }
        names
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let queue = DropOldest::new(2, usize::MAX);
        assert_eq!(queue.push(item(1, 1)), Pushed::default());
        assert_eq!(queue.push(item(2, 1)), Pushed::default());
        assert_eq!(queue.push(item(3, 1)).overflowed, 1);
        assert_eq!(queue.pop(Duration::ZERO).map(|i| i.name), Some(2));
        assert_eq!(queue.pop(Duration::ZERO).map(|i| i.name), Some(3));
        assert_eq!(queue.pop(Duration::from_millis(1)), None);
        queue.push(item(4, 1));
        assert_eq!(queue.clear(), 1);
        queue.close();
        assert!(queue.push(item(5, 1)).closed);
        assert_eq!(
            queue.pop(Duration::from_secs(10)),
            None,
            "a closed queue does not wait"
        );
    }

    #[test]
    fn the_byte_budget_drops_the_oldest_but_always_admits_the_newest() {
        let queue = DropOldest::new(100, 10);
        for name in 0..3 {
            assert_eq!(queue.push(item(name, 3)).overflowed, 0);
        }
        // 12 bytes would be over the budget of 10: the oldest goes.
        assert_eq!(queue.push(item(3, 3)).overflowed, 1);
        // And as many of the oldest as it takes.
        assert_eq!(queue.push(item(4, 7)).overflowed, 2);
        assert_eq!(names(&queue), [3, 4]);
        // An item over the whole budget empties the queue, and is queued alone.
        queue.push(item(5, 1));
        assert_eq!(queue.push(item(6, 50)).overflowed, 1);
        assert_eq!(names(&queue), [6]);
        // Popping gives its cost back.
        for name in 7..10 {
            queue.push(item(name, 5));
            assert_eq!(names(&queue), [name]);
        }
        queue.push(item(10, 5));
        assert_eq!(queue.push(item(11, 5)).overflowed, 0, "the budget was given back");
    }

    #[test]
    fn a_new_item_replaces_those_it_supersedes() {
        let queue = DropOldest::new(100, 100);
        queue.push(item(1, 30));
        queue.push(item(2, 30));
        queue.push(item(3, 30));
        let pushed = queue.push(Item {
            name: 4,
            cost: 30,
            supersedes: vec![1, 3],
        });
        // Superseding made room: nothing else was dropped for the budget.
        assert_eq!(
            pushed,
            Pushed {
                closed: false,
                superseded: 2,
                overflowed: 0
            }
        );
        assert_eq!(names(&queue), [2, 4]);
    }
}
