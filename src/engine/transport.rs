//! The byte streams a session can drive.

use std::io;
use std::os::fd::BorrowedFd;

use crate::sys;

/// A bidirectional, non-blocking byte stream that a [`Session`](crate::Session) drives.
///
/// The session waits on the fds with `poll(2)`, so they must be in non-blocking mode. The
/// default `read`/`write` use `read(2)`/`write(2)` on those fds; a write to a peer that has
/// gone away is an `EPIPE` error, never a SIGPIPE that kills the process.
pub trait Transport {
    /// The fd of the main output, polled for readability.
    fn read_fd(&self) -> BorrowedFd<'_>;

    /// The fd that input is written to, polled for writability; `None` once input has
    /// been closed.
    fn write_fd(&self) -> Option<BorrowedFd<'_>>;

    /// Reads available bytes of the main output without blocking: `Ok(0)` means the output
    /// ended, `ErrorKind::WouldBlock` that nothing is available yet.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(nix::unistd::read(self.read_fd(), buf)?)
    }

    /// Writes some bytes without blocking.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.write_fd() {
            Some(fd) => sys::fd::write_without_sigpipe(fd, buf),
            None => Err(input_closed()),
        }
    }

    /// Signals end of input to the peer: closes a child's stdin pipe, shuts down the
    /// writing half of a socket. Later writes fail. Transports that cannot do this return
    /// `ErrorKind::Unsupported` (a pty has no such thing: send its EOF character instead).
    fn close_input(&mut self) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this transport cannot close its input; on a pty, use send_eof",
        ))
    }

    /// A second output kept apart from the main one, such as a child's stderr in an open3
    /// session. It is drained whenever the session waits, so the peer never blocks on it.
    fn stderr_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Reads available bytes of the second output without blocking.
    fn read_stderr(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stderr_fd() {
            Some(fd) => Ok(nix::unistd::read(fd, buf)?),
            None => Ok(0),
        }
    }
    /// Asked before each send with everything the send will write: an error if the other
    /// end would lose part of it although every write succeeds. A pty in canonical mode
    /// refuses a line longer than the kernel keeps.
    fn check_send(&mut self, data: &[u8]) -> io::Result<()> {
        let _ = data;
        Ok(())
    }

    /// Asked before each send once the main output has ended: why input can no longer
    /// reach the other end although a write would still succeed, or `None` if it can or
    /// the write itself will say (a pipe or socket without a reader fails with EPIPE). A
    /// pty whose last user has gone takes writes into the void; with a child, the answer
    /// is "the program has exited (exit code N)".
    fn input_gone(&mut self) -> Option<String> {
        None
    }
}

/// The error for writing after input was closed.
pub(crate) fn input_closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "input to the program was closed")
}

/// A boxed transport is a transport: sessions of different transports can share one type,
/// `Session<Box<dyn Transport + Send>>` (see [`Session::boxed`](crate::Session::boxed)),
/// to live in one [`Group`](crate::Group).
impl<T: Transport + ?Sized> Transport for Box<T> {
    fn read_fd(&self) -> BorrowedFd<'_> {
        (**self).read_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        (**self).write_fd()
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (**self).write(buf)
    }

    fn close_input(&mut self) -> io::Result<()> {
        (**self).close_input()
    }

    fn stderr_fd(&self) -> Option<BorrowedFd<'_>> {
        (**self).stderr_fd()
    }

    fn read_stderr(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_stderr(buf)
    }

    fn check_send(&mut self, data: &[u8]) -> io::Result<()> {
        (**self).check_send(data)
    }

    fn input_gone(&mut self) -> Option<String> {
        (**self).input_gone()
    }
}
