//! One fuzzed peer: its state machine, its durable model, and the watch of its properties.
//! Each input runs under `catch_unwind`, its Ready is carried out through
//! [`raft_core::Ready::carry_out`] into the durable model, and the properties are checked;
//! anything wrong comes back as a [`Broken`]. The fuzzer drives several of these; a test can
//! drive one by hand to replay a finding in a few lines.

use std::fmt;

use raft_core::message::{Message, Reply, Request, RequestId};
use raft_core::{
    Config, Effects, Entry, HardState, LogIndex, PeerId, Raft, ReadError, ReadId, RoleKind, Snapshot,
    SnapshotMeta, Term,
};

use super::watch::{PRE_VOTE_LEAVES_NO_TRACE, PeerWatch, RESTARTS_FROM_DURABLE};
use super::{NO_PANIC, Panic, guarded};
use crate::checkers::Breach;
use crate::durable::Durable;
use crate::sim::PERSISTENCE_CONTRACT;

/// One input to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// [`Raft::tick`].
    Tick,
    /// [`Raft::step_request`] or [`Raft::step_reply`] with a message claimed to come from
    /// `from`.
    Deliver {
        /// The sender the runtime reports (maybe not the real one).
        from: PeerId,
        /// The message.
        message: Message,
    },
    /// [`Raft::propose`] of a command.
    Propose(Vec<u8>),
    /// [`Raft::snapshot`] through an index (the service's state is the index's bytes).
    Snapshot(LogIndex),
    /// [`Raft::transfer_leadership`] to a peer (maybe itself, maybe none of the cluster).
    Transfer(PeerId),
}

/// What broke: a property (one of [`super::watch`]'s, or the persistence contract), or
/// [`NO_PANIC`] with the panic's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The property's name.
    pub property: &'static str,
    /// For a panic: where (`file:line:column`).
    pub location: Option<String>,
    /// The panic message, or what the check saw.
    pub detail: String,
}

impl From<Breach> for Broken {
    fn from(b: Breach) -> Broken {
        Broken {
            property: b.invariant,
            location: None,
            detail: b.detail,
        }
    }
}

impl From<Panic> for Broken {
    fn from(p: Panic) -> Broken {
        Broken {
            property: NO_PANIC,
            location: Some(p.location),
            detail: p.message,
        }
    }
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{} at {at}: {}", self.property, self.detail),
            None => write!(f, "{}: {}", self.property, self.detail),
        }
    }
}

/// What an input made the peer do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// False if a proposal or snapshot was refused (ticks and deliveries are always true).
    pub accepted: bool,
    /// Messages the peer sent, each to one peer.
    pub sent: Vec<(PeerId, Message)>,
    /// The reply to a delivered request, addressed to its claimed sender.
    pub reply: Option<(PeerId, Message)>,
    /// Entries handed to the service.
    pub applied: u64,
    /// True if raft-core's gate refused the delivered message ([`Raft::refused`] counted it).
    pub refused_at_gate: bool,
}

/// One peer under the fuzzer.
#[derive(Debug)]
pub struct FuzzedPeer {
    raft: Raft,
    durable: Durable,
    watch: PeerWatch,
    /// The id the next request stepped gets (the runtime names requests; raft-core echoes the
    /// name with the reply).
    next_request: RequestId,
}

impl FuzzedPeer {
    /// A fresh peer (empty disk).
    ///
    /// # Errors
    /// If `Raft::new` refuses the config or panics.
    pub fn new(config: Config) -> Result<FuzzedPeer, Broken> {
        let raft = guarded(|| Raft::new(config))?.map_err(|e| {
            Breach::new(
                RESTARTS_FROM_DURABLE,
                format!("Raft::new refused the config: {e}"),
            )
        })?;
        Ok(FuzzedPeer {
            raft,
            durable: Durable::default(),
            watch: PeerWatch::default(),
            next_request: RequestId(0),
        })
    }

    /// The state machine.
    #[must_use]
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// What the peer persisted.
    #[must_use]
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    /// The last index handed to the service.
    #[must_use]
    pub fn applied(&self) -> LogIndex {
        self.watch.applied()
    }

    /// Runs `input` under `catch_unwind`, carries out the Ready into the durable model and
    /// checks every property.
    ///
    /// # Errors
    /// The panic or the first property broken. The peer is then in no state to go on.
    pub fn input(&mut self, input: Input) -> Result<Outcome, Broken> {
        let raft = &mut self.raft;
        let request = RequestId(self.next_request.0.wrapping_add(1));
        self.next_request = request;
        let reply_to = match &input {
            Input::Deliver {
                from,
                message: Message::Request(_),
            } => Some((request, *from)),
            _ => None,
        };
        let refused_before = raft.refused().total();
        let pre_vote = matches!(
            &input,
            Input::Deliver {
                message: Message::Request(Request::PreVote(_)),
                ..
            }
        );
        let before = pre_vote.then(|| traceable(raft));
        let (accepted, ready) = guarded(|| {
            let accepted = match input {
                Input::Tick => {
                    raft.tick();
                    true
                }
                Input::Deliver {
                    from,
                    message: Message::Request(r),
                } => {
                    raft.step_request(from, request, r);
                    true
                }
                Input::Deliver {
                    from,
                    message: Message::Reply(r),
                } => {
                    raft.step_reply(from, r);
                    true
                }
                Input::Propose(command) => raft.propose(command).is_ok(),
                Input::Snapshot(index) => raft.snapshot(index, index.0.to_le_bytes().to_vec()).is_ok(),
                Input::Transfer(target) => raft.transfer_leadership(target).is_ok(),
            };
            (accepted, raft.take_ready())
        })?;
        if let Some(before) = before {
            let after = traceable(&self.raft);
            let left =
                ready.hard_state().is_some() || !ready.entries().is_empty() || !ready.messages().is_empty();
            if after != before || left {
                let detail = format!(
                    "a PreVote moved {before:?} to {after:?} (persisted or sent besides the answer: {left})"
                );
                return Err(Breach::new(PRE_VOTE_LEAVES_NO_TRACE, detail).into());
            }
        }
        let mut effects = PeerEffects {
            durable: &mut self.durable,
            watch: &mut self.watch,
            id: self.raft.id(),
            reply_to,
            outcome: Outcome {
                accepted,
                refused_at_gate: self.raft.refused().total() > refused_before,
                ..Outcome::default()
            },
        };
        // The durable model does index arithmetic too: a peer that reached `u64::MAX` may
        // break it, and that is a finding about the peer, not the end of the run.
        guarded(|| ready.carry_out(&mut effects)).map_err(|mut p| {
            p.message = format!("while carrying out the Ready: {}", p.message);
            p
        })??;
        let outcome = effects.outcome;
        self.watch.after_input(&self.raft, &self.durable)?;
        Ok(outcome)
    }

    /// Crashes the peer and restarts it from its durable model with `config` (a new
    /// incarnation's).
    ///
    /// # Errors
    /// If `Raft::restore` refuses or panics, or the restored peer lost what it applied.
    pub fn restart(&mut self, config: Config) -> Result<(), Broken> {
        let restored = self.durable.restored();
        let raft = guarded(|| Raft::restore(config, restored))?.map_err(|e| {
            Breach::new(
                RESTARTS_FROM_DURABLE,
                format!("Raft::restore refused the durable state: {e}"),
            )
        })?;
        self.watch.after_restart(&raft, &self.durable)?;
        self.raft = raft;
        Ok(())
    }

    /// The peer's state in a few numbers (cheap: taken before every input, shown only
    /// with a finding).
    #[must_use]
    pub fn state(&self) -> PeerState {
        let raft = &self.raft;
        let log = raft.log();
        PeerState {
            role: raft.role(),
            term: raft.term(),
            voted_for: raft.voted_for(),
            commit_index: raft.commit_index(),
            snapshot: log.snapshot(),
            last_index: log.last_index(),
            last_term: log.last_term(),
            entries: log.len(),
        }
    }
}

/// A peer's state in a few numbers, for a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerState {
    /// Its role.
    pub role: RoleKind,
    /// Its current term.
    pub term: Term,
    /// Its vote in that term.
    pub voted_for: Option<PeerId>,
    /// Its commit index.
    pub commit_index: LogIndex,
    /// Where its snapshot ends.
    pub snapshot: SnapshotMeta,
    /// Its last log index.
    pub last_index: LogIndex,
    /// The term of that entry.
    pub last_term: Term,
    /// Entries held after the snapshot.
    pub entries: usize,
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vote = self
            .voted_for
            .map_or_else(|| "none".to_string(), |p| p.to_string());
        write!(
            f,
            "{:?} term {} vote {vote} commit {} snapshot {}@{} log last {}@{} ({} entries)",
            self.role,
            self.term,
            self.commit_index,
            self.snapshot.last_included_index,
            self.snapshot.last_included_term,
            self.last_index,
            self.last_term,
            self.entries
        )
    }
}

/// One peer's side of carrying out its Ready under the fuzzer: the durable model, the
/// outcome, and the watch that checks what the service is handed.
struct PeerEffects<'a> {
    durable: &'a mut Durable,
    watch: &'a mut PeerWatch,
    id: PeerId,
    /// The id of the request just stepped, and its claimed sender.
    reply_to: Option<(RequestId, PeerId)>,
    outcome: Outcome,
}

impl Effects for PeerEffects<'_> {
    type Error = Broken;

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Broken> {
        self.durable.save_hard_state(*hard_state);
        Ok(())
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Broken> {
        self.durable.truncate_suffix(from);
        Ok(())
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Broken> {
        self.durable.install_snapshot(snapshot);
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), Broken> {
        self.durable.append(entries).map_err(|gap| {
            let detail = format!(
                "{} asked to persist {} after {}",
                self.id,
                gap.found,
                gap.expected.prev()
            );
            Breach::new(PERSISTENCE_CONTRACT, detail).into()
        })
    }

    fn send(&mut self, to: PeerId, request: Request) -> Result<(), Broken> {
        self.outcome.sent.push((to, Message::Request(request)));
        Ok(())
    }

    /// The reply to the request just stepped; a reply under any other id is a finding (raft-core
    /// must echo the runtime's name for the request it answers).
    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Broken> {
        match self.reply_to {
            Some((asked, to)) if asked == id => {
                self.outcome.reply = Some((to, Message::Reply(reply)));
                Ok(())
            }
            _ => Err(Breach::new(
                super::watch::REPLIES_KEYED_BY_REQUEST,
                format!(
                    "{} replied under {id:?}, which names no request it was asked",
                    self.id
                ),
            )
            .into()),
        }
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), Broken> {
        Ok(self.watch.apply_snapshot(snapshot.meta)?)
    }

    fn apply(&mut self, entry: Entry) -> Result<(), Broken> {
        self.outcome.applied += 1;
        Ok(self.watch.apply(&entry)?)
    }

    /// The fuzzer asks for no read, so an outcome of one is a finding.
    fn read(&mut self, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Broken> {
        let detail = format!(
            "{} decided read {id:?} ({result:?}), which nobody asked for",
            self.id
        );
        Err(Breach::new(super::watch::REPLIES_KEYED_BY_REQUEST, detail).into())
    }
}

/// What a PreVote must leave as it was: term, vote, role, leader, last log entry, commit index.
fn traceable(
    raft: &Raft,
) -> (
    Term,
    Option<PeerId>,
    RoleKind,
    Option<PeerId>,
    LogIndex,
    Term,
    LogIndex,
) {
    let log = raft.log();
    (
        raft.term(),
        raft.voted_for(),
        raft.role(),
        raft.leader_id(),
        log.last_index(),
        log.last_term(),
        raft.commit_index(),
    )
}
