//! The debug trace: what the engine read, what it looked for and how each call ended.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::engine::output::Stream;
use crate::escape::{escape, escape_tail};

/// How much of the buffer a trace line shows.
const SHOWN: usize = 200;

pub(crate) struct Trace {
    sink: Box<dyn Write + Send>,
    started: Instant,
}

impl Trace {
    pub(crate) fn new(sink: Box<dyn Write + Send>) -> Self {
        Trace {
            sink,
            started: Instant::now(),
        }
    }

    /// A trace to stderr when `PTYCHAT_TRACE` is set to something other than `0` or empty.
    pub(crate) fn from_env() -> Option<Self> {
        let value = std::env::var_os("PTYCHAT_TRACE")?;
        (!value.is_empty() && value != "0").then(|| Trace::new(Box::new(std::io::stderr())))
    }

    fn line(&mut self, text: std::fmt::Arguments<'_>) {
        let at = self.started.elapsed().as_secs_f64();
        // A trace that cannot be written must not break the session.
        let _ = writeln!(self.sink, "[ptychat {at:9.6}] {text}");
    }

    pub(crate) fn read(&mut self, stream: Stream, fresh: &[u8], buffered: usize) {
        let from = match stream {
            Stream::Main => "",
            Stream::Stderr => " (stderr)",
        };
        if fresh.is_empty() {
            self.line(format_args!("end of output{from}; {buffered} unmatched"));
            return;
        }
        let shown = escape_tail(fresh, SHOWN);
        self.line(format_args!(
            "read {} bytes{from}: \"{shown}\"; {buffered} unmatched",
            fresh.len()
        ));
    }

    pub(crate) fn sent(&mut self, data: &[u8]) {
        self.line(format_args!(
            "sent {} bytes: \"{}\"",
            data.len(),
            escape(data)
        ));
    }

    pub(crate) fn sent_secret(&mut self, len: usize) {
        self.line(format_args!("sent a secret of {len} bytes"));
    }

    pub(crate) fn expect_started(
        &mut self,
        patterns: &str,
        timeout: Option<Duration>,
        buffer: &[u8],
    ) {
        let deadline = match timeout {
            Some(t) => format!("{t:?}"),
            None => "none".into(),
        };
        self.line(format_args!(
            "expect {patterns} (deadline {deadline}); {} bytes already buffered: \"{}\"",
            buffer.len(),
            escape_tail(buffer, SHOWN)
        ));
    }

    pub(crate) fn no_match(&mut self, buffer: &[u8]) {
        self.line(format_args!(
            "no match yet in {} unmatched bytes ending \"{}\"",
            buffer.len(),
            escape_tail(buffer, SHOWN / 2)
        ));
    }

    pub(crate) fn ended(&mut self, how: std::fmt::Arguments<'_>) {
        self.line(how);
    }
}
