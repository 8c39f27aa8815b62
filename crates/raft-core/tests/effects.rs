//! `Ready::carry_out`: the one implementation of the persistence contract's order. A recording
//! `Effects` shows which step runs when, and that a failed step stops everything after it.

use raft_core::message::{
    AppendEntriesArgs, AppendEntriesReply, AppendOutcome, InstallSnapshotArgs, InstallSnapshotReply, Reply,
    Request, RequestId, RequestVoteArgs, RequestVoteReply,
};
use raft_core::{
    Config, Effects, Entry, HardState, LogIndex, PeerId, Raft, ReadError, ReadId, Ready, Restored, RoleKind,
    Snapshot, Term,
};

/// One call to an effect, with what it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    SaveHardState(HardState),
    TruncateSuffix(LogIndex),
    InstallSnapshot(LogIndex),
    Append(Vec<LogIndex>),
    Persisted,
    Send(PeerId, Request),
    Reply(RequestId, Reply),
    ApplySnapshot(LogIndex),
    Apply(LogIndex),
    Read(ReadId, Result<LogIndex, ReadError>),
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

    fn send(&mut self, to: PeerId, request: Request) -> Result<(), Failed> {
        self.record(Call::Send(to, request))
    }

    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Failed> {
        self.record(Call::Reply(id, reply))
    }

    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), Failed> {
        self.record(Call::ApplySnapshot(snapshot.meta.last_included_index))
    }

    fn apply(&mut self, entry: Entry) -> Result<(), Failed> {
        self.record(Call::Apply(entry.index))
    }

    fn read(&mut self, id: ReadId, result: Result<LogIndex, ReadError>) -> Result<(), Failed> {
        self.record(Call::Read(id, result))
    }
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        command: vec![index as u8].into(),
    }
}

fn ids() -> Vec<PeerId> {
    vec![PeerId(0), PeerId(1), PeerId(2)]
}

/// The ids the runtime gives the two requests `full_ready` steps.
const SNAPSHOT_ID: RequestId = RequestId(10);
const APPEND_ID: RequestId = RequestId(11);

/// A Ready with every part set, from real inputs before one `take_ready`: peer 1 of three,
/// restored in term 1 with entries 1-3 of term 1, installs leader 0's snapshot through 4@2
/// (which does not match its log: the log is discarded), takes entries 5-7 of term 2 with the
/// leader's commit at 6, then times out and campaigns in term 3.
fn full_ready() -> Ready {
    let restored = Restored {
        hard_state: HardState {
            current_term: Term(1),
            voted_for: None,
        },
        snapshot: None,
        entries: (1..=3).map(|i| entry(i, 1)).collect(),
    };
    // Figure 2's elections: the timeout below makes a candidate at once, with no pre-vote.
    let figure2 = Config {
        pre_vote: false,
        ..Config::new(PeerId(1), ids(), 7)
    };
    let mut r = Raft::restore(figure2, restored).expect("valid");
    let install = InstallSnapshotArgs {
        term: Term(2),
        leader_id: PeerId(0),
        last_included_index: LogIndex(4),
        last_included_term: Term(2),
        data: b"state@4".to_vec(),
    };
    r.step_request(PeerId(0), SNAPSHOT_ID, Request::InstallSnapshot(install));
    let append = AppendEntriesArgs {
        term: Term(2),
        leader_id: PeerId(0),
        prev_log_index: LogIndex(4),
        prev_log_term: Term(2),
        entries: (5..=7).map(|i| entry(i, 2)).collect(),
        leader_commit: LogIndex(6),
        round: 0,
    };
    r.step_request(PeerId(0), APPEND_ID, Request::AppendEntries(append));
    while r.role() != RoleKind::Candidate {
        r.tick();
    }
    r.take_ready()
}

/// The vote request peer 1 sends when it campaigns in `full_ready`.
fn vote() -> Request {
    Request::RequestVote(RequestVoteArgs {
        term: Term(3),
        candidate_id: PeerId(1),
        last_log_index: LogIndex(7),
        last_log_term: Term(2),
        transfer: false,
    })
}

/// The calls `full_ready` must make, in the contract's order.
fn full_calls() -> Vec<Call> {
    vec![
        Call::SaveHardState(HardState {
            current_term: Term(3),
            voted_for: Some(PeerId(1)),
        }),
        Call::TruncateSuffix(LogIndex(5)),
        Call::InstallSnapshot(LogIndex(4)),
        Call::Append(vec![LogIndex(5), LogIndex(6), LogIndex(7)]),
        Call::Persisted,
        Call::Send(PeerId(0), vote()),
        Call::Send(PeerId(2), vote()),
        Call::Reply(
            SNAPSHOT_ID,
            Reply::InstallSnapshot(InstallSnapshotReply {
                term: Term(2),
                match_index: LogIndex(4),
            }),
        ),
        Call::Reply(
            APPEND_ID,
            Reply::AppendEntries(AppendEntriesReply {
                term: Term(2),
                outcome: AppendOutcome::Success {
                    match_index: LogIndex(7),
                },
                round: 0,
            }),
        ),
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
                Call::Persisted | Call::Send(..) | Call::Reply(..) | Call::ApplySnapshot(_) | Call::Apply(_)
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
    let restored = Restored {
        hard_state: HardState {
            current_term: Term(2),
            voted_for: None,
        },
        snapshot: None,
        entries: (1..=3).map(|i| entry(i, 2)).collect(),
    };
    let mut r = Raft::restore(
        Config {
            pre_vote: false,
            check_quorum: false,
            ..Config::new(PeerId(1), ids(), 7)
        },
        restored,
    )
    .expect("valid");
    let heartbeat = AppendEntriesArgs {
        term: Term(2),
        leader_id: PeerId(0),
        prev_log_index: LogIndex(3),
        prev_log_term: Term(2),
        entries: vec![],
        leader_commit: LogIndex(3),
        round: 0,
    };
    r.step_request(PeerId(0), RequestId(1), Request::AppendEntries(heartbeat));
    r.take_ready()
        .carry_out(&mut Recorder::default())
        .expect("no effect fails");
    r.snapshot(LogIndex(2), b"state@2".to_vec())
        .expect("index 2 was applied");
    let mut rec = Recorder::default();
    r.take_ready().carry_out(&mut rec).expect("no effect fails");
    assert_eq!(
        rec.calls,
        vec![Call::InstallSnapshot(LogIndex(2)), Call::Persisted]
    );
}

#[test]
fn two_requests_stepped_before_one_ready_each_get_their_own_reply() {
    // Peer 0 in term 1 is asked for its vote in term 2 by peer 1 (granted: the first to ask)
    // and then by peer 2 (refused: one vote per term). One Ready answers both, each under the
    // id the runtime gave its request, in the order they were stepped.
    let mut r = Raft::new(Config {
        pre_vote: false,
        check_quorum: false,
        ..Config::new(PeerId(0), ids(), 7)
    })
    .expect("valid");
    let ask = |candidate: u32| {
        Request::RequestVote(RequestVoteArgs {
            term: Term(2),
            candidate_id: PeerId(candidate),
            last_log_index: LogIndex::ZERO,
            last_log_term: Term::ZERO,
            transfer: false,
        })
    };
    r.step_request(PeerId(1), RequestId(41), ask(1));
    r.step_request(PeerId(2), RequestId(42), ask(2));
    let answer = |granted: bool| {
        Reply::RequestVote(RequestVoteReply {
            term: Term(2),
            vote_granted: granted,
        })
    };
    let ready = r.take_ready();
    assert_eq!(
        ready.replies(),
        [(RequestId(41), answer(true)), (RequestId(42), answer(false))]
    );
    let mut rec = Recorder::default();
    ready.carry_out(&mut rec).expect("no effect fails");
    let replies: Vec<_> = rec
        .calls
        .into_iter()
        .filter(|c| matches!(c, Call::Reply(..)))
        .collect();
    assert_eq!(
        replies,
        vec![
            Call::Reply(RequestId(41), answer(true)),
            Call::Reply(RequestId(42), answer(false))
        ]
    );
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
    let mut follower = Raft::new(Config {
        pre_vote: false,
        check_quorum: false,
        ..Config::new(PeerId(1), ids(), 7)
    })
    .expect("valid config");
    follower.step_request(
        PeerId(0),
        RequestId(5),
        Request::AppendEntries(AppendEntriesArgs {
            term: Term(2),
            leader_id: PeerId(0),
            prev_log_index: LogIndex::ZERO,
            prev_log_term: Term::ZERO,
            entries: vec![entry(1, 2), entry(2, 2)],
            leader_commit: LogIndex(1),
            round: 0,
        }),
    );
    let mut rec = Recorder::default();
    follower
        .take_ready()
        .carry_out(&mut rec)
        .expect("no effect fails");
    let reply = Reply::AppendEntries(AppendEntriesReply {
        term: Term(2),
        outcome: AppendOutcome::Success {
            match_index: LogIndex(2),
        },
        round: 0,
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
            Call::Reply(RequestId(5), reply),
            Call::Apply(LogIndex(1)),
        ]
    );
}

/// Each call's name by `name`, which names every call the test expects; any other fails it.
fn kinds(calls: &[Call], name: impl Fn(&Call) -> Option<&'static str>) -> Vec<&'static str> {
    calls
        .iter()
        .map(|c| name(c).unwrap_or_else(|| panic!("nothing else happens: {c:?}")))
        .collect()
}

/// Peer 0 of three, leader (elected with peer 1's vote), its log empty, every Ready so far
/// carried out, with the default `send_before_write`.
fn leader() -> Raft {
    leader_with(true)
}

fn leader_with(send_before_write: bool) -> Raft {
    let mut r = Raft::new(Config {
        pre_vote: false,
        check_quorum: false,
        send_before_write,
        ..Config::new(PeerId(0), ids(), 7)
    })
    .expect("valid config");
    while r.role() != RoleKind::Candidate {
        r.tick();
    }
    let term = r.term();
    r.step_reply(
        PeerId(1),
        Reply::RequestVote(RequestVoteReply {
            term,
            vote_granted: true,
        }),
    );
    assert!(r.is_leader());
    let mut rec = Recorder::default();
    r.take_ready().carry_out(&mut rec).expect("no effect fails");
    // Both followers answer the first heartbeat: their logs match, entries may go ahead.
    for follower in [PeerId(1), PeerId(2)] {
        r.step_reply(
            follower,
            Reply::AppendEntries(AppendEntriesReply {
                term,
                outcome: AppendOutcome::Success {
                    match_index: LogIndex::ZERO,
                },
                round: 0,
            }),
        );
    }
    r.take_ready().carry_out(&mut rec).expect("no effect fails");
    r
}

#[test]
fn a_leader_sends_its_entries_beside_its_own_write_of_them() {
    // Thesis section 10.2.1: the AppendEntries leave first, the write runs beside the
    // followers' writes; without send_before_write, Figure 2's order.
    for (send_before_write, order) in [
        (true, ["send entry", "send entry", "write entry", "persisted"]),
        (false, ["write entry", "persisted", "send entry", "send entry"]),
    ] {
        let mut leader = leader_with(send_before_write);
        leader.propose(b"x".to_vec()).expect("the leader takes it");
        let mut rec = Recorder::default();
        leader.take_ready().carry_out(&mut rec).expect("no effect fails");
        let kinds = kinds(&rec.calls, |c| match c {
            Call::Send(_, Request::AppendEntries(a)) if a.entries.len() == 1 => Some("send entry"),
            Call::Append(_) => Some("write entry"),
            Call::Persisted => Some("persisted"),
            _ => None,
        });
        assert_eq!(kinds, order, "send_before_write {send_before_write}");
    }
}

#[test]
fn a_ready_that_changes_term_or_vote_sends_nothing_before_the_write() {
    // A leader's heartbeats, then a reply of a higher term in the same Ready: the new term is
    // written before anything leaves (Figure 2).
    let mut leader = leader();
    let heartbeat = Config::new(PeerId(0), ids(), 7).heartbeat_interval_ticks;
    for _ in 0..heartbeat {
        leader.tick();
    }
    leader.step_reply(
        PeerId(2),
        Reply::RequestVote(RequestVoteReply {
            term: Term(9),
            vote_granted: false,
        }),
    );
    let mut rec = Recorder::default();
    leader.take_ready().carry_out(&mut rec).expect("no effect fails");
    let kinds = kinds(&rec.calls, |c| match c {
        Call::SaveHardState(h) if h.current_term == Term(9) => Some("write term"),
        Call::Persisted => Some("persisted"),
        Call::Send(_, Request::AppendEntries(_)) => Some("send heartbeat"),
        _ => None,
    });
    assert_eq!(
        kinds,
        ["write term", "persisted", "send heartbeat", "send heartbeat"]
    );
}

#[test]
fn a_leader_counts_itself_toward_a_commit_only_once_its_write_is_durable() {
    let mut leader = leader();
    let (index, _) = leader.propose(b"x".to_vec()).expect("the leader takes it");
    let ready = leader.take_ready();
    let term = leader.term();
    // Peer 1's acknowledgement arrives before the leader's own write is known to be done:
    // one durable copy of three is no majority.
    leader.step_reply(
        PeerId(1),
        Reply::AppendEntries(AppendEntriesReply {
            term,
            outcome: AppendOutcome::Success { match_index: index },
            round: 0,
        }),
    );
    assert_eq!(
        leader.commit_index(),
        LogIndex::ZERO,
        "not committed on one durable copy"
    );
    let mut rec = Recorder::default();
    ready.carry_out(&mut rec).expect("no effect fails");
    // The next Ready is taken after that one was carried out: the leader's copy counts.
    let next = leader.take_ready();
    assert_eq!(leader.commit_index(), index, "committed on two durable copies");
    assert_eq!(next.committed().len(), 1, "and applied with the next Ready");
}
