//! Criterion benches of the network's hot path on a reliable network.
//!
//! - `labrpc/echo`: one blocking call round trip (u64 argument, u64 reply). The handler runs
//!   on the caller's thread and answers inline, so no thread hop is involved.
//! - `labrpc/throughput`: batches of non-blocking `call_with`s, waiting for the whole batch;
//!   reported in calls per second.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use raft_labrpc::{CallError, ClientEnd, Network, Responder, Server, Service};

const BATCH_CALLS: usize = 1000;

fn echo_network() -> (Network, ClientEnd) {
    let net = Network::with_seed(1);
    let mut svc = Service::new("Echo");
    svc.method("Echo", |x: u64, r: Responder<u64>| r.respond(x));
    let mut server = Server::new();
    server.add_service(svc);
    net.add_server("server", server);
    let end = net.make_end("client").expect("a fresh name");
    net.connect("client", "server");
    net.enable("client", true);
    (net, end)
}

fn bench(c: &mut Criterion) {
    let (net, end) = echo_network();
    let mut group = c.benchmark_group("labrpc");

    group.bench_function("echo", |b| {
        let mut x = 0u64;
        b.iter(|| {
            x += 1;
            let reply: Result<u64, CallError> = end.call("Echo.Echo", &x);
            assert_eq!(reply, Ok(x));
        });
    });

    group.throughput(Throughput::Elements(BATCH_CALLS as u64));
    group.bench_function("throughput", |b| {
        b.iter(|| {
            let completed = Arc::new(AtomicUsize::new(0));
            let (done_tx, done_rx) = flume::bounded(1);
            for i in 0..BATCH_CALLS as u64 {
                let completed = Arc::clone(&completed);
                let done_tx = done_tx.clone();
                end.call_with("Echo.Echo", &i, move |reply: Result<u64, CallError>| {
                    black_box(reply.is_ok());
                    if completed.fetch_add(1, Ordering::Relaxed) + 1 == BATCH_CALLS {
                        let _ = done_tx.send(());
                    }
                });
            }
            done_rx.recv().expect("every call completes");
        });
    });

    group.finish();
    net.cleanup();
}

criterion_group!(benches, bench);
criterion_main!(benches);
