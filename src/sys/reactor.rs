//! Registering an fd with the tokio runtime's reactor (feature `tokio`).
//!
//! tokio's `AsyncFd::register` is `unsafe`: the fd must stay open, on the same file
//! description, for as long as it is registered. A [`Registered`] makes that hold by
//! itself: it registers a close-on-exec duplicate that it owns and never hands out, so
//! the registration is removed (and the duplicate closed) only when it is dropped,
//! whatever happens to the original fd. While it lives, the duplicate keeps the file
//! description open: drop it before expecting the other end to see the original close.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;

/// An fd's file description registered with the current tokio reactor for readability
/// and writability, through a duplicate it owns.
#[derive(Debug)]
pub(crate) struct Registered {
    /// The number of the fd that was registered (not of the duplicate).
    original: RawFd,
    io: AsyncFd<OwnedFd>,
}

impl Registered {
    /// Registers `fd` (a duplicate of it). Must run inside a tokio runtime with IO
    /// enabled; fails for fds epoll cannot watch, such as regular files.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> io::Result<Self> {
        let duplicate = fd.try_clone_to_owned()?;
        // SAFETY: the `AsyncFd` owns `duplicate`, which nothing else can reach (this type
        // never hands it out, nor a `&mut` to it), so it stays open on the same file
        // description until the `AsyncFd` is dropped, and `as_raw_fd` always returns it.
        let io = unsafe { AsyncFd::register(duplicate) }.map_err(io::Error::from)?;
        Ok(Registered {
            original: fd.as_raw_fd(),
            io,
        })
    }

    /// The number of the fd that was registered.
    pub(crate) fn fd(&self) -> RawFd {
        self.original
    }

    /// Ready once the reactor has seen the fd readable (or hung up) since the last ready
    /// answer; that readiness is then cleared, so the caller must read until the fd would
    /// block before asking again.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io
            .poll_read_ready(cx)
            .map_ok(|mut guard| guard.clear_ready())
    }

    /// [`poll_read_ready`](Registered::poll_read_ready) for writability.
    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io
            .poll_write_ready(cx)
            .map_ok(|mut guard| guard.clear_ready())
    }
}
