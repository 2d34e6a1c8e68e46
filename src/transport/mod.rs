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
pub(crate) mod program;
pub(crate) mod pty;
pub(crate) mod stream;

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::deadline::{Backoff, Deadline};
use crate::engine::session::{ERROR_TAIL, Session};
use crate::engine::transport::Transport;
use crate::error::{Error, Result};
use crate::escape::escape_tail;
use crate::process::{Child, EXIT_CHECK_MAX_PAUSE, ExitStatus};

impl<T: ChildTransport> Session<T> {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.transport().child().pid()
    }

    /// True while the child has not exited. Once the output has ended, the answer is
    /// final: the first such question waits (up to a second) for the exit that follows
    /// the end of the output, as pexpect's `isalive()` does.
    ///
    /// ```
    /// use ptychat::{Command, Pattern};
    /// let mut s = Command::new("true").spawn()?;
    /// s.expect(Pattern::eof())?;
    /// assert!(!s.is_alive()?);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn is_alive(&mut self) -> Result<bool> {
        Ok(self.try_wait()?.is_none())
    }

    /// The child's exit status if it has ended, without waiting; once the output has
    /// ended, the first call waits up to a second for the exit (see
    /// [`is_alive`](Session::is_alive)).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let output_ended = self.is_eof();
        let child = self.transport_mut().child_mut();
        if output_ended {
            child.try_wait_after_output_end()
        } else {
            child.try_wait()
        }
    }

    /// Waits, with no limit, for the child to end and returns how it ended; see
    /// [`wait_timeout`](Session::wait_timeout) for a bounded wait. Output that arrives
    /// meanwhile is read into the buffer (so a program blocked writing to its terminal can
    /// finish) and stays there for `expect`; the end of the output is not required, so a
    /// background job still holding the terminal does not delay the answer (Expect's
    /// `wait`).
    pub fn wait(&mut self) -> Result<ExitStatus> {
        let status = self.wait_reading(&Deadline::after(None))?;
        Ok(status.expect("a wait without a deadline ends with the exit status"))
    }

    /// Waits up to `timeout` (`None`: no limit) for the child to end, reading its output
    /// meanwhile as [`wait`](Session::wait) does; `Ok(None)` if it is still running then.
    pub fn wait_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        self.wait_reading(&Deadline::after(timeout))
    }

    /// Waits until `deadline` for the child to end, reading its output meanwhile as
    /// [`wait`](Session::wait) does; `Ok(None)` if it is still running then.
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        self.wait_reading(&Deadline::at(deadline))
    }

    /// Waits for the program to end (up to the session's [timeout](Session::timeout),
    /// reading its output meanwhile, as [`wait`](Session::wait) does) and checks how it
    /// ended: [`Error::Exit`](crate::Error::Exit), which shows the actual status (or that
    /// it was still running) and the tail of the output, unless it ended as `expected`
    /// (an exit code, a [`Signal`], or an [`ExitStatus`]).
    ///
    /// ```
    /// use ptychat::{Command, Signal};
    /// let mut s = Command::new("sh").args(["-c", "echo oops; exit 3"]).spawn()?;
    /// let err = s.expect_exit(0).unwrap_err();
    /// assert!(err.to_string().starts_with(
    ///     "expected the program to end with exit code 0, but it ended with exit code 3 after"));
    /// assert!(err.to_string().ends_with(r#"ending with: "oops\r\n""#), "{err}");
    ///
    /// let mut s = Command::new("sleep").arg("30").spawn()?;
    /// s.kill(Signal::SIGTERM)?;
    /// s.expect_exit(Signal::SIGTERM)?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn expect_exit(&mut self, expected: impl Into<ExitStatus>) -> Result<ExitStatus> {
        let expected = expected.into();
        let deadline = Deadline::after(self.timeout());
        let status = self.wait_reading(&deadline)?;
        if status == Some(expected) {
            return Ok(expected);
        }
        // The last of its output, if it has ended: the tail should show it.
        self.read_available()?;
        let actual = match status {
            Some(status) => format!("ended with {status}"),
            None => format!(
                "was still running at the deadline ({:?})",
                deadline.timeout().unwrap_or_default()
            ),
        };
        Err(Error::Exit {
            expected: expected.to_string(),
            actual,
            waited: deadline.elapsed(),
            buffered: self.buffer().len(),
            tail: escape_tail(self.buffer(), ERROR_TAIL),
            screen: self.described_model().into(),
        })
    }

    /// The one process wait of a session: on the child's pidfd (or, without one, checking
    /// with a 1-50 ms backoff), reading output while it waits.
    fn wait_reading(&mut self, deadline: &Deadline) -> Result<Option<ExitStatus>> {
        let mut backoff = Backoff::up_to(EXIT_CHECK_MAX_PAUSE);
        loop {
            if let Some(status) = self.transport_mut().child_mut().try_wait()? {
                return Ok(Some(status));
            }
            if deadline.has_passed() {
                return Ok(None);
            }
            if self.transport().child().pidfd().is_some() {
                self.read_while_waiting(pidfd_of, deadline)?;
            } else {
                self.read_while_waiting(pidfd_of, &deadline.within(backoff.step()))?;
            }
        }
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

/// The event a process wait polls for: the child's exit.
fn pidfd_of<T: ChildTransport>(transport: &T) -> Option<BorrowedFd<'_>> {
    transport.child().pidfd()
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

/// A boxed child-owning transport owns the child too: sessions of different transports
/// with children share one type, `Session<Box<dyn ChildTransport + Send>>`, with process
/// control (see [`Session::boxed_child`]).
impl<T: ChildTransport + ?Sized> ChildTransport for Box<T> {
    fn child(&self) -> &Child {
        (**self).child()
    }

    fn child_mut(&mut self) -> &mut Child {
        (**self).child_mut()
    }
}

impl<T: ChildTransport + Send + 'static> Session<T> {
    /// The same session over its transport boxed as `dyn ChildTransport`: sessions with
    /// children over different transports then have one type, keep process control
    /// (`pid`, `wait`, `kill`...) and can share a [`Group`](crate::Group).
    ///
    /// ```
    /// use ptychat::{ChildTransport, Command, Group, Session, StderrMode};
    /// let mut group: Group<Box<dyn ChildTransport + Send>> = Group::new();
    /// let pty = group.add(Command::new("true").spawn()?.boxed_child());
    /// let pipes = group.add(Command::new("false").spawn_piped(StderrMode::Null)?.boxed_child());
    /// assert!(group[pty].wait()?.success());
    /// assert_eq!(group[pipes].wait()?.code(), Some(1));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn boxed_child(self) -> Session<Box<dyn ChildTransport + Send>> {
        self.map_transport(|t| Box::new(t) as Box<dyn ChildTransport + Send>)
    }
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

    fn check_send(&mut self, data: &[u8]) -> io::Result<()> {
        self.io.check_send(data)
    }

    /// The transport's answer, naming how the program ended if it has.
    fn input_gone(&mut self) -> Option<String> {
        let why = self.io.input_gone()?;
        Some(match self.child.try_wait_after_output_end() {
            Ok(Some(status)) => format!("the program has exited ({status})"),
            _ => why,
        })
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
