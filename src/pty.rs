//! Pseudo-terminals: opening a pair, and the [`Pty`] transport a spawned program talks on.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{OFlag, open};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;
use nix::sys::termios::{LocalFlags, SetArg, SpecialCharacterIndices, tcgetattr, tcsetattr};

use crate::process::{Child, ChildTransport};
use crate::sys;
use crate::transport::Transport;

/// The transport of a [`PtySession`](crate::PtySession): the pty master and the child
/// process on the other side.
///
/// Dropping it closes the master (the child's terminal hangs up) and then ends and reaps
/// the child.
#[derive(Debug)]
pub struct Pty {
    // Field order matters: the master closes before the child is reaped.
    master: OwnedFd,
    child: Child,
}

impl Pty {
    pub(crate) fn new(master: OwnedFd, child: Child) -> Self {
        Pty { master, child }
    }

    /// The master side of the terminal.
    pub fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }
}

impl Transport for Pty {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.master.as_fd())
    }

    /// A pty never raises SIGPIPE (a closed slave reports EIO), so this is a plain write.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(nix::unistd::write(&self.master, buf)?)
    }

    /// Linux reports a closed slave side as EIO, after every byte written to it has been
    /// read; that is the end of the output.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match nix::unistd::read(&self.master, buf) {
            Ok(n) => Ok(n),
            Err(nix::errno::Errno::EIO) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

impl ChildTransport for Pty {
    fn child(&self) -> &Child {
        &self.child
    }

    fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

/// Opens a pty pair, both ends close-on-exec and the slave not our controlling terminal,
/// with the given window size and echo setting.
pub(crate) fn open_pair(rows: u16, cols: u16, echo: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = posix_openpt(flags)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let slave_path = ptsname_r(&master)?;
    let slave = open(slave_path.as_str(), flags, Mode::empty())?;
    let master = OwnedFd::from(master);
    sys::set_window_size(&slave, rows, cols)?;
    set_echo(&slave, echo)?;
    Ok((master, slave))
}

/// Whether the terminal echoes input.
pub(crate) fn echo(fd: impl AsFd) -> io::Result<bool> {
    Ok(tcgetattr(fd)?.local_flags.contains(LocalFlags::ECHO))
}

/// Turns the terminal's echo on or off.
pub(crate) fn set_echo(fd: impl AsFd, on: bool) -> io::Result<()> {
    let mut termios = tcgetattr(fd.as_fd())?;
    termios.local_flags.set(LocalFlags::ECHO, on);
    tcsetattr(fd, SetArg::TCSANOW, &termios)?;
    Ok(())
}

/// The byte the terminal currently treats as `which` (VEOF, VINTR...).
pub(crate) fn special_char(fd: impl AsFd, which: SpecialCharacterIndices) -> io::Result<u8> {
    Ok(tcgetattr(fd)?.control_chars[which as usize])
}
