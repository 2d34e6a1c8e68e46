//! Waiting for fds with a deadline: `poll(2)`, retried on EINTR, never a sleep loop.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// What a wait ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    Readable,
    Writable,
    DeadlinePassed,
}

/// Waits until `fd` is readable (data, end of file or an error to report) or the deadline.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<bool> {
    let ready = wait(&mut [PollFd::new(fd, PollFlags::POLLIN)], deadline)?;
    Ok(ready.is_some())
}

/// Waits until `write_fd` is writable or, if given, `read_fd` is readable.
pub(crate) fn wait_writable(
    write_fd: BorrowedFd<'_>,
    read_fd: Option<BorrowedFd<'_>>,
    deadline: Option<Instant>,
) -> io::Result<Readiness> {
    let mut fds = vec![PollFd::new(write_fd, PollFlags::POLLOUT)];
    if let Some(fd) = read_fd {
        fds.push(PollFd::new(fd, PollFlags::POLLIN));
    }
    Ok(match wait(&mut fds, deadline)? {
        None => Readiness::DeadlinePassed,
        Some(0) => Readiness::Writable,
        Some(_) => Readiness::Readable,
    })
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
                let ready = fds
                    .iter()
                    .position(|fd| fd.revents().is_some_and(|r| !r.is_empty()));
                if ready.is_some() {
                    return Ok(ready);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}
