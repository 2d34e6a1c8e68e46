//! Action loops on one session: pattern → action, repeated until an action finishes (Tcl
//! Expect's `exp_continue`, Expect.pm's `restart_timeout_upon_receive`, goexpect's
//! `ExpectSwitchCase`). The same loop over many sessions is
//! [`GroupActions`](crate::GroupActions).

use std::borrow::Cow;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::engine::matched::Match;
use crate::engine::output::Stream;
use crate::engine::pattern::{Pattern, Patterns};
use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::error::{Error, Result};

/// What an action tells its loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<V> {
    /// Go on waiting for the patterns (Tcl's `exp_continue`).
    Continue,
    /// End the loop with this value.
    Done(V),
}

/// When an action loop's deadline starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Never: one deadline for the whole loop (Tcl's `exp_continue -continue_timer`).
    Never,
    /// After each match whose action continues (Tcl's `exp_continue`, the default).
    #[default]
    OnMatch,
    /// Whenever output arrives, and after each match (Expect.pm's
    /// `restart_timeout_upon_receive`): the loop fails only after a silence as long as
    /// the timeout.
    OnData,
}

/// An action of a loop on one session.
type Action<'a, T, V> = Box<dyn FnMut(&mut Session<T>, &Match) -> Result<Step<V>> + 'a>;

/// An action loop on one session: each pattern has an action, which answers the program
/// and continues, finishes the loop with a value, or fails it with an error.
///
/// Each turn is an `expect` of all the patterns (with the session's background patterns,
/// so a fail-fast `expect_before` pattern ends the loop with
/// [`Error::Background`](crate::Error::Background)); the action of the pattern that
/// matched runs with the session and the [`Match`]. A `timeout` pattern's action runs when
/// the deadline passes (continuing after it starts a new deadline, whatever the
/// [`Restart`] mode); an `eof` pattern's action runs at the end of the output and must
/// finish the loop: nothing more can arrive.
///
/// ```
/// use ptychat::{Actions, Command, Pattern, Step};
/// // A program that asks a random number of questions, then says goodbye.
/// let mut s = Command::shell(
///     "n=$(( $(od -An -N1 -tu1 /dev/urandom) % 5 + 1 )); i=0; \
///      while [ $i -lt $n ]; do i=$((i+1)); printf 'Question %d? ' $i; read a; done; \
///      echo Goodbye",
/// ).spawn()?;
/// let mut answered = 0;
/// let asked = Actions::new()
///     .on(Pattern::regex(r"Question (\d+)\? ")?, |s, _| {
///         answered += 1;
///         s.send_line("yes")?;
///         Ok(Step::Continue)
///     })
///     .on("Goodbye", |_, _| Ok(Step::Done("all answered")))
///     .run(&mut s)?;
/// assert_eq!(asked, "all answered");
/// assert!((1..=5).contains(&answered));
/// # Ok::<(), ptychat::Error>(())
/// ```
pub struct Actions<'a, T: Transport, V> {
    patterns: Vec<Pattern>,
    actions: Vec<Action<'a, T, V>>,
    timeout: Option<Option<Duration>>,
    restart: Restart,
}

impl<T: Transport, V> Default for Actions<'_, T, V> {
    fn default() -> Self {
        Actions {
            patterns: Vec::new(),
            actions: Vec::new(),
            timeout: None,
            restart: Restart::default(),
        }
    }
}

impl<T: Transport, V> std::fmt::Debug for Actions<'_, T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions")
            .field("patterns", &self.patterns)
            .field("timeout", &self.timeout)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Transport, V> Actions<'a, T, V> {
    /// A loop without patterns yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `pattern` with the action to run when it matches.
    pub fn on(
        mut self,
        pattern: impl Into<Pattern>,
        action: impl FnMut(&mut Session<T>, &Match) -> Result<Step<V>> + 'a,
    ) -> Self {
        self.patterns.push(pattern.into());
        self.actions.push(Box::new(action));
        self
    }

    /// The deadline of each turn as [`Restart`] counts it (default: the session's
    /// timeout; `None`: no limit).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// When the deadline starts again (default [`Restart::OnMatch`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Runs the loop on `session` until an action finishes it (its value) or fails it,
    /// or an expect fails (a timeout or end of output no pattern handles, a background
    /// pattern).
    pub fn run(&mut self, session: &mut Session<T>) -> Result<V> {
        if self.patterns.is_empty() {
            return Err(Error::InvalidArgument(
                "an action loop needs at least one pattern".into(),
            ));
        }
        let timeout = self.timeout.unwrap_or(session.timeout());
        let on_data = (self.restart == Restart::OnData).then_some(timeout);
        let mut deadline = Deadline::after(timeout);
        loop {
            let patterns = Patterns(Cow::Borrowed(&self.patterns));
            let m = session.expect_until(Stream::Main, patterns, &mut deadline, on_data)?;
            match (self.actions[m.index()])(session, &m)? {
                Step::Done(value) => return Ok(value),
                Step::Continue if m.is_eof() => {
                    return Err(Error::InvalidArgument(format!(
                        "the action of {} continued the loop after the end of the output, \
                         where nothing more can arrive; finish the loop there",
                        self.patterns[m.index()]
                    )));
                }
                Step::Continue => {
                    if m.is_timeout() || self.restart != Restart::Never {
                        deadline = Deadline::after(timeout);
                    }
                }
            }
        }
    }
}
