//! How interact ended: [`InteractOutcome`].

use nix::sys::signal::Signal;

use crate::engine::session::Session;
use crate::error::Result;
use crate::process::ExitStatus;

#[cfg(doc)]
use super::hooks::Flow;
use super::interactive::Interactive;

/// How [`interact`](Session::interact) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InteractOutcome {
    /// The user typed the escape byte. The program is still running; the session can be
    /// used again.
    Escaped,
    /// A hook returned [`Flow::Stop`]. The program is still running.
    Stopped,
    /// The program's output ended and the program exited like this. All of its output has
    /// been written to the user's output.
    Exited(ExitStatus),
    /// The program's output ended, and there is no process to wait for (a stream session),
    /// or it did not exit within the session's timeout.
    Eof,
    /// The user's input ended (a file or pipe at its end, a terminal that hung up). The
    /// end was passed on to the program (its end-of-file character on a terminal, else its
    /// input closed) and the output that was already there was shown; the program may
    /// still be running, and what it writes next stays in the session for `expect`. As
    /// Expect's `interact` returns at the user's end of file: how long to wait for the
    /// program after that is the caller's choice.
    InputEnded,
    /// A terminating signal (SIGTERM, SIGINT or SIGHUP) arrived while the terminal was in
    /// raw mode. The terminal and the signal's previous disposition were restored and the
    /// signal raised again; this is returned only if that did not end the process (its
    /// previous disposition was a handler that returned, or it is blocked).
    Interrupted(Signal),
}

/// The output has ended: wait for the process, if there is one.
pub(super) fn finish<T: Interactive>(session: &mut Session<T>) -> Result<InteractOutcome> {
    let timeout = session.timeout();
    let Some(child) = session.transport_mut().process() else {
        return Ok(InteractOutcome::Eof);
    };
    let status = child.wait_timeout(timeout)?;
    Ok(status.map_or(InteractOutcome::Eof, InteractOutcome::Exited))
}
