//! The tests of 6.824's labrpc test_test.go (2022), ported with the same names (snake_case),
//! the same calls and the same assertions. Where Go's assertion depends on gob's sizes
//! (TestBytes) the exact postcard sizes are asserted instead.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{JunkArgs, JunkReply, JunkServer, junk_network};
use raft_labrpc::{CallError, Network};

#[test]
fn test_basic() {
    let (rn, e, _js) = junk_network("end1-99", "server99");
    {
        let reply: Result<String, _> = e.call("JunkServer.Handler2", &111i64);
        assert_eq!(reply.as_deref(), Ok("handler2-111"), "wrong reply from Handler2");
    }
    {
        let reply: Result<i64, _> = e.call("JunkServer.Handler1", "9099");
        assert_eq!(reply, Ok(9099), "wrong reply from Handler1");
    }
    rn.cleanup();
}

#[test]
fn test_types() {
    let (rn, e, _js) = junk_network("end1-99", "server99");
    {
        // Go: the handler takes *JunkArgs. A Box<JunkArgs> handler decodes the same bytes.
        let args = Box::new(JunkArgs::default());
        let reply: Result<JunkReply, _> = e.call("JunkServer.Handler4", &args);
        assert_eq!(
            reply.map(|r| r.x).as_deref(),
            Ok("pointer"),
            "wrong reply from Handler4"
        );
    }
    {
        let args = JunkArgs::default();
        let reply: Result<JunkReply, _> = e.call("JunkServer.Handler5", &args);
        assert_eq!(
            reply.map(|r| r.x).as_deref(),
            Ok("no pointer"),
            "wrong reply from Handler5"
        );
    }
    rn.cleanup();
}

/// Does `enable(endname, false)` really disconnect a client?
#[test]
fn test_disconnect() {
    let rn = Network::new();
    let e = rn.make_end("end1-99").unwrap();
    let js = JunkServer::new();
    rn.add_server("server99", js.server());
    rn.connect("end1-99", "server99");
    {
        let reply: Result<String, _> = e.call("JunkServer.Handler2", &111i64);
        assert_eq!(reply, Err(CallError::Failed), "unexpected reply from Handler2");
    }
    rn.enable("end1-99", true);
    {
        let reply: Result<i64, _> = e.call("JunkServer.Handler1", "9099");
        assert_eq!(reply, Ok(9099), "wrong reply from Handler1");
    }
    rn.cleanup();
}

/// Test `count()`.
#[test]
fn test_counts() {
    let (rn, e, _js) = junk_network("end1-99", "99");
    for i in 0..17i64 {
        let reply: Result<String, _> = e.call("JunkServer.Handler2", &i);
        let wanted = format!("handler2-{i}");
        assert_eq!(reply, Ok(wanted), "wrong reply from Handler2");
    }
    assert_eq!(rn.count("99"), 17, "wrong count()");
    rn.cleanup();
}

/// Test `total_bytes()`.
///
/// Go bounds the totals to 4828..=6000 and 1800..=2500 because gob sizes vary; postcard's are
/// exact:
/// - Handler6, 17 times: the 292-byte string argument is a varint length (292 needs 2 bytes)
///   plus 292 bytes = 294; the i64 reply 292 is zigzag 584, a 2-byte varint: 296 per call,
///   5032 in all.
/// - Handler7, 17 times: the i64 argument 107 is zigzag 214, a 2-byte varint; the reply of
///   107 'y's is a 1-byte length plus 107 bytes = 108: 110 per call, 1870 in all.
#[test]
fn test_bytes() {
    let (rn, e, _js) = junk_network("end1-99", "99");
    for _ in 0..17 {
        let mut args = "x".repeat(73);
        args = args.clone() + &args;
        args = args.clone() + &args;
        let reply: Result<i64, _> = e.call("JunkServer.Handler6", &args);
        assert_eq!(reply, Ok(args.len() as i64), "wrong reply from Handler6");
    }
    let n = rn.total_bytes();
    assert_eq!(n, 17 * (294 + 2), "wrong total_bytes(), expected 5032");

    for _ in 0..17 {
        let args = 107i64;
        let reply: Result<String, _> = e.call("JunkServer.Handler7", &args);
        assert_eq!(reply.map(|r| r.len()), Ok(107), "wrong reply len from Handler7");
    }
    let nn = rn.total_bytes() - n;
    assert_eq!(nn, 17 * (2 + 108), "wrong total_bytes() increment, expected 1870");
    rn.cleanup();
}

/// Test RPCs from concurrent ClientEnds.
#[test]
fn test_concurrent_many() {
    let rn = Network::new();
    let js = JunkServer::new();
    rn.add_server("1000", js.server());
    let (nclients, nrpcs) = (20, 10);
    let total: usize = thread::scope(|s| {
        let clients: Vec<_> = (0..nclients)
            .map(|i| {
                let rn = &rn;
                s.spawn(move || {
                    let name = i.to_string();
                    let e = rn.make_end(name.as_str()).unwrap();
                    rn.connect(&name, "1000");
                    rn.enable(&name, true);
                    let mut n = 0;
                    for j in 0..nrpcs {
                        let arg = (i * 100 + j) as i64;
                        let reply: Result<String, _> = e.call("JunkServer.Handler2", &arg);
                        assert_eq!(reply, Ok(format!("handler2-{arg}")), "wrong reply from Handler2");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).sum()
    });
    assert_eq!(total, nclients * nrpcs, "wrong number of RPCs completed");
    assert_eq!(rn.count("1000"), total as u64, "wrong count()");
    rn.cleanup();
}

/// Test unreliable.
#[test]
fn test_unreliable() {
    let rn = Network::new();
    rn.set_reliable(false);
    let js = JunkServer::new();
    rn.add_server("1000", js.server());
    let nclients = 300;
    let total: usize = thread::scope(|s| {
        let clients: Vec<_> = (0..nclients)
            .map(|i| {
                let rn = &rn;
                s.spawn(move || {
                    let name = i.to_string();
                    let e = rn.make_end(name.as_str()).unwrap();
                    rn.connect(&name, "1000");
                    rn.enable(&name, true);
                    let arg = (i * 100) as i64;
                    match e.call::<_, String>("JunkServer.Handler2", &arg) {
                        Ok(reply) => {
                            assert_eq!(reply, format!("handler2-{arg}"), "wrong reply from Handler2");
                            1
                        }
                        Err(err) => {
                            assert_eq!(err, CallError::Failed);
                            0
                        }
                    }
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).sum()
    });
    assert!(
        total != nclients && total != 0,
        "all RPCs succeeded despite unreliable"
    );
    rn.cleanup();
}

/// Test concurrent RPCs from a single ClientEnd.
#[test]
fn test_concurrent_one() {
    let (rn, e, js) = junk_network("c", "1000");
    let nrpcs = 20;
    let total: usize = thread::scope(|s| {
        let calls: Vec<_> = (0..nrpcs)
            .map(|i| {
                let e = e.clone();
                s.spawn(move || {
                    let arg = 100 + i as i64;
                    let reply: Result<String, _> = e.call("JunkServer.Handler2", &arg);
                    assert_eq!(reply, Ok(format!("handler2-{arg}")), "wrong reply from Handler2");
                    1
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).sum()
    });
    assert_eq!(total, nrpcs, "wrong number of RPCs completed");
    assert_eq!(js.log2_len(), nrpcs, "wrong number of RPCs delivered");
    assert_eq!(rn.count("1000"), total as u64, "wrong count()");
    rn.cleanup();
}

/// Regression: an RPC that's delayed during Enabled=false should not delay subsequent RPCs
/// (e.g. after Enabled=true).
#[test]
fn test_regression1() {
    let rn = Network::new();
    let js = JunkServer::new();
    rn.add_server("1000", js.server());
    let e = rn.make_end("c").unwrap();
    rn.connect("c", "1000");

    // Start some RPCs while the ClientEnd is disabled. They'll be delayed.
    rn.enable("c", false);
    let nrpcs = 20;
    // Go starts each in a goroutine; call_async enters the network before it returns, so no
    // call can slip past the enable below on a busy machine (a thread may start late).
    let disabled_calls: Vec<_> = (0..nrpcs)
        .map(|i| e.call_async::<_, String>("JunkServer.Handler2", &(100 + i as i64)))
        .collect();

    thread::sleep(Duration::from_millis(100));

    // Now enable the ClientEnd and check that an RPC completes quickly.
    let t0 = Instant::now();
    rn.enable("c", true);
    {
        let arg = 99i64;
        let reply: Result<String, _> = e.call("JunkServer.Handler2", &arg);
        assert_eq!(reply, Ok(format!("handler2-{arg}")), "wrong reply from Handler2");
    }
    let dur = t0.elapsed();
    assert!(
        dur <= Duration::from_millis(30),
        "RPC took too long ({dur:?}) after Enable"
    );

    for call in disabled_calls {
        // This call ought to return false.
        assert_eq!(call.recv().unwrap(), Err(CallError::Failed));
    }
    assert_eq!(js.log2_len(), 1, "wrong number of RPCs delivered, expected 1");
    assert_eq!(rn.count("1000"), 1, "wrong count(), expected 1");
    rn.cleanup();
}

/// If an RPC is stuck in a server, and the server is killed with `delete_server()`, does the
/// RPC get un-stuck?
#[test]
fn test_killed() {
    let (rn, e, js) = junk_network("end1-99", "server99");
    let done = e.call_async::<_, i64>("JunkServer.Handler3", &99i64);

    thread::sleep(Duration::from_millis(1000));
    assert!(
        done.recv_timeout(Duration::from_millis(100)).is_err(),
        "Handler3 should not have returned yet"
    );

    rn.delete_server("server99");
    match done.recv_timeout(Duration::from_millis(100)) {
        Ok(outcome) => assert_eq!(
            outcome,
            Err(CallError::Failed),
            "Handler3 returned successfully despite delete_server()"
        ),
        Err(_) => panic!("Handler3 should return after delete_server()"),
    }
    // The handler's late answer must not reach anyone, nor disturb the network.
    js.release_handler3();
    rn.cleanup();
}

#[test]
fn test_benchmark() {
    let (rn, e, _js) = junk_network("end1-99", "server99");
    let t0 = Instant::now();
    let n: u32 = 100_000;
    for _ in 0..n {
        let reply: Result<String, _> = e.call("JunkServer.Handler2", &111i64);
        assert_eq!(reply.as_deref(), Ok("handler2-111"), "wrong reply from Handler2");
    }
    let took = t0.elapsed();
    println!(
        "{took:?} for {n}: {:.2} us per RPC",
        took.as_secs_f64() * 1e6 / f64::from(n)
    );
    // march 2016, rtm laptop, 22 microseconds per RPC
    assert_eq!(rn.count("server99"), u64::from(n));
    rn.cleanup();
}

/// Regression: a race between the write of long delays in `set_long_delays()` and its read
/// when a call starts. Go asserts nothing; here the call to the deleted server must fail,
/// and cleanup must end it at once even if its long delay has not run out.
#[test]
fn test_long_delay_race() {
    let (rn, e, _js) = junk_network("end1-99", "server99");
    let first: Result<i64, _> = e.call("JunkServer.Handler1", "9099");
    assert_eq!(first, Ok(9099));

    rn.set_long_delays(true);
    rn.delete_server("server99");
    let rn2 = rn.clone();
    let setter = thread::spawn(move || rn2.set_long_delays(true));
    let done = e.call_async::<_, i64>("JunkServer.Handler1", "9099");
    rn.set_long_delays(true);
    setter.join().unwrap();

    if let Ok(outcome) = done.recv_timeout(Duration::from_millis(200)) {
        assert_eq!(outcome, Err(CallError::Failed));
        return rn.cleanup();
    }
    rn.set_long_delays(true);
    rn.cleanup();
    let outcome = done
        .recv_timeout(Duration::from_millis(500))
        .expect("cleanup ends the call");
    assert_eq!(outcome, Err(CallError::Failed));
}
