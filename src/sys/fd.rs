//! File descriptors: non-blocking mode, close-on-exec, reserving a number, moving an fd off
//! the stdio numbers, and a write that reports a vanished reader as `EPIPE` instead of raising SIGPIPE.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;

/// Puts an fd in non-blocking mode.
pub(crate) fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Takes an fd out of non-blocking mode (the mode is the file description's: every copy
/// of the fd sees it).
#[cfg(feature = "cli")]
pub(crate) fn set_blocking(fd: impl AsFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(())
}

/// A close-on-exec copy of `fd` (the same file description), above the stdio numbers.
#[cfg(feature = "cli")]
pub(crate) fn copy(fd: impl AsFd) -> io::Result<OwnedFd> {
    let copy = fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC just returned this new fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

/// Makes sure fd number `number` stays open while a child is spawned, so nothing the spawn
/// opens (std's exec-error pipe) lands there and is overwritten when a passed fd is put
/// there in the child: if the number is free, a close-on-exec copy of `source` takes it
/// and is returned (drop it after the spawn); if it is taken, it stays taken. One
/// `F_DUPFD_CLOEXEC`, which takes the lowest free number from `number` up, so no other
/// thread's fd is ever replaced. `EINVAL` when `number` is not below `RLIMIT_NOFILE`.
pub(crate) fn reserve(source: impl AsFd, number: i32) -> io::Result<Option<OwnedFd>> {
    let copy = fcntl(source.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(number))?;
    // SAFETY: F_DUPFD_CLOEXEC just returned this new fd to us; nothing else owns it.
    let copy = unsafe { OwnedFd::from_raw_fd(copy) };
    Ok((copy.as_raw_fd() == number).then_some(copy))
}

/// `/dev/null`, open for reading and writing, close-on-exec.
pub(crate) fn open_null() -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDWR | OFlag::O_CLOEXEC;
    Ok(nix::fcntl::open(
        "/dev/null",
        flags,
        nix::sys::stat::Mode::empty(),
    )?)
}

/// Sets close-on-exec on `fd`.
pub(crate) fn set_cloexec(fd: impl AsFd) -> io::Result<()> {
    fcntl(
        fd.as_fd(),
        FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok(())
}

/// A close-on-exec, non-blocking pipe: (read end, write end).
pub(crate) fn nonblocking_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?)
}

/// Moves `fd` to a number above 2 if it is one of the stdio numbers.
pub(crate) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let moved = fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC just returned this new fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
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
