//! The one deadline type, and waiting for fds until one: every wait in the crate (expect,
//! send, process waits, interact, the script runner, chat) goes through [`Deadline`].
//!
//! Public APIs take `Option<Duration>` (`None`: no limit) or an `Instant`; they turn it into
//! a `Deadline` once, at the start of the call, so a call that waits several times (read,
//! then poll again) never extends its limit. Waiting on fds is `poll(2)` with the time that
//! is left, retried on EINTR; where there is nothing to poll (a terminal mode, a process
//! group), [`Deadline::sleep`] backs off between checks instead of spinning.

use std::io;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollTimeout, poll};

/// When a call stops waiting: an instant, or never.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    started: Instant,
    at: Option<Instant>,
}

impl Deadline {
    /// `timeout` from now; `None`, or a timeout too large to represent, is no limit.
    pub(crate) fn after(timeout: Option<Duration>) -> Self {
        let started = Instant::now();
        Deadline {
            started,
            at: timeout.and_then(|t| started.checked_add(t)),
        }
    }

    /// At `at` (which may already have passed).
    pub(crate) fn at(at: Instant) -> Self {
        Deadline {
            started: Instant::now(),
            at: Some(at),
        }
    }

    /// How long the call has been waiting.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The limit the call was given, for messages: `None` for no limit.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.at.map(|at| at.saturating_duration_since(self.started))
    }

    /// The time left: `None` for no limit, zero once the deadline has passed.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// This deadline or `step` from now, whichever comes first; the limit and start the
    /// call reports stay this deadline's.
    pub(crate) fn within(&self, step: Duration) -> Self {
        let soon = Instant::now() + step;
        Deadline {
            started: self.started,
            at: Some(self.at.map_or(soon, |at| at.min(soon))),
        }
    }

    /// True once the deadline has passed.
    pub(crate) fn has_passed(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// The `poll(2)` timeout for the time left, `None` once the deadline has passed. Rounded
    /// up to whole milliseconds, so a wait never ends just short of the deadline and spins.
    fn poll_timeout(&self) -> Option<PollTimeout> {
        match self.remaining() {
            None => Some(PollTimeout::NONE),
            Some(Duration::ZERO) => None,
            Some(left) => {
                let ms = left.as_micros().div_ceil(1000);
                Some(PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX))
            }
        }
    }

    /// Sleeps for the next step of `backoff`, cut short by the deadline; false (without
    /// sleeping) once the deadline has passed. For conditions no fd reports.
    pub(crate) fn sleep(&self, backoff: &mut Backoff) -> bool {
        let pause = match self.remaining() {
            Some(Duration::ZERO) => return false,
            Some(left) => backoff.step().min(left),
            None => backoff.step(),
        };
        std::thread::sleep(pause);
        true
    }
}

/// Pauses between checks of a condition that no fd reports: from 1 ms, doubling up to a
/// maximum.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at 1 ms and doubles up to `max`.
    pub(crate) fn up_to(max: Duration) -> Self {
        Backoff {
            next: Duration::from_millis(1),
            max,
        }
    }

    /// The next pause; the one after it is twice as long, up to the maximum.
    pub(crate) fn step(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }
}

/// True when `poll` reported anything for this fd.
pub(crate) fn is_ready(fd: &PollFd<'_>) -> bool {
    fd.revents().is_some_and(|r| !r.is_empty())
}

/// Polls until one of `fds` is ready (its index) or the deadline passes (`None`).
/// Hang-ups and errors count as ready: the following read or write reports them.
pub(crate) fn wait(fds: &mut [PollFd<'_>], deadline: &Deadline) -> io::Result<Option<usize>> {
    loop {
        let Some(timeout) = deadline.poll_timeout() else {
            return Ok(None);
        };
        match poll(fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {
                let ready = fds.iter().position(is_ready);
                if ready.is_some() {
                    return Ok(ready);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_never_passes() {
        let deadline = Deadline::after(None);
        assert_eq!(deadline.remaining(), None);
        assert_eq!(deadline.timeout(), None);
        assert!(!deadline.has_passed());
        // Too large to represent is no limit, not an overflow.
        assert_eq!(Deadline::after(Some(Duration::MAX)).remaining(), None);
    }

    #[test]
    fn a_past_instant_has_passed_and_does_not_sleep() {
        let deadline = Deadline::at(Instant::now());
        assert!(deadline.has_passed());
        assert!(deadline.poll_timeout().is_none());
        assert!(!deadline.sleep(&mut Backoff::up_to(Duration::from_secs(1))));
        let mut fds: [PollFd<'_>; 0] = [];
        assert_eq!(wait(&mut fds, &deadline).unwrap(), None);
    }

    #[test]
    fn poll_timeout_rounds_up() {
        let deadline = Deadline::after(Some(Duration::from_micros(1500)));
        let ms: i32 = deadline.poll_timeout().unwrap().into();
        assert!((1..=2).contains(&ms), "{ms}");
    }
}
