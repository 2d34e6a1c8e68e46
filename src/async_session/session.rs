//! [`AsyncSession`]: a [`Session`] driven from async code, its waits on the tokio
//! reactor instead of `poll(2)`.

use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::{Pin, pin};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::termios::SpecialCharacterIndices;
use tokio::time::Sleep;

use crate::async_session::fds::{Registrations, Want, timer};
use crate::deadline::{Backoff, Deadline};
use crate::engine::background::Combined;
use crate::engine::matched::Match;
use crate::engine::output::Stream;
use crate::engine::pattern::{Pattern, Patterns};
use crate::engine::session::{Ended, Session, control_byte, send_timed_out};
use crate::engine::transport::{Transport, input_closed};
use crate::error::{Context, Error, Result};
use crate::process::{EXIT_CHECK_MAX_PAUSE, ExitStatus};
use crate::transport::ChildTransport;
use crate::transport::pty::Pty;

/// The context of an error registering an fd with the reactor.
const REGISTERING: &str = "registering the session's fds with the tokio runtime";

/// A [`Session`] for async code: `expect`, `send`, `wait` and the rest as futures that
/// wait on the tokio runtime's fd readiness (epoll) — no thread per session, no polling
/// loop. The matcher, the buffers, the patterns and the errors are the blocking
/// session's own: an `AsyncSession` is a `Session` plus the registrations of its fds
/// with the runtime.
///
/// ```
/// use ptychat::{Command, Pattern};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ptychat::Result<()> {
/// let mut bc = Command::new("bc").arg("-q").env("TERM", "dumb").spawn()?.into_async();
/// bc.send_line("6 * 7").await?;
/// let m = bc.expect(Pattern::regex(r"(?m)^(\d+)\r$")?).await?;
/// assert_eq!(m.group(1), Some(&b"42"[..]));
/// bc.send_line("quit").await?;
/// bc.expect(Pattern::eof()).await?;
/// assert_eq!(bc.wait().await?.code(), Some(0));
/// # Ok(())
/// # }
/// ```
///
/// # The runtime
///
/// Any tokio runtime, current-thread or multi-thread, with IO and time enabled
/// (`enable_all`, as `#[tokio::main]` and `#[tokio::test]` do). The futures are `Send`
/// when the transport is (every transport of this crate is), so they can be spawned.
/// The fds are registered on first use, so an `AsyncSession` can be made outside the
/// runtime.
///
/// # Cancellation
///
/// Dropping an `expect` future (a `select!` branch that lost, a `timeout` around it)
/// loses no output and leaves the session usable: everything read is in the session's
/// buffer the moment it is read, never in the future, and the next `expect` starts from
/// that buffer. `wait` can be dropped the same way. A dropped `send` may have written part
/// of its bytes (as `tokio::io::AsyncWriteExt::write_all`); transcripts see only sends
/// that completed.
///
/// # What blocks
///
/// The blocking session's calls stay reachable through [`Deref`] (`&self` calls such as
/// `buffer()`, `is_eof()`, `pid()`) and [`get_mut`](AsyncSession::get_mut); those that
/// wait (`expect`, `wait`, `is_alive` once the output has ended) block the runtime's
/// thread there. Dropping a session whose child still runs ends and reaps it, waiting up
/// to about a second: [`wait`](AsyncSession::wait) or
/// [`terminate`](AsyncSession::terminate) first.
pub struct AsyncSession<T: Transport> {
    // Field order matters: the registrations leave the reactor before the fds close.
    regs: Registrations,
    /// Set when a read stopped before its fd would block (a full buffer under
    /// `BufferFull::Error`) after the fd's readiness was cleared: read before waiting.
    stranded: bool,
    session: Session<T>,
}

impl<T: Transport + std::fmt::Debug> std::fmt::Debug for AsyncSession<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSession")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Session<T> {
    /// This session for async code (feature `tokio`): see [`AsyncSession`].
    pub fn into_async(self) -> AsyncSession<T> {
        AsyncSession::new(self)
    }
}

impl<T: Transport> From<Session<T>> for AsyncSession<T> {
    fn from(session: Session<T>) -> Self {
        AsyncSession::new(session)
    }
}

/// The session's `&self` calls: `buffer()`, `is_eof()`, `timeout()`, `pid()`...
impl<T: Transport> Deref for AsyncSession<T> {
    type Target = Session<T>;

    fn deref(&self) -> &Session<T> {
        &self.session
    }
}

impl<T: Transport> AsyncSession<T> {
    /// Wraps a session; no runtime is needed until the first wait.
    pub fn new(session: Session<T>) -> Self {
        AsyncSession {
            regs: Registrations::default(),
            stranded: false,
            session,
        }
    }

    /// The session.
    pub fn get_ref(&self) -> &Session<T> {
        &self.session
    }

    /// The session, mutably, for its settings and its other calls (`expect_before`,
    /// `set_max_buffer`, `watch_signals`, a pty's `set_window_size`...). Its fds leave the
    /// runtime's reactor first, since such a call may close or replace one (they are
    /// registered again at the next wait); its waiting calls block the thread.
    pub fn get_mut(&mut self) -> &mut Session<T> {
        self.regs.clear();
        self.stranded = true;
        &mut self.session
    }

    /// The blocking session back; its fds leave the runtime's reactor.
    pub fn into_inner(mut self) -> Session<T> {
        self.regs.clear();
        let AsyncSession { session, .. } = self;
        session
    }

    /// Sets the default deadline of `expect` and `send` calls; `None` waits forever.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.session.set_timeout(timeout);
    }

    /// Removes and returns the unmatched output.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        self.session.take_buffer()
    }

    /// Reads whatever output is available now, without waiting; how many bytes were
    /// added to the buffer.
    pub fn read_available(&mut self) -> Result<usize> {
        self.session.read_available()
    }

    /// The same session over its transport boxed as `dyn Transport`, so that sessions
    /// of different transports have one type (for
    /// [`expect_any`](AsyncSession::expect_any)); see [`Session::boxed`].
    pub fn boxed(self) -> AsyncSession<Box<dyn Transport + Send>>
    where
        T: Send + 'static,
    {
        AsyncSession::new(self.into_inner().boxed())
    }

    /// Waits for `patterns` with the session's deadline; see
    /// [`expect_timeout`](AsyncSession::expect_timeout).
    pub async fn expect<'a>(&mut self, patterns: impl Into<Patterns<'a>>) -> Result<Match> {
        let deadline = Deadline::after(self.session.timeout());
        self.expect_on(Stream::Main, patterns.into(), deadline)
            .await
    }

    /// Waits until one of `patterns` matches the output, the output ends, or `timeout`
    /// passes (`None`: no limit), as [`Session::expect_timeout`] does: the same rule for
    /// choosing among matches, the same `eof`/`timeout` patterns, the same errors.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Command, Pattern};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ptychat::Result<()> {
    /// let mut sh = Command::shell("echo ready; sleep 30").spawn()?.into_async();
    /// assert_eq!(sh.expect(["ready".into(), Pattern::eof()]).await?.index(), 0);
    /// let err = sh.expect_timeout("never", Some(Duration::from_millis(50))).await.unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn expect_timeout<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
        timeout: Option<Duration>,
    ) -> Result<Match> {
        self.expect_on(Stream::Main, patterns.into(), Deadline::after(timeout))
            .await
    }

    /// Like [`expect_timeout`](AsyncSession::expect_timeout), with the deadline as an
    /// instant: for several calls that share one limit.
    pub async fn expect_deadline<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
        deadline: Instant,
    ) -> Result<Match> {
        self.expect_on(Stream::Main, patterns.into(), Deadline::at(deadline))
            .await
    }

    /// Waits for `patterns` on the program's separate stderr (open3 sessions) until
    /// `timeout` (`None`: no limit); see [`Session::stderr`]. Both outputs are drained
    /// while it waits.
    ///
    /// ```
    /// use ptychat::{Command, StderrMode};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ptychat::Result<()> {
    /// let mut s = Command::shell("echo out; echo err >&2")
    ///     .spawn_piped(StderrMode::Separate)?
    ///     .into_async();
    /// s.expect_stderr_timeout("err\n", None).await?;
    /// s.expect("out\n").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn expect_stderr_timeout<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
        timeout: Option<Duration>,
    ) -> Result<Match> {
        self.expect_on(Stream::Stderr, patterns.into(), Deadline::after(timeout))
            .await
    }

    /// Returns the unmatched output, waiting up to `timeout` (`None`: no limit) for some
    /// if none is buffered; empty once the output has ended. See [`Session::read_some`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ptychat::Result<()> {
    /// let mut s = ptychat::Command::new("echo").arg("streamed").spawn()?.into_async();
    /// let mut all = Vec::new();
    /// loop {
    ///     let chunk = s.read_some(None).await?;
    ///     if chunk.is_empty() {
    ///         break;
    ///     }
    ///     all.extend(chunk);
    /// }
    /// assert_eq!(all, b"streamed\r\n");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_some(&mut self, timeout: Option<Duration>) -> Result<Vec<u8>> {
        let m = self
            .expect_timeout([Pattern::nbytes(1), Pattern::eof()], timeout)
            .await?;
        let mut bytes = m.into_matched();
        bytes.extend(self.session.take_buffer());
        Ok(bytes)
    }

    /// Sends bytes as they are, waiting (up to the session's deadline) while the program
    /// is not reading and reading its output meanwhile, as [`Session::send`] does.
    pub async fn send(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.write_all(data.as_ref(), false).await
    }

    /// Sends `line` and the session's [`line_ending`](Session::line_ending), in one write.
    pub async fn send_line(&mut self, line: impl AsRef<[u8]>) -> Result<()> {
        let mut bytes = line.as_ref().to_vec();
        bytes.extend_from_slice(self.session.line_ending());
        self.write_all(&bytes, false).await
    }

    /// Sends bytes that transcripts and the trace see only by their length; see
    /// [`Session::send_secret`].
    pub async fn send_secret(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.write_all(data.as_ref(), true).await
    }

    /// Sends a control character as a keyboard does; see [`Session::send_control`].
    pub async fn send_control(&mut self, c: char) -> Result<()> {
        let byte = control_byte(c)
            .ok_or_else(|| Error::InvalidArgument(format!("no control character for {c:?}")))?;
        self.write_all(&[byte], false).await
    }

    /// Signals end of input to the program (closes its stdin pipe, shuts down a socket's
    /// writing half), as [`Session::close_input`] does; it does not wait.
    pub fn close_input(&mut self) -> Result<()> {
        // The input fd may close: it leaves the reactor first.
        self.regs.clear();
        self.session.close_input()
    }

    /// The expect driver: the engine's `check` and `ended`, reads of what is ready, and
    /// waits on the reactor in between.
    async fn expect_on(
        &mut self,
        stream: Stream,
        patterns: Patterns<'_>,
        deadline: Deadline,
    ) -> Result<Match> {
        let Patterns(patterns) = patterns;
        if patterns.is_empty() {
            return Err(Error::InvalidArgument(
                "expect needs at least one pattern".into(),
            ));
        }
        // The background patterns watch the main output only.
        let combined = match stream {
            Stream::Main => self.session.combined(&[], patterns, &[]),
            Stream::Stderr => Combined::new(&[], patterns, &[]),
        };
        let mut set = self.session.start_expect(stream, &combined, &deadline);
        let discarded = self.session.discarded_on(stream);
        let mut sleep = pin!(timer(&deadline));
        loop {
            if let Some(ended) = self.session.check(stream, &mut set, &deadline) {
                return self
                    .session
                    .ended(stream, &combined, &set, &deadline, discarded, ended);
            }
            // Read until the awaited output changes, waiting between reads.
            loop {
                let before = self.session.watch_state_of(stream);
                self.read()?;
                if self.session.watch_state_of(stream) != before {
                    break;
                }
                if deadline.has_passed() {
                    return self.session.ended(
                        stream,
                        &combined,
                        &set,
                        &deadline,
                        discarded,
                        Ended::DeadlinePassed,
                    );
                }
                self.wait_ready(None, sleep.as_mut()).await?;
            }
        }
    }

    /// Reads everything available on both outputs and collects signals, without waiting.
    pub(crate) fn read(&mut self) -> Result<usize> {
        let n = self.session.read_ready()?;
        // The main output stopped before it would block only if its buffer is full.
        self.stranded = self.session.watched_fds()[0].is_none() && !self.session.is_eof();
        Ok(n)
    }

    /// Reads now if an earlier read may have left bytes behind a cleared readiness.
    pub(crate) fn read_if_stranded(&mut self) -> Result<()> {
        if self.stranded {
            self.read()?;
        }
        Ok(())
    }

    /// Registers the fds a wait watches (the outputs and the signal pipe) and returns
    /// them after `extra`, which the caller has registered.
    fn register(&mut self, extra: Option<(RawFd, Want)>) -> Result<Vec<(RawFd, Want)>> {
        let mut wants: Vec<(RawFd, Want)> = extra.into_iter().collect();
        for fd in self.session.watched_fds().into_iter().flatten() {
            self.regs.add(fd).context(REGISTERING)?;
            wants.push((fd.as_raw_fd(), Want::Read));
        }
        Ok(wants)
    }

    /// Registers the outputs and the signal pipe of the session for a wait over many
    /// sessions.
    pub(crate) fn register_watched(&mut self) -> Result<()> {
        self.register(None).map(drop)
    }

    /// The registrations, for a wait over many sessions.
    pub(crate) fn registrations(&self) -> &Registrations {
        &self.regs
    }

    /// The session, for the engine calls of a wait over many sessions (none of them
    /// closes an fd).
    pub(crate) fn engine(&mut self) -> &mut Session<T> {
        &mut self.session
    }

    /// Waits until an output (or the signal pipe, or `extra`) is ready or `sleep` fires;
    /// true if `extra` was ready.
    async fn wait_ready(
        &mut self,
        extra: Option<(RawFd, Want)>,
        sleep: Pin<&mut Option<Sleep>>,
    ) -> Result<bool> {
        let wants = self.register(extra)?;
        self.regs
            .wait(&wants, sleep)
            .await
            .context("waiting for the program")
            .map(|first| extra.is_some() && first)
    }

    /// Writes all of `data`, waiting for the input to take it and reading the outputs
    /// meanwhile, until the session's deadline.
    async fn write_all(&mut self, data: &[u8], secret: bool) -> Result<()> {
        self.session.before_send(data)?;
        let deadline = Deadline::after(self.session.timeout());
        let mut sleep = pin!(timer(&deadline));
        let mut written = 0;
        while written < data.len() {
            match self.session.transport_mut().write(&data[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if deadline.has_passed() {
                        return Err(send_timed_out(&deadline, written, data.len()));
                    }
                    let Some(fd) = self.session.transport().write_fd() else {
                        return Err(Error::io("sending", input_closed()));
                    };
                    self.regs.add(fd).context(REGISTERING)?;
                    let fd = fd.as_raw_fd();
                    self.wait_ready(Some((fd, Want::Write)), sleep.as_mut())
                        .await?;
                    self.read()?;
                }
                Err(e) => return Err(Error::io("sending", e)),
            }
        }
        self.session.sent(data, secret);
        Ok(())
    }
}

impl<T: ChildTransport> AsyncSession<T> {
    /// Waits, with no limit, for the child to end, reading its output meanwhile (it
    /// stays in the buffer), as [`Session::wait`] does; on the child's pidfd.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        let status = self.wait_reading(Deadline::after(None)).await?;
        Ok(status.expect("a wait without a deadline ends with the exit status"))
    }

    /// Waits up to `timeout` (`None`: no limit) for the child to end, reading its output
    /// meanwhile; `Ok(None)` if it is still running then.
    pub async fn wait_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        self.wait_reading(Deadline::after(timeout)).await
    }

    /// Waits until `deadline` for the child to end, reading its output meanwhile;
    /// `Ok(None)` if it is still running then.
    pub async fn wait_deadline(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        self.wait_reading(Deadline::at(deadline)).await
    }

    /// Sends `signal` to the child.
    pub fn kill(&mut self, signal: Signal) -> Result<()> {
        self.session.kill(signal)
    }

    /// Ends the child politely, as [`Session::terminate`] does (SIGHUP with SIGCONT,
    /// SIGINT, SIGTERM, each followed by up to `grace` of waiting, then SIGKILL), waiting
    /// on the runtime and reading the output meanwhile.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Command, ExitStatus, Signal};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ptychat::Result<()> {
    /// let mut s = Command::new("sleep").arg("30").spawn()?.into_async();
    /// let status = s.terminate(Duration::from_secs(5)).await?;
    /// assert_eq!(status, ExitStatus::Signaled(Signal::SIGHUP));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        for signal in [Signal::SIGHUP, Signal::SIGINT, Signal::SIGTERM] {
            self.kill(signal)?;
            if signal == Signal::SIGHUP {
                self.kill(Signal::SIGCONT)?;
            }
            if let Some(status) = self.wait_timeout(Some(grace)).await? {
                return Ok(status);
            }
        }
        self.kill(Signal::SIGKILL)?;
        self.wait().await
    }

    /// The same session over its transport boxed as `dyn ChildTransport`, keeping
    /// process control; see [`Session::boxed_child`].
    pub fn boxed_child(self) -> AsyncSession<Box<dyn ChildTransport + Send>>
    where
        T: Send + 'static,
    {
        AsyncSession::new(self.into_inner().boxed_child())
    }

    /// The one process wait: on the pidfd (or, on kernels without pidfds, in steps of
    /// 1-50 ms), reading output meanwhile.
    async fn wait_reading(&mut self, deadline: Deadline) -> Result<Option<ExitStatus>> {
        let mut sleep = pin!(timer(&deadline));
        let mut backoff = Backoff::up_to(EXIT_CHECK_MAX_PAUSE);
        loop {
            self.read()?;
            if let Some(status) = self.session.transport_mut().child_mut().try_wait()? {
                return Ok(Some(status));
            }
            if deadline.has_passed() {
                return Ok(None);
            }
            let pidfd = self.session.transport().child().pidfd();
            match pidfd.map(|fd| (fd.as_raw_fd(), self.regs.add(fd))) {
                Some((raw, added)) => {
                    added.context(REGISTERING)?;
                    self.wait_ready(Some((raw, Want::Read)), sleep.as_mut())
                        .await?;
                }
                None => {
                    let step = deadline.within(backoff.step());
                    let mut short = pin!(timer(&step));
                    self.wait_ready(None, short.as_mut()).await?;
                }
            }
        }
    }
}

impl AsyncSession<Pty> {
    /// Sends the terminal's end-of-file character (VEOF, usually Ctrl-D); see
    /// [`Session::send_eof`].
    pub async fn send_eof(&mut self) -> Result<()> {
        self.send_special(SpecialCharacterIndices::VEOF).await
    }

    /// Sends the terminal's interrupt character (VINTR, usually Ctrl-C); see
    /// [`Session::send_intr`].
    pub async fn send_intr(&mut self) -> Result<()> {
        self.send_special(SpecialCharacterIndices::VINTR).await
    }

    async fn send_special(&mut self, which: SpecialCharacterIndices) -> Result<()> {
        let byte = crate::sys::term::special_char(self.session.transport().master(), which)
            .context("reading the terminal's special characters")?;
        self.write_all(&[byte], false).await
    }
}
