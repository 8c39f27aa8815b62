//! The clients of a run: threads that each make random operations over a few keys through a
//! client of their own, every operation recorded in one [`OpLog`] with its call and return
//! times (nanoseconds on one monotonic clock since the run began).
//!
//! Every write writes a value of its own ([`write_value`]), so the read-back check can tell
//! the writes apart. What is recorded depends on how the call ended ([`Outcome`]):
//! - answered: the complete operation;
//! - given up after the request reached a server: a write is recorded with an unknown end
//!   ([`INDEFINITE`]: it may take effect at any later time), a read not at all (it changes
//!   nothing, and nothing was read);
//! - given up before any server had the request: nothing (it did not happen).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use linearizability::models::kv::{KvModel, KvOperation};
use raft_kv::KvOp;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::verify::write_value;
use crate::kv::{INDEFINITE, OpLog};

/// How one client call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered: the value read (`""` for a write).
    Done(String),
    /// Given up after the request reached a server: it may or may not take effect.
    Uncertain,
    /// Given up before any server received the request: it did not happen.
    NotSent,
}

/// A client of the key/value service, as the workload drives it: one call at a time.
pub trait KvClient: Send {
    /// Makes one call and says how it ended.
    fn call(&mut self, op: &KvOp) -> Outcome;
}

/// How many operations of each kind and outcome a run made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Gets called.
    pub gets: u64,
    /// Puts called.
    pub puts: u64,
    /// Appends called.
    pub appends: u64,
    /// Calls answered.
    pub answered: u64,
    /// Writes answered.
    pub writes_acknowledged: u64,
    /// Calls given up after reaching a server.
    pub uncertain: u64,
    /// Calls given up before reaching any server.
    pub not_sent: u64,
}

impl OpCounts {
    /// Every call made.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.gets + self.puts + self.appends
    }
}

/// The run's clock and history, shared by its clients and its nemesis.
pub struct Recorder {
    log: OpLog,
    start: Instant,
    gets: AtomicU64,
    puts: AtomicU64,
    appends: AtomicU64,
    answered: AtomicU64,
    writes_acknowledged: AtomicU64,
    uncertain: AtomicU64,
    not_sent: AtomicU64,
    /// The latest call time of a write that was acknowledged, plus one (0: none yet).
    latest_acknowledged_write_call: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            log: OpLog::new(),
            start: Instant::now(),
            gets: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            writes_acknowledged: AtomicU64::new(0),
            uncertain: AtomicU64::new(0),
            not_sent: AtomicU64::new(0),
            latest_acknowledged_write_call: AtomicU64::new(0),
        }
    }
}

impl Recorder {
    /// A recorder whose clock starts now.
    #[must_use]
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// Nanoseconds since the recorder was made: the history's clock.
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// Makes the call `op` as client `client` (its number in the history) through `kv`, and
    /// records it.
    pub fn run(&self, client: usize, kv: &mut dyn KvClient, op: &KvOp) -> Outcome {
        let counter = match op {
            KvOp::Get { .. } => &self.gets,
            KvOp::Put { .. } => &self.puts,
            KvOp::Append { .. } => &self.appends,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let call = self.now_ns();
        let outcome = kv.call(op);
        let ret = self.now_ns();
        let ret = match outcome {
            Outcome::Done(_) => {
                self.answered.fetch_add(1, Ordering::Relaxed);
                if !matches!(op, KvOp::Get { .. }) {
                    self.writes_acknowledged.fetch_add(1, Ordering::Relaxed);
                    self.latest_acknowledged_write_call
                        .fetch_max(call + 1, Ordering::SeqCst);
                }
                ret
            }
            Outcome::Uncertain => {
                self.uncertain.fetch_add(1, Ordering::Relaxed);
                INDEFINITE
            }
            Outcome::NotSent => {
                self.not_sent.fetch_add(1, Ordering::Relaxed);
                return outcome;
            }
        };
        let recorded = match (op, &outcome) {
            (KvOp::Get { key }, Outcome::Done(value)) => Some(KvModel::get(client, key, value, call, ret)),
            (KvOp::Get { .. }, _) => None,
            (KvOp::Put { key, value }, _) => Some(KvModel::put(client, key, value, call, ret)),
            (KvOp::Append { key, value }, _) => Some(KvModel::append(client, key, value, call, ret)),
        };
        if let Some(operation) = recorded {
            self.log.push(operation);
        }
        outcome
    }

    /// True once a write called at or after `since_ns` has been acknowledged.
    #[must_use]
    pub fn write_acknowledged_since(&self, since_ns: u64) -> bool {
        self.latest_acknowledged_write_call.load(Ordering::SeqCst) > since_ns
    }

    /// A copy of the history so far.
    #[must_use]
    pub fn history(&self) -> Vec<KvOperation> {
        self.log.read()
    }

    /// The counts so far.
    #[must_use]
    pub fn counts(&self) -> OpCounts {
        OpCounts {
            gets: self.gets.load(Ordering::Relaxed),
            puts: self.puts.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
            answered: self.answered.load(Ordering::Relaxed),
            writes_acknowledged: self.writes_acknowledged.load(Ordering::Relaxed),
            uncertain: self.uncertain.load(Ordering::Relaxed),
            not_sent: self.not_sent.load(Ordering::Relaxed),
        }
    }
}

/// The name of key `i` of a run.
#[must_use]
pub fn key_name(i: usize) -> String {
    format!("k{i}")
}

/// What the clients do.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// Client threads.
    pub clients: usize,
    /// Keys they share ([`key_name`] 0 to `keys - 1`).
    pub keys: usize,
    /// Seeds each client's choices (client `c` draws from `seed + c`).
    pub seed: u64,
    /// The longest pause between two calls of a client (drawn uniformly up to it): keeps the
    /// history, and the load on a small machine, moderate.
    pub pause_max: Duration,
    /// The most calls one client makes (a bound on the run whatever its time).
    pub ops_max: u64,
}

/// Out of 100 calls: this many gets, then puts; the rest are appends.
const GET_PERCENT: u32 = 40;
/// Out of 100 calls: this many puts (after the gets).
const PUT_PERCENT: u32 = 10;

/// Draws client `client`'s `n`th call.
fn draw_op(rng: &mut SmallRng, config: &WorkloadConfig, client: usize, n: u64) -> KvOp {
    let key = key_name(rng.random_range(0..config.keys.max(1)));
    let roll = rng.random_range(0..100);
    if roll < GET_PERCENT {
        KvOp::Get { key }
    } else if roll < GET_PERCENT + PUT_PERCENT {
        KvOp::Put {
            key,
            value: write_value(client, n),
        }
    } else {
        KvOp::Append {
            key,
            value: write_value(client, n),
        }
    }
}

/// The running clients; [`Clients::stop`] (or a drop) stops and joins them.
pub struct Clients {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Clients {
    /// Starts `config.clients` threads; client `c` calls through `connect(c)`, numbered `c`
    /// in the history.
    ///
    /// # Errors
    /// If a thread cannot be started (those already started are stopped).
    pub fn start(
        config: &WorkloadConfig,
        recorder: &Arc<Recorder>,
        mut connect: impl FnMut(usize) -> Box<dyn KvClient>,
    ) -> io::Result<Clients> {
        let mut clients = Clients {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::with_capacity(config.clients),
        };
        for client in 0..config.clients {
            let mut kv = connect(client);
            let stop = Arc::clone(&clients.stop);
            let recorder = Arc::clone(recorder);
            let config = config.clone();
            let thread = thread::Builder::new()
                .name(format!("client-{client}"))
                .spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(config.seed.wrapping_add(client as u64));
                    for n in 0..config.ops_max {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let op = draw_op(&mut rng, &config, client, n);
                        recorder.run(client, kv.as_mut(), &op);
                        if !config.pause_max.is_zero() {
                            thread::sleep(rng.random_range(Duration::ZERO..=config.pause_max));
                        }
                    }
                })?;
            clients.threads.push(thread);
        }
        Ok(clients)
    }

    /// Stops the clients after their current call, and waits for them.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a client thread panicked");
            }
        }
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;

    use linearizability::{CheckOptions, CheckResult};

    use super::*;
    use crate::cluster::verify::verify_read_back;
    use crate::kv::check_kv_history;

    /// An in-memory store behind a lock: linearizable by construction. With `drop_every`
    /// set, it acknowledges every such append without applying it (a lost write).
    pub(crate) struct MemoryKv {
        pub(crate) data: Arc<Mutex<HashMap<String, String>>>,
        pub(crate) appends: Arc<AtomicU64>,
        pub(crate) drop_every: Option<u64>,
    }

    impl KvClient for MemoryKv {
        fn call(&mut self, op: &KvOp) -> Outcome {
            let mut data = self.data.lock().unwrap_or_else(|e| e.into_inner());
            match op {
                KvOp::Get { key } => Outcome::Done(data.get(key).cloned().unwrap_or_default()),
                KvOp::Put { key, value } => {
                    data.insert(key.clone(), value.clone());
                    Outcome::Done(String::new())
                }
                KvOp::Append { key, value } => {
                    let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
                    if self.drop_every.is_none_or(|every| !n.is_multiple_of(every)) {
                        data.entry(key.clone()).or_default().push_str(value);
                    }
                    Outcome::Done(String::new())
                }
            }
        }
    }

    fn run(drop_every: Option<u64>) -> (Vec<KvOperation>, BTreeMap<String, String>, OpCounts) {
        let data = Arc::new(Mutex::new(HashMap::new()));
        let appends = Arc::new(AtomicU64::new(0));
        let recorder = Recorder::new();
        let config = WorkloadConfig {
            clients: 3,
            keys: 2,
            seed: 5,
            pause_max: Duration::ZERO,
            ops_max: 150,
        };
        let connect = |_| -> Box<dyn KvClient> {
            Box::new(MemoryKv {
                data: Arc::clone(&data),
                appends: Arc::clone(&appends),
                drop_every,
            })
        };
        let clients = Clients::start(&config, &recorder, connect).expect("clients");
        clients.stop_when_done();
        let mut reader = MemoryKv {
            data: Arc::clone(&data),
            appends: Arc::clone(&appends),
            drop_every: None,
        };
        let mut finals = BTreeMap::new();
        for k in 0..config.keys {
            let key = key_name(k);
            let Outcome::Done(value) =
                recorder.run(config.clients, &mut reader, &KvOp::Get { key: key.clone() })
            else {
                panic!("the memory store always answers");
            };
            finals.insert(key, value);
        }
        (recorder.history(), finals, recorder.counts())
    }

    impl Clients {
        /// Waits for every client to make all its calls.
        fn stop_when_done(mut self) {
            for thread in self.threads.drain(..) {
                thread.join().expect("client thread");
            }
        }
    }

    #[test]
    fn a_correct_store_passes_the_read_back_and_the_linearizability_check() {
        let (history, finals, counts) = run(None);
        assert_eq!(counts.total(), 3 * 150 + 2);
        assert_eq!(counts.answered, counts.total());
        assert_eq!(history.len() as u64, counts.total());
        assert!(
            counts.gets > 0 && counts.puts > 0 && counts.appends > 0,
            "{counts:?}"
        );
        let read_back = verify_read_back(&history, &finals);
        assert!(read_back.ok(), "{read_back:?}");
        assert_eq!(read_back.acknowledged as u64, counts.writes_acknowledged);
        let page = std::env::temp_dir().join("raft-tests-workload-ok.html");
        let checked = check_kv_history(&history, &CheckOptions::default(), &page).expect("well formed");
        assert_eq!(checked.report.result, CheckResult::Ok, "{:?}", checked.failure);
    }

    #[test]
    fn a_store_that_loses_acknowledged_appends_fails_both_checks() {
        let (history, finals, _) = run(Some(7));
        let read_back = verify_read_back(&history, &finals);
        assert!(!read_back.lost.is_empty(), "{read_back:?}");
        let page =
            std::env::temp_dir().join(format!("raft-tests-workload-lossy-{}.html", std::process::id()));
        let checked = check_kv_history(&history, &CheckOptions::default(), &page).expect("well formed");
        assert_eq!(checked.report.result, CheckResult::Illegal);
        let _ = std::fs::remove_file(page);
    }

    #[test]
    fn only_what_may_have_happened_is_recorded() {
        struct GivesUp(Outcome);
        impl KvClient for GivesUp {
            fn call(&mut self, _: &KvOp) -> Outcome {
                self.0.clone()
            }
        }
        let recorder = Recorder::new();
        let append = KvOp::Append {
            key: "k".into(),
            value: "[0.0]".into(),
        };
        let get = KvOp::Get { key: "k".into() };
        recorder.run(0, &mut GivesUp(Outcome::NotSent), &append);
        recorder.run(0, &mut GivesUp(Outcome::Uncertain), &get);
        assert!(recorder.history().is_empty());
        recorder.run(0, &mut GivesUp(Outcome::Uncertain), &append);
        let history = recorder.history();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].return_time, INDEFINITE);
        let counts = recorder.counts();
        assert_eq!((counts.uncertain, counts.not_sent, counts.answered), (2, 1, 0));
        // A write acknowledged now counts for a failover that began before it.
        let before = recorder.now_ns();
        assert!(!recorder.write_acknowledged_since(before));
        recorder.run(0, &mut GivesUp(Outcome::Done(String::new())), &append);
        assert!(recorder.write_acknowledged_since(before));
        assert!(!recorder.write_acknowledged_since(recorder.now_ns()));
    }
}
