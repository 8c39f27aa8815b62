//! The simulator's one [`Effects`]: what each step of a node's [`raft_core::Ready`] means in
//! the world. [`raft_core::Ready::carry_out`] calls it in the order of the persistence
//! contract: persist into the node's store, send through the network model, hand committed
//! entries and snapshots to the service.

use raft_core::message::{Reply, Request, RequestId};
use raft_core::{Effects, Entry, HardState, LogIndex, PeerId, ReadError, ReadId, Snapshot, Term};

use crate::checkers::Breach;
use crate::durable::Store;
use crate::net::Network;
use crate::service::Service;
use crate::world::{Caller, World};

/// Trace tag of an applied entry (hashed, not kept as a line).
const APPLY_TAG: u64 = 0x6170_706c;

/// One node's side of carrying out its Ready in the world, the simulator's one [`Effects`]:
/// persist into its store, send through the network model (a reply back along the call it
/// answers), hand committed entries and snapshots to the service. A failed step is the
/// effect's error and stops the Ready there.
pub(crate) struct NodeEffects<'a, N: Network, S, D, X> {
    pub(crate) world: &'a mut World<N, S, D, X>,
    pub(crate) node: usize,
    pub(crate) incarnation: u64,
    /// The request being handled, if the input was one: its id and its call.
    pub(crate) caller: Option<(RequestId, Caller<N::Call>)>,
    /// The node's term after the input: the term its commits are recorded in.
    pub(crate) term: Term,
}

impl<N: Network, S: Service, D: Store, X> NodeEffects<'_, N, S, D, X> {
    fn store(&mut self) -> &mut D {
        &mut self.world.stores[self.node]
    }

    /// A store's breach, naming the node.
    fn at_node(&self, breach: Breach) -> Breach {
        Breach::new(breach.invariant, format!("n{}: {}", self.node, breach.detail))
    }
}

impl<N: Network, S: Service, D: Store, X> Effects for NodeEffects<'_, N, S, D, X> {
    type Error = Breach;

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Breach> {
        self.store()
            .save_hard_state(hard_state)
            .map_err(|b| self.at_node(b))
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Breach> {
        self.store().truncate_suffix(from).map_err(|b| self.at_node(b))
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Breach> {
        self.store()
            .install_snapshot(snapshot)
            .map_err(|b| self.at_node(b))
    }

    /// Persists the entries, then lets the service watch them (Log Matching, in the safety runs).
    fn append(&mut self, entries: &[Entry]) -> Result<(), Breach> {
        self.store().append(entries).map_err(|b| self.at_node(b))?;
        self.world.service.appended(self.node, entries)
    }

    fn send(&mut self, to: PeerId, request: Request) -> Result<(), Breach> {
        self.world
            .send_request(self.node, self.incarnation, to.as_usize(), request)
    }

    /// Answers the request being handled (the world steps one request per input): back along
    /// its call.
    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Breach> {
        match self.caller.take() {
            Some((asked, caller)) if asked == id => self.world.send_reply(self.node, caller, reply),
            _ => {
                let detail = format!("n{} answered request {id:?}, which it was not asked", self.node);
                Err(Breach::new(crate::world::SIMULATOR, detail))
            }
        }
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), Breach> {
        self.world.service.apply_snapshot(self.node, snapshot)
    }

    /// Applies one committed entry; a snapshot the service then asks for is queued.
    fn apply(&mut self, entry: Entry) -> Result<(), Breach> {
        let world = &mut *self.world;
        world
            .trace
            .mix(&[world.now_us, APPLY_TAG, self.node as u64, entry.index.0]);
        if let Some(request) = world.service.apply(self.node, self.term, entry)? {
            world.queue_snapshot(self.node, self.incarnation, request)?;
        }
        Ok(())
    }

    /// Hands a read's outcome to the service.
    fn read(&mut self, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Breach> {
        self.world.service.read(self.node, id, result)
    }
}
