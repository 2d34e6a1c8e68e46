//! A session's fds registered with the tokio reactor, and the one wait on them.
//!
//! The fds belong to the session's transport (and its child, and its signal pipe); each
//! registration ([`Registered`], in `sys`) holds a duplicate of one. Registrations are a
//! cache: they are made on first use inside a runtime and dropped — which removes them
//! from the reactor and closes the duplicates — whenever something could close or
//! replace one of those fds (the session handed out mutably, input closed, the async
//! session dropped or unwrapped): a duplicate must not keep a pipe open after the
//! session closed its end, and a replaced fd must be registered anew.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Sleep;

use crate::deadline::Deadline;
use crate::sys::reactor::Registered;

/// Which readiness a wait wants of an fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Read,
    Write,
}

/// The registered fds of one session, each once (a pty's master is both its output and
/// its input), each for reading and writing.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    fds: Vec<Registered>,
}

impl Registrations {
    /// Removes every registration from the reactor (the fds stay open).
    pub(crate) fn clear(&mut self) {
        self.fds.clear();
    }

    /// Registers `fd` unless it is already. Must run inside a tokio runtime with IO
    /// enabled.
    pub(crate) fn add(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let raw = fd.as_raw_fd();
        if !self.fds.iter().any(|r| r.fd() == raw) {
            self.fds.push(Registered::new(fd)?);
        }
        Ok(())
    }

    /// Polls the fds `raws` for reading, each pending one to wake `cx` when it becomes
    /// ready: ready if any is (its readiness cleared: the caller must read it until it
    /// would block) or is not registered (the caller registers it, and reads). Every fd is
    /// polled, ready or not, so that each pending one holds the waker.
    pub(crate) fn poll_read_any(
        &self,
        raws: impl IntoIterator<Item = RawFd>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut any = false;
        for raw in raws {
            let Some(io) = self.fds.iter().find(|r| r.fd() == raw) else {
                any = true;
                continue;
            };
            match io.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => any = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if any {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn get(&self, raw: RawFd) -> &Registered {
        self.fds
            .iter()
            .find(|r| r.fd() == raw)
            .expect("fds are registered before a wait")
    }

    /// Polls `wants` (registered fds) and `sleep`: ready when any is, with the readiness
    /// of every ready fd cleared — so the caller must then read (or write) each of them
    /// until it would block before waiting again. Whether the first of `wants` was ready.
    fn poll_wants(
        &self,
        wants: &[(RawFd, Want)],
        sleep: Option<Pin<&mut Sleep>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<bool>> {
        let mut any = false;
        let mut first = false;
        for (k, &(raw, want)) in wants.iter().enumerate() {
            let io = self.get(raw);
            let polled = match want {
                Want::Read => io.poll_read_ready(cx),
                Want::Write => io.poll_write_ready(cx),
            };
            match polled {
                Poll::Ready(Ok(())) => {
                    any = true;
                    first |= k == 0;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if !any {
            if let Some(sleep) = sleep {
                any = sleep.poll(cx).is_ready();
            }
        }
        if any {
            Poll::Ready(Ok(first))
        } else {
            Poll::Pending
        }
    }

    /// Waits until one of `wants` is ready or `sleep` fires; true if the first of `wants`
    /// was ready. Cancelling it loses nothing: it reads nothing, and a readiness it cleared
    /// is found again by the read every wait of this module does first.
    pub(crate) async fn wait(
        &self,
        wants: &[(RawFd, Want)],
        mut sleep: Pin<&mut Option<Sleep>>,
    ) -> io::Result<bool> {
        std::future::poll_fn(|cx| self.poll_wants(wants, sleep.as_mut().as_pin_mut(), cx)).await
    }
}

/// The timer of a deadline: `None` for no limit. Needs a runtime with time enabled when
/// there is a limit.
pub(crate) fn timer(deadline: &Deadline) -> Option<Sleep> {
    deadline.remaining().map(tokio::time::sleep)
}

/// Polls `wants` of many sessions, each with its registrations, and `sleep`: which of
/// `wants` were ready (their readiness cleared), or empty when only the sleep fired.
pub(crate) fn poll_many(
    wants: &[(&Registrations, RawFd)],
    sleep: Option<Pin<&mut Sleep>>,
    ready: &mut Vec<usize>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    ready.clear();
    for (k, &(regs, raw)) in wants.iter().enumerate() {
        match regs.get(raw).poll_read_ready(cx) {
            Poll::Ready(Ok(())) => {
                ready.push(k);
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
    }
    if !ready.is_empty() || sleep.is_some_and(|s| s.poll(cx).is_ready()) {
        Poll::Ready(Ok(()))
    } else {
        Poll::Pending
    }
}
