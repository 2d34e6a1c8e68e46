//! The terminating signals interact catches while the terminal is raw, and handing them
//! back when it returns.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask, raise};

use crate::error::{Context, Result};
use crate::signals::SignalPipe;

/// The signals that end the process by default and that interact catches while the
/// terminal is in raw mode, to put it back before dying.
pub(super) const TERMINATING: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// Gives the signals back to their previous dispositions, and delivers to those the
/// terminating signals that interact caught (`caught`, plus any that arrived since the
/// loop last looked), as if interact had never caught them. Call with the terminal
/// already restored.
///
/// The terminating signals are blocked in this thread meanwhile, so that one arriving
/// between the last look at the pipe and the restoring of its disposition is not lost:
/// it stays pending and is delivered, with its previous disposition, when the mask is
/// put back. A signal whose previous disposition is the default then ends the process.
pub(super) fn hand_back_signals(mut pipe: SignalPipe, caught: &mut Vec<Signal>) -> Result<()> {
    let mut terminating = SigSet::empty();
    for signal in TERMINATING {
        terminating.add(signal);
    }
    let mut mask = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&terminating), Some(&mut mask))
        .context("blocking signals")?;
    for signal in pipe.drain().unwrap_or_default() {
        if TERMINATING.contains(&signal) && !caught.contains(&signal) {
            caught.push(signal);
        }
    }
    drop(pipe);
    for &signal in caught.iter() {
        // Pending until the mask is put back.
        let _ = raise(signal);
    }
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None).context("restoring the signal mask")
}
