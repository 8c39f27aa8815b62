//! The clerk over a fake transport: it retries at the next server with the same request,
//! pauses only after a full round of failures, and remembers who answered.

use std::collections::VecDeque;
use std::time::Duration;

use raft_kv::{CLERK_ROUND_PAUSE, CallFailed, Clerk, ClerkTransport, ClientId, Command, KvOp, Response, Seq};

/// What the clerk did, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Did {
    Call { server: usize, seq: Seq, op: KvOp },
    Sleep(Duration),
}

/// Answers from a script and records every call and pause.
#[derive(Default)]
struct Scripted {
    answers: VecDeque<Result<Response<String>, CallFailed>>,
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
