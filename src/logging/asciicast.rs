//! Recording a session in asciinema's asciicast v2 format.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::json;
use super::utf8::Utf8Stream;
use crate::engine::transcript::Transcript;

/// A [`Transcript`] that records a session as an [asciicast v2] file, which `asciinema
/// play FILE` replays in a terminal with the original timing (and asciinema's web player
/// shows in a page).
///
/// The file is a header line, a JSON object:
///
/// ```text
/// {"version": 2, "width": 80, "height": 24, "timestamp": 1700000000, "title": "demo", "env": {"SHELL": "/bin/bash", "TERM": "xterm"}}
/// ```
///
/// then one line per event, `[SECONDS, "TYPE", "DATA"]`, with the time since the recorder
/// was created (in microseconds, never decreasing):
///
/// - `"o"`: output, each chunk as it was read from the program;
/// - `"i"`: input, what was sent, only after [`record_input(true)`](Self::record_input);
///   bytes sent with [`send_secret`](crate::Session::send_secret) are never recorded;
/// - `"r"`: a resize to `"COLSxROWS"`, from [`resize`](Self::resize);
/// - `"m"`: a marker, from [`marker`](Self::marker).
///
/// Event data is text: the bytes are decoded as UTF-8, invalid bytes becoming U+FFFD, and
/// a character split between two reads is held back until its end arrives, so it is
/// recorded whole. The JSON is always valid, whatever the program writes.
///
/// A session reads output only while one of its calls waits (`expect`, `send`,
/// [`read_available`](crate::Session::read_available)...), so an event's time is when the
/// session read the output, which is when the program wrote it only if the session was
/// waiting then. A program echoing keys typed with pauses between them between calls
/// shows up all at once, at the next `expect`; `read_available` after each key records
/// each echo as it comes (see `examples/record.rs`).
///
/// The header is written with the first event (so the builder methods apply until then),
/// or when the recorder is finished or dropped. Each line is written with one `write_all`
/// and flushed. As with [`LogWriter`](crate::LogWriter), the first error writing is kept
/// ([`error`](Self::error)) and stops the recording without disturbing the session.
///
/// ```
/// use ptychat::{AsciicastRecorder, Command, Pattern, Shared};
///
/// let cast = Shared::new(AsciicastRecorder::new(Vec::new(), 80, 24).with_title("echo"));
/// let mut s = Command::new("echo").arg("hi \"you\"").spawn()?;
/// s.add_transcript(Box::new(cast.clone()));
/// s.expect(Pattern::eof())?;
/// drop(s);
/// let text = String::from_utf8(cast.try_into_inner().unwrap().finish()?).unwrap();
/// let lines: Vec<&str> = text.lines().collect();
/// assert!(lines[0].starts_with(r#"{"version": 2, "width": 80, "height": 24, "timestamp": "#));
/// assert!(lines[0].ends_with(r#", "title": "echo"}"#));
/// assert!(lines[1].starts_with('['));
/// assert!(lines[1].ends_with(r#", "o", "hi \"you\"\r\n"]"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [asciicast v2]: https://docs.asciinema.org/manual/asciicast/v2/
#[derive(Debug)]
pub struct AsciicastRecorder<W: Write + Send> {
    /// `None` once finished.
    writer: Option<W>,
    width: u16,
    height: u16,
    timestamp: Option<u64>,
    title: Option<String>,
    env: Vec<(String, String)>,
    started: Instant,
    header_written: bool,
    record_input: bool,
    output: Utf8Stream,
    error_output: Utf8Stream,
    input: Utf8Stream,
    error: Option<io::Error>,
}

impl<W: Write + Send> AsciicastRecorder<W> {
    /// A recording of a terminal `width` columns wide and `height` rows high, written to
    /// `writer`. Its clock starts now, and the header's timestamp is now.
    pub fn new(writer: W, width: u16, height: u16) -> Self {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
        AsciicastRecorder {
            writer: Some(writer),
            width,
            height,
            timestamp,
            title: None,
            env: Vec::new(),
            started: Instant::now(),
            header_written: false,
            record_input: false,
            output: Utf8Stream::default(),
            error_output: Utf8Stream::default(),
            input: Utf8Stream::default(),
            error: None,
        }
    }

    /// Sets the header's `title`.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Adds a variable to the header's `env` (asciinema records `SHELL` and `TERM`).
    /// Setting a name again replaces its value.
    ///
    /// ```
    /// use ptychat::AsciicastRecorder;
    /// let cast = AsciicastRecorder::new(Vec::new(), 100, 30)
    ///     .with_env("TERM", "xterm-256color")
    ///     .with_timestamp(None)
    ///     .finish()?;
    /// assert_eq!(cast, br#"{"version": 2, "width": 100, "height": 30, "env": {"TERM": "xterm-256color"}}
    /// "#);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match self.env.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.env.push((name, value)),
        }
        self
    }

    /// Sets the header's `timestamp` (seconds since the Unix epoch), or leaves it out.
    pub fn with_timestamp(mut self, unix_seconds: Option<u64>) -> Self {
        self.timestamp = unix_seconds;
        self
    }

    /// Whether what is sent to the program is recorded as `"i"` events (default: no).
    /// Secrets never are.
    pub fn record_input(mut self, on: bool) -> Self {
        self.record_input = on;
        self
    }

    /// The time since the recording started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records that the terminal now has `cols` columns and `rows` rows: an `"r"` event,
    /// or, before the header is written, the header's size.
    ///
    /// ```
    /// use ptychat::{AsciicastRecorder, Transcript};
    /// let mut cast = AsciicastRecorder::new(Vec::new(), 80, 24).with_timestamp(None);
    /// cast.resize(120, 40);
    /// cast.output(b"$ ");
    /// cast.resize(100, 30);
    /// let text = String::from_utf8(cast.finish()?).unwrap();
    /// let lines: Vec<&str> = text.lines().collect();
    /// assert_eq!(lines[0], r#"{"version": 2, "width": 120, "height": 40}"#);
    /// assert!(lines[1].ends_with(r#", "o", "$ "]"#));
    /// assert!(lines[2].ends_with(r#", "r", "100x30"]"#));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn resize(&mut self, cols: u16, rows: u16) {
        if self.header_written {
            self.event("r", &format!("{cols}x{rows}"));
        } else {
            (self.width, self.height) = (cols, rows);
        }
    }

    /// Records a marker (an `"m"` event), a point that asciinema's player can jump to.
    pub fn marker(&mut self, label: &str) {
        self.event("m", label);
    }

    /// The first error writing the recording, if any; nothing was written after it.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Ends the recording: writes the header if no event did, records the start of a
    /// character still unfinished as U+FFFD, flushes, and returns the writer, or the first
    /// error writing to it.
    pub fn finish(mut self) -> io::Result<W> {
        self.end();
        let writer = self.writer.take();
        match self.error.take() {
            Some(error) => Err(error),
            None => writer.ok_or_else(|| io::Error::other("the recording was already finished")),
        }
    }

    fn end(&mut self) {
        if self.writer.is_none() {
            return;
        }
        let output = self.output.finish() + &self.error_output.finish();
        self.event("o", &output);
        let input = self.input.finish();
        if self.record_input {
            self.event("i", &input);
        }
        self.write_header();
        if let Some(writer) = &mut self.writer {
            if let Err(error) = writer.flush() {
                self.error.get_or_insert(error);
            }
        }
    }

    fn header(&self) -> String {
        let mut line = format!(
            "{{\"version\": 2, \"width\": {}, \"height\": {}",
            self.width, self.height
        );
        if let Some(timestamp) = self.timestamp {
            let _ = write!(line, ", \"timestamp\": {timestamp}");
        }
        if let Some(title) = &self.title {
            line.push_str(", \"title\": ");
            json::push_string(&mut line, title);
        }
        if !self.env.is_empty() {
            line.push_str(", \"env\": {");
            for (i, (name, value)) in self.env.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                json::push_string(&mut line, name);
                line.push_str(": ");
                json::push_string(&mut line, value);
            }
            line.push('}');
        }
        line.push_str("}\n");
        line
    }

    fn write_header(&mut self) {
        if !self.header_written {
            self.header_written = true;
            let header = self.header();
            self.write_line(&header);
        }
    }

    fn event(&mut self, kind: &str, data: &str) {
        if data.is_empty() && kind != "m" {
            return;
        }
        self.write_header();
        let elapsed = self.started.elapsed();
        let mut line = String::with_capacity(data.len() + 32);
        let _ = write!(
            line,
            "[{}.{:06}, \"{kind}\", ",
            elapsed.as_secs(),
            elapsed.subsec_micros()
        );
        json::push_string(&mut line, data);
        line.push_str("]\n");
        self.write_line(&line);
    }

    fn write_line(&mut self, line: &str) {
        if self.error.is_some() {
            return;
        }
        let Some(writer) = &mut self.writer else {
            return;
        };
        if let Err(error) = writer
            .write_all(line.as_bytes())
            .and_then(|()| writer.flush())
        {
            self.error = Some(error);
        }
    }
}

impl<W: Write + Send> Transcript for AsciicastRecorder<W> {
    fn output(&mut self, bytes: &[u8]) {
        let text = self.output.decode(bytes);
        self.event("o", &text);
    }

    fn error_output(&mut self, bytes: &[u8]) {
        let text = self.error_output.decode(bytes);
        self.event("o", &text);
    }

    fn input(&mut self, bytes: &[u8]) {
        if self.record_input {
            let text = self.input.decode(bytes);
            self.event("i", &text);
        }
    }

    /// Secrets are not recorded at all.
    fn secret_input(&mut self, _len: usize) {}
}

/// Finishes the recording (see [`finish`](AsciicastRecorder::finish)), ignoring errors.
impl<W: Write + Send> Drop for AsciicastRecorder<W> {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(recorder: AsciicastRecorder<Vec<u8>>) -> Vec<String> {
        let bytes = recorder.finish().unwrap();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The type and data of an event line (everything after the time).
    fn event(line: &str) -> &str {
        let comma = line.find(", ").unwrap();
        &line[comma + 2..]
    }

    #[test]
    fn writes_the_header_and_escaped_events() {
        let mut cast = AsciicastRecorder::new(Vec::new(), 80, 24)
            .with_timestamp(Some(1_700_000_000))
            .with_title("a \"quoted\" title")
            .with_env("SHELL", "/bin/sh")
            .with_env("TERM", "dumb")
            .with_env("TERM", "xterm")
            .record_input(true);
        cast.output(b"\x1b[1mbold\x1b[0m\r\n");
        cast.input(b"q\r");
        cast.secret_input(3);
        cast.marker("here");
        cast.output(b"\xff\\ \xe2\x82");
        cast.output(b"\xac");
        cast.error_output(b"\xc3");
        let lines = lines(cast);
        assert_eq!(
            lines[0],
            r#"{"version": 2, "width": 80, "height": 24, "timestamp": 1700000000, "title": "a \"quoted\" title", "env": {"SHELL": "/bin/sh", "TERM": "xterm"}}"#
        );
        let events: Vec<&str> = lines[1..].iter().map(|l| event(l)).collect();
        assert_eq!(
            events,
            [
                r#""o", "\u001b[1mbold\u001b[0m\r\n"]"#,
                r#""i", "q\r"]"#,
                r#""m", "here"]"#,
                "\"o\", \"\u{fffd}\\\\ \"]",
                "\"o\", \"\u{20ac}\"]",
                "\"o\", \"\u{fffd}\"]",
            ]
        );
        for line in &lines[1..] {
            let time = &line[1..line.find(',').unwrap()];
            let (secs, micros) = time.split_once('.').unwrap();
            assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
        }
    }

    #[test]
    fn leaves_out_input_unless_asked_and_survives_errors() {
        let mut cast = AsciicastRecorder::new(Vec::new(), 1, 1).with_timestamp(None);
        cast.input(b"typed");
        cast.output(b"");
        assert_eq!(lines(cast), [r#"{"version": 2, "width": 1, "height": 1}"#]);

        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut cast = AsciicastRecorder::new(Broken, 80, 24);
        cast.output(b"x");
        cast.output(b"y");
        assert_eq!(
            cast.error().map(io::Error::kind),
            Some(io::ErrorKind::BrokenPipe)
        );
        assert!(cast.finish().is_err());
    }
}
