//! The expect engine: buffers, deadlines and patterns over any [`Transport`].

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;

use crate::deadline::{Deadline, is_ready, wait};
use crate::engine::background::{Background, Combined};
use crate::engine::buffer::BufferFull;
use crate::engine::matched::Match;
use crate::engine::matcher::{MatchOrder, MatchSet};
use crate::engine::observer::OutputModel;
use crate::engine::output::{Output, Outputs, Stream};
use crate::engine::pattern::{Pattern, Patterns, describe, dot_newline_hint};
use crate::engine::trace::Trace;
use crate::engine::transcript::{Transcript, TranscriptId, Transcripts};
use crate::engine::transport::Transport;
use crate::error::{Context, Error, Result};
use crate::escape::escape_tail;
use crate::signals::SignalPipe;

/// The default deadline of `expect` and `send` calls.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default maximum size of each unmatched-output buffer (16 MiB).
pub const DEFAULT_MAX_BUFFER: usize = 16 * 1024 * 1024;

/// How much of the unmatched output an error message shows.
pub(crate) const ERROR_TAIL: usize = 1024;

/// A conversation with a program: send bytes, expect patterns in what comes back.
///
/// The engine is the same whatever the transport: a pty ([`PtySession`](crate::PtySession)),
/// pipes ([`PipeSession`](crate::PipeSession)) or any socket or fd
/// ([`StreamSession`](crate::StreamSession)). Sessions with a child process add process
/// control, pty sessions add terminal control.
///
/// Output is read into a buffer only while a call waits for it. `expect` returns as soon
/// as one of its patterns matches what is buffered; the matched bytes and everything before
/// them leave the buffer, the rest stays for the next call. Waiting is `poll(2)` with the
/// deadline: an idle session costs no CPU.
///
/// ```
/// use ptychat::{Command, Pattern};
/// let mut bc = Command::new("bc").arg("-q").env("TERM", "dumb").spawn()?;
/// bc.send_line("6 * 7")?;
/// // The terminal echoes what we type; the answer is a line of digits of its own.
/// let m = bc.expect(Pattern::regex(r"(?m)^(\d+)\r$")?)?;
/// assert_eq!(m.group(1), Some(&b"42"[..]));
/// bc.send_line("quit")?;
/// bc.expect(Pattern::eof())?;
/// assert_eq!(bc.wait()?.code(), Some(0));
/// # Ok::<(), ptychat::Error>(())
/// ```
pub struct Session<T: Transport> {
    transport: T,
    outputs: Outputs,
    on_full: BufferFull,
    timeout: Option<Duration>,
    line_ending: Cow<'static, [u8]>,
    transcripts: Transcripts,
    trace: Option<Trace>,
    signals: Option<SignalPipe>,
    pending_signals: Vec<Signal>,
    background: Background,
    /// The model fed with every byte of the main output (the `screen` feature's terminal).
    model: Option<Box<dyn OutputModel>>,
    match_order: MatchOrder,
}

impl<T: Transport + std::fmt::Debug> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("transport", &self.transport)
            .field("buffered", &self.outputs.main.buffer.len())
            .field("eof", &self.outputs.main.eof)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How an `expect` call ends.
pub(crate) enum Ended {
    Matched(Match),
    Signal(Match),
    Eof,
    DeadlinePassed,
    BufferFull,
}

pub(crate) enum Filled {
    Data,
    Eof,
    /// Watched signals arrived (now in `pending_signals`).
    Signals,
    DeadlinePassed,
}

impl<T: Transport> Session<T> {
    /// Wraps a transport whose fds are already non-blocking. `line_ending` is what
    /// [`send_line`](Session::send_line) appends.
    pub(crate) fn with_transport(transport: T, line_ending: &'static [u8]) -> Self {
        let mut stderr = Output::new();
        stderr.eof = transport.stderr_fd().is_none();
        Session {
            transport,
            outputs: Outputs {
                main: Output::new(),
                stderr,
            },
            on_full: BufferFull::default(),
            timeout: Some(DEFAULT_TIMEOUT),
            line_ending: Cow::Borrowed(line_ending),
            transcripts: Transcripts::default(),
            trace: Trace::from_env(),
            signals: None,
            pending_signals: Vec::new(),
            background: Background::default(),
            model: None,
            match_order: MatchOrder::default(),
        }
    }

    /// The same session over its transport boxed as `dyn Transport`: sessions of
    /// different transports (a pty, pipes, a socket) then have one type and can share a
    /// [`Group`](crate::Group). Buffers, settings, background patterns and transcripts
    /// carry over. For process control as well, see
    /// [`boxed_child`](Session::boxed_child).
    ///
    /// ```
    /// use ptychat::{Command, Session, StderrMode, Transport};
    /// let pty = Command::new("cat").spawn()?.boxed();
    /// let pipes = Command::new("cat").spawn_piped(StderrMode::Null)?.boxed();
    /// let both: Vec<Session<Box<dyn Transport + Send>>> = vec![pty, pipes];
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn boxed(self) -> Session<Box<dyn Transport + Send>>
    where
        T: Send + 'static,
    {
        self.map_transport(|t| Box::new(t) as Box<dyn Transport + Send>)
    }

    /// The same session over `f(transport)`.
    pub(crate) fn map_transport<U: Transport>(self, f: impl FnOnce(T) -> U) -> Session<U> {
        Session {
            transport: f(self.transport),
            outputs: self.outputs,
            on_full: self.on_full,
            timeout: self.timeout,
            line_ending: self.line_ending,
            transcripts: self.transcripts,
            trace: self.trace,
            signals: self.signals,
            pending_signals: self.pending_signals,
            background: self.background,
            model: self.model,
            match_order: self.match_order,
        }
    }

    /// The transport, for operations the session does not wrap.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The default deadline of `expect` and `send` calls; `None` waits forever.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sets the default deadline of `expect` and `send` calls; `None` waits forever.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// What [`send_line`](Session::send_line) appends: `"\r"` on a pty (the Enter key),
    /// `"\n"` on other transports.
    pub fn line_ending(&self) -> &[u8] {
        &self.line_ending
    }

    /// Sets what [`send_line`](Session::send_line) appends.
    pub fn set_line_ending(&mut self, ending: impl Into<Vec<u8>>) {
        self.line_ending = Cow::Owned(ending.into());
    }

    /// The maximum size of each unmatched-output buffer.
    pub fn max_buffer(&self) -> usize {
        self.outputs.main.buffer.max()
    }

    /// Sets the maximum size of each unmatched-output buffer (at least 64 KiB) and what
    /// happens when the awaited output reaches it. The default is 16 MiB with
    /// [`BufferFull::DiscardOldest`]. An output that is not being awaited (stderr while
    /// waiting on stdout) always drops its oldest bytes, so the program never blocks on it.
    pub fn set_max_buffer(&mut self, max: usize, on_full: BufferFull) {
        self.outputs.main.buffer.set_max(max);
        self.outputs.stderr.buffer.set_max(max);
        self.on_full = on_full;
    }

    /// How many bytes of the main output were dropped from a full buffer under
    /// [`BufferFull::DiscardOldest`] since the session started (the separate stderr's
    /// count is [`StderrView::discarded`]). An `expect` that fails after dropping bytes
    /// says how many in its error.
    ///
    /// ```
    /// use ptychat::{BufferFull, Pattern, StderrMode};
    /// let mut s = ptychat::Command::shell("head -c 300000 /dev/zero; echo done")
    ///     .spawn_piped(StderrMode::Null)?;
    /// s.set_max_buffer(100_000, BufferFull::DiscardOldest);
    /// s.expect("done")?;
    /// assert_eq!(s.discarded(), 300_005 - 100_000);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn discarded(&self) -> u64 {
        self.outputs.main.buffer.discarded()
    }

    /// Text mode: from now on, terminal escape sequences (colours, cursor moves, titles,
    /// modes) are removed from the output as it is read, so byte patterns, `before` and
    /// `matched` see the text a person reads: `"No"` matches however a program colours
    /// its letters. A sequence split across reads is removed whole. Transcripts, logs,
    /// recordings and the screen still get the output as the program wrote it. Bytes
    /// already buffered are left as they are. To put one pattern in text mode and keep
    /// the raw bytes for the others, see [`Pattern::strip_escapes`](crate::Pattern::strip_escapes).
    ///
    /// ```
    /// let mut s = ptychat::Command::new("printf").arg(r"N\033[1;31mo\033[0m thanks").spawn()?;
    /// s.set_strip_escapes(true);
    /// let m = s.expect("No thanks")?;
    /// assert_eq!(m.matched(), b"No thanks");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn set_strip_escapes(&mut self, on: bool) {
        let strip = &mut self.outputs.main.strip;
        match (on, strip.is_some()) {
            (true, false) => *strip = Some(Default::default()),
            (false, true) => *strip = None,
            _ => {}
        }
    }

    /// From now on, NUL bytes are removed from the main output before it is matched (Tcl
    /// Expect's `remove_nulls 1`, its default), so `"ab"` matches `a\0b`. Transcripts
    /// and the trace still see every byte. Off by default.
    ///
    /// ```
    /// let mut s = ptychat::Command::new("printf").arg(r"a\0b\0c").spawn()?;
    /// s.set_remove_nulls(true);
    /// assert!(s.remove_nulls());
    /// s.expect("abc")?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn set_remove_nulls(&mut self, on: bool) {
        self.outputs.main.remove_nulls = on;
    }

    /// Whether NUL bytes are removed (see [`set_remove_nulls`](Session::set_remove_nulls)).
    pub fn remove_nulls(&self) -> bool {
        self.outputs.main.remove_nulls
    }

    /// From now on, the 8th bit of every byte of the main output is cleared as it is read
    /// (Tcl Expect's `parity 0`, for a line that sends parity): what is matched, the
    /// transcripts, the trace and the screen all see the stripped bytes, as in Expect.
    /// Off by default.
    ///
    /// ```
    /// let mut s = ptychat::Command::new("printf").arg(r"a\341b").spawn()?;
    /// s.set_strip_parity(true);
    /// assert!(s.strip_parity());
    /// s.expect("aab")?; // 0xE1 without its 8th bit is 0x61, `a`.
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn set_strip_parity(&mut self, on: bool) {
        self.outputs.main.strip_parity = on;
    }

    /// Whether the 8th bit is cleared (see
    /// [`set_strip_parity`](Session::set_strip_parity)).
    pub fn strip_parity(&self) -> bool {
        self.outputs.main.strip_parity
    }

    /// Which match wins when several patterns match: the earliest (the default, as
    /// pexpect) or the first listed (Tcl Expect's rule). See [`MatchOrder`].
    pub fn set_match_order(&mut self, order: MatchOrder) {
        self.match_order = order;
    }

    /// The rule set by [`set_match_order`](Session::set_match_order).
    pub fn match_order(&self) -> MatchOrder {
        self.match_order
    }

    /// Whether text mode is on (see [`set_strip_escapes`](Session::set_strip_escapes)).
    pub fn strip_escapes(&self) -> bool {
        self.outputs.main.strip.is_some()
    }

    /// The output that has arrived but not been matched yet.
    pub fn buffer(&self) -> &[u8] {
        self.outputs.main.buffer.as_slice()
    }

    /// Removes and returns the unmatched output.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        self.outputs.main.buffer.take_all()
    }

    /// True once the program's output has ended (buffered bytes may remain).
    pub fn is_eof(&self) -> bool {
        self.outputs.main.eof
    }

    /// Removes and returns the first `n` bytes of the unmatched output (all of it when
    /// `n` is larger).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn take_buffer_front(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.outputs.main.buffer.len());
        self.outputs.main.buffer.take_front(n)
    }

    /// Reads whatever output is available right now, without waiting, and returns how many
    /// bytes were added to the buffer.
    pub fn read_available(&mut self) -> Result<usize> {
        self.drain(Stream::Main)
    }

    /// Returns the unmatched output, waiting up to `timeout` (`None`: forever) for some to
    /// arrive if none is buffered; an empty vector means the output has ended. For
    /// streaming output through as it comes (pexpect's `read_nonblocking`).
    ///
    /// ```
    /// let mut s = ptychat::Command::new("echo").arg("streamed").spawn()?;
    /// let mut all = Vec::new();
    /// loop {
    ///     let chunk = s.read_some(Some(std::time::Duration::from_secs(10)))?;
    ///     if chunk.is_empty() {
    ///         break;
    ///     }
    ///     all.extend(chunk);
    /// }
    /// assert_eq!(all, b"streamed\r\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn read_some(&mut self, timeout: Option<Duration>) -> Result<Vec<u8>> {
        let m = self.expect_timeout([Pattern::nbytes(1), Pattern::eof()], timeout)?;
        let mut bytes = m.into_matched();
        bytes.extend(self.take_buffer());
        Ok(bytes)
    }

    /// The program's separate stderr (open3 sessions): expect on it, read its buffer.
    /// While any call waits, both outputs are drained, so a program flooding one of them
    /// never blocks.
    ///
    /// On a transport without a separate stderr, the view is at end of output.
    pub fn stderr(&mut self) -> StderrView<'_, T> {
        StderrView { session: self }
    }

    /// Sends bytes as they are, waiting (up to the session deadline) while the program is
    /// not reading. Output that arrives meanwhile is buffered, so a program that echoes
    /// everything cannot deadlock us by filling its output side.
    pub fn send(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        let data = data.as_ref();
        self.write_all(data)?;
        self.sent(data, false);
        Ok(())
    }

    /// Sends bytes that must not be logged, such as a password: transcripts and the trace
    /// only learn that a secret of that length was sent. (Whether the program's terminal
    /// echoes it is up to the program; see
    /// [`wait_for_echo_off`](Session::wait_for_echo_off).)
    pub fn send_secret(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        let data = data.as_ref();
        self.write_all(data)?;
        self.sent(data, true);
        Ok(())
    }

    /// Shows `data`, just sent in full, to the transcripts and the trace (a secret only by
    /// its length).
    pub(crate) fn sent(&mut self, data: &[u8], secret: bool) {
        if secret {
            self.transcripts.each(|t| t.secret_input(data.len()));
        } else {
            self.transcripts.each(|t| t.input(data));
        }
        if let Some(trace) = &mut self.trace {
            if secret {
                trace.sent_secret(data.len());
            } else {
                trace.sent(data);
            }
        }
    }

    /// Lets signals reach this session's waits: while any call waits, the pipe's signals
    /// are collected, and an `expect` given [`Pattern::signal`] for one of them returns as
    /// soon as it arrives — SIGCHLD ends a wait early when the child exits (even if a
    /// grandchild keeps its output open), SIGWINCH tells you to forward a new window size.
    /// Signals no pattern asked for are kept for [`take_signals`](Session::take_signals).
    /// Returns the previous pipe.
    ///
    /// Create the pipe before starting the program: a signal that arrives before its
    /// handler is installed is not seen.
    ///
    /// ```
    /// use ptychat::{Command, Pattern, Signal, SignalPipe, StderrMode};
    /// let sigchld = SignalPipe::new(&[Signal::SIGCHLD])?;
    /// let mut s = Command::shell("sleep 60 & exit 3").spawn_piped(StderrMode::Null)?;
    /// s.watch_signals(sigchld);
    /// // The background `sleep` keeps stdout open, so EOF would take a minute.
    /// let m = s.expect([Pattern::eof(), Pattern::signal(Signal::SIGCHLD)])?;
    /// assert_eq!(m.signal(), Some(Signal::SIGCHLD));
    /// assert_eq!(s.wait()?.code(), Some(3));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn watch_signals(&mut self, pipe: SignalPipe) -> Option<SignalPipe> {
        self.signals.replace(pipe)
    }

    /// Stops watching signals and gives the pipe back.
    pub fn unwatch_signals(&mut self) -> Option<SignalPipe> {
        self.signals.take()
    }

    /// The watched signals that arrived and that no `expect` pattern consumed, oldest
    /// first; they are removed from the session.
    pub fn take_signals(&mut self) -> Result<Vec<Signal>> {
        self.collect_signals()?;
        Ok(std::mem::take(&mut self.pending_signals))
    }

    fn collect_signals(&mut self) -> Result<()> {
        if let Some(pipe) = &mut self.signals {
            for signal in pipe.drain()? {
                if !self.pending_signals.contains(&signal) {
                    self.pending_signals.push(signal);
                }
            }
        }
        Ok(())
    }

    /// Adds a transcript that sees everything read from and sent to the program from now
    /// on, except secrets. See [`Transcript`].
    pub fn add_transcript(&mut self, transcript: Box<dyn Transcript>) -> TranscriptId {
        self.transcripts.add(transcript)
    }

    /// Removes a transcript and gives it back (to finish a recording, say).
    pub fn remove_transcript(&mut self, id: TranscriptId) -> Option<Box<dyn Transcript>> {
        self.transcripts.remove(id)
    }

    /// Writes a trace of the engine's work to `sink`: each read (escaped), each `expect`
    /// with its patterns and deadline, and how each call ended — the "why didn't it
    /// match?" tool. `None` turns it off. Setting the environment variable
    /// `PTYCHAT_TRACE=1` traces every new session to stderr.
    pub fn set_trace(&mut self, sink: Option<Box<dyn std::io::Write + Send>>) {
        self.trace = sink.map(Trace::new);
    }

    /// What a send asks before writing `data`: the transport's `check_send`, and whether
    /// input can still reach the program once its output has ended.
    pub(crate) fn before_send(&mut self, data: &[u8]) -> Result<()> {
        self.transport.check_send(data).context("sending")?;
        if self.outputs.main.eof {
            if let Some(why) = self.transport.input_gone() {
                let gone = io::Error::new(io::ErrorKind::BrokenPipe, why);
                return Err(Error::io("sending", gone));
            }
        }
        Ok(())
    }

    pub(crate) fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.before_send(data)?;
        let deadline = Deadline::after(self.timeout);
        let mut written = 0;
        while written < data.len() {
            match self.transport.write(&data[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wait_writable(&deadline)? {
                        return Err(send_timed_out(&deadline, written, data.len()));
                    }
                }
                Err(e) => return Err(Error::io("sending", e)),
            }
        }
        Ok(())
    }

    /// Sends `line` followed by the session's [`line_ending`](Session::line_ending), in one
    /// write.
    pub fn send_line(&mut self, line: impl AsRef<[u8]>) -> Result<()> {
        let mut bytes = Vec::with_capacity(line.as_ref().len() + self.line_ending.len());
        bytes.extend_from_slice(line.as_ref());
        bytes.extend_from_slice(&self.line_ending);
        self.send(bytes)
    }

    /// Signals end of input to the program (closes its stdin pipe, or shuts down the
    /// writing half of a socket); later sends fail. On a pty use
    /// [`send_eof`](Session::send_eof) instead.
    pub fn close_input(&mut self) -> Result<()> {
        self.transport
            .close_input()
            .context("closing the program's input")
    }

    /// Sends a control character the way a keyboard does: `send_control('c')` sends
    /// Ctrl-C (0x03). Letters (either case) and `@ [ \ ] ^ _ ?` are accepted.
    pub fn send_control(&mut self, c: char) -> Result<()> {
        let byte = control_byte(c)
            .ok_or_else(|| Error::InvalidArgument(format!("no control character for {c:?}")))?;
        self.send([byte])
    }

    /// Waits for `patterns` with the session's deadline. See
    /// [`expect_timeout`](Session::expect_timeout).
    pub fn expect<'a>(&mut self, patterns: impl Into<Patterns<'a>>) -> Result<Match> {
        self.expect_on(Stream::Main, patterns.into(), Deadline::after(self.timeout))
    }

    /// Sets the patterns checked before the own patterns of every later `expect` on the
    /// main output (Tcl Expect's `expect_before`), replacing the previous ones; an empty
    /// list removes them. A match of one ends that `expect` with
    /// [`Error::Background`](crate::Error::Background), which holds the [`Match`]: the
    /// library's fail-fast pattern. The order relative to the call's own patterns is in
    /// [`BackgroundList`](crate::BackgroundList)'s documentation.
    ///
    /// ```
    /// use ptychat::{Command, Error, Pattern};
    /// let mut s = Command::shell("echo working; echo 'ERROR: disk full'; echo done").spawn()?;
    /// s.expect_before(Pattern::regex(r"ERROR: (.*)\r\n")?);
    /// s.expect("working")?;
    /// match s.expect("done") {
    ///     Err(Error::Background { found, .. }) => assert_eq!(found.group_str(1).unwrap(), "disk full"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn expect_before<'a>(&mut self, patterns: impl Into<Patterns<'a>>) {
        self.background.before = patterns.into().0.into_owned();
    }

    /// Sets the patterns checked after the own patterns of every later `expect` on the
    /// main output (Tcl Expect's `expect_after`), replacing the previous ones; see
    /// [`expect_before`](Session::expect_before). An `eof` pattern here turns an
    /// unexpected end of output in any `expect` into [`Error::Background`](crate::Error::Background).
    pub fn expect_after<'a>(&mut self, patterns: impl Into<Patterns<'a>>) {
        self.background.after = patterns.into().0.into_owned();
    }

    /// The background patterns: (`expect_before`'s, `expect_after`'s).
    pub fn background(&self) -> (&[Pattern], &[Pattern]) {
        (&self.background.before, &self.background.after)
    }

    /// Waits until one of `patterns` matches the output, the output ends, or `timeout`
    /// passes (`None`: wait forever).
    ///
    /// When several patterns match, the one whose match starts earliest in the output wins,
    /// and among those the first in the list. [`Match::index`] tells which. An
    /// [`eof`](Pattern::eof) or [`timeout`](Pattern::timeout) pattern turns the
    /// corresponding failure into a match.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Command, Pattern};
    /// let mut sh = Command::new("sh").args(["-c", "echo ready; sleep 30"]).spawn()?;
    /// let m = sh.expect(["ready".into(), Pattern::eof()])?;
    /// assert_eq!(m.index(), 0);
    /// let m = sh.expect_timeout([Pattern::exact("never"), Pattern::timeout()],
    ///                           Some(Duration::from_millis(50)))?;
    /// assert!(m.is_timeout());
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn expect_timeout<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
        timeout: Option<Duration>,
    ) -> Result<Match> {
        self.expect_on(Stream::Main, patterns.into(), Deadline::after(timeout))
    }

    /// Like [`expect_timeout`](Session::expect_timeout), with the deadline as an instant:
    /// for several calls that share one limit.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut s = ptychat::Command::shell("echo one; echo two").spawn()?;
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// s.expect_deadline("one", deadline)?;
    /// s.expect_deadline("two", deadline)?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn expect_deadline<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
        deadline: Instant,
    ) -> Result<Match> {
        self.expect_on(Stream::Main, patterns.into(), Deadline::at(deadline))
    }

    fn output(&mut self, stream: Stream) -> &mut Output {
        self.outputs.get_mut(stream)
    }

    fn expect_on(
        &mut self,
        stream: Stream,
        patterns: Patterns<'_>,
        mut deadline: Deadline,
    ) -> Result<Match> {
        self.expect_until(stream, patterns, &mut deadline, None)
    }

    /// The expect driver: checks what is buffered, reads more until `deadline`, repeats.
    /// With `restart_on_data`, every read that brings output starts a new deadline of
    /// that length (action loops' [`Restart::OnData`](crate::Restart::OnData)).
    pub(crate) fn expect_until(
        &mut self,
        stream: Stream,
        patterns: Patterns<'_>,
        deadline: &mut Deadline,
        restart_on_data: Option<Option<Duration>>,
    ) -> Result<Match> {
        let Patterns(patterns) = patterns;
        if patterns.is_empty() {
            return Err(Error::InvalidArgument(
                "expect needs at least one pattern".into(),
            ));
        }
        // The background patterns watch the main output only.
        let combined = match stream {
            Stream::Main => self.combined(&[], patterns, &[]),
            Stream::Stderr => Combined::new(&[], patterns, &[]),
        };
        let mut set = self.start_expect(stream, &combined, deadline);
        let discarded = self.discarded_on(stream);
        loop {
            if let Some(ended) = self.check(stream, &mut set, deadline) {
                return self.ended(stream, &combined, &set, deadline, discarded, ended);
            }
            match self.fill(stream, deadline)? {
                Filled::DeadlinePassed => {
                    return self.ended(
                        stream,
                        &combined,
                        &set,
                        deadline,
                        discarded,
                        Ended::DeadlinePassed,
                    );
                }
                Filled::Data => {
                    if let Some(timeout) = restart_on_data {
                        *deadline = Deadline::after(timeout);
                    }
                }
                Filled::Eof | Filled::Signals => {}
            }
        }
    }

    /// The list an `expect` on the main output checks: this session's background
    /// patterns around `before`, the call's `own` and `after` (a group's lists).
    pub(crate) fn combined<'a>(
        &self,
        before: &[&[Pattern]],
        own: Cow<'a, [Pattern]>,
        after: &[&[Pattern]],
    ) -> Combined<'a> {
        let empty = |lists: &[&[Pattern]]| lists.iter().all(|list| list.is_empty());
        if self.background.is_empty() && empty(before) && empty(after) {
            return Combined::new(&[], own, &[]);
        }
        let mut befores: Vec<&[Pattern]> = vec![&self.background.before];
        befores.extend_from_slice(before);
        let mut afters: Vec<&[Pattern]> = after.to_vec();
        afters.push(&self.background.after);
        Combined::new(&befores, own, &afters)
    }

    /// Starts an expect of `combined` on `stream`: its scanning state, and the trace.
    pub(crate) fn start_expect<'p>(
        &mut self,
        stream: Stream,
        combined: &'p Combined<'_>,
        deadline: &Deadline,
    ) -> MatchSet<'p> {
        let buffer = &self.outputs.get(stream).buffer;
        if let Some(trace) = &mut self.trace {
            trace.expect_started(
                &describe(&combined.patterns),
                deadline.timeout(),
                buffer.as_slice(),
            );
        }
        MatchSet::new(&combined.patterns, buffer.base()).with_order(self.match_order)
    }

    /// Checks what is buffered against `set` without waiting: how the expect ends, if it
    /// ends now (a match, a watched signal, the end of output, a full buffer, or the
    /// deadline).
    pub(crate) fn check(
        &mut self,
        stream: Stream,
        set: &mut MatchSet<'_>,
        deadline: &Deadline,
    ) -> Option<Ended> {
        let Session {
            outputs,
            pending_signals,
            ..
        } = self;
        let buffer = &mut outputs.get_mut(stream).buffer;
        if let Some(m) = set.take_match(buffer) {
            return Some(Ended::Matched(m));
        }
        if let Some(m) = set.signal_match(pending_signals, buffer) {
            return Some(Ended::Signal(m));
        }
        if let Some(trace) = &mut self.trace {
            trace.no_match(self.outputs.get(stream).buffer.as_slice());
        }
        let output = self.outputs.get(stream);
        if output.eof {
            return Some(Ended::Eof);
        }
        if output.blocks_reading(self.on_full) {
            return Some(Ended::BufferFull);
        }
        deadline.has_passed().then_some(Ended::DeadlinePassed)
    }

    /// How an `expect` call ended: traces it, and turns an end the patterns did not ask
    /// for into the error that shows the patterns, the deadline, the output's tail and how
    /// many bytes were dropped from a full buffer since the call began (when the buffer's
    /// count was `discarded_before`); a background pattern's match into
    /// [`Error::Background`].
    pub(crate) fn ended(
        &mut self,
        stream: Stream,
        combined: &Combined<'_>,
        set: &MatchSet<'_>,
        deadline: &Deadline,
        discarded_before: u64,
        how: Ended,
    ) -> Result<Match> {
        let waited = deadline.elapsed();
        let discarded = self.outputs.get(stream).buffer.discarded() - discarded_before;
        let dropped = if discarded > 0 {
            format!(", {discarded} bytes discarded from the full buffer meanwhile")
        } else {
            String::new()
        };
        if let Some(trace) = &mut self.trace {
            match &how {
                Ended::Matched(m) => trace.ended(format_args!(
                    "matched {} after {waited:?}: \"{}\" ({} bytes before it)",
                    set.patterns()[m.index()],
                    crate::escape(m.matched()),
                    m.before().len()
                )),
                Ended::Signal(m) => trace.ended(format_args!(
                    "signal {} after {waited:?}",
                    m.signal().map_or("?", |s| s.as_str())
                )),
                Ended::Eof => trace.ended(format_args!("end of output after {waited:?}{dropped}")),
                Ended::DeadlinePassed => {
                    trace.ended(format_args!("deadline passed after {waited:?}{dropped}"))
                }
                Ended::BufferFull => {}
            }
        }
        let buffer = &mut self.outputs.get_mut(stream).buffer;
        let special = match how {
            Ended::Matched(m) | Ended::Signal(m) => return combined.resolve(m),
            Ended::Eof => set.eof_match(buffer),
            Ended::DeadlinePassed => set.timeout_match(buffer),
            Ended::BufferFull => None,
        };
        if let Some(m) = special {
            return combined.resolve(m);
        }
        let patterns = describe(set.patterns());
        let hint = match how {
            Ended::Eof | Ended::DeadlinePassed => {
                dot_newline_hint(set.patterns(), buffer.as_slice())
            }
            _ => String::new(),
        };
        let tail = escape_tail(buffer.as_slice(), ERROR_TAIL);
        let buffered = buffer.len();
        Err(match how {
            Ended::Eof => Error::Eof {
                patterns,
                waited,
                buffered,
                discarded,
                tail,
                hint,
            },
            Ended::DeadlinePassed => Error::Timeout {
                patterns,
                timeout: deadline.timeout().unwrap_or(Duration::MAX),
                waited,
                buffered,
                discarded,
                tail,
                hint,
            },
            _ => Error::BufferFull {
                max: buffer.max(),
                patterns,
                tail,
            },
        })
    }

    /// One non-blocking read of `stream`: `Some(0)` at its end, `None` if nothing is there.
    fn read_once(&mut self, stream: Stream) -> Result<Option<usize>> {
        // The awaited output follows the session's policy; the other is always drained.
        let on_full = match stream {
            Stream::Main => self.on_full,
            Stream::Stderr => BufferFull::DiscardOldest,
        };
        let Session {
            transport, outputs, ..
        } = self;
        let output = outputs.get_mut(stream);
        let read = match stream {
            Stream::Main => output.read_once(on_full, |buf| transport.read(buf))?,
            Stream::Stderr => output.read_once(on_full, |buf| transport.read_stderr(buf))?,
        };
        if let Some(n) = read {
            let output = self.outputs.get_mut(stream);
            if output.strip_parity {
                output.buffer.rewrite_tail(n, |fresh| {
                    fresh.iter_mut().for_each(|b| *b &= 0x7f);
                    fresh.len()
                });
            }
            self.observe_read(stream, n);
            let output = self.outputs.get_mut(stream);
            let mut fresh = n;
            if let Some(strip) = &mut output.strip {
                let len = output.buffer.len();
                output
                    .buffer
                    .rewrite_tail(n, |fresh| strip.strip_in_place(fresh));
                fresh -= len - output.buffer.len();
            }
            if output.remove_nulls {
                output.buffer.rewrite_tail(fresh, remove_nulls);
            }
        }
        Ok(read)
    }

    /// Shows the `n` bytes just read from `stream` to the output model, the transcripts
    /// and the trace.
    fn observe_read(&mut self, stream: Stream, n: usize) {
        if let (Stream::Main, Some(model)) = (stream, &mut self.model) {
            let hay = self.outputs.main.buffer.as_slice();
            model.output(&hay[hay.len() - n..]);
        }
        if self.transcripts.is_empty() && self.trace.is_none() {
            return;
        }
        let hay = self.outputs.get(stream).buffer.as_slice();
        let fresh = &hay[hay.len() - n..];
        if !fresh.is_empty() {
            self.transcripts.each(|t| match stream {
                Stream::Main => t.output(fresh),
                Stream::Stderr => t.error_output(fresh),
            });
        }
        if let Some(trace) = &mut self.trace {
            trace.read(stream, fresh, hay.len());
        }
    }

    /// One read of the main output without waiting (for relaying it as it comes): the
    /// number of bytes added, `Some(0)` at its end, `None` if nothing was there.
    pub(crate) fn read_chunk(&mut self) -> Result<Option<usize>> {
        if self.outputs.main.eof {
            return Ok(Some(0));
        }
        self.read_once(Stream::Main)
    }

    /// Reads everything available on `stream` without waiting.
    fn drain(&mut self, stream: Stream) -> Result<usize> {
        self.drain_up_to(stream, usize::MAX)
    }

    /// Reads what is available on the main output without waiting, stopping once `limit`
    /// bytes were read (one read may pass it): a bounded batch.
    #[cfg_attr(not(feature = "screen"), allow(dead_code))]
    pub(crate) fn read_available_up_to(&mut self, limit: usize) -> Result<usize> {
        self.drain_up_to(Stream::Main, limit)
    }

    /// Reads what is available on `stream` without waiting, until `limit` bytes.
    fn drain_up_to(&mut self, stream: Stream, limit: usize) -> Result<usize> {
        let mut total = 0;
        let on_full = self.on_full;
        loop {
            let output = self.output(stream);
            if !output.is_open() || output.blocks_reading(on_full) || total >= limit {
                return Ok(total);
            }
            match self.read_once(stream)? {
                Some(n) if n > 0 => total += n,
                _ => return Ok(total),
            }
        }
    }

    /// The fds a wait on this session polls for reading: the main output (while open and
    /// not blocked by a full buffer), the separate stderr (while open), and the watched
    /// signal pipe. For waits on many sessions at once.
    pub(crate) fn watched_fds(&self) -> [Option<BorrowedFd<'_>>; 3] {
        let main = &self.outputs.main;
        [
            (main.is_open() && !main.blocks_reading(self.on_full))
                .then(|| self.transport.read_fd()),
            self.outputs
                .stderr
                .is_open()
                .then(|| self.transport.stderr_fd())
                .flatten(),
            self.signals.as_ref().map(|pipe| pipe.as_fd()),
        ]
    }

    /// A fingerprint of what an expect on the main output can see: it changes when
    /// output arrives, is taken out of the buffer, ends, or a watched signal arrives. A
    /// wait on many sessions checks a session again only when it changed.
    pub(crate) fn watch_state(&self) -> WatchState {
        self.watch_state_of(Stream::Main)
    }

    /// [`watch_state`](Session::watch_state) of either output.
    pub(crate) fn watch_state_of(&self, stream: Stream) -> WatchState {
        let output = self.outputs.get(stream);
        let buffer = &output.buffer;
        WatchState {
            end: buffer.base() + buffer.len() as u64,
            consumed: buffer.base() - buffer.discarded(),
            eof: output.eof,
            signals: self.pending_signals.len(),
        }
    }

    /// How many bytes `stream`'s full buffer has dropped so far (for the count an error
    /// reports: those dropped since the call began).
    pub(crate) fn discarded_on(&self, stream: Stream) -> u64 {
        self.outputs.get(stream).buffer.discarded()
    }

    /// The absolute position of the first unmatched byte of the main output.
    pub(crate) fn main_base(&self) -> u64 {
        self.outputs.main.buffer.base()
    }

    /// Reads everything available on both outputs and collects watched signals, without
    /// waiting; the number of bytes added to the main buffer. After a wait on many
    /// sessions found this one ready.
    pub(crate) fn read_ready(&mut self) -> Result<usize> {
        let main = self.drain(Stream::Main)?;
        self.drain(Stream::Stderr)?;
        self.collect_signals()?;
        Ok(main)
    }

    /// Polls the outputs that are open and not blocked by a full buffer, the signal pipe
    /// if one is watched, and `extra` (the input fd for writing, or an event fd such as a
    /// child's pidfd) if given. `None` at the deadline.
    fn poll_outputs(
        &self,
        extra: Option<(BorrowedFd<'_>, PollFlags)>,
        deadline: &Deadline,
    ) -> Result<Option<Ready>> {
        let main = (self.outputs.main.is_open() && !self.outputs.main.blocks_reading(self.on_full))
            .then(|| self.transport.read_fd());
        let stderr = self
            .outputs
            .stderr
            .is_open()
            .then(|| self.transport.stderr_fd())
            .flatten();
        let outputs: Vec<(Stream, BorrowedFd<'_>)> =
            [(Stream::Main, main), (Stream::Stderr, stderr)]
                .into_iter()
                .filter_map(|(stream, fd)| Some((stream, fd?)))
                .collect();
        let signals = self.signals.as_ref().map(|pipe| pipe.as_fd());
        let mut fds: Vec<PollFd<'_>> = extra
            .map(|(fd, events)| PollFd::new(fd, events))
            .into_iter()
            .chain(signals.map(|fd| PollFd::new(fd, PollFlags::POLLIN)))
            .chain(
                outputs
                    .iter()
                    .map(|(_, fd)| PollFd::new(*fd, PollFlags::POLLIN)),
            )
            .collect();
        if wait(&mut fds, deadline)
            .context("waiting for the program")?
            .is_none()
        {
            return Ok(None);
        }
        let mut ready = fds.iter().map(is_ready);
        let extra = extra.is_some() && ready.next() == Some(true);
        let signalled = signals.is_some() && ready.next() == Some(true);
        let outputs = outputs
            .iter()
            .zip(ready)
            .filter(|(_, ready)| *ready)
            .map(|((stream, _), _)| *stream)
            .collect();
        Ok(Some(Ready {
            extra,
            signalled,
            outputs,
        }))
    }

    /// The model of the main output, if one is set (see [`OutputModel`]).
    #[cfg_attr(not(feature = "screen"), allow(dead_code))]
    pub(crate) fn model(&self) -> Option<&dyn OutputModel> {
        self.model.as_deref()
    }

    /// The model of the main output, mutably.
    #[cfg_attr(not(feature = "screen"), allow(dead_code))]
    pub(crate) fn model_mut(&mut self) -> Option<&mut dyn OutputModel> {
        self.model.as_deref_mut()
    }

    /// Sets (or removes) the model fed with every byte read from the main output from now
    /// on; returns the previous one.
    #[cfg_attr(not(feature = "screen"), allow(dead_code))]
    pub(crate) fn set_model(
        &mut self,
        model: Option<Box<dyn OutputModel>>,
    ) -> Option<Box<dyn OutputModel>> {
        std::mem::replace(&mut self.model, model)
    }

    /// Tells the output model that the terminal was resized (a pty's window size).
    pub(crate) fn resize_model(&mut self, rows: u16, cols: u16) {
        if let Some(model) = &mut self.model {
            model.resized(rows, cols);
        }
    }

    /// One step of a wait driven from outside the engine (a condition on the output
    /// model): reads at least one chunk of the main output (or its end, or a watched
    /// signal), draining stderr meanwhile, until `deadline`. Bytes stay in the buffer for
    /// later expects; the model and transcripts see them as every read does.
    #[cfg_attr(not(feature = "screen"), allow(dead_code))]
    pub(crate) fn fill_main(&mut self, deadline: &Deadline) -> Result<Filled> {
        self.fill(Stream::Main, deadline)
    }

    /// The escaped tail of the unmatched main output and its length, for error messages.
    #[cfg_attr(not(feature = "screen"), allow(dead_code))]
    pub(crate) fn main_tail(&self) -> (String, usize) {
        let buffer = &self.outputs.main.buffer;
        (escape_tail(buffer.as_slice(), ERROR_TAIL), buffer.len())
    }

    /// Reads at least one chunk of `stream` (or its end), draining the other output while
    /// waiting, until `deadline`.
    fn fill(&mut self, stream: Stream, deadline: &Deadline) -> Result<Filled> {
        loop {
            match self.read_once(stream)? {
                Some(0) => return Ok(Filled::Eof),
                Some(_) => return Ok(Filled::Data),
                None => {}
            }
            let Some(ready) = self.poll_outputs(None, deadline)? else {
                return Ok(Filled::DeadlinePassed);
            };
            // The target is read at the top of the loop; drain the others now.
            for other in ready.outputs.into_iter().filter(|s| *s != stream) {
                self.drain(other)?;
            }
            if ready.signalled {
                self.collect_signals()?;
                return Ok(Filled::Signals);
            }
        }
    }

    /// Waits until input can be written, draining output meanwhile. False at the deadline.
    fn wait_writable(&mut self, deadline: &Deadline) -> Result<bool> {
        if self.transport.write_fd().is_none() {
            return Err(Error::io(
                "sending",
                crate::engine::transport::input_closed(),
            ));
        }
        self.read_until_ready(
            |transport| transport.write_fd().map(|fd| (fd, PollFlags::POLLOUT)),
            deadline,
        )
    }

    /// Waits until the fd `event` gives (such as a child's pidfd) is readable, or until
    /// `deadline`, reading the output that arrives meanwhile into the buffers (as far as
    /// the buffer policy allows), so a program blocked writing to us can go on. True when
    /// the event fd is ready; false at the deadline. Without an event fd it waits for the
    /// deadline, still reading.
    pub(crate) fn read_while_waiting(
        &mut self,
        event: impl Fn(&T) -> Option<BorrowedFd<'_>>,
        deadline: &Deadline,
    ) -> Result<bool> {
        self.read_until_ready(
            |transport| event(transport).map(|fd| (fd, PollFlags::POLLIN)),
            deadline,
        )
    }

    /// The loop under both waits above: poll the outputs and the fd `extra` gives with its
    /// events, drain what is ready, collect signals; true when the extra fd is ready,
    /// false at the deadline.
    fn read_until_ready(
        &mut self,
        extra: impl Fn(&T) -> Option<(BorrowedFd<'_>, PollFlags)>,
        deadline: &Deadline,
    ) -> Result<bool> {
        loop {
            let Some(ready) = self.poll_outputs(extra(&self.transport), deadline)? else {
                return Ok(false);
            };
            for stream in ready.outputs {
                self.drain(stream)?;
            }
            if ready.signalled {
                self.collect_signals()?;
            }
            if ready.extra {
                return Ok(true);
            }
        }
    }
}

/// Removes the NUL bytes of `fresh` in place; returns how many bytes are left.
fn remove_nulls(fresh: &mut [u8]) -> usize {
    let mut kept = 0;
    for i in 0..fresh.len() {
        if fresh[i] != 0 {
            fresh[kept] = fresh[i];
            kept += 1;
        }
    }
    kept
}

/// The error of a send whose deadline passed after the program read `written` of `len`
/// bytes.
pub(crate) fn send_timed_out(deadline: &Deadline, written: usize, len: usize) -> Error {
    let message = format!(
        "timed out after {:?}: the program read {written} of {len} bytes",
        deadline.elapsed()
    );
    Error::io("sending", io::Error::new(io::ErrorKind::TimedOut, message))
}

/// See [`Session::watch_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WatchState {
    end: u64,
    /// Moves when bytes are taken out of the buffer (not when a full one drops them).
    pub(crate) consumed: u64,
    eof: bool,
    signals: usize,
}

/// What a poll found ready.
struct Ready {
    /// The extra fd polled for (input writable, an event fd readable) is ready.
    extra: bool,
    signalled: bool,
    outputs: Vec<Stream>,
}

/// The program's separate stderr, as returned by [`Session::stderr`].
///
/// ```
/// use ptychat::{Command, Pattern, StderrMode};
/// let mut s = Command::shell("echo out; echo err >&2").spawn_piped(StderrMode::Separate)?;
/// s.stderr().expect("err\n")?;
/// s.expect("out\n")?;
/// # Ok::<(), ptychat::Error>(())
/// ```
pub struct StderrView<'s, T: Transport> {
    session: &'s mut Session<T>,
}

impl<T: Transport> StderrView<'_, T> {
    /// Waits for `patterns` on stderr with the session's deadline.
    pub fn expect<'a>(&mut self, patterns: impl Into<Patterns<'a>>) -> Result<Match> {
        let deadline = Deadline::after(self.session.timeout);
        self.session
            .expect_on(Stream::Stderr, patterns.into(), deadline)
    }

    /// Waits for `patterns` on stderr until `timeout` (`None`: forever).
    pub fn expect_timeout<'a>(
        &mut self,
        patterns: impl Into<Patterns<'a>>,
        timeout: Option<Duration>,
    ) -> Result<Match> {
        self.session
            .expect_on(Stream::Stderr, patterns.into(), Deadline::after(timeout))
    }

    /// The stderr output that has arrived but not been matched yet.
    pub fn buffer(&self) -> &[u8] {
        self.session.outputs.stderr.buffer.as_slice()
    }

    /// Removes and returns the unmatched stderr output.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        self.session.outputs.stderr.buffer.take_all()
    }

    /// Reads whatever stderr output is available now, without waiting.
    pub fn read_available(&mut self) -> Result<usize> {
        self.session.drain(Stream::Stderr)
    }

    /// True once stderr has ended (buffered bytes may remain).
    pub fn is_eof(&self) -> bool {
        self.session.outputs.stderr.eof
    }

    /// How many bytes of stderr were dropped from its full buffer since the session
    /// started. Stderr is read while any call waits and always keeps only its newest
    /// [`max_buffer`](Session::max_buffer) bytes ([`BufferFull::DiscardOldest`]), so a
    /// program can never block on it; this count says how much of it was lost.
    ///
    /// ```
    /// use ptychat::{Command, StderrMode};
    /// let mut s = Command::shell("head -c 100000 /dev/zero >&2; echo done")
    ///     .spawn_piped(StderrMode::Separate)?;
    /// s.set_max_buffer(0, ptychat::BufferFull::DiscardOldest); // the floor: 64 KiB
    /// s.expect("done")?;
    /// s.stderr().read_available()?;
    /// assert_eq!(s.stderr().discarded(), 100_000 - 64 * 1024);
    /// assert_eq!(s.stderr().buffer().len(), 64 * 1024);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn discarded(&self) -> u64 {
        self.session.outputs.stderr.buffer.discarded()
    }
}

/// The byte a keyboard sends for Ctrl+`c`.
pub(crate) fn control_byte(c: char) -> Option<u8> {
    match c {
        'a'..='z' => Some(c as u8 - b'a' + 1),
        'A'..='Z' => Some(c as u8 - b'A' + 1),
        '@' | ' ' => Some(0),
        '[' => Some(0x1b),
        '\\' => Some(0x1c),
        ']' => Some(0x1d),
        '^' => Some(0x1e),
        '_' => Some(0x1f),
        '?' => Some(0x7f),
        _ => None,
    }
}
