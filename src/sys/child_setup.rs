//! The one set-up a new child runs between `fork` and `exec` (or the closure of a forked
//! child): where it is placed (a process group of its own, or a session whose controlling
//! terminal is a pty), and, before `exec`, a clean signal state, no fds but its stdio and
//! the ones passed on purpose, and what the spawn asked for on top ([`ExecPlan`]).
//!
//! Everything here runs in the child of a possibly multi-threaded process, so it makes
//! async-signal-safe system calls only: no allocation, no locks.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use nix::libc;

/// Where a new child is placed relative to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A new process group of its own, in our session (pipe and socketpair children).
    ProcessGroup,
    /// A new session whose controlling terminal is this pty slave, which also becomes the
    /// child's stdin, stdout and stderr (and is closed under its own number if above 2).
    Terminal(RawFd),
    /// A new session whose controlling terminal is the child's stdin, a pty slave; its
    /// stdio are already what the spawn asked for (stderr may be a pipe).
    TerminalOnStdin,
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
    let terminal = match placement {
        // SAFETY: setpgid(2) is an async-signal-safe system call without pointers.
        Placement::ProcessGroup => return cvt(unsafe { libc::setpgid(0, 0) }),
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe system calls; no
        // pointers are passed.
        Placement::TerminalOnStdin => unsafe {
            cvt(libc::setsid())?;
            return cvt(libc::ioctl(0, libc::TIOCSCTTY as _, 0));
        },
        Placement::Terminal(terminal) => terminal,
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
    reset_dispositions();
    // SAFETY: `sigset_t` is plain old data (all-zero is valid), sigemptyset and
    // sigprocmask are async-signal-safe and get pointers to a local.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// Default dispositions for every signal, through the raw system call: the C library's
/// `sigaction` refuses the signals it reserves (32 and 33), which may still be ignored.
/// An all-zero kernel sigaction is SIG_DFL with no flags and an empty mask; the buffer is
/// larger than the kernel's struct on every architecture. Raw system calls only: safe in a
/// forked child and in a `CLONE_VM` child alike.
pub(crate) fn reset_dispositions() {
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

/// Passes fds to the child under chosen numbers: `passed` holds (our fd, the child's
/// number) pairs, and our fds are replaced by the copies this makes. Every target number is
/// open (reserved by the parent) when this runs, so moving our fds to the lowest free
/// numbers first never lands on a target, and one pass cannot overwrite the source of
/// another. The targets end up without close-on-exec.
fn pass_fds(passed: &mut [(RawFd, RawFd)]) -> io::Result<()> {
    for (ours, _) in passed.iter_mut() {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) is an async-signal-safe system call without
        // pointers, on an fd this process owns.
        let moved = unsafe { libc::fcntl(*ours, libc::F_DUPFD_CLOEXEC, 3) };
        cvt(moved)?;
        *ours = moved;
    }
    for &(ours, theirs) in passed.iter() {
        // SAFETY: dup2 is an async-signal-safe system call without pointers.
        cvt(unsafe { libc::dup2(ours, theirs) })?;
    }
    Ok(())
}

/// Ignores SIGHUP (the disposition survives `exec`), so the program outlives the hang-up
/// of its terminal.
fn ignore_sighup() -> io::Result<()> {
    // SAFETY: `sigaction` is plain old data (all-zero is valid: no flags, empty mask);
    // sigaction(2) is async-signal-safe and reads a local.
    unsafe {
        let mut ignore: libc::sigaction = std::mem::zeroed();
        ignore.sa_sigaction = libc::SIG_IGN;
        cvt(libc::sigaction(libc::SIGHUP, &ignore, std::ptr::null_mut()))
    }
}

/// A hook the user runs in the child before `exec` (see `Command::pre_exec`).
pub(crate) type PreExecHook = Box<dyn FnMut() -> io::Result<()> + Send + Sync>;

/// What the next spawn of a `std::process::Command` asks of its child, set by the parent
/// before each spawn and read by the child between fork and exec.
pub(crate) struct ExecPlan {
    /// Where the child goes: [`Placement::TerminalOnStdin`] or
    /// [`Placement::ProcessGroup`].
    pub(crate) placement: Placement,
    /// Start with SIGHUP ignored.
    pub(crate) ignore_sighup: bool,
    /// (our fd, the child's number) for each fd passed; every target number must be open
    /// in the parent during the spawn (see [`crate::sys::fd::reserve`]).
    pub(crate) passed: Vec<(RawFd, RawFd)>,
    /// The user's hooks, run in order after everything else.
    pub(crate) hooks: Vec<PreExecHook>,
    /// The write end of a pipe that gets one byte when a hook fails, so the parent can
    /// tell the hook's error from the set-up's and the exec's.
    pub(crate) hook_failed: Option<RawFd>,
}

impl std::fmt::Debug for ExecPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecPlan")
            .field("placement", &self.placement)
            .field("ignore_sighup", &self.ignore_sighup)
            .field("passed", &self.passed)
            .field("hooks", &self.hooks.len())
            .field("hook_failed", &self.hook_failed)
            .finish()
    }
}

impl ExecPlan {
    /// Runs the plan in the child. Async-signal-safe as long as the user's hooks are.
    fn run(&mut self) -> io::Result<()> {
        set_up(self.placement, Inherit::StdioOnly)?;
        pass_fds(&mut self.passed)?;
        if self.ignore_sighup {
            ignore_sighup()?;
        }
        for hook in &mut self.hooks {
            if let Err(error) = hook() {
                if let Some(report) = self.hook_failed {
                    // SAFETY: write(2) is async-signal-safe; it reads one byte of a local.
                    unsafe { libc::write(report, [1u8].as_ptr().cast(), 1) };
                }
                return Err(error);
            }
        }
        Ok(())
    }
}

/// The child set-up of a `std::process::Command`, installed once (its `pre_exec` hooks
/// accumulate) with an [`ExecPlan`] the parent fills in before each spawn.
#[derive(Debug)]
pub(crate) struct ExecSetup {
    plan: Arc<Mutex<ExecPlan>>,
}

impl ExecSetup {
    /// Installs [`ExecPlan::run`] on `command`, with a plan for a session on the pty
    /// that is the child's stdin, nothing passed and no hooks.
    pub(crate) fn install(command: &mut std::process::Command) -> Self {
        let plan = Arc::new(Mutex::new(ExecPlan {
            placement: Placement::TerminalOnStdin,
            ignore_sighup: false,
            passed: Vec::new(),
            hooks: Vec::new(),
            hook_failed: None,
        }));
        let shared = Arc::clone(&plan);
        let hook = move || {
            // Only the parent thread that spawns ever locks the plan, and it has let go
            // before the fork: the child finds it free. try_lock is one atomic
            // compare-and-swap, async-signal-safe; it never waits.
            let mut plan = match shared.try_lock() {
                Ok(plan) => plan,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    return Err(io::Error::from_raw_os_error(libc::EDEADLK));
                }
            };
            plan.run()
        };
        // SAFETY: the hook makes async-signal-safe calls only (see `ExecPlan::run`; the
        // user's hooks carry the same contract, stated by the unsafe `Command::pre_exec`)
        // and takes no lock that can be held.
        unsafe {
            command.pre_exec(hook);
        }
        ExecSetup { plan }
    }

    /// The plan, to change before a spawn; let go of it before spawning.
    pub(crate) fn plan(&self) -> MutexGuard<'_, ExecPlan> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
