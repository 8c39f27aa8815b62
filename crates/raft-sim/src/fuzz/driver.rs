//! The fuzzer's step loop: the peers, the bag of messages they sent, one seeded choice per
//! step, each input guarded and carried out, the properties checked, findings kept.

use raft_core::message::{AppendOutcome, Message, Reply};
use raft_core::{Config, LogIndex, PeerId, ReadMode};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::mutate::Mutator;
use super::peer::{Broken, FuzzedPeer, Input};
use super::watch::RESTARTS_FROM_DURABLE;
use super::{Finding, FuzzConfig, FuzzReport, StepCounts};
use crate::checkers::Breach;
use crate::sim::peer_seed;
use crate::trace::fnv1a;

/// Most messages waiting in the bag; a full bag drops a random one (a congested network).
pub const BAG_MESSAGES_MAX: usize = 512;
/// A peer whose applied index runs this far past its snapshot takes one (bounds the
/// remembered applied entries and the logs).
pub const COMPACT_LAG_MAX: u64 = 48;
/// Most distinct findings a run keeps.
pub const FINDINGS_MAX: usize = 64;
/// Steps of one epoch: a run starts a fresh cluster this often, each with its own
/// [`Mutator::edge_one_in`], because a cluster whose term reached `u64::MAX` can never elect
/// again and would leave the rest of the run with nothing to fuzz.
pub const EPOCH_STEPS: u64 = 10_000;
/// The choices of [`Mutator::edge_one_in`]: from edges everywhere to edges rare.
const EDGE_ONE_IN_CHOICES: [u32; 3] = [4, 64, 1024];

/// The peers' timing: short, so that elections and heartbeats happen often in few steps.
const ELECTION_TIMEOUT_TICKS_MIN: u32 = 10;
const ELECTION_TIMEOUT_TICKS_MAX: u32 = 20;
const HEARTBEAT_INTERVAL_TICKS: u32 = 3;
const ENTRIES_PER_APPEND_MAX: usize = 16;
/// The most uncommitted entries a fuzzed leader accepts: small, so proposals reach the bound.
const UNCOMMITTED_ENTRIES_MAX: usize = 64;

/// The weight of each kind of step, out of [`WEIGHT_TOTAL`].
const WEIGHT_TICK: u32 = 300;
const WEIGHT_REAL: u32 = 330;
const WEIGHT_DROP: u32 = 20;
const WEIGHT_MUTATED: u32 = 150;
const WEIGHT_GARBAGE: u32 = 60;
const WEIGHT_PROPOSE: u32 = 100;
const WEIGHT_SNAPSHOT: u32 = 37;
const WEIGHT_RESTART: u32 = 3;
const WEIGHT_TOTAL: u32 = WEIGHT_TICK
    + WEIGHT_REAL
    + WEIGHT_DROP
    + WEIGHT_MUTATED
    + WEIGHT_GARBAGE
    + WEIGHT_PROPOSE
    + WEIGHT_SNAPSHOT
    + WEIGHT_RESTART;
/// One real delivery in this many leaves a copy in the bag (a duplicate).
const DUPLICATE_ONE_IN: u32 = 20;
/// One proposal step in this many asks for a leadership transfer instead.
const TRANSFER_ONE_IN: u32 = 16;

/// One kind of step, as drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tick,
    Real,
    Drop,
    Mutated,
    Garbage,
    Propose,
    Snapshot,
    Restart,
}

impl Kind {
    fn draw(rng: &mut SmallRng) -> Kind {
        let mut x = rng.random_range(0..WEIGHT_TOTAL);
        for (kind, weight) in [
            (Kind::Tick, WEIGHT_TICK),
            (Kind::Real, WEIGHT_REAL),
            (Kind::Drop, WEIGHT_DROP),
            (Kind::Mutated, WEIGHT_MUTATED),
            (Kind::Garbage, WEIGHT_GARBAGE),
            (Kind::Propose, WEIGHT_PROPOSE),
            (Kind::Snapshot, WEIGHT_SNAPSHOT),
        ] {
            if x < weight {
                return kind;
            }
            x -= weight;
        }
        Kind::Restart
    }
}

/// What an input asked of the peer, for the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Tick,
    Request,
    Reply,
    Propose,
    Snapshot,
    Transfer,
}

/// The whole fuzzed cluster.
pub(super) struct Fuzzer {
    config: FuzzConfig,
    rng: SmallRng,
    mutator: Mutator,
    /// The peers; `None` while one cannot be built.
    peers: Vec<Option<FuzzedPeer>>,
    /// Each peer's incarnation, which seeds its election timeouts.
    incarnations: Vec<u64>,
    /// Messages sent and not yet delivered: (from, to, message).
    bag: Vec<(PeerId, PeerId, Message)>,
    counts: StepCounts,
    findings: Vec<Finding>,
    step: u64,
    hash: u64,
    stopped: bool,
    commit_index_max: u64,
    term_max: u64,
}

impl Fuzzer {
    pub(super) fn new(config: FuzzConfig) -> Fuzzer {
        Fuzzer {
            rng: SmallRng::seed_from_u64(config.seed),
            mutator: Mutator {
                peers: config.peers,
                edge_one_in: EDGE_ONE_IN_CHOICES[0],
            },
            peers: Vec::new(),
            incarnations: vec![0; config.peers],
            bag: Vec::new(),
            counts: StepCounts::default(),
            findings: Vec::new(),
            step: 0,
            hash: fnv1a(0, &config.seed.to_le_bytes()),
            stopped: false,
            commit_index_max: 0,
            term_max: 0,
            config,
        }
    }

    pub(super) fn run(mut self) -> FuzzReport {
        if !(super::PEERS_MIN..=super::PEERS_MAX).contains(&self.config.peers) {
            let detail = format!("{} peers: the fuzzer runs 3 to 5", self.config.peers);
            self.found(
                0,
                "(setup)".into(),
                String::new(),
                Breach::new(RESTARTS_FROM_DURABLE, detail).into(),
            );
            return self.report();
        }
        while self.step < self.config.steps && !self.stopped {
            if self.step.is_multiple_of(EPOCH_STEPS) {
                self.start_epoch();
            }
            self.one_step();
            self.step += 1;
        }
        self.report()
    }

    /// A fresh cluster (empty disks, no messages in flight) with a new `edge_one_in`.
    fn start_epoch(&mut self) {
        let edge = EDGE_ONE_IN_CHOICES[self.rng.random_range(0..EDGE_ONE_IN_CHOICES.len())];
        self.mutator.edge_one_in = edge;
        self.bag.clear();
        self.peers = (0..self.config.peers).map(|_| None).collect();
        for peer in 0..self.config.peers {
            self.replace_peer(peer);
        }
    }

    /// Puts a fresh peer (empty disk, new incarnation) in `peer`'s place.
    fn replace_peer(&mut self, peer: usize) {
        self.incarnations[peer] += 1;
        let config = self.peer_config(peer, self.incarnations[peer]);
        self.peers[peer] = FuzzedPeer::new(config).ok();
    }

    fn report(self) -> FuzzReport {
        FuzzReport {
            config: self.config,
            steps: self.step,
            counts: self.counts,
            commit_index_max: self.commit_index_max,
            term_max: self.term_max,
            findings: self.findings,
            fingerprint: self.hash,
        }
    }

    fn peer_config(&self, peer: usize, incarnation: u64) -> Config {
        Config {
            id: PeerId(peer as u32),
            peers: (0..self.config.peers).map(|i| PeerId(i as u32)).collect(),
            election_timeout_ticks_min: ELECTION_TIMEOUT_TICKS_MIN,
            election_timeout_ticks_max: ELECTION_TIMEOUT_TICKS_MAX,
            heartbeat_interval_ticks: HEARTBEAT_INTERVAL_TICKS,
            entries_per_append_max: ENTRIES_PER_APPEND_MAX,
            append_bytes_max: Config::APPEND_BYTES_MAX_DEFAULT,
            send_before_write: true,
            // Small, so that the fuzzer also drives leaders into the bound.
            uncommitted_entries_max: UNCOMMITTED_ENTRIES_MAX,
            append_entries_in_flight_max: Config::APPEND_ENTRIES_IN_FLIGHT_MAX_DEFAULT,
            seed: peer_seed(self.config.seed, peer, incarnation),
            // Each seed fuzzes one of the four combinations, apart from its cluster size
            // (seed % 3): every few seeds cover them all.
            pre_vote: self.config.seed & 1 == 1,
            check_quorum: self.config.seed & 2 == 2,
            reads: ReadMode::ReadIndex,
            pending_reads_max: Config::PENDING_READS_MAX_DEFAULT,
        }
    }

    fn one_step(&mut self) {
        let kind = Kind::draw(&mut self.rng);
        let mut peer = self.rng.random_range(0..self.peers.len());
        match kind {
            Kind::Tick => {
                self.counts.ticks += 1;
                self.input(peer, Input::Tick);
            }
            Kind::Real | Kind::Drop | Kind::Mutated => match self.take_from_bag(kind) {
                Some((from, to, message)) => {
                    peer = to.as_usize();
                    self.deliver(kind, from, to, message);
                }
                None => {
                    self.counts.ticks += 1;
                    self.input(peer, Input::Tick);
                }
            },
            Kind::Garbage => {
                self.counts.delivered_garbage += 1;
                let message = self.mutator.garbage(&mut self.rng);
                let real = PeerId(self.rng.random_range(0..self.peers.len() as u32));
                let from = self.claimed_sender(real, PeerId(peer as u32));
                self.input(peer, Input::Deliver { from, message });
            }
            Kind::Propose => {
                let leaders: Vec<usize> = (0..self.peers.len())
                    .filter(|p| self.peers[*p].as_ref().is_some_and(|f| f.raft().is_leader()))
                    .collect();
                if !leaders.is_empty() {
                    peer = leaders[self.rng.random_range(0..leaders.len())];
                }
                if self.rng.random_range(0..TRANSFER_ONE_IN) == 0 {
                    // Any id of the cluster, or the first one past it.
                    let target = PeerId(self.rng.random_range(0..=self.peers.len() as u32));
                    self.input(peer, Input::Transfer(target));
                } else {
                    self.input(peer, Input::Propose(self.step.to_le_bytes().to_vec()));
                }
            }
            Kind::Snapshot => {
                if let Some(index) = self.peers[peer].as_ref().map(FuzzedPeer::applied) {
                    self.input(peer, Input::Snapshot(index));
                }
            }
            Kind::Restart => self.restart(peer),
        }
        self.compact_if_behind(peer);
        self.fingerprint(kind, peer);
    }

    /// Takes a random message out of the bag; a real delivery sometimes leaves a copy. A
    /// dropped message is counted and not returned.
    fn take_from_bag(&mut self, kind: Kind) -> Option<(PeerId, PeerId, Message)> {
        if self.bag.is_empty() {
            return None;
        }
        let at = self.rng.random_range(0..self.bag.len());
        match kind {
            Kind::Drop => {
                self.bag.swap_remove(at);
                self.counts.dropped += 1;
                None
            }
            Kind::Real if self.rng.random_range(0..DUPLICATE_ONE_IN) == 0 => {
                self.counts.duplicated += 1;
                Some(self.bag[at].clone())
            }
            Kind::Mutated => Some(self.bag[at].clone()),
            _ => Some(self.bag.swap_remove(at)),
        }
    }

    fn deliver(&mut self, kind: Kind, from: PeerId, to: PeerId, mut message: Message) {
        let from = if kind == Kind::Mutated {
            self.counts.delivered_mutated += 1;
            self.mutator.mutate(&mut self.rng, &mut message);
            self.claimed_sender(from, to)
        } else {
            self.counts.delivered_real += 1;
            from
        };
        self.input(to.as_usize(), Input::Deliver { from, message });
    }

    fn claimed_sender(&mut self, real: PeerId, to: PeerId) -> PeerId {
        let from = self.mutator.sender(&mut self.rng, real, to);
        if from != real {
            self.counts.wrong_sender += 1;
        }
        from
    }

    /// Snapshots a peer whose applied index ran [`COMPACT_LAG_MAX`] past its snapshot.
    fn compact_if_behind(&mut self, peer: usize) {
        let Some(p) = &self.peers[peer] else { return };
        let applied = p.applied();
        let compacted = p.raft().log().snapshot().last_included_index;
        if applied.0.saturating_sub(compacted.0) > COMPACT_LAG_MAX {
            self.input(peer, Input::Snapshot(applied));
        }
    }

    fn fingerprint(&mut self, kind: Kind, peer: usize) {
        let (term, commit) = self.peers[peer]
            .as_ref()
            .map_or((0, 0), |p| (p.raft().term().0, p.raft().commit_index().0));
        self.commit_index_max = self.commit_index_max.max(commit);
        self.term_max = self.term_max.max(term);
        self.hash = fnv1a(self.hash, &[kind as u8, peer as u8]);
        self.hash = fnv1a(self.hash, &term.to_le_bytes());
        self.hash = fnv1a(self.hash, &commit.to_le_bytes());
    }

    /// Runs one input on `peer` (see [`FuzzedPeer::input`]), counts what it did, and posts
    /// what it sent; a failure becomes a finding.
    fn input(&mut self, peer: usize, input: Input) {
        let Some(p) = self.peers[peer].as_mut() else {
            return;
        };
        let before = p.state();
        let asked = match &input {
            Input::Deliver {
                message: Message::Request(_),
                ..
            } => Asked::Request,
            Input::Deliver { .. } => Asked::Reply,
            Input::Tick => Asked::Tick,
            Input::Propose(_) => Asked::Propose,
            Input::Snapshot(_) => Asked::Snapshot,
            Input::Transfer(_) => Asked::Transfer,
        };
        // Kept only to be shown with a finding; cheaper than formatting every input.
        let kept = input.clone();
        match p.input(input) {
            Ok(outcome) => {
                self.counts.applied += outcome.applied;
                if outcome.refused_at_gate {
                    self.counts.refused_at_gate += 1;
                } else {
                    self.count_outcome(asked, outcome.reply.as_ref(), outcome.accepted);
                }
                let from = PeerId(peer as u32);
                for (to, message) in outcome.sent.into_iter().chain(outcome.reply) {
                    self.post(from, to, message);
                }
            }
            Err(broken) => {
                let shown = match &kept {
                    Input::Deliver { from, message } => format!("{from} -> n{peer} {message:?}"),
                    other => format!("{other:?} on n{peer}"),
                };
                self.found(peer, shown, before.to_string(), broken);
            }
        }
    }

    fn count_outcome(&mut self, asked: Asked, reply: Option<&(PeerId, Message)>, ok: bool) {
        let c = &mut self.counts;
        match (asked, reply.map(|(_, m)| m)) {
            (Asked::Request, None) => c.unanswered += 1,
            (Asked::Request, Some(m)) if refusal(m) => c.refused += 1,
            (Asked::Propose, _) if ok => c.proposals += 1,
            (Asked::Propose, _) => c.proposals_refused += 1,
            (Asked::Snapshot, _) if ok => c.snapshots += 1,
            (Asked::Snapshot, _) => c.snapshots_refused += 1,
            (Asked::Transfer, _) if ok => c.transfers += 1,
            (Asked::Transfer, _) => c.transfers_refused += 1,
            _ => {}
        }
    }

    /// Puts a sent message in the bag; one to an unknown peer or to itself is lost.
    fn post(&mut self, from: PeerId, to: PeerId, message: Message) {
        if to.as_usize() >= self.peers.len() || to == from {
            return;
        }
        if self.bag.len() >= BAG_MESSAGES_MAX {
            let at = self.rng.random_range(0..self.bag.len());
            self.bag.swap_remove(at);
            self.counts.dropped += 1;
        }
        self.bag.push((from, to, message));
    }

    /// Crashes `peer` and restarts it from its durable model.
    fn restart(&mut self, peer: usize) {
        self.incarnations[peer] += 1;
        let config = self.peer_config(peer, self.incarnations[peer]);
        let Some(p) = self.peers[peer].as_mut() else {
            return;
        };
        self.counts.restarts += 1;
        let before = p.state().to_string();
        let shown = format!("restart n{peer} from {:?}", p.durable().restored());
        if let Err(broken) = p.restart(config) {
            self.found(peer, shown, before, broken);
        }
    }

    /// Records a finding (or counts a repeat); stops the run unless `keep_going`, else
    /// replaces the peer by a fresh one, so that one broken peer does not repeat one finding.
    fn found(&mut self, peer: usize, input: String, before: String, broken: Broken) {
        let finding = Finding {
            property: broken.property,
            location: broken.location,
            detail: broken.detail,
            step: self.step,
            peer,
            input,
            before,
            replay: self.config.replay_command(self.step + 1),
            count: 1,
        };
        let key = finding.key();
        if let Some(seen) = self.findings.iter_mut().find(|f| f.key() == key) {
            seen.count += 1;
        } else if self.findings.len() < FINDINGS_MAX {
            self.findings.push(finding);
        }
        if self.config.keep_going {
            self.replace_peer(peer);
        } else {
            self.stopped = true;
        }
    }
}

/// True if a reply refuses its request.
fn refusal(message: &Message) -> bool {
    match message {
        Message::Reply(Reply::RequestVote(r) | Reply::PreVote(r)) => !r.vote_granted,
        Message::Reply(Reply::AppendEntries(r)) => !matches!(r.outcome, AppendOutcome::Success { .. }),
        Message::Reply(Reply::InstallSnapshot(r)) => r.match_index == LogIndex::ZERO,
        Message::Reply(Reply::TimeoutNow(_)) | Message::Request(_) => false,
    }
}
