//! Forking a child that runs Rust code without `exec`: the fork itself, the child's side
//! (set-up, the caller's closure, `_exit`), and the report of a failed set-up.
//!
//! Forking without `exec` is sound only in a single-threaded process or for an
//! async-signal-safe closure; a [`Trust`] carries which of the two holds: either verified
//! here ([`Trust::single_threaded`]) or promised by the caller of an `unsafe fn`
//! ([`Trust::assumed`]).

use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::errno::Errno;
use nix::libc;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::sys::child_setup::{Inherit, Placement, set_up};
use crate::sys::fd::{above_stdio, pipe};
use crate::sys::process::thread_count;

/// Why forking a child that runs Rust code is sound here.
pub(crate) struct Trust {
    /// The process was seen to have one thread (so the child may also flush stdout).
    single_threaded: bool,
}

impl Trust {
    /// Verifies that this process has exactly one thread. The check cannot race: only
    /// the calling thread could start another one. Otherwise the number of threads, or
    /// why it could not be read.
    pub(crate) fn single_threaded() -> Result<Trust, io::Result<usize>> {
        match thread_count() {
            Ok(1) => Ok(Trust {
                single_threaded: true,
            }),
            other => Err(other),
        }
    }

    /// # Safety
    ///
    /// The caller guarantees the contract of `ptychat::fork::pty_child_unchecked` for the
    /// fork this is passed to: the process is single-threaded, or the closure is
    /// async-signal-safe.
    pub(crate) unsafe fn assumed() -> Trust {
        Trust {
            single_threaded: matches!(thread_count(), Ok(1)),
        }
    }
}

/// Forks a child that closes `close_in_child` (our ends of its channels), places itself
/// as `placement` says (keeping our signal state and fds: [`Inherit::Everything`]), runs
/// `body` and exits with its value (101 if it panics), never returning into the caller's
/// code. Returns the child's pid once the child has placed itself; a failure to do so is
/// reported here (and the child reaped).
///
/// Before forking, std's stdout buffer is flushed, so the child does not print our pending
/// output a second time. `body` is dropped (not run) in the parent when this returns.
pub(crate) fn fork(
    trust: Trust,
    placement: Placement,
    close_in_child: &[BorrowedFd<'_>],
    body: impl FnOnce() -> i32,
) -> Result<Pid, ForkError> {
    let _ = io::stdout().flush();
    // The child reports a failed set-up on this pipe; its end of file means success.
    let (sync_read, sync_write) = pipe().map_err(|e| step("creating a pipe", e))?;
    // Keep it off fds 0 to 2 (a parent with closed stdio), which the child may overwrite.
    let sync_write = above_stdio(sync_write).map_err(|e| step("creating a pipe", e))?;
    let close: Vec<RawFd> = close_in_child
        .iter()
        .map(AsRawFd::as_raw_fd)
        .chain([sync_read.as_raw_fd()])
        .collect();
    // SAFETY: fork(2) itself is always safe to call; what matters is what the child does.
    // The child runs `child`, which never returns (it ends in `_exit`). Up to the caller's
    // code it only makes async-signal-safe calls, with no allocation (`close` was built
    // before forking). The caller's code (`body`) runs in a consistent copy of this process:
    // `trust` says that either the process was verified to be single-threaded (no other
    // thread exists to hold a lock or to be half-way through changing shared data, and only
    // this thread could have started one since), or the caller of an `_unchecked` function
    // promised that `body` is sound in the child.
    let pid = match unsafe { libc::fork() } {
        -1 => return Err(step("forking", io::Error::last_os_error())),
        0 => child(
            &close,
            placement,
            sync_write.as_raw_fd(),
            trust.single_threaded,
            body,
        ),
        pid => Pid::from_raw(pid),
    };
    drop(sync_write);
    match read_report(&sync_read) {
        Ok(None) => Ok(pid),
        Ok(Some(errno)) => {
            reap(pid);
            let context = match placement {
                Placement::ProcessGroup => "making the forked child a process group leader",
                Placement::Terminal(_) | Placement::TerminalOnStdin => {
                    "giving the forked child its terminal"
                }
            };
            Err(step(context, io::Error::from_raw_os_error(errno)))
        }
        Err(e) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            reap(pid);
            Err(step("waiting for the forked child to start", e))
        }
    }
}

/// A fork that failed: the step that failed and the operating system's error, kept
/// apart so the caller's error shows the step as its context and keeps the errno.
#[derive(Debug)]
pub(crate) struct ForkError {
    pub(crate) step: &'static str,
    pub(crate) source: io::Error,
}

fn step(step: &'static str, source: io::Error) -> ForkError {
    ForkError { step, source }
}

/// The forked child: set up, run `body`, exit. Never returns into the caller's code.
fn child(
    close: &[RawFd],
    placement: Placement,
    sync_write: RawFd,
    flush_stdout: bool,
    body: impl FnOnce() -> i32,
) -> ! {
    crate::sys::signals::detach_after_fork();
    for &fd in close {
        // SAFETY: close(2) is async-signal-safe; these fds are the parent's ends of the
        // child's channels (and the sync pipe's read end), copies the child must not keep.
        // The Rust values owning them in the parent are never dropped here: this process
        // ends in `_exit` without unwinding this frame.
        unsafe { libc::close(fd) };
    }
    if let Err(error) = set_up(placement, Inherit::Everything) {
        let bytes = error.raw_os_error().unwrap_or(0).to_ne_bytes();
        // SAFETY: write(2) and _exit(2) are async-signal-safe; `bytes` is a local.
        unsafe {
            libc::write(sync_write, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127);
        }
    }
    // SAFETY: the sync pipe's write end is ours to close; the parent reads end of file.
    unsafe { libc::close(sync_write) };
    // The caller's code. A panic must not unwind into the code that called `fork` (which
    // would go on as a second copy of the parent); its payload is leaked, not dropped,
    // because a payload's destructor may panic too.
    let code = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(payload) => {
            std::mem::forget(payload);
            101
        }
    };
    if flush_stdout {
        // `_exit` skips the exit-time flush of std's stdout buffer; do it here.
        let _ = catch_unwind(|| io::stdout().flush());
    }
    // SAFETY: _exit(2) ends the process at once: no atexit handlers, no stdio flushing
    // of C buffers copied from the parent, no destructors of values copied from it.
    unsafe { libc::_exit(code) }
}

/// What the child reported on the sync pipe: `None` (end of file) once it has placed
/// itself, or the errno of the step that failed.
fn read_report(sync_read: &OwnedFd) -> io::Result<Option<i32>> {
    let mut report = [0u8; 4];
    let mut got = 0;
    while got < report.len() {
        match nix::unistd::read(sync_read, &mut report[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::other("truncated report from the forked child")),
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(i32::from_ne_bytes(report)))
}

/// Reaps a child that failed to start.
fn reap(pid: Pid) {
    while waitpid(pid, None) == Err(Errno::EINTR) {}
}
