//! The immediate network: every message arrives at once, none is lost. With every peer ticking
//! at the same instant ([`crate::world::TickPhase::Aligned`]), a tick's messages and their
//! replies are all delivered before the next tick: the bare state machine's own pace.

use raft_core::message::Message;

use super::Network;
use crate::trace::Fate;

/// A network without delay or loss; a message to a stopped node is lost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Immediate;

impl Network for Immediate {
    type Call = ();

    fn send(&mut self, _from: usize, _to: usize, to_running: bool, _message: &Message) -> (Fate, ()) {
        (
            if to_running {
                Fate::Delayed(0)
            } else {
                Fate::DeadEnd
            },
            (),
        )
    }

    fn reply(&mut self, _from: usize, _to: usize, _call: (), _message: &Message) -> Fate {
        Fate::Delayed(0)
    }

    fn arrive_request(&mut self, _from: usize, _to: usize, _call: ()) -> bool {
        true
    }

    fn arrive_reply(&mut self, _from: usize, _to: usize, _call: (), _message: &Message) -> bool {
        true
    }
}
