//! The timer queue behind every delay of the network.
//!
//! labrpc sleeps in one goroutine per call. This port has no thread per call: every delayed
//! step (a request in flight, a dead end's failure, a reordered reply) is a task in one
//! binary heap ordered by (deadline, sequence number), drained by one timer thread per
//! network. Ties run in the order they were scheduled. After [`Timer::shut_down`] the queue
//! refuses new tasks (handing them back, so their caller can fail them at once) and the
//! thread's [`Timer::next_due`] returns `None`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A queue of tasks of type `T`, each due at a deadline.
pub(crate) struct Timer<T> {
    queue: Mutex<Queue<T>>,
    /// Signalled when a task is scheduled ahead of the earliest one, and on shut down.
    wake: Condvar,
}

struct Queue<T> {
    heap: BinaryHeap<Entry<T>>,
    next_seq: u64,
    shut_down: bool,
}

struct Entry<T> {
    deadline: Instant,
    seq: u64,
    task: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (Instant, u64) {
        (self.deadline, self.seq)
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    /// Reversed, so the max-heap pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

impl<T> Timer<T> {
    pub(crate) fn new() -> Self {
        Timer {
            queue: Mutex::new(Queue {
                heap: BinaryHeap::new(),
                next_seq: 0,
                shut_down: false,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        // No user code runs under this lock, so a poisoned lock still holds a sound queue.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `task` to run `delay_ms` from now, or hands it back if the timer is shut down.
    pub(crate) fn schedule(&self, delay_ms: u64, task: T) -> Result<(), T> {
        let deadline = Instant::now() + Duration::from_millis(delay_ms);
        let mut queue = self.lock();
        if queue.shut_down {
            return Err(task);
        }
        let wake = queue.heap.peek().is_none_or(|first| deadline < first.deadline);
        let seq = queue.next_seq;
        queue.next_seq += 1;
        queue.heap.push(Entry { deadline, seq, task });
        drop(queue);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Blocks until the earliest task is due and returns it; `None` once shut down.
    pub(crate) fn next_due(&self) -> Option<T> {
        let mut queue = self.lock();
        loop {
            if queue.shut_down {
                return None;
            }
            let now = Instant::now();
            let wait = match queue.heap.peek() {
                Some(first) if first.deadline <= now => {
                    return queue.heap.pop().map(|entry| entry.task);
                }
                Some(first) => Some(first.deadline - now),
                None => None,
            };
            queue = match wait {
                Some(timeout) => {
                    self.wake
                        .wait_timeout(queue, timeout)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.wake.wait(queue).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    /// Refuses all later tasks, wakes the timer thread so it exits, and returns the tasks
    /// that were still queued, earliest first.
    pub(crate) fn shut_down(&self) -> Vec<T> {
        let mut queue = self.lock();
        queue.shut_down = true;
        let heap = std::mem::take(&mut queue.heap);
        drop(queue);
        self.wake.notify_all();
        heap.into_sorted_vec()
            .into_iter()
            .rev()
            .map(|entry| entry.task)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_then_schedule_order() {
        let timer = Timer::new();
        for (delay_ms, name) in [(3, "c"), (0, "a1"), (0, "a2"), (1, "b")] {
            assert!(timer.schedule(delay_ms, name).is_ok());
        }
        let order: Vec<_> = (0..4).filter_map(|_| timer.next_due()).collect();
        assert_eq!(order, ["a1", "a2", "b", "c"]);
    }

    #[test]
    fn shut_down_returns_pending_and_refuses_more() {
        let timer = Timer::new();
        assert!(timer.schedule(10_000, 2).is_ok());
        assert!(timer.schedule(5_000, 1).is_ok());
        assert_eq!(timer.shut_down(), [1, 2]);
        assert_eq!(timer.schedule(0, 3), Err(3));
        assert_eq!(timer.next_due(), None);
    }
}
