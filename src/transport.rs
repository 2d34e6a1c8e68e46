//! The byte streams a session can drive.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

/// A bidirectional, non-blocking byte stream that a [`Session`](crate::Session) drives.
///
/// The session waits on [`read_fd`](Transport::read_fd) and
/// [`write_fd`](Transport::write_fd) with `poll(2)`, so both must be in non-blocking mode.
/// The default `read`/`write` use `read(2)`/`write(2)` on those fds.
pub trait Transport {
    /// The fd polled for readability.
    fn read_fd(&self) -> BorrowedFd<'_>;

    /// The fd polled for writability.
    fn write_fd(&self) -> BorrowedFd<'_>;

    /// Reads available bytes without blocking: `Ok(0)` means the stream ended,
    /// `ErrorKind::WouldBlock` that nothing is available yet.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(nix::unistd::read(self.read_fd(), buf)?)
    }

    /// Writes some bytes without blocking.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(nix::unistd::write(self.write_fd(), buf)?)
    }
}

/// Puts an fd in non-blocking mode.
pub(crate) fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
