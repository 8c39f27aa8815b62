//! The faults and the client of the safety runs: crashes, restarts, partitions and heals
//! (and, if asked, leadership transfers) drawn from the run's RNG while faults are on; the
//! end of faults; the client that proposes commands to whoever leads and retries those not
//! seen committed.

use raft_core::{PeerId, ReadId};
use rand::Rng;

use crate::checkers::PersistedSurvivesCrash;
use crate::config::Sabotage;
use crate::report::Violation;
use crate::service::command_bytes;
use crate::sim::{Action, Simulation};

/// Weight of each nemesis action, out of [`NEMESIS_WEIGHT_TOTAL`]: crash, restart,
/// partition, heal.
const NEMESIS_WEIGHTS: [u32; 4] = [25, 25, 20, 30];
/// Sum of [`NEMESIS_WEIGHTS`].
const NEMESIS_WEIGHT_TOTAL: u32 = 100;
/// With [`crate::SimConfig::transfers`], one nemesis action in this many also begins a
/// leadership transfer.
const TRANSFER_ONE_IN: u32 = 4;

impl Simulation {
    /// Schedules the next nemesis action.
    pub(crate) fn schedule_nemesis(&mut self) -> Result<(), Violation> {
        let rates = self.config.faults.rates();
        let gap = self
            .rng
            .random_range(rates.nemesis_interval_us_min..=rates.nemesis_interval_us_max);
        self.schedule(self.now_us() + gap, Action::Nemesis)
    }

    pub(crate) fn on_nemesis(&mut self) -> Result<(), Violation> {
        if !self.faults_on {
            return Ok(());
        }
        self.schedule_nemesis()?;
        let mut draw = self.rng.random_range(0..NEMESIS_WEIGHT_TOTAL);
        let mut action = 0;
        while action + 1 < NEMESIS_WEIGHTS.len() && draw >= NEMESIS_WEIGHTS[action] {
            draw -= NEMESIS_WEIGHTS[action];
            action += 1;
        }
        if self.config.transfers && self.rng.random_range(0..TRANSFER_ONE_IN) == 0 {
            self.transfer_random()?;
        }
        match action {
            0 => self.crash_random(),
            1 => self.restart_random(),
            2 => {
                self.partition_random();
                Ok(())
            }
            _ => {
                if self.world.net().is_partitioned() {
                    self.world.net_mut().heal();
                    self.world.note("heal".to_owned());
                }
                Ok(())
            }
        }
    }

    /// Crashes a random live peer, keeping a majority alive.
    fn crash_random(&mut self) -> Result<(), Violation> {
        let n = self.config.peers;
        let live: Vec<usize> = (0..n).filter(|p| self.world.running(*p)).collect();
        let down = n - live.len();
        if down >= n / 2 || live.is_empty() {
            return Ok(());
        }
        let peer = live[self.rng.random_range(0..live.len())];
        self.crash(peer)
    }

    fn restart_random(&mut self) -> Result<(), Violation> {
        let down: Vec<usize> = (0..self.config.peers)
            .filter(|p| !self.world.running(*p))
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
        let Some(raft) = self.world.stop(peer) else {
            return Ok(());
        };
        self.stats.crashes += 1;
        PersistedSurvivesCrash::check(&raft, self.world.store(peer), "crash")
            .map_err(|b| self.violation(b))?;
        let durable = self.world.store_mut(peer);
        match self.config.sabotage {
            Some(Sabotage::ForgetVote) => durable.hard_state.voted_for = None,
            Some(Sabotage::LoseLastEntry) => {
                durable.entries.pop();
            }
            None => {}
        }
        self.world.service_mut().checkers.crashed(PeerId(peer as u32));
        Ok(())
    }

    /// Restarts a crashed `peer` from its durable model.
    ///
    /// # Errors
    /// A [`Violation`] if it cannot be restored, or restores to other than what was persisted.
    pub fn restart(&mut self, peer: usize) -> Result<(), Violation> {
        if self.world.running(peer) {
            return Ok(());
        }
        self.start_peer(peer)?;
        let persisted = match self.world.rafts()[peer].as_ref() {
            Some(raft) => PersistedSurvivesCrash::check(raft, self.world.store(peer), "restart"),
            None => return Ok(()),
        };
        persisted.map_err(|b| self.violation(b))?;
        let (service, rafts) = self.world.service_and_rafts();
        let Some(raft) = rafts[peer].as_ref() else {
            return Ok(());
        };
        let observed = service.checkers.terms.observe(raft);
        service.checkers.commits.restart(raft);
        observed.map_err(|b| self.violation(b))
    }

    /// Asks the leader, if there is one, to hand leadership to another peer drawn at random,
    /// running or crashed, reachable or not: a transfer that cannot finish is abandoned after
    /// an election timeout, and its TimeoutNow may still arrive late (raft-rs #234).
    fn transfer_random(&mut self) -> Result<(), Violation> {
        let Some(leader) = self.leader().map(PeerId::as_usize) else {
            return Ok(());
        };
        let n = self.config.peers;
        let target = (leader + self.rng.random_range(1..n)) % n;
        self.world
            .note(format!("n{leader}: transfer leadership to n{target}"));
        let began = self
            .world
            .input(leader, None, |raft| {
                raft.transfer_leadership(PeerId(target as u32)).is_ok()
            })
            .map_err(|b| self.violation(b))?;
        if began == Some(true) {
            self.stats.transfers += 1;
        }
        Ok(())
    }

    /// Splits the peers at random into two sides (or isolates the leader).
    fn partition_random(&mut self) {
        let n = self.config.peers;
        let mut sides = vec![0u8; n];
        let leader = self.leader().filter(|_| self.rng.random_bool(0.5));
        match leader {
            Some(id) => sides[id.as_usize()] = 1,
            None => sides
                .iter_mut()
                .for_each(|s| *s = u8::from(self.rng.random_bool(0.5))),
        }
        self.world.net_mut().partition(&sides);
        self.stats.partitions += 1;
        let text: String = sides.iter().map(|s| if *s == 0 { 'a' } else { 'b' }).collect();
        self.world.note(format!("partition {text}"));
    }

    /// Faults stop: the network heals and turns reliable, every crashed peer restarts, the
    /// client stops issuing new commands (it still retries pending ones).
    pub(crate) fn on_faults_end(&mut self) -> Result<(), Violation> {
        self.faults_on = false;
        self.world.net_mut().stop_faults();
        self.world.note("faults end".to_owned());
        for peer in 0..self.config.peers {
            self.restart(peer)?;
        }
        Ok(())
    }

    /// The client: a new command while faults are on (up to the pending limit), a proposal
    /// for every pending command not yet proposed or due for a retry, and a read.
    pub(crate) fn on_client(&mut self) -> Result<(), Violation> {
        let gap = self
            .rng
            .random_range(self.config.client_interval_us_min..=self.config.client_interval_us_max);
        self.schedule(self.now_us() + gap, Action::Client)?;
        let pending_max = self.config.pending_commands_max;
        let now = self.now_us();
        let client = &mut self.world.service_mut().client;
        if self.faults_on && client.pending.len() < pending_max {
            client.next_id += 1;
            client.pending.insert(client.next_id, None);
        }
        let retry_us = self.config.client_retry_us;
        let due: Vec<u64> = client
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
        self.read()
    }

    /// A read at every live peer that believes it leads (an old leader cut off by a partition
    /// included: the case a read must not be stale in). Each outcome is checked when it comes
    /// ([`crate::checkers::ReadsSeeWrites`]).
    fn read(&mut self) -> Result<(), Violation> {
        for peer in 0..self.config.peers {
            if !self.peers()[peer].as_ref().is_some_and(|r| r.is_leader()) {
                continue;
            }
            let client = &mut self.world.service_mut().client;
            client.next_id += 1;
            let id = ReadId(client.next_id);
            self.world.service_mut().checkers.reads.asked(peer, id);
            let taken = self
                .world
                .input(peer, None, |raft| raft.read(id))
                .map_err(|b| self.violation(b))?;
            if !matches!(taken, Some(Ok(()))) {
                self.world.service_mut().checkers.reads.refused(id);
            }
        }
        Ok(())
    }

    /// Offers command `id` to the live peers, from a random one on, until one leader takes
    /// it. False if none did.
    fn propose(&mut self, id: u64) -> Result<bool, Violation> {
        let n = self.config.peers;
        let start = self.rng.random_range(0..n);
        for k in 0..n {
            let peer = (start + k) % n;
            if !self.peers()[peer].as_ref().is_some_and(|r| r.is_leader()) {
                continue;
            }
            let proposed = self
                .world
                .propose(peer, command_bytes(id))
                .map_err(|b| self.violation(b))?;
            if proposed.is_some() {
                let now = self.now_us();
                self.world.service_mut().client.pending.insert(id, Some(now));
                return Ok(true);
            }
        }
        Ok(false)
    }
}
