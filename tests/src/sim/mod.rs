//! The simulated cluster: raft-core peers on a virtual clock and labrpc's network model, with
//! the scenario and its clients run as deterministically scheduled tasks.
//!
//! # Tasks
//!
//! A scenario is ordinary blocking code, and some scenarios start clients that run beside it
//! ([`crate::Config::scope`]). Each client is an OS thread, but only one task runs at a time:
//! the one holding the baton ([`Sched::running`]). A task gives the baton up only where real
//! time would pass, in [`SimCluster::sleep`], and when it waits for other tasks to finish. Then
//! the next task is chosen: the one that wakes first in virtual time, ties broken by a key drawn
//! from the seed; the world's events up to that instant run first. So a seed fixes the
//! interleaving of clients and peers exactly, and a failed run can be replayed bit for bit.
//!
//! If a task fails, the others are stopped at their next wait (they unwind with [`Aborted`],
//! which prints nothing), so a failing scenario ends at once and reports the first failure.

mod trace;
mod world;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use raft_core::Term;
use raft_storage::MemoryPersister;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::applier::Applier;
use world::World;

/// The panic payload that stops the other tasks of a failed scenario.
pub(crate) struct Aborted;

/// A task's number; the scenario itself is task 0.
type TaskId = u64;

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
}

struct Inner {
    world: World,
    sched: Sched,
}

/// The simulated cluster. Every method is called by the task holding the baton.
pub(crate) struct SimCluster {
    inner: Mutex<Inner>,
    baton: Condvar,
}

impl SimCluster {
    /// A cluster of `n` absent peers at virtual time zero; the calling thread is task 0.
    pub(crate) fn new(n: usize, seed: u64, applier: Arc<Applier>) -> SimCluster {
        TASK.with(|t| t.set(0));
        let mut tasks = BTreeMap::new();
        tasks.insert(
            0,
            TaskState {
                parent: None,
                wait: Wait::Running,
                key: 0,
            },
        );
        SimCluster {
            inner: Mutex::new(Inner {
                world: World::new(n, seed, applier),
                sched: Sched {
                    running: 0,
                    tasks,
                    next_id: 1,
                    rng: SmallRng::seed_from_u64(seed ^ 0x7a5c_0000_0000_0001),
                    aborted: false,
                    failure: None,
                },
            }),
            baton: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the world. A panic in it (a peer's broken invariant during `start`)
    /// unwinds the calling task after the lock is released, so the baton stays sound.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let result = {
            let mut inner = self.lock();
            catch_unwind(AssertUnwindSafe(|| f(&mut inner.world)))
        };
        result.unwrap_or_else(|payload| resume_unwind(payload))
    }

    /// Waits until the baton comes to task `me`. (Not `Condvar::wait_while`: on a poisoned
    /// lock it returns at the first wake-up, whoever holds the baton.)
    fn await_baton<'a>(&'a self, mut inner: MutexGuard<'a, Inner>, me: TaskId) -> MutexGuard<'a, Inner> {
        while inner.sched.running != me {
            inner = self.baton.wait(inner).unwrap_or_else(|e| e.into_inner());
        }
        inner
    }

    pub(crate) fn now(&self) -> Duration {
        Duration::from_micros(self.lock().world.now_us())
    }

    pub(crate) fn running(&self, i: usize) -> bool {
        self.lock().world.running(i)
    }

    pub(crate) fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        self.lock().world.get_state(i)
    }

    pub(crate) fn make_peer(&self, i: usize, seed: u64, persister: MemoryPersister) {
        self.lock().world.make_peer(i, seed, persister);
    }

    /// The trace's hash, its readable tail, and how many events ran.
    pub(crate) fn trace(&self) -> (u64, Vec<String>, u64) {
        let inner = self.lock();
        (
            inner.world.trace().hash(),
            inner.world.trace().tail(),
            inner.world.events(),
        )
    }

    /// The first failure of a client task, if one failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.lock().sched.failure.clone()
    }

    /// Lets `duration` of virtual time pass for the calling task; other tasks and the peers
    /// run meanwhile. Unwinds if another task failed.
    pub(crate) fn sleep(&self, duration: Duration) {
        let me = TASK.with(std::cell::Cell::get);
        let mut inner = self.lock();
        let until = inner.world.now_us() + duration.as_micros() as u64;
        inner = self.block(inner, me, Wait::Until(until));
        if let Some(fault) = inner.world.fault() {
            let fault = fault.to_owned();
            drop(inner);
            panic!("{fault}");
        }
        if inner.sched.aborted {
            drop(inner);
            resume_unwind(Box::new(Aborted));
        }
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
            },
        );
        id
    }

    /// The body of task `id`'s thread: wait for the baton, run `f`, pass the baton on.
    fn run_task<T>(&self, id: TaskId, f: impl FnOnce() -> T) -> T {
        TASK.with(|t| t.set(id));
        let aborted = self.await_baton(self.lock(), id).sched.aborted;
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
        let _ = self.pass_baton(&mut inner);
        drop(inner);
        match result {
            Ok(value) => value,
            Err(payload) => resume_unwind(payload),
        }
    }

    /// Waits until task `id` has finished.
    pub(crate) fn join_task(&self, id: TaskId) {
        let me = TASK.with(std::cell::Cell::get);
        let inner = self.lock();
        drop(self.block(inner, me, Wait::Join(id)));
    }

    /// The end of a scope: waits until every task the calling task started has finished;
    /// with `failed`, first stops them (the calling task is unwinding).
    pub(crate) fn end_scope(&self, failed: Option<&(dyn std::any::Any + Send)>) {
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
        mut inner: MutexGuard<'a, Inner>,
        me: TaskId,
        wait: Wait,
    ) -> MutexGuard<'a, Inner> {
        let key = inner.sched.rng.random();
        if let Some(task) = inner.sched.tasks.get_mut(&me) {
            task.wait = wait;
            task.key = key;
        }
        match self.pass_baton(&mut inner) {
            Some(next) if next == me => inner,
            Some(_) => self.await_baton(inner, me),
            None => {
                // Every task waits for another: a harness bug. Fail here, with the lock
                // released, rather than wait forever.
                if let Some(task) = inner.sched.tasks.get_mut(&me) {
                    task.wait = Wait::Running;
                }
                drop(inner);
                panic!("simulated tasks deadlocked: every task waits for another");
            }
        }
    }

    /// Chooses the task to run next, runs the world up to its waking instant, and hands it
    /// the baton. Returns its id, or `None` if no task can run.
    fn pass_baton(&self, inner: &mut Inner) -> Option<TaskId> {
        let now = inner.world.now_us();
        let (wake, id) = inner.sched.next(now)?;
        if wake > now {
            inner.world.run_until(wake);
        }
        if let Some(task) = inner.sched.tasks.get_mut(&id) {
            task.wait = Wait::Running;
        }
        inner.sched.running = id;
        self.baton.notify_all();
        Some(id)
    }
}

impl Sched {
    /// The task that can run soonest and when: `(wake instant, id)`.
    fn next(&self, now: u64) -> Option<(u64, TaskId)> {
        self.tasks
            .iter()
            .filter_map(|(&id, task)| {
                let wake = match task.wait {
                    Wait::Running => now,
                    Wait::Until(_) if self.aborted => now,
                    Wait::Until(at) => at.max(now),
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
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
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

/// The simulated side of [`crate::Scope`]: start a task.
impl SimCluster {
    pub(crate) fn spawn_task<'scope, F, T>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        f: F,
    ) -> (TaskId, std::thread::ScopedJoinHandle<'scope, T>)
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
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
