//! [`Interact`]: the options of [`Session::interact_with`], built step by step.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::engine::matched::Match;
use crate::engine::pattern::Pattern;
#[cfg(doc)]
use crate::engine::session::Session;
use crate::engine::session::control_byte;
use crate::error::{Error, Result};
use crate::sys;
use crate::sys::term::is_terminal;

use super::hooks::{Callback, Flow, Reply};
use super::idle::IdleCallback;
#[cfg(doc)]
use super::outcome::InteractOutcome;

/// The default escape byte: Ctrl-] (0x1d), as in telnet and pexpect.
pub const DEFAULT_ESCAPE: u8 = 0x1d;

pub(super) type Filter<'a> = Box<dyn FnMut(&[u8]) -> Vec<u8> + 'a>;

/// Options for [`Session::interact_with`]: the escape byte, hooks and filters on both
/// directions, and which fds stand for the user.
///
/// ```no_run
/// use ptychat::{Command, Flow, Interact, InteractOutcome};
///
/// let mut shell = Command::new("bash").timeout(None).spawn()?;
/// let outcome = shell.interact_with(
///     Interact::new()
///         .escape(Some(0x18)) // Ctrl-X gives control back
///         .on_output("Password:", |_, reply| {
///             reply.show("\r\n[ptychat: not typing that for you]\r\n");
///             Flow::Continue
///         })
///         .on_input("logout", |_, _| Flow::Stop),
/// )?;
/// if outcome == InteractOutcome::Escaped {
///     shell.send_line("echo back in the script")?;
/// }
/// # Ok::<(), ptychat::Error>(())
/// ```
///
/// # Hooks
///
/// [`on_input`](Interact::on_input) and [`on_output`](Interact::on_output) match a
/// [`Pattern`] (exact text, a regex or [`nbytes`](Pattern::nbytes)) incrementally on the
/// bytes as they pass: what the user typed, or what the program wrote, before any filter.
/// Hooks observe: the bytes are passed on whether or not they match (change them with a
/// filter). When a match is found its callback runs with the [`Match`] (captures included)
/// and a [`Reply`]; several matches in one stream do not overlap, and the one that starts
/// first wins, as in `expect`. Each read is matched whole; between reads each direction
/// keeps the last 64 KiB (or the longest exact needle or `nbytes` count, if larger) of
/// unmatched bytes, so a match that spans reads must fit in that; `^` and `\A` refer to
/// the start of that window, use `(?m)^` for line starts.
///
/// Each read is handled as a whole: it is passed on (filtered), then the callbacks of all
/// the matches it completed run, in stream order (a [`Flow::Stop`] from one of them takes
/// effect after the others have run, as Expect's `interact` runs every action a read
/// completes); then what they sent is queued for the program and what they showed is
/// written to the user.
///
/// # Idle hooks
///
/// [`on_input_idle`](Interact::on_input_idle) and
/// [`on_output_idle`](Interact::on_output_idle) run a callback when the user has typed
/// nothing, or the program has written nothing, for a while (Expect's `interact timeout`).
/// The silence is counted from the start of interact, the last byte that passed that way
/// or the callback's last run, whichever is latest: the callback runs again after each
/// further silence of the same length.
///
/// # Filters
///
/// [`input_filter`](Interact::input_filter) and [`output_filter`](Interact::output_filter)
/// turn each chunk read into the bytes passed on (they see reads as they come: a word may
/// be split across two calls).
pub struct Interact<'a> {
    pub(super) escape: Option<u8>,
    pub(super) input_hooks: Vec<(Pattern, Callback<'a>)>,
    pub(super) output_hooks: Vec<(Pattern, Callback<'a>)>,
    pub(super) input_filter: Option<Filter<'a>>,
    pub(super) output_filter: Option<Filter<'a>>,
    pub(super) input_idle: Option<(Duration, IdleCallback<'a>)>,
    pub(super) output_idle: Option<(Duration, IdleCallback<'a>)>,
    pub(super) stdin: Option<BorrowedFd<'a>>,
    pub(super) stdout: Option<BorrowedFd<'a>>,
    pub(super) stderr: Option<BorrowedFd<'a>>,
}

impl fmt::Debug for Interact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn patterns(hooks: &[(Pattern, Callback<'_>)]) -> Vec<String> {
            hooks.iter().map(|(p, _)| p.to_string()).collect()
        }
        f.debug_struct("Interact")
            .field("escape", &self.escape)
            .field("input_hooks", &patterns(&self.input_hooks))
            .field("output_hooks", &patterns(&self.output_hooks))
            .field("input_filter", &self.input_filter.is_some())
            .field("output_filter", &self.output_filter.is_some())
            .field(
                "input_idle",
                &self.input_idle.as_ref().map(|(after, _)| after),
            )
            .field(
                "output_idle",
                &self.output_idle.as_ref().map(|(after, _)| after),
            )
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}

impl Default for Interact<'_> {
    fn default() -> Self {
        Interact::new()
    }
}

impl<'a> Interact<'a> {
    /// The defaults: escape byte Ctrl-] ([`DEFAULT_ESCAPE`]), no hooks, no filters, the
    /// process's stdin, stdout and stderr.
    pub fn new() -> Self {
        Interact {
            escape: Some(DEFAULT_ESCAPE),
            input_hooks: Vec::new(),
            output_hooks: Vec::new(),
            input_filter: None,
            output_filter: None,
            input_idle: None,
            output_idle: None,
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }

    /// The byte that, typed by the user, ends interact with [`InteractOutcome::Escaped`];
    /// `None`: no escape. The byte is not sent to the program; whatever came in the same
    /// read after it is dropped. See [`parse_escape`](Interact::parse_escape).
    pub fn escape(mut self, byte: Option<u8>) -> Self {
        self.escape = byte;
        self
    }

    /// Runs `callback` whenever `pattern` matches what the user types (see
    /// [Hooks](Interact#hooks)).
    pub fn on_input(
        mut self,
        pattern: impl Into<Pattern>,
        callback: impl FnMut(&Match, &mut Reply) -> Flow + 'a,
    ) -> Self {
        self.input_hooks.push((pattern.into(), Box::new(callback)));
        self
    }

    /// Runs `callback` whenever `pattern` matches what the program writes (see
    /// [Hooks](Interact#hooks)).
    pub fn on_output(
        mut self,
        pattern: impl Into<Pattern>,
        callback: impl FnMut(&Match, &mut Reply) -> Flow + 'a,
    ) -> Self {
        self.output_hooks.push((pattern.into(), Box::new(callback)));
        self
    }

    /// Runs `callback` when the user has typed nothing for `after` (see
    /// [Idle hooks](Interact#idle-hooks)); a second call replaces the first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ptychat::{Command, Flow, Interact, InteractOutcome};
    ///
    /// // The user (an open pipe here) types nothing: the program is told so, and ends.
    /// let (user_in, _keyboard) = nix::unistd::pipe()?;
    /// let mut s = Command::shell("read line; echo \"got $line\"").spawn()?;
    /// let outcome = s.interact_with(
    ///     Interact::new()
    ///         .stdin(std::os::fd::AsFd::as_fd(&user_in))
    ///         .on_input_idle(Duration::from_millis(100), |reply| {
    ///             reply.send("nobody there\r");
    ///             Flow::Continue
    ///         }),
    /// )?;
    /// assert!(matches!(outcome, InteractOutcome::Exited(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_input_idle(
        mut self,
        after: Duration,
        callback: impl FnMut(&mut Reply) -> Flow + 'a,
    ) -> Self {
        self.input_idle = Some((after, Box::new(callback)));
        self
    }

    /// Runs `callback` when the program has written nothing for `after` (see
    /// [Idle hooks](Interact#idle-hooks)); a second call replaces the first.
    pub fn on_output_idle(
        mut self,
        after: Duration,
        callback: impl FnMut(&mut Reply) -> Flow + 'a,
    ) -> Self {
        self.output_idle = Some((after, Box::new(callback)));
        self
    }

    /// Transforms what the user types before it is sent to the program.
    pub fn input_filter(mut self, filter: impl FnMut(&[u8]) -> Vec<u8> + 'a) -> Self {
        self.input_filter = Some(Box::new(filter));
        self
    }

    /// Transforms what the program writes before the user sees it.
    pub fn output_filter(mut self, filter: impl FnMut(&[u8]) -> Vec<u8> + 'a) -> Self {
        self.output_filter = Some(Box::new(filter));
        self
    }

    /// Reads the user's input from `fd` instead of the process's stdin (a pipe, a pty
    /// slave...). If it is a terminal, it is put in raw mode for the duration.
    pub fn stdin(mut self, fd: BorrowedFd<'a>) -> Self {
        self.stdin = Some(fd);
        self
    }

    /// Writes the program's output to `fd` instead of the process's stdout.
    pub fn stdout(mut self, fd: BorrowedFd<'a>) -> Self {
        self.stdout = Some(fd);
        self
    }

    /// Writes the program's separate stderr (open3 sessions) to `fd` instead of the
    /// process's stderr.
    pub fn stderr(mut self, fd: BorrowedFd<'a>) -> Self {
        self.stderr = Some(fd);
        self
    }

    /// Parses an escape key as written on a command line: `^X` for Ctrl-X (a letter, or
    /// one of `@ [ \ ] ^ _ ?`), or `none` for no escape.
    ///
    /// ```
    /// use ptychat::Interact;
    /// assert_eq!(Interact::parse_escape("^]")?, Some(0x1d));
    /// assert_eq!(Interact::parse_escape("^x")?, Some(0x18));
    /// assert_eq!(Interact::parse_escape("none")?, None);
    /// assert!(Interact::parse_escape("x").is_err());
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn parse_escape(spec: &str) -> Result<Option<u8>> {
        if spec == "none" {
            return Ok(None);
        }
        let mut chars = spec.chars();
        match (chars.next(), chars.next(), chars.next()) {
            (Some('^'), Some(c), None) => control_byte(c).map(Some),
            _ => None,
        }
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "escape key `{spec}`: expected ^X for Ctrl-X (a letter or one of @ [ \\ ] ^ _ ?) \
                 or `none`"
            ))
        })
    }

    /// The size of the user's terminal as (rows, columns): stdin's, or stdout's if stdin is
    /// not a terminal; `None` if neither is. Handy to spawn a program sized like the
    /// terminal it will be handed (interact also copies the size when it starts).
    ///
    /// ```no_run
    /// let (rows, cols) = ptychat::Interact::terminal_size().unwrap_or((24, 80));
    /// let mut shell = ptychat::Command::new("bash").window_size(rows, cols).spawn()?;
    /// shell.interact()?;
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn terminal_size() -> Option<(u16, u16)> {
        let stdin = io::stdin();
        let stdout = io::stdout();
        [stdin.as_fd(), stdout.as_fd()]
            .into_iter()
            .filter(|fd| is_terminal(fd))
            .find_map(|fd| sys::term::window_size(fd).ok())
            .filter(|&(rows, cols)| rows > 0 && cols > 0)
    }
}
