//! The expect engine: a buffer, deadlines and patterns over any [`Transport`].

use std::borrow::Cow;
use std::io;
use std::time::{Duration, Instant};

use crate::buffer::{Buffer, BufferFull};
use crate::error::{Context, Error, Result};
use crate::escape::escape_tail;
use crate::matched::{Match, MatchKind};
use crate::pattern::{Kind, Pattern, describe};
use crate::poll::{Readiness, wait_readable, wait_writable};
use crate::scanner::{Found, Scanner};
use crate::transport::Transport;

/// The default deadline of `expect` and `send` calls.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default maximum size of the unmatched-output buffer (16 MiB).
pub const DEFAULT_MAX_BUFFER: usize = 16 * 1024 * 1024;

/// How much of the unmatched output an error message shows.
const ERROR_TAIL: usize = 1024;

/// A conversation with a program: send bytes, expect patterns in what comes back.
///
/// The engine is the same whatever the transport; [`PtySession`](crate::PtySession)
/// (`Session<Pty>`) adds process control for programs spawned on a pseudo-terminal.
///
/// Output is read into a buffer only while a call waits for it. `expect` returns as soon
/// as one of its patterns matches what is buffered; the matched bytes and everything before
/// them leave the buffer, the rest stays for the next call. Waiting is `poll(2)` with the
/// deadline: an idle session costs no CPU.
///
/// ```
/// use ptychat::{Command, Pattern};
/// let mut bc = Command::new("bc").arg("-q").spawn()?;
/// bc.send_line("6 * 7")?;
/// bc.expect("6 * 7\r\n")?; // the terminal echoes what we type
/// let m = bc.expect(Pattern::regex(r"(\d+)\r\n")?)?;
/// assert_eq!(m.group(1), Some(&b"42"[..]));
/// bc.send_line("quit")?;
/// bc.expect(Pattern::eof())?;
/// assert_eq!(bc.wait()?.code(), Some(0));
/// # Ok::<(), ptychat::Error>(())
/// ```
pub struct Session<T: Transport> {
    transport: T,
    buffer: Buffer,
    on_full: BufferFull,
    timeout: Option<Duration>,
    line_ending: Cow<'static, [u8]>,
    eof: bool,
}

/// The patterns given to one `expect` call: one pattern, or a list of them.
///
/// Anything that converts into a [`Pattern`] converts into `Patterns`, and so do slices,
/// arrays and vectors of patterns.
#[derive(Debug, Clone)]
pub struct Patterns<'a>(Cow<'a, [Pattern]>);

impl<P: Into<Pattern>> From<P> for Patterns<'_> {
    fn from(pattern: P) -> Self {
        Patterns(Cow::Owned(vec![pattern.into()]))
    }
}

impl<'a> From<&'a [Pattern]> for Patterns<'a> {
    fn from(patterns: &'a [Pattern]) -> Self {
        Patterns(Cow::Borrowed(patterns))
    }
}

impl<'a> From<&'a Vec<Pattern>> for Patterns<'a> {
    fn from(patterns: &'a Vec<Pattern>) -> Self {
        Patterns(Cow::Borrowed(patterns))
    }
}

impl From<Vec<Pattern>> for Patterns<'_> {
    fn from(patterns: Vec<Pattern>) -> Self {
        Patterns(Cow::Owned(patterns))
    }
}

impl<const N: usize> From<[Pattern; N]> for Patterns<'_> {
    fn from(patterns: [Pattern; N]) -> Self {
        Patterns(Cow::Owned(patterns.into()))
    }
}

impl<'a, const N: usize> From<&'a [Pattern; N]> for Patterns<'a> {
    fn from(patterns: &'a [Pattern; N]) -> Self {
        Patterns(Cow::Borrowed(patterns))
    }
}

impl<'a> From<&'a Pattern> for Patterns<'a> {
    fn from(pattern: &'a Pattern) -> Self {
        Patterns(Cow::Borrowed(std::slice::from_ref(pattern)))
    }
}

impl<T: Transport + std::fmt::Debug> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("transport", &self.transport)
            .field("buffered", &self.buffer.len())
            .field("eof", &self.eof)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

enum Filled {
    Data,
    Eof,
    DeadlinePassed,
}

impl<T: Transport> Session<T> {
    /// Wraps a transport whose fds are already non-blocking. `line_ending` is what
    /// [`send_line`](Session::send_line) appends.
    pub(crate) fn with_transport(transport: T, line_ending: &'static [u8]) -> Self {
        Session {
            transport,
            buffer: Buffer::new(DEFAULT_MAX_BUFFER),
            on_full: BufferFull::default(),
            timeout: Some(DEFAULT_TIMEOUT),
            line_ending: Cow::Borrowed(line_ending),
            eof: false,
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

    /// The maximum size of the unmatched-output buffer.
    pub fn max_buffer(&self) -> usize {
        self.buffer.max()
    }

    /// Sets the maximum size of the unmatched-output buffer (at least 64 KiB) and what
    /// happens when output reaches it. The default is 16 MiB with
    /// [`BufferFull::DiscardOldest`].
    pub fn set_max_buffer(&mut self, max: usize, on_full: BufferFull) {
        self.buffer.set_max(max);
        self.on_full = on_full;
    }

    /// How many bytes were dropped from a full buffer under [`BufferFull::DiscardOldest`].
    pub fn discarded(&self) -> u64 {
        self.buffer.discarded()
    }

    /// The output that has arrived but not been matched yet.
    pub fn buffer(&self) -> &[u8] {
        self.buffer.as_slice()
    }

    /// Removes and returns the unmatched output.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        let bytes = self.buffer.as_slice().to_vec();
        self.buffer.consume(bytes.len());
        bytes
    }

    /// True once the program's output has ended (buffered bytes may remain).
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Reads whatever output is available right now, without waiting, and returns how many
    /// bytes were added to the buffer.
    pub fn read_available(&mut self) -> Result<usize> {
        let mut total = 0;
        while !self.eof && !self.buffer_blocks_reading() {
            match self.read_once()? {
                Some(0) => self.eof = true,
                Some(n) => total += n,
                None => break,
            }
        }
        Ok(total)
    }

    /// Sends bytes as they are, waiting (up to the session deadline) while the program is
    /// not reading. Output that arrives meanwhile is buffered, so a program that echoes
    /// everything cannot deadlock us by filling its output side.
    pub fn send(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        let data = data.as_ref();
        let started = Instant::now();
        let deadline = self.deadline(started, self.timeout);
        let mut written = 0;
        while written < data.len() {
            match self.transport.write(&data[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let want_read = !self.eof && !self.buffer_blocks_reading();
                    let read_fd = want_read.then(|| self.transport.read_fd());
                    match wait_writable(self.transport.write_fd(), read_fd, deadline)
                        .context("waiting to send")?
                    {
                        Readiness::Writable => {}
                        Readiness::Readable => {
                            self.read_available()?;
                        }
                        Readiness::DeadlinePassed => {
                            let message = format!(
                                "timed out after {:?}: the program read {written} of {} bytes",
                                started.elapsed(),
                                data.len()
                            );
                            return Err(Error::io(
                                "sending",
                                io::Error::new(io::ErrorKind::TimedOut, message),
                            ));
                        }
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
        self.expect_timeout(patterns, self.timeout)
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
        let Patterns(patterns) = patterns.into();
        if patterns.is_empty() {
            return Err(Error::InvalidArgument("expect needs at least one pattern".into()));
        }
        let started = Instant::now();
        let deadline = self.deadline(started, timeout);
        let base = self.buffer.base();
        let mut scanners: Vec<Scanner<'_>> =
            patterns.iter().map(|p| Scanner::new(p, base)).collect();
        loop {
            if let Some((index, found)) = earliest_match(&mut scanners, &self.buffer) {
                return Ok(self.take_match(index, found));
            }
            if self.eof {
                return match position(&patterns, |k| matches!(k, Kind::Eof)) {
                    Some(index) => Ok(self.take_all(index, MatchKind::Eof)),
                    None => Err(Error::Eof {
                        patterns: describe(&patterns),
                        waited: started.elapsed(),
                        buffered: self.buffer.len(),
                        tail: escape_tail(self.buffer.as_slice(), ERROR_TAIL),
                    }),
                };
            }
            if self.buffer_blocks_reading() {
                return Err(Error::BufferFull {
                    max: self.buffer.max(),
                    patterns: describe(&patterns),
                    tail: escape_tail(self.buffer.as_slice(), ERROR_TAIL),
                });
            }
            match self.fill(deadline)? {
                Filled::Data => {}
                Filled::Eof => self.eof = true,
                Filled::DeadlinePassed => {
                    if let Some(index) = position(&patterns, |k| matches!(k, Kind::Timeout)) {
                        return Ok(Match {
                            index,
                            kind: MatchKind::Timeout,
                            before: self.buffer.as_slice().to_vec(),
                            matched: Vec::new(),
                            groups: Vec::new(),
                            names: Vec::new(),
                        });
                    }
                    return Err(Error::Timeout {
                        patterns: describe(&patterns),
                        timeout: timeout.unwrap_or(Duration::MAX),
                        waited: started.elapsed(),
                        buffered: self.buffer.len(),
                        tail: escape_tail(self.buffer.as_slice(), ERROR_TAIL),
                    });
                }
            }
        }
    }

    fn deadline(&self, started: Instant, timeout: Option<Duration>) -> Option<Instant> {
        timeout.and_then(|t| started.checked_add(t))
    }

    fn buffer_blocks_reading(&self) -> bool {
        self.on_full == BufferFull::Error && self.buffer.is_full()
    }

    /// One non-blocking read into the buffer: `Some(0)` at end of output, `None` if nothing
    /// is available.
    fn read_once(&mut self) -> Result<Option<usize>> {
        loop {
            match self.transport.read(self.buffer.spare()) {
                Ok(n) => {
                    self.buffer.commit(n);
                    if self.on_full == BufferFull::DiscardOldest {
                        self.buffer.enforce_max();
                    }
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(Error::io("reading the program's output", e)),
            }
        }
    }

    /// Reads at least one chunk, waiting until `deadline` for it.
    fn fill(&mut self, deadline: Option<Instant>) -> Result<Filled> {
        loop {
            match self.read_once()? {
                Some(0) => return Ok(Filled::Eof),
                Some(_) => return Ok(Filled::Data),
                None => {
                    if !wait_readable(self.transport.read_fd(), deadline)
                        .context("waiting for output")?
                    {
                        return Ok(Filled::DeadlinePassed);
                    }
                }
            }
        }
    }

    fn take_match(&mut self, index: usize, found: Found) -> Match {
        let hay = self.buffer.as_slice();
        let start = found.range.start;
        let (groups, names) = match found.groups {
            Some((groups, names)) => {
                let relative = groups
                    .into_iter()
                    .map(|g| g.map(|r| r.start - start..r.end - start))
                    .collect();
                (relative, names)
            }
            None => (Vec::new(), Vec::new()),
        };
        let m = Match {
            index,
            kind: MatchKind::Data,
            before: hay[..start].to_vec(),
            matched: hay[found.range.clone()].to_vec(),
            groups,
            names,
        };
        self.buffer.consume(found.range.end);
        m
    }

    fn take_all(&mut self, index: usize, kind: MatchKind) -> Match {
        Match {
            index,
            kind,
            before: self.take_buffer(),
            matched: Vec::new(),
            groups: Vec::new(),
            names: Vec::new(),
        }
    }
}

/// The match that starts first; ties go to the pattern listed first.
fn earliest_match(scanners: &mut [Scanner<'_>], buffer: &Buffer) -> Option<(usize, Found)> {
    let hay = buffer.as_slice();
    let mut best: Option<(usize, Found)> = None;
    for (index, scanner) in scanners.iter_mut().enumerate() {
        if let Some(found) = scanner.find(hay, buffer.base()) {
            if best
                .as_ref()
                .is_none_or(|(_, b)| found.range.start < b.range.start)
            {
                best = Some((index, found));
            }
        }
    }
    best
}

fn position(patterns: &[Pattern], is: impl Fn(&Kind) -> bool) -> Option<usize> {
    patterns.iter().position(|p| is(&p.kind))
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
