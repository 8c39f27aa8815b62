//! Servers, services, handlers and the [`Responder`] a handler answers through.
//!
//! A [`Server`] is a set of [`Service`]s; a service is a set of named methods. labrpc finds
//! methods by reflection on a Go receiver; here each method is registered with a closure
//! `Fn(Args, Responder<Reply>)`. The server's dispatcher splits `"Service.Method"` at the
//! last dot, decodes the arguments into a fresh `Args` and calls the handler.
//!
//! Threading contract: a handler runs on whatever thread delivers the request (the caller's
//! own thread on a reliable network, the network's timer thread after a delay). It must not
//! block: it answers at once through its [`Responder`], or hands the responder to another
//! thread that answers later. A responder dropped unanswered fails the call
//! ([`CallError::Failed`]), so a caller never waits forever on a lost responder.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::error::CallError;
use crate::network::Inner;

/// A registered method: decodes the argument bytes and runs the user's handler.
type Method = Box<dyn Fn(&[u8], RawResponder) + Send + Sync>;

/// A named set of methods, like a Go receiver registered with `labrpc.MakeService`.
pub struct Service {
    name: String,
    methods: HashMap<String, Method>,
}

impl Service {
    /// Makes an empty service; calls reach it as `"<name>.<Method>"`.
    pub fn new(name: impl Into<String>) -> Self {
        Service {
            name: name.into(),
            methods: HashMap::new(),
        }
    }

    /// Registers `handler` as method `name` (replacing any method of that name).
    ///
    /// The handler receives the decoded arguments and a [`Responder`]. It must not block:
    /// answer now with [`Responder::respond`], or move the responder to another thread and
    /// answer from there. Arguments that do not decode as `A` fail the call with
    /// [`CallError::BadRequest`] without running the handler.
    pub fn method<A, R, F>(&mut self, name: &str, handler: F) -> &mut Self
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
        F: Fn(A, Responder<R>) + Send + Sync + 'static,
    {
        let method: Method = Box::new(move |bytes, raw| match codec::decode::<A>(bytes) {
            Ok(args) => handler(
                args,
                Responder {
                    raw,
                    reply: PhantomData,
                },
            ),
            Err(why) => raw.finish(Err(CallError::BadRequest(why))),
        });
        self.methods.insert(name.to_owned(), method);
        self
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<&str> = self.methods.keys().map(String::as_str).collect();
        methods.sort_unstable();
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("methods", &methods)
            .finish()
    }
}

/// A set of services, added to the network under a name with
/// [`Network::add_server`](crate::Network::add_server).
#[derive(Default)]
pub struct Server {
    services: HashMap<String, Service>,
}

impl Server {
    /// Makes a server with no services.
    pub fn new() -> Self {
        Server::default()
    }

    /// Adds `svc` (replacing any service of the same name).
    pub fn add_service(&mut self, svc: Service) {
        self.services.insert(svc.name.clone(), svc);
    }

    /// Finds the method for `svc_meth` and runs it; a name that does not resolve is answered
    /// with an error through `responder`, like any reply.
    pub(crate) fn dispatch(&self, svc_meth: &str, args: &[u8], responder: RawResponder) {
        let Some((service_name, method_name)) = svc_meth.rsplit_once('.') else {
            return responder.finish(Err(CallError::UnknownService(svc_meth.to_owned())));
        };
        let Some(service) = self.services.get(service_name) else {
            return responder.finish(Err(CallError::UnknownService(service_name.to_owned())));
        };
        let Some(method) = service.methods.get(method_name) else {
            return responder.finish(Err(CallError::UnknownMethod(svc_meth.to_owned())));
        };
        method(args, responder);
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut services: Vec<&Service> = self.services.values().collect();
        services.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        f.debug_struct("Server").field("services", &services).finish()
    }
}

/// The handle a handler answers its call through. `Send`, so it can be answered from another
/// thread. Dropping it unanswered fails the call with [`CallError::Failed`].
pub struct Responder<R> {
    raw: RawResponder,
    reply: PhantomData<fn(R)>,
}

impl<R: Serialize> Responder<R> {
    /// Sends `reply` back to the caller. The completion of the call (the caller's callback,
    /// or the wake-up of a blocked caller) runs on this thread unless the network delays the
    /// reply. A reply that does not encode fails the call with [`CallError::Encode`].
    pub fn respond(self, reply: R) {
        let result = codec::encode(&reply).map_err(CallError::Encode);
        self.raw.finish(result);
    }
}

impl<R> fmt::Debug for Responder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("call_id", &self.raw.call_id)
            .finish()
    }
}

/// The untyped responder: one call's id in the network's registry of calls in flight.
pub(crate) struct RawResponder {
    /// `None` once answered.
    inner: Option<Arc<Inner>>,
    call_id: u64,
}

impl RawResponder {
    pub(crate) fn new(inner: Arc<Inner>, call_id: u64) -> Self {
        RawResponder {
            inner: Some(inner),
            call_id,
        }
    }

    /// Hands the server's answer (reply bytes or a dispatch error) to the network.
    pub(crate) fn finish(mut self, result: Result<Vec<u8>, CallError>) {
        if let Some(inner) = self.inner.take() {
            inner.finish_call(self.call_id, result);
        }
    }
}

impl Drop for RawResponder {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.abandon_call(self.call_id);
        }
    }
}
