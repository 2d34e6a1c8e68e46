//! Pseudo-terminals: the geometry and echo a new pty starts with ([`PtyConfig`]), the
//! [`Pty`] transport a program talks on, and the terminal control of a [`PtySession`]
//! (window size, echo, end-of-file and interrupt characters).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::termios::SpecialCharacterIndices;

use crate::deadline::{Backoff, Deadline};
use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::error::{Context, Error, Result};
use crate::sys::reading::{self, Reading};
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

    /// Waits until the program is blocked reading its terminal, up to `timeout` (`None`:
    /// forever): then what is sent next reaches a program that is waiting for it. For
    /// programs that throw away type-ahead (they flush their input, as password prompts
    /// and some installers do, or read it in a mode set up only at the prompt), and to
    /// know that a program has finished its work and wants input without matching its
    /// prompt. Neither Tcl Expect nor pexpect has it.
    ///
    /// "Reading" means: a thread of a process in the terminal's foreground process group
    /// is blocked in `read` on the terminal, or in `poll`, `select` or `epoll_wait` with
    /// the terminal among the fds it waits to read (as readline and editline do). It is
    /// found in Linux's `/proc` (`/proc/PID/task/TID/syscall`, the process's fds, and the
    /// arguments of the call in its memory), which is readable for the programs we start,
    /// not for a setuid program (such as `passwd` or `sudo`) or where tracing is
    /// restricted: then the call fails with an [`Unsupported`](std::io::ErrorKind::Unsupported)
    /// I/O error that says so.
    ///
    /// Input already sent that the program has not taken yet (a whole line in canonical
    /// mode, any byte otherwise) means it is not waiting: a reader seen blocked is about
    /// to wake up with it. So `send_line(command)` then `wait_until_reading` waits for the
    /// next read after the command, not for the read that takes it.
    ///
    /// No kernel event reports that a program started reading, so this is the one place
    /// where the crate polls without an fd to wait on: it looks again with a backoff from
    /// 1 ms to 5 ms (the whole of `/proc`, for processes that joined the foreground group,
    /// with a backoff up to 100 ms), and keeps reading the program's output into the buffer
    /// meanwhile (a program that writes a long prompt first does not block).
    ///
    /// Fails with [`Error::Timeout`] at the deadline, saying what the foreground processes
    /// were doing, and with [`Error::Eof`] if the terminal's output ends first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::Command;
    /// // This program throws away whatever was typed before it reads.
    /// let mut s = Command::new("python3")
    ///     .args(["-c", "import termios, time; time.sleep(0.2); \
    ///                   termios.tcflush(0, termios.TCIFLUSH); print('got', input())"])
    ///     .spawn()?;
    /// s.wait_until_reading(Some(Duration::from_secs(30)))?;
    /// s.send_line("it")?;
    /// s.expect("got it")?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn wait_until_reading(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.until_reading(Deadline::after(timeout))
    }

    /// Like [`wait_until_reading`](Session::wait_until_reading), with the deadline as an
    /// instant.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut s = ptychat::Command::new("cat").spawn()?;
    /// s.wait_until_reading_deadline(Instant::now() + Duration::from_secs(30))?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn wait_until_reading_deadline(&mut self, deadline: Instant) -> Result<()> {
        self.until_reading(Deadline::at(deadline))
    }

    /// Waits (up to the session's deadline) until the program reads its terminal, then
    /// sends `data`: [`wait_until_reading`](Session::wait_until_reading) and
    /// [`send`](Session::send) in one call.
    ///
    /// ```
    /// let mut s = ptychat::Command::new("python3")
    ///     .args(["-c", "print(input().upper())"])
    ///     .echo(false)
    ///     .spawn()?;
    /// s.send_when_reading("quiet\r")?;
    /// s.expect("QUIET")?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn send_when_reading(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.wait_until_reading(self.timeout())?;
        self.send(data)
    }

    fn until_reading(&mut self, deadline: Deadline) -> Result<()> {
        const CONTEXT: &str = "checking whether the program reads its terminal";
        let slave = reading::slave_of(self.transport().master()).context(CONTEXT)?;
        let mut backoff = Backoff::up_to(Duration::from_millis(5));
        let what = "the program to read its terminal";
        // Reading all of /proc costs a file per process: it is done with a backoff of its
        // own, up to every 100 ms (and whenever the foreground group changes); the looks
        // in between read the child and the group's members found last time.
        let mut scan_backoff = Backoff::up_to(Duration::from_millis(100));
        let mut members = reading::Members::default();
        let mut next_scan = Instant::now();
        loop {
            if self.is_eof() {
                let (tail, buffered) = self.main_tail();
                return Err(Error::Eof {
                    patterns: what.into(),
                    waited: deadline.elapsed(),
                    buffered,
                    discarded: 0,
                    tail,
                    hint: String::new(),
                });
            }
            let pid = self.pid() as i32;
            // Input the program has not taken yet (just sent) first: a reader seen blocked
            // then is about to wake up with it.
            let pending = reading::input_pending(&slave).context(CONTEXT)?;
            let look = match pending {
                true => Ok(Reading::No {
                    group: -1,
                    doing: Vec::new(),
                }),
                false => {
                    let scan = Instant::now() >= next_scan;
                    if scan {
                        next_scan = Instant::now() + scan_backoff.step();
                    }
                    let master = self.transport().master();
                    reading::foreground_reading(master, &slave, pid, &mut members, scan)
                }
            };
            let (group, doing) = match look {
                Ok(Reading::Yes) => return Ok(()),
                Ok(Reading::No { group, doing }) => (group, doing),
                // The terminal has hung up: the end of the output follows.
                Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => (0, Vec::new()),
                Err(e) => return Err(Error::io(CONTEXT, e)),
            };
            if deadline.has_passed() {
                let (tail, buffered) = self.main_tail();
                let hint = match (group, doing.is_empty()) {
                    (-1, _) => "; hint: the terminal holds input the program has not read".into(),
                    (0, _) => "; hint: the terminal has no foreground process group".into(),
                    (_, true) => format!("; hint: foreground process group {group} is empty"),
                    (_, false) => format!(
                        "; hint: the foreground processes (group {group}) were: {}",
                        doing.join(", ")
                    ),
                };
                return Err(Error::Timeout {
                    patterns: what.into(),
                    timeout: deadline.timeout().unwrap_or(Duration::MAX),
                    waited: deadline.elapsed(),
                    buffered,
                    discarded: 0,
                    tail,
                    hint,
                });
            }
            self.read_while_waiting(|_| None, &deadline.within(backoff.step()))?;
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
