//! The error of a script: where it went wrong, and why.

use std::fmt;

use crate::error::Error;

/// A script that could not be read, parsed or run.
///
/// Its text is what `ptychat run` prints: `FILE:LINE: what is wrong`, the line being the
/// one of the command that failed (or of the mistake found while parsing). When the cause
/// is the library's [`Error`] (a timeout, the end of the output, a program that could not
/// be spawned...), that error is kept whole: [`error`](ScriptError::error) returns it (so
/// [`Error::is_timeout`] and the others are at hand) and it is the
/// [`source`](std::error::Error::source) of the `ScriptError`.
///
/// ```
/// use ptychat::script::{RunOptions, Script, ScriptError};
/// let script = Script::parse("demo", "spawn cat\nexpect -t 0.1 never")?;
/// let err = script.run_with(&[], &RunOptions::default(), std::io::sink(), std::io::sink())
///     .unwrap_err();
/// assert_eq!((err.file(), err.line()), ("demo", Some(2)));
/// assert!(err.error().is_some_and(ptychat::Error::is_timeout));
/// assert!(err.to_string().starts_with("demo:2: timed out after"), "{err}");
/// assert!(matches!(err, ScriptError::Error { .. }));
/// # Ok::<(), ScriptError>(())
/// ```
#[non_exhaustive]
pub enum ScriptError {
    /// A line is wrong (found by [`Script::parse`](super::Script::parse), before anything
    /// runs), or a command failed for a reason of the script's own: a variable that is not
    /// set, no program running, a failed `assert_exit`, a `fail` command...
    #[non_exhaustive]
    Message {
        /// The script's path (or `-`), as given to [`Script::parse`](super::Script::parse).
        file: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },

    /// A command failed with the library's error, such as a timeout or the end of the
    /// program's output.
    #[non_exhaustive]
    Error {
        /// The script's path (or `-`).
        file: String,
        /// The 1-based line number of the command.
        line: usize,
        /// What the library reported (boxed: the library's error is large, and a script's
        /// error travels up through every command).
        error: Box<Error>,
    },

    /// The script failed as a whole, at no particular line: it could not be read
    /// ([`Script::load`](super::Script::load)), or a log that
    /// [`RunOptions`](super::RunOptions) asks for could not be opened. Its text is the
    /// library error's alone, which names the file concerned.
    #[non_exhaustive]
    File {
        /// The script's path (or `-`).
        file: String,
        /// What the library reported (boxed: the library's error is large, and a script's
        /// error travels up through every command).
        error: Box<Error>,
    },
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Message {
                file,
                line,
                message,
            } => write!(f, "{file}:{line}: {message}"),
            ScriptError::Error { file, line, error } => write!(f, "{file}:{line}: {error}"),
            ScriptError::File { error, .. } => write!(f, "{error}"),
        }
    }
}

/// The source is the library's [`Error`] itself (not its box), so `downcast_ref::<Error>`
/// finds it.
impl std::error::Error for ScriptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error().map(|error| error as _)
    }
}

/// Shows the same text as `Display`, like [`Error`]'s `Debug`, so `unwrap()` prints a
/// readable message.
impl fmt::Debug for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl ScriptError {
    /// A mistake or failure on `line` of `file`, described by `message`.
    pub(crate) fn message_at(file: &str, line: usize, message: impl Into<String>) -> Self {
        ScriptError::Message {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }

    /// The library's `error`, from the command on `line` of `file`.
    pub(crate) fn error_at(file: &str, line: usize, error: Error) -> Self {
        ScriptError::Error {
            file: file.to_owned(),
            line,
            error: Box::new(error),
        }
    }

    /// The script's path (or `-`), as given to [`Script::parse`](super::Script::parse) or
    /// [`Script::load`](super::Script::load).
    pub fn file(&self) -> &str {
        match self {
            ScriptError::Message { file, .. }
            | ScriptError::Error { file, .. }
            | ScriptError::File { file, .. } => file,
        }
    }

    /// The 1-based line number of the mistake or of the command that failed; `None` when
    /// the script failed as a whole ([`ScriptError::File`]).
    pub fn line(&self) -> Option<usize> {
        match self {
            ScriptError::Message { line, .. } | ScriptError::Error { line, .. } => Some(*line),
            ScriptError::File { .. } => None,
        }
    }

    /// The library's error, when that is the cause (a timeout, the end of the output, an
    /// I/O error...); `None` for the script's own messages.
    pub fn error(&self) -> Option<&Error> {
        match self {
            ScriptError::Error { error, .. } | ScriptError::File { error, .. } => Some(error),
            ScriptError::Message { .. } => None,
        }
    }
}
