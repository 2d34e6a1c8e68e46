//! Pseudo-terminals: the geometry and echo a new pty starts with ([`PtyConfig`]), the
//! [`Pty`] transport a program talks on, and the terminal control of a [`PtySession`]
//! (window size, echo, end-of-file and interrupt characters).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::sys::termios::SpecialCharacterIndices;

use crate::deadline::{Backoff, Deadline};
use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::error::{Context, Error, Result};
use crate::sys::term;
use crate::transport::WithChild;

/// A session with a program running on a pseudo-terminal.
pub type PtySession = Session<Pty>;

/// The transport of a [`PtySession`]: the pty master and the child process on the other
/// side.
///
/// Dropping it closes the master (the child's terminal hangs up) and then ends and reaps
/// the child.
pub type Pty = WithChild<PtyMaster>;

/// The size and echo setting a new pseudo-terminal starts with: 24 x 80 with echo on by
/// default, as a terminal window a person opens. Used by [`Command`](crate::Command),
/// [`fork::pty_child`](crate::fork::pty_child) and the script runner.
///
/// ```
/// use ptychat::PtyConfig;
/// let config = PtyConfig::default();
/// assert_eq!((config.rows, config.cols, config.echo), (24, 80, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtyConfig {
    /// Rows (lines) of the window.
    pub rows: u16,
    /// Columns of the window.
    pub cols: u16,
    /// Whether the terminal echoes what is sent, as it does for a person typing.
    pub echo: bool,
}

impl Default for PtyConfig {
    fn default() -> Self {
        PtyConfig {
            rows: 24,
            cols: 80,
            echo: true,
        }
    }
}

impl PtyConfig {
    /// Opens a pty pair with this geometry and echo setting: (master, slave), both
    /// close-on-exec, the slave not our controlling terminal.
    pub(crate) fn open(&self) -> Result<(OwnedFd, OwnedFd)> {
        check_size(self.rows, self.cols)?;
        term::open_pair(self.rows, self.cols, self.echo).context("opening a pseudo-terminal")
    }
}

fn check_size(rows: u16, cols: u16) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Err(Error::InvalidArgument(format!(
            "window size {rows}x{cols} has a zero dimension"
        )));
    }
    Ok(())
}

/// The longest line, without its end, that Linux's terminal line discipline keeps in
/// canonical mode (its 4096-byte line buffer, less the newline); bytes beyond it are
/// dropped.
pub(crate) const CANONICAL_LINE_MAX: usize = 4095;

/// The master side of a pseudo-terminal, as a transport (see [`Pty`]), and the read end of
/// the program's stderr pipe when it has one
/// ([`Command::spawn_with_stderr`](crate::Command::spawn_with_stderr)).
#[derive(Debug)]
pub struct PtyMaster {
    fd: OwnedFd,
    stderr: Option<OwnedFd>,
}

impl PtyMaster {
    /// Wraps a master fd and maybe a stderr pipe, putting them in non-blocking mode.
    pub(crate) fn new(fd: OwnedFd, stderr: Option<OwnedFd>) -> Result<Self> {
        crate::sys::fd::set_nonblocking(&fd).context("making the pty master non-blocking")?;
        if let Some(stderr) = &stderr {
            crate::sys::fd::set_nonblocking(stderr)
                .context("making the stderr pipe non-blocking")?;
        }
        Ok(PtyMaster { fd, stderr })
    }
}

impl AsFd for PtyMaster {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Transport for PtyMaster {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    fn stderr_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stderr.as_ref().map(AsFd::as_fd)
    }

    /// A pty never raises SIGPIPE (a closed slave reports EIO), so this is a plain write.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(nix::unistd::write(&self.fd, buf)?)
    }

    /// In canonical mode, the kernel keeps 4095 bytes of a line and
    /// drops the rest while every write succeeds: refuse such a line instead.
    fn check_send(&mut self, data: &[u8]) -> io::Result<()> {
        if data.len() <= CANONICAL_LINE_MAX {
            return Ok(());
        }
        let Some(ends) = crate::sys::term::canonical_line_ends(&self.fd)? else {
            return Ok(());
        };
        let longest = data
            .split(|b| ends.contains(b))
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        if longest <= CANONICAL_LINE_MAX {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "nothing was sent: a line of {longest} bytes is longer than the \
                 {CANONICAL_LINE_MAX} bytes a terminal in canonical mode keeps, and the kernel \
                 would drop the rest; send shorter lines, have the program turn canonical mode \
                 off (as `stty -icanon` does), or use a pipe session"
            ),
        ))
    }

    /// The output ends when no process has the terminal open any more, so nothing can
    /// read what is written to it; the kernel still accepts (and drops) it.
    fn input_gone(&mut self) -> Option<String> {
        Some("no process has the terminal open any more".to_owned())
    }

    /// Linux reports a closed slave side as EIO, after every byte written to it has been
    /// read; that is the end of the output.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match nix::unistd::read(&self.fd, buf) {
            Ok(n) => Ok(n),
            Err(nix::errno::Errno::EIO) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

impl Pty {
    /// The master side of the terminal.
    pub fn master(&self) -> BorrowedFd<'_> {
        self.get_ref().fd.as_fd()
    }
}

impl Session<Pty> {
    /// The terminal's size as (rows, columns).
    pub fn window_size(&self) -> Result<(u16, u16)> {
        term::window_size(self.transport().master()).context("reading the window size")
    }

    /// Resizes the terminal; the program receives SIGWINCH. The session's screen, if it
    /// has one, is resized with it.
    pub fn set_window_size(&mut self, rows: u16, cols: u16) -> Result<()> {
        check_size(rows, cols)?;
        term::set_window_size(self.transport().master(), rows, cols)
            .context("setting the window size")?;
        self.resize_model(rows, cols);
        Ok(())
    }

    /// Whether the terminal currently echoes input.
    pub fn echo(&self) -> Result<bool> {
        term::echo(self.transport().master()).context("reading the terminal mode")
    }

    /// Turns the terminal's echo on or off (the program may change it again).
    pub fn set_echo(&mut self, on: bool) -> Result<()> {
        term::set_echo(self.transport().master(), on).context("setting the terminal mode")
    }

    /// Waits until the program turns echo off, as programs do before reading a password,
    /// up to `timeout` (`None`: forever). Returns false if the deadline passed first.
    ///
    /// Terminal modes change without any event to wait on, so this checks with a backoff
    /// from 1 ms to 20 ms.
    pub fn wait_for_echo_off(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = Deadline::after(timeout);
        let mut backoff = Backoff::up_to(Duration::from_millis(20));
        loop {
            if !self.echo()? {
                return Ok(true);
            }
            if !deadline.sleep(&mut backoff) {
                return Ok(false);
            }
        }
    }

    /// Sends the terminal's end-of-file character (VEOF, usually Ctrl-D). At the start of a
    /// line it makes the program's `read` return 0 (end of input); mid-line it hands over
    /// the partial line.
    pub fn send_eof(&mut self) -> Result<()> {
        self.send_special(SpecialCharacterIndices::VEOF)
    }

    /// Sends the terminal's interrupt character (VINTR, usually Ctrl-C); the terminal turns
    /// it into SIGINT for the foreground process group.
    pub fn send_intr(&mut self) -> Result<()> {
        self.send_special(SpecialCharacterIndices::VINTR)
    }

    fn send_special(&mut self, which: SpecialCharacterIndices) -> Result<()> {
        let byte = term::special_char(self.transport().master(), which)
            .context("reading the terminal's special characters")?;
        self.send([byte])
    }
}
