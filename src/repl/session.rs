//! The [`Repl`] itself: setting it up, running commands, and bringing it back to a prompt
//! after a command failed.

use std::fmt;
use std::time::{Duration, Instant};

use crate::deadline::Deadline;
use crate::engine::matched::Match;
use crate::engine::output::Stream;
use crate::engine::pattern::{Pattern, Patterns};
use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::error::{Error, Result};
use crate::repl::kind::{Prompts, ReplKind};
use crate::repl::output::ReplOutput;
use crate::transport::command::Command;
use crate::transport::pty::Pty;

/// Ctrl-C, the interrupt character of every terminal's default settings.
const CTRL_C: u8 = 0x03;

/// How long recovery first waits for a prompt before it sends Ctrl-C again: a signal
/// that arrives just before a program starts waiting for input can go unnoticed (Python's
/// REPL then waits on), and a second one is noticed.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// The longest wait between two Ctrl-Cs of a recovery.
const LAST_RETRY: Duration = Duration::from_secs(4);

/// A read-eval-print loop (a shell, Python, any program with prompts) driven one command
/// at a time: [`run`](Repl::run) sends a command and returns its output once the REPL
/// prompts again, without the echo of the command and without the prompt. See the
/// [module guide](crate::repl) for how it works and what happens when a command fails.
///
/// ```
/// let mut bash = ptychat::Repl::bash()?;
/// let out = bash.run("for i in 1 2 3\ndo echo \"line $i\"\ndone")?;
/// assert_eq!(out.text(), "line 1\nline 2\nline 3\n");
/// assert_eq!(out.status(), Some(0));
/// # Ok::<(), ptychat::Error>(())
/// ```
pub struct Repl<T: Transport = Pty> {
    session: Session<T>,
    kind: ReplKind,
    prompts: Prompts,
    /// The terminal was found to echo input: each line's echo is removed from the output.
    echo: bool,
    /// False after a command failed and the REPL could not be brought back to a prompt.
    in_sync: bool,
    last_status: Option<i32>,
}

impl<T: Transport + fmt::Debug> fmt::Debug for Repl<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repl")
            .field("session", &self.session)
            .field("kind", &self.kind)
            .field("prompt", &self.prompts.primary)
            .field("echo", &self.echo)
            .field("in_sync", &self.in_sync)
            .field("last_status", &self.last_status)
            .finish()
    }
}

impl Repl<Pty> {
    /// Starts `bash --norc --noprofile --noediting` (no startup files, no line editing)
    /// with `TERM=dumb` on a pty with echo off, and sets it up as [`ReplKind::bash`] says.
    ///
    /// ```
    /// let mut bash = ptychat::Repl::bash()?;
    /// assert_eq!(bash.run("echo $((6 * 7))")?.text(), "42\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn bash() -> Result<Self> {
        Self::spawn(
            Command::new("bash")
                .args(["--norc", "--noprofile", "--noediting"])
                .env("TERM", "dumb"),
            ReplKind::bash(),
        )
    }

    /// Starts `sh` (without `ENV`, with `TERM=dumb`) on a pty with echo off, and sets it up
    /// as [`ReplKind::sh`] says.
    ///
    /// ```
    /// let mut sh = ptychat::Repl::sh()?;
    /// assert_eq!(sh.run("false")?.status(), Some(1));
    /// assert_eq!(sh.last_status(), Some(1));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn sh() -> Result<Self> {
        Self::spawn(
            Command::new("sh").env("TERM", "dumb").env_remove("ENV"),
            ReplKind::sh(),
        )
    }

    /// Starts `python3 -q` (with `TERM=dumb`, `PYTHON_BASIC_REPL=1` for Python 3.13+,
    /// without `PYTHONSTARTUP`) on a pty with echo off, and sets it up as
    /// [`ReplKind::python`] says.
    ///
    /// ```
    /// let mut python = ptychat::Repl::python()?;
    /// python.run("def square(x):\n    return x * x")?;
    /// assert_eq!(python.run("square(12)")?.text(), "144\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn python() -> Result<Self> {
        Self::spawn(
            Command::new("python3")
                .arg("-q")
                .env("TERM", "dumb")
                .env("PYTHON_BASIC_REPL", "1")
                .env_remove("PYTHONSTARTUP"),
            ReplKind::python(),
        )
    }

    /// Spawns `command` on a pty with echo off (this sets
    /// [`Command::echo`](Command::echo) to false) and sets it up as a REPL of `kind`
    /// ([`from_session`](Repl::from_session)).
    ///
    /// ```
    /// use ptychat::{Command, Repl, ReplKind};
    /// let mut bash = Repl::spawn(
    ///     Command::new("bash").args(["--norc", "--noediting"]).env("LC_ALL", "C"),
    ///     ReplKind::bash(),
    /// )?;
    /// assert_eq!(bash.run("echo $LC_ALL")?.text(), "C\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn spawn(command: &mut Command, kind: ReplKind) -> Result<Self> {
        kind.validate()?;
        let session = command.echo(false).spawn()?;
        Self::from_session(session, kind)
    }
}

impl<T: Transport> Repl<T> {
    /// Makes a REPL of a session that is already talking to one: a program spawned some
    /// other way, or a shell at the end of a login (over ssh, telnet, a serial line).
    ///
    /// Sends the command that sets the kind's unique prompts (and turns echo off in shells
    /// and Python), waits (up to the session's [timeout](Session::timeout)) for the new
    /// prompt and drops everything before it: banners, the old prompt, the echo of the
    /// set-up line. If no new prompt comes, the error is [`Error::ReplCommand`] naming the
    /// set-up line, with what arrived instead. Then, if the kind has a [no-op line](ReplKind::no_op), sends it once to learn
    /// whether the terminal still echoes; if it does, each command's echo is removed from
    /// its output from now on.
    ///
    /// ```
    /// use ptychat::{Command, Repl, ReplKind};
    /// // A session that has been through some conversation already.
    /// let mut session = Command::new("sh").env("PS1", "login$ ").spawn()?;
    /// session.expect("login$ ")?;
    /// let mut sh = Repl::from_session(session, ReplKind::sh())?;
    /// assert_eq!(sh.run("echo ready")?.text(), "ready\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn from_session(mut session: Session<T>, kind: ReplKind) -> Result<Self> {
        kind.validate()?;
        let prompts = kind.fresh_prompts(true)?;
        let mut deadline = Deadline::after(session.timeout());
        let set_up = session
            .send_line(&prompts.line)
            .and_then(|()| expect(&mut session, &prompts.primary, &mut deadline));
        if let Err(source) = set_up {
            return Err(Error::ReplCommand {
                command: prompts.line,
                output: session.take_buffer(),
                recovery: "the REPL could not be set up: no new prompt came".to_owned(),
                source: Box::new(source),
            });
        }
        let mut repl = Repl {
            session,
            kind,
            prompts,
            echo: false,
            in_sync: true,
            last_status: None,
        };
        if let Some(no_op) = repl.kind.no_op_line() {
            repl.session.send_line(no_op)?;
            let m = expect(&mut repl.session, &repl.prompts.primary, &mut deadline)?;
            repl.echo = !no_op.is_empty() && m.before().starts_with(no_op.as_bytes());
        }
        Ok(repl)
    }

    /// Runs `command` with the session's [timeout](Session::timeout); see
    /// [`run_timeout`](Repl::run_timeout).
    ///
    /// ```
    /// let mut python = ptychat::Repl::python()?;
    /// assert_eq!(python.run("print('hello')")?.text(), "hello\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn run(&mut self, command: &str) -> Result<ReplOutput> {
        let deadline = Deadline::after(self.session.timeout());
        self.run_until(command, deadline)
    }

    /// Runs `command` and returns its output once the REPL prompts again, waiting up to
    /// `timeout` (`None`: no limit) for the whole command.
    ///
    /// A command of several lines is sent one line at a time, each once the REPL has
    /// prompted (with its primary or its continuation prompt) after the one before; the
    /// output is everything the REPL printed in between, without prompts and echo. A
    /// trailing newline is not an extra line.
    ///
    /// When the deadline passes, the REPL ends, or the command is incomplete, the error
    /// is [`Error::ReplCommand`]: it holds the underlying error (an [`Error::Timeout`]
    /// naming the prompt awaited, the deadline and the tail of the output), the output the
    /// command printed until then, and what was done to the REPL: it is interrupted
    /// (Ctrl-C) and brought back to a fresh unique prompt, so the next `run` works. See
    /// the [module guide](crate::repl#when-a-command-fails).
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut sh = ptychat::Repl::sh()?;
    /// let err = sh.run_timeout("echo started; sleep 1000", Some(Duration::from_millis(200)))
    ///     .unwrap_err();
    /// assert!(err.is_timeout());
    /// if let ptychat::Error::ReplCommand { output, .. } = &err {
    ///     // What had arrived at the deadline: `started\r\n` (or, on a very slow machine,
    ///     // less of it).
    ///     println!("{}", String::from_utf8_lossy(output));
    /// }
    /// assert_eq!(sh.run("echo ok")?.text(), "ok\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn run_timeout(&mut self, command: &str, timeout: Option<Duration>) -> Result<ReplOutput> {
        self.run_until(command, Deadline::after(timeout))
    }

    /// Like [`run_timeout`](Repl::run_timeout), with the deadline as an instant: for
    /// several commands that share one limit.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut sh = ptychat::Repl::sh()?;
    /// let deadline = Instant::now() + Duration::from_secs(30);
    /// sh.run_deadline("cd /", deadline)?;
    /// assert_eq!(sh.run_deadline("pwd", deadline)?.text(), "/\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn run_deadline(&mut self, command: &str, deadline: Instant) -> Result<ReplOutput> {
        self.run_until(command, Deadline::at(deadline))
    }

    /// The exit status the prompt reported after the last command (see
    /// [`ReplKind::reports_status`]); `None` before the first command and for REPLs
    /// whose prompt does not report it. After an interrupted command, the status of the
    /// prompt that followed the interrupt (130 in the shells when Ctrl-C killed it).
    ///
    /// ```
    /// let mut bash = ptychat::Repl::bash()?;
    /// assert_eq!(bash.last_status(), None);
    /// bash.run("(exit 7)")?;
    /// assert_eq!(bash.last_status(), Some(7));
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn last_status(&self) -> Option<i32> {
        self.last_status
    }

    /// False when a command failed and interrupting it did not bring a prompt back (a
    /// program that ignores Ctrl-C, say): the next [`run`](Repl::run) interrupts it again
    /// first and fails if that does not work either.
    ///
    /// ```
    /// let sh = ptychat::Repl::sh()?;
    /// assert!(sh.is_in_sync());
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn is_in_sync(&self) -> bool {
        self.in_sync
    }

    /// Interrupts whatever the REPL is doing and brings it back to a fresh prompt: sends
    /// Ctrl-C, waits for the prompt that follows (if the kind
    /// [prompts after an interrupt](ReplKind::prompts_after_interrupt)), sets new unique
    /// prompts and waits for them, dropping everything before; up to the session's
    /// [timeout](Session::timeout). A failed [`run`](Repl::run) does this itself.
    ///
    /// A program can miss a Ctrl-C that arrives just before it starts reading (Python's
    /// REPL does, and with GNU readline may then stay deaf to the next ones), so when no
    /// prompt comes within a quarter of a second, Ctrl-C is sent again followed by an empty
    /// line (which makes a REPL waiting in its line editor prompt again), the pause
    /// doubling up to 4 s; each round that sets prompts uses a new random part, and only a
    /// prompt of the last round ends the recovery, so a late answer to an earlier round
    /// cannot be taken for it.
    ///
    /// Ctrl-C reaches the program as SIGINT only through a terminal (a pty here, or one at
    /// the other end of an ssh connection); over pipes the REPL reads a 0x03 byte.
    ///
    /// ```
    /// let mut python = ptychat::Repl::python()?;
    /// python.session_mut().send_line("while True: pass")?;
    /// python.interrupt()?;
    /// assert_eq!(python.run("1 + 1")?.text(), "2\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn interrupt(&mut self) -> Result<()> {
        let deadline = Deadline::after(self.session.timeout());
        self.in_sync = false;
        // Prompts that may still arrive: the current one, then each one set on the way.
        let mut known = vec![self.prompts.primary.clone()];
        let mut status = None;
        let mut step = FIRST_RETRY;
        let mut missed = false;
        loop {
            self.session.send([CTRL_C])?;
            if missed {
                // Python with GNU readline can stay deaf to SIGINT after missing one (seen
                // on a loaded machine: a dozen Ctrl-Cs over 30 s, no answer); an empty
                // line makes its readline return, and the REPL prompts again. A program
                // still running takes the line as input, which the next Ctrl-C flushes.
                self.session.send_line("")?;
            }
            if self.kind.waits_for_prompt_after_interrupt() {
                match self.expect_within(&known, &deadline, step)? {
                    Some(m) if status.is_none() => status = status_of(&m),
                    Some(_) => {}
                    None => {
                        step = (step * 2).min(LAST_RETRY);
                        missed = true;
                        continue;
                    }
                }
            }
            let fresh = self.kind.fresh_prompts(false)?;
            self.session.send_line(&fresh.line)?;
            if self
                .expect_within(std::slice::from_ref(&fresh.primary), &deadline, step)?
                .is_some()
            {
                if self.kind.reports_status() {
                    self.last_status = status;
                }
                self.prompts = fresh;
                self.in_sync = true;
                return Ok(());
            }
            known.push(fresh.primary);
            step = (step * 2).min(LAST_RETRY);
        }
    }

    /// Waits for one of `prompts` until `step` from now: `None` if the step ended first,
    /// the timeout error once `deadline` has passed.
    fn expect_within(
        &mut self,
        prompts: &[Pattern],
        deadline: &Deadline,
        step: Duration,
    ) -> Result<Option<Match>> {
        let mut within = deadline.within(step);
        match self
            .session
            .expect_until(Stream::Main, Patterns::from(prompts), &mut within, None)
        {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.is_timeout() && !deadline.has_passed() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The kind of REPL this is.
    ///
    /// ```
    /// let sh = ptychat::Repl::sh()?;
    /// assert!(sh.kind().reports_status());
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn kind(&self) -> &ReplKind {
        &self.kind
    }

    /// The session underneath.
    ///
    /// ```
    /// let sh = ptychat::Repl::sh()?;
    /// assert!(sh.session().pid() > 0);
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn session(&self) -> &Session<T> {
        &self.session
    }

    /// The session underneath, mutably: for a conversation `run` does not cover (a
    /// command that asks questions). Leave the REPL at its prompt with nothing unread, or
    /// call [`interrupt`](Repl::interrupt) before the next `run`.
    ///
    /// ```
    /// use ptychat::Pattern;
    /// let mut sh = ptychat::Repl::sh()?;
    /// let prompt = Pattern::regex(r"\[ptychat-[0-9a-f]+:0\]\$ ")?;
    /// sh.session_mut().send_line("read answer; echo \"got $answer\"")?;
    /// sh.session_mut().send_line("yes")?;
    /// let m = sh.session_mut().expect(prompt)?;
    /// assert_eq!(m.before(), b"got yes\r\n");
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn session_mut(&mut self) -> &mut Session<T> {
        &mut self.session
    }

    /// The session underneath, the REPL's prompts left as they are.
    ///
    /// ```
    /// let mut python = ptychat::Repl::python()?.into_session();
    /// python.send_eof()?;
    /// assert!(python.wait()?.success());
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn into_session(self) -> Session<T> {
        self.session
    }

    fn run_until(&mut self, command: &str, mut deadline: Deadline) -> Result<ReplOutput> {
        if !self.in_sync && !self.session.is_eof() {
            if let Err(source) = self.interrupt() {
                return Err(Error::ReplCommand {
                    command: command.to_owned(),
                    output: Vec::new(),
                    recovery: "it was not sent: an earlier command left the REPL out of \
                               sync and interrupting it again did not bring a prompt back"
                        .to_owned(),
                    source: Box::new(source),
                });
            }
        }
        let discarded = self.session.discarded();
        let patterns = self.prompts.patterns();
        let mut output = Vec::new();
        let mut status = None;
        let mut at_continuation = false;
        for line in lines(command) {
            match self.send_and_wait(line, &patterns, &mut deadline, &mut output) {
                Ok(Some(code)) => (status, at_continuation) = (code, false),
                Ok(None) => at_continuation = true,
                Err(source) => return Err(self.failed(command, output, line, source)),
            }
        }
        if at_continuation && self.kind.closes_blocks_with_blank_line() {
            match self.send_and_wait("", &patterns, &mut deadline, &mut output) {
                Ok(Some(code)) => (status, at_continuation) = (code, false),
                Ok(None) => {}
                Err(source) => return Err(self.failed(command, output, "", source)),
            }
        }
        if at_continuation {
            let source = Error::InvalidArgument(
                "the command is incomplete: after its last line the REPL showed its \
                 continuation prompt, asking for more"
                    .to_owned(),
            );
            return Err(self.failed(command, output, "", source));
        }
        self.last_status = status;
        Ok(ReplOutput {
            bytes: output,
            status,
            discarded: self.session.discarded() - discarded,
        })
    }

    /// Sends one line and waits for the next prompt, adding what came before it (echo
    /// removed) to `output`: `Some(status)` at the primary prompt, `None` at the
    /// continuation prompt.
    fn send_and_wait(
        &mut self,
        line: &str,
        patterns: &[Pattern],
        deadline: &mut Deadline,
        output: &mut Vec<u8>,
    ) -> Result<Option<Option<i32>>> {
        self.session.send_line(line)?;
        let m =
            self.session
                .expect_until(Stream::Main, Patterns::from(patterns), deadline, None)?;
        output.extend_from_slice(strip_echo(self.echo, m.before(), line));
        Ok((m.index() == 0).then(|| {
            if self.kind.reports_status() {
                status_of(&m)
            } else {
                None
            }
        }))
    }

    /// The error of a command that did not end at a prompt; recovers the REPL if it can.
    fn failed(&mut self, command: &str, mut output: Vec<u8>, line: &str, source: Error) -> Error {
        self.in_sync = false;
        // What arrived after the last prompt and before the interrupt. A failure to read
        // here shows again in the interrupt, or in the next run.
        let _ = self.session.read_available();
        let rest = self.session.take_buffer();
        output.extend_from_slice(strip_echo(self.echo, &rest, line));
        let recovery = if self.session.is_eof() {
            "the REPL has ended (its output is closed)".to_owned()
        } else {
            match self.interrupt() {
                Ok(()) => "it was interrupted (Ctrl-C) and the REPL is at a fresh prompt; \
                           what it printed after the failure was dropped"
                    .to_owned(),
                Err(e) => format!(
                    "interrupting it did not bring a prompt back ({e}); the REPL is out of \
                     sync, and the next run interrupts it again first"
                ),
            }
        };
        Error::ReplCommand {
            command: command.to_owned(),
            output,
            recovery,
            source: Box::new(source),
        }
    }
}

/// Waits for one prompt until `deadline`.
fn expect<T: Transport>(
    session: &mut Session<T>,
    prompt: &Pattern,
    deadline: &mut Deadline,
) -> Result<Match> {
    session.expect_until(Stream::Main, Patterns::from(prompt), deadline, None)
}

/// The exit status a shell prompt carries (its regex's group 1).
fn status_of(m: &Match) -> Option<i32> {
    m.group_str(1)?.parse().ok()
}

/// The lines of a command: split at `\n` (a `\r` before it dropped), a trailing newline
/// not making an empty last line; an empty command is one empty line.
fn lines(command: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = command
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    if lines.len() > 1 && lines.last() == Some(&"") {
        lines.pop();
    }
    lines
}

/// `before` without the terminal's echo of `line` at its start, when the terminal echoes.
fn strip_echo<'a>(echo: bool, before: &'a [u8], line: &str) -> &'a [u8] {
    if !echo {
        return before;
    }
    let Some(rest) = before.strip_prefix(line.as_bytes()) else {
        return before;
    };
    let rest = rest.strip_prefix(b"\r").unwrap_or(rest);
    let rest = rest.strip_prefix(b"\r").unwrap_or(rest);
    rest.strip_prefix(b"\n").unwrap_or(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_a_command() {
        assert_eq!(lines(""), [""]);
        assert_eq!(lines("a"), ["a"]);
        assert_eq!(lines("a\n"), ["a"]);
        assert_eq!(lines("a\r\nb"), ["a", "b"]);
        assert_eq!(lines("def f():\n  pass\n\n"), ["def f():", "  pass", ""]);
    }

    #[test]
    fn echo_is_stripped_only_when_on_and_whole() {
        assert_eq!(
            strip_echo(false, b"ls\r\nfile\r\n", "ls"),
            b"ls\r\nfile\r\n"
        );
        assert_eq!(strip_echo(true, b"ls\r\nfile\r\n", "ls"), b"file\r\n");
        assert_eq!(strip_echo(true, b"\r\n", ""), b"");
        // Not followed by a line end: not the echo.
        assert_eq!(strip_echo(true, b"lsx\r\n", "ls"), b"lsx\r\n");
        assert_eq!(strip_echo(true, b"other\r\n", "ls"), b"other\r\n");
    }
}
