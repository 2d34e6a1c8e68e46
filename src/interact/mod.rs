//! Handing the user's terminal to the program and taking it back: [`Session::interact`].
//!
//! "Log me in, then give me the shell": a script drives the program through a login, then
//! [`interact`](Session::interact) connects the person at the keyboard to it until they
//! press the escape key (the session stays alive for more `expect`s) or the program exits.
//!
//! Owns: the relay loop between the user's terminal and the transport, raw mode (always
//! restored), the escape key, hooks on both directions (driven by the engine's matcher core),
//! window-size propagation and the signals interact hands back. One file per concept.
//!
//! Imports run downward: `interact` uses `engine`, `transport` (to implement
//! [`Interactive`] for the crate's transports), `process`, `deadline`, `signals`, `error` and
//! `sys`; nothing below it names it.

mod hooks;
mod idle;
mod interactive;
mod options;
mod outcome;
mod raw_mode;
mod relay;
mod signals;

use std::io;
use std::os::fd::AsFd;

use nix::sys::signal::Signal;

use crate::engine::pattern::Pattern;
use crate::engine::session::Session;
#[cfg(any(doc, test))]
use crate::error::Error;
use crate::error::{Context, Result};
use crate::signals::SignalPipe;
use crate::sys::signals::is_ignored;
use crate::sys::term::is_terminal;
use raw_mode::RawMode;

pub use hooks::{Flow, Reply};
pub use interactive::Interactive;
pub use options::{DEFAULT_ESCAPE, Interact};
pub use outcome::InteractOutcome;

use hooks::{Callback, Watch, check_hook_pattern};
use idle::Idle;
use relay::{Ended, Relay};
use signals::{TERMINATING, hand_back_signals};

#[cfg(test)]
use crate::engine::matched::Match;

impl<T: Interactive> Session<T> {
    /// Connects the user to the program: what the user types goes to the program, what the
    /// program writes goes to the user, until the user types the escape byte (Ctrl-]), or the
    /// program's output ends. The same as [`interact_with`](Session::interact_with) with
    /// [`Interact::new()`].
    ///
    /// ```no_run
    /// use ptychat::{Command, InteractOutcome};
    /// // Log in with the script, then hand the shell over.
    /// let (rows, cols) = ptychat::Interact::terminal_size().unwrap_or((24, 80));
    /// let mut ssh = Command::new("ssh").arg("me@host").window_size(rows, cols).spawn()?;
    /// ssh.expect("password: ")?;
    /// ssh.send_secret("hunter2\r")?;
    /// match ssh.interact()? {
    ///     InteractOutcome::Exited(status) => println!("ssh ended: {status}"),
    ///     InteractOutcome::Escaped => println!("back in the program; ssh is still running"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    pub fn interact(&mut self) -> Result<InteractOutcome> {
        self.interact_with(Interact::new())
    }

    /// Connects the user to the program, with hooks, filters and fds from `options`.
    ///
    /// - **Order.** Output the session has already buffered (not matched by earlier
    ///   `expect`s) is passed to the user first. From then on output is passed on as it
    ///   arrives; transcripts see it as usual. What the user types is written straight to
    ///   the program and is not reported to transcripts or the trace (it may be a password).
    /// - **The user's terminal.** If the user's input is a terminal, it is put in raw mode
    ///   (every byte, Ctrl-C included, goes to the program, whose own terminal interprets
    ///   it) and its exact previous mode is put back when interact returns, fails or
    ///   panics (a guard restores it while unwinding; with `panic = "abort"` nothing can).
    /// - **Signals.** While the terminal is raw, SIGTERM, SIGINT and SIGHUP (those not
    ///   ignored) are caught through a [`SignalPipe`], so the loop sees them. When one
    ///   arrives, interact puts the terminal's mode back, gives the signals their previous
    ///   dispositions and raises the signal again (blocked in this thread until the old
    ///   disposition is back, so none can slip through in between): with the default
    ///   disposition the process dies of it, as it would have without interact. If the
    ///   process survives (the previous disposition is a handler that returns), interact
    ///   returns [`InteractOutcome::Interrupted`]. A terminating signal that comes while
    ///   interact is returning is passed on the same way, never swallowed. SIGWINCH is
    ///   caught too, while the window size is followed. Ctrl-C, Ctrl-Z and Ctrl-\ typed in
    ///   raw mode are bytes for the program, not signals for us.
    /// - **Window size.** If the user's input (or else output) is a terminal and the
    ///   program runs on one, its size is copied to the program's terminal at the start and
    ///   on every SIGWINCH (the program gets SIGWINCH in turn), best effort.
    /// - **End of input.** When the user's input ends (a pipe or file; a terminal hang-up),
    ///   the end is passed on once everything typed has been written: on a terminal as its
    ///   end-of-file character (twice if the input did not end with a newline: the first
    ///   ends the partial line), otherwise by closing the program's input. Interact then
    ///   passes on the output that is already there and returns
    ///   [`InteractOutcome::InputEnded`] (or how the program ended, if its output ended
    ///   too): as Expect's `interact`, it does not wait for the program after the user's
    ///   end of file. Call `expect(Pattern::eof())` to wait for the rest, with a deadline
    ///   of your choice.
    /// - **End of output.** When the program's output ends, the rest of it is written to
    ///   the user and the program is waited for, up to the session's
    ///   [timeout](Session::timeout): [`InteractOutcome::Exited`], or
    ///   [`InteractOutcome::Eof`] if it has not exited by then or there is no process.
    /// - **Escape and stop.** After the escape byte or a [`Flow::Stop`], what the user typed
    ///   before it is still written to the program (output meanwhile is passed on), for up
    ///   to the session's timeout, then interact returns with the session usable.
    /// - **Waiting** is one `poll(2)` over the user's input, the program's output (and
    ///   input, while bytes wait to be written) and the signal pipe, up to the time an idle
    ///   hook is due: no threads, no sleeping, no busy loop.
    ///
    /// Fails with [`Error::InvalidArgument`] for a hook pattern that is `eof`, `timeout`
    /// or a signal, or that matches empty text.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::fd::AsFd;
    /// use ptychat::{Command, ExitStatus, Flow, Interact, InteractOutcome};
    ///
    /// // The "user" is a pair of pipes here; usually it is the terminal. The keyboard stays
    /// // open (nothing typed yet): the end of the user's input would reach the program.
    /// let (user_in, keyboard) = nix::unistd::pipe()?;
    /// let (screen, user_out) = nix::unistd::pipe()?;
    /// let mut s = Command::shell("printf 'Name? '; read name; echo \"hi $name\"").spawn()?;
    /// let outcome = s.interact_with(
    ///     Interact::new()
    ///         .stdin(user_in.as_fd())
    ///         .stdout(user_out.as_fd())
    ///         .on_output("Name? ", |_, reply| { reply.send("Ann\r"); Flow::Continue })
    ///         .output_filter(|bytes| bytes.to_ascii_uppercase()),
    /// )?;
    /// assert_eq!(outcome, InteractOutcome::Exited(ExitStatus::Exited(0)));
    /// drop((user_out, keyboard));
    /// let mut seen = String::new();
    /// std::fs::File::from(screen).read_to_string(&mut seen)?;
    /// assert_eq!(seen, "NAME? ANN\r\nHI ANN\r\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn interact_with(&mut self, options: Interact<'_>) -> Result<InteractOutcome> {
        let Interact {
            escape,
            input_hooks,
            output_hooks,
            input_filter,
            output_filter,
            input_idle,
            output_idle,
            stdin,
            stdout,
            stderr,
        } = options;
        let (input_patterns, input_callbacks): (Vec<Pattern>, Vec<Callback<'_>>) =
            input_hooks.into_iter().unzip();
        let (output_patterns, output_callbacks): (Vec<Pattern>, Vec<Callback<'_>>) =
            output_hooks.into_iter().unzip();
        for pattern in input_patterns.iter().chain(&output_patterns) {
            check_hook_pattern(pattern)?;
        }
        let (std_in, std_out, std_err) = (io::stdin(), io::stdout(), io::stderr());
        let user_in = stdin.unwrap_or_else(|| std_in.as_fd());
        let user_out = stdout.unwrap_or_else(|| std_out.as_fd());
        let user_err = stderr.unwrap_or_else(|| std_err.as_fd());

        let raw_input = is_terminal(user_in);
        let size_from = if raw_input {
            Some(user_in)
        } else if is_terminal(user_out) {
            Some(user_out)
        } else {
            None
        };
        let size_from = size_from.filter(|_| self.transport().terminal().is_some());

        let mut watched = Vec::new();
        if raw_input {
            for signal in TERMINATING {
                if !is_ignored(signal as i32).context("reading a signal disposition")? {
                    watched.push(signal);
                }
            }
        }
        if size_from.is_some() {
            watched.push(Signal::SIGWINCH);
        }
        // The pipe before raw mode, and raw mode undone before the pipe is dropped (locals
        // drop in reverse order, also when unwinding): a signal is caught whenever the
        // terminal is raw.
        let mut signals = match watched.is_empty() {
            true => None,
            false => Some(SignalPipe::new(&watched)?),
        };
        let raw = match raw_input {
            true => Some(RawMode::enter(user_in).context("putting the terminal in raw mode")?),
            false => None,
        };

        let mut relay = Relay {
            escape,
            user_in,
            user_out,
            user_err,
            size_from,
            input_watch: Watch::new(&input_patterns),
            output_watch: Watch::new(&output_patterns),
            input_callbacks,
            output_callbacks,
            input_filter,
            output_filter,
            input_idle: input_idle.map(|(after, callback)| Idle::new(after, callback)),
            output_idle: output_idle.map(|(after, callback)| Idle::new(after, callback)),
            pending: Vec::new(),
            input_open: true,
            eof_to_forward: false,
            last_typed: None,
            can_write: true,
            stopping: None,
        };
        let ended = relay.run(self, signals.as_mut());
        drop(relay);

        let restored = raw.map(RawMode::restore).transpose();
        let mut caught = match &ended {
            Ok(Ended::Signal(signal)) => vec![*signal],
            _ => Vec::new(),
        };
        if let Some(pipe) = signals {
            hand_back_signals(pipe, &mut caught)?;
        }
        match ended? {
            Ended::Signal(signal) => Ok(InteractOutcome::Interrupted(signal)),
            Ended::Outcome(outcome) => {
                restored.context("restoring the terminal mode")?;
                Ok(outcome)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(matches: &[Match]) -> Vec<(usize, String)> {
        matches
            .iter()
            .map(|m| (m.index(), String::from_utf8_lossy(m.matched()).into_owned()))
            .collect()
    }

    #[test]
    fn watch_matches_across_chunks_without_overlap() {
        let patterns = [Pattern::exact("abc"), Pattern::regex(r"x(\d+)y").unwrap()];
        let mut watch = Watch::new(&patterns);
        assert!(watch.feed(b"..a").is_empty());
        assert_eq!(texts(&watch.feed(b"bc..x1")), [(0, "abc".into())]);
        let found = watch.feed(b"2y abcabc");
        assert_eq!(
            texts(&found),
            [(1, "x12y".into()), (0, "abc".into()), (0, "abc".into())]
        );
        assert_eq!(found[0].group(1), Some(&b"12"[..]));
        assert_eq!(found[0].before(), b"..");
    }

    /// A chunk larger than the window is matched whole, and a match that starts in the
    /// window and ends in a full-sized chunk is found.
    #[test]
    fn watch_matches_chunks_larger_than_its_window() {
        let patterns = [Pattern::exact("needle")];
        let mut watch = Watch::new(&patterns);
        let mut big = b"xxneedle".to_vec();
        big.extend(std::iter::repeat_n(b'.', 70_000));
        assert_eq!(texts(&watch.feed(&big)), [(0, "needle".into())]);

        let mut watch = Watch::new(&patterns);
        assert!(watch.feed(b"....nee").is_empty());
        let mut chunk = b"dle".to_vec();
        chunk.resize(crate::engine::buffer::READ_CHUNK, b'.');
        assert_eq!(texts(&watch.feed(&chunk)), [(0, "needle".into())]);
    }

    #[test]
    fn watch_keeps_a_bounded_window() {
        let patterns = [Pattern::exact("needle")];
        let mut watch = Watch::new(&patterns);
        for _ in 0..100 {
            assert!(watch.feed(&[b'.'; 1000]).is_empty());
            assert!(watch.window.len() <= watch.window.max());
        }
        assert_eq!(watch.window.max(), crate::engine::buffer::READ_CHUNK);
        assert_eq!(texts(&watch.feed(b"nee")), []);
        assert_eq!(texts(&watch.feed(b"dle")), [(0, "needle".into())]);
    }

    #[test]
    fn hook_patterns_must_match_data() {
        for bad in [
            Pattern::eof(),
            Pattern::timeout(),
            Pattern::exact(""),
            Pattern::nbytes(0),
            Pattern::regex("a*").unwrap(),
        ] {
            assert!(
                matches!(check_hook_pattern(&bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
        assert!(check_hook_pattern(&Pattern::regex("a+").unwrap()).is_ok());
    }

    #[test]
    fn parses_escape_keys() {
        assert_eq!(Interact::parse_escape("^]").unwrap(), Some(0x1d));
        assert_eq!(Interact::parse_escape("^C").unwrap(), Some(3));
        assert_eq!(Interact::parse_escape("^?").unwrap(), Some(0x7f));
        assert_eq!(Interact::parse_escape("none").unwrap(), None);
        for bad in ["", "^", "^1", "]", "^]]", "None"] {
            assert!(Interact::parse_escape(bad).is_err(), "{bad:?}");
        }
    }
}
