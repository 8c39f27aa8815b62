//! Stopping a run early, on SIGINT or SIGTERM, without leaving a process behind.
//!
//! `raft-cluster` calls [`install`] first: the first SIGINT or SIGTERM then sets a flag of
//! this process, which the cluster's waits (for a node to serve, for a leader), the
//! nemesis's fault durations ([`sleep`]) and the clients poll, so that the run returns early and drops its cluster, whose guards SIGKILL
//! every node (a SIGSTOPped one too). A second signal, should that return hang, exits at
//! once with [`EXIT_INTERRUPTED`]; the nodes then stop on their own, as their parent watchdog
//! (`RAFTKV_EXIT_WITH_PARENT`, which the cluster sets) sees the harness gone (a paused node
//! only once continued).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::{Duration, Instant};

/// The exit status of a run stopped by a signal (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// How often an interruptible sleep looks at the flag.
const POLL: Duration = Duration::from_millis(20);

/// Set by the first SIGINT or SIGTERM once [`install`]ed.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Makes SIGINT and SIGTERM set the flag (the first one) or exit at once with
/// [`EXIT_INTERRUPTED`] (a second one).
///
/// # Errors
/// If a handler cannot be registered.
pub fn install() -> io::Result<()> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The conditional exit is registered first, so that the signal that sets the flag
        // does not also find it set.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(EXIT_INTERRUPTED),
            Arc::clone(&INTERRUPTED),
        )?;
        signal_hook::flag::register(signal, Arc::clone(&INTERRUPTED))?;
    }
    Ok(())
}

/// True once a signal asked the run to stop.
#[must_use]
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The error a step returns when a signal stopped the run.
#[must_use]
pub fn error() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "interrupted by a signal")
}

/// Sleeps for `duration`, or less if a signal asks the run to stop; true if it slept it all.
pub fn sleep(duration: Duration) -> bool {
    sleep_unless(&INTERRUPTED, duration)
}

/// Sleeps for `duration` unless `flag` is or becomes set; true if it slept it all.
fn sleep_unless(flag: &AtomicBool, duration: Duration) -> bool {
    let deadline = Instant::now() + duration;
    loop {
        if flag.load(Ordering::SeqCst) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(POLL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_ends_early_once_the_flag_is_set() {
        let flag = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        assert!(sleep_unless(&flag, Duration::from_millis(50)));
        assert!(started.elapsed() >= Duration::from_millis(50));
        let setter = {
            let flag = Arc::clone(&flag);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                flag.store(true, Ordering::SeqCst);
            })
        };
        let started = Instant::now();
        assert!(!sleep_unless(&flag, Duration::from_secs(30)));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        setter.join().expect("setter");
        assert!(
            !sleep_unless(&flag, Duration::from_secs(30)),
            "a set flag still slept"
        );
    }
}
