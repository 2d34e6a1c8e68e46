//! Spawning a program without copying this process: a `clone(CLONE_VM | CLONE_VFORK)`
//! child on a stack of its own, as glibc's `posix_spawn` does, so the cost of a spawn does
//! not grow with our memory (a `fork` copies the page tables of all of it).
//!
//! The child shares our memory until it calls `exec` (or exits), and we (the calling
//! thread) are suspended until then. So:
//!
//! - Everything it needs is built here first ([`Exec`]: paths, argv, environment, working
//!   directory as C strings; the fd moves): it allocates nothing, takes no lock and never
//!   touches the `ExecPlan` mutex of the fork path. What it reads lives in our frame,
//!   which nobody else can reach, and it writes only its report (an atomic) and, for a
//!   script without `#!`, one slot of a buffer made for it.
//! - Our signal handlers must not run in it, on our memory: every signal (glibc's
//!   reserved ones too) is blocked in the calling thread around the `clone`, the child
//!   inherits that mask, resets every disposition to the default and only then clears its
//!   mask. Its signal handler table is its own (no `CLONE_SIGHAND`).
//! - Its fd table is a copy (no `CLONE_FILES`): what it does to fds is its own.
//! - It reports a failure by storing the errno in shared memory before `_exit(127)`: no
//!   exec-error pipe, so no fd for it either. No pidfd either: the child's `Child` opens
//!   one when a wait needs it (each fd kept open makes every later spawn slower).
//!
//! The program is looked up as glibc's `execvp` does (which is what `std` calls): each
//! candidate path in turn, skipping the ones that are missing or not permitted, and a file
//! the kernel refuses with `ENOEXEC` (a script without `#!`) is run by `/bin/sh`.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::libc;

use crate::sys::child_setup::Placement;

/// The shell that runs a script without `#!` (glibc's `_PATH_BSHELL`).
const BSHELL: &CStr = c"/bin/sh";

/// The child's stack: enough for the few frames of [`child`] (in a debug build too), with
/// a guard page below it so an overflow faults instead of writing over our memory.
const STACK_SIZE: usize = 64 * 1024;
const GUARD_SIZE: usize = 4096;

/// The report before the child got to its `exec`: it died on the way (a signal).
const NOT_REACHED: i32 = -1;

/// A program to run, built before the spawn: what the child hands to `execve`.
#[derive(Debug)]
pub(crate) struct Exec {
    /// The paths to try, in order (one for a name with a `/`; one per `PATH` entry for a
    /// bare name; none for an empty name, which is `ENOENT`).
    candidates: Vec<CString>,
    /// `argv`, `argv[0]` first.
    argv: Vec<CString>,
    /// `NAME=value` strings.
    envp: Vec<CString>,
    /// Where to `chdir` first.
    cwd: Option<CString>,
}

impl Exec {
    /// A program with its candidate paths, arguments (`argv[0]` first), environment and
    /// working directory.
    pub(crate) fn new(
        candidates: Vec<CString>,
        argv: Vec<CString>,
        envp: Vec<CString>,
        cwd: Option<CString>,
    ) -> Self {
        Exec {
            candidates,
            argv,
            envp,
            cwd,
        }
    }
}

/// What the child does besides `exec`: its placement, its fds and SIGHUP.
#[derive(Debug)]
pub(crate) struct Setup<'a> {
    pub(crate) placement: Placement,
    /// (our fd, the child's number): its stdio (0, 1, 2) and the fds passed on purpose.
    /// Every other fd above 2 is closed at `exec`; a stdio number without an entry is
    /// inherited as it is.
    pub(crate) fds: &'a [(RawFd, RawFd)],
    pub(crate) ignore_sighup: bool,
}

/// A started child: its pid.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: libc::pid_t,
}

/// Why a spawn failed.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// Before any child existed (the stack, the `clone`).
    Parent(io::Error),
    /// The child's set-up or `exec` failed with this error; the child has been reaped.
    Child(io::Error),
}

/// What the child reads (and its report, which it writes), in our frame.
struct Context<'a> {
    exec: &'a Exec,
    setup: &'a Setup<'a>,
    /// Null-terminated pointer arrays into `exec`.
    candidates: &'a [*const libc::c_char],
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// `[/bin/sh, <slot for the script>, argv[1..], NULL]`: the child fills the slot.
    script_argv: *mut *const libc::c_char,
    /// The fds to place (see [`place_fds`]).
    moves: &'a [FdMove],
    /// [`NOT_REACHED`], then 0 once the child starts its `exec`s, or the errno of the
    /// step that failed.
    report: AtomicI32,
}

/// One fd to put on a number in the child.
struct FdMove {
    /// Our fd; the child replaces it with the number of its copy when it moves it.
    source: AtomicI32,
    target: RawFd,
    /// Whether the source sits on a number that is (or may be) another one's target.
    in_the_way: bool,
}

/// Starts `exec` with `setup` in a `CLONE_VM | CLONE_VFORK` child. Returns once the
/// program has been exec'd, or with why not.
pub(crate) fn spawn(exec: &Exec, setup: &Setup<'_>) -> Result<Spawned, SpawnError> {
    let candidates: Vec<*const libc::c_char> = exec.candidates.iter().map(|c| c.as_ptr()).collect();
    let argv = null_terminated(&exec.argv);
    let envp = null_terminated(&exec.envp);
    let mut script_argv: Vec<*const libc::c_char> = [BSHELL.as_ptr(), std::ptr::null()]
        .into_iter()
        .chain(exec.argv.iter().skip(1).map(|a| a.as_ptr()))
        .chain([std::ptr::null()])
        .collect();
    let targets: Vec<RawFd> = setup.fds.iter().map(|&(_, target)| target).collect();
    let moves: Vec<FdMove> = setup
        .fds
        .iter()
        .map(|&(source, target)| FdMove {
            source: AtomicI32::new(source),
            target,
            in_the_way: source != target && (source < 3 || targets.contains(&source)),
        })
        .collect();
    let context = Context {
        exec,
        setup,
        candidates: &candidates,
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        script_argv: script_argv.as_mut_ptr(),
        moves: &moves,
        report: AtomicI32::new(NOT_REACHED),
    };
    let stack = Stack::new().map_err(SpawnError::Parent)?;
    let pid = clone_child(&context, &stack).map_err(SpawnError::Parent)?;
    drop(stack);
    // The child has exec'd or exited (CLONE_VFORK): its report is final.
    match context.report.load(Ordering::SeqCst) {
        0 => Ok(Spawned { pid }),
        failed => {
            reap(pid);
            let error = match failed {
                NOT_REACHED => io::Error::other("the child died before it could exec"),
                errno => io::Error::from_raw_os_error(errno),
            };
            Err(SpawnError::Child(error))
        }
    }
}

/// Pointers to `strings` and a null.
fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain([std::ptr::null()])
        .collect()
}

/// Clones the child on `stack` with every signal blocked in this thread meanwhile;
/// returns its pid.
fn clone_child(context: &Context<'_>, stack: &Stack) -> io::Result<libc::pid_t> {
    let _blocked = BlockAll::new()?;
    let arg = std::ptr::from_ref(context)
        .cast_mut()
        .cast::<libc::c_void>();
    // SAFETY: the child runs `child` on `stack` (ours, mapped, its top 16-byte aligned)
    // and ends in `execve` or `_exit`: it never returns into this frame. While it shares
    // our memory, this thread waits (CLONE_VFORK) and `context`, which it reads, lives in
    // this frame; it makes raw system calls only (no allocation, no lock, no TLS but
    // errno), with every signal blocked until it has reset their dispositions (see
    // `child`). No parent-tid, TLS or child-tid argument: none of the flags that read them.
    let pid = unsafe {
        libc::clone(
            child,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            arg,
        )
    };
    if pid == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// Reaps a child that failed to exec (it has exited already).
fn reap(pid: libc::pid_t) {
    let pid = nix::unistd::Pid::from_raw(pid);
    while nix::sys::wait::waitpid(pid, None) == Err(nix::errno::Errno::EINTR) {}
}

/// The child: set up, `exec`, or report why not and `_exit(127)`. Runs on its own
/// stack in our memory with every signal blocked; makes raw system calls only.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Context` that `clone_child` passed, alive in the suspended
    // parent's frame until this process execs or exits.
    let context = unsafe { &*arg.cast::<Context<'_>>() };
    let errno = match set_up(context) {
        Ok(()) => {
            context.report.store(0, Ordering::SeqCst);
            exec(context)
        }
        Err(errno) => errno,
    };
    context.report.store(errno, Ordering::SeqCst);
    // SAFETY: _exit(2) ends this process at once, running nothing of the parent's.
    unsafe { libc::_exit(127) }
}

/// Everything before `exec`, in order: signal dispositions, fds, placement, working
/// directory, signal mask. The errno of the step that failed.
fn set_up(context: &Context<'_>) -> Result<(), i32> {
    let setup = context.setup;
    crate::sys::child_setup::reset_dispositions();
    if setup.ignore_sighup {
        ignore(libc::SIGHUP)?;
    }
    mark_fds_cloexec_above_stdio();
    place_fds(context.moves)?;
    place(setup.placement)?;
    if let Some(dir) = &context.exec.cwd {
        // SAFETY: chdir(2) reads a NUL-terminated string that the parent keeps alive.
        check(unsafe { libc::chdir(dir.as_ptr()) })?;
    }
    unblock_all();
    Ok(())
}

/// Tries each candidate as glibc's `execvp` does; returns only on failure, with the errno
/// it reports.
fn exec(context: &Context<'_>) -> i32 {
    if context.candidates.is_empty() {
        return libc::ENOENT;
    }
    let mut denied = false;
    let mut last = libc::ENOENT;
    for &path in context.candidates {
        // SAFETY: execve(2) reads NUL-terminated strings and null-terminated arrays of them
        // that the parent built and keeps alive; it returns only on failure.
        unsafe { libc::execve(path, context.argv, context.envp) };
        let mut errno = last_errno();
        if errno == libc::ENOEXEC {
            // SAFETY: `script_argv` was made with room for this slot (index 1) and only
            // this process writes it, while the parent waits; execve as above.
            unsafe {
                context.script_argv.add(1).write(path);
                libc::execve(BSHELL.as_ptr(), context.script_argv, context.envp);
            }
            errno = last_errno();
        }
        match errno {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT => {}
            // The file is there but could not be run: that is the answer.
            other => return other,
        }
        last = errno;
    }
    if denied { libc::EACCES } else { last }
}

/// Ignores `signal` (the disposition survives `exec`).
fn ignore(signal: libc::c_int) -> Result<(), i32> {
    // The kernel's struct sigaction starts with the handler on Linux; the rest zero is no
    // flags and an empty mask. The buffer is larger than the struct on every architecture.
    let action: [u64; 8] = [libc::SIG_IGN as u64, 0, 0, 0, 0, 0, 0, 0];
    // SAFETY: as in `child_setup::reset_dispositions`: a local outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            action.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    check(rc as libc::c_int)
}

/// Marks every fd above 2 close-on-exec, so the program keeps only what is placed.
fn mark_fds_cloexec_above_stdio() {
    let cloexec = libc::CLOSE_RANGE_CLOEXEC as libc::c_int;
    // SAFETY: close_range(2) takes no pointers.
    if unsafe { libc::close_range(3, libc::c_uint::MAX, cloexec) } == 0 {
        return;
    }
    // Kernels before 5.11: one by one, up to the fd limit.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a pointer to a local; fcntl(F_SETFD)
    // takes no pointers.
    unsafe {
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

/// Puts each source fd on its target number, without close-on-exec. A source that sits
/// on a number some other pair targets (or on 0, 1, 2) is first moved to the lowest free
/// number from 3 up: every target above 2 is open when this runs (the fd itself or a
/// reservation), so the copy never lands on one, and no `dup2` can overwrite a source
/// still to be placed.
fn place_fds(moves: &[FdMove]) -> Result<(), i32> {
    for fd in moves.iter().filter(|fd| fd.in_the_way) {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers.
        let copy =
            unsafe { libc::fcntl(fd.source.load(Ordering::Relaxed), libc::F_DUPFD_CLOEXEC, 3) };
        check(copy)?;
        fd.source.store(copy, Ordering::Relaxed);
    }
    for fd in moves {
        let source = fd.source.load(Ordering::Relaxed);
        if source == fd.target {
            // dup2 onto itself would keep close-on-exec.
            // SAFETY: fcntl(F_SETFD) takes no pointers.
            check(unsafe { libc::fcntl(fd.target, libc::F_SETFD, 0) })?;
        } else {
            // SAFETY: dup2(2) takes no pointers.
            check(unsafe { libc::dup2(source, fd.target) })?;
        }
    }
    Ok(())
}

/// A new process group, or a new session whose controlling terminal is fd 0.
fn place(placement: Placement) -> Result<(), i32> {
    // SAFETY: setpgid, setsid and ioctl(TIOCSCTTY) take no pointers.
    unsafe {
        match placement {
            Placement::ProcessGroup => check(libc::setpgid(0, 0)),
            Placement::TerminalOnStdin => {
                check(libc::setsid())?;
                check(libc::ioctl(0, libc::TIOCSCTTY as _, 0))
            }
            Placement::Terminal(terminal) => {
                check(libc::setsid())?;
                check(libc::ioctl(terminal, libc::TIOCSCTTY as _, 0))
            }
        }
    }
}

/// Clears the signal mask (the program starts with none blocked).
fn unblock_all() {
    let empty = 0u64;
    // SAFETY: rt_sigprocmask reads one 8-byte mask from a local; the old one is not kept.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
    }
}

/// `Err(errno)` when a system call returned -1.
fn check(rc: libc::c_int) -> Result<(), i32> {
    match rc {
        -1 => Err(last_errno()),
        _ => Ok(()),
    }
}

fn last_errno() -> i32 {
    // SAFETY: errno is this thread's; reading it is always allowed.
    unsafe { *libc::__errno_location() }
}

/// Every signal blocked in the calling thread (through the raw system call, so glibc's
/// own two are too) until dropped, which restores the previous mask.
struct BlockAll {
    previous: u64,
}

impl BlockAll {
    fn new() -> io::Result<Self> {
        let all = u64::MAX;
        let mut previous = 0u64;
        // SAFETY: rt_sigprocmask reads and writes one 8-byte mask through pointers to
        // locals.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_BLOCK,
                &all as *const u64,
                &mut previous as *mut u64,
                8usize,
            )
        };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(BlockAll { previous })
    }
}

impl Drop for BlockAll {
    fn drop(&mut self) {
        // SAFETY: as in `new`; the previous mask is read from `self`.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &self.previous as *const u64,
                std::ptr::null_mut::<u64>(),
                8usize,
            );
        }
    }
}

/// The child's stack: an anonymous mapping whose lowest page is inaccessible.
struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    fn new() -> io::Result<Self> {
        // SAFETY: an anonymous private mapping at an address the kernel picks; no existing
        // memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                GUARD_SIZE + STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base };
        // SAFETY: the guard page is the first page of the mapping just made.
        if unsafe { libc::mprotect(base, GUARD_SIZE, libc::PROT_NONE) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The highest address (the stack grows down), page-aligned.
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, which is GUARD_SIZE + STACK_SIZE long.
        unsafe { self.base.cast::<u8>().add(GUARD_SIZE + STACK_SIZE).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no longer used (the child has exec'd or exited).
        unsafe { libc::munmap(self.base, GUARD_SIZE + STACK_SIZE) };
    }
}
