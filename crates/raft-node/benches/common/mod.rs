//! What the benchmark binaries share: reading criterion's command line for the extra,
//! non-criterion passes they print (distributions, latency percentiles), and the plumbing of
//! bare raft-core state machines that talk through one in-memory queue.

use std::collections::VecDeque;
use std::convert::Infallible;

use raft_core::message::{Message, Reply, Request, RequestId};
use raft_core::{Effects, Entry, HardState, LogIndex, PeerId, Raft, Ready, Snapshot};

/// A message in flight between bare state machines: sender, receiver, message.
pub type Envelope = (PeerId, PeerId, Message);

/// Steps `message` from `from` into `raft`: a request under the sender's number as its id (the
/// reply goes back to it), or a reply.
pub fn deliver(raft: &mut Raft, from: PeerId, message: Message) {
    match message {
        Message::Request(request) => raft.step_request(from, RequestId(u64::from(from.0)), request),
        Message::Reply(reply) => raft.step_reply(from, reply),
    }
}

/// Carries out peer `from`'s Ready with nothing persisted or applied: its requests join
/// `queue`, its replies go back to the peers their ids name. Returns how many entries it
/// committed.
pub fn carry_out(ready: Ready, from: PeerId, queue: &mut VecDeque<Envelope>) -> usize {
    let mut outbox = Outbox {
        from,
        queue,
        committed: 0,
    };
    let done: Result<(), Infallible> = ready.carry_out(&mut outbox);
    done.map_or_else(|never| match never {}, |()| outbox.committed)
}

/// One peer's side of [`carry_out`].
struct Outbox<'a> {
    from: PeerId,
    queue: &'a mut VecDeque<Envelope>,
    committed: usize,
}

impl Effects for Outbox<'_> {
    type Error = Infallible;

    fn save_hard_state(&mut self, _: &HardState) -> Result<(), Infallible> {
        Ok(())
    }

    fn truncate_suffix(&mut self, _: LogIndex) -> Result<(), Infallible> {
        Ok(())
    }

    fn install_snapshot(&mut self, _: &Snapshot) -> Result<(), Infallible> {
        Ok(())
    }

    fn append(&mut self, _: &[Entry]) -> Result<(), Infallible> {
        Ok(())
    }

    fn send(&mut self, to: PeerId, request: Request) -> Result<(), Infallible> {
        self.queue.push_back((self.from, to, Message::Request(request)));
        Ok(())
    }

    fn reply(&mut self, id: RequestId, reply: Reply) -> Result<(), Infallible> {
        let to = PeerId(u32::try_from(id.0).unwrap_or(u32::MAX));
        self.queue.push_back((self.from, to, Message::Reply(reply)));
        Ok(())
    }

    fn apply_snapshot(&mut self, _: Snapshot) -> Result<(), Infallible> {
        Ok(())
    }

    fn apply(&mut self, _: Entry) -> Result<(), Infallible> {
        self.committed += 1;
        Ok(())
    }
}

/// Criterion's flags that take a value (so that value is not mistaken for a filter).
const VALUE_FLAGS: [&str; 19] = [
    "--color",
    "-c",
    "--save-baseline",
    "-s",
    "--baseline",
    "-b",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

/// How an extra pass named `id` should run, from the binary's arguments: `None` if the filters
/// exclude it (or criterion only lists), `Some(true)` when benchmarking (`cargo bench`),
/// `Some(false)` for a quick smoke run (`cargo test --benches`).
pub fn extra_pass(args: &[String], id: &str) -> Option<bool> {
    let mut filters = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg.starts_with('-') {
            skip_value = VALUE_FLAGS.contains(&arg.as_str());
        } else {
            filters.push(arg.as_str());
        }
    }
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") || !(filters.is_empty() || filters.iter().any(|f| id.contains(f))) {
        return None;
    }
    Some(has("--bench") && !has("--test"))
}
