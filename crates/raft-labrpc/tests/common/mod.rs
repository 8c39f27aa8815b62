//! labrpc test_test.go's `JunkServer`, shared by the test files, and small helpers.
#![allow(dead_code)] // each test file uses a different part of it

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use raft_labrpc::{CallError, ClientEnd, Network, Responder, Server, Service};
use serde::{Deserialize, Serialize};

/// Go's `JunkArgs { X int }`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct JunkArgs {
    pub x: i64,
}

/// Go's `JunkReply { X string }`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct JunkReply {
    pub x: String,
}

/// Go's `JunkServer`: logs the arguments of Handler1 and Handler2.
pub struct JunkServer {
    pub log1: Mutex<Vec<String>>,
    pub log2: Mutex<Vec<i64>>,
    /// Handler3 holds its responder until this sender is dropped or 20 s pass.
    release3: Mutex<Option<flume::Sender<()>>>,
    released3: flume::Receiver<()>,
}

impl JunkServer {
    pub fn new() -> Arc<Self> {
        let (release3, released3) = flume::unbounded();
        Arc::new(JunkServer {
            log1: Mutex::new(Vec::new()),
            log2: Mutex::new(Vec::new()),
            release3: Mutex::new(Some(release3)),
            released3,
        })
    }

    /// Lets every Handler3 still sleeping answer now.
    pub fn release_handler3(&self) {
        self.release3.lock().unwrap().take();
    }

    pub fn log2_len(&self) -> usize {
        self.log2.lock().unwrap().len()
    }

    /// The `JunkServer` service, Handler1..Handler7 as in test_test.go.
    pub fn service(self: &Arc<Self>) -> Service {
        let mut svc = Service::new("JunkServer");
        let js = Arc::clone(self);
        svc.method("Handler1", move |args: String, r: Responder<i64>| {
            js.log1.lock().unwrap().push(args.clone());
            r.respond(args.parse().unwrap_or(0));
        });
        let js = Arc::clone(self);
        svc.method("Handler2", move |args: i64, r: Responder<String>| {
            js.log2.lock().unwrap().push(args);
            r.respond(format!("handler2-{args}"));
        });
        // Go's Handler3 sleeps 20 s inside the handler. Handlers here must not block, so it
        // keeps its responder on a thread that sleeps instead.
        let js = Arc::clone(self);
        svc.method("Handler3", move |args: i64, r: Responder<i64>| {
            let released = js.released3.clone();
            thread::spawn(move || {
                let _ = released.recv_timeout(Duration::from_secs(20));
                r.respond(-args);
            });
        });
        svc.method("Handler4", |_args: Box<JunkArgs>, r: Responder<JunkReply>| {
            r.respond(JunkReply { x: "pointer".into() });
        });
        svc.method("Handler5", |_args: JunkArgs, r: Responder<JunkReply>| {
            r.respond(JunkReply {
                x: "no pointer".into(),
            });
        });
        svc.method("Handler6", |args: String, r: Responder<i64>| {
            r.respond(args.len() as i64)
        });
        svc.method("Handler7", |args: i64, r: Responder<String>| {
            r.respond("y".repeat(usize::try_from(args).unwrap_or(0)));
        });
        svc
    }

    pub fn server(self: &Arc<Self>) -> Server {
        let mut rs = Server::new();
        rs.add_service(self.service());
        rs
    }
}

/// A network with one JunkServer `server_name` and one enabled end `end_name` to it.
pub fn junk_network(end_name: &str, server_name: &str) -> (Network, ClientEnd, Arc<JunkServer>) {
    let rn = Network::new();
    let e = rn.make_end(end_name).unwrap();
    let js = JunkServer::new();
    rn.add_server(server_name, js.server());
    rn.connect(end_name, server_name);
    rn.enable(end_name, true);
    (rn, e, js)
}

/// The outcome of one timed call.
pub struct Timed<R> {
    pub index: usize,
    pub outcome: Result<R, CallError>,
    pub elapsed: Duration,
}

/// Starts `n` calls at once with `call_with` (call `i` through `end_for(i)` with argument
/// `arg(i)`), waits for all of them, and returns each outcome with the time from its start
/// to its completion, in index order.
pub fn timed_calls<R>(
    n: usize,
    svc_meth: &str,
    end_for: impl Fn(usize) -> ClientEnd,
    arg: impl Fn(usize) -> i64,
) -> Vec<Timed<R>>
where
    R: serde::de::DeserializeOwned + Send + 'static,
{
    let (tx, rx) = flume::unbounded();
    for index in 0..n {
        let tx = tx.clone();
        let start = Instant::now();
        end_for(index).call_with(svc_meth, &arg(index), move |outcome: Result<R, CallError>| {
            let _ = tx.send(Timed {
                index,
                outcome,
                elapsed: start.elapsed(),
            });
        });
    }
    drop(tx);
    let mut done: Vec<Timed<R>> = (0..n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(30))
                .expect("every call completes within 30 s")
        })
        .collect();
    done.sort_by_key(|t| t.index);
    done
}

/// Milliseconds as a float, for statistics.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
