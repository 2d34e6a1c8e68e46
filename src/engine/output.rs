//! One output stream of a session: its buffer of unmatched bytes and whether it ended.

use std::io;

use crate::engine::buffer::{Buffer, BufferFull};
use crate::engine::session::DEFAULT_MAX_BUFFER;
use crate::engine::strip::EscapeStripper;
use crate::error::{Error, Result};

/// Which output of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The pty, or a child's stdout.
    Main,
    /// A child's stderr kept apart (open3).
    Stderr,
}

/// A session's outputs: the main one and the separate stderr.
pub(crate) struct Outputs {
    pub(crate) main: Output,
    pub(crate) stderr: Output,
}

impl Outputs {
    pub(crate) fn get(&self, stream: Stream) -> &Output {
        match stream {
            Stream::Main => &self.main,
            Stream::Stderr => &self.stderr,
        }
    }

    pub(crate) fn get_mut(&mut self, stream: Stream) -> &mut Output {
        match stream {
            Stream::Main => &mut self.main,
            Stream::Stderr => &mut self.stderr,
        }
    }
}

pub(crate) struct Output {
    pub(crate) buffer: Buffer,
    pub(crate) eof: bool,
    /// Text mode: escape sequences are removed from what is read, after it was shown to
    /// the transcripts and the output model.
    pub(crate) strip: Option<EscapeStripper>,
    /// NUL bytes are removed from what is read, after it was shown to the transcripts
    /// (`Session::set_remove_nulls`).
    pub(crate) remove_nulls: bool,
    /// The 8th bit of every byte read is cleared before anything sees it
    /// (`Session::set_strip_parity`).
    pub(crate) strip_parity: bool,
}

impl Output {
    pub(crate) fn new() -> Self {
        Output {
            buffer: Buffer::new(DEFAULT_MAX_BUFFER),
            eof: false,
            strip: None,
            remove_nulls: false,
            strip_parity: false,
        }
    }

    /// One non-blocking read with `read`: `Some(0)` at end of output (recorded), `None`
    /// if nothing is available.
    pub(crate) fn read_once(
        &mut self,
        on_full: BufferFull,
        mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> Result<Option<usize>> {
        // Under `BufferFull::Error` a read takes no more than what still fits.
        let limit = match on_full {
            BufferFull::Error => self.buffer.room(),
            BufferFull::DiscardOldest => usize::MAX,
        };
        loop {
            let spare = self.buffer.spare();
            let len = spare.len().min(limit);
            if len == 0 {
                // A zero-length read would look like the end of output.
                return Ok(None);
            }
            match read(&mut spare[..len]) {
                Ok(n) => {
                    self.buffer.commit(n);
                    if n == 0 {
                        self.eof = true;
                    } else if on_full == BufferFull::DiscardOldest {
                        self.buffer.enforce_max();
                    }
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(Error::io("reading the program's output", e)),
            }
        }
    }

    /// True when more reading must wait until the buffer is emptied.
    pub(crate) fn blocks_reading(&self, on_full: BufferFull) -> bool {
        on_full == BufferFull::Error && self.buffer.is_full()
    }

    /// True while the output can still deliver bytes.
    pub(crate) fn is_open(&self) -> bool {
        !self.eof
    }
}
