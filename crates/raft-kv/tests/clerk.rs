//! The clerk's decisions: rotate servers on failure, keep (id, seq) on a retry, advance the
//! sequence number after a success, remember the leader.

use raft_kv::{ClerkReply, ClerkState, ClientId, Next, NoServers, Seq};

#[test]
fn a_clerk_needs_a_server() {
    assert_eq!(ClerkState::new(ClientId(1), 0).unwrap_err(), NoServers);
}

#[test]
fn retries_rotate_servers_and_keep_id_and_seq_until_done() {
    let mut clerk = ClerkState::new(ClientId(42), 3).unwrap();
    let first = clerk.begin();
    assert_eq!(
        (first.server, first.client_id, first.seq),
        (0, ClientId(42), Seq(1))
    );
    let replies = [
        ClerkReply::WrongLeader,
        ClerkReply::CallFailed,
        ClerkReply::WrongLeader,
    ];
    let mut attempt = first;
    let mut servers = vec![attempt.server];
    for reply in replies {
        match clerk.on_reply::<String>(attempt, reply) {
            Next::Retry(retry) => {
                assert_eq!((retry.client_id, retry.seq), (ClientId(42), Seq(1)));
                attempt = retry;
                servers.push(retry.server);
            }
            other => panic!("a failure must be retried, got {other:?}"),
        }
    }
    assert_eq!(servers, vec![0, 1, 2, 0]);
    assert_eq!(
        attempt.round, 1,
        "three failures on three servers make one full round"
    );
    let done = clerk.on_reply(attempt, ClerkReply::Ok("v".to_string()));
    assert_eq!(done, Next::Done("v".to_string()));
    assert_eq!(clerk.next_seq(), Seq(2));
    assert_eq!(clerk.outstanding(), None);
}

#[test]
fn the_server_that_answered_is_tried_first_next_time() {
    let mut clerk = ClerkState::new(ClientId(7), 5).unwrap();
    let a = clerk.begin();
    let Next::Retry(b) = clerk.on_reply::<()>(a, ClerkReply::WrongLeader) else {
        panic!("wrong leader must be retried")
    };
    assert_eq!(clerk.on_reply(b, ClerkReply::Ok(())), Next::Done(()));
    assert_eq!(clerk.leader(), 1);
    let next = clerk.begin();
    assert_eq!((next.server, next.seq, next.round), (1, Seq(2), 0));
}

#[test]
fn a_reply_to_another_attempt_is_stale_and_changes_nothing() {
    let mut clerk = ClerkState::new(ClientId(7), 2).unwrap();
    let a = clerk.begin();
    let Next::Retry(b) = clerk.on_reply::<()>(a, ClerkReply::CallFailed) else {
        panic!("a failed call must be retried")
    };
    // The first attempt's reply arrives late: the call is still b's.
    assert_eq!(clerk.on_reply(a, ClerkReply::Ok(())), Next::Stale);
    assert_eq!(clerk.outstanding(), Some(b));
    assert_eq!(clerk.next_seq(), Seq(1));
    // begin during a call continues it.
    assert_eq!(clerk.begin(), b);
}

#[test]
fn abandoning_a_call_moves_to_the_next_seq_and_makes_its_replies_stale() {
    let mut state = ClerkState::new(ClientId(9), 3).expect("servers given");
    // Nothing outstanding: nothing to abandon, the sequence number stays.
    state.abandon();
    assert_eq!(state.next_seq(), Seq(1));
    let first = state.begin();
    let retry = match state.on_reply::<String>(first, ClerkReply::CallFailed) {
        Next::Retry(retry) => retry,
        other => panic!("expected a retry, got {other:?}"),
    };
    state.abandon();
    assert_eq!(state.outstanding(), None);
    assert_eq!(state.next_seq(), Seq(2));
    assert_eq!(
        state.on_reply(retry, ClerkReply::Ok("late".to_string())),
        Next::Stale
    );
    let next = state.begin();
    assert_eq!(next.seq, Seq(2));
    assert_eq!(next.round, 0, "a new call starts a new count of rounds");
}
