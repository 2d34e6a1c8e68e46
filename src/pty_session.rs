//! Terminal control for sessions on a pseudo-terminal.

use std::time::{Duration, Instant};

use nix::sys::termios::SpecialCharacterIndices;

use crate::error::{Context, Error, Result};
use crate::pty::{self, Pty};
use crate::session::Session;
use crate::sys;

impl Session<Pty> {
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
