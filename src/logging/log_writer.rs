//! A plain log of a session's traffic, written to any writer.

use std::io::{self, Write};

use crate::engine::transcript::Transcript;

/// Which side of a conversation a [`LogWriter`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// What the program wrote: on a pty, the terminal's output, including the echo of
    /// what was typed when echo is on. Replayed with `cat`, it shows what a person at the
    /// terminal would have seen.
    Output,
    /// What was sent to the program.
    Input,
    /// Both, in the order they happened.
    Both,
}

impl Direction {
    fn output(self) -> bool {
        matches!(self, Direction::Output | Direction::Both)
    }

    fn input(self) -> bool {
        matches!(self, Direction::Input | Direction::Both)
    }
}

/// A [`Transcript`] that writes a session's output, input or both to a writer: a file, a
/// buffer, our own standard output (see
/// [`Session::echo_output_to_stdout`](crate::Session::echo_output_to_stdout)).
///
/// The bytes are written raw, as they were read or sent, and the writer is flushed after
/// each chunk so that a log can be followed while the session runs (`tail -f`).
///
/// **Secrets.** Bytes sent with [`Session::send_secret`](crate::Session::send_secret) are
/// never given to a transcript. An input or both-ways log writes `[secret: N bytes]` in
/// their place, or nothing after [`mark_secrets(false)`](LogWriter::mark_secrets). The
/// program's output is logged as it is: if its terminal echoes the secret (echo on), so
/// does the output log; programs that read passwords turn echo off, and
/// [`wait_for_echo_off`](crate::Session::wait_for_echo_off) waits for them to do it.
///
/// **Errors.** A log that cannot be written does not disturb the session: the first error
/// is kept (see [`error`](LogWriter::error)) and nothing more is written, so the log is
/// complete up to the point where it failed.
///
/// ```
/// use ptychat::{Command, Direction, LogWriter, Pattern, Shared};
///
/// let log = Shared::new(LogWriter::new(Vec::new(), Direction::Both));
/// let mut cat = Command::new("cat").echo(false).spawn()?;
/// cat.add_transcript(Box::new(log.clone()));
/// cat.send_line("hello")?;
/// cat.expect("hello\r\n")?;
/// cat.send_secret("hunter2\r")?;
/// cat.expect("\r\n")?;
/// assert_eq!(log.lock().get_ref(), b"hello\rhello\r\n[secret: 8 bytes]hunter2\r\n");
/// # Ok::<(), ptychat::Error>(())
/// ```
///
/// (`cat` printed the password back, so the output log has it: what the program writes
/// is not secret.)
#[derive(Debug)]
pub struct LogWriter<W: Write + Send> {
    writer: W,
    direction: Direction,
    mark_secrets: bool,
    error: Option<io::Error>,
}

impl<W: Write + Send> LogWriter<W> {
    /// Logs `direction` to `writer`.
    pub fn new(writer: W, direction: Direction) -> Self {
        LogWriter {
            writer,
            direction,
            mark_secrets: true,
            error: None,
        }
    }

    /// Whether an input or both-ways log writes `[secret: N bytes]` where a secret was
    /// sent (the default) or nothing at all.
    ///
    /// ```
    /// use ptychat::{Direction, LogWriter, Transcript};
    /// let mut log = LogWriter::new(Vec::new(), Direction::Input).mark_secrets(false);
    /// log.input(b"user\r");
    /// log.secret_input(8);
    /// assert_eq!(log.get_ref(), b"user\r");
    /// ```
    pub fn mark_secrets(mut self, on: bool) -> Self {
        self.mark_secrets = on;
        self
    }

    /// What this log keeps.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The first error writing the log, if any; nothing was written after it.
    ///
    /// ```
    /// use std::io::{self, Write};
    /// use ptychat::{Direction, LogWriter, Transcript};
    ///
    /// struct Full;
    /// impl Write for Full {
    ///     fn write(&mut self, _: &[u8]) -> io::Result<usize> {
    ///         Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
    ///     }
    ///     fn flush(&mut self) -> io::Result<()> { Ok(()) }
    /// }
    /// let mut log = LogWriter::new(Full, Direction::Output);
    /// log.output(b"lost");
    /// assert_eq!(log.error().unwrap().kind(), io::ErrorKind::StorageFull);
    /// ```
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Takes the first error, and starts writing again.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// The writer, mutably.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// The writer, or the first error that happened writing to it.
    pub fn into_inner(self) -> io::Result<W> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.writer),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.error.is_some() || bytes.is_empty() {
            return;
        }
        if let Err(error) = self
            .writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush())
        {
            self.error = Some(error);
        }
    }
}

impl<W: Write + Send> Transcript for LogWriter<W> {
    fn output(&mut self, bytes: &[u8]) {
        if self.direction.output() {
            self.write(bytes);
        }
    }

    fn input(&mut self, bytes: &[u8]) {
        if self.direction.input() {
            self.write(bytes);
        }
    }

    fn secret_input(&mut self, len: usize) {
        if self.direction.input() && self.mark_secrets {
            self.write(format!("[secret: {len} bytes]").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails once its budget is spent.
    struct Budget(usize, Vec<u8>);

    impl Write for Budget {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("no room"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            self.1.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn keeps_each_direction() {
        let mut logs = [Direction::Output, Direction::Input, Direction::Both]
            .map(|d| LogWriter::new(Vec::new(), d));
        for log in &mut logs {
            log.output(b"out ");
            log.input(b"in ");
            log.secret_input(3);
            log.error_output(b"err ");
        }
        let [output, input, both] = logs.map(|l| l.into_inner().unwrap());
        assert_eq!(output, b"out err ");
        assert_eq!(input, b"in [secret: 3 bytes]");
        assert_eq!(both, b"out in [secret: 3 bytes]err ");
    }

    #[test]
    fn stops_at_the_first_error_and_keeps_it() {
        let mut log = LogWriter::new(Budget(5, Vec::new()), Direction::Output);
        log.output(b"abc");
        log.output(b"defg");
        assert_eq!(log.error().map(|e| e.to_string()), Some("no room".into()));
        log.output(b"more");
        assert_eq!(log.get_ref().1, b"abcde");
        assert!(log.take_error().is_some());
        log.get_mut().0 = 10;
        log.output(b"again");
        assert_eq!(log.into_inner().unwrap().1, b"abcdeagain");
    }
}
