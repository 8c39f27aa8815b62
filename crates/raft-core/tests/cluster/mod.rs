//! A bare cluster of raft-core state machines in one thread, for the scenario tests: no
//! network, no clock. Messages wait in one queue until a test delivers, drops or reorders them.

#![allow(dead_code)]

use std::collections::VecDeque;

use raft_core::message::{Message, Reply, Request, RequestId};
use raft_core::{Config, Effects, Entry, HardState, LogIndex, PeerId, Raft, RoleKind, Snapshot, Term};

/// One message in flight.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: PeerId,
    pub to: PeerId,
    pub message: Message,
}

/// N peers and the messages between them.
pub struct Cluster {
    pub peers: Vec<Raft>,
    pub queue: VecDeque<Envelope>,
    /// Peers cut off: messages to or from them are dropped on delivery.
    pub isolated: Vec<bool>,
    /// Everything each peer handed out as committed, in order.
    pub applied: Vec<Vec<Entry>>,
}

pub fn ids(n: usize) -> Vec<PeerId> {
    (0..n as u32).map(PeerId).collect()
}

impl Cluster {
    /// `n` peers with the default timing, peer `i` seeded with `seed + i`.
    pub fn new(n: usize, seed: u64) -> Cluster {
        Cluster::with_config(n, |id| Config::new(id, ids(n), seed + u64::from(id.0)))
    }

    pub fn with_config(n: usize, config: impl Fn(PeerId) -> Config) -> Cluster {
        let peers = ids(n)
            .into_iter()
            .map(|id| Raft::new(config(id)).expect("valid config"))
            .collect();
        Cluster {
            peers,
            queue: VecDeque::new(),
            isolated: vec![false; n],
            applied: vec![Vec::new(); n],
        }
    }

    pub fn peer(&mut self, id: u32) -> &mut Raft {
        &mut self.peers[id as usize]
    }

    /// Carries out a peer's Ready: requests go to the queue, a reply goes back to the peer
    /// its request's id names (`reply_to` is that peer, if the input was a request),
    /// committed entries to `applied`. Nothing is persisted: these peers never restart.
    pub fn drain(&mut self, i: usize, reply_to: Option<PeerId>) {
        let ready = self.peers[i].take_ready();
        let mut out = Outbox {
            from: self.peers[i].id(),
            reply_to,
            queue: &mut self.queue,
            applied: &mut self.applied[i],
        };
        let carried: Result<(), std::convert::Infallible> = ready.carry_out(&mut out);
        carried.expect("nothing here fails");
    }

    pub fn tick(&mut self, i: usize) {
        self.peers[i].tick();
        self.drain(i, None);
    }

    pub fn tick_all(&mut self) {
        for i in 0..self.peers.len() {
            self.tick(i);
        }
    }

    /// Delivers the next queued message; false if the queue is empty.
    pub fn deliver_one(&mut self) -> bool {
        let Some(env) = self.queue.pop_front() else {
            return false;
        };
        let (from, to) = (env.from.as_usize(), env.to.as_usize());
        if self.isolated[from] || self.isolated[to] {
            return true;
        }
        match env.message {
            Message::Request(request) => {
                self.peers[to].step_request(env.from, request_id(env.from), request);
            }
            Message::Reply(reply) => self.peers[to].step_reply(env.from, reply),
        }
        self.drain(to, Some(env.from));
        true
    }

    /// Delivers until no message is left (bounded, so a livelock fails the test).
    pub fn deliver_all(&mut self) {
        for _ in 0..100_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("messages never stopped flowing");
    }

    /// Ticks everyone and delivers everything, `ticks` times.
    pub fn run(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.tick_all();
            self.deliver_all();
        }
    }

    /// Runs until some peer leads, for at most `ticks_max` ticks; the number of ticks taken.
    pub fn run_until_leader(&mut self, ticks_max: usize) -> Option<usize> {
        for t in 1..=ticks_max {
            self.tick_all();
            self.deliver_all();
            if self.leaders().len() == 1 && !self.peers.iter().any(|p| p.role() == RoleKind::Candidate) {
                return Some(t);
            }
        }
        None
    }

    pub fn leaders(&self) -> Vec<usize> {
        (0..self.peers.len())
            .filter(|i| !self.isolated[*i] && self.peers[*i].is_leader())
            .collect()
    }

    pub fn terms(&self) -> Vec<Term> {
        self.peers.iter().map(Raft::term).collect()
    }

    pub fn commits(&self) -> Vec<LogIndex> {
        self.peers.iter().map(Raft::commit_index).collect()
    }
}

/// The id this cluster gives a request from `from`: the sender's number, so that a reply
/// finds its way back.
pub fn request_id(from: PeerId) -> RequestId {
    RequestId(u64::from(from.0))
}

/// One peer's side of carrying out its Ready in the test cluster.
struct Outbox<'a> {
    from: PeerId,
    reply_to: Option<PeerId>,
    queue: &'a mut VecDeque<Envelope>,
    applied: &'a mut Vec<Entry>,
}

impl Effects for Outbox<'_> {
    type Error = std::convert::Infallible;

    fn save_hard_state(&mut self, _: &HardState) -> Result<(), Self::Error> {
        Ok(())
    }

    fn truncate_suffix(&mut self, _: LogIndex) -> Result<(), Self::Error> {
        Ok(())
    }

    fn install_snapshot(&mut self, _: &Snapshot) -> Result<(), Self::Error> {
        Ok(())
    }

    fn append(&mut self, _: &[Entry]) -> Result<(), Self::Error> {
        Ok(())
    }

    fn send(&mut self, to: PeerId, request: Request) -> Result<(), Self::Error> {
        self.queue.push_back(Envelope {
            from: self.from,
            to,
            message: Message::Request(request),
        });
        Ok(())
    }

    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Self::Error> {
        let to = self.reply_to.filter(|to| request_id(*to) == id);
        let to = to.expect("a reply answers the request just delivered");
        self.queue.push_back(Envelope {
            from: self.from,
            to,
            message: Message::Reply(reply),
        });
        Ok(())
    }

    fn apply_snapshot(&mut self, _: Snapshot) -> Result<(), Self::Error> {
        Ok(())
    }

    fn apply(&mut self, entry: Entry) -> Result<(), Self::Error> {
        self.applied.push(entry);
        Ok(())
    }
}
