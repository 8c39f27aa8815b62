//! `cargo xtask demo`: a live Raft cluster over 6.824's lossy network.
//!
//! Starts `--peers` peers (5) over the unreliable network, proposes a command every 100 ms to
//! whoever leads, and on a schedule cuts the leader off or crashes it (restarting it from its
//! persisted state a few seconds later). It prints who leads in which term as it changes, each
//! failover's time, the commit index at every peer once a second, and a summary at the end.
//!
//! Options: `--peers N`, `--seconds S` (20), `--seed X`, `--reliable`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use raft_core::Term;
use raft_labrpc::{ClientEnd, Network, Server};
use raft_node::{ApplyMsg, NodeOptions, RaftNode, make};
use raft_storage::MemoryPersister;

/// How often the monitor looks at the cluster.
const SAMPLE: Duration = Duration::from_millis(10);
/// How long a fault lasts before the peer is reconnected or restarted.
const FAULT_DURATION: Duration = Duration::from_secs(3);
/// The time between two faults.
const FAULT_EVERY: Duration = Duration::from_secs(4);
/// How often the client proposes a command.
const PROPOSE_EVERY: Duration = Duration::from_millis(100);

struct Options {
    peers: usize,
    seconds: u64,
    seed: u64,
    reliable: bool,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        peers: 5,
        seconds: 20,
        seed: clock_seed(),
        reliable: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--peers" => o.peers = value()?.parse().map_err(|e| format!("--peers: {e}"))?,
            "--seconds" => o.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--seed" => o.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--reliable" => o.reliable = true,
            "-h" | "--help" => {
                return Err(
                    "usage: cargo xtask demo [--peers N] [--seconds S] [--seed X] [--reliable]".into(),
                );
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if o.peers == 0 || o.peers > 99 {
        return Err("--peers must be between 1 and 99".into());
    }
    Ok(o)
}

/// One peer slot: the running node (if up), its persister, its applied commit index.
struct Slot {
    node: Option<Arc<RaftNode>>,
    persister: MemoryPersister,
    applied: Arc<AtomicU64>,
    generation: usize,
}

struct Cluster {
    net: Network,
    n: usize,
    seed: u64,
    slots: Vec<Slot>,
    /// Outgoing end names of each peer's current generation.
    ends: Vec<Vec<String>>,
    cut_off: Vec<bool>,
}

impl Cluster {
    fn new(n: usize, seed: u64, reliable: bool) -> Cluster {
        let net = Network::with_seed(seed);
        net.set_reliable(reliable);
        let slots = (0..n)
            .map(|_| Slot {
                node: None,
                persister: MemoryPersister::new(),
                applied: Arc::new(AtomicU64::new(0)),
                generation: 0,
            })
            .collect();
        let mut c = Cluster {
            net,
            n,
            seed,
            slots,
            ends: vec![Vec::new(); n],
            cut_off: vec![false; n],
        };
        for i in 0..n {
            c.start(i);
        }
        c
    }

    /// Starts (or restarts) peer `i` from its persisted state, with fresh ends.
    fn start(&mut self, i: usize) {
        let generation = self.slots[i].generation + 1;
        self.slots[i].generation = generation;
        let names: Vec<String> = (0..self.n).map(|j| format!("{i}->{j}#{generation}")).collect();
        let ends: Vec<ClientEnd> = names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let end = self.net.make_end(name.clone()).expect("end names are unique");
                self.net.connect(name, &j.to_string());
                end
            })
            .collect();
        self.ends[i] = names;
        let (apply_tx, apply_rx) = flume::unbounded();
        let applied = Arc::clone(&self.slots[i].applied);
        applied.store(0, Ordering::Relaxed);
        std::thread::spawn(move || {
            for msg in apply_rx.iter() {
                if let ApplyMsg::Command { index, .. } | ApplyMsg::Snapshot { index, .. } = msg {
                    applied.store(index.0, Ordering::Relaxed);
                }
            }
        });
        let options = NodeOptions {
            seed: Some(self.seed.wrapping_add(generation as u64 * 1000)),
            ..NodeOptions::default()
        };
        let persister = self.slots[i].persister.copy();
        self.slots[i].persister = persister.clone();
        let node = Arc::new(make(ends, i, persister, apply_tx, options).expect("a valid cluster"));
        let mut server = Server::new();
        server.add_service(node.service());
        self.net.add_server(i.to_string(), server);
        self.slots[i].node = Some(node);
        self.rewire();
    }

    /// Kills peer `i`; what it persisted stays in its slot.
    fn crash(&mut self, i: usize) {
        self.net.delete_server(&i.to_string());
        if let Some(node) = self.slots[i].node.take() {
            node.kill();
        }
        self.rewire();
    }

    fn set_cut_off(&mut self, i: usize, cut: bool) {
        self.cut_off[i] = cut;
        self.rewire();
    }

    /// Enables exactly the ends between peers that are up and not cut off.
    fn rewire(&self) {
        let up = |i: usize| self.slots[i].node.is_some() && !self.cut_off[i];
        for i in 0..self.n {
            for j in 0..self.n {
                if let Some(name) = self.ends[i].get(j) {
                    self.net.enable(name, up(i) && up(j));
                }
            }
        }
    }

    /// The leader of the highest term among peers that are up and not cut off.
    fn leader(&self) -> Option<(usize, Term)> {
        (0..self.n)
            .filter(|i| !self.cut_off[*i])
            .filter_map(|i| self.slots[i].node.as_ref().map(|n| (i, n.get_state())))
            .filter(|(_, (_, leader))| *leader)
            .map(|(i, (term, _))| (i, term))
            .max_by_key(|(_, term)| *term)
    }

    fn commits(&self) -> String {
        self.slots
            .iter()
            .map(|s| {
                if s.node.is_some() {
                    s.applied.load(Ordering::Relaxed).to_string()
                } else {
                    "-".into()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A fault in progress: which peer, what was done, when it ends, when it began.
struct Fault {
    peer: usize,
    crash: bool,
    began: Instant,
    old_term: Term,
    /// A new leader has been seen since the fault began.
    recovered: bool,
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!(
        "demo: {} peers over the {} network, {} s, seed {}",
        o.peers,
        if o.reliable {
            "reliable"
        } else {
            "unreliable (0-26 ms delays, 10% of requests and replies lost)"
        },
        o.seconds,
        o.seed
    );
    let mut c = Cluster::new(o.peers, o.seed, o.reliable);
    let started = Instant::now();
    let at = |t: Instant| t.duration_since(started).as_secs_f64();

    let mut last_leader: Option<(usize, Term)> = None;
    let mut leaderless_since: Option<Instant> = Some(started);
    let mut longest_leaderless = Duration::ZERO;
    let mut leaders_seen: Vec<(usize, Term)> = Vec::new();
    let mut failovers: Vec<Duration> = Vec::new();
    let mut fault: Option<Fault> = None;
    let mut next_fault = started + FAULT_EVERY;
    let mut next_propose = started;
    let mut next_status = started + Duration::from_secs(1);
    let mut proposed = 0u64;
    let mut fault_kind_crash = false;
    let end = started + Duration::from_secs(o.seconds);

    while Instant::now() < end {
        let now = Instant::now();
        let leader = c.leader();
        if leader != last_leader {
            match leader {
                Some((id, term)) => {
                    let gap = leaderless_since.map(|s| now - s);
                    println!(
                        "[{:6.2}s] n{id} leads term {term}{}",
                        at(now),
                        gap.map(|g| format!(" (no leader for {} ms)", g.as_millis()))
                            .unwrap_or_default()
                    );
                    if let Some(g) = gap {
                        longest_leaderless = longest_leaderless.max(g);
                    }
                    leaderless_since = None;
                    if !leaders_seen.contains(&(id, term)) {
                        leaders_seen.push((id, term));
                    }
                    if let Some(f) = fault
                        .as_mut()
                        .filter(|f| !f.recovered && term > f.old_term && id != f.peer)
                    {
                        let took = now - f.began;
                        println!("[{:6.2}s]   failover took {} ms", at(now), took.as_millis());
                        failovers.push(took);
                        f.recovered = true;
                    }
                }
                None => {
                    leaderless_since = Some(now);
                    println!("[{:6.2}s] no leader", at(now));
                }
            }
            last_leader = leader;
        }

        if now >= next_fault
            && fault.is_none()
            && let Some((id, term)) = leader
        {
            fault_kind_crash = !fault_kind_crash;
            if fault_kind_crash {
                println!("[{:6.2}s] crash the leader n{id}", at(now));
                c.crash(id);
            } else {
                println!("[{:6.2}s] cut the leader n{id} off from the others", at(now));
                c.set_cut_off(id, true);
            }
            fault = Some(Fault {
                peer: id,
                crash: fault_kind_crash,
                began: now,
                old_term: term,
                recovered: false,
            });
            // The monitor no longer sees the old leader: a leaderless period starts now.
            leaderless_since = Some(now);
            last_leader = None;
        }
        if let Some(f) = &fault
            && now >= f.began + FAULT_DURATION
        {
            if f.crash {
                println!("[{:6.2}s] restart n{} from its persisted state", at(now), f.peer);
                c.start(f.peer);
            } else {
                println!("[{:6.2}s] reconnect n{}", at(now), f.peer);
                c.set_cut_off(f.peer, false);
            }
            fault = None;
            next_fault = now + FAULT_EVERY - FAULT_DURATION;
        }
        if now >= next_propose {
            next_propose = now + PROPOSE_EVERY;
            if let Some((id, _)) = leader
                && let Some(node) = &c.slots[id].node
                && node.start(proposed.to_le_bytes().to_vec()).is_ok()
            {
                proposed += 1;
            }
        }
        if now >= next_status {
            next_status = now + Duration::from_secs(1);
            let l = leader.map_or("none".to_string(), |(id, term)| format!("n{id} (term {term})"));
            println!(
                "[{:6.2}s]   leader {l}; applied index per peer: {}",
                at(now),
                c.commits()
            );
        }
        std::thread::sleep(SAMPLE);
    }
    if let Some(since) = leaderless_since {
        longest_leaderless = longest_leaderless.max(Instant::now() - since);
    }

    let max_term = c
        .slots
        .iter()
        .filter_map(|s| s.node.as_ref())
        .map(|n| n.get_state().0)
        .max()
        .unwrap_or(Term(0));
    let applied_max = c
        .slots
        .iter()
        .map(|s| s.applied.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    println!();
    println!("summary after {:.1} s:", at(Instant::now()));
    println!(
        "  leaders seen:              {} (in {} different terms)",
        leaders_seen.len(),
        {
            let mut terms: Vec<Term> = leaders_seen.iter().map(|(_, t)| *t).collect();
            terms.dedup();
            terms.len()
        }
    );
    println!("  highest term:              {max_term}");
    println!(
        "  longest time without leader: {} ms",
        longest_leaderless.as_millis()
    );
    if failovers.is_empty() {
        println!("  failovers:                 none completed");
    } else {
        let ms: Vec<String> = failovers.iter().map(|d| d.as_millis().to_string()).collect();
        println!("  failovers (ms):            {}", ms.join(", "));
    }
    println!("  commands proposed:         {proposed}");
    println!(
        "  highest index applied:     {applied_max}; per peer: {}",
        c.commits()
    );
    println!(
        "  RPCs sent: {}, bytes: {}",
        c.net.total_count(),
        c.net.total_bytes()
    );
    for slot in &c.slots {
        if let Some(node) = &slot.node {
            node.kill();
        }
    }
    c.net.cleanup();
}

/// A seed from the clock, for runs that do not name one.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
