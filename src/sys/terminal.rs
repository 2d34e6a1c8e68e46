//! What [`interact`](crate::Session::interact) needs from the user's terminal and from the
//! signal dispositions: raw mode with a guard that puts the exact previous mode back, and
//! reading a signal's disposition without changing it (which `nix` only offers through an
//! `unsafe` call that also installs a new one).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::Signal;
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

/// True when `fd` is a terminal.
pub(crate) fn is_terminal(fd: impl AsFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// True when `signal` is currently ignored (`SIG_IGN`). The disposition is only read.
pub(crate) fn is_ignored(signal: Signal) -> io::Result<bool> {
    // SAFETY: `sigaction` is plain old data (integers, a signal set and a handler address);
    // all-zero bytes are a valid value.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: with a null new action, sigaction(2) changes nothing and only writes the
    // current disposition into `current`, a local that outlives the call.
    let rc = unsafe { libc::sigaction(signal as libc::c_int, std::ptr::null(), &mut current) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(current.sa_sigaction == libc::SIG_IGN)
}
