//! The event queue: a min-heap on (virtual time, sequence number), so events at the same
//! microsecond run in the order they were scheduled and a run never depends on heap ties.
//! It is the world's one queue ([`crate::world::World`]): every suite's events wait here.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Most events one queue may hold: a run that floods it has a bug (a message storm).
pub const QUEUE_EVENTS_MAX: usize = 1_000_000;

#[derive(Debug)]
struct Scheduled<E> {
    at_us: u64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at_us, self.seq) == (other.at_us, other.seq)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    /// Reversed, so the max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_us, other.seq).cmp(&(self.at_us, self.seq))
    }
}

/// Events waiting for their time: the world's one queue ([`crate::world::Event`]s).
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Scheduled<E>>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `at_us`; false (and dropped) if the queue is full.
    pub fn push(&mut self, at_us: u64, event: E) -> bool {
        if self.heap.len() >= QUEUE_EVENTS_MAX {
            return false;
        }
        self.seq += 1;
        self.heap.push(Scheduled {
            at_us,
            seq: self.seq,
            event,
        });
        true
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.heap.pop().map(|s| (s.at_us, s.event))
    }

    /// The earliest event and its time, left in place.
    #[must_use]
    pub fn peek(&self) -> Option<(u64, &E)> {
        self.heap.peek().map(|s| (s.at_us, &s.event))
    }

    /// The time of the earliest event.
    #[must_use]
    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|s| s.at_us)
    }

    /// Events waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True if nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
