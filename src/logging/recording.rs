//! An asciicast recording attached to a session.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::{AsciicastRecorder, Shared};
use crate::engine::session::Session;
use crate::engine::transcript::TranscriptId;
use crate::engine::transport::Transport;
use crate::error::{Context, Result};
use crate::transport::pty::Pty;

/// An [`AsciicastRecorder`] recording a session, from
/// [`Session::record_asciicast`] or [`Recording::start`]. [`stop`](Recording::stop) it to
/// finish the file; a recording that is simply dropped (with its session) is finished too,
/// but its errors go unseen.
///
/// ```
/// use ptychat::{Command, Pattern};
///
/// let mut cat = Command::new("cat").echo(false).window_size(30, 100).spawn()?;
/// let recording = cat.record_asciicast(Vec::new())?;
/// cat.send_line("hello")?;
/// cat.expect("hello\r\n")?;
/// recording.marker("answered");
/// let cast = String::from_utf8(recording.stop(&mut cat)?).unwrap();
/// assert!(cast.starts_with(r#"{"version": 2, "width": 100, "height": 30, "#));
/// assert!(cast.contains(r#", "o", "hello\r\n"]"#));
/// assert!(cast.contains(r#", "m", "answered"]"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Recording<W: Write + Send + 'static> {
    id: TranscriptId,
    recorder: Shared<AsciicastRecorder<W>>,
}

impl<W: Write + Send + 'static> Recording<W> {
    /// Starts recording `session` with `recorder` (any size, title, env...).
    pub fn start<T: Transport>(session: &mut Session<T>, recorder: AsciicastRecorder<W>) -> Self {
        let recorder = Shared::new(recorder);
        let id = session.add_transcript(Box::new(recorder.clone()));
        Recording { id, recorder }
    }

    /// The recorder's id among the session's transcripts.
    pub fn id(&self) -> TranscriptId {
        self.id
    }

    /// The recorder, for its [`error`](AsciicastRecorder::error) or
    /// [`elapsed`](AsciicastRecorder::elapsed) time.
    pub fn recorder(&self) -> &Shared<AsciicastRecorder<W>> {
        &self.recorder
    }

    /// Records a resize (an `"r"` event). Call it after
    /// [`Session::set_window_size`], which does not know about recordings.
    pub fn resize(&self, cols: u16, rows: u16) {
        self.recorder.lock().resize(cols, rows);
    }

    /// Records a marker (an `"m"` event).
    pub fn marker(&self, label: &str) {
        self.recorder.lock().marker(label);
    }

    /// Stops recording `session` (the one it was started on) and finishes the file:
    /// returns the writer, or the first error writing it.
    pub fn stop<T: Transport>(self, session: &mut Session<T>) -> io::Result<W> {
        drop(session.remove_transcript(self.id));
        match self.recorder.try_into_inner() {
            Ok(recorder) => recorder.finish(),
            Err(_) => Err(io::Error::other(
                "the recording is still attached to another session",
            )),
        }
    }
}

impl Session<Pty> {
    /// Records this session from now on as an asciicast v2 file written to `writer`
    /// (see [`AsciicastRecorder`]), with the terminal's current size and the `SHELL` and
    /// `TERM` of our own environment in the header. Output only: for input events, a
    /// title or another size, build the recorder yourself and use [`Recording::start`].
    pub fn record_asciicast<W: Write + Send + 'static>(
        &mut self,
        writer: W,
    ) -> Result<Recording<W>> {
        let (rows, cols) = self.window_size()?;
        let mut recorder = AsciicastRecorder::new(writer, cols, rows);
        for name in ["SHELL", "TERM"] {
            if let Ok(value) = std::env::var(name) {
                recorder = recorder.with_env(name, value);
            }
        }
        Ok(Recording::start(self, recorder))
    }

    /// Like [`record_asciicast`](Session::record_asciicast), to a file created (or
    /// truncated) at `path`.
    ///
    /// ```
    /// use ptychat::{Command, Pattern};
    /// let path = std::env::temp_dir().join(format!("ptychat-doc-{}.cast", std::process::id()));
    /// let mut s = Command::new("echo").arg("recorded").spawn()?;
    /// let recording = s.record_asciicast_file(&path)?;
    /// s.expect(Pattern::eof())?;
    /// recording.stop(&mut s)?;
    /// let cast = std::fs::read_to_string(&path)?;
    /// assert!(cast.lines().nth(1).unwrap().ends_with(r#", "o", "recorded\r\n"]"#));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_asciicast_file(&mut self, path: impl AsRef<Path>) -> Result<Recording<File>> {
        let path = path.as_ref();
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
            .context("creating the recording")?;
        self.record_asciicast(file)
    }
}
