//! Processes: pidfds and counting this process's threads.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use nix::libc;

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

/// This process's limit on open files (`RLIMIT_NOFILE`): (soft, hard), `u64::MAX` for
/// none.
pub(crate) fn open_file_limit() -> io::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit};
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?)
}
