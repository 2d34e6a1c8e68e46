//! Process and terminal control for sessions on a pseudo-terminal.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::termios::SpecialCharacterIndices;

use crate::error::{Context, Error, Result};
use crate::process::ExitStatus;
use crate::pty::{self, Pty};
use crate::session::Session;
use crate::sys;

impl Session<Pty> {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.transport().child.pid()
    }

    /// True while the child has not exited.
    pub fn is_alive(&mut self) -> Result<bool> {
        Ok(self.try_wait()?.is_none())
    }

    /// The child's exit status if it has ended, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.transport_mut().child.try_wait()
    }

    /// Waits for the child to end and returns how it ended. Output stays readable: call
    /// `expect(Pattern::eof())` first if you want it.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.transport_mut().child.wait()
    }

    /// Waits up to `timeout` for the child to end; `Ok(None)` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        self.transport_mut().child.wait_timeout(timeout)
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
        self.transport_mut().child.kill(signal)
    }

    /// Ends the child politely: SIGHUP (with SIGCONT), SIGINT, SIGTERM, each followed by up
    /// to `grace` of waiting, then SIGKILL. Returns how it ended.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.transport_mut().child.terminate(grace)
    }

    /// The terminal's size as (rows, columns).
    pub fn window_size(&self) -> Result<(u16, u16)> {
        sys::window_size(self.transport().master()).context("reading the window size")
    }

    /// Resizes the terminal; the program receives SIGWINCH.
    pub fn set_window_size(&mut self, rows: u16, cols: u16) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Err(Error::InvalidArgument(format!(
                "window size {rows}x{cols} has a zero dimension"
            )));
        }
        sys::set_window_size(self.transport().master(), rows, cols)
            .context("setting the window size")
    }

    /// Whether the terminal currently echoes input.
    pub fn echo(&self) -> Result<bool> {
        pty::echo(self.transport().master()).context("reading the terminal mode")
    }

    /// Turns the terminal's echo on or off (the program may change it again).
    pub fn set_echo(&mut self, on: bool) -> Result<()> {
        pty::set_echo(self.transport().master(), on).context("setting the terminal mode")
    }

    /// Waits until the program turns echo off, as programs do before reading a password,
    /// up to `timeout` (`None`: forever). Returns false if the deadline passed first.
    ///
    /// Terminal modes change without any event to wait on, so this checks with a backoff
    /// from 1 ms to 20 ms.
    pub fn wait_for_echo_off(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut backoff = Duration::from_millis(1);
        loop {
            if !self.echo()? {
                return Ok(true);
            }
            let now = Instant::now();
            let pause = match deadline {
                Some(deadline) if now >= deadline => return Ok(false),
                Some(deadline) => backoff.min(deadline - now),
                None => backoff,
            };
            std::thread::sleep(pause);
            backoff = (backoff * 2).min(Duration::from_millis(20));
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
        let byte = pty::special_char(self.transport().master(), which)
            .context("reading the terminal's special characters")?;
        self.send([byte])
    }
}
