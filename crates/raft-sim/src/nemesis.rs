//! The faults and the client: crashes, restarts, partitions and heals drawn from the run's
//! RNG while faults are on; the end of faults; the client that proposes commands to whoever
//! leads and retries those not seen committed.

use raft_core::PeerId;
use rand::Rng;

use crate::checkers::PersistedSurvivesCrash;
use crate::config::Sabotage;
use crate::queue::Event;
use crate::report::Violation;
use crate::service::command_bytes;
use crate::sim::Simulation;

/// Weight of each nemesis action, out of [`NEMESIS_WEIGHT_TOTAL`]: crash, restart,
/// partition, heal.
const NEMESIS_WEIGHTS: [u32; 4] = [25, 25, 20, 30];
/// Sum of [`NEMESIS_WEIGHTS`].
const NEMESIS_WEIGHT_TOTAL: u32 = 100;

impl Simulation {
    /// Schedules the next nemesis action.
    pub(crate) fn schedule_nemesis(&mut self) {
        let rates = self.config.faults.rates();
        let gap = self
            .rng
            .random_range(rates.nemesis_interval_us_min..=rates.nemesis_interval_us_max);
        self.schedule(self.now_us + gap, Event::Nemesis);
    }

    pub(crate) fn on_nemesis(&mut self) -> Result<(), Violation> {
        if !self.faults_on {
            return Ok(());
        }
        self.schedule_nemesis();
        let mut draw = self.rng.random_range(0..NEMESIS_WEIGHT_TOTAL);
        let mut action = 0;
        while action + 1 < NEMESIS_WEIGHTS.len() && draw >= NEMESIS_WEIGHTS[action] {
            draw -= NEMESIS_WEIGHTS[action];
            action += 1;
        }
        match action {
            0 => self.crash_random(),
            1 => self.restart_random(),
            2 => {
                self.partition_random();
                Ok(())
            }
            _ => {
                if self.network.is_partitioned() {
                    self.network.heal();
                    self.trace.event(self.now_us, format_args!("heal"));
                }
                Ok(())
            }
        }
    }

    /// Crashes a random live peer, keeping a majority alive.
    fn crash_random(&mut self) -> Result<(), Violation> {
        let live: Vec<usize> = (0..self.peers.len())
            .filter(|p| self.peers[*p].is_some())
            .collect();
        let down = self.peers.len() - live.len();
        if down >= self.peers.len() / 2 || live.is_empty() {
            return Ok(());
        }
        let peer = live[self.rng.random_range(0..live.len())];
        self.crash(peer)
    }

    fn restart_random(&mut self) -> Result<(), Violation> {
        let down: Vec<usize> = (0..self.peers.len())
            .filter(|p| self.peers[*p].is_none())
            .collect();
        if down.is_empty() {
            return Ok(());
        }
        let peer = down[self.rng.random_range(0..down.len())];
        self.restart(peer)
    }

    /// Crashes `peer`: it loses everything but its durable model, and every message in
    /// flight to it. Checks that everything it held was persisted.
    ///
    /// # Errors
    /// A [`Violation`] of Persisted State Survives Crash.
    pub fn crash(&mut self, peer: usize) -> Result<(), Violation> {
        let Some(raft) = self.peers[peer].take() else {
            return Ok(());
        };
        self.stats.crashes += 1;
        let (term, role) = (raft.term(), crate::sim::role_name(raft.role()));
        self.trace
            .event(self.now_us, format_args!("n{peer}@{term} {role} crashed"));
        PersistedSurvivesCrash::check(&raft, &self.durable[peer], "crash").map_err(|b| self.violation(b))?;
        match self.config.sabotage {
            Some(Sabotage::ForgetVote) => self.durable[peer].hard_state.voted_for = None,
            Some(Sabotage::LoseLastEntry) => {
                self.durable[peer].entries.pop();
            }
            None => {}
        }
        self.incarnations[peer] += 1;
        self.checkers.crashed(PeerId(peer as u32));
        Ok(())
    }

    /// Restarts a crashed `peer` from its durable model.
    ///
    /// # Errors
    /// A [`Violation`] if it cannot be restored, or restores to other than what was persisted.
    pub fn restart(&mut self, peer: usize) -> Result<(), Violation> {
        if self.peers[peer].is_some() {
            return Ok(());
        }
        self.start_peer(peer)?;
        let Some(raft) = self.peers[peer].as_ref() else {
            return Ok(());
        };
        let (term, last) = (raft.term(), raft.log().last_index());
        self.trace.event(
            self.now_us,
            format_args!(
                "n{peer}@{term} restarted log={last} commit={}",
                raft.commit_index()
            ),
        );
        PersistedSurvivesCrash::check(raft, &self.durable[peer], "restart").map_err(|b| self.violation(b))?;
        self.checkers.terms.observe(raft).map_err(|b| self.violation(b))?;
        self.checkers.commits.restart(raft);
        Ok(())
    }

    /// Splits the peers at random into two sides (or isolates the leader).
    fn partition_random(&mut self) {
        let n = self.peers.len();
        let mut sides = vec![0u8; n];
        let leader = self.leader().filter(|_| self.rng.random_bool(0.5));
        match leader {
            Some(id) => sides[id.as_usize()] = 1,
            None => sides
                .iter_mut()
                .for_each(|s| *s = u8::from(self.rng.random_bool(0.5))),
        }
        self.network.partition(&sides);
        self.stats.partitions += 1;
        let text: String = sides.iter().map(|s| if *s == 0 { 'a' } else { 'b' }).collect();
        self.trace.event(self.now_us, format_args!("partition {text}"));
    }

    /// Faults stop: the network heals and turns reliable, every crashed peer restarts, the
    /// client stops issuing new commands (it still retries pending ones).
    pub(crate) fn on_faults_end(&mut self) -> Result<(), Violation> {
        self.faults_on = false;
        self.network.stop_faults();
        self.trace.event(self.now_us, format_args!("faults end"));
        for peer in 0..self.peers.len() {
            self.restart(peer)?;
        }
        Ok(())
    }

    /// The client: a new command while faults are on (up to the pending limit), and a
    /// proposal for every pending command not yet proposed or due for a retry.
    pub(crate) fn on_client(&mut self) -> Result<(), Violation> {
        let gap = self
            .rng
            .random_range(self.config.client_interval_us_min..=self.config.client_interval_us_max);
        self.schedule(self.now_us + gap, Event::Client);
        if self.faults_on && self.client.pending.len() < self.config.pending_commands_max {
            self.client.next_id += 1;
            self.client.pending.insert(self.client.next_id, None);
        }
        let retry_us = self.config.client_retry_us;
        let now = self.now_us;
        let due: Vec<u64> = self
            .client
            .pending
            .iter()
            .filter(|(_, last)| last.is_none_or(|t| now >= t + retry_us))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if !self.propose(id)? {
                break;
            }
        }
        Ok(())
    }

    /// Offers command `id` to the live peers, from a random one on, until one leader takes
    /// it. False if none did.
    fn propose(&mut self, id: u64) -> Result<bool, Violation> {
        let n = self.peers.len();
        let start = self.rng.random_range(0..n);
        for k in 0..n {
            let peer = (start + k) % n;
            if !self.peers[peer].as_ref().is_some_and(|r| r.is_leader()) {
                continue;
            }
            if let Some(Ok((index, term))) = self.input(peer, None, |r| r.propose(command_bytes(id)))? {
                self.trace.event(
                    self.now_us,
                    format_args!("client -> n{peer} c{id} at {index}@{term}"),
                );
                self.client.pending.insert(id, Some(self.now_us));
                return Ok(true);
            }
        }
        Ok(false)
    }
}
