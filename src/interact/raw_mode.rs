//! Raw mode for the user's terminal, with a guard that puts the exact previous mode back.

use std::io;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

/// A terminal in raw mode. Dropping it (also while unwinding from a panic) puts back the
/// mode the terminal had before [`RawMode::enter`], exactly as `tcgetattr` reported it.
#[derive(Debug)]
pub(crate) struct RawMode<'fd> {
    fd: BorrowedFd<'fd>,
    saved: Option<Termios>,
}

impl<'fd> RawMode<'fd> {
    /// Saves the terminal's mode and switches it to raw mode (`cfmakeraw`: no echo, no line
    /// editing, no signals from keys, no output processing, reads return each byte).
    pub(crate) fn enter(fd: BorrowedFd<'fd>) -> io::Result<Self> {
        let saved = retry(|| tcgetattr(fd))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        // Guard first: if the change half-applies and then fails, dropping it restores.
        let guard = RawMode {
            fd,
            saved: Some(saved),
        };
        retry(|| tcsetattr(fd, SetArg::TCSANOW, &raw))?;
        Ok(guard)
    }

    /// Puts the saved mode back now, reporting failure (dropping does the same silently).
    pub(crate) fn restore(mut self) -> io::Result<()> {
        self.put_back()
    }

    fn put_back(&mut self) -> io::Result<()> {
        match self.saved.take() {
            // TCSANOW: what we wrote has already been through the line discipline, and a
            // terminal stopped by flow control must not make the restore wait.
            Some(saved) => retry(|| tcsetattr(self.fd, SetArg::TCSANOW, &saved)),
            None => Ok(()),
        }
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        // Nothing better to do with a failure here (the terminal may be gone).
        let _ = self.put_back();
    }
}

/// Runs a terminal call again while a signal interrupts it.
fn retry<T>(mut call: impl FnMut() -> nix::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(Errno::EINTR) => continue,
            result => return Ok(result?),
        }
    }
}
