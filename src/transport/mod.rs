//! The byte streams a session drives, each in one file with its session alias and its
//! `impl Session<ThatTransport>` block: [`pty`] (a program on a pseudo-terminal, spawned by
//! [`command`]), [`pipes`] (open2/open3), [`stream`] (any socket or fd) and [`fork`] (a
//! closure in a forked child). This file holds what the child-owning ones share:
//! [`ChildTransport`] and the process control it gives a session.
//!
//! Imports run downward: `transport` uses `engine`, `process`, `deadline`, `error` and
//! `sys`, never `interact`, `logging` or `script`.

pub(crate) mod command;
pub mod fork;
pub(crate) mod pipes;
pub(crate) mod pty;
pub(crate) mod stream;

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::error::Result;
use crate::process::{Child, ExitStatus};

impl<T: ChildTransport> Session<T> {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.transport().child().pid()
    }

    /// True while the child has not exited.
    pub fn is_alive(&mut self) -> Result<bool> {
        Ok(self.try_wait()?.is_none())
    }

    /// The child's exit status if it has ended, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.transport_mut().child_mut().try_wait()
    }

    /// Waits for the child to end and returns how it ended. Output stays readable: call
    /// `expect(Pattern::eof())` first if you want it.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.transport_mut().child_mut().wait()
    }

    /// Waits up to `timeout` (`None`: no limit) for the child to end; `Ok(None)` if it is
    /// still running then.
    pub fn wait_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        self.transport_mut().child_mut().wait_timeout(timeout)
    }

    /// Waits until `deadline` for the child to end; `Ok(None)` if it is still running then.
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        self.transport_mut().child_mut().wait_deadline(deadline)
    }

    /// Sends `signal` to the child.
    ///
    /// ```
    /// use ptychat::{Command, ExitStatus, Signal};
    /// let mut s = Command::new("sleep").arg("30").spawn()?;
    /// s.kill(Signal::SIGTERM)?;
    /// assert_eq!(s.wait()?, ExitStatus::Signaled(Signal::SIGTERM));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn kill(&mut self, signal: Signal) -> Result<()> {
        self.transport_mut().child_mut().kill(signal)
    }

    /// Ends the child politely: SIGHUP (with SIGCONT), SIGINT, SIGTERM, each followed by up
    /// to `grace` of waiting, then SIGKILL. Returns how it ended.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.transport_mut().child_mut().terminate(grace)
    }
}

/// A transport that owns the child process at its other end. Sessions over such a
/// transport get process control: [`pid`](crate::Session::pid),
/// [`wait`](crate::Session::wait), [`kill`](crate::Session::kill) and the rest.
pub trait ChildTransport: crate::engine::transport::Transport {
    /// The child process.
    fn child(&self) -> &Child;

    /// The child process, mutably.
    fn child_mut(&mut self) -> &mut Child;
}

/// A transport composed with the child process at its other end: `T` carries the bytes,
/// the [`Child`] is waited for, signalled and reaped. [`Pty`](crate::Pty),
/// [`Pipes`](crate::Pipes) and [`Forked`](crate::fork::Forked) are this with a pty master,
/// a pair of pipes and a socket.
///
/// Dropping it closes the transport first (the child sees its terminal hang up, or end of
/// input), then ends and reaps the child.
#[derive(Debug)]
pub struct WithChild<T> {
    // Field order matters: the transport closes before the child is reaped.
    io: T,
    child: Child,
}

impl<T> WithChild<T> {
    pub(crate) fn new(io: T, child: Child) -> Self {
        WithChild { io, child }
    }

    /// The transport without its child.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: Transport> Transport for WithChild<T> {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.io.read_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        self.io.write_fd()
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf)
    }

    fn close_input(&mut self) -> io::Result<()> {
        self.io.close_input()
    }

    fn stderr_fd(&self) -> Option<BorrowedFd<'_>> {
        self.io.stderr_fd()
    }

    fn read_stderr(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_stderr(buf)
    }
}

impl<T: Transport> ChildTransport for WithChild<T> {
    fn child(&self) -> &Child {
        &self.child
    }

    fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}
