//! # raft-labrpc: MIT 6.824's simulated lossy network, in Rust
//!
//! The Raft lab tests run every peer in one process and connect them through labrpc, a
//! network that can lose, delay and reorder messages and cut peers off. This crate is a
//! faithful port of labrpc.go (2021-2023, identical in those years) so that the ported tests
//! see the same faults with the same probabilities and delays. It knows nothing of Raft.
//!
//! The pieces mirror labrpc: a [`Network`] holds named [`ClientEnd`]s and named [`Server`]s;
//! a server holds [`Service`]s whose methods are called as `"Service.Method"`; the tester
//! [`connect`](Network::connect)s each end to a server and partitions peers by
//! [`enable`](Network::enable)-ing ends. Arguments and replies cross the network as postcard
//! bytes, so caller and server never share a value.
//!
//! ## Semantics
//!
//! Reliability and long reordering are sampled when a call starts; the fault decisions are
//! the pure functions of [`fault`].
//!
//! | situation | what happens |
//! |---|---|
//! | reliable (the default) | the handler runs at once; its reply is delivered at once |
//! | `set_reliable(false)` | each request waits 0..=26 ms; then 10% of requests are dropped (handler not run), and 10% of replies are dropped after the handler ran (its effects stand) |
//! | `set_long_reordering(true)` | 600/900 of delivered replies wait 200 + (0..=(0..=1999)) ms: 200..=2199 ms, mean about 700 |
//! | end disabled or unconnected, server missing | the handler never runs; the call fails after 0..=6999 ms with `set_long_delays(true)`, else after 0..=99 ms |
//! | end disabled, or server deleted or replaced, while the handler holds the call | the call fails at once (labrpc notices within 100 ms) |
//! | [`Network::cleanup`] | every pending call fails; later calls fail at once |
//!
//! Counters: [`total_count`](Network::total_count) and the request half of
//! [`total_bytes`](Network::total_bytes) count every call that enters the network, delivered
//! or not; [`count`](Network::count) counts the calls that reached a handler of one server;
//! reply bytes are counted when a reply is delivered (after any reordering delay).
//!
//! ## Threading contract
//!
//! There is no thread per call. One timer thread per network runs every delayed step; the
//! rest runs on the thread that is already there. On a reliable network a blocking
//! [`call`](ClientEnd::call) runs the handler on the caller's own thread and, if the
//! handler answers at once, completes without any thread hop.
//!
//! - **Handlers must not block.** A handler runs on the caller's thread or on the timer
//!   thread. It answers through its [`Responder`] right away, or moves the responder to
//!   another thread (its own event loop, say) and answers from there.
//! - The completion of a call (the `on_done` of [`call_with`](ClientEnd::call_with), the
//!   send into [`call_async`](ClientEnd::call_async)'s channel, the wake-up of a blocked
//!   [`call`](ClientEnd::call)) runs on the thread that answered, or on the timer thread
//!   after a delay. `on_done` must not block either.
//! - No lock of the network is held while a handler or a completion runs, so both may call
//!   into the network again.
//! - A [`Responder`] dropped unanswered fails its call with [`CallError::Failed`]: a call
//!   always ends, exactly once.
//!
//! ## Example
//!
//! ```
//! use raft_labrpc::{CallError, Network, Server, Service};
//!
//! let net = Network::new();
//! let mut service = Service::new("Echo");
//! service.method("Echo", |text: String, responder| responder.respond(text));
//! let mut server = Server::new();
//! server.add_service(service);
//! net.add_server("server1", server);
//!
//! let end = net.make_end("client-to-server1").unwrap();
//! net.connect("client-to-server1", "server1");
//! net.enable("client-to-server1", true);
//!
//! let reply: Result<String, CallError> = end.call("Echo.Echo", "hello");
//! assert_eq!(reply, Ok("hello".to_string()));
//! assert_eq!(net.count("server1"), 1);
//! net.cleanup();
//! ```
//!
//! ## Errors
//!
//! Everything that comes from the caller's bytes is a [`CallError`], never a panic: a type
//! that does not round-trip, an unknown service or method. labrpc aborts the test process
//! on those; this port reports them to the caller.
#![forbid(unsafe_code)]

mod client;
mod codec;
mod error;
pub mod fault;
mod network;
mod server;
mod timer;

pub use client::ClientEnd;
pub use error::{CallError, NetworkError};
pub use network::{Network, TIMER_THREAD_NAME};
pub use server::{Responder, Server, Service};
