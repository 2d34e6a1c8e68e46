//! Showing a program's output on our own standard output, like Expect's `log_user`.

use std::io;

use super::{Direction, LogWriter};
use crate::engine::session::Session;
use crate::engine::transcript::TranscriptId;
use crate::engine::transport::Transport;

impl<T: Transport> Session<T> {
    /// Copies the program's output to our standard output as it is read, like Expect's
    /// `log_user 1`: the person running the automation sees the conversation live.
    /// Remove the returned transcript to stop (`log_user 0`):
    ///
    /// ```
    /// use ptychat::{Command, Pattern};
    /// let mut s = Command::new("echo").arg("shown").spawn()?;
    /// let echo = s.echo_output_to_stdout();
    /// s.expect("shown")?;
    /// s.remove_transcript(echo);
    /// s.expect(Pattern::eof())?; // the line end is read but not shown
    /// # Ok::<(), ptychat::Error>(())
    /// ```
    ///
    /// Output is written as it was read, flushed after each read; a standard output that
    /// cannot be written (a closed pipe) is ignored. For another writer, add a
    /// [`LogWriter`] with [`Direction::Output`].
    pub fn echo_output_to_stdout(&mut self) -> TranscriptId {
        self.add_transcript(Box::new(LogWriter::new(io::stdout(), Direction::Output)))
    }
}
