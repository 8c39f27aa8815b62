//! `Ready::carry_out`: the one implementation of the persistence contract's order. A recording
//! `Effects` shows which step runs when, and that a failed step stops everything after it.

use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, AppendOutcome, Message, RequestVoteArgs, RequestVoteReply,
};
use raft_core::{
    Config, Effects, Entry, HardState, LogIndex, PeerId, Raft, Ready, Snapshot, SnapshotMeta, Term,
};

/// One call to an effect, with what it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    SaveHardState(HardState),
    TruncateSuffix(LogIndex),
    InstallSnapshot(LogIndex),
    Append(Vec<LogIndex>),
    Persisted,
    Send(PeerId, Message),
    Reply(Message),
    ApplySnapshot(LogIndex),
    Apply(LogIndex),
}

/// Records every call; the call numbered `fail_at` (0-based) returns an error.
#[derive(Default)]
struct Recorder {
    calls: Vec<Call>,
    fail_at: Option<usize>,
}

/// The error a recorder returns: the number of the call that failed.
#[derive(Debug, PartialEq, Eq)]
struct Failed(usize);

impl Recorder {
    fn record(&mut self, call: Call) -> Result<(), Failed> {
        let n = self.calls.len();
        self.calls.push(call);
        if self.fail_at == Some(n) {
            Err(Failed(n))
        } else {
            Ok(())
        }
    }
}

impl Effects for Recorder {
    type Error = Failed;

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), Failed> {
        self.record(Call::SaveHardState(*hard_state))
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<(), Failed> {
        self.record(Call::TruncateSuffix(from))
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Failed> {
        self.record(Call::InstallSnapshot(snapshot.meta.last_included_index))
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), Failed> {
        assert!(
            !entries.is_empty(),
            "append is never called with nothing to append"
        );
        self.record(Call::Append(entries.iter().map(|e| e.index).collect()))
    }

    fn persisted(&mut self) -> Result<(), Failed> {
        self.record(Call::Persisted)
    }

    fn send(&mut self, to: PeerId, message: Message) -> Result<(), Failed> {
        self.record(Call::Send(to, message))
    }

    fn reply(&mut self, reply: Message) -> Result<(), Failed> {
        self.record(Call::Reply(reply))
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), Failed> {
        self.record(Call::ApplySnapshot(snapshot.meta.last_included_index))
    }

    fn apply(&mut self, entry: Entry) -> Result<(), Failed> {
        self.record(Call::Apply(entry.index))
    }
}

fn entry(index: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(2),
        command: vec![index as u8],
    }
}

fn vote(term: u64) -> Message {
    Message::RequestVote(RequestVoteArgs {
        term: Term(term),
        candidate_id: PeerId(0),
        last_log_index: LogIndex(7),
        last_log_term: Term(2),
    })
}

fn granted() -> Message {
    Message::RequestVoteReply(RequestVoteReply {
        term: Term(3),
        vote_granted: true,
    })
}

/// A Ready with every field set, so every effect has something to do.
fn full_ready() -> Ready {
    Ready {
        hard_state: Some(HardState {
            current_term: Term(3),
            voted_for: Some(PeerId(0)),
        }),
        snapshot: Some(Snapshot {
            meta: SnapshotMeta {
                last_included_index: LogIndex(4),
                last_included_term: Term(2),
            },
            data: b"state@4".to_vec(),
        }),
        apply_snapshot: true,
        truncate_from: Some(LogIndex(5)),
        entries: vec![entry(5), entry(6), entry(7)],
        messages: vec![(PeerId(1), vote(3)), (PeerId(2), vote(4))],
        reply: Some(granted()),
        committed: vec![entry(5), entry(6)],
    }
}

/// The calls `full_ready` must make, in the contract's order.
fn full_calls() -> Vec<Call> {
    vec![
        Call::SaveHardState(HardState {
            current_term: Term(3),
            voted_for: Some(PeerId(0)),
        }),
        Call::TruncateSuffix(LogIndex(5)),
        Call::InstallSnapshot(LogIndex(4)),
        Call::Append(vec![LogIndex(5), LogIndex(6), LogIndex(7)]),
        Call::Persisted,
        Call::Send(PeerId(1), vote(3)),
        Call::Send(PeerId(2), vote(4)),
        Call::Reply(granted()),
        Call::ApplySnapshot(LogIndex(4)),
        Call::Apply(LogIndex(5)),
        Call::Apply(LogIndex(6)),
    ]
}

#[test]
fn carry_out_persists_then_sends_and_replies_then_applies() {
    let mut rec = Recorder::default();
    full_ready().carry_out(&mut rec).expect("no effect fails");
    assert_eq!(rec.calls, full_calls());
}

#[test]
fn carry_out_stops_at_the_first_failed_effect() {
    let all = full_calls();
    for fail_at in 0..all.len() {
        let mut rec = Recorder {
            fail_at: Some(fail_at),
            ..Recorder::default()
        };
        let result = full_ready().carry_out(&mut rec);
        assert_eq!(
            result,
            Err(Failed(fail_at)),
            "the error of call {fail_at} is returned"
        );
        assert_eq!(
            rec.calls,
            all[..=fail_at],
            "nothing runs after failed call {fail_at} ({:?})",
            all[fail_at]
        );
    }
}

#[test]
fn a_failed_write_lets_no_message_or_reply_leave() {
    // The contract itself: whichever persistence step fails, nothing is sent or applied.
    for fail_at in 0..4 {
        let mut rec = Recorder {
            fail_at: Some(fail_at),
            ..Recorder::default()
        };
        assert!(full_ready().carry_out(&mut rec).is_err());
        assert!(
            !rec.calls.iter().any(|c| matches!(
                c,
                Call::Persisted | Call::Send(..) | Call::Reply(_) | Call::ApplySnapshot(_) | Call::Apply(_)
            )),
            "write {fail_at} failed, yet {:?}",
            rec.calls
        );
    }
}

#[test]
fn an_empty_ready_only_reports_persisted() {
    let mut rec = Recorder::default();
    Ready::default().carry_out(&mut rec).expect("no effect fails");
    assert_eq!(rec.calls, vec![Call::Persisted]);
}

#[test]
fn a_snapshot_the_service_took_is_persisted_but_not_handed_back() {
    let ready = Ready {
        apply_snapshot: false,
        ..full_ready()
    };
    let mut rec = Recorder::default();
    ready.carry_out(&mut rec).expect("no effect fails");
    let mut expected = full_calls();
    expected.retain(|c| !matches!(c, Call::ApplySnapshot(_)));
    assert_eq!(rec.calls, expected);
    assert!(rec.calls.contains(&Call::InstallSnapshot(LogIndex(4))));
}

#[test]
fn carry_out_works_through_a_trait_object() {
    let mut rec = Recorder::default();
    let effects: &mut dyn Effects<Error = Failed> = &mut rec;
    full_ready().carry_out(effects).expect("no effect fails");
    assert_eq!(rec.calls, full_calls());
}

#[test]
fn a_follower_persists_new_entries_before_it_acknowledges_them() {
    let ids = vec![PeerId(0), PeerId(1), PeerId(2)];
    let mut follower = Raft::new(Config::new(PeerId(1), ids, 7)).expect("valid config");
    follower.step(
        PeerId(0),
        Message::AppendEntries(AppendEntriesArgs {
            term: Term(2),
            leader_id: PeerId(0),
            prev_log_index: LogIndex::ZERO,
            prev_log_term: Term::ZERO,
            entries: vec![entry(1), entry(2)],
            leader_commit: LogIndex(1),
        }),
    );
    let mut rec = Recorder::default();
    follower
        .take_ready()
        .carry_out(&mut rec)
        .expect("no effect fails");
    let reply = Message::AppendEntriesReply(AppendEntriesReply {
        term: Term(2),
        outcome: AppendOutcome::Success {
            match_index: LogIndex(2),
        },
    });
    assert_eq!(
        rec.calls,
        vec![
            Call::SaveHardState(HardState {
                current_term: Term(2),
                voted_for: None,
            }),
            Call::Append(vec![LogIndex(1), LogIndex(2)]),
            Call::Persisted,
            Call::Reply(reply),
            Call::Apply(LogIndex(1)),
        ]
    );
}
