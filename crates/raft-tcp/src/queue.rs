//! A bounded queue that drops its oldest item when full: for messages to a peer, the newest
//! is worth the most (a newer heartbeat or vote request supersedes an older one, and Raft
//! resends whatever is lost).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A bounded multi-producer queue with one consumer that waits with a timeout.
#[derive(Debug)]
pub(crate) struct DropOldest<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    max: usize,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// What [`DropOldest::push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued.
    Queued,
    /// Queued, and the oldest item was dropped to make room.
    DroppedOldest,
    /// The queue is closed: the item was dropped.
    Closed,
}

impl<T> DropOldest<T> {
    /// An empty queue of at most `max` items (at least one).
    pub(crate) fn new(max: usize) -> DropOldest<T> {
        DropOldest {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
            max: max.max(1),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item`, dropping the oldest if the queue is full. Never blocks for long.
    pub(crate) fn push(&self, item: T) -> Pushed {
        let mut state = self.state();
        if state.closed {
            return Pushed::Closed;
        }
        let pushed = if state.items.len() >= self.max {
            state.items.pop_front();
            Pushed::DroppedOldest
        } else {
            Pushed::Queued
        };
        state.items.push_back(item);
        drop(state);
        self.ready.notify_one();
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
        state.items.pop_front()
    }

    /// Drops every queued item; returns how many.
    pub(crate) fn clear(&self) -> usize {
        let mut state = self.state();
        let n = state.items.len();
        state.items.clear();
        n
    }

    /// Drops every queued item and refuses new ones.
    pub(crate) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.items.clear();
        drop(state);
        self.ready.notify_all();
    }

    /// Wakes the consumer (to look at a stop flag).
    pub(crate) fn wake(&self) {
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let queue = DropOldest::new(2);
        assert_eq!(queue.push(1), Pushed::Queued);
        assert_eq!(queue.push(2), Pushed::Queued);
        assert_eq!(queue.push(3), Pushed::DroppedOldest);
        assert_eq!(queue.pop(Duration::ZERO), Some(2));
        assert_eq!(queue.pop(Duration::ZERO), Some(3));
        assert_eq!(queue.pop(Duration::from_millis(1)), None);
        queue.push(4);
        assert_eq!(queue.clear(), 1);
        queue.close();
        assert_eq!(queue.push(5), Pushed::Closed);
        assert_eq!(
            queue.pop(Duration::from_secs(10)),
            None,
            "a closed queue does not wait"
        );
    }
}
