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

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{MsgFlags, Shutdown, send, shutdown};

use crate::command::PtySession;
use crate::error::{Context, Result};
use crate::process::{Child, ChildTransport};
use crate::pty::{Pty, open_pair};
use crate::session::Session;
use crate::sys::fork::{Check, Placement, fork};
use crate::transport::{Transport, input_closed, set_nonblocking};

pub use crate::sys::fork::{pty_child_unchecked, socketpair_child_unchecked};

/// A session with a forked child over a socketpair; see [`socketpair_child`].
pub type ForkSession = Session<Forked>;

/// The transport of a [`ForkSession`]: the parent's end of the socketpair and the child.
///
/// Writes use `MSG_NOSIGNAL` (a child that closed its end is `EPIPE`, not SIGPIPE), and
/// [`close_input`](Session::close_input) shuts down the writing half: the child reads end
/// of file while its output stays readable.
///
/// Dropping it closes the socket (the child reads end of file), then ends and reaps the
/// child.
#[derive(Debug)]
pub struct Forked {
    // Field order matters: the socket closes before the child is reaped.
    socket: UnixStream,
    input_closed: bool,
    child: Child,
}

impl Forked {
    /// The parent's end of the socketpair (non-blocking).
    pub fn socket(&self) -> &UnixStream {
        &self.socket
    }
}

impl Transport for Forked {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn write_fd(&self) -> Option<BorrowedFd<'_>> {
        (!self.input_closed).then(|| self.socket.as_fd())
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.input_closed {
            return Err(input_closed());
        }
        Ok(send(self.socket.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL)?)
    }

    /// Shuts down the writing half of the socket; the child reads end of file.
    fn close_input(&mut self) -> io::Result<()> {
        shutdown(self.socket.as_raw_fd(), Shutdown::Write)?;
        self.input_closed = true;
        Ok(())
    }
}

impl ChildTransport for Forked {
    fn child(&self) -> &Child {
        &self.child
    }

    fn child_mut(&mut self) -> &mut Child {
        &mut self.child
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
    socketpair_child_with(Check::SingleThreaded, f)
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
    pty_child_with(Check::SingleThreaded, f)
}

/// [`socketpair_child`] with the given check.
pub(crate) fn socketpair_child_with<F>(check: Check, f: F) -> Result<ForkSession>
where
    F: FnOnce(UnixStream) -> i32,
{
    let (ours, theirs) = UnixStream::pair().context("creating a socketpair")?;
    // `theirs` moves into the child's closure, which `fork` drops in the parent: our copy
    // of the child's end is closed by the time it returns.
    let pid = fork(check, Placement::ProcessGroup, &[ours.as_fd()], move || {
        f(theirs)
    })?;
    let child = Child::new(pid.as_raw() as u32);
    set_nonblocking(&ours).context("making the socket non-blocking")?;
    let transport = Forked {
        socket: ours,
        input_closed: false,
        child,
    };
    Ok(Session::with_transport(transport, b"\n"))
}

/// [`pty_child`] with the given check.
pub(crate) fn pty_child_with<F>(check: Check, f: F) -> Result<PtySession>
where
    F: FnOnce() -> i32,
{
    let (master, slave) = open_pair(24, 80, true).context("opening a pseudo-terminal")?;
    let pid = fork(
        check,
        Placement::Terminal(slave.as_fd()),
        &[master.as_fd()],
        f,
    )?;
    // Our copy of the slave must go, or we would never see the end of the child's output.
    drop(slave);
    let child = Child::new(pid.as_raw() as u32);
    set_nonblocking(&master).context("making the pty master non-blocking")?;
    Ok(Session::with_transport(Pty::new(master, child), b"\r"))
}
