//! The crate's only `unsafe` code: the child's set-up between `fork` and `exec`, terminal
//! ioctls that `nix` exposes as `unsafe`, and `pidfd_open`, which `nix` does not wrap.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;

use nix::libc;

/// Arranges for the child of `command` to start a new session with the pty slave (already
/// its stdin/stdout/stderr) as controlling terminal, default signal dispositions and an
/// empty signal mask.
pub(crate) fn make_session_leader_on_stdin(command: &mut std::process::Command) {
    let setup = || -> io::Result<()> {
        // Everything here runs in the forked child before exec, so only async-signal-safe
        // calls are made: no allocation, no locks.
        //
        // SAFETY: `setsid`, `ioctl(TIOCSCTTY)`, `sigaction` and `sigprocmask` are
        // async-signal-safe system calls; every pointer passed is to a local that outlives
        // the call.
        unsafe {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            for signal in 1..=libc::SIGRTMAX() {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    // Signals the C library reserves refuse with EINVAL; that is fine.
                    libc::sigaction(signal, &default, std::ptr::null_mut());
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        }
        Ok(())
    };
    // SAFETY: the closure only makes async-signal-safe calls (see above) and touches no
    // state shared with the parent.
    unsafe {
        command.pre_exec(setup);
    }
}

/// A terminal's size in character cells.
pub(crate) fn window_size(fd: impl AsFd) -> io::Result<(u16, u16)> {
    // SAFETY: `winsize` is plain old data, so all-zero is a valid value.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid for it.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((size.ws_row, size.ws_col))
}

/// Sets a terminal's size; the kernel sends SIGWINCH to its foreground process group.
pub(crate) fn set_window_size(fd: impl AsFd, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` through the pointer, which is valid for it.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pidfd for `pid`, which becomes readable when the process exits (Linux 5.3+).
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us (opened close-on-exec); nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}
