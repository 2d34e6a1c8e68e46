//! REPL sessions: a shell, Python or any program with prompts, driven one command at a
//! time, each [`run`](Repl::run) returning the command's output without the echo and the
//! prompt, and for shells its exit status.
//!
//! Owns: [`Repl`] (set-up, `run`, recovery), [`ReplKind`] (how to give each kind of REPL
//! unique prompts) and [`ReplOutput`]. Sending, matching and errors are the engine's.
//!
//! Imports run downward: `repl` uses `engine`, `transport`, `deadline` and `error`.
//!
//! # Guide
//!
//! ```
//! use ptychat::Repl;
//!
//! let mut bash = Repl::bash()?;
//! let out = bash.run("cd /tmp && pwd")?;
//! assert_eq!(out.text(), "/tmp\n");
//! assert_eq!(out.status(), Some(0));
//! // Output without a final newline, and output that looks like a prompt.
//! assert_eq!(bash.run("printf 'x'")?.text(), "x");
//! assert_eq!(bash.run("echo '$ >>> [ptychat-0:0]$ '")?.text(), "$ >>> [ptychat-0:0]$ \n");
//! // Several lines, with continuation prompts in between.
//! assert_eq!(bash.run("if true\nthen echo yes\nfi")?.text(), "yes\n");
//! assert_eq!(bash.run("grep -q root /no/such/file")?.status(), Some(2));
//!
//! let mut python = Repl::python()?;
//! python.run("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)")?;
//! assert_eq!(python.run("fib(20)")?.text(), "6765\n");
//! let err = python.run("1 / 0")?.text();
//! assert!(err.ends_with("ZeroDivisionError: division by zero\n"), "{err}");
//! # Ok::<(), ptychat::Error>(())
//! ```
//!
//! ## Prompts
//!
//! Setting up a REPL gives it prompts with a random part (`[ptychat-3f9c0e...:0]$ ` in a
//! shell, whose prompt also carries `$?`; `[ptychat-3f9c0e...]>>> ` in Python), so no
//! output of a program can end a command early by looking like a prompt — unless it
//! prints the REPL's own prompt setting (`print(sys.ps1)`). The command that sets them
//! spells each prompt in two quoted halves, so the terminal's echo of it does not match
//! either. [`Repl::bash`] starts Bash without rc files; every shell is then set up
//! without `PROMPT_COMMAND`, `PS0`, `HISTFILE` and bracketed paste.
//!
//! ## Echo
//!
//! [`Repl::bash`], [`Repl::sh`], [`Repl::python`] and [`Repl::spawn`] start the program
//! with the terminal's echo off, and setting up a shell or Python turns it off again from
//! inside (`stty -echo`; `termios` in Python), for a terminal at the far end of an ssh
//! connection. Where echo stays on, setting up the REPL notices it (by sending the kind's
//! [no-op line](ReplKind::no_op) once) and each line's echo is removed from the start of
//! its output. That removes a terminal's echo of the line as it was sent; a line editor
//! that redraws a line wider than the terminal echoes something else, so turn echo off
//! for those.
//!
//! ## Commands of several lines
//!
//! Each line is sent once the REPL has prompted after the one before (with its primary or
//! continuation prompt), as a person types; the output of the command is what the REPL
//! printed in between. A Python block still open after the last line is closed with an
//! empty line; within a command, as at Python's prompt, a block needs an empty line
//! before the next unindented statement. A shell command still incomplete after its last line (an unclosed quote)
//! fails: it is interrupted and [`Error::ReplCommand`](crate::Error::ReplCommand) says so.
//!
//! ## When a command fails
//!
//! When a command's deadline passes, [`run_timeout`](Repl::run_timeout) returns
//! [`Error::ReplCommand`](crate::Error::ReplCommand) and leaves the REPL usable:
//!
//! 1. The error's `output` is everything the command had printed when the deadline
//!    passed (all that could be read then, echo and prompts removed); its `source` is the
//!    [`Error::Timeout`](crate::Error::Timeout) with the prompt awaited, the deadline,
//!    how long it waited and the escaped tail of the output of the last line sent.
//! 2. The REPL is sent Ctrl-C (SIGINT to the foreground program, through the terminal),
//!    the prompt that follows is awaited (for the kinds that
//!    [prompt after an interrupt](ReplKind::prompts_after_interrupt)), new unique
//!    prompts are set and awaited, and everything that arrived after the deadline is
//!    dropped: the rest of the command's output, `^C`, Python's `KeyboardInterrupt`
//!    traceback, stale prompts. If no prompt comes, Ctrl-C is sent again (see
//!    [`Repl::interrupt`]). This waits up to the session's
//!    [timeout](crate::Session::timeout).
//! 3. The error's `recovery` says which happened. If no prompt came back (a program that
//!    ignores SIGINT), [`Repl::is_in_sync`] is false and the next `run` interrupts again
//!    before sending anything.
//!
//! When the REPL exits during a command (`exit`, a crash), the error's `source` is
//! [`Error::Eof`](crate::Error::Eof), its message names the command, and
//! [`Error::is_eof`](crate::Error::is_eof) is true.
//!
//! ```
//! use std::time::Duration;
//! let mut sh = ptychat::Repl::sh()?;
//! let err = sh.run_timeout("sleep 1000", Some(Duration::from_millis(100))).unwrap_err();
//! assert!(err.is_timeout(), "{err}");
//! assert_eq!(sh.last_status(), Some(130)); // killed by SIGINT
//! assert_eq!(sh.run("echo ok")?.text(), "ok\n");
//!
//! let err = sh.run("exit 3").unwrap_err();
//! assert!(err.is_eof());
//! assert!(err.to_string().starts_with("REPL command \"exit 3\": end of output"), "{err}");
//! # Ok::<(), ptychat::Error>(())
//! ```
//!
//! ## Compared with pexpect's `replwrap`
//!
//! The model is `replwrap`'s (unique prompts set by a command, one line at a time, echo
//! off), with these differences. `replwrap` returns what the last line printed, waiting a
//! fixed second for the prompt after each earlier line; a `Repl` returns what every line
//! printed, all lines sharing the command's deadline. After a timeout `replwrap` raises
//! and leaves the REPL wherever it was; a `Repl` interrupts it and resynchronises on
//! fresh prompts. A shell's exit status comes with the output at no extra round trip.
//! A Python block left open is closed with an empty line instead of being an error. And
//! the prompts carry a random part instead of a fixed text.

mod kind;
mod output;
mod session;

pub use kind::ReplKind;
pub use output::ReplOutput;
pub use session::Repl;
