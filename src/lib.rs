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

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod alarm;
mod buffer;
mod command;
mod error;
mod escape;
pub mod fork;
mod interact;
mod logging;
mod matched;
mod output;
mod pattern;
mod pipes;
mod poll;
mod process;
mod process_control;
mod pty;
mod pty_session;
mod scanner;
mod session;
mod signals;
mod stream;
#[allow(unsafe_code)]
mod sys;
mod trace;
mod transcript;
mod transport;

pub use alarm::with_timeout;
pub use buffer::BufferFull;
pub use command::{Command, PtySession};
pub use error::{Error, Result};
pub use escape::escape;
pub use interact::{DEFAULT_ESCAPE, Flow, Interact, InteractOutcome, Interactive, Reply};
pub use logging::{AsciicastRecorder, Direction, LogWriter, Recording, Shared};
pub use matched::Match;
pub use nix::sys::signal::Signal;
pub use pattern::{Pattern, Patterns};
pub use pipes::{PipeSession, Pipes, StderrMode};
pub use process::{Child, ChildTransport, ExitStatus};
pub use pty::Pty;
pub use session::{DEFAULT_MAX_BUFFER, DEFAULT_TIMEOUT, Session, StderrView};
pub use signals::SignalPipe;
pub use stream::{FdPair, FdStream, StreamSession};
pub use transcript::{Transcript, TranscriptId};
pub use transport::Transport;

#[cfg(feature = "cli")]
pub mod script;
