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

mod deadline;
mod engine;
mod error;
mod escape;
mod interact;
mod logging;
mod process;
#[cfg(feature = "cli")]
pub mod script;
mod signals;
#[allow(unsafe_code)]
mod sys;
mod transport;

pub use engine::buffer::BufferFull;
pub use engine::matched::Match;
pub use engine::pattern::{Pattern, Patterns};
pub use engine::session::{DEFAULT_MAX_BUFFER, DEFAULT_TIMEOUT, Session, StderrView};
pub use engine::transcript::{Transcript, TranscriptId};
pub use engine::transport::Transport;
pub use error::{Error, Result};
pub use escape::escape;
pub use interact::{DEFAULT_ESCAPE, Flow, Interact, InteractOutcome, Interactive, Reply};
pub use logging::{AsciicastRecorder, Direction, LogWriter, Recording, Shared};
pub use nix::sys::signal::Signal;
pub use process::{Child, ExitStatus};
pub use signals::alarm::with_timeout;
pub use signals::{SignalPipe, alarm};
pub use transport::command::Command;
pub use transport::fork;
pub use transport::pipes::{PipeSession, Pipes, StderrMode};
pub use transport::pty::{Pty, PtyConfig, PtyMaster, PtySession};
pub use transport::stream::{FdPair, FdStream, StreamSession};
pub use transport::{ChildTransport, WithChild};
