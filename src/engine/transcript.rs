//! Watching a session's traffic: logs, recorders, echo to the user.

/// Something that sees what a session reads and sends: a log file, an asciicast recorder,
/// an echo of the program's output to our terminal. Add one with
/// [`Session::add_transcript`](crate::Session::add_transcript).
///
/// Output is reported as it is read from the program (while a call waits), input as it is
/// written. Bytes sent with [`Session::send_secret`](crate::Session::send_secret) are never
/// passed to a transcript: it only learns that a secret of some length was sent.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use ptychat::{Command, Pattern, Transcript};
///
/// #[derive(Clone, Default)]
/// struct Collect(Arc<Mutex<Vec<u8>>>);
/// impl Transcript for Collect {
///     fn output(&mut self, bytes: &[u8]) { self.0.lock().unwrap().extend_from_slice(bytes) }
///     fn input(&mut self, _bytes: &[u8]) {}
/// }
///
/// let seen = Collect::default();
/// let mut s = Command::new("echo").arg("hi").spawn()?;
/// s.add_transcript(Box::new(seen.clone()));
/// s.expect(Pattern::eof())?;
/// assert_eq!(&*seen.0.lock().unwrap(), b"hi\r\n");
/// # Ok::<(), ptychat::Error>(())
/// ```
pub trait Transcript: Send {
    /// Bytes the program wrote (its pty output or stdout).
    fn output(&mut self, bytes: &[u8]);

    /// Bytes the program wrote to its separate stderr (open3 sessions). By default they
    /// are treated as output.
    fn error_output(&mut self, bytes: &[u8]) {
        self.output(bytes);
    }

    /// Bytes we sent to the program.
    fn input(&mut self, bytes: &[u8]);

    /// A secret of `len` bytes was sent; its bytes are not given.
    fn secret_input(&mut self, len: usize) {
        let _ = len;
    }
}

/// Identifies a transcript added to a session, to remove it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TranscriptId(pub(crate) u64);

/// The transcripts of one session.
#[derive(Default)]
pub(crate) struct Transcripts {
    next_id: u64,
    entries: Vec<(TranscriptId, Box<dyn Transcript>)>,
}

impl Transcripts {
    pub(crate) fn add(&mut self, transcript: Box<dyn Transcript>) -> TranscriptId {
        let id = TranscriptId(self.next_id);
        self.next_id += 1;
        self.entries.push((id, transcript));
        id
    }

    pub(crate) fn remove(&mut self, id: TranscriptId) -> Option<Box<dyn Transcript>> {
        let index = self.entries.iter().position(|(i, _)| *i == id)?;
        Some(self.entries.remove(index).1)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn each(&mut self, mut f: impl FnMut(&mut dyn Transcript)) {
        for (_, transcript) in &mut self.entries {
            f(transcript.as_mut());
        }
    }
}
