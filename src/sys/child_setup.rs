//! The one set-up a new child runs between `fork` and `exec` (or the closure of a forked
//! child): where it is placed (a process group of its own, or a session whose controlling
//! terminal is a pty), and, before `exec`, a clean signal state and no fds but its stdio.
//!
//! Everything here runs in the child of a possibly multi-threaded process, so it makes
//! async-signal-safe system calls only: no allocation, no locks.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::libc;

/// Where a new child is placed relative to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A new process group of its own, in our session (pipe and socketpair children).
    ProcessGroup,
    /// A new session whose controlling terminal is this pty slave, which also becomes the
    /// child's stdin, stdout and stderr (and is closed under its own number if above 2).
    Terminal(RawFd),
}

/// What the child keeps of ours besides its placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inherit {
    /// A program about to `exec`: default dispositions for every signal, an empty signal
    /// mask, and every fd above 2 marked close-on-exec, so it keeps only its stdio.
    StdioOnly,
    /// A forked closure: it keeps our signal dispositions, mask and fds, as documented in
    /// `ptychat::fork` (it runs our code, which may rely on them).
    Everything,
}

/// Places the calling process (a new child) and cleans its state as `inherit` says.
/// Async-signal-safe.
pub(crate) fn set_up(placement: Placement, inherit: Inherit) -> io::Result<()> {
    place(placement)?;
    if inherit == Inherit::StdioOnly {
        reset_signals();
        mark_fds_cloexec_above_stdio();
    }
    Ok(())
}

fn place(placement: Placement) -> io::Result<()> {
    let Placement::Terminal(terminal) = placement else {
        // SAFETY: setpgid(2) is an async-signal-safe system call without pointers.
        return cvt(unsafe { libc::setpgid(0, 0) });
    };
    // SAFETY: setsid, ioctl(TIOCSCTTY), fcntl, dup2 and close are async-signal-safe system
    // calls on fds this process owns; no pointers are passed.
    unsafe {
        cvt(libc::setsid())?;
        cvt(libc::ioctl(terminal, libc::TIOCSCTTY as _, 0))?;
        for stdio in 0..=2 {
            if terminal == stdio {
                // dup2 onto itself would leave the fd close-on-exec.
                cvt(libc::fcntl(stdio, libc::F_SETFD, 0))?;
            } else {
                cvt(libc::dup2(terminal, stdio))?;
            }
        }
        if terminal > 2 {
            libc::close(terminal);
        }
    }
    Ok(())
}

/// Default dispositions for every signal and an empty mask.
fn reset_signals() {
    // The raw system call, because the C library's sigaction refuses the signals it
    // reserves (32 and 33), which may still be ignored. An all-zero kernel sigaction is
    // SIG_DFL with no flags and an empty mask; the buffer is larger than the kernel's
    // struct on every architecture.
    let default = [0u64; 8];
    for signal in 1..=64 {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // SAFETY: rt_sigaction is an async-signal-safe system call; the new action
            // points to a local that outlives the call and the old one is null.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    default.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8usize,
                );
            }
        }
    }
    // SAFETY: `sigset_t` is plain old data (all-zero is valid), sigemptyset and
    // sigprocmask are async-signal-safe and get pointers to a local.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// Marks every fd above 2 close-on-exec. Marked rather than closed: std reports an exec
/// failure through a close-on-exec pipe, which must stay open until exec.
fn mark_fds_cloexec_above_stdio() {
    let cloexec = libc::CLOSE_RANGE_CLOEXEC as libc::c_int;
    // SAFETY: close_range is an async-signal-safe system call without pointers.
    if unsafe { libc::close_range(3, libc::c_uint::MAX, cloexec) } == 0 {
        return;
    }
    // Kernels before 5.11: mark them one by one, up to the fd limit.
    // SAFETY: `rlimit` is plain old data; getrlimit writes one through a pointer to a
    // local, and fcntl(F_SETFD) takes no pointers. Both are async-signal-safe.
    unsafe {
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

/// `Ok` unless a system call returned -1 (then the error in errno). Async-signal-safe:
/// `io::Error::last_os_error` only reads errno.
fn cvt(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The child set-up of a `std::process::Command`, installed once (its `pre_exec` hooks
/// accumulate) and told before each spawn where the child goes: a session on the pty that
/// std has already made its stdio (fd 0), or a process group of its own.
#[derive(Debug)]
pub(crate) struct ExecSetup {
    on_terminal: Arc<AtomicU8>,
}

impl ExecSetup {
    /// Installs [`set_up`] with [`Inherit::StdioOnly`] on `command`.
    pub(crate) fn install(command: &mut std::process::Command) -> Self {
        let on_terminal = Arc::new(AtomicU8::new(1));
        let shared = Arc::clone(&on_terminal);
        let hook = move || {
            // Reading an atomic is a plain load: async-signal-safe.
            let placement = match shared.load(Ordering::Relaxed) {
                1 => Placement::Terminal(0),
                _ => Placement::ProcessGroup,
            };
            set_up(placement, Inherit::StdioOnly)
        };
        // SAFETY: the hook only makes async-signal-safe calls (see `set_up`) and shares
        // nothing with the parent but an atomic it reads.
        unsafe {
            command.pre_exec(hook);
        }
        ExecSetup { on_terminal }
    }

    /// Whether the next spawned child leads a session on its stdin's terminal (true), or
    /// gets a process group of its own.
    pub(crate) fn on_terminal(&self, yes: bool) {
        self.on_terminal.store(u8::from(yes), Ordering::Relaxed);
    }
}
