//! What kind of REPL a [`Repl`](crate::Repl) drives: how to give it a unique prompt, what
//! its prompts look like, and how to tell whether its terminal echoes.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::pattern::Pattern;
use crate::error::{Error, Result};

/// The families of REPL this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// A POSIX shell: `PS1`/`PS2`, the exit status in the prompt.
    Shell,
    /// The Python REPL: `sys.ps1`/`sys.ps2`.
    Python,
    /// Any REPL, given its prompt-change command.
    Custom,
}

/// What kind of REPL a [`Repl`](crate::Repl) drives: how to set its prompts to unique
/// ones, and a few of its habits.
///
/// The shells and Python are built in; any other REPL is described by the command that
/// changes its prompts ([`custom`](ReplKind::custom)).
///
/// ```
/// use ptychat::{Command, Repl, ReplKind};
/// let kind = ReplKind::custom(".prompt '{prompt}' '{continuation}'").no_op("-- nothing");
/// let mut sqlite = Repl::spawn(Command::new("sqlite3").env("TERM", "dumb"), kind)?;
/// assert_eq!(sqlite.run("select 6 * 7;")?.text(), "42\n");
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReplKind {
    flavour: Flavour,
    prompt_change: String,
    no_op: Option<String>,
    blank_line_ends_block: bool,
    prompts_after_interrupt: bool,
}

impl ReplKind {
    /// Bash (the same as [`sh`](ReplKind::sh), named for the reader): `PS1` carries the
    /// exit status, `PS2` is the continuation prompt, `PROMPT_COMMAND`, `PS0` and
    /// `HISTFILE` are unset (the commands are kept out of the user's history), bracketed
    /// paste is turned off and so is echo (`stty -echo`).
    ///
    /// ```
    /// let kind = ptychat::ReplKind::bash();
    /// assert!(kind.reports_status());
    /// ```
    pub fn bash() -> Self {
        Self::sh()
    }

    /// A POSIX shell (dash, bash, busybox sh, ksh): as [`bash`](ReplKind::bash); the
    /// Bash-only settings are made so that other shells ignore them.
    ///
    /// ```
    /// let kind = ptychat::ReplKind::sh();
    /// assert!(kind.reports_status());
    /// ```
    pub fn sh() -> Self {
        ReplKind {
            flavour: Flavour::Shell,
            prompt_change: String::new(),
            no_op: Some(":".to_owned()),
            blank_line_ends_block: false,
            prompts_after_interrupt: true,
        }
    }

    /// The Python REPL (`python3`): `sys.ps1` and `sys.ps2` are set and the terminal's
    /// echo is turned off (with `termios`), without importing anything into the user's
    /// namespace; an indented block left open after the last line of a command is closed
    /// with an empty line, as a person would type.
    ///
    /// ```
    /// let kind = ptychat::ReplKind::python();
    /// assert!(!kind.reports_status());
    /// ```
    pub fn python() -> Self {
        ReplKind {
            flavour: Flavour::Python,
            prompt_change: String::new(),
            no_op: Some("pass".to_owned()),
            blank_line_ends_block: true,
            prompts_after_interrupt: true,
        }
    }

    /// Any REPL whose prompts a command can change: `prompt_change` is that command, with
    /// `{prompt}` where the new primary prompt goes and, if the REPL has one,
    /// `{continuation}` where its continuation prompt goes. The prompts put there are
    /// 18 characters of plain printable ASCII without quotes or backslashes
    /// (`[pc<12 hex digits>]> ` and `[pc<12 hex digits>]+ `), so they need no escaping
    /// inside quotes and fit REPLs that limit a prompt's length.
    ///
    /// The terminal's echo of this command contains the prompt itself, so the REPL must
    /// not echo it: [`Repl::spawn`](crate::Repl::spawn) starts the program with echo off;
    /// a session given to [`Repl::from_session`](crate::Repl::from_session) must have
    /// echo off already (or a `prompt_change` whose echo differs from the prompt, as the
    /// built-in kinds do by splitting the prompt in two quoted halves).
    ///
    /// ```
    /// use ptychat::{Command, Repl, ReplKind};
    /// let kind = ReplKind::custom(".prompt '{prompt}' '{continuation}'");
    /// let mut sqlite = Repl::spawn(Command::new("sqlite3").env("TERM", "dumb"), kind)?;
    /// // Two lines, one statement: the continuation prompt comes in between.
    /// assert_eq!(sqlite.run("select 'one'\n|| 'two';")?.text(), "onetwo\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn custom(prompt_change: impl Into<String>) -> Self {
        ReplKind {
            flavour: Flavour::Custom,
            prompt_change: prompt_change.into(),
            no_op: None,
            blank_line_ends_block: false,
            prompts_after_interrupt: false,
        }
    }

    /// A line that the REPL answers with nothing but a new prompt (a comment, `pass`,
    /// `:`). When one is known, setting up the REPL sends it once to learn whether the
    /// terminal still echoes input, and if it does, each command's echo is removed from
    /// its output. Without one, the terminal is taken not to echo.
    ///
    /// ```
    /// let kind = ptychat::ReplKind::custom(".prompt '{prompt}'").no_op("-- nothing");
    /// # let _ = kind;
    /// ```
    pub fn no_op(mut self, line: impl Into<String>) -> Self {
        self.no_op = Some(line.into());
        self
    }

    /// Whether an empty line closes a block the REPL still waits to complete after a
    /// command's last line (true for Python). When false, a command that leaves the REPL at
    /// its continuation prompt is incomplete: it is interrupted and the run fails.
    ///
    /// ```
    /// let kind = ptychat::ReplKind::custom("prompt {prompt}").blank_line_ends_block(true);
    /// # let _ = kind;
    /// ```
    pub fn blank_line_ends_block(mut self, on: bool) -> Self {
        self.blank_line_ends_block = on;
        self
    }

    /// Whether Ctrl-C always brings a new prompt, also at an idle prompt or a continuation
    /// prompt, and cancels the input so far (true for the shells and Python; false by
    /// default for a [`custom`](ReplKind::custom) kind: sqlite3, for one, does neither).
    ///
    /// When true, [`Repl::interrupt`](crate::Repl::interrupt) waits for that prompt before
    /// sending the prompt-change command, so a command that was reading its input when
    /// interrupted cannot swallow it. When false, the prompt-change command follows Ctrl-C
    /// at once; that works whenever the interrupted command was not reading input, and a
    /// command left incomplete is then not cancelled, so the REPL stays out of sync.
    ///
    /// ```
    /// let kind = ptychat::ReplKind::custom("prompt {prompt}").prompts_after_interrupt(true);
    /// # let _ = kind;
    /// ```
    pub fn prompts_after_interrupt(mut self, on: bool) -> Self {
        self.prompts_after_interrupt = on;
        self
    }

    /// True when the prompt carries the exit status of the last command (the shells), so
    /// [`ReplOutput::status`](crate::ReplOutput::status) and
    /// [`Repl::last_status`](crate::Repl::last_status) are known.
    ///
    /// ```
    /// assert!(!ptychat::ReplKind::custom("prompt {prompt}").reports_status());
    /// ```
    pub fn reports_status(&self) -> bool {
        self.flavour == Flavour::Shell
    }

    pub(crate) fn no_op_line(&self) -> Option<&str> {
        self.no_op.as_deref()
    }

    pub(crate) fn waits_for_prompt_after_interrupt(&self) -> bool {
        self.prompts_after_interrupt
    }

    pub(crate) fn closes_blocks_with_blank_line(&self) -> bool {
        self.blank_line_ends_block
    }

    /// Checks what can be checked before the REPL is touched.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.flavour == Flavour::Custom && !self.prompt_change.contains("{prompt}") {
            return Err(Error::InvalidArgument(format!(
                "the prompt-change command {:?} has no `{{prompt}}` to put the new prompt in",
                self.prompt_change
            )));
        }
        Ok(())
    }

    /// Fresh unique prompts, and the line that sets them; `first` adds the one-time
    /// settings (echo, history, bracketed paste) for a shell.
    pub(crate) fn fresh_prompts(&self, first: bool) -> Result<Prompts> {
        let nonce = nonce();
        let tag = format!("[ptychat-{nonce}");
        let prompts = match self.flavour {
            Flavour::Shell => {
                // Each prompt is written as two quoted halves, so the terminal's echo of
                // this line never contains the prompt.
                let set = format!("PS2='[ptychat-''{nonce}]+ '; PS1='[ptychat-''{nonce}:$?]$ '");
                let line = if first {
                    format!(
                        "stty -echo 2>/dev/null; bind 'set enable-bracketed-paste off' \
                         2>/dev/null; unset PROMPT_COMMAND PS0 HISTFILE; {set}"
                    )
                } else {
                    set
                };
                Prompts {
                    line,
                    primary: Pattern::regex(&format!(r"\[ptychat-{nonce}:(\d+)\]\$ "))?,
                    continuation: Some(Pattern::exact(format!("{tag}]+ "))),
                }
            }
            Flavour::Python => Prompts {
                line: format!(
                    "__import__('sys').ps1 = '[ptychat-' '{nonce}]>>> '; \
                     __import__('sys').ps2 = '[ptychat-' '{nonce}]... '{}",
                    if first { PYTHON_ECHO_OFF } else { "" }
                ),
                primary: Pattern::exact(format!("{tag}]>>> ")),
                continuation: Some(Pattern::exact(format!("{tag}]... "))),
            },
            Flavour::Custom => {
                // Short enough for REPLs that cut prompts (sqlite3 before 3.44 keeps 19
                // characters).
                let short = &nonce[..12];
                let primary = format!("[pc{short}]> ");
                let continuation = format!("[pc{short}]+ ");
                let has_continuation = self.prompt_change.contains("{continuation}");
                Prompts {
                    line: self
                        .prompt_change
                        .replace("{prompt}", &primary)
                        .replace("{continuation}", &continuation),
                    primary: Pattern::exact(primary),
                    continuation: has_continuation.then(|| Pattern::exact(continuation)),
                }
            }
        };
        Ok(prompts)
    }
}

/// Turns the echo of Python's terminal off, as `stty -echo` does for a shell (its line
/// editor echoes as the terminal says), in a namespace of its own; does nothing when
/// stdin is not a terminal.
const PYTHON_ECHO_OFF: &str = r#"; exec("try:\n import termios as t\n a = t.tcgetattr(0)\n a[3] &= ~t.ECHO\n t.tcsetattr(0, t.TCSANOW, a)\nexcept Exception:\n pass", {})"#;

/// A REPL's current prompts and the line that set them.
#[derive(Debug, Clone)]
pub(crate) struct Prompts {
    /// The line that sets these prompts.
    pub(crate) line: String,
    /// The primary prompt; for shells a regex whose group 1 is the exit status.
    pub(crate) primary: Pattern,
    /// The continuation prompt, if the REPL has one.
    pub(crate) continuation: Option<Pattern>,
}

impl Prompts {
    /// The patterns an expect for the next prompt waits for: primary (index 0), then
    /// continuation (index 1).
    pub(crate) fn patterns(&self) -> Vec<Pattern> {
        std::iter::once(self.primary.clone())
            .chain(self.continuation.clone())
            .collect()
    }
}

/// 16 hex digits no program output is likely to contain: a randomly keyed hash of a
/// process-wide counter, the process id and the time.
fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ() {
        let a = nonce();
        let b = nonce();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }

    #[test]
    fn the_echo_of_a_prompt_change_is_not_the_prompt() {
        for kind in [ReplKind::sh(), ReplKind::python()] {
            let prompts = kind.fresh_prompts(true).unwrap();
            let nonce_start = prompts.line.find("[ptychat-").unwrap();
            let tag_end = &prompts.line[nonce_start + "[ptychat-".len()..];
            // The opening of the tag is always followed by a quote, not by the nonce.
            assert!(tag_end.starts_with('\''), "{}", prompts.line);
        }
    }

    #[test]
    fn a_custom_kind_needs_a_prompt_placeholder() {
        assert!(ReplKind::custom("set prompt").validate().is_err());
        let kind = ReplKind::custom("p {prompt}");
        kind.validate().unwrap();
        let prompts = kind.fresh_prompts(true).unwrap();
        assert!(prompts.continuation.is_none());
        assert!(prompts.line.starts_with("p [pc"));
        assert_eq!(prompts.line.len(), "p ".len() + 18);
    }
}
