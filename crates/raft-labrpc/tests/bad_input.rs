//! Bad input and misuse: every case ends in an error value, none panics or hangs.

mod common;

use std::thread;
use std::time::Duration;

use common::{JunkServer, junk_network};
use raft_labrpc::{CallError, Network, NetworkError, Responder, Server, Service};
use serde::{Serialize, Serializer};

/// A value whose serialization always fails.
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value cannot be encoded"))
    }
}

#[test]
fn args_that_do_not_decode_are_a_bad_request() {
    let (rn, e, js) = junk_network("e", "s");
    // u8 200 is the single byte 0xC8: as a String's varint length it is cut short.
    let reply: Result<String, _> = e.call("JunkServer.Handler1", &200u8);
    assert!(matches!(reply, Err(CallError::BadRequest(_))), "{reply:?}");
    // A String where an i64 is expected: the i64 decodes from the length, bytes remain.
    let reply: Result<String, _> = e.call("JunkServer.Handler2", "abc");
    assert!(matches!(reply, Err(CallError::BadRequest(_))), "{reply:?}");
    assert!(
        js.log1.lock().unwrap().is_empty() && js.log2.lock().unwrap().is_empty(),
        "no handler ran"
    );
    rn.cleanup();
}

#[test]
fn unknown_service_and_method_are_errors() {
    let (rn, e, _js) = junk_network("e", "s");
    let reply: Result<String, _> = e.call("Nope.Handler2", &1i64);
    assert_eq!(reply, Err(CallError::UnknownService("Nope".into())));
    let reply: Result<String, _> = e.call("JunkServer.Nope", &1i64);
    assert_eq!(reply, Err(CallError::UnknownMethod("JunkServer.Nope".into())));
    let reply: Result<String, _> = e.call("NoDotAtAll", &1i64);
    assert_eq!(reply, Err(CallError::UnknownService("NoDotAtAll".into())));
    // Split at the last dot: "a.b.Handler2" is service "a.b".
    let reply: Result<String, _> = e.call("a.b.Handler2", &1i64);
    assert_eq!(reply, Err(CallError::UnknownService("a.b".into())));
    rn.cleanup();
}

#[test]
fn a_reply_that_does_not_decode_is_a_decode_error() {
    let (rn, e, js) = junk_network("e", "s");
    // The reply is a String; as a u64 its length decodes and the text is left over.
    let reply: Result<u64, _> = e.call("JunkServer.Handler2", &111i64);
    assert!(matches!(reply, Err(CallError::Decode(_))), "{reply:?}");
    // The handler ran: only the caller's view of the reply is bad.
    assert_eq!(js.log2_len(), 1);
    rn.cleanup();
}

#[test]
fn values_that_do_not_encode_are_encode_errors() {
    let rn = Network::new();
    let mut svc = Service::new("Bad");
    svc.method("Reply", |_: u64, r: Responder<Unencodable>| {
        r.respond(Unencodable)
    });
    let mut server = Server::new();
    server.add_service(svc);
    rn.add_server("s", server);
    let e = rn.make_end("e").unwrap();
    rn.connect("e", "s");
    rn.enable("e", true);

    let reply: Result<u64, _> = e.call("Bad.Reply", &Unencodable);
    assert!(matches!(reply, Err(CallError::Encode(_))), "{reply:?}");
    assert_eq!(
        rn.total_count(),
        0,
        "an unencodable request never enters the network"
    );
    let reply: Result<u64, _> = e.call("Bad.Reply", &1u64);
    assert!(matches!(reply, Err(CallError::Encode(_))), "{reply:?}");
    assert_eq!(rn.count("s"), 1);
    rn.cleanup();
}

#[test]
fn a_dropped_responder_fails_the_call() {
    let rn = Network::new();
    let mut svc = Service::new("Drop");
    svc.method("Now", |_: u64, r: Responder<u64>| drop(r));
    svc.method("Later", |_: u64, r: Responder<u64>| {
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            drop(r);
        });
    });
    let mut server = Server::new();
    server.add_service(svc);
    rn.add_server("s", server);
    let e = rn.make_end("e").unwrap();
    rn.connect("e", "s");
    rn.enable("e", true);
    assert_eq!(e.call::<_, u64>("Drop.Now", &1u64), Err(CallError::Failed));
    assert_eq!(e.call::<_, u64>("Drop.Later", &1u64), Err(CallError::Failed));
    rn.cleanup();
}

#[test]
fn calls_after_cleanup_fail_at_once() {
    let (rn, e, js) = junk_network("e", "s");
    assert_eq!(
        e.call::<_, String>("JunkServer.Handler2", &1i64).as_deref(),
        Ok("handler2-1")
    );
    let before = rn.total_count();
    rn.cleanup();
    rn.cleanup(); // idempotent
    assert_eq!(
        e.call::<_, String>("JunkServer.Handler2", &2i64),
        Err(CallError::Failed)
    );
    let (tx, rx) = flume::bounded(1);
    e.call_with("JunkServer.Handler2", &3i64, move |o: Result<String, _>| {
        tx.send(o).unwrap()
    });
    assert_eq!(rx.try_recv(), Ok(Err(CallError::Failed)), "completed inline");
    let pending = e.call_async::<_, String>("JunkServer.Handler2", &4i64);
    assert_eq!(pending.try_recv(), Ok(Err(CallError::Failed)), "completed inline");
    assert_eq!(rn.total_count(), before, "nothing enters a cleaned-up network");
    assert_eq!(js.log2_len(), 1);
}

#[test]
fn cleanup_fails_every_pending_call() {
    let rn = Network::new();
    let js = JunkServer::new();
    rn.add_server("s", js.server());
    rn.set_long_delays(true);
    rn.set_long_reordering(true);
    let dead = rn.make_end("dead").unwrap(); // disabled: fails after up to 7 s
    let held = rn.make_end("held").unwrap();
    rn.connect("held", "s");
    rn.enable("held", true);
    let pending: Vec<_> = (0..50)
        .map(|i| dead.call_async::<_, String>("JunkServer.Handler2", &i))
        .chain(
            (0..5)
                .map(|i| held.call_async::<_, i64>("JunkServer.Handler3", &i))
                .map(|rx| {
                    let (tx, out) = flume::bounded(1);
                    thread::spawn(move || {
                        let _ = tx.send(rx.recv().unwrap().map(|v| v.to_string()));
                    });
                    out
                }),
        )
        .collect();
    rn.cleanup();
    for p in pending {
        assert_eq!(p.recv_timeout(Duration::from_secs(1)), Ok(Err(CallError::Failed)));
    }
    js.release_handler3();
}

#[test]
fn calls_through_an_end_that_outlived_its_network_fail() {
    let (rn, e, _js) = junk_network("e", "s");
    drop(rn);
    assert_eq!(
        e.call::<_, String>("JunkServer.Handler2", &1i64),
        Err(CallError::Failed)
    );
}

#[test]
fn a_duplicate_end_name_is_an_error() {
    let rn = Network::new();
    let first = rn.make_end("x").unwrap();
    assert_eq!(first.name(), "x");
    let second = rn.make_end("x");
    assert_eq!(second.err(), Some(NetworkError::DuplicateEnd("x".into())));
    assert_eq!(
        NetworkError::DuplicateEnd("x".into()).to_string(),
        "client end \"x\" already exists"
    );
    rn.cleanup();
}

#[test]
fn configuring_unknown_names_is_harmless() {
    let (rn, e, _js) = junk_network("e", "s");
    rn.connect("nope", "s");
    rn.enable("nope", true);
    rn.delete_server("nope");
    assert_eq!(rn.count("nope"), 0);
    assert_eq!(
        e.call::<_, String>("JunkServer.Handler2", &1i64).as_deref(),
        Ok("handler2-1")
    );
    rn.cleanup();
}
