//! Pipe sessions (Perl's `open2`/`open3`): a child's stdin, stdout and maybe stderr as
//! plain pipes.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::process::{Child, ChildTransport};
use crate::session::Session;
use crate::transport::{Transport, set_nonblocking};

/// A session with a program whose stdio are pipes; see
/// [`Command::spawn_piped`](crate::Command::spawn_piped).
pub type PipeSession = Session<Pipes>;

/// Where a piped child's stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StderrMode {
    /// To our own stderr (`open2`).
    Inherit,
    /// Into the same pipe as stdout, interleaved as the program writes them.
    Merge,
    /// To `/dev/null`.
    Null,
    /// A separate pipe (`open3`), read through [`Session::stderr`].
    Separate,
}

/// The transport of a [`PipeSession`]: our ends of the child's stdin, stdout and (for
/// [`StderrMode::Separate`]) stderr pipes, and the child.
///
/// Dropping it closes the pipes (the child sees end of input), then ends and reaps the
/// child.
#[derive(Debug)]
pub struct Pipes {
    // Field order matters: the pipes close before the child is reaped.
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: Option<OwnedFd>,
    child: Child,
}

impl Pipes {
    pub(crate) fn new(
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: Option<OwnedFd>,
        child: Child,
    ) -> io::Result<Self> {
        for fd in [Some(&stdin), Some(&stdout), stderr.as_ref()]
            .into_iter()
            .flatten()
        {
            set_nonblocking(fd)?;
        }
        Ok(Pipes {
            stdin: Some(stdin),
            stdout,
            stderr,
            child,
        })
    }
}

impl Transport for Pipes {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.stdout.as_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stdin.as_ref().map(AsFd::as_fd)
    }

    fn stderr_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stderr.as_ref().map(AsFd::as_fd)
    }

    /// Closes the child's stdin: it reads end of file.
    fn close_input(&mut self) -> io::Result<()> {
        self.stdin = None;
        Ok(())
    }
}

impl ChildTransport for Pipes {
    fn child(&self) -> &Child {
        &self.child
    }

    fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}
