//! The clerk over a fake transport: it retries at the next server with the same request,
//! pauses only after a full round of failures, and remembers who answered; `try_call` gives
//! up when the transport says so, and the next call then carries a new sequence number.

use std::collections::VecDeque;
use std::time::Duration;

use raft_kv::{
    CLERK_ROUND_PAUSE, CallFailed, Clerk, ClerkTransport, ClientId, Command, GaveUp, KvOp, Response, Seq,
};

/// What the clerk did, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Did {
    Call {
        server: usize,
        seq: Seq,
        op: KvOp,
    },
    Sleep(Duration),
    /// The clerk asked whether to give up; the transport answered this.
    AskedGiveUp(bool),
}

/// Answers from a script and records every call and pause.
#[derive(Default)]
struct Scripted {
    answers: VecDeque<Result<Response<String>, CallFailed>>,
    /// What `give_up` answers, in order; `false` once the script runs out.
    give_ups: VecDeque<bool>,
    did: Vec<Did>,
    client_ids: Vec<ClientId>,
}

impl ClerkTransport<KvOp, String> for Scripted {
    fn call(&mut self, server: usize, request: &Command<KvOp>) -> Result<Response<String>, CallFailed> {
        self.did.push(Did::Call {
            server,
            seq: request.seq,
            op: request.op.clone(),
        });
        self.client_ids.push(request.client_id);
        self.answers
            .pop_front()
            .expect("the script has an answer for every call")
    }

    fn sleep(&mut self, pause: Duration) {
        self.did.push(Did::Sleep(pause));
    }

    fn give_up(&mut self) -> bool {
        let answer = self.give_ups.pop_front().unwrap_or(false);
        self.did.push(Did::AskedGiveUp(answer));
        answer
    }
}

fn clerk(servers: usize, answers: Vec<Result<Response<String>, CallFailed>>) -> Clerk<Scripted> {
    let transport = Scripted {
        answers: answers.into(),
        ..Scripted::default()
    };
    Clerk::new(ClientId(42), servers, transport).expect("servers given")
}

fn call(server: usize, seq: u64, op: &KvOp) -> Did {
    Did::Call {
        server,
        seq: Seq(seq),
        op: op.clone(),
    }
}

#[test]
fn a_failed_call_goes_to_the_next_server_with_the_same_request_and_pauses_only_after_a_round() {
    let wl = Ok(Response::WrongLeader);
    let mut clerk = clerk(
        3,
        vec![
            wl.clone(),
            Err(CallFailed),
            wl.clone(),
            wl,
            Ok(Response::Ok("v".into())),
        ],
    );
    assert_eq!(clerk.get("k"), "v");
    let get = KvOp::Get { key: "k".into() };
    assert_eq!(
        clerk.transport().did,
        vec![
            call(0, 1, &get),
            call(1, 1, &get),
            call(2, 1, &get),
            Did::Sleep(CLERK_ROUND_PAUSE),
            call(0, 1, &get),
            call(1, 1, &get),
        ]
    );
    assert!(clerk.transport().client_ids.iter().all(|&id| id == ClientId(42)));
    assert_eq!(clerk.client_id(), ClientId(42));
}

#[test]
fn the_next_call_starts_at_the_server_that_answered_with_the_next_seq() {
    let mut clerk = clerk(
        3,
        vec![
            Ok(Response::WrongLeader),
            Ok(Response::Ok(String::new())),
            Err(CallFailed),
            Err(CallFailed),
            Err(CallFailed),
            Ok(Response::Ok(String::new())),
        ],
    );
    clerk.put("k", "a");
    clerk.append("k", "b");
    let put = KvOp::Put {
        key: "k".into(),
        value: "a".into(),
    };
    let append = KvOp::Append {
        key: "k".into(),
        value: "b".into(),
    };
    // The round of the second call starts at server 1: the pause comes after 1, 2, 0.
    assert_eq!(
        clerk.transport().did,
        vec![
            call(0, 1, &put),
            call(1, 1, &put),
            call(1, 2, &append),
            call(2, 2, &append),
            call(0, 2, &append),
            Did::Sleep(CLERK_ROUND_PAUSE),
            call(1, 2, &append),
        ]
    );
    assert_eq!(clerk.state().leader(), 1);
    assert_eq!(clerk.state().next_seq(), Seq(3));
}

#[test]
fn a_single_server_clerk_pauses_after_every_failure() {
    let mut clerk = clerk(
        1,
        vec![Err(CallFailed), Err(CallFailed), Ok(Response::Ok("x".into()))],
    );
    assert_eq!(clerk.get("k"), "x");
    let get = KvOp::Get { key: "k".into() };
    assert_eq!(
        clerk.transport().did,
        vec![
            call(0, 1, &get),
            Did::Sleep(CLERK_ROUND_PAUSE),
            call(0, 1, &get),
            Did::Sleep(CLERK_ROUND_PAUSE),
            call(0, 1, &get),
        ]
    );
}

#[test]
fn a_clerk_needs_a_server() {
    assert!(Clerk::new(ClientId(1), 0, Scripted::default()).is_err());
}

/// A clerk whose transport answers `give_up` from `give_ups`.
fn giving_up_clerk(
    servers: usize,
    answers: Vec<Result<Response<String>, CallFailed>>,
    give_ups: Vec<bool>,
) -> Clerk<Scripted> {
    let mut clerk = clerk(servers, answers);
    clerk.transport_mut().give_ups = give_ups.into();
    clerk
}

#[test]
fn try_call_asks_after_each_failed_attempt_and_gives_up_when_told() {
    let mut clerk = giving_up_clerk(
        2,
        vec![Err(CallFailed), Ok(Response::WrongLeader), Err(CallFailed)],
        vec![false, false, true],
    );
    assert_eq!(clerk.try_get("k"), Err(GaveUp));
    let get = KvOp::Get { key: "k".into() };
    assert_eq!(
        clerk.transport().did,
        vec![
            call(0, 1, &get),
            Did::AskedGiveUp(false),
            call(1, 1, &get),
            Did::AskedGiveUp(false),
            Did::Sleep(CLERK_ROUND_PAUSE),
            call(0, 1, &get),
            Did::AskedGiveUp(true),
        ],
        "asked after every failure, before the pause; no call after giving up"
    );
    let message = GaveUp.to_string();
    assert!(message.contains("may or may not have taken effect"), "{message}");
}

#[test]
fn after_giving_up_the_next_call_has_a_new_seq() {
    let mut clerk = giving_up_clerk(
        3,
        vec![Err(CallFailed), Ok(Response::Ok(String::new()))],
        vec![true],
    );
    assert_eq!(clerk.try_put("k", "a"), Err(GaveUp));
    // The abandoned put (seq 1) may still apply; the append must not be taken for it.
    assert_eq!(clerk.try_append("k", "b"), Ok(()));
    let put = KvOp::Put {
        key: "k".into(),
        value: "a".into(),
    };
    let append = KvOp::Append {
        key: "k".into(),
        value: "b".into(),
    };
    assert_eq!(
        clerk.transport().did,
        vec![call(0, 1, &put), Did::AskedGiveUp(true), call(1, 2, &append),]
    );
    assert_eq!(clerk.state().next_seq(), Seq(3));
    assert_eq!(clerk.state().outstanding(), None);
}

#[test]
fn try_call_that_is_answered_at_once_never_asks() {
    let mut clerk = giving_up_clerk(3, vec![Ok(Response::Ok("v".into()))], vec![true]);
    assert_eq!(clerk.try_get("k"), Ok("v".into()));
    assert_eq!(
        clerk.transport().did,
        vec![call(0, 1, &KvOp::Get { key: "k".into() })]
    );
}

#[test]
fn call_never_asks_to_give_up() {
    let mut clerk = giving_up_clerk(
        2,
        vec![Err(CallFailed), Err(CallFailed), Ok(Response::Ok("v".into()))],
        vec![true, true, true],
    );
    assert_eq!(clerk.get("k"), "v");
    assert!(
        !clerk
            .transport()
            .did
            .iter()
            .any(|did| matches!(did, Did::AskedGiveUp(_))),
        "{:?}",
        clerk.transport().did
    );
}
