//! What a spawn id talks to: a program on a pty (`spawn PROGRAM`), a Tcl channel's fds
//! (`spawn -open` / `-leaveopen`), or a pty with no program (`spawn -pty`), as one
//! transport so that they share the group, `expect`, `send` and `interact`.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use crate::deadline::{Backoff, Deadline};
use crate::engine::transport::Transport;
use crate::error::Result;
use crate::process::{Child, EXIT_CHECK_MAX_PAUSE};
use crate::transport::pty::{Pty, PtyMaster};
use crate::transport::stream::FdPair;
use crate::{ChildTransport, ExitStatus, Interactive, Session};

/// The transport of a spawn id.
#[derive(Debug)]
pub(crate) enum Spawned {
    /// A program on a pty.
    Program(Pty),
    /// The fds of a Tcl channel (`spawn -open`): no process.
    Channel(FdPair),
    /// A pty with no program (`spawn -pty`): the master, and our copy of the slave,
    /// which keeps the terminal open until `close -slave` or `close`.
    Terminal {
        master: PtyMaster,
        slave: Option<OwnedFd>,
    },
}

impl Spawned {
    /// The program's process, if the spawn id has one.
    pub(crate) fn child_mut(&mut self) -> Option<&mut Child> {
        match self {
            Spawned::Program(pty) => Some(pty.child_mut()),
            _ => None,
        }
    }

    /// The program's pid; 0 when there is none, as Expect says.
    pub(crate) fn pid(&self) -> u32 {
        match self {
            Spawned::Program(pty) => pty.child().pid(),
            _ => 0,
        }
    }

    /// The pty master, for the spawn ids that have a terminal.
    pub(crate) fn master(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Spawned::Program(pty) => Some(pty.master()),
            Spawned::Terminal { master, .. } => Some(master.read_fd()),
            Spawned::Channel(_) => None,
        }
    }

    /// Closes our copy of the slave of a `spawn -pty` terminal (`close -slave`); false
    /// when there is none.
    pub(crate) fn close_slave(&mut self) -> bool {
        match self {
            Spawned::Terminal { slave, .. } => slave.take().is_some(),
            _ => false,
        }
    }

    fn inner(&self) -> &dyn Transport {
        match self {
            Spawned::Program(pty) => pty,
            Spawned::Channel(pair) => pair,
            Spawned::Terminal { master, .. } => master,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn Transport {
        match self {
            Spawned::Program(pty) => pty,
            Spawned::Channel(pair) => pair,
            Spawned::Terminal { master, .. } => master,
        }
    }
}

impl Interactive for Spawned {
    fn terminal(&self) -> Option<BorrowedFd<'_>> {
        self.master()
    }

    fn process(&mut self) -> Option<&mut Child> {
        self.child_mut()
    }
}

impl Transport for Spawned {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.inner().read_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner().write_fd()
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner_mut().read(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner_mut().write(buf)
    }

    fn close_input(&mut self) -> io::Result<()> {
        self.inner_mut().close_input()
    }

    fn stderr_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner().stderr_fd()
    }

    fn read_stderr(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner_mut().read_stderr(buf)
    }

    fn check_send(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner_mut().check_send(data)
    }

    fn input_gone(&mut self) -> Option<String> {
        self.inner_mut().input_gone()
    }
}

/// The pidfd of the spawn id's process, if it has one.
fn pidfd(transport: &Spawned) -> Option<BorrowedFd<'_>> {
    match transport {
        Spawned::Program(pty) => pty.child().pidfd(),
        _ => None,
    }
}

/// Waits with no limit for the program of `session` to end, reading its output meanwhile
/// (as [`Session::wait`] does); `None` at once when the spawn id has no process.
pub(crate) fn wait(session: &mut Session<Spawned>) -> Result<Option<ExitStatus>> {
    let deadline = Deadline::after(None);
    let mut backoff = Backoff::up_to(EXIT_CHECK_MAX_PAUSE);
    loop {
        let Some(child) = session.transport_mut().child_mut() else {
            return Ok(None);
        };
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if pidfd(session.transport()).is_some() {
            session.read_while_waiting(pidfd, &deadline)?;
        } else {
            session.read_while_waiting(pidfd, &deadline.within(backoff.step()))?;
        }
    }
}

/// Ends the program of `session` as [`Session::terminate`] does; `None` when the spawn id
/// has no process.
pub(crate) fn terminate(
    session: &mut Session<Spawned>,
    grace: Duration,
) -> Result<Option<ExitStatus>> {
    match session.transport_mut().child_mut() {
        Some(child) => child.terminate(grace).map(Some),
        None => Ok(None),
    }
}
