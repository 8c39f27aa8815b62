//! The timer thread stops after `cleanup()` and when the last `Network` handle is dropped.
//! A file of its own, so no other test's network shares the process.

use std::time::{Duration, Instant};

use raft_labrpc::{Network, TIMER_THREAD_NAME};

/// The number of this process's threads named `labrpc-timer` (Linux: /proc/self/task).
fn timer_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == TIMER_THREAD_NAME)
        .count()
}

/// Waits up to 2 s for the count to become `want` (a stopping thread finishes its current
/// task first), then asserts it.
fn expect_timer_threads(want: usize, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while timer_threads() != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(timer_threads(), want, "timer threads {when}");
}

#[test]
fn timer_thread_stops_on_cleanup_and_on_last_drop() {
    expect_timer_threads(0, "before any network");

    let rn = Network::new();
    expect_timer_threads(1, "with one network");
    rn.cleanup();
    expect_timer_threads(0, "after cleanup()");
    drop(rn);

    let rn = Network::new();
    let clone = rn.clone();
    let end = rn.make_end("e").unwrap();
    expect_timer_threads(1, "with one network and its clone");
    drop(rn);
    expect_timer_threads(1, "while a clone lives");
    drop(clone);
    expect_timer_threads(0, "after the last handle was dropped, though an end lives");
    drop(end);
}
