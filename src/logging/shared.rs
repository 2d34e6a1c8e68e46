//! A value shared between a session (as one of its transcripts) and its owner.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::engine::transcript::Transcript;

/// A value that a session and its owner both hold: a log whose errors the owner checks, a
/// recorder the owner resizes, a buffer the owner reads while the session writes to it.
///
/// A session owns its transcripts, so to keep a hand on one, add a clone of a `Shared` and
/// keep the original. Every clone is the same value behind a mutex: `Shared<T>` is a
/// [`Transcript`] when `T` is one and a [`Write`] when `T` is one, passing each call on
/// under the lock.
///
/// ```
/// use ptychat::{Command, Direction, LogWriter, Pattern, Shared};
///
/// let log = Shared::new(LogWriter::new(Vec::new(), Direction::Output));
/// // A shared buffer: anything that takes a writer can fill it.
/// let trace = Shared::new(Vec::new());
/// let mut s = Command::new("echo").arg("hi").spawn()?;
/// s.add_transcript(Box::new(log.clone()));
/// s.set_trace(Some(Box::new(trace.clone())));
/// s.expect(Pattern::eof())?;
/// assert!(log.lock().error().is_none());
/// assert_eq!(log.lock().get_ref(), b"hi\r\n");
/// assert!(trace.lock().starts_with(b"[ptychat"));
/// # Ok::<(), ptychat::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    /// Shares `value`.
    pub fn new(value: T) -> Self {
        Shared(Arc::new(Mutex::new(value)))
    }

    /// Locks the value. A panic in another holder while it held the lock does not make
    /// the value unusable: the lock is taken anyway.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value, if this is the last handle to it (remove the session's clone first, with
    /// [`Session::remove_transcript`](crate::Session::remove_transcript), or drop the
    /// session); otherwise the handle comes back.
    ///
    /// ```
    /// let a = ptychat::Shared::new(5);
    /// let b = a.clone();
    /// let a = a.try_into_inner().unwrap_err();
    /// drop(b);
    /// assert_eq!(a.try_into_inner().ok(), Some(5));
    /// ```
    pub fn try_into_inner(self) -> Result<T, Self> {
        match Arc::try_unwrap(self.0) {
            Ok(mutex) => Ok(mutex
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())),
            Err(arc) => Err(Shared(arc)),
        }
    }
}

impl<T: Transcript> Transcript for Shared<T> {
    fn output(&mut self, bytes: &[u8]) {
        self.lock().output(bytes);
    }

    fn error_output(&mut self, bytes: &[u8]) {
        self.lock().error_output(bytes);
    }

    fn input(&mut self, bytes: &[u8]) {
        self.lock().input(bytes);
    }

    fn secret_input(&mut self, len: usize) {
        self.lock().secret_input(len);
    }
}

impl<T: Write> Write for Shared<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.lock().write_all(buf)
    }

    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        // One lock for the whole formatted text, so clones cannot interleave inside it.
        self.lock().write_fmt(args)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}
