//! Client tasks on virtual time, scheduled from the seed: a driver's blocking code (a 6.824
//! scenario and the clients it starts) runs beside the world, one task at a time.
//!
//! Each task is an OS thread, but only one runs: the one holding the baton
//! (`Sched::running`). A task gives the baton up only where time would pass: in
//! [`Tasks::sleep`], in [`Tasks::wait_for`] (until the world signals a token, a clerk's call
//! answered, or a timeout passes), and when it waits for other tasks to finish. Then the
//! next task is chosen: the one that wakes first in virtual time (a task waiting for a token
//! at its timeout), ties broken by a key drawn from the seed; the world's events up to that
//! instant run first. If the world stops early because an event signalled tokens
//! ([`Clocked::take_signalled`]), the tasks waiting for them become runnable at that instant
//! and the choice is made again: a woken task resumes right after the event that woke it,
//! any other only once every event due by its instant has run. So a seed fixes the interleaving of clients and nodes
//! exactly, and a failed run replays bit for bit. The baton goes to exactly one thread,
//! which is unparked; no other thread wakes.
//!
//! If a task fails, the others are stopped at their next wait (they unwind with [`Aborted`],
//! which prints nothing), so a failing run ends at once and reports the first failure.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Mutex, MutexGuard};
use std::thread::Thread;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Mixed into the seed for the tie-breaking keys.
const TASKS_SEED: u64 = 0x7a5c_0000_0000_0001;

/// What the tasks run beside: a world with a clock it can run forward.
pub trait Clocked {
    /// Virtual time now, in microseconds.
    fn now_us(&self) -> u64;
    /// Runs every event due by `until_us` and moves the clock there (unless a failure stops
    /// it). A run in which an event signalled a token should return right after that event
    /// (early, the clock at it), so that the task woken by it resumes at that instant.
    fn run_until(&mut self, until_us: u64);
    /// The failure that stopped the world, if one did: the running task fails with it.
    fn failure(&self) -> Option<String>;
    /// Tokens signalled by the events run since last asked (a call answered): each wakes the
    /// task waiting for it ([`Tasks::wait_for`]), or the next task to wait for it. Default:
    /// none (a world nobody waits on).
    fn take_signalled(&mut self) -> Vec<u64> {
        Vec::new()
    }
}

/// The panic payload that stops the other tasks of a failed run.
pub struct Aborted;

/// A task's number; the driver's own thread is task 0.
pub type TaskId = u64;

std::thread_local! {
    /// The task the current thread runs.
    static TASK: std::cell::Cell<TaskId> = const { std::cell::Cell::new(0) };
}

/// What a task is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// It holds the baton.
    Running,
    /// Virtual time to reach this instant (microseconds).
    Until(u64),
    /// The world to signal `token`, or virtual time to reach `until` (microseconds).
    Token {
        /// The token waited for.
        token: u64,
        /// The timeout instant.
        until: u64,
    },
    /// Its token was signalled: runnable now.
    Signalled,
    /// That task to finish.
    Join(TaskId),
    /// All the tasks it started to finish.
    Children,
}

struct TaskState {
    parent: Option<TaskId>,
    wait: Wait,
    /// Breaks ties between tasks that wake at the same instant.
    key: u64,
    /// The task's thread, once it runs: woken when the baton comes to it.
    thread: Option<Thread>,
    /// Its last [`Wait::Token`] ended with the token signalled (not the timeout).
    woken_by_token: bool,
}

/// Who runs, who waits for what.
struct Sched {
    running: TaskId,
    tasks: BTreeMap<TaskId, TaskState>,
    next_id: TaskId,
    rng: SmallRng,
    aborted: bool,
    /// The first failure of any task, for the report.
    failure: Option<String>,
    /// Tokens the world signalled that no task has claimed yet.
    signalled: BTreeSet<u64>,
    /// The world's last run stopped at an event that signalled tokens: events due by the
    /// clock's instant may not have run yet.
    behind: bool,
}

struct Inner<W> {
    world: W,
    sched: Sched,
}

/// A world and the tasks that drive it. Every method is called by the task holding the baton.
pub struct Tasks<W> {
    inner: Mutex<Inner<W>>,
}

impl<W: Clocked> Tasks<W> {
    /// Tasks around `world`; the calling thread is task 0. `seed` draws the tie-breaking keys.
    pub fn new(world: W, seed: u64) -> Tasks<W> {
        TASK.with(|t| t.set(0));
        let mut tasks = BTreeMap::new();
        tasks.insert(
            0,
            TaskState {
                parent: None,
                wait: Wait::Running,
                key: 0,
                thread: Some(std::thread::current()),
                woken_by_token: false,
            },
        );
        Tasks {
            inner: Mutex::new(Inner {
                world,
                sched: Sched {
                    running: 0,
                    tasks,
                    next_id: 1,
                    rng: SmallRng::seed_from_u64(seed ^ TASKS_SEED),
                    aborted: false,
                    failure: None,
                    signalled: BTreeSet::new(),
                    behind: false,
                },
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<W>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the world. A panic in it (a node's broken invariant during a proposal)
    /// unwinds the calling task after the lock is released, so the baton stays sound.
    pub fn with<R>(&self, f: impl FnOnce(&mut W) -> R) -> R {
        let result = {
            let mut inner = self.lock();
            catch_unwind(AssertUnwindSafe(|| f(&mut inner.world)))
        };
        result.unwrap_or_else(|payload| resume_unwind(payload))
    }

    /// Waits until the baton comes to task `me`.
    fn await_baton<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner<W>>,
        me: TaskId,
    ) -> MutexGuard<'a, Inner<W>> {
        while inner.sched.running != me {
            drop(inner);
            std::thread::park();
            inner = self.lock();
        }
        inner
    }

    /// Virtual time now.
    pub fn now(&self) -> Duration {
        Duration::from_micros(self.lock().world.now_us())
    }

    /// The first failure of a task, if one failed.
    pub fn failure(&self) -> Option<String> {
        self.lock().sched.failure.clone()
    }

    /// Lets `duration` of virtual time pass for the calling task; other tasks and the world
    /// run meanwhile. Fails (panics) with the world's failure if it stopped; unwinds with
    /// [`Aborted`] if another task failed.
    pub fn sleep(&self, duration: Duration) {
        let me = TASK.with(std::cell::Cell::get);
        let mut inner = self.lock();
        let until = inner.world.now_us() + duration.as_micros() as u64;
        inner = self.block(inner, me, Wait::Until(until));
        if let Some(failure) = inner.world.failure() {
            drop(inner);
            panic!("{failure}");
        }
        if inner.sched.aborted {
            drop(inner);
            resume_unwind(Box::new(Aborted));
        }
    }

    /// Blocks the calling task until the world signals `token` (true) or `timeout` of
    /// virtual time passes (false); other tasks and the world run meanwhile. A token
    /// signalled before the wait began and not claimed yet returns true at once (each signal
    /// is claimed once). A token signalled at the timeout instant counts as in time. Fails
    /// (panics) with the world's failure if it stopped; unwinds with [`Aborted`] if another
    /// task failed.
    pub fn wait_for(&self, token: u64, timeout: Duration) -> bool {
        let me = TASK.with(std::cell::Cell::get);
        let mut inner = self.lock();
        let _ = collect_signals(&mut inner);
        if inner.sched.signalled.remove(&token) {
            return true;
        }
        let until = inner.world.now_us() + timeout.as_micros() as u64;
        inner = self.block(inner, me, Wait::Token { token, until });
        if let Some(failure) = inner.world.failure() {
            drop(inner);
            panic!("{failure}");
        }
        if inner.sched.aborted {
            drop(inner);
            resume_unwind(Box::new(Aborted));
        }
        // The wake-up took the token, if it was signalled: nothing is left to claim.
        inner
            .sched
            .tasks
            .get_mut(&me)
            .is_some_and(|task| std::mem::take(&mut task.woken_by_token))
    }

    /// Registers a new task, a child of the calling one, runnable now.
    fn register(&self) -> TaskId {
        let parent = TASK.with(std::cell::Cell::get);
        let mut inner = self.lock();
        let now = inner.world.now_us();
        let sched = &mut inner.sched;
        let id = sched.next_id;
        sched.next_id += 1;
        let key = sched.rng.random();
        sched.tasks.insert(
            id,
            TaskState {
                parent: Some(parent),
                wait: Wait::Until(now),
                key,
                thread: None,
                woken_by_token: false,
            },
        );
        id
    }

    /// The body of task `id`'s thread: wait for the baton, run `f`, pass the baton on.
    fn run_task<T>(&self, id: TaskId, f: impl FnOnce() -> T) -> T {
        TASK.with(|t| t.set(id));
        let mut inner = self.lock();
        if let Some(task) = inner.sched.tasks.get_mut(&id) {
            task.thread = Some(std::thread::current());
        }
        let aborted = self.await_baton(inner, id).sched.aborted;
        let result = if aborted {
            Err(Box::new(Aborted) as Box<dyn std::any::Any + Send>)
        } else {
            catch_unwind(AssertUnwindSafe(f))
        };
        let mut inner = self.lock();
        if let Err(payload) = &result {
            record_failure(&mut inner.sched, payload.as_ref());
        }
        inner.sched.tasks.remove(&id);
        // Its parent at least is still there, waiting for it or for time to pass.
        let _ = pass_baton(&mut inner);
        drop(inner);
        match result {
            Ok(value) => value,
            Err(payload) => resume_unwind(payload),
        }
    }

    /// Waits until task `id` has finished.
    pub fn join_task(&self, id: TaskId) {
        let me = TASK.with(std::cell::Cell::get);
        let inner = self.lock();
        drop(self.block(inner, me, Wait::Join(id)));
    }

    /// The end of a scope: waits until every task the calling task started has finished;
    /// with `failed`, first stops them (the calling task is unwinding).
    pub fn end_scope(&self, failed: Option<&(dyn std::any::Any + Send)>) {
        let me = TASK.with(std::cell::Cell::get);
        let mut inner = self.lock();
        if let Some(payload) = failed {
            record_failure(&mut inner.sched, payload);
        }
        drop(self.block(inner, me, Wait::Children));
    }

    /// Parks the calling task `me` on `wait` and runs others until it may go on.
    fn block<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner<W>>,
        me: TaskId,
        wait: Wait,
    ) -> MutexGuard<'a, Inner<W>> {
        let key = inner.sched.rng.random();
        if let Some(task) = inner.sched.tasks.get_mut(&me) {
            task.wait = wait;
            task.key = key;
            task.woken_by_token = false;
        }
        match pass_baton(&mut inner) {
            Some(next) if next == me => inner,
            Some(_) => self.await_baton(inner, me),
            None => {
                // Every task waits for another: a driver's bug. Fail here, with the lock
                // released, rather than wait forever.
                if let Some(task) = inner.sched.tasks.get_mut(&me) {
                    task.wait = Wait::Running;
                }
                drop(inner);
                panic!("simulated tasks deadlocked: every task waits for another");
            }
        }
    }

    /// Starts a task running `f` on a thread of `scope`, a child of the calling task.
    pub fn spawn_task<'scope, F, T>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        f: F,
    ) -> (TaskId, std::thread::ScopedJoinHandle<'scope, T>)
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
        W: Send,
    {
        let id = self.register();
        match catch_unwind(AssertUnwindSafe(|| scope.spawn(move || self.run_task(id, f)))) {
            Ok(handle) => (id, handle),
            Err(payload) => {
                // No thread will ever run the task: forget it, or its parent would wait forever.
                self.lock().sched.tasks.remove(&id);
                resume_unwind(payload)
            }
        }
    }
}

/// Chooses the task to run next, runs the world up to its waking instant, and hands it the
/// baton (waking its thread). Returns its id, or `None` if no task can run.
///
/// If the world stops early because an event signalled tokens, their waiters become
/// runnable at that event's instant and the choice is made again: a woken task resumes
/// right after the event that woke it; any other task (a sleeper, a timeout) only once the
/// world has run every event due by its instant, as without signals. A failure of the world
/// hands the baton to the task chosen, which fails with it.
fn pass_baton<W: Clocked>(inner: &mut Inner<W>) -> Option<TaskId> {
    let id = loop {
        let _ = collect_signals(inner);
        let now = inner.world.now_us();
        let (wake, id) = inner.sched.next(now)?;
        let woken = inner
            .sched
            .tasks
            .get(&id)
            .is_some_and(|task| task.wait == Wait::Signalled);
        let due = wake <= now && (woken || !inner.sched.behind);
        if due || inner.world.failure().is_some() {
            break id;
        }
        inner.world.run_until(wake.max(now));
        inner.sched.behind = collect_signals(inner);
    };
    inner.sched.running = id;
    if let Some(task) = inner.sched.tasks.get_mut(&id) {
        task.wait = Wait::Running;
        if let Some(thread) = &task.thread
            && thread.id() != std::thread::current().id()
        {
            thread.unpark();
        }
    }
    Some(id)
}

/// Takes the tokens the world signalled: each wakes the task waiting for it (the first by
/// id, if several wait for one), runnable now; a token nobody waits for is kept for the next
/// task to wait for it. True if there were any.
fn collect_signals<W: Clocked>(inner: &mut Inner<W>) -> bool {
    let tokens = inner.world.take_signalled();
    let any = !tokens.is_empty();
    for token in tokens {
        let waiter = inner
            .sched
            .tasks
            .values_mut()
            .find(|task| matches!(task.wait, Wait::Token { token: t, .. } if t == token));
        match waiter {
            Some(task) => {
                task.wait = Wait::Signalled;
                task.woken_by_token = true;
            }
            None => {
                inner.sched.signalled.insert(token);
            }
        }
    }
    any
}

impl Sched {
    /// The task that can run soonest and when: `(wake instant, id)`.
    fn next(&self, now: u64) -> Option<(u64, TaskId)> {
        self.tasks
            .iter()
            .filter_map(|(&id, task)| {
                let wake = match task.wait {
                    Wait::Running => now,
                    Wait::Until(_) | Wait::Token { .. } if self.aborted => now,
                    Wait::Until(at) | Wait::Token { until: at, .. } => at.max(now),
                    Wait::Signalled => now,
                    Wait::Join(other) if self.tasks.contains_key(&other) => return None,
                    Wait::Join(_) => now,
                    Wait::Children if self.tasks.values().any(|t| t.parent == Some(id)) => return None,
                    Wait::Children => now,
                };
                Some((wake, task.key, id))
            })
            .min()
            .map(|(wake, _, id)| (wake, id))
    }
}

/// Notes a task's failure (the first real one; [`Aborted`] is a consequence) and stops the rest.
fn record_failure(sched: &mut Sched, payload: &(dyn std::any::Any + Send)) {
    sched.aborted = true;
    if payload.is::<Aborted>() || sched.failure.is_some() {
        return;
    }
    sched.failure = Some(panic_message(payload));
}

/// The text of a panic payload.
#[must_use]
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if payload.is::<Aborted>() {
        "stopped because another task failed".to_owned()
    } else {
        "a panic without a message".to_owned()
    }
}
