//! The crate's only `unsafe` code (the rest of the crate is `#![deny(unsafe_code)]`): the
//! child's set-up between `fork` and `exec`, terminal ioctls, `pidfd_open`, the SIGPIPE-free
//! write, and in the submodules the per-thread alarm timers (`alarm`), fork without exec
//! (`fork`), the self-pipe signal handlers (`signals`) and raw mode (`terminal`). Every
//! `unsafe` block states why it is sound in a `// SAFETY:` comment.

pub(crate) mod alarm;
pub(crate) mod fork;
pub(crate) mod signals;
pub(crate) mod terminal;

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::libc;

/// How a spawned child is placed relative to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Placement {
    /// A new session whose controlling terminal is the child's stdin (a pty slave).
    SessionOnTerminal = 0,
    /// A new process group in our session (pipe children).
    ProcessGroup = 1,
}

/// The set-up a spawned child runs between `fork` and `exec`, installed once per
/// `std::process::Command` (its `pre_exec` hooks accumulate) and told before each spawn
/// where the child goes.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    placement: Arc<AtomicU8>,
}

impl ChildSetup {
    /// Installs the set-up on `command`: the child gets the placement chosen with
    /// [`ChildSetup::place`], default dispositions for every signal, an empty signal mask,
    /// and every fd above 2 marked close-on-exec, so it keeps only its stdio.
    pub(crate) fn install(command: &mut std::process::Command) -> Self {
        let placement = Arc::new(AtomicU8::new(Placement::SessionOnTerminal as u8));
        let shared = Arc::clone(&placement);
        let setup = move || -> io::Result<()> {
            // This runs in the forked child before exec, so only async-signal-safe calls
            // are made: no allocation, no locks (reading an atomic is a plain load).
            //
            // SAFETY: setsid, setpgid, ioctl(TIOCSCTTY), rt_sigaction, sigprocmask,
            // close_range, getrlimit and fcntl are async-signal-safe system calls; every
            // pointer passed is to a local that outlives the call.
            unsafe {
                if shared.load(Ordering::Relaxed) == Placement::SessionOnTerminal as u8 {
                    if libc::setsid() == -1 {
                        return Err(io::Error::last_os_error());
                    }
                    if libc::ioctl(0, libc::TIOCSCTTY as _, 0) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::setpgid(0, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                // The raw system call, because the C library's sigaction refuses the
                // signals it reserves (32 and 33), which may still be ignored. An all-zero
                // kernel sigaction is SIG_DFL with no flags and an empty mask; the buffer
                // is larger than the kernel's struct on every architecture.
                let default = [0u64; 8];
                for signal in 1..=64 {
                    if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                        libc::syscall(
                            libc::SYS_rt_sigaction,
                            signal,
                            default.as_ptr(),
                            std::ptr::null_mut::<u64>(),
                            8usize,
                        );
                    }
                }
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                // Marked close-on-exec rather than closed: std reports an exec failure
                // through a close-on-exec pipe, which must stay open until exec.
                let cloexec = libc::CLOSE_RANGE_CLOEXEC as libc::c_int;
                if libc::close_range(3, libc::c_uint::MAX, cloexec) == -1 {
                    let mut limit: libc::rlimit = std::mem::zeroed();
                    let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                        limit.rlim_cur.min(1 << 20) as libc::c_int
                    } else {
                        1024
                    };
                    for fd in 3..max {
                        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                    }
                }
            }
            Ok(())
        };
        // SAFETY: the closure only makes async-signal-safe calls (see above) and shares
        // nothing with the parent but an atomic it reads.
        unsafe {
            command.pre_exec(setup);
        }
        ChildSetup { placement }
    }

    /// Where the next spawned child goes.
    pub(crate) fn place(&self, placement: Placement) {
        self.placement.store(placement as u8, Ordering::Relaxed);
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

/// `write(2)` that reports a vanished reader as `EPIPE` without raising SIGPIPE: the
/// signal is blocked for this thread during the write and, if the write raised it,
/// consumed before the old mask is restored. Other threads are unaffected.
pub(crate) fn write_without_sigpipe(fd: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let mut sigpipe = SigSet::empty();
    sigpipe.add(Signal::SIGPIPE);
    let mut old = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&sigpipe), Some(&mut old))?;
    let already_pending = sigpipe_pending()?;
    let result = nix::unistd::write(fd, buf);
    if result == Err(nix::errno::Errno::EPIPE) && !already_pending {
        consume_pending(&sigpipe)?;
    }
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
    Ok(result?)
}

/// True when SIGPIPE is pending for this thread or the process.
fn sigpipe_pending() -> io::Result<bool> {
    // SAFETY: `sigset_t` is plain old data; sigpending fills the one we pass.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for writing one sigset_t.
    if unsafe { libc::sigpending(&mut set) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `set` was initialised by sigpending.
    Ok(unsafe { libc::sigismember(&set, libc::SIGPIPE) } == 1)
}

/// Takes one pending signal of `set` (which must be blocked) without waiting.
fn consume_pending(set: &nix::sys::signal::SigSet) -> io::Result<()> {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both pointers are valid for the call; a null siginfo pointer is allowed.
    let rc = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &zero) };
    if rc == -1 && io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
