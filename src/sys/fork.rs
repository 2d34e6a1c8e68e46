//! The unsafe half of [`crate::fork`]: forking a child that runs Rust code without `exec`,
//! and the `_unchecked` entry points whose contract the caller accepts.
//!
//! The safe entry points prove the precondition with [`Check::SingleThreaded`], which
//! [`fork`] verifies itself right before forking; the unchecked ones pass a [`Trust`], which
//! only an `unsafe fn` can make.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::errno::Errno;
use nix::libc;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::command::PtySession;
use crate::error::{Error, Result};
use crate::fork::ForkSession;

/// How [`fork`] knows that forking without `exec` is sound here.
pub(crate) enum Check {
    /// Verify that the process has one thread; refuse otherwise.
    SingleThreaded,
    /// The caller of an `_unchecked` function accepted its contract.
    Trusted(Trust),
}

/// A caller's promise that forking without `exec` is sound: see [`pty_child_unchecked`].
pub(crate) struct Trust(());

impl Trust {
    /// # Safety
    ///
    /// The caller guarantees the contract of [`pty_child_unchecked`] for the fork this is
    /// passed to.
    unsafe fn new() -> Trust {
        Trust(())
    }
}

/// Where the forked child is put before the caller's code runs.
pub(crate) enum Placement<'a> {
    /// A new process group of its own, in our session (like pipe children).
    ProcessGroup,
    /// A new session whose controlling terminal is this pty slave, which also becomes the
    /// child's stdin, stdout and stderr.
    Terminal(BorrowedFd<'a>),
}

/// How many threads this process has, from `/proc/self/task` (or the `Threads:` line of
/// `/proc/self/status`).
pub(crate) fn thread_count() -> io::Result<usize> {
    match std::fs::read_dir("/proc/self/task") {
        Ok(tasks) => Ok(tasks.count()),
        Err(task_error) => {
            let status = std::fs::read_to_string("/proc/self/status").map_err(|_| task_error)?;
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
                .ok_or_else(|| io::Error::other("no Threads: line in /proc/self/status"))
        }
    }
}

/// Forks a child that closes `close_in_child` (our ends of its channels), places itself
/// as `placement` says, runs `body` and exits with its value (101 if it panics), never
/// returning into the caller's code. Returns the child's pid once the child has placed
/// itself; a failure to do so is reported here (and the child reaped).
///
/// Before forking, std's stdout buffer is flushed, so the child does not print our pending
/// output a second time. `body` is dropped (not run) in the parent when this returns.
pub(crate) fn fork(
    check: Check,
    placement: Placement<'_>,
    close_in_child: &[BorrowedFd<'_>],
    body: impl FnOnce() -> i32,
) -> Result<Pid> {
    let threads = thread_count();
    let single_threaded = matches!(threads, Ok(1));
    if let Check::SingleThreaded = check {
        if !single_threaded {
            let threads = match threads {
                Ok(n) => format!("{n} threads"),
                Err(e) => format!("an unknown number of threads (reading /proc/self/task: {e})"),
            };
            return Err(Error::InvalidArgument(format!(
                "forking a child that runs Rust code needs a single-threaded process, but this \
                 one has {threads}; see the `ptychat::fork` module for the `_unchecked` \
                 functions and their contract"
            )));
        }
    }
    let _ = io::stdout().flush();
    // The child reports a failed set-up on this pipe; its end of file means success.
    let (sync_read, sync_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("creating a pipe", e))?;
    // Keep it off fds 0 to 2 (a parent with closed stdio), which the child may overwrite.
    let sync_write = above_stdio(sync_write).map_err(|e| Error::io("creating a pipe", e))?;
    let close: Vec<RawFd> = close_in_child
        .iter()
        .map(AsRawFd::as_raw_fd)
        .chain([sync_read.as_raw_fd()])
        .collect();
    let placement = match placement {
        Placement::ProcessGroup => None,
        Placement::Terminal(slave) => Some(slave.as_raw_fd()),
    };
    // SAFETY: fork(2) itself is always safe to call; what matters is what the child does.
    // The child runs `child`, which never returns (it ends in `_exit`). Up to the caller's
    // code it only makes async-signal-safe calls, with no allocation (`close` was built
    // before forking). The caller's code (`body`) runs in a consistent copy of this process:
    // either `check` was `SingleThreaded` and was verified above (no other thread exists to
    // hold a lock or to be half-way through changing shared data, and only this thread
    // could have started one since), or the caller of an `_unchecked` function promised
    // that `body` is sound in the child.
    let pid = match unsafe { libc::fork() } {
        -1 => return Err(Error::io("forking", io::Error::last_os_error())),
        0 => child(
            &close,
            placement,
            sync_write.as_raw_fd(),
            single_threaded,
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
                None => "making the forked child a process group leader",
                Some(_) => "giving the forked child its terminal",
            };
            Err(Error::io(context, io::Error::from_raw_os_error(errno)))
        }
        Err(e) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            reap(pid);
            Err(Error::io("waiting for the forked child to start", e))
        }
    }
}

/// The forked child: set up, run `body`, exit. Never returns into the caller's code.
fn child(
    close: &[RawFd],
    terminal: Option<RawFd>,
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
    if let Err(errno) = place(terminal) {
        let bytes = (errno as i32).to_ne_bytes();
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

/// Puts the child in a process group of its own, or (with a terminal) in a new session
/// whose controlling terminal and stdio are the pty slave. Async-signal-safe calls only.
fn place(terminal: Option<RawFd>) -> std::result::Result<(), Errno> {
    // SAFETY: setpgid, setsid, ioctl(TIOCSCTTY), fcntl, dup2 and close are async-signal-safe
    // system calls on fds this process owns; no pointers are passed.
    unsafe {
        let Some(slave) = terminal else {
            return Errno::result(libc::setpgid(0, 0)).map(drop);
        };
        Errno::result(libc::setsid())?;
        Errno::result(libc::ioctl(slave, libc::TIOCSCTTY as _, 0))?;
        for stdio in 0..=2 {
            if slave == stdio {
                // dup2 onto itself would leave the fd close-on-exec.
                Errno::result(libc::fcntl(stdio, libc::F_SETFD, 0))?;
            } else {
                Errno::result(libc::dup2(slave, stdio))?;
            }
        }
        if slave > 2 {
            libc::close(slave);
        }
    }
    Ok(())
}

/// Moves `fd` to a number above 2 if it is one of the stdio numbers.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let moved = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC just returned this new fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
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

/// Like [`socketpair_child`](crate::fork::socketpair_child), without checking that the
/// process is single-threaded.
///
/// # Safety
///
/// The same contract as [`pty_child_unchecked`].
pub unsafe fn socketpair_child_unchecked<F>(f: F) -> Result<ForkSession>
where
    F: FnOnce(UnixStream) -> i32,
{
    // SAFETY: our caller accepts the contract.
    crate::fork::socketpair_child_with(Check::Trusted(unsafe { Trust::new() }), f)
}

/// Like [`pty_child`](crate::fork::pty_child), without checking that the process is
/// single-threaded.
///
/// # Safety
///
/// One of these must hold:
///
/// - The process is single-threaded at the time of the call (you know it, but
///   `/proc/self/task` cannot be read to check it). Then the child is a consistent copy of
///   the process and `f` may do anything.
/// - Or `f`, everything it drops, and its return are **async-signal-safe** (see
///   `signal-safety(7)`): raw system calls (`read`, `write`, `close`, `dup2`, `execve`,
///   `_exit`...) on memory and fds that already exist. Another thread may have held any
///   lock at the moment of the fork, and it stays held in the child forever: the
///   allocator's (glibc's malloc is made fork-safe by glibc itself, but not every
///   allocator is), std's stdout, stderr and stdin locks (so no `println!`), the
///   environment lock (`std::env::var`, also taken by `Command::spawn`), any `Mutex`,
///   `OnceLock` or `LazyLock` (loggers, caches), the dynamic loader's lock, ptychat's own
///   signal-pipe registry (creating a [`SignalPipe`](crate::SignalPipe) in the child).
///   Data another thread was changing at that moment may be half-changed. A panic is not
///   async-signal-safe either (the panic hook allocates and locks stderr).
///
/// In the second case the child does not flush std's stdout before exiting (that takes its
/// lock); it does when the process was verifiably single-threaded.
pub unsafe fn pty_child_unchecked<F>(f: F) -> Result<PtySession>
where
    F: FnOnce() -> i32,
{
    // SAFETY: our caller accepts the contract.
    crate::fork::pty_child_with(Check::Trusted(unsafe { Trust::new() }), f)
}
