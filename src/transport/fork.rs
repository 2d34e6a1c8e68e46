//! Talking to yourself: fork a child that runs a Rust closure, and drive it with the
//! expect engine (perlipc, "Bidirectional Communication with Yourself").
//!
//! - [`socketpair_child`] gives the closure its end of a `socketpair(2)` as a
//!   [`UnixStream`]; the parent gets a [`ForkSession`] over the other end.
//! - [`pty_child`] runs the closure with a new pseudo-terminal as its controlling terminal
//!   and its stdin, stdout and stderr: `std::io::stdin()` in the closure reads what the
//!   parent sends, and `println!` reaches the parent's `expect`. The parent gets an ordinary
//!   [`PtySession`].
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use ptychat::{ExitStatus, fork};
//!
//! let mut child = fork::socketpair_child(|stream| {
//!     let mut out = &stream;
//!     for line in BufReader::new(&stream).lines() {
//!         writeln!(out, "{}", line.unwrap().to_uppercase()).unwrap();
//!     }
//!     0
//! })?;
//! child.send_line("hello")?;
//! child.expect("HELLO\n")?;
//! child.close_input()?; // the child's loop sees end of file
//! assert_eq!(child.wait()?, ExitStatus::Exited(0));
//! # Ok::<(), ptychat::Error>(())
//! ```
//!
//! (These examples run as documentation tests because rustdoc runs each one as the `main`
//! of a process of its own, with one thread. Put in a `#[test]` function, they would fail:
//! libtest runs each test on a thread of its own, and a multi-threaded process cannot fork
//! safely, as explained next. See also `examples/fork_echo.rs`.)
//!
//! # When forking without `exec` is sound
//!
//! After `fork(2)` the child is a copy of the parent's memory with a single thread, the one
//! that called `fork`. A lock that another thread held at that moment stays held in the
//! child forever, and data another thread was half-way through changing stays half-changed.
//! That is why, in the child of a multi-threaded process, POSIX allows only
//! async-signal-safe functions until `exec`: memory allocation (glibc's malloc is made
//! fork-safe by glibc, other allocators may not be), std's stdout, stderr and stdin locks,
//! the environment lock, statics behind a `Mutex`, `OnceLock` or `LazyLock`, the dynamic
//! loader's lock — any of them may be held by a thread that does not exist in the child,
//! and the first `println!`, `format!` or `env::var` deadlocks or corrupts memory. A Rust
//! closure does such things all the time.
//!
//! In a **single-threaded** process none of this can happen: no other thread exists to hold
//! a lock or to be in the middle of anything, so the child is a consistent copy and the
//! closure can do whatever the parent could. So [`socketpair_child`] and [`pty_child`] check
//! that the process has exactly one thread (by counting `/proc/self/task`) and fail with
//! [`Error::InvalidArgument`] otherwise, also when the count cannot be read. The check
//! cannot race: only the calling thread could start another one. Fork early, before
//! starting threads (note that `cargo test` runs tests on several threads: fork in a test
//! binary with `harness = false`).
//!
//! [`socketpair_child_unchecked`] and [`pty_child_unchecked`] skip the check, for callers
//! who accept the contract spelled out on them: either the process is known to be
//! single-threaded, or the closure is async-signal-safe.
//!
//! # The child
//!
//! - It runs the closure and exits with its return value (only the low 8 bits reach the
//!   parent's [`ExitStatus`]); a panic is caught (it never unwinds into the code that
//!   forked) and the exit code is 101. The child ends with `_exit(2)`: no atexit handlers,
//!   no destructors of the values copied from the parent (its sessions' children are not
//!   touched), no second flush of C stdio buffers. std's stdout buffer is flushed before
//!   forking (so our pending output is not printed twice) and, in the child, before
//!   `_exit` (so a `print!` without a newline is not lost). With `panic = "abort"`, a panic
//!   aborts the child (SIGABRT).
//! - The closure need not be `Send` or `'static`: it runs on a copy of the parent's memory,
//!   so it can borrow the parent's locals (changes it makes are not seen by the parent).
//! - It is placed in a process group of its own ([`socketpair_child`]), or in a new session
//!   whose controlling terminal is the pty ([`pty_child`]), before the closure runs; the
//!   parent's call returns after that, so the session's process control (and the reaping on
//!   drop, which signals the child's process group) applies from the start.
//! - It inherits signal dispositions and the signal mask, except that the handlers of the
//!   parent's [`SignalPipe`](crate::SignalPipe)s are replaced by what they replaced: the
//!   child never writes into the parent's signal pipes.
//! - It inherits copies of **all** the parent's fds, not just its channel: close-on-exec
//!   only takes effect at `exec`. A forked child holding, say, the write end of another
//!   session's pipe keeps that program from seeing end of input until it exits. Its copy of
//!   the parent's end of its own channel is closed. Open files share their offsets with the
//!   parent. If the parent read from `std::io::stdin()`, input it buffered but did not
//!   consume is also in the child's buffer.
//!
//! Dropping the session closes the parent's end (the child reads end of file), then ends
//! the child if it is still running (SIGHUP, then SIGTERM, then SIGKILL, to its process
//! group) and reaps it: no zombie is left.
//!
//! [`Error::InvalidArgument`]: crate::Error::InvalidArgument
//! [`ExitStatus`]: crate::ExitStatus

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use crate::engine::session::Session;
use crate::error::{Context, Error, Result};
use crate::process::Child;
use crate::sys::child_setup::Placement;
use crate::sys::fork::{Trust, fork};
use crate::transport::WithChild;
use crate::transport::pty::{PtyConfig, PtyMaster, PtySession};
use crate::transport::stream::FdStream;

/// A session with a forked child over a socketpair; see [`socketpair_child`].
pub type ForkSession = Session<Forked>;

/// The transport of a [`ForkSession`]: the parent's end of the socketpair, as a
/// [`FdStream`](crate::FdStream), and the child.
///
/// Writes use `MSG_NOSIGNAL` (a child that closed its end is `EPIPE`, not SIGPIPE), and
/// [`close_input`](Session::close_input) shuts down the writing half: the child reads end
/// of file while its output stays readable.
///
/// Dropping it closes the socket (the child reads end of file), then ends and reaps the
/// child.
pub type Forked = WithChild<FdStream<UnixStream>>;

impl Forked {
    /// The parent's end of the socketpair (non-blocking).
    pub fn socket(&self) -> &UnixStream {
        self.get_ref().get_ref()
    }
}

/// Forks a child that runs `f` with its end of a new socketpair (a blocking [`UnixStream`])
/// and exits with `f`'s return value (101 if it panics); returns a session over the other
/// end. [`send_line`](Session::send_line) appends `"\n"`. See the [module](self)
/// documentation for what the child inherits.
///
/// Fails with [`Error::InvalidArgument`](crate::Error::InvalidArgument) if the process has
/// more than one thread (or the count cannot be read): see [When forking without `exec` is
/// sound](self#when-forking-without-exec-is-sound) and [`socketpair_child_unchecked`].
///
/// ```
/// use std::io::Write;
/// use ptychat::{ExitStatus, Pattern, fork};
///
/// let mut child = fork::socketpair_child(|mut stream| {
///     writeln!(stream, "child {} here", std::process::id()).unwrap();
///     7
/// })?;
/// let pid = child.pid();
/// child.expect(format!("child {pid} here\n").as_str())?;
/// child.expect(Pattern::eof())?;
/// assert_eq!(child.wait()?, ExitStatus::Exited(7));
/// # Ok::<(), ptychat::Error>(())
/// ```
pub fn socketpair_child<F>(f: F) -> Result<ForkSession>
where
    F: FnOnce(UnixStream) -> i32,
{
    socketpair_child_with(verified()?, f)
}

/// Forks a child that runs `f` on a new pseudo-terminal (24 x 80, echo on, as for
/// [`Command`](crate::Command)) and exits with `f`'s return value (101 if it panics);
/// returns an ordinary [`PtySession`] on it. The child leads a new session whose
/// controlling terminal is the pty, which is also its stdin, stdout and stderr.
/// [`send_line`](Session::send_line) appends `"\r"`, the Enter key. See the
/// [module](self) documentation for what the child inherits.
///
/// Fails with [`Error::InvalidArgument`](crate::Error::InvalidArgument) if the process has
/// more than one thread (or the count cannot be read): see [When forking without `exec` is
/// sound](self#when-forking-without-exec-is-sound) and [`pty_child_unchecked`].
///
/// ```
/// use std::io::BufRead;
/// use ptychat::{ExitStatus, Pattern, fork};
///
/// let mut child = fork::pty_child(|| {
///     println!("name?");
///     let mut name = String::new();
///     std::io::stdin().lock().read_line(&mut name).unwrap();
///     println!("hello, {}", name.trim());
///     0
/// })?;
/// child.expect("name?")?;
/// child.send_line("world")?;
/// child.expect("hello, world\r\n")?;
/// child.expect(Pattern::eof())?;
/// assert_eq!(child.wait()?, ExitStatus::Exited(0));
/// # Ok::<(), ptychat::Error>(())
/// ```
pub fn pty_child<F>(f: F) -> Result<PtySession>
where
    F: FnOnce() -> i32,
{
    pty_child_on(PtyConfig::default(), f)
}

/// [`pty_child`] on a pseudo-terminal of the given size and echo setting.
///
/// ```
/// use ptychat::{Pattern, PtyConfig, fork};
/// let config = PtyConfig { rows: 40, cols: 120, echo: false };
/// let mut child = fork::pty_child_on(config, || {
///     let size = std::process::Command::new("stty").arg("size").status().unwrap();
///     i32::from(!size.success())
/// })?;
/// child.expect("40 120")?;
/// assert!(!child.echo()?);
/// child.expect(Pattern::eof())?;
/// # Ok::<(), ptychat::Error>(())
/// ```
pub fn pty_child_on<F>(config: PtyConfig, f: F) -> Result<PtySession>
where
    F: FnOnce() -> i32,
{
    pty_child_with(verified()?, config, f)
}

/// Like [`socketpair_child`], without checking that the process is single-threaded.
///
/// # Safety
///
/// The same contract as [`pty_child_unchecked`].
#[allow(unsafe_code)] // An `unsafe fn` by design: the caller takes on the fork contract.
pub unsafe fn socketpair_child_unchecked<F>(f: F) -> Result<ForkSession>
where
    F: FnOnce(UnixStream) -> i32,
{
    // SAFETY: our caller accepts the contract.
    socketpair_child_with(unsafe { Trust::assumed() }, f)
}

/// Like [`pty_child`], without checking that the process is single-threaded.
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
#[allow(unsafe_code)] // An `unsafe fn` by design: the caller takes on the fork contract.
pub unsafe fn pty_child_unchecked<F>(f: F) -> Result<PtySession>
where
    F: FnOnce() -> i32,
{
    // SAFETY: our caller accepts the contract.
    pty_child_with(unsafe { Trust::assumed() }, PtyConfig::default(), f)
}

/// The proof that this process is single-threaded, or the error that explains the refusal.
fn verified() -> Result<Trust> {
    Trust::single_threaded().map_err(|threads| {
        let threads = match threads {
            Ok(n) => format!("{n} threads"),
            Err(e) => format!("an unknown number of threads (reading /proc/self/task: {e})"),
        };
        Error::InvalidArgument(format!(
            "forking a child that runs Rust code needs a single-threaded process, but this \
             one has {threads}; see the `ptychat::fork` module for the `_unchecked` \
             functions and their contract"
        ))
    })
}

/// [`socketpair_child`] with the given trust.
fn socketpair_child_with<F>(trust: Trust, f: F) -> Result<ForkSession>
where
    F: FnOnce(UnixStream) -> i32,
{
    let (ours, theirs) = UnixStream::pair().context("creating a socketpair")?;
    // `theirs` moves into the child's closure, which `fork` drops in the parent: our copy
    // of the child's end is closed by the time it returns.
    let pid = fork(trust, Placement::ProcessGroup, &[ours.as_fd()], move || {
        f(theirs)
    })
    .map_err(|e| Error::io(e.step, e.source))?;
    let child = Child::new(pid.as_raw() as u32);
    let transport = WithChild::new(FdStream::new(ours)?, child);
    Ok(Session::with_transport(transport, b"\n"))
}

/// [`pty_child`] with the given trust and pty.
fn pty_child_with<F>(trust: Trust, config: PtyConfig, f: F) -> Result<PtySession>
where
    F: FnOnce() -> i32,
{
    let (master, slave) = config.open()?;
    let placement = Placement::Terminal(std::os::fd::AsRawFd::as_raw_fd(&slave));
    let pid =
        fork(trust, placement, &[master.as_fd()], f).map_err(|e| Error::io(e.step, e.source))?;
    // Our copy of the slave must go, or we would never see the end of the child's output.
    drop(slave);
    let child = Child::new(pid.as_raw() as u32);
    let transport = WithChild::new(PtyMaster::new(master, None)?, child);
    Ok(Session::with_transport(transport, b"\r"))
}
