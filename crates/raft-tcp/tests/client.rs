//! The client port: calls and their replies matched by id, refusals a user can read, and
//! call timeouts that leave the connection usable.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{CLUSTER, Hello, Lane, Raw, Role, SECRET, WAIT_MAX, bind, identity, identity_of, wait_until};
use raft_tcp::server::CLIENT_HANDSHAKES_MAX;
use raft_tcp::{CallError, ClientConn, ClientReplier, ClientServer, ConnectError, TcpStats};

/// A client port on loopback whose handler is `handler`; its address and counters.
fn serve(
    handler: impl Fn(Vec<u8>, ClientReplier) + Send + Sync + 'static,
) -> (ClientServer, String, Arc<TcpStats>) {
    let listener = bind();
    let addr = listener.local_addr().expect("addr").to_string();
    let stats = Arc::new(TcpStats::new());
    let server = ClientServer::start(listener, identity(), Arc::clone(&stats), handler).expect("starts");
    (server, addr, stats)
}

#[test]
fn a_call_round_trips() {
    let (_server, addr, stats) = serve(|payload, replier| {
        let mut answer = b"echo:".to_vec();
        answer.extend(payload);
        replier.reply(answer);
    });
    let mut conn = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("connects");
    for i in 0..20 {
        let request = format!("request {i}");
        let reply = conn.call(request.as_bytes(), WAIT_MAX).expect("a reply");
        assert_eq!(reply, format!("echo:request {i}").into_bytes());
    }
    // A large payload, in both directions.
    let big = vec![7u8; 3 << 20];
    let reply = conn.call(&big, WAIT_MAX).expect("a reply");
    assert_eq!(reply.len(), big.len() + 5);
    assert_eq!(stats.snapshot().accepted, 1);
    assert_eq!(stats.snapshot().refused_total(), 0);
}

#[test]
fn replies_answered_out_of_order_are_matched_by_id() {
    // The handler keeps the "slow" request's replier and answers it only after a later
    // request arrives, just before answering that one: the client, which gave up on the
    // slow call, receives its late reply first and must skip it.
    let parked: Arc<Mutex<Vec<ClientReplier>>> = Arc::default();
    let kept = Arc::clone(&parked);
    let (_server, addr, _stats) = serve(move |payload, replier| {
        if payload == b"slow" {
            kept.lock().expect("not poisoned").push(replier);
            return;
        }
        for late in kept.lock().expect("not poisoned").drain(..) {
            late.reply(b"late reply to slow".to_vec());
        }
        replier.reply(payload);
    });
    let mut conn = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("connects");
    assert!(matches!(
        conn.call(b"slow", Duration::from_millis(200)),
        Err(CallError::TimedOut)
    ));
    assert!(wait_until(WAIT_MAX, || parked
        .lock()
        .expect("not poisoned")
        .len()
        == 1));
    let reply = conn.call(b"fast", WAIT_MAX).expect("a reply");
    assert_eq!(reply, b"fast", "the late reply to the earlier call was skipped");
    assert_eq!(conn.call(b"again", WAIT_MAX).expect("a reply"), b"again");
}

/// A request waiting for its answer, with the replier that answers it.
type Waiting = (Vec<u8>, ClientReplier);

#[test]
fn replies_from_another_thread_in_any_order_reach_their_calls() {
    // Two connections; the handler answers from a thread of its own, newest request first.
    let queue: Arc<Mutex<Vec<Waiting>>> = Arc::default();
    let handler_queue = Arc::clone(&queue);
    let (_server, addr, _stats) = serve(move |payload, replier| {
        handler_queue
            .lock()
            .expect("not poisoned")
            .push((payload, replier));
    });
    let answerer = {
        let queue = Arc::clone(&queue);
        std::thread::spawn(move || {
            let deadline = Instant::now() + WAIT_MAX;
            let mut answered = 0;
            while answered < 2 && Instant::now() < deadline {
                let mut waiting = queue.lock().expect("not poisoned");
                if waiting.len() == 2 {
                    while let Some((payload, replier)) = waiting.pop() {
                        replier.reply(payload);
                        answered += 1;
                    }
                }
                drop(waiting);
                std::thread::sleep(Duration::from_millis(5));
            }
            answered
        })
    };
    let calls: Vec<_> = ["first", "second"]
        .into_iter()
        .map(|name| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut conn = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("connects");
                conn.call(name.as_bytes(), WAIT_MAX).map(|reply| (name, reply))
            })
        })
        .collect();
    for call in calls {
        let (name, reply) = call.join().expect("no panic").expect("a reply");
        assert_eq!(reply, name.as_bytes());
    }
    assert_eq!(answerer.join().expect("no panic"), 2);
}

#[test]
fn a_wrong_secret_is_refused_with_a_clear_error() {
    let (_server, addr, stats) = serve(|payload, replier| replier.reply(payload));
    let wrong = identity_of(CLUSTER, b"this-is-not-the-right-secret");
    let err = ClientConn::connect(&addr, &wrong, WAIT_MAX).expect_err("refused");
    assert!(matches!(err, ConnectError::Auth { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("authentication") && text.contains("secret"),
        "{text}"
    );
    assert!(text.contains(&addr), "the error names the address: {text}");
    assert!(
        wait_until(WAIT_MAX, || stats.snapshot().refused_auth == 1),
        "{:?}",
        stats.snapshot()
    );
    assert_eq!(stats.snapshot().accepted, 0);
}

#[test]
fn another_cluster_is_refused_with_the_servers_reason() {
    let (_server, addr, stats) = serve(|payload, replier| replier.reply(payload));
    let other = identity_of("other-cluster", SECRET);
    let err = ClientConn::connect(&addr, &other, WAIT_MAX).expect_err("refused");
    assert!(
        matches!(&err, ConnectError::Refused { reason, .. } if reason.contains("another cluster")),
        "{err:?}"
    );
    assert!(wait_until(WAIT_MAX, || stats.snapshot().refused_cluster == 1));
}

#[test]
fn a_peer_on_the_client_port_is_refused() {
    let (_server, addr, stats) = serve(|payload, replier| replier.reply(payload));
    let mut raw = Raw::connect(&addr);
    let role = Role::Peer {
        from: 1,
        to: 0,
        lane: Lane::Control,
    };
    let (_, verdict) = raw
        .handshake(&Hello::new(CLUSTER, role), SECRET)
        .expect("answered");
    assert!(verdict.expect_err("refused").contains("peer on the client port"));
    assert!(wait_until(WAIT_MAX, || stats.snapshot().refused_peer == 1));
}

#[test]
fn a_call_times_out_and_the_connection_stays_usable() {
    let (_server, addr, _stats) = serve(|payload, replier| {
        if payload != b"never" {
            replier.reply(payload);
        }
    });
    let mut conn = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("connects");
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    assert!(matches!(conn.call(b"never", timeout), Err(CallError::TimedOut)));
    let took = started.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(2),
        "took {took:?}"
    );
    assert_eq!(conn.call(b"then", WAIT_MAX).expect("a reply"), b"then");
}

#[test]
fn connecting_to_nobody_fails_quickly_and_says_where() {
    let addr = common::dead_addr();
    let err = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect_err("nobody listens");
    assert!(matches!(err, ConnectError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr));
}

#[test]
fn a_stopped_server_closes_its_connections() {
    let (server, addr, _stats) = serve(|payload, replier| replier.reply(payload));
    let mut conn = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("connects");
    assert_eq!(conn.call(b"x", WAIT_MAX).expect("a reply"), b"x");
    let stopping = Instant::now();
    drop(server);
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "stopping took {:?}",
        stopping.elapsed()
    );
    assert!(matches!(
        conn.call(b"y", WAIT_MAX),
        Err(CallError::Closed | CallError::Io(_))
    ));
}

/// A client port played by the test: it accepts one client (with the test secret) and hands
/// the connection to `play`, on a thread of its own. Returns the address and the thread.
fn fake_server(play: impl FnOnce(Raw) + Send + 'static) -> (String, std::thread::JoinHandle<()>) {
    let listener = bind();
    let addr = listener.local_addr().expect("addr").to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT_MAX;
        let stream = loop {
            assert!(Instant::now() < deadline, "no client came");
            if let Ok((stream, _)) = listener.accept() {
                break stream;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        stream.set_nonblocking(false).expect("blocking");
        let (raw, _hello) = Raw::accept(stream);
        play(raw);
    });
    (addr, thread)
}

#[test]
fn a_reply_trickling_in_does_not_stretch_the_call_timeout() {
    let timeout = Duration::from_secs(1);
    let (done_tx, done_rx) = flume::bounded::<()>(1);
    let (addr, server) = fake_server(move |mut raw| {
        let _request = raw.recv_body().expect("the request");
        // One byte of a reply just before the caller's deadline, then nothing.
        std::thread::sleep(timeout - Duration::from_millis(100));
        raw.send_bytes(&[9]).expect("sent");
        let _ = done_rx.recv_timeout(WAIT_MAX);
    });
    let mut conn = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("connects");
    let started = Instant::now();
    let result = conn.call(b"anyone there?", timeout);
    let took = started.elapsed();
    let _ = done_tx.send(());
    server.join().expect("the fake server did not panic");
    assert!(matches!(result, Err(CallError::TimedOut)), "{result:?}");
    assert!(
        took < timeout + Duration::from_millis(300),
        "the call took {took:?} with a timeout of {timeout:?}"
    );
}

#[test]
fn a_timed_out_call_leaves_the_connection_usable_and_a_stalled_one_closes_it() {
    // A server that authenticates the client and then reads nothing: a large request fills
    // the socket buffers and its write stalls part way.
    let (done_tx, done_rx) = flume::bounded::<()>(1);
    let (addr, server) = fake_server(move |raw| {
        let _ = done_rx.recv_timeout(WAIT_MAX);
        drop(raw);
    });
    let mut conn = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("connects");
    let big = vec![5u8; 12 << 20];
    let timeout = Duration::from_millis(300);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let result = conn.call(&big, timeout);
        let took = started.elapsed();
        assert!(took < timeout + Duration::from_millis(300), "took {took:?}");
        let after = conn.call(b"", Duration::from_millis(1));
        // The contract: a call that timed out leaves the connection usable (the next call
        // is not refused as closed), and any other failure closes it.
        match &result {
            Err(CallError::TimedOut) => assert!(
                !matches!(after, Err(CallError::Closed)),
                "TimedOut, yet the connection is closed"
            ),
            Err(_) => assert!(matches!(after, Err(CallError::Closed)), "{after:?}"),
            Ok(_) => panic!("a reply from a server that reads nothing"),
        }
        let closed = matches!(after, Err(CallError::Closed));
        outcomes.push(result);
        if closed {
            break;
        }
    }
    let _ = done_tx.send(());
    server.join().expect("the fake server did not panic");
    assert!(
        outcomes.iter().any(|o| matches!(o, Err(CallError::Stalled))),
        "no write stalled part way: {outcomes:?}"
    );
}

#[test]
fn strangers_holding_every_handshake_place_do_not_keep_a_client_out() {
    let (_server, addr, stats) = serve(|payload, replier| replier.reply(payload));
    let mut before = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("connects");
    // More silent strangers than there were places of any kind before the budgets were split.
    let flood = 300;
    let strangers: Vec<Raw> = (0..flood).map(|_| Raw::connect(&addr)).collect();
    let started = Instant::now();
    assert!(
        wait_until(WAIT_MAX, || {
            let tcp = stats.snapshot();
            tcp.evicted_handshakes + tcp.refused_busy >= flood - CLIENT_HANDSHAKES_MAX as u64
        }),
        "the flood was not taken in: {:?}",
        stats.snapshot()
    );
    let mut after = ClientConn::connect(&addr, &identity(), WAIT_MAX).expect("a client gets in");
    assert!(
        started.elapsed() < raft_tcp::HELLO_TIMEOUT,
        "too slow to prove anything"
    );
    assert_eq!(after.call(b"new", WAIT_MAX).expect("a reply"), b"new");
    assert_eq!(before.call(b"old", WAIT_MAX).expect("a reply"), b"old");
    assert_eq!(stats.snapshot().accepted, 2);
    drop(strangers);
}
