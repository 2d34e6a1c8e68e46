//! Waiting for fds with a deadline: `poll(2)`, retried on EINTR, never a sleep loop.

use std::io;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollTimeout, poll};

/// True when `poll` reported anything for this fd.
pub(crate) fn is_ready(fd: &PollFd<'_>) -> bool {
    fd.revents().is_some_and(|r| !r.is_empty())
}

/// Polls until one of `fds` is ready (its index) or the deadline passes (`None`).
/// Hang-ups and errors count as ready: the following read or write reports them.
pub(crate) fn wait(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> io::Result<Option<usize>> {
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(None);
                }
                // Round up so a wait never ends just short of the deadline and spins.
                let ms = (deadline - now).as_micros().div_ceil(1000);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
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
