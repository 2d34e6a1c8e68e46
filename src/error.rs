//! The crate's one error type.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while spawning, talking to or waiting for a program.
///
/// Timeout and end-of-file errors carry what a person needs to see why an expectation
/// failed: the patterns that were awaited, the deadline, how long the call waited and the
/// escaped tail (the last KiB) of the output that arrived but did not match.
///
/// ```
/// use std::time::Duration;
/// let mut session = ptychat::Command::new("echo").arg("hello").spawn()?;
/// let err = session.expect_timeout("goodbye", Some(Duration::from_secs(5))).unwrap_err();
/// assert!(matches!(err, ptychat::Error::Eof { .. }));
/// assert!(err.to_string().contains(r#"hello\r\n"#), "{err}");
/// # Ok::<(), ptychat::Error>(())
/// ```
///
/// New variants may be added: a `match` needs a `_` arm (or use [`is_timeout`] and
/// [`is_eof`]).
///
/// [`is_timeout`]: Error::is_timeout
/// [`is_eof`]: Error::is_eof
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program could not be started: [`problem`](SpawnProblem) says why (not found,
    /// not executable, a directory, a missing working directory...), with the path.
    #[error("cannot spawn `{program}`: {}", spawn_reason(problem, source))]
    Spawn {
        /// The program as it was given to the builder.
        program: String,
        /// Why, as far as can be told after the fact.
        problem: SpawnProblem,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// The deadline passed before any of the patterns matched.
    #[error(
        "timed out after {waited:?} (deadline {timeout:?}) waiting for {patterns}; \
         {buffered} unmatched bytes buffered{}, ending with: \"{tail}\"{hint}",
        discarded_note(*discarded)
    )]
    Timeout {
        /// The awaited patterns, as text.
        patterns: String,
        /// The deadline that was given for the call.
        timeout: Duration,
        /// How long the call actually waited.
        waited: Duration,
        /// How many unmatched bytes are in the buffer.
        buffered: usize,
        /// How many of the oldest unmatched bytes were dropped while the call waited,
        /// because the buffer was full ([`BufferFull::DiscardOldest`]); a match had to fit
        /// in what was kept.
        ///
        /// [`BufferFull::DiscardOldest`]: crate::BufferFull::DiscardOldest
        discarded: u64,
        /// The escaped last KiB of the unmatched buffer.
        tail: String,
        /// Empty, or `; hint: ...` when a likely cause was found (a regex whose `.` would
        /// have matched across a newline).
        hint: String,
    },

    /// The program closed its output (usually: it exited) before any of the patterns matched.
    #[error(
        "end of output after {waited:?} while waiting for {patterns}; \
         {buffered} unmatched bytes buffered{}, ending with: \"{tail}\"{hint}",
        discarded_note(*discarded)
    )]
    Eof {
        /// The awaited patterns, as text.
        patterns: String,
        /// How long the call waited before the output ended.
        waited: Duration,
        /// How many unmatched bytes are in the buffer.
        buffered: usize,
        /// How many of the oldest unmatched bytes were dropped while the call waited, as
        /// for [`Error::Timeout`].
        discarded: u64,
        /// The escaped last KiB of the unmatched buffer.
        tail: String,
        /// Empty, or `; hint: ...` as for [`Error::Timeout`].
        hint: String,
    },

    /// The program did not end the way [`expect_exit`](crate::Session::expect_exit) was
    /// told it would: it ended otherwise, or was still running at the deadline. With a
    /// virtual terminal (feature `screen`), the message ends with the rendered screen.
    #[error(
        "expected the program to end with {expected}, but it {actual} after {waited:?}; \
         {buffered} unmatched bytes buffered, ending with: \"{tail}\"{screen}"
    )]
    Exit {
        /// How the program was expected to end (`exit code 0`, `killed by SIGTERM`).
        expected: String,
        /// What happened instead (`ended with exit code 3`, `was still running at the
        /// deadline (10s)`).
        actual: String,
        /// How long the call waited.
        waited: Duration,
        /// How many unmatched bytes are in the buffer.
        buffered: usize,
        /// The escaped last KiB of the unmatched buffer.
        tail: String,
        /// Empty, or a newline and the screen as
        /// [`Screen::render`](crate::Screen::render) shows it (boxed: it keeps `Error`
        /// small).
        screen: Box<str>,
    },

    /// A background pattern ([`Session::expect_before`](crate::Session::expect_before),
    /// [`expect_after`](crate::Session::expect_after), or a [`Group`](crate::Group)'s)
    /// matched during an expect. The match is in `found`, taken out of the buffer as a
    /// match of the call's own patterns would be.
    #[error(
        "background pattern {pattern} ({list} #{index}) matched: \"{}\"{}",
        crate::escape(found.matched()),
        background_what(found)
    )]
    Background {
        /// The list it is in.
        list: crate::BackgroundList,
        /// Its index in that list (a session's list first, then its group's).
        index: usize,
        /// The pattern, as text.
        pattern: String,
        /// The match.
        found: Box<crate::Match>,
    },

    /// One session of a [`Group`](crate::Group) call failed: its output ended with no
    /// `eof` pattern, its own deadline passed, its buffer filled, or its I/O failed.
    #[error("session `{session}`: {source}")]
    InSession {
        /// The session's name in the group.
        session: String,
        /// What went wrong there.
        #[source]
        source: Box<Error>,
    },

    /// The deadline of a [`Group`](crate::Group) call passed before any session matched
    /// (and no session had a `timeout` pattern).
    #[error("timed out after {waited:?} (deadline {timeout:?}) waiting on {waiting}")]
    GroupTimeout {
        /// The deadline that was given for the call.
        timeout: Duration,
        /// How long the call actually waited.
        waited: Duration,
        /// Each session's name, awaited patterns, unmatched byte count and escaped tail.
        waiting: String,
    },

    /// The deadline passed before the screen showed what
    /// [`expect_screen`](crate::Session::expect_screen) waited for (feature `screen`). The
    /// message ends with the rendered screen, the cursor marked.
    #[error(
        "timed out after {waited:?} (deadline {timeout:?}) waiting for the screen to show \
         {patterns}; {buffered} unmatched bytes buffered, ending with: \"{tail}\"\n{screen}"
    )]
    ScreenTimeout {
        /// The awaited screen patterns, as text.
        patterns: String,
        /// The deadline that was given for the call.
        timeout: Duration,
        /// How long the call actually waited.
        waited: Duration,
        /// How many unmatched bytes are in the byte buffer.
        buffered: usize,
        /// The escaped last KiB of the unmatched byte buffer.
        tail: String,
        /// The screen as [`Screen::render`](crate::Screen::render) shows it.
        screen: String,
    },

    /// The program's output ended before the screen showed what
    /// [`expect_screen`](crate::Session::expect_screen) waited for (feature `screen`).
    #[error(
        "end of output after {waited:?} while waiting for the screen to show {patterns}; \
         {buffered} unmatched bytes buffered, ending with: \"{tail}\"\n{screen}"
    )]
    ScreenEof {
        /// The awaited screen patterns, as text.
        patterns: String,
        /// How long the call waited before the output ended.
        waited: Duration,
        /// How many unmatched bytes are in the byte buffer.
        buffered: usize,
        /// The escaped last KiB of the unmatched byte buffer.
        tail: String,
        /// The screen as [`Screen::render`](crate::Screen::render) shows it.
        screen: String,
    },

    /// A regular expression did not compile.
    #[error("invalid regex: {0}")]
    Regex(#[from] regex::Error),

    /// An argument was out of range or meaningless (an unknown control character, a zero
    /// window size, an empty pattern list...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The output buffer reached its maximum size with the [`BufferFull::Error`] policy.
    ///
    /// [`BufferFull::Error`]: crate::BufferFull::Error
    #[error(
        "output buffer full ({max} bytes) while waiting for {patterns}; ending with: \"{tail}\""
    )]
    BufferFull {
        /// The buffer's maximum size.
        max: usize,
        /// The awaited patterns, as text.
        patterns: String,
        /// The escaped last KiB of the buffer.
        tail: String,
    },

    /// A closure run by [`with_timeout`](crate::with_timeout) was still running when its
    /// deadline (the duration given) passed; a blocking call in it was interrupted.
    #[error("timed out after {0:?} in a blocking call")]
    CallTimeout(Duration),

    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// An ssh login ([`SshLogin::login`](crate::SshLogin::login)) failed for the reason
    /// in `problem`: one variant for all of them, so a `match` can tell ssh failures
    /// apart from the rest at a glance and [`SshProblem`](crate::SshProblem) can grow.
    #[error("ssh login to {destination} failed: {problem}; ssh said: \"{tail}\"")]
    Ssh {
        /// `user@host:port`, as far as the login was told.
        destination: String,
        /// What went wrong.
        problem: crate::SshProblem,
        /// The escaped last KiB of what ssh printed.
        tail: String,
    },
    /// Output that must not appear did, while
    /// [`expect_absent`](crate::Session::expect_absent) watched for it. The message shows
    /// the pattern, what matched, the escaped tail of the output before it and, when the
    /// session has a virtual terminal (feature `screen`), the rendered screen.
    #[error(
        "{pattern} showed up in the output (it must not {}): \"{matched}\"; the \
         output before it ended with: \"{tail}\"{screen}",
        limit(timeout)
    )]
    Unexpected {
        /// The pattern that matched, as text.
        pattern: String,
        /// How long the call was to watch (`None`: until the end of the output).
        timeout: Option<Duration>,
        /// The escaped text that matched.
        matched: String,
        /// The escaped last KiB of the output before the match.
        tail: String,
        /// Empty, or a newline and the screen as
        /// [`Screen::render`](crate::Screen::render) shows it.
        screen: String,
    },
    /// A command run by a [`Repl`](crate::Repl) did not end at a prompt: its deadline
    /// passed (`source` is an [`Error::Timeout`]), the REPL ended ([`Error::Eof`]), or
    /// the command was incomplete. The REPL was brought back to a fresh prompt if it
    /// could be; `recovery` says what happened (see the
    /// [guide](crate::repl#when-a-command-fails)).
    #[error("REPL command \"{}\": {source}; {recovery}", crate::escape(command.as_bytes()))]
    ReplCommand {
        /// The command, as given to `run`.
        command: String,
        /// What the command printed before it failed, without echo and prompts.
        output: Vec<u8>,
        /// What was done to the REPL afterwards, as text.
        recovery: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
}

/// A watch's limit, for messages.
fn limit(timeout: &Option<Duration>) -> String {
    match timeout {
        Some(timeout) => format!("within {timeout:?}"),
        None => "before the output ends".to_owned(),
    }
}

/// Why a program could not be started, found by looking at the paths involved once
/// `exec` (or the change of directory before it) has failed.
///
/// ```
/// use ptychat::{Command, Error, SpawnProblem};
/// let err = Command::new("true").current_dir("/no/such/dir").spawn().unwrap_err();
/// assert!(matches!(
///     err,
///     Error::Spawn { problem: SpawnProblem::NoWorkingDirectory(_), .. }
/// ));
/// assert_eq!(
///     err.to_string(),
///     "cannot spawn `true`: the working directory `/no/such/dir` does not exist \
///      (No such file or directory (os error 2))"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnProblem {
    /// The program was given as a path, and nothing is there.
    NotFound(PathBuf),
    /// No directory of this `PATH` has the program.
    NotInPath(OsString),
    /// The file is there but is not executable (no execute permission, or not a format
    /// the kernel runs).
    NotExecutable(PathBuf),
    /// The path is a directory.
    IsADirectory(PathBuf),
    /// The working directory set with `current_dir` does not exist or is not a directory.
    NoWorkingDirectory(PathBuf),
    /// The script's `#!` line names an interpreter that does not exist.
    NoInterpreter {
        /// The script.
        script: PathBuf,
        /// The interpreter its first line names.
        interpreter: PathBuf,
    },
    /// A hook added with [`Command::pre_exec`](crate::Command::pre_exec) returned an
    /// error (the OS error is its error code).
    PreExecHook,
    /// This process has as many files open as its limit allows (`EMFILE`): the soft
    /// `RLIMIT_NOFILE`, at `soft` when the spawn failed (`hard` is how far it may be
    /// raised without privileges; `u64::MAX` for no limit). Each pty session holds one
    /// fd (the master; a pidfd too once a wait for its exit needed one), a pipe session
    /// two to four, and a spawn needs a few more for a moment.
    OpenFileLimit {
        /// The soft limit, the one that was reached.
        soft: u64,
        /// The hard limit, up to which the soft one may be raised.
        hard: u64,
    },
    /// The whole system has as many files open as it allows (`ENFILE`):
    /// `/proc/sys/fs/file-max`, if it could be read.
    SystemOpenFileLimit {
        /// The value of `/proc/sys/fs/file-max`.
        max: Option<u64>,
    },
    /// Every pseudo-terminal the system allows is in use: opening `/dev/ptmx` failed
    /// with `ENOSPC` (or `EAGAIN`/`EIO` on older kernels). The limit is
    /// `/proc/sys/kernel/pty/max`, if it could be read.
    PtyLimit {
        /// The value of `/proc/sys/kernel/pty/max`.
        max: Option<u64>,
    },
    /// Nothing more specific than what the operating system said.
    Other,
}

impl fmt::Display for SpawnProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnProblem::NotFound(path) => write!(f, "`{}` does not exist", path.display()),
            SpawnProblem::NotInPath(path) => {
                write!(f, "no such program in PATH ({})", path.to_string_lossy())
            }
            SpawnProblem::NotExecutable(path) => {
                write!(f, "`{}` is not executable", path.display())
            }
            SpawnProblem::IsADirectory(path) => write!(f, "`{}` is a directory", path.display()),
            SpawnProblem::NoWorkingDirectory(dir) => {
                write!(
                    f,
                    "the working directory `{}` does not exist",
                    dir.display()
                )
            }
            SpawnProblem::NoInterpreter {
                script,
                interpreter,
            } => write!(
                f,
                "the interpreter `{}` named on the first line of `{}` does not exist",
                interpreter.display(),
                script.display()
            ),
            SpawnProblem::PreExecHook => write!(f, "the pre-exec hook failed"),
            SpawnProblem::OpenFileLimit { soft, hard } => {
                write!(
                    f,
                    "this process has reached its limit of {soft} open files \
                     (RLIMIT_NOFILE, soft limit {soft}, hard limit {}); close sessions or \
                     files that are no longer needed, or raise the soft limit \
                     (`ulimit -n`, setrlimit)",
                    limit_text(*hard)
                )
            }
            SpawnProblem::SystemOpenFileLimit { max } => write!(
                f,
                "the system has reached its limit of open files (/proc/sys/fs/file-max{}); \
                 close files or raise it (sysctl fs.file-max)",
                max.map_or(String::new(), |max| format!(" = {max}"))
            ),
            SpawnProblem::PtyLimit { max } => write!(
                f,
                "every pseudo-terminal the system allows is in use \
                 (/proc/sys/kernel/pty/max{}); end sessions that are no longer needed, \
                 or raise the limit (sysctl kernel.pty.max)",
                max.map_or(String::new(), |max| format!(" = {max}"))
            ),
            SpawnProblem::Other => Ok(()),
        }
    }
}

/// What a background match was, for its message: nothing for data (the text shows it).
fn background_what(found: &crate::Match) -> &'static str {
    if found.is_eof() {
        " (the end of the output)"
    } else if found.is_timeout() {
        " (the deadline)"
    } else if found.signal().is_some() {
        " (a signal)"
    } else {
        ""
    }
}

/// A resource limit as text: the number, or `unlimited`.
fn limit_text(limit: u64) -> String {
    match limit {
        u64::MAX => "unlimited".to_owned(),
        limit => limit.to_string(),
    }
}

/// The reason part of a spawn error's text: the problem, then the OS error in brackets.
/// `" (and N older bytes discarded: the buffer was full)"`, or nothing for none.
fn discarded_note(discarded: u64) -> String {
    if discarded == 0 {
        String::new()
    } else {
        format!(" (and {discarded} older bytes discarded: the buffer was full)")
    }
}

fn spawn_reason(problem: &SpawnProblem, source: &io::Error) -> String {
    match problem {
        SpawnProblem::Other => source.to_string(),
        problem => format!("{problem} ({source})"),
    }
}

/// Shows the same text as `Display`, so `unwrap()` and `main` returning an error print a
/// readable message (with the escaped output tail) rather than a struct dump.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every variant's text already includes its source.
        write!(f, "{self}")
    }
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Io`] from anything that converts to an `io::Error` (such as a
    /// `nix` errno).
    pub(crate) fn io(context: &'static str, source: impl Into<io::Error>) -> Self {
        Error::Io {
            context,
            source: source.into(),
        }
    }

    /// True for [`Error::Timeout`], [`Error::GroupTimeout`] and `ScreenTimeout`, also when the timeout happened
    /// in one session of a group call or in a [`Repl`](crate::Repl) command.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::GroupTimeout { .. } | Error::ScreenTimeout { .. } => {
                true
            }
            Error::InSession { source, .. } | Error::ReplCommand { source, .. } => {
                source.is_timeout()
            }
            _ => false,
        }
    }

    /// True for [`Error::Eof`] and `ScreenEof`, also when it happened in one session of a group call
    /// or in a [`Repl`](crate::Repl) command.
    pub fn is_eof(&self) -> bool {
        match self {
            Error::Eof { .. } | Error::ScreenEof { .. } => true,
            Error::InSession { source, .. } | Error::ReplCommand { source, .. } => source.is_eof(),
            _ => false,
        }
    }
}

/// Adds an operation's description to a low-level error.
pub(crate) trait Context<T> {
    fn context(self, context: &'static str) -> Result<T>;
}

impl<T, E: Into<io::Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|e| Error::io(context, e))
    }
}
