//! Idle hooks: a callback when one direction has been silent for a while
//! ([`Interact::on_input_idle`](super::Interact::on_input_idle),
//! [`Interact::on_output_idle`](super::Interact::on_output_idle)).

use std::time::{Duration, Instant};

use super::hooks::{Flow, Reply};

pub(super) type IdleCallback<'a> = Box<dyn FnMut(&mut Reply) -> Flow + 'a>;

/// A callback that runs when no byte has passed one way for `after`.
pub(super) struct Idle<'a> {
    after: Duration,
    /// The last byte, the start of interact, or the last time the callback ran.
    since: Instant,
    callback: IdleCallback<'a>,
}

impl<'a> Idle<'a> {
    pub(super) fn new(after: Duration, callback: IdleCallback<'a>) -> Self {
        Idle {
            after,
            since: Instant::now(),
            callback,
        }
    }

    /// Bytes passed: the silence starts again.
    pub(super) fn touch(&mut self) {
        self.since = Instant::now();
    }

    /// When the callback is due (`None`: too far to represent, never).
    pub(super) fn due(&self) -> Option<Instant> {
        self.since.checked_add(self.after)
    }

    /// Runs the callback if it is due; the silence then starts again.
    pub(super) fn run_if_due(&mut self, reply: &mut Reply) -> Flow {
        if self.due().is_none_or(|due| Instant::now() < due) {
            return Flow::Continue;
        }
        let flow = (self.callback)(reply);
        self.touch();
        flow
    }
}
