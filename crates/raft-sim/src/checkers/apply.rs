//! State Machine Safety (Figure 3): "if a server has applied a log entry at a given index to
//! its state machine, no other server will ever apply a different log entry for the same
//! index"; and a service never goes backwards past a snapshot it was handed.

use std::collections::BTreeMap;

use raft_core::{Entry, LogIndex, PeerId, Snapshot};

use super::Breach;
use crate::service::ServiceState;

/// State Machine Safety over the digest chain of every service: the digest at an index names
/// the whole sequence of commands through it, so one map catches a different command at an
/// index and a different history before it.
#[derive(Debug, Default)]
pub struct StateMachineSafety {
    digests: BTreeMap<LogIndex, u64>,
}

impl StateMachineSafety {
    /// The invariant's name.
    pub const NAME: &'static str = "State Machine Safety";

    /// `peer`'s service, in state `before`, is handed `entry`; returns the state after it.
    ///
    /// # Errors
    /// A [`Breach`] if the entry is not the next index, or its digest differs from another
    /// service's at that index.
    pub fn apply(
        &mut self,
        peer: PeerId,
        before: ServiceState,
        entry: &Entry,
    ) -> Result<ServiceState, Breach> {
        if entry.index != before.applied.next() {
            return Err(Breach::new(
                Self::NAME,
                format!(
                    "{peer} applied {} after {}: not the next index",
                    entry.index, before.applied
                ),
            ));
        }
        let after = ServiceState {
            applied: entry.index,
            digest: before.next_digest(entry),
        };
        self.agree(peer, after)?;
        Ok(after)
    }

    /// `peer`'s service, in state `before`, is handed `snapshot`; returns the state after it.
    ///
    /// # Errors
    /// A [`Breach`] if the snapshot would move the service backwards, is not a service
    /// state, or its digest differs from another service's at that index.
    pub fn install(
        &mut self,
        peer: PeerId,
        before: ServiceState,
        snapshot: &Snapshot,
    ) -> Result<ServiceState, Breach> {
        let after = ServiceState::decode(&snapshot.data).map_err(|e| Breach::new(Self::NAME, e))?;
        let index = snapshot.meta.last_included_index;
        if after.applied != index {
            return Err(Breach::new(
                Self::NAME,
                format!(
                    "{peer} got a snapshot through {index} holding state through {}",
                    after.applied
                ),
            ));
        }
        if index <= before.applied {
            return Err(Breach::new(
                Self::NAME,
                format!(
                    "{peer} handed snapshot through {index} after applying {}: backwards",
                    before.applied
                ),
            ));
        }
        self.agree(peer, after)?;
        Ok(after)
    }

    fn agree(&mut self, peer: PeerId, state: ServiceState) -> Result<(), Breach> {
        match self.digests.get(&state.applied) {
            Some(d) if *d != state.digest => Err(Breach::new(
                Self::NAME,
                format!(
                    "{peer} applied a different history through index {}",
                    state.applied
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.digests.insert(state.applied, state.digest);
                Ok(())
            }
        }
    }
}
