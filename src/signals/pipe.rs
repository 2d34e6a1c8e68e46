//! Signals as bytes on a socketpair (the self-pipe trick, perlipc "Signals"): a signal
//! becomes something `poll(2)` can wait for together with a session's output.
//!
//! See [`SignalPipe`].

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;

use crate::deadline::{Deadline, wait};
use crate::error::{Context, Error, Result};
use crate::sys::fd::set_nonblocking;
use crate::sys::signals::{Registration, register, signal_bit};

/// Signals delivered as bytes on a socketpair, so that they can be waited for with
/// `poll(2)` next to other fds (the classic self-pipe trick).
///
/// [`SignalPipe::new`] installs a handler for each signal whose only work is to write the
/// signal number, as one byte, into the non-blocking, close-on-exec write end of a
/// socketpair. The read end is the pipe's fd ([`AsFd`]): poll it for `POLLIN`, then
/// [`drain`](SignalPipe::drain) it; or block in [`wait`](SignalPipe::wait).
///
/// ```
/// use std::time::Duration;
/// use ptychat::{Signal, SignalPipe};
///
/// let mut signals = SignalPipe::new(&[Signal::SIGUSR1])?;
/// nix::sys::signal::raise(Signal::SIGUSR1).unwrap();
/// assert_eq!(signals.wait(Some(Duration::from_secs(5)))?, Some(Signal::SIGUSR1));
/// assert_eq!(signals.drain()?, []);
/// drop(signals); // SIGUSR1 does what it did before (here: terminate the process)
/// # Ok::<(), ptychat::Error>(())
/// ```
///
/// # Semantics
///
/// - **Coalesced, not counted.** A byte means "this signal arrived at least once since you
///   last took its byte". While a signal's byte is unread, further deliveries of it write
///   nothing, so a burst of SIGCHLDs is one byte, and at most one byte per signal is ever
///   in the socketpair: it cannot fill up, and no signal is ever lost to a full buffer. The
///   kernel already merges a standard signal that arrives while the same one is pending,
///   so counts were never reliable anyway. Treat each signal as "go and look": after
///   SIGCHLD, reap with `try_wait` until nothing is left; after SIGWINCH, read the size.
///   A signal that arrives after its byte was read (even before `drain` returns) writes a
///   new byte, so no delivery goes unnoticed.
/// - **In order.** Bytes are read in the order the signals first arrived since their
///   bytes were last taken.
/// - **Replaces the previous handler while it lives.** The previous handler is not
///   called; a signal whose default action is to terminate the process no longer does.
///   Dropping the last `SignalPipe` for a signal restores the disposition it had before the
///   first one, exactly (handler, flags and mask). Pipes are expected to be dropped in
///   reverse order of other code that changes the same signal's disposition; do not pipe a
///   signal that other code in the process handles (such as SIGALRM while code that
///   relies on its own SIGALRM handler runs).
/// - **Several pipes coexist.** Each gets its own byte for each signal it asked for. At
///   most 64 pipes can be alive at once.
/// - **`SA_RESTART`.** The handler is installed with `SA_RESTART`, so other code blocked in
///   a restartable system call (`read`, `write`, `waitpid`...) does not fail with `EINTR`
///   because of a signal it did not ask for. `poll`, `select`, `epoll_wait` and sleeps are
///   never restarted by the kernel, but that does not matter here: the pipe's fd becomes
///   readable, which wakes any `poll` that includes it. `SA_NOCLDSTOP` is not set: SIGCHLD
///   also comes when a child stops or continues.
/// - **Handler work.** Atomic loads and read-modify-writes on a fixed table, one
///   `send(MSG_DONTWAIT | MSG_NOSIGNAL)` per pipe, and `getpid`; `errno` is saved and
///   restored. No locks, no allocation.
/// - **Fork.** A forked child does not write into its parent's pipes. The child of
///   [`fork`](crate::fork) functions gets back the dispositions the signals had before the
///   parent's pipes; a child forked some other way gets them back when it creates a
///   `SignalPipe` of its own, and until then the handler does nothing in it. Handlers do
///   not survive `exec`.
/// - **Threads.** Signals sent to the process go to any thread that does not block them;
///   the byte is written whichever thread runs the handler. A signal blocked in every
///   thread is not delivered, and so writes nothing, until it is unblocked.
pub struct SignalPipe {
    // Field order matters: the registration is dropped (and the handler has stopped using
    // the write end) before the socketpair closes.
    registration: Registration,
    read: UnixStream,
    _write: UnixStream,
    signals: Vec<Signal>,
}

impl fmt::Debug for SignalPipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalPipe")
            .field("fd", &self.read.as_raw_fd())
            .field("signals", &self.signals)
            .finish()
    }
}

impl SignalPipe {
    /// Starts delivering `signals` to a new pipe. Duplicates are ignored.
    ///
    /// Fails with [`Error::InvalidArgument`] for an empty list, for SIGKILL and SIGSTOP
    /// (which cannot be caught), and for SIGSEGV, SIGBUS, SIGILL and SIGFPE (faults: a
    /// handler that returns makes the faulting instruction run again, forever); with
    /// [`Error::Io`] when 64 pipes already exist or a system call fails.
    ///
    /// ```
    /// use ptychat::{Error, Signal, SignalPipe};
    /// assert!(matches!(SignalPipe::new(&[]), Err(Error::InvalidArgument(_))));
    /// assert!(matches!(SignalPipe::new(&[Signal::SIGKILL]), Err(Error::InvalidArgument(_))));
    /// ```
    pub fn new(signals: &[Signal]) -> Result<SignalPipe> {
        if signals.is_empty() {
            return Err(Error::InvalidArgument(
                "a signal pipe needs at least one signal".into(),
            ));
        }
        let mut unique: Vec<Signal> = Vec::with_capacity(signals.len());
        let mut mask = 0;
        for &signal in signals {
            if matches!(
                signal,
                Signal::SIGKILL
                    | Signal::SIGSTOP
                    | Signal::SIGSEGV
                    | Signal::SIGBUS
                    | Signal::SIGILL
                    | Signal::SIGFPE
            ) {
                return Err(Error::InvalidArgument(format!(
                    "{signal} cannot be delivered through a signal pipe"
                )));
            }
            if !unique.contains(&signal) {
                unique.push(signal);
                mask |= signal_bit(signal as i32);
            }
        }
        let (read, write) = UnixStream::pair().context("creating a socketpair")?;
        set_nonblocking(&read).context("making the signal pipe non-blocking")?;
        set_nonblocking(&write).context("making the signal pipe non-blocking")?;
        let registration =
            register(write.as_raw_fd(), mask).context("installing signal handlers")?;
        Ok(SignalPipe {
            registration,
            read,
            _write: write,
            signals: unique,
        })
    }

    /// The signals this pipe receives.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Takes every signal received since the last `drain` (or `wait`), without waiting,
    /// in the order they arrived; each signal at most once (see
    /// [Semantics](SignalPipe#semantics)). Empty if none arrived.
    ///
    /// ```
    /// use ptychat::{Signal, SignalPipe};
    /// let mut signals = SignalPipe::new(&[Signal::SIGWINCH, Signal::SIGURG])?;
    /// for signal in [Signal::SIGURG, Signal::SIGWINCH, Signal::SIGURG] {
    ///     nix::sys::signal::raise(signal).unwrap();
    /// }
    /// assert_eq!(signals.drain()?, [Signal::SIGURG, Signal::SIGWINCH]);
    /// assert_eq!(signals.drain()?, []);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn drain(&mut self) -> Result<Vec<Signal>> {
        let mut received = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(0) => return Ok(received),
                Ok(n) => {
                    received.extend(buf[..n].iter().filter_map(|&byte| self.take(byte)));
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(received),
                Err(e) => return Err(e).context("reading the signal pipe"),
            }
        }
    }

    /// Waits up to `timeout` (`None`: forever) for a signal and takes it; `None` if the
    /// deadline passed first. Signals already received are returned at once, first come
    /// first served; the others stay for the next call.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Signal, SignalPipe};
    /// let mut signals = SignalPipe::new(&[Signal::SIGWINCH])?;
    /// assert_eq!(signals.wait(Some(Duration::from_millis(10)))?, None);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<Signal>> {
        let deadline = Deadline::after(timeout);
        loop {
            let mut byte = [0u8; 1];
            match nix::unistd::read(&self.read, &mut byte) {
                Ok(1) => {
                    if let Some(signal) = self.take(byte[0]) {
                        return Ok(Some(signal));
                    }
                    continue;
                }
                // The write end is ours and open, so there is no end of file.
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {}
                Err(e) => return Err(e).context("reading the signal pipe"),
            }
            let mut fds = [PollFd::new(self.read.as_fd(), PollFlags::POLLIN)];
            if wait(&mut fds, &deadline)
                .context("waiting for a signal")?
                .is_none()
            {
                return Ok(None);
            }
        }
    }

    /// Acknowledges a byte read from the socketpair and names its signal.
    fn take(&self, byte: u8) -> Option<Signal> {
        self.registration.acknowledge(i32::from(byte));
        Signal::try_from(i32::from(byte)).ok()
    }
}

impl AsFd for SignalPipe {
    /// The read end of the socketpair: readable while a signal is waiting to be taken.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

impl AsRawFd for SignalPipe {
    fn as_raw_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }
}
