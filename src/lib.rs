//! # ptychat
//!
//! Drive interactive programs the way a person at a terminal would: spawn a program on a
//! pseudo-terminal, send it input, and wait for patterns in its output, with deadlines,
//! captures and process control.
//!
//! ```
//! use ptychat::{Command, Pattern};
//!
//! let mut python = Command::new("python3").arg("-q").spawn()?;
//! python.expect(">>> ")?;
//! python.send_line("print(sum(range(10)))")?;
//! let m = python.expect(Pattern::regex(r"(\d+)\r\n>>> ")?)?;
//! assert_eq!(m.group(1), Some(&b"45"[..]));
//! python.send_eof()?;
//! python.expect(Pattern::eof())?;
//! assert!(python.wait()?.success());
//! # Ok::<(), ptychat::Error>(())
//! ```
//!
//! The engine ([`Session`]) is independent of the transport: [`PtySession`] is a
//! `Session<Pty>` with process and terminal control added.
//!
//! ## Guarantees
//! - Waiting is `poll(2)` with a deadline: an idle session uses no CPU.
//! - Matching is incremental: each read costs time proportional to the new bytes, not to
//!   the buffer (see [`Pattern`] and [`Session::set_max_buffer`]).
//! - Every byte the program wrote before exiting is delivered before end-of-file.
//! - Every fd is close-on-exec; the child gets only its terminal. Every child is reaped,
//!   also when its session is dropped.
//!
//! ## Platform
//!
//! Linux only: ptys with `TIOCSCTTY`, pidfds (5.3; without them, waits check every 1-50 ms),
//! `close_range` (5.11; without it, fds are marked close-on-exec one by one), per-thread
//! POSIX timers (`SIGEV_THREAD_ID`) and `/proc`. On other systems the crate does not
//! compile, with a message saying why. The README lists what each feature is for.
//!
//! ## Pitfalls
//!
//! - A terminal echoes what is sent: expect past the echo or turn it off
//!   ([`Command::echo`]); a prompt can match inside its own echo.
//! - Readline and colours add escape sequences: `TERM=dumb`, and `PYTHON_BASIC_REPL=1` for
//!   Python 3.13+.
//! - In [`Pattern::regex`], `?`, `$` and `.` are metacharacters (`"Continue? "` is not the
//!   text), and `.` does not match a newline; [`Pattern::exact`] is literal.
//! - Lines end in `\r\n` on a terminal; anchor numbers on what follows them.
//! - Full-screen programs use application cursor keys (`\x1bOA` for the up arrow).
//! - [`Session::wait`] reads the output while it waits, into a buffer that keeps the newest
//!   16 MiB ([`Session::set_max_buffer`]).
//!
//! ## Many sessions, and threads
//!
//! One thread can drive many programs: a [`Group`] owns sessions of any transport and one
//! call waits on all of them in one `poll(2)`, saying which session matched which pattern
//! (Tcl Expect's `expect -i`). Action loops ([`Actions`] on one session, [`GroupActions`]
//! over a group) answer what comes until an action finishes; background patterns
//! ([`Session::expect_before`], [`Group::expect_before`]) are checked on every expect.
//!
//! From async code, the `tokio` feature wraps a session in an `AsyncSession`: the same
//! engine, its waits as futures on the runtime's fd readiness, cancellation-safe; an
//! `AsyncGroup` is the group in async form.
//!
//! Nothing in the crate starts a thread. A session is driven from one thread at a time
//! (its calls take `&mut self`) and is `Send` when its transport is, which every
//! transport here is: sessions and groups can move between threads, and a program may
//! also give each session a thread of its own.
//!
//! ## Module map
//!
//! The public API is flat (everything is re-exported here); the source is in folders by
//! topic, each `mod.rs` saying what it owns. Imports run one way, down this table:
//!
//! | source | owns |
//! |---|---|
//! | `harness/` | [`harness`]: script files as tests with stored output, run by `cargo test` (feature `cli`) |
//! | `script/` | [`script`]: the script language run by `ptychat run` (feature `cli`) |
//! | `tcl/` | [`tcl`]: Tcl Expect scripts on the real Tcl interpreter, run by `ptychat expect` (feature `cli`) |
//! | `ssh/` | [`SshLogin`]: `ssh` on a pty, its questions answered, the remote shell with a unique prompt |
//! | `repl/` | [`Repl`]: shells, Python or any REPL driven one command at a time, unique prompts, recovery after a timeout |
//! | `interact/` | [`Session::interact`]: the user's terminal handed to the program, hooks, raw mode |
//! | `screen/` | the virtual terminal of feature `screen`: `Screen`, screen expectations (`Session::expect_screen`), named keys, mouse, text and SVG pictures (docs/SCREEN.md) |
//! | `async_session/` | `AsyncSession` (feature `tokio`): sessions driven from async code on the runtime's fd readiness, the engine's matcher underneath, `expect_any` over many, and `AsyncGroup` |
//! | `group/` | [`Group`]: many sessions driven from one thread, one expect over all of them, [`GroupActions`] loops |
//! | `logging/` | [`LogWriter`], [`AsciicastRecorder`], [`Recording`], [`Shared`]: transcripts' sinks |
//! | `transport/` | [`Command`] and [`PtySession`], [`PipeSession`], [`StreamSession`], [`fork`]: each transport with its `impl Session` block; [`WithChild`] adds a [`Child`] to any of them |
//! | `signals/` | [`SignalPipe`] (signals as bytes a session polls) and [`alarm`] |
//! | `process.rs` | [`Child`] and [`ExitStatus`]: waiting, killing, reaping |
//! | `engine/` | [`Session`] over any [`Transport`]: buffer, [`Pattern`]s, the one matcher core, [`Match`], background patterns, [`Actions`] loops, [`Transcript`], the trace |
//! | `deadline.rs`, `error.rs`, `escape.rs` | the one deadline type, [`Error`], [`escape`] |
//! | `sys/` | the operating-system layer: every `unsafe` block, fds, pids and `io::Result` |
//!
//! `docs/DESIGN.md` has the full map, where a new transport, pattern kind or command goes,
//! and why each dependency is there.
//!
//! ## API conventions
//!
//! - **Deadlines.** A timeout is an `Option<Duration>`, `None` meaning no limit
//!   ([`Session::set_timeout`], [`Session::wait_timeout`], [`Child::wait_timeout`],
//!   [`Command::timeout`]). Where a call has a `_deadline` variant
//!   ([`Session::expect_deadline`], [`Session::wait_deadline`], [`Child::wait_deadline`]),
//!   it takes an [`Instant`](std::time::Instant), so a loop of calls shares one budget.
//!   [`with_timeout`] and the grace period of [`Child::terminate`] take a plain `Duration`:
//!   an alarm, or a grace period, without a limit means nothing.
//! - **Errors.** Every fallible call returns [`Result`] with the one [`Error`] type, which is
//!   `#[non_exhaustive]`. A timeout or end-of-file error names the patterns, the deadline and
//!   the escaped tail of what arrived. Scripts have their own
//!   [`ScriptError`](script::ScriptError), which adds the file and line and wraps `Error`.
//! - **Naming.** `send*` writes, `expect*` waits for output, `wait*` waits for the process,
//!   `try_*` never blocks, `set_*` changes a setting of a live session. [`Command`] is
//!   built through `&mut self` like `std::process::Command`; [`Interact`], which borrows
//!   callbacks, by value.

#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "ptychat supports Linux only: it relies on Linux ptys, pidfds, close_range, per-thread \
     POSIX timers (SIGEV_THREAD_ID) and /proc (see the README's Platform section)"
);

#[cfg(feature = "tokio")]
mod async_session;
mod deadline;
mod engine;
mod error;
mod escape;
mod group;
#[cfg(feature = "cli")]
pub mod harness;
mod interact;
mod logging;
mod process;
pub mod repl;
#[cfg(feature = "screen")]
mod screen;
#[cfg(feature = "cli")]
pub mod script;
mod signals;
mod ssh;
#[allow(unsafe_code)]
mod sys;
#[cfg(feature = "cli")]
pub mod tcl;
mod transport;

#[cfg(feature = "tokio")]
pub use async_session::{AnyMatch, AsyncGroup, AsyncSession};
pub use engine::actions::{Actions, Restart, Step};
pub use engine::background::BackgroundList;
pub use engine::buffer::BufferFull;
pub use engine::matched::Match;
pub use engine::matcher::MatchOrder;
pub use engine::pattern::{Pattern, Patterns};
pub use engine::session::{DEFAULT_MAX_BUFFER, DEFAULT_TIMEOUT, Session, StderrView};
pub use engine::transcript::{Transcript, TranscriptId};
pub use engine::transport::Transport;
pub use engine::typing::{HumanTyping, SlowTyping};
pub use error::{Error, Result, SpawnProblem};
pub use escape::escape;
pub use group::{Group, GroupActions, GroupMatch, SessionId, Target};
pub use interact::{DEFAULT_ESCAPE, Flow, Interact, InteractOutcome, Interactive, Reply};
pub use logging::{AsciicastRecorder, Direction, LogWriter, Recording, Shared};
pub use nix::sys::signal::Signal;
pub use process::{Child, ExitStatus};
pub use repl::{Repl, ReplKind, ReplOutput};
#[cfg(feature = "screen")]
pub use screen::keys::{Key, KeyPress, MouseButton};
#[cfg(feature = "screen")]
pub use screen::pattern::{Rect, ScreenMatch, ScreenPattern, ScreenPatterns, Style};
#[cfg(feature = "screen")]
pub use screen::pty::DEFAULT_SCROLLBACK;
#[cfg(feature = "screen")]
pub use screen::terminal::{Cell, Color, Screen};
pub use signals::alarm::with_timeout;
pub use signals::{SignalPipe, alarm};
pub use ssh::{HostKeyPolicy, SshLogin, SshProblem};
pub use transport::command::Command;
pub use transport::fork;
pub use transport::pipes::{PipeSession, Pipes, StderrMode};
pub use transport::pty::{Pty, PtyConfig, PtyMaster, PtySession};
pub use transport::stream::{FdPair, FdStream, StreamSession};
pub use transport::{ChildTransport, WithChild};
