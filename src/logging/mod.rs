//! Logs and recordings of a session's traffic, built on [`Transcript`](crate::Transcript):
//!
//! - [`LogWriter`]: the program's output, what was sent to it, or both, raw, to any
//!   writer (a file, a buffer, our standard output);
//! - [`Session::echo_output_to_stdout`](crate::Session::echo_output_to_stdout): the
//!   program's output shown live on our standard output, like Expect's `log_user`;
//! - [`AsciicastRecorder`] and [`Recording`]: an asciinema recording (asciicast v2) that
//!   `asciinema play` replays with the original timing;
//! - [`Shared`]: a transcript (or any value) held by both the session and its owner, to
//!   read a log's errors or a buffer's contents while the session runs.
//!
//! Secrets sent with [`Session::send_secret`](crate::Session::send_secret) never reach a
//! transcript: a log shows `[secret: N bytes]` in their place, a recording nothing.
//!
//! Owns: the sinks a transcript writes to and their formats. State that only the command
//! line needs (which log a script has open) lives with the script runner, not here.
//!
//! Imports run downward: `logging` uses `engine` (transcripts, the session it attaches to),
//! `transport` (a recording follows a pty's window size) and `error`, never `interact` or
//! `script`.

mod asciicast;
mod echo;
mod json;
mod log_writer;
mod recording;
mod shared;
mod utf8;

pub use asciicast::AsciicastRecorder;
pub use log_writer::{Direction, LogWriter};
pub use recording::Recording;
pub use shared::Shared;
